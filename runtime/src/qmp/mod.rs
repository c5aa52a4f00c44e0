//! QMP, the QEMU Machine Protocol, over an [`ObjectTree`]: the protocol
//! machinery of QEMU's `monitor/qmp.c` and `qapi/qmp-dispatch.c` and the
//! generic QOM commands, device-neutral. A front end (the `qomgen`
//! binary) moves bytes between a [`Monitor`] and a client, hands it the
//! descriptors received with `SCM_RIGHTS`, and may add commands of its own
//! ([`Command`]).
//!
//! * The greeting: `{"QMP": {"version": ..., "capabilities": []}}`, the
//!   version being the QEMU release whose tables qomgen follows and the
//!   package naming qomgen ([`Monitor::greeting`]).
//! * Capabilities negotiation: before `qmp_capabilities` every other
//!   command is `CommandNotFound` with `Expecting capabilities negotiation
//!   with 'qmp_capabilities'`; a second one is `CommandNotFound` with
//!   `Capabilities negotiation is already complete, command ignored`.
//!   Out-of-band execution is not offered, so `enable: ["oob"]` is refused
//!   as QEMU refuses a capability it did not offer.
//! * Requests: malformed JSON, a request that is no object, a missing or
//!   ill-typed `execute`, an `arguments` that is no object and unexpected
//!   members get QEMU's `GenericError` texts; `id` is echoed whatever its
//!   JSON type; the session goes on after every error.
//! * Replies and events are written as QEMU writes them
//!   ([`json::write_qemu_json`]), each line ending in `\r\n`.
//!
//! ```
//! use qomgen::qmp::Monitor;
//! use qomgen::ObjectTree;
//!
//! let mut tree = ObjectTree::new();
//! let mut mon = Monitor::new();
//! let mut out = Vec::new();
//! mon.feed(&mut tree, b"{'execute': 'query-version'}\n", &mut out);
//! mon.feed(&mut tree, b"{'execute': 'qmp_capabilities', 'id': 1}\n", &mut out);
//! let out = String::from_utf8(out).unwrap();
//! assert_eq!(out, "{\"error\": {\"class\": \"CommandNotFound\", \"desc\": \
//!     \"Expecting capabilities negotiation with 'qmp_capabilities'\"}}\r\n\
//!     {\"return\": {}, \"id\": 1}\r\n");
//! ```

pub mod commands;
pub mod json;
mod qdict;
pub mod schema;

use std::cell::RefCell;
use std::os::fd::OwnedFd;
use std::rc::{Rc, Weak};

use serde_json::{Map, Value, json};

use crate::error::Error;
use crate::tree::ObjectTree;

/// The QEMU release whose property tables and messages qomgen follows,
/// which `query-version` and the greeting report.
pub const QEMU_VERSION: (u32, u32, u32) = (10, 2, 0);

/// QAPI's `QapiErrorClass` values that qomgen's commands use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// `GenericError`: everything else.
    GenericError,
    /// `CommandNotFound`: unknown command, or not available before negotiation.
    CommandNotFound,
    /// `DeviceNotFound`: a device, object path or class that does not exist.
    DeviceNotFound,
}

impl ErrorClass {
    /// The class as QMP spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::GenericError => "GenericError",
            ErrorClass::CommandNotFound => "CommandNotFound",
            ErrorClass::DeviceNotFound => "DeviceNotFound",
        }
    }
}

/// A command's failure: QMP's `error` member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QmpError {
    /// `class`.
    pub class: ErrorClass,
    /// `desc`: QEMU's message.
    pub desc: String,
}

impl QmpError {
    /// A `GenericError`.
    pub fn generic(desc: impl Into<String>) -> Self {
        QmpError {
            class: ErrorClass::GenericError,
            desc: desc.into(),
        }
    }

    /// An error of class `class`.
    pub fn new(class: ErrorClass, desc: impl Into<String>) -> Self {
        QmpError {
            class,
            desc: desc.into(),
        }
    }

    /// The reply object, `{"error": {"class": ..., "desc": ...}}`
    /// (`qmp_error_response`).
    pub fn to_response(&self) -> Value {
        json!({"error": {"class": self.class.as_str(), "desc": self.desc}})
    }
}

