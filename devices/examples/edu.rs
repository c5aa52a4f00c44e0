//! Drives QEMU's `edu` PCI device through a realized `vfio-pci`, on the
//! real kernel, with either IOMMU backend.
//!
//! ```sh
//! cargo build -p qomgen-devices --example edu
//! /work/shared/vfio-vm/run-in-guest target/debug/examples/edu -- ./edu
//! /work/shared/vfio-vm/run-in-guest target/debug/examples/edu -- ./edu --iommufd
//! ```
//!
//! Usage: `edu [BDF] [--iommufd]`. Without a BDF the first entry of
//! `VFIOVM_BDFS` (set by the vfio-vm guest) is used, else the first device
//! bound to vfio-pci. The program realizes `-device vfio-pci,host=<BDF>`
//! (with `-object iommufd,id=io0` and `iommufd=io0` for `--iommufd`) in an
//! object tree, runs the edu check sequence ([`edu::run_checks`]: id
//! register through the BAR0 mapping, liveness, 10!, a DMA round trip
//! through the IOMMU, DMA to an unmapped IOVA not landing, MSI/INTx to
//! eventfds, reset), releases everything, checks that no file descriptor
//! leaked, and does it all a second time to show the device is reusable.
//!
//! Prints one `PASS`/`FAIL`/`SKIP` line per step; exits 1 on any failure,
//! 2 on a usage error.

use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::process::ExitCode;

use qomgen::ObjectTree;
use qomgen_devices::driver::{self, edu};
use qomgen_devices::models::vfio_pci::VfioPci;

const USAGE: &str = "usage: edu [DDDD:BB:DD.F] [--iommufd]";

/// Counts and prints the transcript.
#[derive(Default)]
struct Transcript {
    passed: usize,
    failed: usize,
    skipped: usize,
}

impl Transcript {
    fn record(&mut self, outcome: edu::Outcome, line: &str) {
        match outcome {
            edu::Outcome::Pass => self.passed += 1,
            edu::Outcome::Fail => self.failed += 1,
            edu::Outcome::Skip => self.skipped += 1,
        }
        println!("{line}");
    }

    fn check(&mut self, c: &edu::Check) {
        self.record(c.outcome, &c.to_string());
    }

    fn step(&mut self, name: &str, r: Result<String, String>) -> bool {
        let (outcome, detail) = match r {
            Ok(d) => (edu::Outcome::Pass, d),
            Err(e) => (edu::Outcome::Fail, e),
        };
        self.record(outcome, &format!("{outcome} {name}: {detail}"));
        outcome == edu::Outcome::Pass
    }
}

/// The device to use: the argument, else the guest's `VFIOVM_BDFS`, else
/// the first device bound to vfio-pci.
fn default_bdf() -> Option<String> {
    if let Some(b) = std::env::var("VFIOVM_BDFS")
        .ok()
        .and_then(|v| v.split_whitespace().next().map(str::to_owned))
    {
        return Some(b);
    }
    let mut names: Vec<String> = std::fs::read_dir("/sys/bus/pci/drivers/vfio-pci")
        .ok()?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.contains(':') && n.contains('.'))
        .collect();
    names.sort();
    names.into_iter().next()
}

/// Open file descriptors of this process.
fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

/// Kernel log records mentioning a DMAR fault (`None` if /dev/kmsg cannot be
/// read, e.g. outside the guest without privileges).
fn dmar_faults() -> Option<usize> {
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open("/dev/kmsg")
        .ok()?;
    let mut rec = vec![0u8; 8192];
    let mut n = 0;
    loop {
        match f.read(&mut rec) {
            Ok(0) => break,
            Ok(len) => {
                let s = String::from_utf8_lossy(&rec[..len]);
                if s.contains("DMAR") && s.contains("fault") {
                    n += 1;
                }
            }
            // A record was overwritten while reading: continue with the next.
            Err(e) if e.raw_os_error() == Some(libc::EPIPE) => {}
            Err(_) => break,
        }
    }
    Some(n)
}

/// One realize → checks → release round.
fn round(tree: &mut ObjectTree, t: &mut Transcript, bdf: &str, iommufd: bool, n: u32) {
    println!("== round {n}: realize, drive, release ==");
    let fds_before = open_fds();
    if iommufd
        && !t.step(
            "-object iommufd,id=io0",
            tree.object_add("iommufd,id=io0")
                .map(|_| "created".to_owned())
                .map_err(|e| e.to_string()),
        )
    {
        return;
    }
    let spec = format!(
        "vfio-pci,host={bdf},id=edu0{}",
        if iommufd { ",iommufd=io0" } else { "" }
    );
    let obj = match tree.device_add(&spec) {
        Ok(o) => o,
        Err(e) => {
            t.step(&format!("-device {spec}"), Err(e.to_string()));
            return;
        }
    };
    let realized = {
        let guard = obj.borrow();
        let a = guard.downcast_ref::<VfioPci>().and_then(VfioPci::attached);
        match a {
            Some(a) => Ok(format!(
                "realized {}: {} backend ({}), device fd from {}; {} regions, {} irq indexes",
                a.name,
                a.choice.backend,
                a.choice.reason,
                a.choice.fd_source,
                a.regions.len(),
                a.irqs.len()
            )),
            None => Err("realized, but no attached state".to_owned()),
        }
    };
    t.step(&format!("-device {spec}"), realized);
    let run = driver::with_driver(&obj, |d| edu::run_checks(d, &mut |c| t.check(c)));
    if let Err(e) = run {
        t.step("driver for the realized device", Err(e.to_string()));
    }
    drop(obj);
    let released = tree.del_device("edu0").and_then(|()| {
        if iommufd {
            tree.del_object("io0")
        } else {
            Ok(())
        }
    });
    t.step(
        if iommufd {
            "release (device_del edu0, object_del io0)"
        } else {
            "release (device_del edu0)"
        },
        released
            .map(|()| format!("tree empty: {}", tree.is_empty()))
            .map_err(|e| e.to_string()),
    );
    let fds_after = open_fds();
    let fds = format!("open fds before realize {fds_before}, after release {fds_after}");
    t.step(
        "no file descriptor leaked",
        if fds_after == fds_before {
            Ok(fds)
        } else {
            Err(fds)
        },
    );
}

fn main() -> ExitCode {
    let mut bdf = None;
    let mut iommufd = false;
    for a in std::env::args().skip(1) {
        match a.as_str() {
            "--iommufd" => iommufd = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            s if !s.starts_with('-') && bdf.is_none() => bdf = Some(s.to_owned()),
            _ => {
                eprintln!("{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    let Some(bdf) = bdf.or_else(default_bdf) else {
        eprintln!("edu: no BDF given and no device bound to vfio-pci\n{USAGE}");
        return ExitCode::from(2);
    };
    println!(
        "edu: device {bdf}, backend {}",
        if iommufd { "iommufd" } else { "legacy" }
    );

    let faults_before = dmar_faults();
    let mut tree = ObjectTree::new();
    let mut t = Transcript::default();
    for n in 1..=2 {
        round(&mut tree, &mut t, &bdf, iommufd, n);
    }
    if let (Some(a), Some(b)) = (faults_before, dmar_faults()) {
        // Informational: the IOMMU reports the blocked DMA (rate-limited).
        println!(
            "INFO kernel log: {} DMAR fault record(s) during the run",
            b.saturating_sub(a)
        );
    }
    println!(
        "edu: {} passed, {} failed, {} skipped",
        t.passed, t.failed, t.skipped
    );
    if t.failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
