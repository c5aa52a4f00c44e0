//! Once the registry is built, the hot paths allocate nothing: looking up a
//! type and a property, iterating a table, and rendering help into a
//! buffer that already has room. A counting global allocator (one per test
//! binary, hence this file of its own) checks it.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::hint::black_box;

use qomgen::introspect::{HelpStyle, write_device_help, write_device_list, write_object_help};
use qomgen::{ObjectType, registry};
use qomgen_tests::Leaf;

thread_local! {
    /// Allocations made by this thread (other test threads do not count).
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

struct Counting;

fn count_one() {
    // `try_with`: during thread teardown the slot may be gone; such
    // allocations are not ours to count.
    let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
}

// SAFETY: every method forwards to `System` with the caller's arguments,
// so `System`'s guarantees carry over; counting touches only a
// const-initialized thread-local `Cell` that never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_one();
        // SAFETY: forwarded unchanged; the caller upholds `alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count_one();
        // SAFETY: forwarded unchanged; the caller upholds `alloc_zeroed`'s contract.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_one();
        // SAFETY: forwarded unchanged; `ptr` came from this allocator, i.e. from `System`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged; `ptr` came from this allocator, i.e. from `System`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations `f` makes on this thread.
fn allocations_in(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.with(Cell::get);
    f();
    ALLOCATIONS.with(Cell::get) - before
}

#[test]
fn hot_paths_do_not_allocate() {
    // The counter works.
    assert_eq!(
        allocations_in(|| drop(black_box(Vec::<u8>::with_capacity(1)))),
        1
    );

    // Build the registry (this allocates, once) and size the buffer.
    let reg = registry();
    assert!(reg.get(Leaf::TYPE_INFO.name).is_some());
    let mut out = String::new();
    write_device_help(&mut out, "test-leaf", &HelpStyle::QEMU).unwrap();
    let leaf_help = out.clone();
    let mut out = String::with_capacity(16 * 1024);

    let n = allocations_in(|| {
        // Type and property lookups.
        let entry = reg.get(black_box("test-leaf")).unwrap();
        let host = entry.property(black_box("host")).unwrap();
        black_box(host.name);
        assert!(entry.property(black_box("no-such-property")).is_none());
        assert!(reg.get(black_box("no-such-type")).is_none());
        // Iterating the table (ancestors first) and the lineage.
        let mut names = 0;
        for p in entry.info.properties() {
            names += black_box(p.name).len();
        }
        black_box(names);
        black_box(entry.info.lineage().count());
        black_box(entry.info.device_meta());
        black_box(entry.info.effective_description());
        // Rendering `-device test-leaf,help` into the reserved buffer.
        write_device_help(&mut out, black_box("test-leaf"), &HelpStyle::QEMU).unwrap();
    });
    assert_eq!(n, 0, "the hot paths allocated");
    assert_eq!(out, leaf_help);

    // The other renderers, and the extra style without a probe, too.
    out.clear();
    let n = allocations_in(|| {
        write_device_list(&mut out, false).unwrap();
        write_device_list(&mut out, true).unwrap();
        write_object_help(&mut out, "test-backend", &HelpStyle::QEMU).unwrap();
        write_device_help(&mut out, "test-leaf-nohotplug", &HelpStyle::EXTRA).unwrap();
    });
    assert_eq!(n, 0, "rendering allocated");
    assert_eq!(out.capacity(), 16 * 1024, "the buffer grew");
    assert!(out.contains("Misc devices:") && out.contains("test-backend options:"));
}
