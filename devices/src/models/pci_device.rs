//! `pci-device`: the abstract PCI device every PCI model derives from, and
//! the checks QEMU's `pci_qdev_realize` makes before the model's own realize.

use qomgen::{Device, DeviceImpl, Error, LifecycleCx, PciDevfn, Result, Size32};

use super::kinds::BusNr;

/// Highest ACPI index QEMU accepts.
const ACPI_INDEX_MAX: u32 = 16383;

/// The PCI device base type (`pci-device`).
#[derive(Device, Debug)]
#[device(name = "pci-device", abstract, bus = "PCI", no_desc)]
pub struct PciDevice {
    #[prop(default = PciDevfn::AUTO)]
    pub(crate) addr: PciDevfn,
    // vfio-pci loads it for its guest-facing function's ROM BAR (guest::pci).
    #[prop]
    pub(crate) romfile: Option<String>,
    #[prop(default = u32::MAX)]
    pub(crate) romsize: u32,
    // 0: no ROM BAR (vfio-pci's guest-facing function); otherwise one.
    #[prop(default = -1)]
    pub(crate) rombar: i32,
    #[prop(default = false)]
    pub(crate) multifunction: bool,
    #[prop(name = "x-pcie-lnksta-dllla", default = true)]
    pub(crate) pcie_lnksta_dllla: bool,
    #[prop(name = "x-pcie-extcap-init", default = true)]
    pub(crate) pcie_extcap_init: bool,
    #[prop(name = "failover_pair_id")]
    pub(crate) failover_pair_id: Option<String>,
    #[prop(name = "acpi-index", default = 0)]
    pub(crate) acpi_index: u32,
    #[prop(name = "x-pcie-err-unc-mask", default = true)]
    pub(crate) pcie_err_unc_mask: bool,
    #[prop(name = "x-pcie-ari-nextfn-1", default = false)]
    pub(crate) pcie_ari_nextfn_1: bool,
    /// Maximum buffer size allocated for bounce buffers used for mapped access to indirect DMA memory
    #[prop(name = "x-max-bounce-buffer-size", default = Size32(4096))]
    pub(crate) max_bounce_buffer_size: Size32,
    #[prop(name = "sriov-pf")]
    pub(crate) sriov_pf: Option<String>,
    #[prop(name = "x-pcie-ext-tag", default = true)]
    pub(crate) pcie_ext_tag: bool,
    #[prop(read_only)]
    pub(crate) busnr: BusNr,
}

impl DeviceImpl for PciDevice {
    fn realize(&mut self, _cx: &LifecycleCx<'_>) -> Result<()> {
        if self.acpi_index > ACPI_INDEX_MAX {
            return Err(Error::new(format!(
                "acpi-index should be less or equal to {ACPI_INDEX_MAX}"
            )));
        }
        if self.romsize != u32::MAX && !self.romsize.is_power_of_two() {
            return Err(Error::new(format!(
                "ROM size {} is not a power of two",
                self.romsize
            )));
        }
        Ok(())
    }
}
