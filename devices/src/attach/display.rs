//! Display support of a vGPU: QEMU's `vfio_display_probe` and the checks
//! after it in `vfio_pci_realize` (`hw/vfio/display.c`, `hw/vfio/pci.c`).

use qomgen::{Error, LifecycleCx, OnOffAuto, Result};
use vfio_bindings::bindings::vfio as vb;

use crate::sys::vfio::{Device, DeviceInfo};

/// vfio-pci-nohotplug's `ramfb` and `x-ramfb-migrate`. In QEMU they are
/// fields of every vfio-pci device (`VFIOPCIDevice`, hw/vfio/pci.h), set
/// only through the properties the nohotplug class registers, and
/// vfio-pci's realize checks them between its display probe and its
/// migration realize; here the nohotplug device hands them to its vfio-pci
/// part for that realize.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RamfbSettings {
    /// `ramfb`.
    pub enable: bool,
    /// `x-ramfb-migrate`, which realize turns to `off` where it cannot
    /// apply, as QEMU's does.
    pub migrate: OnOffAuto,
}

/// How the device presents its display.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DisplayMethod {
    /// Planes exported as dma-bufs (`VFIO_GFX_PLANE_TYPE_DMABUF`).
    Dmabuf,
    /// Planes in a device region (`VFIO_GFX_PLANE_TYPE_REGION`).
    Region,
}

/// A display found by the probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Display {
    /// dma-buf or region.
    pub method: DisplayMethod,
    /// Index of the EDID region (`VFIO_REGION_SUBTYPE_GFX_EDID`), which
    /// `xres`/`yres` need.
    pub edid_region: Option<u32>,
}

/// Probes for a display when `display` is not `off`; `on` without one is
/// an error, `auto` is not.
pub(super) fn probe(
    device: &Device,
    info: &DeviceInfo,
    display: OnOffAuto,
) -> Result<Option<Display>> {
    let found = if display == OnOffAuto::Off {
        None
    } else if device
        .probe_gfx_plane(vb::VFIO_GFX_PLANE_TYPE_DMABUF)
        .is_ok()
    {
        Some(DisplayMethod::Dmabuf)
    } else if device
        .probe_gfx_plane(vb::VFIO_GFX_PLANE_TYPE_REGION)
        .is_ok()
    {
        Some(DisplayMethod::Region)
    } else if display == OnOffAuto::Auto {
        None
    } else {
        return Err(Error::new(
            "vfio: device doesn't support any (known) display method",
        ));
    };
    Ok(found.map(|method| Display {
        method,
        edid_region: edid_region(device, info),
    }))
}

/// QEMU's checks after the display probe, in its order: `ramfb` needs a
/// display, `xres`/`yres` need one with EDID, then `x-ramfb-migrate` is
/// resolved (a warning and `off` without `ramfb`; `auto` becomes `off`, and
/// `on` is an error, with `enable-migration=off`). `ramfb` is
/// vfio-pci-nohotplug's settings, `None` for vfio-pci (in QEMU its fields
/// are then at their defaults, which pass every check and are not seen).
pub(super) fn check(
    found: Option<&Display>,
    (xres, yres): (u32, u32),
    ramfb: Option<&mut RamfbSettings>,
    enable_migration: OnOffAuto,
    cx: &LifecycleCx<'_>,
) -> Result<()> {
    if ramfb.as_ref().is_some_and(|r| r.enable) && found.is_none() {
        return Err(Error::new("ramfb=on requires display=on"));
    }
    if xres != 0 || yres != 0 {
        match found {
            None => return Err(Error::new("xres and yres properties require display=on")),
            Some(Display {
                edid_region: None, ..
            }) => return Err(Error::new("xres and yres properties need edid support")),
            Some(_) => {}
        }
    }
    let Some(r) = ramfb else {
        return Ok(());
    };
    if r.migrate == OnOffAuto::On && !r.enable {
        cx.warn(Error::new(
            "x-ramfb-migrate=on but ramfb=off. Forcing x-ramfb-migrate to off.",
        ));
        r.migrate = OnOffAuto::Off;
    }
    if enable_migration == OnOffAuto::Off {
        match r.migrate {
            OnOffAuto::Auto => r.migrate = OnOffAuto::Off,
            OnOffAuto::On => return Err(Error::new("x-ramfb-migrate requires enable-migration")),
            OnOffAuto::Off => {}
        }
    }
    Ok(())
}

