//! `vfio-pci`: assign a host PCI device through VFIO (legacy container or
//! iommufd), and its `vfio-pci-nohotplug` variant.

use qomgen::{
    Device, DeviceImpl, LifecycleCx, OffAutoPciBar, OnOffAuto, PciHostAddress, QemuUuid, Result,
    Size,
};

use std::path::PathBuf;

use super::kinds::GpuDirectClique;
use super::pci_device::PciDevice;
use crate::attach::{Attached, Migration, PciOptions, RamfbSettings, VfioCommon, VfioDevice};
use crate::guest::pci::{BusKind, FunctionOptions, Layout, PciFunction, RomSource, VfioHost};
use crate::host::Host;

/// The abstract VFIO PCI base type (`vfio-pci-device`).
#[derive(Device, Debug)]
#[device(name = "vfio-pci-device", abstract, category = Misc, desc = "VFIO PCI base device")]
pub struct VfioPciDevice {
    #[parent]
    pub(crate) pci: PciDevice,
}

impl DeviceImpl for VfioPciDevice {}

/// VFIO-based PCI device assignment
///
/// Realize attaches the host device and probes what the host side can
/// tell: MSI-X (`x-msix-relocation`), the display (`display`, `xres`,
/// `yres`) and migration support (`enable-migration`,
/// `x-device-dirty-page-tracking`). It also plans the PCI function the
/// guest sees, which [`VfioPci::function_mut`] builds
/// ([`crate::guest::pci`]); these properties act on it:
///
/// | property | what it does to the guest's function |
/// |---|---|
/// | `x-pci-vendor-id`, `x-pci-device-id`, `x-pci-sub-vendor-id`, `x-pci-sub-device-id`, `x-pci-class-code` | emulated IDs and class |
/// | `x-msix-relocation` | where the guest finds the MSI-X table and PBA |
/// | `x-no-mmap` | every BAR access trapped, nothing mapped |
/// | `x-no-kvm-intx`, `x-no-kvm-msi`, `x-no-kvm-msix` | [`crate::guest::pci::Route::Userspace`] instead of an irqfd |
/// | `romfile`, `rombar`, `romsize`, `multifunction` (of `pci-device`) | the ROM BAR and its contents, the header's multi-function bit |
///
/// The others need a machine this crate does not model, and are parsed,
/// validated and kept as part of the interface QEMU users write: the IGD,
/// GeForce and NVIDIA quirks (`x-igd-*`, `x-no-geforce-quirks`,
/// `x-nv-gpudirect-clique`: device-specific config and BAR quirks),
/// `x-vga` (legacy VGA ranges of a machine), `x-req` (hot-unplug requests
/// need a hotplug controller), `x-intx-mmap-timeout-ms` (QEMU's timer for
/// devices whose INTx EOI it cannot see; with KVM's resample irqfd a VMM
/// sees every EOI), `x-no-kvm-ioeventfd` / `x-no-vfio-ioeventfd` (quirk
/// ioeventfds), `x-balloon-allowed`, `bootindex`, `x-vpasid-cap-offset`
/// (a vIOMMU's PASID) and the migration tuning (`x-pre-copy-dirty-page-
/// tracking`, `x-migration-*`, `migration-events`).
#[derive(Device, Debug)]
#[device(name = "vfio-pci")]
pub struct VfioPci {
    #[parent]
    pub(crate) base: VfioPciDevice,
    /// Host PCI address [domain:]<bus:slot.function> of assigned device
    #[prop(since = "1.3")]
    pub(crate) host: Option<PciHostAddress>,
    /// Specify UUID VF token. Required for VF when PF is owned by another VFIO driver
    #[prop(name = "vf-token", since = "8.1")]
    pub(crate) vf_token: Option<QemuUuid>,
    /// Disable dirty pages tracking during iterative phase (DEBUG)
    #[prop(name = "x-pre-copy-dirty-page-tracking", default = OnOffAuto::On, since = "5.2")]
    pub(crate) pre_copy_dirty_page_tracking: OnOffAuto,
    /// Disable device dirty page tracking and use container-based dirty page tracking
    #[prop(name = "x-device-dirty-page-tracking", default = OnOffAuto::On, since = "9.1")]
    pub(crate) device_dirty_page_tracking: OnOffAuto,
    /// Enable display support for device, ex. vGPU
    #[prop(default = OnOffAuto::Off, since = "2.12")]
    pub(crate) display: OnOffAuto,
    /// Set X display resolution the vGPU should use
    #[prop(default = 0, since = "3.2")]
    pub(crate) xres: u32,
    /// Set Y display resolution the vGPU should use
    #[prop(default = 0, since = "3.2")]
    pub(crate) yres: u32,
    /// When EOI is not provided by KVM/QEMU, wait time (milliseconds) to re-enable device direct access after INTx (DEBUG)
    #[prop(name = "x-intx-mmap-timeout-ms", default = 1100, since = "1.3")]
    pub(crate) intx_mmap_timeout_ms: u32,
    /// Expose VGA address spaces for device
    #[prop(name = "x-vga", default = false, since = "1.5")]
    pub(crate) vga: bool,
    /// Disable device request notification support (DEBUG)
    #[prop(name = "x-req", default = true, since = "2.3")]
    pub(crate) req: bool,
    /// Expose host IGD OpRegion to guest
    #[prop(name = "x-igd-opregion", default = true, since = "2.7")]
    pub(crate) igd_opregion: bool,
    #[prop(name = "x-igd-lpc", default = false)]
    pub(crate) igd_lpc: bool,
    #[prop(name = "x-igd-legacy-mode", default = OnOffAuto::Auto)]
    pub(crate) igd_legacy_mode: OnOffAuto,
    /// Enable device migration. Also requires a host VFIO PCI variant or mdev driver with migration support enabled
    // QEMU's comment reads "5.2, 8.0 non-experimetal": the property appeared in 5.2.
    #[prop(name = "enable-migration", default = OnOffAuto::Auto, since = "5.2")]
    pub(crate) enable_migration: OnOffAuto,
    /// Transfer this device state via multifd channels when live migrating it
    #[prop(name = "x-migration-multifd-transfer", default = OnOffAuto::Auto, since = "10.0", set_after_realize)]
    pub(crate) migration_multifd_transfer: OnOffAuto,
    /// Start the config load only after all iterables were loaded (during non-iterables loading phase) when doing live migration of device state via multifd channels
    #[prop(name = "x-migration-load-config-after-iter", default = OnOffAuto::Auto, since = "10.1")]
    pub(crate) migration_load_config_after_iter: OnOffAuto,
    /// Maximum size of in-flight VFIO device state buffers queued at the destination when doing live migration of device state via multifd channels
    #[prop(name = "x-migration-max-queued-buffers-size", default = Size(u64::MAX), since = "10.1")]
    pub(crate) migration_max_queued_buffers_size: Size,
    /// Emit VFIO migration QAPI event when a VFIO device changes its migration state. For management applications
    #[prop(name = "migration-events", default = false, since = "9.1")]
    pub(crate) migration_events: bool,
    /// Disable MMAP for device. Allows to trace MMIO accesses (DEBUG)
    // QEMU's comment reads "2.4 and 2.5".
    #[prop(name = "x-no-mmap", default = false, since = "2.4")]
    pub(crate) no_mmap: bool,
    /// Override allowing ballooning with device (DEBUG, DANGER)
    #[prop(name = "x-balloon-allowed", default = false, since = "3.1")]
    pub(crate) balloon_allowed: bool,
    /// Disable direct VFIO->KVM INTx injection. Allows to trace INTx interrupts (DEBUG)
    #[prop(name = "x-no-kvm-intx", default = false, since = "2.5")]
    pub(crate) no_kvm_intx: bool,
    /// Disable direct VFIO->KVM MSI injection. Allows to trace MSI interrupts (DEBUG)
    #[prop(name = "x-no-kvm-msi", default = false, since = "2.5")]
    pub(crate) no_kvm_msi: bool,
    /// Disable direct VFIO->KVM MSIx injection. Allows to trace MSIx interrupts (DEBUG)
    #[prop(name = "x-no-kvm-msix", default = false, since = "2.5")]
    pub(crate) no_kvm_msix: bool,
    /// Disable GeForce quirks (for NVIDIA Quadro/GRID/Tesla). Improves performance
    #[prop(name = "x-no-geforce-quirks", default = false, since = "2.12")]
    pub(crate) no_geforce_quirks: bool,
    /// Disable registration of ioeventfds with KVM (DEBUG)
    #[prop(name = "x-no-kvm-ioeventfd", default = false, since = "3.0")]
    pub(crate) no_kvm_ioeventfd: bool,
    /// Disable linking of KVM ioeventfds to VFIO ioeventfds (DEBUG)
    #[prop(name = "x-no-vfio-ioeventfd", default = false, since = "3.0")]
    pub(crate) no_vfio_ioeventfd: bool,
    /// Override PCI Vendor ID with provided value (DEBUG)
    #[prop(name = "x-pci-vendor-id", default = u32::MAX, since = "2.5")]
    pub(crate) pci_vendor_id: u32,
    /// Override PCI device ID with provided value (DEBUG)
    #[prop(name = "x-pci-device-id", default = u32::MAX, since = "2.5")]
    pub(crate) pci_device_id: u32,
    /// Override PCI Subsystem Vendor ID with provided value (DEBUG)
    #[prop(name = "x-pci-sub-vendor-id", default = u32::MAX, since = "2.5")]
    pub(crate) pci_sub_vendor_id: u32,
    /// Override PCI Subsystem Device ID with provided value (DEBUG)
    #[prop(name = "x-pci-sub-device-id", default = u32::MAX, since = "2.5")]
    pub(crate) pci_sub_device_id: u32,
    #[prop(name = "x-pci-class-code", default = u32::MAX)]
    pub(crate) pci_class_code: u32,
    /// Override IGD data stolen memory size (32MiB units)
    // QEMU's comment reads "2.7 (See c4c45e943e51)".
    #[prop(name = "x-igd-gms", default = 0, since = "2.7")]
    pub(crate) igd_gms: u32,
    /// Add NVIDIA GPUDirect capability indicating P2P DMA clique for device [0-15]
    #[prop(name = "x-nv-gpudirect-clique", since = "2.11")]
    pub(crate) nv_gpudirect_clique: Option<GpuDirectClique>,
    /// Specify MSI-X MMIO relocation to the end of specified existing BAR or new BAR to avoid virtualization overhead due to adjacent device registers
    #[prop(name = "x-msix-relocation", default = OffAutoPciBar::Off, since = "2.12")]
    pub(crate) msix_relocation: OffAutoPciBar,
    /// Skip config space check for Vendor Specific Capability. Setting to false will enforce strict checking of VSC content (DEBUG)
    #[prop(name = "skip-vsc-check", default = true, since = "9.1")]
    pub(crate) skip_vsc_check: bool,
    /// PCIe extended configuration space offset at which to place a synthetic PASID extended capability when PASID is enabled via a vIOMMU. A value of 0 (default) places the capability at the end of the extended configuration space. The offset must be 4-byte aligned and within the PCIe extended configuration space
    #[prop(name = "x-vpasid-cap-offset", default = 0, since = "11.0")]
    pub(crate) vpasid_cap_offset: u16,
    #[prop]
    pub(crate) bootindex: Option<i32>,
    /// vfio-pci-nohotplug's ramfb settings, handed over by its
    /// `pre_realize` (`None` for vfio-pci): realize checks them and
    /// resolves `migrate`.
    pub(crate) ramfb: Option<RamfbSettings>,
    /// The guest-facing function: planned by realize, built on first use
    /// ([`VfioPci::function_mut`]). Declared before `vfio`, so that it
    /// goes first: it releases its interrupts and DMA mappings while the
    /// device is still attached.
    pub(crate) function: Option<GuestFunction>,
    /// `sysfsdev`, `iommufd`, `fd` and what realize attached, placed in
    /// the table where QEMU's property list has them (hw/vfio/pci.c,
    /// `vfio_pci_dev_properties`; `fd` from `vfio_pci_class_init`).
    /// Declared after `function`, so that it is dropped after it.
    #[prop(
        flatten,
        member(
            name = "sysfsdev",
            since = "2.6",
            before = "x-pre-copy-dirty-page-tracking"
        ),
        member(name = "iommufd", before = "skip-vsc-check"),
        member(name = "fd", before = "bootindex")
    )]
    pub(crate) vfio: VfioCommon,
}

