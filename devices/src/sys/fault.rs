//! Fault injection for the sys layer: a **test seam**, not a feature.
//!
//! The error paths of realize that follow a successful open (a group that
//! is not viable, a container step that fails, a device that is not PCI, …)
//! cannot be produced on demand by a healthy kernel. A [`Faults`] plan makes
//! them reachable from a test running against the real kernel (or a fake
//! tree), in the spirit of the `fail` crate's failpoints, without a
//! dependency and without any build-time switch: the seam is always
//! compiled, and when no plan is installed it costs one thread-local read
//! per wrapped system call.
//!
//! A plan is **per thread** (the object model is single-threaded; tests run
//! each on their own thread) and lives as long as its guard: dropping the
//! [`Faults`] value clears it. What a plan can do:
//!
//! * **Inject** an errno into a call of one [`Op`] ([`Faults::inject`],
//!   [`Faults::inject_nth`]). The injected call does **not** reach the
//!   kernel: the wrapper returns [`SysError`]`(op, errno)` before issuing
//!   it, so no kernel state is created that the caller would not know about
//!   (an injected `VFIO_GROUP_GET_DEVICE_FD` opens no descriptor, an injected
//!   `VFIO_GROUP_SET_CONTAINER` attaches nothing). Each injection fires once.
//!   Calls are counted per public wrapper (one `region_info` is one call even
//!   when it re-issues the ioctl with a larger `argsz`).
//! * **Override** the answers realize's checks depend on: the API version,
//!   `VFIO_CHECK_EXTENSION` for one extension, the group status flags, the
//!   device info (flags, number of regions, number of IRQs), a region's or
//!   an IRQ index's info, a device feature (migration, DMA logging), the
//!   display plane probe. An overridden call, too, does **not** reach the kernel: the
//!   planned answer is returned instead of asking. All of these are
//!   side-effect-free queries, so skipping them changes no kernel state, and
//!   an override works on a fake tree as well, where the kernel would answer
//!   `ENOTTY` (which is how a fake tree gets past `VFIO_GROUP_GET_STATUS`).
//!   A region override has `offset` 0 and no capabilities; that is how a
//!   region the device does not have (edu's VGA region) can be made to exist
//!   with the wrong shape. Reads of the device fd are the one override
//!   that does reach the kernel: its answer is patched afterwards
//!   ([`Faults::override_read`]), so config space can show a capability the
//!   device does not have. Overrides stay in force for the lifetime of the
//!   plan. A due injection wins over an override of the same call.
//!   The host layer's opens of device nodes ([`Op::Open`]) can be
//!   injected too, so a test running as root meets `EACCES`.
//! * **Record** every kernel call the wrappers make while the plan is
//!   installed, and every injected failure ([`Faults::calls`]; overridden
//!   calls are not recorded), with its outcome, so a test can check
//!   that the clean-up of a failed realize was accepted by the kernel (e.g.
//!   `VFIO_GROUP_UNSET_CONTAINER` returned 0), and what the calls that
//!   name the device to the kernel carried ([`Faults::requests`]: the
//!   device name string, the VF token of a bind), so a test on a fake tree
//!   can see what a kernel would have been asked.
//!
//! ```
//! use qomgen_devices::sys::vfio::bindings::VFIO_GROUP_FLAGS_VIABLE;
//! use qomgen_devices::sys::{Errno, Op, fault::Faults};
//!
//! let faults = Faults::install();
//! // realize: "group N is not viable" (the kernel is not asked for the status)
//! faults.override_group_flags(0);
//! // … or, with a viable group: "failed to setup container for group N:
//! // Failed to set group container: Device or resource busy"
//! faults.override_group_flags(VFIO_GROUP_FLAGS_VIABLE);
//! faults.inject(Op::GroupSetContainer, Errno::EBUSY);
//! // … device_add(...) …
//! assert_eq!(faults.pending(), [Op::GroupSetContainer], "not reached here");
//! drop(faults); // the plan is gone
//! ```

use std::cell::{Cell, RefCell};
use std::marker::PhantomData;

use uuid::Uuid;

use super::info::{DeviceInfo, IrqFlags, IrqInfo, RegionFlags, RegionInfo};
use super::{Errno, Op, Result, SysError};

