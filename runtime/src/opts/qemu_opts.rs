//! QEMU's QemuOpts syntax (`util/qemu-option.c`), as `-device` and
//! `-object` parse their argument (option lists that accept any key).
//!
//! * `key=value` items separated by `,`; `,,` is a literal comma in a value,
//!   and only the first `=` splits, so `=` may appear in a value.
//! * The first item without `=` is the value of the implied key (`driver`
//!   for `-device`, `qom-type` for `-object`); `,,` works there too.
//! * Any later item without `=` is a flag: `foo` means `foo=on`, `nofoo`
//!   means `foo=off`, each with a deprecation warning — except `help` and `?`.
//! * A trailing comma is ignored. An empty key (`=val`) is accepted here, as
//!   QEMU's QemuOpts accepts it; the property layer then rejects the key `""`.
//! * For option lists that accept any key nothing else is validated at parse
//!   time — except `id`, which must be [well formed](id_wellformed).

use std::borrow::Cow;

use crate::Error;

/// The result of parsing a QemuOpts string.
///
/// Duplicates are kept: QEMU's `qemu_opt_get` and its conversion to a
/// `QDict` (`qemu_opts_to_qdict`) let the **last** value of an ordinary key
/// win, see [`get`](QemuOpts::get).
/// `id` is different: QEMU takes the **first** `id=` (found by a separate
/// scan, see [`id`](QemuOpts::id)), whereas keyval lets the last one win.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QemuOpts {
    /// The value given for the implied key (the bare first item), if any.
    /// It also appears as the first entry of `items`, keyed by the implied key.
    pub implied: Option<String>,
    /// Every item in command-line order, duplicates kept: the implied pair,
    /// `key=value` pairs, flags as `(foo, "on")`/`(foo, "off")`, `help`/`?`
    /// flags as `("help", "on")`/`("?", "on")`, and `id` items.
    pub items: Vec<(String, String)>,
    /// Help was requested: some item is named `help` or `?` (this is QEMU's
    /// `qemu_opt_has_help_opt`, so `help=off` and `nohelp` count too). A bare
    /// `help` as the implied value is not included; check
    /// [`is_help_option`] on [`implied`](QemuOpts::implied) for that.
    pub help: bool,
    /// Deprecation warnings for short-form flags, two lines per flag:
    /// `short-form boolean option 'x-vga' deprecated` (QEMU prints it with
    /// `warn_report`, i.e. behind `<prog>: -device <arg>: warning: `) and
    /// `Please use x-vga=on instead` (printed as is).
    pub warnings: Vec<String>,
    /// The `id` QEMU uses: the first `id` item found by `opts_parse_id`,
    /// which scans without the implied key (so a bare first item is a flag
    /// there and `,,` in the implied value is not an escape).
    pub id: Option<String>,
}

impl QemuOpts {
    /// `qemu_opt_get`: the last value given for `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.items
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The `id` QEMU uses (first wins); see the field docs.
    pub fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }
}

/// `is_help_option`: `help` or `?`.
pub fn is_help_option(s: &str) -> bool {
    s == "help" || s == "?"
}

/// `id_wellformed`: first character a letter, the rest letters, digits,
/// `-`, `.` or `_` (ASCII). A malformed id is reported as
/// [`Error::bad_id`]: `Parameter 'id' expects an identifier` plus the hint
/// `Identifiers consist of letters, digits, '-', '.', '_', starting with a letter.`
pub fn id_wellformed(id: &str) -> bool {
    let mut bytes = id.bytes();
    bytes.next().is_some_and(|c| c.is_ascii_alphabetic())
        && bytes.all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_'))
}

