//! A VFIO device fd (from [`Group::device`](super::Group::device) or a cdev
//! `/dev/vfio/devices/vfioN`): info, regions, IRQs, region I/O, mmap,
//! reset, and the iommufd bind/attach/detach calls.

use std::num::NonZeroUsize;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};

use nix::sys::mman::MapFlags;
use uuid::Uuid;
use vfio_bindings::bindings::vfio as vb;

use super::super::{Errno, Op, Result, SysError, fault, ioctls};
use super::argbuf::{self, ArgBuf};
use super::{
    DeviceFlags, DeviceInfo, IrqFlags, IrqInfo, MapProt, MappedRegion, RegionInfo, argsz, to_off,
};
use crate::sys::info::parse_region_info;

fd_handle! {
    /// An open VFIO device fd (from a group, or a cdev `/dev/vfio/devices/vfioN`).
    Device,
    /// Wrap an already-open device fd (ownership is taken), e.g. from `fd=`
    /// or an opened cdev.
}

/// The action of a `VFIO_DEVICE_SET_IRQS` call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IrqAction {
    /// `VFIO_IRQ_SET_ACTION_TRIGGER`: signal / (with eventfds) deliver to eventfds.
    Trigger,
    /// `VFIO_IRQ_SET_ACTION_MASK`.
    Mask,
    /// `VFIO_IRQ_SET_ACTION_UNMASK` (with eventfds: resample/unmask eventfds).
    Unmask,
}

impl IrqAction {
    fn flag(self) -> u32 {
        match self {
            IrqAction::Trigger => vb::VFIO_IRQ_SET_ACTION_TRIGGER,
            IrqAction::Mask => vb::VFIO_IRQ_SET_ACTION_MASK,
            IrqAction::Unmask => vb::VFIO_IRQ_SET_ACTION_UNMASK,
        }
    }
}

impl Device {
    /// `VFIO_DEVICE_GET_INFO` (flags, num_regions, num_irqs).
    pub fn info(&self) -> Result<DeviceInfo> {
        let call = fault::enter(Op::DeviceGetInfo)?;
        if let Some(info) = call.device_info() {
            return Ok(info);
        }
        let mut di = vb::vfio_device_info {
            argsz: argsz::<vb::vfio_device_info>(),
            ..Default::default()
        };
        // SAFETY: `di` is an initialised vfio_device_info living across the
        // call; with argsz == sizeof the kernel writes only inside it.
        let r = unsafe { ioctls::vfio_device_get_info(self.fd.as_raw_fd(), &mut di) };
        call.tag(r)?;
        Ok(DeviceInfo {
            flags: DeviceFlags::from_bits_retain(di.flags),
            num_regions: di.num_regions,
            num_irqs: di.num_irqs,
        })
    }

    /// `VFIO_DEVICE_GET_REGION_INFO(index)`, re-issued with the `argsz` the
    /// kernel reports so that the capability chain (sparse mmap areas, type,
    /// MSI-X mappable) is read and decoded. A malformed chain is `EPROTO`.
    pub fn region_info(&self, index: u32) -> Result<RegionInfo> {
        let call = fault::enter(Op::DeviceGetRegionInfo)?;
        if let Some(fake) = call.region_info(index) {
            return Ok(fake);
        }
        let base = argsz::<vb::vfio_region_info>();
        let buf = argbuf::get_info(
            call,
            Op::DeviceGetRegionInfo,
            base,
            &index.to_ne_bytes(),
            |arg| {
                // SAFETY: `arg` is an 8-byte aligned, zero-initialised buffer
                // of at least the `argsz` its vfio_region_info header tells
                // the kernel (index set); the kernel writes at most argsz
                // bytes.
                unsafe {
                    ioctls::vfio_device_get_region_info(self.fd.as_raw_fd(), arg.as_mut_ptr())
                }
            },
        )?;
        parse_region_info(&buf).ok_or(SysError::new(Op::DeviceGetRegionInfo, Errno::EPROTO))
    }

