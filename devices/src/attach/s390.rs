//! vfio-ccw and vfio-ap realize (`hw/vfio/ccw.c: vfio_ccw_realize`,
//! `hw/vfio/ap.c: vfio_ap_realize`): both assign an mdev
//! named by its UUID; vfio-ccw also checks the subchannel and its regions.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use qomgen::{CssDevId, Error, LifecycleCx, Result};
use vfio_bindings::bindings::vfio as vb;

use super::backend;
use super::{Attached, PassedFd, Region, VfioCommon, css, host_of, notifier};
use crate::host::Host;
use crate::sys::ccw::{CcwCmdRegion, CcwCrwRegion, CcwIoRegion, CcwSchibRegion};
use crate::sys::strerror;

/// `VFIO_REGION_TYPE_CCW` and its subtypes.
const REGION_TYPE_CCW: u32 = 2;

/// vfio-ccw and vfio-ap devices alike: mediated, pinning no guest pages,
/// never given a VF token.
const S390_MDEV: backend::AttachTraits = backend::AttachTraits {
    mdev: true,
    discard_allowed: true,
    vf_token: None,
};
const SUBTYPE_ASYNC_CMD: u32 = 1;
const SUBTYPE_SCHIB: u32 = 2;
const SUBTYPE_CRW: u32 = 3;

/// The name QEMU gives a device passed by `fd=`: its id, else `VFIO_FD<n>`
/// with `n` the number the user passed.
fn fd_name(fd: &PassedFd, cx: &LifecycleCx<'_>) -> String {
    cx.id
        .map_or_else(|| format!("VFIO_FD{}", fd.number()), str::to_owned)
}

/// Realizes a vfio-ccw device; `others` are where the tree's realized ccw
/// devices sit.
///
/// # Errors
/// Every failure of QEMU's `vfio_ccw_realize` (with `s390_ccw_realize`), without the `vfio <name>:` prefix (vfio-ccw adds none).
pub fn realize_ccw(
    vfio: &VfioCommon,
    devno: Option<CssDevId>,
    others: &[css::CcwPlace],
    cx: &LifecycleCx<'_>,
) -> Result<(Attached, (CssDevId, CssDevId))> {
    let system = Host::system();
    let host = host_of(cx, &system);
    let Some(sysfsdev) = vfio.sysfsdev.as_deref().map(PathBuf::from) else {
        return Err(Error::new("No host device provided")
            .with_hint("Use -device vfio-ccw,sysfsdev=PATH_TO_DEVICE"));
    };
    let real = host.canonicalize(&sysfsdev).map_err(|e| {
        Error::new(format!(
            "Host device '{}' not found: {}",
            sysfsdev.display(),
            e.strerror()
        ))
    })?;
    let subchannel = subchannel_of(&real)?;
    let occupied = css::Occupied::of(others);
    let bus_ids = occupied.assign(devno)?;
    let known = occupied.chpids_in(bus_ids.1.cssid);
    let chpids = build_schib(host, subchannel, &known).map_err(|report| {
        if let Some(line) = report {
            cx.warn(Error::new(line));
        }
        Error::new(format!(
            "s390_ccw_realize: Failed to build initial schib: {}",
            strerror(nix::errno::Errno::EINVAL)
        ))
    })?;
    if vfio.fd.is_some() && vfio.iommufd.is_none() {
        return Err(Error::new("Use FD passing only with iommufd backend"));
    }
    let name = match &vfio.fd {
        Some(fd) => fd_name(fd, cx),
        None => Host::device_name(&sysfsdev),
    };
    let (backend, device, choice) =
        backend::attach(vfio, cx, host, Some(&sysfsdev), &name, S390_MDEV)?;
    let mut a = Attached::new(name, Some(sysfsdev), device, backend, choice)?;
    a.subchannel = Some(subchannel);
    a.chpids = Some(chpids);
    let crw = ccw_regions(&mut a)?;
    ccw_notifiers(&mut a, crw, cx)?;
    Ok((a, bus_ids))
}

