//! QMP hotplug against the real kernel, in the vfio-vm guest: Kata
//! Containers' sequence (`getfd` of `/dev/iommu` and of the device cdev,
//! `object-add iommufd,fd=NAME`, `device_add vfio-pci,iommufd=...,fd=NAME`,
//! `device_del`, `object-del`) and the legacy path (`device_add
//! vfio-pci,host=BDF`, `device_del`), each for 1,000 rounds, with the process's descriptor count unchanged and
//! every `DEVICE_DELETED` seen. The monitor runs in this process, so the
//! count covers everything the commands open; descriptors enter it as the
//! socket front end hands them over (`Monitor::receive_fds`).

mod common;

use std::os::fd::OwnedFd;
use std::time::Instant;

use common::{GuestDevice, open_fds};
use qomgen::ObjectTree;
use qomgen::qmp::Monitor;
use serde_json::{Value, json};

/// Rounds of each sequence: 1,000 take about 23 s (Kata) and 15 s
/// (legacy) in the guest under TCG.
const CYCLES: usize = 1000;

/// The tests count this process's descriptors: one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

struct Session {
    tree: ObjectTree,
    mon: Monitor,
    deleted: usize,
}

impl Session {
    fn new() -> Session {
        let _ = qomgen_devices::models::register().count();
        let mut s = Session {
            tree: ObjectTree::new(),
            mon: Monitor::new(),
            deleted: 0,
        };
        assert_eq!(s.cmd("{'execute':'qmp_capabilities'}"), json!({}));
        s
    }

    /// Runs one command; returns its `return`, panicking on an error.
    /// Events are counted.
    fn cmd(&mut self, req: &str) -> Value {
        let mut out = Vec::new();
        self.mon
            .feed(&mut self.tree, format!("{req}\n").as_bytes(), &mut out);
        let text = String::from_utf8(out).unwrap();
        let mut ret = None;
        for line in text.lines() {
            let v: Value = serde_json::from_str(line).unwrap();
            if v["event"] == "DEVICE_DELETED" {
                assert_eq!(
                    v["data"],
                    json!({"device": "vfio0", "path": "/machine/peripheral/vfio0"})
                );
                self.deleted += 1;
            } else if let Some(r) = v.get("return") {
                ret = Some(r.clone());
            } else {
                panic!("{req}: {v}");
            }
        }
        ret.unwrap_or_else(|| panic!("{req}: no reply"))
    }

    /// Runs one command whose only reply is an error; returns its `desc`.
    fn error_desc(&mut self, req: &str) -> Value {
        let mut out = Vec::new();
        self.mon
            .feed(&mut self.tree, format!("{req}\n").as_bytes(), &mut out);
        let v: Value = serde_json::from_slice(&out).unwrap();
        v["error"]["desc"].clone()
    }

    fn getfd(&mut self, name: &str, path: &std::path::Path) {
        let f = std::fs::File::options()
            .read(true)
            .write(true)
            .open(path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        self.mon.receive_fds(vec![OwnedFd::from(f)]);
        self.cmd(&format!(
            "{{'execute':'getfd','arguments':{{'fdname':'{name}'}}}}"
        ));
    }
}

#[test]
#[ignore = "needs the real-kernel guest (vm/test-real-kernel)"]
fn kata_sequence_and_legacy_cycles() {
    let _s = serial();
    let g = GuestDevice::detect();
    let n = CYCLES;
    let mut s = Session::new();
    let before = open_fds();
    let start = Instant::now();
    if g.full() {
        let cdev = g.cdev.clone().unwrap();
        for _ in 0..n {
            s.getfd("iommu0", std::path::Path::new("/dev/iommu"));
            s.getfd("dev0", &cdev);
            s.cmd("{'execute':'object-add','arguments':{'qom-type':'iommufd','id':'io0','fd':'iommu0'}}");
            s.cmd("{'execute':'device_add','arguments':{'driver':'vfio-pci','id':'vfio0','iommufd':'io0','fd':'dev0'}}");
            assert_eq!(
                s.cmd("{'execute':'qom-get','arguments':{'path':'vfio0','property':'hotplugged'}}"),
                json!(true)
            );
            s.cmd("{'execute':'device_del','arguments':{'id':'vfio0'}}");
            s.cmd("{'execute':'object-del','arguments':{'id':'io0'}}");
        }
        assert_eq!(s.deleted, n);
        assert!(s.mon.fds().is_empty(), "every named descriptor was taken");
        assert_eq!(open_fds(), before, "descriptors after {n} Kata cycles");
        println!(
            "{n} Kata cycles (iommufd, fd passing) in {:.1} s",
            start.elapsed().as_secs_f64()
        );
    } else {
        println!("{}: no iommufd + cdev here; the legacy path only", g.mode());
    }
    let start = Instant::now();
    for _ in 0..n {
        s.cmd(&format!(
            "{{'execute':'device_add','arguments':{{'driver':'vfio-pci','id':'vfio0','host':'{}'}}}}",
            g.bdf
        ));
        s.cmd("{'execute':'device_del','arguments':{'id':'vfio0'}}");
    }
    let total = if g.full() { 2 * n } else { n };
    assert_eq!(s.deleted, total, "every DEVICE_DELETED seen");
    assert_eq!(open_fds(), before, "descriptors after {n} legacy cycles");
    println!(
        "{n} legacy cycles in {:.1} s",
        start.elapsed().as_secs_f64()
    );
}

#[test]
#[ignore = "needs the real-kernel guest (vm/test-real-kernel)"]
fn hotplug_errors_leave_nothing_behind() {
    let _s = serial();
    let g = GuestDevice::detect();
    let mut s = Session::new();
    let before = open_fds();
    // A name getfd never registered, on the device: QEMU's text.
    let desc = s.error_desc(&format!(
        "{{'execute':'device_add','arguments':{{'driver':'vfio-pci','id':'vfio0','host':'{}','fd':'nope'}}}}",
        g.bdf
    ));
    assert_eq!(
        desc,
        "Could not parse object fd nope:File descriptor named 'nope' has not been found"
    );
    // The non-hotpluggable variant is refused on hotplug.
    let desc = s.error_desc(&format!(
        "{{'execute':'device_add','arguments':{{'driver':'vfio-pci-nohotplug','host':'{}'}}}}",
        g.bdf
    ));
    assert_eq!(
        desc,
        "Device 'vfio-pci-nohotplug' does not support hotplugging"
    );
    assert!(s.tree.is_empty());
    assert_eq!(open_fds(), before);
}
