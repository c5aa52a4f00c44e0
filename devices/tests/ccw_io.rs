//! vfio-ccw's guest-facing I/O path against fake regions (no kernel):
//! every errno QEMU's `vfio_ccw_handle_request`, `vfio_ccw_handle_halt` and
//! `vfio_ccw_handle_clear` distinguish, with the condition code css.c makes
//! of it, the bytes the kernel would receive, short writes, the `EAGAIN`
//! retry, and the IRB read back by `vfio_ccw_io_notifier_handler`.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::Write;
use std::os::fd::OwnedFd;

use qomgen::CssDevId;
use qomgen_devices::guest::ccw::*;
use qomgen_devices::sys::Errno;
use qomgen_devices::sys::ccw::{CcwIoRegion, VFIO_CCW_ASYNC_CMD_CSCH, VFIO_CCW_ASYNC_CMD_HSCH};
use qomgen_devices::sys::vfio::{Device, RegionFlags, RegionInfo};

const IO_OFFSET: u64 = 0;
const CMD_OFFSET: u64 = 0x1000;

fn region(index: u32, size: u64, offset: u64) -> RegionInfo {
    RegionInfo {
        index,
        flags: RegionFlags::READ | RegionFlags::WRITE,
        size,
        offset,
        caps: vec![],
    }
}

fn io_region() -> RegionInfo {
    region(0, 124, IO_OFFSET)
}

fn cmd_region() -> RegionInfo {
    region(1, 8, CMD_OFFSET)
}

/// What the fake answers to one `pwrite`/`pread`: an errno, a byte count
/// (a short transfer), or `None` for a full transfer.
type Answer = Result<Option<usize>, Errno>;

/// An in-memory device: every write is recorded (device-fd offset, bytes)
/// and answered from a script; reads return `content` at the offset.
#[derive(Default)]
struct FakeDevice {
    writes: RefCell<Vec<(u64, Vec<u8>)>>,
    write_answers: RefCell<VecDeque<Answer>>,
    read_answer: RefCell<Option<Answer>>,
    content: RefCell<Vec<u8>>,
}

impl FakeDevice {
    fn answering(answers: &[Answer]) -> Self {
        let f = FakeDevice::default();
        f.write_answers.borrow_mut().extend(answers.iter().copied());
        f
    }

    fn writes(&self) -> Vec<(u64, Vec<u8>)> {
        self.writes.borrow().clone()
    }
}

impl RegionIo for FakeDevice {
    fn pread_region(
        &self,
        region: &RegionInfo,
        offset: u64,
        buf: &mut [u8],
    ) -> Result<usize, Errno> {
        let n = match *self.read_answer.borrow() {
            Some(Err(e)) => return Err(e),
            Some(Ok(Some(n))) => n.min(buf.len()),
            _ => buf.len(),
        };
        let at = (region.offset + offset) as usize;
        let content = self.content.borrow();
        buf[..n].copy_from_slice(&content[at..at + n]);
        Ok(n)
    }

    fn pwrite_region(&self, region: &RegionInfo, offset: u64, buf: &[u8]) -> Result<usize, Errno> {
        self.writes
            .borrow_mut()
            .push((region.offset + offset, buf.to_vec()));
        match self.write_answers.borrow_mut().pop_front() {
            Some(Err(e)) => Err(e),
            Some(Ok(Some(n))) => Ok(n),
            _ => Ok(buf.len()),
        }
    }
}

const ORB: Orb = Orb {
    intparm: 0x1122_3344,
    ctrl0: 0x0080 | ORB_CTRL0_MASK_PFCH, // format-1 CCWs, prefetch
    lpm: 0x80,
    ctrl1: 0,
    cpa: 0x0012_3458,
};

const SCSW: Scsw = Scsw {
    flags: 0x0080,
    ctrl: 0x4400, // start function, start pending
    cpa: 0,
    dstat: 0,
    cstat: 0,
    count: 0,
};

