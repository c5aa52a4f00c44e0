//! Real-kernel test of the guest-facing PCI function
//! ([`qomgen_devices::guest::pci`]) on QEMU's `edu` device, run inside the
//! vfio-vm guest, without a KVM guest: the test plays the guest's part
//! through the function's accessors, as a VMM's exit handlers would.
//!
//! ```sh
//! CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUNNER=$PWD/vm/cargo-runner \
//!     cargo test -p qomgen-devices --test function_kernel -- --include-ignored --nocapture
//! ```
//!
//! On each backend the kernel offers (the legacy container always, iommufd
//! where `/dev/iommu` and the cdev exist), with BARs mapped and with
//! `x-no-mmap=on`: config space as the guest sees it, BAR0 sizing and
//! programming, edu's registers through the trapped path and through the
//! mapped area, MSI enabled through the emulated capability reaching the
//! vector's eventfd, and a DMA round trip through guest memory mapped with
//! the function. In no-IOMMU mode mapping guest memory must be refused.

mod common;

use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use qomgen::{ObjRef, ObjectTree};
use qomgen_devices::guest::pci::{BusKind, Event, PciFunction, Space};
use qomgen_devices::models::vfio_pci::VfioPci;
use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};

use common::GuestDevice;

const BAR0_AT: u32 = 0xe000_0000;

/// The little-endian dword that `read` fills in.
fn le32(read: impl FnOnce(&mut [u8])) -> u32 {
    let mut b = [0u8; 4];
    read(&mut b);
    u32::from_le_bytes(b)
}

/// The config space dword at `at`, as the guest reads it.
fn r32(f: &mut PciFunction, at: u16) -> u32 {
    le32(|b| f.config_read(at, b))
}

/// The BAR0 dword at `off`, as the guest reads it.
fn bar32(f: &mut PciFunction, off: u64) -> u32 {
    le32(|b| f.bar_read(0, off, b))
}