impl From<Error> for QmpError {
    /// An object-model error with the class QEMU gives its message: the
    /// texts QEMU raises as `DeviceNotFound` (`Device '%s' not found` from
    /// path and link resolution, `Class '%s' not found`) keep that class;
    /// the hint, which QMP has no member for, is dropped as QEMU drops it.
    fn from(e: Error) -> Self {
        let m = e.message();
        let not_found = |prefix: &str| {
            m.strip_prefix(prefix)
                .and_then(|r| r.strip_suffix("' not found"))
                .is_some_and(|name| !name.contains('\''))
        };
        let class = if not_found("Device '") || not_found("Class '") {
            ErrorClass::DeviceNotFound
        } else {
            ErrorClass::GenericError
        };
        QmpError::new(class, m)
    }
}

/// A command handler: the arguments (already checked against the
/// command's [`Command::args`] unless it has [`ArgsCheck::None`]) to the
/// return value.
pub type Handler = fn(&mut CommandCx<'_>, &Map<String, Value>) -> Result<Value, QmpError>;

/// One member of a command's arguments, as QAPI declares it.
#[derive(Debug, Clone, Copy)]
pub struct Arg {
    /// Member name.
    pub name: &'static str,
    /// QAPI type: `str`, `bool`, `int`, `any`, or `[Name]` (a list of
    /// strings, e.g. an enum's).
    pub ty: &'static str,
    /// `*name` in QAPI: may be absent.
    pub optional: bool,
}

/// How a command's arguments are checked before its handler runs.
#[derive(Debug, Clone, Copy)]
pub enum ArgsCheck {
    /// QAPI's generated marshaller: members in order (`Parameter '%s' is
    /// missing`, `Invalid parameter type for '%s', expected: %s`), then
    /// anything else (`Parameter '%s' is unexpected`).
    Members,
    /// The handler checks (`'gen': false` or `'boxed': true` commands).
    None,
}

/// A QMP command.
#[derive(Debug, Clone, Copy)]
pub struct Command {
    /// Name (`query-version`).
    pub name: &'static str,
    /// Arguments, for checking and for `query-qmp-schema`.
    pub args: &'static [Arg],
    /// How the arguments are checked.
    pub check: ArgsCheck,
    /// The QAPI return type for `query-qmp-schema` (`None`: returns `{}`).
    pub returns: Option<&'static str>,
    /// QAPI features (`unstable` for an `x-` command, `json-cli`, ...).
    pub features: &'static [&'static str],
    /// The handler.
    pub handler: Handler,
}

/// What a handler works on: the tree, the monitor's descriptors and
/// events, and the session's state.
pub struct CommandCx<'a> {
    /// The object tree the session manages.
    pub tree: &'a mut ObjectTree,
    state: &'a mut State,
    events: &'a mut Vec<Value>,
}

impl CommandCx<'_> {
    /// Queues an event (`{"event": name, "data": data, "timestamp": ...}`),
    /// sent before the command's reply, as QEMU sends an event raised
    /// while a command runs.
    pub fn emit_event(&mut self, name: &str, data: Option<Value>) {
        self.events.push(event(name, data));
    }

    /// Takes the first descriptor received with `SCM_RIGHTS` since the last
    /// one was taken, closing any others (`qemu_chr_fe_get_msgfd`).
    pub fn take_received_fd(&mut self) -> Option<OwnedFd> {
        let mut fds = std::mem::take(&mut self.state.received).into_iter();
        fds.next()
    }

    /// The named descriptors of `getfd`.
    pub fn fds(&self) -> &FdTable {
        &self.state.fds
    }

    /// Asks the front end to end the session and the process (`quit`).
    pub fn request_quit(&mut self) {
        self.state.quit = true;
    }

    /// The commands available now (the negotiation command alone before
    /// `qmp_capabilities`).
    pub fn commands(&self) -> Vec<&'static str> {
        if self.state.negotiated {
            self.state.commands.iter().map(|c| c.name).collect()
        } else {
            vec!["qmp_capabilities"]
        }
    }

    /// Every command of the monitor, negotiated or not.
    pub fn all_commands(&self) -> &[Command] {
        &self.state.commands
    }

    /// Answers with `r`, already rendered: the handler returns what this
    /// returns. For a return value that depends on nothing but static
    /// tables, so that each request writes the cached text instead of
    /// cloning and re-serialising the value.
    pub fn reply_rendered(&mut self, r: Rendered) -> Result<Value, QmpError> {
        self.state.rendered = Some(r);
        Ok(Value::Null)
    }

    /// Records a device that was hot-plugged through this monitor.
    pub fn mark_hotplugged(&mut self, dev: &crate::ObjRef) {
        self.state.hotplugged.retain(|w| w.strong_count() > 0);
        self.state.hotplugged.push(Rc::downgrade(dev));
    }

    /// Whether `dev` was hot-plugged through this monitor.
    pub fn is_hotplugged(&self, dev: &crate::ObjRef) -> bool {
        self.state
            .hotplugged
            .iter()
            .any(|w| w.upgrade().is_some_and(|d| Rc::ptr_eq(&d, dev)))
    }
}

