//! The VMM: a KVM VM with an in-kernel irqchip, guest RAM, one vCPU in
//! 32-bit flat protected mode, a PCI host bridge (configuration mechanism
//! #1) with one assigned function, its BARs as KVM memory slots or trapped,
//! and its MSI vectors routed to the guest.
//!
//! Everything the VMM needs from the device goes through qomgen's
//! guest-facing function, [`PciFunction`]: config accesses of the slot,
//! trapped BAR accesses, the areas to map, the vectors to route, and guest
//! RAM mapped for DMA.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use kvm_bindings::{
    KVM_IRQ_ROUTING_MSI, kvm_dtable, kvm_irq_routing_entry, kvm_irq_routing_msi, kvm_msi,
    kvm_segment, kvm_userspace_memory_region,
};
use kvm_ioctls::{Kvm, VcpuExit, VcpuFd, VmFd};
use vm_memory::{
    Bytes, GuestAddress, GuestMemoryBackend, GuestMemoryMmap, GuestMemoryRegion,
    MemoryRegionAddress,
};
use vmm_sys_util::eventfd::EventFd;

use crate::guest::{self, Step};
use qomgen_devices::guest::pci::{Event, MsiMessage, PciFunction, Route, Space};

/// Guest RAM: 2 MiB at GPA 0 (program, stack, DMA buffers all inside, and
/// below edu's 28-bit DMA mask).
pub const RAM_SIZE: usize = 2 << 20;
/// The slot (bus 0) the assigned function appears at.
pub const ASSIGNED_SLOT: u8 = 3;
/// KVM memory slot of guest RAM; BAR areas use slots from 1 up.
const RAM_SLOT: u32 = 0;
/// First GSI of MSI routes (past the 24 IOAPIC pins).
const MSI_GSI_BASE: u32 = 24;
/// Host-side limit of a guest run (the guest's own watchdog fires first).
const RUN_TIMEOUT: Duration = Duration::from_secs(30);

/// One transcript, printed as it is made.
#[derive(Debug, Default)]
pub struct Transcript {
    /// Every line, in order.
    pub lines: Vec<String>,
}

impl Transcript {
    /// Prints and records a line.
    pub fn line(&mut self, s: impl Into<String>) {
        let s = s.into();
        println!("{s}");
        self.lines.push(s);
    }
}

/// Outcome of a guest run.
#[derive(Debug)]
pub struct RunReport {
    /// Steps the guest reported ok, in order.
    pub steps_ok: Vec<Step>,
    /// Time to create the VM and vCPU and map memory.
    pub setup: Duration,
    /// Time from the first KVM_RUN to the done report.
    pub run: Duration,
    /// KVM exits handled.
    pub exits: u64,
    /// MSIs injected from userspace (userspace route only).
    pub injected: u64,
    /// The MSI delivery measurement of [`Step::MsiLatency`].
    pub msi: MsiLatency,
}

/// MSI delivery from the device to the guest's handler: per round, TSC
/// ticks from before the guest's write to edu's raise-interrupt register
/// to the handler's first instruction.
#[derive(Debug, Clone, Default)]
pub struct MsiLatency {
    /// One sample per round, in TSC ticks, in the order taken.
    pub ticks: Vec<u32>,
    /// The vCPU's TSC frequency (`KVM_GET_TSC_KHZ`), if KVM told it.
    pub tsc_khz: Option<u32>,
    /// How the vector reached the guest: "irqfd" or "userspace".
    pub route: &'static str,
}

impl MsiLatency {
    /// Minimum, median (mean of the middle two for an even count) and
    /// maximum in TSC ticks; `None` without samples.
    pub fn stats_ticks(&self) -> Option<(f64, f64, f64)> {
        let mut t = self.ticks.clone();
        t.sort_unstable();
        let n = t.len();
        let (first, last) = (*t.first()?, *t.last()?);
        let median = if n % 2 == 1 {
            f64::from(t[n / 2])
        } else {
            (f64::from(t[n / 2 - 1]) + f64::from(t[n / 2])) / 2.0
        };
        Some((f64::from(first), median, f64::from(last)))
    }

