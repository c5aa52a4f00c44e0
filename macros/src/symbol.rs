//! Every key of the derives' attributes, one entry each: its name, the
//! attributes that take it and its kind, which says how its value is
//! parsed and where it is stored. The parser ([`parse`]) reads keys
//! through these entries alone, and "did you mean" suggests from them, so
//! a key cannot be accepted by one and unknown to the other.
//!
//! `#[parent]` takes no key and `#[value("x")]` one string literal; they
//! are parsed where they are used.

use proc_macro2::Span;
use syn::meta::ParseNestedMeta;
use syn::{Attribute, Expr, Ident, LitBool, LitStr, Path, Token};

use crate::attr::{EnumAttrs, MemberAttrs, PropAttrs, Spanned, TypeAttrs};
use crate::ctxt::Ctxt;

/// What a key's value is, and the field of the parsed attribute it fills.
pub enum Kind<T: 'static> {
    /// A flag: `key`, `key = true`, or `key = false` (the flag's absence).
    Flag(fn(&mut T) -> &mut Option<Span>),
    /// A flag whose `= false` is kept (`hotpluggable = false`).
    Bool(fn(&mut T) -> &mut Option<Spanned<bool>>),
    /// `key = "text"`.
    Str(fn(&mut T) -> &mut Option<Spanned<String>>),
    /// `key = expression`.
    Expr(fn(&mut T) -> &mut Option<Expr>),
    /// `key = path::to::function`.
    Path(fn(&mut T) -> &mut Option<Path>),
    /// `key = Identifier`.
    Ident(fn(&mut T) -> &mut Option<Ident>),
    /// `key(...)` with the keys of [`MEMBER`], any number of times.
    Member(fn(&mut T) -> &mut Vec<MemberAttrs>),
    /// A spelling qomgen does not use, refused with the one it does.
    SpeltAs(&'static str),
}

/// One key of one or more attributes.
pub struct Key<T: 'static> {
    pub name: &'static str,
    /// The attributes that take it (`object`, `device`, ...).
    pub on: &'static [&'static str],
    pub kind: Kind<T>,
}