/// The guest-facing function of a realized vfio-pci device.
#[derive(Debug)]
pub(crate) enum GuestFunction {
    /// What realize decided, not yet acting on the host: a user-space
    /// driver ([`crate::driver`]) may own the device's interrupts instead.
    Planned(Box<(Layout, FunctionOptions)>),
    /// Built: it owns the device's interrupts and the guest's DMA mappings.
    Built(Box<PciFunction>),
    /// Moved out by [`VfioPci::take_function`].
    Taken,
}

impl VfioPci {
    /// What realize attached: `None` before realize and after unrealize.
    pub fn attached(&self) -> Option<&Attached> {
        self.vfio.attached()
    }

    /// The PCI function the guest sees, built from what realize planned on
    /// the first call: config space, BARs and their host mappings, MSI,
    /// MSI-X and INTx (INTx is enabled on the host then, as QEMU's realize
    /// does). A device driven from user space through [`crate::driver`]
    /// should not also be given to a guest: both would own its interrupts.
    ///
    /// # Errors
    /// Before realize or after unrealize; descriptors or eventfds that
    /// cannot be had; enabling INTx on the host failing.
    pub fn function_mut(&mut self) -> Result<&mut PciFunction> {
        let name = self
            .vfio
            .attached
            .as_ref()
            .map(|a| a.name.clone())
            .unwrap_or_default();
        match self.function.take() {
            None => Err(qomgen::Error::new(format!(
                "vfio {name}: the device is not realized"
            ))),
            Some(GuestFunction::Taken) => {
                self.function = Some(GuestFunction::Taken);
                Err(qomgen::Error::new(format!(
                    "vfio {name}: the guest-facing function was taken (VfioPci::take_function)"
                )))
            }
            Some(GuestFunction::Planned(plan)) => {
                let built = self
                    .vfio
                    .attached
                    .as_ref()
                    .ok_or_else(|| qomgen::Error::new("the device is not realized"))
                    .and_then(|a| {
                        VfioHost::new(a).map_err(|e| {
                            qomgen::Error::new(format!("vfio {name}: {}", e.strerror()))
                        })
                    })
                    .and_then(|host| {
                        PciFunction::new(Box::new(host), &plan.0, plan.1.clone())
                            .map_err(|e| e.prepend(format_args!("vfio {name}: ")))
                    });
                match built {
                    Ok(f) => {
                        let f = self.function.insert(GuestFunction::Built(Box::new(f)));
                        match f {
                            GuestFunction::Built(f) => Ok(f),
                            _ => unreachable!("just inserted"),
                        }
                    }
                    Err(e) => {
                        self.function = Some(GuestFunction::Planned(plan));
                        Err(e)
                    }
                }
            }
            Some(GuestFunction::Built(f)) => match self.function.insert(GuestFunction::Built(f)) {
                GuestFunction::Built(f) => Ok(f),
                _ => unreachable!("just inserted"),
            },
        }
    }

