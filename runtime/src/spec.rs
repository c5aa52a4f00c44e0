//! `-device` and `-object` option strings: keyval/QemuOpts or JSON, turned
//! into instances with QEMU's checks and error texts.

use std::borrow::Cow;

use serde_json::Value;

use crate::error::{Error, Result, with_suggestion};
use crate::kind::Input;
use crate::opts::qemu_opts;
use crate::registry::registry;
use crate::tree::{Instance, ObjRef, ObjectTree, find_property, object_creatable};
use crate::types::{TypeInfo, TypeKind};

/// A property value as given on the command line.
#[derive(Debug, Clone, PartialEq)]
pub enum SpecValue {
    /// From keyval syntax: converted by the property's kind.
    Str(String),
    /// From JSON syntax: must already have the right JSON type.
    Json(Value),
}

impl SpecValue {
    /// Borrows the value as a property input.
    pub fn as_input(&self) -> Input<'_> {
        match self {
            SpecValue::Str(s) => Input::Str(s),
            SpecValue::Json(v) => Input::Json(v),
        }
    }
}

/// Which option a spec belongs to; they differ in their implied key and in
/// some error texts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpecKind {
    /// `-device`: implied key `driver`.
    Device,
    /// `-object`: implied key `qom-type`.
    Object,
}

impl SpecKind {
    fn type_key(self) -> &'static str {
        match self {
            SpecKind::Device => "driver",
            SpecKind::Object => "qom-type",
        }
    }
}

/// A parsed `-device`/`-object` argument.
#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    /// `-device` or `-object`.
    pub kind: SpecKind,
    /// The type name (`driver` / `qom-type`), if given.
    pub type_name: Option<String>,
    /// The `id`, if given.
    pub id: Option<String>,
    /// `bus=` (devices only), if given.
    pub bus: Option<String>,
    /// The remaining properties, in command-line order, each key once (the last value wins).
    pub props: Vec<(String, SpecValue)>,
    /// Whether help was requested (`help` or `?`).
    pub help: bool,
    /// Warnings QEMU prints while parsing (short-form booleans).
    pub warnings: Vec<String>,
    /// Whether the spec was JSON.
    pub json: bool,
}

impl Spec {
    /// Parses an option argument: JSON when it starts with `{`, else
    /// QemuOpts with the implied first key.
    ///
    /// # Errors
    /// Syntax errors in QEMU's words.
    pub fn parse(kind: SpecKind, s: &str) -> Result<Spec> {
        Parsed::parse(kind, s).map(Parsed::into_spec)
    }

    /// A spec from the members of a JSON object, as the JSON syntax of
    /// [`Spec::parse`] reads them: what QMP's `device_add` and
    /// `object-add` take as their arguments.
    ///
    /// # Errors
    /// An `id` or `bus` (or an object's `qom-type`) that is not a string.
    pub fn from_json_map(kind: SpecKind, map: serde_json::Map<String, Value>) -> Result<Spec> {
        Parsed::from_map(kind, map).map(Parsed::into_spec)
    }

    /// Looks up the spec's type and applies QEMU's checks for the option.
    ///
    /// # Errors
    /// Missing, unknown, abstract or not creatable type, with QEMU's texts.
    pub fn resolve_type(&self) -> Result<&'static TypeInfo> {
        resolve_type(self.kind, self.type_name.as_deref())
    }

    /// Creates the instance and sets every property, in command-line order
    /// (QEMU uses hash order; a deterministic order is a deliberate difference).
    ///
    /// # Errors
    /// The first failing check or property.
    pub fn instantiate(&self, tree: &ObjectTree) -> Result<Instance> {
        let ty = self.resolve_type()?;
        let props = self.props.iter().map(|(k, v)| (k.as_str(), v.as_input()));
        instantiate(tree, self.kind, self.json, ty, props)
    }
}

