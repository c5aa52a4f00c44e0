//! The property tables and type metadata of the device types, compared with
//! QEMU 10.2's (the `TypeInfo`s and `Property` arrays of `hw/vfio/pci.c`,
//! `hw/pci/pci.c`, `hw/vfio/ccw.c`, `hw/s390x/`, `hw/vfio/ap.c`,
//! `backends/iommufd.c`).
//!
//! The expected data below is transcribed by hand from QEMU's source, not
//! generated from the code: a change to a `#[prop]` that drifts from QEMU
//! fails here.

mod common;

use qomgen::{Category, DefaultValue, Property, TypeInfo, TypeKind, registry};

/// One row of a reference property table, in QEMU's column order: name,
/// QOM type string, the default as QEMU prints it (`None`: no default
/// shown), exact description (`None`: none at all), since-version as the
/// code keeps it (the first version where the reference has a longer
/// comment), and flags: `R` read-only, `W` write-only, `A` settable after
/// realize, `L` link to `iommufd`.
#[derive(Debug, Clone, Copy)]
struct Row(
    &'static str,
    &'static str,
    Option<&'static str>,
    Option<&'static str>,
    Option<&'static str>,
    &'static str,
);

impl Row {
    fn name(&self) -> &'static str {
        self.0
    }
}

/// `fd`, which every VFIO device and the iommufd object add without a
/// since-comment (`hw/vfio/device.c: vfio_device_set_fd`'s callers).
const FD: Row = Row("fd", "string", None, None, None, "W");
/// `bootindex`, added by `vfio-pci` and `s390-ccw` alike
/// (`device_add_bootindex_property`).
const BOOTINDEX: Row = Row("bootindex", "int32", None, None, None, "");
const ON_OFF: Option<&str> = Some("on/off");
const ON_OFF_AUTO: Option<&str> = Some("on/off/auto");
const SYSFSDEV: Option<&str> = Some("Host sysfs path of assigned device");
const IOMMUFD: Option<&str> = Some("Set host IOMMUFD backend device");
const CSS_DEVID_RO: Option<&str> =
    Some("Read-only identifier of an I/O device in the channel subsystem, example: fe.1.23ab");

/// `hw/pci/pci.c: pci_props`: inherited `pci-device` properties (no since-comments).
#[rustfmt::skip]
const PCI_DEVICE: &[Row] = &[
    Row(
        "addr",
        "str",
        Some("-1"),
        Some("Slot and optional function number, example: 06.0 or 06"),
        None,
        "",
    ),
    Row("romfile", "str", None, None, None, ""),
    Row("romsize", "uint32", Some("4294967295"), None, None, ""),
    Row("rombar", "int32", Some("-1"), None, None, ""),
    Row("multifunction", "bool", Some("off"), ON_OFF, None, ""),
    Row("x-pcie-lnksta-dllla", "bool", Some("on"), ON_OFF, None, ""),
    Row("x-pcie-extcap-init", "bool", Some("on"), ON_OFF, None, ""),
    Row("failover_pair_id", "str", None, None, None, ""),
    Row("acpi-index", "uint32", Some("0"), None, None, ""),
    Row("x-pcie-err-unc-mask", "bool", Some("on"), ON_OFF, None, ""),
    Row("x-pcie-ari-nextfn-1", "bool", Some("off"), ON_OFF, None, ""),
    Row(
        "x-max-bounce-buffer-size",
        "size",
        Some("4096"),
        Some(
            "Maximum buffer size allocated for bounce buffers used for mapped access to indirect DMA memory",
        ),
        None,
        "",
    ),
    Row("sriov-pf", "str", None, None, None, ""),
    Row("x-pcie-ext-tag", "bool", Some("on"), ON_OFF, None, ""),
    Row("busnr", "busnr", None, None, None, "R"),
];

