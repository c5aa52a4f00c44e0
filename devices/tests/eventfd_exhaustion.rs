//! The guest-facing function when the process runs out of descriptors as
//! the guest enables MSI: QEMU's `vfio_msi_enable` reports the failed
//! notifier and "Failed to enable MSI" and leaves interrupts off, INTx
//! included, for the guest to try again. The descriptor limit is lowered
//! for the whole process, so this binary holds this one test.

use std::os::fd::{AsRawFd, BorrowedFd};

use qomgen_devices::attach::Bar;
use qomgen_devices::guest::pci::{Event, FunctionOptions, HostFunction, Layout, PciFunction};
use qomgen_devices::sys::vfio::RegionInfo;
use qomgen_devices::sys::{Errno, Op, Result, SysError};

/// edu's config space: INTA and an MSI capability at 0x40 (64-bit, one
/// vector); interrupt calls succeed.
#[derive(Debug)]
struct Edu {
    config: Vec<u8>,
}

impl HostFunction for Edu {
    fn name(&self) -> &str {
        "0000:00:01.0"
    }
    fn region(&self, _index: u32) -> Option<&RegionInfo> {
        None
    }
    fn read(&self, index: u32, offset: u64, buf: &mut [u8]) -> Result<()> {
        let o = offset as usize;
        match self.config.get(o..o + buf.len()) {
            Some(b) if index == 7 => {
                buf.copy_from_slice(b);
                Ok(())
            }
            _ => Err(SysError::new(Op::RegionRead, Errno::EINVAL)),
        }
    }
    fn write(&self, _index: u32, _offset: u64, _data: &[u8]) -> Result<()> {
        Ok(())
    }
    fn irq_count(&self, index: u32) -> u32 {
        u32::from(index <= 1)
    }
    fn set_irq_eventfds(&self, _: u32, _: u32, _: &[Option<BorrowedFd<'_>>]) -> Result<()> {
        Ok(())
    }
    fn set_unmask_eventfd(&self, _: u32, _: BorrowedFd<'_>) -> Result<()> {
        Ok(())
    }
    fn unmask(&self, _: u32) -> Result<()> {
        Ok(())
    }
    fn disable_irqs(&self, _: u32) -> Result<()> {
        Ok(())
    }
    fn dma_translated(&self) -> bool {
        true
    }
    unsafe fn dma_map(&self, _: u64, _: *mut u8, _: u64) -> Result<()> {
        Ok(())
    }
    fn dma_unmap(&self, _: u64, _: u64) -> Result<()> {
        Ok(())
    }
}

/// Sets the soft descriptor limit; returns the previous one.
fn set_nofile(soft: u64) -> libc::rlimit {
    let mut old = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: valid rlimit out-pointer and in-pointer for the calls.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut old), 0);
        let new = libc::rlimit {
            rlim_cur: soft,
            rlim_max: old.rlim_max,
        };
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &new), 0);
    }
    old
}

/// The lowest descriptor number not open: the one the kernel gives next.
fn lowest_free_fd() -> u64 {
    let probe = std::fs::File::open("/dev/null").unwrap();
    probe.as_raw_fd() as u64
}

#[test]
fn msi_enable_without_descriptors_leaves_interrupts_off() {
    let mut config = vec![0u8; 256];
    config[0..4].copy_from_slice(&[0x34, 0x12, 0xe8, 0x11]);
    config[0x06] = 0x10; // capability list
    config[0x34] = 0x40;
    config[0x3d] = 1; // INTA
    config[0x40] = 0x05; // MSI
    config[0x42] = 0x80; // 64-bit, one vector
    let layout = Layout {
        config: config.clone(),
        bars: [Bar::default(); 6],
        msix: None,
    };
    let mut f = PciFunction::new(
        Box::new(Edu { config }),
        &layout,
        FunctionOptions::default(),
    )
    .expect("the function");
    assert!(f.intx().unwrap().enabled, "INTx is on after the build");
    // No free descriptor below the limit: the vector's eventfd cannot be made.
    let old = set_nofile(lowest_free_fd());
    let events = f.config_write(0x42, &0x0081u16.to_le_bytes());
    // SAFETY: restores the limit read above.
    unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &old) };
    assert_eq!(events, [Event::IntxChanged]);
    assert!(!f.intx().unwrap().enabled, "INTx stays off");
    assert!(f.vectors().is_empty());
    assert_eq!(
        f.take_errors(),
        [
            "vfio: Error: event_notifier_init failed: Too many open files (os error 24)",
            "vfio: Error: Failed to enable MSI"
        ]
    );
}
