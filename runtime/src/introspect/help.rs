//! The human help texts, byte-compatible with QEMU. Documented in [the module](super).

use std::cmp::Ordering;
use std::fmt::{self, Write};

use super::{
    check_device, device_properties, for_each_sorted, is_creatable_object, lookup_device,
    qom_properties, type_name_cmp,
};
use crate::error::Error;
use crate::kind::DefaultValue;
use crate::property::Property;
use crate::registry::registry;
use crate::types::{Category, TypeInfo};

/// Reports whether a property of a type can work on this host: `None` if
/// it can, `Some(reason)` if it cannot (`/dev/iommu missing`). The type is
/// the one being described (not the ancestor that declares the property).
pub type Availability<'a> = dyn Fn(&'static TypeInfo, &'static Property) -> Option<String> + 'a;

/// How property lines are rendered. The default ([`HelpStyle::QEMU`]) is
/// QEMU's exact text; see the [module docs](crate::introspect) for the extra format.
#[derive(Clone, Copy, Default)]
pub struct HelpStyle<'a> {
    /// Append the `[since ..., unstable, read-only, write-only,
    /// set-after-realize]` tags and the availability note.
    pub extra: bool,
    /// Host availability probe, used only when `extra` is set.
    pub availability: Option<&'a Availability<'a>>,
}

impl HelpStyle<'static> {
    /// QEMU's text, nothing added.
    pub const QEMU: HelpStyle<'static> = HelpStyle {
        extra: false,
        availability: None,
    };

    /// The annotated style, without a host probe.
    pub const EXTRA: HelpStyle<'static> = HelpStyle {
        extra: true,
        availability: None,
    };
}

impl<'a> HelpStyle<'a> {
    /// The annotated style with a host availability probe.
    pub fn extra_with(availability: &'a Availability<'a>) -> Self {
        HelpStyle {
            extra: true,
            availability: Some(availability),
        }
    }
}

impl fmt::Debug for HelpStyle<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HelpStyle")
            .field("extra", &self.extra)
            .field("availability", &self.availability.map(|_| "<callback>"))
            .finish()
    }
}

/// Why a help text could not be produced.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HelpError {
    /// The type cannot be described: QEMU prints this message (after
    /// `<prog>: -device NAME,help: `) and, for `-device`, still exits with
    /// status 0.
    #[error(transparent)]
    Type(#[from] Error),
    /// The writer failed.
    #[error("an error occurred while writing help text")]
    Fmt,
}

impl From<fmt::Error> for HelpError {
    fn from(_: fmt::Error) -> Self {
        HelpError::Fmt
    }
}

impl HelpError {
    /// The error as an object-model [`Error`] (a writer failure becomes a
    /// plain message). Not a `From` impl: another `From` for [`Error`]
    /// would make `.into()`/`?` in derive-generated code ambiguous.
    pub fn into_error(self) -> Error {
        match self {
            HelpError::Type(e) => e,
            HelpError::Fmt => Error::new(HelpError::Fmt.to_string()),
        }
    }
}

/// Column the `" - "` separator is padded to (QEMU's `object_property_help`).
const DESC_COLUMN: usize = 24;

/// One property line as QEMU's `object_property_help` builds it, without
/// the newline: `  name=<type>`, padding to column 24 and ` - ` if there is
/// a description or a default, the description, ` (default: X)`.
///
/// ```
/// use qomgen::DefaultValue;
/// let mut s = String::new();
/// qomgen::introspect::write_property_help(&mut s, "acpi-index", "uint32", None, Some(DefaultValue::UInt(0))).unwrap();
/// assert_eq!(s, "  acpi-index=<uint32>    -  (default: 0)");
/// ```
pub fn write_property_help<W: Write + ?Sized>(
    out: &mut W,
    name: &str,
    type_name: &str,
    description: Option<&str>,
    default: Option<DefaultValue>,
) -> fmt::Result {
    // Plain `write_str`s: `write!` costs a formatting pass per line.
    out.write_str("  ")?;
    out.write_str(name)?;
    out.write_str("=<")?;
    out.write_str(type_name)?;
    out.write_char('>')?;
    if description.is_some() || default.is_some() {
        // Byte length, as GString's `len`.
        let len = 2 + name.len() + 2 + type_name.len() + 1;
        const PAD: &str = "                        ";
        const _: () = assert!(PAD.len() == DESC_COLUMN);
        out.write_str(PAD.get(len..).unwrap_or_default())?;
        out.write_str(" - ")?;
    }
    if let Some(d) = description {
        out.write_str(d)?;
    }
    if let Some(d) = default {
        out.write_str(" (default: ")?;
        match d {
            DefaultValue::Str(s) => out.write_str(s)?,
            d => write!(out, "{d}")?,
        }
        out.write_char(')')?;
    }
    Ok(())
}