/// The index of the first byte of `s` that is `a` or `b`. Eight bytes at
/// a time (the items of an option string are short, so this beats both a
/// byte loop and `memchr`'s setup).
fn find_either(s: &[u8], a: u8, b: u8) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let (pa, pb) = (LO * u64::from(a), LO * u64::from(b));
    let mut chunks = s.chunks_exact(8);
    let mut at = 0;
    for chunk in &mut chunks {
        let mut word = [0; 8];
        word.copy_from_slice(chunk);
        let w = u64::from_le_bytes(word);
        let (xa, xb) = (w ^ pa, w ^ pb);
        // A zero byte of `xa`/`xb` is a match. The lowest flagged byte is
        // the first match (a flag can be wrong only above a real zero).
        let m = ((xa.wrapping_sub(LO) & !xa) | (xb.wrapping_sub(LO) & !xb)) & HI;
        if m != 0 {
            return Some(at + (m.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(|&c| c == a || c == b)
        .map(|p| at + p)
}

/// How many `,` there are in `s` (a bound on the number of items), eight
/// bytes at a time.
pub(crate) fn count_commas(s: &str) -> usize {
    const LO: u64 = 0x0101_0101_0101_0101;
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    let mut chunks = s.as_bytes().chunks_exact(8);
    let mut n = 0;
    for chunk in &mut chunks {
        let mut word = [0; 8];
        word.copy_from_slice(chunk);
        let x = u64::from_le_bytes(word) ^ (LO * u64::from(b','));
        // The high bit of each byte of `zero` is set exactly when that
        // byte of `x` is zero, i.e. a comma (no carries between bytes).
        let zero = !(((x & LOW7) + LOW7) | x | LOW7);
        n += zero.count_ones() as usize;
    }
    n + chunks.remainder().iter().filter(|&&b| b == b',').count()
}

/// `get_opt_value`: the value starting at byte `start`, up to a single `,`
/// (`,,` stands for `,`); returns it and the offset of that `,` (or the end).
/// A value without `,,` is borrowed from `params`: most are.
pub(crate) fn get_opt_value(params: &str, start: usize) -> (Cow<'_, str>, usize) {
    let rest = params.get(start..).unwrap_or_default();
    match find_either(rest.as_bytes(), b',', b',') {
        None => return (Cow::Borrowed(rest), params.len()),
        Some(off) if params.as_bytes().get(start + off + 1) != Some(&b',') => {
            return (
                Cow::Borrowed(rest.get(..off).unwrap_or_default()),
                start + off,
            );
        }
        Some(_) => {}
    }
    let mut val = String::new();
    let mut i = start;
    loop {
        let rest = params.get(i..).unwrap_or_default();
        match rest.find(',') {
            None => {
                val.push_str(rest);
                return (Cow::Owned(val), params.len());
            }
            Some(off) => {
                val.push_str(rest.get(..off).unwrap_or_default());
                let comma = i + off;
                if params.as_bytes().get(comma + 1) == Some(&b',') {
                    val.push(',');
                    i = comma + 2;
                } else {
                    return (Cow::Owned(val), comma);
                }
            }
        }
    }
}

/// One item as `get_opt_name_value` splits it, borrowing from the
/// argument (and the implied key) where it can.
struct Item<'a> {
    name: &'a str,
    value: Cow<'a, str>,
    /// Bytes consumed, including a terminating `,`.
    consumed: usize,
}

/// `get_opt_name_value`: splits the item at the start of `params`. With
/// `warnings`, short-form flags add their deprecation warning.
fn get_opt_name_value<'a>(
    params: &'a str,
    firstname: Option<&'a str>,
    warnings: Option<&mut Vec<String>>,
) -> Item<'a> {
    let pb = params.as_bytes();
    let len = find_either(pb, b'=', b',').unwrap_or(pb.len());
    let (name, value, mut p);
    if pb.get(len) != Some(&b'=') {
        if let Some(first) = firstname {
            // Implicitly named first option.
            name = first;
            (value, p) = get_opt_value(params, 0);
        } else {
            // Option without value: must be a flag.
            let (flag, v) = short_flag(params.get(..len).unwrap_or_default(), warnings);
            name = flag;
            value = Cow::Borrowed(v);
            p = len;
        }
    } else {
        name = params.get(..len).unwrap_or_default();
        (value, p) = get_opt_value(params, len + 1);
    }
    if pb.get(p) == Some(&b',') {
        p += 1;
    }
    Item {
        name,
        value,
        consumed: p,
    }
}

/// A short-form flag (`foo` or `nofoo`): its name and value (`on`/`off`).
/// With `warnings`, adds the deprecation warning (except for `help`/`?`).
fn short_flag<'a>(raw: &'a str, warnings: Option<&mut Vec<String>>) -> (&'a str, &'static str) {
    let (prefix, flag, v) = match raw.strip_prefix("no") {
        Some(rest) => ("no", rest, "off"),
        None => ("", raw, "on"),
    };
    if let Some(w) = warnings
        && (!prefix.is_empty() || !is_help_option(flag))
    {
        w.push(format!(
            "short-form boolean option '{prefix}{flag}' deprecated"
        ));
        if flag == "delay" {
            let on = if prefix.is_empty() { "off" } else { "on" };
            w.push(format!("Please use nodelay={on} instead"));
        } else {
            w.push(format!("Please use {flag}={v} instead"));
        }
    }
    (flag, v)
}

