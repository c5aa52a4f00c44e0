//! The `qomgen` binary end to end: help texts, dumps and diffs, every error
//! class with its exact stderr and exit status, dry-run and the host report
//! on fake trees. (Successful realizes run in the real-kernel tests.)

mod common;

use std::path::Path;
use std::process::Command;

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

fn qomgen(args: &[&str]) -> Out {
    let o = Command::new(env!("CARGO_BIN_EXE_qomgen"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let out = Out {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    };
    assert!(
        !out.stderr.contains("panicked"),
        "panic for {args:?}: {}",
        out.stderr
    );
    out
}

/// `args` on the host whose root is `root` (`--root` first).
fn rooted<'a>(root: &'a Path, args: &[&'a str]) -> Vec<&'a str> {
    [&["--root", root.to_str().unwrap()], args].concat()
}

/// [`qomgen`] with `args` exits with `code` and prints exactly `stdout` and
/// `stderr`.
#[track_caller]
fn expect_run(args: &[&str], code: i32, stdout: &str, stderr: &str) {
    let o = qomgen(args);
    assert_eq!(
        (o.code, o.stdout.as_str(), o.stderr.as_str()),
        (code, stdout, stderr),
        "{args:?}"
    );
}

/// `text`, a run's output, contains `part`; shown whole when not.
#[track_caller]
fn assert_has(text: &str, part: &str) {
    assert!(text.contains(part), "no {part:?} in:\n{text}");
}

/// `text`, a run's output, starts with `prefix`; shown whole when not.
#[track_caller]
fn assert_starts(text: &str, prefix: &str) {
    assert!(text.starts_with(prefix), "not {prefix:?} first in:\n{text}");
}

/// An empty root: a machine with no VFIO at all.
fn empty_root() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

fn write(root: &Path, rel: &str, content: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, content).unwrap();
}

#[test]
fn device_help_prints_qemus_text_and_exits_0() {
    expect_run(
        &["-device", "vfio-ap,help"],
        0,
        "vfio-ap options:\n  fd=<string>\n  iommufd=<link<iommufd>> - Set host IOMMUFD backend device\n  sysfsdev=<str>         - Host sysfs path of assigned device\n",
        "",
    );
    let o = qomgen(&["-device", "vfio-pci,?"]);
    assert_eq!(
        (o.code, o.stdout.lines().next()),
        (0, Some("vfio-pci options:"))
    );
}

#[test]
fn help_lists_and_object_help() {
    let o = qomgen(&["-device", "help"]);
    assert_eq!(o.code, 0);
    assert_starts(&o.stdout, "\nMisc devices:\nname \"vfio-ap\", bus ap-bus");
    expect_run(
        &["-object", "help"],
        0,
        "List of user creatable objects:\n  iommufd\n",
        "",
    );
    expect_run(
        &["-object", "iommufd,help"],
        0,
        "iommufd options:\n  fd=<string>\n",
        "",
    );
}

#[test]
fn help_for_an_unknown_or_abstract_type_prints_the_error_and_exits_0() {
    expect_run(
        &["-device", "nope,help"],
        0,
        "",
        "qomgen: -device nope,help: Device 'nope' not found\n",
    );
    expect_run(
        &["-device", "pci-device,help"],
        0,
        "",
        "qomgen: -device pci-device,help: Parameter 'typename' expects a non-abstract device type\n",
    );
}

#[test]
fn object_help_for_an_unknown_type_is_an_error() {
    // QEMU's object_option_parse exits 0 only after printing the help of a
    // type that exists; otherwise the option is parsed, and fails.
    expect_run(
        &["-object", "nonexist,help"],
        1,
        "",
        "qomgen: -object nonexist,help: Parameter 'qom-type' does not accept value 'nonexist'\n",
    );
    // A type that exists, user-creatable or not, prints its help.
    let o = qomgen(&["-object", "vfio-ap,help"]);
    assert_eq!((o.code, o.stderr.as_str()), (0, ""));
    assert_starts(&o.stdout, "vfio-ap options:\n");
}

#[test]
fn extra_help_marks_availability_on_this_host() {
    let root = empty_root();
    let o = qomgen(&rooted(
        root.path(),
        &["--extra", "-device", "vfio-ap,help"],
    ));
    assert_eq!(o.code, 0);
    assert_has(&o.stdout, "iommufd=<link<iommufd>>");
    assert_has(&o.stdout, "(unavailable: /dev/iommu missing)");
    assert_has(&o.stdout, "since 9.0");
}

#[test]
fn usage_errors() {
    expect_run(
        &["--bogus"],
        1,
        "",
        "qomgen: --bogus: invalid option\nTry 'qomgen --help' for more information.\n",
    );
    expect_run(
        &["-device"],
        1,
        "",
        "qomgen: -device: requires an argument\nTry 'qomgen --help' for more information.\n",
    );
    expect_run(
        &["stray"],
        1,
        "",
        "qomgen: stray: invalid argument\nTry 'qomgen --help' for more information.\n",
    );
    expect_run(
        &["--vfio-backend", "fast", "-device", "vfio-pci"],
        1,
        "",
        "qomgen: -vfio-backend fast: Parameter 'vfio-backend' does not accept value 'fast'\nUse legacy, auto or iommufd\n",
    );
    let o = qomgen(&["--help"]);
    assert_eq!(o.code, 0);
    assert_starts(&o.stdout, "usage: qomgen");
}

#[test]
fn device_errors_print_as_qemu_does() {
    let root = empty_root();
    let r = root.path().to_str().unwrap();
    let cases: &[(&[&str], &str)] = &[
        (
            &["-device", "vfio-pcii"],
            "qomgen: -device vfio-pcii: 'vfio-pcii' is not a valid device model name\nDid you mean 'vfio-pci'?\n",
        ),
        (
            &["-device", "vfio-pci,hots=1"],
            "qomgen: -device vfio-pci,hots=1: Property 'vfio-pci.hots' not found\nDid you mean 'host'?\n",
        ),
        (
            &["-device", "vfio-pci,x-vga=maybe"],
            "qomgen: -device vfio-pci,x-vga=maybe: Parameter 'x-vga' expects 'on' or 'off'\n",
        ),
        (
            &["-device", "vfio-pci,host=zz"],
            "qomgen: -device vfio-pci,host=zz: Property 'vfio-pci.host' doesn't take value 'zz'\n",
        ),
        (
            &["-device", "vfio-pci-device"],
            "qomgen: -device vfio-pci-device: Parameter 'driver' expects a non-abstract device type\n",
        ),
        (
            &["-device", "vfio-pci,id=0bad"],
            "qomgen: -device vfio-pci,id=0bad: Parameter 'id' expects an identifier\nIdentifiers consist of letters, digits, '-', '.', '_', starting with a letter.\n",
        ),
        (
            &["-device", "vfio-pci"],
            "qomgen: -device vfio-pci: No provided host device\nUse -device vfio-pci,host=DDDD:BB:DD.F or -device vfio-pci,fd=DEVICE_FD or -device vfio-pci,sysfsdev=PATH_TO_DEVICE\n",
        ),
        (
            &["--root", r, "-device", "vfio-pci,host=99:00.0"],
            "qomgen: -device vfio-pci,host=99:00.0: vfio /sys/bus/pci/devices/0000:99:00.0: no such host device: No such file or directory\n",
        ),
        (
            &["-device", "vfio-pci,fd=abc"],
            "qomgen: -device vfio-pci,fd=abc: Could not parse object fd abc:Invalid file descriptor number 'abc'\n",
        ),
        (
            &["-device", "{\"driver\": \"vfio-pci\", \"x-vga\": 1}"],
            "qomgen: -device {\"driver\": \"vfio-pci\", \"x-vga\": 1}: Invalid parameter type for 'x-vga', expected: boolean\n",
        ),
        (
            &["-device", "{\"host\": \"00:01.0\"}"],
            "qomgen: -device {\"host\": \"00:01.0\"}: Parameter 'driver' is missing\n",
        ),
        (
            &["--root", r, "-object", "iommufd,id=io0"],
            "qomgen: -object iommufd,id=io0: can't create iommufd object: /dev/iommu not found\nIs your kernel config missing CONFIG_IOMMUFD?\n",
        ),
        (
            &["-object", "iommufd"],
            "qomgen: -object iommufd: Parameter 'id' is missing\n",
        ),
        (
            &["-object", "iommufd,id=x,fd=abc"],
            "qomgen: -object iommufd,id=x,fd=abc: Could not parse remote object fd abc:Invalid file descriptor number 'abc'\n",
        ),
        (
            &["-object", "iommufd,id=x,bogus=1"],
            "qomgen: -object iommufd,id=x,bogus=1: Invalid parameter 'bogus'\n",
        ),
        (
            &["-object", "vfio-pci,id=x"],
            "qomgen: -object vfio-pci,id=x: Parameter 'qom-type' does not accept value 'vfio-pci'\n",
        ),
        (
            &["-device", "vfio-pci,iommufd=nope,host=00:01.0"],
            "qomgen: -device vfio-pci,iommufd=nope,host=00:01.0: Device 'nope' not found\n",
        ),
    ];
    for (args, stderr) in cases {
        expect_run(args, 1, "", stderr);
    }
}

#[test]
fn short_form_booleans_warn_then_the_run_goes_on() {
    expect_run(
        &["-device", "vfio-pci,x-vga"],
        1,
        "",
        "qomgen: -device vfio-pci,x-vga: warning: short-form boolean option 'x-vga' deprecated\nPlease use x-vga=on instead\nqomgen: -device vfio-pci,x-vga: No provided host device\nUse -device vfio-pci,host=DDDD:BB:DD.F or -device vfio-pci,fd=DEVICE_FD or -device vfio-pci,sysfsdev=PATH_TO_DEVICE\n",
    );
}

#[test]
fn odd_inputs_fail_cleanly() {
    for spec in [
        "",
        ",",
        ",,,",
        "{",
        "{}",
        "[1]",
        "{\"driver\": 1}",
        "vfio-pci,,",
        "vfio-pci,=",
        "vfio-pci,host=00:01.0,host",
    ] {
        let o = qomgen(&["-device", spec]);
        assert_eq!(o.code, 1, "{spec:?}: {}", o.stderr);
        assert!(
            o.stderr.starts_with(&format!("qomgen: -device {spec}: ")),
            "{spec:?}: {}",
            o.stderr
        );
    }
}

#[test]
fn dry_run_plans_without_opening() {
    let root = empty_root();
    let dev = "sys/bus/pci/devices/0000:00:01.0";
    std::fs::create_dir_all(root.path().join(dev)).unwrap();
    std::fs::create_dir_all(root.path().join("sys/kernel/iommu_groups/5")).unwrap();
    std::os::unix::fs::symlink(
        "../../../../kernel/iommu_groups/5",
        root.path().join(dev).join("iommu_group"),
    )
    .unwrap();
    expect_run(
        &rooted(
            root.path(),
            &["--dry-run", "-device", "vfio-pci,host=00:01.0,id=d0"],
        ),
        0,
        "vfio-pci (id d0): would\n  stat /sys/bus/pci/devices/0000:00:01.0\n  open /dev/vfio/5 (IOMMU group 5)\n  open /dev/vfio/vfio, VFIO_SET_IOMMU, VFIO_GROUP_GET_DEVICE_FD\n  VFIO_DEVICE_GET_INFO, region and IRQ info\n",
        "",
    );
    write(root.path(), "dev/iommu", "");
    write(root.path(), &format!("{dev}/vfio-dev/vfio0/dev"), "511:0\n");
    write(root.path(), "dev/vfio/devices/vfio0", "");
    let o = qomgen(&rooted(
        root.path(),
        &[
            "--dry-run",
            "--json",
            "--vfio-backend",
            "auto",
            "-device",
            "vfio-pci,host=00:01.0",
        ],
    ));
    assert_eq!(o.code, 0, "{}", o.stderr);
    let v: serde_json::Value = serde_json::from_str(&o.stdout).unwrap();
    assert_eq!(v["dry-run"], true);
    assert_eq!(
        v["devices"][0]["plan"],
        serde_json::json!([
            "stat /sys/bus/pci/devices/0000:00:01.0",
            "open /dev/vfio/devices/vfio0 (from /sys/bus/pci/devices/0000:00:01.0/vfio-dev/vfio0)",
            "open /dev/iommu",
            "VFIO_DEVICE_BIND_IOMMUFD, IOMMU_IOAS_ALLOC, IOMMU_GET_HW_INFO, IOMMU_HWPT_ALLOC, VFIO_DEVICE_ATTACH_IOMMUFD_PT",
            "VFIO_DEVICE_GET_INFO, region and IRQ info",
        ])
    );
}

#[test]
fn dry_run_says_when_realize_would_refuse_the_device() {
    // What realize refuses before looking at the host is planned as a
    // failure, not as steps (fd 1 is stdout, open in the child).
    let root = empty_root();
    let ccw = "/sys/bus/mdev/devices/6dfd3ec5-e8b3-4e18-a6fe-57bc9eceb920";
    for (policy, spec, why) in [
        (
            "legacy",
            "vfio-pci,fd=1,sysfsdev=/sys/bus/pci/devices/0000:00:03.0".to_owned(),
            "fd= without an iommufd= link",
        ),
        // A policy is no link: QEMU's fd= check looks at the link alone.
        (
            "iommufd",
            "vfio-pci,fd=1".to_owned(),
            "fd= without an iommufd= link",
        ),
        (
            "auto",
            format!("vfio-ccw,fd=1,sysfsdev={ccw}"),
            "fd= without an iommufd= link",
        ),
        (
            "legacy",
            "vfio-ap,fd=1".to_owned(),
            "fd= without an iommufd= link",
        ),
        ("legacy", "vfio-pci".to_owned(), "no host device given"),
        // vfio-ccw needs sysfsdev= even with fd=.
        ("legacy", "vfio-ccw,fd=1".to_owned(), "no host device given"),
    ] {
        let o = qomgen(&rooted(
            root.path(),
            &["--vfio-backend", policy, "--dry-run", "-device", &spec],
        ));
        let driver = spec.split(',').next().unwrap();
        assert_eq!(
            (o.code, o.stdout.as_str(), o.stderr.as_str()),
            (
                0,
                format!("{driver}: would\n  {why}: realize would fail\n").as_str(),
                ""
            ),
            "{spec}"
        );
    }
}

#[test]
fn dry_run_of_an_mdev_passed_by_fd_attaches_to_the_ioas() {
    // With fd= the sysfsdev still tells an mdev (`vfio_device_is_mdev`), which QEMU attaches
    // to the IOAS rather than to a HWPT of its own. fd 1 is stdout, open
    // in the child.
    let root = empty_root();
    let p = common::mdev(
        root.path(),
        &common::pci_real_dir("0000:00:02.0"),
        "83b8f4f2-509f-382f-3c1e-e6bfe0fa1001",
        None,
    );
    write(root.path(), "dev/iommu", "");
    expect_run(
        &rooted(
            root.path(),
            &[
                "--dry-run",
                "-object",
                "iommufd,id=io0",
                "-device",
                &format!("vfio-pci,iommufd=io0,fd=1,sysfsdev={p},x-balloon-allowed=on"),
            ],
        ),
        0,
        "vfio-pci: would\n  use the device fd 1 (fd=)\n  open /dev/iommu\n  VFIO_DEVICE_BIND_IOMMUFD, IOMMU_IOAS_ALLOC, VFIO_DEVICE_ATTACH_IOMMUFD_PT (to the IOAS)\n  VFIO_DEVICE_GET_INFO, region and IRQ info\n",
        "",
    );
}

#[test]
fn probe_on_a_machine_without_vfio() {
    let root = empty_root();
    let r = root.path().to_str().unwrap();
    for args in [vec!["--root", r], vec!["probe", "--root", r]] {
        let o = qomgen(&args);
        assert_eq!(o.code, 0);
        assert_has(
            &o.stdout,
            "vfio module                 : FAIL  /sys/module/vfio not found\n",
        );
        assert_has(&o.stdout, "/dev/iommu                  : WARN  not found");
        assert!(!o.stdout.contains('\x1b'));
    }
    let o = qomgen(&["probe", "--json", "--root", r]);
    let v: serde_json::Value = serde_json::from_str(&o.stdout).unwrap();
    assert_eq!(v["checks"][0]["status"], "FAIL");
    assert_eq!(v["probe"]["iommufd"]["present"], false);
}

#[test]
fn dump_and_diff() {
    let o = qomgen(&["--dump", "json"]);
    assert_eq!(o.code, 0);
    let dump: serde_json::Value = serde_json::from_str(&o.stdout).unwrap();
    assert_has(&o.stdout, "\"vfio-pci\"");
    let dir = tempfile::tempdir().unwrap();
    let old = dir.path().join("old.json");
    std::fs::write(&old, &o.stdout).unwrap();
    let same = qomgen(&["--diff", old.to_str().unwrap(), old.to_str().unwrap()]);
    assert_eq!((same.code, same.stdout.as_str()), (0, "no changes\n"));

    // Remove vfio-pci's `host` from the new side: a breaking change.
    let mut new = dump.clone();
    let types = new["types"].as_array_mut().unwrap();
    let pci = types.iter_mut().find(|t| t["name"] == "vfio-pci").unwrap();
    pci["properties"]
        .as_array_mut()
        .unwrap()
        .retain(|p| p["name"] != "host");
    let newp = dir.path().join("new.json");
    std::fs::write(&newp, serde_json::to_string(&new).unwrap()).unwrap();
    let d = qomgen(&["--diff", old.to_str().unwrap(), newp.to_str().unwrap()]);
    assert_eq!(d.code, 2, "{}{}", d.stdout, d.stderr);
    assert_has(&d.stdout, "BREAKING: ");
    assert_has(&d.stdout, "vfio-pci.host");

    let bad = qomgen(&["--diff", "/nonexistent.json", old.to_str().unwrap()]);
    assert_eq!(bad.code, 1);
    assert_starts(
        &bad.stderr,
        "qomgen: -diff /nonexistent.json: Could not read '/nonexistent.json': ",
    );
    let fmt = qomgen(&["--dump", "yaml"]);
    assert_eq!(
        (fmt.code, fmt.stderr.as_str()),
        (
            1,
            "qomgen: -dump yaml: Parameter 'dump' does not accept value 'yaml'\nThe only format is json\n"
        )
    );
}

#[test]
fn a_non_utf8_argument_is_refused_not_mangled() {
    use std::os::unix::ffi::OsStrExt;
    let arg = std::ffi::OsStr::from_bytes(b"vfio-ap,sysfsdev=/sys/devices/a\xffb");
    let o = Command::new(env!("CARGO_BIN_EXE_qomgen"))
        .arg("-device")
        .arg(arg)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        "qomgen: vfio-ap,sysfsdev=/sys/devices/a\u{fffd}b: argument is not valid UTF-8\n"
    );
}
