//! A driver for QEMU's `edu` educational PCI device (1234:11e8), and the
//! check sequence that proves a realized vfio-pci device is usable.
//!
//! Register map (QEMU `hw/misc/edu.c`, `docs/specs/edu.rst`), BAR0, 1 MiB:
//!
//! | offset | register |
//! |---|---|
//! | 0x00 | identification, `0x010000ed` |
//! | 0x04 | liveness: reads back the inverse of what was written |
//! | 0x08 | factorial: write n, read n! once status bit 0 clears |
//! | 0x20 | status: bit 0 computing, bit 7 raise IRQ 0x1 after a factorial |
//! | 0x24 | IRQ status; 0x60 raise (ORs bits in); 0x64 acknowledge (clears bits) |
//! | 0x80/0x88/0x90/0x98 | DMA source, destination, count, command |
//!
//! DMA command bits: 0 start (reads 1 while running), 1 direction (0: RAM
//! to device, 1: device to RAM), 2 raise IRQ 0x100 when done. The device-side
//! buffer is 4 KiB at device address 0x40000. QEMU aborts (`hw_error`) on a
//! transfer outside it, so this driver checks every transfer; QEMU 7.2 also
//! aborts on one that *ends* exactly at its end, which is refused too.
//! Registers below 0x80 only answer 32-bit accesses.

use std::fmt;
use std::time::{Duration, Instant};

use super::{
    Bar, DmaBackendKind, DmaBuffer, Driver, DriverError, IrqEventfds, IrqKind, Mmio,
    PCI_COMMAND_MASTER, PCI_COMMAND_MEMORY, RegisterIo, Result,
};
use crate::sys::vfio::DmaAccess;

/// PCI vendor id of QEMU's edu device.
pub const VENDOR_ID: u16 = 0x1234;
/// PCI device id of QEMU's edu device.
pub const DEVICE_ID: u16 = 0x11e8;
/// Value of the identification register (version 1.0).
pub const ID_VALUE: u32 = 0x0100_00ed;

/// Identification register.
pub const REG_ID: u64 = 0x00;
/// Liveness check register.
pub const REG_LIVENESS: u64 = 0x04;
/// Factorial register.
pub const REG_FACTORIAL: u64 = 0x08;
/// Status register.
pub const REG_STATUS: u64 = 0x20;
/// Interrupt status register.
pub const REG_IRQ_STATUS: u64 = 0x24;
/// Interrupt raise register.
pub const REG_IRQ_RAISE: u64 = 0x60;
/// Interrupt acknowledge register.
pub const REG_IRQ_ACK: u64 = 0x64;
/// DMA source address.
pub const REG_DMA_SRC: u64 = 0x80;
/// DMA destination address.
pub const REG_DMA_DST: u64 = 0x88;
/// DMA transfer count.
pub const REG_DMA_COUNT: u64 = 0x90;
/// DMA command.
pub const REG_DMA_CMD: u64 = 0x98;

/// Status: a factorial is being computed.
pub const STATUS_COMPUTING: u32 = 0x01;
/// Status: raise IRQ [`IRQ_FACTORIAL`] when a factorial completes.
pub const STATUS_IRQ_FACTORIAL: u32 = 0x80;
/// IRQ status bit set by a completed factorial.
pub const IRQ_FACTORIAL: u32 = 0x1;
/// IRQ status bit set by a completed DMA with [`DMA_CMD_IRQ`].
pub const IRQ_DMA: u32 = 0x100;

/// DMA command: start (reads back set while the transfer runs).
pub const DMA_CMD_START: u64 = 0x1;
/// DMA command: device to RAM (clear: RAM to device).
pub const DMA_CMD_TO_RAM: u64 = 0x2;
/// DMA command: raise [`IRQ_DMA`] when done.
pub const DMA_CMD_IRQ: u64 = 0x4;
/// Device address of the device's DMA buffer.
pub const DMA_BUF_ADDR: u64 = 0x40000;
/// Size of the device's DMA buffer.
pub const DMA_BUF_SIZE: u64 = 4096;

/// Size of the register window the driver needs mapped.
const REGS_LEN: u64 = 0x100;

