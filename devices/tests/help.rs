//! `-device X,help` for the VFIO devices, byte for byte as
//! QEMU 10.2 prints them (`system/qdev-monitor.c: qdev_device_help`), and
//! `-object iommufd,help` (`qom/object_interfaces.c: user_creatable_print_help`).

use qomgen::introspect::{self, HelpStyle};

fn help(name: &str) -> String {
    // Keep the devices crate's registrations linked.
    assert!(qomgen_devices::models::register().any(|n| n == name));
    introspect::device_help(name, &HelpStyle::QEMU).unwrap()
}

const VFIO_PCI: &str = r#"vfio-pci options:
  acpi-index=<uint32>    -  (default: 0)
  addr=<str>             - Slot and optional function number, example: 06.0 or 06 (default: -1)
  bootindex=<int32>
  busnr=<busnr>
  display=<OnOffAuto>    - Enable display support for device, ex. vGPU (default: off)
  enable-migration=<OnOffAuto> - Enable device migration. Also requires a host VFIO PCI variant or mdev driver with migration support enabled (default: auto)
  failover_pair_id=<str>
  fd=<string>
  host=<str>             - Host PCI address [domain:]<bus:slot.function> of assigned device
  iommufd=<link<iommufd>> - Set host IOMMUFD backend device
  migration-events=<bool> - Emit VFIO migration QAPI event when a VFIO device changes its migration state. For management applications (default: off)
  multifunction=<bool>   - on/off (default: off)
  rombar=<int32>         -  (default: -1)
  romfile=<str>
  romsize=<uint32>       -  (default: 4294967295)
  skip-vsc-check=<bool>  - Skip config space check for Vendor Specific Capability. Setting to false will enforce strict checking of VSC content (DEBUG) (default: on)
  sriov-pf=<str>
  sysfsdev=<str>         - Host sysfs path of assigned device
  vf-token=<str>         - Specify UUID VF token. Required for VF when PF is owned by another VFIO driver
  x-balloon-allowed=<bool> - Override allowing ballooning with device (DEBUG, DANGER) (default: off)
  x-device-dirty-page-tracking=<OnOffAuto> - Disable device dirty page tracking and use container-based dirty page tracking (default: on)
  x-igd-gms=<uint32>     - Override IGD data stolen memory size (32MiB units) (default: 0)
  x-igd-legacy-mode=<OnOffAuto> - on/off/auto (default: auto)
  x-igd-lpc=<bool>       - on/off (default: off)
  x-igd-opregion=<bool>  - Expose host IGD OpRegion to guest (default: on)
  x-intx-mmap-timeout-ms=<uint32> - When EOI is not provided by KVM/QEMU, wait time (milliseconds) to re-enable device direct access after INTx (DEBUG) (default: 1100)
  x-max-bounce-buffer-size=<size> - Maximum buffer size allocated for bounce buffers used for mapped access to indirect DMA memory (default: 4096)
  x-migration-load-config-after-iter=<OnOffAuto> - Start the config load only after all iterables were loaded (during non-iterables loading phase) when doing live migration of device state via multifd channels (default: auto)
  x-migration-max-queued-buffers-size=<size> - Maximum size of in-flight VFIO device state buffers queued at the destination when doing live migration of device state via multifd channels (default: 18446744073709551615)
  x-migration-multifd-transfer=<OnOffAuto> - Transfer this device state via multifd channels when live migrating it (default: auto)
  x-msix-relocation=<OffAutoPCIBAR> - Specify MSI-X MMIO relocation to the end of specified existing BAR or new BAR to avoid virtualization overhead due to adjacent device registers (default: off)
  x-no-geforce-quirks=<bool> - Disable GeForce quirks (for NVIDIA Quadro/GRID/Tesla). Improves performance (default: off)
  x-no-kvm-intx=<bool>   - Disable direct VFIO->KVM INTx injection. Allows to trace INTx interrupts (DEBUG) (default: off)
  x-no-kvm-ioeventfd=<bool> - Disable registration of ioeventfds with KVM (DEBUG) (default: off)
  x-no-kvm-msi=<bool>    - Disable direct VFIO->KVM MSI injection. Allows to trace MSI interrupts (DEBUG) (default: off)
  x-no-kvm-msix=<bool>   - Disable direct VFIO->KVM MSIx injection. Allows to trace MSIx interrupts (DEBUG) (default: off)
  x-no-mmap=<bool>       - Disable MMAP for device. Allows to trace MMIO accesses (DEBUG) (default: off)
  x-no-vfio-ioeventfd=<bool> - Disable linking of KVM ioeventfds to VFIO ioeventfds (DEBUG) (default: off)
  x-nv-gpudirect-clique=<uint8> - Add NVIDIA GPUDirect capability indicating P2P DMA clique for device [0-15]
  x-pci-class-code=<uint32> -  (default: 4294967295)
  x-pci-device-id=<uint32> - Override PCI device ID with provided value (DEBUG) (default: 4294967295)
  x-pci-sub-device-id=<uint32> - Override PCI Subsystem Device ID with provided value (DEBUG) (default: 4294967295)
  x-pci-sub-vendor-id=<uint32> - Override PCI Subsystem Vendor ID with provided value (DEBUG) (default: 4294967295)
  x-pci-vendor-id=<uint32> - Override PCI Vendor ID with provided value (DEBUG) (default: 4294967295)
  x-pcie-ari-nextfn-1=<bool> - on/off (default: off)
  x-pcie-err-unc-mask=<bool> - on/off (default: on)
  x-pcie-ext-tag=<bool>  - on/off (default: on)
  x-pcie-extcap-init=<bool> - on/off (default: on)
  x-pcie-lnksta-dllla=<bool> - on/off (default: on)
  x-pre-copy-dirty-page-tracking=<OnOffAuto> - Disable dirty pages tracking during iterative phase (DEBUG) (default: on)
  x-req=<bool>           - Disable device request notification support (DEBUG) (default: on)
  x-vga=<bool>           - Expose VGA address spaces for device (default: off)
  x-vpasid-cap-offset=<uint16> - PCIe extended configuration space offset at which to place a synthetic PASID extended capability when PASID is enabled via a vIOMMU. A value of 0 (default) places the capability at the end of the extended configuration space. The offset must be 4-byte aligned and within the PCIe extended configuration space (default: 0)
  xres=<uint32>          - Set X display resolution the vGPU should use (default: 0)
  yres=<uint32>          - Set Y display resolution the vGPU should use (default: 0)
