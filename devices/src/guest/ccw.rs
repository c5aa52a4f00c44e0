//! vfio-ccw's guest-facing I/O path: START, HALT and CLEAR SUBCHANNEL
//! passed to the host subchannel, and the interruption response block read
//! back when the I/O interrupt fires.
//!
//! This follows QEMU 10.2's `hw/vfio/ccw.c` (`vfio_ccw_handle_request`,
//! `vfio_ccw_handle_halt`, `vfio_ccw_handle_clear`,
//! `vfio_ccw_io_notifier_handler`) and the way `hw/s390x/css.c`
//! (`sch_handle_halt_func_passthrough`, `sch_handle_clear_func_passthrough`,
//! `sch_handle_start_func_passthrough`) turns their results into condition
//! codes. It is VMM-neutral: the channel-subsystem emulation (the guest's
//! SCHIB, ORB, interrupt queue) stays with the caller, which passes in what
//! QEMU's handlers read from its `SubchDev` and applies what they change:
//!
//! * [`CcwIo::start`], [`CcwIo::halt`], [`CcwIo::clear`] return an
//!   [`Outcome`]: the condition code, and whether the caller must make the
//!   subchannel status pending with unit exception and inject an I/O
//!   interrupt ([`Action::UnitException`], QEMU's `sch_gen_unit_exception` +
//!   `css_inject_io_interrupt`, applied by [`Outcome::apply`]) or emulate the
//!   function itself ([`Action::EmulateHalt`] / [`Action::EmulateClear`],
//!   when the device has no async command region).
//! * [`CcwIo::read_irb`], called when the I/O interrupt's eventfd fires,
//!   returns an [`IrbRead`]; [`IrbRead::apply`] updates a
//!   [`SubchannelStatus`] as the notifier handler updates `sch`, after which
//!   the caller injects the I/O interrupt (QEMU does in every case).
//!
//! All region access goes through [`RegionIo`] (`pread`/`pwrite` of a region
//! at an offset), implemented for the kernel [`Device`]; tests use an
//! in-memory region.
//!
//! # Byte order
//!
//! QEMU copies its host-order `ORB`/`SCSW` into the I/O region with `memcpy`
//! and reads the `IRB` back the same way. vfio-ccw exists only on s390x,
//! whose host order is big-endian, so the kernel always sees the
//! architecture's big-endian layout; [`Orb`], [`Scsw`] and [`Irb`] encode to
//! and decode from that layout on every host. The async command region's
//! `command` is a plain `__u32` and stays in host order
//! ([`CcwCmdRegion::to_bytes`]).

use std::cell::Cell;
use std::fmt;

use qomgen::{CssDevId, ObjRef};
use vfio_bindings::bindings::vfio as vb;

use crate::attach::Attached;
use crate::models::vfio_ccw::VfioCcw;
use crate::sys::Errno;
use crate::sys::ccw::{
    CcwCmdRegion, CcwIoRegion, IRB_AREA_SIZE, ORB_AREA_SIZE, SCSW_AREA_SIZE,
    VFIO_CCW_ASYNC_CMD_CSCH, VFIO_CCW_ASYNC_CMD_HSCH,
};
use crate::sys::vfio::{Device, RegionInfo};

