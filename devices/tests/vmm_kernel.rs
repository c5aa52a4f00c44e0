//! Real-kernel test of the edu_vmm example (issue #13): a KVM guest inside
//! the test guest drives `edu` through qomgen's vfio-pci, in-process, for
//! three configurations: the legacy container, iommufd, and `x-no-mmap=on`
//! (every BAR access trapped). Each run ends with the guest's MSI delivery
//! measurement (`--msi-rounds` of edu_vmm, 32 rounds here): its figures
//! are printed, not asserted (BENCHMARKS.md has them).
//!
//! ```sh
//! CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUNNER=$PWD/vm/cargo-runner \
//!     cargo test -p qomgen-devices --test vmm_kernel -- --include-ignored --nocapture
//! ```
//!
//! The tests are `#[ignore]`d, so a plain `cargo test` reports them ignored.
//! Run, they need the guest: they FAIL (never pass by returning) when
//! `VFIOVM_BDFS` or `/dev/kvm` is missing. What each asserts depends on the
//! mode the guest's `/dev` nodes show (see [`common::GuestDevice`]):
//!
//! * vIOMMU with iommufd and the cdev (custom kernel): all three run to
//!   the guest's done report.
//! * no `/dev/iommu` (Debian kernel, `--kernel debian`): legacy and
//!   x-no-mmap run to done; the iommufd configuration must fail at
//!   `-object iommufd` with a clear error.
//! * no-IOMMU (`--noiommu`, `/dev/vfio/noiommu-N`): mapping guest RAM for
//!   DMA must be refused with a clear error in every configuration that
//!   can realize (legacy, x-no-mmap); iommufd must fail to realize (no
//!   cdev for no-IOMMU devices).

mod common;

#[allow(dead_code)]
#[path = "../examples/edu_vmm/guest.rs"]
mod guest;
#[allow(dead_code)]
#[path = "../examples/edu_vmm/session.rs"]
mod session;
#[allow(dead_code)]
#[path = "../examples/edu_vmm/vmm.rs"]
mod vmm;

use std::path::Path;
use std::sync::Mutex;

use session::{Backend, Options};

/// The device can be opened only once at a time, and one VM at a time
/// keeps the guest's runs short.
static SERIAL: Mutex<()> = Mutex::new(());

/// The guest's device, or a panic saying why this is not the guest.
fn guest(test: &str) -> common::GuestDevice {
    let g = common::GuestDevice::detect();
    assert!(
        Path::new("/dev/kvm").exists(),
        "vmm_kernel::{test}: /dev/kvm is missing in the guest ({}): the kernel needs \
         KVM and KVM_AMD (custom kernel: built in; debian: vm/guest-init.sh loads kvm.ko \
         and kvm-amd.ko)",
        g.mode()
    );
    g
}

/// Runs one configuration and checks the outcome the guest's mode calls for.
fn check(test: &str, backend: Backend, no_mmap: bool) {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let g = guest(test);
    let opts = Options {
        bdf: g.bdf.clone(),
        backend,
        no_mmap,
        no_kvm_msi: false,
        msi_rounds: guest::MSI_ROUNDS,
    };
    let mut t = vmm::Transcript::default();
    println!("[{test}] {} ({})", opts.device_spec(), g.mode());
    let r = session::run(&opts, &mut t);
    let iommufd_possible = g.iommufd && g.cdev.is_some() && !g.noiommu;
    match r {
        Ok(s) => {
            assert!(
                !g.noiommu,
                "[{test}] no-IOMMU mode, but guest RAM was mapped for DMA and the run passed"
            );
            assert!(
                backend == Backend::Legacy || iommufd_possible,
                "[{test}] iommufd run passed on a kernel without iommufd + cdev"
            );
            assert_eq!(
                s.run.steps_ok.last(),
                Some(&guest::Step::Done),
                "[{test}] transcript:\n{}",
                t.lines.join("\n")
            );
            // The 13 driver steps, the MSI delivery measurement, done.
            assert_eq!(
                s.run.steps_ok.len(),
                15,
                "[{test}] steps {:?}",
                s.run.steps_ok
            );
            assert!(
                s.run.steps_ok.contains(&guest::Step::Interrupt)
                    && s.run.steps_ok.contains(&guest::Step::MsiLatency),
                "[{test}] steps {:?}",
                s.run.steps_ok
            );
            // One sample per round, over the irqfd route; the times are
            // reported (BENCHMARKS.md), not asserted.
            assert_eq!(
                s.run.msi.ticks.len(),
                guest::MSI_ROUNDS as usize,
                "[{test}] MSI samples"
            );
            assert_eq!(s.run.msi.route, "irqfd", "[{test}] MSI route");
            if no_mmap {
                assert!(
                    t.lines.iter().any(|l| l.contains("0x100000 trapped")),
                    "[{test}] x-no-mmap=on, but BAR0 was not trapped:\n{}",
                    t.lines.join("\n")
                );
            } else {
                assert!(
                    t.lines.iter().any(|l| l.contains("as KVM slot(s) [1]")),
                    "[{test}] BAR0 was not mapped as a KVM slot:\n{}",
                    t.lines.join("\n")
                );
            }
            println!("[{test}] {}", s.run.msi.summary());
            println!(
                "[{test}] ok: realize {:?}, VM setup {:?}, guest run {:?}, {} exits, total {:?}",
                s.realize, s.run.setup, s.run.run, s.run.exits, s.total
            );
        }
        Err(e) if backend == Backend::Iommufd && !iommufd_possible => {
            // It must fail where the backend is set up (realize), not later.
            assert!(
                e.starts_with("-object iommufd") || e.starts_with("-device "),
                "[{test}] iommufd unavailable ({}): expected -object/-device to fail, got: {e}",
                g.mode()
            );
            println!("[{test}] refused as expected ({}): {e}", g.mode());
        }
        Err(e) if g.noiommu => {
            assert!(
                e.starts_with("DMA: ") && e.contains("no-IOMMU"),
                "[{test}] no-IOMMU mode: expected mapping guest RAM for DMA to be refused \
                 with a clear error, got: {e}"
            );
            println!("[{test}] DMA mapping refused as expected: {e}");
        }
        Err(e) => panic!(
            "[{test}] {}: {e}\ntranscript:\n{}",
            g.mode(),
            t.lines.join("\n")
        ),
    }
}

#[test]
#[ignore = "needs the real-kernel guest with /dev/kvm (vm/test-real-kernel)"]
fn vmm_legacy_container() {
    check("vmm_legacy_container", Backend::Legacy, false);
}

#[test]
#[ignore = "needs the real-kernel guest with /dev/kvm (vm/test-real-kernel)"]
fn vmm_iommufd() {
    check("vmm_iommufd", Backend::Iommufd, false);
}

#[test]
#[ignore = "needs the real-kernel guest with /dev/kvm (vm/test-real-kernel)"]
fn vmm_legacy_no_mmap() {
    check("vmm_legacy_no_mmap", Backend::Legacy, true);
}
