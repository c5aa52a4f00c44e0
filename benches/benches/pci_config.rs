//! Trapped config-space accesses of the guest-facing vfio-pci function
//! (`PciFunction::config_read` / `config_write`) on an `edu`-like layout
//! over an in-memory host (no system call): the function's own cost.
//! Target: ≤ 50 ns per access.
//!
//! `cargo bench -p qomgen-benches --bench pci_config`

use std::hint::black_box;

use criterion::Criterion;
use qomgen_benches::pci::{BAR0_AT, BAR0_OTHER, edu_function, read, write};

fn config(c: &mut Criterion) {
    let mut f = edu_function();
    let mut g = c.benchmark_group("pci_config");

    // Emulated: BAR0, the MSI capability, the capability pointer.
    g.bench_function("read/bar0_l (emulated)", |b| {
        b.iter(|| read::<4>(&mut f, black_box(0x10)));
    });
    g.bench_function("read/msi_header_l (emulated)", |b| {
        b.iter(|| read::<4>(&mut f, black_box(0x40)));
    });
    g.bench_function("read/msi_flags_w (emulated)", |b| {
        b.iter(|| read::<2>(&mut f, black_box(0x42)));
    });
    g.bench_function("read/cap_ptr_b (emulated)", |b| {
        b.iter(|| read::<1>(&mut f, black_box(0x34)));
    });
    // Passed through to the host (here an in-memory copy).
    g.bench_function("read/command_w (passed through)", |b| {
        b.iter(|| read::<2>(&mut f, black_box(0x04)));
    });
    g.bench_function("read/vendor_device_l (passed through)", |b| {
        b.iter(|| read::<4>(&mut f, black_box(0x00)));
    });
    g.bench_function("read/interrupt_pin_b (passed through)", |b| {
        b.iter(|| read::<1>(&mut f, black_box(0x3d)));
    });

    // Writes that move no BAR.
    let cmd = 0x0006u16.to_le_bytes();
    g.bench_function("write/command_w (no move)", |b| {
        b.iter(|| write(&mut f, black_box(0x04), black_box(&cmd)));
    });
    let bar = BAR0_AT.to_le_bytes();
    g.bench_function("write/bar0_l (same address, no move)", |b| {
        b.iter(|| write(&mut f, black_box(0x10), black_box(&bar)));
    });
    let addr = 0xfee0_0000u32.to_le_bytes();
    g.bench_function("write/msi_address_l (MSI off)", |b| {
        b.iter(|| write(&mut f, black_box(0x44), black_box(&addr)));
    });
    let data = 0x0030u16.to_le_bytes();
    g.bench_function("write/msi_data_w (MSI off)", |b| {
        b.iter(|| write(&mut f, black_box(0x4c), black_box(&data)));
    });
    // A write that moves BAR0: alternating addresses, one event each.
    let addrs = [BAR0_OTHER.to_le_bytes(), BAR0_AT.to_le_bytes()];
    let mut i = 0;
    g.bench_function("write/bar0_l (moves BAR0)", |b| {
        b.iter(|| {
            i ^= 1;
            write(&mut f, black_box(0x10), black_box(&addrs[i]))
        });
    });
    g.finish();
    assert!(f.take_errors().is_empty());
}

qomgen_benches::bench_main!(config);
