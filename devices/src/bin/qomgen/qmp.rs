//! `-qmp stdio` and `-qmp unix:PATH[,server=on][,wait=off]`: a QMP monitor
//! (`qomgen::qmp::Monitor`) over the tree the command line built, until
//! `quit`, end of input, or SIGTERM/SIGINT. On a socket one client is
//! served at a time; descriptors sent with `SCM_RIGHTS` are handed to the
//! monitor for `getfd`; a client that disconnects leaves the socket to
//! the next, which gets a fresh greeting and negotiation (QEMU's socket
//! chardev and `monitor_qmp_event`).

use std::io::{self, Write};
use std::os::fd::{AsFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg};
use qomgen::qmp::{ArgsCheck, Command, CommandCx, Monitor, QmpError};
use qomgen::{Error, ObjectTree};
use qomgen_devices::host::Host;
use qomgen_devices::validate;
use serde_json::{Map, Value, json};

/// Where the monitor talks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// Standard input and output.
    Stdio,
    /// A listening unix socket at this path.
    Unix(PathBuf),
}

/// Parses QEMU's `-qmp` chardev spellings that qomgen serves: `stdio`,
/// and `unix:PATH` with `server=on` (implied) and `wait=on|off` (either:
/// the socket is served before and after a client alike).
pub fn parse_endpoint(spec: &str) -> Result<Endpoint, Error> {
    if spec == "stdio" {
        return Ok(Endpoint::Stdio);
    }
    let Some(rest) = spec.strip_prefix("unix:") else {
        return Err(
            Error::new(format!("'{spec}' is not a supported QMP chardev"))
                .with_hint("Use -qmp stdio or -qmp unix:PATH,server=on,wait=off"),
        );
    };
    let mut parts = rest.split(',');
    let path = parts.next().unwrap_or_default();
    if path.is_empty() {
        return Err(Error::missing_parameter("path"));
    }
    for opt in parts {
        let (k, v) = opt.split_once('=').unwrap_or((opt, "on"));
        if k != "server" && k != "wait" {
            return Err(Error::new(format!("Invalid parameter '{k}'")));
        }
        let on = match v {
            "on" | "yes" | "true" => true,
            "off" | "no" | "false" => false,
            _ => return Err(Error::invalid_parameter_value(k, "'on' or 'off'")),
        };
        match k {
            "server" if on => {}
            "server" => {
                return Err(
                    Error::new("server=off (connecting to a client) is not supported")
                        .with_hint("qomgen listens: use server=on"),
                );
            }
            _ => {}
        }
    }
    Ok(Endpoint::Unix(PathBuf::from(path)))
}

/// `x-query-host-readiness`: what `qomgen --json` reports, and per VFIO
/// type whether it can be used on this host and why not. An `x-`
/// command: qomgen's own, without QEMU's stability promise.
fn host_readiness(cx: &mut CommandCx<'_>, _: &Map<String, Value>) -> Result<Value, QmpError> {
    let host = cx
        .tree
        .resource::<Host>()
        .cloned()
        .unwrap_or_else(Host::system);
    let report = validate::Report::gather(&host);
    let types = report.types(&host);
    let report = serde_json::to_value(&report).map_err(|e| QmpError::generic(e.to_string()))?;
    let types = serde_json::to_value(types).map_err(|e| QmpError::generic(e.to_string()))?;
    Ok(json!({"report": report, "types": types}))
}

/// The monitor with qomgen's commands.
pub fn monitor() -> Monitor {
    let mut mon = Monitor::new();
    mon.add_command(Command {
        name: "x-query-host-readiness",
        args: &[],
        check: ArgsCheck::Members,
        returns: Some("any"),
        features: &["unstable"],
        handler: host_readiness,
    });
    mon
}

enum Wake {
    Input,
    Signal,
}

/// SIGTERM and SIGINT as a descriptor to poll (blocked for delivery).
fn signals() -> io::Result<SignalFd> {
    let mut mask = SigSet::empty();
    mask.add(Signal::SIGTERM);
    mask.add(Signal::SIGINT);
    mask.thread_block()?;
    Ok(SignalFd::with_flags(
        &mask,
        SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK,
    )?)
}

fn wait(fd: BorrowedFd<'_>, sig: &SignalFd) -> io::Result<Wake> {
    let mut fds = [
        PollFd::new(fd, PollFlags::POLLIN),
        PollFd::new(sig.as_fd(), PollFlags::POLLIN),
    ];
    loop {
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) => break,
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    let ready = |f: &PollFd<'_>| f.revents().is_some_and(|r| !r.is_empty());
    Ok(if ready(&fds[1]) {
        Wake::Signal
    } else {
        Wake::Input
    })
}

/// The event QEMU sends when a signal stops it.
fn signal_event(mon: &Monitor) -> Option<Vec<u8>> {
    mon.event_line(
        "SHUTDOWN",
        Some(json!({"guest": false, "reason": "host-signal"})),
    )
}

/// How a session ended.
#[derive(PartialEq, Eq)]
enum End {
    /// The client went away (or end of input).
    Disconnect,
    /// `quit` or a signal: the process ends.
    Stop,
}

