//! The guest-facing PCI function ([`PciFunction`]) on an in-memory host:
//! what the `pci_config` bench and the `profile` workloads drive.
//!
//! The host ([`MemHost`]) keeps an `edu`-like config space in memory and
//! makes no system call, so a passed-through access measures the
//! function's own cost plus a copy, not the `pread`/`pwrite` a real
//! device costs (that is measured in the guest: `devices/benches/guest_pci.rs`).
//! For instruction counts of the trapped BAR path, [`MemHost::with_device`]
//! sends BAR accesses through the sys layer the real host uses
//! ([`Device::region_read`]) to any descriptor, e.g. `/dev/zero`.

use std::cell::RefCell;
use std::os::fd::BorrowedFd;

use qomgen_devices::attach::Bar;
use qomgen_devices::guest::pci::{Event, FunctionOptions, HostFunction, Layout, PciFunction};
use qomgen_devices::sys::vfio::{Device, RegionFlags, RegionInfo};
use qomgen_devices::sys::{Errno, Op, Result, SysError};

/// `VFIO_PCI_CONFIG_REGION_INDEX`.
const CONFIG: u32 = 7;
/// `VFIO_PCI_INTX_IRQ_INDEX` and `VFIO_PCI_MSI_IRQ_INDEX`: edu has both.
const IRQ_COUNTS: [u32; 5] = [1, 1, 0, 0, 0];

/// Where the bench programs BAR0, and the other address the moving write
/// alternates with.
pub const BAR0_AT: u32 = 0xe000_0000;
/// See [`BAR0_AT`].
pub const BAR0_OTHER: u32 = 0xe010_0000;

/// `edu`'s config space (QEMU 10, `-device edu`): 1234:11e8, class 00ff00,
/// BAR0 1 MiB of 32-bit memory, subsystem 1af4:1100, INTA, and a 64-bit
/// single-vector MSI capability at 0x40.
pub fn edu_config() -> Vec<u8> {
    let mut c = vec![0u8; 256];
    c[0..4].copy_from_slice(&[0x34, 0x12, 0xe8, 0x11]);
    c[0x06] = 0x10; // capability list
    c[0x08] = 0x10; // revision
    c[0x0b] = 0xff; // class
    c[0x10..0x14].copy_from_slice(&0xfea0_0000u32.to_le_bytes());
    c[0x2c..0x30].copy_from_slice(&[0xf4, 0x1a, 0x00, 0x11]);
    c[0x34] = 0x40;
    c[0x3d] = 1; // INTA
    c[0x40] = 0x05; // MSI
    c[0x42] = 0x80; // 64-bit, one vector
    c
}

/// An in-memory host function: config space in a buffer, BAR0 as a
/// region of 1 MiB, interrupts and DMA accepted and forgotten. Nothing
/// here makes a system call.
#[derive(Debug)]
pub struct MemHost {
    config: RefCell<Vec<u8>>,
    regions: Vec<RegionInfo>,
    device: Option<Device>,
}

impl MemHost {
    /// The `edu`-like host of [`edu_config`].
    pub fn new() -> MemHost {
        let region = |index, size| RegionInfo {
            index,
            flags: RegionFlags::READ | RegionFlags::WRITE, // no mmap
            size,
            offset: 0,
            caps: Vec::new(),
        };
        MemHost {
            config: RefCell::new(edu_config()),
            regions: vec![region(0, 1 << 20), region(CONFIG, 256)],
            device: None,
        }
    }

    /// The same, with BAR accesses sent to `device` as the real host sends
    /// them to the VFIO device (`Device::region_read`/`region_write`, one
    /// `pread`/`pwrite` each), BAR0 at offset [`BAR0_FD_OFFSET`].
    pub fn with_device(device: Device) -> MemHost {
        let mut h = MemHost::new();
        h.regions[0].offset = BAR0_FD_OFFSET;
        h.device = Some(device);
        h
    }
}

/// Where [`MemHost::with_device`] puts BAR0 in the descriptor.
pub const BAR0_FD_OFFSET: u64 = 0x1000;

impl Default for MemHost {
    fn default() -> Self {
        MemHost::new()
    }
}

