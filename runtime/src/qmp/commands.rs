//! The QMP commands qomgen implements, each with QEMU's argument names,
//! reply shapes and error texts: the protocol's own (`qmp_capabilities`,
//! `query-version`, `query-commands`, `query-qmp-schema`, `quit`), QOM's
//! (`qom-list-types`, `device-list-properties`, `qom-list-properties`,
//! `qom-list`, `qom-get`, `qom-set`, `object-add`, `object-del`), qdev's
//! (`device_add`, `device_del`) and the descriptor commands (`getfd`,
//! `closefd`).
//!
//! Paths: there is no machine, so the composition tree is the containers
//! QEMU has whatever the machine (`/`, `/objects`, `/machine`,
//! `/machine/peripheral`, `/machine/peripheral-anon`) and the objects and
//! devices in them; a bare id is a partial path, as in QEMU.

use serde_json::{Map, Value, json};

use super::{Arg, ArgsCheck, Command, CommandCx, ErrorClass, QmpError, Rendered};
use crate::introspect::{self, ObjectPropertyInfo};
use crate::kind::Input;
use crate::spec::{Spec, SpecKind};
use crate::tree::{ObjRef, ObjectTree};

const fn arg(name: &'static str, ty: &'static str) -> Arg {
    Arg {
        name,
        ty,
        optional: false,
    }
}

const fn opt(name: &'static str, ty: &'static str) -> Arg {
    Arg {
        name,
        ty,
        optional: true,
    }
}

const fn cmd(
    name: &'static str,
    args: &'static [Arg],
    returns: Option<&'static str>,
    handler: super::Handler,
) -> Command {
    Command {
        name,
        args,
        check: ArgsCheck::Members,
        returns,
        features: &[],
        handler,
    }
}

/// Every command of a new [`Monitor`](super::Monitor), in the order
/// `query-commands` lists them.
pub static BUILTIN: [Command; 17] = [
    cmd(
        "qmp_capabilities",
        &[opt("enable", "[QMPCapability]")],
        None,
        qmp_capabilities,
    ),
    cmd("query-version", &[], Some("VersionInfo"), query_version),
    cmd("query-commands", &[], Some("[CommandInfo]"), query_commands),
    cmd(
        "query-qmp-schema",
        &[],
        Some("[SchemaInfo]"),
        query_qmp_schema,
    ),
    cmd(
        "qom-list-types",
        &[opt("implements", "str"), opt("abstract", "bool")],
        Some("[ObjectTypeInfo]"),
        qom_list_types,
    ),
    cmd(
        "device-list-properties",
        &[arg("typename", "str")],
        Some("[ObjectPropertyInfo]"),
        device_list_properties,
    ),
    cmd(
        "qom-list-properties",
        &[arg("typename", "str")],
        Some("[ObjectPropertyInfo]"),
        qom_list_properties,
    ),
    cmd(
        "qom-list",
        &[arg("path", "str")],
        Some("[ObjectPropertyInfo]"),
        qom_list,
    ),
    cmd(
        "qom-get",
        &[arg("path", "str"), arg("property", "str")],
        Some("any"),
        qom_get,
    ),
    cmd(
        "qom-set",
        &[
            arg("path", "str"),
            arg("property", "str"),
            arg("value", "any"),
        ],
        None,
        qom_set,
    ),
    Command {
        check: ArgsCheck::None,
        ..cmd("object-add", &[], None, object_add)
    },
    cmd("object-del", &[arg("id", "str")], None, object_del),
    Command {
        check: ArgsCheck::None,
        features: &["json-cli", "json-cli-hotplug"],
        ..cmd(
            "device_add",
            &[arg("driver", "str"), opt("bus", "str"), opt("id", "str")],
            None,
            device_add,
        )
    },
    cmd("device_del", &[arg("id", "str")], None, device_del),
    cmd("getfd", &[arg("fdname", "str")], None, getfd),
    cmd("closefd", &[arg("fdname", "str")], None, closefd),
    cmd("quit", &[], None, quit),
];

