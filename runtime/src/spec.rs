//! `-device` and `-object` option strings: keyval/QemuOpts or JSON, turned
//! into instances with QEMU's checks and error texts.

use serde_json::Value;

use crate::error::{Error, Result, with_suggestion};
use crate::kind::Input;
use crate::opts::qemu_opts;
use crate::registry::registry;
use crate::tree::{Instance, ObjRef, ObjectTree, find_property, object_creatable};
use crate::types::TypeInfo;

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
        if s.starts_with('{') {
            return Self::parse_json(kind, s);
        }
        let opts = qemu_opts::parse(s, kind.type_key())?;
        let mut spec = Spec {
            kind,
            type_name: opts.implied,
            id: opts.id,
            bus: None,
            props: Vec::with_capacity(opts.items.len()),
            help: opts.help,
            warnings: opts.warnings,
            json: false,
        };
        for (k, v) in opts.items {
            match k.as_str() {
                // QemuOpts decides which `id` counts (the first, found its own way).
                "id" => {}
                "bus" if kind == SpecKind::Device => spec.bus = Some(v),
                k if k == kind.type_key() => spec.type_name = Some(v),
                _ => spec.push(k, SpecValue::Str(v)),
            }
        }
        Ok(spec)
    }

    fn parse_json(kind: SpecKind, s: &str) -> Result<Spec> {
        let v: Value =
            serde_json::from_str(s).map_err(|e| Error::new(format!("JSON parse error, {e}")))?;
        let Value::Object(map) = v else {
            return Err(Error::invalid_parameter_type("<anonymous>", "object"));
        };
        let mut spec = Spec {
            kind,
            type_name: None,
            id: None,
            bus: None,
            props: Vec::with_capacity(map.len()),
            help: false,
            warnings: Vec::new(),
            json: true,
        };
        for (k, v) in map {
            let string = |v: Value| match v {
                Value::String(s) => Ok(s),
                _ => Err(Error::invalid_parameter_type(&k, "string")),
            };
            match k.as_str() {
                "id" => spec.id = Some(string(v)?),
                "bus" if kind == SpecKind::Device => spec.bus = Some(string(v)?),
                t if t == kind.type_key() => spec.type_name = Some(string(v)?),
                _ => spec.push(k, SpecValue::Json(v)),
            }
        }
        Ok(spec)
    }

    /// Adds a property; a key given again keeps its place and takes the new value.
    fn push(&mut self, k: String, v: SpecValue) {
        match self.props.iter_mut().find(|(key, _)| *key == k) {
            Some(slot) => slot.1 = v,
            None => self.props.push((k, v)),
        }
    }

    /// Looks up the spec's type and applies QEMU's checks for the option.
    ///
    /// # Errors
    /// Missing, unknown, abstract or not creatable type, with QEMU's texts.
    pub fn resolve_type(&self) -> Result<&'static TypeInfo> {
        let key = self.kind.type_key();
        let name = self
            .type_name
            .as_deref()
            .ok_or_else(|| Error::missing_parameter(key))?;
        let reg = registry();
        match self.kind {
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
                if !ty.device_meta().is_some_and(|m| m.user_creatable) {
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

    /// Creates the instance and sets every property, in command-line order
    /// (QEMU uses hash order; a deterministic order is a deliberate difference).
    ///
    /// # Errors
    /// The first failing check or property.
    pub fn instantiate(&self, tree: &ObjectTree) -> Result<Instance> {
        let ty = self.resolve_type()?;
        let mut inst = tree.instantiate(ty.name)?;
        for (k, v) in &self.props {
            if self.kind == SpecKind::Object && find_property(ty, k).is_err() {
                // QEMU validates -object keys against the QAPI schema first.
                let e = if self.json {
                    Error::new(format!("Parameter '{k}' is unexpected"))
                } else {
                    Error::new(format!("Invalid parameter '{k}'"))
                };
                return Err(with_suggestion(
                    e,
                    k,
                    ty.properties().filter(|p| p.set.is_some()).map(|p| p.name),
                ));
            }
            tree.set(&mut inst, k, v.as_input())?;
        }
        Ok(inst)
    }
}

impl ObjectTree {
    /// `-device SPEC`: parses, creates, sets, realizes and adds the device.
    /// A help request is an error here; callers that print help check
    /// [`Spec::help`] first.
    ///
    /// # Errors
    /// Any failure; nothing is added then.
    pub fn device_add(&mut self, spec: &str) -> Result<ObjRef> {
        let spec = Spec::parse(SpecKind::Device, spec)?;
        self.device_add_spec(&spec)
    }

    /// [`ObjectTree::device_add`] for an already parsed spec.
    ///
    /// # Errors
    /// Any failure; nothing is added then.
    pub fn device_add_spec(&mut self, spec: &Spec) -> Result<ObjRef> {
        if spec.help {
            return Err(Error::new("Help is not available for this option"));
        }
        spec.resolve_type()?;
        if let Some(id) = &spec.id {
            if !crate::opts::qemu_opts::id_wellformed(id) {
                return Err(Error::bad_id());
            }
            if self.device(id).is_some() {
                return Err(Error::new(format!("Duplicate ID '{id}' for device")));
            }
        }
        if let Some(bus) = &spec.bus {
            // There is no machine here, hence no bus to plug into by name.
            return Err(Error::new(format!("Bus '{bus}' not found")));
        }
        let inst = spec.instantiate(self)?;
        self.realize(inst, spec.id.as_deref())
    }

    /// `-object SPEC`: parses, creates, sets, completes and adds the object.
    ///
    /// # Errors
    /// Any failure; nothing is added then.
    pub fn object_add(&mut self, spec: &str) -> Result<ObjRef> {
        let spec = Spec::parse(SpecKind::Object, spec)?;
        self.object_add_spec(&spec)
    }

    /// [`ObjectTree::object_add`] for an already parsed spec.
    ///
    /// # Errors
    /// Any failure; nothing is added then.
    pub fn object_add_spec(&mut self, spec: &Spec) -> Result<ObjRef> {
        if spec.help {
            return Err(Error::new("Help is not available for this option"));
        }
        spec.resolve_type()?;
        let id = spec
            .id
            .as_deref()
            .ok_or_else(|| Error::missing_parameter("id"))?;
        if !crate::opts::qemu_opts::id_wellformed(id) {
            return Err(Error::bad_id());
        }
        if self.object(id).is_some() {
            return Err(Error::new(format!("Duplicate ID '{id}' for object")));
        }
        let inst = spec.instantiate(self)?;
        self.add_object(inst, id)
    }
}
