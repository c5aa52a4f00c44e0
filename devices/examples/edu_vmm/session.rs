//! One VMM run for a configuration: realize the host device in an object
//! tree, wrap it for the VMM, boot the guest, release everything.

use std::time::{Duration, Instant};

use crate::vmm::{self, RunReport, Transcript};
use qomgen::ObjectTree;
use qomgen_devices::models::vfio_pci::VfioPci;

/// The IOMMU backend to realize the device with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// The legacy VFIO container (`-device vfio-pci,host=BDF`).
    Legacy,
    /// iommufd (`-object iommufd,id=io0` + `iommufd=io0`).
    Iommufd,
}

/// A configuration to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// Host device.
    pub bdf: String,
    /// IOMMU backend.
    pub backend: Backend,
    /// `x-no-mmap=on`: every BAR access trapped.
    pub no_mmap: bool,
    /// `x-no-kvm-msi=on`: MSIs injected from userspace.
    pub no_kvm_msi: bool,
    /// Rounds of the guest's MSI delivery measurement.
    pub msi_rounds: u32,
}

impl Options {
    /// The `-device` argument.
    pub fn device_spec(&self) -> String {
        let mut s = format!("vfio-pci,host={},id=hostdev0", self.bdf);
        if self.backend == Backend::Iommufd {
            s.push_str(",iommufd=io0");
        }
        if self.no_mmap {
            s.push_str(",x-no-mmap=on");
        }
        if self.no_kvm_msi {
            s.push_str(",x-no-kvm-msi=on");
        }
        s
    }
}

/// What a successful session measured.
#[derive(Debug)]
pub struct Session {
    /// The guest run.
    pub run: RunReport,
    /// Realizing the device.
    pub realize: Duration,
    /// Everything, realize to release.
    pub total: Duration,
}

/// Realizes the device per `opts`, runs the VMM on it and releases it.
///
/// # Errors
/// The first failure, as a message (realize, KVM, a guest step, release).
pub fn run(opts: &Options, t: &mut Transcript) -> Result<Session, String> {
    let t0 = Instant::now();
    let mut tree = ObjectTree::new();
    if opts.backend == Backend::Iommufd {
        tree.object_add("iommufd,id=io0")
            .map_err(|e| format!("-object iommufd,id=io0: {e}"))?;
        t.line("vmm: -object iommufd,id=io0");
    }
    let spec = opts.device_spec();
    let obj = tree
        .device_add(&spec)
        .map_err(|e| format!("-device {spec}: {e}"))?;
    let realize = t0.elapsed();
    let result = {
        let mut guard = obj
            .try_borrow_mut()
            .map_err(|_| "device object is busy".to_owned())?;
        let dev = guard
            .downcast_mut::<VfioPci>()
            .ok_or("hostdev0 is not a vfio-pci device")?;
        let a = dev.attached().ok_or("hostdev0 is not realized")?;
        t.line(format!(
            "vmm: -device {spec}: {} backend ({}), fd from {}",
            a.choice.backend, a.choice.reason, a.choice.fd_source
        ));
        // The object tree stays on this thread; the function moves to the
        // thread that runs the vCPU and serves its exits, and is dropped
        // there (interrupts off, guest RAM unmapped from the IOMMU) before
        // the device is deleted below. Guest RAM outlives it.
        let mem = vmm::guest_memory()?;
        let mut f = dev.take_function().map_err(|e| format!("{spec}: {e}"))?;
        let (mem, rounds) = (&mem, opts.msi_rounds);
        std::thread::scope(|s| {
            s.spawn(move || vmm::run(&mut f, mem, rounds, t))
                .join()
                .unwrap_or_else(|_| Err("the vCPU thread panicked".to_owned()))
        })
    };
    drop(obj);
    let released = tree.del_device("hostdev0").and_then(|()| {
        if opts.backend == Backend::Iommufd {
            tree.del_object("io0")
        } else {
            Ok(())
        }
    });
    let run = result?;
    released.map_err(|e| format!("release: {e}"))?;
    Ok(Session {
        run,
        realize,
        total: t0.elapsed(),
    })
}