/// A return value and its text as QEMU writes it ([`json::to_qemu_json`]),
/// rendered once and shared: see [`CommandCx::reply_rendered`].
#[derive(Debug, Clone)]
pub struct Rendered(Rc<(Value, Box<str>)>);

impl Rendered {
    /// Renders `v`.
    pub fn new(v: Value) -> Self {
        let text = json::to_qemu_json(&v).into_boxed_str();
        Rendered(Rc::new((v, text)))
    }

    /// The value.
    pub fn value(&self) -> &Value {
        &self.0.0
    }

    /// Its text, as [`json::to_qemu_json`] gives it.
    pub fn text(&self) -> &str {
        &self.0.1
    }
}

/// A reply before it is written.
enum Response {
    Value(Value),
    /// `{"return": ..., "id": ...}` with a pre-rendered return value.
    Rendered(Rendered, Option<Value>),
}

fn event(name: &str, data: Option<Value>) -> Value {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let mut m = Map::new();
    m.insert(
        "timestamp".into(),
        json!({"seconds": now.as_secs(), "microseconds": now.subsec_micros()}),
    );
    m.insert("event".into(), name.into());
    if let Some(d) = data {
        m.insert("data".into(), d);
    }
    Value::Object(m)
}

/// The named descriptors a monitor holds (`getfd`), shared with the
/// property setters that look names up while a command runs
/// ([`monitor_get_fd`]).
#[derive(Debug, Default, Clone)]
pub struct FdTable(Rc<RefCell<Vec<(String, OwnedFd)>>>);

impl FdTable {
    /// Adds `fd` as `name`, closing a descriptor of the same name
    /// (`monitor_add_fd`).
    pub fn add(&self, name: &str, fd: OwnedFd) {
        let mut t = self.0.borrow_mut();
        t.retain(|(n, _)| n != name);
        t.push((name.to_owned(), fd));
    }

    /// Removes and returns the descriptor `name` (`monitor_get_fd`: the
    /// caller takes it over).
    pub fn take(&self, name: &str) -> Option<OwnedFd> {
        let mut t = self.0.borrow_mut();
        let pos = t.iter().position(|(n, _)| n == name)?;
        Some(t.remove(pos).1)
    }

    /// Closes the descriptor `name`; whether there was one (`closefd`).
    pub fn close(&self, name: &str) -> bool {
        self.take(name).is_some()
    }

    /// Number of descriptors held.
    pub fn len(&self) -> usize {
        self.0.borrow().len()
    }

