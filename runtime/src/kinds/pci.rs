//! PCI addresses: the host device address (`host=`) and the guest slot (`addr=`).

use std::fmt;

use serde_json::Value;

use crate::error::{Error, Result};
use crate::kind::{DefaultValue, PropertyKind, ValueCx};

/// What C's `strtoul(s, &end, base)` consumes: leading white space, a sign,
/// a `0x` prefix in base 16, then digits. Returns the value (saturated, as
/// `ULONG_MAX` on overflow) and the rest, or `None` when no digit was read.
///
/// Byte by byte: every byte it accepts is ASCII, so a multi-byte character
/// simply ends the digits, as it does for C.
pub(crate) fn strtoul(s: &str, radix: u32) -> Option<(u64, &str)> {
    fn digit(c: u8, radix: u32) -> Option<u64> {
        let d = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            b'A'..=b'F' => c - b'A' + 10,
            _ => return None,
        };
        (u32::from(d) < radix).then_some(u64::from(d))
    }
    let b = s.as_bytes();
    let (mut i, neg) = crate::opts::scalar::c_number_prefix(b);
    if radix == 16
        && b.get(i) == Some(&b'0')
        && matches!(b.get(i + 1), Some(b'x' | b'X'))
        && b.get(i + 2).is_some_and(|&c| digit(c, 16).is_some())
    {
        i += 2;
    }
    let start = i;
    let mut v: Option<u64> = Some(0);
    while let Some(d) = b.get(i).and_then(|&c| digit(c, radix)) {
        v = v
            .and_then(|v| v.checked_mul(u64::from(radix)))
            .and_then(|v| v.checked_add(d));
        i += 1;
    }
    if i == start {
        return None;
    }
    let v = v.unwrap_or(u64::MAX);
    // `i` is at an ASCII byte or the end: a character boundary.
    Some((if neg { v.wrapping_neg() } else { v }, s.get(i..)?))
}

/// A host PCI address `[domain:]bus:slot.function` (QEMU's `PCIHostDeviceAddress`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PciHostAddress {
    /// PCI domain (segment), 0..=0xffff.
    pub domain: u16,
    /// Bus, 0..=0xff.
    pub bus: u8,
    /// Slot (device), 0..=0x1f.
    pub slot: u8,
    /// Function, 0..=7.
    pub function: u8,
}

impl PciHostAddress {
    /// Parses QEMU's accepted forms: hex domain/bus/slot, decimal function,
    /// domain optional (0), no trailing characters.
    pub fn parse_str(s: &str) -> Option<Self> {
        if let Some(canonical) = Self::parse_canonical(s.as_bytes()) {
            return canonical;
        }
        Self::parse_general(s)
    }

    /// [`PciHostAddress::parse_str`] for the sysfs spelling
    /// `dddd:bb:ss.f` (hexadecimal digits, a decimal function), which
    /// `strtoul` would read group by group the same way: `Some` with the
    /// answer for a string of that shape, `None` for any other.
    #[inline]
    fn parse_canonical(b: &[u8]) -> Option<Option<Self>> {
        let &[d0, d1, d2, d3, b':', b0, b1, b':', s0, s1, b'.', f] = b else {
            return None;
        };
        let hex = |c: u8| crate::opts::scalar::hex_digit(c).map(u16::from);
        let domain = hex(d0)? << 12 | hex(d1)? << 8 | hex(d2)? << 4 | hex(d3)?;
        let bus = hex(b0)? << 4 | hex(b1)?;
        let slot = hex(s0)? << 4 | hex(s1)?;
        let function = f.wrapping_sub(b'0');
        if function > 9 {
            return None;
        }
        Some((slot <= 0x1f && function <= 7).then_some(PciHostAddress {
            domain,
            bus: bus as u8,
            slot: slot as u8,
            function,
        }))
    }

    /// [`PciHostAddress::parse_str`] for any string.
    fn parse_general(s: &str) -> Option<Self> {
        let (first, rest) = strtoul(s, 16)?;
        let rest = rest.strip_prefix(':')?;
        let (second, mut rest) = strtoul(rest, 16)?;
        let (dom, bus, slot);
        if let Some(r) = rest.strip_prefix(':') {
            let (third, r) = strtoul(r, 16)?;
            (dom, bus, slot) = (first, second, third);
            rest = r;
        } else {
            (dom, bus, slot) = (0, first, second);
        }
        let rest = rest.strip_prefix('.')?;
        let (func, rest) = strtoul(rest, 10)?;
        if dom > 0xffff || bus > 0xff || slot > 0x1f || func > 7 || !rest.is_empty() {
            return None;
        }
        Some(PciHostAddress {
            domain: dom as u16,
            bus: bus as u8,
            slot: slot as u8,
            function: func as u8,
        })
    }
}

