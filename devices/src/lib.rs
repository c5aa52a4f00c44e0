//! VFIO devices for qomgen (`vfio-pci`, `vfio-ccw`, `vfio-ap`, the
//! `iommufd` backend object) and the host layer they run on.
//!
//! Layers, bottom up:
//!
//! * [`sys`] — safe wrappers around the Linux VFIO and iommufd ioctls
//!   (container, group, device, iommufd), `vfio_ccw.h` region layouts, and
//!   an errno-carrying error type ([`sys::SysError`], [`sys::strerror`]).
//! * [`host`] — every filesystem access (sysfs lookups, device nodes)
//!   through a [`host::Host`] with a configurable root, so tests run
//!   against fake trees.
//! * [`probe`] — a serialisable survey of the host's VFIO/iommufd/KVM state.
//!
//! Errors from these layers carry the raw errno and the paths involved;
//! QEMU's user-visible messages are composed by the device models.

pub mod attach;
pub mod availability;
pub mod driver;
pub mod guest;
pub mod host;
pub mod models;
pub mod probe;
pub mod report;
pub mod sys;
pub mod validate;

#[cfg(test)]
mod testtree;
