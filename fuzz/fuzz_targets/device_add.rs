//! `ObjectTree::device_add` / `object_add` on the fixture types: each input
//! line is one `-device` (or, with a leading `@`, `-object`) argument, in
//! keyval or JSON syntax, added in turn to a tree that already holds a
//! backend and a device. Nothing may panic, a success adds exactly one
//! entry, a failure changes nothing and leaks no backend.
#![no_main]

use libfuzzer_sys::fuzz_target;
use qomgen::SpecKind;

fuzz_target!(|s: &str| {
    let mut tree = qomgen_fuzz::populated_tree();
    for line in s.lines().take(8) {
        match line.strip_prefix('@') {
            Some(obj) => qomgen_fuzz::add_all_or_nothing(&mut tree, SpecKind::Object, obj),
            None => qomgen_fuzz::add_all_or_nothing(&mut tree, SpecKind::Device, line),
        }
    }
    let _ = tree.del_device("d0");
    let _ = tree.del_object("be");
});