impl fmt::Display for PciHostAddress {
    /// `%04x:%02x:%02x.%d`, the sysfs spelling.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04x}:{:02x}:{:02x}.{}",
            self.domain, self.bus, self.slot, self.function
        )
    }
}

impl PropertyKind for PciHostAddress {
    const DESCRIPTION: Option<&'static str> =
        Some("Address (bus:device.function) of the host device, example: 04:10.0");

    fn parse(s: &str, cx: &ValueCx<'_>) -> Result<Self> {
        Self::parse_str(s).ok_or_else(|| cx.doesnt_take(s))
    }

    displayed_string_kind!();
}

/// A guest slot and function (`addr=06.0`), or automatic placement (`-1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct PciDevfn(pub Option<u8>);

impl PciDevfn {
    /// Let the bus pick the slot (QEMU's `-1`).
    pub const AUTO: PciDevfn = PciDevfn(None);

    /// Slot `slot` (0..=31), function `func` (0..=7).
    pub const fn new(slot: u8, func: u8) -> Option<Self> {
        if slot > 31 || func > 7 {
            return None;
        }
        Some(PciDevfn(Some((slot << 3) | func)))
    }

    fn parse_str(s: &str) -> Option<Self> {
        let (slot, rest) = strtoul(s, 16)?;
        let (func, rest) = match rest.strip_prefix('.') {
            Some(r) => strtoul(r, 16)?,
            None => (0, rest),
        };
        if !rest.is_empty() || slot > 31 || func > 7 {
            return None;
        }
        PciDevfn::new(slot as u8, func as u8)
    }

    fn as_int(self) -> i64 {
        self.0.map_or(-1, i64::from)
    }
}

impl PropertyKind for PciDevfn {
    const TYPE_NAME: &'static str = "str";
    const DESCRIPTION: Option<&'static str> =
        Some("Slot and optional function number, example: 06.0 or 06");

    fn parse(s: &str, cx: &ValueCx<'_>) -> Result<Self> {
        Self::parse_str(s).ok_or_else(|| cx.doesnt_take(s))
    }

    fn from_json(v: &Value, cx: &ValueCx<'_>) -> Result<Self> {
        match v {
            Value::String(s) => Self::parse(s, cx),
            // QEMU's set_pci_devfn visits a number as int32 first, with
            // that visitor's errors, then checks the range.
            Value::Number(_) => match i32::from_json(v, cx)? {
                -1 => Ok(PciDevfn::AUTO),
                i @ 0..=255 => Ok(PciDevfn(Some(i as u8))),
                _ => Err(Error::new(format!(
                    "Parameter '{}' expects a value between -1 and 255",
                    cx.prop
                ))),
            },
            _ => Err(Error::new(format!(
                "Invalid parameter type for '{}', expected int or str",
                cx.prop
            ))),
        }
    }

    fn to_json(&self) -> Value {
        self.as_int().into()
    }

    fn print(&self) -> String {
        match self.0 {
            Some(d) => format!("{:02x}.{:x}", d >> 3, d & 7),
            None => "-1".to_owned(),
        }
    }

