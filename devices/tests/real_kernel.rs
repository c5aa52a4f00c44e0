//! Real-kernel tests of the host layer, run inside the vfio-vm guest.
//!
//! ```sh
//! /work/shared/vfio-vm/setup --kernel custom        # once, as root
//! CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUNNER=/work/shared/vfio-vm/cargo-runner \
//!     cargo test -p qomgen-devices --test real_kernel -- --include-ignored --nocapture
//! ```
//!
//! The guest exports `VFIOVM_BDFS` (the BDFs it bound to vfio-pci: QEMU's
//! `edu` device, 1234:11e8). The tests are `#[ignore]`d ("needs the
//! real-kernel guest"), so a plain `cargo test` lists them as ignored; run
//! with `--include-ignored`, a test fails when that variable is absent, and
//! in the guest every step must work — a missing `/dev/vfio` is a failure.
//!
//! Both backends are exercised end to end on the same device: the legacy
//! group/container (type1v2) sequence and the iommufd + cdev sequence, each
//! with config-space access, BAR0 mmap, a DMA round trip through the IOMMU
//! and an MSI delivered to an eventfd. They are serialised because a device
//! cannot be opened through its group and its cdev at the same time.

mod common;

use std::num::NonZeroUsize;
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::ptr::NonNull;
use std::sync::MutexGuard;
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, poll};
use nix::sys::eventfd::{EfdFlags, EventFd};
use nix::sys::mman::{MapFlags, ProtFlags};
use qomgen_devices::host::{CdevError, Host};
use qomgen_devices::probe::HostProbe;
use qomgen_devices::sys::Errno;
use qomgen_devices::sys::iommufd::{Iommufd, bindings as iob};
use qomgen_devices::sys::vfio::{
    Container, Device, DmaAccess, Group, IrqAction, MapProt, MappedRegion, bindings as vb,
    device_fd_name,
};
use uuid::Uuid;

const EDU_VENDOR: u16 = 0x1234;
const EDU_DEVICE: u16 = 0x11e8;
const EDU_REG_ID: usize = 0x00;
const EDU_REG_LIVE: usize = 0x04;
const EDU_REG_IRQ_RAISE: usize = 0x60;
const EDU_REG_IRQ_ACK: usize = 0x64;
const EDU_REG_DMA_SRC: usize = 0x80;
const EDU_REG_DMA_DST: usize = 0x88;
const EDU_REG_DMA_CNT: usize = 0x90;
const EDU_REG_DMA_CMD: usize = 0x98;
const EDU_DMA_BUF: u64 = 0x40000;
const EDU_DMA_START: u64 = 1;
const EDU_DMA_TO_RAM: u64 = 2;
const IOVA_BASE: u64 = 0x10_0000;
const PAGE: usize = 4096;

/// Anonymous, populated memory used as a DMA target; unmapped on drop.
struct DmaBuffer {
    ptr: NonNull<std::ffi::c_void>,
    len: usize,
}

impl DmaBuffer {
    fn new(len: usize) -> DmaBuffer {
        // SAFETY: a fresh anonymous mapping chosen by the kernel aliases no
        // existing memory.
        let ptr = unsafe {
            nix::sys::mman::mmap_anonymous(
                None,
                NonZeroUsize::new(len).unwrap(),
                ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
                MapFlags::MAP_PRIVATE | MapFlags::MAP_POPULATE,
            )
        }
        .expect("mmap anonymous");
        DmaBuffer { ptr, len }
    }
    fn addr(&self) -> u64 {
        self.ptr.as_ptr() as u64
    }
    fn write(&self, i: usize, v: u8) {
        assert!(i < self.len);
        // SAFETY: in bounds of the live mapping; accessed only through
        // volatile raw-pointer operations because the device writes it too.
        unsafe { self.ptr.as_ptr().cast::<u8>().add(i).write_volatile(v) }
    }
    fn read(&self, i: usize) -> u8 {
        assert!(i < self.len);
        // SAFETY: as in `write`.
        unsafe { self.ptr.as_ptr().cast::<u8>().add(i).read_volatile() }
    }
}

impl Drop for DmaBuffer {
    fn drop(&mut self) {
        // SAFETY: exactly the mapping created in `new`, unmapped once; the
        // IOMMU mapping was removed before (or the kernel keeps its own pin).
        unsafe { nix::sys::mman::munmap(self.ptr, self.len) }.expect("munmap");
    }
}

