//! The typed model of a derive input: the struct, its type attributes, its
//! parent field and its properties, each keeping the syntax it came from.

use proc_macro2::{Group, TokenStream, TokenTree};
use quote::ToTokens;
use syn::ext::IdentExt;
use syn::{Data, DeriveInput, Fields, Ident, Type};

use crate::attr::{self, PropAttrs, TypeAttrs};
use crate::ctxt::Ctxt;

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    Object,
    Device,
    /// `#[derive(PropertyGroup)]`: properties for types to flatten.
    Group,
}

impl Flavor {
    pub fn attr_name(self) -> &'static str {
        match self {
            Flavor::Object => "object",
            Flavor::Device => "device",
            Flavor::Group => "property_group",
        }
    }

    pub fn derive_name(self) -> &'static str {
        match self {
            Flavor::Object => "Object",
            Flavor::Device => "Device",
            Flavor::Group => "PropertyGroup",
        }
    }
}

pub struct Input<'a> {
    pub ident: &'a Ident,
    pub flavor: Flavor,
    pub attrs: TypeAttrs,
    pub doc: Option<String>,
    /// A `#[doc = ...]` in the description's paragraph that is no literal.
    pub doc_unreadable: Option<&'a syn::Expr>,
    pub parent: Option<ParentField<'a>>,
    pub fields: Vec<Field<'a>>,
    /// The derives' type attributes the struct carries, whichever derive
    /// reads it: a derive sees no other derive, only their attributes.
    pub seen_attrs: SeenAttrs,
}

/// Which derives' type attributes a struct carries.
#[derive(Clone, Copy, Default)]
pub struct SeenAttrs {
    /// `#[device(...)]`, which only `#[derive(Device)]` declares.
    pub device: bool,
}

pub struct ParentField<'a> {
    pub ident: &'a Ident,
    pub ty: &'a Type,
}

pub struct Field<'a> {
    pub ident: &'a Ident,
    /// The field's type with `Self` replaced by the struct's name (see
    /// [`replace_self`]): the generated statics and functions that name it
    /// are outside any `impl`.
    pub ty: Type,
    /// `None` for plain state fields: without `#[prop]` or with
    /// `#[prop(skip)]`.
    pub prop: Option<PropAttrs>,
    /// The `#[prop(skip, ...)]` of a state field (its `default` is the
    /// field's initial value).
    pub skipped: Option<PropAttrs>,
    /// The `#[prop(flatten, ...)]` of a property group field.
    pub flatten: Option<PropAttrs>,
    pub doc: Option<String>,
    /// A `#[doc = ...]` in the description's paragraph that is no literal.
    pub doc_unreadable: Option<&'a syn::Expr>,
}

impl Field<'_> {
    /// The QOM name: `name = "..."`, else the field name (unraw'd:
    /// `r#loop` is `loop`) with `_` → `-`.
    pub fn prop_name(&self) -> String {
        match self.prop.as_ref().and_then(|p| p.name.as_ref()) {
            Some(n) => n.value.clone(),
            None => self.ident.unraw().to_string().replace('_', "-"),
        }
    }
}

