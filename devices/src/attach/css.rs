//! The guest's channel subsystem as the tree's ccw devices occupy it: a new
//! vfio-ccw device gets its bus id (`devno`, or the first free one in the
//! virtual css `fe`) and a subchannel, as QEMU's `css_create_sch` assigns
//! them (`hw/s390x/css.c`).

use std::collections::{HashMap, HashSet};

use qomgen::{CssDevId, Error, Result};

/// QEMU's `VIRTUAL_CSS_ID`: where devices without a `devno` go.
const VIRTUAL_CSSID: u8 = 0xfe;
const MAX_SSID: u8 = 3;
const MAX_SCHID: u32 = 0xffff;
const MAX_DEVNO: u32 = 0xffff;

/// Where a realized ccw device sits in the guest's channel subsystem: its
/// bus id (`dev_id`), subchannel (`subch_id`) and the channel paths of its
/// subchannel. The device model lists the tree's (`VfioCcw`'s realize).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CcwPlace {
    /// The bus id.
    pub dev_id: Option<CssDevId>,
    /// The subchannel.
    pub subch_id: Option<CssDevId>,
    /// The channel path ids of the subchannel (0: none).
    pub chpids: Option<[u8; 8]>,
}

/// The bus ids (`dev_id`) and subchannels (`subch_id`) already in use, and
/// the channel paths each guest css knows from its devices.
#[derive(Debug, Default)]
pub(super) struct Occupied {
    devnos: HashSet<(u8, u8, u16)>,
    subchannels: HashSet<(u8, u8, u16)>,
    chpids: HashMap<u8, HashSet<u8>>,
}

fn key(d: CssDevId) -> (u8, u8, u16) {
    (d.cssid, d.ssid, d.devid)
}

impl Occupied {
    /// What the tree's realized ccw devices hold.
    pub(super) fn of(places: &[CcwPlace]) -> Occupied {
        let mut o = Occupied::default();
        for p in places {
            o.devnos.extend(p.dev_id.map(key));
            o.subchannels.extend(p.subch_id.map(key));
            if let (Some(sch), Some(ids)) = (p.subch_id, p.chpids) {
                let known = o.chpids.entry(sch.cssid).or_default();
                known.extend(ids.into_iter().filter(|&c| c != 0));
            }
        }
        o
    }

    /// The channel paths guest css `cssid` knows (QEMU's `in_use`): their
    /// types need not be read again.
    pub(super) fn chpids_in(&self, cssid: u8) -> HashSet<u8> {
        self.chpids.get(&cssid).cloned().unwrap_or_default()
    }

    fn devno_used(&self, cssid: u8, ssid: u8, devno: u32) -> bool {
        self.devnos.contains(&(cssid, ssid, devno as u16))
    }

    /// `css_find_free_subch`: the lowest free subchannel number.
    fn free_subchannel(&self, cssid: u8, ssid: u8) -> u32 {
        (0..=MAX_SCHID)
            .find(|&n| !self.subchannels.contains(&(cssid, ssid, n as u16)))
            .unwrap_or(MAX_SCHID + 1)
    }

    /// `css_find_free_devno`: from `start` on, wrapping as QEMU does
    /// (modulo `MAX_DEVNO`).
    fn free_devno(&self, cssid: u8, ssid: u8, start: u32) -> u32 {
        (0..=MAX_DEVNO)
            .map(|round| (start + round) % MAX_DEVNO)
            .find(|&d| !self.devno_used(cssid, ssid, d))
            .unwrap_or(MAX_DEVNO + 1)
    }

    /// The bus id and subchannel of a new device: `devno` when given (it
    /// must be free), else the first free place in the virtual css.
    ///
    /// # Errors
    /// `Device %x.%x.%04x already exists`, `No free subchannel found for
    /// %x.%x.%04x`, `Virtual channel subsystem is full!`.
    pub(super) fn assign(&self, devno: Option<CssDevId>) -> Result<(CssDevId, CssDevId)> {
        let id = |cssid, ssid, n: u32| CssDevId {
            cssid,
            ssid,
            devid: n as u16,
        };
        if let Some(d) = devno {
            let name = format!("{:x}.{:x}.{:04x}", d.cssid, d.ssid, d.devid);
            if self.devno_used(d.cssid, d.ssid, u32::from(d.devid)) {
                return Err(Error::new(format!("Device {name} already exists")));
            }
            let sch = self.free_subchannel(d.cssid, d.ssid);
            if sch > MAX_SCHID {
                return Err(Error::new(format!("No free subchannel found for {name}")));
            }
            return Ok((d, id(d.cssid, d.ssid, sch)));
        }
        for ssid in 0..=MAX_SSID {
            let sch = self.free_subchannel(VIRTUAL_CSSID, ssid);
            if sch > MAX_SCHID {
                continue;
            }
            let devno = self.free_devno(VIRTUAL_CSSID, ssid, sch);
            if devno > MAX_DEVNO {
                continue;
            }
            return Ok((id(VIRTUAL_CSSID, ssid, devno), id(VIRTUAL_CSSID, ssid, sch)));
        }
        Err(Error::new("Virtual channel subsystem is full!"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev(cssid: u8, ssid: u8, devid: u16) -> CssDevId {
        CssDevId { cssid, ssid, devid }
    }

    #[test]
    fn devices_without_devno_fill_the_virtual_css_in_order() {
        let mut o = Occupied::default();
        let (d, s) = o.assign(None).unwrap();
        assert_eq!((d, s), (dev(0xfe, 0, 0), dev(0xfe, 0, 0)));
        o.devnos.insert(key(d));
        o.subchannels.insert(key(s));
        assert_eq!(o.assign(None).unwrap(), (dev(0xfe, 0, 1), dev(0xfe, 0, 1)));
        // An explicit devno takes the next subchannel of its css and set.
        assert_eq!(
            o.assign(Some(dev(0, 1, 0x23ab))).unwrap(),
            (dev(0, 1, 0x23ab), dev(0, 1, 0))
        );
    }

    #[test]
    fn qemus_three_errors() {
        let mut o = Occupied::default();
        o.devnos.insert((0xfe, 1, 0x23ab));
        assert_eq!(
            o.assign(Some(dev(0xfe, 1, 0x23ab)))
                .unwrap_err()
                .to_string(),
            "Device fe.1.23ab already exists"
        );
        // Every subchannel of set 2 of css 0 taken.
        o.subchannels.extend((0..=0xffff).map(|n| (0, 2, n)));
        assert_eq!(
            o.assign(Some(dev(0, 2, 0x0001))).unwrap_err().to_string(),
            "No free subchannel found for 0.2.0001"
        );
        // The whole virtual css taken: every subchannel of its four sets.
        o.subchannels
            .extend((0..=MAX_SSID).flat_map(|s| (0..=0xffff).map(move |n| (0xfe, s, n))));
        assert_eq!(
            o.assign(None).unwrap_err().to_string(),
            "Virtual channel subsystem is full!"
        );
    }
}