    /// The function the guest sees, built as [`VfioPci::function_mut`]
    /// builds it, moved out of the device: for a VMM that serves the
    /// guest's accesses on its vCPU threads (the object tree stays on the
    /// thread that made it). Drop it before deleting the device, as the
    /// device stays in the function's hands until then: it holds
    /// duplicates of the device's and the IOMMU's descriptors (so nothing
    /// it does is unsound later, but after the device's unrealize its
    /// accesses fail, an iommufd IOAS going with the device), and its drop
    /// turns the interrupts off and unmaps the guest's memory.
    ///
    /// # Errors
    /// As [`VfioPci::function_mut`]'s, and once taken.
    pub fn take_function(&mut self) -> Result<PciFunction> {
        self.function_mut()?;
        match self.function.replace(GuestFunction::Taken) {
            Some(GuestFunction::Built(f)) => Ok(*f),
            _ => unreachable!("function_mut built it"),
        }
    }

    /// Where the VMM puts the function, which decides how its PCIe
    /// capability and extended config space are shown (QEMU reads it from
    /// the bus the device is plugged into); [`BusKind::Pci`] unless set.
    /// Call it before [`VfioPci::function_mut`] first builds the function.
    ///
    /// # Errors
    /// Before realize, or once the function is built.
    pub fn set_bus_kind(&mut self, bus: BusKind) -> Result<()> {
        match &mut self.function {
            Some(GuestFunction::Planned(plan)) => {
                plan.1.bus = bus;
                Ok(())
            }
            Some(GuestFunction::Built(_) | GuestFunction::Taken) => Err(qomgen::Error::new(
                "the guest-facing function is built: its bus can no longer change",
            )),
            None => Err(qomgen::Error::new("the device is not realized")),
        }
    }

