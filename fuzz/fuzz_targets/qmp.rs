//! The QMP input path: arbitrary bytes into a negotiated `qmp::Monitor`
//! over the fixture tree, fed whole and in pieces (the first byte sets
//! the piece size). Nothing may panic; every reply is one line of JSON
//! ending in `\r\n`; the pieces give the replies the whole does; and the
//! session goes on: after a resynchronising `\xFF` (QEMU's documented way
//! to reset its parser) a request is answered, unless the input was `quit`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;

/// Replies and events, timestamps removed, over the fixture tree.
fn run(input: &[u8], piece: usize) -> (Vec<Value>, bool) {
    qomgen_tests::qmp_replies(&mut qomgen_fuzz::populated_tree(), input, piece)
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, input)) = data.split_first() else {
        return;
    };
    let whole = run(input, input.len());
    let pieces = run(input, usize::from(first % 16) + 1);
    assert_eq!(whole, pieces);
});
