//! QEMU's option syntaxes and scalar conversions.
//!
//! * [`qemu_opts`] — the QemuOpts syntax `-device` and `-object` use on the
//!   command line: implied first key, `foo`/`nofoo` flags, first `id` wins.
//! * [`keyval`] — `KEY=VALUE,...` with dotted keys building dictionaries and
//!   lists (`util/keyval.c`), plus the keyval input visitor whose string →
//!   value conversions `-device k=v` property values go through.
//! * [`json`] — the JSON form of `-device`/`-object` arguments, with
//!   QEMU's refusal of duplicate keys.
//! * [`scalar`] — the conversions themselves: booleans, C-syntax integers,
//!   sizes with suffixes, each with QEMU's exact acceptance rules.
//!
//! All parsers report errors with QEMU's message texts and never panic.

pub mod json;
pub mod keyval;
pub mod qemu_opts;
pub mod scalar;
