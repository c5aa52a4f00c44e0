//! Every value kind's `parse` and `from_json`: the first byte picks the
//! kind, the rest is the keyval string and, when it is valid JSON, the
//! JSON value. Whatever parses must print back to itself
//! (`parse(print(x)) == x`, `from_json(to_json(x)) == x`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&k, rest)) = data.split_first() else {
        return;
    };
    let Ok(s) = std::str::from_utf8(rest) else {
        return;
    };
    let j = serde_json::from_str::<serde_json::Value>(s).ok();
    qomgen_fuzz::check_kind(k, s, j.as_ref());
});
