//! A host-readiness report in the spirit of libvirt's `virt-host-validate`:
//! one line per check, PASS / WARN / FAIL, and what to do about it.

use std::fmt;

use serde::Serialize;

use crate::attach::{access_hint, config_hint};
use crate::host::Host;
use crate::probe::HostProbe;

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Status {
    /// Ready.
    Pass,
    /// Works, with a limitation.
    Warn,
    /// Missing.
    Fail,
}

impl Status {
    fn label(self) -> &'static str {
        match self {
            Status::Pass => "PASS",
            Status::Warn => "WARN",
            Status::Fail => "FAIL",
        }
    }

    fn colour(self) -> &'static str {
        match self {
            Status::Pass => "\x1b[32m",
            Status::Warn => "\x1b[33m",
            Status::Fail => "\x1b[31m",
        }
    }
}

/// One line of the report.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// What was checked.
    pub name: String,
    /// The verdict.
    pub status: Status,
    /// What was found.
    pub detail: String,
    /// What to do, when not PASS.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

/// The whole report plus the probe it was derived from.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The checks, in order.
    pub checks: Vec<Check>,
    /// The raw probe.
    pub probe: HostProbe,
}

fn check(name: &str, status: Status, detail: impl Into<String>, hint: Option<&str>) -> Check {
    Check {
        name: name.to_owned(),
        status,
        detail: detail.into(),
        hint: hint.map(str::to_owned),
    }
}

impl Report {
    /// Probes `host` and judges it. Never fails: a machine without VFIO gets FAIL lines.
    pub fn gather(host: &Host) -> Report {
        let p = HostProbe::gather(host);
        let mut c = Vec::new();
        let iommu_hint = host.iommu_enable_hint();
        let vfio_mod = host.exists("/sys/module/vfio");
        c.push(if vfio_mod {
            check("vfio module", Status::Pass, "loaded or built in", None)
        } else {
            check(
                "vfio module",
                Status::Fail,
                "/sys/module/vfio not found",
                Some("Load it: modprobe vfio-pci (kernel option CONFIG_VFIO)"),
            )
        });
        let ct = &p.vfio_container;
        c.push(match (ct.present, ct.openable, ct.type1v2) {
            (true, true, Some(true)) => check(
                "/dev/vfio/vfio",
                Status::Pass,
                format!("API version {}, type1v2 IOMMU", ct.api_version.unwrap_or(0)),
                None,
            ),
            (true, true, _) if ct.noiommu == Some(true) => check(
                "/dev/vfio/vfio",
                Status::Warn,
                "only the no-IOMMU mode is available",
                Some(&format!(
                    "DMA is not isolated without an IOMMU. {iommu_hint}"
                )),
            ),
            (true, true, _) => check(
                "/dev/vfio/vfio",
                Status::Warn,
                "no type1 IOMMU model",
                Some(&iommu_hint),
            ),
            (true, false, _) => check(
                "/dev/vfio/vfio",
                Status::Fail,
                ct.error.clone().unwrap_or_default(),
                Some(&access_hint("/dev/vfio/vfio")),
            ),
            (false, ..) => check(
                "/dev/vfio/vfio",
                Status::Fail,
                "not found",
                Some("The legacy container needs CONFIG_VFIO_CONTAINER and the vfio module"),
            ),
        });
        let io = &p.iommufd;
        c.push(match (io.present, io.openable) {
            (true, true) => check("/dev/iommu", Status::Pass, "iommufd available", None),
            (true, false) => check(
                "/dev/iommu",
                Status::Warn,
                io.error.clone().unwrap_or_default(),
                Some(&access_hint("/dev/iommu")),
            ),
            (false, _) => check(
                "/dev/iommu",
                Status::Warn,
                "not found: -object iommufd cannot be created",
                Some(&config_hint("CONFIG_IOMMUFD")),
            ),
        });
        c.push(if p.iommu_groups > 0 {
            check(
                "IOMMU groups",
                Status::Pass,
                format!("{} groups", p.iommu_groups),
                None,
            )
        } else if !p.noiommu_groups.is_empty() {
            check(
                "IOMMU groups",
                Status::Warn,
                format!("only no-IOMMU groups: {:?}", p.noiommu_groups),
                Some("Without an IOMMU, DMA is not isolated"),
            )
        } else {
            check(
                "IOMMU groups",
                Status::Fail,
                "no IOMMU groups",
                Some(&iommu_hint),
            )
        });
        c.push(if p.vfio_cdev_supported {
            check(
                "vfio device cdev",
                Status::Pass,
                "/dev/vfio/devices supported",
                None,
            )
        } else {
            check(
                "vfio device cdev",
                Status::Warn,
                "no vfio-dev class",
                Some(&config_hint("CONFIG_VFIO_DEVICE_CDEV")),
            )
        });
        c.push(if p.kvm.dev_kvm {
            check(
                "KVM",
                Status::Pass,
                format!(
                    "/dev/kvm ({})",
                    if p.kvm.modules.is_empty() {
                        "built in".to_owned()
                    } else {
                        p.kvm.modules.join(", ")
                    }
                ),
                None,
            )
        } else {
            check(
                "KVM",
                Status::Warn,
                "/dev/kvm not found",
                Some("vfio-ap needs a KVM VM; other devices work without"),
            )
        });
        if p.vfio_pci_devices.is_empty() {
            c.push(check(
                "devices bound to vfio-pci",
                Status::Warn,
                "none",
                Some("Bind one: echo <vendor> <device> > /sys/bus/pci/drivers/vfio-pci/new_id"),
            ));
        }
        for d in &p.vfio_pci_devices {
            let ids = d.vendor_device.as_deref().unwrap_or("????:????");
            let group = d.group_node.as_deref().map_or("no group".to_owned(), |g| {
                format!(
                    "group {g}{}",
                    if d.group_node_present {
                        ""
                    } else {
                        " (node missing)"
                    }
                )
            });
            let cdev = match (&d.cdev_name, d.cdev_present) {
                (Some(n), true) => format!("cdev /dev/vfio/devices/{n}"),
                (Some(n), false) => format!("cdev {n} (node missing)"),
                (None, _) => "no cdev".to_owned(),
            };
            let ok = d.group_node_present || d.cdev_present;
            c.push(check(
                &format!("device {}", d.bdf),
                if ok { Status::Pass } else { Status::Warn },
                format!("{ids}, {group}, {cdev}"),
                (!ok).then_some(
                    "Neither the group node nor the cdev exists: is the device bound to vfio-pci?",
                ),
            ));
        }
        Report {
            checks: c,
            probe: p,
        }
    }

