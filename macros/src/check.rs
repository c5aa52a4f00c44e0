//! Checks on the model, one function per rule; every violation is
//! collected with the span of the offending token.

use std::collections::HashMap;

use crate::ast::{Flavor, Input, generic_arg_of};
use crate::ctxt::Ctxt;

pub fn check(cx: &mut Ctxt, input: &Input<'_>) {
    if input.flavor != Flavor::Group {
        check_type_name(cx, input);
    }
    check_flatten(cx, input);
    check_duplicate_names(cx, input);
    for (field, p) in input.props().filter(|(_, p)| !p.failed) {
        check_prop_name(cx, input.flavor, field, p);
        check_since(cx, p);
        check_link(cx, field, p);
        check_access(cx, p);
        check_default(cx, field, p);
        check_field_doc(cx, field, p);
    }
    for field in &input.fields {
        if let Some(p) = field.skipped.as_ref().filter(|p| !p.failed) {
            check_skip(cx, p);
        }
    }
    check_desc(cx, input);
    check_type_doc(cx, input);
}

/// `#[prop(flatten)]` fields: only `flatten` and `member(...)`, members
/// that name a property once and go before one of the type's own; and
/// `member(...)` nowhere else.
fn check_flatten(cx: &mut Ctxt, input: &Input<'_>) {
    let stray = input
        .props()
        .map(|(_, p)| p)
        .chain(input.fields.iter().filter_map(|f| f.skipped.as_ref()));
    for p in stray {
        if let Some(m) = p.members.first() {
            cx.push(syn::Error::new(
                m.span,
                "`member(...)` places a member of a flattened property group: it goes with `flatten`",
            ));
        }
    }
    let own: Vec<String> = input.props().map(|(f, _)| f.prop_name()).collect();
    for (field, p) in input.flattened().filter(|(_, p)| !p.failed) {
        if input.flavor == Flavor::Group {
            cx.push(syn::Error::new(
                p.flatten.unwrap_or_else(|| field.ident.span()),
                "a property group cannot flatten another group: flatten both into the type",
            ));
        }
        for (key, span) in property_key_spans(p) {
            if let Some(span) = span {
                cx.push(syn::Error::new(
                    span,
                    format!("`{key}` is for properties, and a `flatten` field is a group of them, declared in its own type: drop `{key}` (a member's `since` goes in `member(name = \"...\", since = \"...\")`)"),
                ));
            }
        }
        let mut named: Vec<&str> = Vec::new();
        for m in &p.members {
            let Some(name) = &m.name else {
                cx.push(syn::Error::new(
                    m.span,
                    "`member(...)` needs `name = \"...\"`, the group member's property name",
                ));
                continue;
            };
            if named.contains(&name.value.as_str()) {
                cx.push(syn::Error::new(
                    name.span,
                    format!("member `{}` is placed twice", name.value),
                ));
            }
            named.push(&name.value);
            if let Some(since) = &m.since {
                check_version(cx, since);
            }
            if let Some(before) = &m.before
                && !own.contains(&before.value)
            {
                let hint =
                    match crate::suggest::closest(&before.value, own.iter().map(String::as_str)) {
                        Some(s) => format!("; did you mean `{s}`?"),
                        None => String::new(),
                    };
                cx.push(syn::Error::new(
                    before.span,
                    format!("`before = \"{}\"` names no property this type declares: a member goes before one of the type's own properties{hint}", before.value),
                ));
            }
        }
    }
}