/// Direction of an edu DMA transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DmaDirection {
    /// From host memory (an IOVA) into the device buffer.
    ToDevice,
    /// From the device buffer to host memory (an IOVA).
    ToRam,
}

/// Polls `cond` every millisecond until it holds or `timeout` passes.
fn poll_until(timeout: Duration, mut cond: impl FnMut() -> Result<bool>) -> Result<()> {
    let t0 = Instant::now();
    loop {
        if cond()? {
            return Ok(());
        }
        if t0.elapsed() >= timeout {
            return Err(DriverError::Timeout(timeout));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// The edu device behind a realized vfio-pci.
#[derive(Debug, Clone, Copy)]
pub struct Edu<'a> {
    driver: Driver<'a>,
    regs: Mmio<'a>,
    bar0: Bar<'a>,
}

impl<'a> Edu<'a> {
    /// Checks the ids in config space, enables memory decoding and bus
    /// mastering, and takes BAR0's mapping.
    ///
    /// # Errors
    /// [`DriverError::Invalid`] if the device is not an edu; config access,
    /// BAR0 not mapped.
    pub fn new(driver: Driver<'a>) -> Result<Self> {
        let cfg = driver.config()?;
        let (vendor, device) = (cfg.read_u16(0)?, cfg.read_u16(2)?);
        if (vendor, device) != (VENDOR_ID, DEVICE_ID) {
            return Err(DriverError::Invalid(format!(
                "{}: {vendor:04x}:{device:04x} is not QEMU's edu device",
                driver.name()
            )));
        }
        driver.enable_device()?;
        let bar0 = driver.bar(0)?;
        let regs = bar0.mmio_range(0, REGS_LEN)?;
        Ok(Edu { driver, regs, bar0 })
    }

    /// The underlying device.
    pub fn driver(&self) -> Driver<'a> {
        self.driver
    }

    /// BAR0 through `pread`/`pwrite`.
    pub fn bar0(&self) -> Bar<'a> {
        self.bar0
    }

    /// BAR0's mapping (the registers).
    pub fn registers(&self) -> Mmio<'a> {
        self.regs
    }

    /// The identification register.
    ///
    /// # Errors
    /// The access failing.
    pub fn id(&self) -> Result<u32> {
        self.regs.read_u32(REG_ID)
    }

    /// Writes `value` to the liveness register and returns what it reads
    /// back (`!value` on a live device).
    ///
    /// # Errors
    /// The access failing.
    pub fn liveness(&self, value: u32) -> Result<u32> {
        self.regs.write_u32(REG_LIVENESS, value)?;
        self.regs.read_u32(REG_LIVENESS)
    }

    /// The status register.
    ///
    /// # Errors
    /// The access failing.
    pub fn status(&self) -> Result<u32> {
        self.regs.read_u32(REG_STATUS)
    }

    /// Whether a completed factorial raises [`IRQ_FACTORIAL`].
    ///
    /// # Errors
    /// The access failing.
    pub fn set_factorial_irq(&self, on: bool) -> Result<()> {
        self.regs
            .write_u32(REG_STATUS, if on { STATUS_IRQ_FACTORIAL } else { 0 })
    }

    /// Computes `n!` (modulo 2^32) on the device.
    ///
    /// # Errors
    /// [`DriverError::Timeout`] if the device stays busy; access failures.
    pub fn factorial(&self, n: u32, timeout: Duration) -> Result<u32> {
        let idle = || Ok(self.status()? & STATUS_COMPUTING == 0);
        // A write while computing is ignored by the device.
        poll_until(timeout, idle)?;
        self.regs.write_u32(REG_FACTORIAL, n)?;
        poll_until(timeout, idle)?;
        self.regs.read_u32(REG_FACTORIAL)
    }

    /// The interrupt status register.
    ///
    /// # Errors
    /// The access failing.
    pub fn irq_status(&self) -> Result<u32> {
        self.regs.read_u32(REG_IRQ_STATUS)
    }

    /// Sets `bits` in the interrupt status and raises the interrupt.
    ///
    /// # Errors
    /// The access failing.
    pub fn raise_irq(&self, bits: u32) -> Result<()> {
        self.regs.write_u32(REG_IRQ_RAISE, bits)
    }

    /// Clears `bits` in the interrupt status (INTx: the line drops when none
    /// are left).
    ///
    /// # Errors
    /// The access failing.
    pub fn ack_irq(&self, bits: u32) -> Result<()> {
        self.regs.write_u32(REG_IRQ_ACK, bits)
    }

    /// Whether a DMA transfer is running.
    ///
    /// # Errors
    /// The access failing.
    pub fn dma_busy(&self) -> Result<bool> {
        Ok(self.regs.read_u64(REG_DMA_CMD)? & DMA_CMD_START != 0)
    }

    /// Starts a transfer of `len` bytes between host memory at `iova` and
    /// the device buffer at `buf_offset`; with `irq`, [`IRQ_DMA`] is raised
    /// when it completes.
    ///
    /// # Errors
    /// [`DriverError::Invalid`] for an empty transfer, one that does not lie
    /// strictly inside the 4 KiB device buffer, or while a transfer runs;
    /// access failures.
    pub fn start_dma(
        &self,
        dir: DmaDirection,
        iova: u64,
        buf_offset: u64,
        len: u64,
        irq: bool,
    ) -> Result<()> {
        // Strictly inside: QEMU 7.2's range check rejects a transfer that
        // ends exactly at the end of the buffer, and any violation aborts QEMU.
        if len == 0
            || buf_offset
                .checked_add(len)
                .is_none_or(|e| e >= DMA_BUF_SIZE)
        {
            return Err(DriverError::Invalid(format!(
                "edu DMA of {len:#x} bytes at buffer offset {buf_offset:#x} \
                 must lie strictly inside the {DMA_BUF_SIZE:#x}-byte device buffer"
            )));
        }
        if self.dma_busy()? {
            return Err(DriverError::Invalid("edu DMA already in progress".into()));
        }
        let dev = DMA_BUF_ADDR + buf_offset;
        let (src, dst, mut cmd) = match dir {
            DmaDirection::ToDevice => (iova, dev, DMA_CMD_START),
            DmaDirection::ToRam => (dev, iova, DMA_CMD_START | DMA_CMD_TO_RAM),
        };
        if irq {
            cmd |= DMA_CMD_IRQ;
        }
        self.regs.write_u64(REG_DMA_SRC, src)?;
        self.regs.write_u64(REG_DMA_DST, dst)?;
        self.regs.write_u64(REG_DMA_COUNT, len)?;
        self.regs.write_u64(REG_DMA_CMD, cmd)
    }

    /// Waits for the running transfer to finish.
    ///
    /// # Errors
    /// [`DriverError::Timeout`]; access failures.
    pub fn wait_dma(&self, timeout: Duration) -> Result<()> {
        poll_until(timeout, || Ok(!self.dma_busy()?))
    }

    /// A complete transfer: [`Edu::start_dma`] without IRQ, then [`Edu::wait_dma`].
    ///
    /// # Errors
    /// As those two.
    pub fn dma(
        &self,
        dir: DmaDirection,
        iova: u64,
        buf_offset: u64,
        len: u64,
        timeout: Duration,
    ) -> Result<()> {
        self.start_dma(dir, iova, buf_offset, len, false)?;
        self.wait_dma(timeout)
    }
}