fn start_with(answers: &[Answer]) -> (Outcome, FakeDevice) {
    let dev = FakeDevice::answering(answers);
    let io = io_region();
    let cmd = cmd_region();
    let ccw = CcwIo::with_regions(&dev, &io, Some(&cmd)).unwrap();
    let mut orb = ORB;
    let outcome = ccw.start(&mut orb, &SCSW);
    (outcome, dev)
}

fn cmd_with(halt: bool, answers: &[Answer]) -> (Outcome, FakeDevice) {
    let dev = FakeDevice::answering(answers);
    let io = io_region();
    let cmd = cmd_region();
    let ccw = CcwIo::with_regions(&dev, &io, Some(&cmd)).unwrap();
    let outcome = if halt { ccw.halt() } else { ccw.clear() };
    (outcome, dev)
}

/// The I/O region image the kernel receives for [`ORB`] and [`SCSW`].
fn expected_io_write() -> Vec<u8> {
    let mut b = vec![0u8; 124];
    b[0..12].copy_from_slice(&[
        0x11, 0x22, 0x33, 0x44, 0x00, 0xc0, 0x80, 0x00, 0x00, 0x12, 0x34, 0x58,
    ]);
    b[12..24].copy_from_slice(&[0x00, 0x80, 0x44, 0x00, 0, 0, 0, 0, 0, 0, 0, 0]);
    b
}

fn cmd_bytes(command: u32) -> Vec<u8> {
    let mut b = command.to_ne_bytes().to_vec();
    b.extend_from_slice(&0u32.to_ne_bytes());
    b
}

#[test]
fn start_writes_the_whole_io_region_with_orb_and_scsw() {
    let (outcome, dev) = start_with(&[]);
    assert_eq!(
        outcome,
        Outcome {
            cc: ConditionCode::Expected,
            action: Action::None,
            error: None,
            warning: None,
        }
    );
    assert_eq!(dev.writes(), vec![(IO_OFFSET, expected_io_write())]);
    assert_eq!(Orb::from_bytes(&ORB.to_bytes()), ORB);
    assert_eq!(Scsw::from_bytes(&SCSW.to_bytes()), SCSW);
}

#[test]
fn start_maps_each_errno_as_qemu() {
    use ConditionCode::*;
    let cases = [
        (Errno::EBUSY, Busy, Action::None),
        (Errno::ENODEV, NotOperational, Action::None),
        (Errno::EACCES, NotOperational, Action::None),
        (Errno::EFAULT, Expected, Action::UnitException),
        (Errno::EIO, Expected, Action::UnitException),
        (Errno::EINVAL, Expected, Action::UnitException),
        (Errno::ENOMEM, Expected, Action::UnitException),
    ];
    for (errno, cc, action) in cases {
        let (outcome, dev) = start_with(&[Err(errno)]);
        assert_eq!((outcome.cc, outcome.action), (cc, action), "{errno}");
        let error = outcome.error.expect("a failed write is reported");
        assert_eq!(error.errno, Some(errno));
        assert_eq!(
            error.to_string(),
            format!(
                "vfio-ccw: write I/O region failed with errno={}",
                errno as i32
            )
        );
        assert_eq!(dev.writes(), vec![(IO_OFFSET, expected_io_write())]);
    }
    // errno 0: `errno ? -errno : -EFAULT` takes EFAULT.
    let (outcome, _) = start_with(&[Err(Errno::UnknownErrno)]);
    assert_eq!(
        (outcome.cc, outcome.action),
        (Expected, Action::UnitException)
    );
    assert_eq!(
        outcome.error.unwrap().to_string(),
        "vfio-ccw: write I/O region failed with errno=0"
    );
}

