//! The workloads the Criterion benches in `benches/` measure, kept here so
//! that `cargo test` checks they do what the benches claim (a bench that
//! times an error path by mistake measures nothing useful).
//!
//! Results and how to reproduce them: `BENCHMARKS.md` at the workspace root.

use qomgen::{Instance, ObjectTree, Result, Spec, SpecKind, TypeInfo};

pub mod pci;

/// A bench's `main`: Criterion over `targets` with the settings every
/// bench here uses (1 s warm-up, 3 s measurement).
#[macro_export]
macro_rules! bench_main {
    ($($target:path),+ $(,)?) => {
        criterion::criterion_group! {
            name = benches;
            config = criterion::Criterion::default()
                .warm_up_time(std::time::Duration::from_secs(1))
                .measurement_time(std::time::Duration::from_secs(3));
            targets = $($target),+
        }
        criterion::criterion_main!(benches);
    };
}

/// The type every bench works on: `vfio-pci`, 55 properties with the
/// inherited `pci-device` ones.
pub const VFIO_PCI: &str = "vfio-pci";

/// A `-device vfio-pci,...` argument with `id` and 20 properties, a mix of
/// every kind `vfio-pci` has (PCI addresses, UUID, bool, integers, sizes,
/// enums, strings), as a management tool would write it.
pub const VFIO_PCI_SPEC_20: &str = "vfio-pci,id=gpu0,\
host=0000:01:00.0,\
addr=06.0,\
vf-token=2ab0a9a3-2c1e-4f4b-9d0b-2a4a3e0c1d2e,\
sysfsdev=/sys/bus/pci/devices/0000:01:00.0,\
x-vga=on,\
x-req=off,\
multifunction=on,\
display=on,\
xres=1920,\
yres=1080,\
x-intx-mmap-timeout-ms=0x44c,\
x-pci-vendor-id=0x10de,\
x-pci-device-id=0x1db6,\
rombar=0,\
acpi-index=12,\
bootindex=1,\
x-msix-relocation=bar2,\
enable-migration=off,\
x-max-bounce-buffer-size=64k,\
x-migration-max-queued-buffers-size=1.5G";

/// The same device as [`VFIO_PCI_SPEC_20`] in JSON syntax (`-device {...}`,
/// QMP's `device_add`): JSON numbers and booleans, strings where QMP takes
/// strings.
pub const VFIO_PCI_JSON_20: &str = r#"{"driver":"vfio-pci","id":"gpu0",
"host":"0000:01:00.0",
"addr":"06.0",
"vf-token":"2ab0a9a3-2c1e-4f4b-9d0b-2a4a3e0c1d2e",
"sysfsdev":"/sys/bus/pci/devices/0000:01:00.0",
"x-vga":true,
"x-req":false,
"multifunction":true,
"display":"on",
"xres":1920,
"yres":1080,
"x-intx-mmap-timeout-ms":1100,
"x-pci-vendor-id":4318,
"x-pci-device-id":7606,
"rombar":0,
"acpi-index":12,
"bootindex":1,
"x-msix-relocation":"bar2",
"enable-migration":"off",
"x-max-bounce-buffer-size":65536,
"x-migration-max-queued-buffers-size":1610612736}"#;

/// Keeps the devices crate's registrations in the bench binaries and
/// returns `vfio-pci`'s type.
///
/// # Panics
/// If `vfio-pci` is not registered, or the registry reports a problem.
pub fn vfio_pci() -> &'static TypeInfo {
    let _ = qomgen_devices::models::register().count();
    let reg = qomgen::registry();
    assert!(reg.problems().is_empty(), "{:?}", reg.problems());
    reg.get(VFIO_PCI).expect("vfio-pci is registered").info
}

/// Every property name of `vfio-pci` (own and inherited), table order.
pub fn vfio_pci_property_names() -> Vec<&'static str> {
    vfio_pci().properties().map(|p| p.name).collect()
}