/// The host subchannel is the name of the mdev's parent directory (`0.0.0313`).
fn subchannel_of(real: &Path) -> Result<CssDevId> {
    // QEMU takes g_path_get_basename() of the device's parent directory
    // (s390_ccw_get_dev_info, hw/s390x/s390-ccw.c), and GLib's base name
    // of `/` is `/`.
    let parent = real
        .parent()
        .unwrap_or(real)
        .file_name()
        .map_or_else(|| "/".to_owned(), |n| n.to_string_lossy().into_owned());
    let bad = || {
        Error::new(format!(
            "Failed to read {parent}: {}",
            strerror(nix::errno::Errno::EINVAL)
        ))
    };
    let mut it = parent.split('.');
    let (Some(c), Some(s), Some(d), None) = (it.next(), it.next(), it.next(), it.next()) else {
        return Err(bad());
    };
    let hex = |f: &str, max: usize| {
        (!f.is_empty() && f.len() <= max)
            .then(|| u32::from_str_radix(f, 16).ok())
            .flatten()
    };
    match (hex(c, 2), hex(s, 1), hex(d, 4)) {
        (Some(c), Some(s), Some(d)) if s <= 3 => Ok(CssDevId {
            cssid: c as u8,
            ssid: s as u8,
            devid: d as u16,
        }),
        _ => Err(bad()),
    }
}

/// `css_sch_build_schib`'s inputs, scanned as QEMU's `fscanf` calls scan
/// them: the path masks (three `%x`), the channel-path ids (eight `%x`;
/// the kernel prints `50 51 00 00 00 00 00 00`) and, for each non-zero
/// path the guest css does not know yet (`known`, then the ones before it
/// in the list), its type (one `%x`). Returns the channel-path ids. A file
/// QEMU cannot open is reported by name (its `error_report` line, the
/// `Err` here) before the `EINVAL`; one that does not scan fails without a
/// report.
fn build_schib(
    host: &Host,
    sch: CssDevId,
    known: &HashSet<u8>,
) -> std::result::Result<[u8; 8], Option<String>> {
    let scan = |func: &str, path: &str, n: usize| {
        match host.read_to_string(path) {
            Ok(text) => scan_hex(&text, n).ok_or(None),
            // fopen() of a directory succeeds; its read fails, unreported.
            Err(e) if e.errno == nix::errno::Errno::EISDIR => Err(None),
            Err(_) => Err(Some(format!("{func}: open {path} failed"))),
        }
    };
    let dir = format!(
        "/sys/bus/css/devices/{:x}.{:x}.{:04x}",
        sch.cssid, sch.ssid, sch.devid
    );
    scan("css_sch_get_path_masks", &format!("{dir}/pimpampom"), 3)?;
    let ids = scan("css_sch_get_chpids", &format!("{dir}/chpids"), 8)?;
    // The schib keeps a byte per path: QEMU's uint32_t -> uint8_t store.
    let mut chpids = [0u8; 8];
    for (c, id) in chpids.iter_mut().zip(ids) {
        *c = id as u8;
    }
    let mut known = known.clone();
    for chpid in chpids.into_iter().filter(|&c| c != 0) {
        if known.insert(chpid) {
            let path = format!("/sys/devices/css{:x}/chp0.{chpid:02x}/type", sch.cssid);
            scan("css_sch_get_chpid_type", &path, 1)?;
        }
    }
    Ok(chpids)
}

/// `fscanf(f, "%x %x ...")` with `n` conversions: each skips white space,
/// takes an optional sign and `0x`, then hex digits (an overflow saturates,
/// as `strtoul` does, then truncates to the `unsigned int`); what follows
/// the last one is not read. `None` when fewer than `n` convert.
fn scan_hex(text: &str, n: usize) -> Option<Vec<u32>> {
    let is_space = |b: u8| matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r');
    let mut rest = text.as_bytes();
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        while let [b, tail @ ..] = rest
            && is_space(*b)
        {
            rest = tail;
        }
        let negative = match rest {
            [b'-', tail @ ..] => {
                rest = tail;
                true
            }
            [b'+', tail @ ..] => {
                rest = tail;
                false
            }
            _ => false,
        };
        if let [b'0', b'x' | b'X', d, ..] = rest
            && d.is_ascii_hexdigit()
        {
            rest = &rest[2..];
        }
        let digits = rest.iter().take_while(|b| b.is_ascii_hexdigit()).count();
        if digits == 0 {
            return None;
        }
        let value = rest[..digits].iter().try_fold(0u64, |v, &b| {
            let d = u64::from(char::from(b).to_digit(16).unwrap_or(0));
            v.checked_mul(16)?.checked_add(d)
        });
        let value = match value {
            Some(v) if negative => v.wrapping_neg(),
            Some(v) => v,
            None => u64::MAX,
        };
        out.push(value as u32);
        rest = &rest[digits..];
    }
    Some(out)
}

