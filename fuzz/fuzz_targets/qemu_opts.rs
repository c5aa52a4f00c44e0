//! The QemuOpts syntax `-device`/`-object` use: `qemu_opts::parse` and
//! `Spec::parse` on any string. A parsed spec has each key once.
#![no_main]

use libfuzzer_sys::fuzz_target;
use qomgen::opts::qemu_opts;
use qomgen::{Spec, SpecKind};

fuzz_target!(|s: &str| {
    for implied in ["driver", "qom-type"] {
        if let Ok(o) = qemu_opts::parse(s, implied) {
            assert!(o.warnings.len() % 2 == 0, "warnings come in pairs");
        }
    }
    for kind in [SpecKind::Device, SpecKind::Object] {
        if let Ok(spec) = Spec::parse(kind, s) {
            let mut keys: Vec<_> = spec.props.iter().map(|(k, _)| k.as_str()).collect();
            keys.sort_unstable();
            assert!(keys.windows(2).all(|w| w[0] != w[1]), "duplicate key");
            let _ = spec.resolve_type();
        }
    }
});