/// The positions of `,` and of `,`-or-`=` in an argument, found 64 bytes
/// at a time as bit masks, so that splitting items is a matter of finding
/// the next set bit. Blocks are computed as the scan reaches them.
struct Marks<'a> {
    b: &'a [u8],
    /// The block whose masks are cached (`usize::MAX`: none yet).
    block: usize,
    /// Bit `i`: byte `64 * block + i` is `,`.
    comma: u64,
    /// Bit `i`: byte `64 * block + i` is `,` or `=`.
    comma_eq: u64,
}

impl<'a> Marks<'a> {
    fn new(b: &'a [u8]) -> Self {
        Marks {
            b,
            block: usize::MAX,
            comma: 0,
            comma_eq: 0,
        }
    }

    /// The first `,` (or, with `eq`, `,` or `=`) at or after `from`, or
    /// the length of the argument.
    #[inline]
    fn next(&mut self, from: usize, eq: bool) -> usize {
        // Usually in the block at hand.
        if from / 64 == self.block {
            let mask = if eq { self.comma_eq } else { self.comma } >> (from % 64);
            if mask != 0 {
                return from + mask.trailing_zeros() as usize;
            }
        }
        self.next_in_later_blocks(from, eq)
    }

    /// [`Marks::next`] where the answer is not in the cached block.
    #[inline(never)]
    fn next_in_later_blocks(&mut self, from: usize, eq: bool) -> usize {
        let mut at = from;
        while at < self.b.len() {
            let block = at / 64;
            if block != self.block {
                let start = block * 64;
                let full = self.b.get(start..start + 64);
                (self.comma, self.comma_eq) = match full.and_then(|f| <&[u8; 64]>::try_from(f).ok())
                {
                    Some(full) => block_masks(full),
                    None => {
                        // The last, partial block; NUL bytes match neither.
                        let mut chunk = [0u8; 64];
                        let tail = self.b.get(start..).unwrap_or_default();
                        if let Some(dst) = chunk.get_mut(..tail.len()) {
                            dst.copy_from_slice(tail);
                        }
                        block_masks(&chunk)
                    }
                };
                self.block = block;
            }
            let mask = if eq { self.comma_eq } else { self.comma } >> (at % 64);
            if mask != 0 {
                return at + mask.trailing_zeros() as usize;
            }
            at = (block + 1) * 64;
        }
        self.b.len()
    }
}

/// The masks of `,` and of `,`-or-`=` bytes of a block (bit `i`: byte `i`).
///
/// Plain code the compiler vectorises (no target-specific code: the model
/// builds the same everywhere): the compares become vector compares (SSE2
/// on x86_64), giving a byte of 0 or 1 per input byte, and each eight of
/// those are gathered into eight bits by one multiplication (the bit of
/// byte `k` lands at bit `56 + k`; no two partial products meet).
#[inline]
fn block_masks(chunk: &[u8; 64]) -> (u64, u64) {
    let comma: [u8; 64] = std::array::from_fn(|i| u8::from(chunk.get(i) == Some(&b',')));
    let comma_eq: [u8; 64] =
        std::array::from_fn(|i| u8::from(matches!(chunk.get(i), Some(b',' | b'='))));
    (gather_bits(&comma), gather_bits(&comma_eq))
}

/// Bit `i` of the result is byte `i` of `flags`, each byte 0 or 1.
#[inline]
fn gather_bits(flags: &[u8; 64]) -> u64 {
    let mut bits = 0;
    for (k, part) in flags.chunks_exact(8).enumerate() {
        let mut word = [0u8; 8];
        word.copy_from_slice(part);
        let w = u64::from_le_bytes(word);
        bits |= (w.wrapping_mul(0x0102_0408_1020_4080) >> 56) << (8 * k);
    }
    bits
}

/// [`block_masks`] computed the SWAR way, eight bytes at a time (the
/// tests compare the two).
#[cfg(test)]
fn block_masks_swar(chunk: &[u8; 64]) -> (u64, u64) {
    const LO: u64 = 0x0101_0101_0101_0101;
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    // The high bit of each byte of the result is set exactly when that byte
    // of `w` equals the byte of `pattern` (no carries between bytes).
    let hits = |w: u64, pattern: u64| {
        let x = w ^ pattern;
        !(((x & LOW7) + LOW7) | x | LOW7)
    };
    // Gathers the eight high bits into the low byte.
    let gather = |h: u64| ((h >> 7).wrapping_mul(0x0102_0408_1020_4080) >> 56) & 0xff;
    let (mut comma, mut comma_eq) = (0u64, 0u64);
    for (i, part) in chunk.chunks_exact(8).enumerate() {
        let mut word = [0u8; 8];
        word.copy_from_slice(part);
        let w = u64::from_le_bytes(word);
        let c = hits(w, LO * u64::from(b','));
        let e = hits(w, LO * u64::from(b'='));
        comma |= gather(c) << (8 * i);
        comma_eq |= gather(c | e) << (8 * i);
    }
    (comma, comma_eq)
}