/// `vfio_ccw_get_region`: the I/O region must exist with the uAPI's size;
/// the optional ones must have theirs when present. Whether there is a
/// CRW region.
fn ccw_regions(a: &mut Attached) -> Result<bool> {
    if !a.info.is_ccw() {
        return Err(Error::new("vfio: Um, this isn't a vfio-ccw device"));
    }
    let need = vb::VFIO_CCW_CONFIG_REGION_INDEX + 1;
    if a.info.num_regions < need {
        return Err(Error::new(format!(
            "vfio: too few regions ({}), expected at least {need}",
            a.info.num_regions
        )));
    }
    let device = a.device();
    let io = device
        .region_info(vb::VFIO_CCW_CONFIG_REGION_INDEX)
        .map_err(|e| Error::new(format!("vfio: Error getting config info: {}", e.strerror())))?;
    if io.size != CcwIoRegion::SIZE as u64 {
        return Err(Error::new("vfio: Unexpected size of the I/O region"));
    }
    let mut regions = vec![Region {
        info: io,
        maps: Vec::new(),
    }];
    for index in need..a.info.num_regions {
        let Ok(r) = device.region_info(index) else {
            continue;
        };
        let expected = match r.region_type() {
            Some((REGION_TYPE_CCW, SUBTYPE_ASYNC_CMD)) => Some((CcwCmdRegion::SIZE, "async cmd")),
            Some((REGION_TYPE_CCW, SUBTYPE_SCHIB)) => Some((CcwSchibRegion::SIZE, "schib")),
            Some((REGION_TYPE_CCW, SUBTYPE_CRW)) => Some((CcwCrwRegion::SIZE, "CRW")),
            _ => None,
        };
        if let Some((size, what)) = expected
            && r.size != size as u64
        {
            return Err(Error::new(format!(
                "vfio: Unexpected size of the {what} region"
            )));
        }
        regions.push(Region {
            info: r,
            maps: Vec::new(),
        });
    }
    let crw = regions
        .iter()
        .any(|r| r.info.region_type() == Some((REGION_TYPE_CCW, SUBTYPE_CRW)));
    a.regions = regions;
    Ok(crw)
}

/// The I/O interrupt (and the CRW one with a CRW region) must be
/// registered; the device-request one is best effort, as in QEMU.
fn ccw_notifiers(a: &mut Attached, crw: bool, cx: &LifecycleCx<'_>) -> Result<()> {
    const CCW_IRQS: [u32; 3] = [
        vb::VFIO_CCW_IO_IRQ_INDEX,
        vb::VFIO_CCW_CRW_IRQ_INDEX,
        vb::VFIO_CCW_REQ_IRQ_INDEX,
    ];
    let mut wanted = vec![(vb::VFIO_CCW_IO_IRQ_INDEX, true)];
    if crw {
        wanted.push((vb::VFIO_CCW_CRW_IRQ_INDEX, true));
    }
    wanted.push((vb::VFIO_CCW_REQ_IRQ_INDEX, false));
    for (index, required) in wanted {
        match notifier::register(a.device(), &a.info, index, &CCW_IRQS) {
            Ok(Ok(n)) => a.notifiers.push(n),
            Ok(Err(w)) => cx.warn(w),
            Err(e) if required => return Err(e),
            Err(w) => cx.warn(w),
        }
    }
    Ok(())
}

/// vfio-ap's device-request and configuration-change interrupts: QEMU only
/// warns when they cannot be registered.
fn ap_notifiers(a: &mut Attached, cx: &LifecycleCx<'_>) {
    const AP_IRQS: [u32; 2] = [vb::VFIO_AP_REQ_IRQ_INDEX, vb::VFIO_AP_CFG_CHG_IRQ_INDEX];
    for index in AP_IRQS {
        match notifier::register(a.device(), &a.info, index, &AP_IRQS) {
            Ok(Ok(n)) => a.notifiers.push(n),
            Ok(Err(w)) | Err(w) => cx.warn(w),
        }
    }
}