fn edu_wait_dma(bar: &MappedRegion) {
    let t0 = Instant::now();
    while bar.read_u64(EDU_REG_DMA_CMD) & EDU_DMA_START != 0 {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "edu DMA did not complete"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// How a test maps/unmaps DMA memory for the device.
trait Dma {
    /// Map `buf` at `iova`.
    fn map(&self, buf: &DmaBuffer, iova: u64);
    /// Unmap `len` bytes at `iova`; returns the bytes unmapped.
    fn unmap(&self, iova: u64, len: u64) -> u64;
}

struct LegacyDma<'a>(&'a Container);

impl Dma for LegacyDma<'_> {
    fn map(&self, buf: &DmaBuffer, iova: u64) {
        // SAFETY: `buf` stays mapped until after `unmap` (it is dropped at the
        // end of `exercise_device`), and it is only accessed through volatile
        // raw pointers, so device writes cannot violate Rust aliasing.
        unsafe {
            self.0
                .map_dma(buf.addr(), iova, buf.len as u64, DmaAccess::READ_WRITE)
        }
        .expect("VFIO_IOMMU_MAP_DMA");
    }
    fn unmap(&self, iova: u64, len: u64) -> u64 {
        self.0.unmap_dma(iova, len).expect("VFIO_IOMMU_UNMAP_DMA")
    }
}

struct IommufdDma<'a>(&'a Iommufd, u32);

impl Dma for IommufdDma<'_> {
    fn map(&self, buf: &DmaBuffer, iova: u64) {
        // SAFETY: as for LegacyDma::map.
        let at = unsafe {
            self.0.ioas_map(
                self.1,
                buf.addr(),
                buf.len as u64,
                Some(iova),
                DmaAccess::READ_WRITE,
            )
        }
        .expect("IOMMU_IOAS_MAP");
        assert_eq!(at, iova);
    }
    fn unmap(&self, iova: u64, len: u64) -> u64 {
        self.0
            .ioas_unmap(self.1, iova, len)
            .expect("IOMMU_IOAS_UNMAP")
    }
}

/// RAM(iova) -> edu buffer -> RAM(iova + 4K) through the IOMMU.
fn dma_round_trip(tag: &str, bar: &MappedRegion, dma: &dyn Dma) {
    let buf = DmaBuffer::new(2 * PAGE);
    for i in 0..PAGE {
        buf.write(i, (i * 7 + 3) as u8);
    }
    dma.map(&buf, IOVA_BASE);
    let n = (PAGE / 2) as u64;
    bar.write_u64(EDU_REG_DMA_SRC, IOVA_BASE);
    bar.write_u64(EDU_REG_DMA_DST, EDU_DMA_BUF);
    bar.write_u64(EDU_REG_DMA_CNT, n);
    bar.write_u64(EDU_REG_DMA_CMD, EDU_DMA_START);
    edu_wait_dma(bar);
    bar.write_u64(EDU_REG_DMA_SRC, EDU_DMA_BUF);
    bar.write_u64(EDU_REG_DMA_DST, IOVA_BASE + PAGE as u64);
    bar.write_u64(EDU_REG_DMA_CMD, EDU_DMA_START | EDU_DMA_TO_RAM);
    edu_wait_dma(bar);
    let mismatches = (0..n as usize)
        .filter(|&i| buf.read(i) != buf.read(PAGE + i))
        .count();
    println!("[{tag}] DMA round trip through the IOMMU: {n} bytes, {mismatches} mismatches");
    assert_eq!(mismatches, 0);
    assert_eq!(dma.unmap(IOVA_BASE, 2 * PAGE as u64), 2 * PAGE as u64);
    drop(buf);

    // IRQ info for every PCI index; MSI -> eventfd.
}

