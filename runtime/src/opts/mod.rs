//! QEMU's option syntaxes and scalar conversions.
//!
//! * [`qemu_opts`] — the QemuOpts syntax `-device` and `-object` use on the
//!   command line: implied first key, `foo`/`nofoo` flags, first `id` wins.
//! * [`json`] — the JSON form of `-device`/`-object` arguments, with
//!   QEMU's refusal of duplicate keys.
//! * [`scalar`] — the conversions QEMU's keyval input visitor applies to
//!   `-device k=v` values: booleans, C-syntax integers, sizes with
//!   suffixes, each with QEMU's exact acceptance rules.
//!
//! QEMU's keyval parser (`util/keyval.c`) has no counterpart: `-device` and
//! `-object` go through QemuOpts, and only QEMU's non-system tools parse
//! `--object` with keyval.
//!
//! All parsers report errors with QEMU's message texts and never panic.

pub mod json;
pub mod qemu_opts;
pub mod scalar;
