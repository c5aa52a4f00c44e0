//! Real-kernel tests of the device models: `device_add("vfio-pci,...")`,
//! `object_add("iommufd,...")`, realize/unrealize and their errors against
//! the Linux VFIO / IOMMUFD code of a throw-away guest (the project's
//! `vm/` harness: QEMU q35 + emulated Intel IOMMU + QEMU's `edu` device
//! 1234:11e8 bound to vfio-pci).
//!
//! ```sh
//! vm/setup                                    # once, as root
//! CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUNNER=$PWD/vm/cargo-runner \
//!     cargo test -p qomgen-devices --test realize_kernel -- --include-ignored
//! QOMGEN_VM_RUN_ARGS='--kernel debian' ...    # Debian's kernel: no IOMMUFD
//! QOMGEN_VM_RUN_ARGS='--noiommu' ...          # vfio no-IOMMU mode: no cdev
//! vm/test-real-kernel                         # all of that, with a summary
//! ```
//!
//! Every test is `#[ignore]`d ("needs the real-kernel guest"): a plain
//! `cargo test` lists them as ignored. `vm/test-real-kernel` runs them in the
//! guest with `--include-ignored`; there (and anywhere else they are run) a
//! missing `VFIOVM_BDFS` makes each one fail, never pass.
//!
//! Inside, every test runs, and asserts what the kernel
//! it finds must give: the same binary is run on the custom kernel with a
//! vIOMMU (legacy + iommufd + cdev), on the custom kernel in no-IOMMU mode
//! (legacy only: 6.12 creates no cdev node for no-IOMMU devices), and on
//! Debian's kernel (legacy only: no `/dev/iommu`). [`Guest::detect`] reads
//! which from the guest's `/dev` and sysfs.
//!
//! The tests are serialised: the one device can be open only once.

mod common;

use std::cell::Ref;
use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::path::Path;

use qomgen::{Error, ObjRef, ObjectTree};
use qomgen_devices::attach::{Attached, Backend, BackendPolicy};
use qomgen_devices::models::vfio_pci::VfioPci;
use vfio_bindings::bindings::vfio as vb;

const EDU_VENDOR: u16 = 0x1234;
const EDU_DEVICE: u16 = 0x11e8;
/// edu's identification register (BAR0 offset 0): 0xRRrr00edu, version 1.0.
const EDU_ID: u32 = 0x0100_00ed;
/// edu's liveness register: reads back the bitwise inverse of what was written.
const EDU_REG_LIVE: usize = 0x04;
/// edu's BAR0 is 1 MiB of MMIO.
const EDU_BAR0_SIZE: u64 = 1 << 20;
/// `PCI_CAP_ID_MSI`: edu has an MSI capability.
const PCI_CAP_ID_MSI: u16 = 0x05;
/// `PCI_COMMAND` offset and its memory-space enable bit.
const PCI_COMMAND: u64 = 0x04;
const PCI_COMMAND_MEMORY: u16 = 0x2;
/// Realize/unrealize cycles of the fd-leak test, per backend.
const CYCLES: usize = 200;

/// The guest's device; `detect` also takes the lock that serialises the tests.
type Guest = common::GuestDevice;

/// The realized `VfioPci` inside a tree entry.
fn vfio_pci(dev: &ObjRef) -> Ref<'_, VfioPci> {
    Ref::map(dev.borrow(), |o| {
        o.downcast_ref::<VfioPci>()
            .expect("the device is a vfio-pci")
    })
}

/// What realize attached (it must have).
fn attached(dev: &ObjRef) -> Ref<'_, Attached> {
    Ref::map(vfio_pci(dev), |d| {
        d.attached()
            .expect("a realized vfio-pci holds its attachment")
    })
}

#[track_caller]
fn expect_err<T>(r: qomgen::Result<T>, what: &str) -> Error {
    match r {
        Ok(_) => panic!("{what}: succeeded, expected an error"),
        Err(e) => {
            println!("{what}: error: {}", common::text(&e));
            e
        }
    }
}

