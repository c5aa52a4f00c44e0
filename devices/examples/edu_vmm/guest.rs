//! The guest program: a 32-bit flat protected-mode `edu` driver, assembled
//! at start-up with iced-x86's `code_asm`.
//!
//! The VMM enters it with CS/DS/ES/SS flat (base 0, limit 4 GiB, selectors
//! 0x08/0x10 of a GDT the VMM writes at [`GDT`]), paging off, interrupts
//! off. **The guest program sets up its own IDT** (gates for the MSI vector
//! and the watchdog vector, then `lidt`), software-enables its local APIC
//! through the SVR at 0xFEE000F0 and arms the APIC timer as a watchdog, as
//! a kernel would; the VMM only provides the GDT the gates refer to.
//!
//! Each step is reported on I/O ports: the value is written to
//! [`PORT_VALUE`] (32-bit), then `step | status << 8` to [`PORT_STEP`]
//! (status 0 = ok, 1 = failed); the VMM prints one line per report. After
//! the last step ([`Step::Done`]) or a failure the program halts with
//! interrupts disabled.
//!
//! After the completion MSI the program measures MSI delivery
//! ([`Step::MsiLatency`]): each round reads the TSC, writes 1 to edu's
//! raise-interrupt register and waits until the MSI handler, whose first
//! instruction reads the TSC again, has run; the difference of the two
//! readings (TSC ticks) goes to [`PORT_SAMPLE`], outside the timed part.

use iced_x86::code_asm::*;
use iced_x86::{BlockEncoderOptions, IcedError};
use qomgen_devices::driver::edu;

/// Where the VMM loads the program.
pub const CODE: u64 = 0x1_0000;
/// Initial stack pointer.
pub const STACK_TOP: u32 = 0x9_0000;
/// The GDT the VMM writes (null, code 0x08, data 0x10).
pub const GDT: u64 = 0x500;
/// The IDT the guest builds (256 gates).
pub const IDT: u32 = 0x1000;
/// Guest variables: IDTR image (6 bytes).
const IDTR: u32 = 0x2000;
/// Set to 1 by the MSI handler.
const IRQ_FLAG: u32 = 0x2010;
/// edu's interrupt status as the MSI handler read it.
const IRQ_STATUS: u32 = 0x2014;
/// The step in progress (for the watchdog's report).
const CUR_STEP: u32 = 0x2018;
/// The TSC as the MSI handler read it on entry (8 bytes).
const IRQ_TSC: u32 = 0x2020;
/// The TSC before the raise-interrupt write of a round (8 bytes).
const RAISE_TSC: u32 = 0x2028;
/// DMA source buffer in guest RAM (below edu's 28-bit DMA mask).
pub const DMA_SRC: u32 = 0x10_0000;
/// DMA destination buffer in guest RAM.
pub const DMA_DST: u32 = 0x10_1000;
/// Bytes per DMA transfer.
pub const DMA_LEN: u32 = 256;
/// Where the guest programs BAR0: below 4 GiB, above RAM.
pub const BAR0_GPA: u32 = 0xE000_0000;
/// MSI vector the guest asks for.
pub const MSI_VECTOR: u32 = 0x30;
/// APIC timer vector of the watchdog.
pub const WATCHDOG_VECTOR: u32 = 0x31;
/// Step report port.
pub const PORT_STEP: u16 = 0x510;
/// Step value port.
pub const PORT_VALUE: u16 = 0x511;
/// MSI latency sample port: TSC ticks from before the raise-interrupt
/// write to the handler's first instruction, one 32-bit write per round
/// (0xFFFF_FFFF if the difference does not fit).
pub const PORT_SAMPLE: u16 = 0x512;
/// Rounds of the MSI latency measurement unless the VMM asks otherwise.
pub const MSI_ROUNDS: u32 = 32;
/// Local APIC base.
const LAPIC: u32 = 0xFEE0_0000;
/// edu's buffer in its DMA address space.
const EDU_BUF: u32 = edu::DMA_BUF_ADDR as u32;