/// `SCSW_FLAGS_MASK_CC` (QEMU `include/hw/s390x/ioinst.h`): deferred condition code.
pub const SCSW_FLAGS_MASK_CC: u16 = 0x0300;
/// `SCSW_CTRL_MASK_STCTL`: the status-control bits of [`Scsw::ctrl`].
pub const SCSW_CTRL_MASK_STCTL: u16 = 0x001f;
/// `SCSW_ACTL_DEVICE_ACTIVE`.
pub const SCSW_ACTL_DEVICE_ACTIVE: u16 = 0x0040;
/// `SCSW_ACTL_SUBCH_ACTIVE`.
pub const SCSW_ACTL_SUBCH_ACTIVE: u16 = 0x0080;
/// `SCSW_ACTL_START_PEND`.
pub const SCSW_ACTL_START_PEND: u16 = 0x0400;
/// `SCSW_STCTL_STATUS_PEND`.
pub const SCSW_STCTL_STATUS_PEND: u16 = 0x0001;
/// `SCSW_STCTL_SECONDARY`.
pub const SCSW_STCTL_SECONDARY: u16 = 0x0002;
/// `SCSW_STCTL_PRIMARY`.
pub const SCSW_STCTL_PRIMARY: u16 = 0x0004;
/// `SCSW_STCTL_ALERT`.
pub const SCSW_STCTL_ALERT: u16 = 0x0010;
/// `SCSW_DSTAT_UNIT_CHECK`.
pub const SCSW_DSTAT_UNIT_CHECK: u8 = 0x02;
/// `SCSW_DSTAT_UNIT_EXCEP`.
pub const SCSW_DSTAT_UNIT_EXCEP: u8 = 0x01;
/// `SCSW_CSTAT_PROG_CHECK`: channel program check.
pub const SCSW_CSTAT_PROG_CHECK: u8 = 0x20;
/// `SCSW_CSTAT_DATA_CHECK`: channel data check.
pub const SCSW_CSTAT_DATA_CHECK: u8 = 0x08;
/// `SCSW_CSTAT_CHN_CTRL_CHK`: channel-control check.
pub const SCSW_CSTAT_CHN_CTRL_CHK: u8 = 0x04;
/// `ORB_CTRL0_MASK_PFCH`: the ORB's prefetch bit.
pub const ORB_CTRL0_MASK_PFCH: u16 = 0x0040;
/// `PMCW_CHARS_MASK_CSENSE`: concurrent sense, the PMCW characteristic that
/// makes [`IrbRead::apply`] copy the sense data.
pub const PMCW_CHARS_MASK_CSENSE: u32 = 0x0000_0001;

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// `to_bytes` and `from_bytes` of a big-endian image from its layout:
/// each field at its byte offset, in its type's width.
macro_rules! be_image {
    ($ty:ident, $size:expr, $to_doc:literal, $from_doc:literal,
     { $($field:ident: $t:ty = $at:literal),* $(,)? }) => {
        impl $ty {
            #[doc = $to_doc]
            pub fn to_bytes(&self) -> [u8; $size] {
                let mut b = [0u8; $size];
                $(b[$at..$at + size_of::<$t>()].copy_from_slice(&self.$field.to_be_bytes());)*
                b
            }

            #[doc = $from_doc]
            pub fn from_bytes(b: &[u8; $size]) -> Self {
                $ty {
                    $($field: <$t>::from_be_bytes(
                        b[$at..$at + size_of::<$t>()]
                            .try_into()
                            .expect("the layout lies inside the image"),
                    ),)*
                }
            }
        }
    };
}

/// Operation request block (QEMU's `ORB`, 12 bytes), as the guest's START
/// SUBCHANNEL passed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Orb {
    /// Interruption parameter.
    pub intparm: u32,
    /// Key, suspend, format, prefetch, … (`ORB_CTRL0_MASK_*`).
    pub ctrl0: u16,
    /// Logical path mask.
    pub lpm: u8,
    /// `ORB_CTRL1_MASK_*`.
    pub ctrl1: u8,
    /// Channel program address.
    pub cpa: u32,
}

be_image!(
    Orb,
    ORB_AREA_SIZE,
    "The big-endian image written to the I/O region's `orb_area`.",
    "Decode a big-endian ORB image.",
    { intparm: u32 = 0, ctrl0: u16 = 4, lpm: u8 = 6, ctrl1: u8 = 7, cpa: u32 = 8 }
);

/// Subchannel status word (QEMU's `SCSW`, command mode, 12 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Scsw {
    /// Key, deferred condition code, format, … (`SCSW_FLAGS_MASK_*`).
    pub flags: u16,
    /// Function, activity and status control (`SCSW_FCTL_*`, `SCSW_ACTL_*`,
    /// `SCSW_STCTL_*`).
    pub ctrl: u16,
    /// Channel program address.
    pub cpa: u32,
    /// Device status.
    pub dstat: u8,
    /// Subchannel (channel) status.
    pub cstat: u8,
    /// Residual count.
    pub count: u16,
}

