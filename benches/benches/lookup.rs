//! Property lookup by name on `vfio-pci`'s table (55 properties with the
//! inherited `pci-device` ones). Target: ≤ 20 ns per lookup.
//!
//! `cargo bench -p qomgen-benches --bench lookup`

use std::hint::black_box;

use criterion::{Criterion, Throughput};
use qomgen_benches::{VFIO_PCI, vfio_pci, vfio_pci_property_names};

fn lookup(c: &mut Criterion) {
    let ty = vfio_pci();
    let names = vfio_pci_property_names();
    let reg = qomgen::registry();
    let entry = reg.get(VFIO_PCI).expect("registered");

    let mut g = c.benchmark_group("lookup");

    // `registry().get("vfio-pci")` → `.property(name)`, every name once per
    // iteration: Criterion divides by the element count, so the figure is
    // the time of one type + property lookup.
    g.throughput(Throughput::Elements(names.len() as u64));
    g.bench_function("registry_get_then_property/all_55_names", |b| {
        b.iter(|| {
            for &n in &names {
                let e = qomgen::registry().get(black_box(VFIO_PCI));
                black_box(e.and_then(|e| e.property(black_box(n))));
            }
        });
    });
    g.bench_function("property/all_55_names", |b| {
        b.iter(|| {
            for &n in &names {
                black_box(entry.property(black_box(n)));
            }
        });
    });
    // The linear scan over the tables that the index replaces, for scale.
    g.bench_function("linear_scan/all_55_names", |b| {
        b.iter(|| {
            for &n in &names {
                let n = black_box(n);
                black_box(ty.properties().find(|p| p.name == n));
            }
        });
    });

    g.throughput(Throughput::Elements(1));
    g.bench_function("property/hit_x-vga", |b| {
        b.iter(|| entry.property(black_box("x-vga")));
    });
    g.bench_function("property/hit_longest_name", |b| {
        b.iter(|| entry.property(black_box("x-migration-max-queued-buffers-size")));
    });
    g.bench_function("property/miss", |b| {
        b.iter(|| entry.property(black_box("no-such-property")));
    });
    g.bench_function("type/vfio-pci", |b| {
        b.iter(|| reg.get(black_box(VFIO_PCI)).map(|e| e.info));
    });
    g.finish();
}

qomgen_benches::bench_main!(lookup);
