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
//! The two are measured alternately, `RUNS` times (which goes first
//! alternates too), so that other work on a shared machine weighs on both
//! alike; each run's figures and ratios are printed, then the range of
//! the ratios over the runs.
//!
//! `cargo bench -p qomgen-benches --bench qmp` (builds the release
//! `qomgen` first: `cargo build --release --bin qomgen`); `QOMGEN_BIN`
//! names another `qomgen` binary to measure (an older build, say).

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const RUNS: usize = 5;
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

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn row(name: &str, f: &Figures) {
    println!(
        "{name:<10} {:>16.0} {:>18.1} {:>16.1} {:>12}",
        us(f.greeting),
        us(f.median),
        us(f.mean),
        f.reply_bytes
    );
}

fn range(v: &[f64]) -> String {
    let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    format!("{lo:.3}–{hi:.3}")
}

fn main() {
    let built = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/release/qomgen");
    let qomgen = std::env::var("QOMGEN_BIN")
        .unwrap_or_else(|_| built.to_str().unwrap_or("qomgen").to_owned());
    let qomgen = qomgen.as_str();
    let ours_argv = [qomgen, "-qmp", "stdio"];
    let qemu_argv = [
        "qemu-system-x86_64",
        "-machine",
        "none",
        "-nodefaults",
        "-display",
        "none",
        "-qmp",
        "stdio",
    ];
    println!(
        "QMP over stdio, {RUNS} alternating runs of: {ROUNDS} spawns, \
         {REQUESTS} device-list-properties vfio-pci requests"
    );
    println!(
        "{:<10} {:>16} {:>18} {:>16} {:>12}",
        "", "greeting (µs)", "request median (µs)", "request mean (µs)", "reply bytes"
    );
    let mut ratios: [Vec<f64>; 3] = Default::default();
    for run in 0..RUNS {
        let (ours, qemu) = if run % 2 == 0 {
            let ours = measure(&ours_argv);
            (ours, measure(&qemu_argv))
        } else {
            let qemu = measure(&qemu_argv);
            (measure(&ours_argv), qemu)
        };
        let ours = ours.expect("build it first: cargo build --release --bin qomgen");
        println!("run {}", run + 1);
        row("qomgen", &ours);
        let Some(q) = qemu else {
            println!("QEMU       not installed (qemu-system-x86_64): no comparison");
            continue;
        };
        row("QEMU", &q);
        let r = [
            us(ours.greeting) / us(q.greeting),
            us(ours.median) / us(q.median),
            us(ours.mean) / us(q.mean),
        ];
        println!("ratio      {:>16.3} {:>18.3} {:>16.3}", r[0], r[1], r[2]);
        for (all, r) in ratios.iter_mut().zip(r) {
            all.push(r);
        }
    }
    if !ratios[0].is_empty() {
        println!(
            "ratio range over {} runs: greeting {}, request median {}, request mean {}",
            ratios[0].len(),
            range(&ratios[0]),
            range(&ratios[1]),
            range(&ratios[2])
        );
    }
}
