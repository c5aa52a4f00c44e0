//! Compares two [`Dump`]s: what a user of the old types would notice. Documented in [the module](super).

use std::collections::BTreeSet;
use std::fmt;

use super::dump::{Dump, TypeDump, TypeKindName};
use super::json::ObjectPropertyInfo;

/// How much a change matters to existing users.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Existing users may break.
    Breaking,
    /// Would be breaking, but only touches `x-` (unstable) names.
    Unstable,
    /// Existing users are unaffected.
    Compatible,
}

/// One difference between two dumps. `type_name` is the type it concerns;
/// `property` the property, for property changes. Booleans named `now`
/// give the new state of a flag.
#[derive(Debug, Clone, PartialEq)]
#[allow(missing_docs)] // fields are described by the variant docs
pub enum Change {
    /// The type no longer exists.
    TypeRemoved { type_name: String },
    /// A new type.
    TypeAdded { type_name: String },
    /// The type switched between object and device.
    TypeKindChanged {
        type_name: String,
        old: TypeKindName,
        new: TypeKindName,
    },
    /// The type became abstract (`now`) or concrete.
    AbstractChanged { type_name: String, now: bool },
    /// The type became user-creatable (`now`) or stopped being so.
    UserCreatableChanged { type_name: String, now: bool },
    /// The device became hotpluggable (`now`) or stopped being so.
    HotpluggableChanged { type_name: String, now: bool },
    /// The device's bus kind changed.
    BusChanged {
        type_name: String,
        old: Option<String>,
        new: Option<String>,
    },
    /// The device's category changed.
    CategoryChanged {
        type_name: String,
        old: Option<String>,
        new: Option<String>,
    },
    /// The type's parent changed.
    ParentChanged {
        type_name: String,
        old: Option<String>,
        new: Option<String>,
    },
    /// The type's description changed.
    TypeDescriptionChanged {
        type_name: String,
        old: Option<String>,
        new: Option<String>,
    },
    /// The property no longer exists.
    PropertyRemoved { type_name: String, property: String },
    /// A new property, of type `type_`.
    PropertyAdded {
        type_name: String,
        property: String,
        type_: String,
    },
    /// The property's QOM type changed.
    PropertyTypeChanged {
        type_name: String,
        property: String,
        old: String,
        new: String,
    },
    /// The default changed (or appeared, or disappeared).
    DefaultChanged {
        type_name: String,
        property: String,
        old: Option<serde_json::Value>,
        new: Option<serde_json::Value>,
    },
    /// The property became read-only (`now`) or writable.
    ReadOnlyChanged {
        type_name: String,
        property: String,
        now: bool,
    },
    /// The property became write-only (`now`) or readable.
    WriteOnlyChanged {
        type_name: String,
        property: String,
        now: bool,
    },
    /// The property became settable after realize (`now`) or stopped being so.
    SetAfterRealizeChanged {
        type_name: String,
        property: String,
        now: bool,
    },
    /// The property's description changed.
    DescriptionChanged {
        type_name: String,
        property: String,
        old: Option<String>,
        new: Option<String>,
    },
    /// The property's since-version changed.
    SinceChanged {
        type_name: String,
        property: String,
        old: Option<String>,
        new: Option<String>,
    },
}

fn is_unstable_name(name: &str) -> bool {
    name.starts_with("x-")
}

impl Change {
    /// The type the change concerns.
    pub fn type_name(&self) -> &str {
        use Change::*;
        match self {
            TypeRemoved { type_name }
            | TypeAdded { type_name }
            | TypeKindChanged { type_name, .. }
            | AbstractChanged { type_name, .. }
            | UserCreatableChanged { type_name, .. }
            | HotpluggableChanged { type_name, .. }
            | BusChanged { type_name, .. }
            | CategoryChanged { type_name, .. }
            | ParentChanged { type_name, .. }
            | TypeDescriptionChanged { type_name, .. }
            | PropertyRemoved { type_name, .. }
            | PropertyAdded { type_name, .. }
            | PropertyTypeChanged { type_name, .. }
            | DefaultChanged { type_name, .. }
            | ReadOnlyChanged { type_name, .. }
            | WriteOnlyChanged { type_name, .. }
            | SetAfterRealizeChanged { type_name, .. }
            | DescriptionChanged { type_name, .. }
            | SinceChanged { type_name, .. } => type_name,
        }
    }