    /// The transcript line.
    pub fn summary(&self) -> String {
        let n = self.ticks.len();
        let Some((min, med, max)) = self.stats_ticks() else {
            return format!(
                "vmm: MSI device -> guest handler: not measured (0 rounds, {})",
                self.route
            );
        };
        match self.tsc_khz {
            Some(khz) if khz > 0 => {
                let us = |ticks: f64| ticks * 1e3 / f64::from(khz);
                format!(
                    "vmm: MSI device -> guest handler: min {:.1} us, median {:.1} us, max {:.1} us over {n} rounds ({}; TSC {} kHz)",
                    us(min),
                    us(med),
                    us(max),
                    self.route,
                    khz
                )
            }
            _ => format!(
                "vmm: MSI device -> guest handler: min {min:.0}, median {med:.0}, max {max:.0} TSC ticks over {n} rounds ({}; TSC frequency unknown)",
                self.route
            ),
        }
    }
}

/// Allocates guest RAM.
///
/// # Errors
/// The allocation failing.
pub fn guest_memory() -> Result<GuestMemoryMmap, String> {
    GuestMemoryMmap::from_ranges(&[(GuestAddress(0), RAM_SIZE)])
        .map_err(|e| format!("allocating {RAM_SIZE:#x} bytes of guest RAM: {e}"))
}

/// Configuration mechanism #1 (PCI Local Bus spec 3.2.2.3.2) on bus 0.
struct PciHost {
    /// The CONFIG_ADDRESS latch (0xCF8).
    address: u32,
}

/// Config space of the host bridge at slot 0: a read-only i440FX-like
/// header (vendor 8086, device 1237, class 0600), as QEMU's pc machine has.
fn host_bridge_config(offset: usize) -> u8 {
    const HDR: [u8; 16] = [
        0x86, 0x80, 0x37, 0x12, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x06, 0x00, 0x00, 0x00,
        0x00,
    ];
    HDR.get(offset).copied().unwrap_or(0)
}

/// What the CONFIG_ADDRESS latch selects for a data access at
/// `0xCFC + byte` of `len` bytes.
enum Target {
    /// Nothing answers (all-ones reads, writes dropped).
    None,
    /// The host bridge, at this offset.
    Bridge(usize),
    /// The assigned function, at this offset.
    Function(u16),
}

impl PciHost {
    fn target(&self, byte: u16, len: usize) -> Target {
        let a = self.address;
        // Enable bit clear, or an access crossing the data dword.
        if a & 0x8000_0000 == 0 || usize::from(byte) + len > 4 {
            return Target::None;
        }
        let bus = (a >> 16) & 0xff;
        let slot = ((a >> 11) & 0x1f) as u8;
        let func = (a >> 8) & 0x7;
        let reg = (a & 0xfc) as u16 + byte;
        match (bus, slot, func) {
            (0, 0, 0) => Target::Bridge(usize::from(reg)),
            (0, s, 0) if s == ASSIGNED_SLOT => Target::Function(reg),
            _ => Target::None,
        }
    }
}

/// The VMM state the exit handlers use (the vCPU is kept apart so its run
/// borrow does not cover this).
struct Machine<'d, 'v> {
    vm: &'v VmFd,
    dev: &'d mut PciFunction,
    pci: PciHost,
    /// KVM slots of each BAR's mapped areas.
    bar_slots: BTreeMap<u8, Vec<u32>>,
    next_slot: u32,
    free_slots: Vec<u32>,
    /// Irqfds registered: a duplicate of each eventfd and its GSI.
    irqfds: Vec<(EventFd, u32)>,
    /// Vectors delivered from userspace, shared with the injector thread.
    userspace: Arc<Mutex<Vec<(EventFd, MsiMessage)>>>,
    step_value: u32,
    steps_ok: Vec<Step>,
    msi: MsiLatency,
    finished: Option<Result<(), String>>,
    t: &'v mut Transcript,
}

impl Machine<'_, '_> {
    fn apply(&mut self, events: Vec<Event>) -> Result<(), String> {
        for e in events {
            match e {
                Event::BarMoved { bar, old, new } => self.move_bar(bar, old, new)?,
                Event::VectorsChanged => self.route_vectors()?,
                Event::IntxChanged => {}
            }
        }
        Ok(())
    }

