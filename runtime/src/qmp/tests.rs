//! The protocol rules of QEMU's `tests/qtest/qmp-test.c`, ported, with
//! the exact texts QEMU 10 answers with.

use serde_json::{Value, json};

use super::Monitor;
use crate::ObjectTree;

struct Session {
    tree: ObjectTree,
    mon: Monitor,
}

impl Session {
    fn new() -> Self {
        Session {
            tree: ObjectTree::new(),
            mon: Monitor::new(),
        }
    }

    /// Sends raw bytes; returns every line written, parsed.
    fn raw(&mut self, input: &[u8]) -> Vec<Value> {
        let mut out = Vec::new();
        self.mon.feed(&mut self.tree, input, &mut out);
        let text = String::from_utf8(out).unwrap();
        assert!(text.is_empty() || text.ends_with("\r\n"), "{text:?}");
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// Sends one request; returns its one reply.
    fn qmp(&mut self, req: &str) -> Value {
        let mut r = self.raw(format!("{req}\n").as_bytes());
        assert_eq!(r.len(), 1, "{req}: {r:?}");
        r.remove(0)
    }
}

fn expect_error(rsp: &Value, class: &str) -> String {
    assert_eq!(rsp["error"]["class"], class, "{rsp}");
    rsp["error"]["desc"].as_str().unwrap().to_owned()
}

/// Each request of `cases` is refused with a `GenericError` of its text.
fn expect_generic_errors(s: &mut Session, cases: &[(&str, &str)]) {
    for (req, desc) in cases {
        assert_eq!(expect_error(&s.qmp(req), "GenericError"), *desc, "{req}");
    }
}

fn assert_recovered(s: &mut Session) {
    let r = s.qmp("{ 'execute': 'no-such-cmd' }");
    expect_error(&r, "CommandNotFound");
}

/// The malformed JSON of `test_malformed` (tests/qtest/qmp-test.c), which
/// the lexer's tests feed too.
pub(super) const QMP_TEST_MALFORMED: [&[u8]; 6] = [
    b"{]\n",
    b"{\xFF",
    b"{\x01",
    b"{'bad \xFF",
    b"{'execute': 'nonexistent', 'id':'\n",
    b"%p",
];

/// `test_malformed` of qmp-test.c.
fn malformed(s: &mut Session) {
    for raw in QMP_TEST_MALFORMED {
        let r = s.raw(raw);
        assert_eq!(r.len(), 1, "{}", String::from_utf8_lossy(raw));
        expect_error(&r[0], "GenericError");
        assert_recovered(s);
    }
    expect_generic_errors(
        s,
        &[
            ("null", "QMP input must be a JSON object"),
            ("{}", "QMP input lacks member 'execute'"),
            (
                "{ 'execute': true }",
                "QMP input member 'execute' must be a string",
            ),
            (
                "{ 'execute': 'no-such-cmd', 'arguments': [] }",
                "QMP input member 'arguments' must be an object",
            ),
            (
                "{ 'execute': 'no-such-cmd', 'extra': true }",
                "QMP input member 'extra' is unexpected",
            ),
        ],
    );
}

#[test]
fn qmp_protocol() {
    let mut s = Session::new();
    let greeting: Value = serde_json::from_str(s.mon.greeting().trim_end()).unwrap();
    assert_eq!(
        greeting,
        json!({"QMP": {"version": {"qemu": {"major": 10, "minor": 2, "micro": 0},
                                   "package": format!("qomgen {}", env!("CARGO_PKG_VERSION"))},
                       "capabilities": []}})
    );
    assert!(
        s.mon
            .greeting()
            .starts_with("{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0")
    );

    // Valid command before the handshake.
    let r = s.qmp("{ 'execute': 'query-version' }");
    assert_eq!(
        expect_error(&r, "CommandNotFound"),
        "Expecting capabilities negotiation with 'qmp_capabilities'"
    );
    malformed(&mut s);

    let r = s.qmp("{ 'execute': 'qmp_capabilities' }");
    assert_eq!(r, json!({"return": {}}));
    let r = s.qmp("{ 'execute': 'qmp_capabilities' }");
    assert_eq!(
        expect_error(&r, "CommandNotFound"),
        "Capabilities negotiation is already complete, command ignored"
    );
    let r = s.qmp("{ 'execute': 'query-version' }");
    assert_eq!(r["return"]["qemu"]["major"], 10);
    malformed(&mut s);

    // 'id', of any type, on success and on failure.
    let r = s.qmp("{ 'execute': 'query-version', 'id': 'cookie#1' }");
    assert_eq!(r["id"], "cookie#1");
    let r = s.qmp("{ 'execute': 'qom-get', 'id': 2 }");
    assert_eq!(r["id"], 2);
    assert_eq!(
        expect_error(&r, "GenericError"),
        "Parameter 'path' is missing"
    );
    let r = s.qmp("{\"execute\": \"nope\", \"id\": [1, {\"a\": null}]}");
    assert_eq!(r["id"], json!([1, {"a": null}]));
    assert_eq!(
        expect_error(&r, "CommandNotFound"),
        "The command nope has not been found"
    );
}

#[test]
fn replies_are_spelt_as_qemus() {
    let mut s = Session::new();
    let mut out = Vec::new();
    s.mon.feed(
        &mut s.tree,
        b"{\"execute\":\"qmp_capabilities\",\"id\":[1,{\"a\":null}]}\n{\"execute\":\"nope\",\"id\":3.5}\n",
        &mut out,
    );
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "{\"return\": {}, \"id\": [1, {\"a\": null}]}\r\n\
         {\"id\": 3.5, \"error\": {\"class\": \"CommandNotFound\", \"desc\": \"The command nope has not been found\"}}\r\n"
    );
}

