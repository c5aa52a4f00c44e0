//! vfio-pci realize (`hw/vfio/pci.c: vfio_pci_realize`): select, attach, then read what the
//! device is: regions (mapped where allowed), IRQs, config space and its
//! capability lists; then MSI-X (`msix.rs`), the capability checks
//! (`caps.rs`), the display probe and the checks of the display and ramfb
//! settings (`display.rs`), and the migration probe (`migration.rs`), in
//! QEMU's order.

use std::path::{Path, PathBuf};

use qomgen::{Error, LifecycleCx, OffAutoPciBar, OnOffAuto, PciHostAddress, QemuUuid, Result};
use vfio_bindings::bindings::vfio as vb;

use super::display::{self, Display, RamfbSettings};
use super::migration::{self, Migration};
use super::msix::{self, Bar, MsixInfo};
use super::{Attached, Backend, Region, VfioCommon, backend, caps, host_of};
use crate::host::Host;
use crate::sys::vfio::{Device, MapProt};

/// `PCI_ANY_ID`: the override properties' "not set".
const PCI_ANY_ID: u32 = u32::MAX;

/// One capability found in config space.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct PciCapability {
    /// Capability id.
    pub id: u16,
    /// Offset in config space.
    pub offset: u16,
    /// Whether it is a PCIe extended capability (offset ≥ 0x100).
    pub extended: bool,
}

/// What config space says about the device.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PciSummary {
    /// Vendor id (after any `x-pci-vendor-id` override).
    pub vendor_id: u16,
    /// Device id (after any `x-pci-device-id` override).
    pub device_id: u16,
    /// Class code (24 bits).
    pub class_code: u32,
    /// Capabilities, standard list then extended list.
    pub capabilities: Vec<PciCapability>,
    /// The BARs (sizes as the guest would see them, after an MSI-X relocation).
    pub bars: [Bar; 6],
    /// MSI-X table and PBA, if the device has MSI-X.
    pub msix: Option<MsixInfo>,
    /// The display, when `display` is not `off` and the device has one.
    pub display: Option<Display>,
    /// Migration support, or what blocks it.
    pub migration: Migration,
    /// Config space as realize read it (256 bytes, or 4 KiB for PCIe),
    /// what the guest-facing function is built from.
    #[serde(skip)]
    pub config_space: Vec<u8>,
}

/// What vfio-pci's properties ask of its realize, built by the device
/// model (`VfioPci::pci_options`) as the guest function's `FunctionOptions`
/// is: the fields of QEMU's `VFIOPCIDevice` that `vfio_pci_realize`
/// (hw/vfio/pci.c) reads.
#[derive(Debug)]
pub struct PciOptions<'a> {
    /// `sysfsdev`, `iommufd` and `fd`.
    pub vfio: &'a VfioCommon,
    /// `host`.
    pub host: Option<PciHostAddress>,
    /// `vf-token`.
    pub vf_token: Option<QemuUuid>,
    /// `x-balloon-allowed`.
    pub balloon_allowed: bool,
    /// `x-no-mmap`.
    pub no_mmap: bool,
    /// `x-vga`.
    pub vga: bool,
    /// `x-pci-vendor-id` (`PCI_ANY_ID`, `u32::MAX`, when not set).
    pub vendor_id: u32,
    /// `x-pci-device-id` (`PCI_ANY_ID` when not set).
    pub device_id: u32,
    /// `x-pci-sub-vendor-id` (`PCI_ANY_ID` when not set).
    pub sub_vendor_id: u32,
    /// `x-pci-sub-device-id` (`PCI_ANY_ID` when not set).
    pub sub_device_id: u32,
    /// `x-pci-class-code` (`PCI_ANY_ID` when not set).
    pub class_code: u32,
    /// `x-msix-relocation`.
    pub msix_relocation: OffAutoPciBar,
    /// `display`.
    pub display: OnOffAuto,
    /// `xres` and `yres`.
    pub resolution: (u32, u32),
    /// vfio-pci-nohotplug's ramfb settings (`None` for vfio-pci).
    pub ramfb: Option<&'a mut RamfbSettings>,
    /// `enable-migration`.
    pub enable_migration: OnOffAuto,
    /// `x-device-dirty-page-tracking`.
    pub device_dirty_page_tracking: OnOffAuto,
    /// `failover_pair_id` (of `pci-device`).
    pub failover_pair_id: Option<&'a str>,
    /// The migration flags of the tree's realized vfio-pci devices that
    /// can migrate (QEMU's `vfio_block_multiple_devices_migration` counts
    /// them).
    pub migratable: Vec<u64>,
}

