//! Telling KVM about the VFIO files of its guest (QEMU's
//! `vfio_kvm_device_add_fd`): a VMM that runs its guest under KVM sets a
//! [`KvmVfio`] resource on the tree, and realize adds each group (legacy)
//! or device file (iommufd) to the VM's KVM-VFIO device, removing it on
//! release. Without the resource nothing is done, as QEMU without KVM.

use std::cell::{OnceCell, RefCell};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::rc::Rc;

use qomgen::Error;

use crate::sys::SysError;
use crate::sys::kvm::KvmVfioDevice;

/// The VM's KVM-VFIO device, created at the first realize that needs it.
///
/// ```no_run
/// # fn vm_fd() -> std::os::fd::OwnedFd { unimplemented!() }
/// use qomgen_devices::attach::KvmVfio;
/// let mut tree = qomgen::ObjectTree::new();
/// tree.set_resource(KvmVfio::for_vm(vm_fd())); // the fd KVM_CREATE_VM returned
/// ```
#[derive(Debug, Clone)]
pub struct KvmVfio {
    inner: Rc<Inner>,
}

#[derive(Debug)]
struct Inner {
    vm: Option<OwnedFd>,
    device: OnceCell<KvmVfioDevice>,
    // Groups added, with the number of this tree's devices using each.
    groups: RefCell<Vec<(u32, usize)>>,
}

impl KvmVfio {
    /// For the VM `vm` (a KVM VM fd): the KVM-VFIO device is created on it
    /// when the first device is realized.
    pub fn for_vm(vm: OwnedFd) -> Self {
        Self::new(Some(vm), OnceCell::new())
    }

    /// With a KVM-VFIO device the VMM created itself.
    pub fn with_device(device: KvmVfioDevice) -> Self {
        Self::new(None, OnceCell::from(device))
    }

    fn new(vm: Option<OwnedFd>, device: OnceCell<KvmVfioDevice>) -> Self {
        KvmVfio {
            inner: Rc::new(Inner {
                vm,
                device,
                groups: RefCell::new(Vec::new()),
            }),
        }
    }

    /// The KVM-VFIO device, created on first use (a failed creation is
    /// tried again next time, as QEMU does).
    fn device(&self) -> Result<&KvmVfioDevice, SysError> {
        if let Some(d) = self.inner.device.get() {
            return Ok(d);
        }
        let vm = self.inner.vm.as_ref().map(AsFd::as_fd);
        let vm = vm.ok_or_else(|| {
            SysError::new(crate::sys::Op::KvmCreateDevice, crate::sys::Errno::EBADF)
        })?;
        let d = KvmVfioDevice::create(vm)?;
        Ok(self.inner.device.get_or_init(|| d))
    }

    /// Adds `file` (QEMU's texts; the caller adds its prefix).
    pub(super) fn add(&self, file: BorrowedFd<'_>) -> Result<(), Error> {
        let device = self.device().map_err(|e| {
            Error::new(format!(
                "Failed to create KVM VFIO device: {}",
                e.strerror()
            ))
        })?;
        device.add_file(file).map_err(|e| {
            Error::new(format!(
                "Failed to add fd {} to KVM VFIO device: {}",
                std::os::fd::AsRawFd::as_raw_fd(&file),
                e.strerror()
            ))
        })
    }

    /// Removes `file`; failures are not reported (QEMU only traces them).
    pub(super) fn del(&self, file: BorrowedFd<'_>) {
        if let Some(d) = self.inner.device.get() {
            let _ = d.del_file(file);
        }
    }

    /// A device of group `id` joins: the group file is added once.
    /// `Ok(false)`: it was added already.
    pub(super) fn add_group(&self, id: u32, file: BorrowedFd<'_>) -> Result<bool, Error> {
        let mut groups = self.inner.groups.borrow_mut();
        if let Some((_, n)) = groups.iter_mut().find(|(g, _)| *g == id) {
            *n += 1;
            return Ok(false);
        }
        self.add(file)?;
        groups.push((id, 1));
        Ok(true)
    }

    /// A device of group `id` leaves; the last one removes the group file.
    pub(super) fn release_group(&self, id: u32, file: BorrowedFd<'_>) {
        let mut groups = self.inner.groups.borrow_mut();
        if let Some(at) = groups.iter().position(|(g, _)| *g == id) {
            groups[at].1 -= 1;
            if groups[at].1 == 0 {
                groups.remove(at);
                self.del(file);
            }
        }
    }

    /// The groups added, for reports and tests.
    pub fn groups(&self) -> Vec<u32> {
        self.inner.groups.borrow().iter().map(|(g, _)| *g).collect()
    }
}