/// Serves `endpoint` until the process should end; the caller then
/// releases the tree.
pub fn serve(endpoint: &Endpoint, tree: &mut ObjectTree) -> Result<(), Error> {
    let sig = signals().map_err(|e| Error::new(format!("cannot watch signals: {e}")))?;
    let mut mon = monitor();
    match endpoint {
        Endpoint::Stdio => {
            let stdin = io::stdin();
            let mut stdout = io::stdout().lock();
            session(&mut mon, tree, &sig, stdin.as_fd(), &mut stdout, |buf| {
                read_plain(stdin.as_fd(), buf)
            });
            Ok(())
        }
        Endpoint::Unix(path) => {
            // QEMU replaces a stale socket; anything else at the path stays.
            if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket()) {
                let _ = std::fs::remove_file(path);
            }
            let listener = UnixListener::bind(path).map_err(|e| {
                Error::new(format!("Failed to bind socket to {}: {e}", path.display()))
            })?;
            let result = serve_socket(&listener, &mut mon, tree, &sig);
            let _ = std::fs::remove_file(path);
            result
        }
    }
}

fn serve_socket(
    listener: &UnixListener,
    mon: &mut Monitor,
    tree: &mut ObjectTree,
    sig: &SignalFd,
) -> Result<(), Error> {
    loop {
        match wait(listener.as_fd(), sig) {
            Ok(Wake::Signal) | Err(_) => return Ok(()),
            Ok(Wake::Input) => {}
        }
        let conn = match listener.accept() {
            Ok((c, _)) => c,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::new(format!("accept: {e}"))),
        };
        mon.connect();
        let mut out = &conn;
        let end = session(mon, tree, sig, conn.as_fd(), &mut out, |buf| {
            let (n, fds) = read_socket(&conn, buf)?;
            mon_fds(fds);
            Ok(n)
        });
        if end == End::Stop {
            return Ok(());
        }
    }
}

thread_local! {
    /// Descriptors the last read received, for the session loop to hand
    /// to the monitor (the read closure cannot borrow it).
    static RECEIVED: std::cell::RefCell<Vec<OwnedFd>> = const { std::cell::RefCell::new(Vec::new()) };
}

fn mon_fds(fds: Vec<OwnedFd>) {
    if !fds.is_empty() {
        RECEIVED.with(|r| *r.borrow_mut() = fds);
    }
}

/// One client: greeting, then requests until it goes or the process should end.
fn session(
    mon: &mut Monitor,
    tree: &mut ObjectTree,
    sig: &SignalFd,
    input: BorrowedFd<'_>,
    output: &mut dyn Write,
    mut read: impl FnMut(&mut [u8]) -> io::Result<usize>,
) -> End {
    if output
        .write_all(mon.greeting().as_bytes())
        .and_then(|()| output.flush())
        .is_err()
    {
        return End::Disconnect;
    }
    let mut buf = vec![0u8; 64 * 1024];
    let mut out = Vec::new();
    loop {
        match wait(input, sig) {
            Ok(Wake::Input) => {}
            Ok(Wake::Signal) | Err(_) => {
                if let Some(line) = signal_event(mon) {
                    let _ = output.write_all(&line).and_then(|()| output.flush());
                }
                return End::Stop;
            }
        }
        let n = match read(&mut buf) {
            Ok(0) => return End::Disconnect,
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::Interrupted | io::ErrorKind::WouldBlock
                ) =>
            {
                continue;
            }
            Err(_) => return End::Disconnect,
        };
        let fds = RECEIVED.with(|r| std::mem::take(&mut *r.borrow_mut()));
        mon.receive_fds(fds);
        out.clear();
        mon.feed(tree, &buf[..n], &mut out);
        if output
            .write_all(&out)
            .and_then(|()| output.flush())
            .is_err()
        {
            return End::Disconnect;
        }
        if mon.quit_requested() {
            return End::Stop;
        }
    }
}

fn read_plain(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
    Ok(nix::unistd::read(fd, buf)?)
}

/// A read that also takes the descriptors sent with it (`SCM_RIGHTS`).
fn read_socket(conn: &UnixStream, buf: &mut [u8]) -> io::Result<(usize, Vec<OwnedFd>)> {
    use std::os::fd::AsRawFd;
    let mut iov = [io::IoSliceMut::new(buf)];
    let mut cmsg = nix::cmsg_space!([std::os::fd::RawFd; 16]);
    let msg = recvmsg::<()>(
        conn.as_raw_fd(),
        &mut iov,
        Some(&mut cmsg),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )?;
    let mut fds = Vec::new();
    for c in msg.cmsgs()? {
        if let ControlMessageOwned::ScmRights(raw) = c {
            for fd in raw {
                // SAFETY: the kernel installed these descriptors in this
                // process for this message; nothing else owns them.
                fds.push(unsafe { OwnedFd::from_raw_fd(fd) });
            }
        }
    }
    Ok((msg.bytes, fds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        assert_eq!(parse_endpoint("stdio").unwrap(), Endpoint::Stdio);
        for s in [
            "unix:/tmp/q",
            "unix:/tmp/q,server=on,wait=off",
            "unix:/tmp/q,server,wait=on",
        ] {
            assert_eq!(
                parse_endpoint(s).unwrap(),
                Endpoint::Unix("/tmp/q".into()),
                "{s}"
            );
        }
        assert_eq!(
            parse_endpoint("unix:/tmp/q,bogus=1")
                .unwrap_err()
                .to_string(),
            "Invalid parameter 'bogus'"
        );
        assert!(parse_endpoint("unix:/tmp/q,server=off").is_err());
        assert!(parse_endpoint("tcp:1").is_err());
    }
}