#[test]
fn start_short_write_is_a_unit_exception() {
    for n in [0, 1, 12, 123] {
        let (outcome, dev) = start_with(&[Ok(Some(n))]);
        assert_eq!(outcome.cc, ConditionCode::Expected);
        assert_eq!(outcome.action, Action::UnitException);
        let error = outcome.error.unwrap();
        assert_eq!((error.errno, error.written), (None, Some(n)));
        assert_eq!(error.effective_errno(), Errno::EFAULT);
        assert_eq!(error.region, CcwRegion::Io);
        assert_eq!(
            error.to_string(),
            "vfio-ccw: write I/O region failed with errno=0"
        );
        assert_eq!(dev.writes().len(), 1, "a short write is not retried");
    }
}

#[test]
fn eagain_is_retried_until_the_write_is_taken() {
    let (outcome, dev) = start_with(&[Err(Errno::EAGAIN), Err(Errno::EAGAIN)]);
    assert_eq!(outcome.cc, ConditionCode::Expected);
    assert_eq!(outcome.error, None);
    assert_eq!(dev.writes(), vec![(IO_OFFSET, expected_io_write()); 3]);

    let (outcome, dev) = cmd_with(true, &[Err(Errno::EAGAIN), Err(Errno::EBUSY)]);
    assert_eq!(outcome.cc, ConditionCode::Busy);
    assert_eq!(dev.writes().len(), 2);
}

#[test]
fn unit_exception_applied_as_sch_gen_unit_exception() {
    let (outcome, _) = start_with(&[Err(Errno::EFAULT)]);
    let mut scsw = Scsw {
        ctrl: 0x4000 | SCSW_ACTL_START_PEND | SCSW_ACTL_SUBCH_ACTIVE | SCSW_ACTL_DEVICE_ACTIVE,
        cstat: 0x20,
        ..SCSW
    };
    outcome.apply(&mut scsw, u64::from(ORB.cpa));
    assert_eq!(
        scsw,
        Scsw {
            ctrl: 0x4000 | SCSW_ACTL_START_PEND | 0x17,
            cpa: ORB.cpa + 8,
            dstat: SCSW_DSTAT_UNIT_EXCEP,
            cstat: 0x20,
            ..SCSW
        }
    );
    // Other outcomes leave the SCSW alone.
    let (busy, _) = start_with(&[Err(Errno::EBUSY)]);
    let mut untouched = SCSW;
    busy.apply(&mut untouched, 0);
    assert_eq!(untouched, SCSW);
}

/// `halt` (or `clear`) writes its command once; unanswered it is cc 0 with
/// nothing to do, and each `(answer, cc, action)` case maps as QEMU does,
/// reporting the failed write of the command region with its errno (0 for a
/// short write).
#[track_caller]
fn check_async_cmd(halt: bool, cases: &[(Answer, ConditionCode, Action)]) {
    let written = vec![(
        CMD_OFFSET,
        cmd_bytes(if halt {
            VFIO_CCW_ASYNC_CMD_HSCH
        } else {
            VFIO_CCW_ASYNC_CMD_CSCH
        }),
    )];
    let (outcome, dev) = cmd_with(halt, &[]);
    assert_eq!(
        (outcome.cc, outcome.action, outcome.error),
        (ConditionCode::Expected, Action::None, None)
    );
    assert_eq!(dev.writes(), written);
    for &(answer, cc, action) in cases {
        let (outcome, dev) = cmd_with(halt, &[answer]);
        assert_eq!((outcome.cc, outcome.action), (cc, action), "{answer:?}");
        let error = outcome.error.unwrap();
        assert_eq!(error.region, CcwRegion::AsyncCmd, "{answer:?}");
        let errno = answer.err().map_or(0, |e| e as i32);
        assert_eq!(
            error.to_string(),
            format!("vfio-ccw: write cmd region failed with errno={errno}")
        );
        assert_eq!(dev.writes(), written, "{answer:?}");
    }
}

/// What halt and clear each make of an answer to their command write.
type CmdCase = (Answer, (ConditionCode, Action), (ConditionCode, Action));