/// `hw/vfio/pci.c: vfio_pci_dev_properties`: `vfio-pci`'s own properties (plus `fd` and `bootindex`).
#[rustfmt::skip]
const VFIO_PCI: &[Row] = &[
    Row(
        "host",
        "str",
        None,
        Some("Host PCI address [domain:]<bus:slot.function> of assigned device"),
        Some("1.3"),
        "",
    ),
    Row(
        "vf-token",
        "str",
        None,
        Some("Specify UUID VF token. Required for VF when PF is owned by another VFIO driver"),
        Some("8.1"),
        "",
    ),
    Row("sysfsdev", "str", None, SYSFSDEV, Some("2.6"), ""),
    Row(
        "x-pre-copy-dirty-page-tracking",
        "OnOffAuto",
        Some("on"),
        Some("Disable dirty pages tracking during iterative phase (DEBUG)"),
        Some("5.2"),
        "",
    ),
    Row(
        "x-device-dirty-page-tracking",
        "OnOffAuto",
        Some("on"),
        Some("Disable device dirty page tracking and use container-based dirty page tracking"),
        Some("9.1"),
        "",
    ),
    Row(
        "display",
        "OnOffAuto",
        Some("off"),
        Some("Enable display support for device, ex. vGPU"),
        Some("2.12"),
        "",
    ),
    Row(
        "xres",
        "uint32",
        Some("0"),
        Some("Set X display resolution the vGPU should use"),
        Some("3.2"),
        "",
    ),
    Row(
        "yres",
        "uint32",
        Some("0"),
        Some("Set Y display resolution the vGPU should use"),
        Some("3.2"),
        "",
    ),
    Row(
        "x-intx-mmap-timeout-ms",
        "uint32",
        Some("1100"),
        Some(
            "When EOI is not provided by KVM/QEMU, wait time (milliseconds) to re-enable device direct access after INTx (DEBUG)",
        ),
        Some("1.3"),
        "",
    ),
    Row(
        "x-vga",
        "bool",
        Some("off"),
        Some("Expose VGA address spaces for device"),
        Some("1.5"),
        "",
    ),
    Row(
        "x-req",
        "bool",
        Some("on"),
        Some("Disable device request notification support (DEBUG)"),
        Some("2.3"),
        "",
    ),
    Row(
        "x-igd-opregion",
        "bool",
        Some("on"),
        Some("Expose host IGD OpRegion to guest"),
        Some("2.7"),
        "",
    ),
    Row("x-igd-lpc", "bool", Some("off"), ON_OFF, None, ""),
    Row(
        "x-igd-legacy-mode",
        "OnOffAuto",
        Some("auto"),
        ON_OFF_AUTO,
        None,
        "",
    ),
    // Reference since: "5.2, 8.0 non-experimetal" (sic).
    Row(
        "enable-migration",
        "OnOffAuto",
        Some("auto"),
        Some(
            "Enable device migration. Also requires a host VFIO PCI variant or mdev driver with migration support enabled",
        ),
        Some("5.2"),
        "",
    ),
    Row(
        "x-migration-multifd-transfer",
        "OnOffAuto",
        Some("auto"),
        Some("Transfer this device state via multifd channels when live migrating it"),
        Some("10.0"),
        "A",
    ),
    Row(
        "x-migration-load-config-after-iter",
        "OnOffAuto",
        Some("auto"),
        Some(
            "Start the config load only after all iterables were loaded (during non-iterables loading phase) when doing live migration of device state via multifd channels",
        ),
        Some("10.1"),
        "",
    ),
    Row(
        "x-migration-max-queued-buffers-size",
        "size",
        Some("18446744073709551615"),
        Some(
            "Maximum size of in-flight VFIO device state buffers queued at the destination when doing live migration of device state via multifd channels",
        ),
        Some("10.1"),
        "",
    ),
    Row(
        "migration-events",
        "bool",
        Some("off"),
        Some(
            "Emit VFIO migration QAPI event when a VFIO device changes its migration state. For management applications",
        ),
        Some("9.1"),
        "",
    ),
    // Reference since: "2.4 and 2.5".
    Row(
        "x-no-mmap",
        "bool",
        Some("off"),
        Some("Disable MMAP for device. Allows to trace MMIO accesses (DEBUG)"),
        Some("2.4"),
        "",
    ),
    Row(
        "x-balloon-allowed",
        "bool",
        Some("off"),
        Some("Override allowing ballooning with device (DEBUG, DANGER)"),
        Some("3.1"),
        "",
    ),
    Row(
        "x-no-kvm-intx",
        "bool",
        Some("off"),
        Some("Disable direct VFIO->KVM INTx injection. Allows to trace INTx interrupts (DEBUG)"),
        Some("2.5"),
        "",
    ),
    Row(
        "x-no-kvm-msi",
        "bool",
        Some("off"),
        Some("Disable direct VFIO->KVM MSI injection. Allows to trace MSI interrupts (DEBUG)"),
        Some("2.5"),
        "",
    ),
    Row(
        "x-no-kvm-msix",
        "bool",
        Some("off"),
        Some("Disable direct VFIO->KVM MSIx injection. Allows to trace MSIx interrupts (DEBUG)"),
        Some("2.5"),
        "",
    ),
    Row(
        "x-no-geforce-quirks",
        "bool",
        Some("off"),
        Some("Disable GeForce quirks (for NVIDIA Quadro/GRID/Tesla). Improves performance"),
        Some("2.12"),
        "",
    ),
    Row(
        "x-no-kvm-ioeventfd",
        "bool",
        Some("off"),
        Some("Disable registration of ioeventfds with KVM (DEBUG)"),
        Some("3.0"),
        "",
    ),
    Row(
        "x-no-vfio-ioeventfd",
        "bool",
        Some("off"),
        Some("Disable linking of KVM ioeventfds to VFIO ioeventfds (DEBUG)"),
        Some("3.0"),
        "",
    ),
    Row(
        "x-pci-vendor-id",
        "uint32",
        Some("4294967295"),
        Some("Override PCI Vendor ID with provided value (DEBUG)"),
        Some("2.5"),
        "",
    ),
    Row(
        "x-pci-device-id",
        "uint32",
        Some("4294967295"),
        Some("Override PCI device ID with provided value (DEBUG)"),
        Some("2.5"),
        "",
    ),
    Row(
        "x-pci-sub-vendor-id",
        "uint32",
        Some("4294967295"),
        Some("Override PCI Subsystem Vendor ID with provided value (DEBUG)"),
        Some("2.5"),
        "",
    ),
    Row(
        "x-pci-sub-device-id",
        "uint32",
        Some("4294967295"),
        Some("Override PCI Subsystem Device ID with provided value (DEBUG)"),
        Some("2.5"),
        "",
    ),
    Row(
        "x-pci-class-code",
        "uint32",
        Some("4294967295"),
        None,
        None,
        "",
    ),
    // Reference since: "2.7 (See c4c45e943e51)".
    Row(
        "x-igd-gms",
        "uint32",
        Some("0"),
        Some("Override IGD data stolen memory size (32MiB units)"),
        Some("2.7"),
        "",
    ),
    Row(
        "x-nv-gpudirect-clique",
        "uint8",
        None,
        Some("Add NVIDIA GPUDirect capability indicating P2P DMA clique for device [0-15]"),
        Some("2.11"),
        "",
    ),
    Row(
        "x-msix-relocation",
        "OffAutoPCIBAR",
        Some("off"),
        Some(
            "Specify MSI-X MMIO relocation to the end of specified existing BAR or new BAR to avoid virtualization overhead due to adjacent device registers",
        ),
        Some("2.12"),
        "",
    ),
    Row("iommufd", "link<iommufd>", None, IOMMUFD, Some("9.0"), "L"),
    Row(
        "skip-vsc-check",
        "bool",
        Some("on"),
        Some(
            "Skip config space check for Vendor Specific Capability. Setting to false will enforce strict checking of VSC content (DEBUG)",
        ),
        Some("9.1"),
        "",
    ),
    Row(
        "x-vpasid-cap-offset",
        "uint16",
        Some("0"),
        Some(
            "PCIe extended configuration space offset at which to place a synthetic PASID extended capability when PASID is enabled via a vIOMMU. A value of 0 (default) places the capability at the end of the extended configuration space. The offset must be 4-byte aligned and within the PCIe extended configuration space",
        ),
        Some("11.0"),
        "",
    ),
    FD,
    BOOTINDEX,
];