/// `device_add(spec)` on `tree` fails (`what` says which attempt), and the
/// error reads exactly `text`; the error, for its hint.
#[track_caller]
fn refused(tree: &mut ObjectTree, spec: &str, what: &str, text: &str) -> Error {
    let e = expect_err(tree.device_add(spec), what);
    assert_eq!(e.to_string(), text, "{what}");
    e
}

/// The checks every successful vfio-pci realize of edu must pass, whatever
/// the backend: identity from config space, regions with BAR0 mapped and
/// readable through the mapping, IRQ info.
fn check_realized(tag: &str, a: &Attached) {
    println!(
        "[{tag}] name={} backend={} reason={:?} fd_source={:?}",
        a.name, a.choice.backend, a.choice.reason, a.choice.fd_source
    );
    // VFIO_DEVICE_GET_INFO
    assert!(a.info.is_pci(), "[{tag}] not a PCI device: {:?}", a.info);
    assert_eq!(a.info.num_regions, vb::VFIO_PCI_NUM_REGIONS);
    assert_eq!(a.info.num_irqs, vb::VFIO_PCI_NUM_IRQS);

    // Identity, read by realize from config space.
    let pci = a.pci.as_ref().expect("vfio-pci realize fills `pci`");
    println!(
        "[{tag}] config: {:04x}:{:04x} class {:06x} caps {:?}",
        pci.vendor_id, pci.device_id, pci.class_code, pci.capabilities
    );
    assert_eq!((pci.vendor_id, pci.device_id), (EDU_VENDOR, EDU_DEVICE));
    // QEMU's edu: class_id PCI_CLASS_OTHERS (0xff) -> base 0x00, sub 0xff.
    assert_eq!(pci.class_code, 0x00ff00);
    assert!(
        pci.capabilities
            .iter()
            .any(|c| c.id == PCI_CAP_ID_MSI && !c.extended),
        "[{tag}] no MSI capability in {:?}",
        pci.capabilities
    );

    // Regions: BAR0..ROM, then config.
    let bar0 = a
        .regions
        .iter()
        .find(|r| r.info.index == vb::VFIO_PCI_BAR0_REGION_INDEX)
        .expect("BAR0 region");
    println!(
        "[{tag}] BAR0 size={:#x} flags={:#x} maps={:?}",
        bar0.info.size,
        bar0.info.flags,
        bar0.maps
            .iter()
            .map(|(o, m)| (o, m.len()))
            .collect::<Vec<_>>()
    );
    assert_eq!(bar0.info.size, EDU_BAR0_SIZE);
    assert!(bar0.info.mmappable() && bar0.info.readable() && bar0.info.writable());
    assert_eq!(bar0.maps.len(), 1, "[{tag}] BAR0 mapped whole");
    let (off, map) = &bar0.maps[0];
    assert_eq!((*off, map.len() as u64), (0, EDU_BAR0_SIZE));
    let config = a
        .regions
        .iter()
        .find(|r| r.info.index == vb::VFIO_PCI_CONFIG_REGION_INDEX)
        .expect("config region");
    assert!(config.maps.is_empty(), "config space is never mmapped");
    for r in &a.regions {
        if r.info.index != vb::VFIO_PCI_BAR0_REGION_INDEX
            && r.info.index != vb::VFIO_PCI_CONFIG_REGION_INDEX
        {
            assert!(r.maps.is_empty(), "[{tag}] region {} mapped", r.info.index);
        }
    }

    // vfio-pci makes BAR mmaps fault (SIGBUS) while memory decode is off;
    // a guest driver turns it on before touching the BAR, so do that.
    let dev = a.device();
    let mut cmd = [0u8; 2];
    dev.region_read(&config.info, PCI_COMMAND, &mut cmd)
        .expect("read PCI_COMMAND");
    let cmd = u16::from_le_bytes(cmd);
    println!("[{tag}] PCI_COMMAND={cmd:#06x}");
    if cmd & PCI_COMMAND_MEMORY == 0 {
        dev.region_write(
            &config.info,
            PCI_COMMAND,
            &(cmd | PCI_COMMAND_MEMORY).to_le_bytes(),
        )
        .expect("write PCI_COMMAND");
    }
    let id = map.read_u32(0);
    println!("[{tag}] edu id register through the BAR0 mapping: {id:#010x}");
    assert_eq!(id, EDU_ID);
    map.write_u32(EDU_REG_LIVE, 0x1234_5678);
    assert_eq!(map.read_u32(EDU_REG_LIVE), !0x1234_5678);

    // IRQ info: every index realize could read, INTx and MSI as edu has them.
    println!(
        "[{tag}] irqs: {:?}",
        a.irqs
            .iter()
            .map(|i| (i.index, i.count, i.flags))
            .collect::<Vec<_>>()
    );
    let irq = |index: u32| {
        a.irqs
            .iter()
            .find(|i| i.index == index)
            .unwrap_or_else(|| panic!("[{tag}] no info for irq index {index}"))
    };
    let intx = irq(vb::VFIO_PCI_INTX_IRQ_INDEX);
    assert!(intx.count == 1 && intx.eventfd() && intx.maskable() && intx.automasked());
    let msi = irq(vb::VFIO_PCI_MSI_IRQ_INDEX);
    assert!(msi.count >= 1 && msi.eventfd());
    // edu has no MSI-X capability.
    assert_eq!(irq(vb::VFIO_PCI_MSIX_IRQ_INDEX).count, 0);
}

