//! Runs one workload of the benches in a loop, for a profiler: callgrind
//! counts instructions exactly, so its figures do not depend on the load of
//! the machine, and its call graph shows where the time goes.
//!
//! ```text
//! cargo bench -p qomgen-benches --bench profile --no-run   # prints the binary's path
//! valgrind --tool=callgrind --toggle-collect='*run_workload*' \
//!     target/release/deps/profile-<hash> parse_apply_keyval 100000
//! callgrind_annotate --inclusive=yes callgrind.out.<pid>
//! ```
//!
//! Instructions per operation = the `Ir` total / the iteration count.
//! Run without a workload name to list them. `cargo bench` runs every
//! workload once, so the target stays working.

use std::hint::black_box;
use std::os::fd::{AsFd, AsRawFd};

use qomgen::introspect::{self, HelpStyle};
use qomgen::{Input, ObjectTree, Spec, SpecKind};
use qomgen_benches::{
    VFIO_PCI, VFIO_PCI_JSON_20, VFIO_PCI_SPEC_20, parse_and_apply, parse_owned_and_apply, pci,
    vfio_pci,
};
use qomgen_devices::guest::pci::HostFunction;

/// The loop callgrind's `--toggle-collect` selects: only what runs inside
/// it is counted.
#[inline(never)]
fn run_workload(n: u64, f: &mut dyn FnMut()) {
    for _ in 0..n {
        f();
    }
}

const WORKLOADS: &[&str] = &[
    "lookup",
    "parse_apply_keyval",
    "parse_apply_keyval_owned",
    "parse_apply_json",
    "parse_keyval",
    "apply_keyval",
    "set_bool_str",
    "set_u32_str",
    "set_u32_json",
    "help",
    "dump",
    "pci_read_bar0_l",
    "pci_read_command_w",
    "pci_read_vendor_l",
    "pci_write_command_w",
    "pci_write_bar0_move",
    "pci_bar_read",
    "pci_bar_write",
    "sys_region_read",
    "sys_region_write",
    "bare_pread",
    "bare_pwrite",
];

