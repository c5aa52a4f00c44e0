//! The `-object iommufd` errors and every selection and error path of
//! vfio-ccw and vfio-ap that a fake host (sysfs and `/dev` built in a
//! tempdir) can reach, each with QEMU's exact message and hint
//! (`backends/iommufd.c`, `hw/vfio/ccw.c: vfio_ccw_realize`,
//! `hw/vfio/ap.c: vfio_ap_realize`); split from `fake_host.rs`, whose
//! [`Fake`] checks that a failing `device_add`/`object_add` leaves the tree
//! as it was.

mod common;
#[path = "common/fake.rs"]
mod fake;

use std::os::fd::AsRawFd;

use common::{err, mdev, mkdir, node, remove, write};
use qomgen_devices::host::Host;

use fake::*;

/// vfio-ccw without a sysfsdev (`hw/s390x/s390-ccw.c: s390_ccw_get_dev_info`).
fn ccw_without_host(f: &mut Fake, spec: &str) {
    f.fails_with(
        spec,
        "No host device provided",
        Some("Use -device vfio-ccw,sysfsdev=PATH_TO_DEVICE"),
    );
}

/// fd= without an iommufd link (`vfio_device_get_name`).
fn fd_needs_iommufd(f: &mut Fake, spec: &str) {
    f.fails_with(spec, "Use FD passing only with iommufd backend", None);
}

/// The legacy attach errors of an mdev `vfio-<ty>` made by `mdev`, each
/// message behind `prefix` and none with the IOMMU hint (an mdev has no
/// IOMMU question): without a group, then in group `group` without its
/// node, then with the node failing `VFIO_GROUP_GET_STATUS`
/// (`hw/vfio/container-legacy.c: vfio_legacy_attach_device`). Returns the
/// fake and the spec, at the status failure.
fn mdev_legacy_attach_errors(
    ty: &str,
    mdev: impl Fn(&Fake, Option<u32>) -> String,
    group: u32,
    prefix: &str,
) -> (Fake, String) {
    let mut f = Fake::new();
    let p = mdev(&f, None);
    f.fails_with(
        &format!("vfio-{ty},sysfsdev={p}"),
        &format!("{prefix}no iommu_group found: {ENOENT}"),
        None,
    );
    let mut f = Fake::new();
    let p = mdev(&f, Some(group));
    let spec = format!("vfio-{ty},sysfsdev={p}");
    f.fails_with(
        &spec,
        &format!("{prefix}Could not open '/dev/vfio/{group}': {ENOENT}"),
        None,
    );
    node(f.root(), &format!("vfio/{group}"));
    f.fails_with(
        &spec,
        &format!("{prefix}failed to get group {group} status: {ENOTTY}"),
        None,
    );
    (f, spec)
}

/// A vfio-ccw mdev in group 7, its subchannel's css files there when
/// `css_files`, and the spec that adds it.
fn ccw_host(css_files: bool) -> (Fake, String) {
    let f = Fake::new();
    let p = f.ccw_mdev(Some(7), css_files);
    (f, format!("vfio-ccw,sysfsdev={p}"))
}

/// `device_add spec` failing to build the initial SCHIB
/// (`hw/s390x/s390-ccw.c: s390_ccw_realize`); returns the report lines
/// before it.
fn schib_fails(f: &mut Fake, spec: &str) -> Vec<String> {
    f.fails_with(
        spec,
        "s390_ccw_realize: Failed to build initial schib: Invalid argument",
        None,
    );
    f.tree
        .take_warnings()
        .iter()
        .map(|w| w.to_string())
        .collect()
}

/// The iommufd attach of the mdev at `p` finds no `vfio-dev` directory
/// (`iommufd_cdev_getfd`); the message is behind `prefix`.
fn no_vfio_dev_dir(f: &mut Fake, spec: &str, prefix: &str, p: &str) {
    f.fails_with(
        spec,
        &format!("{prefix}vfio {p}/vfio-dev: couldn't open directory {p}/vfio-dev: {ENOENT}"),
        Some(CDEV_HINT),
    );
}