// ---------------------------------------------------------------------------
// The check sequence

/// Outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Worked as expected.
    Pass,
    /// Did not.
    Fail,
    /// Not applicable here (e.g. no reset method, no-IOMMU mode).
    Skip,
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Outcome::Pass => "PASS",
            Outcome::Fail => "FAIL",
            Outcome::Skip => "SKIP",
        })
    }
}

/// One step of [`run_checks`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// What was checked.
    pub name: &'static str,
    /// How it went.
    pub outcome: Outcome,
    /// Values seen, or why it failed.
    pub detail: String,
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.outcome, self.name, self.detail)
    }
}

/// IOVA of the DMA source buffer (below edu's default 28-bit DMA mask).
pub const SRC_IOVA: u64 = 0x10_0000;
/// IOVA of the DMA destination buffer.
pub const DST_IOVA: u64 = 0x20_0000;
/// Bytes per DMA transfer in the checks (see the module docs on QEMU 7.2).
pub const DMA_LEN: u64 = 2048;
/// Timeout for DMA transfers and factorials.
pub const WORK_TIMEOUT: Duration = Duration::from_secs(10);
/// Timeout for an interrupt to arrive.
pub const IRQ_TIMEOUT: Duration = Duration::from_secs(5);

/// The byte pattern written to the DMA source buffer.
fn pattern(i: usize) -> u8 {
    (i * 7 + 3) as u8
}