    /// The property the change concerns, for property changes.
    pub fn property(&self) -> Option<&str> {
        use Change::*;
        match self {
            PropertyRemoved { property, .. }
            | PropertyAdded { property, .. }
            | PropertyTypeChanged { property, .. }
            | DefaultChanged { property, .. }
            | ReadOnlyChanged { property, .. }
            | WriteOnlyChanged { property, .. }
            | SetAfterRealizeChanged { property, .. }
            | DescriptionChanged { property, .. }
            | SinceChanged { property, .. } => Some(property),
            _ => None,
        }
    }

    /// Whether the change, on a stable name, could break existing users.
    fn breaks(&self) -> bool {
        use Change::*;
        match self {
            TypeRemoved { .. }
            | TypeKindChanged { .. }
            | BusChanged { .. }
            | PropertyRemoved { .. }
            | PropertyTypeChanged { .. }
            | DefaultChanged { .. } => true,
            AbstractChanged { now, .. }
            | ReadOnlyChanged { now, .. }
            | WriteOnlyChanged { now, .. } => *now,
            UserCreatableChanged { now, .. }
            | HotpluggableChanged { now, .. }
            | SetAfterRealizeChanged { now, .. } => !*now,
            TypeAdded { .. }
            | CategoryChanged { .. }
            | ParentChanged { .. }
            | TypeDescriptionChanged { .. }
            | PropertyAdded { .. }
            | DescriptionChanged { .. }
            | SinceChanged { .. } => false,
        }
    }

    /// How much the change matters; see the [module docs](crate::introspect).
    pub fn severity(&self) -> Severity {
        if !self.breaks() {
            Severity::Compatible
        } else if is_unstable_name(self.type_name())
            || self.property().is_some_and(is_unstable_name)
        {
            Severity::Unstable
        } else {
            Severity::Breaking
        }
    }

    /// The label starting the change's line: `BREAKING`, `unstable`,
    /// `added` or `changed`.
    pub fn label(&self) -> &'static str {
        match self.severity() {
            Severity::Breaking => "BREAKING",
            Severity::Unstable => "unstable",
            Severity::Compatible => match self {
                Change::TypeAdded { .. } | Change::PropertyAdded { .. } => "added",
                _ => "changed",
            },
        }
    }
}

/// `"text"` or `none`.
struct Text<'a>(&'a Option<String>);

impl fmt::Display for Text<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(s) => write!(f, "\"{s}\""),
            None => f.write_str("none"),
        }
    }
}

/// Compact JSON or `none`.
struct Json<'a>(&'a Option<serde_json::Value>);

impl fmt::Display for Json<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(v) => write!(f, "{v}"),
            None => f.write_str("none"),
        }
    }
}

fn kind_name(k: TypeKindName) -> &'static str {
    match k {
        TypeKindName::Object => "object",
        TypeKindName::Device => "device",
    }
}

