//! The IOAS ("container") and HWPTs of one iommufd, shared by the devices
//! attached through it, as QEMU's iommufd containers and auto domains are:
//! devices of one `-object iommufd` share its IOAS (one guest address
//! space, mapped once), and a device joins an existing HWPT when the
//! kernel accepts it there. Functions of one IOMMU group must share a HWPT:
//! the kernel refuses a second domain for a group.

use std::os::fd::{AsFd, AsRawFd};

use nix::errno::Errno;
use qomgen::{Error, Result};

use crate::sys::iommufd::Iommufd;
use crate::sys::vfio::Device;

/// Where a device ended up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Placement {
    pub(crate) ioas: u32,
    pub(crate) hwpt: u32,
    /// A HWPT of the book (allocated here), not the kernel's own for an mdev.
    pub(crate) hwpt_allocated: bool,
    pub(crate) dirty_tracking: bool,
}

#[derive(Debug)]
struct Ioas {
    id: u32,
    devices: u32,
    hwpts: Vec<Hwpt>,
}

#[derive(Debug)]
struct Hwpt {
    id: u32,
    dirty: bool,
    devices: u32,
}

/// The book of one iommufd's IOASes and HWPTs, with their device counts.
#[derive(Debug, Default)]
pub struct Domains {
    ioas: Vec<Ioas>,
}

/// The device being attached, for QEMU's messages.
pub(crate) struct Joiner<'a> {
    pub(crate) device: &'a Device,
    pub(crate) devid: u32,
    pub(crate) name: &'a str,
    pub(crate) mdev: bool,
}

fn sys(msg: impl std::fmt::Display, e: crate::sys::SysError) -> Error {
    Error::new(format!("{msg}: {}", e.strerror()))
}

impl Domains {
    /// Attaches the device: to an existing IOAS if it can join one (QEMU
    /// tries each container and forgets the failures), else to a new one.
    pub(crate) fn attach(&mut self, fd: &Iommufd, j: &Joiner<'_>) -> Result<Placement> {
        for at in 0..self.ioas.len() {
            if let Ok(p) = self.join(fd, at, j) {
                return Ok(p);
            }
        }
        let id = fd
            .ioas_alloc()
            .map_err(|e| sys("Failed to allocate ioas", e))?;
        self.ioas.push(Ioas {
            id,
            devices: 0,
            hwpts: Vec::new(),
        });
        let at = self.ioas.len() - 1;
        self.join(fd, at, j).inspect_err(|_| {
            let _ = fd.destroy(id);
            self.ioas.pop();
        })
    }

    /// QEMU's `iommufd_cdev_attach_container`: an mdev attaches to the IOAS
    /// itself; others to an existing HWPT that takes them (`EINVAL`: not
    /// compatible, try the next), else to a new one (auto domains).
    fn join(&mut self, fd: &Iommufd, at: usize, j: &Joiner<'_>) -> Result<Placement> {
        let raw = fd.as_fd().as_raw_fd();
        let devfd = j.device.as_fd().as_raw_fd();
        let attach_err = |id: u32, e| {
            sys(
                format_args!(
                    "[iommufd={raw}] error attach {} ({devfd}) to id={id}",
                    j.name
                ),
                e,
            )
        };
        let ioas = &mut self.ioas[at];
        if j.mdev {
            let hwpt = j
                .device
                .attach_iommufd_pt(ioas.id)
                .map_err(|e| attach_err(ioas.id, e))?;
            ioas.devices += 1;
            return Ok(Placement {
                ioas: ioas.id,
                hwpt,
                hwpt_allocated: false,
                dirty_tracking: false,
            });
        }
        for h in &mut ioas.hwpts {
            match j.device.attach_iommufd_pt(h.id) {
                Ok(_) => {
                    h.devices += 1;
                    ioas.devices += 1;
                    return Ok(Placement {
                        ioas: ioas.id,
                        hwpt: h.id,
                        hwpt_allocated: true,
                        dirty_tracking: h.dirty,
                    });
                }
                Err(e) if e.errno() == Errno::EINVAL => {}
                Err(e) => return Err(attach_err(h.id, e)),
            }
        }
        let info = fd
            .get_hw_info(j.devid)
            .map_err(|e| sys("Failed to get hardware info", e))?;
        let dirty = info.dirty_tracking();
        let flags = if dirty {
            crate::sys::iommufd::bindings::iommufd_hwpt_alloc_flags_IOMMU_HWPT_ALLOC_DIRTY_TRACKING
        } else {
            0
        };
        let hwpt = fd
            .hwpt_alloc(j.devid, ioas.id, flags)
            .map_err(|e| sys("Failed to allocate hwpt", e))?;
        if let Err(e) = j.device.attach_iommufd_pt(hwpt) {
            let _ = fd.destroy(hwpt);
            return Err(attach_err(hwpt, e));
        }
        ioas.hwpts.push(Hwpt {
            id: hwpt,
            dirty,
            devices: 1,
        });
        ioas.devices += 1;
        Ok(Placement {
            ioas: ioas.id,
            hwpt,
            hwpt_allocated: true,
            dirty_tracking: dirty,
        })
    }

    /// A device detached from `p`: frees its HWPT and IOAS when it was the
    /// last one on them (HWPT first: it holds the IOAS).
    pub(crate) fn release(&mut self, fd: &Iommufd, p: &Placement) {
        let Some(at) = self.ioas.iter().position(|i| i.id == p.ioas) else {
            return;
        };
        let ioas = &mut self.ioas[at];
        if p.hwpt_allocated
            && let Some(h) = ioas.hwpts.iter().position(|h| h.id == p.hwpt)
        {
            ioas.hwpts[h].devices -= 1;
            if ioas.hwpts[h].devices == 0 {
                let _ = fd.destroy(p.hwpt);
                ioas.hwpts.remove(h);
            }
        }
        ioas.devices -= 1;
        if ioas.devices == 0 {
            let _ = fd.destroy(ioas.id);
            self.ioas.remove(at);
        }
    }

    /// Whether nothing is attached (the iommufd may close).
    pub fn is_empty(&self) -> bool {
        self.ioas.is_empty()
    }
}