// -object iommufd (`backends/iommufd.c`, `qom/object_interfaces.c`)

#[test]
fn iommufd_object_needs_dev_iommu() {
    let mut f = Fake::new();
    let (m, h) = f.fail_object("iommufd,id=x");
    assert_eq!(m, "can't create iommufd object: /dev/iommu not found");
    assert_eq!(h.as_deref(), Some(IOMMUFD_HINT));
    node(f.root(), "iommu");
    f.tree.object_add("iommufd,id=x").unwrap();
    assert_eq!(f.tree.len(), 1);
    // Creating it opens nothing yet.
    assert_eq!(f.backend_state("x"), (0, false));
}

#[test]
fn iommufd_object_fd_parameter() {
    let mut f = Fake::new();
    for bad in ["abc", "-1", ""] {
        let (m, h) = f.fail_object(&format!("iommufd,id=x,fd={bad}"));
        assert_eq!(
            m,
            format!(
                "Could not parse remote object fd {bad}:Invalid file descriptor number '{bad}'"
            )
        );
        assert_eq!(h, None);
    }
    let (m, h) = f.fail_object(&format!("iommufd,id=x,fd={NEVER_OPEN_FD}"));
    assert_eq!(
        m,
        format!("Could not parse remote object fd {NEVER_OPEN_FD}:Bad file descriptor")
    );
    assert_eq!(h.as_deref(), Some(FD_HINT));
    // A passed descriptor needs no /dev/iommu (QEMU does not validate it:
    // `backends/iommufd.c: iommufd_backend_set_fd`).
    let fd = f.file_fd("iommu-passed");
    f.tree
        .object_add(&format!("iommufd,id=x,fd={}", fd.as_raw_fd()))
        .unwrap();
    assert_eq!(f.backend_state("x"), (0, true));
}