/// Realizes a vfio-ap device.
///
/// # Errors
/// Every failure of QEMU's `vfio_ap_realize`; attach failures carry `vfio <name>: `.
pub fn realize_ap(vfio: &VfioCommon, cx: &LifecycleCx<'_>) -> Result<Attached> {
    let system = Host::system();
    let host = host_of(cx, &system);
    let sysfsdev = vfio.sysfsdev.as_deref().map(PathBuf::from);
    let name = match (&vfio.fd, &sysfsdev) {
        (Some(_), _) if vfio.iommufd.is_none() => {
            return Err(Error::new("Use FD passing only with iommufd backend"));
        }
        (Some(fd), _) => fd_name(fd, cx),
        // QEMU stats a NULL path here; glibc says EFAULT. The text is kept, the hint added.
        (None, None) => {
            return Err(Error::new(format!(
                "vfio (null): no such host device: {}",
                strerror(nix::errno::Errno::EFAULT)
            ))
            .with_hint("Use -device vfio-ap,sysfsdev=PATH_TO_DEVICE"));
        }
        (None, Some(p)) => super::sysfs_device_name(host, p)?,
    };
    let attached = (|| {
        let (backend, device, choice) =
            backend::attach(vfio, cx, host, sysfsdev.as_deref(), &name, S390_MDEV)?;
        Attached::new(name.clone(), sysfsdev.clone(), device, backend, choice)
    })();
    let attached = attached.map(|mut a| {
        ap_notifiers(&mut a, cx);
        a
    });
    attached.map_err(|e: Error| e.prepend(format_args!("vfio {name}: ")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testtree::*;

    #[test]
    fn subchannel_from_parent_dir() {
        let p = Path::new("/sys/devices/css0/0.0.0313/6dfd3ec5-e8b3-4e18-a6fe-57bc9eceb920");
        assert_eq!(
            subchannel_of(p).unwrap(),
            CssDevId {
                cssid: 0,
                ssid: 0,
                devid: 0x313
            }
        );
        assert_eq!(
            subchannel_of(Path::new("/sys/devices/x/uuid"))
                .unwrap_err()
                .to_string(),
            "Failed to read x: Invalid argument"
        );
        // `sysfsdev=/tmp`: the parent is `/`.
        assert_eq!(
            subchannel_of(Path::new("/tmp")).unwrap_err().to_string(),
            "Failed to read /: Invalid argument"
        );
        assert_eq!(
            subchannel_of(Path::new("/")).unwrap_err().to_string(),
            "Failed to read /: Invalid argument"
        );
    }

    #[test]
    fn scan_hex_reads_as_fscanf_does() {
        assert_eq!(scan_hex("80 80 ff\n", 3), Some(vec![0x80, 0x80, 0xff]));
        // Any white space between, none needed after; the rest is not read.
        assert_eq!(
            scan_hex(" 50\n\t51 0x52 zz", 3),
            Some(vec![0x50, 0x51, 0x52])
        );
        assert_eq!(scan_hex("-1 +a", 2), Some(vec![u32::MAX, 0xa]));
        assert_eq!(scan_hex("fffffffff", 1), Some(vec![u32::MAX]));
        assert_eq!(
            scan_hex("ffffffffffffffffffff", 1),
            Some(vec![u32::MAX]),
            "strtoul saturates"
        );
        // Fewer conversions than asked: the old two-word format, text, nothing.
        assert_eq!(scan_hex("00000000 00000000\n", 8), None);
        assert_eq!(scan_hex("80 80\n", 3), None);
        assert_eq!(scan_hex("80 zz 80", 3), None);
        assert_eq!(scan_hex("", 1), None);
        assert_eq!(scan_hex("0x", 1), Some(vec![0]));
    }

    #[test]
    fn schib_reads_the_type_of_each_path_the_css_does_not_know() {
        let t = tempfile::tempdir().unwrap();
        let host = Host::fake(t.path());
        let sch = CssDevId {
            cssid: 0,
            ssid: 0,
            devid: 0x313,
        };
        let dir = "sys/bus/css/devices/0.0.0313";
        write(t.path(), &format!("{dir}/pimpampom"), "e0 e0 ff\n");
        write(
            t.path(),
            &format!("{dir}/chpids"),
            "50 51 50 00 00 00 00 00 \n",
        );
        write(t.path(), "sys/devices/css0/chp0.50/type", "1a\n");
        let none = HashSet::new();
        let missing = |c: &str| {
            Err(Some(format!(
                "css_sch_get_chpid_type: open /sys/devices/css0/chp0.{c}/type failed"
            )))
        };
        assert_eq!(build_schib(&host, sch, &none), missing("51"));
        // Known to the guest css (another device's path): not read again.
        let known = HashSet::from([0x51]);
        assert_eq!(
            build_schib(&host, sch, &known),
            Ok([0x50, 0x51, 0x50, 0, 0, 0, 0, 0])
        );
        write(t.path(), "sys/devices/css0/chp0.51/type", "garbage\n");
        assert_eq!(build_schib(&host, sch, &none), Err(None));
        write(t.path(), "sys/devices/css0/chp0.51/type", "1b\n");
        assert_eq!(
            build_schib(&host, sch, &none),
            Ok([0x50, 0x51, 0x50, 0, 0, 0, 0, 0])
        );
        // A directory opens but does not read: no report line.
        mkdir(t.path(), &format!("{dir}/chpids.d"));
        std::fs::remove_file(t.path().join(dir).join("chpids")).unwrap();
        std::fs::rename(
            t.path().join(dir).join("chpids.d"),
            t.path().join(dir).join("chpids"),
        )
        .unwrap();
        assert_eq!(build_schib(&host, sch, &none), Err(None));
    }
}
