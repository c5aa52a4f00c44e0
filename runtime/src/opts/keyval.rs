//! QEMU's `KEY=VALUE,...` parser (`util/keyval.c`) and the accessors of its
//! keyval QObject input visitor (`qapi/qobject-input-visitor.c`).
//!
//! Grammar (QEMU's own comment, abridged):
//!
//! ```text
//! key-vals     = [ key-val { ',' key-val } [ ',' ] ]
//! key-val      = key '=' val | help
//! key          = key-fragment { '.' key-fragment }
//! key-fragment = qapi-name | index
//! qapi-name    = '__' / [a-z0-9.-]+ / '_' / [A-Za-z][A-Za-z0-9_-]* /
//! index        = / [0-9]+ /
//! val          = { / [^,]+ / | ',,' }
//! help         = 'help' | '?'
//!
//! key-vals-ik  = val-no-key [ ',' key-vals ]     (with an implied key)
//! val-no-key   = / [^=,]+ /
//! ```
//!
//! * Dotted keys build nested dictionaries; a dictionary whose keys are all
//!   indexes becomes a list (indexes may come in any order, must have no
//!   gaps; `01` is index 1). The root is always a dictionary: the first
//!   fragment must be a QAPI name.
//! * Key fragments are 1 to 127 characters long.
//! * When several `key=val` denote the same leaf, the last one wins.
//! * All scalars are strings; the visitor ([`KvVisitor`]) converts them.
//!
//! Unlike QemuOpts ([`super::qemu_opts`]), keyval rejects empty and non-QAPI
//! keys, has no `foo`/`nofoo` flags, lets the last `id=` win, and does not
//! allow `,,` in an implied value.
//!
//! Where QEMU's result depends on the iteration order of a `QDict` (which
//! duplicate of a list index wins, which of several errors is reported first)
//! this module iterates in QEMU's order, see [`KvDict::iter_qdict_order`].
//! The only deliberate deviation: keys nested deeper than
//! [`MAX_NESTING`] fragments are rejected (QEMU has no limit, but recursion
//! that deep could exhaust the stack).

use std::collections::HashMap;
use std::fmt;

use super::scalar;
use crate::Error;

/// Maximum number of fragments in one key (see the module docs).
pub const MAX_NESTING: usize = 128;

/// Size of QEMU's `key_in_cur[]` buffer: fragments must be shorter.
const KEY_IN_CUR_SIZE: usize = 128;

/// Number of hash buckets of a QEMU `QDict` (`QDICT_BUCKET_MAX`).
const QDICT_BUCKET_MAX: u32 = 512;

/// A node of a parsed keyval tree. Scalars are always strings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KvValue {
    /// A leaf: the value text, with `,,` already unescaped to `,`.
    Str(String),
    /// A dictionary (dotted keys with named fragments).
    Dict(KvDict),
    /// A list (dotted keys with index fragments).
    List(Vec<KvValue>),
}

/// The kind of a [`KvValue`], as QEMU's `qobject_type()` would report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KvKind {
    /// A string (`QTYPE_QSTRING`).
    Str,
    /// A dictionary (`QTYPE_QDICT`).
    Dict,
    /// A list (`QTYPE_QLIST`).
    List,
}

impl KvValue {
    /// The kind of this value.
    pub fn kind(&self) -> KvKind {
        match self {
            KvValue::Str(_) => KvKind::Str,
            KvValue::Dict(_) => KvKind::Dict,
            KvValue::List(_) => KvKind::List,
        }
    }

    /// The string, if this is a leaf.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            KvValue::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The dictionary, if this is one.
    pub fn as_dict(&self) -> Option<&KvDict> {
        match self {
            KvValue::Dict(d) => Some(d),
            _ => None,
        }
    }

    /// The list elements, if this is a list.
    pub fn as_list(&self) -> Option<&[KvValue]> {
        match self {
            KvValue::List(l) => Some(l),
            _ => None,
        }
    }

    /// The value as JSON: strings, objects (in insertion order) and arrays.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            KvValue::Str(s) => serde_json::Value::String(s.clone()),
            KvValue::Dict(d) => d.to_json(),
            KvValue::List(l) => serde_json::Value::Array(l.iter().map(KvValue::to_json).collect()),
        }
    }
}

impl From<&str> for KvValue {
    fn from(s: &str) -> Self {
        KvValue::Str(s.to_owned())
    }
}

/// A keyval dictionary.
///
/// [`iter`](KvDict::iter) yields entries in order of first insertion;
/// re-inserting an existing key replaces its value in place (so the last
/// duplicate wins but keeps the first position), like `qdict_put_obj`.
/// Equality ignores order, like `qobject_is_equal`.
#[derive(Clone, Default)]
pub struct KvDict {
    entries: Vec<(String, KvValue)>,
    index: HashMap<String, usize>,
}

impl KvDict {
    /// An empty dictionary.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn position(&self, key: &str) -> Option<usize> {
        self.index.get(key).copied()
    }

    /// The value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<&KvValue> {
        let i = self.position(key)?;
        self.entries.get(i).map(|(_, v)| v)
    }

    /// The value of `key` for modification, if present.
    pub fn get_mut(&mut self, key: &str) -> Option<&mut KvValue> {
        let i = self.position(key)?;
        self.entries.get_mut(i).map(|(_, v)| v)
    }

    /// The string value of `key`, if present and a string.
    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(KvValue::as_str)
    }

    /// Whether `key` is present.
    pub fn contains_key(&self, key: &str) -> bool {
        self.index.contains_key(key)
    }

    /// Sets `key` to `value`, returning the old value. An existing key keeps
    /// its position; a new key goes last.
    pub fn insert(&mut self, key: impl Into<String>, value: KvValue) -> Option<KvValue> {
        let key = key.into();
        if let Some(slot) = self.position(&key).and_then(|i| self.entries.get_mut(i)) {
            return Some(std::mem::replace(&mut slot.1, value));
        }
        self.index.insert(key.clone(), self.entries.len());
        self.entries.push((key, value));
        None
    }

    /// Removes `key`, returning its value (like `qdict_del` + get).
    pub fn remove(&mut self, key: &str) -> Option<KvValue> {
        let i = self.index.remove(key)?;
        if i >= self.entries.len() {
            return None;
        }
        let (_, v) = self.entries.remove(i);
        for slot in self.index.values_mut() {
            if *slot > i {
                *slot -= 1;
            }
        }
        Some(v)
    }

    /// Entries in order of first insertion.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &KvValue)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Keys in order of first insertion.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(k, _)| k.as_str())
    }

    /// Entries in the order QEMU's `qdict_first`/`qdict_next` would visit a
    /// `QDict` built by the same insertions: by hash bucket
    /// ([`qdict_bucket`]), and newest first within a bucket.
    pub fn iter_qdict_order(&self) -> impl Iterator<Item = (&str, &KvValue)> {
        self.qdict_order()
            .into_iter()
            .filter_map(|i| self.entries.get(i).map(|(k, v)| (k.as_str(), v)))
    }

    /// Indexes into `entries` in QDict iteration order.
    fn qdict_order(&self) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.entries.len()).collect();
        order.sort_by_key(|&i| {
            let bucket = self.entries.get(i).map_or(0, |(k, _)| qdict_bucket(k));
            (bucket, std::cmp::Reverse(i))
        });
        order
    }

    /// The dictionary as a JSON object, in insertion order.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::Value::Object(
            self.entries
                .iter()
                .map(|(k, v)| (k.clone(), v.to_json()))
                .collect(),
        )
    }
}

impl fmt::Debug for KvDict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.entries.iter().map(|(k, v)| (k, v)))
            .finish()
    }
}

impl PartialEq for KvDict {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().all(|(k, v)| other.get(k) == Some(v))
    }
}

impl Eq for KvDict {}

impl IntoIterator for KvDict {
    type Item = (String, KvValue);
    type IntoIter = std::vec::IntoIter<(String, KvValue)>;

    /// Entries in order of first insertion.
    fn into_iter(self) -> Self::IntoIter {
        self.entries.into_iter()
    }
}

