//! String → scalar conversions with QEMU's exact semantics.
//!
//! These are the conversions the keyval QObject input visitor applies to the
//! string values of `-device k=v` (see `qobject_input_type_*_keyval` in
//! `qapi/qobject-input-visitor.c`), built on `qapi_bool_parse`,
//! `qemu_strtou64`, `qemu_strtoi64` and `qemu_strtosz` from `util/cutils.c`.
//!
//! Every parser returns `None` on failure and never panics. The caller turns a
//! failure into QEMU's message for the property being set (`name` is the
//! property's full name as the keyval visitor prints it):
//!
//! | parser | failure message |
//! |---|---|
//! | [`parse_bool`] | `Parameter '<name>' expects 'on' or 'off'` |
//! | [`parse_u64`], [`parse_i64`] (garbage *and* overflow) | `Parameter '<name>' expects integer` |
//! | [`parse_size`] | `Parameter '<name>' expects size` |
//!
//! Narrower integer types are first parsed as 64 bits and then range-checked
//! by the visitor core (`visit_type_uintN`/`visit_type_intN`), which reports
//! `Parameter '<name>' expects uint8_t` (or `uint16_t`, `uint32_t`, `int8_t`,
//! `int16_t`, `int32_t`). Note that this range check uses the *plain* member
//! name, not the dotted full name. Because [`parse_u64`] wraps negative input
//! like `strtoull`, `-1` for a `uint32` property parses as `u64::MAX` and then
//! fails with `expects uint32_t`, not with `expects integer`.
//!
//! [`Error::invalid_parameter_value`](crate::Error::invalid_parameter_value)
//! builds all of these messages, e.g.
//! `Error::invalid_parameter_value("x-vga", "'on' or 'off'")`.

/// `isspace()` in the C locale: the whitespace `strtoull`/`strtod` skip.
fn is_c_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// What C's number parsers skip before the digits: white space (`isspace`
/// in the C locale), then one optional sign. Returns where the digits may
/// start and whether the sign was `-`.
pub(crate) fn c_number_prefix(b: &[u8]) -> (usize, bool) {
    let mut i = b.iter().position(|&c| !is_c_space(c)).unwrap_or(b.len());
    let neg = match b.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    (i, neg)
}

/// The outcome of glibc's `strtoull`/`strtoll` digit scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Scan {
    /// Magnitude of the digits (saturated meaningless when `overflow`).
    mag: u64,
    /// A `-` sign preceded the digits.
    neg: bool,
    /// The magnitude did not fit in 64 bits (`ERANGE`).
    overflow: bool,
    /// Byte offset of the first unconverted character; `None` when nothing
    /// was converted (glibc then sets `*endptr = nptr`).
    end: Option<usize>,
}

/// Port of glibc's `strtoull` scanning for `base` 0, 8, 10 or 16: optional
/// leading whitespace, optional sign, `0x` prefix (base 0/16), leading-`0`
/// octal (base 0), digits until the first non-digit.
///
/// Most inputs start with a digit and have too few digits to overflow
/// (`1920`, `0x10de`, `64k`): [`strto_scan_plain`] reads those without
/// the checks the general scan needs.
fn strto_scan(b: &[u8], base: u32) -> Scan {
    match strto_scan_plain(b, base) {
        Some(scan) => scan,
        None => strto_scan_general(b, base),
    }
}