impl HostFunction for MemHost {
    fn name(&self) -> &str {
        "0000:00:01.0"
    }
    fn region(&self, index: u32) -> Option<&RegionInfo> {
        self.regions.iter().find(|r| r.index == index)
    }
    fn read(&self, index: u32, offset: u64, buf: &mut [u8]) -> Result<()> {
        if index != CONFIG {
            let r = self
                .region(index)
                .ok_or(SysError::new(Op::RegionRead, Errno::EINVAL))?;
            return match &self.device {
                Some(d) => d.region_read(r, offset, buf),
                None => {
                    buf.fill(0);
                    Ok(())
                }
            };
        }
        let o = offset as usize;
        let c = self.config.borrow();
        let src = c
            .get(o..o + buf.len())
            .ok_or(SysError::new(Op::RegionRead, Errno::EINVAL))?;
        buf.copy_from_slice(src);
        Ok(())
    }
    fn write(&self, index: u32, offset: u64, data: &[u8]) -> Result<()> {
        // Like the kernel's vfio-pci: COMMAND reaches the device, the rest
        // of what the function passes on is virtualized and dropped here.
        if index == CONFIG && offset == 4 && data.len() <= 2 {
            self.config.borrow_mut()[4..4 + data.len()].copy_from_slice(data);
        }
        if index != CONFIG
            && let Some(d) = &self.device
        {
            let r = self
                .region(index)
                .ok_or(SysError::new(Op::RegionWrite, Errno::EINVAL))?;
            return d.region_write(r, offset, data);
        }
        Ok(())
    }
    fn irq_count(&self, index: u32) -> u32 {
        IRQ_COUNTS.get(index as usize).copied().unwrap_or(0)
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

/// The function over a [`MemHost`], as a guest finds it after its BIOS:
/// BAR0 at [`BAR0_AT`], memory decoding and bus mastering on, INTx (MSI
/// off). `x-no-mmap=on`, so building it maps nothing.
///
/// # Panics
/// If the function cannot be built (it needs two eventfds for INTx).
pub fn edu_function() -> PciFunction {
    function_over(MemHost::new())
}

/// [`edu_function`] over `host`.
///
/// # Panics
/// As [`edu_function`].
pub fn function_over(host: MemHost) -> PciFunction {
    let mut bars = [Bar::default(); 6];
    bars[0].size = 1 << 20;
    let layout = Layout {
        config: edu_config(),
        bars,
        msix: None,
    };
    let options = FunctionOptions {
        no_mmap: true,
        ..FunctionOptions::default()
    };
    let mut f =
        PciFunction::new(Box::new(host), &layout, options).expect("the in-memory function builds");
    f.config_write(0x10, &BAR0_AT.to_le_bytes());
    f.config_write(0x04, &0x0006u16.to_le_bytes());
    f
}

/// A config read of `N` bytes at `at`.
#[inline]
pub fn read<const N: usize>(f: &mut PciFunction, at: u16) -> [u8; N] {
    let mut b = [0u8; N];
    f.config_read(at, &mut b);
    b
}

/// A config write of `data` at `at`.
#[inline]
pub fn write(f: &mut PciFunction, at: u16, data: &[u8]) -> Vec<Event> {
    f.config_write(at, data)
}

/// `/dev/zero` as a [`Device`]: reads give zeros and writes are dropped,
/// with the cost of a system call.
///
/// # Panics
/// If `/dev/zero` cannot be opened.
pub fn dev_zero() -> Device {
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/zero")
        .expect("/dev/zero opens");
    Device::from_fd(f.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r32(f: &mut PciFunction, at: u16) -> u32 {
        u32::from_le_bytes(read::<4>(f, at))
    }

    #[test]
    fn the_function_is_edu_as_a_guest_finds_it() {
        let mut f = edu_function();
        assert_eq!(r32(&mut f, 0x00), 0x11e8_1234);
        assert_eq!(r32(&mut f, 0x10), BAR0_AT, "BAR0 is programmed");
        assert_eq!(f.bar(0).unwrap().address, Some(u64::from(BAR0_AT)));
        assert_eq!(u16::from_le_bytes(read::<2>(&mut f, 0x04)), 0x0006);
        // MSI at 0x40, 64-bit, off: the emulated capability.
        assert_eq!(r32(&mut f, 0x34) & 0xff, 0x40);
        assert_eq!(r32(&mut f, 0x40), 0x0080_0005);
        assert_eq!(read::<1>(&mut f, 0x3d), [1], "INTA");
        assert!(f.vectors().is_empty());
        assert!(f.intx().unwrap().enabled);
        assert!(f.take_errors().is_empty());
    }

    #[test]
    fn the_write_workloads_do_what_the_bench_says() {
        let mut f = edu_function();
        // COMMAND unchanged, BAR0 rewritten with its address: nothing moves.
        assert!(write(&mut f, 0x04, &0x0006u16.to_le_bytes()).is_empty());
        assert!(write(&mut f, 0x10, &BAR0_AT.to_le_bytes()).is_empty());
        // The MSI address and data, MSI off: no event.
        assert!(write(&mut f, 0x44, &0xfee0_0000u32.to_le_bytes()).is_empty());
        assert!(write(&mut f, 0x4c, &0x0030u16.to_le_bytes()).is_empty());
        assert_eq!(r32(&mut f, 0x44), 0xfee0_0000);
        // Alternating addresses: BAR0 moves on every write.
        for (old, new) in [(BAR0_AT, BAR0_OTHER), (BAR0_OTHER, BAR0_AT)] {
            assert_eq!(
                write(&mut f, 0x10, &new.to_le_bytes()),
                [Event::BarMoved {
                    bar: 0,
                    old: Some(u64::from(old)),
                    new: Some(u64::from(new)),
                }]
            );
        }
        assert!(f.take_errors().is_empty());
    }

    #[test]
    fn bar_accesses_reach_the_device_behind_the_host() {
        let mut f = function_over(MemHost::with_device(dev_zero()));
        let mut b = [0xffu8; 4];
        f.bar_read(0, 0x00, &mut b);
        assert_eq!(b, [0; 4], "read from /dev/zero");
        assert!(f.bar_write(0, 0x04, &[1, 2, 3, 4]).is_empty());
        assert!(f.take_errors().is_empty());
    }
}
