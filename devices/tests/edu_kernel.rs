//! Real-kernel test of the driver API ([`qomgen_devices::driver`]) on QEMU's
//! `edu` device, over both IOMMU backends, run inside the vfio-vm guest.
//!
//! ```sh
//! CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUNNER=/work/shared/vfio-vm/cargo-runner \
//!     cargo test -p qomgen-devices --test edu_kernel -- --include-ignored --nocapture
//! ```
//!
//! Each backend test realizes `-device vfio-pci,host=<BDF>` through an
//! [`ObjectTree`] (plus `-object iommufd,id=io0` and `iommufd=io0` for
//! iommufd), runs the edu check sequence ([`edu::run_checks`]: id register
//! through the BAR0 mapping, checked accesses, liveness, 10!, a DMA round
//! trip through the IOMMU, DMA to an unmapped IOVA not landing, MSI and INTx
//! to eventfds, MSI-X refused, reset), releases everything, and does it all
//! again; the open fds of the process are counted before and after.
//!
//! Every test is `#[ignore]`d ("needs the real-kernel guest"): a plain
//! `cargo test` lists them as ignored. `vm/test-real-kernel` runs them in the
//! guest with `--include-ignored`; there (and anywhere else they are run) a
//! missing `VFIOVM_BDFS` makes each one fail, never pass.
//!
//! Inside, every step must pass; reset may be skipped only
//! when the kernel reports no reset method (edu on the root bus of q35 has
//! none; behind a PCIe root port it has a bus reset). In no-IOMMU mode the
//! DMA steps are skipped and the iommufd test is skipped (6.12 creates no
//! cdev for no-IOMMU devices); without `/dev/iommu` the iommufd test is
//! skipped too.

mod common;

use qomgen::ObjectTree;
use qomgen_devices::driver::{self, DmaBackendKind, edu};
use qomgen_devices::models::vfio_pci::VfioPci;

use common::GuestDevice;

/// Realize, run the checks, release; returns the failures.
fn round(tree: &mut ObjectTree, g: &GuestDevice, iommufd: bool, tag: &str) -> Vec<String> {
    if iommufd {
        tree.object_add("iommufd,id=io0")
            .unwrap_or_else(|e| panic!("[{tag}] -object iommufd,id=io0: {e}"));
    }
    let spec = g.vfio_pci("edu0", iommufd);
    let obj = tree
        .device_add(&spec)
        .unwrap_or_else(|e| panic!("[{tag}] -device {spec}: {e}"));
    {
        let guard = obj.borrow();
        let a = guard
            .downcast_ref::<VfioPci>()
            .and_then(VfioPci::attached)
            .expect("realized vfio-pci has attached state");
        println!(
            "[{tag}] realized {}: {} backend ({}), fd from {}",
            a.name, a.choice.backend, a.choice.reason, a.choice.fd_source
        );
        assert_eq!(a.choice.backend, if iommufd { "iommufd" } else { "legacy" });
    }
    let mut failures = Vec::new();
    let checks = driver::with_driver(&obj, |d| {
        let kind = d.dma().kind();
        assert_eq!(
            kind == DmaBackendKind::Iommufd,
            iommufd,
            "[{tag}] DMA backend {kind:?}"
        );
        edu::run_checks(d, &mut |c| println!("[{tag}] {c}"))
    })
    .unwrap_or_else(|e| panic!("[{tag}] driver: {e}"));
    for c in &checks {
        match c.outcome {
            edu::Outcome::Pass => {}
            edu::Outcome::Fail => failures.push(format!("[{tag}] {c}")),
            edu::Outcome::Skip => {
                let allowed =
                    c.name == "VFIO_DEVICE_RESET" || (c.name.contains("DMA") && g.noiommu);
                if !allowed {
                    failures.push(format!("[{tag}] unexpected skip: {c}"));
                }
            }
        }
    }
    // After the failures, which say why a step cut the sequence short.
    if checks.len() < 15 {
        failures.push(format!(
            "[{tag}] sequence stopped early after {} checks",
            checks.len()
        ));
    }
    drop(obj);
    tree.del_device("edu0")
        .unwrap_or_else(|e| panic!("[{tag}] device_del: {e}"));
    if iommufd {
        tree.del_object("io0")
            .unwrap_or_else(|e| panic!("[{tag}] object_del: {e}"));
    }
    assert!(tree.is_empty(), "[{tag}] tree not empty after release");
    failures
}

/// realize → sequence → release → realize again → sequence → release, with
/// the fd count compared before and after. Through iommufd it needs
/// `/dev/iommu` and the device's cdev; without them it checks that the
/// iommufd path is refused in words that say what is missing.
fn two_rounds(g: &GuestDevice, iommufd: bool) {
    if iommufd && !g.full() {
        return g.assert_iommufd_refused();
    }
    let backend = if iommufd { "iommufd" } else { "legacy" };
    let mut tree = ObjectTree::new();
    let fds_before = common::open_fds();
    let mut failures = round(&mut tree, g, iommufd, &format!("{backend} 1"));
    let fds_between = common::open_fds();
    failures.extend(round(&mut tree, g, iommufd, &format!("{backend} 2")));
    let fds_after = common::open_fds();
    println!("[{backend}] open fds: before {fds_before}, between {fds_between}, after {fds_after}");
    assert!(
        failures.is_empty(),
        "failed steps:\n{}",
        failures.join("\n")
    );
    assert_eq!(
        (fds_between, fds_after),
        (fds_before, fds_before),
        "[{backend}] file descriptors leaked"
    );
}

common::backend_tests!(two_rounds: edu_over_legacy_container, edu_over_iommufd);

/// An MSI raised from the kernel side (`SET_IRQS` trigger, no device
/// involved) reaches its eventfd, and a wait with no deadline
/// (`Duration::MAX`) returns it rather than overflowing the clock.
#[test]
#[ignore = "needs the real-kernel guest (vm/test-real-kernel)"]
fn kernel_triggered_msi_wakes_an_unbounded_wait() {
    let (bdf, _serial) = common::locked_guest_bdf();
    let mut tree = ObjectTree::new();
    let obj = tree
        .device_add(&format!("vfio-pci,host={bdf},id=edu0"))
        .unwrap_or_else(|e| panic!("-device vfio-pci,host={bdf}: {e}"));
    let count = driver::with_driver(&obj, |d| {
        let irqs = d.enable_irq(driver::IrqKind::Msi, 1)?;
        assert_eq!(irqs.take(0)?, 0, "no interrupt before the trigger");
        irqs.trigger(0)?;
        irqs.wait(0, std::time::Duration::MAX)
    })
    .unwrap_or_else(|e| panic!("driver: {e}"))
    .unwrap_or_else(|e| panic!("MSI loopback: {e}"));
    assert_eq!(count, 1);
    drop(obj);
    tree.del_device("edu0").unwrap();
}
