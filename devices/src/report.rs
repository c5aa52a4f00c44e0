//! What a realized VFIO device looks like to an operator: backend and why,
//! where the device fd came from, regions, IRQs and PCI identity.

use std::fmt::{self, Write as _};

use qomgen::Object;
use serde::Serialize;

use crate::attach::{Attached, DirtyTracking, DisplayMethod, Migration, PciSummary};

/// One region of a realized device.
#[derive(Debug, Clone, Serialize)]
pub struct RegionReport {
    /// Region index.
    pub index: u32,
    /// Size in bytes.
    pub size: u64,
    /// Raw `VFIO_REGION_INFO_FLAG_*`.
    pub flags: u32,
    /// `r`, `w`, `m` for read, write, mmap-capable.
    pub access: String,
    /// Bytes realize actually mapped.
    pub mapped: u64,
}

/// One IRQ index of a realized device.
#[derive(Debug, Clone, Serialize)]
pub struct IrqReport {
    /// IRQ index.
    pub index: u32,
    /// Number of vectors.
    pub count: u32,
    /// Raw `VFIO_IRQ_INFO_*` flags.
    pub flags: u32,
}

/// The summary of one realized device.
#[derive(Debug, Clone, Serialize)]
pub struct DeviceReport {
    /// `-device` id, if any.
    pub id: Option<String>,
    /// QOM type (`vfio-pci`).
    pub driver: &'static str,
    /// VFIO device name (BDF, mdev UUID, id or `VFIO_FD<n>`).
    pub name: String,
    /// `legacy` or `iommufd`.
    pub backend: &'static str,
    /// Why that backend was chosen.
    pub reason: String,
    /// Where the device fd came from.
    pub fd_source: String,
    /// Raw `VFIO_DEVICE_FLAGS_*`.
    pub flags: u32,
    /// Regions.
    pub regions: Vec<RegionReport>,
    /// IRQ indexes.
    pub irqs: Vec<IrqReport>,
    /// PCI identity and capabilities (vfio-pci).
    pub pci: Option<PciSummary>,
}

fn attached(obj: &dyn Object) -> Option<&Attached> {
    crate::models::vfio_device(obj)?.common().attached()
}

impl DeviceReport {
    /// The report of a realized VFIO device; `None` for any other object.
    pub fn of(obj: &dyn Object, id: Option<&str>) -> Option<DeviceReport> {
        let a = attached(obj)?;
        Some(DeviceReport {
            id: id.map(str::to_owned),
            driver: obj.type_info().name,
            name: a.name.clone(),
            backend: a.choice.backend,
            reason: a.choice.reason.clone(),
            fd_source: a.choice.fd_source.clone(),
            flags: a.info.flags.bits(),
            regions: a
                .regions
                .iter()
                .map(|r| RegionReport {
                    index: r.info.index,
                    size: r.info.size,
                    flags: r.info.flags.bits(),
                    access: [
                        (r.info.readable(), 'r'),
                        (r.info.writable(), 'w'),
                        (r.info.mmappable(), 'm'),
                    ]
                    .iter()
                    .map(|&(on, c)| if on { c } else { '-' })
                    .collect(),
                    mapped: r.maps.iter().map(|(_, m)| m.len() as u64).sum(),
                })
                .collect(),
            irqs: a
                .irqs
                .iter()
                .map(|i| IrqReport {
                    index: i.index,
                    count: i.count,
                    flags: i.flags.bits(),
                })
                .collect(),
            pci: a.pci.clone(),
        })
    }
}

impl fmt::Display for DeviceReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let id = self
            .id
            .as_deref()
            .map(|i| format!(" (id {i})"))
            .unwrap_or_default();
        writeln!(f, "{} {}{}: realized", self.driver, self.name, id)?;
        writeln!(f, "  backend: {} ({})", self.backend, self.reason)?;
        writeln!(f, "  device fd: {}", self.fd_source)?;
        if let Some(p) = &self.pci {
            let mut caps = String::new();
            for c in &p.capabilities {
                let _ = write!(
                    caps,
                    " {}0x{:02x}@0x{:x}",
                    if c.extended { "ext:" } else { "" },
                    c.id,
                    c.offset
                );
            }
            writeln!(
                f,
                "  pci: {:04x}:{:04x} class 0x{:06x}",
                p.vendor_id, p.device_id, p.class_code
            )?;
            writeln!(
                f,
                "  capabilities:{}",
                if caps.is_empty() { " none" } else { &caps }
            )?;
            if let Some(m) = &p.msix {
                writeln!(
                    f,
                    "  msix: {} vectors, table bar {} @{:#x}, pba bar {} @{:#x}{}",
                    m.entries,
                    m.table_bar,
                    m.table_offset,
                    m.pba_bar,
                    m.pba_offset,
                    if m.relocated { " (relocated)" } else { "" }
                )?;
            }
            if let Some(d) = &p.display {
                let method = match d.method {
                    DisplayMethod::Dmabuf => "dma-buf",
                    DisplayMethod::Region => "region",
                };
                match d.edid_region {
                    Some(i) => writeln!(f, "  display: {method}, EDID region {i}")?,
                    None => writeln!(f, "  display: {method}, no EDID")?,
                }
            }
            match &p.migration {
                Migration::Supported {
                    flags,
                    dirty_tracking,
                } => writeln!(
                    f,
                    "  migration: supported (flags {flags:#x}, dirty tracking: {})",
                    match dirty_tracking {
                        DirtyTracking::Device => "device",
                        DirtyTracking::Iommu => "IOMMU",
                        DirtyTracking::None => "none",
                    }
                )?,
                Migration::Blocked { reason } => writeln!(f, "  migration: blocked: {reason}")?,
                Migration::Failover { pair } => writeln!(
                    f,
                    "  migration: not probed: failover primary of {pair}, unplugged before migration"
                )?,
            }
        }
        for r in self.regions.iter().filter(|r| r.size > 0) {
            let mapped = if r.mapped > 0 {
                format!(", mmap {:#x}", r.mapped)
            } else {
                String::new()
            };
            writeln!(
                f,
                "  region {}: size {:#x} [{}]{}",
                r.index, r.size, r.access, mapped
            )?;
        }
        for i in self.irqs.iter().filter(|i| i.count > 0) {
            writeln!(
                f,
                "  irq {}: {} vector{}",
                i.index,
                i.count,
                if i.count == 1 { "" } else { "s" }
            )?;
        }
        Ok(())
    }
}