fn resolve_type(kind: SpecKind, type_name: Option<&str>) -> Result<&'static TypeInfo> {
    let key = kind.type_key();
    let name = type_name.ok_or_else(|| Error::missing_parameter(key))?;
    let reg = registry();
    match kind {
        SpecKind::Device => {
            let ty = reg
                .get(name)
                .map(|e| e.info)
                .filter(|t| t.is_device())
                .ok_or_else(|| {
                    with_suggestion(
                        Error::new(format!("'{name}' is not a valid device model name")),
                        name,
                        reg.types()
                            .iter()
                            .filter(|t| t.is_device() && !t.abstract_)
                            .map(|t| t.name),
                    )
                })?;
            if ty.abstract_ {
                return Err(Error::invalid_parameter_value(
                    "driver",
                    "a non-abstract device type",
                ));
            }
            // `user_creatable` is the type's own (`device_meta` inherits
            // only the category and bus), so no walk of the lineage.
            if !matches!(ty.kind, TypeKind::Device(m) if m.user_creatable) {
                return Err(Error::invalid_parameter_value(
                    "driver",
                    "a pluggable device type",
                ));
            }
            Ok(ty)
        }
        SpecKind::Object => {
            let ty = reg
                .get(name)
                .map(|e| e.info)
                .filter(|t| !t.is_device())
                .ok_or_else(|| {
                    with_suggestion(
                        Error::new(format!(
                            "Parameter 'qom-type' does not accept value '{name}'"
                        )),
                        name,
                        reg.types()
                            .iter()
                            .filter(|t| object_creatable(t) && !t.abstract_)
                            .map(|t| t.name),
                    )
                })?;
            if !object_creatable(ty) {
                return Err(Error::new(format!(
                    "object type '{name}' isn't supported by object-add"
                )));
            }
            if ty.abstract_ {
                return Err(Error::new(format!("object type '{name}' is abstract")));
            }
            Ok(ty)
        }
    }
}

/// [`Spec::instantiate`] for the type `ty` and properties `props`.
fn instantiate<'p>(
    tree: &ObjectTree,
    kind: SpecKind,
    json: bool,
    ty: &'static TypeInfo,
    props: impl Iterator<Item = (&'p str, Input<'p>)>,
) -> Result<Instance> {
    let mut inst = tree.instantiate(ty.name)?;
    for (k, v) in props {
        if kind == SpecKind::Object && find_property(ty, k).is_err() {
            // QEMU validates -object keys against the QAPI schema first.
            let e = if json {
                Error::new(format!("Parameter '{k}' is unexpected"))
            } else {
                Error::new(format!("Invalid parameter '{k}'"))
            };
            return Err(with_suggestion(
                e,
                k,
                ty.properties().filter(|p| p.writable).map(|p| p.name),
            ));
        }
        tree.set(&mut inst, k, v)?;
    }
    Ok(inst)
}

/// A property value of a [`Parsed`] spec. A JSON value is kept in
/// [`Parsed::json_values`], so that the list of properties stays small
/// (a `Value` is several times the size of a string slice) and cheap to
/// build for the keyval syntax.
#[derive(Debug)]
enum ParsedValue<'a> {
    Str(Cow<'a, str>),
    /// The index of the value in [`Parsed::json_values`].
    Json(usize),
}

/// A [`Spec`] that borrows from the argument: keys and values are slices of
/// it where the syntax allows (keyval values without a `,,` escape), so
/// parsing a `-device` argument allocates little beyond the item list.
/// [`Spec::parse`] is this parse and a copy; [`ObjectTree::instantiate_spec`],
/// [`ObjectTree::device_add`] and [`ObjectTree::object_add`] skip the copy.
#[derive(Debug)]
struct Parsed<'a> {
    kind: SpecKind,
    type_name: Option<Cow<'a, str>>,
    id: Option<Cow<'a, str>>,
    bus: Option<Cow<'a, str>>,
    props: Vec<(Cow<'a, str>, ParsedValue<'a>)>,
    /// The values of JSON properties, see [`ParsedValue::Json`].
    json_values: Vec<Value>,
    /// A bit per key hash in `props`, so that a new key (the usual case)
    /// skips the search for an earlier one.
    seen: u64,
    help: bool,
    warnings: Vec<String>,
    json: bool,
}