    /// `VFIO_DEVICE_GET_IRQ_INFO(index)`.
    pub fn irq_info(&self, index: u32) -> Result<IrqInfo> {
        let call = fault::enter(Op::DeviceGetIrqInfo)?;
        if let Some(fake) = call.irq_info(index) {
            return Ok(fake);
        }
        let mut ii = vb::vfio_irq_info {
            argsz: argsz::<vb::vfio_irq_info>(),
            index,
            ..Default::default()
        };
        // SAFETY: `ii` is an initialised vfio_irq_info living across the
        // call; the kernel writes only inside it.
        let r = unsafe { ioctls::vfio_device_get_irq_info(self.fd.as_raw_fd(), &mut ii) };
        call.tag(r)?;
        Ok(IrqInfo {
            index: ii.index,
            flags: IrqFlags::from_bits_retain(ii.flags),
            count: ii.count,
        })
    }

    fn set_irqs_raw(
        &self,
        flags: u32,
        index: u32,
        start: u32,
        count: u32,
        data: &[u8],
    ) -> Result<()> {
        let call = fault::enter(Op::DeviceSetIrqs)?;
        let hdr = std::mem::size_of::<vb::vfio_irq_set>();
        let total = hdr + data.len();
        let argsz =
            u32::try_from(total).map_err(|_| SysError::new(Op::DeviceSetIrqs, Errno::EINVAL))?;
        let mut bytes = Vec::with_capacity(total.next_multiple_of(4));
        for v in [argsz, flags, index, start, count] {
            bytes.extend_from_slice(&v.to_ne_bytes());
        }
        bytes.extend_from_slice(data);
        bytes.resize(total.next_multiple_of(4), 0);
        let words: Vec<u32> = bytes
            .chunks_exact(4)
            .map(|c| u32::from_ne_bytes(c.try_into().expect("4 bytes")))
            .collect();
        // SAFETY: `words` is a 4-byte aligned buffer of at least `argsz`
        // bytes laid out as struct vfio_irq_set followed by `data`; it lives
        // across the call and the kernel only reads argsz bytes from it. Any
        // eventfds inside `data` are borrowed by the caller for the call.
        let r = unsafe {
            ioctls::vfio_device_set_irqs(
                self.fd.as_raw_fd(),
                words.as_ptr().cast::<vb::vfio_irq_set>(),
            )
        };
        call.tag(r).map(drop)
    }

