//! The function against an in-memory host device: what `edu` cannot show
//! (MSI-X, 64-bit and I/O BARs, the ROM, hidden and PCIe capabilities, ID
//! overrides, sparse areas), with QEMU's behaviour as the expected values.

use std::cell::RefCell;
use std::os::fd::{AsRawFd, BorrowedFd};

use vfio_bindings::bindings::vfio as vb;

use super::*;
use crate::sys::vfio::{MappedRegion, RegionCap, RegionFlags, RegionInfo, SparseArea};
use crate::sys::{Errno, Op, SysError};

thread_local! {
    /// The calls the fakes of this test's thread received.
    static CALLS: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

fn record(call: String) {
    CALLS.with(|c| c.borrow_mut().push(call));
}

/// A host device: config space and BAR contents in memory, every
/// interrupt and DMA call recorded.
#[derive(Debug, Default)]
struct Fake {
    config: RefCell<Vec<u8>>,
    regions: Vec<RegionInfo>,
    bar_bytes: RefCell<Vec<Vec<u8>>>,
    irqs: Vec<u32>,
    translated: bool,
    fail_config_read: bool,
    /// `VFIO_DEVICE_SET_IRQS` with eventfds for this IRQ index fails with
    /// this errno.
    fail_set_irqs: Option<(u32, Errno)>,
}

fn region(index: u32, size: u64, mmap: bool) -> RegionInfo {
    RegionInfo {
        index,
        flags: RegionFlags::from_bits_retain(0x3 | if mmap { 0x4 } else { 0 }),
        size,
        offset: 0,
        caps: Vec::new(),
    }
}

impl Fake {
    /// `edu`-like: 1234:11e8, BAR0 1 MiB memory, INTA, MSI at 0x40.
    fn new() -> Fake {
        CALLS.with(|c| c.borrow_mut().clear());
        let mut c = vec![0u8; 256];
        c[0..4].copy_from_slice(&[0x34, 0x12, 0xe8, 0x11]);
        c[0x06] = 0x10;
        c[0x08] = 0x10;
        c[0x0b] = 0xff;
        c[0x10..0x14].copy_from_slice(&0xfea0_0000u32.to_le_bytes());
        c[0x2c..0x30].copy_from_slice(&[0xf4, 0x1a, 0x00, 0x11]);
        c[0x34] = 0x40;
        c[0x3d] = 1;
        c[0x40] = 0x05; // MSI, 64-bit, 1 vector
        c[0x41] = 0x00;
        c[0x42] = 0x80;
        let mut regions: Vec<RegionInfo> = (0..=8).map(|i| region(i, 0, false)).collect();
        regions[0] = region(0, 1 << 20, true);
        regions[7] = region(vb::VFIO_PCI_CONFIG_REGION_INDEX, 256, false);
        Fake {
            config: RefCell::new(c),
            bar_bytes: RefCell::new(vec![vec![0; 1 << 20]; 7]),
            regions,
            irqs: vec![1, 1, 0, 0, 0],
            translated: true,
            ..Fake::default()
        }
    }
}

impl HostFunction for Fake {
    fn name(&self) -> &str {
        "0000:00:01.0"
    }
    fn region(&self, index: u32) -> Option<&RegionInfo> {
        self.regions.iter().find(|r| r.index == index && r.size > 0)
    }
    fn read(&self, index: u32, offset: u64, buf: &mut [u8]) -> crate::sys::Result<()> {
        let o = offset as usize;
        if index == CONFIG {
            if self.fail_config_read {
                return Err(SysError::new(Op::RegionRead, Errno::EFAULT));
            }
            buf.copy_from_slice(&self.config.borrow()[o..o + buf.len()]);
        } else {
            buf.copy_from_slice(&self.bar_bytes.borrow()[index as usize][o..o + buf.len()]);
        }
        Ok(())
    }
    fn write(&self, index: u32, offset: u64, data: &[u8]) -> crate::sys::Result<()> {
        let o = offset as usize;
        record(format!("write {index} 0x{offset:x} {data:?}"));
        if index == CONFIG {
            // The kernel keeps COMMAND; everything else it virtualizes.
            if o == 4 {
                self.config.borrow_mut()[4..4 + data.len()].copy_from_slice(data);
            }
        } else {
            self.bar_bytes.borrow_mut()[index as usize][o..o + data.len()].copy_from_slice(data);
        }
        Ok(())
    }
    fn mmap(&self, index: u32, offset: u64, len: u64) -> crate::sys::Result<MappedRegion> {
        record(format!("mmap {index} 0x{offset:x} 0x{len:x}"));
        crate::sys::vfio::MappedRegion::anonymous(len as usize)
    }
    fn irq_count(&self, index: u32) -> u32 {
        self.irqs.get(index as usize).copied().unwrap_or(0)
    }
    fn set_irq_eventfds(
        &self,
        index: u32,
        start: u32,
        fds: &[Option<BorrowedFd<'_>>],
    ) -> crate::sys::Result<()> {
        let n = fds
            .iter()
            .filter(|f| f.is_some_and(|f| f.as_raw_fd() >= 0))
            .count();
        record(format!(
            "irqs {index} start {start} fds {n} of {}",
            fds.len()
        ));
        match self.fail_set_irqs {
            Some((i, e)) if i == index => Err(SysError::new(Op::DeviceSetIrqs, e)),
            _ => Ok(()),
        }
    }
    fn set_unmask_eventfd(&self, index: u32, _fd: BorrowedFd<'_>) -> crate::sys::Result<()> {
        record(format!("unmask-fd {index}"));
        Ok(())
    }
    fn unmask(&self, index: u32) -> crate::sys::Result<()> {
        record(format!("unmask {index}"));
        Ok(())
    }
    fn disable_irqs(&self, index: u32) -> crate::sys::Result<()> {
        record(format!("disable {index}"));
        Ok(())
    }
    fn dma_translated(&self) -> bool {
        self.translated
    }
    unsafe fn dma_map(&self, iova: u64, _host: *mut u8, len: u64) -> crate::sys::Result<()> {
        if iova >= 1 << 40 {
            return Err(SysError::new(Op::MapDma, Errno::ERANGE));
        }
        record(format!("map 0x{iova:x} 0x{len:x}"));
        Ok(())
    }
    fn dma_unmap(&self, iova: u64, len: u64) -> crate::sys::Result<()> {
        record(format!("unmap 0x{iova:x} 0x{len:x}"));
        Ok(())
    }
}

fn layout(fake: &Fake) -> Layout {
    let mut bars = [Bar::default(); 6];
    let c = fake.config.borrow();
    for (i, b) in bars.iter_mut().enumerate() {
        let reg = u32::from_le_bytes(c[0x10 + 4 * i..0x14 + 4 * i].try_into().unwrap());
        b.size = fake.regions[i].size;
        b.ioport = reg & 1 != 0;
        b.mem64 = !b.ioport && reg & 6 == 4;
    }
    Layout {
        config: c.clone(),
        bars,
        msix: None,
    }
}

fn build(fake: Fake, options: FunctionOptions) -> PciFunction {
    let l = layout(&fake);
    PciFunction::new(Box::new(fake), &l, options).unwrap()
}

/// The `(offset, len)` of each mappable area of BAR `bar`.
fn mmap_areas(f: &PciFunction, bar: u8) -> Vec<(u64, u64)> {
    f.bar(bar)
        .unwrap()
        .areas
        .iter()
        .map(|a| (a.offset, a.len))
        .collect()
}

fn r32(f: &mut PciFunction, at: u16) -> u32 {
    let mut b = [0u8; 4];
    f.config_read(at, &mut b);
    u32::from_le_bytes(b)
}

fn r16(f: &mut PciFunction, at: u16) -> u16 {
    let mut b = [0u8; 2];
    f.config_read(at, &mut b);
    u16::from_le_bytes(b)
}

fn w32(f: &mut PciFunction, at: u16, v: u32) -> Vec<Event> {
    f.config_write(at, &v.to_le_bytes())
}

fn w16(f: &mut PciFunction, at: u16, v: u16) -> Vec<Event> {
    f.config_write(at, &v.to_le_bytes())
}

#[test]
fn bar_sizing_programming_and_decode() {
    let fake = Fake::new();
    // Left decoding by the device's previous user: reset for the guest.
    fake.config.borrow_mut()[4] = 0x07;
    let mut f = build(fake, FunctionOptions::default());
    assert_eq!(r16(&mut f, 0x04), 0);
    // The host's residual address is not shown.
    assert_eq!(r32(&mut f, 0x10), 0);
    assert_eq!(w32(&mut f, 0x10, u32::MAX), []);
    assert_eq!(r32(&mut f, 0x10), 0xfff0_0000, "1 MiB sizing mask");
    w32(&mut f, 0x10, 0xe000_0000);
    assert_eq!(r32(&mut f, 0x10), 0xe000_0000);
    assert_eq!(f.bar(0).unwrap().address, None, "memory decoding is off");
    let ev = w16(&mut f, 0x04, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
    assert_eq!(
        ev,
        [Event::BarMoved {
            bar: 0,
            old: None,
            new: Some(0xe000_0000)
        }]
    );
    // COMMAND reaches the device (its BAR mappings need memory decoding).
    assert_eq!(r16(&mut f, 0x04), PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
    assert_eq!(f.bar_at(0xe000_0008, Space::Memory), Some((0, 8)));
    assert_eq!(f.bar_at(0xe010_0000, Space::Memory), None);
    assert_eq!(f.bar_at(0xe000_0008, Space::Io), None);
    // Sizing again while decoding unmaps it, as QEMU's pci_bar_address does.
    let ev = w32(&mut f, 0x10, u32::MAX);
    assert_eq!(
        ev,
        [Event::BarMoved {
            bar: 0,
            old: Some(0xe000_0000),
            new: None
        }]
    );
    // The whole BAR is mappable: one area of 1 MiB.
    let areas = mmap_areas(&f, 0);
    assert_eq!(areas, [(0, 1 << 20)]);
}

/// BAR 0 at `0xe000_0000` for the decode events below.
fn bar0_moved(old: Option<u64>, new: Option<u64>) -> Vec<Event> {
    let to = |a: Option<u64>| a.map(|_| 0xe000_0000);
    vec![Event::BarMoved {
        bar: 0,
        old: to(old),
        new: to(new),
    }]
}

#[test]
fn bars_decode_in_d0_only_and_pm_transitions_are_checked() {
    // The edu-like device with a PM capability after MSI: D1 supported,
    // D2 not (PMC 0x0203).
    let fake = Fake::new();
    {
        let mut c = fake.config.borrow_mut();
        c[0x41] = 0x50;
        c[0x50] = 0x01;
        c[0x52..0x54].copy_from_slice(&0x0203u16.to_le_bytes());
    }
    let mut f = build(fake, FunctionOptions::default());
    w32(&mut f, 0x10, 0xe000_0000);
    let on = Some(0);
    assert_eq!(w16(&mut f, 0x04, PCI_COMMAND_MEMORY), bar0_moved(None, on));
    // D3hot: the BAR decodes nowhere, and the write reaches the device.
    assert_eq!(w16(&mut f, 0x54, 3), bar0_moved(on, None));
    assert!(
        f.host_calls().contains(&"write 7 0x54 [3, 0]".to_string()),
        "PMCSR writes reach the device"
    );
    // Only to D0 from D3hot: D1 is refused, the BAR stays off.
    assert_eq!(w16(&mut f, 0x54, 1), []);
    assert_eq!(f.bar(0).unwrap().address, None);
    assert_eq!(w16(&mut f, 0x54, 0), bar0_moved(None, on));
    // D2 is not supported: refused; D1 is.
    assert_eq!(w16(&mut f, 0x54, 2), []);
    assert_eq!(f.bar(0).unwrap().address, Some(0xe000_0000));
    assert_eq!(w16(&mut f, 0x54, 1), bar0_moved(on, None));
    // Up from D1 to D3hot stays off; COMMAND toggled meanwhile maps
    // nothing; back in D0 the BAR decodes again.
    assert_eq!(w16(&mut f, 0x54, 3), []);
    assert_eq!(w16(&mut f, 0x04, 0), []);
    assert_eq!(w16(&mut f, 0x04, PCI_COMMAND_MEMORY), []);
    assert_eq!(w16(&mut f, 0x54, 0), bar0_moved(None, on));
}

#[test]
fn io_and_64_bit_bars() {
    let mut fake = Fake::new();
    {
        let mut c = fake.config.borrow_mut();
        c[0x10..0x14].copy_from_slice(&0x0000_000cu32.to_le_bytes()); // 64-bit prefetchable
        c[0x18..0x1c].copy_from_slice(&0x0000_c001u32.to_le_bytes()); // BAR2: I/O
    }
    fake.regions[0] = region(0, 1 << 32, true);
    fake.regions[2] = region(2, 0x20, false);
    let mut f = build(fake, FunctionOptions::default());
    let kinds: Vec<_> = f
        .bars()
        .iter()
        .map(|b| (b.index, b.kind, b.size, b.prefetchable))
        .collect();
    assert_eq!(
        kinds,
        [
            (0, BarKind::Mem64, 1 << 32, true),
            (2, BarKind::Io, 0x20, false)
        ]
    );
    assert_eq!(r32(&mut f, 0x10), 0xc);
    w32(&mut f, 0x10, u32::MAX);
    w32(&mut f, 0x14, u32::MAX);
    assert_eq!(r32(&mut f, 0x10), 0xc, "low half of a 4 GiB BAR sizes to 0");
    assert_eq!(r32(&mut f, 0x14), 0xffff_ffff);
    w32(&mut f, 0x10, 0);
    w32(&mut f, 0x14, 0x8);
    w32(&mut f, 0x18, u32::MAX);
    assert_eq!(r32(&mut f, 0x18), 0xffff_ffe1, "32-byte I/O BAR");
    w32(&mut f, 0x18, 0xc000);
    let ev = w16(&mut f, 0x04, PCI_COMMAND_IO | PCI_COMMAND_MEMORY);
    assert_eq!(
        ev,
        [
            Event::BarMoved {
                bar: 0,
                old: None,
                new: Some(0x8_0000_0000)
            },
            Event::BarMoved {
                bar: 2,
                old: None,
                new: Some(0xc000)
            }
        ]
    );
    assert_eq!(f.bar_at(0xc01f, Space::Io), Some((2, 0x1f)));
    // The I/O BAR is trapped: its accesses reach the device's region.
    f.bar_write(2, 4, &[0xaa]);
    let mut b = [0u8; 1];
    f.bar_read(2, 4, &mut b);
    assert_eq!(b, [0xaa]);
    assert!(f.bar(2).unwrap().areas.is_empty());
}

#[test]
fn id_overrides_and_class_code() {
    let mut f = build(
        Fake::new(),
        FunctionOptions {
            vendor_id: Some(0x8086),
            device_id: Some(0x1234),
            sub_vendor_id: Some(0),
            sub_device_id: Some(0xbeef),
            class_code: Some(0x020000),
            ..Default::default()
        },
    );
    assert_eq!(r32(&mut f, 0x00), 0x1234_8086);
    assert_eq!(r32(&mut f, 0x2c), 0xbeef_0000);
    assert_eq!(r32(&mut f, 0x08) >> 8, 0x020000);
    assert_eq!(
        r32(&mut f, 0x08) & 0xff,
        0x10,
        "the revision stays the device's"
    );
    // A guest cannot write them.
    w16(&mut f, 0x00, 0xffff);
    assert_eq!(r16(&mut f, 0x00), 0x8086);
    let mut f = build(Fake::new(), FunctionOptions::default());
    assert_eq!(r32(&mut f, 0x00), 0x11e8_1234);
    assert_eq!(r32(&mut f, 0x2c), 0x1100_1af4);
}

#[test]
fn multifunction_bit_is_the_property() {
    let fake = Fake::new();
    fake.config.borrow_mut()[0x0e] = 0x80;
    let mut f = build(fake, FunctionOptions::default());
    let mut b = [0u8; 1];
    f.config_read(0x0e, &mut b);
    assert_eq!(b, [0]);
    let mut f = build(
        Fake::new(),
        FunctionOptions {
            multifunction: true,
            ..Default::default()
        },
    );
    f.config_read(0x0e, &mut b);
    assert_eq!(b, [0x80]);
}

#[test]
fn msi_enable_routes_vectors_and_disable_returns_to_intx() {
    let fake = Fake::new();
    fake.config.borrow_mut()[0x42] = 0x84; // 64-bit, 4 vectors capable
    let mut f = build(fake, FunctionOptions::default());
    let intx = f.intx().unwrap();
    assert_eq!(
        (intx.pin, intx.route, intx.enabled),
        (1, Route::Irqfd, true)
    );
    assert_eq!(r16(&mut f, 0x42), 0x84, "QMASK from the device, QSIZE 0");
    w32(&mut f, 0x44, 0xfee0_0000);
    w32(&mut f, 0x48, 0);
    w16(&mut f, 0x4c, 0x4031);
    assert!(f.vectors().is_empty());
    // Two vectors (QSIZE 1) and enable.
    let ev = w16(&mut f, 0x42, 0x84 | 0x10 | 1);
    assert_eq!(ev, [Event::IntxChanged, Event::VectorsChanged]);
    assert!(!f.intx().unwrap().enabled);
    let v: Vec<_> = f
        .vectors()
        .iter()
        .map(|v| (v.index, v.message, v.route))
        .collect();
    assert_eq!(
        v,
        [
            (
                0,
                MsiMessage {
                    address: 0xfee0_0000,
                    data: 0x4030
                },
                Route::Irqfd
            ),
            (
                1,
                MsiMessage {
                    address: 0xfee0_0000,
                    data: 0x4031
                },
                Route::Irqfd
            ),
        ]
    );
    // Reprogramming while enabled updates the messages.
    assert_eq!(w16(&mut f, 0x4c, 0x4050), [Event::VectorsChanged]);
    assert_eq!(f.vectors()[1].message.data, 0x4051);
    // Disable: vectors go, INTx comes back.
    assert_eq!(
        w16(&mut f, 0x42, 0x94),
        [Event::VectorsChanged, Event::IntxChanged]
    );
    assert!(f.vectors().is_empty());
    let calls = f.host_calls();
    let irq: Vec<_> = calls
        .iter()
        .filter(|c| !c.starts_with("write") && !c.starts_with("mmap"))
        .cloned()
        .collect();
    assert_eq!(
        irq,
        [
            "irqs 0 start 0 fds 1 of 1",
            "unmask-fd 0",
            "disable 0",
            "irqs 1 start 0 fds 2 of 2",
            "disable 1",
            "irqs 0 start 0 fds 1 of 1",
            "unmask-fd 0"
        ]
    );
}

#[test]
fn no_kvm_properties_choose_userspace_routes() {
    let mut f = build(
        Fake::new(),
        FunctionOptions {
            no_kvm_intx: true,
            no_kvm_msi: true,
            ..Default::default()
        },
    );
    assert_eq!(f.intx().unwrap().route, Route::Userspace);
    // No resample eventfd is registered; EOI unmasks through the VMM.
    assert!(!f.host_calls().iter().any(|c| c == "unmask-fd 0"));
    f.intx_eoi().unwrap();
    assert_eq!(f.host_calls().last().unwrap(), "unmask 0");
    w16(&mut f, 0x42, 0x81);
    assert_eq!(f.vectors()[0].route, Route::Userspace);
}

/// A device with MSI-X: 8 vectors, table at BAR 4 offset 0x2000, PBA at
/// 0x3000, and a PCIe endpoint capability.
fn msix_fake() -> (Fake, MsixInfo) {
    let fake = Fake::new();
    {
        let mut c = fake.config.borrow_mut();
        c.resize(4096, 0);
        c[0x41] = 0x50;
        c[0x50] = 0x11;
        c[0x51] = 0x60;
        c[0x52..0x54].copy_from_slice(&7u16.to_le_bytes());
        c[0x54..0x58].copy_from_slice(&0x2004u32.to_le_bytes());
        c[0x58..0x5c].copy_from_slice(&0x3004u32.to_le_bytes());
        c[0x60] = 0x10; // PCIe
        c[0x61] = 0x00;
        c[0x62..0x64].copy_from_slice(&0x0002u16.to_le_bytes()); // endpoint, v2
        c[0x6c..0x70].copy_from_slice(&0x0041_1c12u32.to_le_bytes()); // LNKCAP
        c[0x72..0x74].copy_from_slice(&0x1011u16.to_le_bytes()); // LNKSTA
        // Extended: AER at 0x100 -> SR-IOV at 0x140 -> DSN at 0x180.
        c[0x100..0x104].copy_from_slice(&(0x0001u32 | 1 << 16 | 0x140 << 20).to_le_bytes());
        c[0x140..0x144].copy_from_slice(&(0x0010u32 | 1 << 16 | 0x180 << 20).to_le_bytes());
        c[0x180..0x184].copy_from_slice(&(0x0003u32 | 1 << 16).to_le_bytes());
    }
    let mut fake = fake;
    fake.regions[4] = region(4, 0x4000, true);
    fake.regions[7] = region(vb::VFIO_PCI_CONFIG_REGION_INDEX, 4096, false);
    fake.irqs = vec![1, 1, 8, 0, 0];
    let info = MsixInfo {
        entries: 8,
        table_bar: 4,
        table_offset: 0x2000,
        pba_bar: 4,
        pba_offset: 0x3000,
        noresize: false,
        relocated: false,
    };
    (fake, info)
}

/// The MSI-X device on a bus of `bus`'s kind.
fn on_bus(bus: BusKind) -> PciFunction {
    let (fake, info) = msix_fake();
    build_msix(
        fake,
        info,
        FunctionOptions {
            bus,
            ..Default::default()
        },
    )
}

fn build_msix(fake: Fake, info: MsixInfo, options: FunctionOptions) -> PciFunction {
    let mut l = layout(&fake);
    l.msix = Some(info);
    PciFunction::new(Box::new(fake), &l, options).unwrap()
}

#[test]
fn msix_table_pba_and_per_vector_mask() {
    let (fake, info) = msix_fake();
    let mut f = build_msix(fake, info, FunctionOptions::default());
    // The capability is QEMU's: QSIZE, table and PBA registers.
    assert_eq!(r32(&mut f, 0x50), 0x0007_6011);
    assert_eq!(r32(&mut f, 0x54), 0x2004);
    assert_eq!(r32(&mut f, 0x58), 0x3004);
    // The table and PBA pages are trapped; the rest of BAR 4 is mapped.
    let areas = mmap_areas(&f, 4);
    assert_eq!(areas, [(0, 0x2000)]);
    // Every vector starts masked.
    let mut b = [0u8; 4];
    f.bar_read(4, 0x2000 + 12, &mut b);
    assert_eq!(u32::from_le_bytes(b), 1);
    // Program vector 3 and enable MSI-X with the function mask set: the
    // device enters MSI-X mode with no vector (vfio_enable_msix_no_vec).
    f.bar_write(4, 0x2030, &0xfee0_1000u32.to_le_bytes());
    f.bar_write(4, 0x2038, &0x41u32.to_le_bytes());
    let ev = w16(&mut f, 0x52, 0xc007);
    assert_eq!(ev, [Event::IntxChanged, Event::VectorsChanged]);
    assert!(f.vectors().is_empty());
    // Function mask off: still masked per vector, still none in use.
    assert_eq!(w16(&mut f, 0x52, 0x8007), []);
    assert!(f.vectors().is_empty());
    // Unmask vector 3: it alone gets an eventfd, its message as programmed.
    let ev = f.bar_write(4, 0x203c, &0u32.to_le_bytes());
    assert_eq!(ev, [Event::VectorsChanged]);
    let v = &f.vectors()[0];
    assert_eq!(
        (f.vectors().len(), v.index, v.masked, v.message),
        (
            1,
            3,
            false,
            MsiMessage {
                address: 0xfee0_1000,
                data: 0x41
            }
        )
    );
    // Vector 5 unmasked, then masked again: it keeps its eventfd, and a
    // signal it holds reads as pending in the PBA.
    assert_eq!(
        f.bar_write(4, 0x205c, &0u32.to_le_bytes()),
        [Event::VectorsChanged]
    );
    assert_eq!(
        f.bar_write(4, 0x205c, &1u32.to_le_bytes()),
        [Event::VectorsChanged]
    );
    let index: Vec<_> = f.vectors().iter().map(|v| (v.index, v.masked)).collect();
    assert_eq!(index, [(3, false), (5, true)]);
    for v in f.vectors() {
        v.eventfd().write(1).unwrap();
    }
    let mut p = [0u8; 8];
    f.bar_read(4, 0x3000, &mut p);
    assert_eq!(p[0], 1 << 5, "vector 3 is unmasked: not pending");
    // The PBA is read-only; reserved vector-control bits read as 0.
    f.bar_write(4, 0x3000, &[0xff; 8]);
    f.bar_write(4, 0x204c, &0xffff_fffeu32.to_le_bytes());
    f.bar_read(4, 0x204c, &mut b);
    assert_eq!(u32::from_le_bytes(b), 0);
    // The table and PBA take 4- and 8-byte aligned accesses only
    // (msix_table_mmio_ops): others read 0 and write nothing.
    let mut w = [0xaau8; 2];
    f.bar_read(4, 0x2030, &mut w);
    assert_eq!(w, [0, 0]);
    f.bar_write(4, 0x2030, &[0x11, 0x22]);
    f.bar_write(4, 0x2032, &0x1234_5678u32.to_le_bytes());
    let mut q = [0u8; 8];
    f.bar_read(4, 0x2030, &mut q);
    assert_eq!(
        q,
        0xfee0_1000u64.to_le_bytes(),
        "vector 3's address unchanged"
    );
    f.bar_read(4, 0x3001, &mut b);
    assert_eq!(b, [0; 4]);
    // Disable: back to INTx.
    assert_eq!(
        w16(&mut f, 0x52, 0x0007),
        [Event::VectorsChanged, Event::IntxChanged]
    );
    assert_eq!(
        msix_host_calls(&f),
        [
            "irqs 2 start 0 fds 0 of 1",
            "irqs 2 start 3 fds 1 of 1",
            "irqs 2 start 5 fds 1 of 1",
            // The reserved-bits write above left vector 4 unmasked.
            "irqs 2 start 4 fds 1 of 1",
            "disable 2"
        ],
        "one host vector per vector the guest unmasked"
    );
}

/// QEMU's `vfio_msi_enable` when a vector's notifier cannot be made: the
/// failure and "Failed to enable MSI" reported, interrupts left off, INTx
/// included. The descriptor limit is per process, so the test runs itself
/// alone in a child process, which lowers it to the lowest free descriptor.
#[test]
fn msi_enable_without_descriptors_leaves_interrupts_off() {
    const CHILD: &str = "QOMGEN_TEST_NOFILE_CHILD";
    if std::env::var_os(CHILD).is_none() {
        let name = concat!(
            module_path!(),
            "::msi_enable_without_descriptors_leaves_interrupts_off"
        );
        let name = name.split_once("::").unwrap().1;
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", name, "--test-threads=1"])
            .env(CHILD, "1")
            .output()
            .unwrap();
        let log = String::from_utf8_lossy(&out.stdout) + String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success() && log.contains("1 passed"), "{log}");
        return;
    }
    let mut f = build(Fake::new(), FunctionOptions::default());
    assert!(f.intx().unwrap().enabled, "INTx is on after the build");
    let lowest_free = std::fs::File::open("/dev/null").unwrap().as_raw_fd() as u64;
    let mut old = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: valid out- and in-pointers; the limit is restored below.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut old), 0);
        let low = libc::rlimit {
            rlim_cur: lowest_free,
            ..old
        };
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &low), 0);
    }
    let events = w16(&mut f, 0x42, 0x81);
    // SAFETY: as above.
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