    /// Removes BAR `bar`'s KVM slots and, when it decodes at `new`, maps
    /// its areas there; the rest of the BAR stays trapped.
    fn move_bar(&mut self, bar: u8, old: Option<u64>, new: Option<u64>) -> Result<(), String> {
        for slot in self.bar_slots.remove(&bar).unwrap_or_default() {
            let region = kvm_userspace_memory_region {
                slot,
                ..Default::default()
            };
            // SAFETY: memory_size 0 deletes the slot; no host memory is
            // referenced.
            unsafe { self.vm.set_user_memory_region(region) }
                .map_err(|e| format!("removing KVM slot {slot} of BAR{bar}: {e}"))?;
            self.free_slots.push(slot);
        }
        let fmt = |a: Option<u64>| a.map_or("-".to_owned(), |a| format!("{a:#x}"));
        let Some(base) = new else {
            self.t
                .line(format!("vmm: BAR{bar} {} -> unmapped", fmt(old)));
            return Ok(());
        };
        let Some(b) = self.dev.bar(bar) else {
            return Err(format!("device moved BAR{bar}, which it does not list"));
        };
        let size = b.size;
        let areas: Vec<(u64, u64, *mut u8)> =
            b.areas.iter().map(|a| (a.offset, a.len, a.host)).collect();
        let mut slots = Vec::new();
        for &(offset, len, host) in &areas {
            let slot = self.free_slots.pop().unwrap_or_else(|| {
                self.next_slot += 1;
                self.next_slot
            });
            let region = kvm_userspace_memory_region {
                slot,
                flags: 0,
                guest_phys_addr: base + offset,
                memory_size: len,
                userspace_addr: host as u64,
            };
            // SAFETY: `area.host..+len` is the device's BAR mapping, which
            // stays mapped while the function is realized; the function
            // outlives the VM (the VM is dropped at the end of `run`). KVM
            // only accesses it on behalf of the guest.
            unsafe { self.vm.set_user_memory_region(region) }.map_err(|e| {
                format!(
                    "KVM slot {slot} for BAR{bar} area {:#x}+{:#x} at {:#x}: {e}",
                    offset,
                    len,
                    base + offset
                )
            })?;
            slots.push(slot);
        }
        let mapped: u64 = areas.iter().map(|a| a.1).sum();
        self.t.line(format!(
            "vmm: BAR{bar} {} -> {base:#x} ({:#x} bytes): {:#x} bytes as KVM slot(s) {slots:?}, {:#x} trapped",
            fmt(old),
            size,
            mapped,
            size.saturating_sub(mapped)
        ));
        self.bar_slots.insert(bar, slots);
        Ok(())
    }

    /// Re-routes every vector: irqfd vectors as MSI routes
    /// (KVM_SET_GSI_ROUTING replaces the whole table) + KVM_IRQFD, the
    /// others to the userspace injector.
    fn route_vectors(&mut self) -> Result<(), String> {
        for (fd, gsi) in self.irqfds.drain(..) {
            self.vm
                .unregister_irqfd(&fd, gsi)
                .map_err(|e| format!("KVM_IRQFD deassign gsi {gsi}: {e}"))?;
        }
        let mut entries = Vec::new();
        let mut user = Vec::new();
        let mut desc = Vec::new();
        for v in self.dev.vectors() {
            if v.masked {
                desc.push(format!("vector {} masked", v.index));
                continue;
            }
            let fd = v
                .eventfd()
                .try_clone()
                .map_err(|e| format!("duplicating the eventfd of vector {}: {e}", v.index))?;
            match v.route {
                Route::Irqfd => {
                    if v.index == 0 {
                        self.msi.route = "irqfd";
                    }
                    let gsi = MSI_GSI_BASE + u32::from(v.index);
                    let mut e = kvm_irq_routing_entry {
                        gsi,
                        type_: KVM_IRQ_ROUTING_MSI,
                        ..Default::default()
                    };
                    e.u.msi = kvm_irq_routing_msi {
                        address_lo: v.message.address as u32,
                        address_hi: (v.message.address >> 32) as u32,
                        data: v.message.data,
                        ..Default::default()
                    };
                    entries.push(e);
                    self.irqfds.push((fd, gsi));
                    desc.push(format!(
                        "vector {} -> KVM_IRQFD gsi {gsi}, MSI route address {:#x} data {:#x}",
                        v.index, v.message.address, v.message.data
                    ));
                }
                Route::Userspace => {
                    if v.index == 0 {
                        self.msi.route = "userspace";
                    }
                    user.push((fd, v.message));
                    desc.push(format!(
                        "vector {} -> userspace, KVM_SIGNAL_MSI address {:#x} data {:#x}",
                        v.index, v.message.address, v.message.data
                    ));
                }
            }
        }
        let routing = kvm_bindings::KvmIrqRouting::from_entries(&entries)
            .map_err(|e| format!("routing table: {e:?}"))?;
        self.vm
            .set_gsi_routing(&routing)
            .map_err(|e| format!("KVM_SET_GSI_ROUTING: {e}"))?;
        for (fd, gsi) in &self.irqfds {
            self.vm
                .register_irqfd(fd, *gsi)
                .map_err(|e| format!("KVM_IRQFD gsi {gsi}: {e}"))?;
        }
        *self.userspace.lock().map_err(|_| "injector panicked")? = user;
        if desc.is_empty() {
            desc.push("none".to_owned());
        }
        self.t
            .line(format!("vmm: MSI vectors: {}", desc.join("; ")));
        Ok(())
    }