impl Scsw {
    /// QEMU's `sch_gen_unit_exception` (`include/hw/s390x/css.h`): status
    /// pending (primary, secondary, alert) with unit exception, the
    /// subchannel and device no longer active, the CPA past the channel
    /// program's first CCW. `channel_prog` is QEMU's `sch->channel_prog`
    /// (`css_do_ssch` sets it to the ORB's `cpa`).
    pub fn gen_unit_exception(&mut self, channel_prog: u64) {
        self.ctrl &= !(SCSW_ACTL_DEVICE_ACTIVE | SCSW_ACTL_SUBCH_ACTIVE);
        self.ctrl |=
            SCSW_STCTL_PRIMARY | SCSW_STCTL_SECONDARY | SCSW_STCTL_ALERT | SCSW_STCTL_STATUS_PEND;
        // `scsw.cpa` is a uint32_t: the sum is truncated as in C.
        self.cpa = channel_prog.wrapping_add(8) as u32;
        self.dstat = SCSW_DSTAT_UNIT_EXCEP;
    }

    /// The channel-status ending `vfio_ccw_io_notifier_handler` builds
    /// when the I/O region cannot be read: start pending cleared, `cstat`
    /// replaced, status pending with primary, secondary and alert status.
    fn channel_check(&mut self, cstat: u8) {
        self.ctrl &= !SCSW_ACTL_START_PEND;
        self.cstat = cstat;
        self.ctrl &= !SCSW_CTRL_MASK_STCTL;
        self.ctrl |=
            SCSW_STCTL_PRIMARY | SCSW_STCTL_SECONDARY | SCSW_STCTL_ALERT | SCSW_STCTL_STATUS_PEND;
    }
}

be_image!(
    Scsw,
    SCSW_AREA_SIZE,
    "The big-endian image (the I/O region's `scsw_area`, an IRB's first 12 bytes).",
    "Decode a big-endian SCSW image.",
    { flags: u16 = 0, ctrl: u16 = 2, cpa: u32 = 4, dstat: u8 = 8, cstat: u8 = 9, count: u16 = 10 }
);

/// Extended status word (QEMU's `ESW`, format 0 naming, 20 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Esw {
    /// Subchannel logout (format 0).
    pub word0: u32,
    /// Extended-report word.
    pub erw: u32,
    /// Failing-storage address (format 0).
    pub word2: u64,
    /// Secondary-CCW address (format 0).
    pub word4: u32,
}

be_image!(
    Esw,
    20,
    "The big-endian image (an IRB's bytes 12 to 32).",
    "Decode a big-endian ESW image.",
    { word0: u32 = 0, erw: u32 = 4, word2: u64 = 8, word4: u32 = 16 }
);

/// Interruption response block (QEMU's `IRB`, 96 bytes) as the kernel
/// stores it in the I/O region's `irb_area`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Irb {
    /// Subchannel status word.
    pub scsw: Scsw,
    /// Extended status word.
    pub esw: Esw,
    /// Extended control words (sense data when `esw.erw` says so), as bytes.
    pub ecw: [u8; 32],
    /// Extended measurement words.
    pub emw: [u32; 8],
}

impl Irb {
    /// Decode the big-endian `irb_area`.
    pub fn from_bytes(b: &[u8; IRB_AREA_SIZE]) -> Self {
        let mut scsw = [0u8; SCSW_AREA_SIZE];
        scsw.copy_from_slice(&b[0..12]);
        let mut esw = [0u8; 20];
        esw.copy_from_slice(&b[12..32]);
        let mut ecw = [0u8; 32];
        ecw.copy_from_slice(&b[32..64]);
        let mut emw = [0u32; 8];
        for (i, w) in emw.iter_mut().enumerate() {
            *w = be32(b, 64 + 4 * i);
        }
        Irb {
            scsw: Scsw::from_bytes(&scsw),
            esw: Esw::from_bytes(&esw),
            ecw,
            emw,
        }
    }

    /// The big-endian image (what a kernel, or a test, stores in `irb_area`).
    pub fn to_bytes(&self) -> [u8; IRB_AREA_SIZE] {
        let mut b = [0u8; IRB_AREA_SIZE];
        b[0..12].copy_from_slice(&self.scsw.to_bytes());
        b[12..32].copy_from_slice(&self.esw.to_bytes());
        b[32..64].copy_from_slice(&self.ecw);
        for (i, w) in self.emw.iter().enumerate() {
            b[64 + 4 * i..68 + 4 * i].copy_from_slice(&w.to_be_bytes());
        }
        b
    }
}