    /// Whether no descriptor is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

thread_local! {
    /// The monitor whose command is running (QEMU's `monitor_cur()`).
    static CURRENT: RefCell<Option<FdTable>> = const { RefCell::new(None) };
}

/// QEMU's `monitor_get_fd` on the current monitor: `None` when no QMP
/// command is running (the command line, where only numbers are
/// descriptors); otherwise the descriptor named `name`, which the caller
/// takes over, or QEMU's `File descriptor named '%s' has not been found`.
///
/// Property setters of `fd=` call this for a value that does not start
/// with a digit (QEMU's `monitor_fd_param`).
pub fn monitor_get_fd(name: &str) -> Option<Result<OwnedFd, Error>> {
    CURRENT.with(|c| {
        let cur = c.borrow();
        let fds = cur.as_ref()?;
        Some(fds.take(name).ok_or_else(|| {
            Error::new(format!("File descriptor named '{name}' has not been found"))
        }))
    })
}

/// Makes `fds` the current monitor's table while it lives.
struct CurrentGuard(Option<FdTable>);

impl CurrentGuard {
    fn set(fds: &FdTable) -> Self {
        CurrentGuard(CURRENT.with(|c| c.replace(Some(fds.clone()))))
    }
}

impl Drop for CurrentGuard {
    fn drop(&mut self) {
        let prev = self.0.take();
        CURRENT.with(|c| *c.borrow_mut() = prev);
    }
}

struct State {
    negotiated: bool,
    quit: bool,
    fds: FdTable,
    received: Vec<OwnedFd>,
    commands: Vec<Command>,
    hotplugged: Vec<Weak<RefCell<Box<dyn crate::Object>>>>,
    /// What the running command answered with [`CommandCx::reply_rendered`].
    rendered: Option<Rendered>,
}

/// A QMP monitor: one session's protocol state over an [`ObjectTree`].
pub struct Monitor {
    streamer: json::JsonStreamer,
    state: State,
    package: String,
}

impl Default for Monitor {
    fn default() -> Self {
        Self::new()
    }
}

impl Monitor {
    /// A monitor with qomgen's commands ([`commands::BUILTIN`]), waiting
    /// for capabilities negotiation.
    pub fn new() -> Self {
        Monitor {
            streamer: json::JsonStreamer::new(),
            state: State {
                negotiated: false,
                quit: false,
                fds: FdTable::default(),
                received: Vec::new(),
                commands: commands::BUILTIN.to_vec(),
                hotplugged: Vec::new(),
                rendered: None,
            },
            package: format!("qomgen {}", env!("CARGO_PKG_VERSION")),
        }
    }

    /// Adds a command (a front end's own, `x-`-prefixed by QEMU's
    /// convention for commands without a stability promise).
    pub fn add_command(&mut self, cmd: Command) {
        self.state.commands.retain(|c| c.name != cmd.name);
        self.state.commands.push(cmd);
    }

    /// The `package` string of `query-version` and the greeting.
    pub fn package(&self) -> &str {
        &self.package
    }

    /// The greeting line, `\r\n` included.
    pub fn greeting(&self) -> String {
        let (major, minor, micro) = QEMU_VERSION;
        let v = json!({"QMP": {
            "version": {"qemu": {"major": major, "minor": minor, "micro": micro},
                        "package": self.package},
            "capabilities": [],
        }});
        let mut s = json::to_qemu_json(&v);
        s.push_str("\r\n");
        s
    }

    /// A new client: negotiation starts over, a partial request and
    /// descriptors received but not claimed are dropped; descriptors
    /// named with `getfd` stay, as they belong to the monitor.
    pub fn connect(&mut self) {
        self.streamer.reset();
        self.state.negotiated = false;
        self.state.received.clear();
    }

    /// Descriptors that arrived with `SCM_RIGHTS`; they replace any not
    /// yet claimed by `getfd`, which are closed (QEMU's socket chardev).
    pub fn receive_fds(&mut self, fds: Vec<OwnedFd>) {
        if !fds.is_empty() {
            self.state.received = fds;
        }
    }

    /// Whether `quit` was executed: the front end ends the session.
    pub fn quit_requested(&self) -> bool {
        self.state.quit
    }

    /// Whether capabilities negotiation is complete.
    pub fn negotiated(&self) -> bool {
        self.state.negotiated
    }

    /// The descriptors named with `getfd`.
    pub fn fds(&self) -> &FdTable {
        &self.state.fds
    }

    /// An event raised outside a command (`SHUTDOWN` on a signal, say) as
    /// the line to send, or `None` before negotiation: QEMU sends events
    /// only to monitors in command mode.
    pub fn event_line(&self, name: &str, data: Option<Value>) -> Option<Vec<u8>> {
        if !self.state.negotiated {
            return None;
        }
        let mut out = Vec::new();
        write_line(&mut out, &event(name, data));
        Some(out)
    }

    /// Feeds input bytes; every complete request is executed and its
    /// events and reply are appended to `out`. Requests after `quit` are
    /// not executed.
    pub fn feed(&mut self, tree: &mut ObjectTree, input: &[u8], out: &mut Vec<u8>) {
        let mut messages = Vec::new();
        self.streamer.feed(input, |m| messages.push(m));
        let mut events = Vec::new();
        for m in messages {
            if self.state.quit {
                break;
            }
            let rsp = self.respond(tree, m, &mut events);
            for v in events.drain(..) {
                write_line(out, &v);
            }
            match rsp {
                Response::Value(v) => write_line(out, &v),
                Response::Rendered(r, id) => write_rendered(out, r.text(), id.as_ref()),
            }
        }
    }