    fn io_out(&mut self, port: u16, data: &[u8]) -> Result<(), String> {
        match port {
            0xcf8 if data.len() == 4 => {
                self.pci.address = u32::from_le_bytes(data.try_into().unwrap_or([0xff; 4]));
            }
            0xcfc..=0xcff => match self.pci.target(port - 0xcfc, data.len()) {
                Target::Function(off) => {
                    let ev = self.dev.config_write(off, data);
                    self.apply(ev)?;
                }
                Target::Bridge(_) | Target::None => {}
            },
            guest::PORT_VALUE if data.len() == 4 => {
                self.step_value = u32::from_le_bytes(data.try_into().unwrap_or([0; 4]));
            }
            guest::PORT_SAMPLE if data.len() == 4 => {
                self.msi
                    .ticks
                    .push(u32::from_le_bytes(data.try_into().unwrap_or([0xff; 4])));
            }
            guest::PORT_STEP if data.len() == 4 => {
                let code = u32::from_le_bytes(data.try_into().unwrap_or([0; 4]));
                self.step(code);
            }
            _ => {
                if let Some((bar, off)) = self.dev.bar_at(u64::from(port), Space::Io) {
                    let ev = self.dev.bar_write(bar, off, data);
                    self.apply(ev)?;
                }
            }
        }
        Ok(())
    }

    fn io_in(&mut self, port: u16, data: &mut [u8]) {
        data.fill(0xff);
        match port {
            0xcf8 if data.len() == 4 => data.copy_from_slice(&self.pci.address.to_le_bytes()),
            0xcfc..=0xcff => match self.pci.target(port - 0xcfc, data.len()) {
                Target::Function(off) => self.dev.config_read(off, data),
                Target::Bridge(off) => {
                    for (i, b) in data.iter_mut().enumerate() {
                        *b = host_bridge_config(off + i);
                    }
                }
                Target::None => {}
            },
            _ => {
                if let Some((bar, off)) = self.dev.bar_at(u64::from(port), Space::Io) {
                    self.dev.bar_read(bar, off, data);
                }
            }
        }
    }

    fn mmio_read(&mut self, addr: u64, data: &mut [u8]) {
        match self.dev.bar_at(addr, Space::Memory) {
            Some((bar, off)) => self.dev.bar_read(bar, off, data),
            None => data.fill(0xff),
        }
    }

    fn mmio_write(&mut self, addr: u64, data: &[u8]) -> Result<(), String> {
        if let Some((bar, off)) = self.dev.bar_at(addr, Space::Memory) {
            let ev = self.dev.bar_write(bar, off, data);
            self.apply(ev)?;
        }
        Ok(())
    }