impl<'a> Parsed<'a> {
    fn parse(kind: SpecKind, s: &'a str) -> Result<Self> {
        if s.starts_with('{') {
            return Self::parse_json(kind, s);
        }
        let type_key = kind.type_key();
        let mut spec = Parsed {
            kind,
            type_name: None,
            id: None,
            bus: None,
            // Items are at most one more than the commas; the cap bounds
            // what a string of escaped commas (`x=,,,,...`) could reserve.
            props: Vec::with_capacity((qemu_opts::count_commas(s) + 1).min(64)),
            json_values: Vec::new(),
            seen: 0,
            help: false,
            warnings: Vec::new(),
            json: false,
        };
        let scan = qemu_opts::tokenize(s, type_key, |k, v| {
            match k {
                // QemuOpts decides which `id` counts (the first, found its own way).
                "id" => {}
                "bus" if kind == SpecKind::Device => spec.bus = Some(v),
                // The implied value comes first under this key, so the last
                // one given wins as with `Spec`'s owned parse.
                k if k == type_key => spec.type_name = Some(v),
                _ => spec.push(Cow::Borrowed(k), ParsedValue::Str(v)),
            }
        })?;
        spec.id = scan.id;
        spec.help = scan.help;
        spec.warnings = scan.warnings;
        Ok(spec)
    }

    fn parse_json(kind: SpecKind, s: &str) -> Result<Self> {
        let Value::Object(map) = crate::opts::json::parse(s)? else {
            return Err(Error::invalid_parameter_type("<anonymous>", "object"));
        };
        Self::from_map(kind, map)
    }

    fn from_map(kind: SpecKind, map: serde_json::Map<String, Value>) -> Result<Self> {
        let mut spec = Parsed {
            kind,
            type_name: None,
            id: None,
            bus: None,
            props: Vec::with_capacity(map.len()),
            json_values: Vec::with_capacity(map.len()),
            seen: 0,
            help: false,
            warnings: Vec::new(),
            json: true,
        };
        for (k, v) in map {
            let string = |v: Value| match v {
                Value::String(s) => Ok(Cow::Owned(s)),
                _ => Err(Error::invalid_parameter_type(&k, "string")),
            };
            match k.as_str() {
                "id" => spec.id = Some(string(v)?),
                "bus" if kind == SpecKind::Device => spec.bus = Some(string(v)?),
                // qdev_device_add_from_qdict reads the driver with
                // qdict_get_try_str: one that is not a string is missing.
                "driver" if kind == SpecKind::Device => {
                    spec.type_name = match v {
                        Value::String(s) => Some(Cow::Owned(s)),
                        _ => None,
                    }
                }
                t if t == kind.type_key() => spec.type_name = Some(string(v)?),
                _ => {
                    spec.json_values.push(v);
                    let i = spec.json_values.len() - 1;
                    spec.push(Cow::Owned(k), ParsedValue::Json(i));
                }
            }
        }
        Ok(spec)
    }

    /// Adds a property; a key given again keeps its place and takes the new value.
    fn push(&mut self, k: Cow<'a, str>, v: ParsedValue<'a>) {
        let bit = key_bit(&k);
        if self.seen & bit != 0
            && let Some(slot) = self.props.iter_mut().find(|(key, _)| *key == k)
        {
            slot.1 = v;
            return;
        }
        self.seen |= bit;
        self.props.push((k, v));
    }