/// Device-level checks shared by both backends.
fn exercise_device(tag: &str, dev: &Device, dma: Option<&dyn Dma>) {
    let info = dev.info().expect("VFIO_DEVICE_GET_INFO");
    println!(
        "[{tag}] DEVICE_GET_INFO flags={:#x} num_regions={} num_irqs={} reset={}",
        info.flags,
        info.num_regions,
        info.num_irqs,
        info.has_reset()
    );
    assert!(info.is_pci() && !info.is_ccw() && !info.is_ap());
    assert_eq!(info.num_regions, vb::VFIO_PCI_NUM_REGIONS);
    assert_eq!(info.num_irqs, vb::VFIO_PCI_NUM_IRQS);

    // Config space: vendor/device.
    let cfg = dev
        .region_info(vb::VFIO_PCI_CONFIG_REGION_INDEX)
        .expect("config region info");
    assert_eq!(cfg.index, vb::VFIO_PCI_CONFIG_REGION_INDEX);
    assert!(cfg.readable() && cfg.writable());
    let mut ids = [0u8; 4];
    dev.region_read(&cfg, 0, &mut ids).expect("config read");
    let vendor = u16::from_le_bytes([ids[0], ids[1]]);
    let device = u16::from_le_bytes([ids[2], ids[3]]);
    println!(
        "[{tag}] config region size={:#x} offset={:#x} id={vendor:04x}:{device:04x}",
        cfg.size, cfg.offset
    );
    assert_eq!((vendor, device), (EDU_VENDOR, EDU_DEVICE));
    // Out-of-region access is refused before reaching the kernel.
    assert_eq!(
        dev.region_read(&cfg, cfg.size, &mut ids)
            .unwrap_err()
            .errno(),
        Errno::EINVAL
    );

    // PCI_COMMAND |= MEMORY | BUS_MASTER (vfio-pci SIGBUSes BAR mmaps otherwise).
    let mut cmd = [0u8; 2];
    dev.region_read(&cfg, 4, &mut cmd)
        .expect("read PCI_COMMAND");
    let cmd = u16::from_le_bytes(cmd) | 0x6;
    dev.region_write(&cfg, 4, &cmd.to_le_bytes())
        .expect("write PCI_COMMAND");

    // BAR0: region info, mmap, identification register.
    let bar0 = dev
        .region_info(vb::VFIO_PCI_BAR0_REGION_INDEX)
        .expect("BAR0 region info");
    println!(
        "[{tag}] BAR0 size={:#x} offset={:#x} flags={:#x} caps={:?}",
        bar0.size, bar0.offset, bar0.flags, bar0.caps
    );
    assert!(bar0.mmappable() && bar0.readable() && bar0.writable());
    let bar = dev
        .mmap_region(
            &bar0,
            0,
            usize::try_from(bar0.size).unwrap(),
            MapProt::READ_WRITE,
        )
        .expect("mmap BAR0");
    let id = bar.read_u32(EDU_REG_ID);
    println!("[{tag}] BAR0 mmap id register = {id:#010x}");
    assert_eq!(id, 0x0100_00ed);
    bar.write_u32(EDU_REG_LIVE, 0x1234_5678);
    assert_eq!(bar.read_u32(EDU_REG_LIVE), !0x1234_5678);
    let mut idb = [0u8; 4];
    dev.region_read(&bar0, EDU_REG_ID as u64, &mut idb)
        .expect("BAR0 pread");
    assert_eq!(u32::from_le_bytes(idb), 0x0100_00ed);
    // Unused region (BAR1 of edu) has size 0.
    assert_eq!(
        dev.region_info(vb::VFIO_PCI_BAR1_REGION_INDEX)
            .expect("BAR1 info")
            .size,
        0
    );

    // DMA round trip RAM(iova) -> edu buffer -> RAM(iova + 4K).
    if let Some(dma) = dma {
        dma_round_trip(tag, &bar, dma);
    } else {
        println!("[{tag}] DMA round trip skipped: no-IOMMU mode");
    }

    // ERR/REQ exist only for PCIe devices (EINVAL otherwise); edu sits on
    // the q35 root bus as a conventional PCI device.
    for index in 0..vb::VFIO_PCI_NUM_IRQS {
        match dev.irq_info(index) {
            Ok(ii) => println!(
                "[{tag}] irq index {index}: count={} flags={:#x}",
                ii.count, ii.flags
            ),
            Err(e) => println!("[{tag}] irq index {index}: {e}"),
        }
    }
    let msi = dev
        .irq_info(vb::VFIO_PCI_MSI_IRQ_INDEX)
        .expect("MSI irq info");
    assert!(msi.count >= 1 && msi.eventfd());
    let intx = dev
        .irq_info(vb::VFIO_PCI_INTX_IRQ_INDEX)
        .expect("INTx irq info");
    assert!(intx.count == 1 && intx.automasked() && intx.maskable());
    let efd = EventFd::from_flags(EfdFlags::EFD_CLOEXEC).expect("eventfd");
    dev.set_irq_eventfds(
        vb::VFIO_PCI_MSI_IRQ_INDEX,
        IrqAction::Trigger,
        0,
        &[Some(efd.as_fd())],
    )
    .expect("SET_IRQS(MSI, eventfd)");
    bar.write_u32(EDU_REG_IRQ_RAISE, 1);
    let mut fds = [PollFd::new(efd.as_fd(), PollFlags::POLLIN)];
    let ready = poll(&mut fds, 5000u16).expect("poll");
    assert_eq!(ready, 1, "MSI not delivered to the eventfd within 5 s");
    let count = efd.read().expect("eventfd read");
    println!("[{tag}] MSI delivered to eventfd (count={count})");
    assert!(count >= 1);
    bar.write_u32(EDU_REG_IRQ_ACK, 1);
    // Loopback trigger through DATA_NONE, then disable.
    dev.set_irqs_none(vb::VFIO_PCI_MSI_IRQ_INDEX, IrqAction::Trigger, 0, 1)
        .expect("SET_IRQS(MSI, DATA_NONE trigger)");
    assert_eq!(
        poll(&mut fds, 5000u16).expect("poll"),
        1,
        "loopback MSI not signalled"
    );
    efd.read().expect("eventfd read");
    dev.disable_irqs(vb::VFIO_PCI_MSI_IRQ_INDEX)
        .expect("SET_IRQS(MSI, disable)");

    if info.has_reset() {
        dev.reset().expect("VFIO_DEVICE_RESET");
        println!("[{tag}] VFIO_DEVICE_RESET ok");
    }
    drop(bar);
}