/// The outcome of one recorded call (see [`Faults::calls`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Call {
    /// The operation.
    pub op: Op,
    /// What the caller got: `Ok(())` or the errno.
    pub result: std::result::Result<(), Errno>,
    /// The failure was injected (the kernel was not asked).
    pub injected: bool,
}

/// What a call that names the device asked the kernel (see [`Faults::requests`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// `VFIO_GROUP_GET_DEVICE_FD` with this name string (`<name>`, or
    /// `<name> vf_token=<uuid>`).
    DeviceName(String),
    /// `VFIO_DEVICE_BIND_IOMMUFD` with this VF token; `None` is a bind
    /// without `VFIO_DEVICE_BIND_FLAG_TOKEN`.
    BindToken(Option<Uuid>),
}

#[derive(Debug)]
struct Injection {
    op: Op,
    skip: usize,
    errno: Errno,
}

#[derive(Debug, Default)]
struct Plan {
    injections: Vec<Injection>,
    api_version: Option<i32>,
    extensions: Vec<(u32, bool)>,
    group_flags: Option<u32>,
    device_info: Option<DeviceInfo>,
    regions: Vec<RegionInfo>,
    irqs: Vec<IrqInfo>,
    reads: Vec<(u64, Vec<u8>)>,
    features: Vec<(u32, std::result::Result<u64, Errno>)>,
    gfx_planes: Option<u32>,
    calls: Vec<Call>,
    requests: Vec<Request>,
}