    fn default_value(&self) -> DefaultValue {
        DefaultValue::Int(self.as_int())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// `strtoul` as it was written before the byte-wise one, on `char`s
    /// and `from_str_radix`: the reference the proptest compares with.
    fn strtoul_chars(s: &str, radix: u32) -> Option<(u64, &str)> {
        let t = s.trim_start_matches([' ', '\t', '\n', '\x0b', '\x0c', '\r']);
        let (neg, t) = match t.as_bytes().first() {
            Some(b'-') => (true, &t[1..]),
            Some(b'+') => (false, &t[1..]),
            _ => (false, t),
        };
        let t = if radix == 16
            && (t.starts_with("0x") || t.starts_with("0X"))
            && t[2..].starts_with(|c: char| c.is_ascii_hexdigit())
        {
            &t[2..]
        } else {
            t
        };
        let end = t.find(|c: char| !c.is_digit(radix)).unwrap_or(t.len());
        if end == 0 {
            return None;
        }
        let v = u64::from_str_radix(&t[..end], radix).unwrap_or(u64::MAX);
        Some((if neg { v.wrapping_neg() } else { v }, &t[end..]))
    }

    proptest! {
        #[test]
        fn strtoul_is_the_char_wise_one(
            s in prop_oneof![
                "\\PC{0,24}",
                "[ \t+-]{0,2}(0[xX])?[0-9a-fA-Fg:.]{0,24}",
                "[0-9a-f]{15,22}",
            ],
            hex in any::<bool>(),
        ) {
            let radix = if hex { 16 } else { 10 };
            prop_assert_eq!(strtoul(&s, radix), strtoul_chars(&s, radix));
        }
    }

    proptest! {
        /// The sysfs-shape fast path answers as the general parse, on
        /// strings of that shape with digits, letters and signs anywhere.
        #[test]
        fn host_address_fast_path_is_the_general_one(
            s in prop_oneof![
                "[0-9a-fA-F]{4}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\\.[0-9]",
                // Around the limits of the slot and the function.
                "[0f]{4}:[0f]{2}:(1[efEF]|2[01]|[01]0)\\.[6-9]",
                "[0-9a-gA-GxX +-]{4}:[0-9a-gxX +-]{2}:[0-9a-gxX +-]{2}\\.[0-9a-f+ ]",
                "[0-9a-f:.x]{10,14}",
            ],
        ) {
            if let Some(fast) = PciHostAddress::parse_canonical(s.as_bytes()) {
                prop_assert_eq!(fast, PciHostAddress::parse_general(&s), "{:?}", s);
            }
            prop_assert_eq!(
                PciHostAddress::parse_str(&s),
                PciHostAddress::parse_general(&s),
                "{:?}",
                s
            );
        }
    }

    fn host(s: &str) -> Option<String> {
        PciHostAddress::parse_str(s).map(|a| a.to_string())
    }

    #[test]
    fn host_address_forms() {
        assert_eq!(host("0000:00:01.0").as_deref(), Some("0000:00:01.0"));
        assert_eq!(host("00:01.0").as_deref(), Some("0000:00:01.0"));
        assert_eq!(host("1:2.3").as_deref(), Some("0000:01:02.3"));
        assert_eq!(host("ffff:ff:1f.7").as_deref(), Some("ffff:ff:1f.7"));
        assert_eq!(host("0x10:0x1f.7").as_deref(), Some("0000:10:1f.7"));
        for bad in [
            "",
            "00:01",
            "00:20.0",
            "00:01.8",
            "10000:00:00.0",
            "100:00.0",
            "00:01.0x",
            "0:0:0:0.0",
            "00:01.a",
        ] {
            assert_eq!(host(bad), None, "{bad}");
        }
    }

    #[test]
    fn devfn_forms() {
        let p = |s| PciDevfn::parse_str(s);
        assert_eq!(p("06"), PciDevfn::new(6, 0));
        assert_eq!(p("06.3"), PciDevfn::new(6, 3));
        assert_eq!(p("1f.7"), PciDevfn::new(31, 7));
        assert_eq!(p("20"), None);
        assert_eq!(p("06.8"), None);
        assert_eq!(p("-1"), None);
        assert_eq!(PciDevfn::new(6, 3).unwrap().print(), "06.3");
    }

    #[test]
    fn devfn_json() {
        let cx = ValueCx::new("pci-device", "addr");
        assert_eq!(
            PciDevfn::from_json(&(-1).into(), &cx).unwrap(),
            PciDevfn::AUTO
        );
        assert_eq!(
            PciDevfn::from_json(&9.into(), &cx).unwrap(),
            PciDevfn(Some(9))
        );
        assert_eq!(
            PciDevfn::from_json(&255.into(), &cx).unwrap(),
            PciDevfn(Some(255))
        );
        let err = |v: Value| PciDevfn::from_json(&v, &cx).unwrap_err().to_string();
        for v in [256, -2, i64::from(i32::MAX), i64::from(i32::MIN)] {
            assert_eq!(
                err(v.into()),
                "Parameter 'addr' expects a value between -1 and 255",
                "{v}"
            );
        }
        // Not an int32: the int32 visit's own errors.
        for v in [5_000_000_000_i64, i64::from(i32::MIN) - 1] {
            assert_eq!(err(v.into()), "Parameter 'addr' expects int32_t", "{v}");
        }
        for v in [serde_json::json!(1.5), serde_json::json!(u64::MAX)] {
            assert_eq!(
                err(v.clone()),
                "Invalid parameter type for 'addr', expected: integer",
                "{v}"
            );
        }
        assert_eq!(
            PciDevfn::from_json(&true.into(), &cx)
                .unwrap_err()
                .to_string(),
            "Invalid parameter type for 'addr', expected int or str"
        );
    }
}
