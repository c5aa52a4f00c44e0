//! The KVM-VFIO pseudo device (`KVM_DEV_TYPE_VFIO`): a VM is told which VFIO
//! groups or device files its guest uses, so KVM can handle non-coherent
//! DMA and hand interrupts to the device's driver (QEMU's `hw/vfio/helpers.c: vfio_kvm_device_add_fd`).
//!
//! No crate of the dependency tree declares KVM's uAPI, so the two ioctls
//! and their structures are declared here from `linux/kvm.h`, with size and
//! offset checks.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use super::{Errno, Op, Result, SysError, fault};

/// `struct kvm_create_device` (`linux/kvm.h`).
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
struct KvmCreateDevice {
    type_: u32,
    fd: u32,
    flags: u32,
}

/// `struct kvm_device_attr` (`linux/kvm.h`).
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
struct KvmDeviceAttr {
    flags: u32,
    group: u32,
    attr: u64,
    addr: u64,
}

const _: () = {
    assert!(std::mem::size_of::<KvmCreateDevice>() == 12);
    assert!(std::mem::size_of::<KvmDeviceAttr>() == 24);
    assert!(std::mem::offset_of!(KvmDeviceAttr, attr) == 8);
    assert!(std::mem::offset_of!(KvmDeviceAttr, addr) == 16);
};

const KVMIO: u8 = 0xAE;
const KVM_DEV_TYPE_VFIO: u32 = 4;
const KVM_DEV_VFIO_FILE: u32 = 1;
const KVM_DEV_VFIO_FILE_ADD: u64 = 1;
const KVM_DEV_VFIO_FILE_DEL: u64 = 2;

nix::ioctl_readwrite!(
    /// `KVM_CREATE_DEVICE` on a VM fd.
    kvm_create_device,
    KVMIO,
    0xe0,
    KvmCreateDevice
);
nix::ioctl_write_ptr!(
    /// `KVM_SET_DEVICE_ATTR` on a device fd.
    kvm_set_device_attr,
    KVMIO,
    0xe1,
    KvmDeviceAttr
);

/// An open KVM-VFIO device.
#[derive(Debug)]
pub struct KvmVfioDevice {
    fd: OwnedFd,
}

impl KvmVfioDevice {
    /// `KVM_CREATE_DEVICE(KVM_DEV_TYPE_VFIO)` on the VM `vm`.
    pub fn create(vm: BorrowedFd<'_>) -> Result<Self> {
        let call = fault::enter(Op::KvmCreateDevice)?;
        let mut cd = KvmCreateDevice {
            type_: KVM_DEV_TYPE_VFIO,
            ..Default::default()
        };
        // SAFETY: `cd` is an initialised kvm_create_device living across the
        // call; the kernel writes the new fd into it and nothing else.
        let r = unsafe { kvm_create_device(vm.as_raw_fd(), &mut cd) };
        call.tag(r)?;
        let raw =
            i32::try_from(cd.fd).map_err(|_| SysError::new(Op::KvmCreateDevice, Errno::EBADF))?;
        // SAFETY: on success the kernel returned a new descriptor that
        // nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        Ok(KvmVfioDevice { fd })
    }

    /// Adopts a KVM-VFIO device fd the VMM created itself.
    pub fn from_fd(fd: OwnedFd) -> Self {
        KvmVfioDevice { fd }
    }

    fn file(&self, attr: u64, file: BorrowedFd<'_>) -> Result<()> {
        let call = fault::enter(Op::KvmSetDeviceAttr)?;
        let raw: i32 = file.as_raw_fd();
        let a = KvmDeviceAttr {
            group: KVM_DEV_VFIO_FILE,
            attr,
            addr: std::ptr::addr_of!(raw) as u64,
            ..Default::default()
        };
        // SAFETY: `a` is initialised and lives across the call; `addr`
        // points at `raw`, an i32 on this stack frame the kernel only reads.
        let r = unsafe { kvm_set_device_attr(self.fd.as_raw_fd(), &a) };
        call.tag(r).map(drop)
    }

    /// `KVM_DEV_VFIO_FILE_ADD`: a VFIO group or device file joins the VM.
    pub fn add_file(&self, file: BorrowedFd<'_>) -> Result<()> {
        self.file(KVM_DEV_VFIO_FILE_ADD, file)
    }

    /// `KVM_DEV_VFIO_FILE_DEL`: the file leaves the VM.
    pub fn del_file(&self, file: BorrowedFd<'_>) -> Result<()> {
        self.file(KVM_DEV_VFIO_FILE_DEL, file)
    }
}

impl AsFd for KvmVfioDevice {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_codes_match_the_kernel() {
        // _IOWR(0xAE, 0xe0, 12 bytes) and _IOW(0xAE, 0xe1, 24 bytes).
        assert_eq!(nix::request_code_readwrite!(KVMIO, 0xe0, 12), 0xc00c_aee0);
        assert_eq!(nix::request_code_write!(KVMIO, 0xe1, 24), 0x4018_aee1);
    }

    #[test]
    fn not_a_vm_and_not_a_kvm_device() {
        let null = std::fs::File::open("/dev/null").unwrap();
        let e = KvmVfioDevice::create(null.as_fd()).unwrap_err();
        assert_eq!((e.op(), e.errno()), (Op::KvmCreateDevice, Errno::ENOTTY));
        let dev = KvmVfioDevice::from_fd(null.try_clone().unwrap().into());
        let e = dev.add_file(null.as_fd()).unwrap_err();
        assert_eq!((e.op(), e.errno()), (Op::KvmSetDeviceAttr, Errno::ENOTTY));
    }

    /// On a host whose KVM can create a VM (this project's CI machine can),
    /// the KVM-VFIO device is created and refuses a file that is not VFIO.
    #[test]
    fn real_kvm_refuses_a_file_that_is_not_vfio() {
        let Ok(kvm) = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/kvm")
        else {
            println!("skipped: /dev/kvm cannot be opened");
            return;
        };
        nix::ioctl_write_int_bad!(kvm_create_vm, nix::request_code_none!(KVMIO, 0x01));
        // SAFETY: KVM_CREATE_VM takes the machine type by value (0).
        let Ok(vm) = (unsafe { kvm_create_vm(kvm.as_raw_fd(), 0) }) else {
            println!("skipped: KVM_CREATE_VM failed");
            return;
        };
        // SAFETY: KVM_CREATE_VM returned a new descriptor nothing else owns.
        let vm = unsafe { OwnedFd::from_raw_fd(vm) };
        let dev = KvmVfioDevice::create(vm.as_fd()).expect("KVM_CREATE_DEVICE(VFIO)");
        let null = std::fs::File::open("/dev/null").unwrap();
        let e = dev.add_file(null.as_fd()).unwrap_err();
        assert_eq!(e.errno(), Errno::EINVAL);
    }
}