/// `get_opt_value` on [`Marks`]: the value starting at byte `start`, up to
/// a single `,` (`,,` stands for `,`), and the offset of that `,` (or the
/// end); borrowed unless it contains an escape.
#[inline]
fn value_at<'a>(s: &'a str, marks: &mut Marks<'_>, start: usize) -> (Cow<'a, str>, usize) {
    let comma = marks.next(start, false);
    if s.as_bytes().get(comma + 1) != Some(&b',') {
        return (
            Cow::Borrowed(s.get(start..comma).unwrap_or_default()),
            comma,
        );
    }
    escaped_value_at(s, marks, start, comma)
}

/// [`value_at`] for a value with a `,,` escape, whose first `,` is at `comma`.
#[cold]
#[inline(never)]
fn escaped_value_at<'a>(
    s: &'a str,
    marks: &mut Marks<'_>,
    start: usize,
    mut comma: usize,
) -> (Cow<'a, str>, usize) {
    let mut val = String::new();
    let mut from = start;
    loop {
        val.push_str(s.get(from..comma).unwrap_or_default());
        if s.as_bytes().get(comma + 1) != Some(&b',') {
            return (Cow::Owned(val), comma);
        }
        val.push(',');
        from = comma + 2;
        comma = marks.next(from, false);
    }
}

/// `opts_parse_id`: the first `id` item, scanning without an implied key.
fn parse_id(params: &str) -> Option<Cow<'_, str>> {
    let mut pos = 0;
    while pos < params.len() {
        let item = get_opt_name_value(params.get(pos..)?, None, None);
        if item.name == "id" {
            return Some(item.value);
        }
        if item.consumed == 0 {
            return None;
        }
        pos += item.consumed;
    }
    None
}

/// What [`tokenize`] finds besides the items, which it hands to a sink.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Scan<'a> {
    /// See [`QemuOpts::implied`].
    pub implied: Option<Cow<'a, str>>,
    /// See [`QemuOpts::help`].
    pub help: bool,
    /// See [`QemuOpts::warnings`].
    pub warnings: Vec<String>,
    /// See [`QemuOpts::id`].
    pub id: Option<Cow<'a, str>>,
}

/// `qemu_opts_parse_noisily(list, s, true)` for an option list that accepts
/// any key, such as `device` (implied key `driver`) or `object` (implied key
/// `qom-type`).
///
/// The only error is a malformed `id` ([`Error::bad_id`]), which QEMU
/// reports before looking at anything else; a duplicate id
/// (`Duplicate ID '<id>' for device`) and a missing implied value
/// (`Parameter 'driver' is missing`) are for the caller to report.
///
/// ```
/// use qomgen::opts::qemu_opts::parse;
/// let o = parse("vfio-pci,host=0000:01:00.0,x-vga,id=gpu0", "driver").unwrap();
/// assert_eq!(o.implied.as_deref(), Some("vfio-pci"));
/// assert_eq!(o.get("x-vga"), Some("on"));
/// assert_eq!(o.id(), Some("gpu0"));
/// assert_eq!(o.warnings, ["short-form boolean option 'x-vga' deprecated", "Please use x-vga=on instead"]);
/// ```
pub fn parse(s: &str, implied_key: &str) -> Result<QemuOpts, Error> {
    // Items are at most one more than the commas; the cap bounds what a
    // string of escaped commas (`x=,,,,...`) could make us reserve.
    let mut items = Vec::with_capacity((count_commas(s) + 1).min(64));
    let scan = tokenize(s, implied_key, |k, v| {
        items.push((k.to_owned(), v.into_owned()));
    })?;
    Ok(QemuOpts {
        implied: scan.implied.map(Cow::into_owned),
        items,
        help: scan.help,
        warnings: scan.warnings,
        id: scan.id.map(Cow::into_owned),
    })
}