/// `device_add` on `tree`, checked, returning the device.
#[track_caller]
fn realize(tree: &mut ObjectTree, spec: &str) -> ObjRef {
    match tree.device_add(spec) {
        Ok(d) => d,
        Err(e) => panic!("device_add({spec:?}) failed: {}", common::text(&e)),
    }
}

/// A tree under `policy`, and `device_add` of the guest's device (id `d0`)
/// in it.
fn add_under(g: &Guest, policy: BackendPolicy) -> (ObjectTree, qomgen::Result<ObjRef>) {
    let mut tree = ObjectTree::new();
    tree.set_resource(policy);
    let r = tree.device_add(&format!("vfio-pci,host={},id=d0", g.bdf));
    (tree, r)
}

/// Legacy container realize, unrealize, and realize again.
#[test]
#[ignore = "needs the real-kernel guest (vm/test-real-kernel)"]
fn legacy_realize_unrealize_realize() {
    let (g, _lock) = common::locked_guest();
    let mut tree = ObjectTree::new();
    let spec = format!("vfio-pci,host={},id=d0", g.bdf);
    for round in 1..=2 {
        let dev = realize(&mut tree, &spec);
        {
            let a = attached(&dev);
            check_realized(&format!("legacy#{round}"), &a);
            assert_eq!(a.choice.backend, "legacy");
            assert_eq!(a.choice.reason, "no iommufd= link (QEMU's default)");
            assert_eq!(
                a.choice.fd_source,
                format!("group {} ({})", g.group, g.group_node.display())
            );
            assert_eq!(a.name, g.bdf);
            assert_eq!(
                a.sysfsdev.as_deref(),
                Some(Path::new(&format!("/sys/bus/pci/devices/{}", g.bdf)))
            );
            match a.backend() {
                Backend::Legacy {
                    group_id,
                    iommu_type,
                    ..
                } => {
                    assert_eq!(*group_id, g.group);
                    let want = if g.noiommu {
                        vb::VFIO_NOIOMMU_IOMMU
                    } else {
                        vb::VFIO_TYPE1v2_IOMMU
                    };
                    assert_eq!(*iommu_type, want);
                }
                other => panic!("legacy realize gave {other:?}"),
            }
        }
        drop(dev);
        tree.del_device("d0").expect("del_device d0");
        assert!(tree.device("d0").is_none());
        // Released: the group can be opened again right away (it is
        // exclusive), which the next round's realize also relies on.
        File::open(&g.group_node)
            .unwrap_or_else(|e| panic!("reopen {} after del_device: {e}", g.group_node.display()));
    }
}