/// Realizes a vfio-pci device, in QEMU's order and with its texts. Turns
/// `dev.ramfb`'s `migrate` (vfio-pci-nohotplug's `x-ramfb-migrate`) to
/// `off` where QEMU's realize does.
///
/// # Errors
/// Every failure of QEMU's `vfio_pci_realize`, each prefixed `vfio <name>: ` once the device is named.
pub fn realize_pci(dev: PciOptions<'_>, cx: &LifecycleCx<'_>) -> Result<Attached> {
    let system = Host::system();
    let host = host_of(cx, &system);
    let sysfsdev: Option<PathBuf> = match (&dev.vfio.sysfsdev, &dev.host) {
        (Some(s), _) => Some(PathBuf::from(s)),
        (None, Some(h)) => Some(Host::pci_device_dir(&h.to_string())),
        (None, None) => None,
    };
    if dev.vfio.fd.is_none() && sysfsdev.is_none() {
        return Err(Error::new("No provided host device").with_hint(
            "Use -device vfio-pci,host=DDDD:BB:DD.F or -device vfio-pci,fd=DEVICE_FD or -device vfio-pci,sysfsdev=PATH_TO_DEVICE",
        ));
    }
    let name = match &dev.vfio.fd {
        None => {
            let path = sysfsdev
                .as_deref()
                .unwrap_or_else(|| unreachable!("checked above"));
            super::sysfs_device_name(host, path)?
        }
        Some(fd) => {
            if dev.vfio.iommufd.is_none() {
                return Err(Error::new("Use FD passing only with iommufd backend"));
            }
            match cx.id {
                Some(id) => id.to_owned(),
                None => format!("VFIO_FD{}", fd.number()),
            }
        }
    };
    realize_named(dev, cx, host, sysfsdev, &name)
        .map_err(|e| e.prepend(format_args!("vfio {name}: ")))
}

fn realize_named(
    mut dev: PciOptions<'_>,
    cx: &LifecycleCx<'_>,
    host: &Host,
    sysfsdev: Option<PathBuf>,
    name: &str,
) -> Result<Attached> {
    let mdev = mdev_path(dev.vfio, sysfsdev.as_deref()).is_some_and(|p| host.is_mdev(p));
    if dev.balloon_allowed && !mdev {
        return Err(Error::new(
            "x-balloon-allowed only potentially compatible with mdev devices",
        ));
    }
    // QEMU's qemu_uuid_is_null: the nil UUID is how a token is "not set".
    let token = dev.vf_token.map(|t| t.0).filter(|t| !t.is_nil());
    let (backend, device, choice) = backend::attach(
        dev.vfio,
        cx,
        host,
        sysfsdev.as_deref(),
        name,
        backend::AttachTraits {
            mdev,
            // Checked above: only an mdev may have it.
            discard_allowed: dev.balloon_allowed,
            vf_token: token,
        },
    )?;
    let mut attached = Attached::new(name.to_owned(), sysfsdev, device, backend, choice)?;
    populate(&mut dev, cx, &mut attached)?;
    Ok(attached)
}

/// The path QEMU's `vfio_device_is_mdev` looks at: its `sysfsdev`, which
/// with `fd=` is only what `sysfsdev=` gave (`host=` is not turned into a
/// path then), so an mdev passed by fd is known as one only through it.
pub(super) fn mdev_path<'a>(vfio: &'a VfioCommon, sysfsdev: Option<&'a Path>) -> Option<&'a Path> {
    match vfio.fd {
        Some(_) => vfio.sysfsdev.as_deref().map(Path::new),
        None => sysfsdev,
    }
}

fn check_overrides(dev: &PciOptions<'_>) -> Result<()> {
    if dev.vendor_id != PCI_ANY_ID && dev.vendor_id >= 0xffff {
        return Err(Error::new("invalid PCI vendor ID provided"));
    }
    if dev.device_id != PCI_ANY_ID && dev.device_id > 0xffff {
        return Err(Error::new("invalid PCI device ID provided"));
    }
    if dev.sub_vendor_id != PCI_ANY_ID && dev.sub_vendor_id > 0xffff {
        return Err(Error::new("invalid PCI subsystem vendor ID provided"));
    }
    if dev.sub_device_id != PCI_ANY_ID && dev.sub_device_id > 0xffff {
        return Err(Error::new("invalid PCI subsystem device ID provided"));
    }
    if dev.class_code != PCI_ANY_ID && dev.class_code > 0xff_ffff {
        return Err(Error::new("invalid PCI class code provided"));
    }
    Ok(())
}

