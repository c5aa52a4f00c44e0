//! Introspection: `-device vfio-pci,help` text (target ≤ 20 µs) and the
//! full JSON dump of every registered type (target ≤ 200 µs).
//!
//! `cargo bench -p qomgen-benches --bench introspect`

use std::hint::black_box;

use criterion::Criterion;
use qomgen::introspect::{self, HelpStyle, write_device_help};
use qomgen_benches::{VFIO_PCI, vfio_pci};

fn help(c: &mut Criterion) {
    vfio_pci();
    let mut g = c.benchmark_group("help");
    // What `qomgen -device vfio-pci,help` does: render into a new String.
    g.bench_function("device_help/vfio-pci", |b| {
        b.iter(|| introspect::device_help(black_box(VFIO_PCI), &HelpStyle::QEMU));
    });
    // Rendering alone, into a buffer that already has room.
    let mut out = String::with_capacity(16 * 1024);
    g.bench_function("write_device_help/vfio-pci (reused buffer)", |b| {
        b.iter(|| {
            out.clear();
            write_device_help(&mut out, black_box(VFIO_PCI), &HelpStyle::QEMU)
        });
    });
    g.bench_function("device_list_help", |b| {
        b.iter(|| introspect::device_list_help(black_box(false)));
    });
    g.finish();
}

fn dump(c: &mut Criterion) {
    vfio_pci();
    let mut g = c.benchmark_group("dump");
    // What `qomgen --dump json` prints: every type, pretty JSON.
    g.bench_function("every_type/json_pretty", |b| {
        b.iter(|| introspect::dump().to_json_pretty());
    });
    g.bench_function("every_type/build", |b| b.iter(introspect::dump));
    let d = introspect::dump();
    g.bench_function("every_type/serialize_pretty", |b| {
        b.iter(|| black_box(&d).to_json_pretty());
    });
    g.bench_function("every_type/serialize_compact", |b| {
        b.iter(|| serde_json::to_string(black_box(&d)));
    });
    g.bench_function("device_list_properties/vfio-pci", |b| {
        b.iter(|| introspect::device_list_properties(black_box(VFIO_PCI)));
    });
    g.finish();
}

qomgen_benches::bench_main!(help, dump);
