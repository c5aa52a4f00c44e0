//! The registry of types: every `#[derive(Object)]`/`#[derive(Device)]` in
//! the linked program, collected through `inventory` before `main`, indexed
//! once on first use.
//!
//! # QOM type names are unique
//!
//! Two types of one crate with the same QOM name are a compile error, as
//! is a type named like one qomgen registers itself (`object`, `device`).
//! Two crates each declaring a type of one name the compiler cannot see:
//! the registry then refuses to be built, and its first use
//! panics with QEMU's message (qom/object.c's `type_new`, which aborts)
//! naming both Rust types:
//!
//! ```text
//! Registering `demo-nic' which already exists (declared by crate_a::DemoNic and by crate_b::Nic); give one of them another name
//! ```
//!
//! A test that calls [`registry`] (any `ObjectTree` operation does)
//! catches it before a user does.

use std::sync::OnceLock;

use crate::introspect::reserved;
use crate::property::Property;
use crate::types::{TypeInfo, TypeKind};

/// One registered type, as submitted by the derive. Holds only a pointer to
/// the static [`TypeInfo`], so registration allocates nothing.
#[doc(hidden)]
pub struct Registration(pub &'static TypeInfo);

inventory::collect!(Registration);

/// The root of every type (`object`), abstract.
pub static OBJECT: TypeInfo = TypeInfo {
    name: "object",
    parent: None,
    abstract_: true,
    description: None,
    kind: TypeKind::Object {
        user_creatable: false,
    },
    own_properties: &[],
    instantiate: None,
    rust_name: "qomgen::__private::OBJECT",
    accessors: &crate::property::Accessors::NONE,
};

/// The root of every device (`device`), abstract.
pub static DEVICE: TypeInfo = TypeInfo {
    name: "device",
    parent: Some(&OBJECT),
    abstract_: true,
    description: None,
    kind: TypeKind::Device(crate::types::DeviceMeta {
        category: None,
        bus: None,
        user_creatable: true,
        hotpluggable: true,
    }),
    own_properties: &[],
    instantiate: None,
    rust_name: "qomgen::__private::DEVICE",
    accessors: &crate::property::Accessors::NONE,
};

inventory::submit! { Registration(&OBJECT) }
inventory::submit! { Registration(&DEVICE) }

/// 32 bits of hash of a name from its length and its first and last eight
/// bytes (fewer for short names): constant time whatever the length, and
/// enough to tell a type's property names apart (a collision costs a
/// probe, never a wrong answer: the name is compared too).
#[inline]
fn name_hash(s: &[u8]) -> u32 {
    const K1: u64 = 0x9e37_79b9_7f4a_7c15;
    const K2: u64 = 0xd6e8_feb8_6659_fd93;
    let n = s.len();
    let (a, b) = if n >= 8 {
        (load::<8>(s, 0), load::<8>(s, n - 8))
    } else if n >= 4 {
        (load::<4>(s, 0), load::<4>(s, n - 4))
    } else {
        let byte = |i: usize| u64::from(s.get(i).copied().unwrap_or(0));
        (
            byte(0) | byte(n / 2) << 8 | byte(n.wrapping_sub(1)) << 16,
            0,
        )
    };
    let h = (a ^ n as u64).wrapping_mul(K1).rotate_left(26) ^ b;
    (h.wrapping_mul(K2) >> 32) as u32
}

/// `N` (at most 8) bytes of `s` from `at`, little-endian; zeros where `s`
/// ends first.
#[inline]
fn load<const N: usize>(s: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    if let (Some(dst), Some(src)) = (w.get_mut(..N), s.get(at..at + N)) {
        dst.copy_from_slice(src);
    }
    u64::from_le_bytes(w)
}

/// Byte equality of two names, eight bytes at a time: the names are short,
/// and a call of `memcmp` costs more than comparing them inline.
#[inline]
fn same_name(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    if n < 8 {
        return if n >= 4 {
            load::<4>(a, 0) == load::<4>(b, 0) && load::<4>(a, n - 4) == load::<4>(b, n - 4)
        } else {
            a == b
        };
    }
    let mut at = 0;
    while at + 8 < n {
        if load::<8>(a, at) != load::<8>(b, at) {
            return false;
        }
        at += 8;
    }
    load::<8>(a, n - 8) == load::<8>(b, n - 8)
}

/// A slot of a [`NameIndex`]: the hash of a name and the position of its
/// entry plus one (0: empty).
#[derive(Clone, Copy, Default)]
struct Slot {
    hash: u32,
    entry: u32,
}

/// A map from static names, built once: open addressing with linear
/// probing over a power-of-two table at most half full, each slot holding
/// the name's hash, so a lookup reads the entry only when the hashes
/// agree. Cheaper than a general hash map for these short keys.
struct NameIndex<V> {
    slots: Box<[Slot]>,
    mask: usize,
    entries: Vec<(&'static str, V)>,
}

impl<V> NameIndex<V> {
    /// Indexes `items` in order, each value made by `make(None, item)`; for
    /// an item whose name is already there, `make(Some(v), item)` is called
    /// with the value that has it and must return `None` (it is left out).
    fn build<T>(
        items: impl IntoIterator<Item = (&'static str, T)>,
        mut make: impl FnMut(Option<&V>, T) -> Option<V>,
    ) -> Self {
        let items: Vec<_> = items.into_iter().collect();
        let size = (items.len() * 2).max(1).next_power_of_two();
        let mut index = NameIndex {
            slots: vec![Slot::default(); size].into_boxed_slice(),
            mask: size - 1,
            entries: Vec::with_capacity(items.len()),
        };
        for (name, item) in items {
            let hash = name_hash(name.as_bytes());
            let mut i = hash as usize & index.mask;
            loop {
                let Some(slot) = index.slots.get_mut(i) else {
                    unreachable!("slot index is masked")
                };
                if slot.entry == 0 {
                    if let Some(value) = make(None, item) {
                        index.entries.push((name, value));
                        *slot = Slot {
                            hash,
                            entry: u32::try_from(index.entries.len())
                                .expect("fewer than 2^32 names"),
                        };
                    }
                    break;
                }
                if let Some((old, v)) = index.entries.get(slot.entry as usize - 1)
                    && slot.hash == hash
                    && *old == name
                {
                    let none = make(Some(v), item);
                    debug_assert!(none.is_none(), "a duplicate is left out");
                    break;
                }
                i = (i + 1) & index.mask;
            }
        }
        index
    }

    /// The value indexed under `name`.
    #[inline]
    fn get(&self, name: &str) -> Option<&V> {
        self.get_with_position(name).map(|(_, v)| v)
    }

    /// The value indexed under `name` and its position in the order of
    /// indexing (distinct names, distinct positions).
    #[inline]
    fn get_with_position(&self, name: &str) -> Option<(usize, &V)> {
        let hash = name_hash(name.as_bytes());
        let mut i = hash as usize & self.mask;
        loop {
            // The table is never full, so the probe ends at an empty slot.
            let slot = *self.slots.get(i)?;
            if slot.entry == 0 {
                return None;
            }
            if slot.hash == hash {
                let position = slot.entry as usize - 1;
                let (k, v) = self.entries.get(position)?;
                if same_name(k.as_bytes(), name.as_bytes()) {
                    return Some((position, v));
                }
            }
            i = (i + 1) & self.mask;
        }
    }

    /// The values, in the order they were indexed.
    fn values(&self) -> impl Iterator<Item = &V> {
        self.entries.iter().map(|(_, v)| v)
    }
}

/// A type together with its property index.
pub struct TypeEntry {
    /// The static type description.
    pub info: &'static TypeInfo,
    props: NameIndex<&'static Property>,
}

impl TypeEntry {
    /// Looks up a property (own or inherited) by name, without allocating.
    #[inline]
    pub fn property(&self, name: &str) -> Option<&'static Property> {
        self.props.get(name).copied()
    }

    /// [`TypeEntry::property`] and the property's position among the
    /// type's properties (below their number): two names have the same
    /// position exactly when they are the same property.
    #[inline]
    pub(crate) fn property_with_position(&self, name: &str) -> Option<(usize, &'static Property)> {
        self.props.get_with_position(name).map(|(i, p)| (i, *p))
    }
}

/// Two types of one QOM name: QEMU aborts (`type_new` in qom/object.c),
/// and so does the registry, naming both Rust types.
#[cold]
fn duplicate_type(new: &TypeInfo, old: &TypeInfo) -> ! {
    panic!("{}", duplicate_type_message(new, old))
}

fn duplicate_type_message(new: &TypeInfo, old: &TypeInfo) -> String {
    format!(
        "Registering `{}' which already exists (declared by {} and by {}); give one of them another name",
        new.name, old.rust_name, new.rust_name
    )
}

/// The index over every registered type.
pub struct Registry {
    types: NameIndex<TypeEntry>,
    sorted: Vec<&'static TypeInfo>,
    problems: Vec<String>,
}

impl Registry {
    fn build() -> Registry {
        Self::build_from(inventory::iter::<Registration>.into_iter().map(|r| r.0))
    }

    fn build_from(infos: impl Iterator<Item = &'static TypeInfo>) -> Registry {
        let mut problems = Vec::new();
        let registrations = infos.map(|info| (info.name, info));
        let types = NameIndex::build(registrations, |old: Option<&TypeEntry>, info| {
            if let Some(old) = old {
                duplicate_type(info, old.info);
            }
            // The derive refuses these names; a hand-written table may not.
            let option_keys = if info.is_device() {
                reserved::DEVICE_OPTION_KEYS
            } else {
                reserved::OBJECT_OPTION_KEYS
            };
            for p in info.own_properties {
                if option_keys.contains(&p.name) {
                    problems.push(format!(
                        "property '{}' of type '{}' can never be set: it is an option key",
                        p.name, info.name
                    ));
                }
            }
            let props = NameIndex::build(info.properties().map(|p| (p.name, p)), |old, p| {
                if old.is_some() {
                    problems.push(format!(
                        "property '{}' of type '{}' is declared twice in its type hierarchy",
                        p.name, info.name
                    ));
                    return None;
                }
                Some(p)
            });
            Some(TypeEntry { info, props })
        });
        for e in types.values() {
            if let Some(p) = e.info.parent
                && types.get(p.name).is_none()
            {
                problems.push(format!(
                    "type '{}' has parent '{}', which is not registered",
                    e.info.name, p.name
                ));
            }
        }
        let mut sorted: Vec<_> = types.values().map(|e| e.info).collect();
        sorted.sort_by_key(|t| t.name);
        Registry {
            types,
            sorted,
            problems,
        }
    }

    /// Looks up a type by name.
    #[inline]
    pub fn get(&self, name: &str) -> Option<&TypeEntry> {
        self.types.get(name)
    }

    /// Every registered type, sorted by name.
    pub fn types(&self) -> &[&'static TypeInfo] {
        &self.sorted
    }

    /// Inconsistencies found while indexing that leave the registry usable
    /// (a parent type that is not registered, a property name twice in a
    /// hand-written type hierarchy; the derive refuses both at compile
    /// time). A correct program has none; a test should assert that.
    /// A QOM type name declared twice is no problem listed here: building
    /// the registry panics (see [`registry`]).
    pub fn problems(&self) -> &[String] {
        &self.problems
    }
}

/// The process-wide registry, indexed on first use.
///
/// # Panics
///
/// When two linked types have the same QOM name (possible only when they
/// come from different crates, or are an object and a device: two objects
/// or two devices of one crate are a compile error), with QEMU's message
/// (qom/object.c's `type_new`, which aborts) naming both Rust types:
///
/// ```text
/// Registering `demo-nic' which already exists (declared by crate_a::DemoNic and by crate_b::Nic); give one of them another name
/// ```
///
/// A test that calls `registry()` (any `ObjectTree` operation does)
/// catches it before a user does. [`Registry::problems`] lists what else
/// is wrong.
pub fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(Registry::build)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    /// Names like property names: shared prefixes and suffixes, every
    /// length around the 4- and 8-byte loads.
    fn names() -> impl Strategy<Value = Vec<String>> {
        prop::collection::vec(
            prop_oneof![
                "[a-z]{0,3}",
                "x-[a-z-]{0,12}",
                "[a-c]{0,9}-id",
                "x-pci-[a-z]{0,3}-id",
                "\\PC{0,20}",
            ],
            0..80,
        )
    }

    /// Two types of one name: the registry is not built, and the message
    /// (QEMU's) names both Rust types.
    #[test]
    fn a_type_name_twice_panics_naming_both_types() {
        static A: TypeInfo = TypeInfo {
            name: "dup-dev",
            rust_name: "crate_a::Dev",
            ..OBJECT_LIKE
        };
        static B: TypeInfo = TypeInfo {
            name: "dup-dev",
            rust_name: "crate_b::Nic",
            ..OBJECT_LIKE
        };
        const OBJECT_LIKE: TypeInfo = TypeInfo {
            name: "",
            parent: Some(&OBJECT),
            abstract_: false,
            description: None,
            kind: TypeKind::Object {
                user_creatable: false,
            },
            own_properties: &[],
            instantiate: None,
            rust_name: "",
            accessors: &crate::property::Accessors::NONE,
        };
        let panic = std::panic::catch_unwind(|| {
            Registry::build_from([&OBJECT, &A, &B].into_iter());
        })
        .expect_err("a duplicate type name panics");
        assert_eq!(
            panic.downcast_ref::<String>().map(String::as_str),
            Some(
                "Registering `dup-dev' which already exists (declared by crate_a::Dev and by crate_b::Nic); give one of them another name"
            )
        );
        // The derive refuses the names of the types qomgen registers.
        assert_eq!(
            [OBJECT.name, DEVICE.name].as_slice(),
            reserved::BUILTIN_TYPE_NAMES
        );
        // Distinct names build.
        assert!(
            Registry::build_from([&OBJECT, &A].into_iter())
                .problems()
                .is_empty()
        );
    }

    /// Two names of the same length with the same hash: the lookup
    /// compares the names, and finds both when both are indexed.
    #[test]
    fn colliding_names_are_told_apart() {
        let mut seen = HashMap::new();
        let (a, b) = (0u32..)
            .map(|i| format!("{i:08}"))
            .find_map(|n| {
                let h = name_hash(n.as_bytes());
                seen.insert(h, n.clone()).map(|old| (old, n))
            })
            .expect("a collision among 8-digit names");
        let (a, b): (&'static str, &'static str) = (a.leak(), b.leak());
        let one = NameIndex::build([(a, 1)], |_, v| Some(v));
        assert_eq!(one.get(a), Some(&1));
        assert_eq!(one.get(b), None);
        let both = NameIndex::build([(a, 1), (b, 2)], |_, v| Some(v));
        assert_eq!((both.get(a), both.get(b)), (Some(&1), Some(&2)));
    }

    proptest! {
        /// The index answers as the hash map it replaces (first entry of a
        /// name wins, later ones are reported), for names in it and not.
        #[test]
        fn name_index_is_a_hash_map(names in names(), probes in names()) {
            let names: Vec<&'static str> = names
                .into_iter()
                .map(|n| &*Box::leak(n.into_boxed_str()))
                .collect();
            let mut map = HashMap::new();
            let mut map_dups = Vec::new();
            for (i, n) in names.iter().enumerate() {
                if map.contains_key(n) {
                    map_dups.push(i);
                } else {
                    map.insert(*n, i);
                }
            }
            let mut dups = Vec::new();
            let index = NameIndex::build(names.iter().copied().zip(0..), |old, i| {
                if old.is_some() {
                    dups.push(i);
                    return None;
                }
                Some(i)
            });
            prop_assert_eq!(dups, map_dups);
            prop_assert_eq!(index.values().count(), map.len());
            for p in names.iter().copied().chain(probes.iter().map(String::as_str)) {
                prop_assert_eq!(index.get(p), map.get(p), "{:?}", p);
                // The position is that of the name's own entry.
                let at = index
                    .get_with_position(p)
                    .map(|(i, v)| (index.entries.get(i).map(|e| e.0), v));
                prop_assert_eq!(at, map.get(p).map(|v| (Some(p), v)), "{:?}", p);
            }
        }

        #[test]
        fn same_name_is_equality(
            a in "\\PC{0,20}",
            b in "\\PC{0,20}",
            cut in 0usize..20,
            flip in any::<prop::sample::Index>(),
        ) {
            prop_assert_eq!(same_name(a.as_bytes(), b.as_bytes()), a == b);
            // The same length, one bit different anywhere.
            if !a.is_empty() {
                let mut m = a.clone().into_bytes();
                if let Some(byte) = m.get_mut(flip.index(a.len())) {
                    *byte ^= 1;
                }
                prop_assert!(!same_name(a.as_bytes(), &m));
            }
            let c = a.as_bytes().get(..cut.min(a.len())).unwrap_or_default();
            let d = b.as_bytes().get(..cut.min(b.len())).unwrap_or_default();
            prop_assert_eq!(same_name(c, d), c == d);
            prop_assert!(same_name(a.as_bytes(), a.as_bytes()));
        }
    }
}
