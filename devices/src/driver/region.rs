//! Region access: `pread`/`pwrite` ([`Bar`]) and the `mmap` ([`Mmio`]).

use crate::attach::Region;
use crate::sys::vfio::{Device, MappedRegion, RegionInfo};

use super::{DriverError, Result, check_access, check_range};

/// Register-style access: one access of exactly the given width at a
/// naturally aligned offset, values little-endian (PCI byte order) whatever
/// the host's endianness.
///
/// Implementations must perform a single access for widths 1, 2, 4 and 8,
/// and return an error (never panic) for any other width, an unaligned
/// offset or one outside their range.
pub trait RegisterIo {
    /// Reads `buf.len()` (1, 2, 4 or 8) bytes at `offset` as one access; `buf`
    /// receives the bytes in device (little-endian) order.
    ///
    /// # Errors
    /// Bad width, misaligned or out-of-range offset, the access failing.
    fn read_access(&self, offset: u64, buf: &mut [u8]) -> Result<()>;

    /// Writes `data` (1, 2, 4 or 8 bytes, device order) at `offset` as one access.
    ///
    /// # Errors
    /// As [`RegisterIo::read_access`], plus a read-only target.
    fn write_access(&self, offset: u64, data: &[u8]) -> Result<()>;

    /// 8-bit read.
    ///
    /// # Errors
    /// As [`RegisterIo::read_access`].
    fn read_u8(&self, offset: u64) -> Result<u8> {
        let mut b = [0u8; 1];
        self.read_access(offset, &mut b)?;
        Ok(b[0])
    }
    /// 16-bit little-endian read.
    ///
    /// # Errors
    /// As [`RegisterIo::read_access`].
    fn read_u16(&self, offset: u64) -> Result<u16> {
        let mut b = [0u8; 2];
        self.read_access(offset, &mut b)?;
        Ok(u16::from_le_bytes(b))
    }
    /// 32-bit little-endian read.
    ///
    /// # Errors
    /// As [`RegisterIo::read_access`].
    fn read_u32(&self, offset: u64) -> Result<u32> {
        let mut b = [0u8; 4];
        self.read_access(offset, &mut b)?;
        Ok(u32::from_le_bytes(b))
    }
    /// 64-bit little-endian read.
    ///
    /// # Errors
    /// As [`RegisterIo::read_access`].
    fn read_u64(&self, offset: u64) -> Result<u64> {
        let mut b = [0u8; 8];
        self.read_access(offset, &mut b)?;
        Ok(u64::from_le_bytes(b))
    }
    /// 8-bit write.
    ///
    /// # Errors
    /// As [`RegisterIo::write_access`].
    fn write_u8(&self, offset: u64, v: u8) -> Result<()> {
        self.write_access(offset, &[v])
    }
    /// 16-bit little-endian write.
    ///
    /// # Errors
    /// As [`RegisterIo::write_access`].
    fn write_u16(&self, offset: u64, v: u16) -> Result<()> {
        self.write_access(offset, &v.to_le_bytes())
    }
    /// 32-bit little-endian write.
    ///
    /// # Errors
    /// As [`RegisterIo::write_access`].
    fn write_u32(&self, offset: u64, v: u32) -> Result<()> {
        self.write_access(offset, &v.to_le_bytes())
    }
    /// 64-bit little-endian write.
    ///
    /// # Errors
    /// As [`RegisterIo::write_access`].
    fn write_u64(&self, offset: u64, v: u64) -> Result<()> {
        self.write_access(offset, &v.to_le_bytes())
    }
}

/// One device region (a BAR, the ROM or config space) accessed through the
/// device fd with `pread`/`pwrite`. Offsets are relative to the region.
///
/// This path works for every readable/writable region, mapped or not, and
/// is what vfio-pci traps and virtualizes (config space, MSI-X table).
#[derive(Debug, Clone, Copy)]
pub struct Bar<'a> {
    device: &'a Device,
    region: &'a Region,
}

impl<'a> Bar<'a> {
    pub(crate) fn new(device: &'a Device, region: &'a Region) -> Self {
        Bar { device, region }
    }

    /// Region index (`VFIO_PCI_*_REGION_INDEX`).
    pub fn index(&self) -> u32 {
        self.region.info.index
    }