/// `hw/vfio/pci.c: vfio_pci_dev_nohotplug_properties`: `vfio-pci-nohotplug`'s additional properties.
#[rustfmt::skip]
const VFIO_PCI_NOHOTPLUG: &[Row] = &[
    Row(
        "ramfb",
        "bool",
        Some("off"),
        Some("Enable ramfb to provide pre-boot graphics for devices enabling display option"),
        Some("3.1"),
        "",
    ),
    Row(
        "use-legacy-x86-rom",
        "bool",
        Some("off"),
        Some("Controls loading of a legacy VGA BIOS ROM"),
        Some("10.1"),
        "",
    ),
    Row(
        "x-ramfb-migrate",
        "OnOffAuto",
        Some("auto"),
        Some("Override default migration support for ramfb support (DEBUG)"),
        Some("8.2"),
        "",
    ),
];

/// `hw/vfio/ccw.c: vfio_ccw_properties`, `hw/s390x/s390-ccw.c`,
/// `hw/s390x/ccw-device.c`: `vfio-ccw` with `s390-ccw` and `ccw-device`.
#[rustfmt::skip]
const VFIO_CCW: &[Row] = &[
    Row(
        "devno",
        "str",
        None,
        Some("Identifier of an I/O device in the channel subsystem, example: fe.1.23ab"),
        None,
        "",
    ),
    Row("dev_id", "str", None, CSS_DEVID_RO, None, "R"),
    Row("subch_id", "str", None, CSS_DEVID_RO, None, "R"),
    BOOTINDEX,
    Row("sysfsdev", "str", None, SYSFSDEV, Some("2.10"), ""),
    Row(
        "force-orb-pfch",
        "bool",
        Some("off"),
        Some("Force unlimited prefetch"),
        Some("3.0"),
        "",
    ),
    Row("iommufd", "link<iommufd>", None, IOMMUFD, Some("9.0"), "L"),
    Row(
        "loadparm",
        "str",
        None,
        Some("Define which devices that can be used for booting"),
        Some("9.2"),
        "",
    ),
    FD,
];