/// Each answer to the command write, then halt's and clear's condition code
/// and action for it.
fn async_cmd_cases() -> [CmdCase; 9] {
    use ConditionCode::*;
    let unit_exception = (Expected, Action::UnitException);
    [
        // Unlike halt, clear has no busy case: EBUSY is a unit exception.
        (Err(Errno::EBUSY), (Busy, Action::None), unit_exception),
        (
            Err(Errno::ENODEV),
            (NotOperational, Action::None),
            (NotOperational, Action::None),
        ),
        (
            Err(Errno::EACCES),
            (NotOperational, Action::None),
            (NotOperational, Action::None),
        ),
        (Err(Errno::EFAULT), unit_exception, unit_exception),
        (Err(Errno::EIO), unit_exception, unit_exception),
        (Err(Errno::EINVAL), unit_exception, unit_exception),
        (Err(Errno::UnknownErrno), unit_exception, unit_exception),
        (Ok(Some(4)), unit_exception, unit_exception),
        (Ok(Some(7)), unit_exception, unit_exception),
    ]
}

#[test]
fn halt_writes_hsch_and_maps_each_errno_as_qemu() {
    let cases = async_cmd_cases().map(|(answer, halt, _)| (answer, halt.0, halt.1));
    check_async_cmd(true, &cases);
}

#[test]
fn clear_writes_csch_and_maps_each_errno_as_qemu() {
    let cases = async_cmd_cases().map(|(answer, _, clear)| (answer, clear.0, clear.1));
    check_async_cmd(false, &cases);
}

#[test]
fn halt_and_clear_without_async_region_are_emulated() {
    let dev = FakeDevice::default();
    let io = io_region();
    let ccw = CcwIo::with_regions(&dev, &io, None).unwrap();
    assert!(!ccw.has_async_cmd());
    let halt = ccw.halt();
    assert_eq!(
        (halt.cc, halt.action, halt.error),
        (ConditionCode::Expected, Action::EmulateHalt, None)
    );
    let clear = ccw.clear();
    assert_eq!(
        (clear.cc, clear.action, clear.error),
        (ConditionCode::Expected, Action::EmulateClear, None)
    );
    assert!(dev.writes().is_empty());
}

fn sample_irb(dstat: u8) -> Irb {
    let mut ecw = [0u8; 32];
    ecw[0] = 0x80; // command reject
    ecw[31] = 0x5a;
    Irb {
        scsw: Scsw {
            flags: 0x0480,
            ctrl: 0x4007,
            cpa: 0x0012_3460,
            dstat,
            cstat: 0,
            count: 0x10,
        },
        esw: Esw {
            word0: 0x0080_0000,
            erw: 0x0000_2000,
            word2: 0x0102_0304_0506_0708,
            word4: 0xdead_beef,
        },
        ecw,
        emw: [9; 8],
    }
}

fn device_holding(irb: &Irb) -> FakeDevice {
    let dev = FakeDevice::default();
    let mut region = CcwIoRegion {
        irb_area: irb.to_bytes(),
        ..CcwIoRegion::default()
    };
    region.orb_area = ORB.to_bytes();
    *dev.content.borrow_mut() = region.to_bytes().to_vec();
    dev
}

#[test]
fn irb_is_read_back_and_applied() {
    let irb = sample_irb(0x0c); // channel end, device end
    let bytes = irb.to_bytes();
    assert_eq!(
        &bytes[0..12],
        &[
            0x04, 0x80, 0x40, 0x07, 0, 0x12, 0x34, 0x60, 0x0c, 0, 0, 0x10
        ]
    );
    assert_eq!(&bytes[12..16], &[0x00, 0x80, 0x00, 0x00]);
    assert_eq!(Irb::from_bytes(&bytes), irb);

    let dev = device_holding(&irb);
    let io = io_region();
    let ccw = CcwIo::with_regions(&dev, &io, None).unwrap();
    let read = ccw.read_irb();
    assert_eq!(read, IrbRead::Irb(irb));
    let mut status = SubchannelStatus {
        scsw: SCSW,
        ..SubchannelStatus::default()
    };
    read.apply(&mut status, true);
    assert_eq!(status.scsw, irb.scsw);
    assert_eq!(status.esw, irb.esw);
    assert_eq!(status.sense, [0; 32], "no unit check: no sense data");
}

