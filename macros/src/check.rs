//! Checks on the model, one function per rule; every violation is
//! collected with the span of the offending token.

use std::collections::HashMap;

use crate::ast::{Flavor, Input, generic_arg_of};
use crate::ctxt::Ctxt;

pub fn check(cx: &mut Ctxt, input: &Input<'_>) {
    check_type_name(cx, input);
    check_duplicate_names(cx, input);
    for (field, p) in input.props().filter(|(_, p)| !p.failed) {
        check_prop_name(cx, input.flavor, field, p);
        check_since(cx, p);
        check_link(cx, field, p);
        check_access(cx, p);
        check_default(cx, p);
        check_field_doc(cx, field, p);
    }
    check_desc(cx, input);
    check_type_doc(cx, input);
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

fn valid_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("is empty");
    }
    if !name.chars().next().is_some_and(|c| c.is_ascii_alphabetic()) {
        return Err("must start with a letter");
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        return Err(match c {
            ',' | '=' => "contains `,` or `=`, which the option syntax cannot carry",
            _ => "may contain only letters, digits, `-`, `_` and `.`",
        });
    }
    Ok(())
}

fn check_type_name(cx: &mut Ctxt, input: &Input<'_>) {
    if let Some(n) = &input.attrs.name
        && let Err(why) = valid_name(&n.value)
    {
        cx.push(syn::Error::new(
            n.span,
            format!("type name `{}` {why}", n.value),
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
/// QEMU aborts on a second property of the same name. The runtime's list
/// (`runtime/src/introspect/reserved.rs`, what introspection hides and
/// adds) is the same: the test below compares them.
const OBJECT_RESERVED: &[&str] = &["type"];
const DEVICE_RESERVED: &[&str] = &["realized", "hotpluggable", "hotplugged", "parent_bus"];
/// qdev's legacy properties, which device help hides.
const DEVICE_RESERVED_PREFIX: &str = "legacy-";

fn reserved_name(name: &str, flavor: Flavor) -> Option<String> {
    if OBJECT_RESERVED.contains(&name) {
        return Some(format!(
            "property name `{name}` is reserved: QOM gives every object a `{name}` property"
        ));
    }
    if flavor == Flavor::Device {
        if DEVICE_RESERVED.contains(&name) {
            return Some(format!(
                "property name `{name}` is reserved: QEMU gives every device a `{name}` property"
            ));
        }
        if name.starts_with(DEVICE_RESERVED_PREFIX) {
            return Some(format!(
                "property name `{name}` is reserved: the `{DEVICE_RESERVED_PREFIX}` prefix is for qdev's legacy properties, which device help hides"
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
    let msg = match valid_name(&name) {
        Err(why) => format!("property name `{name}` {why}"),
        Ok(()) => match reserved_name(&name, flavor) {
            Some(msg) => msg,
            None => return,
        },
    };
    match &p.name {
        Some(n) => cx.push(syn::Error::new(n.span, msg)),
        None => cx.error_spanned_by(field.ident, msg),
    }
}

fn check_since(cx: &mut Ctxt, p: &crate::attr::PropAttrs) {
    let Some(since) = &p.since else { return };
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
            if let Err(why) = valid_name(&l.value) {
                cx.push(syn::Error::new(l.span, format!("link target type `{}` {why}", l.value)));
            }
        }
        (None, false) => {}
    }
}

/// `default = None` would put an empty default in the table, where QEMU's
/// properties without a default show none; an `Option` field starts as
/// `None` without it.
fn check_default(cx: &mut Ctxt, p: &crate::attr::PropAttrs) {
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
    }
}