    /// `VFIO_DEVICE_SET_IRQS` with `DATA_EVENTFD`: attach one eventfd per
    /// vector `start..start+fds.len()` of IRQ `index` (INTx, MSI, MSI-X, ERR,
    /// REQ, CCW IO/CRW/REQ, AP …). `None` de-assigns that vector (fd `-1`).
    /// With [`IrqAction::Unmask`] the fds are unmask (resample) eventfds.
    pub fn set_irq_eventfds(
        &self,
        index: u32,
        action: IrqAction,
        start: u32,
        fds: &[Option<BorrowedFd<'_>>],
    ) -> Result<()> {
        let count = u32::try_from(fds.len())
            .map_err(|_| SysError::new(Op::DeviceSetIrqs, Errno::EINVAL))?;
        let data: Vec<u8> = fds
            .iter()
            .flat_map(|f| f.map_or(-1, |f| f.as_raw_fd()).to_ne_bytes())
            .collect();
        self.set_irqs_raw(
            vb::VFIO_IRQ_SET_DATA_EVENTFD | action.flag(),
            index,
            start,
            count,
            &data,
        )
    }

    /// `VFIO_DEVICE_SET_IRQS` with `DATA_NONE` on `start..start+count`
    /// (e.g. unmask INTx, or trigger a loopback interrupt).
    pub fn set_irqs_none(
        &self,
        index: u32,
        action: IrqAction,
        start: u32,
        count: u32,
    ) -> Result<()> {
        self.set_irqs_raw(
            vb::VFIO_IRQ_SET_DATA_NONE | action.flag(),
            index,
            start,
            count,
            &[],
        )
    }

    /// `VFIO_DEVICE_SET_IRQS` with `DATA_BOOL`: one flag per vector.
    pub fn set_irqs_bool(
        &self,
        index: u32,
        action: IrqAction,
        start: u32,
        values: &[bool],
    ) -> Result<()> {
        let count = u32::try_from(values.len())
            .map_err(|_| SysError::new(Op::DeviceSetIrqs, Errno::EINVAL))?;
        let data: Vec<u8> = values.iter().map(|&b| u8::from(b)).collect();
        self.set_irqs_raw(
            vb::VFIO_IRQ_SET_DATA_BOOL | action.flag(),
            index,
            start,
            count,
            &data,
        )
    }

    /// Disable all vectors of IRQ `index` (`DATA_NONE | ACTION_TRIGGER`,
    /// `count = 0`), as QEMU does when tearing down INTx/MSI/MSI-X.
    pub fn disable_irqs(&self, index: u32) -> Result<()> {
        self.set_irqs_none(index, IrqAction::Trigger, 0, 0)
    }

    /// `VFIO_DEVICE_QUERY_GFX_PLANE` with `VFIO_GFX_PLANE_TYPE_PROBE |
    /// plane_type`: whether the device can present a display that way
    /// (`VFIO_GFX_PLANE_TYPE_DMABUF` or `VFIO_GFX_PLANE_TYPE_REGION`).
    /// vfio-pci answers `ENOTTY` for devices without a display.
    pub fn probe_gfx_plane(&self, plane_type: u32) -> Result<()> {
        let call = fault::enter(Op::DeviceQueryGfxPlane)?;
        if let Some(supported) = call.gfx_planes() {
            return if supported & plane_type != 0 {
                Ok(())
            } else {
                Err(SysError::new(Op::DeviceQueryGfxPlane, Errno::ENOTTY))
            };
        }
        let mut info = vb::vfio_device_gfx_plane_info {
            argsz: argsz::<vb::vfio_device_gfx_plane_info>(),
            flags: vb::VFIO_GFX_PLANE_TYPE_PROBE | plane_type,
            ..Default::default()
        };
        // SAFETY: `info` is an initialised vfio_device_gfx_plane_info living
        // across the call; with argsz == sizeof the kernel writes only inside it.
        let r = unsafe { ioctls::vfio_device_query_gfx_plane(self.fd.as_raw_fd(), &mut info) };
        call.tag(r).map(drop)
    }

    /// `VFIO_DEVICE_FEATURE` with `flags` (`GET`/`SET`/`PROBE` | feature)
    /// and `data` as the payload, read back after the call.
    fn feature(&self, flags: u32, data: &mut [u8]) -> Result<()> {
        let call = fault::enter(Op::DeviceFeature)?;
        let feature = flags & vb::VFIO_DEVICE_FEATURE_MASK;
        if let Some(answer) = call.feature(feature) {
            let value = answer.map_err(|e| SysError::new(Op::DeviceFeature, e))?;
            let bytes = value.to_ne_bytes();
            let n = data.len().min(8);
            data[..n].copy_from_slice(&bytes[..n]);
            return Ok(());
        }
        let total = 8 + data.len();
        let argsz =
            u32::try_from(total).map_err(|_| SysError::new(Op::DeviceFeature, Errno::EINVAL))?;
        let mut arg = ArgBuf::new(argsz, flags);
        arg.put(8, data);
        // SAFETY: `arg` is an 8-byte aligned buffer of at least `argsz`
        // bytes starting with a vfio_device_feature header whose argsz is
        // `argsz`; the kernel reads and writes at most argsz bytes.
        let r = unsafe { ioctls::vfio_device_feature(self.fd.as_raw_fd(), arg.as_mut_ptr()) };
        call.tag(r)?;
        data.copy_from_slice(&arg.bytes()[8..total]);
        Ok(())
    }

    /// The device's migration flags (`VFIO_DEVICE_FEATURE_GET |
    /// VFIO_DEVICE_FEATURE_MIGRATION`: `VFIO_MIGRATION_STOP_COPY`, `P2P`,
    /// `PRE_COPY`). `ENOTTY` when the driver has no migration support.
    pub fn migration_flags(&self) -> Result<u64> {
        let mut data = [0u8; 8];
        self.feature(
            vb::VFIO_DEVICE_FEATURE_GET | vb::VFIO_DEVICE_FEATURE_MIGRATION,
            &mut data,
        )?;
        Ok(u64::from_ne_bytes(data))
    }

    /// Whether the device can track its own DMA writes (a
    /// `VFIO_DEVICE_FEATURE_PROBE` of `DMA_LOGGING_START`), QEMU's device
    /// dirty page tracking.
    pub fn dma_logging_supported(&self) -> bool {
        self.feature(
            vb::VFIO_DEVICE_FEATURE_PROBE
                | vb::VFIO_DEVICE_FEATURE_SET
                | vb::VFIO_DEVICE_FEATURE_DMA_LOGGING_START,
            &mut [],
        )
        .is_ok()
    }

    /// `VFIO_DEVICE_RESET`.
    pub fn reset(&self) -> Result<()> {
        let call = fault::enter(Op::DeviceReset)?;
        // SAFETY: no argument; the fd is live (borrowed from self).
        let r = unsafe { ioctls::vfio_device_reset(self.fd.as_raw_fd()) };
        call.tag(r).map(drop)
    }

    /// `pread(2)` at absolute device-fd `offset` (a region's
    /// [`RegionInfo::offset`] plus the offset inside it). May return fewer
    /// bytes than requested.
    pub fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize> {
        let call = fault::enter(Op::RegionRead)?;
        let off = to_off(Op::RegionRead, offset)?;
        let n = call.tag(nix::sys::uio::pread(self.fd.as_fd(), buf, off))?;
        call.patch_read(offset, &mut buf[..n]);
        Ok(n)
    }

    /// `pwrite(2)` at absolute device-fd `offset`. May write fewer bytes.
    pub fn write_at(&self, offset: u64, buf: &[u8]) -> Result<usize> {
        let call = fault::enter(Op::RegionWrite)?;
        let off = to_off(Op::RegionWrite, offset)?;
        call.tag(nix::sys::uio::pwrite(self.fd.as_fd(), buf, off))
    }

    /// [`Device::read_at`] that fails with `EIO` on a short read (QEMU treats
    /// `pread() != len` as `failed to read device config space`).
    pub fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        match self.read_at(offset, buf)? {
            n if n == buf.len() => Ok(()),
            _ => Err(SysError::new(Op::RegionRead, Errno::EIO)),
        }
    }