impl<K: Into<String>> FromIterator<(K, KvValue)> for KvDict {
    fn from_iter<I: IntoIterator<Item = (K, KvValue)>>(iter: I) -> Self {
        let mut d = KvDict::new();
        for (k, v) in iter {
            d.insert(k, v);
        }
        d
    }
}

impl fmt::Display for KvDict {
    /// JSON rendering, for messages and debugging.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_json())
    }
}

/// The `QDict` hash bucket of `key`: `tdb_hash(key) % 512`, as in
/// `qobject/qdict.c`. QEMU iterates a `QDict` bucket by bucket, which is the
/// order `-device` applies its properties in (§4.1 of the reference).
pub fn qdict_bucket(key: &str) -> u32 {
    let bytes = key.as_bytes();
    // C: `unsigned value = 0x238F13AF * strlen(name)`, all arithmetic mod 2^32.
    let mut value = 0x238F_13AFu32.wrapping_mul(bytes.len() as u32);
    for (i, &c) in bytes.iter().enumerate() {
        let shift = ((i as u64 * 5) % 24) as u32;
        value = value.wrapping_add(u32::from(c) << shift);
    }
    1_103_515_243u32.wrapping_mul(value).wrapping_add(12345) % QDICT_BUCKET_MAX
}

/// `parse_qapi_name(s, false)`: length of the QAPI name at the start of `s`,
/// or 0 when there is none.
fn parse_qapi_name(s: &[u8]) -> usize {
    let mut p = 0;
    if s.first() == Some(&b'_') {
        // Downstream extension: __RFQDN_
        p = 1;
        if s.get(p) != Some(&b'_') {
            return 0;
        }
        p += 1;
        while s
            .get(p)
            .is_some_and(|&c| c.is_ascii_alphanumeric() || c == b'-' || c == b'.')
        {
            p += 1;
        }
        if s.get(p) != Some(&b'_') {
            return 0;
        }
        p += 1;
    }
    if !s.get(p).is_some_and(u8::is_ascii_alphabetic) {
        return 0;
    }
    p += 1;
    while s
        .get(p)
        .is_some_and(|&c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
    {
        p += 1;
    }
    p
}

/// Number of leading decimal digits of `s` (`key_to_index` with an end
/// pointer), or `None` when `s` does not start with a digit.
fn index_prefix_len(s: &[u8]) -> Option<usize> {
    let n = s.iter().take_while(|c| c.is_ascii_digit()).count();
    (n > 0).then_some(n)
}

/// `key_to_index(key, NULL)`: the list index a whole key denotes (all
/// digits), capped at `INT_MAX`; `None` for a member name.
fn key_to_index(key: &str) -> Option<u64> {
    let b = key.as_bytes();
    if b.is_empty() || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let cap = i32::MAX as u64;
    let mut v: u64 = 0;
    for &d in b {
        v = (v * 10 + u64::from(d - b'0')).min(cap + 1);
    }
    Some(v.min(cap))
}

/// `starts_with_help_option`: 1 for `?`, 4 for a `help` prefix, else 0.
fn starts_with_help_option(s: &[u8]) -> usize {
    if s.first() == Some(&b'?') {
        1
    } else if s.starts_with(b"help") {
        4
    } else {
        0
    }
}

fn internal_error() -> Error {
    Error::new("Internal error: inconsistent keyval tree")
}

/// The dictionary at `path` below `root` (every step must be a dictionary).
fn dict_at<'d>(root: &'d mut KvDict, path: &[&str]) -> Result<&'d mut KvDict, Error> {
    let mut cur = root;
    for name in path {
        cur = match cur.get_mut(name) {
            Some(KvValue::Dict(d)) => d,
            _ => return Err(internal_error()),
        };
    }
    Ok(cur)
}

/// `keyval_parse_one`: parses one parameter at the start of `params` into
/// `root`; returns the number of bytes consumed (including a `,`).
fn parse_one(
    root: &mut KvDict,
    params: &str,
    implied_key: Option<&str>,
    help: &mut bool,
) -> Result<usize, Error> {
    let pb = params.as_bytes();
    let len = pb
        .iter()
        .position(|&c| c == b'=' || c == b',')
        .unwrap_or(pb.len());
    let mut key = params.get(..len).unwrap_or_default();
    let mut implied_val_end = None;
    if len > 0 && pb.get(len) != Some(&b'=') {
        if starts_with_help_option(pb) == len {
            *help = true;
            return Ok(if pb.get(len) == Some(&b',') {
                len + 1
            } else {
                len
            });
        }
        if let Some(ik) = implied_key {
            // Desugar implied key.
            key = ik;
            implied_val_end = Some(len);
        }
    }
    let kb = key.as_bytes();

    // Split the key into fragments, validating each.
    let mut frags: Vec<(usize, &str)> = Vec::new();
    let mut failure = None;
    let mut s = 0;
    loop {
        let rest = kb.get(s..).unwrap_or_default();
        let flen = match if s != 0 { index_prefix_len(rest) } else { None } {
            Some(n) => n,
            None => parse_qapi_name(rest),
        };
        let end = s + flen;
        let frag = key.get(s..end);
        let Some(frag) =
            frag.filter(|_| flen != 0 && (end >= kb.len() || kb.get(end) == Some(&b'.')))
        else {
            failure = Some(Error::new(format!("Invalid parameter '{key}'")));
            break;
        };
        if flen >= KEY_IN_CUR_SIZE {
            let what = if s != 0 || end != kb.len() {
                " fragment"
            } else {
                ""
            };
            failure = Some(Error::new(format!("Parameter{what} '{frag}' is too long")));
            break;
        }
        if frags.len() >= MAX_NESTING {
            failure = Some(Error::new(format!(
                "Parameter '{key}' is nested too deeply"
            )));
            break;
        }
        frags.push((s, frag));
        s = end;
        if kb.get(s) != Some(&b'.') {
            break;
        }
        s += 1;
    }

    // QEMU validates fragment i and then makes fragment i-1 a dictionary, so
    // the dictionaries for all but the last (valid) fragment exist before an
    // invalid fragment is reported.
    let names: Vec<&str> = frags.iter().map(|&(_, f)| f).collect();
    for j in 0..frags.len().saturating_sub(1) {
        let (start, frag) = frags.get(j).copied().ok_or_else(internal_error)?;
        let cur = dict_at(root, names.get(..j).unwrap_or_default())?;
        match cur.get(frag) {
            Some(KvValue::Dict(_)) => {}
            Some(_) => {
                let prefix = key.get(..start + frag.len()).unwrap_or_default();
                return Err(Error::new(format!(
                    "Parameters '{prefix}.*' used inconsistently"
                )));
            }
            None => {
                cur.insert(frag, KvValue::Dict(KvDict::new()));
            }
        }
    }
    if let Some(e) = failure {
        return Err(e);
    }
    let (last, parents) = names.split_last().ok_or_else(internal_error)?;

    let (value, consumed) = if let Some(val_end) = implied_val_end {
        let v = params.get(..val_end).unwrap_or_default().to_owned();
        (
            v,
            if pb.get(val_end) == Some(&b',') {
                val_end + 1
            } else {
                val_end
            },
        )
    } else {
        if pb.get(len) != Some(&b'=') {
            return Err(Error::new(format!("Expected '=' after parameter '{key}'")));
        }
        parse_value(params, len + 1)
    };

    let cur = dict_at(root, parents)?;
    if matches!(cur.get(last), Some(KvValue::Dict(_) | KvValue::List(_))) {
        return Err(Error::new(format!(
            "Parameters '{key}.*' used inconsistently"
        )));
    }
    cur.insert(*last, KvValue::Str(value));
    Ok(consumed)
}

/// Reads a value starting at byte `start` of `params` up to an unescaped
/// `,` (`,,` stands for `,`); returns it and the offset after the `,`.
/// The scanning is QemuOpts' own (`get_opt_value`), as in QEMU.
fn parse_value(params: &str, start: usize) -> (String, usize) {
    let (val, comma) = super::qemu_opts::get_opt_value(params, start);
    (val.into_owned(), (comma + 1).min(params.len()))
}