#[test]
fn sense_data_is_copied_on_unit_check_with_concurrent_sense() {
    let irb = sample_irb(0x0c | SCSW_DSTAT_UNIT_CHECK);
    let read = IrbRead::Irb(irb);
    let mut status = SubchannelStatus::default();
    read.apply(&mut status, false);
    assert_eq!(status.sense, [0; 32], "without concurrent sense");
    read.apply(&mut status, true);
    assert_eq!(status.sense, irb.ecw);
}

#[test]
fn irb_read_failures_become_the_guest_status() {
    let pending = Scsw {
        ctrl: 0x4000 | SCSW_ACTL_START_PEND | SCSW_STCTL_PRIMARY,
        ..SCSW
    };
    let check = |answer: Answer| {
        let dev = device_holding(&sample_irb(0));
        *dev.read_answer.borrow_mut() = Some(answer);
        let io = io_region();
        let ccw = CcwIo::with_regions(&dev, &io, None).unwrap();
        let read = ccw.read_irb();
        let mut status = SubchannelStatus {
            scsw: pending,
            ..SubchannelStatus::default()
        };
        read.apply(&mut status, true);
        (read, status.scsw)
    };
    let ended = |cstat| Scsw {
        ctrl: 0x4000 | 0x17,
        cstat,
        ..pending
    };
    // ENODEV: deferred cc 3, start pending kept, alert status only.
    assert_eq!(
        check(Err(Errno::ENODEV)),
        (
            IrbRead::Failed(Errno::ENODEV),
            Scsw {
                flags: pending.flags | SCSW_FLAGS_MASK_CC,
                ctrl: 0x4000 | SCSW_ACTL_START_PEND | SCSW_STCTL_ALERT | SCSW_STCTL_STATUS_PEND,
                ..pending
            }
        )
    );
    assert_eq!(
        check(Err(Errno::EFAULT)),
        (IrbRead::Failed(Errno::EFAULT), ended(SCSW_CSTAT_DATA_CHECK))
    );
    for errno in [Errno::EIO, Errno::EAGAIN, Errno::EINVAL] {
        assert_eq!(
            check(Err(errno)),
            (IrbRead::Failed(errno), ended(SCSW_CSTAT_PROG_CHECK))
        );
    }
    assert_eq!(
        check(Ok(Some(100))),
        (IrbRead::Short(100), ended(SCSW_CSTAT_CHN_CTRL_CHK))
    );
}

#[test]
fn force_orb_pfch_sets_the_flag_and_warns_once() {
    let dev = FakeDevice::default();
    let io = io_region();
    let devno = CssDevId {
        cssid: 0xfe,
        ssid: 0,
        devid: 0x1234,
    };
    let ccw = CcwIo::with_regions(&dev, &io, None)
        .unwrap()
        .with_force_orb_pfch(true, Some(devno));
    let mut orb = Orb {
        ctrl0: 0x0080,
        ..ORB
    };
    let first = ccw.start(&mut orb, &SCSW);
    assert_eq!(orb.ctrl0, 0x0080 | ORB_CTRL0_MASK_PFCH);
    assert_eq!(
        first.warning.as_deref(),
        Some("vfio-ccw (devno fe.0.1234): PFCH flag forced")
    );
    assert_eq!(
        dev.writes()[0].1[4..6],
        [0x00, 0xc0],
        "the forced bit is written"
    );
    let mut orb = Orb {
        ctrl0: 0x0080,
        ..ORB
    };
    assert_eq!(ccw.start(&mut orb, &SCSW).warning, None, "warned once");
    assert_eq!(orb.ctrl0, 0x0080 | ORB_CTRL0_MASK_PFCH);

    // Without the property the ORB goes to the host as given.
    let plain = CcwIo::with_regions(&dev, &io, None).unwrap();
    let mut orb = Orb {
        ctrl0: 0x0080,
        ..ORB
    };
    assert_eq!(plain.start(&mut orb, &SCSW).warning, None);
    assert_eq!(orb.ctrl0, 0x0080);
}