impl fmt::Display for Change {
    /// The change's line without its label.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use Change::*;
        let flag = |now: bool, yes: &'static str, no: &'static str| if now { yes } else { no };
        match self {
            TypeRemoved { type_name } => write!(f, "type '{type_name}' removed"),
            TypeAdded { type_name } => write!(f, "type '{type_name}'"),
            TypeKindChanged {
                type_name,
                old,
                new,
            } => {
                write!(
                    f,
                    "type '{type_name}' changed from {} to {}",
                    kind_name(*old),
                    kind_name(*new)
                )
            }
            AbstractChanged { type_name, now } => {
                write!(
                    f,
                    "type '{type_name}' {}",
                    flag(*now, "became abstract", "is no longer abstract")
                )
            }
            UserCreatableChanged { type_name, now } => write!(
                f,
                "type '{type_name}' {}",
                flag(*now, "became user-creatable", "is no longer user-creatable")
            ),
            HotpluggableChanged { type_name, now } => write!(
                f,
                "device '{type_name}' {}",
                flag(*now, "became hotpluggable", "is no longer hotpluggable")
            ),
            BusChanged {
                type_name,
                old,
                new,
            } => {
                write!(
                    f,
                    "device '{type_name}' bus changed from {} to {}",
                    Text(old),
                    Text(new)
                )
            }
            CategoryChanged {
                type_name,
                old,
                new,
            } => {
                write!(
                    f,
                    "device '{type_name}' category changed from {} to {}",
                    Text(old),
                    Text(new)
                )
            }
            ParentChanged {
                type_name,
                old,
                new,
            } => {
                write!(
                    f,
                    "type '{type_name}' parent changed from {} to {}",
                    Text(old),
                    Text(new)
                )
            }
            TypeDescriptionChanged {
                type_name,
                old,
                new,
            } => {
                write!(
                    f,
                    "type '{type_name}' description changed from {} to {}",
                    Text(old),
                    Text(new)
                )
            }
            PropertyRemoved {
                type_name,
                property,
            } => write!(f, "property '{type_name}.{property}' removed"),
            PropertyAdded {
                type_name,
                property,
                type_,
            } => {
                write!(f, "property '{type_name}.{property}' ({type_})")
            }
            PropertyTypeChanged {
                type_name,
                property,
                old,
                new,
            } => {
                write!(
                    f,
                    "property '{type_name}.{property}' type changed from {old} to {new}"
                )
            }
            DefaultChanged {
                type_name,
                property,
                old,
                new,
            } => write!(
                f,
                "property '{type_name}.{property}' default changed from {} to {}",
                Json(old),
                Json(new)
            ),
            ReadOnlyChanged {
                type_name,
                property,
                now,
            } => write!(
                f,
                "property '{type_name}.{property}' {}",
                flag(*now, "became read-only", "is no longer read-only")
            ),
            WriteOnlyChanged {
                type_name,
                property,
                now,
            } => write!(
                f,
                "property '{type_name}.{property}' {}",
                flag(*now, "became write-only", "is no longer write-only")
            ),
            SetAfterRealizeChanged {
                type_name,
                property,
                now,
            } => write!(
                f,
                "property '{type_name}.{property}' {}",
                flag(
                    *now,
                    "can now be set after realize",
                    "can no longer be set after realize"
                )
            ),
            DescriptionChanged {
                type_name,
                property,
                old,
                new,
            } => write!(
                f,
                "property '{type_name}.{property}' description changed from {} to {}",
                Text(old),
                Text(new)
            ),
            SinceChanged {
                type_name,
                property,
                old,
                new,
            } => write!(
                f,
                "property '{type_name}.{property}' since changed from {} to {}",
                Text(old),
                Text(new)
            ),
        }
    }
}

/// The result of [`diff`]: every change, in a fixed order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DiffReport {
    /// The changes, sorted as described in the [module docs](crate::introspect).
    pub changes: Vec<Change>,
}

impl DiffReport {
    /// Whether any change is [`Severity::Breaking`].
    pub fn is_breaking(&self) -> bool {
        self.changes
            .iter()
            .any(|c| c.severity() == Severity::Breaking)
    }

    /// The breaking changes.
    pub fn breaking(&self) -> impl Iterator<Item = &Change> {
        self.changes
            .iter()
            .filter(|c| c.severity() == Severity::Breaking)
    }

    /// Whether the dumps are equivalent.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }
}

impl fmt::Display for DiffReport {
    /// One `LABEL: sentence` line per change (see the [module docs](crate::introspect)).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in &self.changes {
            writeln!(f, "{}: {c}", c.label())?;
        }
        Ok(())
    }
}

/// What changed from `old` to `new`.
pub fn diff(old: &Dump, new: &Dump) -> DiffReport {
    let names: BTreeSet<&str> = old
        .types
        .iter()
        .chain(&new.types)
        .map(|t| t.name.as_str())
        .collect();
    let mut changes = Vec::new();
    for name in names {
        match (old.get(name), new.get(name)) {
            (Some(_), None) => changes.push(Change::TypeRemoved {
                type_name: name.to_owned(),
            }),
            (None, Some(_)) => changes.push(Change::TypeAdded {
                type_name: name.to_owned(),
            }),
            (Some(o), Some(n)) => diff_type(o, n, &mut changes),
            (None, None) => {}
        }
    }
    DiffReport { changes }
}

/// Pushes onto `$out` the change `$variant` when field `$f` differs
/// between `$o` and `$n`: with `now`, a flag's new state; with `old, new`,
/// both values. The variant's other fields are `$key: $key()`, from
/// closures named as the fields.
macro_rules! changed {
    ($out:ident, $o:ident, $n:ident, ($($key:ident),*), $f:ident => $variant:ident, now) => {
        if $o.$f != $n.$f {
            $out.push(Change::$variant { $($key: $key(),)* now: $n.$f });
        }
    };
    ($out:ident, $o:ident, $n:ident, ($($key:ident),*), $f:ident => $variant:ident, old, new) => {
        if $o.$f != $n.$f {
            $out.push(Change::$variant {
                $($key: $key(),)*
                old: $o.$f.clone(),
                new: $n.$f.clone(),
            });
        }
    };
}

