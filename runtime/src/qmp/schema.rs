//! `query-qmp-schema`: the commands, events and types of this monitor in
//! QEMU's `SchemaInfo` format (`qapi/introspect.json`), as QEMU's
//! `scripts/qapi/introspect.py` generates it: types other than the
//! built-in ones are named by number (`"0"` is the empty object of a
//! command without arguments or return value), optional members carry
//! `"default": null`, arrays are named `[ELEMENT]`.
//!
//! `object-add`'s argument type is generated from the registry: the union
//! `ObjectOptions` on `qom-type`, with a branch per user-creatable object
//! type listing its settable properties, all optional, so a management
//! tool's question "does `object-add` know `iommufd`?" finds the
//! `iommufd` value of `qom-type` and its branch `{'*fd': 'str'}`, as it
//! does in QEMU.
//!
//! ```
//! use qomgen::qmp::{commands, schema};
//!
//! let s = schema::schema(&commands::BUILTIN);
//! let all = s.as_array().unwrap();
//! let by_name = |n: &str| all.iter().find(|e| e["name"] == n).unwrap();
//! let add = by_name("object-add");
//! let opts = by_name(add["arg-type"].as_str().unwrap());
//! assert_eq!(opts["tag"], "qom-type");
//! ```

use std::collections::HashMap;

use serde_json::{Map, Value, json};

use super::Command;
use crate::registry::registry;
use crate::tree::object_creatable;

/// The values of one of the enumerations below (for argument checks).
pub fn enum_values(name: &str) -> Vec<&'static str> {
    match name {
        "QMPCapability" => vec!["oob"],
        _ => Vec::new(),
    }
}

/// The types the commands and events refer to, in QAPI's own syntax
/// (`qapi/control.json`, `qapi/qom.json`, `qapi/introspect.json`,
/// `qapi/run-state.json`, `qapi/qdev.json`).
fn definitions() -> Vec<Value> {
    vec![
        json!({"enum": "QMPCapability", "data": ["oob"]}),
        json!({"struct": "VersionTriple", "data": {"major": "int", "minor": "int", "micro": "int"}}),
        json!({"struct": "VersionInfo", "data": {"qemu": "VersionTriple", "package": "str"}}),
        json!({"struct": "CommandInfo", "data": {"name": "str"}}),
        json!({"struct": "ObjectTypeInfo", "data": {"name": "str", "*abstract": "bool", "*parent": "str"}}),
        json!({"struct": "ObjectPropertyInfo", "data": {"name": "str", "type": "str", "*description": "str", "*default-value": "any"}}),
        json!({"enum": "ShutdownCause", "data": ["none", "host-error", "host-qmp-quit", "host-qmp-system-reset", "host-signal", "host-ui", "guest-shutdown", "guest-reset", "guest-panic", "subsystem-reset", "snapshot-load"]}),
        json!({"enum": "SchemaMetaType", "data": ["builtin", "enum", "array", "object", "alternate", "command", "event"]}),
        json!({"enum": "JSONType", "data": ["string", "number", "int", "boolean", "null", "object", "array", "value"]}),
        json!({"union": "SchemaInfo",
               "base": {"name": "str", "meta-type": "SchemaMetaType", "*features": ["str"]},
               "discriminator": "meta-type",
               "data": {"builtin": "SchemaInfoBuiltin", "enum": "SchemaInfoEnum", "array": "SchemaInfoArray",
                        "object": "SchemaInfoObject", "alternate": "SchemaInfoAlternate",
                        "command": "SchemaInfoCommand", "event": "SchemaInfoEvent"}}),
        json!({"struct": "SchemaInfoBuiltin", "data": {"json-type": "JSONType"}}),
        json!({"struct": "SchemaInfoEnum", "data": {"members": ["SchemaInfoEnumMember"], "values": ["str"]}}),
        json!({"struct": "SchemaInfoEnumMember", "data": {"name": "str", "*features": ["str"]}}),
        json!({"struct": "SchemaInfoArray", "data": {"element-type": "str"}}),
        json!({"struct": "SchemaInfoObject", "data": {"members": ["SchemaInfoObjectMember"], "*tag": "str", "*variants": ["SchemaInfoObjectVariant"]}}),
        json!({"struct": "SchemaInfoObjectMember", "data": {"name": "str", "type": "str", "*default": "any", "*features": ["str"]}}),
        json!({"struct": "SchemaInfoObjectVariant", "data": {"case": "str", "type": "str"}}),
        json!({"struct": "SchemaInfoAlternate", "data": {"members": ["SchemaInfoAlternateMember"]}}),
        json!({"struct": "SchemaInfoAlternateMember", "data": {"type": "str"}}),
        json!({"struct": "SchemaInfoCommand", "data": {"arg-type": "str", "ret-type": "str", "*allow-oob": "bool"}}),
        json!({"struct": "SchemaInfoEvent", "data": {"arg-type": "str"}}),
    ]
}