/// `reassemble_key`: the fragments leading to a node, each followed by `.`.
fn reassemble_key(key_of_cur: &[String]) -> String {
    key_of_cur.iter().map(|k| format!("{k}.")).collect()
}

/// `keyval_listify`: recursively replaces dictionaries whose keys are all
/// list indexes by lists.
fn listify(mut dict: KvDict, key_of_cur: &mut Vec<String>) -> Result<KvValue, Error> {
    let order = dict.qdict_order();
    let mut has_index = false;
    let mut has_member = false;
    for &i in &order {
        let Some((k, v)) = dict.entries.get_mut(i) else {
            continue;
        };
        if key_to_index(k).is_some() {
            has_index = true;
        } else {
            has_member = true;
        }
        if let KvValue::Dict(sub) = v {
            let sub = std::mem::take(sub);
            key_of_cur.push(k.clone());
            let listified = listify(sub, key_of_cur);
            key_of_cur.pop();
            *v = listified?;
        }
    }

    if has_index && has_member {
        return Err(Error::new(format!(
            "Parameters '{}*' used inconsistently",
            reassemble_key(key_of_cur)
        )));
    }
    if !has_index {
        return Ok(KvValue::Dict(dict));
    }

    // One extra element as sentinel, exactly like QEMU: an index >= size is
    // dropped and then reported as the first missing element.
    let nelt = dict.len() + 1;
    let mut elt: Vec<Option<KvValue>> = (0..nelt).map(|_| None).collect();
    let mut max_index: Option<u64> = None;
    let mut entries: Vec<Option<(String, KvValue)>> = dict.entries.into_iter().map(Some).collect();
    for &i in &order {
        let Some((k, v)) = entries.get_mut(i).and_then(Option::take) else {
            continue;
        };
        let Some(index) = key_to_index(&k) else {
            continue;
        };
        max_index = Some(max_index.map_or(index, |m| m.max(index)));
        if let Some(slot) = usize::try_from(index)
            .ok()
            .filter(|&x| x < nelt - 1)
            .and_then(|x| elt.get_mut(x))
        {
            // Even though dict keys are distinct, indexes need not be.
            *slot = Some(v);
        }
    }
    let limit = max_index.map_or(0, |m| (nelt as u64).min(m + 1));
    let mut list = Vec::new();
    for (i, slot) in elt.into_iter().enumerate().take(limit as usize) {
        match slot {
            Some(v) => list.push(v),
            None => {
                return Err(Error::new(format!(
                    "Parameter '{}{i}' missing",
                    reassemble_key(key_of_cur)
                )));
            }
        }
    }
    Ok(KvValue::List(list))
}

/// `keyval_parse`: parses `s` in QEMU's `KEY=VALUE,...` syntax.
///
/// With `implied_key`, the first parameter may be given as a bare value
/// (`val` means `<implied_key>=val`); that value cannot be empty or contain
/// `,` or `=`. The implied key may be dotted (`eins.zwei`).
///
/// A parameter `help` or `?` without a value is a help request: it is not
/// added to the result. With `help` given, `*help` tells whether help was
/// requested; without it, a help request fails with
/// `Help is not available for this option`.
///
/// Errors (QEMU's texts): `Invalid parameter '<key>'`,
/// `Parameter '<key>' is too long`, `Parameter fragment '<frag>' is too long`,
/// `Expected '=' after parameter '<key>'`,
/// `Parameters '<prefix>.*' used inconsistently`, `Parameter '<list>.<n>' missing`.
///
/// ```
/// use qomgen::opts::keyval::{parse, KvValue};
/// let d = parse("vfio-pci,host=0000:01:00.0,x-vga=on", Some("driver"), None).unwrap();
/// assert_eq!(d.get_str("driver"), Some("vfio-pci"));
/// assert_eq!(d.get_str("x-vga"), Some("on"));
/// let e = parse("a.b=1,a=2", None, None).unwrap_err();
/// assert_eq!(e.message(), "Parameters 'a.*' used inconsistently");
/// ```
pub fn parse(s: &str, implied_key: Option<&str>, help: Option<&mut bool>) -> Result<KvDict, Error> {
    let mut dict = KvDict::new();
    let mut implied_key = implied_key;
    let mut help_wanted = false;
    let mut pos = 0;
    while pos < s.len() {
        let rest = s.get(pos..).ok_or_else(internal_error)?;
        let consumed = parse_one(&mut dict, rest, implied_key, &mut help_wanted)?;
        if consumed == 0 {
            return Err(internal_error());
        }
        pos += consumed;
        implied_key = None;
    }

    match help {
        Some(h) => *h = help_wanted,
        None if help_wanted => return Err(Error::new("Help is not available for this option")),
        None => {}
    }

    match listify(dict, &mut Vec::new())? {
        KvValue::Dict(d) => Ok(d),
        // The root's keys are QAPI names, never indexes.
        _ => Err(internal_error()),
    }
}

/// `keyval_merge`: merges `src` into `dest`, as for QemuOpts' `merge_lists`
/// or `-set`. Dictionaries merge recursively, lists are concatenated and
/// for strings `src` wins. A path that is a string on one side and a
/// dictionary or list on the other fails with
/// `Parameter '<path>' used inconsistently`; `dest` may already have been
/// modified then.
pub fn merge(dest: &mut KvDict, src: KvDict) -> Result<(), Error> {
    do_merge(dest, src, &mut String::new())
}

fn do_merge(dest: &mut KvDict, src: KvDict, path: &mut String) -> Result<(), Error> {
    let order = src.qdict_order();
    let mut entries: Vec<Option<(String, KvValue)>> = src.entries.into_iter().map(Some).collect();
    for i in order {
        let Some((key, value)) = entries.get_mut(i).and_then(Option::take) else {
            continue;
        };
        let old_kind = dest.get(&key).map(KvValue::kind);
        match (old_kind, value) {
            (Some(kind), value) if kind != value.kind() => {
                return Err(Error::new(format!(
                    "Parameter '{path}{key}' used inconsistently"
                )));
            }
            (Some(_), KvValue::Dict(sub)) => {
                let Some(KvValue::Dict(old)) = dest.get_mut(&key) else {
                    return Err(internal_error());
                };
                let saved = path.len();
                path.push_str(&key);
                path.push('.');
                let r = do_merge(old, sub, path);
                path.truncate(saved);
                r?;
            }
            (Some(_), KvValue::List(items)) => {
                let Some(KvValue::List(old)) = dest.get_mut(&key) else {
                    return Err(internal_error());
                };
                old.extend(items);
            }
            (_, value) => {
                dest.insert(key, value);
            }
        }
    }
    Ok(())
}

/// A node the visitor is looking at.
#[derive(Clone, Copy)]
enum Node<'a> {
    Dict(&'a KvDict),
    List(&'a [KvValue]),
    Str(&'a str),
}

impl<'a> From<&'a KvValue> for Node<'a> {
    fn from(v: &'a KvValue) -> Self {
        match v {
            KvValue::Str(s) => Node::Str(s),
            KvValue::Dict(d) => Node::Dict(d),
            KvValue::List(l) => Node::List(l),
        }
    }
}

enum FrameNode<'a> {
    Dict {
        dict: &'a KvDict,
        unvisited: Vec<bool>,
    },
    List {
        items: &'a [KvValue],
        next: usize,
        index: u32,
    },
}

struct Frame<'a> {
    name: Option<String>,
    node: FrameNode<'a>,
}