/// Regions, IRQs, config space: `vfio_populate_device` and `vfio_pci_config_setup`.
fn populate(dev: &mut PciOptions<'_>, cx: &LifecycleCx<'_>, a: &mut Attached) -> Result<()> {
    let info = a.info;
    if !info.is_pci() {
        return Err(Error::new("this isn't a PCI device"));
    }
    if info.num_regions < vb::VFIO_PCI_CONFIG_REGION_INDEX + 1 {
        return Err(Error::new(format!(
            "unexpected number of io regions {}",
            info.num_regions
        )));
    }
    if info.num_irqs < vb::VFIO_PCI_MSIX_IRQ_INDEX + 1 {
        return Err(Error::new(format!(
            "unexpected number of irqs {}",
            info.num_irqs
        )));
    }
    let device = a
        .device
        .as_ref()
        .unwrap_or_else(|| unreachable!("set by the caller"));
    for index in vb::VFIO_PCI_BAR0_REGION_INDEX..=vb::VFIO_PCI_ROM_REGION_INDEX {
        let r = device.region_info(index).map_err(|e| {
            Error::new(format!(
                "failed to get region {index} info: {}",
                e.strerror()
            ))
        })?;
        let maps = if dev.no_mmap {
            Vec::new()
        } else {
            map_region(device, &r)
        };
        a.regions.push(Region { info: r, maps });
    }
    let config = device
        .region_info(vb::VFIO_PCI_CONFIG_REGION_INDEX)
        .map_err(|e| Error::new(format!("failed to get config info: {}", e.strerror())))?;
    if dev.vga {
        let vga = vb::VFIO_PCI_VGA_REGION_INDEX;
        let r = device.region_info(vga).map_err(|e| {
            Error::new(format!(
                "failed getting region info for VGA region index {vga}: {}",
                e.strerror()
            ))
        })?;
        // Legacy VGA: memory 0xa0000-0xbffff and I/O 0x3b0-0x3df, read/write.
        if !(r.readable() && r.writable()) || r.size < 0xc_0000 {
            return Err(Error::new(format!(
                "unexpected VGA info, flags 0x{:x}, size 0x{:x}",
                r.flags.bits(),
                r.size
            ))
            .with_hint("device does not support requested feature x-vga"));
        }
        a.regions.push(Region {
            info: r,
            maps: Vec::new(),
        });
    }
    // QEMU reads what the region has into a zeroed 256-byte (or 4 KiB)
    // copy: a short config region reads as zeros past its end.
    let len = config.size.min(4096) as usize;
    let mut space = vec![0u8; len.max(256)];
    device
        .region_read(&config, 0, &mut space[..len])
        .map_err(|e| {
            Error::new(format!(
                "failed to read device config space: {}",
                e.strerror()
            ))
        })?;
    a.regions.push(Region {
        info: config,
        maps: Vec::new(),
    });
    for index in 0..info.num_irqs {
        match device.irq_info(index) {
            Ok(irq) => a.irqs.push(irq),
            // A conventional PCI device has no ERR/REQ interrupt: the kernel
            // answers EINVAL, which QEMU only traces.
            Err(_) if index >= vb::VFIO_PCI_ERR_IRQ_INDEX => {}
            Err(e) => {
                return Err(Error::new(format!(
                    "failed to get irq {index} info: {}",
                    e.strerror()
                )));
            }
        }
    }
    // QEMU checks the overrides in vfio_pci_config_setup, after the device is attached.
    check_overrides(dev)?;
    let word = |o: usize| u16::from_le_bytes([space[o], space[o + 1]]);
    let vendor = if dev.vendor_id != PCI_ANY_ID {
        dev.vendor_id as u16
    } else {
        word(0)
    };
    let device_id = if dev.device_id != PCI_ANY_ID {
        dev.device_id as u16
    } else {
        word(2)
    };
    let class = if dev.class_code != PCI_ANY_ID {
        dev.class_code
    } else {
        u32::from_le_bytes([space[9], space[10], space[11], 0])
    };
    let sizes: Vec<u64> = a.regions.iter().take(6).map(|r| r.info.size).collect();
    let mut bars = msix::bars(&space, &sizes);
    let caps = capabilities(&space);
    let msix_pos = caps
        .iter()
        .find(|c| !c.extended && c.id == PCI_CAP_ID_MSIX)
        .map(|c| c.offset);
    let config = &a
        .regions
        .last()
        .unwrap_or_else(|| unreachable!("pushed above"))
        .info;
    let msix = msix::early_setup(
        device,
        config,
        msix_pos,
        &mut bars,
        (vendor, device_id),
        dev.msix_relocation,
    )?;
    caps::check_std_caps(device, config, &space, &caps)?;
    let display = display::probe(device, &info, dev.display)?;
    display::check(
        display.as_ref(),
        dev.resolution,
        dev.ramfb.as_deref_mut(),
        dev.enable_migration,
        cx,
    )?;
    let iommu_dirty = matches!(
        a.backend(),
        Backend::Iommufd {
            dirty_tracking: true,
            ..
        }
    );
    let migration = match dev.failover_pair_id {
        // QEMU calls vfio_migration_realize only without failover_pair_id.
        Some(pair) => Migration::Failover {
            pair: pair.to_owned(),
        },
        None => migration::realize(
            device,
            &a.name,
            dev.enable_migration,
            dev.device_dirty_page_tracking,
            iommu_dirty,
            &dev.migratable,
            cx,
        )?,
    };
    a.pci = Some(PciSummary {
        vendor_id: vendor,
        device_id,
        class_code: class,
        capabilities: caps,
        bars,
        msix,
        display,
        migration,
        config_space: space,
    });
    Ok(())
}