/// The MSI-X device with vector 1 unmasked before the guest enables it.
fn msix_enabled_with_vector_1(noresize: bool) -> PciFunction {
    let (fake, info) = msix_fake();
    let mut f = build_msix(
        fake,
        MsixInfo { noresize, ..info },
        FunctionOptions::default(),
    );
    f.bar_write(4, 0x201c, &0u32.to_le_bytes());
    let ev = w16(&mut f, 0x52, 0x8007);
    assert_eq!(ev, [Event::IntxChanged, Event::VectorsChanged]);
    f
}

fn msix_host_calls(f: &PciFunction) -> Vec<String> {
    f.host_calls()
        .into_iter()
        .filter(|c| c.starts_with("irqs 2") || c.starts_with("disable 2"))
        .collect()
}

#[test]
fn msix_vectors_unmasked_before_enable_are_used_at_enable() {
    let mut f = msix_enabled_with_vector_1(false);
    let used: Vec<_> = f.vectors().iter().map(|v| v.index).collect();
    assert_eq!(used, [1]);
    // The function mask, set and cleared, uses every vector it unmasks:
    // here none more, vector 1 masked while it is set.
    assert_eq!(w16(&mut f, 0x52, 0xc007), [Event::VectorsChanged]);
    assert!(f.vectors()[0].masked);
    assert_eq!(w16(&mut f, 0x52, 0x8007), [Event::VectorsChanged]);
    assert_eq!(msix_host_calls(&f), ["irqs 2 start 0 fds 1 of 2"]);
}