    /// [`Device::write_at`] that fails with `EIO` on a short write.
    pub fn write_all_at(&self, offset: u64, buf: &[u8]) -> Result<()> {
        match self.write_at(offset, buf)? {
            n if n == buf.len() => Ok(()),
            _ => Err(SysError::new(Op::RegionWrite, Errno::EIO)),
        }
    }

    /// Read `buf.len()` bytes at `offset` inside `region` (bounds-checked
    /// against the region size: `EINVAL`; short read: `EIO`).
    pub fn region_read(&self, region: &RegionInfo, offset: u64, buf: &mut [u8]) -> Result<()> {
        let abs = region_abs(Op::RegionRead, region, offset, buf.len() as u64)?;
        self.read_exact_at(abs, buf)
    }

    /// Write `buf` at `offset` inside `region` (bounds-checked like
    /// [`Device::region_read`]).
    pub fn region_write(&self, region: &RegionInfo, offset: u64, buf: &[u8]) -> Result<()> {
        let abs = region_abs(Op::RegionWrite, region, offset, buf.len() as u64)?;
        self.write_all_at(abs, buf)
    }

    /// `mmap(2)` `len` bytes at `offset` inside `region` (`MAP_SHARED`).
    ///
    /// Fails with `EINVAL` if the region is not mmap-able, the range is empty
    /// or outside the region; alignment is checked by the kernel (`EINVAL`).
    /// With a sparse-mmap capability only the listed areas are mappable.
    pub fn mmap_region(
        &self,
        region: &RegionInfo,
        offset: u64,
        len: usize,
        prot: MapProt,
    ) -> Result<MappedRegion> {
        if !region.mmappable() {
            return Err(SysError::new(Op::RegionMmap, Errno::EINVAL));
        }
        let abs = region_abs(Op::RegionMmap, region, offset, len as u64)?;
        self.mmap_at(abs, len, prot)
    }

