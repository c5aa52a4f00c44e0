//! The argument of a VFIO ioctl whose size the caller states: a uAPI
//! header that starts with `argsz` and `flags`, followed by data of
//! variable length (a capability chain, a feature's payload).

use nix::libc::c_int;

use super::super::fault::Hook;
use super::super::{Errno, Op, Result, SysError};

/// An 8-byte aligned, zero-initialised buffer of at least `argsz` bytes
/// whose first two `u32`s are `argsz` and `flags`.
pub(super) struct ArgBuf {
    words: Vec<u64>,
}

impl ArgBuf {
    /// A buffer of `argsz` bytes (rounded up to whole words) with the
    /// header's `argsz` and `flags` filled in.
    pub(super) fn new(argsz: u32, flags: u32) -> ArgBuf {
        let mut buf = ArgBuf {
            words: vec![0; (argsz as usize).div_ceil(8)],
        };
        buf.put(0, &argsz.to_ne_bytes());
        buf.put(4, &flags.to_ne_bytes());
        buf
    }

    /// Writes `bytes` at byte offset `at`.
    pub(super) fn put(&mut self, at: usize, bytes: &[u8]) {
        for (i, &b) in bytes.iter().enumerate() {
            let (w, o) = ((at + i) / 8, (at + i) % 8);
            let mut word = self.words[w].to_ne_bytes();
            word[o] = b;
            self.words[w] = u64::from_ne_bytes(word);
        }
    }

    /// The start of the buffer, as the header type `T` the ioctl takes.
    pub(super) fn as_mut_ptr<T>(&mut self) -> *mut T {
        self.words.as_mut_ptr().cast()
    }

    /// The buffer's bytes (whole words).
    pub(super) fn bytes(&self) -> Vec<u8> {
        self.words.iter().flat_map(|w| w.to_ne_bytes()).collect()
    }
}

/// A `VFIO_*_GET_INFO` call whose answer ends in a capability chain: issued
/// with a buffer of `base` bytes (the fixed header) holding `header` after
/// `argsz` and `flags`, and re-issued with the larger `argsz` the kernel
/// asks for until the whole chain fits. Returns the buffer's bytes; `EPROTO`
/// when the kernel still asks for more after four calls.
///
/// `ioctl` issues the call on the buffer it is given.
pub(super) fn get_info(
    call: Hook,
    op: Op,
    base: u32,
    header: &[u8],
    mut ioctl: impl FnMut(&mut ArgBuf) -> nix::Result<c_int>,
) -> Result<Vec<u8>> {
    let mut want = base;
    for _ in 0..4 {
        let mut buf = ArgBuf::new(want, 0);
        buf.put(8, header);
        call.tag(ioctl(&mut buf))?;
        let bytes = buf.bytes();
        let got = u32::from_ne_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        if got <= want {
            return Ok(bytes);
        }
        want = got;
    }
    Err(SysError::new(op, Errno::EPROTO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::fault;

    #[test]
    fn header_and_payload_land_where_the_kernel_reads_them() {
        let mut b = ArgBuf::new(13, 7);
        b.put(8, &[1, 2, 3, 4, 5]);
        let bytes = b.bytes();
        assert_eq!(bytes.len(), 16);
        assert_eq!(bytes[..4], 13u32.to_ne_bytes());
        assert_eq!(bytes[4..8], 7u32.to_ne_bytes());
        assert_eq!(bytes[8..16], [1, 2, 3, 4, 5, 0, 0, 0]);
    }

    #[test]
    fn get_info_grows_to_the_argsz_the_kernel_asks_for() {
        let call = fault::enter(Op::DeviceGetRegionInfo).unwrap();
        let mut sizes = Vec::new();
        let bytes = get_info(
            call,
            Op::DeviceGetRegionInfo,
            32,
            &9u32.to_ne_bytes(),
            |arg| {
                let have = arg.bytes();
                sizes.push(have.len());
                assert_eq!(have[8..12], 9u32.to_ne_bytes());
                // The "kernel" wants 40 bytes for its chain.
                arg.put(0, &40u32.to_ne_bytes());
                Ok(0)
            },
        )
        .unwrap();
        assert_eq!(sizes, [32, 40]);
        assert_eq!(bytes.len(), 40);

        let call = fault::enter(Op::DeviceGetRegionInfo).unwrap();
        let mut want = 32u32;
        let err = get_info(call, Op::DeviceGetRegionInfo, 32, &[], |arg| {
            want += 8;
            arg.put(0, &want.to_ne_bytes());
            Ok(0)
        })
        .unwrap_err();
        assert_eq!(
            (err.op(), err.errno()),
            (Op::DeviceGetRegionInfo, Errno::EPROTO)
        );
    }
}