type StepResult = std::result::Result<(Outcome, String), String>;

fn pass(detail: String) -> StepResult {
    Ok((Outcome::Pass, detail))
}

fn fail<T>(what: impl fmt::Display) -> std::result::Result<T, String> {
    Err(what.to_string())
}

/// `e` as a step failure with context.
fn ctx(what: &str) -> impl FnOnce(DriverError) -> String + '_ {
    move |e| format!("{what}: {e}")
}

struct Recorder<'f> {
    checks: Vec<Check>,
    report: &'f mut dyn FnMut(&Check),
}

impl Recorder<'_> {
    fn step(&mut self, name: &'static str, r: StepResult) -> bool {
        let (outcome, detail) = match r {
            Ok(x) => x,
            Err(e) => (Outcome::Fail, e),
        };
        let c = Check {
            name,
            outcome,
            detail,
        };
        (self.report)(&c);
        self.checks.push(c);
        outcome != Outcome::Fail
    }
}

/// Runs the whole edu sequence on a realized device and returns every step;
/// `report` sees each step as soon as it is done (for a live transcript).
///
/// Steps: config-space identity; memory + bus master enable; the id
/// register through the BAR0 mapping and through `pread`; checked accesses
/// refusing bad offsets; liveness; 10!; a DMA round trip host buffer →
/// device → another host buffer through the IOMMU; DMA to the destination's
/// IOVA after unmapping it does not land; MSI to an eventfd (raised by
/// register, by a factorial, by a DMA completion); INTx to an eventfd with
/// unmask; MSI-X refused; `VFIO_DEVICE_RESET`. Each interrupt mode is
/// disabled again and every mapping removed before the function returns.
pub fn run_checks(driver: Driver<'_>, report: &mut dyn FnMut(&Check)) -> Vec<Check> {
    let mut rec = Recorder {
        checks: Vec::new(),
        report,
    };
    run(driver, &mut rec);
    rec.checks
}

