//! Parses `#[object(...)]`, `#[device(...)]`, `#[prop(...)]` and doc
//! comments into typed values that keep their spans.

use proc_macro2::Span;
use syn::meta::ParseNestedMeta;
use syn::{Attribute, Expr, Ident, LitBool, LitStr, Path, Token};

use crate::ctxt::Ctxt;

/// A value together with the tokens it was written as, for error spans.
pub struct Spanned<T> {
    pub value: T,
    pub span: Span,
}

/// Keys accepted in `#[object(...)]`.
pub const OBJECT_KEYS: &[&str] = &["name", "abstract", "user_creatable", "desc", "no_desc"];
/// Keys accepted in `#[device(...)]`.
pub const DEVICE_KEYS: &[&str] = &[
    "name",
    "abstract",
    "category",
    "bus",
    "user_creatable",
    "hotpluggable",
    "desc",
    "no_desc",
];
/// Keys accepted in `#[prop(...)]`.
pub const PROP_KEYS: &[&str] = &[
    "name",
    "desc",
    "since",
    "default",
    "link",
    "write_only",
    "read_only",
    "setter",
    "set_after_realize",
    "skip",
];

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
    /// The attribute did not parse (its error is recorded): the keys after
    /// the mistake are missing, so the model checks skip the field rather
    /// than report what is only the parse error's consequence.
    pub failed: bool,
}

/// The closest known key, for "did you mean" on a misspelt one.
fn suggest<'a>(wrong: &str, known: &[&'a str]) -> Option<&'a str> {
    fn distance(a: &str, b: &str) -> usize {
        let b: Vec<char> = b.chars().collect();
        let mut prev: Vec<usize> = (0..=b.len()).collect();
        for (i, ca) in a.chars().enumerate() {
            let mut cur = vec![i + 1; b.len() + 1];
            for (j, &cb) in b.iter().enumerate() {
                cur[j + 1] = (prev[j] + usize::from(ca != cb))
                    .min(prev[j + 1] + 1)
                    .min(cur[j] + 1);
            }
            prev = cur;
        }
        prev[b.len()]
    }
    known
        .iter()
        .map(|k| (distance(wrong, k), *k))
        .filter(|&(d, k)| d <= (k.len() / 3).max(1))
        .min()
        .map(|(_, k)| k)
}

fn unknown_key(cx: &mut Ctxt, meta: &ParseNestedMeta<'_>, attr: &str, known: &[&str]) {
    let key = meta
        .path
        .get_ident()
        .map(ToString::to_string)
        .unwrap_or_else(|| {
            meta.path
                .segments
                .iter()
                .map(|s| s.ident.to_string())
                .collect::<Vec<_>>()
                .join("::")
        });
    let mut msg = format!("unknown {attr} attribute `{key}`");
    match suggest(&key, known) {
        Some(s) => msg.push_str(&format!("; did you mean `{s}`?")),
        None => msg.push_str(&format!("; expected one of: {}", known.join(", "))),
    }
    cx.error_spanned_by(&meta.path, msg);
    skip_value(meta);
}

/// Consumes an unknown key's value (`= ...` up to the next top-level `,`,
/// or a `(...)` group), whatever it is (`kind = Option<u32>` is no
/// expression), so parsing of the following keys goes on without a second
/// error for the same mistake.
pub fn skip_value(meta: &ParseNestedMeta<'_>) {
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

fn set_once<T>(
    cx: &mut Ctxt,
    slot: &mut Option<T>,
    value: T,
    meta: &ParseNestedMeta<'_>,
    attr: &str,
) {
    if slot.is_some() {
        let key = meta
            .path
            .get_ident()
            .map(ToString::to_string)
            .unwrap_or_default();
        cx.error_spanned_by(&meta.path, format!("duplicate `{key}` in #[{attr}(...)]"));
    } else {
        *slot = Some(value);
    }
}

fn lit_str(meta: &ParseNestedMeta<'_>) -> syn::Result<Spanned<String>> {
    let lit: LitStr = meta.value()?.parse()?;
    Ok(Spanned {
        value: lit.value(),
        span: lit.span(),
    })
}

/// A flag, optionally written `flag = true`/`flag = false` (every flag of
/// every attribute: `= false` is the flag's absence).
fn flag(meta: &ParseNestedMeta<'_>) -> syn::Result<Spanned<bool>> {
    if meta.input.peek(Token![=]) {
        let value = meta.value()?;
        if !value.peek(LitBool) {
            let key = meta
                .path
                .get_ident()
                .map(ToString::to_string)
                .unwrap_or_default();
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
            span: meta.path.span_of_first(),
        })
    }
}

trait SpanOfFirst {
    fn span_of_first(&self) -> Span;
}

