//! VFIO devices for qomgen (`vfio-pci`, `vfio-ccw`, `vfio-ap`, the
//! `iommufd` backend object) and the host layer they run on.
//!
//! Modules, bottom up:
//!
//! * [`sys`] — safe wrappers around the Linux VFIO, iommufd and KVM
//!   ioctls (container, group, device, iommufd), `vfio_ccw.h` region
//!   layouts, an errno-carrying error type ([`sys::SysError`],
//!   [`sys::strerror`]), and the fault-injection seam tests use
//!   ([`sys::fault`]).
//! * [`host`] — every filesystem access (sysfs lookups, device nodes)
//!   through a [`host::Host`] with a configurable root, so tests run
//!   against fake trees.
//! * [`models`] — the device types themselves, one file per type: the
//!   struct with its properties (QEMU's tables) and its lifecycle hooks.
//! * [`attach`] — realize shared by the models: select the host device,
//!   attach it to the legacy container or iommufd, read what the kernel
//!   reports, and hold it until unrealize ([`attach::Attached`]).
//! * [`driver`] — using a realized `vfio-pci` device from user space:
//!   registers, DMA, interrupts, reset (and [`driver::edu`], a driver for
//!   QEMU's `edu` test device).
//! * [`guest`] — the guest-facing half: the PCI function and the CCW
//!   subchannel a VMM exposes to its guest, backed by a realized device.
//! * [`report`] — what a realized device looks like to an operator.
//! * [`probe`] — a serialisable survey of the host's VFIO/iommufd/KVM
//!   state; [`validate`] — a PASS/WARN/FAIL host-readiness report built on
//!   it; [`availability`] — which properties can work on this host, for
//!   `-device X,help --extra`.
//!
//! Errors from the lower layers carry the raw errno and the paths
//! involved; QEMU's user-visible messages are composed by realize.

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