/// iommufd backend through an `-object iommufd`, which cannot go while the
/// device uses it. On a kernel without IOMMUFD the object cannot be created.
#[test]
#[ignore = "needs the real-kernel guest (vm/test-real-kernel)"]
fn iommufd_realize_and_object_in_use() {
    let (g, _lock) = common::locked_guest();
    let mut tree = ObjectTree::new();
    if !g.iommufd {
        let e = expect_err(tree.object_add("iommufd,id=io0"), "object_add iommufd");
        g.assert_iommufd_missing(&e);
        assert!(tree.object("io0").is_none());
        return;
    }
    tree.object_add("iommufd,id=io0")
        .expect("object_add iommufd");
    let spec = format!("vfio-pci,host={},iommufd=io0,id=d1", g.bdf);
    if g.cdev.is_none() {
        // No-IOMMU mode: the object exists, the device cannot use it.
        let e = expect_err(tree.device_add(&spec), "iommufd realize without cdev");
        g.assert_cdev_missing(&e);
        tree.del_object("io0").expect("del_object io0 (unused)");
        return;
    }
    let dev = realize(&mut tree, &spec);
    {
        let a = attached(&dev);
        check_realized("iommufd", &a);
        assert_eq!(a.choice.backend, "iommufd");
        assert_eq!(a.choice.reason, "iommufd=io0 is set");
        assert_eq!(
            a.choice.fd_source,
            g.cdev.as_ref().unwrap().display().to_string()
        );
        match a.backend() {
            Backend::Iommufd {
                link: Some(_),
                private: None,
                devid,
                ioas,
                hwpt,
                hwpt_allocated,
                dirty_tracking,
                kvm: None,
            } => {
                println!(
                    "[iommufd] devid={devid} ioas={ioas} hwpt={hwpt} dirty_tracking={dirty_tracking}"
                );
                // A PCI function gets a HWPT of its own (QEMU's auto domain), not the IOAS.
                assert!(*hwpt_allocated);
                assert_ne!(hwpt, ioas);
            }
            other => panic!("iommufd realize gave {other:?}"),
        }
    }
    let e = expect_err(tree.del_object("io0"), "del_object io0 while d1 uses it");
    assert_eq!(e.to_string(), "object 'io0' is in use, can not be deleted");
    assert!(tree.object("io0").is_some());
    drop(dev);
    tree.del_device("d1").expect("del_device d1");
    tree.del_object("io0")
        .expect("del_object io0 after del_device");
    assert!(tree.object("io0").is_none());
    // Released: the legacy path can take the device again.
    let dev = realize(&mut tree, &format!("vfio-pci,host={},id=d0", g.bdf));
    assert_eq!(attached(&dev).choice.backend, "legacy");
}

/// `fd=`: a cdev descriptor this process opened, handed over by number;
/// then descriptors the kernel refuses.
#[test]
#[ignore = "needs the real-kernel guest (vm/test-real-kernel)"]
fn fd_passing_realize() {
    let (g, _lock) = common::locked_guest();
    let mut tree = ObjectTree::new();
    if let Some(cdev) = &g.cdev {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(cdev)
            .unwrap_or_else(|e| panic!("open {}: {e}", cdev.display()));
        let n = file.as_raw_fd();
        tree.object_add("iommufd,id=io0")
            .expect("object_add iommufd");
        let dev = realize(&mut tree, &format!("vfio-pci,iommufd=io0,fd={n},id=d2"));
        {
            let a = attached(&dev);
            check_realized("fd", &a);
            assert_eq!(a.choice.backend, "iommufd");
            // QEMU names an fd= device by its id.
            assert_eq!(a.name, "d2");
            assert_eq!(a.sysfsdev, None);
            // The number the user passed, not that of the model's duplicate.
            assert_eq!(a.choice.fd_source, format!("fd={n}"));
        }
        // The device holds its own duplicate: closing ours changes nothing.
        drop(file);
        assert_eq!(attached(&dev).pci.as_ref().unwrap().vendor_id, EDU_VENDOR);
        drop(dev);
        tree.del_device("d2").expect("del_device d2");
        tree.del_object("io0").expect("del_object io0");
    } else {
        // Debian's kernel and no-IOMMU mode: there is no cdev to pass.
        println!("fd_passing_realize: no cdev node ({})", g.mode());
    }

    let null = File::open("/dev/null").unwrap();
    let n = null.as_raw_fd();
    if g.iommufd {
        // A descriptor that is not a VFIO device: the kernel refuses the bind.
        tree.object_add("iommufd,id=io0")
            .expect("object_add iommufd");
        let e = expect_err(
            tree.device_add(&format!("vfio-pci,iommufd=io0,fd={n},id=d3")),
            "fd=/dev/null",
        );
        assert!(
            e.message().starts_with("vfio d3: error bind device fd=")
                && e.message().ends_with(": Inappropriate ioctl for device"),
            "{}",
            e.message()
        );
        // The failed realize left the backend unused.
        tree.del_object("io0")
            .expect("del_object io0 after failed realize");
    }
    // Without an iommufd= link, fd= is refused before the kernel is asked.
    let e = expect_err(
        tree.device_add(&format!("vfio-pci,fd={n},id=d4")),
        "fd= without iommufd",
    );
    assert_eq!(e.to_string(), "Use FD passing only with iommufd backend");
    assert!(tree.is_empty());
}