fn run(driver: Driver<'_>, rec: &mut Recorder<'_>) {
    // 1. Identity through the config region (pread).
    let ok = rec.step("config space identifies QEMU edu", {
        (|| {
            let cfg = driver.config().map_err(ctx("config region"))?;
            let v = cfg.read_u16(0).map_err(ctx("vendor id"))?;
            let d = cfg.read_u16(2).map_err(ctx("device id"))?;
            let class = cfg.read_u32(8).map_err(ctx("class"))? >> 8;
            if (v, d) != (VENDOR_ID, DEVICE_ID) {
                return fail(format!("{v:04x}:{d:04x} is not 1234:11e8"));
            }
            pass(format!(
                "{} is {v:04x}:{d:04x} class {class:06x}, backend {:?}",
                driver.name(),
                driver.dma().kind()
            ))
        })()
    });
    if !ok {
        return;
    }

    // 2. Memory decoding + bus mastering, then the driver.
    let edu = match Edu::new(driver) {
        Ok(e) => e,
        Err(e) => {
            rec.step("enable device and map BAR0", fail(e));
            return;
        }
    };
    rec.step("enable memory decoding and bus mastering", {
        match driver.command() {
            Ok(c) if c & (PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER) == 0x6 => {
                pass(format!("PCI_COMMAND = {c:#06x}"))
            }
            Ok(c) => fail(format!("PCI_COMMAND = {c:#06x}, MEMORY|MASTER not set")),
            Err(e) => fail(e),
        }
    });

    // 3. The id register, mmap and pread.
    rec.step("BAR0 id register (mmap and pread)", {
        (|| {
            let m = edu.id().map_err(ctx("mmap read"))?;
            let p = edu.bar0().read_u32(REG_ID).map_err(ctx("pread read"))?;
            if m != ID_VALUE || p != ID_VALUE {
                return fail(format!(
                    "mmap {m:#010x}, pread {p:#010x}, want {ID_VALUE:#010x}"
                ));
            }
            let mapped = edu.bar0().mmio().map(|m| m.len()).unwrap_or(0);
            pass(format!(
                "BAR0 {:#x} bytes, {mapped:#x} mapped; id = {m:#010x} (mmap) = {p:#010x} (pread)",
                edu.bar0().size()
            ))
        })()
    });

    // 4. Checked accesses: errors, not panics or faults.
    rec.step("bad offsets are refused with errors", {
        let bar = edu.bar0();
        let size = bar.size();
        let past_end = edu.registers().read_u32(size);
        let misaligned = edu.registers().read_u32(REG_ID + 2);
        let straddling = bar.read_u64(size - 4);
        let bad_width = edu.registers().read_access(REG_ID, &mut [0u8; 3]);
        match (past_end, misaligned, straddling, bad_width) {
            (
                Err(DriverError::OutOfRange { .. }),
                Err(DriverError::Misaligned { .. }),
                Err(DriverError::OutOfRange { .. }),
                Err(DriverError::BadWidth(3)),
            ) => pass(format!(
                "mmap read of 4 bytes at {size:#x}, at {:#x}, of 3 bytes, and pread of 8 bytes \
                 at {:#x} all returned errors",
                REG_ID + 2,
                size - 4
            )),
            other => fail(format!("unexpected results {other:?}")),
        }
    });

    // 5. Liveness.
    rec.step("liveness register inverts writes", {
        match edu.liveness(0x1234_5678) {
            Ok(v) if v == !0x1234_5678u32 => pass(format!("wrote 0x12345678, read {v:#010x}")),
            Ok(v) => fail(format!("wrote 0x12345678, read {v:#010x}")),
            Err(e) => fail(e),
        }
    });

    // 6. Factorial.
    rec.step("factorial of 10 computed by the device", {
        match edu.factorial(10, WORK_TIMEOUT) {
            Ok(3_628_800) => pass("10! = 3628800".into()),
            Ok(v) => fail(format!("10! read as {v}")),
            Err(e) => fail(e),
        }
    });

    // 7./8. DMA.
    if driver.dma().kind() == DmaBackendKind::NoIommu {
        let why = "no-IOMMU container: DMA mappings unavailable".to_owned();
        rec.step(
            "DMA round trip through the IOMMU",
            Ok((Outcome::Skip, why.clone())),
        );
        rec.step(
            "DMA to an unmapped IOVA does not land",
            Ok((Outcome::Skip, why)),
        );
    } else {
        dma_checks(&edu, rec);
    }

    // 9.–11. MSI.
    msi_checks(&edu, rec);

    // 12. INTx.
    rec.step(
        "INTx delivered to an eventfd, unmask re-arms it",
        intx_check(&edu),
    );

    // 13. MSI-X (edu has none): a clean error.
    rec.step("MSI-X unavailable is refused with an error", {
        match driver.enable_irq(IrqKind::Msix, 1) {
            Err(e @ DriverError::IrqUnavailable { .. }) => pass(e.to_string()),
            Err(e) => fail(format!("unexpected error: {e}")),
            Ok(_) => fail("MSI-X enabled on a device without MSI-X"),
        }
    });

    // 14. Reset.
    rec.step("VFIO_DEVICE_RESET", reset_check(&edu));
}

