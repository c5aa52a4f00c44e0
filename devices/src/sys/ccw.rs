//! `linux/vfio_ccw.h` region layouts (not part of vfio-bindings).
//!
//! The C structs are `__packed`; every field here sits at its natural
//! alignment, so `#[repr(C)]` gives byte-identical offsets and sizes, which
//! the `const` assertions below pin down. The regions are exchanged with the
//! kernel through `pread`/`pwrite` on the device fd, so each struct converts
//! to and from its exact byte image ([`CcwIoRegion::to_bytes`] /
//! [`CcwIoRegion::from_bytes`], …) in native byte order (big-endian on
//! s390x), without `unsafe`.
//!
//! Region discovery: the I/O region is `VFIO_CCW_CONFIG_REGION_INDEX` (0);
//! the others are found by their `VFIO_REGION_INFO_CAP_TYPE` capability with
//! type `VFIO_REGION_TYPE_CCW` and subtype `VFIO_REGION_SUBTYPE_CCW_ASYNC_CMD`,
//! `…_SCHIB` or `…_CRW` (see [`super::vfio::RegionInfo::region_type`]).

use std::mem::{offset_of, size_of};

/// Size of the ORB area of [`CcwIoRegion`].
pub const ORB_AREA_SIZE: usize = 12;
/// Size of the SCSW area of [`CcwIoRegion`].
pub const SCSW_AREA_SIZE: usize = 12;
/// Size of the IRB area of [`CcwIoRegion`].
pub const IRB_AREA_SIZE: usize = 96;
/// Size of the SCHIB area of [`CcwSchibRegion`].
pub const SCHIB_AREA_SIZE: usize = 52;

/// [`CcwCmdRegion::command`]: HALT SUBCHANNEL.
pub const VFIO_CCW_ASYNC_CMD_HSCH: u32 = 1 << 0;
/// [`CcwCmdRegion::command`]: CLEAR SUBCHANNEL.
pub const VFIO_CCW_ASYNC_CMD_CSCH: u32 = 1 << 1;

/// `struct ccw_io_region`: START SUBCHANNEL, always present (124 bytes).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CcwIoRegion {
    /// Operation request block.
    pub orb_area: [u8; ORB_AREA_SIZE],
    /// Subchannel status word.
    pub scsw_area: [u8; SCSW_AREA_SIZE],
    /// Interruption response block.
    pub irb_area: [u8; IRB_AREA_SIZE],
    /// Return code of the operation (written by the kernel).
    pub ret_code: u32,
}

/// `struct ccw_cmd_region`: asynchronous HSCH/CSCH (8 bytes).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CcwCmdRegion {
    /// `VFIO_CCW_ASYNC_CMD_*`.
    pub command: u32,
    /// Return code.
    pub ret_code: u32,
}

/// `struct ccw_schib_region`: reading it triggers STORE SUBCHANNEL (52 bytes).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CcwSchibRegion {
    /// Subchannel information block.
    pub schib_area: [u8; SCHIB_AREA_SIZE],
}

/// `struct ccw_crw_region`: one channel report word (8 bytes).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CcwCrwRegion {
    /// Channel report word (0 = none pending).
    pub crw: u32,
    /// Padding.
    pub pad: u32,
}

const _: () = {
    assert!(size_of::<CcwIoRegion>() == 124);
    assert!(offset_of!(CcwIoRegion, orb_area) == 0);
    assert!(offset_of!(CcwIoRegion, scsw_area) == 12);
    assert!(offset_of!(CcwIoRegion, irb_area) == 24);
    assert!(offset_of!(CcwIoRegion, ret_code) == 120);
    assert!(size_of::<CcwCmdRegion>() == 8);
    assert!(offset_of!(CcwCmdRegion, command) == 0);
    assert!(offset_of!(CcwCmdRegion, ret_code) == 4);
    assert!(size_of::<CcwSchibRegion>() == 52);
    assert!(offset_of!(CcwSchibRegion, schib_area) == 0);
    assert!(size_of::<CcwCrwRegion>() == 8);
    assert!(offset_of!(CcwCrwRegion, crw) == 0);
    assert!(offset_of!(CcwCrwRegion, pad) == 4);
};

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// `SIZE`, `to_bytes` and `from_bytes` of a region made of two native
/// `u32`s (the command and CRW regions share that layout).
macro_rules! two_words_region {
    ($region:ident, $c:literal, $first:ident, $second:ident) => {
        impl $region {
            #[doc = concat!("`sizeof(struct ", $c, ")`.")]
            pub const SIZE: usize = size_of::<Self>();

            /// The byte image as exchanged with the kernel.
            pub fn to_bytes(&self) -> [u8; Self::SIZE] {
                let mut b = [0u8; Self::SIZE];
                b[0..4].copy_from_slice(&self.$first.to_ne_bytes());
                b[4..8].copy_from_slice(&self.$second.to_ne_bytes());
                b
            }

            /// Decode the byte image read from the kernel.
            pub fn from_bytes(b: &[u8; Self::SIZE]) -> Self {
                $region {
                    $first: u32_at(b, 0),
                    $second: u32_at(b, 4),
                }
            }
        }
    };
}