/// `BackendPolicy::Auto` picks iommufd exactly where the kernel offers it.
#[test]
#[ignore = "needs the real-kernel guest (vm/test-real-kernel)"]
fn auto_policy_choice() {
    let (g, _lock) = common::locked_guest();
    let (_tree, r) = add_under(&g, BackendPolicy::Auto);
    if g.noiommu {
        // /dev/iommu exists and so does vfio-dev/vfioN in sysfs, but 6.12
        // creates no cdev node for no-IOMMU devices (and iommufd cannot
        // drive them), so the only working choice is legacy.
        match &r {
            Ok(d) => {
                let a = attached(d);
                println!(
                    "[auto/noiommu] chose {} ({})",
                    a.choice.backend, a.choice.reason
                );
                assert_eq!(a.choice.backend, "legacy");
                assert_eq!(
                    a.choice.reason,
                    "policy auto: the device's vfio-dev cdev has no /dev node (no-IOMMU devices get none)"
                );
            }
            Err(e) => panic!(
                "policy auto on a no-IOMMU device failed instead of choosing legacy: {}",
                common::text(e)
            ),
        }
        return;
    }
    let dev = r.unwrap_or_else(|e| panic!("policy auto failed: {}", common::text(&e)));
    let a = attached(&dev);
    check_realized("auto", &a);
    println!(
        "[auto] chose {} because {}",
        a.choice.backend, a.choice.reason
    );
    if g.full() {
        assert_eq!(a.choice.backend, "iommufd");
        assert_eq!(
            a.choice.reason,
            "policy auto: /dev/iommu and the device cdev exist"
        );
        assert!(a.choice.reason.contains("/dev/iommu") && a.choice.reason.contains("cdev"));
        assert_eq!(
            a.choice.fd_source,
            g.cdev.as_ref().unwrap().display().to_string()
        );
        // A private iommufd: no object is linked.
        assert!(matches!(
            a.backend(),
            Backend::Iommufd {
                link: None,
                private: Some(_),
                ..
            }
        ));
    } else {
        assert!(!g.iommufd);
        assert_eq!(a.choice.backend, "legacy");
        assert_eq!(
            a.choice.reason,
            "policy auto: /dev/iommu not found (CONFIG_IOMMUFD)"
        );
    }
}