type Reply = Result<Value, QmpError>;

fn empty() -> Reply {
    Ok(json!({}))
}

fn str_arg<'a>(args: &'a Map<String, Value>, name: &str) -> &'a str {
    args.get(name).and_then(Value::as_str).unwrap_or_default()
}

fn qmp_capabilities(cx: &mut CommandCx<'_>, args: &Map<String, Value>) -> Reply {
    super::Monitor::negotiate(cx.state, args.get("enable"))?;
    empty()
}

fn query_version(_: &mut CommandCx<'_>, _: &Map<String, Value>) -> Reply {
    let (major, minor, micro) = super::QEMU_VERSION;
    Ok(json!({
        "qemu": {"major": major, "minor": minor, "micro": micro},
        "package": format!("qomgen {}", env!("CARGO_PKG_VERSION")),
    }))
}

fn query_commands(cx: &mut CommandCx<'_>, _: &Map<String, Value>) -> Reply {
    Ok(cx
        .commands()
        .into_iter()
        .map(|name| json!({"name": name}))
        .collect())
}

fn query_qmp_schema(cx: &mut CommandCx<'_>, _: &Map<String, Value>) -> Reply {
    Ok(super::schema::schema(cx.all_commands()))
}

fn to_value<T: serde::Serialize>(v: T) -> Reply {
    serde_json::to_value(v).map_err(|e| QmpError::generic(e.to_string()))
}

fn qom_list_types(_: &mut CommandCx<'_>, args: &Map<String, Value>) -> Reply {
    let implements = args.get("implements").and_then(Value::as_str);
    let abstract_ = args
        .get("abstract")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    to_value(introspect::qom_list_types(implements, abstract_))
}

fn qmp_properties(list: Vec<ObjectPropertyInfo>) -> Reply {
    to_value(
        list.iter()
            .map(ObjectPropertyInfo::to_qmp)
            .collect::<Vec<_>>(),
    )
}

thread_local! {
    /// `device-list-properties` replies by type name: a function of the
    /// static tables alone, and costly to render (computed defaults build
    /// an instance), so each type's is rendered once, value and text.
    static DEVICE_PROPERTIES: std::cell::RefCell<std::collections::HashMap<String, Rendered>> =
        std::cell::RefCell::default();
}

fn device_list_properties(cx: &mut CommandCx<'_>, args: &Map<String, Value>) -> Reply {
    let typename = str_arg(args, "typename");
    let cached = DEVICE_PROPERTIES.with(|c| c.borrow().get(typename).cloned());
    let r = match cached {
        Some(r) => r,
        None => {
            let r = Rendered::new(qmp_properties(introspect::device_list_properties(
                typename,
            )?)?);
            DEVICE_PROPERTIES.with(|c| c.borrow_mut().insert(typename.to_owned(), r.clone()));
            r
        }
    };
    cx.reply_rendered(r)
}

fn qom_list_properties(_: &mut CommandCx<'_>, args: &Map<String, Value>) -> Reply {
    qmp_properties(introspect::qom_list_properties(str_arg(args, "typename"))?)
}