/// `hw/vfio/ap.c: vfio_ap_properties`: `vfio-ap` (`ap-device` has no properties).
#[rustfmt::skip]
const VFIO_AP: &[Row] = &[
    Row("sysfsdev", "str", None, SYSFSDEV, Some("3.1"), ""),
    Row("iommufd", "link<iommufd>", None, IOMMUFD, Some("9.0"), "L"),
    FD,
];

/// `backends/iommufd.c: iommufd_backend_class_init`: `-object iommufd`.
const IOMMUFD_OBJECT: &[Row] = &[FD];

fn info(name: &str) -> &'static TypeInfo {
    registry()
        .get(name)
        .unwrap_or_else(|| panic!("{name} not registered"))
        .info
}

fn check_row(ty: &str, p: &Property, r: &Row) {
    let Row(name, type_name, default, desc, since, flags) = *r;
    let at = format!("{ty}.{name}");
    assert_eq!(p.type_name, type_name, "{at}: type");
    assert_eq!(
        p.default_value().map(|d| d.to_string()).as_deref(),
        default,
        "{at}: default"
    );
    assert_eq!(p.description, desc, "{at}: description");
    assert_eq!(p.since, since, "{at}: since");
    assert_eq!(p.is_read_only(), flags.contains('R'), "{at}: read-only");
    assert_eq!(p.is_write_only(), flags.contains('W'), "{at}: write-only");
    assert_eq!(
        p.set_after_realize,
        flags.contains('A'),
        "{at}: settable after realize"
    );
    let link = flags.contains('L').then_some("iommufd");
    assert_eq!(p.link_type, link, "{at}: link target");
    assert_eq!(
        link.is_some() && p.owner.accessors.link.is_some(),
        link.is_some(),
        "{at}: link getter"
    );
}

/// Compares every property `ty` shows (own and inherited) with `rows`:
/// exactly the same names, each with the same attributes.
fn check_table(ty: &str, rows: &[&[Row]]) {
    let entry = registry().get(ty).unwrap();
    let expected: Vec<&Row> = rows.iter().flat_map(|r| r.iter()).collect();
    let mut want: Vec<&str> = expected.iter().map(|r| r.name()).collect();
    let mut have: Vec<&str> = entry.info.properties().map(|p| p.name).collect();
    assert_eq!(have.len(), want.len(), "{ty}: property count {have:?}");
    want.sort_unstable();
    have.sort_unstable();
    assert_eq!(have, want, "{ty}: property names");
    for r in expected {
        let p = entry
            .property(r.name())
            .unwrap_or_else(|| panic!("{ty}.{} missing from the index", r.name()));
        check_row(ty, p, r);
    }
}

