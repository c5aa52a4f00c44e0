//! `#[derive(PropertyEnum)]`: a fieldless enum whose variants are the
//! accepted strings (QEMU's QAPI enums such as `OnOffAuto`).

use proc_macro2::TokenStream;
use quote::quote;
use syn::ext::IdentExt;
use syn::{Data, DeriveInput, Fields, LitStr};

use crate::ast::kebab;
use crate::ctxt::Ctxt;

pub fn derive(input: &DeriveInput) -> TokenStream {
    let mut cx = Ctxt::default();
    let ident = &input.ident;
    let Data::Enum(data) = &input.data else {
        return syn::Error::new_spanned(
            ident,
            "#[derive(PropertyEnum)] can only be used on a fieldless enum",
        )
        .into_compile_error();
    };
    let attrs = crate::attr::enum_attrs(&mut cx, &input.attrs);
    let name_set = attrs.name.is_some();
    let (type_name, name_span) = match attrs.name {
        Some(n) => (n.value, n.span),
        None => (ident.unraw().to_string(), ident.span()),
    };
    let description = attrs.desc.map(|d| d.value);
    if let Err(why) = check_type_name(&type_name) {
        let from = if name_set {
            ""
        } else {
            " (from the Rust name; give one with `#[property_enum(name = \"...\")]`)"
        };
        cx.push(syn::Error::new(
            name_span,
            format!("enum type name `{type_name}`{from} {why}"),
        ));
    }
    let mut names = Vec::new();
    let mut variants = Vec::new();
    for v in &data.variants {
        if !matches!(v.fields, Fields::Unit) {
            cx.error_spanned_by(&v.fields, "a PropertyEnum variant cannot carry data");
            continue;
        }
        let mut name = kebab(&v.ident.unraw().to_string());
        let mut renamed = false;
        let mut value_span = None;
        for attr in v.attrs.iter().filter(|a| a.path().is_ident("value")) {
            if renamed {
                cx.error_spanned_by(
                    attr,
                    "only one #[value(...)] attribute is allowed per variant",
                );
                continue;
            }
            renamed = true;
            match attr.parse_args::<LitStr>() {
                Ok(l) => {
                    name = l.value();
                    value_span = Some(l.span());
                }
                Err(e) => cx.push(e),
            }
        }
        if let Err(why) = check_value(&name) {
            let msg = match value_span {
                Some(_) => format!("enum value `{name}` {why}"),
                None => format!(
                    "enum value `{name}` (from the variant name; give one with `#[value(\"...\")]`) {why}"
                ),
            };
            cx.push(syn::Error::new(
                value_span.unwrap_or_else(|| v.ident.span()),
                msg,
            ));
        }
        if names.contains(&name) {
            cx.error_spanned_by(&v.ident, format!("duplicate value name `{name}`"));
        }
        names.push(name);
        variants.push(&v.ident);
    }
    if names.is_empty() {
        cx.error_spanned_by(
            ident,
            "a PropertyEnum needs at least one variant: its values are the variants' names",
        );
    }
    if let Err(e) = cx.check() {
        return fallback(ident, &type_name, e);
    }
    let description = description.unwrap_or_else(|| names.join("/"));
    let idx: Vec<usize> = (0..variants.len()).collect();
    quote! {
        #[automatically_derived]
        impl #ident {
            /// The accepted values, in declaration order.
            pub const NAMES: &'static [&'static str] = &[#(#names),*];

            /// The value's name.
            pub const fn as_str(&self) -> &'static str {
                match self {
                    #(#ident::#variants => #names,)*
                }
            }

            fn __qomgen_from_index(i: usize) -> Self {
                match i {
                    #(#idx => #ident::#variants,)*
                    _ => ::core::unreachable!(),
                }
            }
        }

        #[automatically_derived]
        impl ::qomgen::PropertyKind for #ident {
            const TYPE_NAME: &'static str = #type_name;
            const DESCRIPTION: ::core::option::Option<&'static str> = ::core::option::Option::Some(#description);

            fn parse(s: &str, cx: &::qomgen::ValueCx<'_>) -> ::qomgen::Result<Self> {
                ::qomgen::__private::enum_parse(s, Self::NAMES, cx).map(Self::__qomgen_from_index)
            }

            fn from_json(v: &::qomgen::__private::serde_json::Value, cx: &::qomgen::ValueCx<'_>) -> ::qomgen::Result<Self> {
                ::qomgen::__private::enum_from_json(v, Self::NAMES, cx).map(Self::__qomgen_from_index)
            }

            fn to_json(&self) -> ::qomgen::__private::serde_json::Value {
                ::qomgen::__private::serde_json::Value::from(self.as_str())
            }

            fn print(&self) -> ::std::string::String {
                ::std::string::ToString::to_string(self.as_str())
            }

            fn default_value(&self) -> ::qomgen::DefaultValue {
                ::qomgen::DefaultValue::Str(self.as_str())
            }
        }
    }
}