    /// What the properties ask of realize ([`crate::attach::realize_pci`]),
    /// with the migration flags of the tree's other realized vfio-pci
    /// devices that can migrate.
    fn pci_options<'a>(&'a mut self, cx: &LifecycleCx<'_>) -> PciOptions<'a> {
        let migratable = cx
            .tree
            .devices()
            .filter_map(|(_, d)| {
                let d = d.try_borrow().ok()?;
                let pci = d.downcast_ref::<VfioPci>()?.attached()?.pci.as_ref()?;
                match pci.migration {
                    Migration::Supported { flags, .. } => Some(flags),
                    Migration::Blocked { .. } | Migration::Failover { .. } => None,
                }
            })
            .collect();
        PciOptions {
            vfio: &self.vfio,
            host: self.host,
            vf_token: self.vf_token,
            balloon_allowed: self.balloon_allowed,
            no_mmap: self.no_mmap,
            vga: self.vga,
            vendor_id: self.pci_vendor_id,
            device_id: self.pci_device_id,
            sub_vendor_id: self.pci_sub_vendor_id,
            sub_device_id: self.pci_sub_device_id,
            class_code: self.pci_class_code,
            msix_relocation: self.msix_relocation,
            display: self.display,
            resolution: (self.xres, self.yres),
            ramfb: self.ramfb.as_mut(),
            enable_migration: self.enable_migration,
            device_dirty_page_tracking: self.device_dirty_page_tracking,
            failover_pair_id: self.base.pci.failover_pair_id.as_deref(),
            migratable,
        }
    }

