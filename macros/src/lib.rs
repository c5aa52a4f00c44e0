//! Implementation detail of the `qomgen` crate: use the derives through
//! `qomgen::{Object, Device, PropertyGroup, PropertyEnum}`.

mod ast;
mod attr;
mod check;
mod claim;
mod ctxt;
mod enums;
mod expand;
mod fallback;
mod symbol;

/// "Did you mean", shared with the runtime's hints.
mod suggest {
    include!("../../runtime/src/suggest.rs");
}

use proc_macro::TokenStream;
use syn::{DeriveInput, parse_macro_input};

/// Registers a QOM object type and generates its static property table.
#[proc_macro_derive(Object, attributes(object, prop, parent))]
pub fn derive_object(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand::derive(&input, ast::Flavor::Object).into()
}

/// Registers a device type and generates its static property table.
#[proc_macro_derive(Device, attributes(device, prop, parent))]
pub fn derive_device(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand::derive(&input, ast::Flavor::Device).into()
}

/// Makes a struct a group of properties that object and device types
/// embed with `#[prop(flatten)]`.
#[proc_macro_derive(PropertyGroup, attributes(prop))]
pub fn derive_property_group(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand::derive(&input, ast::Flavor::Group).into()
}

/// Makes a fieldless enum a property kind whose values are its variant names.
#[proc_macro_derive(PropertyEnum, attributes(property_enum, value))]
pub fn derive_property_enum(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    enums::derive(&input).into()
}