/// The device-specific region of type GFX, subtype EDID, if any. Regions
/// whose info cannot be read are skipped, as QEMU's lookup does.
fn edid_region(device: &Device, info: &DeviceInfo) -> Option<u32> {
    (vb::VFIO_PCI_NUM_REGIONS..info.num_regions).find(|&i| {
        device.region_info(i).ok().and_then(|r| r.region_type())
            == Some((vb::VFIO_REGION_TYPE_GFX, vb::VFIO_REGION_SUBTYPE_GFX_EDID))
    })
}

#[cfg(test)]
mod tests {
    use qomgen::ObjectTree;

    use super::*;

    const EDID: Display = Display {
        method: DisplayMethod::Region,
        edid_region: Some(9),
    };
    const NO_EDID: Display = Display {
        method: DisplayMethod::Dmabuf,
        edid_region: None,
    };

    fn ramfb(enable: bool, migrate: OnOffAuto) -> RamfbSettings {
        RamfbSettings { enable, migrate }
    }

    /// `check`'s error (or `ok`), its warnings, and what it left in `ramfb`.
    fn run(
        found: Option<&Display>,
        res: (u32, u32),
        mut settings: Option<RamfbSettings>,
        enable_migration: OnOffAuto,
    ) -> (String, Vec<String>, Option<RamfbSettings>) {
        let mut tree = ObjectTree::new();
        let cx = LifecycleCx {
            tree: &tree,
            id: None,
        };
        let r = check(found, res, settings.as_mut(), enable_migration, &cx);
        let w = tree.take_warnings().iter().map(|e| e.to_string()).collect();
        let r = r.map_or_else(|e| e.to_string(), |()| "ok".to_owned());
        (r, w, settings)
    }

    #[test]
    fn ramfb_is_checked_before_the_resolution_as_in_qemu() {
        use OnOffAuto::{Auto, Off, On};
        let ramfb_on = Some(ramfb(true, Auto));
        // No display: ramfb's error, then (without ramfb) the resolution's.
        assert_eq!(
            run(None, (800, 0), ramfb_on, Auto).0,
            "ramfb=on requires display=on"
        );
        assert_eq!(
            run(None, (800, 0), Some(ramfb(false, Auto)), Auto).0,
            "xres and yres properties require display=on"
        );
        assert_eq!(
            run(None, (0, 600), None, Auto).0,
            "xres and yres properties require display=on"
        );
        // A display without EDID passes ramfb's check, not the resolution's.
        assert_eq!(
            run(Some(&NO_EDID), (800, 600), ramfb_on, Auto).0,
            "xres and yres properties need edid support"
        );
        // The resolution's checks come before x-ramfb-migrate's.
        assert_eq!(
            run(Some(&NO_EDID), (800, 600), Some(ramfb(true, On)), Off).0,
            "xres and yres properties need edid support"
        );
        assert_eq!(
            run(Some(&EDID), (800, 600), Some(ramfb(true, On)), Off),
            (
                "x-ramfb-migrate requires enable-migration".to_owned(),
                vec![],
                Some(ramfb(true, On))
            )
        );
    }

    #[test]
    fn x_ramfb_migrate_is_resolved_as_in_qemu() {
        use OnOffAuto::{Auto, Off, On};
        const FORCED: &str = "x-ramfb-migrate=on but ramfb=off. Forcing x-ramfb-migrate to off.";
        // on without ramfb: a warning and off, whatever enable-migration is
        // (so enable-migration=off does not make it an error).
        for mig in [Auto, On, Off] {
            assert_eq!(
                run(None, (0, 0), Some(ramfb(false, On)), mig),
                (
                    "ok".to_owned(),
                    vec![FORCED.to_owned()],
                    Some(ramfb(false, Off))
                )
            );
        }
        // enable-migration=off: auto becomes off.
        assert_eq!(
            run(Some(&EDID), (0, 0), Some(ramfb(true, Auto)), Off),
            ("ok".to_owned(), vec![], Some(ramfb(true, Off)))
        );
        // Otherwise it is kept.
        for (migrate, mig) in [(Auto, Auto), (Auto, On), (On, Auto), (Off, Off)] {
            assert_eq!(
                run(Some(&EDID), (0, 0), Some(ramfb(true, migrate)), mig),
                ("ok".to_owned(), vec![], Some(ramfb(true, migrate)))
            );
        }
        // vfio-pci has no ramfb settings: nothing to check or resolve.
        assert_eq!(
            run(None, (0, 0), None, Off),
            ("ok".to_owned(), vec![], None)
        );
    }
}