    /// What the properties decide about the guest-facing function, and
    /// the `romfile` loaded as QEMU's `pci_add_option_rom` does (after the
    /// device's own realize, so its errors carry no `vfio` prefix).
    fn function_options(&self) -> Result<FunctionOptions> {
        let pci = &self.base.pci;
        let id = |v: u32| (v != u32::MAX).then_some(v as u16);
        let rombar = pci.rombar != 0;
        let rom = match pci.romfile.as_deref() {
            None if rombar => RomSource::Device,
            None => RomSource::None,
            // QEMU: an empty romfile means no ROM at all.
            Some("") => RomSource::None,
            Some(path) => {
                let image = std::fs::read(path).map_err(|_| {
                    qomgen::Error::new(format!("failed to find romfile \"{path}\""))
                })?;
                if image.is_empty() {
                    return Err(qomgen::Error::new(format!("romfile \"{path}\" is empty")));
                }
                if image.len() as u64 > 2 << 30 {
                    return Err(qomgen::Error::new(format!(
                        "romfile \"{path}\" too large (size cannot exceed 2 GiB)"
                    )));
                }
                let size = if pci.romsize != u32::MAX {
                    if image.len() as u64 > u64::from(pci.romsize) {
                        return Err(qomgen::Error::new(format!(
                            "romfile \"{path}\" ({} bytes) is too large for ROM size {}",
                            image.len(),
                            pci.romsize
                        )));
                    }
                    u64::from(pci.romsize)
                } else {
                    (image.len() as u64).next_power_of_two()
                };
                RomSource::File {
                    image,
                    size,
                    bar: rombar,
                }
            }
        };
        Ok(FunctionOptions {
            vendor_id: id(self.pci_vendor_id),
            device_id: id(self.pci_device_id),
            sub_vendor_id: id(self.pci_sub_vendor_id),
            sub_device_id: id(self.pci_sub_device_id),
            class_code: (self.pci_class_code != u32::MAX).then_some(self.pci_class_code),
            no_mmap: self.no_mmap,
            multifunction: pci.multifunction,
            no_kvm_intx: self.no_kvm_intx,
            no_kvm_msi: self.no_kvm_msi,
            no_kvm_msix: self.no_kvm_msix,
            rom,
            bus: BusKind::Pci,
        })
    }
}

