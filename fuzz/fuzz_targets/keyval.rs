//! `keyval::parse` (QEMU's `util/keyval.c`) on any string, with or without
//! an implied key and a help flag; whatever parses must convert to JSON and
//! merge into itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use qomgen::opts::keyval;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let Ok(s) = std::str::from_utf8(rest) else {
        return;
    };
    let implied = match mode % 4 {
        0 => None,
        1 => Some("driver"),
        2 => Some("qom-type"),
        _ => Some("a.b"),
    };
    let mut help = false;
    let help_arg = (mode & 4 != 0).then_some(&mut help);
    if let Ok(d) = keyval::parse(s, implied, help_arg) {
        let _ = d.to_json();
        let _ = d.iter_qdict_order().count();
        let mut twice = d.clone();
        let _ = keyval::merge(&mut twice, d);
    }
});
