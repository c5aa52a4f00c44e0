//! What an `-object iommufd` holds for the devices that link to it: its
//! iommufd, its users and the IOAS and HWPTs they share (QEMU's
//! `IOMMUFDBackend`, include/system/iommufd.h). The `iommufd` object
//! embeds it and resolves its links to it ([`qomgen::LinkTarget`]), so
//! attach reaches it without naming the object's type.

use qomgen::{Error, PropertyGroup, Result};

use super::{Domains, fd_param, open_error};
use crate::host::Host;
use crate::sys::iommufd::Iommufd;

/// The backend's state; flattened into the object for its `fd` property.
#[derive(PropertyGroup, Debug)]
pub struct IommufdState {
    // No doc comment, as QEMU's property has no description.
    #[prop(write_only, setter = IommufdState::set_fd)]
    pub(crate) fd: Option<Iommufd>,
    /// `/dev/iommu`, opened by the first device that connects.
    opened: Option<Iommufd>,
    /// Devices connected (QEMU's `users`): the backend cannot go while non-zero.
    users: u32,
    /// The IOAS and HWPTs its devices share.
    domains: Domains,
}

impl IommufdState {
    fn set_fd(&mut self, value: &str) -> Result<()> {
        let fd = fd_param(value, "remote object fd")?;
        self.fd = Some(Iommufd::from_fd(fd.into_fd()));
        Ok(())
    }

    /// Whether an fd was passed (`fd=`).
    pub fn fd_passed(&self) -> bool {
        self.fd.is_some()
    }

    /// Connects a device: opens `/dev/iommu` on first use (unless an fd was
    /// passed) and returns the iommufd to bind to.
    ///
    /// # Errors
    /// `Could not open '/dev/iommu': <strerror>`.
    pub fn connect(&mut self, host: &Host) -> Result<&Iommufd> {
        if self.fd.is_none() && self.opened.is_none() {
            let fd = host
                .open_iommufd()
                .map_err(|e| open_error("/dev/iommu", e.errno, "CONFIG_IOMMUFD"))?;
            self.opened = Some(fd);
        }
        self.users += 1;
        self.iommufd()
            .ok_or_else(|| Error::new("iommufd backend has no fd"))
    }

    /// Disconnects a device; the last one closes an fd the backend opened itself.
    pub fn disconnect(&mut self) {
        self.users = self.users.saturating_sub(1);
        if self.users == 0 {
            self.opened = None;
        }
    }

    /// Runs `f` on the iommufd and the book of its IOAS and HWPTs; `f` is
    /// not run when the backend is not connected.
    ///
    /// # Errors
    /// `iommufd backend has no fd` when not connected, else `f`'s.
    pub(crate) fn with_domains<R>(
        &mut self,
        f: impl FnOnce(&Iommufd, &mut Domains) -> R,
    ) -> Result<R> {
        let fd = self
            .fd
            .as_ref()
            .or(self.opened.as_ref())
            .ok_or_else(|| Error::new("iommufd backend has no fd"))?;
        Ok(f(fd, &mut self.domains))
    }

    /// The backend's iommufd: the passed one, or the one opened for devices.
    pub fn iommufd(&self) -> Option<&Iommufd> {
        self.fd.as_ref().or(self.opened.as_ref())
    }

    /// Number of connected devices.
    pub fn users(&self) -> u32 {
        self.users
    }
}