/// The keyval flavour of QEMU's QObject input visitor
/// (`qobject_input_visitor_new_keyval`), reduced to what property setting
/// needs. Scalars are converted from strings with [`scalar`]'s parsers and
/// errors name members by their dotted full name (`a.b.0.c`).
///
/// `name` is `Some(member)` inside a struct and `None` for list elements (or
/// the root). As in QEMU, [`start_struct`](Self::start_struct) /
/// [`start_list`](Self::start_list) must be paired with
/// [`end_struct`](Self::end_struct) / [`end_list`](Self::end_list), and
/// [`check_struct`](Self::check_struct) / [`check_list`](Self::check_list)
/// report leftovers.
///
/// ```
/// use qomgen::opts::keyval::{parse, KvVisitor};
/// let d = parse("a.b=", None, None).unwrap();
/// let mut v = KvVisitor::new(&d);
/// v.start_struct(None).unwrap();
/// v.start_struct(Some("a")).unwrap();
/// assert_eq!(v.type_int64(Some("c")).unwrap_err().message(), "Parameter 'a.c' is missing");
/// assert_eq!(v.check_struct().unwrap_err().message(), "Parameter 'a.b' is unexpected");
/// ```
pub struct KvVisitor<'a> {
    root: &'a KvDict,
    stack: Vec<Frame<'a>>,
}

impl<'a> KvVisitor<'a> {
    /// A visitor over `root`; start with `start_struct(None)`.
    pub fn new(root: &'a KvDict) -> Self {
        KvVisitor {
            root,
            stack: Vec::new(),
        }
    }

    /// `full_name_nth`: the dotted name of `name` in the container `n`
    /// levels up the stack.
    fn full_name_nth(&self, name: Option<&str>, n: usize) -> String {
        let mut parts: Vec<String> = Vec::new(); // prepended pieces, reversed
        let mut name = name;
        let mut n = n;
        for frame in self.stack.iter().rev() {
            if n > 0 {
                n -= 1;
            } else {
                match &frame.node {
                    FrameNode::Dict { .. } => {
                        parts.push(name.unwrap_or("<anonymous>").to_owned());
                        parts.push(".".to_owned());
                    }
                    FrameNode::List { index, .. } => parts.push(format!(".{index}")),
                }
            }
            name = frame.name.as_deref();
        }
        let mut out: String = parts.iter().rev().map(String::as_str).collect();
        if let Some(name) = name {
            out.insert_str(0, name);
        } else if out.starts_with('.') {
            out.remove(0);
        } else if out.is_empty() {
            return "<anonymous>".to_owned();
        }
        out
    }

    /// The dotted name QEMU's messages use for member `name` of the
    /// container being visited.
    pub fn full_name(&self, name: Option<&str>) -> String {
        self.full_name_nth(name, 0)
    }

