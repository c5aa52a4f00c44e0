//! A mini-VMM that boots a KVM guest and assigns it QEMU's `edu` device
//! (1234:11e8) through qomgen's `vfio-pci` (issue #13).
//!
//! ```sh
//! cargo build -p qomgen-devices --example edu_vmm
//! vm/run-in-guest target/debug/examples/edu_vmm -- ./edu_vmm
//! vm/run-in-guest target/debug/examples/edu_vmm -- ./edu_vmm --iommufd
//! vm/run-in-guest target/debug/examples/edu_vmm -- ./edu_vmm --no-mmap
//! vm/run-in-guest target/debug/examples/edu_vmm -- ./edu_vmm --no-kvm-msi
//! ```
//!
//! Usage: `edu_vmm [BDF] [--iommufd] [--no-mmap] [--no-kvm-msi]
//! [--msi-rounds N]`. Without
//! a BDF the first entry of `VFIOVM_BDFS` (set by the vfio-vm guest) is
//! used. The device is realized as `-device vfio-pci,host=BDF` (with
//! `-object iommufd,id=io0` and `iommufd=io0` for `--iommufd`,
//! `x-no-mmap=on` for `--no-mmap`: every BAR access trapped,
//! `x-no-kvm-msi=on` for `--no-kvm-msi`: MSIs injected from userspace).
//!
//! The VMM ([`vmm`]) creates a KVM VM with an in-kernel irqchip, 2 MiB of
//! RAM and one vCPU in 32-bit flat protected mode, and puts the device at
//! bus 0 slot 3 behind a configuration-mechanism-#1 host bridge. The guest
//! program ([`guest`], assembled at start-up with iced-x86) does what a
//! driver does and reports each step on port 0x510; the VMM prints one
//! line per step. After the driver's steps the guest measures MSI
//! delivery from the device to its handler over `--msi-rounds` rounds
//! (default 32; TSC ticks converted with the vCPU's `KVM_GET_TSC_KHZ`) and
//! the VMM prints the minimum, median and maximum. The device is qomgen's guest-facing PCI function
//! (`qomgen_devices::guest::pci::PciFunction`), which vfio-pci's realize
//! plans and `VfioPci::take_function` builds and hands to the thread that
//! runs the vCPU, while the object tree stays on the main thread.
//!
//! Exits 0 when the guest reports done, 1 on any failure (with the
//! message), 2 on a usage error.

mod guest;
mod session;
mod vmm;

use std::process::ExitCode;

use session::{Backend, Options};

const USAGE: &str =
    "usage: edu_vmm [DDDD:BB:DD.F] [--iommufd] [--no-mmap] [--no-kvm-msi] [--msi-rounds N]";
/// Upper bound of `--msi-rounds` (the guest's watchdog covers the whole run).
const MAX_MSI_ROUNDS: u32 = 10_000;

fn main() -> ExitCode {
    let mut bdf = None;
    let mut backend = Backend::Legacy;
    let mut no_mmap = false;
    let mut no_kvm_msi = false;
    let mut msi_rounds = guest::MSI_ROUNDS;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--msi-rounds" => match args.next().and_then(|n| n.parse::<u32>().ok()) {
                Some(n) if n <= MAX_MSI_ROUNDS => msi_rounds = n,
                _ => {
                    eprintln!("edu_vmm: --msi-rounds needs a number 0..={MAX_MSI_ROUNDS}\n{USAGE}");
                    return ExitCode::from(2);
                }
            },
            "--iommufd" => backend = Backend::Iommufd,
            "--legacy" => backend = Backend::Legacy,
            "--no-mmap" => no_mmap = true,
            "--no-kvm-msi" => no_kvm_msi = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            s if !s.starts_with('-') && bdf.is_none() => bdf = Some(s.to_owned()),
            s => {
                eprintln!("edu_vmm: unknown argument {s:?}\n{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    let Some(bdf) = bdf.or_else(|| {
        std::env::var("VFIOVM_BDFS")
            .ok()
            .and_then(|v| v.split_whitespace().next().map(str::to_owned))
    }) else {
        eprintln!("edu_vmm: no BDF given and VFIOVM_BDFS is not set\n{USAGE}");
        return ExitCode::from(2);
    };
    let opts = Options {
        bdf,
        backend,
        no_mmap,
        no_kvm_msi,
        msi_rounds,
    };
    let mut t = vmm::Transcript::default();
    t.line(format!("edu_vmm: {}", opts.device_spec()));
    match session::run(&opts, &mut t) {
        Ok(s) => {
            println!(
                "edu_vmm: ok: {} steps; realize {:.1} ms, VM setup {:.1} ms, guest run {:.1} ms ({} exits, {} MSI rounds, {} MSIs injected from userspace), total {:.1} ms",
                s.run.steps_ok.len(),
                s.realize.as_secs_f64() * 1e3,
                s.run.setup.as_secs_f64() * 1e3,
                s.run.run.as_secs_f64() * 1e3,
                s.run.exits,
                s.run.msi.ticks.len(),
                s.run.injected,
                s.total.as_secs_f64() * 1e3
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("edu_vmm: FAILED: {e}");
            ExitCode::FAILURE
        }
    }
}