    /// Executes one parsed request (or answers its parse error) and returns
    /// the reply; events it raised are appended to `events`.
    pub fn handle(
        &mut self,
        tree: &mut ObjectTree,
        request: json::Message,
        events: &mut Vec<Value>,
    ) -> Value {
        match self.respond(tree, request, events) {
            Response::Value(v) => v,
            Response::Rendered(r, id) => {
                let mut m = Map::new();
                m.insert("return".into(), r.value().clone());
                if let Some(id) = id {
                    m.insert("id".into(), id);
                }
                Value::Object(m)
            }
        }
    }

    fn respond(
        &mut self,
        tree: &mut ObjectTree,
        request: json::Message,
        events: &mut Vec<Value>,
    ) -> Response {
        let req = match request {
            Ok(r) => r,
            Err(desc) => return Response::Value(QmpError::generic(desc).to_response()),
        };
        let Value::Object(req) = req else {
            return Response::Value(
                QmpError::generic("QMP input must be a JSON object").to_response(),
            );
        };
        let result = self.dispatch(tree, &req, events);
        let rendered = self.state.rendered.take();
        let mut rsp = match result {
            Ok(ret) => {
                if let Some(r) = rendered {
                    return Response::Rendered(r, req.get("id").cloned());
                }
                let mut m = Map::new();
                m.insert("return".into(), ret);
                m
            }
            Err(mut e) => {
                if !self.state.negotiated && e.class == ErrorClass::CommandNotFound {
                    e.desc = "Expecting capabilities negotiation with 'qmp_capabilities'".into();
                }
                match e.to_response() {
                    Value::Object(m) => m,
                    _ => Map::new(),
                }
            }
        };
        if let Some(id) = req.get("id") {
            rsp.insert("id".into(), id.clone());
        }
        Response::Value(Value::Object(rsp))
    }

    /// `qmp_dispatch`.
    fn dispatch(
        &mut self,
        tree: &mut ObjectTree,
        req: &Map<String, Value>,
        events: &mut Vec<Value>,
    ) -> Result<Value, QmpError> {
        check_obj(req)?;
        let name = req.get("execute").and_then(Value::as_str).unwrap_or("");
        let available = if self.state.negotiated {
            self.state.commands.iter().find(|c| c.name == name)
        } else {
            self.state
                .commands
                .iter()
                .find(|c| c.name == name && name == "qmp_capabilities")
        };
        let Some(cmd) = available.copied() else {
            return Err(QmpError::new(
                ErrorClass::CommandNotFound,
                format!("The command {name} has not been found"),
            ));
        };
        let empty = Map::new();
        let args = match req.get("arguments") {
            Some(Value::Object(a)) => a,
            _ => &empty,
        };
        if let ArgsCheck::Members = cmd.check {
            check_args(cmd.args, args)?;
        }
        let _current = CurrentGuard::set(&self.state.fds);
        let mut cx = CommandCx {
            tree,
            state: &mut self.state,
            events,
        };
        (cmd.handler)(&mut cx, args)
    }