thread_local! {
    static PLAN: RefCell<Option<Plan>> = const { RefCell::new(None) };
    /// Whether [`PLAN`] holds a plan: a flag without a destructor, so the
    /// check every wrapped call makes is one load (a trapped BAR access
    /// of the guest-facing function is one `pread` and this check).
    static PLANNED: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f` on this thread's plan, if one is installed. `None` when there is
/// no plan (the common case: one thread-local read) or the thread is
/// tearing down its locals.
fn with_plan<R>(f: impl FnOnce(&mut Plan) -> R) -> Option<R> {
    PLAN.try_with(|p| p.borrow_mut().as_mut().map(f))
        .ok()
        .flatten()
}

/// The guard of this thread's fault plan: install it, configure it, drop it.
///
/// Not `Send`: the plan belongs to the thread that installed it.
#[derive(Debug)]
#[must_use = "the plan is cleared when the guard is dropped"]
pub struct Faults {
    _thread: PhantomData<*const ()>,
}

impl Faults {
    /// Installs an empty plan on this thread.
    ///
    /// # Panics
    /// If this thread already has a plan (two guards would clear each
    /// other's).
    pub fn install() -> Faults {
        PLAN.with(|p| {
            let mut p = p.borrow_mut();
            assert!(
                p.is_none(),
                "a fault plan is already installed on this thread"
            );
            *p = Some(Plan::default());
        });
        PLANNED.set(true);
        Faults {
            _thread: PhantomData,
        }
    }

    fn edit(&self, f: impl FnOnce(&mut Plan)) -> &Self {
        with_plan(f).expect("the plan lives as long as its guard");
        self
    }

    /// The next call of `op` fails with `errno`, without reaching the kernel.
    pub fn inject(&self, op: Op, errno: Errno) -> &Self {
        self.inject_nth(op, 0, errno)
    }

    /// Call number `skip` (0-based, counted from now, whatever became of
    /// the calls before it) of `op` fails with `errno`, without reaching the
    /// kernel. `inject_nth(op, 0, e)` is [`Faults::inject`].
    pub fn inject_nth(&self, op: Op, skip: usize, errno: Errno) -> &Self {
        self.edit(|p| p.injections.push(Injection { op, skip, errno }))
    }

    /// `VFIO_GET_API_VERSION` answers `version` (kernel not asked).
    pub fn override_api_version(&self, version: i32) -> &Self {
        self.edit(|p| p.api_version = Some(version))
    }

    /// `VFIO_CHECK_EXTENSION(ext)` answers `supported` (kernel not asked;
    /// other extensions are still asked).
    pub fn override_extension(&self, ext: u32, supported: bool) -> &Self {
        self.edit(|p| p.extensions.push((ext, supported)))
    }

    /// `VFIO_GROUP_GET_STATUS` answers `flags` (`VFIO_GROUP_FLAGS_*`;
    /// kernel not asked).
    pub fn override_group_flags(&self, flags: u32) -> &Self {
        self.edit(|p| p.group_flags = Some(flags))
    }

    /// `VFIO_DEVICE_GET_INFO` answers `info` (kernel not asked).
    pub fn override_device_info(&self, info: DeviceInfo) -> &Self {
        self.edit(|p| p.device_info = Some(info))
    }

    /// `VFIO_DEVICE_GET_REGION_INFO(index)` answers `flags` and `size`
    /// (offset 0, no capabilities; kernel not asked). Other indexes are
    /// still asked.
    pub fn override_region_info(&self, index: u32, flags: u32, size: u64) -> &Self {
        self.override_region(RegionInfo {
            index,
            flags: RegionFlags::from_bits_retain(flags),
            size,
            offset: 0,
            caps: Vec::new(),
        })
    }

    /// `VFIO_DEVICE_GET_REGION_INFO(info.index)` answers `info` as given,
    /// capabilities included (kernel not asked): a device-specific region
    /// (`VFIO_REGION_INFO_CAP_TYPE`) the device does not have.
    pub fn override_region(&self, info: RegionInfo) -> &Self {
        self.edit(|p| p.regions.push(info))
    }

    /// `VFIO_DEVICE_GET_IRQ_INFO(index)` answers `flags` and `count`
    /// (kernel not asked; other indexes are still asked).
    pub fn override_irq_info(&self, index: u32, flags: u32, count: u32) -> &Self {
        self.edit(|p| {
            p.irqs.push(IrqInfo {
                index,
                flags: IrqFlags::from_bits_retain(flags),
                count,
            })
        })
    }

    /// Bytes the device fd reads at absolute offset `offset` (a region's
    /// offset plus the offset inside it) read as `bytes` instead: the kernel
    /// is asked, then the overlapping part of its answer is replaced. For
    /// config space, whose reads have no side effects, this makes a device
    /// show capabilities or BARs it does not have.
    pub fn override_read(&self, offset: u64, bytes: &[u8]) -> &Self {
        self.edit(|p| p.reads.push((offset, bytes.to_vec())))
    }

    /// `VFIO_DEVICE_FEATURE` of `feature` (`VFIO_DEVICE_FEATURE_MIGRATION`,
    /// `…_DMA_LOGGING_START`, …; any of GET/SET/PROBE) answers `answer`:
    /// `Ok(data)` succeeds with `data` as the first 8 payload bytes (the
    /// migration flags for a GET of `MIGRATION`), `Err(errno)` fails (kernel
    /// not asked).
    pub fn override_feature(&self, feature: u32, answer: std::result::Result<u64, Errno>) -> &Self {
        self.edit(|p| p.features.push((feature, answer)))
    }

    /// `VFIO_DEVICE_QUERY_GFX_PLANE` probes succeed for the plane types in
    /// `types` (`VFIO_GFX_PLANE_TYPE_DMABUF` / `…_REGION`) and fail with
    /// `ENOTTY` for the others (kernel not asked).
    pub fn override_gfx_planes(&self, types: u32) -> &Self {
        self.edit(|p| p.gfx_planes = Some(types))
    }

    /// The calls made since the plan was installed, oldest first: every
    /// kernel call a wrapper issued (a re-issued ioctl appears twice) and
    /// every injected failure.
    pub fn calls(&self) -> Vec<Call> {
        with_plan(|p| p.calls.clone()).unwrap_or_default()
    }

    /// What the calls that name the device carried, oldest first, for the
    /// calls that reached the kernel (an injected call asked nothing).
    pub fn requests(&self) -> Vec<Request> {
        with_plan(|p| p.requests.clone()).unwrap_or_default()
    }

    /// The operations of injections that have not fired yet. Empty after a
    /// test whose path reached every injected call.
    pub fn pending(&self) -> Vec<Op> {
        with_plan(|p| p.injections.iter().map(|i| i.op).collect()).unwrap_or_default()
    }
}

impl Drop for Faults {
    fn drop(&mut self) {
        let _ = PLAN.try_with(|p| p.borrow_mut().take());
        let _ = PLANNED.try_with(|p| p.set(false));
    }
}

/// Shorthand: installs a plan with one injection.
pub fn inject(op: Op, errno: Errno) -> Faults {
    let f = Faults::install();
    f.inject(op, errno);
    f
}

// ---------------------------------------------------------------------------
// Hooks used by the wrappers in `vfio/` and `iommufd.rs`.

/// One wrapper call of `op`, from [`enter`] to its result: tags kernel
/// results with the op (as [`SysError`]s), logs them and applies overrides,
/// touching the thread-local plan only when [`enter`] found one.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Hook {
    op: Op,
    planned: bool,
}

/// Entry of a wrapper for `op` (the one thread-local read when no plan is
/// installed): the injected failure if one is due, else the [`Hook`] that
/// tags the kernel's results.
#[inline]
pub(crate) fn enter(op: Op) -> Result<Hook> {
    if PLANNED.get() {
        enter_planned(op)
    } else {
        Ok(Hook { op, planned: false })
    }
}

#[cold]
#[inline(never)]
fn enter_planned(op: Op) -> Result<Hook> {
    let fired = with_plan(|p| {
        let due = p.injections.iter().position(|i| i.op == op && i.skip == 0);
        for i in p.injections.iter_mut().filter(|i| i.op == op && i.skip > 0) {
            i.skip -= 1;
        }
        let errno = due.map(|at| p.injections.remove(at).errno);
        if let Some(errno) = errno {
            p.calls.push(Call {
                op,
                result: Err(errno),
                injected: true,
            });
        }
        errno
    });
    match fired {
        None => Ok(Hook { op, planned: false }),
        Some(None) => Ok(Hook { op, planned: true }),
        Some(Some(errno)) => Err(SysError::new(op, errno)),
    }
}

/// The answer planned last for `key` (a later plan overrides an earlier one).
fn latest<K: PartialEq, A: Copy>(planned: &[(K, A)], key: K) -> Option<A> {
    planned
        .iter()
        .rev()
        .find(|(k, _)| *k == key)
        .map(|(_, a)| *a)
}

impl Hook {
    /// Logs a kernel result (when a plan is installed).
    #[inline]
    pub(crate) fn note<T>(self, r: &nix::Result<T>) {
        if self.planned {
            self.log(r.as_ref().map(drop).map_err(|e| *e));
        }
    }

    #[cold]
    #[inline(never)]
    fn log(self, result: std::result::Result<(), Errno>) {
        let op = self.op;
        with_plan(|p| {
            p.calls.push(Call {
                op,
                result,
                injected: false,
            })
        });
    }

    /// Turns a kernel result into a [`Result`] tagged with the op, logging it.
    #[inline]
    pub(crate) fn tag<T>(self, r: nix::Result<T>) -> Result<T> {
        self.note(&r);
        r.map_err(|e| SysError::new(self.op, e))
    }

    /// Records what the call asks the kernel (when a plan is installed;
    /// `r` is not run otherwise).
    pub(crate) fn request(self, r: impl FnOnce() -> Request) {
        if self.planned {
            let r = r();
            with_plan(|p| p.requests.push(r));
        }
    }

    fn plan<R>(self, f: impl FnOnce(&mut Plan) -> Option<R>) -> Option<R> {
        if self.planned {
            with_plan(f).flatten()
        } else {
            None
        }
    }

    /// The planned `VFIO_GET_API_VERSION` answer.
    pub(crate) fn api_version(self) -> Option<i32> {
        self.plan(|p| p.api_version)
    }

    /// The planned `VFIO_CHECK_EXTENSION(ext)` answer.
    pub(crate) fn extension(self, ext: u32) -> Option<bool> {
        self.plan(|p| latest(&p.extensions, ext))
    }

    /// The planned `VFIO_GROUP_GET_STATUS` flags.
    pub(crate) fn group_flags(self) -> Option<u32> {
        self.plan(|p| p.group_flags)
    }

    /// The planned `VFIO_DEVICE_GET_INFO` answer.
    pub(crate) fn device_info(self) -> Option<DeviceInfo> {
        self.plan(|p| p.device_info)
    }

    /// The planned `VFIO_DEVICE_GET_REGION_INFO(index)` answer.
    pub(crate) fn region_info(self, index: u32) -> Option<RegionInfo> {
        self.plan(|p| p.regions.iter().rev().find(|r| r.index == index).cloned())
    }

    /// The planned `VFIO_DEVICE_GET_IRQ_INFO(index)` answer.
    pub(crate) fn irq_info(self, index: u32) -> Option<IrqInfo> {
        self.plan(|p| p.irqs.iter().rev().find(|r| r.index == index).copied())
    }

    /// The planned `VFIO_DEVICE_FEATURE` answer for `feature`.
    pub(crate) fn feature(self, feature: u32) -> Option<std::result::Result<u64, Errno>> {
        self.plan(|p| latest(&p.features, feature))
    }

    /// The planned plane types `VFIO_DEVICE_QUERY_GFX_PLANE` probes accept.
    pub(crate) fn gfx_planes(self) -> Option<u32> {
        self.plan(|p| p.gfx_planes)
    }

    /// Replaces the bytes of a read at `offset` that planned reads overlap.
    #[inline]
    pub(crate) fn patch_read(self, offset: u64, buf: &mut [u8]) {
        if self.planned {
            patch_planned_read(offset, buf);
        }
    }
}

#[cold]
#[inline(never)]
fn patch_planned_read(offset: u64, buf: &mut [u8]) {
    with_plan(|p| {
        let end = offset + buf.len() as u64;
        for (at, bytes) in &p.reads {
            let (lo, hi) = (offset.max(*at), end.min(*at + bytes.len() as u64));
            for o in lo..hi {
                buf[(o - offset) as usize] = bytes[(o - at) as usize];
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_plan_means_no_effect() {
        let h = enter(Op::GroupGetStatus).unwrap();
        assert!(!h.planned);
        assert_eq!(h.api_version(), None);
        assert_eq!(h.extension(1), None);
        assert_eq!(h.group_flags(), None);
        assert_eq!(h.device_info(), None);
        assert!(h.region_info(8).is_none());
        assert_eq!(
            h.tag::<()>(Err(Errno::ENOTTY)),
            Err(SysError::new(Op::GroupGetStatus, Errno::ENOTTY))
        );
    }

    #[test]
    fn injections_fire_once_in_order_and_the_guard_clears() {
        let f = Faults::install();
        f.inject_nth(Op::DeviceGetRegionInfo, 2, Errno::EIO)
            .inject(Op::DeviceGetRegionInfo, Errno::EPERM);
        assert_eq!(
            enter(Op::DeviceGetRegionInfo).unwrap_err(),
            SysError::new(Op::DeviceGetRegionInfo, Errno::EPERM)
        );
        assert!(enter(Op::DeviceGetIrqInfo).is_ok());
        assert!(enter(Op::DeviceGetRegionInfo).is_ok());
        assert_eq!(f.pending(), [Op::DeviceGetRegionInfo]);
        assert_eq!(
            enter(Op::DeviceGetRegionInfo).unwrap_err().errno(),
            Errno::EIO
        );
        let h = enter(Op::DeviceReset).unwrap();
        assert!(h.planned);
        assert!(h.tag::<()>(Err(Errno::ENOTTY)).is_err());
        assert!(f.pending().is_empty());
        let calls = f.calls();
        assert_eq!(calls.len(), 3);
        assert!(calls[0].injected && calls[1].injected);
        assert_eq!(
            calls[2],
            Call {
                op: Op::DeviceReset,
                result: Err(Errno::ENOTTY),
                injected: false
            }
        );
        drop(f);
        assert!(!enter(Op::DeviceGetRegionInfo).unwrap().planned);
        // A new plan can be installed once the old one is gone.
        let _f = inject(Op::SetIommu, Errno::EBUSY);
        assert!(enter(Op::SetIommu).is_err());
    }

    #[test]
    fn overrides_edit_results() {
        let f = Faults::install();
        let di = DeviceInfo {
            flags: crate::sys::vfio::DeviceFlags::PCI,
            num_regions: 9,
            num_irqs: 2,
        };
        f.override_api_version(7)
            .override_extension(3, false)
            .override_group_flags(0)
            .override_device_info(di)
            .override_region_info(8, 1, 0x10);
        let h = enter(Op::DeviceGetInfo).unwrap();
        assert_eq!(h.api_version(), Some(7));
        assert_eq!(h.extension(3), Some(false));
        assert_eq!(h.extension(1), None);
        assert_eq!(h.group_flags(), Some(0));
        assert_eq!(h.device_info(), Some(di));
        let r = h.region_info(8).unwrap();
        assert_eq!((r.index, r.flags.bits(), r.size, r.offset), (8, 1, 0x10, 0));
        assert!(h.region_info(7).is_none());
    }

    #[test]
    #[should_panic(expected = "already installed")]
    fn two_plans_on_one_thread_panic() {
        let _a = Faults::install();
        let _b = Faults::install();
    }
}