    /// `mmap(2)` `len` bytes of the device fd at absolute `offset`
    /// (`MAP_SHARED`), without region checks.
    pub fn mmap_at(&self, offset: u64, len: usize, prot: MapProt) -> Result<MappedRegion> {
        let call = fault::enter(Op::RegionMmap)?;
        let nz = NonZeroUsize::new(len).ok_or(SysError::new(Op::RegionMmap, Errno::EINVAL))?;
        let off = to_off(Op::RegionMmap, offset)?;
        // SAFETY: a fresh mapping chosen by the kernel (addr = None) cannot
        // alias existing Rust memory. The fd is live for the call; the
        // mapping keeps its own reference to the file afterwards.
        let r = unsafe {
            nix::sys::mman::mmap(
                None,
                nz,
                prot.flags(),
                MapFlags::MAP_SHARED,
                self.fd.as_fd(),
                off,
            )
        };
        let ptr = call.tag(r)?;
        Ok(MappedRegion { ptr, len })
    }

    /// `VFIO_DEVICE_BIND_IOMMUFD`: bind this (cdev) device to `iommufd`;
    /// returns the iommufd device id (`out_devid`). With `token`, sets
    /// `VFIO_DEVICE_BIND_FLAG_TOKEN` (kernels before that flag reject it with
    /// `EINVAL`; QEMU never passes a token on this path).
    pub fn bind_iommufd(&self, iommufd: impl AsFd, token: Option<&Uuid>) -> Result<u32> {
        let call = fault::enter(Op::DeviceBindIommufd)?;
        call.request(|| fault::Request::BindToken(token.copied()));
        let token_bytes = token.map(|t| *t.as_bytes());
        let mut bind = vb::vfio_device_bind_iommufd {
            argsz: argsz::<vb::vfio_device_bind_iommufd>(),
            flags: 0,
            iommufd: iommufd.as_fd().as_raw_fd(),
            out_devid: 0,
            token_uuid_ptr: 0,
        };
        if let Some(b) = &token_bytes {
            bind.flags = vb::VFIO_DEVICE_BIND_FLAG_TOKEN;
            bind.token_uuid_ptr = b.as_ptr() as u64;
        } else {
            // Kernels before the token flag know only the first 16 bytes.
            bind.argsz = 16;
        }
        // SAFETY: `bind` is initialised and lives across the call; when the
        // token flag is set, `token_uuid_ptr` points at 16 live bytes in
        // `token_bytes`. The iommufd stays open because it is borrowed.
        let r = unsafe { ioctls::vfio_device_bind_iommufd(self.fd.as_raw_fd(), &mut bind) };
        call.tag(r)?;
        Ok(bind.out_devid)
    }

    /// `VFIO_DEVICE_ATTACH_IOMMUFD_PT(pt_id)` where `pt_id` is an IOAS or HWPT
    /// id; returns the id written back by the kernel (for an IOAS: the HWPT
    /// it attached to).
    pub fn attach_iommufd_pt(&self, pt_id: u32) -> Result<u32> {
        let call = fault::enter(Op::DeviceAttachIommufdPt)?;
        let mut at = vb::vfio_device_attach_iommufd_pt {
            // argsz up to pt_id: understood by every kernel with cdev support
            argsz: 12,
            flags: 0,
            pt_id,
            pasid: 0,
        };
        // SAFETY: `at` is initialised and lives across the call; the kernel
        // reads/writes at most argsz (12) bytes of it.
        let r = unsafe { ioctls::vfio_device_attach_iommufd_pt(self.fd.as_raw_fd(), &mut at) };
        call.tag(r)?;
        Ok(at.pt_id)
    }

    /// `VFIO_DEVICE_DETACH_IOMMUFD_PT`.
    pub fn detach_iommufd_pt(&self) -> Result<()> {
        let call = fault::enter(Op::DeviceDetachIommufdPt)?;
        let dt = vb::vfio_device_detach_iommufd_pt {
            argsz: 8,
            flags: 0,
            pasid: 0,
        };
        // SAFETY: `dt` is initialised and lives across the call; the kernel
        // only reads argsz (8) bytes of it.
        let r = unsafe { ioctls::vfio_device_detach_iommufd_pt(self.fd.as_raw_fd(), &dt) };
        call.tag(r).map(drop)
    }
}