    /// What the kernel reports about the region.
    pub fn info(&self) -> &'a RegionInfo {
        &self.region.info
    }

    /// Region size in bytes.
    pub fn size(&self) -> u64 {
        self.region.info.size
    }

    /// Reads `buf.len()` bytes at `offset` (any alignment; the kernel may
    /// split the access).
    ///
    /// # Errors
    /// [`DriverError::OutOfRange`] (also for an empty `buf`), `pread` failing
    /// or returning short.
    pub fn read(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        check_range(offset, buf.len() as u64, self.size())?;
        Ok(self.device.region_read(&self.region.info, offset, buf)?)
    }

    /// Writes `data` at `offset` (any alignment).
    ///
    /// # Errors
    /// [`DriverError::OutOfRange`], [`DriverError::ReadOnly`], `pwrite`
    /// failing or returning short.
    pub fn write(&self, offset: u64, data: &[u8]) -> Result<()> {
        check_range(offset, data.len() as u64, self.size())?;
        if !self.region.info.writable() {
            return Err(DriverError::ReadOnly(self.index()));
        }
        Ok(self.device.region_write(&self.region.info, offset, data)?)
    }

    /// The mapping that covers `offset..offset+len` of the region, if realize
    /// mapped one (the whole region, or a sparse area).
    ///
    /// # Errors
    /// [`DriverError::NotMapped`] when no mapping covers the range
    /// (`x-no-mmap=on`, a region the kernel does not let us map, a hole
    /// between sparse areas).
    pub fn mmio_range(&self, offset: u64, len: u64) -> Result<Mmio<'a>> {
        self.mmio_areas()
            .find(|m| {
                offset >= m.start
                    && offset
                        .checked_add(len)
                        .is_some_and(|end| end <= m.start.saturating_add(m.len()))
            })
            .ok_or(DriverError::NotMapped {
                index: self.index(),
                offset,
            })
    }

    /// The mapping of the whole region.
    ///
    /// # Errors
    /// As [`Bar::mmio_range`].
    pub fn mmio(&self) -> Result<Mmio<'a>> {
        self.mmio_range(0, self.size())
    }

    /// Every mapping realize made of this region, in order.
    pub fn mmio_areas(&self) -> impl Iterator<Item = Mmio<'a>> + use<'a> {
        let index = self.index();
        let writable = self.region.info.writable();
        self.region.maps.iter().map(move |(start, map)| Mmio {
            index,
            start: *start,
            map,
            writable,
        })
    }
}

impl RegisterIo for Bar<'_> {
    fn read_access(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        check_access(offset, buf.len(), self.size())?;
        self.read(offset, buf)
    }

    fn write_access(&self, offset: u64, data: &[u8]) -> Result<()> {
        check_access(offset, data.len(), self.size())?;
        self.write(offset, data)
    }
}

/// A mapped (part of a) region: volatile loads and stores of the natural
/// width straight to the device, the MMIO fast path.
///
/// Offsets are relative to the *region*, like [`Bar`]'s; an access outside
/// this mapping fails with [`DriverError::OutOfRange`], a misaligned one with
/// [`DriverError::Misaligned`], a write to a read-only region with
/// [`DriverError::ReadOnly`]. Nothing panics.
///
/// Accessing BAR memory while `PCI_COMMAND_MEMORY` is clear makes vfio-pci
/// raise `SIGBUS` (see the [module docs](super)).
#[derive(Debug, Clone, Copy)]
pub struct Mmio<'a> {
    index: u32,
    start: u64,
    map: &'a MappedRegion,
    writable: bool,
}