/// [`strto_scan_general`] for input that starts with a digit and whose
/// digit run cannot overflow 64 bits (at most 19 decimal, 16 hexadecimal
/// or 21 octal digits); `None` for anything else, which the general scan
/// handles. Same base and prefix rules: `0x` (base 0/16) switches to
/// hexadecimal, another leading `0` to octal (base 0).
#[inline]
fn strto_scan_plain(b: &[u8], base: u32) -> Option<Scan> {
    let first = *b.first()?;
    if !first.is_ascii_digit() {
        return None;
    }
    let (base, start) = if first == b'0' && matches!(b.get(1), Some(b'x' | b'X')) {
        match base {
            0 | 16 => (16, 2),
            _ => (base, 0),
        }
    } else if first == b'0' && base == 0 {
        (8, 0)
    } else if base == 0 {
        (10, 0)
    } else {
        (base, 0)
    };
    let mut mag: u64 = 0;
    let mut i = start;
    let max = match base {
        10 => {
            while let Some(d) = b.get(i).map(|&c| c.wrapping_sub(b'0')).filter(|&d| d < 10) {
                mag = mag.wrapping_mul(10).wrapping_add(u64::from(d));
                i += 1;
            }
            19
        }
        8 => {
            while let Some(d) = b.get(i).map(|&c| c.wrapping_sub(b'0')).filter(|&d| d < 8) {
                mag = mag << 3 | u64::from(d);
                i += 1;
            }
            21
        }
        16 => {
            while let Some(d) = b.get(i).and_then(|&c| hex_digit(c)) {
                mag = mag << 4 | u64::from(d);
                i += 1;
            }
            16
        }
        // The callers use bases 0, 10 and 16 (and 8 is handled above).
        _ => return None,
    };
    // No digit after `0x`, or possibly too many (`mag` may have wrapped
    // then): the general scan decides.
    let digits = i - start;
    if digits == 0 || digits > max {
        return None;
    }
    Some(Scan {
        mag,
        neg: false,
        overflow: false,
        end: Some(i),
    })
}

/// The value of a hexadecimal digit.
#[inline]
pub(crate) fn hex_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// The general scan behind [`strto_scan`].
fn strto_scan_general(b: &[u8], base: u32) -> Scan {
    let (mut i, neg) = c_number_prefix(b);
    let mut base = base;
    let mut hex_prefix = false;
    if b.get(i) == Some(&b'0') {
        if (base == 0 || base == 16) && matches!(b.get(i + 1), Some(b'x' | b'X')) {
            i += 2;
            base = 16;
            hex_prefix = true;
        } else if base == 0 {
            base = 8;
        }
    } else if base == 0 {
        base = 10;
    }
    let start = i;
    let mut mag: u64 = 0;
    let mut overflow = false;
    while let Some(d) = b.get(i).and_then(|&c| char::from(c).to_digit(base)) {
        match mag
            .checked_mul(u64::from(base))
            .and_then(|m| m.checked_add(u64::from(d)))
        {
            Some(m) => mag = m,
            None => overflow = true,
        }
        i += 1;
    }
    if i == start {
        // glibc: "0x" without hex digits converts the "0" and stops at 'x'.
        let end = if hex_prefix { Some(start - 1) } else { None };
        return Scan {
            mag: 0,
            neg: false,
            overflow: false,
            end,
        };
    }
    Scan {
        mag,
        neg,
        overflow,
        end: Some(i),
    }
}

/// QEMU's boolean spellings (`qapi_bool_parse`), case-sensitive:
/// `on`/`yes`/`true`/`y` → `true`, `off`/`no`/`false`/`n` → `false`.
///
/// On `None` the caller reports `Parameter '<name>' expects 'on' or 'off'`.
///
/// ```
/// use qomgen::opts::scalar::parse_bool;
/// assert_eq!(parse_bool("yes"), Some(true));
/// assert_eq!(parse_bool("off"), Some(false));
/// assert_eq!(parse_bool("ON"), None);
/// ```
pub fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "on" | "yes" | "true" | "y" => Some(true),
        "off" | "no" | "false" | "n" => Some(false),
        _ => None,
    }
}

/// `qemu_strtou64(s, NULL, 0, &v)`: an unsigned 64-bit integer in C syntax.
///
/// Decimal, `0x` hexadecimal or leading-`0` octal; leading whitespace and a
/// sign are accepted, and a negative number wraps like `strtoull` (`-1` is
/// `u64::MAX`, `-18446744073709551615` is `1`). Trailing characters, an empty
/// string, a magnitude above `u64::MAX` or a bad octal digit (`08`) give
/// `None`, on which the caller reports `Parameter '<name>' expects integer`.
///
/// ```
/// use qomgen::opts::scalar::parse_u64;
/// assert_eq!(parse_u64("0x2a"), Some(42));
/// assert_eq!(parse_u64("052"), Some(42));
/// assert_eq!(parse_u64("-1"), Some(u64::MAX));
/// assert_eq!(parse_u64("08"), None);
/// ```
pub fn parse_u64(s: &str) -> Option<u64> {
    let scan = strto_scan(s.as_bytes(), 0);
    if scan.end? != s.len() || scan.overflow {
        return None;
    }
    Some(if scan.neg {
        scan.mag.wrapping_neg()
    } else {
        scan.mag
    })
}

