//! The workloads the Criterion benches in `benches/` measure, kept here so
//! that `cargo test` checks they do what the benches claim (a bench that
//! times an error path by mistake measures nothing useful).
//!
//! Results and how to reproduce them: `BENCHMARKS.md` at the workspace root.

use qomgen::{Instance, ObjectTree, Result, Spec, SpecKind, TypeInfo};

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

/// A **prototype**, not the library's API: how fast parse-and-apply could be
/// if the parser lent slices of the argument to the setters instead of
/// building a [`Spec`] of owned `String`s (two allocations per property).
/// BENCHMARKS.md uses it to measure what bounds `spec/parse_apply`.
///
/// It follows QemuOpts where the 20-property spec needs it (implied driver,
/// `,,` escapes, bare flags as `on`, a repeated key keeps its first place
/// and takes the last value, `id`/`bus` not properties, the type checks of
/// `-device`), and leaves out the rest (deprecation warnings, `help`, `id`
/// validation, error texts of the unusual cases).
pub mod zero_copy {
    use std::borrow::Cow;

    use qomgen::{Error, Input, Object, ObjectTree, Result, ValueCx};

    /// Most `-device` arguments have fewer properties; more is an error here.
    const MAX_PROPS: usize = 64;

    /// The item at the start of `s` up to a single `,`: `(name, value, rest)`.
    fn item(s: &str) -> (&str, Option<Cow<'_, str>>, &str) {
        let b = s.as_bytes();
        let end_name = b.iter().position(|&c| c == b'=' || c == b',');
        let Some(eq) = end_name.filter(|&i| b[i] == b'=') else {
            let n = end_name.unwrap_or(b.len());
            return (&s[..n], None, s.get(n + 1..).unwrap_or_default());
        };
        let v = &s[eq + 1..];
        let mut owned: Option<String> = None;
        let mut i = 0;
        loop {
            match v[i..].find(',') {
                None => {
                    let val = match owned {
                        Some(mut o) => {
                            o.push_str(&v[i..]);
                            Cow::Owned(o)
                        }
                        None => Cow::Borrowed(v),
                    };
                    return (&s[..eq], Some(val), "");
                }
                Some(off) if v.as_bytes().get(i + off + 1) == Some(&b',') => {
                    let o = owned.get_or_insert_with(String::new);
                    o.push_str(&v[i..i + off]);
                    o.push(',');
                    i += off + 2;
                }
                Some(off) => {
                    let val = match owned {
                        Some(mut o) => {
                            o.push_str(&v[i..i + off]);
                            Cow::Owned(o)
                        }
                        None => Cow::Borrowed(&v[..i + off]),
                    };
                    return (&s[..eq], Some(val), &v[i + off + 1..]);
                }
            }
        }
    }

    /// Parses `s` and sets every property on a new device (no realize).
    ///
    /// # Errors
    /// Missing or unknown driver, abstract or not creatable type, unknown
    /// property, a value the property refuses, more than 64 properties.
    pub fn parse_and_apply(tree: &ObjectTree, s: &str) -> Result<Box<dyn Object>> {
        let (first, value, mut rest) = item(s);
        let mut driver = match value {
            None => Some(Cow::Borrowed(first)),
            Some(_) => {
                rest = s;
                None
            }
        };
        let mut props: [Option<(&str, Cow<'_, str>)>; MAX_PROPS] = std::array::from_fn(|_| None);
        let mut n = 0;
        while !rest.is_empty() {
            let (k, v, r) = item(rest);
            rest = r;
            let v = v.unwrap_or(Cow::Borrowed("on"));
            match k {
                "id" | "bus" => continue,
                "driver" => driver = Some(v),
                _ => match props[..n].iter_mut().flatten().find(|(key, _)| *key == k) {
                    Some(slot) => slot.1 = v,
                    None => {
                        *props
                            .get_mut(n)
                            .ok_or_else(|| Error::new("too many properties"))? = Some((k, v));
                        n += 1;
                    }
                },
            }
        }
        let driver = driver.ok_or_else(|| Error::missing_parameter("driver"))?;
        let entry = qomgen::registry()
            .get(&driver)
            .filter(|e| e.info.is_device())
            .ok_or_else(|| Error::new(format!("'{driver}' is not a valid device model name")))?;
        let ty = entry.info;
        if ty.abstract_ || !ty.device_meta().is_some_and(|m| m.user_creatable) {
            return Err(Error::new("not a creatable device type"));
        }
        let new = ty.instantiate.ok_or_else(|| Error::new("abstract"))?;
        let mut obj = new();
        for (k, v) in props[..n].iter().flatten() {
            let p = entry
                .property(k)
                .ok_or_else(|| Error::new(format!("Property '{}.{k}' not found", ty.name)))?;
            let set = p.set.ok_or_else(|| Error::new("not writable"))?;
            let cx = ValueCx {
                type_name: ty.name,
                prop: p.name,
                tree: Some(tree),
            };
            set(&mut *obj, p.index, Input::Str(v), &cx)?;
        }
        Ok(obj)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(inst: &Instance) -> serde_json::Map<String, serde_json::Value> {
        vfio_pci()
            .properties()
            .filter(|p| p.get.is_some())
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
    fn zero_copy_prototype_sets_the_same_values() {
        let tree = ObjectTree::new();
        let a = parse_and_apply(&tree, VFIO_PCI_SPEC_20).unwrap();
        let b = zero_copy::parse_and_apply(&tree, VFIO_PCI_SPEC_20).unwrap();
        for p in vfio_pci().properties().filter(|p| p.get.is_some()) {
            assert_eq!(
                ObjectTree::get(a.object(), p.name).unwrap(),
                ObjectTree::get(&*b, p.name).unwrap(),
                "{}",
                p.name
            );
        }
        let escaped =
            zero_copy::parse_and_apply(&tree, "vfio-pci,sysfsdev=a,,b,x-vga,romfile=c").unwrap();
        assert_eq!(ObjectTree::get(&*escaped, "sysfsdev").unwrap(), "a,b");
        assert_eq!(ObjectTree::get(&*escaped, "x-vga").unwrap(), true);
        assert_eq!(ObjectTree::get(&*escaped, "romfile").unwrap(), "c");
        assert!(zero_copy::parse_and_apply(&tree, "vfio-pci,xres=x").is_err());
        assert!(zero_copy::parse_and_apply(&tree, "vfio-pci-device").is_err());
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