fn run(name: &str, n: u64) -> bool {
    vfio_pci();
    let tree = ObjectTree::new();
    let entry = qomgen::registry().get(VFIO_PCI).expect("registered");
    let parsed = Spec::parse(SpecKind::Device, VFIO_PCI_SPEC_20).expect("valid spec");
    let mut inst = tree.instantiate(VFIO_PCI).expect("instantiates");
    let json = serde_json::json!(1920);
    let mut out = String::with_capacity(16 * 1024);
    let mut pci = pci::edu_function();
    let mut flip = 0usize;
    let bar0 = [pci::BAR0_OTHER.to_le_bytes(), pci::BAR0_AT.to_le_bytes()];
    // The trapped BAR path down to a system call (`/dev/zero`): through the
    // function, through the sys layer alone, and bare.
    let mut pci_fd = pci::function_over(pci::MemHost::with_device(pci::dev_zero()));
    let zero = pci::dev_zero();
    let region = pci::MemHost::with_device(pci::dev_zero())
        .region(0)
        .cloned()
        .expect("BAR0");
    let word = 0x5a5a_a5a5u32.to_le_bytes();
    let mut f: Box<dyn FnMut() + '_> = match name {
        "lookup" => Box::new(|| {
            black_box(entry.property(black_box("x-vga")));
        }),
        "parse_apply_keyval" => Box::new(|| {
            black_box(parse_and_apply(&tree, black_box(VFIO_PCI_SPEC_20)).is_ok());
        }),
        "parse_apply_keyval_owned" => Box::new(|| {
            black_box(parse_owned_and_apply(&tree, black_box(VFIO_PCI_SPEC_20)).is_ok());
        }),
        "parse_apply_json" => Box::new(|| {
            black_box(parse_and_apply(&tree, black_box(VFIO_PCI_JSON_20)).is_ok());
        }),
        "parse_keyval" => Box::new(|| {
            black_box(Spec::parse(SpecKind::Device, black_box(VFIO_PCI_SPEC_20)).is_ok());
        }),
        "apply_keyval" => Box::new(|| {
            black_box(black_box(&parsed).instantiate(&tree).is_ok());
        }),
        "set_bool_str" => Box::new(|| {
            black_box(tree.set(&mut inst, black_box("x-vga"), Input::Str(black_box("on"))))
                .expect("sets");
        }),
        "set_u32_str" => Box::new(|| {
            black_box(tree.set(&mut inst, black_box("xres"), Input::Str(black_box("1920"))))
                .expect("sets");
        }),
        "set_u32_json" => Box::new(|| {
            black_box(tree.set(&mut inst, black_box("xres"), Input::Json(black_box(&json))))
                .expect("sets");
        }),
        "help" => Box::new(|| {
            out.clear();
            introspect::write_device_help(&mut out, black_box(VFIO_PCI), &HelpStyle::QEMU)
                .expect("renders");
        }),
        "dump" => Box::new(|| {
            black_box(introspect::dump().to_json_pretty());
        }),
        "pci_read_bar0_l" => Box::new(|| {
            black_box(pci::read::<4>(&mut pci, black_box(0x10)));
        }),
        "pci_read_command_w" => Box::new(|| {
            black_box(pci::read::<2>(&mut pci, black_box(0x04)));
        }),
        "pci_read_vendor_l" => Box::new(|| {
            black_box(pci::read::<4>(&mut pci, black_box(0x00)));
        }),
        "pci_write_command_w" => Box::new(|| {
            black_box(pci::write(
                &mut pci,
                black_box(0x04),
                black_box(&0x0006u16.to_le_bytes()),
            ));
        }),
        "pci_write_bar0_move" => Box::new(|| {
            flip ^= 1;
            black_box(pci::write(
                &mut pci,
                black_box(0x10),
                black_box(&bar0[flip]),
            ));
        }),
        "pci_bar_read" => Box::new(|| {
            let mut b = [0u8; 4];
            pci_fd.bar_read(0, black_box(0), &mut b);
            black_box(b);
        }),
        "pci_bar_write" => Box::new(|| {
            black_box(pci_fd.bar_write(0, black_box(4), &word));
        }),
        "sys_region_read" => Box::new(|| {
            let mut b = [0u8; 4];
            zero.region_read(&region, black_box(0), &mut b)
                .expect("reads");
            black_box(b);
        }),
        "sys_region_write" => Box::new(|| {
            zero.region_write(&region, black_box(4), &word)
                .expect("writes");
        }),
        "bare_pread" => Box::new(|| {
            let mut b = [0u8; 4];
            // SAFETY: `b` is valid for 4 bytes of writes; the descriptor is open.
            let n = unsafe {
                libc::pread(
                    zero.as_fd().as_raw_fd(),
                    b.as_mut_ptr().cast(),
                    4,
                    black_box(pci::BAR0_FD_OFFSET as libc::off_t),
                )
            };
            assert_eq!(n, 4);
            black_box(b);
        }),
        "bare_pwrite" => Box::new(|| {
            // SAFETY: `word` is valid for 4 bytes of reads; the descriptor is open.
            let n = unsafe {
                libc::pwrite(
                    zero.as_fd().as_raw_fd(),
                    word.as_ptr().cast(),
                    4,
                    black_box(pci::BAR0_FD_OFFSET as libc::off_t + 4),
                )
            };
            assert_eq!(n, 4);
        }),
        _ => return false,
    };
    run_workload(n, &mut *f);
    true
}

fn main() {
    // `cargo bench` passes `--bench`; anything starting with `-` is not ours.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    match args.first() {
        Some(name) => {
            let n = args.get(1).and_then(|n| n.parse().ok()).unwrap_or(100_000);
            if !run(name, n) {
                eprintln!("unknown workload {name}; one of: {}", WORKLOADS.join(" "));
                std::process::exit(2);
            }
        }
        None if std::env::args().any(|a| a == "--bench") => {
            // Under `cargo bench`: check every workload runs.
            for w in WORKLOADS {
                assert!(run(w, 1), "{w}");
            }
        }
        None => {
            eprintln!(
                "usage: profile WORKLOAD [ITERATIONS]; workloads: {}",
                WORKLOADS.join(" ")
            );
            std::process::exit(2);
        }
    }
}