/// Writes `[tag, tag]` lazily: the bracket opens with the first tag.
struct Tags<'w, W: ?Sized> {
    out: &'w mut W,
    open: bool,
}

impl<W: Write + ?Sized> Tags<'_, W> {
    fn tag(&mut self, args: fmt::Arguments<'_>) -> fmt::Result {
        self.out.write_str(if self.open { ", " } else { " [" })?;
        self.open = true;
        self.out.write_fmt(args)
    }

    fn close(self) -> fmt::Result {
        if self.open {
            self.out.write_char(']')
        } else {
            Ok(())
        }
    }
}

/// One full line (with newline) for `p` of `ty` in `style`.
fn write_line<W: Write + ?Sized>(
    out: &mut W,
    ty: &'static TypeInfo,
    p: &'static Property,
    style: &HelpStyle<'_>,
) -> fmt::Result {
    write_property_help(out, p.name, p.type_name, p.description, p.default_value())?;
    if style.extra {
        let mut tags = Tags {
            out: &mut *out,
            open: false,
        };
        if let Some(since) = p.since {
            tags.tag(format_args!("since {since}"))?;
        }
        if p.is_unstable() {
            tags.tag(format_args!("unstable"))?;
        }
        if p.is_read_only() {
            tags.tag(format_args!("read-only"))?;
        }
        if p.is_write_only() {
            tags.tag(format_args!("write-only"))?;
        }
        if p.set_after_realize {
            tags.tag(format_args!("set-after-realize"))?;
        }
        tags.close()?;
        if let Some(reason) = style.availability.and_then(|f| f(ty, p)) {
            write!(out, " (unavailable: {reason})")?;
        }
    }
    out.write_char('\n')
}

/// Orders property lines as QEMU's `strcmp` over whole lines does.
///
/// Every line is `"  " + name + "=<" ...`, and names contain no `=` (the
/// derive rejects it: `-device k=v` splits at the first `=`, so such a
/// property could not be set). Claim: for two **different** names `a` and
/// `b`, comparing `a + "="` with `b + "="` bytewise gives the same result
/// as `strcmp` of the two whole lines. Proof:
///
/// * Both lines start with the same two spaces, so `strcmp` is decided
///   from the name onward; from there line `x` reads `x + "=" + rest`.
/// * If neither name is a prefix of the other, they first differ at some
///   index `i < min(len(a), len(b))`. Both lines and both keys agree before
///   `i` and hold `a[i]` and `b[i]` at `i`, so all comparisons decide at
///   `i`, identically (`strcmp` compares as `unsigned char`, Rust compares
///   `u8`).
/// * If `a` is a proper prefix of `b` (the case `b` prefix of `a` is
///   symmetric), everything agrees before index `len(a)`; there line `a`
///   and key `a` both hold `=`, line `b` and key `b` both hold `b[len(a)]`,
///   which exists and is not `=`. So both comparisons decide at that index,
///   on the same two bytes, before either string ends (no terminator is
///   involved). Comparing bare names would be wrong here: `x-igd` <
///   `x-igd-lpc`, but the line `x-igd=...` sorts after `x-igd-lpc=...`
///   because `=` (0x3d) > `-` (0x2d).
/// * The two names cannot be equal, since they are different.
///
/// Names are unique within a type (the registry reports duplicates as a
/// problem); in such a broken table equal names keep table order
/// ([`for_each_sorted`] breaks ties by position) instead of being ordered
/// by the rest of their lines.
fn line_order(a: &Property, b: &Property) -> Ordering {
    // `a + "="` against `b + "="` bytewise, on slices (a chained byte
    // iterator compared one byte per step and dominated the help's cost).
    let (a, b) = (a.name.as_bytes(), b.name.as_bytes());
    let n = a.len().min(b.len());
    a[..n].cmp(&b[..n]).then_with(|| {
        // Equal up to the shorter name: its key continues with `=`; if the
        // longer one has `=` there too, the shorter key ends first.
        let next = |s: &[u8]| s.get(n).copied().unwrap_or(b'=');
        next(a).cmp(&next(b)).then(a.len().cmp(&b.len()))
    })
}

