//! Inputs at the edges of what the derive accepts: raw identifiers, paths
//! through `Self`, user items named like the generated code's locals. Each
//! case once failed to compile or misbehaved. The types live in this test
//! binary only, so the registry-wide snapshots do not see them.

use qomgen::{Device, DeviceImpl, Input, Link, Object, ObjectImpl, ObjectTree};
use serde_json::json;

/// The names `qom-list-properties` lists for `type_name`.
fn property_names(type_name: &str) -> Vec<String> {
    qomgen::introspect::qom_list_properties(type_name)
        .unwrap()
        .iter()
        .map(|p| p.name.clone())
        .collect()
}

/// A field whose name is a keyword, written as a raw identifier.
#[derive(Device, Debug, Default)]
#[device(name = "edge-raw", category = Misc)]
struct Raw {
    #[prop(default = 3)]
    r#loop: u32,
    #[prop]
    r#move_to: bool,
}
impl DeviceImpl for Raw {}

#[test]
fn a_raw_field_name_is_the_property_name_without_r_hash() {
    let names = property_names("edge-raw");
    assert_eq!(
        names,
        [
            "type",
            "realized",
            "hotpluggable",
            "hotplugged",
            "parent_bus",
            "loop",
            "move-to"
        ]
    );
    let tree = ObjectTree::new();
    let mut inst = tree.instantiate("edge-raw").unwrap();
    assert_eq!(ObjectTree::get(inst.object(), "loop").unwrap(), json!(3));
    tree.set(&mut inst, "loop", Input::Str("9")).unwrap();
    tree.set(&mut inst, "move-to", Input::Str("on")).unwrap();
    assert_eq!(ObjectTree::get(inst.object(), "loop").unwrap(), json!(9));
    assert_eq!(
        ObjectTree::get(inst.object(), "move-to").unwrap(),
        json!(true)
    );
}

/// Setters named like the generated accessors' locals and parameters: the
/// generated code must not shadow them.
#[derive(Device, Debug, Default)]
#[device(name = "edge-shadow", category = Misc)]
struct Shadow {
    #[prop(write_only, setter = v)]
    a: String,
    #[prop(write_only, setter = value)]
    b: String,
    #[prop(write_only, setter = this)]
    c: String,
    #[prop(write_only, setter = cx)]
    d: String,
    #[prop(write_only, setter = obj)]
    e: String,
    #[prop(write_only, setter = index)]
    g: String,
    #[prop(write_only, setter = f)]
    h: String,
    #[prop(default = 5)]
    slot: u32,
}
impl DeviceImpl for Shadow {}

/// Setters named like the generated code's locals, each recording
/// `"<its name>:<value>"` in its field.
macro_rules! recording_setters {
    ($($name:ident => $field:ident),*) => {$(
        fn $name(s: &mut Shadow, x: &str) -> qomgen::Result<()> {
            s.$field = format!(concat!(stringify!($name), ":{}"), x);
            Ok(())
        }
    )*};
}

recording_setters!(v => a, value => b, this => c, cx => d, obj => e, index => g, f => h);

#[test]
fn setters_named_like_generated_locals_are_called() {
    let tree = ObjectTree::new();
    let mut inst = tree.instantiate("edge-shadow").unwrap();
    for name in ["a", "b", "c", "d", "e", "g", "h"] {
        tree.set(&mut inst, name, Input::Str("1")).unwrap();
    }
    let s = inst.object().downcast_ref::<Shadow>().unwrap();
    assert_eq!(
        [&s.a, &s.b, &s.c, &s.d, &s.e, &s.g, &s.h],
        [
            "v:1", "value:1", "this:1", "cx:1", "obj:1", "index:1", "f:1"
        ]
    );
    assert_eq!(ObjectTree::get(inst.object(), "slot").unwrap(), json!(5));
}

/// `Self` in a setter path and in a field type.
#[derive(Device, Debug, Default)]
#[device(name = "edge-self", category = Misc)]
struct SelfRef {
    #[prop(link = "edge-self")]
    peer: Option<Link<Self>>,
    #[prop(write_only, setter = Self::set_fd)]
    fd: String,
    #[prop(default = 2)]
    count: <Self as HasCount>::Count,
}
impl DeviceImpl for SelfRef {}

trait HasCount {
    type Count;
}
impl HasCount for SelfRef {
    type Count = u32;
}

impl SelfRef {
    fn set_fd(&mut self, v: &str) -> qomgen::Result<()> {
        self.fd = format!("fd:{v}");
        Ok(())
    }
}