const PCI_CAP_ID_MSIX: u16 = 0x11;

/// Maps what the kernel lets us map: the sparse areas if listed, else the whole region.
fn map_region(
    device: &Device,
    r: &crate::sys::vfio::RegionInfo,
) -> Vec<(u64, crate::sys::vfio::MappedRegion)> {
    if !r.mmappable() || r.size == 0 {
        return Vec::new();
    }
    let prot = if r.writable() {
        MapProt::READ_WRITE
    } else {
        MapProt::READ_ONLY
    };
    let areas: Vec<(u64, u64)> = match r.sparse_areas() {
        Some(a) => a.iter().map(|a| (a.offset, a.size)).collect(),
        None => vec![(0, r.size)],
    };
    // A region the kernel refuses to map stays usable through pread/pwrite,
    // as in QEMU (which only traces the failure).
    areas
        .into_iter()
        .filter(|&(_, len)| len > 0)
        .filter_map(|(off, len)| {
            let len = usize::try_from(len).ok()?;
            device.mmap_region(r, off, len, prot).ok().map(|m| (off, m))
        })
        .collect()
}

/// Walks the standard (0x34) and extended (0x100) capability lists, bounded
/// so a malformed chain cannot loop.
fn capabilities(space: &[u8]) -> Vec<PciCapability> {
    let mut caps = Vec::new();
    let byte = |o: usize| space.get(o).copied().unwrap_or(0);
    const STATUS_CAP_LIST: u8 = 0x10;
    if space.len() >= 0x40 && byte(0x06) & STATUS_CAP_LIST != 0 {
        let mut ptr = usize::from(byte(0x34) & !3);
        for _ in 0..48 {
            if ptr < 0x40 || ptr + 1 >= space.len().min(256) {
                break;
            }
            caps.push(PciCapability {
                id: u16::from(byte(ptr)),
                offset: ptr as u16,
                extended: false,
            });
            ptr = usize::from(byte(ptr + 1) & !3);
        }
    }
    let mut ptr = 0x100usize;
    for _ in 0..(4096 - 0x100) / 4 {
        if ptr < 0x100 || ptr + 4 > space.len() {
            break;
        }
        let hdr = u32::from_le_bytes([space[ptr], space[ptr + 1], space[ptr + 2], space[ptr + 3]]);
        if hdr == 0 || hdr == u32::MAX {
            break;
        }
        caps.push(PciCapability {
            id: (hdr & 0xffff) as u16,
            offset: ptr as u16,
            extended: true,
        });
        ptr = (hdr >> 20) as usize & !3;
        if ptr == 0 {
            break;
        }
    }
    caps
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capability_walk_is_bounded_and_follows_both_lists() {
        let mut s = vec![0u8; 4096];
        s[0x06] = 0x10;
        s[0x34] = 0x40;
        s[0x40] = 0x05; // MSI
        s[0x41] = 0x50;
        s[0x50] = 0x10; // PCIe
        s[0x51] = 0x00;
        s[0x100..0x104].copy_from_slice(&(0x0001u32 | (0x140 << 20)).to_le_bytes()); // AER
        s[0x140..0x144].copy_from_slice(&0x0003u32.to_le_bytes()); // DSN, end
        let caps = capabilities(&s);
        let ids: Vec<_> = caps.iter().map(|c| (c.id, c.offset, c.extended)).collect();
        assert_eq!(
            ids,
            [
                (5, 0x40, false),
                (0x10, 0x50, false),
                (1, 0x100, true),
                (3, 0x140, true)
            ]
        );
        // A self-loop terminates.
        s[0x41] = 0x40;
        assert!(capabilities(&s).len() <= 48 + 2);
        // Short config space (conventional PCI, 256 bytes) has no extended list.
        assert_eq!(
            capabilities(&s[..256])
                .iter()
                .filter(|c| c.extended)
                .count(),
            0
        );
    }
}