    fn into_spec(mut self) -> Spec {
        let mut json_values = std::mem::take(&mut self.json_values);
        Spec {
            kind: self.kind,
            type_name: self.type_name.map(Cow::into_owned),
            id: self.id.map(Cow::into_owned),
            bus: self.bus.map(Cow::into_owned),
            props: self
                .props
                .into_iter()
                .map(|(k, v)| {
                    let v = match v {
                        ParsedValue::Str(s) => SpecValue::Str(s.into_owned()),
                        ParsedValue::Json(i) => SpecValue::Json(
                            json_values
                                .get_mut(i)
                                .map(std::mem::take)
                                .unwrap_or_default(),
                        ),
                    };
                    (k.into_owned(), v)
                })
                .collect(),
            help: self.help,
            warnings: self.warnings,
            json: self.json,
        }
    }

    fn props(&self) -> impl Iterator<Item = (&str, Input<'_>)> {
        self.props.iter().map(|(k, v)| {
            let input = match v {
                ParsedValue::Str(s) => Input::Str(s),
                ParsedValue::Json(i) => Input::Json(self.json_values.get(*i).unwrap_or(&NULL)),
            };
            (&**k, input)
        })
    }
}

/// What a missing JSON value reads as (never: every index is pushed
/// with its value).
static NULL: Value = Value::Null;

/// One of 64 bits for a key: its length and two of its bytes, hashed.
fn key_bit(k: &str) -> u64 {
    let b = k.as_bytes();
    let (first, last) = (b.first().copied(), b.last().copied());
    let h = (b.len() as u64)
        .wrapping_mul(0x9e37_79b9)
        .wrapping_add(u64::from(first.unwrap_or(0)) << 7)
        .wrapping_add(u64::from(last.unwrap_or(0)).wrapping_mul(0x2f));
    1 << ((h ^ (h >> 17)) & 63)
}

/// What [`ObjectTree::device_add_spec`] and [`ObjectTree::object_add_spec`]
/// read of a spec besides its properties, from a [`Spec`] or a [`Parsed`].
#[derive(Clone, Copy)]
struct View<'s> {
    kind: SpecKind,
    type_name: Option<&'s str>,
    id: Option<&'s str>,
    bus: Option<&'s str>,
    help: bool,
    json: bool,
}

/// `view` for [`Spec`] and [`Parsed`], which name the fields alike.
macro_rules! impl_view {
    ($($t:ty),*) => {
        $(impl $t {
            fn view(&self) -> View<'_> {
                View {
                    kind: self.kind,
                    type_name: self.type_name.as_deref(),
                    id: self.id.as_deref(),
                    bus: self.bus.as_deref(),
                    help: self.help,
                    json: self.json,
                }
            }
        })*
    };
}

