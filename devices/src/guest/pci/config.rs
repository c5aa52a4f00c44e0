//! The guest's copy of config space and the masks that say, bit by bit,
//! whether a read comes from that copy or from the device, and which bits
//! a guest write may change: QEMU's `pdev->config` and `pdev->wmask`,
//! and vfio's `emulated_config_bits` (hw/vfio/pci.c, QEMU 10.2).

/// Standard header size; extended config space follows up to 4 KiB.
pub(crate) const PCI_CONFIG_SPACE_SIZE: usize = 0x100;
pub(crate) const PCIE_CONFIG_SPACE_SIZE: usize = 0x1000;

pub(crate) const PCI_VENDOR_ID: usize = 0x00;
pub(crate) const PCI_DEVICE_ID: usize = 0x02;
pub(crate) const PCI_COMMAND: usize = 0x04;
pub(crate) const PCI_STATUS: usize = 0x06;
pub(crate) const PCI_CLASS_PROG: usize = 0x09;
pub(crate) const PCI_CACHE_LINE_SIZE: usize = 0x0c;
pub(crate) const PCI_LATENCY_TIMER: usize = 0x0d;
pub(crate) const PCI_HEADER_TYPE: usize = 0x0e;
pub(crate) const PCI_BASE_ADDRESS_0: usize = 0x10;
pub(crate) const PCI_SUBSYSTEM_VENDOR_ID: usize = 0x2c;
pub(crate) const PCI_SUBSYSTEM_ID: usize = 0x2e;
pub(crate) const PCI_ROM_ADDRESS: usize = 0x30;
pub(crate) const PCI_CAPABILITY_LIST: usize = 0x34;
pub(crate) const PCI_INTERRUPT_LINE: usize = 0x3c;
pub(crate) const PCI_INTERRUPT_PIN: usize = 0x3d;

pub(crate) const PCI_COMMAND_IO: u16 = 0x1;
pub(crate) const PCI_COMMAND_MEMORY: u16 = 0x2;
pub(crate) const PCI_COMMAND_MASTER: u16 = 0x4;
pub(crate) const PCI_COMMAND_INTX_DISABLE: u16 = 0x400;
pub(crate) const PCI_STATUS_CAP_LIST: u8 = 0x10;
pub(crate) const PCI_HEADER_TYPE_MULTI_FUNCTION: u8 = 0x80;
pub(crate) const PCI_ROM_ADDRESS_ENABLE: u32 = 0x1;

/// The guest's view: values plus the masks.
#[derive(Debug, Clone)]
pub(crate) struct ConfigSpace {
    /// QEMU's `pdev->config`: what emulated bits read as.
    pub(crate) bytes: Vec<u8>,
    /// vfio's `emulated_config_bits`: 1 = read from `bytes`, 0 = from the device.
    pub(crate) emulated: Vec<u8>,
    /// QEMU's `pdev->wmask`: bits a guest write changes in `bytes`.
    pub(crate) wmask: Vec<u8>,
}

impl ConfigSpace {
    /// A copy of the device's config space (`size` bytes: 256 for
    /// conventional PCI, 4096 for PCIe), with nothing emulated yet and
    /// QEMU's default write masks (`pci_init_wmask`, hw/pci/pci.c).
    pub(crate) fn new(device: &[u8], size: usize) -> ConfigSpace {
        let mut bytes = vec![0u8; size];
        let n = device.len().min(size);
        bytes[..n].copy_from_slice(&device[..n]);
        let mut c = ConfigSpace {
            bytes,
            emulated: vec![0; size],
            wmask: vec![0; size],
        };
        c.wmask[PCI_CACHE_LINE_SIZE] = 0xff;
        c.wmask[PCI_LATENCY_TIMER] = 0xff;
        c.wmask[PCI_INTERRUPT_LINE] = 0xff;
        // pci_init_wmask: the command bits the PCI core emulates.
        c.set_word_in(
            Mask::W,
            PCI_COMMAND,
            PCI_COMMAND_IO
                | PCI_COMMAND_MEMORY
                | PCI_COMMAND_MASTER
                | 0x40
                | 0x100
                | PCI_COMMAND_INTX_DISABLE,
        );
        c
    }

    pub(crate) fn len(&self) -> usize {
        self.bytes.len()
    }

    pub(crate) fn byte(&self, at: usize) -> u8 {
        self.bytes.get(at).copied().unwrap_or(0)
    }

    pub(crate) fn word(&self, at: usize) -> u16 {
        u16::from_le_bytes([self.byte(at), self.byte(at + 1)])
    }

    pub(crate) fn long(&self, at: usize) -> u32 {
        u32::from_le_bytes([
            self.byte(at),
            self.byte(at + 1),
            self.byte(at + 2),
            self.byte(at + 3),
        ])
    }

    pub(crate) fn set_long(&mut self, at: usize, v: u32) {
        self.bytes[at..at + 4].copy_from_slice(&v.to_le_bytes());
    }

    pub(crate) fn set_word(&mut self, at: usize, v: u16) {
        self.bytes[at..at + 2].copy_from_slice(&v.to_le_bytes());
    }

    fn mask_mut(&mut self, m: Mask) -> &mut Vec<u8> {
        match m {
            Mask::W => &mut self.wmask,
            Mask::Emulated => &mut self.emulated,
        }
    }

    /// Sets `len` bytes of mask `m` at `at` to `v` (little-endian).
    pub(crate) fn set_mask(&mut self, m: Mask, at: usize, len: usize, v: u32) {
        let b = v.to_le_bytes();
        self.mask_mut(m)[at..at + len].copy_from_slice(&b[..len]);
    }