/// The events the monitor sends, with their data.
fn events() -> Vec<(&'static str, Value)> {
    vec![
        (
            "SHUTDOWN",
            json!({"guest": "bool", "reason": "ShutdownCause"}),
        ),
        ("DEVICE_DELETED", json!({"*device": "str", "path": "str"})),
    ]
}

/// The QAPI type of a QOM property type, for `object-add`'s branches.
fn qapi_type(qom: &str) -> &'static str {
    match qom {
        "bool" => "bool",
        "uint8" => "uint8",
        "uint16" => "uint16",
        "uint32" => "uint32",
        "uint64" => "uint64",
        "int8" => "int8",
        "int16" => "int16",
        "int32" => "int32",
        "int64" => "int64",
        "size" => "size",
        "number" | "double" => "number",
        // Strings, links (a path) and anything with a string form.
        _ => "str",
    }
}

/// `ObjectType` and `ObjectOptions` from the registry: a branch per
/// user-creatable object type, named `<type>-properties`.
fn object_options() -> Vec<Value> {
    let mut types: Vec<_> = registry()
        .types()
        .iter()
        .filter(|t| object_creatable(t) && !t.abstract_)
        .collect();
    types.sort_by_key(|t| t.name);
    let mut defs = vec![
        json!({"enum": "ObjectType", "data": types.iter().map(|t| t.name).collect::<Vec<_>>()}),
    ];
    let mut branches = Map::new();
    for t in types {
        let name = format!("{}-properties", t.name);
        let mut data = Map::new();
        for p in t.properties().filter(|p| p.writable) {
            data.insert(format!("*{}", p.name), qapi_type(p.type_name).into());
        }
        defs.push(json!({"struct": name, "data": data}));
        branches.insert(t.name.to_owned(), name.into());
    }
    defs.push(json!({"union": "ObjectOptions",
                     "base": {"qom-type": "ObjectType", "id": "str"},
                     "discriminator": "qom-type",
                     "data": branches}));
    defs
}

fn json_type(builtin: &str) -> Option<&'static str> {
    Some(match builtin {
        "str" => "string",
        "number" => "number",
        "int" | "int8" | "int16" | "int32" | "int64" | "uint8" | "uint16" | "uint32" | "uint64"
        | "size" => "int",
        "bool" => "boolean",
        "null" => "null",
        "any" => "value",
        _ => return None,
    })
}

struct Gen {
    defs: HashMap<String, Value>,
    names: HashMap<String, String>,
    /// Names given so far (QEMU numbers types in the order it meets them).
    masked: usize,
    out: Vec<Value>,
}