#[test]
fn self_in_a_setter_path_and_a_field_type_is_the_struct() {
    let types: Vec<_> = qomgen::introspect::qom_list_properties("edge-self")
        .unwrap()
        .iter()
        .skip(5)
        .map(|p| format!("{}: {}", p.name, p.type_))
        .collect();
    assert_eq!(
        types,
        ["peer: link<edge-self>", "fd: string", "count: uint32"]
    );
    let mut tree = ObjectTree::new();
    tree.device_add("edge-self,id=a").unwrap();
    let b = tree.device_add("edge-self,id=b,peer=a,fd=3").unwrap();
    assert_eq!(ObjectTree::get(&**b.borrow(), "count").unwrap(), json!(2));
    let b = b.borrow();
    let b = b.downcast_ref::<SelfRef>().unwrap();
    assert_eq!(b.fd, "fd:3");
    assert!(std::rc::Rc::ptr_eq(
        b.peer.as_ref().unwrap().object().unwrap(),
        tree.device("a").unwrap()
    ));
}

/// A device's implicit names are free for an object: QOM's `object` class
/// has only `type`.
#[derive(Object, Debug, Default)]
#[object(name = "edge-object-names")]
struct ObjectNames {
    #[prop]
    realized: bool,
    #[prop]
    legacy_mode: u32,
}
impl ObjectImpl for ObjectNames {}

#[test]
fn an_object_may_use_names_only_devices_reserve() {
    let names = property_names("edge-object-names");
    assert_eq!(names, ["type", "realized", "legacy-mode"]);
    let help = qomgen::introspect::object_help("edge-object-names", &Default::default()).unwrap();
    assert_eq!(
        help,
        "edge-object-names options:\n  legacy-mode=<uint32>\n  realized=<bool>        - on/off\n"
    );
}

#[test]
fn a_setter_property_is_a_write_only_string() {
    let props = qomgen::introspect::qom_list_properties("edge-shadow").unwrap();
    let h = props.iter().find(|p| p.name == "h").unwrap();
    assert_eq!(h.type_, "string");
    let tree = ObjectTree::new();
    let mut inst = tree.instantiate("edge-shadow").unwrap();
    tree.set(&mut inst, "h", Input::Json(&json!("7"))).unwrap();
    let err = tree
        .set(&mut inst, "h", Input::Json(&json!(7)))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "Invalid parameter type for 'h', expected: string"
    );
    assert_eq!(inst.object().downcast_ref::<Shadow>().unwrap().h, "f:7");
}

/** A device documented
 * with a block comment.
 *
 * Second paragraph.
 */
#[derive(Device, Debug, Default)]
#[device(name = "edge-docs", category = Misc)]
#[doc = include_str!("edge_cases.rs")]
struct Docs {
    /** block doc
     * second line */
    #[prop]
    block: u32,
    /// * a line doc's star is text
    #[prop]
    star: u32,
    #[doc = concat!("generated ", "doc")]
    #[prop(desc = "explicit")]
    generated: u32,
    /// first paragraph
    ///
    #[doc = concat!("a second paragraph ", "is not read")]
    #[prop]
    later: u32,
}
impl DeviceImpl for Docs {}

#[test]
fn block_docs_read_as_rustdoc_reads_them() {
    let descs: Vec<_> = qomgen::introspect::device_list_properties("edge-docs")
        .unwrap()
        .iter()
        .map(|p| format!("{}: {:?}", p.name, p.description))
        .collect();
    assert_eq!(
        descs,
        [
            r#"block: Some("block doc second line")"#,
            r#"star: Some("* a line doc's star is text")"#,
            r#"generated: Some("explicit")"#,
            r#"later: Some("first paragraph")"#,
        ]
    );
    let ty = qomgen::registry().get("edge-docs").unwrap().info;
    assert_eq!(
        ty.description,
        Some("A device documented with a block comment.")
    );
}

/// Every flag takes an optional `= true` / `= false`.
#[derive(Device, Debug, Default)]
#[device(name = "edge-flags", category = Misc, abstract = false, no_desc = true)]
struct Flags {
    #[prop(read_only = true, default = 1)]
    ro: u32,
    #[prop(read_only = false, set_after_realize = true)]
    late: u32,
    #[prop(write_only = false, set_after_realize = false)]
    early: u32,
    #[prop(write_only = true, setter = Flags::set_secret)]
    secret: String,
}
impl DeviceImpl for Flags {}

impl Flags {
    fn set_secret(&mut self, v: &str) -> qomgen::Result<()> {
        self.secret = v.to_owned();
        Ok(())
    }
}

/// `abstract = true` as `abstract`.
#[allow(dead_code)] // abstract: never instantiated
#[derive(Device, Debug, Default)]
#[device(name = "edge-abstract", abstract = true)]
struct AbstractFlag {}
impl DeviceImpl for AbstractFlag {}

#[test]
fn flags_take_true_and_false() {
    let ty = qomgen::registry().get("edge-flags").unwrap().info;
    assert!(!ty.abstract_ && ty.instantiate.is_some());
    assert_eq!(ty.description, None);
    let access: Vec<_> = ty
        .own_properties
        .iter()
        .map(|p| (p.name, p.readable, p.writable, p.set_after_realize))
        .collect();
    assert_eq!(
        access,
        [
            ("ro", true, false, false),
            ("late", true, true, true),
            ("early", true, true, false),
            ("secret", false, true, false),
        ]
    );
    let ty = qomgen::registry().get("edge-abstract").unwrap().info;
    assert!(ty.abstract_ && ty.instantiate.is_none());
}

