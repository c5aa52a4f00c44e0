//! The guest-facing vfio-pci function ([`PciFunction`]) on the real `edu`
//! device, inside the qomgen test guest (vm/README.md); results in
//! BENCHMARKS.md, "Guest-facing vfio-pci".
//!
//! ```sh
//! CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUNNER=$PWD/vm/cargo-runner \
//!     QOMGEN_VM_RUN_ARGS='--mem 3G' cargo bench -p qomgen-devices --bench guest_pci
//! ```
//!
//! The guest runs under TCG on this project's machines, and `edu` is a
//! device QEMU emulates: every figure is a nested-TCG figure, useful for
//! ratios on the same run, not as absolute costs on hardware.
//!
//! 1. A trapped BAR access: `PciFunction::bar_read` / `bar_write` of edu's
//!    registers (realized with `x-no-mmap=on`) against a bare
//!    `pread`/`pwrite` of the same register on the same device descriptor,
//!    and, between the two, the sys layer the host side calls
//!    (`Device::region_read`/`region_write`). Batches of the three
//!    alternate; the figures are the medians of the batches' means, and the
//!    ratio is the median of the ratios of neighbouring batches. The
//!    thread stays on CPU 0.
//! 2. MSI delivery: a write of 1 to BAR0+0x60 (edu raises its interrupt)
//!    until the vector's eventfd wakes a blocking `poll`; acked by a write
//!    to 0x64. Median of single deliveries, with the thread on the CPU the
//!    kernel delivers the interrupt to, then on another one.
//! 3. Mapping 1 GiB of guest memory (vm-memory's `GuestMemoryMmap`) for DMA
//!    with `PciFunction::map_guest_memory`, and unmapping it, on the legacy
//!    container and on iommufd: fresh memory (the kernel faults the pages
//!    in as it pins them), then the same memory again (resident).
//!
//! Outside the guest it exits with status 1 and says why. Options (after
//! `--` on cargo's command line): `--quick` runs a fifth of the iterations
//! and one DMA round, `--bar-only` only part 1. Other arguments are
//! ignored (`cargo bench` passes `--bench`).

use std::hint::black_box;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use qomgen::ObjectTree;
use qomgen_devices::guest::pci::PciFunction;
use qomgen_devices::models::vfio_pci::VfioPci;
use qomgen_devices::sys::vfio::{Device, RegionInfo};
use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};

/// Where the bench programs edu's BAR0 (any address the guest could pick).
const BAR0_AT: u32 = 0xe000_0000;
/// edu's identification register (reads 0x010000ed) and its liveness
/// check (a write of x reads back as !x).
const EDU_ID: u64 = 0x00;
const EDU_LIVENESS: u64 = 0x04;
/// edu raises its interrupt on a write here, and lowers it on a write to
/// [`EDU_IRQ_ACK`].
const EDU_IRQ_RAISE: u64 = 0x60;
const EDU_IRQ_ACK: u64 = 0x64;
const GIB: u64 = 1 << 30;