fn diff_type(o: &TypeDump, n: &TypeDump, out: &mut Vec<Change>) {
    let type_name = || o.name.clone();
    changed!(out, o, n, (type_name), kind => TypeKindChanged, old, new);
    changed!(out, o, n, (type_name), abstract_ => AbstractChanged, now);
    changed!(out, o, n, (type_name), user_creatable => UserCreatableChanged, now);
    if let (Some(od), Some(nd)) = (&o.device, &n.device) {
        changed!(out, od, nd, (type_name), hotpluggable => HotpluggableChanged, now);
        changed!(out, od, nd, (type_name), bus => BusChanged, old, new);
        changed!(out, od, nd, (type_name), category => CategoryChanged, old, new);
    }
    changed!(out, o, n, (type_name), parent => ParentChanged, old, new);
    changed!(out, o, n, (type_name), description => TypeDescriptionChanged, old, new);
    for op in &o.properties {
        match n.property(&op.name) {
            None => out.push(Change::PropertyRemoved {
                type_name: type_name(),
                property: op.name.clone(),
            }),
            Some(np) => diff_property(&o.name, op, np, out),
        }
    }
    for np in &n.properties {
        if o.property(&np.name).is_none() {
            out.push(Change::PropertyAdded {
                type_name: type_name(),
                property: np.name.clone(),
                type_: np.type_.clone(),
            });
        }
    }
}

fn diff_property(ty: &str, o: &ObjectPropertyInfo, n: &ObjectPropertyInfo, out: &mut Vec<Change>) {
    let type_name = || ty.to_owned();
    let property = || o.name.clone();
    changed!(out, o, n, (type_name, property), type_ => PropertyTypeChanged, old, new);
    changed!(out, o, n, (type_name, property), default_value => DefaultChanged, old, new);
    changed!(out, o, n, (type_name, property), read_only => ReadOnlyChanged, now);
    changed!(out, o, n, (type_name, property), write_only => WriteOnlyChanged, now);
    changed!(out, o, n, (type_name, property), set_after_realize => SetAfterRealizeChanged, now);
    changed!(out, o, n, (type_name, property), description => DescriptionChanged, old, new);
    changed!(out, o, n, (type_name, property), since => SinceChanged, old, new);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::introspect::dump::dump;

    #[test]
    fn identical_dumps_have_no_changes() {
        let d = dump();
        let r = diff(&d, &d);
        assert!(r.is_empty() && !r.is_breaking());
        assert_eq!(r.to_string(), "");
    }

    #[test]
    fn severities_and_labels() {
        let c = |type_name: &str, property: &str| Change::PropertyRemoved {
            type_name: type_name.into(),
            property: property.into(),
        };
        assert_eq!(c("dev", "host").severity(), Severity::Breaking);
        assert_eq!(c("dev", "x-vga").severity(), Severity::Unstable);
        assert_eq!(c("x-dev", "host").severity(), Severity::Unstable);
        assert_eq!(c("dev", "x-vga").label(), "unstable");
        let added = Change::TypeAdded {
            type_name: "x-new".into(),
        };
        assert_eq!(
            (added.severity(), added.label()),
            (Severity::Compatible, "added")
        );
        let relaxed = Change::ReadOnlyChanged {
            type_name: "d".into(),
            property: "p".into(),
            now: false,
        };
        assert_eq!(
            (relaxed.severity(), relaxed.label()),
            (Severity::Compatible, "changed")
        );
        assert_eq!(relaxed.to_string(), "property 'd.p' is no longer read-only");
    }

    #[test]
    fn type_level_changes() {
        let old = dump();
        let mut new = old.clone();
        new.types.retain(|t| t.name != "object");
        let dev = new.get_mut("device").unwrap();
        dev.abstract_ = false;
        dev.user_creatable = false;
        dev.kind = TypeKindName::Object;
        dev.device = None;
        let r = diff(&old, &new);
        assert_eq!(
            r.to_string(),
            "\
BREAKING: type 'device' changed from device to object
changed: type 'device' is no longer abstract
BREAKING: type 'device' is no longer user-creatable
BREAKING: type 'object' removed
"
        );
        assert!(r.is_breaking());
        assert_eq!(r.breaking().count(), 3);
        let back = diff(&new, &old);
        assert!(back.to_string().ends_with("added: type 'object'\n"));
    }
}
