//! Whether the device can be migrated: QEMU's `vfio_migration_realize`
//! (`hw/vfio/migration.c`). With `enable-migration=on` a device that cannot
//! migrate fails to realize; with `auto` or `off` it realizes and the
//! reason is kept as a migration blocker, which the report shows.

use qomgen::{Error, LifecycleCx, OnOffAuto, Result};
use vfio_bindings::bindings::vfio as vb;

use crate::sys::Errno;
use crate::sys::vfio::Device;

/// Where dirty pages would be tracked during migration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DirtyTracking {
    /// The device logs its own DMA (`VFIO_DEVICE_FEATURE_DMA_LOGGING`).
    Device,
    /// The IOMMU does (an iommufd HWPT allocated with dirty tracking).
    Iommu,
    /// Neither (QEMU then falls back to treating all memory as dirty).
    None,
}

/// The outcome of the migration probe.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Migration {
    /// The device supports migration.
    Supported {
        /// `VFIO_MIGRATION_*` flags the driver reports.
        flags: u64,
        /// Dirty page tracking in use.
        dirty_tracking: DirtyTracking,
    },
    /// Migration is blocked, and why (QEMU's migration blocker text).
    Blocked {
        /// The blocker.
        reason: String,
    },
    /// Not probed: the device is the primary of a failover pair, which the
    /// guest unplugs before a migration, so QEMU skips the probe and
    /// registers no blocker.
    Failover {
        /// `failover_pair_id`: the id of the standby device.
        pair: String,
    },
}

/// Probes migration support (`enable-migration`), device dirty tracking
/// (`x-device-dirty-page-tracking`) and takes the IOMMU's. `others` are
/// the migration flags of the tree's other realized devices that can
/// migrate.
pub(super) fn realize(
    device: &Device,
    name: &str,
    enable: OnOffAuto,
    device_dirty: OnOffAuto,
    iommu_dirty: bool,
    others: &[u64],
    cx: &LifecycleCx<'_>,
) -> Result<Migration> {
    // QEMU's vfio_block_migration: fatal only when migration was demanded.
    let block = |reason: String| {
        if enable == OnOffAuto::On {
            Err(Error::new(reason))
        } else {
            Ok(Migration::Blocked { reason })
        }
    };
    if enable == OnOffAuto::Off {
        return block(format!("{name}: Migration is disabled for VFIO device"));
    }
    let flags = match device.migration_flags() {
        Ok(f) if f & u64::from(vb::VFIO_MIGRATION_STOP_COPY) != 0 => f,
        // Basic migration (stop-and-copy) must be there.
        Ok(_) => return block(init_failed(name, Errno::EOPNOTSUPP)),
        Err(e) if e.errno() == Errno::ENOTTY => {
            return block(format!("{name}: VFIO migration is not supported in kernel"));
        }
        Err(e) => return block(init_failed(name, e.errno())),
    };
    let dirty_tracking = if device_dirty != OnOffAuto::Off && device.dma_logging_supported() {
        DirtyTracking::Device
    } else if iommu_dirty {
        DirtyTracking::Iommu
    } else {
        let msg = format!("{name}: VFIO device doesn't support device and IOMMU dirty tracking");
        if enable == OnOffAuto::Auto {
            return block(msg);
        }
        cx.warn(Error::new(msg));
        DirtyTracking::None
    };
    // QEMU's vfio_block_multiple_devices_migration: with more than one
    // migratable device, all of them must support P2P migration.
    let p2p = u64::from(vb::VFIO_MIGRATION_P2P);
    if !others.is_empty() && (flags & p2p == 0 || others.iter().any(|f| f & p2p == 0)) {
        return block(
            "Multiple VFIO devices migration is supported only if all of them support P2P migration"
                .to_owned(),
        );
    }
    Ok(Migration::Supported {
        flags,
        dirty_tracking,
    })
}

fn init_failed(name: &str, errno: Errno) -> String {
    format!(
        "{name}: Migration couldn't be initialized for VFIO device, err: -{} ({})",
        errno as i32,
        crate::sys::strerror(errno)
    )
}