/// `qemu_strtoi64(s, NULL, 0, &v)`: a signed 64-bit integer in C syntax.
///
/// Same syntax as [`parse_u64`]; values outside `i64` give `None` (the
/// caller reports `Parameter '<name>' expects integer`).
///
/// ```
/// use qomgen::opts::scalar::parse_i64;
/// assert_eq!(parse_i64("-0x10"), Some(-16));
/// assert_eq!(parse_i64("-9223372036854775808"), Some(i64::MIN));
/// assert_eq!(parse_i64("9223372036854775808"), None);
/// ```
pub fn parse_i64(s: &str) -> Option<i64> {
    let scan = strto_scan(s.as_bytes(), 0);
    if scan.end? != s.len() || scan.overflow {
        return None;
    }
    if scan.neg {
        if scan.mag > i64::MIN.unsigned_abs() {
            return None;
        }
        Some(0i64.wrapping_sub_unsigned(scan.mag))
    } else {
        i64::try_from(scan.mag).ok()
    }
}

/// The multiplier of a size suffix (`suffix_mul` with unit 1024); `None` for
/// anything that is not a suffix.
fn suffix_mul(c: Option<u8>) -> Option<u64> {
    let shift = match c?.to_ascii_uppercase() {
        b'B' => 0,
        b'K' => 10,
        b'M' => 20,
        b'G' => 30,
        b'T' => 40,
        b'P' => 50,
        b'E' => 60,
        _ => return None,
    };
    Some(1u64 << shift)
}

/// What `qemu_strtod_finite` makes of the fraction copy in `do_strtosz`.
enum Fraction {
    /// Parsed: the value, whether any digit was non-zero, and how many bytes
    /// were consumed.
    Value {
        value: f64,
        nonzero: bool,
        len: usize,
    },
    /// Failed (no conversion, non-finite) or negative: an error either way.
    Invalid,
}

/// `strtod` on a copy with everything from the first `e`/`E` cut off, as
/// `do_strtosz` does. Only `[ws][sign].digits` can succeed here: the copy
/// starts either at the `.` after the integral digits or, when no integral
/// digits were found, at the start of the input (so it has no leading digits
/// and cannot be hexadecimal); `inf`/`nan` are rejected as non-finite, and any
/// negative result (even `-0.0`) is rejected by `do_strtosz`.
fn parse_fraction(copy: &[u8]) -> Fraction {
    let (i, neg) = c_number_prefix(copy);
    if copy.get(i) != Some(&b'.') {
        return Fraction::Invalid;
    }
    let digits_start = i + 1;
    let mut j = digits_start;
    while copy.get(j).is_some_and(u8::is_ascii_digit) {
        j += 1;
    }
    let Some(digits) = copy.get(digits_start..j) else {
        return Fraction::Invalid;
    };
    if digits.is_empty() || neg {
        return Fraction::Invalid;
    }
    if let Some(value) = short_fraction(digits) {
        return Fraction::Value {
            value,
            nonzero: value != 0.0,
            len: j,
        };
    }
    // `0.<digits>`, on the stack unless the fraction is long.
    let mut buf = [0u8; 40];
    let mut heap = String::new();
    let text = match buf.get_mut(..digits.len() + 2) {
        Some(t) => {
            let (head, tail) = t.split_at_mut(2);
            head.copy_from_slice(b"0.");
            tail.copy_from_slice(digits);
            std::str::from_utf8(t).unwrap_or_default()
        }
        None => {
            heap.reserve(digits.len() + 2);
            heap.push_str("0.");
            heap.extend(digits.iter().map(|&d| char::from(d)));
            &heap
        }
    };
    match text.parse::<f64>() {
        Ok(value) => Fraction::Value {
            value,
            nonzero: digits.iter().any(|&d| d != b'0'),
            len: j,
        },
        Err(_) => Fraction::Invalid,
    }
}