#[test]
fn msix_host_without_resizing_is_reenabled_for_a_higher_vector() {
    // VFIO_IRQ_INFO_NORESIZE (vfio_msix_vector_do_use): a vector past the
    // enabled ones disables and enables them all; one below them is set
    // alone.
    let mut f = msix_enabled_with_vector_1(true);
    f.bar_write(4, 0x204c, &0u32.to_le_bytes());
    f.bar_write(4, 0x200c, &0u32.to_le_bytes());
    let used: Vec<_> = f.vectors().iter().map(|v| v.index).collect();
    assert_eq!(used, [0, 1, 4]);
    assert_eq!(
        msix_host_calls(&f),
        [
            "irqs 2 start 0 fds 1 of 2",
            "disable 2",
            "irqs 2 start 0 fds 2 of 5",
            "irqs 2 start 0 fds 1 of 1"
        ]
    );
}

#[test]
fn msix_host_refusals_are_reported_in_qemus_words() {
    // MSI-X enabled with every vector masked, then vector 1 unmasked, on a
    // host that refuses every MSI-X eventfd.
    let refusals = |noresize| {
        let (mut fake, info) = msix_fake();
        fake.fail_set_irqs = Some((vb::VFIO_PCI_MSIX_IRQ_INDEX, Errno::EINVAL));
        let mut f = build_msix(
            fake,
            MsixInfo { noresize, ..info },
            FunctionOptions::default(),
        );
        w16(&mut f, 0x52, 0x8007);
        f.bar_write(4, 0x201c, &0u32.to_le_bytes());
        f.take_errors()
    };
    assert_eq!(
        refusals(false),
        [
            "vfio: failed to enable MSI-X, Invalid argument",
            "vfio 0000:00:01.0: Failed to set up TRIGGER eventfd signaling for interrupt MSIX-1: VFIO_DEVICE_SET_IRQS failure: Invalid argument"
        ]
    );
    // A host without resizing enables them all again, which it refuses too.
    assert_eq!(
        refusals(true),
        [
            "vfio: failed to enable MSI-X, Invalid argument",
            "vfio: failed to enable vectors, Invalid argument"
        ]
    );
}