impl Gen {
    /// The schema name of `ty` (a QAPI type expression: a name or `[T]`),
    /// emitting its entity the first time.
    fn use_type(&mut self, ty: &Value) -> String {
        if let Some(a) = ty.as_array() {
            let elem = self.use_type(a.first().unwrap_or(&Value::Null));
            let name = format!("[{elem}]");
            if !self.names.contains_key(&name) {
                self.names.insert(name.clone(), name.clone());
                self.out
                    .push(json!({"name": name, "meta-type": "array", "element-type": elem}));
            }
            return name;
        }
        if let Some(obj) = ty.as_object() {
            // An implicit (anonymous) struct.
            return self.object(None, obj, None);
        }
        let t = ty.as_str().unwrap_or("any");
        if let Some(inner) = t.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
            return self.use_type(&json!([inner]));
        }
        if let Some(j) = json_type(t) {
            if !self.names.contains_key(t) {
                self.names.insert(t.into(), t.into());
                self.out
                    .push(json!({"name": t, "meta-type": "builtin", "json-type": j}));
            }
            return t.into();
        }
        if let Some(n) = self.names.get(t) {
            return n.clone();
        }
        let Some(def) = self.defs.get(t).cloned() else {
            return self.use_type(&json!("any"));
        };
        if let Some(values) = def
            .get("enum")
            .and(def.get("data"))
            .and_then(Value::as_array)
        {
            let name = self.mask(t);
            let members: Vec<Value> = values.iter().map(|v| json!({"name": v})).collect();
            self.out.push(
                json!({"name": name, "meta-type": "enum", "members": members, "values": values}),
            );
            return name;
        }
        let data = def
            .get("data")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        if def.get("union").is_some() {
            let base = def
                .get("base")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            let tag = def
                .get("discriminator")
                .and_then(Value::as_str)
                .unwrap_or_default();
            return self.object(Some(t), &base, Some((tag, &data)));
        }
        self.object(Some(t), &data, None)
    }

    fn mask(&mut self, qapi_name: &str) -> String {
        let masked = self.masked.to_string();
        self.masked += 1;
        self.names.insert(qapi_name.to_owned(), masked.clone());
        masked
    }

    /// An object type: members (`*name` optional), and for a union the
    /// tag and its variants.
    fn object(
        &mut self,
        name: Option<&str>,
        members: &Map<String, Value>,
        variants: Option<(&str, &Map<String, Value>)>,
    ) -> String {
        let key = name.map_or_else(
            || {
                format!(
                    "q_obj_{}",
                    serde_json::to_string(members).unwrap_or_default()
                )
            },
            str::to_owned,
        );
        if let Some(n) = self.names.get(&key) {
            return n.clone();
        }
        let masked = self.mask(&key);
        let slot = self.out.len();
        self.out.push(Value::Null);
        let mut ms = Vec::new();
        for (m, ty) in members {
            let (m, optional) = match m.strip_prefix('*') {
                Some(m) => (m, true),
                None => (m.as_str(), false),
            };
            let t = self.use_type(ty);
            let mut e = Map::new();
            e.insert("name".into(), m.into());
            if optional {
                e.insert("default".into(), Value::Null);
            }
            e.insert("type".into(), t.into());
            ms.push(Value::Object(e));
        }
        let mut e = Map::new();
        e.insert("name".into(), masked.clone().into());
        if let Some((tag, cases)) = variants {
            e.insert("tag".into(), tag.into());
            let vs: Vec<Value> = cases
                .iter()
                .map(|(case, ty)| json!({"case": case, "type": self.use_type(ty)}))
                .collect();
            e.insert("variants".into(), vs.into());
        }
        e.insert("members".into(), ms.into());
        e.insert("meta-type".into(), "object".into());
        if let Some(s) = self.out.get_mut(slot) {
            *s = Value::Object(e);
        }
        masked
    }
}