/// `0.<digits>` as the nearest `f64`, for at most 15 digits, else `None`.
/// Both the digits as an integer (below 10^15 < 2^53) and 10^n are exact
/// `f64`s, and a division rounds correctly, so this is the correctly
/// rounded value that parsing the text gives (Clinger's fast path), without
/// building and scanning the text.
#[inline]
fn short_fraction(digits: &[u8]) -> Option<f64> {
    const POW10: [f64; 16] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
    ];
    let scale = *POW10.get(digits.len())?;
    let mut n: u64 = 0;
    for &d in digits {
        n = n * 10 + u64::from(d.wrapping_sub(b'0'));
    }
    Some(n as f64 / scale)
}

/// `qemu_strtosz(s, NULL, &v)`: a byte size with an optional binary suffix.
///
/// * decimal integer (`08` is 8: no octal), leading whitespace accepted;
/// * optional suffix `b`/`B` (bytes), `k`/`K`, `m`/`M`, `g`/`G`, `t`/`T`,
///   `p`/`P`, `e`/`E` (powers of 1024);
/// * a decimal fraction only with a suffix larger than bytes (`1.5k` is
///   1536, `0.1G` is `GiB / 10` rounded down, exact 64.64 fixed point as
///   QEMU computes it; `1.5` and `1.5b` fail); the fraction is read as a C
///   `double`, like QEMU does;
/// * `0x` hexadecimal without suffix or fraction (`0x1b` is 27);
/// * negative numbers, overflow past `u64::MAX`, unknown suffixes and
///   trailing characters give `None`.
///
/// On `None` the caller reports `Parameter '<name>' expects size`.
///
/// ```
/// use qomgen::opts::scalar::parse_size;
/// assert_eq!(parse_size("1.5k"), Some(1536));
/// assert_eq!(parse_size("2M"), Some(2 << 20));
/// assert_eq!(parse_size("08"), Some(8));
/// assert_eq!(parse_size("16Gi"), None);
/// ```
pub fn parse_size(s: &str) -> Option<u64> {
    let b = s.as_bytes();

    // parse_uint(nptr, &endptr, 10, &val)
    let scan = strto_scan(b, 10);
    if scan.overflow {
        return None; // -ERANGE
    }
    let (mut ok, mut endptr, mut val) = match scan.end {
        None => (false, 0, 0),              // -EINVAL, endptr = nptr
        Some(_) if scan.neg => return None, // negative: -ERANGE
        Some(end) => (true, end, scan.mag),
    };

    let mut valf: u64 = 0;
    if ok && val == 0 && matches!(b.get(endptr), Some(b'x' | b'X')) {
        // Hex: reparse, and insist on no fraction or suffix.
        let hex = strto_scan(b, 16);
        if hex.overflow {
            return None;
        }
        endptr = hex.end?;
        val = hex.mag;
        if b.get(endptr) == Some(&b'.') || suffix_mul(b.get(endptr).copied()).is_some() {
            return None;
        }
    } else if b.get(endptr) == Some(&b'.') || (!ok && b.contains(&b'.')) {
        if ok && b.get(endptr) == Some(&b'.') && !b.get(endptr + 1).is_some_and(u8::is_ascii_digit)
        {
            // "1." or "1.k": no fractional digits.
            endptr += 1;
        } else {
            let rest = b.get(endptr..).unwrap_or_default();
            let cut = rest
                .iter()
                .position(|&c| c == b'e' || c == b'E')
                .unwrap_or(rest.len());
            let Fraction::Value {
                value,
                nonzero,
                len,
            } = parse_fraction(rest.get(..cut).unwrap_or_default())
            else {
                return None;
            };
            endptr += len;
            ok = true;
            if value == 1.0 {
                val = val.checked_add(1)?;
            } else if value == 0.0 {
                // A non-zero fraction that underflows still counts.
                valf = u64::from(nonzero);
            } else {
                // 64-bit fixed-point fraction; exact since value < 1.
                valf = ((value * 18_446_744_073_709_551_616.0) as u64).max(1);
            }
        }
    }
    if !ok {
        return None;
    }

    let mul = match suffix_mul(b.get(endptr).copied()) {
        Some(m) => {
            endptr += 1;
            m
        }
        None => 1, // default suffix 'B'
    };
    if mul == 1 {
        // When a fraction is present, a scale is required.
        if valf != 0 {
            return None;
        }
    } else {
        // 64.64 x 64.0 -> 128.64 fixed point, rounding 0.5 upward.
        let whole = u128::from(val) * u128::from(mul);
        let frac = u128::from(valf) * u128::from(mul);
        let round = u128::from((frac as u64) >> 63);
        val = u64::try_from(whole + (frac >> 64) + round).ok()?;
    }
    if endptr != b.len() {
        return None;
    }
    Some(val)
}