/// How an I/O instruction ends (QEMU's `IOInstEnding`,
/// `include/hw/s390x/css.h`): the condition code the guest sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ConditionCode {
    /// cc 0 (`IOINST_CC_EXPECTED`): produced the expected result.
    Expected = 0,
    /// cc 1 (`IOINST_CC_STATUS_PRESENT`): status conditions were present.
    StatusPresent = 1,
    /// cc 2 (`IOINST_CC_BUSY`): busy with a previously initiated function.
    Busy = 2,
    /// cc 3 (`IOINST_CC_NOT_OPERATIONAL`): not operational.
    NotOperational = 3,
}

impl ConditionCode {
    /// The numeric condition code (0–3).
    pub fn code(self) -> u8 {
        self as u8
    }
}

/// Which vfio-ccw region a failed access was to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CcwRegion {
    /// The I/O region (`VFIO_CCW_CONFIG_REGION_INDEX`): START SUBCHANNEL.
    Io,
    /// The async command region: HALT and CLEAR SUBCHANNEL.
    AsyncCmd,
}

/// A region write that did not write the whole region: QEMU's
/// `ret != region_size` branch. [`fmt::Display`] gives QEMU's
/// `error_report` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteError {
    /// The region written.
    pub region: CcwRegion,
    /// The `pwrite` errno; `None` for a short write, which sets none (QEMU
    /// then reads whatever `errno` holds; here it is taken as 0, so the
    /// report says `errno=0` and the `errno ? -errno : -EFAULT` fallback
    /// picks `EFAULT`).
    pub errno: Option<Errno>,
    /// Bytes written by a short write.
    pub written: Option<usize>,
}

impl WriteError {
    /// The errno QEMU's switch sees: `errno ? -errno : -EFAULT`, negated.
    pub fn effective_errno(&self) -> Errno {
        match self.errno {
            Some(e) if e != Errno::UnknownErrno => e,
            _ => Errno::EFAULT,
        }
    }
}

impl fmt::Display for WriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.region {
            CcwRegion::Io => "I/O",
            CcwRegion::AsyncCmd => "cmd",
        };
        let errno = self.errno.map_or(0, |e| e as i32);
        write!(f, "vfio-ccw: write {what} region failed with errno={errno}")
    }
}

impl std::error::Error for WriteError {}

/// What the caller's channel-subsystem emulation does besides setting the
/// condition code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Nothing: the host took the function (its status arrives with the
    /// I/O interrupt, [`CcwIo::read_irb`]) or refused it with the cc.
    None,
    /// QEMU's `sch_gen_unit_exception` then `css_inject_io_interrupt`:
    /// [`Scsw::gen_unit_exception`] on the subchannel's SCSW and an I/O
    /// interrupt for the guest.
    UnitException,
    /// No async command region: QEMU's handler returns `-ENOSYS` and css.c
    /// falls back to emulating HALT (`sch_handle_halt_func`).
    EmulateHalt,
    /// As [`Action::EmulateHalt`], for CLEAR (`sch_handle_clear_func`).
    EmulateClear,
}

/// The result of [`CcwIo::start`], [`CcwIo::halt`] or [`CcwIo::clear`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The condition code of the guest's instruction.
    pub cc: ConditionCode,
    /// What else the channel subsystem must do.
    pub action: Action,
    /// The failed region write, reported by QEMU with `error_report`
    /// (its `Display`); `None` when the write succeeded.
    pub error: Option<WriteError>,
    /// A warning QEMU prints (`warn_report_once`): the PFCH flag was forced.
    pub warning: Option<String>,
}

impl Outcome {
    fn new(cc: ConditionCode, action: Action, error: Option<WriteError>) -> Self {
        Outcome {
            cc,
            action,
            error,
            warning: None,
        }
    }

    /// Applies [`Action::UnitException`] to the subchannel's SCSW
    /// ([`Scsw::gen_unit_exception`]); other actions leave it alone. The
    /// caller still injects the I/O interrupt.
    pub fn apply(&self, scsw: &mut Scsw, channel_prog: u64) {
        if self.action == Action::UnitException {
            scsw.gen_unit_exception(channel_prog);
        }
    }
}