/// [`parse`] without copying: what `-device`/`-object` parsing uses. Each
/// item goes to `item` in command-line order (names are slices of `s` or
/// the implied key, values too unless they contain a `,,` escape); the
/// rest is returned. On a malformed `id` the items already handed over
/// are to be discarded.
///
/// QEMU finds the `id` by a second scan of the argument (`opts_parse_id`),
/// which differs from the main one only in the first item: there it is a
/// flag, not the implied value. The item boundaries of both scans are
/// the same unless the implied value contains a `,,` escape, so the `id`
/// is taken from the main scan (the first item counting as the flag
/// `id`/`noid` if it is spelt so) and the second scan runs only for an
/// escaped implied value.
///
/// The argument is split in one pass over bit masks of its `,` and `=`
/// bytes ([`Marks`]) rather than by searching item by item; the old
/// item-by-item scan is kept in the tests, which compare the two.
pub(crate) fn tokenize<'a>(
    s: &'a str,
    implied_key: &'a str,
    mut item: impl FnMut(&'a str, Cow<'a, str>),
) -> Result<Scan<'a>, Error> {
    let mut scan = Scan::default();
    let mut id: Option<Option<Cow<'a, str>>> = None;
    let b = s.as_bytes();
    let mut marks = Marks::new(b);
    let mut first = true;
    let mut pos = 0;
    while pos < b.len() {
        let sep = marks.next(pos, true);
        let (name, value, end);
        if b.get(sep) == Some(&b'=') {
            name = s.get(pos..sep).unwrap_or_default();
            (value, end) = value_at(s, &mut marks, sep + 1);
            if id.is_none() && name == "id" {
                id = Some(Some(value.clone()));
            }
            if is_help_option(name) {
                scan.help = true;
            }
        } else if first {
            // Implicitly named first option.
            name = implied_key;
            (value, end) = value_at(s, &mut marks, pos);
            id = match &value {
                Cow::Owned(_) => Some(parse_id(s)),
                // `opts_parse_id` reads this item as a flag.
                Cow::Borrowed("id") => Some(Some(Cow::Borrowed("on"))),
                Cow::Borrowed("noid") => Some(Some(Cow::Borrowed("off"))),
                Cow::Borrowed(_) => None,
            };
            scan.implied = Some(value.clone());
        } else {
            // Option without value: must be a flag.
            let (flag, v) = short_flag(
                s.get(pos..sep).unwrap_or_default(),
                Some(&mut scan.warnings),
            );
            name = flag;
            value = Cow::Borrowed(v);
            end = sep;
            if id.is_none() && name == "id" {
                id = Some(Some(value.clone()));
            }
            if is_help_option(name) {
                scan.help = true;
            }
        }
        first = false;
        item(name, value);
        // Past the `,` that ends the item.
        let next = if b.get(end) == Some(&b',') {
            end + 1
        } else {
            end
        };
        if next == pos {
            break;
        }
        pos = next;
    }
    scan.id = id.flatten();
    if scan.id.as_deref().is_some_and(|id| !id_wellformed(id)) {
        return Err(Error::bad_id());
    }
    Ok(scan)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn items(o: &QemuOpts) -> Vec<(&str, &str)> {
        o.items
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }

    #[test]
    fn empty_string() {
        let o = parse("", "driver").unwrap();
        assert_eq!(o, QemuOpts::default());
    }

    #[test]
    fn implied_key_and_pairs() {
        let o = parse("vfio-pci,host=0000:01:00.0,bus=pcie.0", "driver").unwrap();
        assert_eq!(o.implied.as_deref(), Some("vfio-pci"));
        assert_eq!(
            items(&o),
            [
                ("driver", "vfio-pci"),
                ("host", "0000:01:00.0"),
                ("bus", "pcie.0")
            ]
        );
        assert!(!o.help);
        assert!(o.warnings.is_empty());
        let o = parse("iommufd,id=iommufd0", "qom-type").unwrap();
        assert_eq!(o.get("qom-type"), Some("iommufd"));
        assert_eq!(o.id(), Some("iommufd0"));
    }

    #[test]
    fn explicit_implied_key_is_not_implied() {
        let o = parse("driver=vfio-pci,x=1", "driver").unwrap();
        assert_eq!(o.implied, None);
        assert_eq!(o.get("driver"), Some("vfio-pci"));
        // A bare item after the first is a flag, not the implied key.
        let o = parse("x=1,vfio-pci", "driver").unwrap();
        assert_eq!(o.implied, None);
        assert_eq!(o.get("vfio-pci"), Some("on"));
        assert_eq!(o.get("driver"), None);
    }

    #[test]
    fn flags_warn() {
        let o = parse("vfio-pci,x-vga", "driver").unwrap();
        assert_eq!(o.get("x-vga"), Some("on"));
        assert_eq!(
            o.warnings,
            [
                "short-form boolean option 'x-vga' deprecated",
                "Please use x-vga=on instead"
            ]
        );
    }

    #[test]
    fn noflags_warn() {
        let o = parse("vfio-pci,nox-vga", "driver").unwrap();
        assert_eq!(items(&o), [("driver", "vfio-pci"), ("x-vga", "off")]);
        assert_eq!(
            o.warnings,
            [
                "short-form boolean option 'nox-vga' deprecated",
                "Please use x-vga=off instead"
            ]
        );
        // Anything starting with "no" is negated, and "no" alone is an empty key.
        let o = parse("d,notice,no", "driver").unwrap();
        assert_eq!(items(&o), [("driver", "d"), ("tice", "off"), ("", "off")]);
        assert_eq!(
            o.warnings.get(2).map(String::as_str),
            Some("short-form boolean option 'no' deprecated")
        );
        assert_eq!(
            o.warnings.get(3).map(String::as_str),
            Some("Please use =off instead")
        );
    }

    #[test]
    fn delay_flag_special_hint() {
        let o = parse("socket,delay,nodelay", "backend").unwrap();
        assert_eq!(
            o.warnings,
            [
                "short-form boolean option 'delay' deprecated",
                "Please use nodelay=off instead",
                "short-form boolean option 'nodelay' deprecated",
                "Please use nodelay=on instead",
            ]
        );
    }

    #[test]
    fn help_flags() {
        for word in ["help", "?"] {
            let o = parse(&format!("vfio-pci,{word}"), "driver").unwrap();
            assert!(o.help, "{word}");
            assert!(o.warnings.is_empty(), "{word}");
            assert_eq!(o.get(word), Some("on"));
        }
        // qemu_opt_has_help_opt looks at names only.
        assert!(parse("vfio-pci,help=off", "driver").unwrap().help);
        let o = parse("vfio-pci,nohelp", "driver").unwrap();
        assert!(o.help);
        assert_eq!(o.warnings.len(), 2);
        // "help" as the implied value is the caller's business.
        let o = parse("help", "driver").unwrap();
        assert!(!o.help);
        assert!(o.implied.as_deref().is_some_and(is_help_option));
        let o = parse("?", "driver").unwrap();
        assert_eq!(o.implied.as_deref(), Some("?"));
    }

    #[test]
    fn comma_escape() {
        let o = parse("d,x=a,,b,,,y=c", "driver").unwrap();
        assert_eq!(items(&o), [("driver", "d"), ("x", "a,b,"), ("y", "c")]);
        // Also in the implied value.
        let o = parse("a,,b,y=1", "driver").unwrap();
        assert_eq!(o.implied.as_deref(), Some("a,b"));
        assert_eq!(items(&o), [("driver", "a,b"), ("y", "1")]);
    }

    #[test]
    fn equals_inside_value() {
        let o = parse("d,x=a=b=c", "driver").unwrap();
        assert_eq!(o.get("x"), Some("a=b=c"));
    }

    #[test]
    fn trailing_comma() {
        let o = parse("d,x=1,", "driver").unwrap();
        assert_eq!(items(&o), [("driver", "d"), ("x", "1")]);
        let o = parse("d,", "driver").unwrap();
        assert_eq!(items(&o), [("driver", "d")]);
    }

    #[test]
    fn empty_key_and_empty_implied_are_accepted() {
        // QemuOpts accepts what keyval rejects (behaviour 2, 18).
        let o = parse("=val", "driver").unwrap();
        assert_eq!(o.implied, None);
        assert_eq!(items(&o), [("", "val")]);
        let o = parse(",x=1", "driver").unwrap();
        assert_eq!(o.implied.as_deref(), Some(""));
        assert_eq!(items(&o), [("driver", ""), ("x", "1")]);
        let o = parse("d,,,x=1", "driver").unwrap();
        assert_eq!(items(&o), [("driver", "d,"), ("x", "1")]);
    }

    #[test]
    fn duplicates_kept_last_wins_but_id_first_wins() {
        let o = parse("d,x=1,id=foo,x=2,id=bar", "driver").unwrap();
        assert_eq!(
            items(&o),
            [
                ("driver", "d"),
                ("x", "1"),
                ("id", "foo"),
                ("x", "2"),
                ("id", "bar")
            ]
        );
        assert_eq!(o.get("x"), Some("2"));
        assert_eq!(o.id(), Some("foo"));
    }

    #[test]
    fn id_scan_quirks() {
        // opts_parse_id scans without the implied key: ",," in the implied
        // value is not an escape there.
        let o = parse("a,,id=x,id=y", "driver").unwrap();
        assert_eq!(o.implied.as_deref(), Some("a,id=x"));
        assert_eq!(o.id(), Some("x"));
        // A flag named id.
        assert_eq!(parse("d,id", "driver").unwrap().id(), Some("on"));
    }

    #[test]
    fn bad_id_is_rejected_first() {
        for bad in ["666", "", "a b", "-x", "_x", "x/y", "ünï"] {
            let e = parse(&format!("vfio-pci,id={bad},nox-vga"), "driver").unwrap_err();
            assert_eq!(
                e.message(),
                "Parameter 'id' expects an identifier",
                "{bad:?}"
            );
            assert_eq!(
                e.hint(),
                Some(
                    "Identifiers consist of letters, digits, '-', '.', '_', starting with a letter."
                )
            );
        }
        // Only the first id is checked.
        assert_eq!(parse("d,id=ok,id=666", "driver").unwrap().id(), Some("ok"));
    }

    #[test]
    fn id_wellformed_rules() {
        for good in ["a", "gpu0", "A-b.c_d", "z9"] {
            assert!(id_wellformed(good), "{good}");
        }
        for bad in ["", "0", "-a", ".a", "_a", "a b", "a,b", "a=b", "é"] {
            assert!(!id_wellformed(bad), "{bad}");
        }
    }

    /// The item-by-item scan [`tokenize`] replaces (each item split by
    /// `get_opt_name_value`), kept to compare with.
    fn tokenize_by_item<'a>(
        s: &'a str,
        implied_key: &'a str,
        mut item: impl FnMut(&'a str, Cow<'a, str>),
    ) -> Result<Scan<'a>, Error> {
        let mut scan = Scan::default();
        let mut id: Option<Option<Cow<'a, str>>> = None;
        let mut firstname = Some(implied_key);
        let mut pos = 0;
        while pos < s.len() {
            let Some(rest) = s.get(pos..) else { break };
            // The item is the implied one when it comes first and has no
            // `=` (what `get_opt_name_value` reported as `implied`).
            let implied = firstname.is_some()
                && find_either(rest.as_bytes(), b'=', b',')
                    .is_none_or(|i| rest.as_bytes().get(i) != Some(&b'='));
            let it = get_opt_name_value(rest, firstname, Some(&mut scan.warnings));
            firstname = None;
            if implied {
                id = match &it.value {
                    Cow::Owned(_) => Some(parse_id(s)),
                    // `opts_parse_id` reads this item as a flag.
                    Cow::Borrowed("id") => Some(Some(Cow::Borrowed("on"))),
                    Cow::Borrowed("noid") => Some(Some(Cow::Borrowed("off"))),
                    Cow::Borrowed(_) => None,
                };
                scan.implied = Some(it.value.clone());
            } else {
                if id.is_none() && it.name == "id" {
                    id = Some(Some(it.value.clone()));
                }
                if is_help_option(it.name) {
                    scan.help = true;
                }
            }
            item(it.name, it.value);
            if it.consumed == 0 {
                break;
            }
            pos += it.consumed;
        }
        scan.id = id.flatten();
        if scan.id.as_deref().is_some_and(|id| !id_wellformed(id)) {
            return Err(Error::bad_id());
        }
        Ok(scan)
    }

    /// The items a scan handed over, and its result (errors as text).
    type ScanResult<'a> = (Vec<(&'a str, Cow<'a, str>)>, Result<Scan<'a>, String>);

    /// Everything [`tokenize`] (or `f`) reports for `s`: items, scan or error.
    fn run_scan<'a>(
        s: &'a str,
        f: impl FnOnce(
            &'a str,
            &'a str,
            &mut dyn FnMut(&'a str, Cow<'a, str>),
        ) -> Result<Scan<'a>, Error>,
    ) -> ScanResult<'a> {
        let mut items = Vec::new();
        let scan = f(s, "driver", &mut |k, v| items.push((k, v))).map_err(|e| e.to_string());
        (items, scan)
    }

    #[test]
    fn block_masks_mark_commas_and_equals() {
        let mut chunk = [0u8; 64];
        for (i, c) in chunk.iter_mut().enumerate() {
            *c = match i % 7 {
                0 => b',',
                3 => b'=',
                5 => 0x80 | b',',
                _ => b'a' + (i % 26) as u8,
            };
        }
        let naive = |f: &dyn Fn(u8) -> bool| {
            chunk
                .iter()
                .enumerate()
                .filter(|&(_, &c)| f(c))
                .fold(0u64, |m, (i, _)| m | 1 << i)
        };
        let expected = (naive(&|c| c == b','), naive(&|c| c == b',' || c == b'='));
        assert_eq!(block_masks(&chunk), expected);
        assert_eq!(block_masks_swar(&chunk), expected);
    }

    proptest! {
        /// The one-pass split gives what the item-by-item scan gives: the
        /// same items, implied value, help flag, warnings, `id` and errors,
        /// on arguments long enough to span several 64-byte blocks.
        #[test]
        fn tokenize_is_the_item_by_item_scan(
            input in prop_oneof![
                1 => "\\PC{0,150}",
                4 => prop::collection::vec(
                    prop_oneof![
                        prop::sample::select(vec![
                            "id", "noid", "id=x", "id=9", "id=a,,b", "d", "", ",", "x=,", "no",
                            "help", "?", "=id", "nodelay", "x-vga", "k=v=w", "a,,b=c,,", ",,,",
                            "é=ü",
                        ])
                        .prop_map(str::to_owned),
                        "[a-z=,]{0,70}",
                        "[a-z-]{1,20}=[a-z0-9:.]{0,40}",
                    ],
                    0..12,
                ).prop_map(|items| items.join(",")),
            ],
        ) {
            let new = run_scan(&input, |s, k, f| tokenize(s, k, f));
            let old = run_scan(&input, |s, k, f| tokenize_by_item(s, k, f));
            prop_assert_eq!(new, old);
        }

        #[test]
        fn block_masks_are_the_swar_masks(
            chunk in prop::array::uniform32(prop_oneof![Just(b','), Just(b'='), any::<u8>()]),
            rest in prop::array::uniform32(prop_oneof![Just(b','), Just(b'='), any::<u8>()]),
        ) {
            let mut block = [0u8; 64];
            let (a, b) = block.split_at_mut(32);
            a.copy_from_slice(&chunk);
            b.copy_from_slice(&rest);
            prop_assert_eq!(block_masks(&block), block_masks_swar(&block));
        }

        #[test]
        fn count_commas_counts_commas(s in "[,a=\\x{80}-\\x{10ffff}]{0,40}|\\PC{0,40}") {
            prop_assert_eq!(count_commas(&s), s.bytes().filter(|&b| b == b',').count());
        }

        #[test]
        fn find_either_is_the_first_match(
            s in prop::collection::vec(prop_oneof![Just(b','), Just(b'='), Just(b'a'), Just(0x80u8), any::<u8>()], 0..40),
            a in prop_oneof![Just(b','), Just(b'='), any::<u8>()],
            b in prop_oneof![Just(b','), Just(b'='), any::<u8>()],
        ) {
            prop_assert_eq!(find_either(&s, a, b), s.iter().position(|&c| c == a || c == b));
        }

        /// The `id` taken from the main scan is the one QEMU's own scan
        /// (`opts_parse_id`, kept as `parse_id`) finds.
        #[test]
        fn id_of_the_main_scan_is_opts_parse_id(
            input in prop_oneof![
                1 => "\\PC*",
                4 => prop::collection::vec(
                    prop_oneof![
                        Just("id"), Just("noid"), Just("id=x"), Just("id=9"), Just("id=a,,b"),
                        Just("noid=y"), Just("d"), Just("d,"), Just("a=b"), Just(""),
                        Just("x=,"), Just("no"), Just("help"), Just("=id"),
                    ],
                    0..6,
                ).prop_map(|items| items.join(",")),
            ],
        ) {
            let expected = parse_id(&input);
            match tokenize(&input, "driver", |_, _| {}) {
                Ok(t) => prop_assert_eq!(t.id, expected),
                Err(_) => prop_assert!(expected.is_some_and(|id| !id_wellformed(&id))),
            }
        }

        #[test]
        fn qemu_opts_never_panics(input in "\\PC*") {
            let _ = parse(&input, "driver");
        }

        #[test]
        fn qemu_opts_never_panics_on_syntax(input in "[a-d,=?ion ]{0,30}") {
            if let Ok(o) = parse(&input, "driver") {
                prop_assert!(o.warnings.len() % 2 == 0);
            }
        }
    }
}