/// A node of the composition tree.
enum Node {
    /// A container: its canonical path.
    Container(&'static str),
    /// An object or device, with its canonical path.
    Object(ObjRef, String),
}

const CONTAINERS: [&str; 5] = [
    "/",
    "/objects",
    "/machine",
    "/machine/peripheral",
    "/machine/peripheral-anon",
];

/// The children of a container: name, type and canonical path.
fn children(tree: &ObjectTree, container: &str) -> Vec<(String, String, Node)> {
    let child = |name: &str, ty: &str, node: Node| (name.to_owned(), ty.to_owned(), node);
    match container {
        "/" => vec![
            child("machine", "container", Node::Container("/machine")),
            child("objects", "container", Node::Container("/objects")),
        ],
        "/machine" => vec![
            child(
                "peripheral",
                "container",
                Node::Container("/machine/peripheral"),
            ),
            child(
                "peripheral-anon",
                "container",
                Node::Container("/machine/peripheral-anon"),
            ),
        ],
        "/objects" => tree
            .objects()
            .map(|(id, o)| {
                let path = format!("/objects/{id}");
                child(id, object_type(o), Node::Object(o.clone(), path))
            })
            .collect(),
        "/machine/peripheral" => tree
            .devices()
            .filter_map(|(id, o)| {
                let id = id?;
                let path = format!("/machine/peripheral/{id}");
                Some(child(id, object_type(o), Node::Object(o.clone(), path)))
            })
            .collect(),
        "/machine/peripheral-anon" => tree
            .devices()
            .filter(|(id, _)| id.is_none())
            .enumerate()
            .map(|(i, (_, o))| {
                let name = format!("device[{i}]");
                let path = format!("/machine/peripheral-anon/{name}");
                child(&name, object_type(o), Node::Object(o.clone(), path))
            })
            .collect(),
        _ => Vec::new(),
    }
}

fn object_type(o: &ObjRef) -> &'static str {
    o.try_borrow()
        .map(|o| o.type_info().name)
        .unwrap_or("object")
}

/// The canonical path of an object or device of the tree.
fn canonical_path(tree: &ObjectTree, obj: &ObjRef) -> Option<String> {
    [
        "/objects",
        "/machine/peripheral",
        "/machine/peripheral-anon",
    ]
    .into_iter()
    .flat_map(|c| children(tree, c))
    .find_map(|(_, _, n)| match n {
        Node::Object(o, path) if std::rc::Rc::ptr_eq(&o, obj) => Some(path),
        _ => None,
    })
}

/// `object_resolve_path`: an absolute path, or a partial one (a bare id).
fn resolve(tree: &ObjectTree, path: &str) -> Result<Node, QmpError> {
    let trimmed = if path.len() > 1 {
        path.trim_end_matches('/')
    } else {
        path
    };
    if let Some(c) = CONTAINERS.iter().find(|c| **c == trimmed) {
        return Ok(Node::Container(c));
    }
    if let Some((parent, name)) = trimmed.rsplit_once('/')
        && CONTAINERS.contains(&parent)
        && parent != "/"
    {
        return children(tree, parent)
            .into_iter()
            .find(|(n, _, _)| n == name)
            .map(|(_, _, node)| node)
            .ok_or_else(|| device_not_found(path));
    }
    if path.starts_with('/') {
        return Err(device_not_found(path));
    }
    // A partial path: the containers' names, or an id.
    let named: Vec<Node> = CONTAINERS
        .iter()
        .filter(|c| c.rsplit('/').next() == Some(path))
        .map(|c| Node::Container(c))
        .chain(
            [
                "/objects",
                "/machine/peripheral",
                "/machine/peripheral-anon",
            ]
            .into_iter()
            .flat_map(|c| children(tree, c))
            .filter(|(n, _, _)| n == path)
            .map(|(_, _, node)| node),
        )
        .collect();
    let mut named = named.into_iter();
    match (named.next(), named.next()) {
        (Some(n), None) => Ok(n),
        (Some(_), Some(_)) => Err(QmpError::generic(format!("Path '{path}' is ambiguous"))),
        (None, _) => Err(device_not_found(path)),
    }
}

fn device_not_found(path: &str) -> QmpError {
    QmpError::new(
        ErrorClass::DeviceNotFound,
        format!("Device '{path}' not found"),
    )
}