/// The `query-qmp-schema` reply for a monitor with `commands`.
pub fn schema(commands: &[Command]) -> Value {
    let mut defs = definitions();
    defs.extend(object_options());
    let defs = defs
        .into_iter()
        .filter_map(|d| {
            let name = ["enum", "struct", "union"]
                .iter()
                .find_map(|k| d.get(*k).and_then(Value::as_str))?
                .to_owned();
            Some((name, d))
        })
        .collect();
    let mut g = Gen {
        defs,
        names: HashMap::new(),
        masked: 0,
        out: Vec::new(),
    };
    // "0": the empty object, the arguments and return value of commands
    // that have none.
    let empty = g.object(Some("q_empty"), &Map::new(), None);
    let mut entities = Vec::new();
    for c in commands {
        let arg_type = if c.name == "object-add" {
            g.use_type(&json!("ObjectOptions"))
        } else if c.args.is_empty() {
            empty.clone()
        } else {
            let mut m = Map::new();
            for a in c.args {
                let key = if a.optional {
                    format!("*{}", a.name)
                } else {
                    a.name.to_owned()
                };
                m.insert(key, a.ty.into());
            }
            g.object(Some(&format!("q_obj_{}-arg", c.name)), &m, None)
        };
        let ret_type = match c.returns {
            Some(r) => g.use_type(&Value::from(r)),
            None => empty.clone(),
        };
        let mut e = Map::new();
        e.insert("name".into(), c.name.into());
        e.insert("ret-type".into(), ret_type.into());
        e.insert("meta-type".into(), "command".into());
        e.insert("arg-type".into(), arg_type.into());
        if !c.features.is_empty() {
            e.insert("features".into(), c.features.into());
        }
        entities.push(Value::Object(e));
    }
    for (name, data) in events() {
        let data = data.as_object().cloned().unwrap_or_default();
        let arg = g.object(Some(&format!("q_obj_{name}-arg")), &data, None);
        entities.push(json!({"name": name, "meta-type": "event", "arg-type": arg}));
    }
    entities.extend(g.out);
    Value::Array(entities)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::qmp::commands::BUILTIN;

    fn lookup<'a>(all: &'a [Value], name: &str) -> &'a Value {
        all.iter()
            .find(|e| e["name"] == name)
            .unwrap_or_else(|| panic!("{name} not in the schema"))
    }

    #[test]
    fn commands_and_shapes_as_qemus() {
        let s = schema(&BUILTIN);
        let all = s.as_array().unwrap();
        let v = lookup(all, "query-version");
        assert_eq!(v["arg-type"], "0");
        assert_eq!(
            lookup(all, "0"),
            &json!({"name": "0", "members": [], "meta-type": "object"})
        );
        assert_eq!(lookup(all, "quit")["ret-type"], "0");
        assert_eq!(lookup(all, "qom-get")["ret-type"], "any");
        assert_eq!(
            lookup(all, "any"),
            &json!({"name": "any", "meta-type": "builtin", "json-type": "value"})
        );
        let dev_add = lookup(all, "device_add");
        assert_eq!(dev_add["features"], json!(["json-cli", "json-cli-hotplug"]));
        assert_eq!(
            lookup(all, dev_add["arg-type"].as_str().unwrap())["members"],
            json!([{"name": "driver", "type": "str"},
                   {"name": "bus", "default": null, "type": "str"},
                   {"name": "id", "default": null, "type": "str"}])
        );
        let schema_ret = lookup(all, "query-qmp-schema")["ret-type"]
            .as_str()
            .unwrap();
        let info = lookup(
            all,
            lookup(all, schema_ret)["element-type"].as_str().unwrap(),
        );
        assert_eq!(info["tag"], "meta-type");
        for c in &BUILTIN {
            lookup(all, c.name);
        }
        lookup(all, "DEVICE_DELETED");
        // Every name an entity refers to is defined.
        for e in all {
            for key in ["arg-type", "ret-type", "element-type"] {
                if let Some(t) = e.get(key).and_then(Value::as_str) {
                    lookup(all, t);
                }
            }
            for m in e
                .get("members")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(t) = m.get("type").and_then(Value::as_str) {
                    lookup(all, t);
                }
            }
        }
    }
}