/// The part of a subchannel the I/O interrupt updates (QEMU:
/// `sch->curr_status.scsw`, `sch->esw`, `sch->sense_data`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SubchannelStatus {
    /// The subchannel's current SCSW.
    pub scsw: Scsw,
    /// The ESW from the last IRB (QEMU's `build_irb_passthrough` hands it
    /// to the guest on TEST SUBCHANNEL).
    pub esw: Esw,
    /// Sense data, copied from the IRB's ECWs on a unit check with
    /// concurrent sense.
    pub sense: [u8; 32],
}

/// What [`CcwIo::read_irb`] read from the I/O region.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IrbRead {
    /// The whole region: the host's IRB.
    Irb(Irb),
    /// `pread` failed with this errno.
    Failed(Errno),
    /// `pread` returned this many bytes, not the region's size.
    Short(usize),
}

impl IrbRead {
    /// Updates the subchannel as `vfio_ccw_io_notifier_handler` does:
    ///
    /// * IRB read: the SCSW and ESW become the IRB's; on a unit check with
    ///   `concurrent_sense` (the PMCW's [`PMCW_CHARS_MASK_CSENSE`]) the
    ///   ECWs become the sense data.
    /// * `ENODEV`: a deferred cc 3 (status pending with alert status).
    /// * `EFAULT`: channel data check.
    /// * any other errno: channel program check.
    /// * short read: channel-control check.
    ///
    /// In every case the caller then injects an I/O interrupt.
    pub fn apply(&self, status: &mut SubchannelStatus, concurrent_sense: bool) {
        let scsw = &mut status.scsw;
        match *self {
            IrbRead::Irb(irb) => {
                *scsw = irb.scsw;
                status.esw = irb.esw;
                if irb.scsw.dstat & SCSW_DSTAT_UNIT_CHECK != 0 && concurrent_sense {
                    status.sense = irb.ecw;
                }
            }
            IrbRead::Failed(Errno::ENODEV) => {
                scsw.flags |= SCSW_FLAGS_MASK_CC;
                scsw.ctrl &= !SCSW_CTRL_MASK_STCTL;
                scsw.ctrl |= SCSW_STCTL_ALERT | SCSW_STCTL_STATUS_PEND;
            }
            IrbRead::Failed(Errno::EFAULT) => scsw.channel_check(SCSW_CSTAT_DATA_CHECK),
            IrbRead::Failed(_) => scsw.channel_check(SCSW_CSTAT_PROG_CHECK),
            IrbRead::Short(_) => scsw.channel_check(SCSW_CSTAT_CHN_CTRL_CHK),
        }
    }
}

/// `pread`/`pwrite` of a device region at an offset inside it: how
/// [`CcwIo`] reaches the device. Implemented for the kernel [`Device`];
/// tests implement it over memory.
pub trait RegionIo {
    /// Reads into `buf` at `offset` inside `region`; may return fewer
    /// bytes than asked, as `pread` does.
    ///
    /// # Errors
    /// The errno of the failed read.
    fn pread_region(
        &self,
        region: &RegionInfo,
        offset: u64,
        buf: &mut [u8],
    ) -> Result<usize, Errno>;

    /// Writes `buf` at `offset` inside `region`; may write fewer bytes than
    /// given, as `pwrite` does.
    ///
    /// # Errors
    /// The errno of the failed write.
    fn pwrite_region(&self, region: &RegionInfo, offset: u64, buf: &[u8]) -> Result<usize, Errno>;
}

/// The device-fd offset of `len` bytes at `offset` in `region`; `EINVAL`
/// outside it.
fn region_offset(region: &RegionInfo, offset: u64, len: usize) -> Result<u64, Errno> {
    match offset.checked_add(len as u64) {
        Some(end) if end <= region.size => region.offset.checked_add(offset).ok_or(Errno::EINVAL),
        _ => Err(Errno::EINVAL),
    }
}

impl RegionIo for Device {
    fn pread_region(
        &self,
        region: &RegionInfo,
        offset: u64,
        buf: &mut [u8],
    ) -> Result<usize, Errno> {
        let at = region_offset(region, offset, buf.len())?;
        self.read_at(at, buf).map_err(|e| e.errno())
    }

    fn pwrite_region(&self, region: &RegionInfo, offset: u64, buf: &[u8]) -> Result<usize, Errno> {
        let at = region_offset(region, offset, buf.len())?;
        self.write_at(at, buf).map_err(|e| e.errno())
    }
}

