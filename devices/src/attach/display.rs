//! Display support of a vGPU: QEMU's `vfio_display_probe` and the checks
//! after it (reference §2.4 step 7).

use qomgen::{Error, OnOffAuto, Result};
use vfio_bindings::bindings::vfio as vb;

use crate::sys::vfio::{Device, DeviceInfo};

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
/// an error, `auto` is not. Then QEMU's checks of `xres`/`yres`.
pub(super) fn probe(
    device: &Device,
    info: &DeviceInfo,
    display: OnOffAuto,
    (xres, yres): (u32, u32),
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
    let found = found.map(|method| Display {
        method,
        edid_region: edid_region(device, info),
    });
    if xres != 0 || yres != 0 {
        match found {
            None => return Err(Error::new("xres and yres properties require display=on")),
            Some(Display {
                edid_region: None, ..
            }) => return Err(Error::new("xres and yres properties need edid support")),
            Some(_) => {}
        }
    }
    Ok(found)
}

/// The device-specific region of type GFX, subtype EDID, if any. Regions
/// whose info cannot be read are skipped, as QEMU's lookup does.
fn edid_region(device: &Device, info: &DeviceInfo) -> Option<u32> {
    (vb::VFIO_PCI_NUM_REGIONS..info.num_regions).find(|&i| {
        device.region_info(i).ok().and_then(|r| r.region_type())
            == Some((vb::VFIO_REGION_TYPE_GFX, vb::VFIO_REGION_SUBTYPE_GFX_EDID))
    })
}