impl<'a> Input<'a> {
    /// Builds the model; shape errors (enum, tuple struct, generics) end the
    /// derive, attribute errors are collected in `cx`.
    pub fn from_syn(cx: &mut Ctxt, original: &'a DeriveInput, flavor: Flavor) -> Option<Self> {
        let what = flavor.derive_name();
        let named = match &original.data {
            Data::Struct(s) => match &s.fields {
                Fields::Named(n) => Some(n),
                Fields::Unnamed(_) => {
                    cx.error_spanned_by(
                        &s.fields,
                        format!("#[derive({what})] needs a struct with named fields; a tuple struct has no property names"),
                    );
                    None
                }
                Fields::Unit => None,
            },
            Data::Enum(e) => {
                cx.error_spanned_by(
                    e.enum_token,
                    format!("#[derive({what})] can only be used on a struct with named fields, not on an enum (for an enum property kind, use #[derive(PropertyEnum)])"),
                );
                return None;
            }
            Data::Union(u) => {
                cx.error_spanned_by(u.union_token, format!("#[derive({what})] can only be used on a struct with named fields, not on a union"));
                return None;
            }
        };
        if !original.generics.params.is_empty() {
            cx.error_spanned_by(
                &original.generics,
                format!("#[derive({what})] does not support generic types: a QOM type has one static property table"),
            );
            return None;
        }
        let attrs = match flavor {
            Flavor::Group => TypeAttrs::default(),
            _ => attr::type_attrs(cx, &original.attrs, flavor.attr_name()),
        };
        let mut parent = None;
        let mut fields = Vec::new();
        for f in named.into_iter().flat_map(|n| n.named.iter()) {
            let Some(ident) = f.ident.as_ref() else {
                continue;
            };
            if let Some(pattr) = attr::parent_attr(&f.attrs)
                && flavor == Flavor::Group
            {
                cx.error_spanned_by(
                    pattr,
                    "a property group has no parent: it is part of the type that flattens it",
                );
                continue;
            }
            if let Some(pattr) = attr::parent_attr(&f.attrs) {
                if let syn::Meta::List(l) = &pattr.meta {
                    cx.error_spanned_by(&l.tokens, "#[parent] takes no arguments");
                } else if let syn::Meta::NameValue(nv) = &pattr.meta {
                    cx.error_spanned_by(&nv.value, "#[parent] takes no arguments");
                }
                if attr::prop_attrs(cx, &f.attrs).is_some() {
                    cx.error_spanned_by(pattr, "a #[parent] field holds the parent type's properties; it cannot also be a #[prop]");
                }
                if parent.is_some() {
                    cx.error_spanned_by(pattr, "only one field can be the #[parent]");
                } else {
                    parent = Some(ParentField { ident, ty: &f.ty });
                }
                continue;
            }
            let (doc, doc_unreadable) = attr::doc_text(&f.attrs);
            let (prop, skipped, flatten) = match attr::prop_attrs(cx, &f.attrs) {
                Some(p) if p.flatten.is_some() => (None, None, Some(p)),
                Some(p) if p.skip.is_some() => (None, Some(p), None),
                p => (p, None, None),
            };
            fields.push(Field {
                ident,
                ty: replace_self_in_type(&f.ty, &original.ident),
                prop,
                skipped,
                flatten,
                doc,
                doc_unreadable,
            });
        }
        let (doc, doc_unreadable) = attr::doc_text(&original.attrs);
        Some(Input {
            ident: &original.ident,
            flavor,
            attrs,
            doc,
            doc_unreadable,
            parent,
            fields,
            seen_attrs: SeenAttrs {
                device: original.attrs.iter().any(|a| a.path().is_ident("device")),
            },
        })
    }

    /// The QOM type name: `name = "..."`, else the Rust name in kebab case
    /// (which a device may not use: see `claim::one_flavor`).
    pub fn type_name(&self) -> String {
        match &self.attrs.name {
            Some(n) => n.value.clone(),
            None => kebab(&self.ident.unraw().to_string()),
        }
    }

    /// The flattened fields, with their attribute.
    pub fn flattened(&self) -> impl Iterator<Item = (&Field<'a>, &PropAttrs)> {
        self.fields
            .iter()
            .filter_map(|f| f.flatten.as_ref().map(|p| (f, p)))
    }

    pub fn props(&self) -> impl Iterator<Item = (&Field<'a>, &PropAttrs)> {
        self.fields
            .iter()
            .filter_map(|f| f.prop.as_ref().map(|p| (f, p)))
    }
}