/// The guest's device for the host layer: its BDF, the system's host and
/// the device's sysfs directory, found with the binary's lock held (last).
fn guest_on_host() -> (String, Host, PathBuf, MutexGuard<'static, ()>) {
    let (bdf, lock) = common::locked_guest_bdf();
    let sysfsdev = Host::pci_device_dir(&bdf);
    (bdf, Host::system(), sysfsdev, lock)
}

#[test]
#[ignore = "needs the real-kernel guest (vm/test-real-kernel)"]
fn legacy_container_sequence() {
    let (bdf, host, sysfsdev, _serial) = guest_on_host();
    host.stat_device(&sysfsdev).expect("stat sysfsdev");
    assert!(!host.is_mdev(&sysfsdev));
    assert_eq!(host.driver(&sysfsdev).as_deref(), Some("vfio-pci"));

    let group_ref = host.iommu_group(&sysfsdev).expect("iommu_group");
    println!(
        "[legacy] iommu group {} -> {}",
        group_ref.id,
        group_ref.dev_path().display()
    );
    // `run-in-guest --noiommu` gives a VFIO no-IOMMU group (no DMA translation).
    let noiommu = group_ref.noiommu;
    let iommu_type = if noiommu {
        vb::VFIO_NOIOMMU_IOMMU
    } else {
        vb::VFIO_TYPE1v2_IOMMU
    };
    let group = host.open_group(&group_ref).expect("open group");
    let status = group.status().expect("GROUP_GET_STATUS");
    assert!(status.viable() && !status.container_set());

    let container = host.open_container().expect("open /dev/vfio/vfio");
    assert_eq!(
        container.api_version().expect("GET_API_VERSION"),
        vb::VFIO_API_VERSION as i32
    );
    assert!(
        container
            .check_extension(vb::VFIO_TYPE1v2_IOMMU)
            .expect("CHECK_EXTENSION")
    );
    assert!(
        container
            .check_extension(vb::VFIO_TYPE1_IOMMU)
            .expect("CHECK_EXTENSION")
    );
    assert!(
        !container
            .check_extension(vb::VFIO_SPAPR_TCE_IOMMU)
            .expect("CHECK_EXTENSION")
    );
    // SET_IOMMU before any group is attached is refused.
    assert!(container.set_iommu(vb::VFIO_TYPE1v2_IOMMU).is_err());
    group
        .set_container(&container)
        .expect("GROUP_SET_CONTAINER");
    assert!(group.status().expect("GROUP_GET_STATUS").container_set());
    container.set_iommu(iommu_type).expect("SET_IOMMU");
    if noiommu {
        assert!(container.iommu_info().is_err());
    }
    let dev = run_legacy_device(&bdf, &group, &container, noiommu);
    // The container cannot be unset while the device is open.
    assert_eq!(group.unset_container().unwrap_err().errno(), Errno::EBUSY);
    drop(dev);
    group.unset_container().expect("GROUP_UNSET_CONTAINER");
    assert!(!group.status().expect("GROUP_GET_STATUS").container_set());
    println!("[legacy] all steps passed");
}