impl Default for CcwIoRegion {
    fn default() -> Self {
        CcwIoRegion {
            orb_area: [0; ORB_AREA_SIZE],
            scsw_area: [0; SCSW_AREA_SIZE],
            irb_area: [0; IRB_AREA_SIZE],
            ret_code: 0,
        }
    }
}

impl CcwIoRegion {
    /// Size of the kernel struct (`sizeof(struct ccw_io_region)`); QEMU
    /// reports `Unexpected size of the I/O region` if the region is smaller.
    pub const SIZE: usize = size_of::<Self>();

    /// The byte image as exchanged with the kernel.
    pub fn to_bytes(&self) -> [u8; Self::SIZE] {
        let mut b = [0u8; Self::SIZE];
        b[0..12].copy_from_slice(&self.orb_area);
        b[12..24].copy_from_slice(&self.scsw_area);
        b[24..120].copy_from_slice(&self.irb_area);
        b[120..124].copy_from_slice(&self.ret_code.to_ne_bytes());
        b
    }

    /// Decode the byte image read from the kernel.
    pub fn from_bytes(b: &[u8; Self::SIZE]) -> Self {
        let mut r = CcwIoRegion::default();
        r.orb_area.copy_from_slice(&b[0..12]);
        r.scsw_area.copy_from_slice(&b[12..24]);
        r.irb_area.copy_from_slice(&b[24..120]);
        r.ret_code = u32_at(b, 120);
        r
    }
}

two_words_region!(CcwCmdRegion, "ccw_cmd_region", command, ret_code);

impl Default for CcwSchibRegion {
    fn default() -> Self {
        CcwSchibRegion {
            schib_area: [0; SCHIB_AREA_SIZE],
        }
    }
}

impl CcwSchibRegion {
    /// `sizeof(struct ccw_schib_region)`.
    pub const SIZE: usize = size_of::<Self>();

    /// The byte image as exchanged with the kernel.
    pub fn to_bytes(&self) -> [u8; Self::SIZE] {
        self.schib_area
    }

    /// Decode the byte image read from the kernel.
    pub fn from_bytes(b: &[u8; Self::SIZE]) -> Self {
        CcwSchibRegion { schib_area: *b }
    }
}

two_words_region!(CcwCrwRegion, "ccw_crw_region", crw, pad);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_match_vfio_ccw_h() {
        assert_eq!(CcwIoRegion::SIZE, 124);
        assert_eq!(CcwCmdRegion::SIZE, 8);
        assert_eq!(CcwSchibRegion::SIZE, 52);
        assert_eq!(CcwCrwRegion::SIZE, 8);
    }

    #[test]
    fn byte_images_round_trip() {
        let mut io = CcwIoRegion::default();
        io.orb_area[0] = 0xaa;
        io.scsw_area[11] = 0xbb;
        io.irb_area[95] = 0xcc;
        io.ret_code = 0x1234_5678;
        let b = io.to_bytes();
        assert_eq!(b[0], 0xaa);
        assert_eq!(b[23], 0xbb);
        assert_eq!(b[119], 0xcc);
        assert_eq!(&b[120..], &0x1234_5678u32.to_ne_bytes());
        assert_eq!(CcwIoRegion::from_bytes(&b), io);

        let cmd = CcwCmdRegion {
            command: VFIO_CCW_ASYNC_CMD_CSCH,
            ret_code: 5,
        };
        assert_eq!(CcwCmdRegion::from_bytes(&cmd.to_bytes()), cmd);
        let crw = CcwCrwRegion {
            crw: 0x0044_0000,
            pad: 0,
        };
        assert_eq!(CcwCrwRegion::from_bytes(&crw.to_bytes()), crw);
        let mut schib = CcwSchibRegion::default();
        schib.schib_area[51] = 7;
        assert_eq!(CcwSchibRegion::from_bytes(&schib.to_bytes()), schib);
    }
}