#[test]
fn msix_relocation_adds_space_the_guest_sees() {
    let (mut fake, info) = msix_fake();
    fake.regions[4] = region(4, 0x2000, true);
    let mut l = layout(&fake);
    // x-msix-relocation=bar4 doubled BAR 4: table and PBA in the new half
    // (msix_fake's 0x2000 and 0x3000).
    l.bars[4].size = 0x4000;
    l.msix = Some(MsixInfo {
        relocated: true,
        ..info
    });
    let mut f = PciFunction::new(Box::new(fake), &l, FunctionOptions::default()).unwrap();
    assert_eq!(f.bar(4).unwrap().size, 0x4000);
    let areas = mmap_areas(&f, 4);
    assert_eq!(areas, [(0, 0x2000)], "the host region is mapped whole");
    w32(&mut f, 0x20, u32::MAX);
    assert_eq!(
        r32(&mut f, 0x20),
        0xffff_c000,
        "the guest sizes the grown BAR"
    );
    let mut b = [0u8; 4];
    f.bar_read(4, 0x3800, &mut b);
    assert_eq!(
        b, [0; 4],
        "added space that is neither table nor PBA reads 0"
    );
    f.bar_read(4, 0x200c, &mut b);
    assert_eq!(
        u32::from_le_bytes(b),
        1,
        "the table lives in the added half"
    );
}