/// How long each part runs.
#[derive(Debug, Clone, Copy)]
struct Sizes {
    /// Batches of BAR accesses, alternating function and bare.
    batches: usize,
    /// Accesses per batch.
    per_batch: usize,
    /// MSI deliveries timed.
    msis: usize,
    /// 1 GiB map/unmap rounds per backend.
    dma_rounds: usize,
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Mean time of one call of `op`, in nanoseconds, over `n` calls.
fn batch(n: usize, mut op: impl FnMut()) -> f64 {
    let t = Instant::now();
    for _ in 0..n {
        op();
    }
    t.elapsed().as_nanos() as f64 / n as f64
}

// nix's pread/pwrite are the bare syscalls (an errno check on top), with
// no layer of this crate in between.
fn pread(fd: &OwnedFd, buf: &mut [u8], at: u64) {
    let n = nix::sys::uio::pread(fd, buf, at as libc::off_t);
    assert_eq!(n, Ok(buf.len()), "pread of the device at {at:#x}");
}

fn pwrite(fd: &OwnedFd, data: &[u8], at: u64) {
    let n = nix::sys::uio::pwrite(fd, data, at as libc::off_t);
    assert_eq!(n, Ok(data.len()), "pwrite of the device at {at:#x}");
}

fn wait_readable(fd: i32, timeout: Duration) -> bool {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    let ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
    // SAFETY: one valid pollfd for the call.
    unsafe { libc::poll(&mut p, 1, ms) == 1 }
}

fn bar32(f: &mut PciFunction, off: u64) -> u32 {
    let mut b = [0u8; 4];
    f.bar_read(0, off, &mut b);
    u32::from_le_bytes(b)
}

/// Realizes `-device vfio-pci,host=BDF,id=dev0` (with `iommufd=io0` and
/// `x-no-mmap=on` as asked), hands its function and a duplicate of its
/// device descriptor and BAR0's region to `run`, and releases it.
fn with_function<T>(
    bdf: &str,
    iommufd: bool,
    no_mmap: bool,
    run: impl FnOnce(&mut PciFunction, OwnedFd, RegionInfo) -> T,
) -> Result<T, String> {
    let mut tree = ObjectTree::new();
    if iommufd {
        tree.object_add("iommufd,id=io0")
            .map_err(|e| format!("-object iommufd,id=io0: {e}"))?;
    }
    let spec = format!(
        "vfio-pci,host={bdf},id=dev0{}{}",
        if iommufd { ",iommufd=io0" } else { "" },
        if no_mmap { ",x-no-mmap=on" } else { "" }
    );
    let obj = tree
        .device_add(&spec)
        .map_err(|e| format!("-device {spec}: {e}"))?;
    let out = {
        let mut guard = obj.borrow_mut();
        let dev = guard
            .downcast_mut::<VfioPci>()
            .ok_or("dev0 is not vfio-pci")?;
        let a = dev.attached().ok_or("dev0 is not realized")?;
        let fd = a
            .device()
            .as_fd()
            .try_clone_to_owned()
            .map_err(|e| format!("dup of the device fd: {e}"))?;
        let bar0 = a
            .regions
            .iter()
            .find(|r| r.info.index == 0)
            .ok_or("edu has no BAR0 region")?
            .info
            .clone();
        let f = dev.function_mut().map_err(|e| format!("{spec}: {e}"))?;
        // What the guest's firmware does: BAR0 programmed, memory decoding
        // and bus mastering on. vfio-pci refuses BAR accesses until then.
        f.config_write(0x10, &BAR0_AT.to_le_bytes());
        f.config_write(0x04, &0x0006u16.to_le_bytes());
        run(f, fd, bar0)
    };
    drop(obj);
    tree.del_device("dev0")
        .map_err(|e| format!("release: {e}"))?;
    if iommufd {
        tree.del_object("io0")
            .map_err(|e| format!("release: {e}"))?;
    }
    Ok(out)
}

/// For reads then writes: the medians, in nanoseconds per access, through
/// the function, through the sys layer the host side uses
/// (`Device::region_read`/`region_write`), and bare `pread`/`pwrite`; then
/// the median of the ratios function ÷ bare of batches run back to back
/// (on a loaded machine a ratio of neighbours is steadier than a ratio of
/// medians).
fn bar_access(f: &mut PciFunction, fd: OwnedFd, bar0: &RegionInfo, s: Sizes) -> [[f64; 4]; 2] {
    let dev = Device::from_fd(fd.try_clone().expect("dup of the device fd"));
    let at = |reg: u64| bar0.offset + reg;
    // The same register through every path, and each reaches the device.
    let mut b = [0u8; 4];
    pread(&fd, &mut b, at(EDU_ID));
    assert_eq!(u32::from_le_bytes(b), bar32(f, EDU_ID));
    assert_eq!(bar32(f, EDU_ID) & 0xff, 0xed, "edu's id register");
    pwrite(&fd, &0x1234_5678u32.to_le_bytes(), at(EDU_LIVENESS));
    assert_eq!(bar32(f, EDU_LIVENESS), !0x1234_5678);
    f.bar_write(0, EDU_LIVENESS, &0x0bad_cafeu32.to_le_bytes());
    dev.region_read(bar0, EDU_LIVENESS, &mut b)
        .expect("region_read");
    assert_eq!(u32::from_le_bytes(b), !0x0bad_cafe);

    let mut runs: [Vec<f64>; 6] = Default::default();
    let val = 0x5a5a_a5a5u32.to_le_bytes();
    for _ in 0..s.batches {
        runs[0].push(batch(s.per_batch, || {
            let mut b = [0u8; 4];
            f.bar_read(0, black_box(EDU_ID), &mut b);
            black_box(b);
        }));
        runs[1].push(batch(s.per_batch, || {
            let mut b = [0u8; 4];
            let _ = dev.region_read(bar0, black_box(EDU_ID), &mut b);
            black_box(b);
        }));
        runs[2].push(batch(s.per_batch, || {
            let mut b = [0u8; 4];
            pread(&fd, &mut b, black_box(at(EDU_ID)));
            black_box(b);
        }));
        runs[3].push(batch(s.per_batch, || {
            black_box(f.bar_write(0, black_box(EDU_LIVENESS), &val));
        }));
        runs[4].push(batch(s.per_batch, || {
            let _ = dev.region_write(bar0, black_box(EDU_LIVENESS), &val);
        }));
        runs[5].push(batch(s.per_batch, || {
            pwrite(&fd, &val, black_box(at(EDU_LIVENESS)));
        }));
    }
    assert!(f.take_errors().is_empty(), "{:?}", f.take_errors());
    let ratio = |num: &[f64], den: &[f64]| {
        let mut r: Vec<f64> = num.iter().zip(den).map(|(n, d)| n / d).collect();
        median(&mut r)
    };
    let (read_ratio, write_ratio) = (ratio(&runs[0], &runs[2]), ratio(&runs[3], &runs[5]));
    let [a, b, c, d, e, g] = runs.map(|mut r| median(&mut r));
    [[a, b, c, read_ratio], [d, e, g, write_ratio]]
}

/// Pins the calling thread to `cpu`.
fn pin(cpu: usize) -> Result<(), String> {
    // SAFETY: a zeroed cpu_set_t is an empty set; CPU_SET writes inside it.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `cpu` is below CPU_SETSIZE (the guest has a few CPUs).
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: `set` is a valid cpu_set_t of the size passed; 0 is this thread.
    let r = unsafe { libc::sched_setaffinity(0, std::mem::size_of_val(&set), &set) };
    if r == 0 {
        Ok(())
    } else {
        Err(format!(
            "sched_setaffinity({cpu}): {}",
            std::io::Error::last_os_error()
        ))
    }
}

/// Online CPUs of the guest (not `available_parallelism`, which follows
/// the thread's affinity).
fn cpus() -> usize {
    // SAFETY: sysconf has no memory effects.
    let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    usize::try_from(n).unwrap_or(1).max(1)
}

/// The CPU the kernel delivers the device's MSI to (`vfio-msi` in
/// /proc/interrupts, then its effective affinity).
fn msi_cpu() -> Option<usize> {
    let irqs = std::fs::read_to_string("/proc/interrupts").ok()?;
    let irq = irqs
        .lines()
        .find(|l| l.contains("vfio-msi"))?
        .split(':')
        .next()?
        .trim()
        .to_owned();
    let aff = std::fs::read_to_string(format!("/proc/irq/{irq}/effective_affinity_list")).ok()?;
    aff.trim().split([',', '-']).next()?.parse().ok()
}

/// MSI delivery medians, in nanoseconds, with the bench thread on the CPU
/// that takes the interrupt and on another one: (where, the raising write
/// until `poll` returns, the write alone).
fn msi_delivery(f: &mut PciFunction, s: Sizes) -> Result<Vec<(String, f64, f64)>, String> {
    // Find and enable MSI through the emulated capability.
    let r32 = |f: &mut PciFunction, at: u16| {
        let mut b = [0u8; 4];
        f.config_read(at, &mut b);
        u32::from_le_bytes(b)
    };
    let mut pos = r32(f, 0x34) as u16 & 0xfc;
    while pos != 0 && r32(f, pos) & 0xff != 0x05 {
        pos = (r32(f, pos) >> 8) as u16 & 0xfc;
    }
    if pos == 0 {
        return Err("edu has no MSI capability".into());
    }
    let flags = r32(f, pos) >> 16;
    let data_at = if flags & 0x80 != 0 { pos + 12 } else { pos + 8 };
    f.config_write(pos + 4, &0xfee0_0000u32.to_le_bytes());
    f.config_write(data_at, &0x0030u16.to_le_bytes());
    f.config_write(pos + 2, &((flags as u16) | 1).to_le_bytes());
    if f.vectors().len() != 1 {
        return Err(format!("MSI enabled {} vectors", f.vectors().len()));
    }
    let efd = f.vectors()[0].eventfd().as_raw_fd();
    let irq_cpu = msi_cpu();
    let mut placements = vec![(irq_cpu.unwrap_or(0), "same CPU as the interrupt")];
    if cpus() > 1 {
        let other = (irq_cpu.unwrap_or(0) + 1) % cpus();
        placements.push((other, "another CPU"));
    }
    let mut out = Vec::new();
    for (cpu, what) in placements {
        pin(cpu)?;
        let mut total = Vec::with_capacity(s.msis);
        let mut write = Vec::with_capacity(s.msis);
        for _ in 0..s.msis {
            let t = Instant::now();
            f.bar_write(0, EDU_IRQ_RAISE, &1u32.to_le_bytes());
            let w = t.elapsed();
            if !wait_readable(efd, Duration::from_secs(5)) {
                return Err("the MSI did not reach the eventfd within 5 s".into());
            }
            total.push(t.elapsed().as_nanos() as f64);
            write.push(w.as_nanos() as f64);
            f.vectors()[0]
                .eventfd()
                .read()
                .map_err(|e| format!("eventfd read: {e}"))?;
            f.bar_write(0, EDU_IRQ_ACK, &1u32.to_le_bytes());
        }
        let what = match irq_cpu {
            Some(_) => format!("{what}, CPU {cpu}"),
            None => format!("CPU {cpu}, interrupt's CPU unknown"),
        };
        out.push((what, median(&mut total), median(&mut write)));
    }
    pin(0)?;
    f.config_write(pos + 2, &(flags as u16).to_le_bytes());
    if !f.take_errors().is_empty() {
        return Err("host access errors".into());
    }
    Ok(out)
}

/// Touches `bytes` of fresh anonymous memory once and frees it, so that
/// the outer QEMU has backed that much of the guest's RAM before the DMA
/// rounds: otherwise the first round alone pays the outer host's page
/// faults. Returns the time it took, in milliseconds.
fn prefault_guest_ram(bytes: usize) -> Result<f64, String> {
    let t = Instant::now();
    let mem = GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), bytes)])
        .map_err(|e| format!("{bytes} bytes of memory: {e}"))?;
    let page = 4096;
    for at in (0..bytes).step_by(page) {
        mem.write_obj(1u8, GuestAddress(at as u64))
            .map_err(|e| format!("touching memory: {e}"))?;
    }
    drop(mem);
    Ok(t.elapsed().as_secs_f64() * 1e3)
}

