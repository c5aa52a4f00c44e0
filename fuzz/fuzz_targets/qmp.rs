//! The QMP input path: arbitrary bytes into a negotiated `qmp::Monitor`
//! over the fixture tree, fed whole and in pieces (the first byte sets
//! the piece size). Nothing may panic; every reply is one line of JSON
//! ending in `\r\n`; the pieces give the replies the whole does; and the
//! session goes on: after a resynchronising `\xFF` (QEMU's documented way
//! to reset its parser) a request is answered, unless the input was `quit`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use qomgen::qmp::Monitor;
use serde_json::Value;

/// Replies and events, timestamps removed.
fn run(input: &[u8], piece: usize) -> (Vec<Value>, bool) {
    let mut tree = qomgen_fuzz::populated_tree();
    let mut mon = Monitor::new();
    let mut out = Vec::new();
    mon.feed(&mut tree, b"{'execute':'qmp_capabilities'}", &mut out);
    for chunk in input.chunks(piece.max(1)) {
        mon.feed(&mut tree, chunk, &mut out);
    }
    let quit = mon.quit_requested();
    mon.feed(
        &mut tree,
        b"\xff{'execute':'query-version','id':'probe'}",
        &mut out,
    );
    let text = String::from_utf8(out).expect("replies are UTF-8");
    assert!(text.is_empty() || text.ends_with("\r\n"));
    let mut lines: Vec<Value> = text
        .split_terminator("\r\n")
        .map(|l| serde_json::from_str(l).expect("a reply is JSON"))
        .collect();
    for v in &mut lines {
        if let Some(m) = v.as_object_mut() {
            m.remove("timestamp");
        }
    }
    if !quit {
        assert_eq!(lines.last().map(|v| &v["id"]), Some(&Value::from("probe")));
    }
    (lines, quit)
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, input)) = data.split_first() else {
        return;
    };
    let whole = run(input, input.len());
    let pieces = run(input, usize::from(first % 16) + 1);
    assert_eq!(whole, pieces);
});