/// The guest address of edu register `reg` (`edu::REG_*`) in BAR0.
const fn reg(reg: u64) -> u32 {
    BAR0_GPA + reg as u32
}

/// Declares [`Step`] and its decoding from one list, so that decoding a
/// reported code knows every step.
macro_rules! steps {
    ($($(#[$doc:meta])* $step:ident $(= $code:literal)?,)*) => {
        /// The steps the program reports, in order.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        #[repr(u8)]
        pub enum Step {
            $($(#[$doc])* $step $(= $code)?,)*
        }

        impl Step {
            /// The step with this number.
            pub fn from_code(code: u8) -> Option<Step> {
                [$(Step::$step,)*].into_iter().find(|s| *s as u8 == code)
            }
        }
    };
}

steps! {
    /// Found 1234:11e8 on bus 0 (value: slot).
    Scan = 1,
    /// Sized BAR0 (value: size).
    BarSize,
    /// Programmed BAR0 (value: read back).
    BarProgram,
    /// Enabled memory decoding and bus mastering (value: COMMAND).
    Command,
    /// Read the id register (value: id).
    Id,
    /// Liveness check (value: read back).
    Liveness,
    /// Factorial of 10 (value: result).
    Factorial,
    /// Found the MSI capability (value: offset).
    MsiCap,
    /// Enabled MSI (value: message control).
    MsiEnable,
    /// DMA RAM to edu done (value: bytes).
    DmaToDevice,
    /// DMA edu to RAM done (value: bytes).
    DmaFromDevice,
    /// Buffers compared equal (value: bytes).
    Compare,
    /// The completion MSI was handled (value: edu interrupt status).
    Interrupt,
    /// MSI delivery measured: raise-interrupt write to handler, one
    /// sample per round on [`PORT_SAMPLE`] (value: rounds).
    MsiLatency,
    /// Everything done.
    Done,
}

/// Emits a report of `step` with the value in EAX (status ok).
fn report(a: &mut CodeAssembler, step: Step) -> Result<(), IcedError> {
    a.mov(dx, PORT_VALUE as u32)?;
    a.out(dx, eax)?;
    a.mov(eax, step as u32)?;
    a.mov(dx, PORT_STEP as u32)?;
    a.out(dx, eax)?;
    // The next step starts.
    a.mov(dword_ptr(CUR_STEP), step as u32 + 1)?;
    Ok(())
}

/// Emits: if EAX != `expect`, report `step` failed with EAX as the value.
fn expect_eax(
    a: &mut CodeAssembler,
    expect: u32,
    step: Step,
    fail: CodeLabel,
) -> Result<(), IcedError> {
    let mut ok = a.create_label();
    a.cmp(eax, expect)?;
    a.je(ok)?;
    a.mov(ebx, step as u32)?;
    a.jmp(fail)?;
    a.set_label(&mut ok)?;
    a.nop()?;
    Ok(())
}

/// Emits: select config register `reg` (dword aligned) of the function in
/// EDI (`0x8000_0000 | slot << 11`) in 0xCF8. Clobbers EAX, DX.
fn cfg_select(a: &mut CodeAssembler, reg: u32) -> Result<(), IcedError> {
    a.mov(eax, edi)?;
    a.or(eax, reg)?;
    a.mov(dx, 0xcf8u32)?;
    a.out(dx, eax)?;
    Ok(())
}

/// Emits: select the register in ECX (dword aligned) of the function in EDI.
fn cfg_select_ecx(a: &mut CodeAssembler) -> Result<(), IcedError> {
    a.mov(eax, edi)?;
    a.or(eax, ecx)?;
    a.mov(dx, 0xcf8u32)?;
    a.out(dx, eax)?;
    Ok(())
}

/// Emits a wait for the MSI handler (`sti; hlt` with the flag tested
/// under `cli`: the interrupt shadow covers the `hlt`, so no wake-up is
/// lost), leaving the interrupt status it read in `eax`.
fn wait_irq(a: &mut CodeAssembler) -> Result<(), IcedError> {
    let mut wait = a.create_label();
    let mut got = a.create_label();
    a.set_label(&mut wait)?;
    a.cli()?;
    a.cmp(dword_ptr(IRQ_FLAG), 0u32)?;
    a.jne(got)?;
    a.sti()?;
    a.hlt()?;
    a.jmp(wait)?;
    a.set_label(&mut got)?;
    a.mov(eax, dword_ptr(IRQ_STATUS))?;
    Ok(())
}

/// Emits a poll of edu register `at` until `bit` reads 0.
fn poll_clear(a: &mut CodeAssembler, at: u64, bit: u32) -> Result<(), IcedError> {
    let mut again = a.create_label();
    a.set_label(&mut again)?;
    a.pause()?;
    a.test(dword_ptr(reg(at)), bit)?;
    a.jnz(again)?;
    Ok(())
}

/// Emits an interrupt gate for `vector` to the handler at `handler` in
/// the IDT. (A label's address cannot be an operand in 32-bit code with
/// code_asm, hence the address: see [`program`].)
fn gate(a: &mut CodeAssembler, vector: u32, handler: u32) -> Result<(), IcedError> {
    let at = IDT + vector * 8;
    a.mov(eax, handler)?;
    a.mov(word_ptr(at), ax)?;
    a.mov(word_ptr(at + 2), 0x08u32)?; // code selector
    a.mov(word_ptr(at + 4), 0x8e00u32)?; // present, DPL 0, 32-bit interrupt gate
    a.shr(eax, 16)?;
    a.mov(word_ptr(at + 6), ax)?;
    Ok(())
}

/// Assembles the guest program for address [`CODE`]: what a driver for
/// `edu` does, step by step, reporting each on [`PORT_STEP`] (see
/// [`Step`]). Registers kept across steps: EDI = the function's config
/// address (`0x8000_0000 | slot << 11`), EBP = the MSI capability offset.
/// `msi_rounds` is the number of rounds of [`Step::MsiLatency`] (0: the
/// step is reported with no samples).
///
/// # Errors
/// iced-x86 refusing an instruction (a bug in this function), as text.
pub fn program(msi_rounds: u32) -> Result<Vec<u8>, String> {
    // Two passes: the first finds where the handlers land, the second puts
    // their addresses in the IDT gates. `mov eax, imm32` has the same size
    // whatever the value, so the layout does not change between passes.
    let (_, handlers) = assemble(msi_rounds, 0, 0).map_err(|e| e.to_string())?;
    let (code, again) = assemble(msi_rounds, handlers.0, handlers.1).map_err(|e| e.to_string())?;
    if again != handlers {
        return Err("guest program layout changed between passes".to_owned());
    }
    Ok(code)
}

/// One pass of [`program`] with the handler addresses for the gates;
/// returns the code and the handlers' actual addresses (MSI, watchdog).
fn assemble(
    msi_rounds: u32,
    msi_at: u32,
    watchdog_at: u32,
) -> Result<(Vec<u8>, (u32, u32)), IcedError> {
    let mut a = CodeAssembler::new(32)?;
    let mut fail = a.create_label();
    let mut msi_handler = a.create_label();
    let mut watchdog = a.create_label();

    // --- set-up: stack, IDT, local APIC, watchdog ---
    a.mov(esp, STACK_TOP)?;
    a.mov(dword_ptr(CUR_STEP), Step::Scan as u32)?;
    a.mov(dword_ptr(IRQ_FLAG), 0u32)?;
    gate(&mut a, MSI_VECTOR, msi_at)?;
    gate(&mut a, WATCHDOG_VECTOR, watchdog_at)?;
    a.mov(word_ptr(IDTR), 256 * 8 - 1)?;
    a.mov(dword_ptr(IDTR + 2), IDT)?;
    a.lidt(ptr(IDTR))?;
    // Software-enable the local APIC (SVR bit 8, spurious vector 0xff):
    // until then it accepts no interrupts.
    a.mov(dword_ptr(LAPIC + 0xf0), 0x1ffu32)?;
    // Watchdog: one-shot APIC timer, divide by 2 (DCR 0), the longest
    // count: ~8.6 s with KVM's 1 GHz APIC bus.
    a.mov(dword_ptr(LAPIC + 0x3e0), 0u32)?;
    a.mov(dword_ptr(LAPIC + 0x320), WATCHDOG_VECTOR)?;
    a.mov(dword_ptr(LAPIC + 0x380), 0xffff_ffffu32)?;
    a.sti()?;

    // --- step 1: scan bus 0, function 0 of each slot, for 1234:11e8 ---
    let mut scan = a.create_label();
    let mut next = a.create_label();
    let mut found = a.create_label();
    a.xor(esi, esi)?;
    a.set_label(&mut scan)?;
    a.mov(edi, esi)?;
    a.shl(edi, 11)?;
    a.or(edi, 0x8000_0000u32)?;
    cfg_select(&mut a, 0)?;
    a.mov(dx, 0xcfcu32)?;
    a.in_(ax, dx)?; // vendor: 16-bit at 0xCFC
    a.mov(bx, ax)?;
    a.mov(dx, 0xcfeu32)?;
    a.in_(ax, dx)?; // device: 16-bit at 0xCFE
    a.cmp(bx, 0x1234u32)?;
    a.jne(next)?;
    a.cmp(ax, 0x11e8u32)?;
    a.je(found)?;
    a.set_label(&mut next)?;
    a.inc(esi)?;
    a.cmp(esi, 32u32)?;
    a.jb(scan)?;
    a.mov(eax, 0xffff_ffffu32)?;
    a.mov(ebx, Step::Scan as u32)?;
    a.jmp(fail)?;
    a.set_label(&mut found)?;
    a.mov(eax, esi)?;
    report(&mut a, Step::Scan)?;

    // --- step 2: size BAR0, decoding off meanwhile (as Linux's
    // __pci_read_base in drivers/pci/probe.c) ---
    cfg_select(&mut a, 0x04)?;
    a.mov(dx, 0xcfcu32)?;
    a.xor(eax, eax)?;
    a.out(dx, ax)?; // COMMAND = 0, 16-bit
    cfg_select(&mut a, 0x10)?;
    a.mov(dx, 0xcfcu32)?;
    a.mov(eax, 0xffff_ffffu32)?;
    a.out(dx, eax)?;
    a.in_(eax, dx)?;
    a.and(eax, 0xffff_fff0u32)?;
    a.neg(eax)?;
    expect_eax(&mut a, 0x10_0000, Step::BarSize, fail)?;
    report(&mut a, Step::BarSize)?;

    // --- step 3: program BAR0 ---
    cfg_select(&mut a, 0x10)?;
    a.mov(dx, 0xcfcu32)?;
    a.mov(eax, BAR0_GPA)?;
    a.out(dx, eax)?;
    a.in_(eax, dx)?;
    a.and(eax, 0xffff_fff0u32)?;
    expect_eax(&mut a, BAR0_GPA, Step::BarProgram, fail)?;
    report(&mut a, Step::BarProgram)?;

    // --- step 4: memory decoding + bus mastering (16-bit COMMAND) ---
    cfg_select(&mut a, 0x04)?;
    a.mov(dx, 0xcfcu32)?;
    a.mov(eax, 0x6u32)?;
    a.out(dx, ax)?;
    a.in_(ax, dx)?;
    a.movzx(eax, ax)?;
    a.and(eax, 0x6u32)?;
    expect_eax(&mut a, 0x6, Step::Command, fail)?;
    report(&mut a, Step::Command)?;

    // --- step 5: id register ---
    a.mov(eax, dword_ptr(reg(edu::REG_ID)))?;
    expect_eax(&mut a, edu::ID_VALUE, Step::Id, fail)?;
    report(&mut a, Step::Id)?;

    // --- step 6: liveness: reads back the inverse ---
    a.mov(dword_ptr(reg(edu::REG_LIVENESS)), 0x1234_5678u32)?;
    a.mov(eax, dword_ptr(reg(edu::REG_LIVENESS)))?;
    expect_eax(&mut a, !0x1234_5678u32, Step::Liveness, fail)?;
    report(&mut a, Step::Liveness)?;

    // --- step 7: 10! ---
    a.mov(dword_ptr(reg(edu::REG_FACTORIAL)), 10u32)?;
    poll_clear(&mut a, edu::REG_STATUS, edu::STATUS_COMPUTING)?;
    a.mov(eax, dword_ptr(reg(edu::REG_FACTORIAL)))?;
    expect_eax(&mut a, 3_628_800, Step::Factorial, fail)?;
    report(&mut a, Step::Factorial)?;

    // --- step 8: walk the capability list to MSI (id 5), byte reads ---
    let mut walk = a.create_label();
    let mut is_msi = a.create_label();
    let mut no_cap = a.create_label();
    cfg_select(&mut a, 0x04)?;
    a.mov(dx, 0xcfeu32)?;
    a.in_(ax, dx)?; // STATUS, 16-bit at 0xCFE
    a.test(ax, 0x10u32)?; // capability list
    a.jz(no_cap)?;
    cfg_select(&mut a, 0x34)?;
    a.mov(dx, 0xcfcu32)?;
    a.in_(al, dx)?;
    a.movzx(ecx, al)?;
    a.mov(esi, 48u32)?; // bound the walk
    a.set_label(&mut walk)?;
    a.and(ecx, 0xfcu32)?;
    a.jz(no_cap)?;
    a.dec(esi)?;
    a.jz(no_cap)?;
    cfg_select_ecx(&mut a)?;
    a.mov(dx, 0xcfcu32)?;
    a.in_(al, dx)?; // id, 8-bit at 0xCFC
    a.cmp(al, 0x05u32)?;
    a.je(is_msi)?;
    a.mov(dx, 0xcfdu32)?;
    a.in_(al, dx)?; // next, 8-bit at 0xCFD
    a.movzx(ecx, al)?;
    a.jmp(walk)?;
    a.set_label(&mut no_cap)?;
    a.mov(eax, ecx)?;
    a.mov(ebx, Step::MsiCap as u32)?;
    a.jmp(fail)?;
    a.set_label(&mut is_msi)?;
    a.mov(ebp, ecx)?;
    a.mov(eax, ecx)?;
    report(&mut a, Step::MsiCap)?;

    // --- step 9: MSI address 0xFEE00000 (APIC 0), data = vector, enable ---
    let mut addr32 = a.create_label();
    let mut data_set = a.create_label();
    a.lea(ecx, ptr(ebp + 4))?;
    cfg_select_ecx(&mut a)?;
    a.mov(dx, 0xcfcu32)?;
    a.mov(eax, LAPIC)?;
    a.out(dx, eax)?;
    a.mov(ecx, ebp)?;
    cfg_select_ecx(&mut a)?;
    a.mov(dx, 0xcfeu32)?;
    a.in_(ax, dx)?; // message control
    a.test(ax, 0x80u32)?; // 64-bit address capable
    a.jz(addr32)?;
    a.lea(ecx, ptr(ebp + 8))?;
    cfg_select_ecx(&mut a)?;
    a.mov(dx, 0xcfcu32)?;
    a.xor(eax, eax)?;
    a.out(dx, eax)?; // upper address 0
    a.lea(ecx, ptr(ebp + 0xc))?;
    a.jmp(data_set)?;
    a.set_label(&mut addr32)?;
    a.lea(ecx, ptr(ebp + 8))?;
    a.set_label(&mut data_set)?;
    cfg_select_ecx(&mut a)?;
    a.mov(dx, 0xcfcu32)?;
    a.mov(eax, MSI_VECTOR)?; // fixed delivery, edge
    a.out(dx, ax)?;
    a.mov(ecx, ebp)?;
    cfg_select_ecx(&mut a)?;
    a.mov(dx, 0xcfeu32)?;
    a.in_(ax, dx)?;
    a.and(ax, 0xff8fu32)?; // one vector (MME = 0)
    a.or(ax, 1u32)?; // MSI enable
    a.out(dx, ax)?;
    a.in_(ax, dx)?;
    a.movzx(eax, ax)?;
    a.mov(ebx, Step::MsiEnable as u32)?;
    a.test(eax, 1u32)?;
    a.jz(fail)?;
    report(&mut a, Step::MsiEnable)?;

    // --- step 10: DMA RAM -> edu, polled ---
    let mut fill = a.create_label();
    a.xor(ecx, ecx)?;
    a.mov(eax, 0x0102_0304u32)?;
    a.set_label(&mut fill)?;
    a.mov(dword_ptr(ecx * 4 + DMA_SRC), eax)?;
    a.add(eax, 0x1111_1111u32)?;
    a.mov(dword_ptr(ecx * 4 + DMA_DST), 0u32)?;
    a.inc(ecx)?;
    a.cmp(ecx, DMA_LEN / 4)?;
    a.jb(fill)?;
    a.mov(dword_ptr(reg(edu::REG_DMA_SRC)), DMA_SRC)?;
    a.mov(dword_ptr(reg(edu::REG_DMA_DST)), EDU_BUF)?;
    a.mov(dword_ptr(reg(edu::REG_DMA_COUNT)), DMA_LEN)?;
    a.mov(dword_ptr(reg(edu::REG_DMA_CMD)), edu::DMA_CMD_START as u32)?; // RAM -> edu
    poll_clear(&mut a, edu::REG_DMA_CMD, edu::DMA_CMD_START as u32)?;
    a.mov(eax, DMA_LEN)?;
    report(&mut a, Step::DmaToDevice)?;

    // --- step 11: DMA edu -> RAM, raising an interrupt when done ---
    a.mov(dword_ptr(reg(edu::REG_DMA_SRC)), EDU_BUF)?;
    a.mov(dword_ptr(reg(edu::REG_DMA_DST)), DMA_DST)?;
    a.mov(dword_ptr(reg(edu::REG_DMA_COUNT)), DMA_LEN)?;
    let to_ram = edu::DMA_CMD_START | edu::DMA_CMD_TO_RAM | edu::DMA_CMD_IRQ;
    a.mov(dword_ptr(reg(edu::REG_DMA_CMD)), to_ram as u32)?;
    poll_clear(&mut a, edu::REG_DMA_CMD, edu::DMA_CMD_START as u32)?;
    a.mov(eax, DMA_LEN)?;
    report(&mut a, Step::DmaFromDevice)?;

    // --- step 12: compare ---
    a.push(edi)?;
    a.cld()?;
    a.mov(esi, DMA_SRC)?;
    a.mov(edi, DMA_DST)?;
    a.mov(ecx, DMA_LEN / 4)?;
    a.repe().cmpsd()?;
    a.pop(edi)?;
    a.mov(eax, ecx)?;
    a.mov(ebx, Step::Compare as u32)?;
    a.jne(fail)?;
    a.mov(eax, DMA_LEN)?;
    report(&mut a, Step::Compare)?;

    // --- step 13: wait for the completion MSI (sti; hlt: no lost wakeup,
    // the interrupt shadow covers the hlt) ---
    wait_irq(&mut a)?;
    expect_eax(&mut a, edu::IRQ_DMA, Step::Interrupt, fail)?;
    report(&mut a, Step::Interrupt)?;

    // --- step 14: MSI delivery, `msi_rounds` rounds of: TSC, write 1 to
    // raise-interrupt (0x60), wait for the handler, which reads the TSC
    // first; send the difference. Interrupts are enabled before the write
    // so that the handler runs as soon as the MSI arrives. ---
    let mut round = a.create_label();
    let mut fits = a.create_label();
    let mut measured = a.create_label();
    a.mov(esi, msi_rounds)?;
    a.test(esi, esi)?;
    a.jz(measured)?;
    a.set_label(&mut round)?;
    a.mov(dword_ptr(IRQ_FLAG), 0u32)?;
    a.sti()?;
    a.rdtsc()?;
    a.mov(dword_ptr(RAISE_TSC), eax)?;
    a.mov(dword_ptr(RAISE_TSC + 4), edx)?;
    a.mov(dword_ptr(reg(edu::REG_IRQ_RAISE)), 1u32)?; // status bit 0
    wait_irq(&mut a)?;
    expect_eax(&mut a, 1, Step::MsiLatency, fail)?;
    a.mov(eax, dword_ptr(IRQ_TSC))?;
    a.mov(edx, dword_ptr(IRQ_TSC + 4))?;
    a.sub(eax, dword_ptr(RAISE_TSC))?;
    a.sbb(edx, dword_ptr(RAISE_TSC + 4))?;
    a.jz(fits)?;
    a.mov(eax, 0xffff_ffffu32)?;
    a.set_label(&mut fits)?;
    a.mov(dx, PORT_SAMPLE as u32)?;
    a.out(dx, eax)?;
    a.dec(esi)?;
    a.jnz(round)?;
    a.set_label(&mut measured)?;
    a.mov(eax, msi_rounds)?;
    report(&mut a, Step::MsiLatency)?;

    // --- done ---
    a.mov(dword_ptr(LAPIC + 0x380), 0u32)?; // stop the watchdog
    a.xor(eax, eax)?;
    report(&mut a, Step::Done)?;
    let mut halt = a.create_label();
    a.set_label(&mut halt)?;
    a.cli()?;
    a.hlt()?;
    a.jmp(halt)?;

    // --- failure: value in EAX, step in EBX ---
    a.set_label(&mut fail)?;
    a.mov(dx, PORT_VALUE as u32)?;
    a.out(dx, eax)?;
    a.mov(eax, ebx)?;
    a.or(eax, 0x100u32)?;
    a.mov(dx, PORT_STEP as u32)?;
    a.out(dx, eax)?;
    a.jmp(halt)?;

    // --- MSI handler: note the TSC (step 14), read and ack edu's
    // interrupt status, EOI ---
    a.set_label(&mut msi_handler)?;
    a.push(eax)?;
    a.push(edx)?;
    a.rdtsc()?;
    a.mov(dword_ptr(IRQ_TSC), eax)?;
    a.mov(dword_ptr(IRQ_TSC + 4), edx)?;
    a.mov(eax, dword_ptr(reg(edu::REG_IRQ_STATUS)))?;
    a.mov(dword_ptr(IRQ_STATUS), eax)?;
    a.mov(dword_ptr(reg(edu::REG_IRQ_ACK)), eax)?;
    a.mov(dword_ptr(IRQ_FLAG), 1u32)?;
    a.mov(dword_ptr(LAPIC + 0xb0), 0u32)?; // EOI
    a.pop(edx)?;
    a.pop(eax)?;
    a.iretd()?;

    // --- watchdog: report the step in progress as failed (value 0xdead) ---
    a.set_label(&mut watchdog)?;
    a.mov(eax, 0xdeadu32)?;
    a.mov(ebx, dword_ptr(CUR_STEP))?;
    a.jmp(fail)?;

    let r = a.assemble_options(CODE, BlockEncoderOptions::RETURN_NEW_INSTRUCTION_OFFSETS)?;
    // CODE is below 4 GiB and the program is small: the addresses fit.
    let handlers = (
        r.label_ip(&msi_handler)? as u32,
        r.label_ip(&watchdog)? as u32,
    );
    Ok((r.inner.code_buffer, handlers))
}
