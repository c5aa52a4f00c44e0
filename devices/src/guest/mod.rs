//! The guest-facing half of the VFIO devices.

pub mod ccw;
pub mod pci;