    /// Whether any check failed.
    pub fn has_failures(&self) -> bool {
        self.checks.iter().any(|c| c.status == Status::Fail)
    }

    /// The text report, coloured when `colour` (a terminal).
    pub fn render(&self, colour: bool) -> String {
        let mut s = String::new();
        for c in &self.checks {
            let label = if colour {
                format!("{}{}\x1b[0m", c.status.colour(), c.status.label())
            } else {
                c.status.label().to_owned()
            };
            s.push_str(&format!("{:<28}: {label}  {}\n", c.name, c.detail));
            if let Some(h) = &c.hint {
                s.push_str(&format!("{:<28}  hint: {h}\n", ""));
            }
        }
        s
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(false))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_machine_without_vfio_gets_a_plain_report() {
        let dir = tempfile::tempdir().unwrap();
        let r = Report::gather(&Host::fake(dir.path()));
        let text = r.render(false);
        assert!(r.has_failures());
        assert!(
            text.contains("vfio module                 : FAIL  /sys/module/vfio not found"),
            "{text}"
        );
        assert!(
            text.contains(
                "/dev/iommu                  : WARN  not found: -object iommufd cannot be created"
            ),
            "{text}"
        );
        assert!(
            text.contains("hint: Is your kernel config missing CONFIG_IOMMUFD?"),
            "{text}"
        );
        assert!(!text.contains('\x1b'));
        assert!(r.render(true).contains("\x1b[31mFAIL\x1b[0m"));
    }
}

/// Whether one user-creatable type can be used on this host, and if not,
/// why: what management tools cannot learn from `query-qmp-schema`, whose
/// properties are the same on every host.
#[derive(Debug, Clone, Serialize)]
pub struct TypeReadiness {
    /// QOM type name (`iommufd`, `vfio-pci`, ...).
    pub name: String,
    /// Whether creating it can work here.
    pub usable: bool,
    /// Why not, or the limitation it works with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// What to do about it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl Report {
    /// The readiness of each VFIO type, judged from the probe: `iommufd`
    /// needs an openable `/dev/iommu`; `vfio-pci` a device bound to
    /// vfio-pci and a way to reach it (an openable container with an
    /// IOMMU model, or `/dev/iommu` and the device cdev); `vfio-ccw` the
    /// s390 channel subsystem; `vfio-ap` the vfio_ap matrix device and
    /// KVM.
    pub fn types(&self, host: &Host) -> Vec<TypeReadiness> {
        let p = &self.probe;
        let ready = |name: &str, why: Option<(String, Option<String>)>| {
            let (reason, hint) = why.unzip();
            TypeReadiness {
                name: name.to_owned(),
                usable: reason.is_none(),
                reason,
                hint: hint.flatten(),
            }
        };
        let iommufd = if !p.iommufd.present {
            Some((
                "/dev/iommu not found".to_owned(),
                Some(config_hint("CONFIG_IOMMUFD")),
            ))
        } else if !p.iommufd.openable {
            Some((
                p.iommufd.error.clone().unwrap_or_default(),
                Some(access_hint("/dev/iommu")),
            ))
        } else {
            None
        };
        let ct = &p.vfio_container;
        let legacy =
            ct.present && ct.openable && (ct.type1v2 == Some(true) || ct.noiommu == Some(true));
        let cdev = iommufd.is_none() && p.vfio_cdev_supported;
        let pci = if !legacy && !cdev {
            Some((
                "neither an openable /dev/vfio/vfio with an IOMMU model nor /dev/iommu with vfio device cdevs".to_owned(),
                Some("Enable the IOMMU (intel_iommu=on / amd_iommu=on) and load vfio-pci".to_owned()),
            ))
        } else if p.vfio_pci_devices.is_empty() {
            Some((
                "no device is bound to vfio-pci".to_owned(),
                Some(
                    "Bind one: echo <vendor> <device> > /sys/bus/pci/drivers/vfio-pci/new_id"
                        .to_owned(),
                ),
            ))
        } else {
            None
        };
        let ccw = (!host.exists("/sys/bus/css")).then(|| {
            (
                "no channel subsystem (/sys/bus/css): vfio-ccw is for s390 hosts".to_owned(),
                None,
            )
        });
        let ap = if !host.exists("/sys/devices/vfio_ap/matrix") {
            Some((
                "no vfio_ap matrix device (/sys/devices/vfio_ap/matrix): vfio-ap is for s390 hosts"
                    .to_owned(),
                None,
            ))
        } else if !p.kvm.dev_kvm {
            Some((
                "/dev/kvm not found".to_owned(),
                Some("vfio-ap needs a KVM VM".to_owned()),
            ))
        } else {
            None
        };
        vec![
            ready("iommufd", iommufd),
            ready("vfio-pci", pci.clone()),
            ready("vfio-pci-nohotplug", pci),
            ready("vfio-ccw", ccw),
            ready("vfio-ap", ap),
        ]
    }
}
