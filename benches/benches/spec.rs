//! Parsing a `-device` argument and applying it to a new device (no
//! realize), and setting one property from a string or JSON.
//! Targets: ≥ 1,000,000 devices/s for the 20-property spec on one core;
//! ≤ 50 ns to set one bool/int property.
//!
//! `cargo bench -p qomgen-benches --bench spec`

use std::hint::black_box;

use criterion::{Criterion, Throughput};
use qomgen::{Input, ObjectTree, PropertyKind, Spec, SpecKind, ValueCx};
use qomgen_benches::{
    VFIO_PCI, VFIO_PCI_JSON_20, VFIO_PCI_SPEC_20, parse_and_apply, parse_owned_and_apply, vfio_pci,
};
use serde_json::json;

fn spec(c: &mut Criterion) {
    vfio_pci();
    let tree = ObjectTree::new();
    let mut g = c.benchmark_group("spec");
    // One element = one device: Criterion then reports devices/s.
    g.throughput(Throughput::Elements(1));

    g.bench_function("parse_apply/keyval_20", |b| {
        b.iter(|| parse_and_apply(&tree, black_box(VFIO_PCI_SPEC_20)).map(drop));
    });
    g.bench_function("parse_apply/keyval_20 (owned Spec)", |b| {
        b.iter(|| parse_owned_and_apply(&tree, black_box(VFIO_PCI_SPEC_20)).map(drop));
    });
    g.bench_function("parse_apply/json_20", |b| {
        b.iter(|| parse_and_apply(&tree, black_box(VFIO_PCI_JSON_20)).map(drop));
    });

    // The parts of parse_apply/keyval_20.
    g.bench_function("parse_only/keyval_20", |b| {
        b.iter(|| Spec::parse(SpecKind::Device, black_box(VFIO_PCI_SPEC_20)));
    });
    g.bench_function("parse_only/qemu_opts_20", |b| {
        b.iter(|| qomgen::opts::qemu_opts::parse(black_box(VFIO_PCI_SPEC_20), "driver"));
    });
    g.bench_function("parse_only/json_20", |b| {
        b.iter(|| Spec::parse(SpecKind::Device, black_box(VFIO_PCI_JSON_20)));
    });
    let parsed = Spec::parse(SpecKind::Device, VFIO_PCI_SPEC_20).expect("valid spec");
    g.bench_function("apply_only/keyval_20", |b| {
        b.iter(|| black_box(&parsed).instantiate(&tree).map(drop));
    });
    g.bench_function("create_only/vfio-pci", |b| {
        b.iter(|| tree.instantiate(black_box(VFIO_PCI)).map(drop));
    });
    g.finish();
}

/// `(property, keyval string, JSON value)` of each kind measured.
fn cases() -> Vec<(&'static str, &'static str, serde_json::Value)> {
    vec![
        ("x-vga", "on", json!(true)),
        ("xres", "1920", json!(1920)),
        ("x-vpasid-cap-offset", "0x100", json!(256)),
        ("rombar", "-1", json!(-1)),
        ("x-max-bounce-buffer-size", "64k", json!(65536)),
        ("display", "on", json!("on")),
        ("host", "0000:01:00.0", json!("0000:01:00.0")),
    ]
}

fn set(c: &mut Criterion) {
    vfio_pci();
    let tree = ObjectTree::new();
    let mut inst = tree.instantiate(VFIO_PCI).expect("vfio-pci instantiates");
    let mut g = c.benchmark_group("set");
    g.throughput(Throughput::Elements(1));
    for (name, s, j) in cases() {
        // Lookup + conversion + store, as `ObjectTree::set` does for every
        // property of a spec.
        g.bench_function(format!("str/{name}={s}"), |b| {
            b.iter(|| tree.set(&mut inst, black_box(name), Input::Str(black_box(s))));
        });
        g.bench_function(format!("json/{name}={j}"), |b| {
            b.iter(|| tree.set(&mut inst, black_box(name), Input::Json(black_box(&j))));
        });
    }
    // The conversion alone, without lookup or store.
    let cx = ValueCx::new(VFIO_PCI, "x-vga");
    g.bench_function("kind_only/bool::parse(on)", |b| {
        b.iter(|| bool::parse(black_box("on"), &cx));
    });
    g.bench_function("kind_only/u32::parse(1920)", |b| {
        b.iter(|| u32::parse(black_box("1920"), &cx));
    });
    let one = json!(1920);
    g.bench_function("kind_only/u32::from_json(1920)", |b| {
        b.iter(|| u32::from_json(black_box(&one), &cx));
    });
    // Failure path: the error builds QEMU's message (allocates).
    g.bench_function("str/xres=bad (error)", |b| {
        b.iter(|| {
            tree.set(&mut inst, black_box("xres"), Input::Str(black_box("many")))
                .unwrap_err()
        });
    });
    g.bench_function("str/no-such-property (error)", |b| {
        b.iter(|| {
            tree.set(&mut inst, black_box("no-such"), Input::Str("1"))
                .unwrap_err()
        });
    });
    g.finish();
}

qomgen_benches::bench_main!(spec, set);