#[test]
fn pcie_capability_per_bus_and_hidden_extended_capabilities() {
    // Conventional bus: shown as the device has it, 256 bytes of config.
    let (fake, info) = msix_fake();
    let mut f = build_msix(fake, info, FunctionOptions::default());
    assert_eq!(r32(&mut f, 0x60) & 0xff, 0x10);
    assert_eq!(r32(&mut f, 0x100), u32::MAX, "no extended space on PCI");
    // Behind a bridge on a PCIe machine: hidden, MSI-X's next is 0.
    let mut f = on_bus(BusKind::PciUnderPcie);
    assert_eq!(r16(&mut f, 0x50) >> 8, 0, "PCIe capability skipped");
    // Root complex: an endpoint becomes an integrated endpoint without link.
    let mut f = on_bus(BusKind::PcieRoot);
    assert_eq!(r16(&mut f, 0x62) & 0xf0, 0x90);
    assert_eq!(r32(&mut f, 0x6c), 0);
    assert_eq!(r16(&mut f, 0x72), 0);
    // Extended list: SR-IOV is skipped, AER -> DSN.
    assert_eq!(r32(&mut f, 0x100), 0x0001 | 1 << 16 | 0x180 << 20);
    assert_eq!(r32(&mut f, 0x180), 0x0003 | 1 << 16);
    // Port: link status is emulated as the device negotiated it.
    let mut f = on_bus(BusKind::PciePort);
    assert_eq!(r16(&mut f, 0x62) & 0xf0, 0x00);
    assert_eq!(r16(&mut f, 0x72), 0x1011);
}

#[test]
fn resizable_bars_show_their_current_size_only() {
    // DSN at 0x180 becomes a Resizable BAR capability: one BAR (2) of
    // 16 MiB (size 4), the device supporting 1 MiB to 32 GiB, and the
    // control register's upper bits listing sizes too.
    let rebar = |size: u32| {
        move |c: &mut Vec<u8>| {
            c[0x180..0x184].copy_from_slice(&(0x0015u32 | 1 << 16).to_le_bytes());
            c[0x184..0x188].copy_from_slice(&0x07ff_fff0u32.to_le_bytes());
            let ctrl = 0xffff_0000 | size << 8 | 0x20 | 2;
            c[0x188..0x18c].copy_from_slice(&ctrl.to_le_bytes());
        }
    };
    let (fake, info) = msix_fake();
    let mut f = try_build(fake, Some(info), BusKind::PciePort, rebar(4)).unwrap();
    assert_eq!(r32(&mut f, 0x180), 0x0015 | 1 << 16, "kept, last");
    assert_eq!(r32(&mut f, 0x184), 1 << 8, "16 MiB alone");
    assert_eq!(r32(&mut f, 0x188), 0x0422);
    // Read-only: a resize does not reach the copy.
    w32(&mut f, 0x188, 0x0522);
    assert_eq!(r32(&mut f, 0x188), 0x0422);
    // A current size of 1 TiB is outside what the trick can show: hidden.
    let (fake, info) = msix_fake();
    let mut f = try_build(fake, Some(info), BusKind::PciePort, rebar(20)).unwrap();
    assert_eq!(r32(&mut f, 0x100), 0x0001 | 1 << 16, "AER, now last");
}

#[test]
fn hidden_head_of_the_extended_list_reads_as_id_zero() {
    let (fake, info) = msix_fake();
    {
        let mut c = fake.config.borrow_mut();
        c[0x100..0x104].copy_from_slice(&(0x0010u32 | 1 << 16 | 0x180 << 20).to_le_bytes());
    }
    let mut f = build_msix(
        fake,
        info,
        FunctionOptions {
            bus: BusKind::PciePort,
            ..Default::default()
        },
    );
    assert_eq!(r32(&mut f, 0x100), 0x180 << 20);
}

