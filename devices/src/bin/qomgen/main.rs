//! `qomgen`: QEMU's `-device`/`-object` dialect against this host. Help and
//! introspection dumps, a realize preflight, and a host-readiness report.
//!
//! The process starts at the C `main` below rather than through std's
//! runtime set-up (`#![no_main]`): that set-up reads `/proc/self/maps` to
//! find the main thread's stack guard and installs an alternate signal
//! stack and SIGSEGV/SIGBUS handlers, which is a sixth of the whole run of
//! `qomgen -device X,help` (BENCHMARKS.md, "Start-up"). What of it the
//! program relies on is done here: SIGPIPE ignored (a closed pipe is an
//! `EPIPE` the writes ignore, not a kill), fds 0-2 open, stdout flushed, a
//! panic exits with status 101. The one difference: a stack overflow is a
//! plain SIGSEGV, without std's "has overflowed its stack" line.
#![no_main]

mod cli;
mod qmp;

use std::io::{IsTerminal, Write};

/// The process entry, called by the C runtime (std's `args_os` works
/// without std's set-up: glibc hands `argc`/`argv` to std's `.init_array`
/// hook too).
#[unsafe(no_mangle)]
extern "C" fn main(_argc: libc::c_int, _argv: *const *const libc::c_char) -> libc::c_int {
    init_process();
    match std::panic::catch_unwind(run) {
        Ok(code) => libc::c_int::from(code),
        // The panic hook has printed the message, as under std's runtime.
        Err(_) => 101,
    }
}

/// The parts of std's runtime set-up the program relies on.
fn init_process() {
    // SAFETY: setting SIGPIPE's disposition before any other thread exists
    // races with nothing; SIG_IGN is a valid disposition.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    // As std does: a descriptor among 0-2 that is closed is opened on
    // /dev/null, so that no file the program opens takes its number.
    let mut fds = [0, 1, 2].map(|fd| libc::pollfd {
        fd,
        events: 0,
        revents: 0,
    });
    // SAFETY: `fds` is an array of 3 initialised pollfd that outlives the call.
    let r = unsafe { libc::poll(fds.as_mut_ptr(), 3, 0) };
    if r > 0 {
        for p in fds.iter().filter(|p| p.revents & libc::POLLNVAL != 0) {
            // SAFETY: a NUL-terminated path; the descriptor it returns is
            // the lowest free one, `p.fd`, and is meant to stay open.
            let fd = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR) };
            if fd != p.fd {
                std::process::abort();
            }
        }
    }
}

/// The program proper; returns the exit status.
fn run() -> u8 {
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
                return 1;
            }
        }
    }
    let colour = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let mut out = Vec::new();
    let mut err = Vec::new();
    let code = cli::run(&args, &mut out, &mut err, colour);
    // A closed pipe (`qomgen ... | head`) is not an error worth reporting.
    let mut stdout = std::io::stdout();
    let _ = stdout.write_all(&out).and_then(|()| stdout.flush());
    let _ = std::io::stderr().write_all(&err);
    code
}