#[test]
fn iommufd_object_generic_errors() {
    let mut f = Fake::new();
    node(f.root(), "iommu");
    assert_eq!(f.fail_object("iommufd").0, "Parameter 'id' is missing");
    assert_eq!(f.fail_object("id=x").0, "Parameter 'qom-type' is missing");
    let (m, h) = f.fail_object("iommufd,id=1x");
    assert_eq!(m, "Parameter 'id' expects an identifier");
    assert_eq!(
        h.as_deref(),
        Some("Identifiers consist of letters, digits, '-', '.', '_', starting with a letter.")
    );
    assert_eq!(
        f.fail_object("iommufd,id=x,bogus=1").0,
        "Invalid parameter 'bogus'"
    );
    assert_eq!(
        f.fail_object(r#"{"qom-type":"iommufd","id":"x","bogus":1}"#)
            .0,
        "Parameter 'bogus' is unexpected"
    );
    f.tree.object_add("iommufd,id=x").unwrap();
    assert_eq!(
        f.fail_object("iommufd,id=x").0,
        "Duplicate ID 'x' for object"
    );
    assert_eq!(err(f.tree.del_object("y")).0, "object 'y' not found");
    f.tree.del_object("x").unwrap();
    assert!(f.tree.is_empty());
}

#[test]
fn link_to_a_missing_iommufd() {
    let mut f = Fake::new();
    // `qom/object.c: object_resolve_link`: a link path that resolves to nothing. (A target of the wrong
    // type needs a second user-creatable type, which this crate has not.)
    f.fails_with(
        "vfio-ccw,iommufd=missing",
        "Device 'missing' not found",
        None,
    );
    f.fails_with(
        "vfio-ap,iommufd=/objects/missing",
        "Device '/objects/missing' not found",
        None,
    );
}

// ---------------------------------------------------------------------------
// vfio-ccw (`hw/vfio/ccw.c: vfio_ccw_realize`)

#[test]
fn ccw_without_sysfsdev() {
    let mut f = Fake::new();
    ccw_without_host(&mut f, "vfio-ccw");
    // Mandatory even with fd= and an iommufd.
    f.iommufd("x");
    let fd = f.file_fd("devfd");
    ccw_without_host(&mut f, &format!("vfio-ccw,iommufd=x,fd={}", fd.as_raw_fd()));
}

#[test]
fn ccw_host_device_not_found() {
    let mut f = Fake::new();
    f.fails_with(
        &format!("vfio-ccw,sysfsdev=/sys/bus/mdev/devices/{CCW_UUID}"),
        &format!("Host device '/sys/bus/mdev/devices/{CCW_UUID}' not found: {ENOENT}"),
        None,
    );
}

#[test]
fn ccw_bad_parent_directory_name() {
    let mut f = Fake::new();
    // Only names sscanf("%2x.%1x.%4x") rejects too: it ignores trailing
    // characters, so e.g. `0.0.03131` would be accepted by QEMU.
    for parent in ["mdev", "0.0", "zz.0.0313", "0..0313", ".0.0313"] {
        let p = mdev(
            f.root(),
            &format!("sys/devices/x/{parent}"),
            CCW_UUID,
            Some(7),
        );
        f.fails_with(
            &format!("vfio-ccw,sysfsdev={p}"),
            &format!("Failed to read {parent}: Invalid argument"),
            None,
        );
        remove(f.root(), &format!("sys/bus/mdev/devices/{CCW_UUID}"));
    }
}

#[test]
fn ccw_schib_needs_the_css_files() {
    let (mut f, spec) = ccw_host(false);
    let dir = "/sys/bus/css/devices/0.0.0313";
    // Each missing file is named in a report line before the error.
    let fails_naming = |f: &mut Fake, line: String| {
        assert_eq!(schib_fails(f, &spec), [line]);
    };
    fails_naming(
        &mut f,
        format!("css_sch_get_path_masks: open {dir}/pimpampom failed"),
    );
    write(
        f.root(),
        "sys/devices/css0/0.0.0313/pimpampom",
        "80 80 ff\n",
    );
    fails_naming(
        &mut f,
        format!("css_sch_get_chpids: open {dir}/chpids failed"),
    );
    // Channel path 0x42 (the third of the kernel's eight ids) has no type file.
    write(
        f.root(),
        "sys/devices/css0/0.0.0313/chpids",
        "00 00 42 00 00 00 00 00 \n",
    );
    fails_naming(
        &mut f,
        "css_sch_get_chpid_type: open /sys/devices/css0/chp0.42/type failed".to_owned(),
    );
    remove(f.root(), "sys/devices/css0/0.0.0313/pimpampom");
    fails_naming(
        &mut f,
        format!("css_sch_get_path_masks: open {dir}/pimpampom failed"),
    );
}

#[test]
fn ccw_schib_files_that_do_not_scan_fail_without_a_report() {
    // QEMU fscanf's three path masks, eight channel-path ids and one type:
    // content that does not scan is EINVAL with no `open ... failed` line.
    let (mut f, spec) = ccw_host(true);
    let sch = "sys/devices/css0/0.0.0313";
    let fails_silently = |f: &mut Fake| {
        assert!(schib_fails(f, &spec).is_empty(), "{spec}");
    };
    for bad in ["80 80\n", "", "80 zz ff\n"] {
        write(f.root(), &format!("{sch}/pimpampom"), bad);
        fails_silently(&mut f);
    }
    write(f.root(), &format!("{sch}/pimpampom"), "80 80 ff\n");
    // Two 32-bit words are not the kernel's eight ids.
    for bad in ["00000000 00000000\n", "50 51 52\n", ""] {
        write(f.root(), &format!("{sch}/chpids"), bad);
        fails_silently(&mut f);
    }
    write(
        f.root(),
        &format!("{sch}/chpids"),
        "50 00 00 00 00 00 00 00 \n",
    );
    write(f.root(), "sys/devices/css0/chp0.50/type", "not hex\n");
    fails_silently(&mut f);
    // With a type that scans, the schib is built and attach comes next.
    write(f.root(), "sys/devices/css0/chp0.50/type", "1a\n");
    f.fails_with(
        &spec,
        &format!("Could not open '/dev/vfio/7': {ENOENT}"),
        None,
    );
    assert!(f.tree.take_warnings().is_empty());
}

#[test]
fn ccw_fd_without_iommufd() {
    let mut f = Fake::new();
    let p = f.ccw_mdev(Some(7), true);
    let fd = f.file_fd("devfd");
    fd_needs_iommufd(
        &mut f,
        &format!("vfio-ccw,sysfsdev={p},fd={}", fd.as_raw_fd()),
    );
}

#[test]
fn ccw_legacy_attach_errors_have_no_prefix() {
    let (mut f, spec) = mdev_legacy_attach_errors("ccw", |f, g| f.ccw_mdev(g, true), 7, "");
    // devno, bootindex and loadparm change nothing on the attach path.
    f.fails_with(
        &format!("{spec},devno=fe.0.0001,bootindex=1,loadparm=LINUX"),
        &format!("failed to get group 7 status: {ENOTTY}"),
        None,
    );
}

#[test]
fn ccw_iommufd_attach_errors() {
    let mut f = Fake::new();
    f.iommufd("x");
    let p = f.ccw_mdev(Some(7), true);
    let spec = format!("vfio-ccw,sysfsdev={p},iommufd=x");
    no_vfio_dev_dir(&mut f, &spec, "", &p);
    let real = format!("sys/devices/css0/0.0.0313/{CCW_UUID}");
    write(f.root(), &format!("{real}/vfio-dev/vfio3/dev"), "511:3\n");
    node(f.root(), "vfio/devices/vfio3");
    let (m, h) = f.fail(&spec);
    assert_bind_enotty(&m, "");
    assert_eq!(h, None);
    // With fd=: the device fd is the passed one.
    let fd = f.file_fd("devfd");
    let (m, _) = f.fail(&format!("{spec},fd={}", fd.as_raw_fd()));
    assert_bind_enotty(&m, "");
    assert_eq!(f.backend_state("x"), (0, false));
}

#[test]
fn ccw_loadparm_and_devno() {
    let mut f = Fake::new();
    f.fails_with(
        "vfio-ccw,loadparm=LINUX",
        "LOADPARM is only valid for boot devices!",
        None,
    );
    // Lower case is accepted (and upper-cased), so the check still applies.
    f.fails_with(
        "vfio-ccw,loadparm=linux",
        "LOADPARM is only valid for boot devices!",
        None,
    );
    // With a bootindex the loadparm is fine and the next check fails.
    ccw_without_host(&mut f, "vfio-ccw,bootindex=1,loadparm=LINUX");
    // An empty loadparm is no loadparm.
    ccw_without_host(&mut f, "vfio-ccw,loadparm=");
    f.fails_with(
        "vfio-ccw,bootindex=1,loadparm=123456789",
        "'loadparm' can only contain up to 8 characters",
        None,
    );
    f.fails_with(
        "vfio-ccw,bootindex=1,loadparm=AB!",
        "invalid character in 'loadparm': '!' (ASCII 0x21)",
        None,
    );
    f.fails_with(
        "vfio-ccw,bootindex=1,loadparm=A_B",
        "invalid character in 'loadparm': '_' (ASCII 0x5f)",
        None,
    );
    f.fails_with(
        "vfio-ccw,devno=xyz",
        "Property 'vfio-ccw.devno' doesn't take value 'xyz'",
        None,
    );
    f.fails_with(
        "vfio-ccw,devno=fe.4.23ab",
        "Invalid cssid or ssid: cssid fe, ssid 4",
        None,
    );
}

// ---------------------------------------------------------------------------
// vfio-ap (`hw/vfio/ap.c: vfio_ap_realize`)

#[test]
fn ap_without_sysfsdev() {
    let mut f = Fake::new();
    f.fails_with(
        "vfio-ap",
        "vfio (null): no such host device: Bad address",
        Some("Use -device vfio-ap,sysfsdev=PATH_TO_DEVICE"),
    );
}

#[test]
fn ap_fd_without_iommufd() {
    let mut f = Fake::new();
    let fd = f.file_fd("devfd");
    fd_needs_iommufd(&mut f, &format!("vfio-ap,fd={}", fd.as_raw_fd()));
    let p = f.ap_mdev(Some(9));
    fd_needs_iommufd(
        &mut f,
        &format!("vfio-ap,sysfsdev={p},fd={}", fd.as_raw_fd()),
    );
}

#[test]
fn ap_host_device_not_found() {
    let mut f = Fake::new();
    f.fails_with(
        &format!("vfio-ap,sysfsdev=/sys/bus/mdev/devices/{AP_UUID}"),
        &format!("vfio /sys/bus/mdev/devices/{AP_UUID}: no such host device: {ENOENT}"),
        None,
    );
}

#[test]
fn ap_legacy_attach_errors_are_prefixed_with_the_uuid() {
    mdev_legacy_attach_errors("ap", Fake::ap_mdev, 9, &format!("vfio {AP_UUID}: "));
}

#[test]
fn ap_iommufd_attach_errors() {
    let mut f = Fake::new();
    f.iommufd("x");
    let p = f.ap_mdev(Some(9));
    no_vfio_dev_dir(
        &mut f,
        &format!("vfio-ap,sysfsdev={p},iommufd=x"),
        &format!("vfio {AP_UUID}: "),
        &p,
    );
    // fd= without sysfsdev: named by id, else VFIO_FD<n>.
    let fd = f.file_fd("devfd");
    let n = fd.as_raw_fd();
    let (m, _) = f.fail(&format!("vfio-ap,id=ap0,iommufd=x,fd={n}"));
    assert_bind_enotty(&m, "vfio ap0: ");
    let (m, _) = f.fail(&format!("vfio-ap,iommufd=x,fd={n}"));
    assert_bind_enotty(&m, &format!("vfio VFIO_FD{n}: "));
    assert_eq!(f.backend_state("x"), (0, false));
}

#[test]
fn every_failure_left_the_tree_usable() {
    // After a run of failures the same tree still takes objects and
    // releases them; clear() empties it.
    let mut f = Fake::new();
    f.fail("vfio-pci");
    f.fail("vfio-ccw");
    f.fail("vfio-ap");
    f.iommufd("x");
    f.iommufd("y");
    assert_eq!(f.tree.len(), 2);
    f.tree.clear();
    assert!(f.tree.is_empty());
}

/// The "Is the IOMMU enabled" hint is for a PCI device without a group
/// only, in virt-host-validate's words for the host's CPU vendor: never
/// for a path that is no device.
#[test]
fn iommu_hint_only_for_a_pci_device_in_the_vendors_words() {
    let mut f = Fake::new();
    write(f.root(), "etc/os-release", "ID=debian\n");
    mkdir(f.root(), "tmp");
    f.fails_with(
        "vfio-pci,sysfsdev=/etc/os-release",
        &format!(
            "vfio os-release: no iommu_group found: {}",
            "Not a directory"
        ),
        None,
    );
    f.fails_with(
        "vfio-pci,sysfsdev=/tmp",
        &format!("vfio tmp: no iommu_group found: {ENOENT}"),
        None,
    );
    let host = |cpu_flags: &str, table: Option<&str>| {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "proc/cpuinfo",
            &format!("processor\t: 0\nflags\t\t: fpu {cpu_flags} sse\n"),
        );
        if let Some(t) = table {
            write(dir.path(), &format!("sys/firmware/acpi/tables/{t}"), "");
        }
        Host::fake(dir.path()).iommu_enable_hint()
    };
    assert_eq!(
        host("vmx", Some("DMAR")),
        "IOMMU appears to be disabled in kernel. Add intel_iommu=on to kernel cmdline arguments"
    );
    assert_eq!(
        host("svm", Some("IVRS")),
        "IOMMU appears to be disabled in kernel. Add iommu=pt iommu=1 to kernel cmdline arguments"
    );
    assert_eq!(
        host("svm", None),
        "No ACPI IVRS table found, IOMMU either disabled in BIOS or not supported by this hardware platform"
    );
    assert_eq!(host("", None), "Unknown if this platform has IOMMU support");
}