/// Errors only a real kernel produces, with their exact texts.
#[test]
#[ignore = "needs the real-kernel guest (vm/test-real-kernel)"]
fn realize_errors_on_the_real_kernel() {
    let (g, _lock) = common::locked_guest();
    let mut tree = ObjectTree::new();

    // vfio-pci-nohotplug's ramfb check runs inside vfio-pci's realize, after
    // it attached the device; the failure releases that attachment (a clean
    // realize follows).
    let fds = common::open_fds();
    refused(
        &mut tree,
        &format!("vfio-pci-nohotplug,host={},ramfb=on", g.bdf),
        "ramfb without display",
        &format!("vfio {}: ramfb=on requires display=on", g.bdf),
    );
    assert!(tree.is_empty());
    assert_eq!(common::open_fds(), fds);

    // The group node held open by someone else (here: a plain open, as
    // another process would): the kernel allows one open, EBUSY.
    {
        let holder = std::fs::File::open(&g.group_node).expect("open the group node");
        let e = refused(
            &mut tree,
            &format!("vfio-pci,host={},id=dup", g.bdf),
            "legacy realize while another holder has the group open",
            &format!(
                "vfio {}: Could not open '{}': Device or resource busy",
                g.bdf,
                g.group_node.display()
            ),
        );
        assert_eq!(
            e.hint(),
            Some("The group is already open: is a device of it assigned by another process?")
        );
        drop(holder);
    }
    // The same device twice at once in this process: the group is shared
    // (as QEMU's group list does), and the device is refused by name.
    let _d0 = realize(&mut tree, &format!("vfio-pci,host={},id=d0", g.bdf));
    let e = refused(
        &mut tree,
        &format!("vfio-pci,host={},id=dup", g.bdf),
        "second legacy realize",
        &format!("vfio {}: device is already attached", g.bdf),
    );
    assert_eq!(e.hint(), None);
    assert!(tree.device("dup").is_none());
    if g.full() {
        // Through iommufd instead: the cdev opens, but the kernel refuses to
        // bind a device whose group is open (vfio_device_block_group).
        tree.object_add("iommufd,id=io0")
            .expect("object_add iommufd");
        let e = expect_err(
            tree.device_add(&format!("vfio-pci,host={},iommufd=io0,id=dup", g.bdf)),
            "iommufd realize while the group is open",
        );
        assert!(
            e.message()
                .starts_with(&format!("vfio {}: error bind device fd=", g.bdf))
                && e.message().ends_with(": Device or resource busy"),
            "{}",
            e.message()
        );
        tree.del_object("io0")
            .expect("the failed realize left io0 unused");
    }
    tree.del_device("d0").expect("del_device d0");

    // A device that does not exist.
    refused(
        &mut tree,
        "vfio-pci,host=0000:99:00.0,id=nx",
        "non-existent BDF",
        "vfio /sys/bus/pci/devices/0000:99:00.0: no such host device: No such file or directory",
    );

    // Ballooning is only for mdevs; edu is a physical function.
    refused(
        &mut tree,
        &format!("vfio-pci,host={},x-balloon-allowed=on,id=b", g.bdf),
        "x-balloon-allowed=on",
        &format!(
            "vfio {}: x-balloon-allowed only potentially compatible with mdev devices",
            g.bdf
        ),
    );

    // None of the failures kept anything: the device realizes again.
    let d = realize(&mut tree, &format!("vfio-pci,host={},id=d0", g.bdf));
    check_realized("after-errors", &attached(&d));
}

/// One realize/unrealize cycle of the fd-leak test.
type Cycle<'a> = Box<dyn Fn(&mut ObjectTree) + 'a>;

