//! Property groups: a struct of properties that object and device types
//! embed, as QEMU embeds its `VFIODevice` in each VFIO device
//! (hw/vfio/pci.h, `VFIOPCIDevice.vbasedev`).

use crate::error::Result;
use crate::kind::{DefaultValue, Input, Slot, ValueCx};
use crate::property::Property;
use crate::tree::ObjRef;

/// A struct whose properties a type takes into its own table with
/// `#[prop(flatten)]`; written with `#[derive(PropertyGroup)]`.
///
/// The embedding type's table shows the group's properties as its own, at
/// the flattened field's place (or where `member(...)` puts them), so its
/// help and JSON are the same as if it had declared them.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a property group, so `#[prop(flatten)]` cannot embed its properties",
    label = "not a `#[derive(PropertyGroup)]` struct",
    note = "declare the group with `#[derive(PropertyGroup)]`, or make the field a `#[prop]` (a property kind) or plain state (no `#[prop]`)"
)]
pub trait PropertyGroup: Sized + 'static {
    /// The group's properties in declaration order, each with its position
    /// as [`Property::index`] and a placeholder [`Property::owner`]: the
    /// embedding type's table copies them and makes them its own.
    const PROPERTIES: &'static [Property];

    /// The group with every default applied.
    fn with_defaults() -> Self;

    /// Sets property `index` of [`Self::PROPERTIES`].
    #[doc(hidden)]
    fn __set(&mut self, index: usize, value: Input<'_>, cx: &ValueCx<'_>) -> Result<()>;

    /// Reads property `index` of [`Self::PROPERTIES`].
    #[doc(hidden)]
    fn __get(&self, index: usize) -> &dyn Slot;

    /// The target of link property `index` of [`Self::PROPERTIES`].
    #[doc(hidden)]
    fn __link(&self, index: usize) -> Option<&ObjRef>;

    /// Renders the computed default of property `index`.
    #[doc(hidden)]
    fn __default(index: usize) -> DefaultValue;
}

/// Where an embedding type's table places an entry: the derive writes one
/// per own property and per flattened group, in table order.
#[doc(hidden)]
#[derive(Clone, Copy)]
pub enum Placement {
    /// The type's own property number `.0`.
    Own(usize),
    /// The member `name` of group `group`, with `since` replacing the
    /// group's (the version differs between the types that embed it).
    Member {
        /// Which of the type's flattened groups.
        group: usize,
        /// The member's property name.
        name: &'static str,
        /// The version the embedding type added it in.
        since: Option<&'static str>,
    },
    /// The members of group `.0` that no [`Placement::Member`] places, in
    /// the group's order.
    Rest(usize),
}