impl_view!(Spec, Parsed<'_>);

impl Spec {
    fn input_props(&self) -> impl Iterator<Item = (&str, Input<'_>)> {
        self.props.iter().map(|(k, v)| (k.as_str(), v.as_input()))
    }
}

impl ObjectTree {
    /// Parses a `-device`/`-object` argument, creates the instance and sets
    /// every property (no realize or complete, nothing added to the tree):
    /// what `Spec::parse(kind, spec)?.instantiate(tree)` does, with the
    /// same results and errors, without copying the argument into a
    /// [`Spec`] (keys and values are borrowed from `spec`).
    ///
    /// # Errors
    /// As [`Spec::parse`] and [`Spec::instantiate`].
    pub fn instantiate_spec(&self, kind: SpecKind, spec: &str) -> Result<Instance> {
        if let Some(inst) = self.instantiate_streaming(kind, spec) {
            return Ok(inst);
        }
        let parsed = Parsed::parse(kind, spec)?;
        let ty = resolve_type(kind, parsed.type_name.as_deref())?;
        instantiate(self, kind, parsed.json, ty, parsed.props())
    }

    /// [`ObjectTree::instantiate_spec`] for the common case, without
    /// storing the items: each property is set as the tokenizer finds it.
    /// That gives the general path's instance only when the type is known
    /// before the first property (the first item names it and no later one
    /// does), no property is given twice (the general path sets a repeated
    /// key once, at its first place, with its last value) and nothing
    /// fails (the general path reports a syntax error found after a
    /// property error). Otherwise, and for JSON or a help request, the
    /// answer is `None` and the caller takes the general path from the
    /// start; what was set is dropped (setting a property has no effect
    /// outside the instance).
    pub(crate) fn instantiate_streaming(&self, kind: SpecKind, s: &str) -> Option<Instance> {
        if s.starts_with('{') {
            return None;
        }
        let type_key = kind.type_key();
        let mut inst: Option<(Instance, &'static crate::registry::TypeEntry)> = None;
        let mut usual = true;
        // A bit per property position in the type's index: which are set.
        let mut set = [0u64; 4];
        let scan = qemu_opts::tokenize(s, type_key, |k, v| {
            if !usual {
                return;
            }
            let Some((inst, entry)) = &mut inst else {
                // The first item: the type.
                let ty = (k == type_key)
                    .then(|| resolve_type(kind, Some(&v)).ok())
                    .flatten();
                let made = ty.and_then(|ty| self.instantiate(ty.name).ok());
                match made.and_then(|i| Some((i.entry()?, i))) {
                    Some((entry, i)) => inst = Some((i, entry)),
                    None => usual = false,
                }
                return;
            };
            match k {
                "id" => {}
                "bus" if kind == SpecKind::Device => {}
                _ if k == type_key => usual = false,
                _ => {
                    usual = entry.property_with_position(k).is_some_and(|(i, prop)| {
                        let (word, bit) = (i / 64, 1u64 << (i % 64));
                        let Some(w) = set.get_mut(word) else {
                            return false;
                        };
                        if *w & bit != 0 {
                            return false;
                        }
                        *w |= bit;
                        self.set_found(inst, prop, Input::Str(&v)).is_ok()
                    });
                }
            }
        });
        match scan {
            Ok(scan) if usual && !scan.help => inst.map(|(i, _)| i),
            _ => None,
        }
    }

    /// `-device SPEC`: parses, creates, sets, realizes and adds the device.
    /// A help request is an error here; callers that print help check
    /// [`Spec::help`] first.
    ///
    /// # Errors
    /// Any failure; nothing is added then.
    pub fn device_add(&mut self, spec: &str) -> Result<ObjRef> {
        self.add_parsed(SpecKind::Device, spec)
    }

    /// [`ObjectTree::device_add`] for an already parsed spec.
    ///
    /// # Errors
    /// Any failure; nothing is added then.
    pub fn device_add_spec(&mut self, spec: &Spec) -> Result<ObjRef> {
        self.add_view(SpecKind::Device, spec.view(), spec.input_props())
    }

    /// QMP's `object-add`: as [`ObjectTree::object_add_spec`], except that
    /// an id already taken is refused after the properties are set, with
    /// the message of QEMU's `object_property_try_add_child` (`attempt to
    /// add duplicate property '<id>' to object (type 'container')`): the
    /// command line's `Duplicate ID '<id>' for object` comes from its
    /// option list, which QMP does not use.
    ///
    /// # Errors
    /// Any failure; nothing is added then.
    pub fn object_add_qmp(&mut self, spec: &Spec) -> Result<ObjRef> {
        let view = spec.view();
        let ty = resolve_type(view.kind, view.type_name)?;
        let id = view.id.ok_or_else(|| Error::missing_parameter("id"))?;
        if !crate::opts::qemu_opts::id_wellformed(id) {
            return Err(Error::bad_id());
        }
        let inst = instantiate(self, view.kind, true, ty, spec.input_props())?;
        if self.object(id).is_some() {
            return Err(Error::new(format!(
                "attempt to add duplicate property '{id}' to object (type 'container')"
            )));
        }
        self.add_object(inst, id)
    }

    /// `-object SPEC`: parses, creates, sets, completes and adds the object.
    ///
    /// # Errors
    /// Any failure; nothing is added then.
    pub fn object_add(&mut self, spec: &str) -> Result<ObjRef> {
        self.add_parsed(SpecKind::Object, spec)
    }

    /// [`ObjectTree::object_add`] for an already parsed spec.
    ///
    /// # Errors
    /// Any failure; nothing is added then.
    pub fn object_add_spec(&mut self, spec: &Spec) -> Result<ObjRef> {
        self.add_view(SpecKind::Object, spec.view(), spec.input_props())
    }

    /// `-device` or `-object` (`add`) of the text `spec`.
    fn add_parsed(&mut self, add: SpecKind, spec: &str) -> Result<ObjRef> {
        let spec = Parsed::parse(add, spec)?;
        self.add_view(add, spec.view(), spec.props())
    }

    /// Adds what `spec` describes as `-device` does (`add` is `Device`:
    /// created, set, realized) or as `-object` does (created, set,
    /// completed), after their checks of the spec in QEMU's order.
    fn add_view<'p>(
        &mut self,
        add: SpecKind,
        spec: View<'_>,
        props: impl Iterator<Item = (&'p str, Input<'p>)>,
    ) -> Result<ObjRef> {
        if spec.help {
            return Err(help_through_api(spec.kind, spec.type_name));
        }
        let ty = resolve_type(spec.kind, spec.type_name)?;
        let id = match add {
            SpecKind::Device => spec.id,
            SpecKind::Object => Some(spec.id.ok_or_else(|| Error::missing_parameter("id"))?),
        };
        if let Some(id) = id {
            if !crate::opts::qemu_opts::id_wellformed(id) {
                return Err(Error::bad_id());
            }
            match add {
                // The command line's QemuOpts list refuses the id itself;
                // a JSON spec has no list, and qdev_set_id refuses it.
                SpecKind::Device if self.device(id).is_some() => {
                    return Err(Error::new(if spec.json {
                        format!("Duplicate device ID '{id}'")
                    } else {
                        format!("Duplicate ID '{id}' for device")
                    }));
                }
                SpecKind::Object if self.object(id).is_some() => {
                    return Err(Error::new(format!("Duplicate ID '{id}' for object")));
                }
                _ => {}
            }
        }
        if let (SpecKind::Device, Some(bus)) = (add, spec.bus) {
            // There is no machine here, hence no bus to plug into by name.
            return Err(Error::new(format!("Bus '{bus}' not found")));
        }
        let inst = instantiate(self, spec.kind, spec.json, ty, props)?;
        match (add, id) {
            // An object's id was required above.
            (SpecKind::Object, Some(id)) => self.add_object(inst, id),
            _ => self.realize(inst, id),
        }
    }
}

/// `device_add`/`object_add` of a spec that asks for help (`X,help`): QEMU
/// prints help only on the command line and in HMP; through the API the
/// error says which function gives that text.
fn help_through_api(kind: SpecKind, type_name: Option<&str>) -> Error {
    let (option, add) = match kind {
        SpecKind::Device => ("-device", "device_add"),
        SpecKind::Object => ("-object", "object_add"),
    };
    let hint = match (kind, type_name) {
        (SpecKind::Device, Some(t)) => format!(
            "For the text of `{option} {t},help`, call qomgen::introspect::device_help({t:?}, &Default::default())"
        ),
        (SpecKind::Object, Some(t)) => format!(
            "For the text of `{option} {t},help`, call qomgen::introspect::object_help({t:?}, &Default::default())"
        ),
        (SpecKind::Device, None) => format!(
            "For the text of `{option} help`, call qomgen::introspect::device_list_help(false)"
        ),
        (SpecKind::Object, None) => {
            format!("For the text of `{option} help`, call qomgen::introspect::object_list_help()")
        }
    };
    Error::new(format!("{add} creates; it does not print help")).with_hint(hint)
}