/// The header and sorted lines for `props` of `ty` (shared by `-device`
/// and `-object` help).
fn write_options<W, I>(
    out: &mut W,
    ty: &'static TypeInfo,
    props: I,
    style: &HelpStyle<'_>,
) -> fmt::Result
where
    W: Write + ?Sized,
    I: Iterator<Item = &'static Property> + Clone,
{
    if props.clone().next().is_none() {
        return writeln!(out, "There are no options for {}.", ty.name);
    }
    writeln!(out, "{} options:", ty.name)?;
    for_each_sorted(props, line_order, |p| write_line(out, ty, p, style))
}

/// `-device NAME,help`: the header and one line per property (hidden ones
/// excluded), or the error QEMU prints instead.
///
/// # Errors
/// [`HelpError::Type`] with `Device '%s' not found` or `Parameter
/// 'typename' expects a non-abstract device type` (QEMU prints the error and
/// exits with status 0; help does not check user-creatability);
/// [`HelpError::Fmt`] if the writer fails.
pub fn write_device_help<W: Write + ?Sized>(
    out: &mut W,
    typename: &str,
    style: &HelpStyle<'_>,
) -> Result<(), HelpError> {
    let ty = lookup_device(typename)?;
    write_options(out, ty, device_properties(ty), style)?;
    Ok(())
}

/// [`write_device_help`] for a type given directly (it need not be
/// registered).
///
/// # Errors
/// As [`write_device_help`], except that the type always exists.
pub fn write_device_help_for<W: Write + ?Sized>(
    out: &mut W,
    ty: &'static TypeInfo,
    style: &HelpStyle<'_>,
) -> Result<(), HelpError> {
    check_device(ty)?;
    write_options(out, ty, device_properties(ty), style)?;
    Ok(())
}

/// `-object NAME,help`: the header and one line per property that has a
/// setter (QEMU lists only class properties with a setter, so read-only
/// ones are left out; for a device type that includes the implicit
/// `realized`). QEMU does not check that the type is user-creatable or
/// concrete.
///
/// # Errors
/// [`HelpError::Type`] with `Parameter 'qom-type' does not accept value
/// '%s'` for an unknown type: QEMU's help code does not handle that case
/// and falls through to creating the object, which fails with this error
/// (exit status 1); [`HelpError::Fmt`] if the writer fails.
pub fn write_object_help<W: Write + ?Sized>(
    out: &mut W,
    typename: &str,
    style: &HelpStyle<'_>,
) -> Result<(), HelpError> {
    let ty = registry().get(typename).map(|e| e.info).ok_or_else(|| {
        Error::new(format!(
            "Parameter 'qom-type' does not accept value '{typename}'"
        ))
    })?;
    write_object_help_for(out, ty, style)?;
    Ok(())
}

/// [`write_object_help`] for a type given directly.
///
/// # Errors
/// Only if the writer fails.
pub fn write_object_help_for<W: Write + ?Sized>(
    out: &mut W,
    ty: &'static TypeInfo,
    style: &HelpStyle<'_>,
) -> fmt::Result {
    write_options(out, ty, qom_properties(ty).filter(|p| p.writable), style)
}