const fn key<T>(name: &'static str, on: &'static [&'static str], kind: Kind<T>) -> Key<T> {
    Key { name, on, kind }
}

const OBJ_DEV: &[&str] = &["object", "device"];
const DEV: &[&str] = &["device"];
const PROP: &[&str] = &["prop"];

/// `#[object(...)]` and `#[device(...)]`.
pub const TYPE: &[Key<TypeAttrs>] = &[
    key("name", OBJ_DEV, Kind::Str(|a| &mut a.name)),
    key("abstract", OBJ_DEV, Kind::Flag(|a| &mut a.abstract_)),
    key("category", DEV, Kind::Ident(|a| &mut a.category)),
    key("bus", DEV, Kind::Str(|a| &mut a.bus)),
    key(
        "user_creatable",
        OBJ_DEV,
        Kind::Bool(|a| &mut a.user_creatable),
    ),
    key("hotpluggable", DEV, Kind::Bool(|a| &mut a.hotpluggable)),
    key("desc", OBJ_DEV, Kind::Str(|a| &mut a.desc)),
    key("no_desc", OBJ_DEV, Kind::Flag(|a| &mut a.no_desc)),
    key("description", OBJ_DEV, Kind::SpeltAs("desc")),
];

/// `#[prop(...)]`.
pub const PROP_KEYS: &[Key<PropAttrs>] = &[
    key("name", PROP, Kind::Str(|p| &mut p.name)),
    key("desc", PROP, Kind::Str(|p| &mut p.desc)),
    key("since", PROP, Kind::Str(|p| &mut p.since)),
    key("default", PROP, Kind::Expr(|p| &mut p.default)),
    key("link", PROP, Kind::Str(|p| &mut p.link)),
    key("write_only", PROP, Kind::Flag(|p| &mut p.write_only)),
    key("read_only", PROP, Kind::Flag(|p| &mut p.read_only)),
    key("setter", PROP, Kind::Path(|p| &mut p.setter)),
    key(
        "set_after_realize",
        PROP,
        Kind::Flag(|p| &mut p.set_after_realize),
    ),
    key("skip", PROP, Kind::Flag(|p| &mut p.skip)),
    key("flatten", PROP, Kind::Flag(|p| &mut p.flatten)),
    key("member", PROP, Kind::Member(|p| &mut p.members)),
    key("description", PROP, Kind::SpeltAs("desc")),
];

/// `member(...)` of `#[prop(flatten, member(...))]`.
pub const MEMBER: &[Key<MemberAttrs>] = &[
    key("name", &["member"], Kind::Str(|m| &mut m.name)),
    key("since", &["member"], Kind::Str(|m| &mut m.since)),
    key("before", &["member"], Kind::Str(|m| &mut m.before)),
];

/// `#[property_enum(...)]`.
pub const PROPERTY_ENUM: &[Key<EnumAttrs>] = &[
    key("name", &["property_enum"], Kind::Str(|e| &mut e.name)),
    key("desc", &["property_enum"], Kind::Str(|e| &mut e.desc)),
    key("description", &["property_enum"], Kind::SpeltAs("desc")),
];

/// Parses one attribute's keys into `out` through `table`; every mistake
/// is recorded in `cx`. `Err` is a value that did not parse, after which
/// the attribute's remaining keys are not read.
pub fn parse<T>(
    cx: &mut Ctxt,
    attr: &Attribute,
    attr_name: &str,
    table: &'static [Key<T>],
    out: &mut T,
) -> syn::Result<()> {
    attr.parse_nested_meta(|meta| parse_key(cx, &meta, attr_name, table, out))
}

fn parse_key<T>(
    cx: &mut Ctxt,
    meta: &ParseNestedMeta<'_>,
    attr_name: &str,
    table: &'static [Key<T>],
    out: &mut T,
) -> syn::Result<()> {
    let key = meta.path.get_ident().and_then(|id| {
        table
            .iter()
            .find(|k| id == k.name && k.on.contains(&attr_name))
    });
    let Some(key) = key else {
        unknown_key(cx, meta, attr_name, table);
        return Ok(());
    };
    let span_of_key = meta
        .path
        .get_ident()
        .map_or_else(Span::call_site, Ident::span);
    match &key.kind {
        Kind::Flag(slot) => {
            if flag(meta, key.name)?.value {
                set_once(cx, slot(out), span_of_key, meta, key.name, attr_name);
            }
        }
        Kind::Bool(slot) => {
            let v = flag(meta, key.name)?;
            set_once(cx, slot(out), v, meta, key.name, attr_name);
        }
        Kind::Str(slot) => {
            let lit: LitStr = meta.value()?.parse()?;
            let v = Spanned {
                value: lit.value(),
                span: lit.span(),
            };
            set_once(cx, slot(out), v, meta, key.name, attr_name);
        }
        Kind::Expr(slot) => {
            let v: Expr = meta.value()?.parse()?;
            set_once(cx, slot(out), v, meta, key.name, attr_name);
        }
        Kind::Path(slot) => {
            let value = meta.value()?;
            if value.peek(LitStr) {
                let l: LitStr = value.parse()?;
                return Err(syn::Error::new(
                    l.span(),
                    format!(
                        "`{}` takes a path, not a string: `{} = {}`",
                        key.name,
                        key.name,
                        l.value()
                    ),
                ));
            }
            let v: Path = value.parse()?;
            set_once(cx, slot(out), v, meta, key.name, attr_name);
        }
        Kind::Ident(slot) => {
            let v: Ident = meta.value()?.parse()?;
            set_once(cx, slot(out), v, meta, key.name, attr_name);
        }
        Kind::Member(slot) => {
            let mut m = MemberAttrs {
                span: span_of_key,
                ..MemberAttrs::default()
            };
            meta.parse_nested_meta(|inner| parse_key(cx, &inner, key.name, MEMBER, &mut m))?;
            slot(out).push(m);
        }
        Kind::SpeltAs(ours) => {
            cx.error_spanned_by(
                &meta.path,
                format!("#[{attr_name}(...)] spells this key `{ours}`: write `{ours} = ...`"),
            );
            skip_value(meta);
        }
    }
    Ok(())
}

/// The names `attr_name` takes, in table order.
fn known<T>(table: &'static [Key<T>], attr_name: &str) -> impl Iterator<Item = &'static str> {
    let attr_name = attr_name.to_owned();
    table
        .iter()
        .filter(move |k| k.on.contains(&attr_name.as_str()) && !matches!(k.kind, Kind::SpeltAs(_)))
        .map(|k| k.name)
}

fn unknown_key<T>(
    cx: &mut Ctxt,
    meta: &ParseNestedMeta<'_>,
    attr_name: &str,
    table: &'static [Key<T>],
) {
    let key = meta
        .path
        .segments
        .iter()
        .map(|s| s.ident.to_string())
        .collect::<Vec<_>>()
        .join("::");
    let mut msg = format!("unknown {attr_name} attribute `{key}`");
    match crate::suggest::closest(&key, known(table, attr_name)) {
        Some(s) => msg.push_str(&format!("; did you mean `{s}`?")),
        None => msg.push_str(&format!(
            "; expected one of: {}",
            known(table, attr_name).collect::<Vec<_>>().join(", ")
        )),
    }
    cx.error_spanned_by(&meta.path, msg);
    skip_value(meta);
}

/// Consumes an unknown key's value (`= ...` up to the next top-level `,`,
/// or a `(...)` group), whatever it is (`kind = Option<u32>` is no
/// expression), so parsing of the following keys goes on without a second
/// error for the same mistake.
fn skip_value(meta: &ParseNestedMeta<'_>) {
    let input = meta.input;
    if input.peek(syn::token::Paren) {
        let _ = input.parse::<proc_macro2::TokenTree>();
        return;
    }
    if input.parse::<Token![=]>().is_err() {
        return;
    }
    // Angle brackets are no token groups: track their depth so that the
    // `,` of `HashMap<K, V>` does not end the value (`->` and `=>` are no
    // brackets).
    let mut depth = 0usize;
    let mut after_joint_arrow_head = false;
    let _ = input.step(|cursor| {
        let mut rest = *cursor;
        while let Some((tt, next)) = rest.token_tree() {
            if let proc_macro2::TokenTree::Punct(p) = &tt {
                match p.as_char() {
                    ',' if depth == 0 => return Ok(((), rest)),
                    '<' => depth += 1,
                    '>' if !after_joint_arrow_head => depth = depth.saturating_sub(1),
                    _ => {}
                }
                after_joint_arrow_head =
                    matches!(p.as_char(), '-' | '=') && p.spacing() == proc_macro2::Spacing::Joint;
            } else {
                after_joint_arrow_head = false;
            }
            rest = next;
        }
        Ok(((), rest))
    });
}

fn set_once<V>(
    cx: &mut Ctxt,
    slot: &mut Option<V>,
    value: V,
    meta: &ParseNestedMeta<'_>,
    key: &str,
    attr_name: &str,
) {
    if slot.is_some() {
        cx.error_spanned_by(
            &meta.path,
            format!("duplicate `{key}` in #[{attr_name}(...)]"),
        );
    } else {
        *slot = Some(value);
    }
}

/// A flag, optionally written `flag = true`/`flag = false` (every flag of
/// every attribute: `= false` is the flag's absence).
fn flag(meta: &ParseNestedMeta<'_>, key: &str) -> syn::Result<Spanned<bool>> {
    if meta.input.peek(Token![=]) {
        let value = meta.value()?;
        if !value.peek(LitBool) {
            return Err(value.error(format!(
                "`{key}` is a flag: write `{key}`, `{key} = true` or `{key} = false`"
            )));
        }
        let lit: LitBool = value.parse()?;
        Ok(Spanned {
            value: lit.value,
            span: lit.span,
        })
    } else {
        Ok(Spanned {
            value: true,
            span: meta
                .path
                .get_ident()
                .map_or_else(Span::call_site, Ident::span),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A key appears once per attribute, so the first entry is not
    /// silently shadowing a second.
    #[test]
    fn keys_are_unique_per_attribute() {
        fn check<T>(table: &'static [Key<T>]) {
            for (i, k) in table.iter().enumerate() {
                for other in &table[i + 1..] {
                    assert!(
                        other.name != k.name || !other.on.iter().any(|a| k.on.contains(a)),
                        "key `{}` twice",
                        k.name
                    );
                }
            }
        }
        check(TYPE);
        check(PROP_KEYS);
        check(MEMBER);
        check(PROPERTY_ENUM);
    }

    #[test]
    fn suggestions_come_from_the_attributes_keys() {
        assert_eq!(
            crate::suggest::closest("hotplugable", known(TYPE, "device")),
            Some("hotpluggable")
        );
        assert_eq!(
            crate::suggest::closest("hotplugable", known(TYPE, "object")),
            None
        );
        assert_eq!(
            crate::suggest::closest("nmae", known(PROPERTY_ENUM, "property_enum")),
            Some("name")
        );
    }
}