impl SpanOfFirst for Path {
    fn span_of_first(&self) -> Span {
        self.segments
            .first()
            .map_or_else(Span::call_site, |s| s.ident.span())
    }
}

/// Parses the type-level attribute (`object` or `device`).
pub fn type_attrs(cx: &mut Ctxt, attrs: &[Attribute], attr_name: &str) -> TypeAttrs {
    let known = if attr_name == "device" {
        DEVICE_KEYS
    } else {
        OBJECT_KEYS
    };
    let mut out = TypeAttrs::default();
    for attr in attrs.iter().filter(|a| a.path().is_ident(attr_name)) {
        let res = attr.parse_nested_meta(|meta| {
            let key = meta
                .path
                .get_ident()
                .map(ToString::to_string)
                .unwrap_or_default();
            if !known.contains(&key.as_str()) {
                unknown_key(cx, &meta, attr_name, known);
                return Ok(());
            }
            match key.as_str() {
                "name" => {
                    let v = lit_str(&meta)?;
                    set_once(cx, &mut out.name, v, &meta, attr_name);
                }
                "desc" => {
                    let v = lit_str(&meta)?;
                    set_once(cx, &mut out.desc, v, &meta, attr_name);
                }
                "bus" => {
                    let v = lit_str(&meta)?;
                    set_once(cx, &mut out.bus, v, &meta, attr_name);
                }
                "category" => {
                    let v: Ident = meta.value()?.parse()?;
                    set_once(cx, &mut out.category, v, &meta, attr_name);
                }
                "abstract" => {
                    if flag(&meta)?.value {
                        let s = meta.path.span_of_first();
                        set_once(cx, &mut out.abstract_, s, &meta, attr_name);
                    }
                }
                "no_desc" => {
                    if flag(&meta)?.value {
                        let s = meta.path.span_of_first();
                        set_once(cx, &mut out.no_desc, s, &meta, attr_name);
                    }
                }
                "user_creatable" => {
                    let v = flag(&meta)?;
                    set_once(cx, &mut out.user_creatable, v, &meta, attr_name);
                }
                "hotpluggable" => {
                    let v = flag(&meta)?;
                    set_once(cx, &mut out.hotpluggable, v, &meta, attr_name);
                }
                _ => unknown_key(cx, &meta, attr_name, known),
            }
            Ok(())
        });
        if let Err(e) = res {
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
        p.span = Some(attr.path().span_of_first());
        if matches!(attr.meta, syn::Meta::Path(_)) {
            continue;
        }
        let res = attr.parse_nested_meta(|meta| {
            let key = meta
                .path
                .get_ident()
                .map(ToString::to_string)
                .unwrap_or_default();
            match key.as_str() {
                "name" => {
                    let v = lit_str(&meta)?;
                    set_once(cx, &mut p.name, v, &meta, "prop");
                }
                "desc" => {
                    let v = lit_str(&meta)?;
                    set_once(cx, &mut p.desc, v, &meta, "prop");
                }
                "since" => {
                    let v = lit_str(&meta)?;
                    set_once(cx, &mut p.since, v, &meta, "prop");
                }
                "link" => {
                    let v = lit_str(&meta)?;
                    set_once(cx, &mut p.link, v, &meta, "prop");
                }
                "default" => {
                    let v: Expr = meta.value()?.parse()?;
                    set_once(cx, &mut p.default, v, &meta, "prop");
                }
                "setter" => {
                    let value = meta.value()?;
                    if value.peek(LitStr) {
                        let l: LitStr = value.parse()?;
                        return Err(syn::Error::new(
                            l.span(),
                            format!(
                                "`setter` takes a path, not a string: `setter = {}`",
                                l.value()
                            ),
                        ));
                    }
                    let v: Path = value.parse()?;
                    set_once(cx, &mut p.setter, v, &meta, "prop");
                }
                "write_only" => {
                    if flag(&meta)?.value {
                        let s = meta.path.span_of_first();
                        set_once(cx, &mut p.write_only, s, &meta, "prop");
                    }
                }
                "read_only" => {
                    if flag(&meta)?.value {
                        let s = meta.path.span_of_first();
                        set_once(cx, &mut p.read_only, s, &meta, "prop");
                    }
                }
                "set_after_realize" => {
                    if flag(&meta)?.value {
                        let s = meta.path.span_of_first();
                        set_once(cx, &mut p.set_after_realize, s, &meta, "prop");
                    }
                }
                "skip" => {
                    if flag(&meta)?.value {
                        let s = meta.path.span_of_first();
                        set_once(cx, &mut p.skip, s, &meta, "prop");
                    }
                }
                _ => unknown_key(cx, &meta, "prop", PROP_KEYS),
            }
            Ok(())
        });
        if let Err(e) = res {
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