#[test]
fn registry_has_every_device_type() {
    common::assert_registry_complete();
}

#[test]
fn vfio_pci_table_matches_reference() {
    assert_eq!(PCI_DEVICE.len(), 15);
    assert_eq!(VFIO_PCI.len(), 40);
    check_table("vfio-pci", &[PCI_DEVICE, VFIO_PCI]);
    // The abstract bases show only what they declare.
    check_table("pci-device", &[PCI_DEVICE]);
    check_table("vfio-pci-device", &[PCI_DEVICE]);
}

#[test]
fn vfio_pci_own_properties_are_declared_by_vfio_pci() {
    // `vfio_pci_dev_properties` / `pci_props`: which class each property belongs to.
    let own = |t: &str| -> Vec<&str> { info(t).own_properties.iter().map(|p| p.name).collect() };
    let mut pci = own("pci-device");
    pci.sort_unstable();
    let mut want: Vec<&str> = PCI_DEVICE.iter().map(|r| r.name()).collect();
    want.sort_unstable();
    assert_eq!(pci, want);
    assert!(own("vfio-pci-device").is_empty());
    let mut vfio = own("vfio-pci");
    vfio.sort_unstable();
    let mut want: Vec<&str> = VFIO_PCI.iter().map(|r| r.name()).collect();
    want.sort_unstable();
    assert_eq!(vfio, want);
}

#[test]
fn vfio_pci_static_array_order_is_qemus() {
    // `vfio_pci_dev_properties`: the static array order, then `fd`; `bootindex` (an instance
    // property in QEMU) last.
    let names: Vec<&str> = info("vfio-pci")
        .own_properties
        .iter()
        .map(|p| p.name)
        .collect();
    let want: Vec<&str> = VFIO_PCI.iter().map(|r| r.name()).collect();
    assert_eq!(names, want);
}

#[test]
fn vfio_pci_nohotplug_table_matches_reference() {
    check_table(
        "vfio-pci-nohotplug",
        &[PCI_DEVICE, VFIO_PCI, VFIO_PCI_NOHOTPLUG],
    );
    let own: Vec<&str> = info("vfio-pci-nohotplug")
        .own_properties
        .iter()
        .map(|p| p.name)
        .collect();
    assert_eq!(own, ["ramfb", "use-legacy-x86-rom", "x-ramfb-migrate"]);
}

#[test]
fn vfio_ccw_table_matches_reference() {
    check_table("vfio-ccw", &[VFIO_CCW]);
    let own = |t: &str| -> Vec<&str> {
        let mut v: Vec<&str> = info(t).own_properties.iter().map(|p| p.name).collect();
        v.sort_unstable();
        v
    };
    // Which class declares each: `ccw_device_properties`, `s390_ccw_properties`,
    // `vfio_ccw_properties`.
    assert_eq!(own("ccw-device"), ["dev_id", "devno", "subch_id"]);
    assert_eq!(own("s390-ccw"), ["bootindex"]);
    assert_eq!(
        own("vfio-ccw"),
        ["fd", "force-orb-pfch", "iommufd", "loadparm", "sysfsdev"]
    );
}

#[test]
fn vfio_ap_table_matches_reference() {
    check_table("vfio-ap", &[VFIO_AP]);
    assert!(info("ap-device").own_properties.is_empty());
}

#[test]
fn iommufd_object_table_matches_reference() {
    check_table("iommufd", &[IOMMUFD_OBJECT]);
}

