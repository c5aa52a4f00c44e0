//! `-object iommufd`: the host IOMMUFD backend that devices link to.
//!
//! Unlike QEMU, which notices a missing `/dev/iommu` only when the first
//! device attaches, creation itself fails when the host has no IOMMUFD, and
//! says which kernel option is missing.

use qomgen::{Error, LifecycleCx, LinkTarget, Object, ObjectImpl, ObjectType, Result, TypeInfo};

use crate::attach::{self, IommufdState};
use crate::host::Host;
use crate::sys::iommufd::Iommufd;

/// The IOMMUFD backend object (`iommufd`).
#[derive(Object, Debug)]
#[object(name = "iommufd", user_creatable, no_desc)]
pub struct IommufdBackend {
    /// Its fd, users and shared IOAS and HWPTs, which device links resolve to.
    #[prop(flatten)]
    state: IommufdState,
}

impl IommufdBackend {
    /// The backend's iommufd: the passed one, or the one opened for devices.
    pub fn iommufd(&self) -> Option<&Iommufd> {
        self.state.iommufd()
    }

    /// Number of connected devices.
    pub fn users(&self) -> u32 {
        self.state.users()
    }
}

/// A device's `iommufd=` link, typed `Link<IommufdState>` in attach,
/// accepts `iommufd` objects and borrows their state.
impl LinkTarget for IommufdState {
    const TARGET: &'static TypeInfo = IommufdBackend::TYPE_INFO;

    fn project(obj: &dyn Object) -> Option<&Self> {
        obj.downcast_ref::<IommufdBackend>().map(|b| &b.state)
    }

    fn project_mut(obj: &mut dyn Object) -> Option<&mut Self> {
        obj.downcast_mut::<IommufdBackend>().map(|b| &mut b.state)
    }
}

impl ObjectImpl for IommufdBackend {
    fn complete(&mut self, cx: &LifecycleCx<'_>) -> Result<()> {
        if self.state.fd_passed() {
            return Ok(());
        }
        let system = Host::system();
        let host = cx.resource::<Host>().unwrap_or(&system);
        if !host.exists("/dev/iommu") {
            return Err(
                Error::new("can't create iommufd object: /dev/iommu not found")
                    .with_hint(attach::config_hint("CONFIG_IOMMUFD")),
            );
        }
        Ok(())
    }
}