/// Medians, in milliseconds: map fresh memory, unmap, map it again
/// (resident), unmap.
fn dma_1gib(f: &mut PciFunction, s: Sizes) -> Result<[f64; 4], String> {
    let mut runs: [Vec<f64>; 4] = Default::default();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    for _ in 0..s.dma_rounds {
        let mem = GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), GIB as usize)])
            .map_err(|e| format!("1 GiB of guest memory: {e}"))?;
        for i in 0..2 {
            let t = Instant::now();
            f.map_guest_memory(&mem).map_err(|e| e.to_string())?;
            runs[2 * i].push(ms(t.elapsed()));
            if f.dma_regions() != [(0, GIB)] {
                return Err(format!("mapped {:?}", f.dma_regions()));
            }
            let t = Instant::now();
            f.unmap_guest_region(0, GIB).map_err(|e| e.to_string())?;
            runs[2 * i + 1].push(ms(t.elapsed()));
        }
    }
    Ok(runs.map(|mut r| median(&mut r)))
}

fn run(bdf: &str, s: Sizes, bar_only: bool) -> Result<(), String> {
    let t0 = Instant::now();
    let iommufd = std::path::Path::new("/dev/iommu").exists();
    // One CPU for everything but the MSI placements: no migrations.
    pin(0)?;
    println!(
        "guest_pci: edu at {bdf}, nested TCG; {} batches of {} BAR accesses, {} MSIs, {} DMA rounds",
        s.batches, s.per_batch, s.msis, s.dma_rounds
    );

    let [read, write] = with_function(bdf, false, true, |f, fd, bar0| bar_access(f, fd, &bar0, s))?;
    let mut msi = Vec::new();
    let mut dma = Vec::new();
    let mut prefault = None;
    if !bar_only {
        msi = with_function(bdf, false, true, |f, _, _| msi_delivery(f, s))??;
        prefault = Some(prefault_guest_ram(2 * GIB as usize)?);
        dma.push((
            "legacy container",
            with_function(bdf, false, false, |f, _, _| dma_1gib(f, s))??,
        ));
        if iommufd {
            dma.push((
                "iommufd",
                with_function(bdf, true, false, |f, _, _| dma_1gib(f, s))??,
            ));
        }
    }

    println!();
    println!("| measurement | function | sys layer | bare | function ÷ bare |");
    println!("|---|---:|---:|---:|---:|");
    for (what, [func, sys, bare, ratio]) in [
        ("BAR0 read 4 B (edu id; pread)", read),
        ("BAR0 write 4 B (edu liveness; pwrite)", write),
    ] {
        println!(
            "| {what} | {:.3} µs | {:.3} µs | {:.3} µs | {ratio:.3}× |",
            func / 1e3,
            sys / 1e3,
            bare / 1e3,
        );
    }
    for (what, total, write) in &msi {
        println!(
            "| MSI, {what}: write 0x60 → eventfd wakes poll | {:.2} µs (the write alone {:.2} µs) | | | |",
            total / 1e3,
            write / 1e3
        );
    }
    for (name, [map, unmap, remap, reunmap]) in &dma {
        println!(
            "| map 1 GiB for DMA, {name}: fresh / resident | {map:.0} ms / {remap:.0} ms | | | |"
        );
        println!(
            "| unmap 1 GiB, {name}: after fresh / after resident | {unmap:.0} ms / {reunmap:.0} ms | | | |"
        );
    }
    if let Some(ms) = prefault {
        println!("(touching 2 GiB of fresh memory once before the DMA rounds: {ms:.0} ms)");
        if !iommufd {
            println!("(no /dev/iommu in this guest: iommufd not measured)");
        }
    }
    println!("guest_pci: {:.1} s", t0.elapsed().as_secs_f64());
    Ok(())
}

fn main() -> ExitCode {
    let Some(bdf) = std::env::var("VFIOVM_BDFS")
        .ok()
        .and_then(|v| v.split_whitespace().next().map(str::to_owned))
    else {
        eprintln!(
            "guest_pci: VFIOVM_BDFS is not set: this bench needs the qomgen test guest and its edu device.\n\
             Run it there: CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUNNER=$PWD/vm/cargo-runner \
             QOMGEN_VM_RUN_ARGS='--mem 3G' cargo bench -p qomgen-devices --bench guest_pci"
        );
        return ExitCode::FAILURE;
    };
    let quick = std::env::args().any(|a| a == "--quick");
    let s = if quick {
        Sizes {
            batches: 21,
            per_batch: 500,
            msis: 61,
            dma_rounds: 1,
        }
    } else {
        Sizes {
            batches: 101,
            per_batch: 500,
            msis: 301,
            dma_rounds: 3,
        }
    };
    let bar_only = std::env::args().any(|a| a == "--bar-only");
    match run(&bdf, s, bar_only) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("guest_pci: {e}");
            ExitCode::FAILURE
        }
    }
}
