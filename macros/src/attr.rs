//! The parsed attributes, `#[object(...)]`, `#[device(...)]`, `#[prop(...)]`
//! and `#[property_enum(...)]` (their keys are [`crate::symbol`]'s), and
//! doc comments, as typed values that keep their spans.

use proc_macro2::Span;
use syn::{Attribute, Expr, Ident, Path};

use crate::ctxt::Ctxt;
use crate::symbol;

/// A value together with the tokens it was written as, for error spans.
pub struct Spanned<T> {
    pub value: T,
    pub span: Span,
}

#[derive(Default)]
pub struct TypeAttrs {
    pub name: Option<Spanned<String>>,
    pub abstract_: Option<Span>,
    pub user_creatable: Option<Spanned<bool>>,
    pub hotpluggable: Option<Spanned<bool>>,
    pub category: Option<Ident>,
    pub bus: Option<Spanned<String>>,
    pub desc: Option<Spanned<String>>,
    pub no_desc: Option<Span>,
}

#[derive(Default)]
pub struct PropAttrs {
    /// Span of the `#[prop]` attribute itself.
    pub span: Option<Span>,
    pub name: Option<Spanned<String>>,
    pub desc: Option<Spanned<String>>,
    pub since: Option<Spanned<String>>,
    pub default: Option<Expr>,
    pub link: Option<Spanned<String>>,
    pub write_only: Option<Span>,
    pub read_only: Option<Span>,
    pub setter: Option<Path>,
    pub set_after_realize: Option<Span>,
    /// `skip`: the field is no property, only state (with `default = ...`
    /// as its initial value).
    pub skip: Option<Span>,
    /// `flatten`: the field is a property group whose properties the
    /// type takes as its own.
    pub flatten: Option<Span>,
    /// `member(...)`: where a flattened group's member goes, and its
    /// `since` in this type.
    pub members: Vec<MemberAttrs>,
    /// The attribute did not parse (its error is recorded): the keys after
    /// the mistake are missing, so the model checks skip the field rather
    /// than report what is only the parse error's consequence.
    pub failed: bool,
}

/// One `member(name = "...", since = "...", before = "...")` of a
/// flattened field.
pub struct MemberAttrs {
    /// Span of the `member` key.
    pub span: Span,
    pub name: Option<Spanned<String>>,
    pub since: Option<Spanned<String>>,
    /// The type's own property the member goes before (else: at the
    /// flattened field's place).
    pub before: Option<Spanned<String>>,
}

impl Default for MemberAttrs {
    fn default() -> Self {
        MemberAttrs {
            span: Span::call_site(),
            name: None,
            since: None,
            before: None,
        }
    }
}

/// `#[property_enum(...)]`.
#[derive(Default)]
pub struct EnumAttrs {
    pub name: Option<Spanned<String>>,
    pub desc: Option<Spanned<String>>,
}

/// Parses the type-level attribute (`object` or `device`).
pub fn type_attrs(cx: &mut Ctxt, attrs: &[Attribute], attr_name: &str) -> TypeAttrs {
    let mut out = TypeAttrs::default();
    for attr in attrs.iter().filter(|a| a.path().is_ident(attr_name)) {
        if let Err(e) = symbol::parse(cx, attr, attr_name, symbol::TYPE, &mut out) {
            cx.push(e);
        }
    }
    out
}

/// Parses an enum's `#[property_enum(...)]` attributes.
pub fn enum_attrs(cx: &mut Ctxt, attrs: &[Attribute]) -> EnumAttrs {
    let mut out = EnumAttrs::default();
    for attr in attrs.iter().filter(|a| a.path().is_ident("property_enum")) {
        if let Err(e) = symbol::parse(cx, attr, "property_enum", symbol::PROPERTY_ENUM, &mut out) {
            cx.push(e);
        }
    }
    out
}

/// Parses a field's `#[prop(...)]` attributes; `None` when it has none.
pub fn prop_attrs(cx: &mut Ctxt, attrs: &[Attribute]) -> Option<PropAttrs> {
    let mut out: Option<PropAttrs> = None;
    for attr in attrs.iter().filter(|a| a.path().is_ident("prop")) {
        let p = out.get_or_insert_with(PropAttrs::default);
        if p.span.is_some() {
            cx.error_spanned_by(attr, "only one #[prop(...)] attribute is allowed per field");
            continue;
        }
        p.span = Some(
            attr.path()
                .segments
                .first()
                .map_or_else(Span::call_site, |s| s.ident.span()),
        );
        if matches!(attr.meta, syn::Meta::Path(_)) {
            continue;
        }
        if let Err(e) = symbol::parse(cx, attr, "prop", symbol::PROP_KEYS, p) {
            cx.push(e);
            p.failed = true;
        }
    }
    out
}

/// The first paragraph of the doc comment, lines joined by spaces, as
/// rustdoc reads it: a block comment (`/** ... */`) is split into lines,
/// each without its leading whitespace and `*`. Second: the value of a
/// `#[doc = ...]` in that paragraph that is no string literal
/// (`concat!(...)`, `include_str!(...)`), which the derive cannot read.
pub fn doc_text(attrs: &[Attribute]) -> (Option<String>, Option<&Expr>) {
    let mut lines: Vec<String> = Vec::new();
    for attr in attrs.iter().filter(|a| a.path().is_ident("doc")) {
        let syn::Meta::NameValue(nv) = &attr.meta else {
            continue;
        };
        let Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Str(s),
            ..
        }) = &nv.value
        else {
            return (
                (!lines.is_empty()).then(|| lines.join(" ")),
                Some(&nv.value),
            );
        };
        let v = s.value();
        // A block comment's lines after the first carry a `*` column when
        // every one of them does (rustdoc's rule); a line comment is one
        // line, where a `*` is text (a list item).
        let star_column = v
            .lines()
            .skip(1)
            .filter(|l| !l.trim().is_empty())
            .all(|l| l.trim_start().starts_with('*'));
        for (i, line) in v.split('\n').enumerate() {
            let t = line.trim();
            let t = match t.strip_prefix('*') {
                Some(rest) if i > 0 && star_column => rest.trim_start(),
                _ => t,
            };
            if t.is_empty() {
                if lines.is_empty() {
                    continue;
                }
                return (Some(lines.join(" ")), None);
            }
            lines.push(t.to_owned());
        }
    }
    ((!lines.is_empty()).then(|| lines.join(" ")), None)
}

/// Whether the field carries `#[parent]`.
pub fn parent_attr(attrs: &[Attribute]) -> Option<&Attribute> {
    attrs.iter().find(|a| a.path().is_ident("parent"))
}
