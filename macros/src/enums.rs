//! `#[derive(PropertyEnum)]`: a fieldless enum whose variants are the
//! accepted strings (QEMU's QAPI enums such as `OnOffAuto`).

use proc_macro2::TokenStream;
use quote::quote;
use syn::ext::IdentExt;
use syn::{Data, DeriveInput, Fields, LitStr};

use crate::ast::kebab;
use crate::attr::skip_value;
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
    let mut type_name = ident.unraw().to_string();
    let mut name_set = false;
    let mut description: Option<String> = None;
    for attr in input
        .attrs
        .iter()
        .filter(|a| a.path().is_ident("property_enum"))
    {
        let res = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("name") {
                let v = meta.value()?.parse::<LitStr>()?.value();
                if name_set {
                    cx.error_spanned_by(&meta.path, "duplicate `name` in #[property_enum(...)]");
                }
                type_name = v;
                name_set = true;
            } else if meta.path.is_ident("description") {
                let v = meta.value()?.parse::<LitStr>()?.value();
                if description.is_some() {
                    cx.error_spanned_by(
                        &meta.path,
                        "duplicate `description` in #[property_enum(...)]",
                    );
                }
                description = Some(v);
            } else {
                cx.error_spanned_by(
                    &meta.path,
                    "unknown property_enum attribute; expected `name` or `description`",
                );
                skip_value(&meta);
            }
            Ok(())
        });
        if let Err(e) = res {
            cx.push(e);
        }
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
                Ok(l) => name = l.value(),
                Err(e) => cx.push(e),
            }
        }
        if names.contains(&name) {
            cx.error_spanned_by(&v.ident, format!("duplicate value name `{name}`"));
        }
        names.push(name);
        variants.push(&v.ident);
    }
    if names.is_empty() {
        cx.error_spanned_by(ident, "a PropertyEnum needs at least one variant");
    }
    if let Err(e) = cx.check() {
        return e.into_compile_error();
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