#[test]
fn regions_of_the_wrong_size_are_refused_in_qemus_words() {
    let dev = FakeDevice::default();
    let (io, cmd) = (io_region(), cmd_region());
    let small = region(0, 120, 0);
    let big_cmd = region(1, 16, CMD_OFFSET);
    assert_eq!(
        CcwIo::with_regions(&dev, &small, None)
            .unwrap_err()
            .to_string(),
        "vfio: Unexpected size of the I/O region"
    );
    assert_eq!(
        CcwIo::with_regions(&dev, &io, Some(&big_cmd))
            .unwrap_err()
            .to_string(),
        "vfio: Unexpected size of the async cmd region"
    );
    assert!(CcwIo::with_regions(&dev, &io, Some(&cmd)).is_ok());
}

/// The [`RegionIo`] of the kernel [`Device`], on a regular file standing in
/// for the device fd: region offsets are applied, accesses outside the
/// region fail with `EINVAL`.
#[test]
fn device_region_io_on_a_file() {
    let mut f = tempfile::tempfile().unwrap();
    let irb = sample_irb(0x0c);
    let mut image = vec![0u8; 0x2000];
    let region_at = 0x1000usize;
    image[region_at + 24..region_at + 120].copy_from_slice(&irb.to_bytes());
    f.write_all(&image).unwrap();
    let dev = Device::from_fd(OwnedFd::from(f));
    let io = region(0, 124, region_at as u64);
    let ccw = CcwIo::with_regions(&dev, &io, None).unwrap();
    assert_eq!(ccw.read_irb(), IrbRead::Irb(irb));

    let mut orb = ORB;
    let outcome = ccw.start(&mut orb, &SCSW);
    assert_eq!((outcome.cc, outcome.error), (ConditionCode::Expected, None));
    let mut back = vec![0u8; 124];
    assert_eq!(dev.pread_region(&io, 0, &mut back), Ok(124));
    assert_eq!(back, expected_io_write());

    assert_eq!(
        dev.pread_region(&io, 120, &mut [0u8; 8]),
        Err(Errno::EINVAL)
    );
    assert_eq!(dev.pwrite_region(&io, u64::MAX, &[0]), Err(Errno::EINVAL));

    // A region past the end of the "device": pread returns 0 bytes.
    let beyond = region(0, 124, 0x4000);
    let ccw = CcwIo::with_regions(&dev, &beyond, None).unwrap();
    assert_eq!(ccw.read_irb(), IrbRead::Short(0));
}

#[test]
fn with_ccw_io_refuses_other_objects() {
    use std::os::fd::AsRawFd;
    // An iommufd object on a passed fd completes without /dev/iommu.
    let file = tempfile::tempfile().unwrap();
    let mut tree = qomgen::ObjectTree::new();
    let obj = tree
        .object_add(&format!("iommufd,id=io0,fd={}", file.as_raw_fd()))
        .unwrap();
    assert_eq!(
        with_ccw_io(&obj, |_| ()).unwrap_err(),
        CcwIoError::NotCcw("object type 'iommufd'".into())
    );
    let _held = obj.borrow_mut();
    assert_eq!(with_ccw_io(&obj, |_| ()).unwrap_err(), CcwIoError::Busy);
}