    /// A step report from the guest.
    fn step(&mut self, code: u32) {
        let failed = code & 0x100 != 0;
        let v = self.step_value;
        let Some(step) = Step::from_code(code as u8) else {
            self.t
                .line(format!("step ?: unknown report {code:#x} value {v:#x}"));
            self.finished = Some(Err(format!("guest reported unknown step {code:#x}")));
            return;
        };
        let n = step as u8;
        let what = match step {
            Step::Scan => format!("scanned bus 0: 1234:11e8 at slot {v}"),
            Step::BarSize => format!("BAR0 sized: {v:#x} bytes"),
            Step::BarProgram => format!("BAR0 programmed at {v:#x}"),
            Step::Command => format!("COMMAND memory+master enabled: {v:#06x}"),
            Step::Id => format!("id register: {v:#010x}"),
            Step::Liveness => format!("liveness: wrote 0x12345678, read {v:#010x}"),
            Step::Factorial => format!("factorial of 10: {v}"),
            Step::MsiCap => format!("MSI capability at {v:#x}"),
            Step::MsiEnable => format!(
                "MSI address {:#x} data {:#x} enabled: control {v:#06x}",
                0xfee0_0000u32,
                guest::MSI_VECTOR
            ),
            Step::DmaToDevice => format!("DMA {v} bytes RAM {:#x} -> edu", guest::DMA_SRC),
            Step::DmaFromDevice => {
                format!(
                    "DMA {v} bytes edu -> RAM {:#x} (interrupt on completion)",
                    guest::DMA_DST
                )
            }
            Step::Compare => format!("buffers compared: {v} bytes equal"),
            Step::Interrupt => format!(
                "MSI vector {:#x} handled: status {v:#x}, acked, EOI",
                guest::MSI_VECTOR
            ),
            Step::MsiLatency => format!(
                "MSI delivery: {v} rounds of raise-interrupt (0x60) -> handler, status 0x1 acked, EOI"
            ),
            Step::Done => "done".to_owned(),
        };
        // Every round sends one sample before the step's report.
        let short = step == Step::MsiLatency && self.msi.ticks.len() != v as usize;
        if failed || short {
            let why = if short {
                format!("{v} rounds, but {} samples", self.msi.ticks.len())
            } else if v == 0xdead {
                "timed out (guest watchdog)".to_owned()
            } else {
                format!("value {v:#x}")
            };
            self.t.line(format!("step {n}: {step:?} ... FAILED: {why}"));
            self.finished = Some(Err(format!("guest step {n} ({step:?}) failed: {why}")));
        } else {
            self.t.line(format!("step {n}: {what} ... ok"));
            self.steps_ok.push(step);
            if step == Step::MsiLatency {
                let line = self.msi.summary();
                self.t.line(line);
            }
            if step == Step::Done {
                self.finished = Some(Ok(()));
            }
        }
    }
}

/// Sets up the vCPU: 32-bit flat protected mode at [`guest::CODE`].
fn setup_vcpu(vcpu: &VcpuFd) -> Result<(), String> {
    let mut s = vcpu
        .get_sregs()
        .map_err(|e| format!("KVM_GET_SREGS: {e}"))?;
    let code = kvm_segment {
        base: 0,
        limit: 0xffff_ffff,
        selector: 0x08,
        type_: 0xb, // execute/read, accessed
        present: 1,
        dpl: 0,
        db: 1,
        s: 1,
        l: 0,
        g: 1,
        avl: 0,
        unusable: 0,
        padding: 0,
    };
    let data = kvm_segment {
        selector: 0x10,
        type_: 0x3, // read/write, accessed
        ..code
    };
    s.cs = code;
    s.ds = data;
    s.es = data;
    s.fs = data;
    s.gs = data;
    s.ss = data;
    s.gdt = kvm_dtable {
        base: guest::GDT,
        limit: 3 * 8 - 1,
        ..Default::default()
    };
    s.cr0 = (s.cr0 | 0x1) & !0x8000_0000; // PE, no paging
    s.cr4 = 0;
    s.efer = 0;
    vcpu.set_sregs(&s)
        .map_err(|e| format!("KVM_SET_SREGS: {e}"))?;
    let regs = kvm_bindings::kvm_regs {
        rip: guest::CODE,
        rsp: u64::from(guest::STACK_TOP),
        rflags: 0x2,
        ..Default::default()
    };
    vcpu.set_regs(&regs)
        .map_err(|e| format!("KVM_SET_REGS: {e}"))
}

/// A no-op handler: the signal only makes KVM_RUN return EINTR.
extern "C" fn kick_handler(_: libc::c_int, _: *mut libc::siginfo_t, _: *mut libc::c_void) {}