/// QAPI's rule for type names (scripts/qapi/expr.py, `check_name_camel`
/// after `check_name_str`), which QEMU's enum types (`OnOffAuto`,
/// `OffAutoPCIBAR`) follow; help shows the name as `<OnOffAuto>`.
fn check_type_name(name: &str) -> Result<(), &'static str> {
    let ok = name.bytes().next().is_some_and(|c| c.is_ascii_uppercase())
        && name.bytes().all(|c| c.is_ascii_alphanumeric())
        && name.bytes().skip(1).any(|c| c.is_ascii_lowercase());
    if !ok {
        return Err(
            "is not a valid QAPI type name: QEMU's rule (scripts/qapi/expr.py, check_name_camel): CamelCase, `[A-Z][A-Za-z0-9]*[a-z][A-Za-z0-9]*`",
        );
    }
    if name.ends_with("List") {
        return Err(
            "is not a valid QAPI type name: QEMU's rule (scripts/qapi/expr.py, check_defn_name_str): a name must not end in `List`, which QAPI's list types take",
        );
    }
    Ok(())
}

/// QAPI's rule for enum values (scripts/qapi/expr.py, `check_enum`:
/// `check_name_lower` after `check_name_str`, a leading digit allowed).
fn check_value(name: &str) -> Result<(), &'static str> {
    let ok = name
        .bytes()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-');
    if ok {
        Ok(())
    } else {
        Err(
            "is not a valid enum value: QEMU's rule (scripts/qapi/expr.py, check_enum and check_name_lower): lowercase letters, digits and `-`, starting with a letter or a digit",
        )
    }
}

/// On error: the `compile_error!`s plus a `PropertyKind` implementation, so
/// that the fields of this type do not each fail with "not a property
/// kind" (one mistake, one error). It is never run: the crate does not
/// build.
fn fallback(ident: &syn::Ident, type_name: &str, err: syn::Error) -> TokenStream {
    let errors = err.into_compile_error();
    quote! {
        #errors
        #[automatically_derived]
        impl ::qomgen::PropertyKind for #ident {
            const TYPE_NAME: &'static str = #type_name;

            fn parse(_: &str, _: &::qomgen::ValueCx<'_>) -> ::qomgen::Result<Self> {
                ::core::unreachable!()
            }

            fn from_json(_: &::qomgen::__private::serde_json::Value, _: &::qomgen::ValueCx<'_>) -> ::qomgen::Result<Self> {
                ::core::unreachable!()
            }

            fn to_json(&self) -> ::qomgen::__private::serde_json::Value {
                ::core::unreachable!()
            }

            fn print(&self) -> ::std::string::String {
                ::core::unreachable!()
            }

            fn default_value(&self) -> ::qomgen::DefaultValue {
                ::core::unreachable!()
            }
        }
    }
}