fn run_legacy_device(bdf: &str, group: &Group, container: &Container, noiommu: bool) -> Device {
    if !noiommu {
        let info = container.iommu_info().expect("IOMMU_GET_INFO");
        println!(
            "[legacy] IOMMU_GET_INFO flags={:#x} pgsizes={:x?} ranges={:x?} dma_avail={:?} migration={:?}",
            info.flags, info.iova_pgsizes, info.iova_ranges, info.dma_avail, info.migration
        );
        assert!(info.iova_pgsizes.is_some_and(|p| p & 0x1000 != 0));
        assert!(!info.iova_ranges.is_empty());
        assert!(info.dma_avail.is_some());
    }

    // A VF token on a device that is neither PF nor VF is rejected.
    let token = Uuid::parse_str("4d1e1c3a-6e2b-4b53-9a49-1f0e8d2c7b10").unwrap();
    let name = device_fd_name(bdf, Some(&token));
    let err = group
        .device(&name)
        .expect_err("vf_token on a non-SR-IOV device");
    println!("[legacy] GET_DEVICE_FD(\"{name}\") -> {err}");
    assert_eq!(err.errno(), Errno::EINVAL);
    let err = group
        .device("0000:ff:1f.7")
        .expect_err("unknown device name");
    println!("[legacy] GET_DEVICE_FD(\"0000:ff:1f.7\") -> {err}");

    let dev = group
        .device(&device_fd_name(bdf, None))
        .expect("GROUP_GET_DEVICE_FD");
    if noiommu {
        exercise_device("legacy", &dev, None);
    } else {
        exercise_device("legacy", &dev, Some(&LegacyDma(container)));
        if container
            .check_extension(vb::VFIO_UNMAP_ALL)
            .expect("CHECK_EXTENSION")
        {
            assert_eq!(container.unmap_all().expect("UNMAP_DMA(ALL)"), 0);
        }
    }
    dev
}

