//! `qomgen`: QEMU's `-device`/`-object` dialect against this host. Help and
//! introspection dumps, a realize preflight, and a host-readiness report.

mod cli;

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args_os()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let colour = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let mut out = Vec::new();
    let mut err = Vec::new();
    let code = cli::run(&args, &mut out, &mut err, colour);
    // A closed pipe (`qomgen ... | head`) is not an error worth reporting.
    let _ = std::io::stdout().write_all(&out);
    let _ = std::io::stderr().write_all(&err);
    ExitCode::from(code)
}
