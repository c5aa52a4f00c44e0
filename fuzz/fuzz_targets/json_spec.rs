//! `-device {...}` / `-object {...}`: `Spec::parse` of JSON text (the input
//! is prefixed with `{` so that every run takes the JSON path), then
//! creating and setting an instance of the fixture types (no realize).
#![no_main]

use libfuzzer_sys::fuzz_target;
use qomgen::{ObjectTree, Spec, SpecKind};

fuzz_target!(|s: &str| {
    qomgen_fuzz::keep_fixture_types();
    let text = if s.starts_with('{') {
        s.to_owned()
    } else {
        format!("{{{s}")
    };
    let tree = ObjectTree::new();
    for kind in [SpecKind::Device, SpecKind::Object] {
        if let Ok(spec) = Spec::parse(kind, &text) {
            assert!(spec.json);
            let _ = spec.instantiate(&tree);
        }
    }
});