impl Mmio<'_> {
    /// Region index.
    pub fn index(&self) -> u32 {
        self.index
    }

    /// Region offset of the first mapped byte.
    pub fn start(&self) -> u64 {
        self.start
    }

    /// Mapped length in bytes.
    pub fn len(&self) -> u64 {
        self.map.len() as u64
    }

    /// Always `false`: empty mappings are never made.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Whether stores are allowed (the region is writable).
    pub fn writable(&self) -> bool {
        self.writable
    }

    /// Offset inside the mapping, after checking width, range and alignment.
    fn local(&self, offset: u64, size: usize) -> Result<usize> {
        let rel = offset
            .checked_sub(self.start)
            .ok_or(DriverError::OutOfRange {
                offset,
                size: size as u64,
                len: self.start.saturating_add(self.len()),
            })?;
        check_access(rel, size, self.len()).map_err(|e| match e {
            DriverError::OutOfRange { .. } => DriverError::OutOfRange {
                offset,
                size: size as u64,
                len: self.start.saturating_add(self.len()),
            },
            DriverError::Misaligned { .. } => DriverError::Misaligned {
                offset,
                size: size as u64,
            },
            other => other,
        })?;
        // The mapping base is page aligned and `start` is a region offset the
        // kernel accepted for mmap (page aligned), so alignment of `rel`
        // implies alignment of the address. `rel < len <= usize::MAX`.
        usize::try_from(rel).map_err(|_| DriverError::OutOfRange {
            offset,
            size: size as u64,
            len: self.len(),
        })
    }
}