/// Why a [`CcwIo`] cannot be had for a device.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CcwIoError {
    /// The `vfio-ccw` object is not realized (or was unrealized).
    #[error("device is not realized")]
    NotRealized,
    /// The object is not a `vfio-ccw` device, or the device is not CCW.
    #[error("not a vfio-ccw device: {0}")]
    NotCcw(String),
    /// The device object is mutably borrowed elsewhere.
    #[error("device object is busy (borrowed mutably)")]
    Busy,
    /// The I/O region is missing (realize records it; a fake may not).
    #[error("vfio: no I/O region")]
    NoIoRegion,
    /// A region whose size is not the uAPI's: QEMU's realize message.
    #[error("vfio: Unexpected size of the {0} region")]
    RegionSize(&'static str),
}

/// A realized vfio-ccw device's I/O path: the device and the regions
/// realize found, borrowed.
pub struct CcwIo<'a, D: RegionIo + ?Sized = Device> {
    dev: &'a D,
    io: &'a RegionInfo,
    cmd: Option<&'a RegionInfo>,
    force_orb_pfch: bool,
    devno: Option<CssDevId>,
    warned_pfch: Cell<bool>,
}

// By hand: the device need not be `Debug` (a kernel fd says nothing useful).
impl<D: RegionIo + ?Sized> fmt::Debug for CcwIo<'_, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CcwIo")
            .field("io", self.io)
            .field("cmd", &self.cmd)
            .field("force_orb_pfch", &self.force_orb_pfch)
            .field("devno", &self.devno)
            .finish_non_exhaustive()
    }
}

impl<'a> CcwIo<'a, Device> {
    /// The I/O path of a realized `vfio-ccw`, with its `force-orb-pfch`
    /// property and guest device number.
    ///
    /// # Errors
    /// [`CcwIoError::NotRealized`], or as [`CcwIo::from_attached`].
    pub fn new(dev: &'a VfioCcw) -> Result<Self, CcwIoError> {
        let attached = dev.attached().ok_or(CcwIoError::NotRealized)?;
        let mut io = Self::from_attached(attached)?;
        io.force_orb_pfch = dev.force_orb_pfch;
        io.devno = dev.bus_ids().0;
        Ok(io)
    }

    /// The I/O path of attached device state: the I/O region
    /// (`VFIO_CCW_CONFIG_REGION_INDEX`) and, when present, the async command
    /// region, as realize recorded them.
    ///
    /// # Errors
    /// [`CcwIoError::NotCcw`] for a non-CCW device, otherwise as
    /// [`CcwIo::with_regions`].
    pub fn from_attached(attached: &'a Attached) -> Result<Self, CcwIoError> {
        if !attached.info.is_ccw() {
            return Err(CcwIoError::NotCcw(format!(
                "{} reports VFIO device flags {:#x}",
                attached.name,
                attached.info.flags.bits()
            )));
        }
        let io = attached
            .regions
            .iter()
            .map(|r| &r.info)
            .find(|r| r.index == vb::VFIO_CCW_CONFIG_REGION_INDEX)
            .ok_or(CcwIoError::NoIoRegion)?;
        let cmd = attached.regions.iter().map(|r| &r.info).find(|r| {
            r.region_type()
                == Some((
                    vb::VFIO_REGION_TYPE_CCW,
                    vb::VFIO_REGION_SUBTYPE_CCW_ASYNC_CMD,
                ))
        });
        Self::with_regions(attached.device(), io, cmd)
    }
}

impl<'a, D: RegionIo + ?Sized> CcwIo<'a, D> {
    /// The I/O path over any [`RegionIo`], given the I/O region and the
    /// optional async command region.
    ///
    /// # Errors
    /// [`CcwIoError::RegionSize`] when a region's size is not its struct's
    /// (QEMU's `vfio_ccw_get_region` refuses such a device).
    pub fn with_regions(
        dev: &'a D,
        io: &'a RegionInfo,
        cmd: Option<&'a RegionInfo>,
    ) -> Result<Self, CcwIoError> {
        if io.size != CcwIoRegion::SIZE as u64 {
            return Err(CcwIoError::RegionSize("I/O"));
        }
        if cmd.is_some_and(|c| c.size != CcwCmdRegion::SIZE as u64) {
            return Err(CcwIoError::RegionSize("async cmd"));
        }
        Ok(CcwIo {
            dev,
            io,
            cmd,
            force_orb_pfch: false,
            devno: None,
            warned_pfch: Cell::new(false),
        })
    }

