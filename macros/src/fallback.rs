//! On error: the `compile_error!`s plus impls that keep the rest of the
//! user's crate type-checking, so one mistake gives one message.

use proc_macro2::TokenStream;
use quote::quote;

use crate::ast::Flavor;

pub fn expand(original: &syn::DeriveInput, flavor: Flavor, err: syn::Error) -> TokenStream {
    let errors = err.into_compile_error();
    if !original.generics.params.is_empty() || !matches!(original.data, syn::Data::Struct(_)) {
        return errors;
    }
    let ident = &original.ident;
    let root = match flavor {
        // No table: an empty group, so that the types that flatten it
        // give no second error.
        Flavor::Group => {
            return quote! {
                #errors
                #[allow(unused_qualifications)]
                const _: () = {
                    impl ::qomgen::PropertyGroup for #ident {
                        const PROPERTIES: &'static [::qomgen::Property] = &[];
                        fn with_defaults() -> Self {
                            ::core::unreachable!()
                        }
                        fn __set(&mut self, i: usize, _: ::qomgen::Input<'_>, _: &::qomgen::ValueCx<'_>) -> ::qomgen::Result<()> {
                            ::qomgen::__private::bad_index(i)
                        }
                        fn __get(&self, i: usize) -> &dyn ::qomgen::__private::Slot {
                            ::qomgen::__private::bad_index(i)
                        }
                        fn __link(&self, i: usize) -> ::core::option::Option<&::qomgen::ObjRef> {
                            ::qomgen::__private::bad_index(i)
                        }
                        fn __default(i: usize) -> ::qomgen::DefaultValue {
                            ::qomgen::__private::bad_index(i)
                        }
                    }
                };
            };
        }
        Flavor::Object => quote!(&::qomgen::__private::OBJECT),
        Flavor::Device => quote!(&::qomgen::__private::DEVICE),
    };
    // Named or not: the errors above are the ones to show.
    let (flavor_mark, object_type_bound) = crate::claim::one_flavor(ident, flavor, true);
    quote! {
        #errors
        #[allow(unused_qualifications)]
        const _: () = {
            #flavor_mark
            impl ::qomgen::ObjectType for #ident #object_type_bound {
                const TYPE_INFO: &'static ::qomgen::TypeInfo = #root;
                fn with_defaults() -> Self {
                    ::core::unreachable!()
                }
                fn __upcast(&self, _: &'static ::qomgen::TypeInfo) -> ::core::option::Option<&dyn ::core::any::Any> {
                    ::core::option::Option::None
                }
                fn __upcast_mut(&mut self, _: &'static ::qomgen::TypeInfo) -> ::core::option::Option<&mut dyn ::core::any::Any> {
                    ::core::option::Option::None
                }
                fn __complete_chain(&mut self, _: &::qomgen::LifecycleCx<'_>) -> ::qomgen::Result<()> {
                    ::core::result::Result::Ok(())
                }
                fn __realize_chain(&mut self, _: &::qomgen::LifecycleCx<'_>) -> ::qomgen::Result<()> {
                    ::core::result::Result::Ok(())
                }
                fn __unrealize_chain(&mut self, _: &::qomgen::LifecycleCx<'_>) {}
            }
        };
    }
}