impl RegisterIo for Mmio<'_> {
    fn read_access(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        let at = self.local(offset, buf.len())?;
        // `local` checked width, bounds and alignment, so the MappedRegion
        // accessors below cannot panic. `buf` receives the bytes as they lie
        // in device memory (native order of the loaded value); the typed
        // accessors then decode them as little-endian.
        match buf.len() {
            1 => buf[0] = self.map.read_u8(at),
            2 => buf.copy_from_slice(&self.map.read_u16(at).to_ne_bytes()),
            4 => buf.copy_from_slice(&self.map.read_u32(at).to_ne_bytes()),
            8 => buf.copy_from_slice(&self.map.read_u64(at).to_ne_bytes()),
            n => return Err(DriverError::BadWidth(n)),
        }
        Ok(())
    }

    fn write_access(&self, offset: u64, data: &[u8]) -> Result<()> {
        let at = self.local(offset, data.len())?;
        if !self.writable {
            // The mapping is PROT_READ: a store would fault.
            return Err(DriverError::ReadOnly(self.index));
        }
        // One store of the full width that puts `data` into device memory
        // byte for byte.
        match *data {
            [b] => self.map.write_u8(at, b),
            [a, b] => self.map.write_u16(at, u16::from_ne_bytes([a, b])),
            [a, b, c, d] => self.map.write_u32(at, u32::from_ne_bytes([a, b, c, d])),
            [a, b, c, d, e, f, g, h] => self
                .map
                .write_u64(at, u64::from_ne_bytes([a, b, c, d, e, f, g, h])),
            _ => return Err(DriverError::BadWidth(data.len())),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::os::fd::OwnedFd;

    use super::*;
    use crate::sys::vfio::{MapProt, RegionFlags};

    /// A "device" backed by a file: region 0 at file offset 0x1000, 0x2000
    /// bytes, with the second page mapped (a sparse area).
    fn fixture(writable: bool) -> (Device, Region) {
        let mut f = tempfile::tempfile().unwrap();
        let mut content = vec![0u8; 0x3000];
        content[0x1000..0x1004].copy_from_slice(&0x0100_00edu32.to_le_bytes());
        content[0x2008..0x2010].copy_from_slice(&0x1122_3344_5566_7788u64.to_le_bytes());
        f.write_all(&content).unwrap();
        let dev = Device::from_fd(OwnedFd::from(f));
        let mut flags = RegionFlags::READ | RegionFlags::MMAP;
        if writable {
            flags |= RegionFlags::WRITE;
        }
        let info = RegionInfo {
            index: 0,
            flags,
            size: 0x2000,
            offset: 0x1000,
            caps: vec![],
        };
        let prot = if writable {
            MapProt::READ_WRITE
        } else {
            MapProt::READ_ONLY
        };
        let map = dev.mmap_region(&info, 0x1000, 0x1000, prot).unwrap();
        (
            dev,
            Region {
                info,
                maps: vec![(0x1000, map)],
            },
        )
    }

    #[test]
    fn bar_pread_pwrite_checks_and_little_endian() {
        let (dev, region) = fixture(true);
        let bar = Bar::new(&dev, &region);
        assert_eq!(bar.size(), 0x2000);
        assert_eq!(bar.read_u32(0).unwrap(), 0x0100_00ed);
        assert_eq!(bar.read_u16(2).unwrap(), 0x0100);
        assert_eq!(bar.read_u64(0x1008).unwrap(), 0x1122_3344_5566_7788);
        bar.write_u32(0x10, 0xdead_beef).unwrap();
        let mut raw = [0u8; 4];
        bar.read(0x10, &mut raw).unwrap();
        assert_eq!(raw, [0xef, 0xbe, 0xad, 0xde]);
        assert_eq!(
            bar.read_u32(0x2000),
            Err(DriverError::OutOfRange {
                offset: 0x2000,
                size: 4,
                len: 0x2000
            })
        );
        assert_eq!(
            bar.read_u32(0x1ffe),
            Err(DriverError::OutOfRange {
                offset: 0x1ffe,
                size: 4,
                len: 0x2000
            })
        );
        assert_eq!(
            bar.write_u64(4, 0),
            Err(DriverError::Misaligned { offset: 4, size: 8 })
        );
        assert_eq!(
            bar.read_access(0, &mut [0u8; 3]),
            Err(DriverError::BadWidth(3))
        );
        assert!(bar.read(0, &mut []).is_err());
        assert!(bar.read(u64::MAX, &mut [0u8; 2]).is_err());
        // Unaligned bulk access is fine on the pread path.
        let mut two = [0u8; 2];
        bar.read(1, &mut two).unwrap();
        assert_eq!(two, [0x00, 0x00]);
    }

    #[test]
    fn mmio_uses_region_offsets_and_never_panics() {
        let (dev, region) = fixture(true);
        let bar = Bar::new(&dev, &region);
        // Only the second page is mapped.
        assert_eq!(
            bar.mmio().unwrap_err(),
            DriverError::NotMapped {
                index: 0,
                offset: 0
            }
        );
        let m = bar.mmio_range(0x1000, 0x1000).unwrap();
        assert_eq!((m.start(), m.len(), m.is_empty()), (0x1000, 0x1000, false));
        assert_eq!(bar.mmio_areas().count(), 1);
        assert_eq!(m.read_u64(0x1008).unwrap(), 0x1122_3344_5566_7788);
        assert_eq!(m.read_u32(0x100c).unwrap(), 0x1122_3344);
        assert_eq!(m.read_u8(0x1008).unwrap(), 0x88);
        m.write_u16(0x1020, 0xabcd).unwrap();
        assert_eq!(bar.read_u16(0x1020).unwrap(), 0xabcd);
        m.write_u64(0x1028, 7).unwrap();
        m.write_u8(0x1030, 9).unwrap();
        assert_eq!(bar.read_u8(0x1030).unwrap(), 9);
        assert_eq!(bar.read_u64(0x1028).unwrap(), 7);
        // Below, past, straddling, misaligned, bad width: errors, no panic.
        assert!(matches!(
            m.read_u32(0xffc),
            Err(DriverError::OutOfRange { offset: 0xffc, .. })
        ));
        assert!(matches!(
            m.read_u32(0x2000),
            Err(DriverError::OutOfRange { offset: 0x2000, .. })
        ));
        assert!(matches!(
            m.read_u64(0x1ffc),
            Err(DriverError::Misaligned { .. }) | Err(DriverError::OutOfRange { .. })
        ));
        assert_eq!(
            m.read_u32(0x1002),
            Err(DriverError::Misaligned {
                offset: 0x1002,
                size: 4
            })
        );
        assert!(m.read_u64(u64::MAX - 3).is_err());
        assert_eq!(
            m.write_access(0x1000, &[0; 16]),
            Err(DriverError::BadWidth(16))
        );
    }

    #[test]
    fn read_only_regions_refuse_writes() {
        let (dev, region) = fixture(false);
        let bar = Bar::new(&dev, &region);
        let m = bar.mmio_range(0x1000, 4).unwrap();
        assert!(!m.writable());
        assert_eq!(m.read_u64(0x1008).unwrap(), 0x1122_3344_5566_7788);
        assert_eq!(m.write_u32(0x1000, 1), Err(DriverError::ReadOnly(0)));
        assert_eq!(bar.write_u32(0x1000, 1), Err(DriverError::ReadOnly(0)));
    }
}