fn region_abs(op: Op, region: &RegionInfo, offset: u64, len: u64) -> Result<u64> {
    let end = offset
        .checked_add(len)
        .ok_or(SysError::new(op, Errno::EINVAL))?;
    if len == 0 || end > region.size {
        return Err(SysError::new(op, Errno::EINVAL));
    }
    region
        .offset
        .checked_add(offset)
        .ok_or(SysError::new(op, Errno::EINVAL))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::fault::{Request, inject};
    use crate::sys::vfio::{Container, Group, RegionFlags};
    use std::io::Write;
    use std::os::fd::OwnedFd;

    fn temp_device(content: &[u8]) -> Device {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(content).unwrap();
        Device::from_fd(OwnedFd::from(f))
    }

    #[test]
    fn ioctls_on_a_non_vfio_fd_report_op_and_errno() {
        let d = temp_device(b"x");
        let e = d.info().unwrap_err();
        assert_eq!((e.op(), e.errno()), (Op::DeviceGetInfo, Errno::ENOTTY));
        assert_eq!(d.region_info(0).unwrap_err().op(), Op::DeviceGetRegionInfo);
        assert_eq!(d.irq_info(0).unwrap_err().errno(), Errno::ENOTTY);
        assert_eq!(d.disable_irqs(1).unwrap_err().op(), Op::DeviceSetIrqs);
        assert_eq!(d.reset().unwrap_err().op(), Op::DeviceReset);
        assert_eq!(
            d.detach_iommufd_pt().unwrap_err().op(),
            Op::DeviceDetachIommufdPt
        );
        let g = Group::from_fd(temp_device(b"").into_fd());
        assert_eq!(g.status().unwrap_err().errno(), Errno::ENOTTY);
        assert_eq!(g.device("a\0b").unwrap_err().errno(), Errno::EINVAL);
        assert_eq!(
            g.device("0000:00:01.0").unwrap_err().op(),
            Op::GroupGetDeviceFd
        );
        let c = Container::from_fd(temp_device(b"").into_fd());
        assert_eq!(c.api_version().unwrap_err().op(), Op::GetApiVersion);
        assert_eq!(
            c.check_extension(vb::VFIO_TYPE1v2_IOMMU)
                .unwrap_err()
                .errno(),
            Errno::ENOTTY
        );
        assert_eq!(c.iommu_info().unwrap_err().op(), Op::IommuGetInfo);
        assert_eq!(c.unmap_dma(0, 4096).unwrap_err().op(), Op::UnmapDma);
    }

    #[test]
    fn pread_pwrite_and_mmap_on_a_file() {
        let mut content = vec![0u8; 8192];
        content[0x1000..0x1004].copy_from_slice(&0x010000edu32.to_ne_bytes());
        let d = temp_device(&content);
        let region = RegionInfo {
            index: 0,
            flags: RegionFlags::READ | RegionFlags::WRITE | RegionFlags::MMAP,
            size: 0x1000,
            offset: 0x1000,
            caps: vec![],
        };
        let mut id = [0u8; 4];
        d.region_read(&region, 0, &mut id).unwrap();
        assert_eq!(u32::from_ne_bytes(id), 0x010000ed);
        assert_eq!(
            d.region_read(&region, 0xffe, &mut id).unwrap_err().errno(),
            Errno::EINVAL
        );
        d.region_write(&region, 8, &[1, 2, 3, 4]).unwrap();
        // short read past EOF
        let mut big = [0u8; 16];
        assert_eq!(
            d.read_exact_at(8190, &mut big).unwrap_err().errno(),
            Errno::EIO
        );

        let m = d
            .mmap_region(&region, 0, 0x1000, MapProt::READ_WRITE)
            .unwrap();
        assert_eq!(m.len(), 0x1000);
        assert!(!m.is_empty());
        assert_eq!(m.read_u32(0), 0x010000ed);
        assert_eq!(m.read_u32(8), u32::from_ne_bytes([1, 2, 3, 4]));
        m.write_u64(16, 0x1122_3344_5566_7788);
        assert_eq!(m.read_u64(16), 0x1122_3344_5566_7788);
        assert_eq!(m.read_u16(16), 0x7788);
        assert_eq!(m.read_u8(17), 0x77);
        assert!(m.contains(0xffc, 4));
        assert!(!m.contains(0xffe, 4));
        assert!(!m.contains(2, 4));
        drop(m);
        // MAP_SHARED: the store reached the file
        let mut back = [0u8; 8];
        d.read_exact_at(0x1010, &mut back).unwrap();
        assert_eq!(u64::from_ne_bytes(back), 0x1122_3344_5566_7788);

        let ro = RegionInfo {
            flags: RegionFlags::READ,
            ..region.clone()
        };
        assert_eq!(
            d.mmap_region(&ro, 0, 0x1000, MapProt::READ_ONLY)
                .unwrap_err()
                .errno(),
            Errno::EINVAL
        );
        assert_eq!(
            d.mmap_at(0, 0, MapProt::READ_ONLY).unwrap_err().errno(),
            Errno::EINVAL
        );
    }

    #[test]
    #[should_panic(expected = "outside")]
    fn mapped_region_out_of_range_panics() {
        let d = temp_device(&[0u8; 4096]);
        let m = d.mmap_at(0, 4096, MapProt::READ_ONLY).unwrap();
        m.read_u32(4096);
    }

    #[test]
    fn wrappers_honour_injections_and_log_kernel_calls() {
        let f = tempfile::tempfile().unwrap();
        let d = Device::from_fd(std::os::fd::OwnedFd::from(f));
        let plan = inject(Op::DeviceGetInfo, Errno::ENODEV);
        assert_eq!(d.info().unwrap_err().errno(), Errno::ENODEV);
        // Not injected: the kernel answers (ENOTTY on a regular file).
        assert_eq!(d.info().unwrap_err().errno(), Errno::ENOTTY);
        let calls = plan.calls();
        assert_eq!(calls.len(), 2);
        assert_eq!(
            (calls[1].op, calls[1].result, calls[1].injected),
            (Op::DeviceGetInfo, Err(Errno::ENOTTY), false)
        );
        // Overrides answer without the kernel, which would say ENOTTY.
        plan.override_region_info(8, 3, 0x100);
        assert_eq!(d.region_info(8).unwrap().size, 0x100);
        assert_eq!(d.region_info(7).unwrap_err().errno(), Errno::ENOTTY);
        let di = DeviceInfo {
            flags: crate::sys::vfio::DeviceFlags::PCI,
            num_regions: 9,
            num_irqs: 5,
        };
        plan.override_device_info(di);
        assert_eq!(d.info().unwrap(), di);
        assert_eq!(plan.calls().len(), 3, "overridden calls are not logged");
    }

    #[test]
    fn requests_record_what_reached_the_kernel() {
        let file = || std::os::fd::OwnedFd::from(tempfile::tempfile().unwrap());
        let d = Device::from_fd(file());
        let g = Group::from_fd(file());
        let t = Uuid::parse_str("2ab74924-c335-45f4-9b16-8569e5b08258").unwrap();
        // Without a plan nothing is kept.
        assert!(d.bind_iommufd(file(), Some(&t)).is_err());
        let plan = inject(Op::DeviceBindIommufd, Errno::EPERM);
        // Injected: the kernel was not asked, so nothing was sent.
        assert_eq!(
            d.bind_iommufd(file(), Some(&t)).unwrap_err().errno(),
            Errno::EPERM
        );
        assert!(plan.requests().is_empty());
        assert!(d.bind_iommufd(file(), Some(&t)).is_err());
        assert!(d.bind_iommufd(file(), None).is_err());
        assert!(g.device("0000:00:01.0 vf_token=x").is_err());
        assert_eq!(
            plan.requests(),
            [
                Request::BindToken(Some(t)),
                Request::BindToken(None),
                Request::DeviceName("0000:00:01.0 vf_token=x".to_owned()),
            ]
        );
    }
}