/// `VfioPciNohotplug` → `vfio-pci-nohotplug`.
pub fn kebab(s: &str) -> String {
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if c.is_uppercase() {
            if i > 0 {
                out.push('-');
            }
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// If `ty` is `Name<Inner>` or `Option<Name<Inner>>`, returns `Inner`.
pub fn generic_arg_of<'t>(ty: &'t Type, name: &str) -> Option<&'t Type> {
    let Type::Path(p) = ty else { return None };
    let last = p.path.segments.last()?;
    let syn::PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    let inner = args.args.iter().find_map(|a| match a {
        syn::GenericArgument::Type(t) => Some(t),
        _ => None,
    })?;
    if last.ident == name {
        Some(inner)
    } else if last.ident == "Option" {
        generic_arg_of(inner, name)
    } else {
        None
    }
}

/// `tokens` with every `Self` replaced by `ident`, spanned as the `Self`
/// it replaces. Generated items outside an `impl` (the type's static, its
/// accessors, link checks) name field types and setter paths, where `Self`
/// does not resolve.
pub fn replace_self(tokens: TokenStream, ident: &Ident) -> TokenStream {
    tokens
        .into_iter()
        .map(|tt| match tt {
            TokenTree::Ident(i) if i == "Self" => {
                let mut r = ident.clone();
                r.set_span(i.span());
                TokenTree::Ident(r)
            }
            TokenTree::Group(g) => {
                let mut n = Group::new(g.delimiter(), replace_self(g.stream(), ident));
                n.set_span(g.span());
                TokenTree::Group(n)
            }
            t => t,
        })
        .collect()
}

/// [`replace_self`] on a type; the type itself when it has no `Self`.
pub fn replace_self_in_type(ty: &Type, ident: &Ident) -> Type {
    if type_has_self(ty) {
        replace_self_in(ty, ident)
    } else {
        ty.clone()
    }
}

/// Whether `ty` names `Self`, from its syntax tree: cheaper than a walk of
/// its tokens (every derived property pays it), with the tokens as the
/// fallback for the rare shapes.
fn type_has_self(ty: &Type) -> bool {
    fn path_has_self(path: &syn::Path) -> bool {
        path.segments.first().is_some_and(|s| s.ident == "Self")
            || path.segments.iter().any(|s| match &s.arguments {
                syn::PathArguments::None => false,
                syn::PathArguments::AngleBracketed(a) => a.args.iter().any(|a| match a {
                    syn::GenericArgument::Type(t) => type_has_self(t),
                    syn::GenericArgument::AssocType(a) => type_has_self(&a.ty),
                    syn::GenericArgument::Lifetime(_) => false,
                    other => has_self(other.to_token_stream()),
                }),
                other => has_self(other.to_token_stream()),
            })
    }
    match ty {
        Type::Path(p) => {
            p.qself.as_ref().is_some_and(|q| type_has_self(&q.ty)) || path_has_self(&p.path)
        }
        Type::Reference(r) => type_has_self(&r.elem),
        Type::Slice(s) => type_has_self(&s.elem),
        Type::Ptr(p) => type_has_self(&p.elem),
        Type::Paren(p) => type_has_self(&p.elem),
        Type::Group(g) => type_has_self(&g.elem),
        Type::Tuple(t) => t.elems.iter().any(type_has_self),
        other => has_self(other.to_token_stream()),
    }
}

/// [`replace_self`] on a syntax node; the node itself when it has no `Self`.
pub fn replace_self_in<T: ToTokens + syn::parse::Parse + Clone>(node: &T, ident: &Ident) -> T {
    let tokens = node.to_token_stream();
    if !has_self(tokens.clone()) {
        return node.clone();
    }
    // Replacing an identifier by an identifier keeps the syntax valid.
    syn::parse2(replace_self(tokens, ident)).unwrap_or_else(|_| node.clone())
}

fn has_self(tokens: TokenStream) -> bool {
    tokens.into_iter().any(|tt| match tt {
        TokenTree::Ident(i) => i == "Self",
        TokenTree::Group(g) => has_self(g.stream()),
        _ => false,
    })
}
