//! The checks QEMU's `vfio_add_std_cap` makes while it rebuilds the
//! standard capability list (`hw/vfio/pci.c`, under `vfio_pci_add_capabilities`).

use qomgen::{Error, Result};

use super::pci::PciCapability;
use crate::sys::vfio::{Device, RegionInfo};

const PCI_CAP_ID_MSI: u16 = 0x05;
const PCI_CAP_ID_EXP: u16 = 0x10;
const PCI_CAP_FLAGS: u64 = 2;
const PCI_EXP_TYPE_ENDPOINT: u16 = 0x0;
const PCI_EXP_TYPE_LEG_END: u16 = 0x1;
const PCI_EXP_TYPE_RC_END: u16 = 0x9;

/// Checks the standard capabilities, last in the chain first: QEMU inserts
/// them recursively from the end, so the last one's error is the one seen.
pub(super) fn check_std_caps(
    device: &Device,
    config: &RegionInfo,
    space: &[u8],
    caps: &[PciCapability],
) -> Result<()> {
    let std: Vec<&PciCapability> = caps.iter().filter(|c| !c.extended).collect();
    for cap in std.iter().rev() {
        // QEMU sizes a capability up to the next one above it (or 0x100).
        let next = std
            .iter()
            .map(|c| c.offset)
            .filter(|&o| o > cap.offset)
            .min()
            .unwrap_or(0x100);
        let size = next - cap.offset;
        check_one(device, config, space, cap).map_err(|e| {
            e.prepend(format_args!(
                "failed to add PCI capability 0x{:x}[0x{size:x}]@0x{:x}: ",
                cap.id, cap.offset
            ))
        })?;
    }
    Ok(())
}

fn check_one(
    device: &Device,
    config: &RegionInfo,
    space: &[u8],
    cap: &PciCapability,
) -> Result<()> {
    let pos = usize::from(cap.offset);
    match cap.id {
        PCI_CAP_ID_MSI => {
            // QEMU reads the MSI flags from the device, not its copy.
            let mut ctrl = [0u8; 2];
            device
                .region_read(config, pos as u64 + PCI_CAP_FLAGS, &mut ctrl)
                .map_err(|e| {
                    Error::new(format!(
                        "failed reading MSI PCI_CAP_FLAGS: {}",
                        e.strerror()
                    ))
                })?;
        }
        PCI_CAP_ID_EXP => {
            let flags = space
                .get(pos + 2..pos + 4)
                .map_or(0, |b| u16::from_le_bytes([b[0], b[1]]));
            let ty = (flags & 0xf0) >> 4;
            if ![
                PCI_EXP_TYPE_ENDPOINT,
                PCI_EXP_TYPE_LEG_END,
                PCI_EXP_TYPE_RC_END,
            ]
            .contains(&ty)
            {
                return Err(Error::new(format!(
                    "assignment of PCIe type 0x{ty:x} devices is not currently supported"
                )));
            }
        }
        _ => {}
    }
    Ok(())
}