impl VfioDevice for VfioPci {
    fn common(&self) -> &VfioCommon {
        &self.vfio
    }

    fn host_path(&self) -> Option<PathBuf> {
        self.vfio
            .sysfsdev
            .as_deref()
            .map(PathBuf::from)
            .or_else(|| self.host.map(|h| Host::pci_device_dir(&h.to_string())))
    }

    fn is_pci(&self) -> bool {
        true
    }
}

impl DeviceImpl for VfioPci {
    fn realize(&mut self, cx: &LifecycleCx<'_>) -> Result<()> {
        let attached = crate::attach::realize_pci(self.pci_options(cx), cx)?;
        let options = self.function_options()?;
        let summary = attached
            .pci
            .as_ref()
            .unwrap_or_else(|| unreachable!("realize_pci sets the PCI summary"));
        let layout = Layout {
            config: summary.config_space.clone(),
            bars: summary.bars,
            msix: summary.msix,
        };
        self.function = Some(GuestFunction::Planned(Box::new((layout, options))));
        self.vfio.attached = Some(attached);
        Ok(())
    }

    fn unrealize(&mut self, _cx: &LifecycleCx<'_>) {
        self.function = None;
        self.vfio.attached = None;
    }
}

/// VFIO PCI assignment that cannot be hot-plugged, with boot display options.
#[derive(Device, Debug)]
#[device(name = "vfio-pci-nohotplug", hotpluggable = false, no_desc)]
pub struct VfioPciNohotplug {
    #[parent]
    pub(crate) vfio: VfioPci,
    /// Enable ramfb to provide pre-boot graphics for devices enabling display option
    #[prop(default = false, since = "3.1")]
    pub(crate) ramfb: bool,
    /// Controls loading of a legacy VGA BIOS ROM
    #[prop(name = "use-legacy-x86-rom", default = false, since = "10.1")]
    pub(crate) use_legacy_x86_rom: bool,
    /// Override default migration support for ramfb support (DEBUG)
    #[prop(name = "x-ramfb-migrate", default = OnOffAuto::Auto, since = "8.2")]
    pub(crate) ramfb_migrate: OnOffAuto,
}

impl DeviceImpl for VfioPciNohotplug {
    fn pre_realize(&mut self, _cx: &LifecycleCx<'_>) -> Result<()> {
        // Before vfio-pci's realize, which checks them at QEMU's points.
        self.vfio.ramfb = Some(RamfbSettings {
            enable: self.ramfb,
            migrate: self.ramfb_migrate,
        });
        Ok(())
    }

    fn realize(&mut self, _cx: &LifecycleCx<'_>) -> Result<()> {
        // vfio-pci's realize may have turned x-ramfb-migrate off: the
        // property reads that afterwards, as QEMU's (one field there) does.
        if let Some(r) = self.vfio.ramfb {
            self.ramfb_migrate = r.migrate;
        }
        Ok(())
    }
}