#[test]
fn negotiation_errors() {
    let mut s = Session::new();
    expect_generic_errors(
        &mut s,
        &[
            (
                "{'execute': 'qmp_capabilities', 'arguments': {'enable': ['cap-does-not-exist']}}",
                "Parameter 'null' does not accept value 'cap-does-not-exist'",
            ),
            (
                "{'execute': 'qmp_capabilities', 'arguments': {'enable': 'oob'}}",
                "Invalid parameter type for 'enable', expected: array",
            ),
            (
                "{'execute': 'qmp_capabilities', 'arguments': {'enable': [1]}}",
                "Invalid parameter type for 'enable[0]', expected: string",
            ),
            (
                "{'execute': 'qmp_capabilities', 'arguments': {'enable': ['oob']}}",
                "Capability oob not available",
            ),
            (
                "{'execute': 'qmp_capabilities', 'arguments': {'x': 1}}",
                "Parameter 'x' is unexpected",
            ),
            (
                "{'exec-oob': 'qmp_capabilities'}",
                "QMP input member 'exec-oob' is unexpected",
            ),
        ],
    );
    assert!(!s.mon.negotiated());
    // A new client starts over.
    s.qmp("{'execute': 'qmp_capabilities'}");
    assert!(s.mon.negotiated());
    s.mon.connect();
    assert!(!s.mon.negotiated());
}

#[test]
fn commands_and_their_errors() {
    let mut s = Session::new();
    s.qmp("{'execute': 'qmp_capabilities'}");
    let r = s.qmp("{'execute': 'query-commands'}");
    let names: Vec<_> = r["return"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"device_add") && names.contains(&"qmp_capabilities"));
    let r = s.qmp("{'execute': 'query-version', 'arguments': {'a': 1}}");
    assert_eq!(
        expect_error(&r, "GenericError"),
        "Parameter 'a' is unexpected"
    );
    let cases = [
        (
            "{'execute':'device-list-properties','arguments':{'typename':'nope'}}",
            "DeviceNotFound",
            "Device 'nope' not found",
        ),
        (
            "{'execute':'qom-list-properties','arguments':{'typename':'nope'}}",
            "DeviceNotFound",
            "Class 'nope' not found",
        ),
        (
            "{'execute':'qom-list','arguments':{'path':'/nope'}}",
            "DeviceNotFound",
            "Device '/nope' not found",
        ),
        (
            "{'execute':'qom-get','arguments':{'path':'/objects','property':'x'}}",
            "GenericError",
            "Property 'container.x' not found",
        ),
        (
            "{'execute':'qom-set','arguments':{'path':'/objects','property':'x'}}",
            "GenericError",
            "Parameter 'value' is missing",
        ),
        (
            "{'execute':'object-del','arguments':{'id':'io0'}}",
            "GenericError",
            "object 'io0' not found",
        ),
        (
            "{'execute':'device_del','arguments':{'id':'nope'}}",
            "DeviceNotFound",
            "Device 'nope' not found",
        ),
        (
            "{'execute':'device_del','arguments':{'id':'/objects'}}",
            "GenericError",
            "/objects is not a device",
        ),
        (
            "{'execute':'device_add','arguments':{'id':'e3'}}",
            "GenericError",
            "Parameter 'driver' is missing",
        ),
        (
            "{'execute':'device_add'}",
            "GenericError",
            "Parameter 'driver' is missing",
        ),
        (
            "{'execute':'object-add','arguments':{'id':'a'}}",
            "GenericError",
            "Parameter 'qom-type' is missing",
        ),
        (
            "{'execute':'object-add','arguments':{'qom-type':'nope','id':'a'}}",
            "GenericError",
            "Parameter 'qom-type' does not accept value 'nope'",
        ),
        (
            "{'execute':'getfd','arguments':{'fdname':'x'}}",
            "GenericError",
            "No file descriptor supplied via SCM_RIGHTS",
        ),
        (
            "{'execute':'getfd','arguments':{}}",
            "GenericError",
            "Parameter 'fdname' is missing",
        ),
        (
            "{'execute':'closefd','arguments':{'fdname':'x'}}",
            "GenericError",
            "File descriptor named 'x' not found",
        ),
    ];
    for (req, class, desc) in cases {
        assert_eq!(expect_error(&s.qmp(req), class), desc, "{req}");
    }
    let r = s.qmp("{'execute':'qom-get','arguments':{'path':'/objects','property':'type'}}");
    assert_eq!(r, json!({"return": "container"}));
    let r = s.qmp("{'execute':'qom-list','arguments':{'path':'/'}}");
    assert_eq!(
        r["return"],
        json!([{"name": "type", "type": "string"},
               {"name": "machine", "type": "child<container>"},
               {"name": "objects", "type": "child<container>"}])
    );
    let r =
        s.qmp("{'execute':'qom-list-types','arguments':{'implements':'object','abstract':true}}");
    assert!(
        r["return"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t == &json!({"name": "object", "abstract": true}))
    );
}