#[test]
fn defaults_print_like_qemu() {
    // DefaultValue's Display is the help rendering; spot-check every variant
    // against the reference's "default (as printed)" column.
    let p = |t: &str, n: &str| registry().get(t).unwrap().property(n).unwrap();
    assert_eq!(
        p("vfio-pci", "x-req").default_value(),
        Some(DefaultValue::Bool(true))
    );
    assert_eq!(
        p("vfio-pci", "addr").default_value(),
        Some(DefaultValue::Int(-1))
    );
    assert_eq!(
        p("vfio-pci", "x-migration-max-queued-buffers-size").default_value(),
        Some(DefaultValue::UInt(u64::MAX))
    );
    assert_eq!(
        p("vfio-pci", "x-msix-relocation").default_value(),
        Some(DefaultValue::Str("off"))
    );
    assert_eq!(
        p("vfio-pci", "x-msix-relocation")
            .default_value()
            .unwrap()
            .to_json(),
        serde_json::json!("off")
    );
    assert_eq!(
        p("vfio-pci", "x-req").default_value().unwrap().to_json(),
        serde_json::json!(true)
    );
}

/// One type's `TypeInfo` and class metadata in QEMU.
struct Meta {
    name: &'static str,
    parent: &'static str,
    abstract_: bool,
    /// Effective description (inherited where the reference says so).
    desc: Option<&'static str>,
    /// Effective category.
    category: Option<Category>,
    /// Effective bus.
    bus: Option<&'static str>,
    user_creatable: bool,
    hotpluggable: bool,
}

const PCI_DESC: Option<&str> = Some("VFIO-based PCI device assignment");

/// `hw/s390x/ccw-device.c: ccw_device_class_init` (an abstract type).
const CCW_DEVICE: Meta = Meta {
    name: "ccw-device",
    parent: "device",
    abstract_: true,
    desc: None,
    category: None,
    bus: Some("virtual-css-bus"),
    user_creatable: true,
    hotpluggable: true,
};

/// The device types' `TypeInfo`s and `class_init`s in QEMU 10.2.
#[rustfmt::skip]
const META: &[Meta] = &[
    Meta {
        name: "pci-device",
        parent: "device",
        abstract_: true,
        desc: None,
        category: None,
        bus: Some("PCI"),
        user_creatable: true,
        hotpluggable: true,
    },
    Meta {
        name: "vfio-pci-device",
        parent: "pci-device",
        abstract_: true,
        desc: Some("VFIO PCI base device"),
        category: Some(Category::Misc),
        bus: Some("PCI"),
        user_creatable: true,
        hotpluggable: true,
    },
    Meta {
        name: "vfio-pci",
        parent: "vfio-pci-device",
        abstract_: false,
        desc: PCI_DESC,
        category: Some(Category::Misc),
        bus: Some("PCI"),
        user_creatable: true,
        hotpluggable: true,
    },
    Meta {
        name: "vfio-pci-nohotplug",
        parent: "vfio-pci",
        abstract_: false,
        desc: PCI_DESC,
        category: Some(Category::Misc),
        bus: Some("PCI"),
        user_creatable: true,
        hotpluggable: false,
    },
    CCW_DEVICE,
    // Abstract too, and `hw/s390x/s390-ccw.c: s390_ccw_class_init` changes
    // none of the class settings it inherits.
    Meta {
        name: "s390-ccw",
        parent: "ccw-device",
        ..CCW_DEVICE
    },
    Meta {
        name: "vfio-ccw",
        parent: "s390-ccw",
        abstract_: false,
        desc: Some("VFIO-based subchannel assignment"),
        category: Some(Category::Misc),
        bus: Some("virtual-css-bus"),
        user_creatable: true,
        hotpluggable: true,
    },
    Meta {
        name: "ap-device",
        parent: "device",
        abstract_: true,
        desc: Some("AP device class"),
        category: None,
        bus: None,
        user_creatable: true,
        hotpluggable: false,
    },
    Meta {
        name: "vfio-ap",
        parent: "ap-device",
        abstract_: false,
        desc: Some("VFIO-based AP device assignment"),
        category: Some(Category::Misc),
        bus: Some("ap-bus"),
        user_creatable: true,
        hotpluggable: true,
    },
];