/// `-object help`: `List of user creatable objects:` and one `  NAME` line
/// per concrete user-creatable object type, sorted as QEMU sorts (by
/// `strcasecmp`).
///
/// # Errors
/// Only if the writer fails.
pub fn write_object_list<W: Write + ?Sized>(out: &mut W) -> fmt::Result {
    out.write_str("List of user creatable objects:\n")?;
    let types = registry()
        .types()
        .iter()
        .copied()
        .filter(|t| is_creatable_object(t));
    for_each_sorted(
        types,
        |a, b| type_name_cmp(a.name, b.name),
        |t| writeln!(out, "  {}", t.name),
    )
}

/// The category a device is listed under.
fn listed_category(ty: &'static TypeInfo) -> Category {
    ty.device_meta()
        .and_then(|m| m.category)
        .unwrap_or(Category::Uncategorized)
}

/// `-device help` (`show_no_user = false`) or HMP `info qdm`
/// (`show_no_user = true`): the devices by category; see the
/// [module docs](crate::introspect) for the exact layout.
///
/// # Errors
/// Only if the writer fails.
pub fn write_device_list<W: Write + ?Sized>(out: &mut W, show_no_user: bool) -> fmt::Result {
    write_device_list_of(out, registry().types(), show_no_user)
}

/// [`write_device_list`] over the given types.
fn write_device_list_of<W: Write + ?Sized>(
    out: &mut W,
    types: &[&'static TypeInfo],
    show_no_user: bool,
) -> fmt::Result {
    for (i, &cat) in Category::ALL.iter().enumerate() {
        let listed = types.iter().copied().filter(move |t| {
            t.device_meta()
                .is_some_and(|m| !t.abstract_ && (show_no_user || m.user_creatable))
                && listed_category(t) == cat
        });
        if listed.clone().next().is_none() {
            continue;
        }
        // QEMU: qemu_printf("%s%s devices:\n", i ? "\n" : "", cat_name[i]).
        if i != 0 {
            out.write_char('\n')?;
        }
        writeln!(out, "{}", cat.header())?;
        for_each_sorted(
            listed,
            |a, b| type_name_cmp(a.name, b.name),
            |t| write_device_line(out, t),
        )?;
    }
    Ok(())
}

/// `name "%s"[, bus %s][, desc "%s"][, no-user]` (QEMU's `qdev_print_devinfo`).
fn write_device_line<W: Write + ?Sized>(out: &mut W, ty: &'static TypeInfo) -> fmt::Result {
    write!(out, "name \"{}\"", ty.name)?;
    let meta = ty.device_meta();
    if let Some(bus) = meta.and_then(|m| m.bus) {
        write!(out, ", bus {bus}")?;
    }
    if let Some(desc) = ty.effective_description() {
        write!(out, ", desc \"{desc}\"")?;
    }
    if meta.is_some_and(|m| !m.user_creatable) {
        out.write_str(", no-user")?;
    }
    out.write_char('\n')
}

/// [`write_device_list`] into a new `String`.
pub fn device_list_help(show_no_user: bool) -> String {
    let mut s = String::new();
    // Writing into a String cannot fail.
    let _ = write_device_list(&mut s, show_no_user);
    s
}

/// [`write_device_help`] into a new `String`.
///
/// # Errors
/// As [`write_device_help`].
pub fn device_help(typename: &str, style: &HelpStyle<'_>) -> Result<String, Error> {
    let mut s = String::new();
    write_device_help(&mut s, typename, style).map_err(HelpError::into_error)?;
    Ok(s)
}

/// [`write_object_list`] into a new `String`.
pub fn object_list_help() -> String {
    let mut s = String::new();
    let _ = write_object_list(&mut s);
    s
}

/// [`write_object_help`] into a new `String`.
///
/// # Errors
/// As [`write_object_help`].
pub fn object_help(typename: &str, style: &HelpStyle<'_>) -> Result<String, Error> {
    let mut s = String::new();
    write_object_help(&mut s, typename, style).map_err(HelpError::into_error)?;
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::property::{Accessors, PropertyDefault};
    use crate::registry::DEVICE;
    use crate::types::{DeviceMeta, TypeKind};

    /// The owner of the hand-written entries: help never calls accessors.
    static OWNER: TypeInfo = device("owner", &[]);

    const fn prop(
        name: &'static str,
        type_name: &'static str,
        description: Option<&'static str>,
    ) -> Property {
        Property {
            name,
            type_name,
            description,
            default: PropertyDefault::None,
            since: None,
            link_type: None,
            index: 0,
            owner: &OWNER,
            writable: true,
            readable: true,
            set_after_realize: false,
        }
    }

    const fn device(name: &'static str, own_properties: &'static [Property]) -> TypeInfo {
        TypeInfo {
            name,
            parent: Some(&DEVICE),
            abstract_: false,
            description: None,
            kind: TypeKind::Device(DeviceMeta {
                category: None,
                bus: None,
                user_creatable: true,
                hotpluggable: true,
            }),
            own_properties,
            instantiate: None,
            rust_name: "fake",
            accessors: &Accessors::NONE,
        }
    }

    /// vfio-ap's table in QEMU's order: `fd` (setter-only `string`, no
    /// description), `iommufd` (link), `sysfsdev` (`str`).
    static FAKE_AP: TypeInfo = device(
        "vfio-ap",
        &[
            Property {
                readable: false,
                ..prop("fd", "string", None)
            },
            Property {
                link_type: Some("iommufd"),
                since: Some("9.0"),
                ..prop(
                    "iommufd",
                    "link<iommufd>",
                    Some("Set host IOMMUFD backend device"),
                )
            },
            Property {
                since: Some("3.1"),
                ..prop(
                    "sysfsdev",
                    "str",
                    Some("Host sysfs path of assigned device"),
                )
            },
        ],
    );

    /// QEMU 10.2's `-device vfio-ap,help`, verbatim (`system/qdev-monitor.c:
    /// qdev_device_help` over `hw/vfio/ap.c: vfio_ap_properties`).
    const VFIO_AP_REFERENCE: &str = "\
vfio-ap options:
  fd=<string>
  iommufd=<link<iommufd>> - Set host IOMMUFD backend device
  sysfsdev=<str>         - Host sysfs path of assigned device
";

    fn render(ty: &'static TypeInfo, style: &HelpStyle<'_>) -> String {
        let mut s = String::new();
        write_device_help_for(&mut s, ty, style).unwrap();
        s
    }

    #[test]
    fn vfio_ap_block_matches_the_reference_byte_for_byte() {
        assert_eq!(render(&FAKE_AP, &HelpStyle::QEMU), VFIO_AP_REFERENCE);
    }

    #[test]
    fn extra_style_appends_tags_and_availability() {
        let probe = |_: &'static TypeInfo, p: &'static Property| {
            (p.name == "iommufd").then(|| "/dev/iommu missing".to_owned())
        };
        let text = render(&FAKE_AP, &HelpStyle::extra_with(&probe));
        assert_eq!(
            text,
            "\
vfio-ap options:
  fd=<string> [write-only]
  iommufd=<link<iommufd>> - Set host IOMMUFD backend device [since 9.0] (unavailable: /dev/iommu missing)
  sysfsdev=<str>         - Host sysfs path of assigned device [since 3.1]
"
        );
        // Without the probe, only the tags.
        assert!(render(&FAKE_AP, &HelpStyle::EXTRA).contains("device [since 9.0]\n"));
    }

    static PREFIXES: TypeInfo = device(
        "prefixes",
        &[
            prop("x-no-kvm-msix", "bool", None),
            prop("x-igd", "bool", None),
            prop("x-no-kvm-msi", "bool", None),
            prop("x-igd-lpc", "bool", None),
            prop("x-igd2", "bool", None),
            prop("x-igdz", "bool", None),
        ],
    );

    #[test]
    fn lines_sort_as_strcmp_over_whole_lines() {
        let text = render(&PREFIXES, &HelpStyle::QEMU);
        let lines: Vec<&str> = text.lines().skip(1).collect();
        let mut strcmp = lines.clone();
        strcmp.sort_unstable();
        assert_eq!(lines, strcmp);
        assert_eq!(
            lines,
            [
                "  x-igd-lpc=<bool>",
                "  x-igd2=<bool>",
                "  x-igd=<bool>",
                "  x-igdz=<bool>",
                "  x-no-kvm-msi=<bool>",
                "  x-no-kvm-msix=<bool>",
            ]
        );
    }

    const fn listed(
        name: &'static str,
        category: Option<Category>,
        description: Option<&'static str>,
        user_creatable: bool,
    ) -> TypeInfo {
        TypeInfo {
            description,
            kind: TypeKind::Device(DeviceMeta {
                category,
                bus: None,
                user_creatable,
                hotpluggable: true,
            }),
            ..device(name, &[])
        }
    }

    static ZETA: TypeInfo = listed("Zeta", Some(Category::Bridge), None, true);
    static ALPHA: TypeInfo = listed("alpha", Some(Category::Bridge), Some("First"), true);
    static BUILTIN: TypeInfo = listed("builtin", Some(Category::Misc), None, false);
    static EXPLICIT: TypeInfo = listed("explicit", Some(Category::Uncategorized), None, true);
    static FAKE_PCI: TypeInfo = TypeInfo {
        kind: TypeKind::Device(DeviceMeta {
            category: Some(Category::Misc),
            bus: Some("PCI"),
            user_creatable: true,
            hotpluggable: true,
        }),
        description: Some("VFIO-based PCI device assignment"),
        ..device("vfio-pci", &[])
    };

    fn list(types: &[&'static TypeInfo], show_no_user: bool) -> String {
        let mut s = String::new();
        write_device_list_of(&mut s, types, show_no_user).unwrap();
        s
    }

    #[test]
    fn device_list_layout() {
        let types = [
            &ZETA, &FAKE_AP, &BUILTIN, &ALPHA, &DEVICE, &FAKE_PCI, &EXPLICIT,
        ];
        // strcasecmp order inside a category; no category = Uncategorized;
        // the first category has no separator line, the others do.
        assert_eq!(
            list(&types, false),
            "\
Controller/Bridge/Hub devices:
name \"alpha\", desc \"First\"
name \"Zeta\"

Misc devices:
name \"vfio-pci\", bus PCI, desc \"VFIO-based PCI device assignment\"

Uncategorized devices:
name \"explicit\"
name \"vfio-ap\"
"
        );
        assert!(
            list(&types, true)
                .contains("\nMisc devices:\nname \"builtin\", no-user\nname \"vfio-pci\"")
        );
        // Without bridge devices the output starts with QEMU's separator.
        assert_eq!(
            list(&[&FAKE_AP], false),
            "\nUncategorized devices:\nname \"vfio-ap\"\n"
        );
        assert_eq!(list(&[&DEVICE, &BUILTIN], false), "");
    }

    static EMPTY: TypeInfo = device("empty-dev", &[]);

    #[test]
    fn empty_table_says_so() {
        assert_eq!(
            render(&EMPTY, &HelpStyle::QEMU),
            "There are no options for empty-dev.\n"
        );
        let mut s = String::new();
        write_object_help_for(&mut s, &crate::registry::OBJECT, &HelpStyle::QEMU).unwrap();
        assert_eq!(s, "There are no options for object.\n");
    }

    #[test]
    fn padding_rules() {
        let line = |name: &str, ty: &str, d: Option<&str>, def: Option<DefaultValue>| {
            let mut s = String::new();
            write_property_help(&mut s, name, ty, d, def).unwrap();
            s
        };
        // 23 bytes: padded by one.
        assert_eq!(
            line("abcdefghijkl", "str", Some("d"), None),
            "  abcdefghijkl=<str>     - d"
        );
        assert_eq!(
            line("abcdefghijklmnop", "str", Some("d"), None),
            "  abcdefghijklmnop=<str> - d"
        );
        // Exactly 24 bytes: no padding.
        assert_eq!(
            line("abcdefghijklmnopq", "str", Some("d"), None),
            "  abcdefghijklmnopq=<str> - d"
        );
        assert_eq!(line("n", "bool", None, None), "  n=<bool>");
        assert_eq!(
            line("addr", "str", Some("Slot"), Some(DefaultValue::Int(-1))),
            "  addr=<str>             - Slot (default: -1)"
        );
        assert_eq!(
            line("l", "list", None, Some(DefaultValue::EmptyList)),
            "  l=<list>               -  (default: [])"
        );
        assert_eq!(
            line("b", "bool", Some("on/off"), Some(DefaultValue::Bool(true))),
            "  b=<bool>               - on/off (default: on)"
        );
        assert_eq!(
            line("e", "OnOffAuto", None, Some(DefaultValue::Str("auto"))),
            "  e=<OnOffAuto>          -  (default: auto)"
        );
    }

    #[test]
    fn abstract_and_object_types_are_refused_by_device_help() {
        let mut s = String::new();
        let e = write_device_help_for(&mut s, &DEVICE, &HelpStyle::QEMU).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Parameter 'typename' expects a non-abstract device type"
        );
        let e =
            write_device_help_for(&mut s, &crate::registry::OBJECT, &HelpStyle::QEMU).unwrap_err();
        assert!(matches!(e, HelpError::Type(_)));
        assert!(s.is_empty());
    }

    proptest::proptest! {
        /// The claim proven on `line_order`: for different valid names, the
        /// key order equals `strcmp` of the whole rendered lines.
        #[test]
        fn line_order_is_strcmp_of_lines(
            a in "[a-z][a-z0-9._-]{0,6}",
            b in "[a-z][a-z0-9._-]{0,6}",
            ta in "[a-zA-Z<>0-9]{1,12}",
            tb in "[a-zA-Z<>0-9]{1,12}",
            da in proptest::option::of("[ -~]{0,10}"),
            db in proptest::option::of("[ -~]{0,10}"),
            fa in proptest::option::of(proptest::num::i64::ANY),
            fb in proptest::option::of(proptest::num::i64::ANY),
        ) {
            proptest::prop_assume!(a != b);
            let line = |n: &str, t: &str, d: &Option<String>, f: Option<i64>| {
                let mut s = String::new();
                write_property_help(&mut s, n, t, d.as_deref(), f.map(DefaultValue::Int)).unwrap();
                s
            };
            let (la, lb) = (line(&a, &ta, &da, fa), line(&b, &tb, &db, fb));
            let leak = |s: String| -> &'static str { Box::leak(s.into_boxed_str()) };
            let (pa, pb) = (prop(leak(a), "t", None), prop(leak(b), "t", None));
            proptest::prop_assert_eq!(line_order(&pa, &pb), la.as_bytes().cmp(lb.as_bytes()));
        }

        /// No input makes the help entry points panic; errors name the input.
        #[test]
        fn help_never_panics(name in "\\PC{0,20}") {
            let style = HelpStyle::EXTRA;
            match device_help(&name, &style) {
                Ok(text) => proptest::prop_assert!(text.starts_with(&name)),
                Err(e) => proptest::prop_assert!(!e.message().is_empty()),
            }
            let _ = object_help(&name, &HelpStyle::QEMU);
            let _ = crate::introspect::device_list_properties(&name);
            let _ = crate::introspect::qom_list_properties(&name);
            let _ = crate::introspect::qom_list_types(Some(&name), true);
        }
    }

    /// A writer that fails after `n` bytes, to check errors propagate.
    struct Failing(usize);

    impl Write for Failing {
        fn write_str(&mut self, s: &str) -> fmt::Result {
            self.0 = self.0.checked_sub(s.len()).ok_or(fmt::Error)?;
            Ok(())
        }
    }

    #[test]
    fn writer_errors_propagate() {
        for n in 0..VFIO_AP_REFERENCE.len() {
            let r = write_device_help_for(&mut Failing(n), &FAKE_AP, &HelpStyle::QEMU);
            assert_eq!(r, Err(HelpError::Fmt), "{n}");
        }
        assert!(
            write_device_help_for(
                &mut Failing(VFIO_AP_REFERENCE.len()),
                &FAKE_AP,
                &HelpStyle::QEMU
            )
            .is_ok()
        );
    }
}