fn qom_list(cx: &mut CommandCx<'_>, args: &Map<String, Value>) -> Reply {
    let path = str_arg(args, "path");
    let mut list = vec![json!({"name": "type", "type": "string"})];
    match resolve(cx.tree, path)? {
        Node::Container(c) => {
            for (name, ty, _) in children(cx.tree, c) {
                list.push(json!({"name": name, "type": format!("child<{ty}>")}));
            }
        }
        Node::Object(o, _) => {
            let ty = o
                .try_borrow()
                .map(|o| o.type_info())
                .map_err(|_| QmpError::generic("object is busy"))?;
            list = introspect::qom_properties(ty)
                .map(|p| json!({"name": p.name, "type": p.type_name}))
                .collect();
        }
    }
    Ok(Value::Array(list))
}

fn property_not_found(ty: &str, name: &str) -> QmpError {
    QmpError::generic(format!("Property '{ty}.{name}' not found"))
}

fn qom_get(cx: &mut CommandCx<'_>, args: &Map<String, Value>) -> Reply {
    let path = str_arg(args, "path");
    let name = str_arg(args, "property");
    match resolve(cx.tree, path)? {
        Node::Container(c) => {
            if name == "type" {
                return Ok("container".into());
            }
            children(cx.tree, c)
                .into_iter()
                .find(|(n, _, _)| n == name)
                .map(|(_, _, node)| match node {
                    Node::Container(p) => p.to_owned().into(),
                    Node::Object(_, p) => p.into(),
                })
                .ok_or_else(|| property_not_found("container", name))
        }
        Node::Object(o, _) => {
            let is_device = cx.tree.devices().any(|(_, d)| std::rc::Rc::ptr_eq(d, &o));
            let hotplugged = cx.is_hotplugged(&o);
            let obj = o
                .try_borrow()
                .map_err(|_| QmpError::generic("object is busy"))?;
            let ty = obj.type_info();
            match name {
                "type" => return Ok(ty.name.into()),
                "realized" if is_device => return Ok(true.into()),
                "hotplugged" if is_device => return Ok(hotplugged.into()),
                "hotpluggable" if is_device => {
                    return Ok(ty.device_meta().is_some_and(|m| m.hotpluggable).into());
                }
                // No machine, hence no bus: QEMU's getter of an unset link.
                "parent_bus" if is_device => return Ok("".into()),
                _ => {}
            }
            let v = ObjectTree::get(&**obj, name)?;
            // A link's value is the path it was set with; QEMU's getter
            // gives the target's canonical path.
            let link = ty
                .properties()
                .find(|p| p.name == name)
                .and_then(|p| p.link_target(&**obj).cloned());
            drop(obj);
            if let Some(target) = link
                && let Some(p) = canonical_path(cx.tree, &target)
            {
                return Ok(p.into());
            }
            Ok(v)
        }
    }
}

fn qom_set(cx: &mut CommandCx<'_>, args: &Map<String, Value>) -> Reply {
    let path = str_arg(args, "path");
    let name = str_arg(args, "property");
    let value = args.get("value").unwrap_or(&Value::Null);
    match resolve(cx.tree, path)? {
        Node::Container(_) => {
            if name == "type" {
                Err(QmpError::generic(format!(
                    "Property 'container.{name}' is not writable"
                )))
            } else {
                Err(property_not_found("container", name))
            }
        }
        Node::Object(o, _) => {
            let ty = o
                .try_borrow()
                .map(|o| o.type_info())
                .map_err(|_| QmpError::generic("object is busy"))?;
            if let Some(p) = introspect::implicit_properties(ty).find(|p| p.name == name) {
                return Err(QmpError::generic(format!(
                    "Property '{}.{}' is not writable",
                    ty.name, p.name
                )));
            }
            cx.tree.set_property(&o, name, Input::Json(value))?;
            empty()
        }
    }
}

fn object_add(cx: &mut CommandCx<'_>, args: &Map<String, Value>) -> Reply {
    let spec = Spec::from_json_map(SpecKind::Object, args.clone())?;
    cx.tree.object_add_qmp(&spec)?;
    empty()
}