#[test]
fn rom_from_the_device_from_a_file_or_none() {
    let mut fake = Fake::new();
    fake.regions[6] = region(6, 0x8000, false);
    fake.bar_bytes.borrow_mut()[6][..2].copy_from_slice(&[0x55, 0xaa]);
    let mut f = build(fake, FunctionOptions::default());
    let rom = f.bar(ROM_BAR).unwrap();
    assert_eq!((rom.kind, rom.size), (BarKind::Rom, 0x8000));
    assert!(rom.areas.is_empty(), "the ROM is always trapped");
    w32(&mut f, 0x30, u32::MAX);
    assert_eq!(r32(&mut f, 0x30), 0xffff_8001);
    w32(&mut f, 0x30, 0xd000_0000);
    assert_eq!(w16(&mut f, 0x04, PCI_COMMAND_MEMORY), []);
    let ev = w32(&mut f, 0x30, 0xd000_0001);
    assert_eq!(
        ev,
        [Event::BarMoved {
            bar: ROM_BAR,
            old: None,
            new: Some(0xd000_0000)
        }]
    );
    let mut b = [0u8; 2];
    f.bar_read(ROM_BAR, 0, &mut b);
    assert_eq!(b, [0x55, 0xaa]);
    f.bar_write(ROM_BAR, 0, &[0, 0]);
    f.bar_read(ROM_BAR, 0, &mut b);
    assert_eq!(b, [0x55, 0xaa], "read-only");
    // romfile: its bytes in a BAR of romsize, all ones past the image.
    let mut fake = Fake::new();
    fake.regions[6] = region(6, 0x8000, false);
    let mut f = build(
        fake,
        FunctionOptions {
            rom: RomSource::File {
                image: vec![0x55, 0xaa, 0x01],
                size: 0x1000,
                bar: true,
            },
            ..Default::default()
        },
    );
    assert_eq!(f.bar(ROM_BAR).unwrap().size, 0x1000);
    let mut b = [0u8; 4];
    f.bar_read(ROM_BAR, 0, &mut b);
    assert_eq!(b, [0x55, 0xaa, 0x01, 0xff]);
    // rombar=0 with a file: no BAR, the image for the firmware.
    let f = build(
        Fake::new(),
        FunctionOptions {
            rom: RomSource::File {
                image: vec![1],
                size: 0x800,
                bar: false,
            },
            ..Default::default()
        },
    );
    assert!(f.bar(ROM_BAR).is_none());
    assert_eq!(f.rom_image(), Some(&[1u8][..]));
    // rombar=0 or romfile="": no ROM BAR, and the register reads 0.
    let mut fake = Fake::new();
    fake.regions[6] = region(6, 0x8000, false);
    let mut f = build(
        fake,
        FunctionOptions {
            rom: RomSource::None,
            ..Default::default()
        },
    );
    assert!(f.bar(ROM_BAR).is_none());
    w32(&mut f, 0x30, u32::MAX);
    assert_eq!(r32(&mut f, 0x30), 0);
}

#[test]
fn sparse_areas_and_x_no_mmap() {
    let mut fake = Fake::new();
    fake.regions[0].caps = vec![RegionCap::SparseMmap(vec![
        SparseArea {
            offset: 0x1000,
            size: 0x1000,
        },
        SparseArea {
            offset: 0x80000,
            size: 0x80000,
        },
    ])];
    let f = build(fake, FunctionOptions::default());
    let areas = mmap_areas(&f, 0);
    assert_eq!(areas, [(0x1000, 0x1000), (0x80000, 0x80000)]);
    let f = build(
        Fake::new(),
        FunctionOptions {
            no_mmap: true,
            ..Default::default()
        },
    );
    assert!(f.bar(0).unwrap().areas.is_empty());
    assert!(!f.host_calls().iter().any(|c| c.starts_with("mmap")));
}

#[test]
fn trapped_bar_accesses_reach_the_device() {
    let mut f = build(
        Fake::new(),
        FunctionOptions {
            no_mmap: true,
            ..Default::default()
        },
    );
    f.bar_write(0, 0x04, &0x1234_5678u32.to_le_bytes());
    let mut b = [0u8; 4];
    f.bar_read(0, 0x04, &mut b);
    assert_eq!(u32::from_le_bytes(b), 0x1234_5678);
    // Past the BAR, or a BAR that does not exist: all ones, nothing sent.
    f.bar_read(0, (1 << 20) - 2, &mut b);
    assert_eq!(b, [0xff; 4]);
    f.bar_read(3, 0, &mut b);
    assert_eq!(b, [0xff; 4]);
    assert!(f.bar_write(0, u64::MAX, &[1]).is_empty());
}

#[test]
fn config_accesses_out_of_range_or_misaligned_read_all_ones() {
    let mut f = build(Fake::new(), FunctionOptions::default());
    let mut b = [0u8; 4];
    f.config_read(0x100, &mut b);
    assert_eq!(b, [0xff; 4]);
    f.config_read(0x02, &mut b);
    assert_eq!(b, [0xff; 4]);
    let mut b3 = [0u8; 3];
    f.config_read(0, &mut b3);
    assert_eq!(b3, [0xff; 3]);
    assert!(f.config_write(0xfe, &[0; 4]).is_empty());
}

#[test]
fn a_failing_device_read_is_reported_in_qemus_words() {
    let mut fake = Fake::new();
    fake.fail_config_read = true;
    let mut f = build(fake, FunctionOptions::default());
    let want = ["vfio_pci_read_config(0000:00:01.0, 0x4, 0x2) failed: Bad address"];
    // Once while the function resets COMMAND for the guest, once now.
    assert_eq!(f.take_errors(), want);
    assert_eq!(r16(&mut f, 0x04), 0xffff);
    assert_eq!(f.take_errors(), want);
    // Fully emulated registers never reach the device.
    assert_eq!(r32(&mut f, 0x10), 0);
    assert!(f.take_errors().is_empty());
}

#[test]
fn guest_memory_is_mapped_at_its_guest_address_or_refused() {
    use vm_memory::{GuestAddress, GuestMemoryMmap};
    let mem = GuestMemoryMmap::<()>::from_ranges(&[
        (GuestAddress(0), 0x10000),
        (GuestAddress(0x100000), 0x20000),
    ])
    .unwrap();
    let mut f = build(Fake::new(), FunctionOptions::default());
    f.map_guest_memory(&mem).unwrap();
    assert_eq!(f.dma_regions(), [(0, 0x10000), (0x100000, 0x20000)]);
    // The memory map grew: only the new region is mapped.
    let grown = GuestMemoryMmap::<()>::from_ranges(&[
        (GuestAddress(0), 0x10000),
        (GuestAddress(0x100000), 0x20000),
        (GuestAddress(0x400000), 0x1000),
    ])
    .unwrap();
    f.map_guest_memory(&grown).unwrap();
    let maps: Vec<_> = f
        .host_calls()
        .into_iter()
        .filter(|c| c.starts_with("map "))
        .collect();
    assert_eq!(
        maps,
        [
            "map 0x0 0x10000",
            "map 0x100000 0x20000",
            "map 0x400000 0x1000"
        ]
    );
    f.unmap_guest_region(0x400000, 0x1000).unwrap();
    f.unmap_guest_region(0x100000, 0x20000).unwrap();
    assert_eq!(
        f.unmap_guest_region(0x100000, 0x20000)
            .unwrap_err()
            .to_string(),
        "vfio 0000:00:01.0: no DMA mapping of 0x20000 bytes at 0x100000"
    );
    // All or nothing: the second region fails, the first is unmapped.
    let far = GuestMemoryMmap::<()>::from_ranges(&[
        (GuestAddress(0x200000), 0x1000),
        (GuestAddress(1 << 40), 0x1000),
    ])
    .unwrap();
    let e = f.map_guest_memory(&far).unwrap_err().to_string();
    assert!(
        e.starts_with("vfio_container_dma_map(0x10000000000, 0x1000, 0x")
            && e.ends_with(") = -34 (Numerical result out of range)"),
        "{e}"
    );
    assert_eq!(f.host_calls().last().unwrap(), "unmap 0x200000 0x1000");
    assert_eq!(f.dma_regions(), [(0, 0x10000)]);
    // No-IOMMU mode is refused.
    let mut fake = Fake::new();
    fake.translated = false;
    let mut f = build(fake, FunctionOptions::default());
    let e = f.map_guest_memory(&mem).unwrap_err();
    assert_eq!(
        e.to_string(),
        "vfio 0000:00:01.0: guest memory cannot be mapped for DMA in no-IOMMU mode"
    );
    assert!(f.dma_regions().is_empty());
}