/// Boots the guest program with `dev` assigned at bus 0 slot
/// [`ASSIGNED_SLOT`] and `mem` as RAM, and runs it to its done report,
/// with `msi_rounds` rounds of the MSI delivery measurement.
///
/// # Errors
/// Any KVM or device failure, a guest step failing, the guest stopping or
/// the host-side timeout.
pub fn run(
    dev: &mut PciFunction,
    mem: &GuestMemoryMmap,
    msi_rounds: u32,
    t: &mut Transcript,
) -> Result<RunReport, String> {
    let t0 = Instant::now();
    let program =
        guest::program(msi_rounds).map_err(|e| format!("assembling the guest program: {e}"))?;
    let kvm = Kvm::new().map_err(|e| format!("opening /dev/kvm: {e}"))?;
    let vm = kvm.create_vm().map_err(|e| format!("KVM_CREATE_VM: {e}"))?;
    vm.create_irq_chip()
        .map_err(|e| format!("KVM_CREATE_IRQCHIP: {e}"))?;

    // GDT: null, flat code (0x08), flat data (0x10).
    let gdt: [u64; 3] = [0, 0x00cf_9b00_0000_ffff, 0x00cf_9300_0000_ffff];
    for (i, d) in gdt.iter().enumerate() {
        mem.write_obj(*d, GuestAddress(guest::GDT + 8 * i as u64))
            .map_err(|e| format!("writing the GDT: {e}"))?;
    }
    mem.write_slice(&program, GuestAddress(guest::CODE))
        .map_err(|e| format!("loading the guest program: {e}"))?;
    for (i, region) in mem.iter().enumerate() {
        let host = region
            .get_host_address(MemoryRegionAddress(0))
            .map_err(|e| format!("guest RAM host address: {e}"))?;
        let r = kvm_userspace_memory_region {
            slot: RAM_SLOT + i as u32,
            flags: 0,
            guest_phys_addr: region.start_addr().0,
            memory_size: region.len(),
            userspace_addr: host as u64,
        };
        // SAFETY: the region is vm-memory's anonymous mapping, alive for
        // `mem`'s lifetime, which covers the VM (dropped in this function).
        unsafe { vm.set_user_memory_region(r) }
            .map_err(|e| format!("KVM_SET_USER_MEMORY_REGION (RAM): {e}"))?;
    }
    t.line(format!(
        "vmm: KVM VM with in-kernel irqchip, {} KiB RAM, guest program {} bytes at {:#x}",
        RAM_SIZE >> 10,
        program.len(),
        guest::CODE
    ));
    dev.map_guest_memory(mem)
        .map_err(|e| format!("DMA: {}", e.message()))?;
    t.line(format!(
        "vmm: guest RAM mapped for DMA at IOVA = GPA 0..{RAM_SIZE:#x}"
    ));
    let vcpu = vm
        .create_vcpu(0)
        .map_err(|e| format!("KVM_CREATE_VCPU: {e}"))?;
    setup_vcpu(&vcpu)?;
    // The frequency the guest's rdtsc counts at (for the MSI figures).
    let tsc_khz = vcpu.get_tsc_khz().ok();
    let sig = vmm_sys_util::signal::SIGRTMIN();
    vmm_sys_util::signal::register_signal_handler(sig, kick_handler)
        .map_err(|e| format!("signal handler: {e}"))?;

    let initial: Vec<Event> = dev
        .bars()
        .iter()
        .filter_map(|b| {
            b.address.map(|a| Event::BarMoved {
                bar: b.index,
                old: None,
                new: Some(a),
            })
        })
        .collect();
    let userspace = Arc::new(Mutex::new(Vec::new()));
    let mut m = Machine {
        vm: &vm,
        dev,
        pci: PciHost { address: 0 },
        bar_slots: BTreeMap::new(),
        next_slot: RAM_SLOT + mem.num_regions() as u32 - 1,
        free_slots: Vec::new(),
        irqfds: Vec::new(),
        userspace: Arc::clone(&userspace),
        step_value: 0,
        steps_ok: Vec::new(),
        msi: MsiLatency {
            tsc_khz,
            route: "no route",
            ..MsiLatency::default()
        },
        finished: None,
        t,
    };
    m.apply(initial)?;
    let setup = t0.elapsed();

    let expired = AtomicBool::new(false);
    let stop = AtomicBool::new(false);
    let injected = std::sync::atomic::AtomicU64::new(0);
    // SAFETY: pthread_self has no preconditions.
    let me = unsafe { libc::pthread_self() };
    let t1 = Instant::now();
    let mut exits = 0u64;
    let mut vcpu = vcpu;
    let outcome = std::thread::scope(|s| {
        let (done_tx, done_rx) = mpsc::channel::<()>();
        // Watchdog: after RUN_TIMEOUT, kick the vCPU out of KVM_RUN with a
        // signal, repeatedly (a signal arriving between two KVM_RUNs would
        // be lost) until the loop notices.
        let (expired_w, stop_w) = (&expired, &stop);
        s.spawn(move || {
            if done_rx.recv_timeout(RUN_TIMEOUT).is_ok() {
                return;
            }
            expired_w.store(true, Ordering::SeqCst);
            while !stop_w.load(Ordering::SeqCst) {
                // SAFETY: `me` is the thread running the scope, alive until
                // the scope joins this thread; the signal has a handler.
                unsafe { libc::pthread_kill(me, sig) };
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        // Userspace MSI delivery (x-no-kvm-msi): poll the eventfds and
        // inject with KVM_SIGNAL_MSI, as QEMU's vfio_msi_interrupt does
        // (hw/vfio/pci.c) through msi_notify.
        s.spawn(|| {
            while !stop.load(Ordering::SeqCst) {
                let Ok(list) = userspace.lock() else { return };
                if list.is_empty() {
                    drop(list);
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                }
                let mut pfds: Vec<libc::pollfd> = list
                    .iter()
                    .map(|(fd, _)| libc::pollfd {
                        fd: std::os::fd::AsRawFd::as_raw_fd(fd),
                        events: libc::POLLIN,
                        revents: 0,
                    })
                    .collect();
                // SAFETY: `pfds` is a valid array of pollfd for its length;
                // the descriptors stay open while the lock is held.
                let n = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, 5) };
                if n > 0 {
                    for (p, (fd, msg)) in pfds.iter().zip(list.iter()) {
                        if p.revents & libc::POLLIN != 0 && fd.read().is_ok() {
                            let msi = kvm_msi {
                                address_lo: msg.address as u32,
                                address_hi: (msg.address >> 32) as u32,
                                data: msg.data,
                                ..Default::default()
                            };
                            if vm.signal_msi(msi).is_ok() {
                                injected.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                }
                drop(list);
                std::thread::yield_now();
            }
        });
        let r = run_loop(&mut vcpu, &mut m, &expired, &mut exits);
        let _ = done_tx.send(());
        stop.store(true, Ordering::SeqCst);
        r
    });
    let run = t1.elapsed();
    // Drop the BAR slots and irqfds before the device can go away.
    for (fd, gsi) in m.irqfds.drain(..) {
        let _ = vm.unregister_irqfd(&fd, gsi);
    }
    outcome?;
    Ok(RunReport {
        steps_ok: m.steps_ok,
        setup,
        run,
        exits,
        injected: injected.load(Ordering::Relaxed),
        msi: m.msi,
    })
}

fn run_loop(
    vcpu: &mut VcpuFd,
    m: &mut Machine<'_, '_>,
    expired: &AtomicBool,
    exits: &mut u64,
) -> Result<(), String> {
    loop {
        if expired.load(Ordering::SeqCst) {
            return Err(format!(
                "the guest did not finish within {RUN_TIMEOUT:?} (host-side timeout)"
            ));
        }
        let exit = vcpu.run();
        *exits += 1;
        match exit {
            Ok(VcpuExit::IoOut(port, data)) => m.io_out(port, data)?,
            Ok(VcpuExit::IoIn(port, data)) => m.io_in(port, data),
            Ok(VcpuExit::MmioRead(addr, data)) => m.mmio_read(addr, data),
            Ok(VcpuExit::MmioWrite(addr, data)) => m.mmio_write(addr, data)?,
            Ok(VcpuExit::Hlt) => return Err("the guest halted without reporting".to_owned()),
            Ok(VcpuExit::Shutdown) => {
                return Err("the guest shut down (triple fault)".to_owned());
            }
            Ok(VcpuExit::FailEntry(reason, cpu)) => {
                return Err(format!(
                    "KVM_EXIT_FAIL_ENTRY: hardware reason {reason:#x} on cpu {cpu}"
                ));
            }
            Ok(VcpuExit::InternalError) => {
                return Err("KVM_EXIT_INTERNAL_ERROR".to_owned());
            }
            Ok(other) => return Err(format!("unexpected KVM exit {other:?}")),
            Err(e) if e.errno() == libc::EINTR => continue,
            Err(e) => return Err(format!("KVM_RUN: {e}")),
        }
        if let Some(f) = m.finished.take() {
            return f;
        }
    }
}