fn object_del(cx: &mut CommandCx<'_>, args: &Map<String, Value>) -> Reply {
    cx.tree.del_object(str_arg(args, "id"))?;
    empty()
}

fn device_add(cx: &mut CommandCx<'_>, args: &Map<String, Value>) -> Reply {
    let spec = Spec::from_json_map(SpecKind::Device, args.clone())?;
    // Devices added now are hot-plugged: a type that cannot be is
    // refused (QEMU's `device_set_realized`).
    if let Ok(ty) = spec.resolve_type()
        && ty.device_meta().is_some_and(|m| !m.hotpluggable)
    {
        return Err(QmpError::generic(format!(
            "Device '{}' does not support hotplugging",
            ty.name
        )));
    }
    let res = cx.tree.device_add_spec(&spec);
    for w in cx.tree.take_warnings() {
        // QMP has no warning channel; QEMU reports them on stderr.
        eprintln!("qomgen: warning: {}", w.message());
    }
    let dev = res?;
    cx.mark_hotplugged(&dev);
    empty()
}

fn device_del(cx: &mut CommandCx<'_>, args: &Map<String, Value>) -> Reply {
    let id = str_arg(args, "id");
    // `find_device_state`: the id, or a path, under /machine/peripheral.
    let found = if id.starts_with('/') {
        match resolve(cx.tree, id) {
            Ok(Node::Object(o, path)) => Some((o, path)),
            Ok(Node::Container(_)) => {
                return Err(QmpError::generic(format!("{id} is not a device")));
            }
            Err(_) => None,
        }
    } else {
        cx.tree
            .device(id)
            .map(|d| (d.clone(), format!("/machine/peripheral/{id}")))
    };
    let Some((dev, path)) = found else {
        return Err(device_not_found(id));
    };
    let dev_id = cx
        .tree
        .devices()
        .find(|(_, d)| std::rc::Rc::ptr_eq(d, &dev))
        .map(|(i, _)| i.map(str::to_owned));
    let Some(dev_id) = dev_id else {
        return Err(QmpError::generic(format!("{id} is not a device")));
    };
    let ty = object_type(&dev);
    let hotpluggable = crate::registry()
        .get(ty)
        .and_then(|e| e.info.device_meta())
        .is_some_and(|m| m.hotpluggable);
    if !hotpluggable {
        return Err(QmpError::generic(format!(
            "Device '{ty}' does not support hotplugging"
        )));
    }
    cx.tree.del_device_ref(&dev)?;
    let mut data = Map::new();
    if let Some(i) = dev_id {
        data.insert("device".into(), i.into());
    }
    data.insert("path".into(), path.into());
    cx.emit_event("DEVICE_DELETED", Some(Value::Object(data)));
    empty()
}

fn getfd(cx: &mut CommandCx<'_>, args: &Map<String, Value>) -> Reply {
    let name = str_arg(args, "fdname");
    let fd = cx
        .take_received_fd()
        .ok_or_else(|| QmpError::generic("No file descriptor supplied via SCM_RIGHTS"))?;
    if name.starts_with(|c: char| c.is_ascii_digit()) {
        drop(fd);
        return Err(QmpError::generic(
            "Parameter 'fdname' expects a name not starting with a digit",
        ));
    }
    cx.fds().add(name, fd);
    empty()
}

fn closefd(cx: &mut CommandCx<'_>, args: &Map<String, Value>) -> Reply {
    let name = str_arg(args, "fdname");
    if cx.fds().close(name) {
        empty()
    } else {
        Err(QmpError::generic(format!(
            "File descriptor named '{name}' not found"
        )))
    }
}

fn quit(cx: &mut CommandCx<'_>, _: &Map<String, Value>) -> Reply {
    cx.emit_event(
        "SHUTDOWN",
        Some(json!({"guest": false, "reason": "host-qmp-quit"})),
    );
    cx.request_quit();
    empty()
}