fn dma_checks(edu: &Edu<'_>, rec: &mut Recorder<'_>) {
    let driver = edu.driver();
    let n = DMA_LEN as usize;
    let bufs = DmaBuffer::new(n).and_then(|s| Ok((s, DmaBuffer::new(n)?)));
    let (src, dst) = match bufs {
        Ok(b) => b,
        Err(e) => {
            rec.step("DMA round trip through the IOMMU", fail(e));
            return;
        }
    };
    // Two separate buffers, each with its own mapping: the device reads one
    // and writes the other.
    let round_trip = (|| {
        let pat: Vec<u8> = (0..src.len()).map(pattern).collect();
        src.write_bytes(0, &pat).map_err(ctx("fill source"))?;
        let dma = driver.dma();
        let src_map = dma
            .map(&src, SRC_IOVA, DmaAccess::READ_ONLY)
            .map_err(ctx("map source"))?;
        let dst_map = dma
            .map(&dst, DST_IOVA, DmaAccess::READ_WRITE)
            .map_err(ctx("map destination"))?;
        edu.dma(
            DmaDirection::ToDevice,
            src_map.iova(),
            0,
            DMA_LEN,
            WORK_TIMEOUT,
        )
        .map_err(ctx("RAM -> device"))?;
        edu.dma(
            DmaDirection::ToRam,
            dst_map.iova(),
            0,
            DMA_LEN,
            WORK_TIMEOUT,
        )
        .map_err(ctx("device -> RAM"))?;
        let got = dst.to_vec();
        let bad = (0..n).filter(|&i| got[i] != pat[i]).count();
        let beyond = got[n..].iter().filter(|&&b| b != 0).count();
        src_map.unmap().map_err(ctx("unmap source"))?;
        if bad != 0 || beyond != 0 {
            return fail(format!(
                "{bad} of {n} bytes differ, {beyond} bytes written past the transfer"
            ));
        }
        Ok((dst_map, dma.kind(), got[..4].to_vec()))
    })();
    let dst_map = match round_trip {
        Ok((m, kind, head)) => {
            rec.step(
                "DMA round trip through the IOMMU",
                pass(format!(
                    "{kind:?}: {DMA_LEN} bytes RAM(iova {SRC_IOVA:#x}) -> edu buffer -> \
                     RAM(iova {DST_IOVA:#x}) match (first bytes {head:02x?}), rest of the \
                     destination untouched"
                )),
            );
            m
        }
        Err(e) => {
            rec.step("DMA round trip through the IOMMU", Err(e));
            return;
        }
    };

    // The device buffer still holds the pattern; after unmapping the
    // destination IOVA, a device->RAM transfer to it must not reach `dst`.
    rec.step("DMA to an unmapped IOVA does not land", {
        (|| {
            dst_map.unmap().map_err(ctx("unmap destination"))?;
            dst.fill(0x5a);
            edu.dma(DmaDirection::ToRam, DST_IOVA, 0, DMA_LEN, WORK_TIMEOUT)
                .map_err(ctx("device -> unmapped IOVA"))?;
            let changed = dst.to_vec().iter().filter(|&&b| b != 0x5a).count();
            if changed != 0 {
                return fail(format!(
                    "{changed} bytes of the unmapped destination changed"
                ));
            }
            pass(format!(
                "device -> RAM(iova {DST_IOVA:#x}) after unmap completed, destination still \
                 all 0x5a ({} bytes)",
                dst.len()
            ))
        })()
    });
}

/// Waits for one interrupt on vector 0, checks and acknowledges `bit`.
fn expect_irq(
    edu: &Edu<'_>,
    irqs: &IrqEventfds<'_>,
    bit: u32,
) -> std::result::Result<String, String> {
    let count = irqs
        .wait(0, IRQ_TIMEOUT)
        .map_err(|e| format!("{} not delivered: {e}", irqs.kind().name()))?;
    let status = edu.irq_status().map_err(|e| e.to_string())?;
    edu.ack_irq(bit).map_err(|e| e.to_string())?;
    let after = edu.irq_status().map_err(|e| e.to_string())?;
    if status & bit == 0 || after & bit != 0 {
        return fail(format!(
            "eventfd count {count}, irq status {status:#x} (want bit {bit:#x}), after ack {after:#x}"
        ));
    }
    Ok(format!(
        "eventfd count {count}, irq status {status:#x}, after ack {after:#x}"
    ))
}