/// The unit of the parse-and-apply bench: parse a `-device` argument, create
/// the device and set every property (no realize), through the borrowing
/// parse ([`ObjectTree::instantiate_spec`]).
///
/// # Errors
/// Whatever parsing, type lookup or a property reports.
#[inline]
pub fn parse_and_apply(tree: &ObjectTree, spec: &str) -> Result<Instance> {
    tree.instantiate_spec(SpecKind::Device, spec)
}

/// The same through an owned [`Spec`] (`Spec::parse` then
/// `Spec::instantiate`), as callers that keep the parsed spec do.
///
/// # Errors
/// As [`parse_and_apply`].
#[inline]
pub fn parse_owned_and_apply(tree: &ObjectTree, spec: &str) -> Result<Instance> {
    Spec::parse(SpecKind::Device, spec)?.instantiate(tree)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(inst: &Instance) -> serde_json::Map<String, serde_json::Value> {
        vfio_pci()
            .properties()
            .filter(|p| p.readable)
            .map(|p| {
                let v = ObjectTree::get(inst.object(), p.name).unwrap();
                (p.name.to_owned(), v)
            })
            .collect()
    }

    #[test]
    fn table_is_the_size_the_issue_names() {
        let n = vfio_pci_property_names().len();
        assert!((50..=64).contains(&n), "vfio-pci has {n} properties");
    }

    #[test]
    fn spec_has_20_properties_and_applies_cleanly() {
        let spec = Spec::parse(SpecKind::Device, VFIO_PCI_SPEC_20).unwrap();
        assert_eq!(spec.props.len(), 20);
        assert!(spec.warnings.is_empty() && !spec.help);
        assert_eq!(spec.id.as_deref(), Some("gpu0"));
        let tree = ObjectTree::new();
        let inst = parse_and_apply(&tree, VFIO_PCI_SPEC_20).unwrap();
        let p = props(&inst);
        assert_eq!(p["host"], "0000:01:00.0");
        assert_eq!(p["x-vga"], true);
        assert_eq!(p["x-max-bounce-buffer-size"], 65536);
        assert_eq!(p["x-migration-max-queued-buffers-size"], 1_610_612_736_u64);
        // Nothing was added: no realize.
        assert!(tree.is_empty());
    }

    #[test]
    fn borrowed_and_owned_parses_set_the_same_values() {
        let tree = ObjectTree::new();
        let a = parse_and_apply(&tree, VFIO_PCI_SPEC_20).unwrap();
        let b = parse_owned_and_apply(&tree, VFIO_PCI_SPEC_20).unwrap();
        assert_eq!(props(&a), props(&b));
        // A `,,` escape is the one value the borrowed parse copies.
        let escaped = parse_and_apply(&tree, "vfio-pci,sysfsdev=a,,b,x-vga,romfile=c").unwrap();
        assert_eq!(
            ObjectTree::get(escaped.object(), "sysfsdev").unwrap(),
            "a,b"
        );
        assert_eq!(ObjectTree::get(escaped.object(), "x-vga").unwrap(), true);
        assert_eq!(ObjectTree::get(escaped.object(), "romfile").unwrap(), "c");
        assert_eq!(
            parse_and_apply(&tree, "vfio-pci,xres=x")
                .err()
                .map(|e| e.to_string()),
            Some("Parameter 'xres' expects integer".to_owned())
        );
        assert!(parse_and_apply(&tree, "vfio-pci-device").is_err());
    }

    #[test]
    fn json_spec_sets_the_same_values() {
        let spec = Spec::parse(SpecKind::Device, VFIO_PCI_JSON_20).unwrap();
        assert_eq!(spec.props.len(), 20);
        let tree = ObjectTree::new();
        let a = parse_and_apply(&tree, VFIO_PCI_SPEC_20).unwrap();
        let b = parse_and_apply(&tree, VFIO_PCI_JSON_20).unwrap();
        assert_eq!(props(&a), props(&b));
    }
}
