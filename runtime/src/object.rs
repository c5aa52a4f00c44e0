//! The traits every object implements: the derive writes [`Object`] and
//! [`ObjectType`]; the author writes [`ObjectImpl`] or [`DeviceImpl`].

use std::any::Any;

use crate::error::Result;
use crate::tree::ObjectTree;
use crate::types::TypeInfo;

/// What the lifecycle hooks see: the tree the object lives in (to reach
/// linked objects and shared resources such as a host abstraction).
pub struct LifecycleCx<'a> {
    /// The tree the object is being created or realized in.
    pub tree: &'a ObjectTree,
    /// The object's id, if it has one.
    pub id: Option<&'a str>,
}

impl LifecycleCx<'_> {
    /// A shared resource registered with [`ObjectTree::set_resource`].
    pub fn resource<T: Any>(&self) -> Option<&T> {
        self.tree.resource::<T>()
    }

    /// Reports a warning that does not fail the hook (QEMU's
    /// `warn_report`), kept by the tree until [`ObjectTree::take_warnings`].
    pub fn warn(&self, warning: crate::Error) {
        self.tree.warn(warning);
    }
}

/// The dynamic face of an instance: its type and access to the parts that
/// its ancestors' properties operate on. Implemented for every
/// [`ObjectType`], which the derives write.
pub trait Object: Any {
    /// The instance's most derived type.
    fn type_info(&self) -> &'static TypeInfo;

    /// The part of `self` that is an instance of `ty` (itself or an embedded parent).
    fn upcast(&self, ty: &'static TypeInfo) -> Option<&dyn Any>;

    /// Mutable counterpart of [`Object::upcast`].
    fn upcast_mut(&mut self, ty: &'static TypeInfo) -> Option<&mut dyn Any>;

    /// Runs the completion hooks, root type first (user-creatable objects).
    fn complete_chain(&mut self, cx: &LifecycleCx<'_>) -> Result<()>;

    /// Runs the realize hooks: each type's `pre_realize` (most derived
    /// first), then each type's `realize` (root type first); see
    /// [`DeviceImpl`]. When a `realize` fails, the ancestors realized
    /// before it are unrealized (most derived first), so a failed realize
    /// leaves nothing acquired.
    fn realize_chain(&mut self, cx: &LifecycleCx<'_>) -> Result<()>;

    /// Runs the unrealize hooks, most derived type first.
    fn unrealize_chain(&mut self, cx: &LifecycleCx<'_>);
}

impl std::fmt::Debug for dyn Object {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "<{} object>", self.type_info().name)
    }
}

impl dyn Object {
    /// The part of `self` that is a `T`, if `self` is a `T` or derives from it.
    pub fn downcast_ref<T: ObjectType>(&self) -> Option<&T> {
        self.upcast(T::TYPE_INFO)?.downcast_ref()
    }

    /// Mutable counterpart of `downcast_ref`.
    pub fn downcast_mut<T: ObjectType>(&mut self) -> Option<&mut T> {
        self.upcast_mut(T::TYPE_INFO)?.downcast_mut()
    }
}

/// A Rust type registered as a QOM type. Written by the derive, and the
/// one trait it writes: [`Object`] comes with it. A type given both derives
/// (`#[derive(Object, Device)]`) gets one error that says which to remove,
/// not the conflict of this trait's two implementations: the device's
/// implementation is bounded so that it cannot apply then.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a registered object type",
    label = "not registered as an object type",
    note = "derive `qomgen::Object` or `qomgen::Device` on `{Self}` to register it; only registered types can be parents or link targets"
)]
pub trait ObjectType: Any + Sized {
    /// The type's static description.
    const TYPE_INFO: &'static TypeInfo;

    /// An instance with every property at its default (parents' included)
    /// and every other field at `Default::default()`.
    fn with_defaults() -> Self;

    // `Object`'s methods, statically dispatched: the derive writes them
    // here, and a derived type calls them on its `#[parent]`, so that a
    // parent type that is not registered fails one trait at one place.