fn msi_checks(edu: &Edu<'_>, rec: &mut Recorder<'_>) {
    let driver = edu.driver();
    let irqs = match driver.enable_irq(IrqKind::Msi, 1) {
        Ok(i) => i,
        Err(e) => {
            rec.step("MSI delivered to an eventfd", fail(e));
            return;
        }
    };
    let _ = irqs.take(0);
    rec.step("MSI delivered to an eventfd", {
        (|| {
            edu.raise_irq(IRQ_FACTORIAL).map_err(ctx("raise"))?;
            let d = expect_irq(edu, &irqs, IRQ_FACTORIAL)?;
            pass(format!("raise {IRQ_FACTORIAL:#x} via 0x60: {d}"))
        })()
    });
    rec.step("factorial completion raises MSI", {
        (|| {
            edu.set_factorial_irq(true).map_err(ctx("status"))?;
            let v = edu.factorial(5, WORK_TIMEOUT).map_err(ctx("factorial"))?;
            let d = expect_irq(edu, &irqs, IRQ_FACTORIAL);
            edu.set_factorial_irq(false).map_err(ctx("status"))?;
            let d = d?;
            if v != 120 {
                return fail(format!("5! read as {v}"));
            }
            pass(format!("5! = {v}; {d}"))
        })()
    });
    let dma_irq = if driver.dma().kind() == DmaBackendKind::NoIommu {
        Ok((Outcome::Skip, "no-IOMMU container".to_owned()))
    } else {
        (|| {
            let buf = DmaBuffer::new(DMA_LEN as usize).map_err(ctx("buffer"))?;
            let map = driver
                .map_dma(&buf, DST_IOVA, DmaAccess::READ_WRITE)
                .map_err(ctx("map"))?;
            edu.start_dma(DmaDirection::ToRam, map.iova(), 0, 64, true)
                .map_err(ctx("start"))?;
            let d = expect_irq(edu, &irqs, IRQ_DMA)?;
            edu.wait_dma(WORK_TIMEOUT).map_err(ctx("wait"))?;
            map.unmap().map_err(ctx("unmap"))?;
            let mut head = [0u8; 4];
            buf.read_bytes(0, &mut head).map_err(ctx("read"))?;
            pass(format!(
                "64-byte device -> RAM DMA with IRQ: {d}; data {head:02x?}"
            ))
        })()
    };
    rec.step("DMA completion raises MSI", dma_irq);
    rec.step("MSI disabled", {
        match irqs.disable() {
            Ok(()) => pass("SET_IRQS(MSI, count 0) ok".into()),
            Err(e) => fail(e),
        }
    });
}

fn intx_check(edu: &Edu<'_>) -> StepResult {
    let driver = edu.driver();
    let irqs = driver
        .enable_irq(IrqKind::Intx, 1)
        .map_err(ctx("enable INTx"))?;
    let _ = irqs.take(0);
    edu.raise_irq(IRQ_FACTORIAL).map_err(ctx("raise"))?;
    let first = expect_irq(edu, &irqs, IRQ_FACTORIAL)?;
    irqs.unmask().map_err(ctx("unmask"))?;
    edu.raise_irq(IRQ_FACTORIAL).map_err(ctx("raise again"))?;
    let second = expect_irq(edu, &irqs, IRQ_FACTORIAL)?;
    irqs.unmask().map_err(ctx("unmask"))?;
    irqs.disable().map_err(ctx("disable"))?;
    pass(format!("first: {first}; after unmask: {second}; disabled"))
}

fn reset_check(edu: &Edu<'_>) -> StepResult {
    let driver = edu.driver();
    match driver.reset() {
        Err(DriverError::ResetUnsupported) => {
            return Ok((
                Outcome::Skip,
                "device reports no reset method (VFIO_DEVICE_FLAGS_RESET clear)".into(),
            ));
        }
        Err(e) => return fail(e),
        Ok(()) => {}
    }
    // Never touch the mapping without memory decoding (SIGBUS).
    let cmd = driver.command().map_err(ctx("PCI_COMMAND"))?;
    if cmd & PCI_COMMAND_MEMORY == 0 {
        let _ = driver.enable_device();
        return fail(format!(
            "PCI_COMMAND = {cmd:#06x} after reset: memory decoding was not restored"
        ));
    }
    let id = edu.id().map_err(ctx("id"))?;
    let live = edu.liveness(0x0f0f_0f0f).map_err(ctx("liveness"))?;
    if id != ID_VALUE || live != 0xf0f0_f0f0 {
        return fail(format!("after reset id {id:#010x}, liveness {live:#010x}"));
    }
    pass(format!(
        "reset ok; PCI_COMMAND {cmd:#06x} restored, id {id:#010x}, liveness ok"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_display_and_pattern() {
        let c = Check {
            name: "x",
            outcome: Outcome::Skip,
            detail: "why".into(),
        };
        assert_eq!(c.to_string(), "SKIP x: why");
        assert_eq!(Outcome::Pass.to_string(), "PASS");
        assert_eq!(pattern(0), 3);
        assert_eq!(pattern(37), (37 * 7 + 3) as u8);
    }
}
