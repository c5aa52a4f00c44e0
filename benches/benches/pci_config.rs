//! Trapped config-space accesses of the guest-facing vfio-pci function
//! (`PciFunction::config_read` / `config_write`) on an `edu`-like layout
//! over an in-memory host (no system call): the function's own cost.
//! Target: ≤ 50 ns per access.
//!
//! `cargo bench -p qomgen-benches --bench pci_config`

use std::hint::black_box;

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion};
use qomgen_benches::pci::{BAR0_AT, BAR0_OTHER, edu_function, read, write};
use qomgen_devices::guest::pci::PciFunction;

/// Benchmarks the `N`-byte config read at `at`.
fn bench_read<const N: usize>(
    g: &mut BenchmarkGroup<'_, WallTime>,
    f: &mut PciFunction,
    name: &str,
    at: u16,
) {
    g.bench_function(name, |b| b.iter(|| read::<N>(f, black_box(at))));
}

/// Benchmarks the config write of `data` at `at`.
fn bench_write(
    g: &mut BenchmarkGroup<'_, WallTime>,
    f: &mut PciFunction,
    name: &str,
    at: u16,
    data: &[u8],
) {
    g.bench_function(name, |b| {
        b.iter(|| write(f, black_box(at), black_box(data)));
    });
}

fn config(c: &mut Criterion) {
    let mut f = edu_function();
    let mut g = c.benchmark_group("pci_config");

    // Emulated: BAR0, the MSI capability, the capability pointer.
    bench_read::<4>(&mut g, &mut f, "read/bar0_l (emulated)", 0x10);
    bench_read::<4>(&mut g, &mut f, "read/msi_header_l (emulated)", 0x40);
    bench_read::<2>(&mut g, &mut f, "read/msi_flags_w (emulated)", 0x42);
    bench_read::<1>(&mut g, &mut f, "read/cap_ptr_b (emulated)", 0x34);
    // Passed through to the host (here an in-memory copy).
    bench_read::<2>(&mut g, &mut f, "read/command_w (passed through)", 0x04);
    bench_read::<4>(
        &mut g,
        &mut f,
        "read/vendor_device_l (passed through)",
        0x00,
    );
    bench_read::<1>(
        &mut g,
        &mut f,
        "read/interrupt_pin_b (passed through)",
        0x3d,
    );

    // Writes that move no BAR.
    let cmd = 0x0006u16.to_le_bytes();
    bench_write(&mut g, &mut f, "write/command_w (no move)", 0x04, &cmd);
    let bar = BAR0_AT.to_le_bytes();
    bench_write(
        &mut g,
        &mut f,
        "write/bar0_l (same address, no move)",
        0x10,
        &bar,
    );
    let addr = 0xfee0_0000u32.to_le_bytes();
    bench_write(&mut g, &mut f, "write/msi_address_l (MSI off)", 0x44, &addr);
    let data = 0x0030u16.to_le_bytes();
    bench_write(&mut g, &mut f, "write/msi_data_w (MSI off)", 0x4c, &data);
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