    #[doc(hidden)]
    fn __upcast(&self, ty: &'static TypeInfo) -> Option<&dyn Any>;

    #[doc(hidden)]
    fn __upcast_mut(&mut self, ty: &'static TypeInfo) -> Option<&mut dyn Any>;

    #[doc(hidden)]
    fn __complete_chain(&mut self, cx: &LifecycleCx<'_>) -> Result<()>;

    #[doc(hidden)]
    fn __realize_chain(&mut self, cx: &LifecycleCx<'_>) -> Result<()>;

    #[doc(hidden)]
    fn __unrealize_chain(&mut self, cx: &LifecycleCx<'_>);
}

impl<T: ObjectType> Object for T {
    #[inline]
    fn type_info(&self) -> &'static TypeInfo {
        T::TYPE_INFO
    }

    #[inline]
    fn upcast(&self, ty: &'static TypeInfo) -> Option<&dyn Any> {
        self.__upcast(ty)
    }

    #[inline]
    fn upcast_mut(&mut self, ty: &'static TypeInfo) -> Option<&mut dyn Any> {
        self.__upcast_mut(ty)
    }

    #[inline]
    fn complete_chain(&mut self, cx: &LifecycleCx<'_>) -> Result<()> {
        self.__complete_chain(cx)
    }

    #[inline]
    fn realize_chain(&mut self, cx: &LifecycleCx<'_>) -> Result<()> {
        self.__realize_chain(cx)
    }

    #[inline]
    fn unrealize_chain(&mut self, cx: &LifecycleCx<'_>) {
        self.__unrealize_chain(cx);
    }
}

/// Hooks of a plain object. `complete` runs after the properties of an
/// `-object` are set (QEMU's `UserCreatable::complete`); an error there
/// means the object is not created.
#[diagnostic::on_unimplemented(
    message = "`{Self}` derives `Object` but does not implement `qomgen::ObjectImpl`",
    note = "add `impl qomgen::ObjectImpl for {Self} {{}}` (the hooks have defaults)"
)]
pub trait ObjectImpl {
    /// Validates and acquires what the object needs once its properties are set.
    fn complete(&mut self, cx: &LifecycleCx<'_>) -> Result<()> {
        let _ = cx;
        Ok(())
    }
}

/// Hooks of a device, run by [`ObjectTree::realize`](crate::ObjectTree::realize)
/// (and so by `device_add`) in QEMU's order for a type `C` whose parent
/// is `B`, whose parent is `A`:
///
/// 1. `C::pre_realize`, `B::pre_realize`, `A::pre_realize`: most derived
///    first, each before its parents' steps, as a QEMU subclass's realize
///    runs its own code before it calls `parent_realize`;
/// 2. `A::realize`, `B::realize`, `C::realize`: root type first, each after
///    its parents' realize.
///
/// `realize` turns a configured device into a working one; a failed
/// realize must release whatever it acquired (owning types make that
/// automatic), and the parent types' realize, which ran before it, is then
/// undone by their `unrealize`. `unrealize` undoes a successful realize.
/// When any step fails, the steps after it do not run and the device is
/// not added to the tree.
#[diagnostic::on_unimplemented(
    message = "`{Self}` derives `Device` but does not implement `qomgen::DeviceImpl`",
    note = "add `impl qomgen::DeviceImpl for {Self} {{}}` (the hooks have defaults)"
)]
pub trait DeviceImpl {
    /// Runs before the parent types' `pre_realize` and `realize`: for
    /// checks that must come before the parents' realize, and for handing
    /// this type's settings to fields of its parents that their realize
    /// reads (QEMU keeps such settings in the parent's instance struct and
    /// registers their properties only on the subtype, as with
    /// `vfio-pci-nohotplug`'s `ramfb`). It must not acquire anything:
    /// nothing undoes it, neither when it fails (no realize has run yet,
    /// so there is nothing to undo) nor when a later step fails (the
    /// instance is then dropped). Acquire in [`DeviceImpl::realize`].
    fn pre_realize(&mut self, cx: &LifecycleCx<'_>) -> Result<()> {
        let _ = cx;
        Ok(())
    }

    /// Realizes the device. Parent types are realized first, and every
    /// type's `pre_realize` has run before them.
    fn realize(&mut self, cx: &LifecycleCx<'_>) -> Result<()> {
        let _ = cx;
        Ok(())
    }

    /// Releases what `realize` acquired. Runs before the parent type's unrealize.
    fn unrealize(&mut self, cx: &LifecycleCx<'_>) {
        let _ = cx;
    }
}