    /// `qmp_capabilities`, called by its handler.
    fn negotiate(state: &mut State, enable: Option<&Value>) -> Result<(), QmpError> {
        if state.negotiated {
            return Err(QmpError::new(
                ErrorClass::CommandNotFound,
                "Capabilities negotiation is already complete, command ignored",
            ));
        }
        let caps: Vec<&str> = enable
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if !caps.is_empty() {
            // No capability is offered (out-of-band execution needs a
            // monitor thread), so any asked for is unavailable.
            return Err(QmpError::generic(format!(
                "Capability {} not available",
                caps.join(", ")
            )));
        }
        state.negotiated = true;
        Ok(())
    }
}

/// Appends `v` and QEMU's line ending (`monitor_puts` turns `\n` into `\r\n`).
pub fn write_line(out: &mut Vec<u8>, v: &Value) {
    let mut s = json::to_qemu_json(v);
    s.push_str("\r\n");
    out.extend_from_slice(s.as_bytes());
}

/// Appends `{"return": ret, "id": id}` as [`write_line`] writes that
/// object, `ret` being the return value's text already rendered: members
/// in `QDict` order, `id` (inserted last) first only if its bucket is not
/// after `return`'s.
fn write_rendered(out: &mut Vec<u8>, ret: &str, id: Option<&Value>) {
    let id = id.map(json::to_qemu_json);
    let id_first = qdict::qdict_bucket("id") <= qdict::qdict_bucket("return");
    out.push(b'{');
    match &id {
        Some(id) if id_first => {
            out.extend_from_slice(b"\"id\": ");
            out.extend_from_slice(id.as_bytes());
            out.extend_from_slice(b", \"return\": ");
            out.extend_from_slice(ret.as_bytes());
        }
        _ => {
            out.extend_from_slice(b"\"return\": ");
            out.extend_from_slice(ret.as_bytes());
            if let Some(id) = &id {
                out.extend_from_slice(b", \"id\": ");
                out.extend_from_slice(id.as_bytes());
            }
        }
    }
    out.extend_from_slice(b"}\r\n");
}

/// Members of `m` in `QDict` iteration order (QEMU checks a request's
/// members, and finds unexpected arguments, in that order).
fn qdict_order(m: &Map<String, Value>) -> Vec<(&String, &Value)> {
    let mut v: Vec<_> = m.iter().enumerate().collect();
    v.sort_by_key(|(i, (k, _))| (qdict::qdict_bucket(k), std::cmp::Reverse(*i)));
    v.into_iter().map(|(_, kv)| kv).collect()
}

/// `qmp_dispatch_check_obj` (out-of-band execution not enabled).
fn check_obj(req: &Map<String, Value>) -> Result<(), QmpError> {
    let mut exec = false;
    for (k, v) in qdict_order(req) {
        match k.as_str() {
            "execute" => {
                if !v.is_string() {
                    return Err(QmpError::generic(
                        "QMP input member 'execute' must be a string",
                    ));
                }
                exec = true;
            }
            "arguments" => {
                if !v.is_object() {
                    return Err(QmpError::generic(
                        "QMP input member 'arguments' must be an object",
                    ));
                }
            }
            "id" => {}
            _ => {
                return Err(QmpError::generic(format!(
                    "QMP input member '{k}' is unexpected"
                )));
            }
        }
    }
    if !exec {
        return Err(QmpError::generic("QMP input lacks member 'execute'"));
    }
    Ok(())
}

/// The name QAPI's input visitor gives a JSON type in `Invalid parameter
/// type for '%s', expected: %s`.
fn expected(ty: &str) -> &'static str {
    match ty {
        "str" => "string",
        "bool" => "boolean",
        "int" | "uint32" | "int64" | "uint64" => "integer",
        t if t.starts_with('[') => "array",
        _ => "object",
    }
}

fn type_ok(ty: &str, v: &Value) -> bool {
    match ty {
        "any" => true,
        "str" => v.is_string(),
        "bool" => v.is_boolean(),
        "int" | "int64" => v.is_i64(),
        "uint32" | "uint64" => v.is_u64(),
        t if t.starts_with('[') => v.is_array(),
        _ => v.is_object(),
    }
}

/// A generated marshaller's input visit of `args`.
fn check_args(decl: &[Arg], args: &Map<String, Value>) -> Result<(), QmpError> {
    for a in decl {
        match args.get(a.name) {
            None if a.optional => {}
            None => {
                return Err(QmpError::generic(format!(
                    "Parameter '{}' is missing",
                    a.name
                )));
            }
            Some(v) if !type_ok(a.ty, v) => {
                return Err(QmpError::generic(format!(
                    "Invalid parameter type for '{}', expected: {}",
                    a.name,
                    expected(a.ty)
                )));
            }
            Some(Value::Array(items)) => {
                // A list of enum values (the only list argument).
                for (i, item) in items.iter().enumerate() {
                    if !item.is_string() {
                        return Err(QmpError::generic(format!(
                            "Invalid parameter type for '{}[{i}]', expected: string",
                            a.name
                        )));
                    }
                    let values = schema::enum_values(a.ty.trim_matches(['[', ']']));
                    let s = item.as_str().unwrap_or_default();
                    if !values.contains(&s) {
                        // QEMU names the element `null` here (the visitor
                        // passes no name for list elements).
                        return Err(QmpError::generic(format!(
                            "Parameter 'null' does not accept value '{s}'"
                        )));
                    }
                }
            }
            Some(_) => {}
        }
    }
    for (k, _) in qdict_order(args) {
        if !decl.iter().any(|a| a.name == k) {
            return Err(QmpError::generic(format!("Parameter '{k}' is unexpected")));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