/// Realize/unrealize cycles leave no descriptor behind, on each backend
/// the kernel offers, and so do failing realizes.
#[test]
#[ignore = "needs the real-kernel guest (vm/test-real-kernel)"]
fn no_fd_leak_over_realize_cycles() {
    let (g, _lock) = common::locked_guest();
    let legacy = format!("vfio-pci,host={},id=d0", g.bdf);
    let linked = format!("vfio-pci,host={},iommufd=io0,id=d0", g.bdf);
    let mut runs: Vec<(&str, Cycle<'_>)> = vec![(
        "legacy",
        Box::new(|t: &mut ObjectTree| {
            realize(t, &legacy);
            t.del_device("d0").unwrap();
        }),
    )];
    if g.full() {
        runs.push((
            "iommufd object + device",
            Box::new(|t: &mut ObjectTree| {
                t.object_add("iommufd,id=io0").unwrap();
                realize(t, &linked);
                t.del_device("d0").unwrap();
                t.del_object("io0").unwrap();
            }),
        ));
        runs.push((
            "iommufd policy (private)",
            Box::new(|t: &mut ObjectTree| {
                t.set_resource(BackendPolicy::Iommufd);
                realize(t, &legacy);
                t.del_device("d0").unwrap();
                t.set_resource(BackendPolicy::Legacy);
            }),
        ));
    }
    // Failing realizes: the group already open (legacy), and a backend that
    // cannot be had (no /dev/iommu, or no cdev).
    runs.push((
        "failing: group busy",
        Box::new(|t: &mut ObjectTree| {
            realize(t, &legacy);
            t.device_add(&format!("vfio-pci,host={},id=dup", g.bdf))
                .unwrap_err();
            t.del_device("d0").unwrap();
        }),
    ));
    if !g.full() {
        runs.push((
            "failing: iommufd unavailable",
            Box::new(|t: &mut ObjectTree| {
                if g.iommufd {
                    t.object_add("iommufd,id=io0").unwrap();
                    t.device_add(&linked).unwrap_err();
                    t.del_object("io0").unwrap();
                } else {
                    t.object_add("iommufd,id=io0").unwrap_err();
                }
            }),
        ));
    }
    for (what, cycle) in &runs {
        let mut tree = ObjectTree::new();
        // One warm-up cycle: lazily opened process-wide descriptors (none
        // are expected, but they would not be leaks) are opened by now.
        cycle(&mut tree);
        let before = common::open_fds();
        let t0 = std::time::Instant::now();
        for _ in 0..CYCLES {
            cycle(&mut tree);
        }
        let after = common::open_fds();
        println!(
            "[fd-leak] {what}: {CYCLES} cycles in {:.2?}, open fds {before} -> {after}",
            t0.elapsed()
        );
        assert_eq!(after, before, "{what}: descriptors leaked");
        assert!(tree.is_empty());
    }
}

/// The kernel-config checks: without `/dev/iommu` (Debian's kernel) the
/// iommufd object cannot be created and says which option is missing, while
/// legacy realize works; with it, the object is created.
#[test]
#[ignore = "needs the real-kernel guest (vm/test-real-kernel)"]
fn iommufd_object_needs_config_iommufd() {
    let (g, _lock) = common::locked_guest();
    let mut tree = ObjectTree::new();
    let r = tree.object_add("iommufd,id=x");
    if g.iommufd {
        r.unwrap_or_else(|e| panic!("object_add with /dev/iommu present: {}", common::text(&e)));
        tree.del_object("x").expect("del_object x");
    } else {
        let e = expect_err(r, "object_add without /dev/iommu");
        g.assert_iommufd_missing(&e);
        assert!(tree.is_empty());
    }
    let d = realize(&mut tree, &format!("vfio-pci,host={},id=d0", g.bdf));
    let a = attached(&d);
    check_realized("legacy", &a);
    assert_eq!(a.choice.backend, "legacy");
}

/// Where the device has no cdev node (no-IOMMU mode; Debian's kernel, which
/// lacks CONFIG_VFIO_DEVICE_CDEV), an iommufd realize says which option is
/// missing. Where it has one, the same request works.
#[test]
#[ignore = "needs the real-kernel guest (vm/test-real-kernel)"]
fn iommufd_without_cdev_hints_config_vfio_device_cdev() {
    let (g, _lock) = common::locked_guest();
    // Policy iommufd with no object: the private-iommufd path, which reaches
    // the cdev lookup on every kernel (it precedes opening /dev/iommu).
    let (_tree, r) = add_under(&g, BackendPolicy::Iommufd);
    match &g.cdev {
        Some(cdev) => {
            let d = r.unwrap_or_else(|e| panic!("policy iommufd: {}", common::text(&e)));
            let a = attached(&d);
            check_realized("iommufd-private", &a);
            assert_eq!(a.choice.backend, "iommufd");
            assert_eq!(a.choice.reason, "backend policy is iommufd");
            assert_eq!(a.choice.fd_source, cdev.display().to_string());
        }
        None => {
            let e = expect_err(r, "policy iommufd without a cdev node");
            g.assert_cdev_missing(&e);
        }
    }
}