/// Where each key of `p` that is for a property alone was written, in the
/// order the checks report them (so not `flatten` and `member(...)`,
/// which are for a group).
fn property_key_spans(
    p: &crate::attr::PropAttrs,
) -> [(&'static str, Option<proc_macro2::Span>); 10] {
    [
        ("name", p.name.as_ref().map(|s| s.span)),
        ("desc", p.desc.as_ref().map(|s| s.span)),
        ("since", p.since.as_ref().map(|s| s.span)),
        (
            "default",
            p.default.as_ref().map(syn::spanned::Spanned::span),
        ),
        ("link", p.link.as_ref().map(|s| s.span)),
        ("write_only", p.write_only),
        ("read_only", p.read_only),
        ("setter", p.setter.as_ref().map(syn::spanned::Spanned::span)),
        ("set_after_realize", p.set_after_realize),
        ("skip", p.skip),
    ]
}

/// A `#[prop(skip)]` field is no property: of the keys only `default`,
/// its initial value, means something for it.
fn check_skip(cx: &mut Ctxt, p: &crate::attr::PropAttrs) {
    // `skip` is what makes it no property; `default` is its initial value.
    let spans = property_key_spans(p)
        .into_iter()
        .filter(|(key, _)| !matches!(*key, "default" | "skip"));
    for (key, span) in spans {
        if let Some(span) = span {
            cx.push(syn::Error::new(
                span,
                format!("`{key}` is for properties, and `#[prop(skip)]` makes this field no property: drop `{key}`, or `skip` to make it a property"),
            ));
        }
    }
}

/// A description comes from the doc comment's first paragraph, which the
/// derive reads only from literals: a `#[doc = concat!(...)]` or
/// `#[doc = include_str!(...)]` there would be silently dropped (and an
/// included file is rarely one line), so it needs an explicit description.
fn check_type_doc(cx: &mut Ctxt, input: &Input<'_>) {
    if let (Some(e), None, None) = (input.doc_unreadable, &input.attrs.desc, input.attrs.no_desc) {
        let attr = input.flavor.attr_name();
        cx.error_spanned_by(
            e,
            format!("the type's description is read from its doc comment, which the derive can read only from string literals: give it with `#[{attr}(desc = \"...\")]`, or `#[{attr}(no_desc)]`"),
        );
    }
}

/// [`check_type_doc`] for a property's description.
fn check_field_doc(cx: &mut Ctxt, field: &crate::ast::Field<'_>, p: &crate::attr::PropAttrs) {
    if let (Some(e), None) = (field.doc_unreadable, &p.desc) {
        cx.error_spanned_by(
            e,
            "the property's description is read from its doc comment, which the derive can read only from string literals: give it with `#[prop(desc = \"...\")]`",
        );
    }
}

/// QEMU's rule for QOM type names, which bus names also are (`PCI`,
/// `virtual-css-bus`): `type_name_is_valid()` in qom/object.c, which
/// `type_register_static()` asserts.
const TYPE_NAME_RULE: &str = "QEMU's rule (qom/object.c, type_name_is_valid): at least 2 characters, the first a letter or a digit other than `0`, the others letters, digits, `-`, `_` or `.`";

fn type_name_ok(name: &str) -> bool {
    let b = name.as_bytes();
    b.len() > 1
        && b.first()
            .is_some_and(|c| c.is_ascii_alphanumeric() && *c != b'0')
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

/// QEMU's rule for property names, as option keys: a key fragment of
/// `util/keyval.c` (`qapi-name`), also what QAPI allows for member names.
const PROP_NAME_RULE: &str = "QEMU's rule (util/keyval.c, key-fragment): a QAPI name, `[A-Za-z][A-Za-z0-9_-]*` (optionally after a `__RFQDN_` prefix), at most 127 characters";

/// `parse_qapi_name()` of util/keyval.c over the whole name.
fn qapi_name_ok(name: &str) -> bool {
    let mut s = name.as_bytes();
    if let Some(rest) = s.strip_prefix(b"__") {
        let Some(end) = rest.iter().position(|&c| c == b'_') else {
            return false;
        };
        let (rfqdn, after) = rest.split_at(end);
        if !rfqdn
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.'))
        {
            return false;
        }
        s = after.get(1..).unwrap_or_default();
    }
    name.len() < 128
        && s.first().is_some_and(u8::is_ascii_alphabetic)
        && s.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_'))
}

fn check_type_name(cx: &mut Ctxt, input: &Input<'_>) {
    let name = input.type_name();
    let attr = input.flavor.attr_name();
    let span = input
        .attrs
        .name
        .as_ref()
        .map_or_else(|| input.ident.span(), |n| n.span);
    let from = if input.attrs.name.is_some() {
        String::new()
    } else {
        format!(" (from the Rust name; give one with `#[{attr}(name = \"...\")]`)")
    };
    if !type_name_ok(&name) {
        cx.push(syn::Error::new(
            span,
            format!("type name `{name}`{from} is not a valid QOM type name: {TYPE_NAME_RULE}"),
        ));
    } else if BUILTIN_TYPES.contains(&name.as_str()) {
        cx.push(syn::Error::new(
            span,
            format!("type name `{name}`{from} is taken: qomgen registers the QOM type `{name}` itself, and QEMU refuses a second type of one name (\"Registering `{name}' which already exists\"); choose another name"),
        ));
    }
    if let Some(bus) = &input.attrs.bus
        && !type_name_ok(&bus.value)
    {
        cx.push(syn::Error::new(
            bus.span,
            format!("bus name `{}` is not a valid QOM type name (a bus is a QOM type, as `PCI`): {TYPE_NAME_RULE}", bus.value),
        ));
    }
}

fn check_duplicate_names(cx: &mut Ctxt, input: &Input<'_>) {
    let mut seen: HashMap<String, &syn::Ident> = HashMap::new();
    for (field, _) in input.props().filter(|(_, p)| !p.failed) {
        let name = field.prop_name();
        if let Some(first) = seen.get(&name) {
            cx.error_spanned_by(
                field.ident,
                format!("duplicate property name `{name}`: field `{first}` already declares it"),
            );
        } else {
            seen.insert(name, field.ident);
        }
    }
}

/// Names QOM and qdev give every object (`type`) or device (the rest);
/// QEMU aborts on a second property of the same name. The option keys
/// `-object` and `-device` read themselves, so that a property of their
/// name is never set, and the types qomgen registers. The runtime's lists
/// (`runtime/src/introspect/reserved.rs`, which introspection uses) are the
/// same: the test below compares them.
const OBJECT_RESERVED: &[&str] = &["type"];
const DEVICE_RESERVED: &[&str] = &["realized", "hotpluggable", "hotplugged", "parent_bus"];
/// qdev's legacy properties, which device help hides.
const DEVICE_RESERVED_PREFIX: &str = "legacy-";
const DEVICE_OPTION_KEYS: &[&str] = &["driver", "bus", "id"];
const OBJECT_OPTION_KEYS: &[&str] = &["qom-type", "id"];
const BUILTIN_TYPES: &[&str] = &["object", "device"];

fn reserved_name(name: &str, flavor: Flavor) -> Option<String> {
    // A group may be flattened into either: its names must do for both.
    if flavor == Flavor::Group {
        return reserved_name(name, Flavor::Device).or_else(|| reserved_name(name, Flavor::Object));
    }
    if OBJECT_RESERVED.contains(&name) {
        return Some(format!(
            "property name `{name}` is reserved: QOM gives every object a `{name}` property; rename the property"
        ));
    }
    let (option, keys, source) = match flavor {
        Flavor::Device => (
            "-device",
            DEVICE_OPTION_KEYS,
            "qdev_device_add_from_qdict in system/qdev-monitor.c",
        ),
        Flavor::Object | Flavor::Group => (
            "-object",
            OBJECT_OPTION_KEYS,
            "user_creatable_add_dict in qom/object_interfaces.c",
        ),
    };
    if keys.contains(&name) {
        let list = keys
            .iter()
            .map(|k| format!("`{k}`"))
            .collect::<Vec<_>>()
            .join(", ");
        return Some(format!(
            "property name `{name}` can never be set: `{option}` takes {list} for itself and sets only the other keys as properties (QEMU's {source}); rename the property"
        ));
    }
    if flavor == Flavor::Device {
        if DEVICE_RESERVED.contains(&name) {
            return Some(format!(
                "property name `{name}` is reserved: QEMU gives every device a `{name}` property; rename the property"
            ));
        }
        if name.starts_with(DEVICE_RESERVED_PREFIX) {
            return Some(format!(
                "property name `{name}` is reserved: the `{DEVICE_RESERVED_PREFIX}` prefix is for qdev's legacy properties, which device help hides; rename the property"
            ));
        }
    }
    None
}

fn check_prop_name(
    cx: &mut Ctxt,
    flavor: Flavor,
    field: &crate::ast::Field<'_>,
    p: &crate::attr::PropAttrs,
) {
    let name = field.prop_name();
    let msg = if !qapi_name_ok(&name) {
        let from = if p.name.is_some() {
            ""
        } else {
            " (from the field name; give one with `#[prop(name = \"...\")]`)"
        };
        format!("property name `{name}`{from} is not a valid option key: {PROP_NAME_RULE}")
    } else {
        match reserved_name(&name, flavor) {
            Some(msg) => msg,
            None => return,
        }
    };
    match &p.name {
        Some(n) => cx.push(syn::Error::new(n.span, msg)),
        None => cx.error_spanned_by(field.ident, msg),
    }
}

fn check_since(cx: &mut Ctxt, p: &crate::attr::PropAttrs) {
    if let Some(since) = &p.since {
        check_version(cx, since);
    }
}

fn check_version(cx: &mut Ctxt, since: &crate::attr::Spanned<String>) {
    let parts: Vec<&str> = since.value.split('.').collect();
    let ok = (2..=3).contains(&parts.len())
        && parts
            .iter()
            .all(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()));
    if !ok {
        cx.push(syn::Error::new(
            since.span,
            format!(
                "malformed `since = \"{}\"`: expected a version like \"9.0\" or \"2.12.1\"",
                since.value
            ),
        ));
    }
}

fn check_link(cx: &mut Ctxt, field: &crate::ast::Field<'_>, p: &crate::attr::PropAttrs) {
    let is_link_field = generic_arg_of(&field.ty, "Link").is_some();
    match (&p.link, is_link_field) {
        (Some(l), false) => cx.push(syn::Error::new(
            l.span,
            "`link` needs a field of type `Link<T>` or `Option<Link<T>>`, where `T` is the target object type",
        )),
        (None, true) => cx.error_spanned_by(
            &field.ty,
            "a `Link<T>` property needs `#[prop(link = \"type-name\")]` naming the target's QOM type",
        ),
        (Some(l), true) => {
            if !type_name_ok(&l.value) {
                cx.push(syn::Error::new(
                    l.span,
                    format!("link target type `{}` is not a valid QOM type name: {TYPE_NAME_RULE}", l.value),
                ));
            }
        }
        (None, false) => {}
    }
}

/// `default = None` would put an empty default in the table, where QEMU's
/// properties without a default show none; an `Option` field starts as
/// `None` without it.
fn check_default(cx: &mut Ctxt, field: &crate::ast::Field<'_>, p: &crate::attr::PropAttrs) {
    check_negative_default(cx, field, p);
    if let Some(e @ syn::Expr::Path(path)) = &p.default
        && path.qself.is_none()
        && path.path.is_ident("None")
    {
        cx.error_spanned_by(
            e,
            "`default = None` is no default: an `Option` property starts as `None` without one; drop `default`",
        );
    }
}

/// A negative default on an unsigned integer field would fail twice, in
/// the field's initializer and in the table's rendering of it (`as u64`):
/// one error here instead.
fn check_negative_default(
    cx: &mut Ctxt,
    field: &crate::ast::Field<'_>,
    p: &crate::attr::PropAttrs,
) {
    let Some(e @ syn::Expr::Unary(u)) = &p.default else {
        return;
    };
    let syn::Type::Path(ty) = &field.ty else {
        return;
    };
    let Some(id) = ty.path.get_ident().filter(|_| ty.qself.is_none()) else {
        return;
    };
    let unsigned = ["u8", "u16", "u32", "u64", "usize"];
    if matches!(u.op, syn::UnOp::Neg(_)) && unsigned.iter().any(|t| id == t) {
        cx.error_spanned_by(
            e,
            format!("`default = {}` is negative, and the property's type `{id}` is unsigned: give a value from 0 to `{id}::MAX`, or make the field a signed type", quote::ToTokens::to_token_stream(e).to_string().replace("- ", "-")),
        );
    }
}

fn check_access(cx: &mut Ctxt, p: &crate::attr::PropAttrs) {
    if let (Some(_), Some(r)) = (p.write_only, p.read_only) {
        cx.push(syn::Error::new(
            r,
            "a property cannot be both `write_only` and `read_only`",
        ));
    }
    if let (Some(w), None) = (p.write_only, &p.setter) {
        cx.push(syn::Error::new(
            w,
            "`write_only` needs `setter = path`: a write-only property is set through a function (like QEMU's `fd`)",
        ));
    }
    // A setter receives the value as text, so the property is a QOM
    // `string` (QEMU's `object_property_add_str`, as for `fd`); a getter
    // would read the field back as its own kind, not a string. So a setter
    // makes the property write-only, written out.
    if let (None, None, Some(s)) = (p.write_only, p.read_only, &p.setter) {
        cx.error_spanned_by(
            s,
            "a property with a `setter` must be `write_only`: the setter receives the value as a string, so the property is a QOM `string` that cannot be read back as the field's type",
        );
    }
    if let (Some(r), Some(_)) = (p.read_only, &p.setter) {
        cx.push(syn::Error::new(
            r,
            "a `read_only` property cannot have a `setter`",
        ));
    }
    if let (Some(s), Some(_)) = (p.set_after_realize, p.read_only) {
        cx.push(syn::Error::new(
            s,
            "a `read_only` property cannot be `set_after_realize`",
        ));
    }
    if let (Some(_), Some(l)) = (&p.default, &p.link) {
        cx.push(syn::Error::new(
            l.span,
            "a link property cannot have a `default`",
        ));
    }
}

fn check_desc(cx: &mut Ctxt, input: &Input<'_>) {
    if let (Some(n), Some(_)) = (input.attrs.no_desc, &input.attrs.desc) {
        cx.push(syn::Error::new(n, "`no_desc` contradicts `desc = ...`"));
    }
}

#[cfg(test)]
mod tests {
    mod runtime {
        include!("../../runtime/src/introspect/reserved.rs");
    }

    #[test]
    fn reserved_names_are_the_runtimes() {
        assert_eq!(super::OBJECT_RESERVED, runtime::OBJECT_IMPLICIT_NAMES);
        assert_eq!(super::DEVICE_RESERVED, runtime::DEVICE_IMPLICIT_NAMES);
        assert_eq!(super::DEVICE_RESERVED_PREFIX, runtime::LEGACY_PREFIX);
        assert_eq!(super::DEVICE_OPTION_KEYS, runtime::DEVICE_OPTION_KEYS);
        assert_eq!(super::OBJECT_OPTION_KEYS, runtime::OBJECT_OPTION_KEYS);
        assert_eq!(super::BUILTIN_TYPES, runtime::BUILTIN_TYPE_NAMES);
    }
}