fn wait_readable(fd: i32, timeout: Duration) -> bool {
    let end = Instant::now() + timeout;
    loop {
        let mut p = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd for the call.
        if unsafe { libc::poll(&mut p, 1, 50) } == 1 {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
    }
}

/// Plays a driver through the function; returns nothing, panics on the
/// first difference.
fn drive(f: &mut PciFunction, mapped: bool, noiommu: bool) {
    // Identity: edu's IDs and class, BAR0 sized as 1 MiB of 32-bit memory.
    assert_eq!(r32(f, 0x00), 0x11e8_1234);
    assert_eq!(r32(f, 0x08) >> 8, 0x00_ff00, "PCI_CLASS_OTHERS");
    assert_eq!(r32(f, 0x10), 0, "the host's BAR address is not shown");
    f.config_write(0x10, &u32::MAX.to_le_bytes());
    assert_eq!(r32(f, 0x10), 0xfff0_0000);
    f.config_write(0x10, &BAR0_AT.to_le_bytes());
    let ev = f.config_write(0x04, &0x0006u16.to_le_bytes());
    assert_eq!(
        ev,
        [Event::BarMoved {
            bar: 0,
            old: None,
            new: Some(u64::from(BAR0_AT))
        }]
    );
    assert_eq!(
        f.bar_at(u64::from(BAR0_AT) + 4, Space::Memory),
        Some((0, 4))
    );
    // INTx is on until MSI is enabled.
    let intx = f.intx().expect("edu has INTA");
    assert_eq!((intx.pin, intx.enabled), (1, true));
    // edu's registers, trapped.
    assert_eq!(bar32(f, 0x00), 0x0100_00ed);
    f.bar_write(0, 0x04, &0x1234_5678u32.to_le_bytes());
    assert_eq!(bar32(f, 0x04), !0x1234_5678);
    // ... and through the mapped area, as a KVM memory slot would reach it.
    let bar = f.bar(0).unwrap();
    if mapped {
        assert_eq!(bar.areas.len(), 1);
        assert_eq!((bar.areas[0].offset, bar.areas[0].len), (0, 1 << 20));
        // SAFETY: the area is a live mapping of edu's BAR0 (1 MiB), memory
        // decoding is on, and offset 0 is edu's 32-bit id register.
        let id = unsafe { bar.areas[0].host.cast::<u32>().read_volatile() };
        assert_eq!(id, 0x0100_00ed);
    } else {
        assert!(bar.areas.is_empty(), "x-no-mmap=on maps nothing");
    }
    // INTx: the device's assertion reaches the trigger eventfd; the host
    // masks it until the resample eventfd is signalled (as KVM does on the
    // guest's EOI with a resample irqfd), then it fires again.
    let (trigger, resample) = {
        let i = f.intx().unwrap();
        (i.trigger().as_raw_fd(), i.resample().try_clone().unwrap())
    };
    for round in 0..2 {
        f.bar_write(0, 0x60, &1u32.to_le_bytes());
        assert!(
            wait_readable(trigger, Duration::from_secs(5)),
            "INTx reached the trigger eventfd (round {round})"
        );
        assert_eq!(f.intx().unwrap().trigger().read().unwrap(), 1);
        f.bar_write(0, 0x64, &1u32.to_le_bytes());
        resample.write(1).unwrap();
    }
    // MSI through the emulated capability.
    let mut pos = r32(f, 0x34) as u16 & 0xfc;
    while pos != 0 && r32(f, pos) & 0xff != 0x05 {
        pos = (r32(f, pos) >> 8) as u16 & 0xfc;
    }
    assert_ne!(pos, 0, "edu has an MSI capability");
    f.config_write(pos + 4, &0xfee0_0000u32.to_le_bytes());
    let flags = r32(f, pos) >> 16;
    let data_at = if flags & 0x80 != 0 { pos + 12 } else { pos + 8 };
    f.config_write(data_at, &0x0030u16.to_le_bytes());
    let ev = f.config_write(pos + 2, &((flags as u16) | 1).to_le_bytes());
    assert!(ev.contains(&Event::VectorsChanged), "{ev:?}");
    assert!(!f.intx().unwrap().enabled);
    assert_eq!(f.vectors().len(), 1);
    assert_eq!(f.vectors()[0].message.address, 0xfee0_0000);
    assert_eq!(f.vectors()[0].message.data, 0x30);
    let efd = f.vectors()[0].eventfd().as_raw_fd();
    // edu raises an interrupt on a write to 0x60; with MSI on, the kernel
    // signals the vector's eventfd.
    f.bar_write(0, 0x60, &1u32.to_le_bytes());
    assert!(
        wait_readable(efd, Duration::from_secs(5)),
        "MSI reached the eventfd"
    );
    assert_eq!(f.vectors()[0].eventfd().read().unwrap(), 1);
    f.bar_write(0, 0x64, &1u32.to_le_bytes());
    // DMA through guest memory at IOVA = GPA (edu's mask is 28 bits).
    let mem = GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), 1 << 20)]).unwrap();
    if noiommu {
        let e = f.map_guest_memory(&mem).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "vfio {}: guest memory cannot be mapped for DMA in no-IOMMU mode",
                f.name()
            )
        );
        assert!(f.dma_regions().is_empty());
    } else {
        f.map_guest_memory(&mem).unwrap();
        assert_eq!(f.dma_regions(), [(0, 1 << 20)]);
        let pattern: Vec<u8> = (0..64u8).map(|i| i.wrapping_mul(7)).collect();
        mem.write_slice(&pattern, GuestAddress(0x1000)).unwrap();
        for (src, dst, cmd) in [(0x1000u64, 0x40000u64, 1u32), (0x40000, 0x2000, 3)] {
            f.bar_write(0, 0x80, &src.to_le_bytes()[..4]);
            f.bar_write(0, 0x84, &(src >> 32).to_le_bytes()[..4]);
            f.bar_write(0, 0x88, &dst.to_le_bytes()[..4]);
            f.bar_write(0, 0x8c, &(dst >> 32).to_le_bytes()[..4]);
            f.bar_write(0, 0x90, &64u32.to_le_bytes());
            f.bar_write(0, 0x98, &cmd.to_le_bytes());
            let end = Instant::now() + Duration::from_secs(10);
            while bar32(f, 0x98) & 1 != 0 {
                assert!(Instant::now() < end, "edu DMA did not finish");
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        let mut back = vec![0u8; 64];
        mem.read_slice(&mut back, GuestAddress(0x2000)).unwrap();
        assert_eq!(back, pattern, "DMA round trip through guest memory");
        f.unmap_guest_region(0, 1 << 20).unwrap();
    }
    // MSI off: INTx is back.
    f.config_write(pos + 2, &(flags as u16).to_le_bytes());
    assert!(f.vectors().is_empty());
    assert!(f.intx().unwrap().enabled);
    assert!(f.take_errors().is_empty());
}

/// Realizes the guest's device (id `dev0`, `extra` properties added) on
/// the legacy backend or through iommufd, runs `body` on it and its spec,
/// then deletes it: nothing stays open.
fn with_realized(g: &GuestDevice, iommufd: bool, extra: &str, body: impl FnOnce(&ObjRef, &str)) {
    let before = common::open_fds();
    let mut tree = ObjectTree::new();
    if iommufd {
        tree.object_add("iommufd,id=io0").unwrap();
    }
    let spec = format!("{}{extra}", g.vfio_pci("dev0", iommufd));
    let obj = tree
        .device_add(&spec)
        .unwrap_or_else(|e| panic!("-device {spec}: {e}"));
    body(&obj, &spec);
    drop(obj);
    tree.del_device("dev0").unwrap();
    tree.clear();
    assert_eq!(common::open_fds(), before, "{spec}: descriptors leaked");
}

fn run(g: &GuestDevice, iommufd: bool, no_mmap: bool) {
    let extra = if no_mmap { ",x-no-mmap=on" } else { "" };
    with_realized(g, iommufd, extra, |obj, spec| {
        let mut guard = obj.borrow_mut();
        let dev = guard.downcast_mut::<VfioPci>().unwrap();
        let f = dev.function_mut().unwrap_or_else(|e| panic!("{spec}: {e}"));
        drive(f, !no_mmap, g.noiommu);
    });
}

/// [`run`] on one backend, with the BARs mapped and with `x-no-mmap=on`.
fn run_on(g: &GuestDevice, iommufd: bool) {
    if iommufd && !g.full() {
        // Debian's kernel has no iommufd; no-IOMMU devices get no cdev:
        // realize must say so, and the legacy test covers the function.
        return g.assert_iommufd_refused();
    }
    run(g, iommufd, false);
    run(g, iommufd, true);
}

common::backend_tests!(run_on: guest_function_over_the_legacy_container, guest_function_over_iommufd);

#[test]
#[ignore = "needs the real-kernel guest (vm/test-real-kernel)"]
fn id_overrides_and_rom_files() {
    let (g, _s) = common::locked_guest();
    let before = common::open_fds();
    let mut tree = ObjectTree::new();
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.rom");
    std::fs::write(&empty, b"").unwrap();
    let rom = dir.path().join("opt.rom");
    std::fs::write(&rom, [0x55u8, 0xaa, 0x10, 0x20, 0x30]).unwrap();
    let missing = dir.path().join("missing.rom");
    for (extra, want) in [
        (
            format!("romfile={}", missing.display()),
            format!("failed to find romfile \"{}\"", missing.display()),
        ),
        (
            format!("romfile={}", empty.display()),
            format!("romfile \"{}\" is empty", empty.display()),
        ),
        (
            format!("romfile={},romsize=4", rom.display()),
            format!(
                "romfile \"{}\" (5 bytes) is too large for ROM size 4",
                rom.display()
            ),
        ),
    ] {
        let spec = format!("vfio-pci,host={},id=bad,{extra}", g.bdf);
        let e = tree.device_add(&spec).map(|_| ()).unwrap_err();
        assert_eq!(e.to_string(), want, "{spec}");
        assert!(tree.device("bad").is_none(), "no half-built device left");
    }
    let spec = format!(
        "vfio-pci,host={},id=dev0,x-pci-vendor-id=0x8086,x-pci-sub-device-id=0xbeef,romfile={}",
        g.bdf,
        rom.display()
    );
    let obj = tree.device_add(&spec).unwrap();
    {
        let mut guard = obj.borrow_mut();
        let dev = guard.downcast_mut::<VfioPci>().unwrap();
        dev.set_bus_kind(BusKind::PcieRoot).unwrap();
        let f = dev.function_mut().unwrap();
        assert_eq!(r32(f, 0x00), 0x11e8_8086);
        assert_eq!(r32(f, 0x2c) >> 16, 0xbeef);
        // The ROM BAR is the file's size rounded up to a power of two.
        let rom = f.bar(6).expect("a ROM BAR from romfile");
        assert_eq!(rom.size, 8);
        let mut b = [0u8; 8];
        f.bar_read(6, 0, &mut b);
        assert_eq!(b, [0x55, 0xaa, 0x10, 0x20, 0x30, 0xff, 0xff, 0xff]);
        // edu is conventional PCI: on a PCIe bus it still has no extended
        // config space.
        assert_eq!(r32(f, 0x100), u32::MAX);
        let e = dev.set_bus_kind(BusKind::Pci).unwrap_err().to_string();
        assert_eq!(
            e,
            "the guest-facing function is built: its bus can no longer change"
        );
    }
    drop(obj);
    tree.clear();
    assert_eq!(common::open_fds(), before);
}

/// A VMM that serves the guest's accesses on its vCPU threads takes the
/// function out of the device and moves it there, and drops it before it
/// deletes the device.
fn run_taken(g: &GuestDevice, iommufd: bool) {
    with_realized(g, iommufd, "", |obj, spec| {
        let f = {
            let mut guard = obj.borrow_mut();
            let dev = guard.downcast_mut::<VfioPci>().unwrap();
            let f = dev
                .take_function()
                .unwrap_or_else(|e| panic!("{spec}: {e}"));
            let e = dev.function_mut().unwrap_err();
            assert_eq!(
                e.to_string(),
                format!(
                    "vfio {}: the guest-facing function was taken (VfioPci::take_function)",
                    g.bdf
                )
            );
            f
        };
        let noiommu = g.noiommu;
        std::thread::spawn(move || {
            let mut f = f;
            drive(&mut f, true, noiommu);
        })
        .join()
        .unwrap_or_else(|_| panic!("{spec}: the function failed on another thread"));
    });
}

#[test]
#[ignore = "needs the real-kernel guest (vm/test-real-kernel)"]
fn taken_function_works_on_another_thread() {
    let (g, _s) = common::locked_guest();
    run_taken(&g, false);
    if g.full() {
        run_taken(&g, true);
    }
}