#[test]
fn device_type_metadata_matches_reference() {
    for m in META {
        let t = info(m.name);
        let at = m.name;
        assert_eq!(t.parent.map(|p| p.name), Some(m.parent), "{at}: parent");
        assert_eq!(t.abstract_, m.abstract_, "{at}: abstract");
        assert_eq!(
            t.instantiate.is_none(),
            m.abstract_,
            "{at}: constructor iff concrete"
        );
        assert_eq!(t.effective_description(), m.desc, "{at}: desc");
        assert!(t.is_device(), "{at}: is a device");
        assert!(t.is_a("device"), "{at}: derives from device");
        let meta = t.device_meta().unwrap();
        assert_eq!(meta.category, m.category, "{at}: category");
        assert_eq!(meta.bus, m.bus, "{at}: bus");
        assert_eq!(
            meta.user_creatable, m.user_creatable,
            "{at}: user-creatable"
        );
        assert_eq!(meta.hotpluggable, m.hotpluggable, "{at}: hotpluggable");
    }
    // "(inherited)" in the reference: vfio-pci declares no category of its
    // own, vfio-pci-nohotplug no description of its own.
    let TypeKind::Device(own) = info("vfio-pci").kind else {
        panic!()
    };
    assert_eq!(own.category, None);
    assert_eq!(info("vfio-pci-nohotplug").description, None);
    // The full parent chains.
    let chain = |t: &str| -> Vec<&str> { info(t).lineage().map(|t| t.name).collect() };
    assert_eq!(
        chain("vfio-pci-nohotplug"),
        [
            "object",
            "device",
            "pci-device",
            "vfio-pci-device",
            "vfio-pci",
            "vfio-pci-nohotplug"
        ]
    );
    assert_eq!(
        chain("vfio-ccw"),
        ["object", "device", "ccw-device", "s390-ccw", "vfio-ccw"]
    );
    assert_eq!(
        chain("vfio-ap"),
        ["object", "device", "ap-device", "vfio-ap"]
    );
}

#[test]
fn iommufd_type_metadata_matches_reference() {
    let t = info("iommufd");
    assert_eq!(t.parent.map(|p| p.name), Some("object"));
    assert!(!t.abstract_ && t.instantiate.is_some());
    assert!(!t.is_device() && t.device_meta().is_none());
    assert!(t.is_user_creatable_object());
    assert_eq!(t.effective_description(), None);
    assert_eq!(
        t.lineage().map(|t| t.name).collect::<Vec<_>>(),
        ["object", "iommufd"]
    );
}

#[test]
fn abstract_and_concrete_types_behave_at_device_add() {
    // `system/qdev-monitor.c: qdev_get_device_class`: an abstract type is
    // refused as a driver; the concrete ones are user-creatable.
    let mut tree = qomgen::ObjectTree::new();
    for t in [
        "pci-device",
        "vfio-pci-device",
        "ccw-device",
        "s390-ccw",
        "ap-device",
    ] {
        let (m, _) = common::err(tree.device_add(t));
        assert_eq!(
            m, "Parameter 'driver' expects a non-abstract device type",
            "{t}"
        );
    }
    let (m, _) = common::err(tree.object_add("vfio-pci,id=x"));
    assert_eq!(m, "Parameter 'qom-type' does not accept value 'vfio-pci'");
    let (m, _) = common::err(tree.device_add("iommufd"));
    assert_eq!(m, "'iommufd' is not a valid device model name");
    assert!(tree.is_empty());
}

#[test]
fn read_only_and_write_only_properties_refuse_like_qemu() {
    // `qom/object.c: object_property_set` / `object_property_get`: setting a
    // read-only property, reading a write-only one.
    let mut tree = qomgen::ObjectTree::new();
    let (m, _) = common::err(tree.device_add("vfio-pci,busnr=1"));
    assert_eq!(m, "Property 'vfio-pci.busnr' is not writable");
    for p in ["dev_id", "subch_id"] {
        let (m, _) = common::err(tree.device_add(&format!("vfio-ccw,{p}=fe.1.23ab")));
        assert_eq!(m, format!("Property 'vfio-ccw.{p}' is not writable"));
    }
    let inst = tree.instantiate("vfio-ap").unwrap();
    let (m, _) = common::err(qomgen::ObjectTree::get(inst.object(), "fd"));
    assert_eq!(m, "Property 'vfio-ap.fd' is not readable");
    let inst = tree.instantiate("iommufd").unwrap();
    let (m, _) = common::err(qomgen::ObjectTree::get(inst.object(), "fd"));
    assert_eq!(m, "Property 'iommufd.fd' is not readable");
    assert!(tree.is_empty());
}