/// Builds over `fake` with its config space changed by `poke`.
fn try_build(
    fake: Fake,
    msix: Option<MsixInfo>,
    bus: BusKind,
    poke: impl FnOnce(&mut Vec<u8>),
) -> Result<PciFunction> {
    poke(&mut fake.config.borrow_mut());
    let mut l = layout(&fake);
    l.msix = msix;
    PciFunction::new(
        Box::new(fake),
        &l,
        FunctionOptions {
            bus,
            ..Default::default()
        },
    )
}

/// The message of a build on the conventional bus that [`try_build`] expects to fail.
fn build_error(fake: Fake, msix: Option<MsixInfo>, poke: impl FnOnce(&mut Vec<u8>)) -> String {
    match try_build(fake, msix, BusKind::Pci, poke) {
        Ok(_) => panic!("the build succeeded"),
        Err(e) => e.message().to_owned(),
    }
}

#[test]
fn msi_msix_and_pm_capabilities_that_do_not_fit_are_refused() {
    // MSI at 0xf8, 64-bit with per-vector masks: 0x18 bytes, 8 of room.
    assert_eq!(
        build_error(Fake::new(), None, |c| {
            c[0x34] = 0xf8;
            c[0xf8] = 0x05;
            c[0xf9] = 0;
            c[0xfa..0xfc].copy_from_slice(&0x0180u16.to_le_bytes());
        }),
        "failed to add PCI capability 0x5[0x8]@0xf8: it needs 0x18 bytes"
    );
    // MSI at 0x40 running into the next capability at 0x48 (pci_add_capability's overlap).
    assert_eq!(
        build_error(Fake::new(), None, |c| {
            c[0x41] = 0x48;
            c[0x42] = 0x80;
            c[0x48] = 0x01;
        }),
        "failed to add PCI capability 0x5[0x8]@0x40: it needs 0xe bytes"
    );
    // Capability `id` second and last, at 0xfc: 4 bytes of room.
    let at_0xfc = |fake, msix, id| {
        build_error(fake, msix, |c| {
            c[0x41] = 0xfc;
            c[0xfc] = id;
            c[0xfd] = 0;
        })
    };
    // MSI-X: its 12 bytes run past the header.
    let (fake, info) = msix_fake();
    assert_eq!(
        at_0xfc(fake, Some(info), 0x11),
        "failed to add PCI capability 0x11[0x4]@0xfc: it needs 0xc bytes"
    );
    // PM: pci_pm_init adds PCI_PM_SIZEOF, 8 bytes.
    assert_eq!(
        at_0xfc(Fake::new(), None, 0x01),
        "failed to add PCI capability 0x1[0x4]@0xfc: it needs 0x8 bytes"
    );
    // MSI-X without vectors (msix_init).
    let (fake, info) = msix_fake();
    let info = MsixInfo { entries: 0, ..info };
    assert_eq!(
        build_error(fake, Some(info), |_| {}),
        "failed to add PCI capability 0x11[0x10]@0x50: The number of MSI-X vectors is invalid"
    );
}

#[test]
fn pcie_capability_near_the_end_of_the_header_emulates_what_fits() {
    // An integrated endpoint at 0xfc made an endpoint under a port: the
    // link registers QEMU makes up lie past the capability.
    let mut f = try_build(Fake::new(), None, BusKind::PciePort, |c| {
        c[0x41] = 0xfc;
        c[0xfc] = 0x10;
        c[0xfd] = 0;
        c[0xfe..0x100].copy_from_slice(&0x0092u16.to_le_bytes());
    })
    .unwrap();
    assert_eq!(r16(&mut f, 0xfe) & 0xf0, 0x00);
    // An endpoint at 0xd0 on the root complex: LNKCAP2 fits, LNKCTL2 and
    // LNKSTA2 (0x30..0x34) do not.
    let mut f = try_build(Fake::new(), None, BusKind::PcieRoot, |c| {
        c[0x41] = 0xd0;
        c[0xd0] = 0x10;
        c[0xd1] = 0;
        c[0xd2..0xd4].copy_from_slice(&0x0002u16.to_le_bytes());
        c[0xd0 + 44..0xd0 + 48].copy_from_slice(&0x1234u32.to_le_bytes());
    })
    .unwrap();
    assert_eq!(r16(&mut f, 0xd2) & 0xf0, 0x90);
    assert_eq!(r32(&mut f, 0xd0 + 44), 0);
}

impl PciFunction {
    /// What the host was asked since the newest `Fake` was made.
    fn host_calls(&self) -> Vec<String> {
        CALLS.with(|c| c.borrow().clone())
    }
}

mod fuzz {
    //! Whatever the device's config space and the guest's accesses, the
    //! function never panics.
    use proptest::prelude::*;

    use super::*;

    /// Config bytes with capability lists that point anywhere, BAR
    /// registers of any type, and the header's interesting bytes set.
    fn config_space() -> impl Strategy<Value = Vec<u8>> {
        (
            prop::bool::ANY,
            prop::collection::vec(any::<u8>(), 256),
            prop::collection::vec(
                (
                    0x40usize..0x100,
                    prop_oneof![Just(1u8), Just(5), Just(0x10), Just(0x11), any::<u8>()],
                    any::<u16>(),
                ),
                0..8,
            ),
            prop::collection::vec((0x100usize..0x1000, any::<u32>()), 0..8),
            any::<u8>(),
        )
            .prop_map(|(pcie, base, caps, ext, last)| {
                let mut c = base;
                c[0x06] |= 0x10;
                // A chain of capabilities in the order drawn, the last one
                // pointing anywhere.
                let mut prev = 0x34;
                for (pos, id, flags) in caps {
                    let pos = pos & !3;
                    c[prev] = pos as u8;
                    c[pos] = id;
                    c[pos + 2..pos + 4].copy_from_slice(&flags.to_le_bytes());
                    prev = pos + 1;
                }
                c[prev] = last;
                if pcie {
                    c.resize(4096, 0);
                    let mut prev = 0x100usize;
                    for (at, v) in ext {
                        let at = at & !3;
                        c[at..at + 4].copy_from_slice(&v.to_le_bytes());
                        if prev != at {
                            let h = u32::from_le_bytes(c[prev..prev + 4].try_into().unwrap());
                            let h = (h & 0xfffff) | (at as u32) << 20;
                            c[prev..prev + 4].copy_from_slice(&h.to_le_bytes());
                        }
                        prev = at;
                    }
                }
                c
            })
    }

    fn msix_info() -> impl Strategy<Value = Option<MsixInfo>> {
        prop::option::of(
            (
                0u16..=2048,
                0u8..8,
                0u64..0x20_0000,
                0u8..8,
                0u64..0x20_0000,
                any::<bool>(),
            )
                .prop_map(|(entries, tb, to, pb, po, relocated)| MsixInfo {
                    entries,
                    table_bar: tb,
                    table_offset: to & !7,
                    pba_bar: pb,
                    pba_offset: po & !7,
                    noresize: false,
                    relocated,
                }),
        )
    }

