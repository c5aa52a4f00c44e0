//! What a derived type claims beside its impls: its QOM name, crate-wide,
//! and its flavor, so that a struct is an object or a device, not both.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};

use crate::ast::{Flavor, Input};

/// What keeps `#[derive(Object, Device)]` on one struct to one error
/// (see `qomgen::__private::DeviceNotAlsoObject`): the object's mark, and
/// the bound on the device's `ObjectType` implementation, spanned on the
/// `Device` of the derive list, which the error then points at.
///
/// A device without `name = "..."` (`named` false) gets a compile-time
/// assertion's error instead, which stops nothing else from type-checking;
/// a struct that also derives `Object` passes it, the error above being
/// the one then.
pub fn one_flavor(ident: &syn::Ident, flavor: Flavor, named: bool) -> (TokenStream, TokenStream) {
    let derives_object = quote! {{
        #[allow(unused_imports)]
        use ::qomgen::__private::ProbeFallback as _;
        <::qomgen::__private::Probe<#ident>>::DERIVES_OBJECT
    }};
    match flavor {
        Flavor::Object => (
            quote!(impl ::qomgen::__private::DerivesObject for #ident {}),
            TokenStream::new(),
        ),
        Flavor::Device => (
            {
                let msg = format!(
                    "`{ident}` has no QOM name: a device type needs `#[device(name = \"...\")]`. \
                     Its name is what `-device` and QMP's `device_add` take, part of its users' \
                     command lines, so qomgen does not derive it from the Rust name, which a \
                     rename would change silently"
                );
                quote_spanned! {proc_macro2::Span::call_site()=>
                    const _: () = ::core::assert!(#named || #derives_object, #msg);
                }
            },
            quote_spanned! {proc_macro2::Span::call_site()=>
                where #ident: ::qomgen::__private::DeviceNotAlsoObject<#derives_object>
            },
        ),
        Flavor::Group => (TokenStream::new(), TokenStream::new()),
    }
}

/// A hidden `#[macro_export]` macro named after the QOM type name: macro
/// exports live in the crate root, so two types of one crate that take the
/// same QOM name define it twice, which the compiler refuses (E0428) with
/// both declarations shown, spanned on their names.
///
/// Objects and devices share one claim, as QOM has one namespace of
/// types. A device always has a `name = "..."` (see [`one_flavor`]); one
/// without claims nothing, as it fails to build anyway. A derive cannot see
/// the other derives of its struct, only their attributes: an object that
/// carries a `#[device(...)]` is a struct that also derives `Device`, and
/// claims nothing either, so that `#[derive(Object, Device)]` stays one
/// error. Types of one name in two crates are refused when the registry
/// is built (see `qomgen::registry`).
pub fn name_claim(input: &Input<'_>, name: &str) -> TokenStream {
    // An injective spelling of a valid type name (`[A-Za-z0-9._-]`) as an
    // identifier: `-` is `_` unless a digit follows (then `_2D`, so that
    // it cannot be read as one of the other escapes), `_` is `_5F`, `.`
    // is `_2E`.
    let mut spelled = String::new();
    let chars: Vec<char> = name.chars().collect();
    for (i, c) in chars.iter().enumerate() {
        match c {
            '-' if chars.get(i + 1).is_some_and(char::is_ascii_digit) => spelled.push_str("_2D"),
            '-' => spelled.push('_'),
            '_' => spelled.push_str("_5F"),
            '.' => spelled.push_str("_2E"),
            c if c.is_ascii_alphanumeric() => spelled.push(*c),
            // Not a valid type name: the checks have refused it.
            _ => return TokenStream::new(),
        }
    }
    let span = input
        .attrs
        .name
        .as_ref()
        .map_or_else(|| input.ident.span(), |n| n.span);
    match input.flavor {
        Flavor::Object if input.seen_attrs.device => return TokenStream::new(),
        Flavor::Device if input.attrs.name.is_none() => return TokenStream::new(),
        _ => {}
    }
    let claim = format_ident!(
        "QOM_type_name_{spelled}_is_taken_by_another_type_of_this_crate",
        span = span
    );
    quote_spanned! {span=>
        #[doc(hidden)]
        #[macro_export]
        macro_rules! #claim {
            () => {};
        }
    }
}
