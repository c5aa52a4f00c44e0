//! `fd=` values: a decimal descriptor number, duplicated so that the caller
//! keeps its own descriptor and ours closes exactly once.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use qomgen::{Error, Result};

use crate::sys::strerror;

/// A descriptor passed by number (`fd=N`): our duplicate, and the number
/// the user gave, which QEMU's names and messages show (`VFIO_FD9`).
#[derive(Debug)]
pub struct PassedFd {
    fd: OwnedFd,
    number: i32,
}

impl PassedFd {
    /// The number as the user passed it.
    pub fn number(&self) -> i32 {
        self.number
    }

    /// Our duplicate, for handing to an owner.
    pub fn into_fd(self) -> OwnedFd {
        self.fd
    }

    /// Another duplicate (the device model keeps its own while realized).
    pub(crate) fn try_clone(&self) -> std::io::Result<OwnedFd> {
        self.fd.try_clone()
    }
}

impl AsFd for PassedFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// Parses and duplicates an `fd=` value. `what` names the parameter as
/// QEMU's message does (`object fd`, `remote object fd`).
///
/// As QEMU's `monitor_fd_param`: while a QMP command runs, a value that
/// does not start with a digit names a descriptor passed with `getfd`,
/// which is taken over (the name is gone afterwards, as in QEMU);
/// otherwise the value is a descriptor number. QEMU takes the number over
/// without checking it; a descriptor that is not open is refused here,
/// when it is set, instead of failing later.
///
/// # Errors
/// `Could not parse <what> <v>:Invalid file descriptor number '<v>'`,
/// `Could not parse <what> <v>:File descriptor named '<v>' has not been
/// found`, or the prefix with the reason the descriptor cannot be used.
pub fn fd_param(value: &str, what: &str) -> Result<PassedFd> {
    if !value.starts_with(|c: char| c.is_ascii_digit())
        && let Some(named) = qomgen::qmp::monitor_get_fd(value)
    {
        let fd = named.map_err(|e| e.prepend(format!("Could not parse {what} {value}:")))?;
        let number = std::os::fd::AsRawFd::as_raw_fd(&fd);
        return Ok(PassedFd { fd, number });
    }
    let invalid = || {
        Error::new(format!(
            "Could not parse {what} {value}:Invalid file descriptor number '{value}'"
        ))
    };
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid());
    }
    let n: i32 = value.parse().map_err(|_| invalid())?;
    // F_GETFD first: BorrowedFd must only be made for an open descriptor.
    // SAFETY: F_GETFD reads the descriptor's flags and touches no memory; on
    // a number that is not an open descriptor it fails with EBADF.
    if unsafe { libc::fcntl(n, libc::F_GETFD) } < 0 {
        let e = nix::errno::Errno::last();
        return Err(
            Error::new(format!("Could not parse {what} {value}:{}", strerror(e))).with_hint(
                "The descriptor must be open in this process (inherited from the caller)",
            ),
        );
    }
    // SAFETY: F_GETFD just succeeded on `n`, so it is an open descriptor; the
    // borrow lives only for the duplication below, and nothing in this
    // process closes it meanwhile (the object model is single-threaded).
    let fd = unsafe { BorrowedFd::borrow_raw(n) };
    fd.try_clone_to_owned()
        .map(|fd| PassedFd { fd, number: n })
        .map_err(|e| Error::new(format!("Could not parse {what} {value}:{e}")))
}