    fn bus() -> impl Strategy<Value = BusKind> {
        prop_oneof![
            Just(BusKind::Pci),
            Just(BusKind::PciUnderPcie),
            Just(BusKind::PcieRoot),
            Just(BusKind::PciePort),
        ]
    }

    #[derive(Debug, Clone)]
    enum Access {
        ConfigRead(u16, usize),
        ConfigWrite(u16, Vec<u8>),
        BarRead(u8, u64, usize),
        BarWrite(u8, u64, Vec<u8>),
    }

    fn offset() -> impl Strategy<Value = u64> {
        prop_oneof![
            0u64..0x10_0000,
            any::<u64>(),
            (0u64..16).prop_map(|d| u64::MAX - d),
        ]
    }

    fn access() -> impl Strategy<Value = Access> {
        prop_oneof![
            (any::<u16>(), 0usize..9).prop_map(|(o, l)| Access::ConfigRead(o, l)),
            (0u16..0x1010, 0usize..9).prop_map(|(o, l)| Access::ConfigRead(o, l)),
            (any::<u16>(), prop::collection::vec(any::<u8>(), 0..9))
                .prop_map(|(o, d)| Access::ConfigWrite(o, d)),
            (0u16..0x100, prop::collection::vec(any::<u8>(), 0..9))
                .prop_map(|(o, d)| Access::ConfigWrite(o, d)),
            (0u8..9, offset(), 0usize..10).prop_map(|(b, o, l)| Access::BarRead(b, o, l)),
            (0u8..9, offset(), prop::collection::vec(any::<u8>(), 0..10))
                .prop_map(|(b, o, d)| Access::BarWrite(b, o, d)),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        #[test]
        fn no_guest_access_panics(
            config in config_space(),
            sizes in prop::collection::vec(prop::option::of(4u32..=20), 7),
            msix in msix_info(),
            bus in bus(),
            msix_irqs in 0u32..4096,
            accesses in prop::collection::vec(access(), 0..64),
        ) {
            let mut fake = Fake::new();
            let big = config.len() == 4096;
            *fake.config.borrow_mut() = config;
            for (i, s) in sizes.iter().enumerate() {
                fake.regions[i] = region(i as u32, s.map_or(0, |s| 1 << s), i != 6);
            }
            fake.regions[7] = region(CONFIG, if big { 4096 } else { 256 }, false);
            fake.irqs = vec![1, 1, msix_irqs, 0, 0];
            let mut l = layout(&fake);
            if let Some(m) = msix {
                l.msix = Some(m);
            }
            let Ok(mut f) = PciFunction::new(Box::new(fake), &l, FunctionOptions {
                bus,
                ..Default::default()
            }) else {
                return Ok(());
            };
            for a in accesses {
                match a {
                    Access::ConfigRead(o, l) => f.config_read(o, &mut vec![0; l]),
                    Access::ConfigWrite(o, d) => drop(f.config_write(o, &d)),
                    Access::BarRead(b, o, l) => f.bar_read(b, o, &mut vec![0; l]),
                    Access::BarWrite(b, o, d) => drop(f.bar_write(b, o, &d)),
                }
            }
        }
    }
}

#[test]
fn pcie_capability_version_0_reads_as_1() {
    // Intel 82599 VFs (Niantic erratum #35): QEMU's vfio_setup_pcie_cap
    // reports version 1, wherever the capability is shown.
    for bus in [BusKind::Pci, BusKind::PcieRoot, BusKind::PciePort] {
        let (fake, info) = msix_fake();
        let mut f = try_build(fake, Some(info), bus, |c| {
            c[0x62..0x64].copy_from_slice(&0x0000u16.to_le_bytes());
        })
        .unwrap();
        assert_eq!(r16(&mut f, 0x62) & 0xf, 1, "{bus:?}");
    }
    // A version the device reports is left alone.
    let mut f = on_bus(BusKind::PcieRoot);
    assert_eq!(r16(&mut f, 0x62) & 0xf, 2);
}

#[test]
fn kernel_masked_extended_capabilities_are_dropped() {
    // The kernel hides some extended capabilities as ID 0; QEMU's
    // vfio_add_ext_cap drops them like SR-IOV: AER -> (0) -> DSN.
    let (fake, info) = msix_fake();
    let mut f = try_build(fake, Some(info), BusKind::PciePort, |c| {
        c[0x140..0x144].copy_from_slice(&(1u32 << 16 | 0x180 << 20).to_le_bytes());
    })
    .unwrap();
    assert_eq!(r32(&mut f, 0x100), 0x0001 | 1 << 16 | 0x180 << 20);
}

#[test]
fn msi_qsize_past_the_capable_count_is_clamped_on_enable() {
    // QEMU's msi_write_config: with MSI enabled, a QSIZE above QMASK is
    // clamped in config space, and the guest reads the clamped value.
    let fake = Fake::new();
    fake.config.borrow_mut()[0x42] = 0x84; // 64-bit, 4 vectors capable
    let mut f = build(fake, FunctionOptions::default());
    // Disabled: written as is.
    w16(&mut f, 0x42, 0x84 | 0x50);
    assert_eq!(r16(&mut f, 0x42), 0xd4);
    // Enabled with 32 asked: 4.
    w16(&mut f, 0x42, 0x84 | 0x50 | 1);
    assert_eq!(r16(&mut f, 0x42), 0x84 | 0x20 | 1);
    assert_eq!(f.vectors().len(), 4);
}

#[test]
fn device_rom_takes_the_guest_visible_device_id() {
    // QEMU's vfio_pci_load_rom: a ROM whose PCIR vendor is the function's
    // but whose device ID is not gets the function's device ID
    // (x-pci-device-id) and its checksum recomputed.
    let mut fake = Fake::new();
    fake.regions[6] = region(6, 0x200, false);
    {
        let mut b = fake.bar_bytes.borrow_mut();
        let rom = &mut b[6];
        rom[..2].copy_from_slice(&[0x55, 0xaa]);
        rom[2] = 1;
        rom[0x18..0x1a].copy_from_slice(&0x40u16.to_le_bytes());
        rom[0x40..0x44].copy_from_slice(b"PCIR");
        rom[0x44..0x48].copy_from_slice(&[0x34, 0x12, 0xe8, 0x11]);
        rom[0x100..0x200].fill(0xff);
    }
    let mut f = build(
        fake,
        FunctionOptions {
            device_id: Some(0xbeef),
            ..Default::default()
        },
    );
    let mut rom = vec![0u8; 0x200];
    f.bar_read(ROM_BAR, 0, &mut rom);
    assert_eq!(&rom[0x44..0x48], &[0x34, 0x12, 0xef, 0xbe]);
    let sum = rom.iter().fold(0u8, |s, &b| s.wrapping_add(b));
    assert_eq!(sum, 0, "checksum recomputed");
    // Another vendor's ROM is left alone.
    let mut fake = Fake::new();
    fake.regions[6] = region(6, 0x200, false);
    {
        let mut b = fake.bar_bytes.borrow_mut();
        let rom = &mut b[6];
        rom[..2].copy_from_slice(&[0x55, 0xaa]);
        rom[0x18..0x1a].copy_from_slice(&0x40u16.to_le_bytes());
        rom[0x40..0x48].copy_from_slice(b"PCIR\x86\x80\xe8\x11");
    }
    let mut f = build(
        fake,
        FunctionOptions {
            device_id: Some(0xbeef),
            ..Default::default()
        },
    );
    let mut b = [0u8; 4];
    f.bar_read(ROM_BAR, 0x44, &mut b);
    assert_eq!(b, [0x86, 0x80, 0xe8, 0x11]);
}