    /// Sets the `force-orb-pfch` behaviour and the guest device number its
    /// warning names.
    pub fn with_force_orb_pfch(mut self, force: bool, devno: Option<CssDevId>) -> Self {
        self.force_orb_pfch = force;
        self.devno = devno;
        self
    }

    /// Whether the device has the async command region (HALT and CLEAR go
    /// to the host; without it they are emulated).
    pub fn has_async_cmd(&self) -> bool {
        self.cmd.is_some()
    }

    /// QEMU's `pwrite` loop: retried while it fails with `EAGAIN` (the
    /// kernel's answer while another request holds the region), as QEMU
    /// does, without a bound.
    fn write_all(&self, region: &RegionInfo, which: CcwRegion, buf: &[u8]) -> Option<WriteError> {
        loop {
            match self.dev.pwrite_region(region, 0, buf) {
                Ok(n) if n == buf.len() => return None,
                Ok(n) => {
                    return Some(WriteError {
                        region: which,
                        errno: None,
                        written: Some(n),
                    });
                }
                Err(Errno::EAGAIN) => {}
                Err(e) => {
                    return Some(WriteError {
                        region: which,
                        errno: Some(e),
                        written: None,
                    });
                }
            }
        }
    }

    /// START SUBCHANNEL on the host (`vfio_ccw_handle_request`): the I/O
    /// region, zeroed, with `orb` and the subchannel's `scsw`, written in one
    /// `pwrite`. With `force-orb-pfch` a clear PFCH bit in `orb` is set
    /// first (QEMU changes `sch->orb` too) and the first time warned about.
    ///
    /// Condition codes: written → cc 0; `EBUSY` → cc 2; `ENODEV`, `EACCES`
    /// → cc 3; `EFAULT`, any other errno and a short write → unit exception
    /// and cc 0. A cc other than 0 means css.c restores the SCSW it had
    /// changed for the start function (`css_do_ssch`).
    pub fn start(&self, orb: &mut Orb, scsw: &Scsw) -> Outcome {
        let mut warning = None;
        if orb.ctrl0 & ORB_CTRL0_MASK_PFCH == 0 && self.force_orb_pfch {
            orb.ctrl0 |= ORB_CTRL0_MASK_PFCH;
            if !self.warned_pfch.replace(true) {
                let (c, s, d) = self.devno.map_or((0, 0, 0), |d| (d.cssid, d.ssid, d.devid));
                warning = Some(format!(
                    "vfio-ccw (devno {c:x}.{s:x}.{d:04x}): PFCH flag forced"
                ));
            }
        }
        let region = CcwIoRegion {
            orb_area: orb.to_bytes(),
            scsw_area: scsw.to_bytes(),
            ..CcwIoRegion::default()
        };
        let error = self.write_all(self.io, CcwRegion::Io, &region.to_bytes());
        let (cc, action) = match error.map(|e| e.effective_errno()) {
            None => (ConditionCode::Expected, Action::None),
            Some(Errno::EBUSY) => (ConditionCode::Busy, Action::None),
            Some(Errno::ENODEV | Errno::EACCES) => (ConditionCode::NotOperational, Action::None),
            Some(_) => (ConditionCode::Expected, Action::UnitException),
        };
        Outcome {
            warning,
            ..Outcome::new(cc, action, error)
        }
    }

    /// The async command region written with `command`; `None` without one.
    fn async_cmd(&self, command: u32) -> Option<Option<WriteError>> {
        let region = self.cmd?;
        let cmd = CcwCmdRegion {
            command,
            ret_code: 0,
        };
        Some(self.write_all(region, CcwRegion::AsyncCmd, &cmd.to_bytes()))
    }

