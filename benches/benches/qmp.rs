//! Not a Criterion bench: QMP side by side with QEMU's own, whole
//! processes over stdio, in one run. For each of `qomgen -qmp stdio` and
//! `qemu-system-x86_64 -machine none -nodefaults -display none -qmp
//! stdio` (skipped, and said so, when QEMU is not installed):
//!
//! * time to greeting: spawn until the greeting line is read (median of
//!   `ROUNDS` spawns);
//! * per-request latency: after `qmp_capabilities`, `REQUESTS`
//!   `device-list-properties vfio-pci` requests, each sent when the
//!   previous reply arrived (median and mean per request).
//!
//! `cargo bench -p qomgen-benches --bench qmp` (builds the release
//! `qomgen` first: `cargo build --release --bin qomgen`).

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const ROUNDS: usize = 30;
const REQUESTS: usize = 2000;
const REQUEST: &[u8] =
    b"{\"execute\": \"device-list-properties\", \"arguments\": {\"typename\": \"vfio-pci\"}}\n";

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

struct Figures {
    greeting: Duration,
    median: Duration,
    mean: Duration,
    reply_bytes: usize,
}

fn measure(argv: &[&str]) -> Option<Figures> {
    let spawn = || {
        Command::new(argv[0])
            .args(&argv[1..])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .ok()
    };
    let mut greetings = Vec::new();
    for _ in 0..ROUNDS {
        let start = Instant::now();
        let mut child = spawn()?;
        let mut out = BufReader::new(child.stdout.take()?);
        let mut line = String::new();
        out.read_line(&mut line).ok()?;
        greetings.push(start.elapsed());
        assert!(line.starts_with("{\"QMP\""), "{line}");
        // QEMU does not end at the end of its input: stop it.
        let _ = child.kill();
        let _ = child.wait();
    }
    let mut child = spawn()?;
    let mut stdin = child.stdin.take()?;
    let mut out = BufReader::new(child.stdout.take()?);
    let mut line = String::new();
    out.read_line(&mut line).ok()?;
    stdin
        .write_all(b"{\"execute\": \"qmp_capabilities\"}\n")
        .ok()?;
    line.clear();
    out.read_line(&mut line).ok()?;
    let mut each = Vec::with_capacity(REQUESTS);
    let mut reply_bytes = 0;
    for _ in 0..REQUESTS {
        let start = Instant::now();
        stdin.write_all(REQUEST).ok()?;
        line.clear();
        out.read_line(&mut line).ok()?;
        each.push(start.elapsed());
        reply_bytes = line.len();
    }
    assert!(line.starts_with("{\"return\": ["), "{line}");
    drop(stdin);
    let _ = child.kill();
    let _ = child.wait();
    let mean = each.iter().sum::<Duration>() / REQUESTS as u32;
    Some(Figures {
        greeting: median(greetings),
        median: median(each),
        mean,
        reply_bytes,
    })
}

fn main() {
    let qomgen = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/release/qomgen");
    let qomgen = qomgen.to_str().unwrap_or("qomgen");
    let ours = measure(&[qomgen, "-qmp", "stdio"])
        .expect("build it first: cargo build --release --bin qomgen");
    let qemu = measure(&[
        "qemu-system-x86_64",
        "-machine",
        "none",
        "-nodefaults",
        "-display",
        "none",
        "-qmp",
        "stdio",
    ]);
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    println!(
        "QMP over stdio, {ROUNDS} spawns, {REQUESTS} device-list-properties vfio-pci requests"
    );
    println!(
        "{:<10} {:>16} {:>18} {:>16} {:>12}",
        "", "greeting (µs)", "request median (µs)", "request mean (µs)", "reply bytes"
    );
    let row = |name: &str, f: &Figures| {
        println!(
            "{name:<10} {:>16.0} {:>18.1} {:>16.1} {:>12}",
            us(f.greeting),
            us(f.median),
            us(f.mean),
            f.reply_bytes
        );
    };
    row("qomgen", &ours);
    match &qemu {
        Some(q) => {
            row("QEMU", q);
            println!(
                "ratio      {:>16.3} {:>18.3} {:>16.3}",
                us(ours.greeting) / us(q.greeting),
                us(ours.median) / us(q.median),
                us(ours.mean) / us(q.mean)
            );
        }
        None => println!("QEMU       not installed (qemu-system-x86_64): no comparison"),
    }
}