"#;

const VFIO_CCW: &str = r#"vfio-ccw options:
  bootindex=<int32>
  dev_id=<str>           - Read-only identifier of an I/O device in the channel subsystem, example: fe.1.23ab
  devno=<str>            - Identifier of an I/O device in the channel subsystem, example: fe.1.23ab
  fd=<string>
  force-orb-pfch=<bool>  - Force unlimited prefetch (default: off)
  iommufd=<link<iommufd>> - Set host IOMMUFD backend device
  loadparm=<str>         - Define which devices that can be used for booting
  subch_id=<str>         - Read-only identifier of an I/O device in the channel subsystem, example: fe.1.23ab
  sysfsdev=<str>         - Host sysfs path of assigned device
"#;

const VFIO_AP: &str = r#"vfio-ap options:
  fd=<string>
  iommufd=<link<iommufd>> - Set host IOMMUFD backend device
  sysfsdev=<str>         - Host sysfs path of assigned device
"#;

#[test]
fn vfio_pci_help_matches_qemu() {
    assert_eq!(help("vfio-pci"), VFIO_PCI);
}

#[test]
fn vfio_pci_nohotplug_help_is_vfio_pci_plus_three_lines() {
    let mut lines: Vec<String> = VFIO_PCI.lines().skip(1).map(str::to_owned).collect();
    lines.push("  ramfb=<bool>           - Enable ramfb to provide pre-boot graphics for devices enabling display option (default: off)".to_owned());
    lines.push(
        "  use-legacy-x86-rom=<bool> - Controls loading of a legacy VGA BIOS ROM (default: off)"
            .to_owned(),
    );
    lines.push("  x-ramfb-migrate=<OnOffAuto> - Override default migration support for ramfb support (DEBUG) (default: auto)".to_owned());
    lines.sort();
    let expected = format!("vfio-pci-nohotplug options:\n{}\n", lines.join("\n"));
    assert_eq!(help("vfio-pci-nohotplug"), expected);
}

#[test]
fn vfio_ccw_help_matches_qemu() {
    assert_eq!(help("vfio-ccw"), VFIO_CCW);
}

#[test]
fn vfio_ap_help_matches_qemu() {
    assert_eq!(help("vfio-ap"), VFIO_AP);
}

#[test]
fn iommufd_object_help_matches_qemu() {
    assert!(qomgen_devices::models::register().any(|n| n == "iommufd"));
    assert_eq!(
        introspect::object_help("iommufd", &HelpStyle::QEMU).unwrap(),
        "iommufd options:\n  fd=<string>\n"
    );
}

#[test]
fn device_list_shows_the_vfio_devices_under_misc() {
    let _ = help("vfio-pci");
    let list = introspect::device_list_help(false);
    for line in [
        "name \"vfio-pci\", bus PCI, desc \"VFIO-based PCI device assignment\"",
        "name \"vfio-ccw\", bus virtual-css-bus, desc \"VFIO-based subchannel assignment\"",
        "name \"vfio-ap\", bus ap-bus, desc \"VFIO-based AP device assignment\"",
    ] {
        assert!(list.contains(line), "{list}");
    }
    assert!(list.contains("Misc devices:\n"));
}