/// A raw variant name is read without its `r#`.
#[derive(qomgen::PropertyEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
enum RawVariants {
    #[default]
    r#Auto,
    r#FastPath,
}

#[test]
fn a_raw_variant_name_is_its_value_without_r_hash() {
    assert_eq!(RawVariants::NAMES, ["auto", "fast-path"]);
    assert_eq!(
        <RawVariants as qomgen::PropertyKind>::TYPE_NAME,
        "RawVariants"
    );
}

/// State fields that are no properties: one with a type that has no
/// `Default` gets its initial value from `#[prop(skip, default = ...)]`
/// (which may name `Self`), one named like a primitive type starts at
/// `Default` without shadowing that type for the other fields.
#[derive(Device)]
#[device(name = "edge-state", category = Misc)]
struct State {
    #[prop(default = 2)]
    queues: u32,
    #[prop(skip, default = Self::log_sink())]
    log: std::io::Sink,
    #[prop(skip, default = vec![0u8; 4])]
    ring: Vec<u8>,
    u32: Option<std::num::NonZeroU32>,
    #[prop(skip)]
    hits: u64,
}
impl State {
    fn log_sink() -> std::io::Sink {
        std::io::sink()
    }
}
impl DeviceImpl for State {}

#[test]
fn skipped_fields_are_state_with_their_default() {
    let mut tree = ObjectTree::new();
    let dev = tree.device_add("edge-state,queues=3").unwrap();
    let dev = dev.borrow();
    let s = dev.downcast_ref::<State>().unwrap();
    assert_eq!(
        (s.queues, s.ring.as_slice(), s.u32, s.hits),
        (3, &[0u8; 4][..], None, 0)
    );
    let _ = &s.log;
    let names = property_names("edge-state");
    assert!(
        !names
            .iter()
            .any(|n| n == "log" || n == "ring" || n == "hits" || n == "u32"),
        "{names:?}"
    );
}

/// A backend object with a plain string property.
#[derive(Object, Default)]
#[object(name = "edge-string-backend", user_creatable)]
struct StringBackend {
    /// Path of the socket
    #[prop]
    path: Option<String>,
}
impl ObjectImpl for StringBackend {}

/// A device with the same property.
#[derive(Device, Default)]
#[device(name = "edge-string-dev", category = Misc)]
struct StringDev {
    /// Path of the socket
    #[prop]
    path: Option<String>,
}
impl DeviceImpl for StringDev {}

/// QEMU's answers: an object's string property is `string`
/// (`object_class_property_add_str`), a device's `str` (qdev); `type` is
/// readable, not writable; help for a non-device and `X,help` through the
/// API say what they are.
#[test]
fn the_runtime_answers_as_qemu() {
    use qomgen::introspect::{
        device_help, device_list_properties, object_help, qom_list_properties,
    };
    let ty = |t: &str| {
        qom_list_properties(t)
            .unwrap()
            .into_iter()
            .find(|p| p.name == "path")
            .unwrap()
            .type_
    };
    assert_eq!(ty("edge-string-backend"), "string");
    assert_eq!(ty("edge-string-dev"), "str");
    assert_eq!(
        device_list_properties("edge-string-dev").unwrap()[0].type_,
        "str"
    );
    assert_eq!(
        object_help("edge-string-backend", &Default::default()).unwrap(),
        "edge-string-backend options:\n  path=<string>          - Path of the socket\n"
    );

    let mut tree = ObjectTree::new();
    let b = tree
        .object_add("edge-string-backend,id=b0,path=/run/x")
        .unwrap();
    assert_eq!(
        ObjectTree::get(&**b.borrow(), "type").unwrap(),
        json!("edge-string-backend")
    );
    let d = tree.device_add("edge-string-dev").unwrap();
    assert_eq!(
        ObjectTree::get(&**d.borrow(), "type").unwrap(),
        json!("edge-string-dev")
    );
    assert_eq!(
        tree.device_add("edge-string-dev,type=x")
            .unwrap_err()
            .to_string(),
        "Property 'edge-string-dev.type' is not writable"
    );

    assert_eq!(
        device_help("edge-string-backend", &Default::default())
            .unwrap_err()
            .to_string(),
        "Parameter 'typename' expects a non-abstract device type"
    );
    let e = tree.device_add("edge-string-dev,help").unwrap_err();
    assert_eq!(e.to_string(), "device_add creates; it does not print help");
    assert_eq!(
        e.hint(),
        Some(
            "For the text of `-device edge-string-dev,help`, call qomgen::introspect::device_help(\"edge-string-dev\", &Default::default())"
        )
    );
    let e = tree.object_add("edge-string-backend,help").unwrap_err();
    assert_eq!(
        e.hint(),
        Some(
            "For the text of `-object edge-string-backend,help`, call qomgen::introspect::object_help(\"edge-string-backend\", &Default::default())"
        )
    );
}