#[test]
fn quit_sends_shutdown_then_returns() {
    let mut s = Session::new();
    s.qmp("{'execute': 'qmp_capabilities'}");
    let r = s.raw(b"{'execute': 'quit', 'id': 1}\n{'execute': 'query-version'}");
    assert_eq!(r.len(), 2);
    assert_eq!(r[0]["event"], "SHUTDOWN");
    assert_eq!(
        r[0]["data"],
        json!({"guest": false, "reason": "host-qmp-quit"})
    );
    assert!(r[0]["timestamp"]["seconds"].is_u64());
    assert_eq!(r[1], json!({"return": {}, "id": 1}));
    assert!(s.mon.quit_requested());
}

#[test]
fn getfd_names_descriptors_that_setters_take() {
    use std::os::fd::OwnedFd;
    let mut s = Session::new();
    s.qmp("{'execute': 'qmp_capabilities'}");
    let fd: OwnedFd = std::fs::File::open("/dev/null").unwrap().into();
    s.mon.receive_fds(vec![fd]);
    let r = s.qmp("{'execute':'getfd','arguments':{'fdname':'1x'}}");
    assert_eq!(
        expect_error(&r, "GenericError"),
        "Parameter 'fdname' expects a name not starting with a digit"
    );
    // The descriptor went with the failed getfd.
    let r = s.qmp("{'execute':'getfd','arguments':{'fdname':'null'}}");
    expect_error(&r, "GenericError");
    let fd: OwnedFd = std::fs::File::open("/dev/null").unwrap().into();
    s.mon.receive_fds(vec![fd]);
    assert_eq!(
        s.qmp("{'execute':'getfd','arguments':{'fdname':'null'}}"),
        json!({"return": {}})
    );
    assert_eq!(s.mon.fds().len(), 1);
    // Outside a command no monitor is current.
    assert!(super::monitor_get_fd("null").is_none());
    assert_eq!(
        s.qmp("{'execute':'closefd','arguments':{'fdname':'null'}}"),
        json!({"return": {}})
    );
    assert!(s.mon.fds().is_empty());
}

/// A reply from text rendered once ([`super::CommandCx::reply_rendered`],
/// as `device-list-properties` answers) is byte for byte the reply object
/// written whole, whatever the `id`.
#[test]
fn rendered_replies_match_the_reply_written_whole() {
    use super::{ArgsCheck, Command, CommandCx, QmpError, Rendered, write_line};
    use serde_json::Map;
    fn rendered(cx: &mut CommandCx<'_>, _: &Map<String, Value>) -> Result<Value, QmpError> {
        cx.reply_rendered(Rendered::new(json!([
            {"name": "x-\u{e9}", "type": "uint32", "default-value": 7, "description": "a \"b\"\n"},
            {"name": "id", "return": {}, "error": null, "desc": [1.5, -2, true]},
        ])))
    }
    let mut s = Session::new();
    s.mon.add_command(Command {
        name: "x-rendered",
        args: &[],
        check: ArgsCheck::Members,
        returns: Some("any"),
        features: &[],
        handler: rendered,
    });
    s.qmp("{'execute': 'qmp_capabilities'}");
    for id in [
        "",
        ", 'id': 7",
        ", 'id': 'x'",
        ", 'id': {'b': [1, 2.5], 'a': null}",
    ] {
        let req = format!("{{'execute': 'x-rendered'{id}}}");
        let mut fed = Vec::new();
        s.mon.feed(&mut s.tree, req.as_bytes(), &mut fed);
        let mut parsed = None;
        super::json::JsonStreamer::new().feed(req.as_bytes(), |m| parsed = Some(m));
        let rsp = s.mon.handle(&mut s.tree, parsed.unwrap(), &mut Vec::new());
        assert!(rsp.get("return").is_some(), "{rsp}");
        let mut whole = Vec::new();
        write_line(&mut whole, &rsp);
        assert_eq!(
            String::from_utf8(fed).unwrap(),
            String::from_utf8(whole).unwrap()
        );
    }
    // An argument error answers as any command's.
    let r = s.qmp("{'execute': 'x-rendered', 'arguments': {'a': 1}}");
    assert_eq!(
        expect_error(&r, "GenericError"),
        "Parameter 'a' is unexpected"
    );
}
