//! Guest memory mapped for the device's DMA, IOVA = guest physical
//! address: QEMU's `vfio_listener_region_add` / `_del` for RAM sections
//! (hw/vfio/listener.c, QEMU 10.2).

use qomgen::{Error, Result};
use vm_memory::{GuestMemoryBackend, GuestMemoryRegion, MemoryRegionAddress};

use super::PciFunction;
use crate::sys::{SysError, strerror};

impl PciFunction {
    /// Maps every region of the VMM's guest memory for the device's DMA,
    /// IOVA = guest physical address, through the device's IOMMU backend
    /// (QEMU's `vfio_listener_region_add` for RAM sections). Regions
    /// already mapped are left as they are, so a VMM whose memory map grew
    /// calls it again with the whole map. All or nothing: a region that
    /// fails unmaps those this call mapped.
    ///
    /// The IOMMU pins the pages: if the VMM frees the memory while it is
    /// mapped, the device keeps reaching those pages, never memory the
    /// process maps at the same address later.
    ///
    /// # Errors
    /// No-IOMMU mode (the device would use host physical addresses); a
    /// region without a host address; the kernel refusing a mapping
    /// (overlap, outside the IOMMU's aperture, over the locked-memory limit).
    pub fn map_guest_memory<M: GuestMemoryBackend>(&mut self, mem: &M) -> Result<()> {
        if !self.host.dma_translated() {
            return Err(Error::new(format!(
                "vfio {}: guest memory cannot be mapped for DMA in no-IOMMU mode",
                self.host.name()
            ))
            .with_hint("DMA would use host physical addresses: enable the host IOMMU (intel_iommu=on, or AMD's default) and bind the device to vfio-pci without enable_unsafe_noiommu_mode"));
        }
        let mut done = Vec::new();
        for r in mem.iter() {
            let gpa = r.start_addr().0;
            let len = r.len();
            if self.dma.contains(&(gpa, len)) {
                continue;
            }
            let res = r
                .get_host_address(MemoryRegionAddress(0))
                .map_err(|e| {
                    Error::new(format!(
                        "vfio {}: guest memory at 0x{gpa:x} has no host address: {e}",
                        self.host.name()
                    ))
                })
                .and_then(|host| {
                    // SAFETY: the region's memory stays mapped in the
                    // process while `mem` lives; should the VMM free it
                    // while mapped, the IOMMU keeps the pages pinned, so the
                    // device never reaches memory the process reuses.
                    // vm-memory only accesses guest memory with volatile
                    // operations, so device writes break no Rust reference.
                    unsafe { self.host.dma_map(gpa, host, len) }
                        .map_err(|e| dma_error(gpa, len, host, &e))
                });
            if let Err(e) = res {
                for (g, l) in done {
                    let _ = self.host.dma_unmap(g, l);
                }
                return Err(e);
            }
            done.push((gpa, len));
        }
        self.dma.extend(done);
        Ok(())
    }

    /// Removes the DMA mapping of the guest memory region at `gpa` of
    /// `len` bytes, as mapped by [`PciFunction::map_guest_memory`] (QEMU's
    /// `vfio_listener_region_del`).
    ///
    /// # Errors
    /// No such mapping; the kernel refusing.
    pub fn unmap_guest_region(&mut self, gpa: u64, len: u64) -> Result<()> {
        let Some(i) = self.dma.iter().position(|&m| m == (gpa, len)) else {
            return Err(Error::new(format!(
                "vfio {}: no DMA mapping of 0x{len:x} bytes at 0x{gpa:x}",
                self.host.name()
            )));
        };
        self.host.dma_unmap(gpa, len).map_err(|e| {
            Error::new(format!(
                "vfio_container_dma_unmap(0x{gpa:x}, 0x{len:x}) = -{} ({})",
                e.errno() as i32,
                e.strerror()
            ))
        })?;
        self.dma.remove(i);
        Ok(())
    }

    /// The guest memory regions mapped for DMA, as `(gpa, len)`.
    pub fn dma_regions(&self) -> &[(u64, u64)] {
        &self.dma
    }
}

fn dma_error(gpa: u64, len: u64, host: *mut u8, e: &SysError) -> Error {
    Error::new(format!(
        "vfio_container_dma_map(0x{gpa:x}, 0x{len:x}, {host:p}) = -{} ({})",
        e.errno() as i32,
        strerror(e.errno())
    ))
}
