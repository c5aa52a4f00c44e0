//! How `#[derive(Device)]` refuses a struct that also derives `Object`.
//!
//! Both derives implement [`ObjectType`](crate::ObjectType), and two
//! implementations of one trait are the compiler's "conflicting
//! implementations" error, which says nothing of what to do. A derive
//! cannot see the other derives of its struct, so the two meet in the type
//! system instead: `#[derive(Object)]` marks its struct with
//! [`DerivesObject`], and `#[derive(Device)]` writes its `ObjectType`
//! implementation with the bound `Self: DeviceNotAlsoObject<{ derives
//! Object }>`, which holds only for `false`. On a struct with both, that
//! bound fails with the message below, and the compiler, seeing the
//! device's implementation cannot apply, reports no conflict: one error.
//!
//! The probe serves one more check: a device without a name fails a
//! compile-time assertion, unless it also derives `Object`, whose error is
//! then the one.
//!
//! `Probe::<T>::DERIVES_OBJECT` is the inherent constant when
//! `T: DerivesObject` and [`ProbeFallback`]'s otherwise (an inherent item
//! whose bounds fail is passed over for the trait's).

use core::marker::PhantomData;

/// Written by `#[derive(Object)]` on its struct.
pub trait DerivesObject {}

/// Asks at compile time whether `T` derives `Object`.
pub struct Probe<T>(PhantomData<T>);

impl<T: DerivesObject> Probe<T> {
    /// `T` derives `Object`.
    pub const DERIVES_OBJECT: bool = true;
}

/// The answer for the types that do not derive `Object`.
pub trait ProbeFallback {
    /// `T` does not derive `Object`.
    const DERIVES_OBJECT: bool = false;
}

impl<T> ProbeFallback for Probe<T> {}

/// The bound on `#[derive(Device)]`'s `ObjectType` implementation:
/// satisfied only by a struct that does not derive `Object` too.
#[diagnostic::on_unimplemented(
    message = "`{Self}` derives both `Object` and `Device`",
    label = "a device is already an object",
    note = "remove `Object` from the derive list: `#[derive(Device)]` registers `{Self}` as a device type, and a device type is an object type (QOM's TYPE_DEVICE derives from TYPE_OBJECT)"
)]
pub trait DeviceNotAlsoObject<const DERIVES_OBJECT: bool> {}

impl<T> DeviceNotAlsoObject<false> for T {}
