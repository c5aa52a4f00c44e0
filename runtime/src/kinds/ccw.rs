//! s390 channel-subsystem kinds: the device id (`devno=fe.1.23ab`) and the
//! boot `loadparm`.

use std::fmt;

use serde_json::Value;

use crate::error::{Error, Result};
use crate::kind::{DefaultValue, PropertyKind, ValueCx};

/// A channel-subsystem device id `cssid.ssid.devno` (hex, e.g. `fe.1.23ab`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CssDevId {
    /// Channel subsystem id, 0..=0xff.
    pub cssid: u8,
    /// Subchannel set id, 0..=3.
    pub ssid: u8,
    /// Device number.
    pub devid: u16,
}

/// Highest subchannel-set id (QEMU's `MAX_SSID`).
const MAX_SSID: u32 = 3;

/// `sscanf("%Nx")`: up to `max` hex digits; `None` when there is none.
fn hex_field(s: &str, max: usize) -> Option<(u32, &str)> {
    let n = s
        .bytes()
        .take(max)
        .take_while(u8::is_ascii_hexdigit)
        .count();
    if n == 0 {
        return None;
    }
    Some((u32::from_str_radix(&s[..n], 16).ok()?, &s[n..]))
}

impl CssDevId {
    /// Parses `%2x.%1x.%4x` with nothing after it and, as QEMU's
    /// `(n2 - n1) != 5` insists, all four digits of the device number;
    /// `Err(Some(..))` for an ssid out of range.
    fn parse_str(s: &str) -> std::result::Result<Self, Option<(u32, u32)>> {
        let (cssid, r) = hex_field(s, 2).ok_or(None)?;
        let r = r.strip_prefix('.').ok_or(None)?;
        let (ssid, r) = hex_field(r, 1).ok_or(None)?;
        let r = r.strip_prefix('.').ok_or(None)?;
        let (devid, rest) = hex_field(r, 4).ok_or(None)?;
        if r.len() - rest.len() != 4 || !rest.is_empty() {
            return Err(None);
        }
        if ssid > MAX_SSID {
            return Err(Some((cssid, ssid)));
        }
        Ok(CssDevId {
            cssid: cssid as u8,
            ssid: ssid as u8,
            devid: devid as u16,
        })
    }
}

impl fmt::Display for CssDevId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:x}.{:x}.{:04x}", self.cssid, self.ssid, self.devid)
    }
}

impl PropertyKind for CssDevId {
    const DESCRIPTION: Option<&'static str> =
        Some("Identifier of an I/O device in the channel subsystem, example: fe.1.23ab");

    fn parse(s: &str, cx: &ValueCx<'_>) -> Result<Self> {
        Self::parse_str(s).map_err(|e| match e {
            Some((cssid, ssid)) => Error::new(format!(
                "Invalid cssid or ssid: cssid {cssid:x}, ssid {ssid:x}"
            )),
            None => cx.doesnt_take(s),
        })
    }

    displayed_string_kind!();
}

/// A boot load parameter: up to 8 characters of `[A-Za-z0-9. ]`, kept upper-case.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct CcwLoadparm(String);

impl CcwLoadparm {
    /// The normalized (upper-case) value.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CcwLoadparm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl PropertyKind for CcwLoadparm {
    const DESCRIPTION: Option<&'static str> =
        Some("Up to 8 chars in set of [A-Za-z0-9. ] to select a guest kernel");

    fn parse(s: &str, _cx: &ValueCx<'_>) -> Result<Self> {
        // QEMU aborts on these inputs (its setter's error is fatal); a clean error is better.
        if s.len() > 8 {
            return Err(Error::new("'loadparm' can only contain up to 8 characters"));
        }
        let mut out = String::with_capacity(s.len());
        for c in s.chars() {
            let u = c.to_ascii_uppercase();
            if !(u.is_ascii_alphanumeric() || u == ' ' || u == '.') {
                let code = u32::from(c);
                return Err(Error::new(format!(
                    "invalid character in 'loadparm': '{c}' (ASCII 0x{code:02x})"
                )));
            }
            out.push(u);
        }
        Ok(CcwLoadparm(out))
    }

    displayed_string_kind!();
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `s` parsed as vfio-ccw's `prop`: the value's text, or the error's.
    fn parsed<K: PropertyKind + fmt::Display>(prop: &str, s: &str) -> Result<String, String> {
        K::parse(s, &ValueCx::new("vfio-ccw", prop))
            .map(|v| v.to_string())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn devid_forms_and_errors() {
        let devid = |s| parsed::<CssDevId>("devno", s);
        assert_eq!(devid("fe.1.23ab"), Ok("fe.1.23ab".to_owned()));
        let cx = ValueCx::new("vfio-ccw", "devno");
        assert_eq!(CssDevId::parse("0.0.0001", &cx).unwrap().devid, 1);
        assert_eq!(devid("fe.1.0023"), Ok("fe.1.0023".to_owned()));
        assert_eq!(
            devid("fe.4.0001"),
            Err("Invalid cssid or ssid: cssid fe, ssid 4".to_owned())
        );
        for bad in [
            "fe.1.23ab0",
            "fe.1.23",
            "fe.1.1",
            "fe.1.123",
            "fe.1.",
            "fe.1",
            "xx.1.0001",
            "fe.1.0001 ",
            "100.1.0001",
        ] {
            assert_eq!(
                devid(bad),
                Err(format!(
                    "Property 'vfio-ccw.devno' doesn't take value '{bad}'"
                ))
            );
        }
    }

    #[test]
    fn loadparm_rules() {
        let loadparm = |s| parsed::<CcwLoadparm>("loadparm", s);
        assert_eq!(loadparm("abc. 1"), Ok("ABC. 1".to_owned()));
        assert_eq!(
            loadparm("123456789"),
            Err("'loadparm' can only contain up to 8 characters".to_owned())
        );
        assert_eq!(
            loadparm("a-b"),
            Err("invalid character in 'loadparm': '-' (ASCII 0x2d)".to_owned())
        );
    }
}
