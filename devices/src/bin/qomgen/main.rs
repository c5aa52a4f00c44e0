//! `qomgen`: QEMU's `-device`/`-object` dialect against this host. Help and
//! introspection dumps, a realize preflight, and a host-readiness report.

mod cli;
mod qmp;

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

fn main() -> ExitCode {
    // Property values are Rust strings: a non-UTF-8 path (a `sysfsdev=`)
    // would otherwise reach the host mangled and fail as a missing device.
    let mut args = Vec::new();
    for a in std::env::args_os().skip(1) {
        match a.into_string() {
            Ok(a) => args.push(a),
            Err(a) => {
                let _ = writeln!(
                    std::io::stderr(),
                    "qomgen: {}: argument is not valid UTF-8",
                    a.to_string_lossy()
                );
                return ExitCode::FAILURE;
            }
        }
    }
    let colour = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let mut out = Vec::new();
    let mut err = Vec::new();
    let code = cli::run(&args, &mut out, &mut err, colour);
    // A closed pipe (`qomgen ... | head`) is not an error worth reporting.
    let _ = std::io::stdout().write_all(&out);
    let _ = std::io::stderr().write_all(&err);
    ExitCode::from(code)
}
