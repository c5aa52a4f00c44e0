//! The registry of types: every `#[derive(Object)]`/`#[derive(Device)]` in
//! the linked program, collected through `inventory` before `main`, indexed
//! once on first use.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::OnceLock;

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
    rust_name: "qomgen::registry::OBJECT",
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
    rust_name: "qomgen::registry::DEVICE",
};

inventory::submit! { Registration(&OBJECT) }
inventory::submit! { Registration(&DEVICE) }

/// FxHash: the keys are short, trusted, static names; SipHash's DoS
/// resistance buys nothing here and costs most of a lookup.
#[derive(Default, Clone, Copy)]
struct FxHasher(u64);

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x51_7c_c1_b7_27_22_0a_95;
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(K);
        }
        for &b in chunks.remainder() {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(K);
        }
    }

    fn write_u8(&mut self, i: u8) {
        self.write(&[i]);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// A type together with its property index.
pub struct TypeEntry {
    /// The static type description.
    pub info: &'static TypeInfo,
    props: FxMap<&'static str, &'static Property>,
}

impl TypeEntry {
    /// Looks up a property (own or inherited) by name, without allocating.
    #[inline]
    pub fn property(&self, name: &str) -> Option<&'static Property> {
        self.props.get(name).copied()
    }
}

/// The index over every registered type.
pub struct Registry {
    types: FxMap<&'static str, TypeEntry>,
    sorted: Vec<&'static TypeInfo>,
    problems: Vec<String>,
}

impl Registry {
    fn build() -> Registry {
        let mut types: FxMap<&'static str, TypeEntry> = FxMap::default();
        let mut problems = Vec::new();
        for Registration(info) in inventory::iter::<Registration> {
            if let Some(old) = types.get(info.name) {
                problems.push(format!(
                    "type '{}' is registered twice (by {} and {})",
                    info.name, old.info.rust_name, info.rust_name
                ));
                continue;
            }
            let mut props: FxMap<&'static str, &'static Property> = FxMap::default();
            for p in info.properties() {
                if props.insert(p.name, p).is_some() {
                    problems.push(format!(
                        "property '{}' of type '{}' is declared twice in its type hierarchy",
                        p.name, info.name
                    ));
                }
            }
            types.insert(info.name, TypeEntry { info, props });
        }
        for e in types.values() {
            if let Some(p) = e.info.parent
                && !types.contains_key(p.name)
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

    /// Inconsistencies found while indexing (duplicate names, missing parents).
    /// A correct program has none; a test should assert that.
    pub fn problems(&self) -> &[String] {
        &self.problems
    }
}

/// The process-wide registry, indexed on first use.
pub fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(Registry::build)
}