#[test]
#[ignore = "needs the real-kernel guest (vm/test-real-kernel)"]
fn iommufd_cdev_sequence() {
    let (_, host, sysfsdev, _serial) = guest_on_host();

    if host.iommu_group(&sysfsdev).expect("iommu_group").noiommu {
        // Linux 6.12 creates vfio-dev/vfioN but no char device for no-IOMMU
        // devices, so QEMU's lookup stops at `failed to load ".../dev"`.
        let e = host
            .open_cdev(&sysfsdev)
            .expect_err("no cdev in no-IOMMU mode");
        println!("[iommufd] no-IOMMU mode: vfio {}: {e}", e.dir().display());
        assert!(matches!(e, CdevError::Load { .. }));
        return;
    }
    let cdev = host.open_cdev(&sysfsdev).expect("open cdev");
    println!(
        "[iommufd] cdev {} ({}:{}) at {}",
        cdev.name,
        cdev.major,
        cdev.minor,
        cdev.path.display()
    );
    assert_eq!(cdev.path, Host::vfio_cdev_path(&cdev.name));
    let dev = cdev.device;
    // Before bind, device ioctls are refused.
    assert!(dev.info().is_err());

    let iommufd = host.open_iommufd().expect("open /dev/iommu");
    let devid = dev.bind_iommufd(&iommufd, None).expect("BIND_IOMMUFD");
    println!("[iommufd] BIND_IOMMUFD devid={devid}");
    let hw = iommufd.get_hw_info(devid).expect("IOMMU_GET_HW_INFO");
    println!(
        "[iommufd] GET_HW_INFO type={} caps={:#x} dirty_tracking={} vtd={:x?}",
        hw.data_type,
        hw.capabilities,
        hw.dirty_tracking(),
        hw.intel_vtd()
    );
    assert_eq!(
        hw.data_type,
        iob::iommu_hw_info_type_IOMMU_HW_INFO_TYPE_INTEL_VTD
    );
    assert!(hw.intel_vtd().is_some_and(|v| v.cap_reg != 0));

    let ioas = iommufd.ioas_alloc().expect("IOAS_ALLOC");
    let hwpt = dev
        .attach_iommufd_pt(ioas)
        .expect("ATTACH_IOMMUFD_PT(ioas)");
    println!("[iommufd] IOAS_ALLOC ioas={ioas}; ATTACH_IOMMUFD_PT -> hwpt {hwpt}");
    let ranges = iommufd.ioas_iova_ranges(ioas).expect("IOAS_IOVA_RANGES");
    println!("[iommufd] IOAS_IOVA_RANGES {:x?}", ranges);
    assert!(!ranges.ranges.is_empty() && ranges.alignment >= 1);

    exercise_device("iommufd", &dev, Some(&IommufdDma(&iommufd, ioas)));

    dev.detach_iommufd_pt().expect("DETACH_IOMMUFD_PT");
    // QEMU's physical-device path: explicit HWPT, attach, detach, destroy.
    let hwpt = iommufd.hwpt_alloc(devid, ioas, 0).expect("HWPT_ALLOC");
    assert_eq!(
        dev.attach_iommufd_pt(hwpt)
            .expect("ATTACH_IOMMUFD_PT(hwpt)"),
        hwpt
    );
    assert_eq!(iommufd.destroy(ioas).unwrap_err().errno(), Errno::EBUSY);
    dev.detach_iommufd_pt().expect("DETACH_IOMMUFD_PT");
    iommufd.destroy(hwpt).expect("DESTROY(hwpt)");
    iommufd.destroy(ioas).expect("DESTROY(ioas)");
    assert_eq!(iommufd.destroy(ioas).unwrap_err().errno(), Errno::ENOENT);
    println!("[iommufd] HWPT_ALLOC {hwpt}, attach/detach, DESTROY ok");
    println!("[iommufd] all steps passed");
}

#[test]
#[ignore = "needs the real-kernel guest (vm/test-real-kernel)"]
fn probe_sees_the_guest_device() {
    let (bdf, _serial) = common::locked_guest_bdf();
    let p = HostProbe::gather(&Host::system());
    println!("{}", serde_json::to_string_pretty(&p).unwrap());
    assert!(p.vfio_container.openable);
    assert_eq!(p.vfio_container.api_version, Some(0));
    assert_eq!(p.vfio_container.type1v2, Some(true));
    assert!(p.iommufd.present && p.iommufd.openable);
    assert!(p.iommu_groups >= 1);
    assert!(p.vfio_cdev_supported);
    let d = p
        .vfio_pci_devices
        .iter()
        .find(|d| d.bdf == bdf)
        .expect("device listed");
    assert_eq!(d.vendor_device.as_deref(), Some("1234:11e8"));
    assert!(d.iommu_group.is_some() && d.group_node_present && !d.mdev);
    assert_eq!(d.cdev_name.as_deref(), Some("vfio0"));
    // no-IOMMU devices have no cdev node (Linux 6.12)
    assert_eq!(d.cdev_present, !d.noiommu);
    assert_eq!(
        p.noiommu_groups.contains(&d.iommu_group.unwrap()),
        d.noiommu
    );
}

#[test]
#[ignore = "needs the real-kernel guest (vm/test-real-kernel)"]
fn host_errors_on_a_nonexistent_device() {
    // Only in the guest, whose sysfs is known to have no such device.
    common::guest_bdf();
    let host = Host::system();
    let missing = Host::pci_device_dir("0000:99:00.0");
    let e = host.stat_device(&missing).unwrap_err();
    assert_eq!(
        format!(
            "vfio {}: no such host device: {}",
            e.path().display(),
            e.strerror()
        ),
        "vfio /sys/bus/pci/devices/0000:99:00.0: no such host device: No such file or directory"
    );
    assert!(host.iommu_group(&missing).is_err());
    let e = host.open_cdev(&missing).unwrap_err();
    assert_eq!(e.errno(), Some(Errno::ENOENT));
}