    /// Sets `len` bytes of mask `m` from `at` to `v`.
    pub(crate) fn set_mask_range(&mut self, m: Mask, at: usize, len: usize, v: u8) {
        self.mask_mut(m)[at..at + len].fill(v);
    }

    fn set_word_in(&mut self, m: Mask, at: usize, v: u16) {
        self.set_mask(m, at, 2, u32::from(v));
    }

    /// vfio's `vfio_add_emulated_word`: the `mask` bits of the word at `at`
    /// read as `val`, are emulated, and the guest cannot write them.
    pub(crate) fn add_emulated_word(&mut self, at: usize, val: u16, mask: u16) {
        let set = |old: u16, v: u16| (old & !mask) | (v & mask);
        let w = set(self.word(at), val);
        self.set_word(at, w);
        let wm = u16::from_le_bytes([self.wmask[at], self.wmask[at + 1]]);
        self.set_word_in(Mask::W, at, set(wm, !mask));
        let em = u16::from_le_bytes([self.emulated[at], self.emulated[at + 1]]);
        self.set_word_in(Mask::Emulated, at, set(em, mask));
    }

    /// vfio's `vfio_add_emulated_long`.
    pub(crate) fn add_emulated_long(&mut self, at: usize, val: u32, mask: u32) {
        let set = |old: u32, v: u32| (old & !mask) | (v & mask);
        let l = set(self.long(at), val);
        self.set_long(at, l);
        let get = |s: &[u8]| u32::from_le_bytes([s[at], s[at + 1], s[at + 2], s[at + 3]]);
        let wm = set(get(&self.wmask), !mask);
        self.set_mask(Mask::W, at, 4, wm);
        let em = set(get(&self.emulated), mask);
        self.set_mask(Mask::Emulated, at, 4, em);
    }

    /// The emulated-bits mask of an access.
    pub(crate) fn emulated_bits(&self, at: usize, len: usize) -> u32 {
        let mut b = [0u8; 4];
        b[..len].copy_from_slice(&self.emulated[at..at + len]);
        u32::from_le_bytes(b)
    }

    /// The copy's value of an access.
    pub(crate) fn value(&self, at: usize, len: usize) -> u32 {
        let mut b = [0u8; 4];
        b[..len].copy_from_slice(&self.bytes[at..at + len]);
        u32::from_le_bytes(b)
    }

    /// QEMU's `pci_default_write_config` on the copy: writable bits take
    /// the new value. (Its write-1-to-clear bits live in STATUS and the
    /// PCIe error registers, which vfio leaves to the device.)
    pub(crate) fn write(&mut self, at: usize, data: &[u8]) {
        for (i, &v) in data.iter().enumerate() {
            let a = at + i;
            let w = self.wmask[a];
            self.bytes[a] = (self.bytes[a] & !w) | (v & w);
        }
    }
}

/// Which mask [`ConfigSpace::set_mask`] sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mask {
    /// `wmask`.
    W,
    /// `emulated_config_bits`.
    Emulated,
}

/// A standard capability as found on the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StdCap {
    pub(crate) id: u8,
    pub(crate) pos: usize,
    /// Bytes up to the next capability or the end of the header, as
    /// `vfio_std_cap_max_size` measures it.
    pub(crate) size: usize,
}

/// The standard capability list, bounded against loops.
pub(crate) fn std_caps(c: &ConfigSpace) -> Vec<StdCap> {
    if c.byte(PCI_STATUS) & PCI_STATUS_CAP_LIST == 0 {
        return Vec::new();
    }
    let first = usize::from(c.byte(PCI_CAPABILITY_LIST) & !3);
    let positions = chain(first, 48, |pos| {
        (0x40..PCI_CONFIG_SPACE_SIZE)
            .contains(&pos)
            .then(|| usize::from(c.byte(pos + 1) & !3))
    });
    positions
        .iter()
        .map(|&pos| {
            let next = positions
                .iter()
                .copied()
                .filter(|&p| p > pos)
                .min()
                .unwrap_or(PCI_CONFIG_SPACE_SIZE);
            StdCap {
                id: c.byte(pos),
                pos,
                size: next - pos,
            }
        })
        .collect()
}

/// An extended capability as found on the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ExtCap {
    pub(crate) id: u16,
    pub(crate) version: u8,
    pub(crate) pos: usize,
}

/// The extended capability list from 0x100, bounded against loops.
pub(crate) fn ext_caps(c: &ConfigSpace) -> Vec<ExtCap> {
    if c.len() < PCIE_CONFIG_SPACE_SIZE {
        return Vec::new();
    }
    let header = |pos: usize| {
        (pos >= PCI_CONFIG_SPACE_SIZE && pos + 4 <= c.len())
            .then(|| c.long(pos))
            .filter(|&h| h != 0 && h != u32::MAX)
    };
    chain(PCI_CONFIG_SPACE_SIZE, 960, |pos| {
        header(pos).map(|h| (h >> 20) as usize & !3)
    })
    .into_iter()
    .map(|pos| {
        let h = c.long(pos);
        ExtCap {
            id: (h & 0xffff) as u16,
            version: ((h >> 16) & 0xf) as u8,
            pos,
        }
    })
    .collect()
}

/// The positions of a capability list from `first`: `next(pos)` is where
/// the capability at `pos` points, `None` if there is none at `pos`. At
/// most `max` entries, and a position seen before ends the list (a loop).
fn chain(first: usize, max: usize, mut next: impl FnMut(usize) -> Option<usize>) -> Vec<usize> {
    let mut positions = Vec::new();
    let mut pos = first;
    while positions.len() < max && !positions.contains(&pos) {
        let Some(n) = next(pos) else { break };
        positions.push(pos);
        pos = n;
    }
    positions
}