    /// HALT SUBCHANNEL on the host (`vfio_ccw_handle_halt`, mapped by
    /// `sch_handle_halt_func_passthrough`): `VFIO_CCW_ASYNC_CMD_HSCH` in the
    /// async command region.
    ///
    /// Condition codes: written → cc 0; `EBUSY` → cc 2; `ENODEV`, `EACCES`
    /// → cc 3; `EFAULT`, any other errno and a short write → unit exception
    /// and cc 0. Without the region: [`Action::EmulateHalt`], cc 0.
    pub fn halt(&self) -> Outcome {
        let Some(error) = self.async_cmd(VFIO_CCW_ASYNC_CMD_HSCH) else {
            return Outcome::new(ConditionCode::Expected, Action::EmulateHalt, None);
        };
        let (cc, action) = match error.map(|e| e.effective_errno()) {
            None => (ConditionCode::Expected, Action::None),
            Some(Errno::EBUSY) => (ConditionCode::Busy, Action::None),
            Some(Errno::ENODEV | Errno::EACCES) => (ConditionCode::NotOperational, Action::None),
            Some(_) => (ConditionCode::Expected, Action::UnitException),
        };
        Outcome::new(cc, action, error)
    }

    /// CLEAR SUBCHANNEL on the host (`vfio_ccw_handle_clear`, mapped by
    /// `sch_handle_clear_func_passthrough`): `VFIO_CCW_ASYNC_CMD_CSCH` in
    /// the async command region.
    ///
    /// Condition codes: written → cc 0; `ENODEV`, `EACCES` → cc 3;
    /// `EBUSY` (unlike halt), `EFAULT`, any other errno and a short write →
    /// unit exception and cc 0. Without the region: [`Action::EmulateClear`],
    /// cc 0.
    pub fn clear(&self) -> Outcome {
        let Some(error) = self.async_cmd(VFIO_CCW_ASYNC_CMD_CSCH) else {
            return Outcome::new(ConditionCode::Expected, Action::EmulateClear, None);
        };
        let (cc, action) = match error.map(|e| e.effective_errno()) {
            None => (ConditionCode::Expected, Action::None),
            Some(Errno::ENODEV | Errno::EACCES) => (ConditionCode::NotOperational, Action::None),
            Some(_) => (ConditionCode::Expected, Action::UnitException),
        };
        Outcome::new(cc, action, error)
    }

    /// Reads the I/O region after the I/O interrupt fired
    /// (`vfio_ccw_io_notifier_handler`; draining the eventfd is the
    /// caller's). One `pread` of the whole region, not retried; QEMU
    /// reports nothing here, the failure becomes the guest's status
    /// ([`IrbRead::apply`]).
    pub fn read_irb(&self) -> IrbRead {
        let mut buf = [0u8; CcwIoRegion::SIZE];
        match self.dev.pread_region(self.io, 0, &mut buf) {
            Ok(n) if n == buf.len() => {
                let region = CcwIoRegion::from_bytes(&buf);
                IrbRead::Irb(Irb::from_bytes(&region.irb_area))
            }
            Ok(n) => IrbRead::Short(n),
            Err(e) => IrbRead::Failed(e),
        }
    }
}

/// Runs `f` with a [`CcwIo`] for the realized `vfio-ccw` in `obj` (as
/// returned by [`qomgen::ObjectTree::device_add`]), borrowing the object
/// only for the call.
///
/// # Errors
/// [`CcwIoError::Busy`] if the object is mutably borrowed,
/// [`CcwIoError::NotCcw`] if it is not a vfio-ccw device, or as
/// [`CcwIo::new`].
pub fn with_ccw_io<R>(obj: &ObjRef, f: impl FnOnce(&CcwIo<'_>) -> R) -> Result<R, CcwIoError> {
    let guard = obj.try_borrow().map_err(|_| CcwIoError::Busy)?;
    let name = guard.type_info().name;
    let dev = guard
        .downcast_ref::<VfioCcw>()
        .ok_or_else(|| CcwIoError::NotCcw(format!("object type '{name}'")))?;
    Ok(f(&CcwIo::new(dev)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn irb_image_puts_each_esw_word_at_its_offset() {
        let irb = Irb {
            esw: Esw {
                word0: 0x0102_0304,
                erw: 0x0506_0708,
                word2: 0x090a_0b0c_0d0e_0f10,
                word4: 0x1112_1314,
            },
            ..Irb::default()
        };
        let b = irb.to_bytes();
        assert_eq!(&b[12..32], &(0x01..=0x14).collect::<Vec<u8>>()[..]);
        assert_eq!(Irb::from_bytes(&b), irb);
    }
}