/// A decimal string that [`parse_size`] maps back to `v` (plain bytes, no
/// suffix, so the round trip is exact for every `u64`).
///
/// ```
/// use qomgen::opts::scalar::{parse_size, print_size};
/// assert_eq!(print_size(1536), "1536");
/// assert_eq!(parse_size(&print_size(u64::MAX)), Some(u64::MAX));
/// ```
pub fn print_size(v: u64) -> String {
    v.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const KIB: u64 = 1 << 10;
    const MIB: u64 = 1 << 20;
    const GIB: u64 = 1 << 30;
    const TIB: u64 = 1 << 40;
    const PIB: u64 = 1 << 50;
    const EIB: u64 = 1 << 60;

    #[test]
    fn behaviour_27_bool_visit_values() {
        assert_eq!(parse_bool("on"), Some(true));
        assert_eq!(parse_bool("off"), Some(false));
        assert_eq!(parse_bool("offer"), None);
    }

    #[test]
    fn bool_spellings_are_case_sensitive() {
        for t in ["on", "yes", "true", "y"] {
            assert_eq!(parse_bool(t), Some(true), "{t}");
        }
        for f in ["off", "no", "false", "n"] {
            assert_eq!(parse_bool(f), Some(false), "{f}");
        }
        for bad in ["", "On", "TRUE", "Y", "1", "0", " on", "on ", "enable"] {
            assert_eq!(parse_bool(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn behaviour_28_uint64_visit_values() {
        assert_eq!(parse_u64("0"), Some(0));
        assert_eq!(parse_u64("-1"), Some(u64::MAX));
        assert_eq!(parse_u64("18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_u64("-18446744073709551615"), Some(1));
        assert_eq!(parse_u64("18446744073709551616"), None);
        assert_eq!(parse_u64("-18446744073709551616"), None);
        assert_eq!(parse_u64("0x2a"), Some(42));
        assert_eq!(parse_u64("052"), Some(42));
        assert_eq!(parse_u64("3.14"), None);
        assert_eq!(parse_u64("08"), None);
    }

    #[test]
    fn u64_c_syntax_details() {
        assert_eq!(parse_u64(" \t42"), Some(42));
        assert_eq!(parse_u64("+42"), Some(42));
        assert_eq!(parse_u64("0X2A"), Some(42));
        assert_eq!(parse_u64("0xffffffffffffffff"), Some(u64::MAX));
        assert_eq!(parse_u64("0x10000000000000000"), None);
        assert_eq!(parse_u64("-0"), Some(0));
        assert_eq!(parse_u64("00"), Some(0));
        for bad in [
            "", " ", "-", "+", "0x", "0xg", "42 ", "4 2", "1e3", "0b101", "abc", "--1", "- 1",
        ] {
            assert_eq!(parse_u64(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn i64_c_syntax_details() {
        assert_eq!(parse_i64("0"), Some(0));
        assert_eq!(parse_i64("-1"), Some(-1));
        assert_eq!(parse_i64("052"), Some(42));
        assert_eq!(parse_i64("-010"), Some(-8));
        assert_eq!(parse_i64("9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_i64("-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_i64("0x7fffffffffffffff"), Some(i64::MAX));
        assert_eq!(parse_i64("-0x8000000000000000"), Some(i64::MIN));
        for bad in [
            "9223372036854775808",
            "-9223372036854775809",
            "08",
            "3.14",
            "",
            "0x",
            "1k",
        ] {
            assert_eq!(parse_i64(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn behaviour_29_size_visit_values() {
        assert_eq!(parse_size("0"), Some(0));
        // Around the double limit 2^53.
        assert_eq!(parse_size("9007199254740991"), Some((1 << 53) - 1));
        assert_eq!(parse_size("9007199254740992"), Some(1 << 53));
        assert_eq!(parse_size("9007199254740993"), Some((1 << 53) + 1));
        // Around 2^63.
        assert_eq!(parse_size("9223372036854775807"), Some((1 << 63) - 1));
        assert_eq!(parse_size("9223372036854775808"), Some(1 << 63));
        assert_eq!(parse_size("9223372036854775809"), Some((1 << 63) + 1));
        // Close to 0xfffffffffffff800 (53 msbs set).
        assert_eq!(
            parse_size("18446744073709549568"),
            Some(0xffff_ffff_ffff_f800)
        );
        assert_eq!(
            parse_size("18446744073709550591"),
            Some(0xffff_ffff_ffff_fbff)
        );
        // The actual limit.
        assert_eq!(
            parse_size("18446744073709551615"),
            Some(0xffff_ffff_ffff_ffff)
        );
        // Beyond limits.
        assert_eq!(parse_size("-1"), None);
        assert_eq!(parse_size("18446744073709551616"), None);
        // Suffixes.
        assert_eq!(parse_size("8b"), Some(8));
        assert_eq!(parse_size("1.5k"), Some(1536));
        assert_eq!(parse_size("2M"), Some(2 * MIB));
        assert_eq!(parse_size("0.1G"), Some(GIB / 10));
        assert_eq!(parse_size("16777215T"), Some(16_777_215 * TIB));
        // Beyond limit with suffix.
        assert_eq!(parse_size("16777216T"), None);
        // Trailing crap.
        assert_eq!(parse_size("0Z"), None);
        assert_eq!(parse_size("16Gi"), None);
    }

    #[test]
    fn size_suffixes_and_case() {
        assert_eq!(parse_size("1B"), Some(1));
        assert_eq!(parse_size("1k"), Some(KIB));
        assert_eq!(parse_size("1K"), Some(KIB));
        assert_eq!(parse_size("1m"), Some(MIB));
        assert_eq!(parse_size("1g"), Some(GIB));
        assert_eq!(parse_size("1t"), Some(TIB));
        assert_eq!(parse_size("1P"), Some(PIB));
        assert_eq!(parse_size("1E"), Some(EIB));
        assert_eq!(parse_size("15E"), Some(15 * EIB));
        assert_eq!(parse_size("16E"), None);
        assert_eq!(parse_size("20E"), None);
    }

    #[test]
    fn size_decimal_only_no_octal() {
        assert_eq!(parse_size("08"), Some(8));
        assert_eq!(parse_size("010"), Some(10));
        assert_eq!(parse_size(" 12"), Some(12));
        assert_eq!(parse_size("+12"), Some(12));
        assert_eq!(parse_size("12 "), None);
        assert_eq!(parse_size(""), None);
        assert_eq!(parse_size("k"), None);
        assert_eq!(parse_size("-0"), None);
        assert_eq!(parse_size("-1k"), None);
        assert_eq!(parse_size("1e3"), None);
    }

    #[test]
    fn size_hex_rules() {
        assert_eq!(parse_size("0x10"), Some(16));
        assert_eq!(parse_size("0X1A"), Some(26));
        assert_eq!(parse_size("0x1b"), Some(27)); // 'b' is a hex digit, not a suffix
        assert_eq!(parse_size("0xffffffffffffffff"), Some(u64::MAX));
        assert_eq!(parse_size("0x10000000000000000"), None);
        assert_eq!(parse_size("0x20M"), None);
        assert_eq!(parse_size("0x1.8"), None);
        assert_eq!(parse_size("0x1p3"), None);
        assert_eq!(parse_size("0x"), None);
        assert_eq!(parse_size("-0x10"), None);
    }

    #[test]
    fn size_fraction_rules() {
        assert_eq!(parse_size("1.5"), None);
        assert_eq!(parse_size("1.5b"), None);
        assert_eq!(parse_size("1.0"), Some(1)); // zero fraction needs no scale
        assert_eq!(parse_size("1."), Some(1));
        assert_eq!(parse_size("1.k"), Some(KIB));
        assert_eq!(parse_size(".5k"), Some(512));
        assert_eq!(parse_size(" .5k"), Some(512));
        assert_eq!(parse_size("0.5M"), Some(MIB / 2));
        assert_eq!(parse_size("1.5e"), Some(EIB + EIB / 2));
        assert_eq!(
            parse_size("15.9999999999999999999999999999999999999999999999999999E"),
            None
        );
        assert_eq!(parse_size("1.99999999999999999999k"), Some(2 * KIB));
        assert_eq!(parse_size("-.5k"), None);
        assert_eq!(parse_size("-0.5k"), None);
        assert_eq!(parse_size("."), None);
        assert_eq!(parse_size(".k"), None);
        assert_eq!(parse_size("inf.5k"), None);
        assert_eq!(parse_size("1.5.5k"), None);
        // Fractions are 64.64 fixed point: 1e-11 EiB is 11529215.05 bytes.
        assert_eq!(parse_size("0.00000000001E"), Some(11_529_215));
        assert_eq!(parse_size("0.0000000000000000000001E"), Some(0));
        assert_eq!(parse_size("0.5b"), None);
    }

    #[test]
    fn print_size_round_trips_edges() {
        for v in [0, 1, 1023, 1024, 1536, u64::MAX - 1, u64::MAX] {
            assert_eq!(parse_size(&print_size(v)), Some(v));
        }
    }

    proptest! {
        /// The short-fraction path is the parse of `0.<digits>` it
        /// replaces, bit for bit, up to its 15 digits (and declines more).
        #[test]
        fn short_fraction_is_parsing_the_text(
            digits in prop_oneof!["[0-9]{1,17}", "0{0,14}[1-9]", "9{1,16}", "[05]{1,15}"],
        ) {
            let text: f64 = format!("0.{digits}").parse().unwrap();
            match short_fraction(digits.as_bytes()) {
                Some(v) => prop_assert_eq!(v.to_bits(), text.to_bits(), "{}", digits),
                None => prop_assert!(digits.len() > 15),
            }
        }

        #[test]
        fn scalar_parsers_never_panic(s in "\\PC*") {
            let _ = parse_bool(&s);
            let _ = parse_u64(&s);
            let _ = parse_i64(&s);
            let _ = parse_size(&s);
        }

        #[test]
        fn scalar_parsers_never_panic_on_numberish(s in "[ +\\-0-9xXa-fA-F.eEkKmMgGtTpPbB]{0,40}") {
            let _ = parse_u64(&s);
            let _ = parse_i64(&s);
            let _ = parse_size(&s);
        }

        /// The shortcut for plain numbers gives what the general scan gives.
        #[test]
        fn strto_scan_is_the_general_scan(
            s in prop_oneof![
                "\\PC{0,24}",
                "[ +\\-]{0,2}(0[xX])?[0-9a-fA-Fg:.kx]{0,24}",
                "0?[0-9]{15,23}[kG.]?",
                "0[xX][0-9a-fA-F]{12,20}",
                "0[0-7]{18,24}",
            ],
            base in prop_oneof![Just(0u32), Just(8), Just(10), Just(16)],
        ) {
            prop_assert_eq!(strto_scan(s.as_bytes(), base), strto_scan_general(s.as_bytes(), base));
        }

        /// The fraction read from a stack buffer is the one read from a
        /// `String` (what `parse_fraction` did before), up to and past the
        /// buffer's length.
        #[test]
        fn fraction_is_read_as_from_a_string(s in " {0,2}[+\\-]?\\.[0-9]{0,60}[0-9a-z.]{0,3}") {
            let got = match parse_fraction(s.as_bytes()) {
                Fraction::Value { value, nonzero, len } => Some((value.to_bits(), nonzero, len)),
                Fraction::Invalid => None,
            };
            let b = s.trim_start_matches(' ');
            let b = b.strip_prefix('+').unwrap_or(b);
            let expected = b.strip_prefix('.').and_then(|rest| {
                let n = rest.bytes().take_while(u8::is_ascii_digit).count();
                let digits = rest.get(..n)?;
                let value = format!("0.{digits}").parse::<f64>().ok()?;
                let len = s.len() - rest.len() + n;
                (n > 0).then_some((value.to_bits(), digits.bytes().any(|d| d != b'0'), len))
            });
            prop_assert_eq!(got, expected);
        }

        #[test]
        fn size_round_trip(x in any::<u64>()) {
            prop_assert_eq!(parse_size(&print_size(x)), Some(x));
        }

        #[test]
        fn u64_round_trip(x in any::<u64>()) {
            prop_assert_eq!(parse_u64(&x.to_string()), Some(x));
            prop_assert_eq!(parse_u64(&format!("{x:#x}")), Some(x));
        }

        #[test]
        fn i64_round_trip(x in any::<i64>()) {
            prop_assert_eq!(parse_i64(&x.to_string()), Some(x));
        }
    }
}