    fn try_get(&mut self, name: Option<&str>, consume: bool) -> Option<Node<'a>> {
        let Some(tos) = self.stack.last_mut() else {
            // Starting at the root, name is ignored.
            return Some(Node::Dict(self.root));
        };
        match &mut tos.node {
            FrameNode::Dict { dict, unvisited } => {
                let dict: &'a KvDict = dict;
                let i = dict.position(name?)?;
                if consume && let Some(u) = unvisited.get_mut(i) {
                    *u = false;
                }
                dict.entries.get(i).map(|(_, v)| Node::from(v))
            }
            FrameNode::List { items, next, index } => {
                let items: &'a [KvValue] = items;
                let ret = items.get(*next).map(Node::from);
                if consume {
                    if ret.is_some() {
                        *next += 1;
                    }
                    *index = index.wrapping_add(1);
                }
                ret
            }
        }
    }

    fn get(&mut self, name: Option<&str>, consume: bool) -> Result<Node<'a>, Error> {
        self.try_get(name, consume)
            .ok_or_else(|| Error::missing_parameter(&self.full_name(name)))
    }

    /// `qobject_input_get_keyval`: the string at `name`, consumed.
    fn get_keyval(&mut self, name: Option<&str>) -> Result<&'a str, Error> {
        match self.get(name, true)? {
            Node::Str(s) => Ok(s),
            Node::Dict(_) | Node::List(_) => Err(Error::new(format!(
                "Parameters '{}.*' are unexpected",
                self.full_name(name)
            ))),
        }
    }

    /// `visit_optional`: whether member `name` is present (not consumed).
    pub fn optional(&mut self, name: &str) -> bool {
        self.try_get(Some(name), false).is_some()
    }

    /// `visit_start_struct`: enters the dictionary at `name`.
    /// Errors: `Parameter '<name>' is missing`,
    /// `Invalid parameter type for '<name>', expected: object`.
    pub fn start_struct(&mut self, name: Option<&str>) -> Result<(), Error> {
        match self.get(name, true)? {
            Node::Dict(dict) => {
                self.stack.push(Frame {
                    name: name.map(str::to_owned),
                    node: FrameNode::Dict {
                        dict,
                        unvisited: vec![true; dict.len()],
                    },
                });
                Ok(())
            }
            _ => Err(Error::invalid_parameter_type(
                &self.full_name(name),
                "object",
            )),
        }
    }

    /// `visit_check_struct`: fails with `Parameter '<name>' is unexpected`
    /// for the first member (in insertion order) that was not visited.
    pub fn check_struct(&self) -> Result<(), Error> {
        if let Some(Frame {
            node: FrameNode::Dict { dict, unvisited },
            ..
        }) = self.stack.last()
            && let Some((key, _)) = dict
                .entries
                .iter()
                .zip(unvisited)
                .find(|(_, u)| **u)
                .map(|(e, _)| e)
        {
            return Err(Error::new(format!(
                "Parameter '{}' is unexpected",
                self.full_name(Some(key))
            )));
        }
        Ok(())
    }

    /// `visit_end_struct`: leaves the current dictionary.
    pub fn end_struct(&mut self) {
        if matches!(
            self.stack.last(),
            Some(Frame {
                node: FrameNode::Dict { .. },
                ..
            })
        ) {
            self.stack.pop();
        }
    }

    /// `visit_start_list`: enters the list at `name`.
    /// Errors: `Parameter '<name>' is missing`,
    /// `Invalid parameter type for '<name>', expected: array`.
    pub fn start_list(&mut self, name: Option<&str>) -> Result<(), Error> {
        match self.get(name, true)? {
            Node::List(items) => {
                self.stack.push(Frame {
                    name: name.map(str::to_owned),
                    node: FrameNode::List {
                        items,
                        next: 0,
                        index: u32::MAX,
                    },
                });
                Ok(())
            }
            _ => Err(Error::invalid_parameter_type(
                &self.full_name(name),
                "array",
            )),
        }
    }

    /// `visit_next_list`: whether the current list has another element.
    pub fn next_list(&self) -> bool {
        matches!(self.stack.last(), Some(Frame { node: FrameNode::List { items, next, .. }, .. }) if *next < items.len())
    }

    /// `visit_check_list`: fails with `Only <n> list elements expected in
    /// <name>` when elements were left unvisited.
    pub fn check_list(&self) -> Result<(), Error> {
        if let Some(Frame {
            node: FrameNode::List { items, next, index },
            ..
        }) = self.stack.last()
            && *next < items.len()
        {
            return Err(Error::new(format!(
                "Only {} list elements expected in {}",
                index.wrapping_add(1),
                self.full_name_nth(None, 1)
            )));
        }
        Ok(())
    }

    /// `visit_end_list`: leaves the current list.
    pub fn end_list(&mut self) {
        if matches!(
            self.stack.last(),
            Some(Frame {
                node: FrameNode::List { .. },
                ..
            })
        ) {
            self.stack.pop();
        }
    }

    /// `visit_start_alternate` (not consuming): the kind of the value at
    /// `name`. Keyval scalars are always strings, so an alternate can only
    /// take a string-typed branch (`str` or an enum, visited with
    /// [`type_str`](Self::type_str) / [`type_enum`](Self::type_enum)); an
    /// alternate without one should fail with
    /// `Invalid parameter type for '<name>', expected: <AlternateType>`.
    pub fn start_alternate(&mut self, name: Option<&str>) -> Result<KvKind, Error> {
        Ok(match self.get(name, false)? {
            Node::Str(_) => KvKind::Str,
            Node::Dict(_) => KvKind::Dict,
            Node::List(_) => KvKind::List,
        })
    }

    /// `visit_type_str`. Errors: missing, or
    /// `Parameters '<name>.*' are unexpected` for a dictionary or list.
    pub fn type_str(&mut self, name: Option<&str>) -> Result<String, Error> {
        self.get_keyval(name).map(str::to_owned)
    }

    /// `visit_type_bool` ([`scalar::parse_bool`]); error
    /// `Parameter '<name>' expects 'on' or 'off'`.
    pub fn type_bool(&mut self, name: Option<&str>) -> Result<bool, Error> {
        let s = self.get_keyval(name)?;
        scalar::parse_bool(s)
            .ok_or_else(|| Error::invalid_parameter_value(&self.full_name(name), "'on' or 'off'"))
    }

    /// `visit_type_int64` ([`scalar::parse_i64`]); error
    /// `Parameter '<name>' expects integer`.
    pub fn type_int64(&mut self, name: Option<&str>) -> Result<i64, Error> {
        let s = self.get_keyval(name)?;
        scalar::parse_i64(s)
            .ok_or_else(|| Error::invalid_parameter_value(&self.full_name(name), "integer"))
    }

    /// `visit_type_uint64` ([`scalar::parse_u64`], negative input wraps);
    /// error `Parameter '<name>' expects integer`.
    pub fn type_uint64(&mut self, name: Option<&str>) -> Result<u64, Error> {
        let s = self.get_keyval(name)?;
        scalar::parse_u64(s)
            .ok_or_else(|| Error::invalid_parameter_value(&self.full_name(name), "integer"))
    }

    /// `visit_type_size` ([`scalar::parse_size`]); error
    /// `Parameter '<name>' expects size`.
    pub fn type_size(&mut self, name: Option<&str>) -> Result<u64, Error> {
        let s = self.get_keyval(name)?;
        scalar::parse_size(s)
            .ok_or_else(|| Error::invalid_parameter_value(&self.full_name(name), "size"))
    }

    /// `visit_type_uintN`: [`type_uint64`](Self::type_uint64), then
    /// `Parameter '<name>' expects <type_name>` above `max`. Like QEMU this
    /// range error uses the plain member name (`null` in a list).
    fn type_uint_max(
        &mut self,
        name: Option<&str>,
        max: u64,
        type_name: &str,
    ) -> Result<u64, Error> {
        let v = self.type_uint64(name)?;
        if v > max {
            return Err(Error::invalid_parameter_value(
                name.unwrap_or("null"),
                type_name,
            ));
        }
        Ok(v)
    }

    /// `visit_type_intN`: [`type_int64`](Self::type_int64), then a range
    /// check reported like [`type_uint_max`](Self::type_uint_max).
    fn type_int_range(
        &mut self,
        name: Option<&str>,
        min: i64,
        max: i64,
        type_name: &str,
    ) -> Result<i64, Error> {
        let v = self.type_int64(name)?;
        if v < min || v > max {
            return Err(Error::invalid_parameter_value(
                name.unwrap_or("null"),
                type_name,
            ));
        }
        Ok(v)
    }

    /// `visit_type_uint8`; range error `Parameter '<name>' expects uint8_t`.
    pub fn type_uint8(&mut self, name: Option<&str>) -> Result<u8, Error> {
        let v = self.type_uint_max(name, u8::MAX.into(), "uint8_t")?;
        u8::try_from(v).map_err(|_| internal_error())
    }

    /// `visit_type_uint16`; range error `Parameter '<name>' expects uint16_t`.
    pub fn type_uint16(&mut self, name: Option<&str>) -> Result<u16, Error> {
        let v = self.type_uint_max(name, u16::MAX.into(), "uint16_t")?;
        u16::try_from(v).map_err(|_| internal_error())
    }

    /// `visit_type_uint32`; range error `Parameter '<name>' expects uint32_t`.
    pub fn type_uint32(&mut self, name: Option<&str>) -> Result<u32, Error> {
        let v = self.type_uint_max(name, u32::MAX.into(), "uint32_t")?;
        u32::try_from(v).map_err(|_| internal_error())
    }

    /// `visit_type_int8`; range error `Parameter '<name>' expects int8_t`.
    pub fn type_int8(&mut self, name: Option<&str>) -> Result<i8, Error> {
        let v = self.type_int_range(name, i8::MIN.into(), i8::MAX.into(), "int8_t")?;
        i8::try_from(v).map_err(|_| internal_error())
    }

    /// `visit_type_int16`; range error `Parameter '<name>' expects int16_t`.
    pub fn type_int16(&mut self, name: Option<&str>) -> Result<i16, Error> {
        let v = self.type_int_range(name, i16::MIN.into(), i16::MAX.into(), "int16_t")?;
        i16::try_from(v).map_err(|_| internal_error())
    }

    /// `visit_type_int32`; range error `Parameter '<name>' expects int32_t`.
    pub fn type_int32(&mut self, name: Option<&str>) -> Result<i32, Error> {
        let v = self.type_int_range(name, i32::MIN.into(), i32::MAX.into(), "int32_t")?;
        i32::try_from(v).map_err(|_| internal_error())
    }

    /// `visit_type_enum`: the index of the string at `name` in `values`.
    /// Error `Parameter '<name>' does not accept value '<value>'` (plain
    /// member name, `null` in a list, as in QEMU's `input_type_enum`).
    pub fn type_enum(&mut self, name: Option<&str>, values: &[&str]) -> Result<usize, Error> {
        let s = self.get_keyval(name)?;
        values.iter().position(|v| *v == s).ok_or_else(|| {
            Error::new(format!(
                "Parameter '{}' does not accept value '{s}'",
                name.unwrap_or("null")
            ))
        })
    }

    /// `visit_type_any`: the value at `name` as it is (strings, dictionaries
    /// and lists of strings), consumed.
    pub fn type_any(&mut self, name: Option<&str>) -> Result<KvValue, Error> {
        Ok(match self.get(name, true)? {
            Node::Str(s) => KvValue::Str(s.to_owned()),
            Node::Dict(d) => KvValue::Dict(d.clone()),
            Node::List(l) => KvValue::List(l.to_vec()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn s(v: &str) -> KvValue {
        KvValue::Str(v.to_owned())
    }

    fn ok(input: &str) -> KvDict {
        match parse(input, None, None) {
            Ok(d) => d,
            Err(e) => panic!("{input:?}: {e}"),
        }
    }

    fn err(input: &str, implied: Option<&str>) -> String {
        match parse(input, implied, None) {
            Ok(d) => panic!("{input:?} parsed as {d}"),
            Err(e) => e.message().to_owned(),
        }
    }

    fn dict(entries: Vec<(&str, KvValue)>) -> KvDict {
        entries.into_iter().collect()
    }

    fn list(items: &[&str]) -> KvValue {
        KvValue::List(items.iter().map(|v| s(v)).collect())
    }

    #[test]
    fn behaviour_01_empty_string_is_empty_dict() {
        let d = ok("");
        assert!(d.is_empty());
        assert_eq!(d.len(), 0);
    }

    #[test]
    fn behaviour_02_empty_key_is_invalid() {
        assert_eq!(err("=val", None), "Invalid parameter ''");
    }

    #[test]
    fn behaviour_03_empty_key_fragment_is_invalid() {
        assert_eq!(err(".", None), "Invalid parameter '.'");
        assert_eq!(err("key.", None), "Invalid parameter 'key.'");
    }

    #[test]
    fn behaviour_04_non_qapi_key_is_invalid() {
        assert_eq!(err("7up=val", None), "Invalid parameter '7up'");
    }

    #[test]
    fn behaviour_05_overlong_key_and_fragment() {
        let long_key = format!("{}z", "a".repeat(127));
        assert_eq!(long_key.len(), 128);
        assert_eq!(
            err(&format!("{long_key}=v"), None),
            format!("Parameter '{long_key}' is too long")
        );
        assert_eq!(
            err(&format!("k.{long_key}=v"), None),
            format!("Parameter fragment '{long_key}' is too long")
        );
        // A too-long first fragment followed by more is a fragment, too.
        assert_eq!(
            err(&format!("{long_key}.x=v"), None),
            format!("Parameter fragment '{long_key}' is too long")
        );
    }

    #[test]
    fn behaviour_06_long_key_and_fragment_accepted() {
        let key = format!("{}z", "a".repeat(126));
        assert_eq!(key.len(), 127);
        let d = ok(&format!("{key}=v"));
        assert_eq!(d.len(), 1);
        assert_eq!(d.get_str(&key), Some("v"));
        let d = ok(&format!("k.{key}=v"));
        assert_eq!(
            d,
            dict(vec![("k", KvValue::Dict(dict(vec![(&key, s("v"))])))])
        );
    }

    #[test]
    fn behaviour_07_crap_after_valid_key() {
        assert_eq!(err("key[0]=val", None), "Invalid parameter 'key[0]'");
    }

    #[test]
    fn behaviour_08_last_wins_and_comma_escape() {
        let d = ok("a=1,b=2,,x,a=3");
        assert_eq!(d.len(), 2);
        assert_eq!(d.get_str("a"), Some("3"));
        assert_eq!(d.get_str("b"), Some("2,x"));
        // The replaced key keeps its first position.
        assert_eq!(d.keys().collect::<Vec<_>>(), ["a", "b"]);
    }

    #[test]
    fn behaviour_09_last_id_wins() {
        let d = ok("id=foo,id=bar");
        assert_eq!(d, dict(vec![("id", s("bar"))]));
    }

    #[test]
    fn behaviour_10_dotted_keys() {
        let d = ok("a.b.c=1,a.b.c=2,d=3");
        let b = dict(vec![("c", s("2"))]);
        let a = dict(vec![("b", KvValue::Dict(b))]);
        assert_eq!(d, dict(vec![("a", KvValue::Dict(a)), ("d", s("3"))]));
        assert_eq!(d.len(), 2);
    }

    #[test]
    fn behaviour_11_inconsistent_dotted_keys() {
        assert_eq!(
            err("a.b=1,a=2", None),
            "Parameters 'a.*' used inconsistently"
        );
        assert_eq!(
            err("a.b=1,a.b.c=2", None),
            "Parameters 'a.b.*' used inconsistently"
        );
        // And the other way round.
        assert_eq!(
            err("a=2,a.b=1", None),
            "Parameters 'a.*' used inconsistently"
        );
    }

    #[test]
    fn behaviour_12_trailing_comma() {
        assert_eq!(ok("x=y,"), dict(vec![("x", s("y"))]));
        assert_eq!(err(",", None), "Invalid parameter ''");
        // ",," after a value is an escaped comma, not a trailing one.
        assert_eq!(ok("x=y,,"), dict(vec![("x", s("y,"))]));
    }

    #[test]
    fn behaviour_13_escaped_comma_not_a_new_key() {
        let d = ok("x=,,id=bar");
        assert_eq!(d, dict(vec![("x", s(",id=bar"))]));
        assert!(d.get("id").is_none());
    }

    #[test]
    fn behaviour_14_id_not_validated() {
        assert_eq!(ok("id=666"), dict(vec![("id", s("666"))]));
    }

    #[test]
    fn behaviour_15_no_implied_values_or_no_flags() {
        assert_eq!(
            err("an,noaus,noaus=", None),
            "Expected '=' after parameter 'an'"
        );
        assert_eq!(err("no", None), "Expected '=' after parameter 'no'");
    }

    #[test]
    fn behaviour_16_implied_key() {
        let d = parse("an,aus=off,noaus=", Some("implied"), None).unwrap();
        assert_eq!(
            d,
            dict(vec![
                ("implied", s("an")),
                ("aus", s("off")),
                ("noaus", s(""))
            ])
        );
        assert_eq!(d.keys().collect::<Vec<_>>(), ["implied", "aus", "noaus"]);
    }

    #[test]
    fn behaviour_17_implied_dotted_key() {
        let d = parse("val", Some("eins.zwei"), None).unwrap();
        assert_eq!(
            d,
            dict(vec![(
                "eins",
                KvValue::Dict(dict(vec![("zwei", s("val"))]))
            )])
        );
    }

    #[test]
    fn behaviour_18_implied_key_value_restrictions() {
        let imp = Some("implied");
        assert_eq!(err(",", imp), "Invalid parameter ''");
        assert_eq!(err(",,,a=1", imp), "Invalid parameter ''");
        assert_eq!(err("val,,ue", imp), "Invalid parameter ''");
        assert_eq!(err("=val", imp), "Invalid parameter ''");
    }

    #[test]
    fn behaviour_19_help_alone() {
        for implied in [None, Some("implied")] {
            for word in ["help", "?"] {
                let mut help = false;
                let d = parse(word, implied, Some(&mut help)).unwrap();
                assert!(d.is_empty());
                assert!(help, "{word} {implied:?}");
            }
        }
    }

    #[test]
    fn behaviour_20_help_not_available() {
        assert_eq!(err("help", None), "Help is not available for this option");
        assert_eq!(
            err("help", Some("implied")),
            "Help is not available for this option"
        );
        assert_eq!(err("?", None), "Help is not available for this option");
    }

    #[test]
    fn behaviour_21_key_named_help() {
        let mut help = true;
        let d = parse("help=on", None, Some(&mut help)).unwrap();
        assert_eq!(d, dict(vec![("help", s("on"))]));
        assert!(!help);
    }

    #[test]
    fn behaviour_22_help_followed_by_crap() {
        let mut help = false;
        let e = parse("help.abc", None, Some(&mut help)).unwrap_err();
        assert_eq!(e.message(), "Expected '=' after parameter 'help.abc'");
        let d = parse("help.abc", Some("implied"), Some(&mut help)).unwrap();
        assert_eq!(d, dict(vec![("implied", s("help.abc"))]));
        assert!(!help);
    }

    #[test]
    fn behaviour_23_help_with_other_stuff() {
        let mut help = false;
        let d = parse("number=42,help,foo=bar", None, Some(&mut help)).unwrap();
        assert_eq!(d, dict(vec![("number", s("42")), ("foo", s("bar"))]));
        assert!(help);
        let mut help = false;
        let d = parse("val,help,foo=bar", Some("implied"), Some(&mut help)).unwrap();
        assert_eq!(d, dict(vec![("implied", s("val")), ("foo", s("bar"))]));
        assert!(help);
    }

    #[test]
    fn behaviour_24_lists() {
        assert_eq!(err("0=1", None), "Invalid parameter '0'");
        let expect = dict(vec![("list", list(&["null", "eins", "zwei"]))]);
        assert_eq!(ok("list.0=null,list.2=zwei,list.1=eins"), expect);
        assert_eq!(
            ok("list.1=goner,list.0=null,list.01=eins,list.2=zwei"),
            expect
        );
        let d = ok("a.list.1=eins,a.list.00=null,a.list.2=zwei");
        assert_eq!(d, dict(vec![("a", KvValue::Dict(expect))]));
    }

    #[test]
    fn duplicate_index_resolved_in_qdict_order() {
        // "1" hashes to bucket 217 and "01" to bucket 499: QEMU visits "01"
        // last, so its value wins whatever the textual order.
        assert_eq!(
            ok("list.01=x,list.1=y,list.0=z"),
            dict(vec![("list", list(&["z", "x"]))])
        );
        assert_eq!(
            ok("list.1=y,list.01=x,list.0=z"),
            dict(vec![("list", list(&["z", "x"]))])
        );
    }

    #[test]
    fn behaviour_25_list_and_dict_mixed() {
        assert_eq!(
            err("a.b.c=1,a.b.0=2", None),
            "Parameters 'a.b.*' used inconsistently"
        );
        assert_eq!(
            err("a.0.c=1,a.b.c=2", None),
            "Parameters 'a.*' used inconsistently"
        );
    }

    #[test]
    fn behaviour_26_missing_list_elements() {
        assert_eq!(err("list.1=lonely", None), "Parameter 'list.0' missing");
        assert_eq!(
            err("list.0=null,list.2=eins,list.02=zwei", None),
            "Parameter 'list.1' missing"
        );
        // A huge index is dropped and reported via the sentinel.
        assert_eq!(
            err("a.0=x,a.99999999999999999999=y", None),
            "Parameter 'a.1' missing"
        );
    }

    #[test]
    fn behaviour_27_bool_visit() {
        let d = ok("bool1=on,bool2=off");
        let mut v = KvVisitor::new(&d);
        v.start_struct(None).unwrap();
        assert!(v.type_bool(Some("bool1")).unwrap());
        assert!(!v.type_bool(Some("bool2")).unwrap());
        v.check_struct().unwrap();
        v.end_struct();

        let d = ok("bool1=offer");
        let mut v = KvVisitor::new(&d);
        v.start_struct(None).unwrap();
        let e = v.type_bool(Some("bool1")).unwrap_err();
        assert_eq!(e.message(), "Parameter 'bool1' expects 'on' or 'off'");
        v.end_struct();
    }

    #[test]
    fn behaviour_28_uint64_visit() {
        let d = ok("number1=0,number2=-1");
        let mut v = KvVisitor::new(&d);
        v.start_struct(None).unwrap();
        assert_eq!(v.type_uint64(Some("number1")).unwrap(), 0);
        assert_eq!(v.type_uint64(Some("number2")).unwrap(), u64::MAX);
        v.check_struct().unwrap();

        let d = ok("number1=18446744073709551615,number2=-18446744073709551615");
        let mut v = KvVisitor::new(&d);
        v.start_struct(None).unwrap();
        assert_eq!(v.type_uint64(Some("number1")).unwrap(), u64::MAX);
        assert_eq!(v.type_uint64(Some("number2")).unwrap(), 1);

        for bad in [
            "18446744073709551616",
            "-18446744073709551616",
            "3.14",
            "08",
        ] {
            let d = ok(&format!("number1={bad}"));
            let mut v = KvVisitor::new(&d);
            v.start_struct(None).unwrap();
            let e = v.type_uint64(Some("number1")).unwrap_err();
            assert_eq!(e.message(), "Parameter 'number1' expects integer", "{bad}");
        }

        let d = ok("number1=0x2a,number2=052");
        let mut v = KvVisitor::new(&d);
        v.start_struct(None).unwrap();
        assert_eq!(v.type_uint64(Some("number1")).unwrap(), 42);
        assert_eq!(v.type_uint64(Some("number2")).unwrap(), 42);
        v.check_struct().unwrap();
    }

    #[test]
    fn behaviour_29_size_visit() {
        let good: [(&str, u64); 15] = [
            ("0", 0),
            ("9007199254740991", (1 << 53) - 1),
            ("9007199254740992", 1 << 53),
            ("9007199254740993", (1 << 53) + 1),
            ("9223372036854775807", (1 << 63) - 1),
            ("9223372036854775808", 1 << 63),
            ("9223372036854775809", (1 << 63) + 1),
            ("18446744073709549568", 0xffff_ffff_ffff_f800),
            ("18446744073709550591", 0xffff_ffff_ffff_fbff),
            ("18446744073709551615", 0xffff_ffff_ffff_ffff),
            ("8b", 8),
            ("1.5k", 1536),
            ("2M", 2 << 20),
            ("0.1G", (1 << 30) / 10),
            ("16777215T", 16_777_215 << 40),
        ];
        for (text, want) in good {
            let d = ok(&format!("sz1={text}"));
            let mut v = KvVisitor::new(&d);
            v.start_struct(None).unwrap();
            assert_eq!(v.type_size(Some("sz1")).unwrap(), want, "{text}");
            v.check_struct().unwrap();
        }
        for bad in ["-1", "18446744073709551616", "16777216T", "0Z", "16Gi"] {
            let d = ok(&format!("sz1={bad}"));
            let mut v = KvVisitor::new(&d);
            v.start_struct(None).unwrap();
            let e = v.type_size(Some("sz1")).unwrap_err();
            assert_eq!(e.message(), "Parameter 'sz1' expects size", "{bad}");
        }
    }

    #[test]
    fn behaviour_30_dict_visit() {
        let d = ok("a.b.c=1,a.b.c=2,d=3");
        let mut v = KvVisitor::new(&d);
        v.start_struct(None).unwrap();
        v.start_struct(Some("a")).unwrap();
        v.start_struct(Some("b")).unwrap();
        assert_eq!(v.type_int64(Some("c")).unwrap(), 2);
        v.check_struct().unwrap();
        v.end_struct();
        v.check_struct().unwrap();
        v.end_struct();
        assert_eq!(v.type_int64(Some("d")).unwrap(), 3);
        v.check_struct().unwrap();
        v.end_struct();

        let d = ok("a.b=");
        let mut v = KvVisitor::new(&d);
        v.start_struct(None).unwrap();
        v.start_struct(Some("a")).unwrap();
        assert_eq!(
            v.type_int64(Some("c")).unwrap_err().message(),
            "Parameter 'a.c' is missing"
        );
        assert_eq!(
            v.check_struct().unwrap_err().message(),
            "Parameter 'a.b' is unexpected"
        );
        v.end_struct();
        v.check_struct().unwrap();
        v.end_struct();
    }

    #[test]
    fn behaviour_31_list_visit() {
        let d = ok("a.0=,a.1=I,a.2.0=II");
        let mut v = KvVisitor::new(&d);
        v.start_struct(None).unwrap();
        v.start_list(Some("a")).unwrap();
        assert_eq!(v.type_str(None).unwrap(), "");
        assert_eq!(v.type_str(None).unwrap(), "I");
        v.start_list(None).unwrap();
        assert_eq!(v.type_str(None).unwrap(), "II");
        v.check_list().unwrap();
        v.end_list();
        v.check_list().unwrap();
        v.end_list();
        v.check_struct().unwrap();
        v.end_struct();

        let d = ok("a.0=,b.0.0=head");
        let mut v = KvVisitor::new(&d);
        v.start_struct(None).unwrap();
        v.start_list(Some("a")).unwrap();
        assert_eq!(
            v.check_list().unwrap_err().message(),
            "Only 0 list elements expected in a"
        );
        v.end_list();
        v.start_list(Some("b")).unwrap();
        v.start_list(None).unwrap();
        assert_eq!(v.type_str(None).unwrap(), "head");
        assert_eq!(
            v.type_str(None).unwrap_err().message(),
            "Parameter 'b.0.1' is missing"
        );
        v.end_list();
        v.end_list();
        v.check_struct().unwrap();
        v.end_struct();
    }

    #[test]
    fn behaviour_32_optional_visit() {
        let d = ok("a.b=1");
        let mut v = KvVisitor::new(&d);
        v.start_struct(None).unwrap();
        assert!(!v.optional("b"));
        assert!(v.optional("a"));
        v.start_struct(Some("a")).unwrap();
        assert!(v.optional("b"));
        assert_eq!(v.type_int64(Some("b")).unwrap(), 1);
        assert!(!v.optional("a"));
        v.check_struct().unwrap();
        v.end_struct();
        v.check_struct().unwrap();
        v.end_struct();
    }

    #[test]
    fn behaviour_33_alternates_only_string_variants() {
        const ENUM_ONE: &[&str] = &["value1", "value2", "value3"];
        let d = ok("a=1,b=2,c=on");
        let mut v = KvVisitor::new(&d);
        v.start_struct(None).unwrap();
        // AltStrObj: the string branch.
        assert_eq!(v.start_alternate(Some("a")).unwrap(), KvKind::Str);
        assert_eq!(v.type_str(Some("a")).unwrap(), "1");
        // AltNumEnum: a string selects the enum branch, "2" is no member.
        assert_eq!(v.start_alternate(Some("b")).unwrap(), KvKind::Str);
        let e = v.type_enum(Some("b"), ENUM_ONE).unwrap_err();
        assert_eq!(e.message(), "Parameter 'b' does not accept value '2'");
        // AltEnumBool: same, the bool branch is never chosen.
        assert_eq!(v.start_alternate(Some("c")).unwrap(), KvKind::Str);
        let e = v.type_enum(Some("c"), ENUM_ONE).unwrap_err();
        assert_eq!(e.message(), "Parameter 'c' does not accept value 'on'");
        v.end_struct();
    }

    #[test]
    fn behaviour_34_any_is_list_of_strings() {
        let d = ok("a.0=null,a.1=1");
        let mut v = KvVisitor::new(&d);
        v.start_struct(None).unwrap();
        assert_eq!(v.type_any(Some("a")).unwrap(), list(&["null", "1"]));
        v.check_struct().unwrap();
        v.end_struct();
    }

    #[test]
    fn behaviour_35_merge() {
        let mut first = ok("opt1=abc,opt2.sub1=def,opt2.sub2=ghi,opt3=xyz");
        let second = ok("opt1=ABC,opt2.sub2=GHI,opt2.sub3=JKL");
        merge(&mut first, second).unwrap();
        assert_eq!(
            first,
            ok("opt1=ABC,opt2.sub1=def,opt2.sub2=GHI,opt2.sub3=JKL,opt3=xyz")
        );

        let mut first = ok("opt1.0=abc,opt2.0=xyz");
        merge(&mut first, ok("opt1.0=def")).unwrap();
        assert_eq!(first, ok("opt1.0=abc,opt1.1=def,opt2.0=xyz"));
        assert_eq!(first.get("opt1"), Some(&list(&["abc", "def"])));

        let first = ok("opt2=ABC");
        let second = ok("opt2.sub1=def,opt2.sub2=ghi");
        let e = merge(&mut first.clone(), second.clone()).unwrap_err();
        assert_eq!(e.message(), "Parameter 'opt2' used inconsistently");
        let e = merge(&mut second.clone(), first).unwrap_err();
        assert_eq!(e.message(), "Parameter 'opt2' used inconsistently");

        // Nested paths are named in full.
        let e = merge(&mut ok("a.b.c=1"), ok("a.b=2")).unwrap_err();
        assert_eq!(e.message(), "Parameter 'a.b' used inconsistently");
    }

    #[test]
    fn error_order_follows_qemu() {
        // The intermediate dictionary is checked before the later bad fragment.
        assert_eq!(
            err("a.b=1,a.b.c.7up=2", None),
            "Parameters 'a.b.*' used inconsistently"
        );
        assert_eq!(err("a.7up.b=1", None), "Invalid parameter 'a.7up.b'");
        assert_eq!(err("a.0b=1", None), "Invalid parameter 'a.0b'");
    }

    #[test]
    fn qapi_names_and_downstream_names() {
        let d = ok("__com.redhat_foo=1,a-b_c=2,x.__org.qemu_y=3");
        assert_eq!(d.get_str("__com.redhat_foo"), Some("1"));
        assert_eq!(d.get_str("a-b_c"), Some("2"));
        assert_eq!(
            d.get("x")
                .and_then(KvValue::as_dict)
                .and_then(|x| x.get_str("__org.qemu_y")),
            Some("3")
        );
        assert_eq!(err("_a=1", None), "Invalid parameter '_a'");
        assert_eq!(err("__a=1", None), "Invalid parameter '__a'");
        assert_eq!(err("-a=1", None), "Invalid parameter '-a'");
    }

    #[test]
    fn values_keep_equals_and_unicode() {
        let d = ok("a=b=c,u=ünï,,cödé");
        assert_eq!(d.get_str("a"), Some("b=c"));
        assert_eq!(d.get_str("u"), Some("ünï,cödé"));
        assert_eq!(err("ü=1", None), "Invalid parameter 'ü'");
    }

    #[test]
    fn implied_key_only_for_first_item() {
        let e = parse("help,val", Some("implied"), Some(&mut false)).unwrap_err();
        assert_eq!(e.message(), "Expected '=' after parameter 'val'");
        let d = parse("x=1", Some("implied"), None).unwrap();
        assert_eq!(d, dict(vec![("x", s("1"))]));
    }

    #[test]
    fn qdict_order_matches_tdb_hash() {
        assert_eq!(qdict_bucket("1"), 217);
        assert_eq!(qdict_bucket("01"), 499);
        assert_eq!(qdict_bucket("0"), 110);
        let d = dict(vec![("1", s("x")), ("01", s("y")), ("0", s("z"))]);
        let keys: Vec<&str> = d.iter_qdict_order().map(|(k, _)| k).collect();
        assert_eq!(keys, ["0", "1", "01"]);
    }

    #[test]
    fn dict_insert_remove_keep_order() {
        let mut d = dict(vec![("a", s("1")), ("b", s("2")), ("c", s("3"))]);
        assert_eq!(d.insert("a", s("9")), Some(s("1")));
        assert_eq!(d.remove("b"), Some(s("2")));
        assert_eq!(d.remove("b"), None);
        d.insert("b", s("4"));
        assert_eq!(d.keys().collect::<Vec<_>>(), ["a", "c", "b"]);
        assert_eq!(d.get_str("c"), Some("3"));
        assert_eq!(
            d.to_json(),
            serde_json::json!({"a": "9", "c": "3", "b": "4"})
        );
    }

    #[test]
    fn visitor_type_errors() {
        let d = ok("a.b=1,l.0=x,s=str,n=300,m=-129");
        let mut v = KvVisitor::new(&d);
        v.start_struct(None).unwrap();
        assert_eq!(
            v.type_str(Some("a")).unwrap_err().message(),
            "Parameters 'a.*' are unexpected"
        );
        assert_eq!(
            v.start_struct(Some("s")).unwrap_err().message(),
            "Invalid parameter type for 's', expected: object"
        );
        assert_eq!(
            v.start_list(Some("s")).unwrap_err().message(),
            "Invalid parameter type for 's', expected: array"
        );
        assert_eq!(
            v.type_uint8(Some("n")).unwrap_err().message(),
            "Parameter 'n' expects uint8_t"
        );
        assert_eq!(v.type_uint16(Some("n")).unwrap(), 300);
        assert_eq!(
            v.type_int8(Some("m")).unwrap_err().message(),
            "Parameter 'm' expects int8_t"
        );
        assert_eq!(v.type_int16(Some("m")).unwrap(), -129);
        v.start_list(Some("l")).unwrap();
        assert!(v.next_list());
        assert_eq!(v.type_str(None).unwrap(), "x");
        assert!(!v.next_list());
        v.check_list().unwrap();
        v.end_list();
        v.check_struct().unwrap();
    }

    #[test]
    fn deep_nesting_is_rejected_not_crashing() {
        let key = vec!["a"; MAX_NESTING + 1].join(".");
        assert_eq!(
            err(&format!("{key}=1"), None),
            format!("Parameter '{key}' is nested too deeply")
        );
        let key = vec!["a"; MAX_NESTING].join(".");
        assert!(parse(&format!("{key}=1"), None, None).is_ok());
    }

    proptest! {
        #[test]
        fn keyval_never_panics(input in "\\PC*", implied in proptest::option::of("[a-z.]{0,6}")) {
            let mut help = false;
            let _ = parse(&input, implied.as_deref(), Some(&mut help));
            let _ = parse(&input, None, None);
        }

        #[test]
        fn keyval_never_panics_on_keyish(input in "[a-c0-2.=,?h_]{0,30}") {
            if let Ok(d) = parse(&input, Some("x.y"), Some(&mut false)) {
                let mut copy = d.clone();
                let _ = merge(&mut copy, d.clone());
                let mut v = KvVisitor::new(&d);
                let _ = v.start_struct(None);
                for k in ["a", "b", "c", "0"] {
                    let _ = v.optional(k);
                    let _ = v.type_any(Some(k));
                }
                let _ = v.check_struct();
            }
        }

        #[test]
        fn merge_with_empty_is_identity(input in "[a-c]{1,2}(\\.[a-c0-2]){0,2}=[a-z]{0,3}(,[a-c]{1,2}(\\.[a-c0-2]){0,2}=[a-z]{0,3}){0,4}") {
            if let Ok(d) = parse(&input, None, None) {
                let mut e = KvDict::new();
                merge(&mut e, d.clone()).unwrap();
                prop_assert_eq!(e, d);
            }
        }
    }
}
