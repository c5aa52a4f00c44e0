//! Code generation, run only on a model that passed every check.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;

use crate::ast::{Field, Flavor, Input, generic_arg_of};
use crate::attr::PropAttrs;
use crate::check;
use crate::ctxt::Ctxt;
use crate::fallback;

pub fn derive(original: &syn::DeriveInput, flavor: Flavor) -> TokenStream {
    let mut cx = Ctxt::default();
    let input = Input::from_syn(&mut cx, original, flavor);
    if let Some(input) = &input {
        check::check(&mut cx, input);
    }
    match (cx.check(), input) {
        (Ok(()), Some(input)) => expand(&input),
        (Err(e), _) => fallback::expand(original, flavor, e),
        // `from_syn` returns None only after recording an error.
        (Ok(()), None) => fallback::expand(
            original,
            flavor,
            syn::Error::new_spanned(original, "unsupported input"),
        ),
    }
}

fn opt_str(s: Option<&str>) -> TokenStream {
    match s {
        Some(s) => quote!(::core::option::Option::Some(#s)),
        None => quote!(::core::option::Option::None),
    }
}

fn expand(input: &Input<'_>) -> TokenStream {
    let ident = input.ident;
    let name = input.type_name();
    let rust_name = ident.to_string();
    let abstract_ = input.attrs.abstract_.is_some();

    let parent_info = match (&input.parent, input.flavor) {
        (Some(p), _) => {
            let ty = p.ty;
            quote_spanned!(ty.span()=> <#ty as ::qomgen::ObjectType>::TYPE_INFO)
        }
        (None, Flavor::Device) => quote!(&::qomgen::__private::DEVICE),
        (None, Flavor::Object) => quote!(&::qomgen::__private::OBJECT),
    };

    let description = if input.attrs.no_desc.is_some() {
        opt_str(None)
    } else {
        opt_str(
            input
                .attrs
                .desc
                .as_ref()
                .map(|d| d.value.as_str())
                .or(input.doc.as_deref()),
        )
    };

    let kind = type_kind(input, &parent_info);
    let props: Vec<_> = input
        .props()
        .enumerate()
        .map(|(i, (f, p))| property(input, i, f, p))
        .collect();
    let entries = props.iter().map(|p| &p.entry);
    let items = props.iter().map(|p| &p.items);

    let field_inits = input.fields.iter().map(|f| {
        let fid = f.ident;
        let ty = f.ty;
        let prop_index = input.props().position(|(pf, _)| std::ptr::eq(pf, f));
        match (prop_index, f.prop.as_ref().and_then(|p| p.default.as_ref())) {
            (Some(pi), Some(_)) => {
                let init = format_ident!("__qomgen_init_{}", pi);
                quote!(#fid: #init())
            }
            _ => quote_spanned!(ty.span()=> #fid: <#ty as ::core::default::Default>::default()),
        }
    });
    let parent_init = input.parent.as_ref().map(|p| {
        let (pid, pty) = (p.ident, p.ty);
        quote!(#pid: <#pty as ::qomgen::ObjectType>::with_defaults(),)
    });

    let instantiate = if abstract_ {
        quote!(::core::option::Option::None)
    } else {
        quote!(::core::option::Option::Some(__qomgen_instantiate))
    };

    let (upcast_parent, upcast_parent_mut) = match &input.parent {
        Some(p) => {
            let (pid, pty) = (p.ident, p.ty);
            (
                quote!(<#pty as ::qomgen::Object>::upcast(&self.#pid, ty)),
                quote!(<#pty as ::qomgen::Object>::upcast_mut(&mut self.#pid, ty)),
            )
        }
        None => (
            quote!(::core::option::Option::None),
            quote!(::core::option::Option::None),
        ),
    };
    let chain = |method: &str| -> TokenStream {
        let m = format_ident!("{}", method);
        match &input.parent {
            Some(p) => {
                let (pid, pty) = (p.ident, p.ty);
                quote!(<#pty as ::qomgen::Object>::#m(&mut self.#pid, cx))
            }
            None => quote!(::core::result::Result::Ok(())),
        }
    };
    let complete_parent = chain("complete_chain");
    let realize_parent = chain("realize_chain");
    let unrealize_parent = match &input.parent {
        Some(p) => {
            let (pid, pty) = (p.ident, p.ty);
            quote!(<#pty as ::qomgen::Object>::unrealize_chain(&mut self.#pid, cx);)
        }
        None => quote!(),
    };
    let (complete_body, realize_body, unrealize_body) = match input.flavor {
        Flavor::Object => (
            quote!(#complete_parent?; <#ident as ::qomgen::ObjectImpl>::complete(self, cx)),
            quote!(#realize_parent),
            quote!(#unrealize_parent),
        ),
        Flavor::Device => (
            quote!(#complete_parent),
            quote!(#realize_parent?; <#ident as ::qomgen::DeviceImpl>::realize(self, cx)),
            quote!(<#ident as ::qomgen::DeviceImpl>::unrealize(self, cx); #unrealize_parent),
        ),
    };

    quote! {
        #[allow(non_upper_case_globals, clippy::all, unused_qualifications)]
        const _: () = {
            static __QOMGEN_TYPE: ::qomgen::TypeInfo = ::qomgen::TypeInfo {
                name: #name,
                parent: ::core::option::Option::Some(#parent_info),
                abstract_: #abstract_,
                description: #description,
                kind: #kind,
                own_properties: &[#(#entries),*],
                instantiate: #instantiate,
                rust_name: #rust_name,
            };

            #(#items)*

            fn __qomgen_instantiate() -> ::std::boxed::Box<dyn ::qomgen::Object> {
                ::std::boxed::Box::new(<#ident as ::qomgen::ObjectType>::with_defaults())
            }

            ::qomgen::__private::inventory::submit! {
                ::qomgen::__private::Registration(&__QOMGEN_TYPE)
            }

            #[automatically_derived]
            impl ::qomgen::ObjectType for #ident {
                const TYPE_INFO: &'static ::qomgen::TypeInfo = &__QOMGEN_TYPE;

                fn with_defaults() -> Self {
                    #ident {
                        #parent_init
                        #(#field_inits,)*
                    }
                }
            }

            #[automatically_derived]
            impl ::qomgen::Object for #ident {
                fn type_info(&self) -> &'static ::qomgen::TypeInfo {
                    &__QOMGEN_TYPE
                }

                fn upcast(&self, ty: &'static ::qomgen::TypeInfo) -> ::core::option::Option<&dyn ::core::any::Any> {
                    if ::core::ptr::eq(ty, &__QOMGEN_TYPE) {
                        ::core::option::Option::Some(self)
                    } else {
                        #upcast_parent
                    }
                }

                fn upcast_mut(&mut self, ty: &'static ::qomgen::TypeInfo) -> ::core::option::Option<&mut dyn ::core::any::Any> {
                    if ::core::ptr::eq(ty, &__QOMGEN_TYPE) {
                        ::core::option::Option::Some(self)
                    } else {
                        #upcast_parent_mut
                    }
                }

                fn complete_chain(&mut self, cx: &::qomgen::LifecycleCx<'_>) -> ::qomgen::Result<()> {
                    #complete_body
                }

                fn realize_chain(&mut self, cx: &::qomgen::LifecycleCx<'_>) -> ::qomgen::Result<()> {
                    #realize_body
                }

                fn unrealize_chain(&mut self, cx: &::qomgen::LifecycleCx<'_>) {
                    let _ = cx;
                    #unrealize_body
                }
            }
        };
    }
}

fn type_kind(input: &Input<'_>, parent_info: &TokenStream) -> TokenStream {
    let a = &input.attrs;
    match input.flavor {
        Flavor::Object => {
            let uc = a.user_creatable.as_ref().is_some_and(|u| u.value);
            quote!(::qomgen::TypeKind::Object { user_creatable: #uc })
        }
        Flavor::Device => {
            let category = match &a.category {
                Some(c) => {
                    quote_spanned!(c.span()=> ::core::option::Option::Some(::qomgen::Category::#c))
                }
                None => quote!(::core::option::Option::None),
            };
            let bus = opt_str(a.bus.as_ref().map(|b| b.value.as_str()));
            let uc = match &a.user_creatable {
                Some(u) => {
                    let v = u.value;
                    quote!(#v)
                }
                None => quote!(::qomgen::__private::inherited_user_creatable(#parent_info)),
            };
            let hp = match &a.hotpluggable {
                Some(h) => {
                    let v = h.value;
                    quote!(#v)
                }
                None => quote!(::qomgen::__private::inherited_hotpluggable(#parent_info)),
            };
            quote!(::qomgen::TypeKind::Device(::qomgen::DeviceMeta {
                category: #category,
                bus: #bus,
                user_creatable: #uc,
                hotpluggable: #hp,
            }))
        }
    }
}

struct Generated {
    entry: TokenStream,
    items: TokenStream,
}

fn property(input: &Input<'_>, i: usize, f: &Field<'_>, p: &PropAttrs) -> Generated {
    let owner = input.ident;
    let fid = f.ident;
    let ty = f.ty;
    let name = f.prop_name();
    let kind = quote_spanned!(ty.span()=> <#ty as ::qomgen::PropertyKind>);
    let set_fn = format_ident!("__qomgen_set_{}", i);
    let get_fn = format_ident!("__qomgen_get_{}", i);
    let link_fn = format_ident!("__qomgen_link_{}", i);
    let init_fn = format_ident!("__qomgen_init_{}", i);
    let default_fn = format_ident!("__qomgen_default_{}", i);
    let mut items = TokenStream::new();

    let declared = p
        .desc
        .as_ref()
        .map(|d| d.value.clone())
        .or_else(|| f.doc.clone());
    let uses_kind = p.setter.is_none() || p.write_only.is_none();

    let type_name = if let Some(l) = &p.link {
        let s = format!("link<{}>", l.value);
        quote!(#s)
    } else if p.setter.is_some() && p.write_only.is_some() {
        quote!("string")
    } else {
        quote!(#kind::TYPE_NAME)
    };
    let description = match declared {
        Some(d) => quote!(::core::option::Option::Some(#d)),
        None if uses_kind && p.link.is_none() => quote!(#kind::DESCRIPTION),
        None => quote!(::core::option::Option::None),
    };

    let set = if p.read_only.is_some() {
        quote!(::core::option::Option::None)
    } else if let Some(setter) = &p.setter {
        items.extend(quote_spanned! {setter.span()=>
            fn #set_fn(
                obj: &mut dyn ::qomgen::Object,
                v: ::qomgen::Input<'_>,
                cx: &::qomgen::ValueCx<'_>,
            ) -> ::qomgen::Result<()> {
                let value = <::std::string::String as ::qomgen::PropertyKind>::from_input(v, cx)?;
                let this = ::qomgen::__private::part_mut::<#owner>(obj)?;
                let f: fn(&mut #owner, &str) -> ::qomgen::Result<()> = #setter;
                f(this, &value)
            }
        });
        quote!(::core::option::Option::Some(#set_fn))
    } else {
        items.extend(quote! {
            fn #set_fn(
                obj: &mut dyn ::qomgen::Object,
                v: ::qomgen::Input<'_>,
                cx: &::qomgen::ValueCx<'_>,
            ) -> ::qomgen::Result<()> {
                let value = #kind::from_input(v, cx)?;
                ::qomgen::__private::part_mut::<#owner>(obj)?.#fid = value;
                ::core::result::Result::Ok(())
            }
        });
        quote!(::core::option::Option::Some(#set_fn))
    };

    let get = if p.write_only.is_some() {
        quote!(::core::option::Option::None)
    } else {
        items.extend(quote! {
            fn #get_fn(obj: &dyn ::qomgen::Object) -> ::qomgen::__private::serde_json::Value {
                match ::qomgen::__private::part::<#owner>(obj) {
                    ::core::option::Option::Some(this) => #kind::to_json(&this.#fid),
                    ::core::option::Option::None => ::qomgen::__private::serde_json::Value::Null,
                }
            }
        });
        quote!(::core::option::Option::Some(#get_fn))
    };

    let (link_type, link) = match &p.link {
        Some(l) => {
            let target = l.value.as_str();
            let target_ty = generic_arg_of(ty, "Link").unwrap_or(ty);
            let msg = format!(
                "`link = \"{target}\"` does not name the QOM type of the link's target type (`Link<T>` needs `T::TYPE_INFO.name == \"{target}\"`)"
            );
            items.extend(quote_spanned! {l.span=>
                const _: () = ::core::assert!(
                    ::qomgen::__private::str_eq(
                        <#target_ty as ::qomgen::ObjectType>::TYPE_INFO.name,
                        #target,
                    ),
                    #msg,
                );
            });
            items.extend(quote! {
                fn #link_fn(obj: &dyn ::qomgen::Object) -> ::core::option::Option<&::qomgen::ObjRef> {
                    ::qomgen::__private::part::<#owner>(obj).and_then(|this| #kind::link_target(&this.#fid))
                }
            });
            (
                quote!(::core::option::Option::Some(#target)),
                quote!(::core::option::Option::Some(#link_fn)),
            )
        }
        None => (
            quote!(::core::option::Option::None),
            quote!(::core::option::Option::None),
        ),
    };

    let default = match &p.default {
        Some(expr) => {
            items.extend(quote_spanned! {expr.span()=>
                fn #init_fn() -> #ty {
                    #expr
                }
            });
            items.extend(quote! {
                fn #default_fn() -> ::qomgen::DefaultValue {
                    #kind::default_value(&#init_fn())
                }
            });
            quote!(::core::option::Option::Some(#default_fn))
        }
        None => quote!(::core::option::Option::None),
    };

    let since = opt_str(p.since.as_ref().map(|s| s.value.as_str()));
    let set_after_realize = p.set_after_realize.is_some();
    let entry = quote! {
        ::qomgen::Property {
            name: #name,
            type_name: #type_name,
            description: #description,
            default: #default,
            since: #since,
            link_type: #link_type,
            set: #set,
            get: #get,
            link: #link,
            set_after_realize: #set_after_realize,
        }
    };
    Generated { entry, items }
}
