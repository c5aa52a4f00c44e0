//! Code generation, run only on a model that passed every check.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;

use crate::ast::{Field, Flavor, Input, replace_self_in};
use crate::attr::PropAttrs;
use crate::ctxt::Ctxt;
use crate::fallback;
use crate::{check, claim};

pub fn derive(original: &syn::DeriveInput, flavor: Flavor) -> TokenStream {
    let mut cx = Ctxt::default();
    let input = Input::from_syn(&mut cx, original, flavor);
    if let Some(input) = &input {
        check::check(&mut cx, input);
    }
    match (cx.check(), input) {
        (Ok(()), Some(input)) if flavor == Flavor::Group => expand_group(&input),
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

/// A type as a message shows it (`crate::Base`, not `crate :: Base`).
fn type_text(ty: &syn::Type) -> String {
    quote!(#ty).to_string().replace(" :: ", "::")
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
    let name_claim = claim::name_claim(input, &name);
    let (flavor_mark, object_type_bound) =
        claim::one_flavor(ident, input.flavor, input.attrs.name.is_some());
    let abstract_ = input.attrs.abstract_.is_some();

    let parent_info = match (&input.parent, input.flavor) {
        (Some(p), _) => {
            let ty = p.ty;
            quote_spanned!(ty.span()=> <#ty as ::qomgen::ObjectType>::TYPE_INFO)
        }
        (None, Flavor::Device) => quote!(&::qomgen::__private::DEVICE),
        (None, Flavor::Object | Flavor::Group) => quote!(&::qomgen::__private::OBJECT),
    };

    // A device's parent is a device, an object's an object (QOM's class
    // hierarchy: a device class derives from TYPE_DEVICE). Only types with
    // a parent get the check.
    let parent_check = input.parent.as_ref().map(|p| {
        let ty = p.ty;
        let ty_text = type_text(ty);
        let (is_device, msg) = match input.flavor {
            Flavor::Device => (
                true,
                format!("the #[parent] of a #[derive(Device)] type must be a device type, and `{ty_text}` is an object type (#[derive(Object)])"),
            ),
            Flavor::Object | Flavor::Group => (
                false,
                format!("the #[parent] of a #[derive(Object)] type must be an object type, and `{ty_text}` is a device type (#[derive(Device)])"),
            ),
        };
        quote_spanned! {ty.span()=>
            const _: () = ::core::assert!(
                <#ty as ::qomgen::ObjectType>::TYPE_INFO.is_device() == #is_device,
                #msg,
            );
        }
    });

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

    let flat = flattening(input, &props);
    let mut dispatch: Vec<&Generated> = props.iter().collect();
    dispatch.extend(&flat.arms);
    let (accessor_items, accessors) = accessors(ident, &dispatch);
    let flat_items = &flat.items;
    // A call, not a `&[...]` literal: see `__private::table`.
    let own_properties = if let Some(table) = &flat.table {
        quote!(&#table)
    } else if props.is_empty() {
        quote!(&[])
    } else {
        quote!(&::qomgen::__private::table([#(#entries),*]))
    };
    let accessors = if dispatch.is_empty() {
        quote!(&::qomgen::Accessors::NONE)
    } else {
        quote!(&#accessors)
    };

    let (field_inits, markers) = field_inits(input, &props);
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
                quote!(<#pty as ::qomgen::ObjectType>::__upcast(&self.#pid, __qomgen_ty)),
                quote!(<#pty as ::qomgen::ObjectType>::__upcast_mut(&mut self.#pid, __qomgen_ty)),
            )
        }
        None => (
            quote!(::core::option::Option::None),
            quote!(::core::option::Option::None),
        ),
    };
    let chain = |method: &str| -> TokenStream {
        let m = format_ident!("__{}", method);
        match &input.parent {
            Some(p) => {
                let (pid, pty) = (p.ident, p.ty);
                quote!(<#pty as ::qomgen::ObjectType>::#m(&mut self.#pid, __qomgen_cx))
            }
            None => quote!(::core::result::Result::Ok(())),
        }
    };
    let complete_parent = chain("complete_chain");
    let realize_parent = chain("realize_chain");
    let unrealize_parent = match &input.parent {
        Some(p) => {
            let (pid, pty) = (p.ident, p.ty);
            quote!(<#pty as ::qomgen::ObjectType>::__unrealize_chain(&mut self.#pid, __qomgen_cx);)
        }
        None => quote!(),
    };
    let (complete_body, realize_body, unrealize_body) = match input.flavor {
        Flavor::Object | Flavor::Group => (
            quote!(#complete_parent?; <#ident as ::qomgen::ObjectImpl>::complete(self, __qomgen_cx)),
            quote!(#realize_parent),
            quote!(#unrealize_parent),
        ),
        Flavor::Device => {
            // The type's `pre_realize` runs before its parents' chain (a
            // QEMU subclass's code before `parent_realize`), its `realize`
            // after it. A failed realize undoes the parents' (QEMU's
            // pci_qdev_realize unregisters the device when the class's
            // realize fails), so what they acquired is released; nothing
            // undoes a `pre_realize`, which acquires nothing.
            let realize_body = match &input.parent {
                Some(_) => quote! {
                    <#ident as ::qomgen::DeviceImpl>::pre_realize(self, __qomgen_cx)?;
                    #realize_parent?;
                    let __qomgen_realized = <#ident as ::qomgen::DeviceImpl>::realize(self, __qomgen_cx);
                    if __qomgen_realized.is_err() {
                        #unrealize_parent
                    }
                    __qomgen_realized
                },
                // One more call than before the hook (the provided method
                // is empty unless the type writes one). A generic helper
                // doing both would be one call, but its bound would make
                // a missing `DeviceImpl` a second error.
                None => quote! {
                    <#ident as ::qomgen::DeviceImpl>::pre_realize(self, __qomgen_cx)?;
                    <#ident as ::qomgen::DeviceImpl>::realize(self, __qomgen_cx)
                },
            };
            (
                quote!(#complete_parent),
                realize_body,
                quote!(<#ident as ::qomgen::DeviceImpl>::unrealize(self, __qomgen_cx); #unrealize_parent),
            )
        }
    };

    quote! {
        #[allow(non_upper_case_globals, clippy::all, unused_qualifications)]
        const _: () = {
            // With no settable (readable) property the accessor's match has only `_`.
            #[allow(unused_variables, unreachable_code)]
            static __QOMGEN_TYPE: ::qomgen::TypeInfo = ::qomgen::TypeInfo {
                name: #name,
                parent: ::core::option::Option::Some(#parent_info),
                abstract_: #abstract_,
                description: #description,
                kind: #kind,
                own_properties: #own_properties,
                instantiate: #instantiate,
                rust_name: ::core::concat!(::core::module_path!(), "::", #rust_name),
                // After the table: see `accessors`.
                accessors: #accessors,
            };

            #parent_check

            #name_claim

            #flavor_mark

            #markers

            #accessor_items

            #(#items)*

            #flat_items

            fn __qomgen_instantiate() -> ::std::boxed::Box<dyn ::qomgen::Object> {
                ::std::boxed::Box::new(<#ident as ::qomgen::ObjectType>::with_defaults())
            }

            ::qomgen::__private::inventory::submit! {
                ::qomgen::__private::Registration(&__QOMGEN_TYPE)
            }

            #[automatically_derived]
            impl ::qomgen::ObjectType for #ident #object_type_bound {
                const TYPE_INFO: &'static ::qomgen::TypeInfo = &__QOMGEN_TYPE;

                fn with_defaults() -> Self {
                    #ident {
                        #parent_init
                        #(#field_inits,)*
                    }
                }

                fn __upcast(&self, __qomgen_ty: &'static ::qomgen::TypeInfo) -> ::core::option::Option<&dyn ::core::any::Any> {
                    if ::core::ptr::eq(__qomgen_ty, &__QOMGEN_TYPE) {
                        ::core::option::Option::Some(self)
                    } else {
                        #upcast_parent
                    }
                }

                fn __upcast_mut(&mut self, __qomgen_ty: &'static ::qomgen::TypeInfo) -> ::core::option::Option<&mut dyn ::core::any::Any> {
                    if ::core::ptr::eq(__qomgen_ty, &__QOMGEN_TYPE) {
                        ::core::option::Option::Some(self)
                    } else {
                        #upcast_parent_mut
                    }
                }

                fn __complete_chain(&mut self, __qomgen_cx: &::qomgen::LifecycleCx<'_>) -> ::qomgen::Result<()> {
                    #complete_body
                }

                fn __realize_chain(&mut self, __qomgen_cx: &::qomgen::LifecycleCx<'_>) -> ::qomgen::Result<()> {
                    #realize_body
                }

                fn __unrealize_chain(&mut self, __qomgen_cx: &::qomgen::LifecycleCx<'_>) {
                    let _ = __qomgen_cx;
                    #unrealize_body
                }
            }
        };
    }
}

/// What the type's flattened groups add: the table that places their
/// entries among the type's own, the accessors' arms that dispatch to
/// them, and the checks of their names.
#[derive(Default)]
struct Flattening {
    table: Option<TokenStream>,
    arms: Vec<Generated>,
    items: TokenStream,
}

/// The table of a type with `#[prop(flatten)]` fields: its own entries
/// then, from index `own`, each group's, in the order of the type's
/// declaration (`member(before = ...)` moving a member before one of the
/// type's own properties), assembled when the static is evaluated, as
/// only then are the groups' tables known. What the derive cannot see,
/// the groups' names, is checked there too: against the type's own
/// names, each other's, the parent's, and `member(name = ...)`.
fn flattening(input: &Input<'_>, props: &[Generated]) -> Flattening {
    let groups: Vec<_> = input.flattened().collect();
    if groups.is_empty() {
        return Flattening::default();
    }
    let mut out = Flattening::default();
    let own_count = input.props().count();
    let group_ty = |ty: &syn::Type| quote_spanned!(ty.span()=> <#ty as ::qomgen::PropertyGroup>);
    // Each group's first index, a constant of the type's scope.
    let base = |k: usize| format_ident!("__QOMGEN_GROUP_{}", k);
    let mut bases = TokenStream::new();
    for (k, (f, _)) in groups.iter().enumerate() {
        let b = base(k);
        let value = match k
            .checked_sub(1)
            .and_then(|prev| groups.get(prev).map(|g| (prev, g)))
        {
            None => quote!(#own_count),
            Some((prev, (pf, _))) => {
                let pb = base(prev);
                let pg = group_ty(&pf.ty);
                quote!(#pb + #pg::PROPERTIES.len())
            }
        };
        bases.extend(quote!(const #b: usize = #value;));
        let (fid, g) = (f.ident, group_ty(&f.ty));
        let range = quote!(#b..#b + #g::PROPERTIES.len());
        out.arms.push(Generated {
            set_arm: Some(quote! {
                __qomgen_i if (#range).contains(&__qomgen_i) => #g::__set(&mut __qomgen_this.#fid, __qomgen_i - #b, __qomgen_v, __qomgen_cx),
            }),
            get_arm: Some(quote! {
                __qomgen_i if (#range).contains(&__qomgen_i) => #g::__get(&__qomgen_this.#fid, __qomgen_i - #b),
            }),
            link_arm: Some(quote! {
                __qomgen_i if (#range).contains(&__qomgen_i) => #g::__link(&__qomgen_this.#fid, __qomgen_i - #b),
            }),
            default_arm: Some(quote! {
                __qomgen_i if (#range).contains(&__qomgen_i) => #g::__default(__qomgen_i - #b),
            }),
            ..Generated::default()
        });
    }

    // The order: each own property after the members placed before it,
    // each group's unplaced members at its field.
    let mut layout = Vec::new();
    let mut own_index = 0usize;
    let member = |k: usize, m: &crate::attr::MemberAttrs| {
        let name = m
            .name
            .as_ref()
            .map(|n| n.value.as_str())
            .unwrap_or_default();
        let since = opt_str(m.since.as_ref().map(|s| s.value.as_str()));
        quote!(::qomgen::__private::Placement::Member { group: #k, name: #name, since: #since })
    };
    for f in &input.fields {
        if f.prop.is_some() {
            let name = f.prop_name();
            for (k, (_, gp)) in groups.iter().enumerate() {
                for m in gp
                    .members
                    .iter()
                    .filter(|m| m.before.as_ref().is_some_and(|b| b.value == name))
                {
                    layout.push(member(k, m));
                }
            }
            layout.push(quote!(::qomgen::__private::Placement::Own(#own_index)));
            own_index += 1;
        } else if let Some(k) = groups.iter().position(|(g, _)| std::ptr::eq(*g, f)) {
            if let Some((_, gp)) = groups.get(k) {
                for m in gp.members.iter().filter(|m| m.before.is_none()) {
                    layout.push(member(k, m));
                }
            }
            layout.push(quote!(::qomgen::__private::Placement::Rest(#k)));
        }
    }
    let entries = props.iter().map(|p| &p.entry);
    let tables = groups.iter().map(|(f, _)| {
        let g = group_ty(&f.ty);
        quote!(#g::PROPERTIES)
    });
    let lens = groups.iter().map(|(f, _)| {
        let g = group_ty(&f.ty);
        quote!(+ #g::PROPERTIES.len())
    });
    let object = input.flavor == Flavor::Object;
    out.table = Some(quote! {
        ::qomgen::__private::flattened::<{ #own_count #(#lens)* }>(
            &__QOMGEN_TYPE,
            #object,
            &[#(#entries),*],
            &[#(#tables),*],
            &[#(#layout),*],
        )
    });

    // The checks, each spanned where the name is written.
    let mut checks = TokenStream::new();
    for (k, (gf, gp)) in groups.iter().enumerate() {
        let (gid, g) = (gf.ident, group_ty(&gf.ty));
        let gty_text = type_text(&gf.ty);
        for (f, p) in input.props() {
            let name = f.prop_name();
            let span = p.name.as_ref().map_or_else(|| f.ident.span(), |n| n.span);
            let msg = format!(
                "property `{name}` is also a member of `{gty_text}`, which field `{gid}` flattens into this type: a type declares a name once"
            );
            checks.extend(quote_spanned! {span=>
                const _: () = ::core::assert!(!::qomgen::__private::declares(#g::PROPERTIES, #name), #msg);
            });
        }
        for (earlier, _) in groups.iter().take(k) {
            let (eid, e) = (earlier.ident, group_ty(&earlier.ty));
            let msg = format!(
                "`{gty_text}` (field `{gid}`) and `{}` (field `{eid}`) have a property name in common: a type declares a name once",
                type_text(&earlier.ty)
            );
            checks.extend(quote_spanned! {gf.ty.span()=>
                const _: () = ::core::assert!(!::qomgen::__private::overlap(#g::PROPERTIES, #e::PROPERTIES), #msg);
            });
        }
        for m in &gp.members {
            let Some(name) = &m.name else { continue };
            let value = name.value.as_str();
            let msg = format!("`{gty_text}` has no property `{value}` for `member(...)` to place");
            checks.extend(quote_spanned! {name.span=>
                const _: () = ::core::assert!(::qomgen::__private::declares(#g::PROPERTIES, #value), #msg);
            });
        }
        if let Some(parent) = &input.parent {
            let pty = parent.ty;
            let msg = format!(
                "a property of `{gty_text}` (field `{gid}`) is already declared by the parent type `{}` or one of its ancestors: a type cannot redeclare an inherited property",
                type_text(pty)
            );
            checks.extend(quote_spanned! {gf.ty.span()=>
                const _: () = ::core::assert!(!::qomgen::__private::inherits_any(<#pty as ::qomgen::ObjectType>::TYPE_INFO, #g::PROPERTIES), #msg);
            });
        }
    }
    out.items = quote!(#bases #checks);
    out
}

/// How `with_defaults` initializes each field, and the marker module
/// its errors need.
///
/// A field without an initializer of its own starts at `Default`,
/// through a trait whose error names the field (by a marker type of
/// the field's name, in a module of its own so that it shadows no type)
/// and `#[prop(skip, default = ...)]`; a flattened group at the group's
/// defaults.
fn field_inits(input: &Input<'_>, props: &[Generated]) -> (Vec<TokenStream>, Option<TokenStream>) {
    let ident = input.ident;
    let mut markers = Vec::new();
    let field_inits: Vec<_> = input
        .fields
        .iter()
        .map(|f| {
            let fid = f.ident;
            let ty = &f.ty;
            if f.flatten.is_some() {
                return quote_spanned!(ty.span()=> #fid: <#ty as ::qomgen::PropertyGroup>::with_defaults());
            }
            let prop_index = input.props().position(|(pf, _)| std::ptr::eq(pf, f));
            if let Some(init) = prop_index.and_then(|pi| props.get(pi)).and_then(|g| g.init.as_ref()) {
                return quote!(#fid: #init);
            }
            if let Some(expr) = f.skipped.as_ref().and_then(|p| p.default.as_ref()) {
                let expr = replace_self_in(expr, ident);
                return quote_spanned!(expr.span()=> #fid: {
                    let __qomgen_default: #ty = #expr;
                    __qomgen_default
                });
            }
            if prop_index.is_some() {
                return quote_spanned!(ty.span()=> #fid: <#ty as ::core::default::Default>::default());
            }
            markers.push(fid);
            quote_spanned!(ty.span()=> #fid: <#ty as ::qomgen::__private::FieldDefault<__qomgen_field::#fid>>::field_default())
        })
        .collect();
    let markers = (!markers.is_empty()).then(|| {
        quote! {
            #[allow(non_camel_case_types, dead_code)]
            mod __qomgen_field {
                #(pub enum #markers {})*
            }
        }
    });
    (field_inits, markers)
}

/// `#[derive(PropertyGroup)]`: the group's table, its defaults and its
/// accessors, which the types that flatten it call.
fn expand_group(input: &Input<'_>) -> TokenStream {
    let ident = input.ident;
    let props: Vec<_> = input
        .props()
        .enumerate()
        .map(|(i, (f, p))| property(input, i, f, p))
        .collect();
    let (field_inits, markers) = field_inits(input, &props);
    let entries = props.iter().map(|p| &p.entry);
    let items = props.iter().map(|p| &p.items);
    let table = if props.is_empty() {
        quote!(&[])
    } else {
        quote!(&::qomgen::__private::table([#(#entries),*]))
    };
    let set_arms = props.iter().filter_map(|p| p.set_arm.as_ref());
    let get_arms = props.iter().filter_map(|p| p.get_arm.as_ref());
    let link_arms = props.iter().filter_map(|p| p.link_arm.as_ref());
    let default_arms: Vec<_> = props
        .iter()
        .filter_map(|p| p.default_arm.as_ref())
        .collect();
    let default_body = if default_arms.is_empty() {
        quote!(::qomgen::__private::bad_index(__qomgen_index))
    } else {
        quote! {
            let __qomgen_d = <#ident as ::qomgen::PropertyGroup>::with_defaults();
            match __qomgen_index {
                #(#default_arms)*
                _ => ::qomgen::__private::bad_index(__qomgen_index),
            }
        }
    };
    quote! {
        #[allow(non_upper_case_globals, clippy::all, unused_qualifications)]
        const _: () = {
            #markers

            #(#items)*

            #[automatically_derived]
            impl ::qomgen::PropertyGroup for #ident {
                const PROPERTIES: &'static [::qomgen::Property] = #table;

                fn with_defaults() -> Self {
                    #ident {
                        #(#field_inits,)*
                    }
                }

                #[allow(unused_variables, unreachable_code)]
                fn __set(
                    &mut self,
                    __qomgen_index: usize,
                    __qomgen_v: ::qomgen::Input<'_>,
                    __qomgen_cx: &::qomgen::ValueCx<'_>,
                ) -> ::qomgen::Result<()> {
                    let __qomgen_this = self;
                    match __qomgen_index {
                        #(#set_arms)*
                        _ => ::qomgen::__private::bad_index(__qomgen_index),
                    }
                }

                #[allow(unused_variables, unreachable_code)]
                fn __get(&self, __qomgen_index: usize) -> &dyn ::qomgen::__private::Slot {
                    let __qomgen_this = self;
                    match __qomgen_index {
                        #(#get_arms)*
                        _ => ::qomgen::__private::bad_index(__qomgen_index),
                    }
                }

                #[allow(unused_variables, unreachable_code)]
                fn __link(&self, __qomgen_index: usize) -> ::core::option::Option<&::qomgen::ObjRef> {
                    let __qomgen_this = self;
                    match __qomgen_index {
                        #(#link_arms)*
                        _ => ::qomgen::__private::bad_index(__qomgen_index),
                    }
                }

                #[allow(unused_variables, unreachable_code)]
                fn __default(__qomgen_index: usize) -> ::qomgen::DefaultValue {
                    #default_body
                }
            }
        };
    }
}

fn type_kind(input: &Input<'_>, parent_info: &TokenStream) -> TokenStream {
    let a = &input.attrs;
    match input.flavor {
        Flavor::Object | Flavor::Group => {
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

/// What one property contributes: its table entry, the arms of the
/// type's accessors (each `index => ...`), and items of its own (a
/// default's initializer, the link check).
#[derive(Default)]
struct Generated {
    entry: TokenStream,
    items: TokenStream,
    set_arm: Option<TokenStream>,
    get_arm: Option<TokenStream>,
    link_arm: Option<TokenStream>,
    default_arm: Option<TokenStream>,
    /// How `with_defaults` initializes the field, when it has a default.
    init: Option<TokenStream>,
}

/// The type's accessors (`qomgen::Accessors`): one setter, one getter, one
/// link reader and one default renderer, each dispatching on the
/// property's index, in place of functions per property (what the compile
/// time of a table scales with). Returns the items (the setter, the link
/// reader and the default renderer, functions) and the `Accessors`
/// expression for the type's static (with the getter as a closure).
///
/// Each setter arm is one call of the kind's `set_from`, statically
/// dispatched: setting is the hot path of `-device` parsing. The getter's
/// arms only pick the field, as a `&dyn Slot`, and the kind's one `Slot`
/// implementation converts it after the match, so a getter arm costs the
/// compiler a coercion instead of a call (the dynamic call costs a read of
/// a property some 25 instructions, which only introspection pays). The
/// getter is a closure in the type's initializer, after the table: it is
/// type-checked after the entries in the same body, where a field type
/// that is no property kind has already failed `PropertyKind` at the same
/// place, so the compiler reports that error once rather than again for
/// the `Slot` coercion. The setter's calls name `PropertyKind`, whose
/// errors are the entries' own, reported once.
fn accessors(owner: &syn::Ident, props: &[&Generated]) -> (TokenStream, TokenStream) {
    if props.is_empty() {
        return (TokenStream::new(), TokenStream::new());
    }
    let set_arms = props.iter().filter_map(|p| p.set_arm.as_ref());
    let get_arms = props.iter().filter_map(|p| p.get_arm.as_ref());
    let mut items = quote! {
        // With no settable property the match has only `_`.
        #[allow(unused_variables, unreachable_code)]
        fn __qomgen_set(
            __qomgen_obj: &mut dyn ::qomgen::Object,
            __qomgen_index: usize,
            __qomgen_v: ::qomgen::Input<'_>,
            __qomgen_cx: &::qomgen::ValueCx<'_>,
        ) -> ::qomgen::Result<()> {
            let __qomgen_this = ::qomgen::__private::part_mut::<#owner>(__qomgen_obj)?;
            match __qomgen_index {
                #(#set_arms)*
                _ => ::qomgen::__private::bad_index(__qomgen_index),
            }
        }
    };
    let link_arms: Vec<_> = props.iter().filter_map(|p| p.link_arm.as_ref()).collect();
    let link_fn = if link_arms.is_empty() {
        quote!(::core::option::Option::None)
    } else {
        items.extend(quote! {
            fn __qomgen_link(__qomgen_obj: &dyn ::qomgen::Object, __qomgen_index: usize) -> ::core::option::Option<&::qomgen::ObjRef> {
                let __qomgen_this = ::qomgen::__private::part::<#owner>(__qomgen_obj)?;
                match __qomgen_index {
                    #(#link_arms)*
                    _ => ::qomgen::__private::bad_index(__qomgen_index),
                }
            }
        });
        quote!(::core::option::Option::Some(__qomgen_link))
    };
    let default_arms: Vec<_> = props
        .iter()
        .filter_map(|p| p.default_arm.as_ref())
        .collect();
    let default_fn = if default_arms.is_empty() {
        quote!(::qomgen::Accessors::NONE.default)
    } else {
        items.extend(quote! {
            #[allow(unused_variables)]
            fn __qomgen_default(__qomgen_index: usize) -> ::qomgen::DefaultValue {
                let __qomgen_d = <#owner as ::qomgen::ObjectType>::with_defaults();
                match __qomgen_index {
                    #(#default_arms)*
                    _ => ::qomgen::__private::bad_index(__qomgen_index),
                }
            }
        });
        quote!(__qomgen_default)
    };
    let acc = quote! {
        ::qomgen::Accessors {
            set: __qomgen_set,
            get: |__qomgen_obj, __qomgen_index| {
                let ::core::option::Option::Some(__qomgen_this) = ::qomgen::__private::part::<#owner>(__qomgen_obj) else {
                    return ::qomgen::__private::serde_json::Value::Null;
                };
                let __qomgen_slot: &dyn ::qomgen::__private::Slot = match __qomgen_index {
                    #(#get_arms)*
                    _ => ::qomgen::__private::bad_index(__qomgen_index),
                };
                __qomgen_slot.get()
            },
            link: #link_fn,
            default: #default_fn,
        }
    };
    (items, acc)
}

/// Integer and bool types whose `PropertyKind::default_value` is a plain
/// widening (`DefaultValue::UInt(v as u64)` / `Int(v as i64)` / `Bool(v)`).
fn primitive_kind(ty: &syn::Type) -> Option<&'static str> {
    let syn::Type::Path(p) = ty else { return None };
    if p.qself.is_some() {
        return None;
    }
    let id = p.path.get_ident()?.to_string();
    Some(match id.as_str() {
        "bool" => "bool",
        "u8" | "u16" | "u32" | "u64" | "usize" => "unsigned",
        "i8" | "i16" | "i32" | "i64" => "signed",
        _ => return None,
    })
}

/// Whether `expr` is a literal number (`4`, `-1`, `0x100`) or `T::MAX` /
/// `T::MIN` of a primitive integer: a value the table can render itself.
fn int_constant(expr: &syn::Expr) -> bool {
    match expr {
        syn::Expr::Lit(l) => matches!(l.lit, syn::Lit::Int(_)),
        syn::Expr::Unary(u) => {
            matches!(u.op, syn::UnOp::Neg(_))
                && matches!(&*u.expr, syn::Expr::Lit(l) if matches!(l.lit, syn::Lit::Int(_)))
        }
        syn::Expr::Path(p) => {
            let segs: Vec<_> = p
                .path
                .segments
                .iter()
                .map(|s| s.ident.to_string())
                .collect();
            p.qself.is_none()
                && segs.len() == 2
                && matches!(
                    segs[0].as_str(),
                    "u8" | "u16" | "u32" | "u64" | "usize" | "i8" | "i16" | "i32" | "i64"
                )
                && matches!(segs[1].as_str(), "MAX" | "MIN")
        }
        _ => false,
    }
}

/// The default as a constant `DefaultValue`, when the macro can render it
/// (a bool or integer constant on a field of that primitive type); the
/// field's initializer then checks the expression's type.
fn constant_default(ty: &syn::Type, expr: &syn::Expr) -> Option<TokenStream> {
    let value = quote_spanned!(expr.span()=> (#expr));
    match primitive_kind(ty)? {
        "bool" => matches!(expr, syn::Expr::Lit(l) if matches!(l.lit, syn::Lit::Bool(_)))
            .then(|| quote!(::qomgen::DefaultValue::Bool(#value))),
        "unsigned" => {
            int_constant(expr).then(|| quote!(::qomgen::DefaultValue::UInt(#value as u64)))
        }
        _ => int_constant(expr).then(|| quote!(::qomgen::DefaultValue::Int(#value as i64))),
    }
}

fn property(input: &Input<'_>, i: usize, f: &Field<'_>, p: &PropAttrs) -> Generated {
    let owner = input.ident;
    let fid = f.ident;
    let ty = &f.ty;
    let name = f.prop_name();
    let kind = quote_spanned!(ty.span()=> <#ty as ::qomgen::PropertyKind>);
    let index = proc_macro2::Literal::usize_unsuffixed(i);
    // The getter's arm, `&this.field`, is spanned from the first to the
    // last token of the field's type (see `get_arm` below).
    let ty_tokens: Vec<_> = quote!(#ty).into_iter().collect();
    let ty_first = ty_tokens.first().map_or_else(|| ty.span(), |t| t.span());
    let ty_last = ty_tokens.last().map_or_else(|| ty.span(), |t| t.span());
    // A clone keeps a raw identifier raw (`r#loop`); `Ident::new` of its
    // text would panic.
    let mut field_at_ty = fid.clone();
    field_at_ty.set_span(ty_last);
    let mut g = Generated::default();

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
    } else if input.flavor == Flavor::Object {
        // An object's string property is QOM's `string`
        // (`object_class_property_add_str`); `str` is qdev's.
        quote!(::qomgen::__private::object_type_name(#kind::TYPE_NAME))
    } else {
        quote!(#kind::TYPE_NAME)
    };
    let description = match declared {
        Some(d) => quote!(::core::option::Option::Some(#d)),
        None if uses_kind && p.link.is_none() => quote!(#kind::DESCRIPTION),
        None => quote!(::core::option::Option::None),
    };
    let since = opt_str(p.since.as_ref().map(|s| s.value.as_str()));

    // The table entry: one constructor call, wrapped only for the rare
    // attributes.
    // A group's entries get their owner from the type that flattens them.
    let owner_info = match input.flavor {
        Flavor::Group => quote!(&::qomgen::__private::OBJECT),
        _ => quote!(&__QOMGEN_TYPE),
    };
    let head = quote!(#owner_info, #name, #type_name, #index, #description, #since);
    let mut entry = match &p.default {
        None => quote!(::qomgen::__private::prop(#head, ::qomgen::PropertyDefault::None)),
        Some(expr) => match constant_default(ty, expr) {
            Some(value) => {
                g.init = Some(quote_spanned!(expr.span()=> #expr));
                quote!(::qomgen::__private::prop(#head, ::qomgen::PropertyDefault::Value(#value)))
            }
            None => {
                // The expression may be anything (`QemuUuid::auto()`), and its
                // rendering needs the kind's `default_value`, which cannot run
                // in a constant: the type's default renderer reads it from a
                // default instance (`with_defaults`, the one place the
                // expression is written, and so its one type error, which
                // the binding's type makes point at the field's type too).
                g.init = Some(quote_spanned!(expr.span()=> {
                    let __qomgen_default: #ty = #expr;
                    __qomgen_default
                }));
                g.default_arm = Some(quote!(#index => #kind::default_value(&__qomgen_d.#fid),));
                // The kind must be one whose defaults the table can show.
                let computed = quote_spanned!(expr.span()=>
                    ::qomgen::__private::computed_default(#kind::TAKES_DEFAULT)
                );
                quote!(::qomgen::__private::prop(#head, #computed))
            }
        },
    };

    if p.read_only.is_some() {
        entry = quote!(::qomgen::__private::read_only(#entry));
    } else if let Some(setter) = &p.setter {
        let setter = replace_self_in(setter, owner);
        g.set_arm = Some(quote_spanned! {setter.span()=>
            #index => {
                let __qomgen_value = <::std::string::String as ::qomgen::PropertyKind>::from_input(__qomgen_v, __qomgen_cx)?;
                let __qomgen_f: fn(&mut #owner, &str) -> ::qomgen::Result<()> = #setter;
                __qomgen_f(__qomgen_this, &__qomgen_value)
            }
        });
    } else {
        g.set_arm = Some(
            quote!(#index => #kind::set_from(&mut __qomgen_this.#fid, __qomgen_v, __qomgen_cx),),
        );
    }

    if p.write_only.is_some() {
        entry = quote!(::qomgen::__private::write_only(#entry));
    } else {
        // The coercion is spanned at the field's type, as the entry's
        // `TYPE_NAME` is: a type that is no property kind then fails `Slot`
        // where it failed `PropertyKind`, which implies it, and the compiler
        // reports only the latter.
        g.get_arm = Some(quote_spanned!(ty_first=> #index => &__qomgen_this.#field_at_ty,));
    }

    if let Some(l) = &p.link {
        let target = l.value.as_str();
        let msg = format!(
            "`link = \"{target}\"` does not name the QOM type of the link's target type (`Link<T>` needs `T::TYPE_INFO.name == \"{target}\"`)"
        );
        g.items.extend(quote_spanned! {l.span=>
            const _: () = ::core::assert!(
                ::qomgen::__private::link_target_is(#kind::__LINK_TARGET, #target),
                #msg,
            );
        });
        g.link_arm = Some(quote!(#index => #kind::link_target(&__qomgen_this.#fid),));
        entry = quote!(::qomgen::__private::link(#entry, #target, #kind::TYPE_NAME));
    }

    if p.set_after_realize.is_some() {
        entry = quote!(::qomgen::__private::set_after_realize(#entry));
    }

    // Only a type with a parent can redeclare an inherited name.
    if let Some(parent) = &input.parent {
        let pty = parent.ty;
        let span = p.name.as_ref().map_or_else(|| fid.span(), |n| n.span);
        let pty_text = type_text(pty);
        let msg = format!(
            "property `{name}` is already declared by the parent type `{pty_text}` or one of its ancestors: a type cannot redeclare an inherited property"
        );
        g.items.extend(quote_spanned! {span=>
            const _: () = ::core::assert!(
                !::qomgen::__private::inherits_property(<#pty as ::qomgen::ObjectType>::TYPE_INFO, #name),
                #msg,
            );
        });
    }
    g.entry = entry;
    g
}
