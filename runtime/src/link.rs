//! Typed links to other objects (`link<iommufd>`), resolved by id when set.

use std::cell::{Ref, RefMut};
use std::fmt;
use std::marker::PhantomData;

use crate::error::{Error, Result};
use crate::kind::{DefaultValue, Input, PropertyKind, ValueCx};
use crate::object::{Object, ObjectType};
use crate::tree::ObjRef;
use crate::types::TypeInfo;

/// What a [`Link`] resolves to: a registered object type (every
/// [`ObjectType`] is one), or a part of one that the type declares its
/// links resolve to, so that code that only uses that part need not name
/// the type (a backend object's state, say, which the object embeds).
pub trait LinkTarget: 'static {
    /// The type whose objects a link accepts (or a subtype).
    const TARGET: &'static TypeInfo;

    /// The part of `obj` a link borrows; `None` if `obj` is not a `TARGET`.
    fn project(obj: &dyn Object) -> Option<&Self>;

    /// Mutable counterpart of [`LinkTarget::project`].
    fn project_mut(obj: &mut dyn Object) -> Option<&mut Self>;
}

impl<T: ObjectType> LinkTarget for T {
    const TARGET: &'static TypeInfo = T::TYPE_INFO;

    fn project(obj: &dyn Object) -> Option<&Self> {
        obj.downcast_ref::<T>()
    }

    fn project_mut(obj: &mut dyn Object) -> Option<&mut Self> {
        obj.downcast_mut::<T>()
    }
}

/// A link property's value: unset, or a resolved reference to an object of
/// type `T` (or a subtype; see [`LinkTarget`]) together with the path it
/// was given as.
///
/// The target type is checked when the link is set, so [`Link::borrow`]
/// cannot fail on the type. An empty value (`iommufd=`) unsets the link,
/// as in QEMU; an `Option<Link<T>>` field then holds `None`.
pub struct Link<T> {
    target: Option<(Box<str>, ObjRef)>,
    _type: PhantomData<fn() -> T>,
}

impl<T> Default for Link<T> {
    fn default() -> Self {
        Link {
            target: None,
            _type: PhantomData,
        }
    }
}

impl<T> fmt::Debug for Link<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.target {
            Some((path, _)) => write!(f, "Link({path})"),
            None => f.write_str("Link(unset)"),
        }
    }
}

impl<T> Clone for Link<T> {
    fn clone(&self) -> Self {
        Link {
            target: self.target.clone(),
            _type: PhantomData,
        }
    }
}

impl<T: LinkTarget> Link<T> {
    /// Whether the link points somewhere.
    pub fn is_set(&self) -> bool {
        self.target.is_some()
    }

    /// The path or id the link was set to.
    pub fn path(&self) -> Option<&str> {
        self.target.as_ref().map(|(p, _)| &**p)
    }

    /// The shared reference to the target.
    pub fn object(&self) -> Option<&ObjRef> {
        self.target.as_ref().map(|(_, o)| o)
    }

    /// Borrows the target as a `T`.
    ///
    /// # Errors
    /// When the link is unset, or the target is mutably borrowed elsewhere.
    pub fn borrow(&self) -> Result<Ref<'_, T>> {
        let obj = self.object().ok_or_else(|| Error::new("link is not set"))?;
        let r = obj
            .try_borrow()
            .map_err(|_| Error::new(format!("object '{}' is busy", self.path().unwrap_or(""))))?;
        Ref::filter_map(r, |o| T::project(&**o)).map_err(|_| type_invariant_broken::<T>())
    }

    /// Mutably borrows the target as a `T`.
    ///
    /// # Errors
    /// When the link is unset, or the target is borrowed elsewhere.
    pub fn borrow_mut(&self) -> Result<RefMut<'_, T>> {
        let obj = self.object().ok_or_else(|| Error::new("link is not set"))?;
        let r = obj
            .try_borrow_mut()
            .map_err(|_| Error::new(format!("object '{}' is busy", self.path().unwrap_or(""))))?;
        RefMut::filter_map(r, |o| T::project_mut(&mut **o))
            .map_err(|_| type_invariant_broken::<T>())
    }
}

fn type_invariant_broken<T: LinkTarget>() -> Error {
    Error::new(format!("link target is not a '{}'", T::TARGET.name))
}

impl<T: LinkTarget> PropertyKind for Link<T> {
    // The derive emits the precise `link<NAME>` string into the table.
    const TYPE_NAME: &'static str = "link";
    const TAKES_DEFAULT: bool = false;
    const __LINK_TARGET: Option<&'static str> = Some(T::TARGET.name);

    fn parse(s: &str, cx: &ValueCx<'_>) -> Result<Self> {
        // QEMU's object_set_link_property: an empty path clears the link.
        if s.is_empty() {
            return Ok(Link::default());
        }
        let tree = cx
            .tree
            .ok_or_else(|| Error::new(format!("Device '{s}' not found")))?;
        let obj = tree.resolve_link(s, cx.prop, T::TARGET.name)?;
        Ok(Link {
            target: Some((s.into(), obj)),
            _type: PhantomData,
        })
    }

    fn from_json(v: &serde_json::Value, cx: &ValueCx<'_>) -> Result<Self> {
        Self::parse(cx.json_str(v)?, cx)
    }

    fn from_input(input: Input<'_>, cx: &ValueCx<'_>) -> Result<Self> {
        match input {
            Input::Str(s) => Self::parse(s, cx),
            Input::Json(v) => Self::from_json(v, cx),
        }
    }

    fn to_json(&self) -> serde_json::Value {
        match self.path() {
            Some(p) => p.into(),
            None => "".into(),
        }
    }

    fn print(&self) -> String {
        self.path().unwrap_or_default().to_owned()
    }

    fn default_value(&self) -> DefaultValue {
        DefaultValue::Str("")
    }

    fn link_target(&self) -> Option<&ObjRef> {
        self.object()
    }

    fn into_option(self) -> Option<Self> {
        self.is_set().then_some(self)
    }
}
