//! Integration tests of qomgen live in `tests/`; this library holds the
//! fixture types they share: a small family of objects and devices that
//! uses every attribute the derives accept.
//!
//! Fields without a doc comment are properties that deliberately have no
//! description (the doc comment *is* the description), hence the allow.
#![allow(missing_docs)]

use std::cell::Cell;
use std::marker::PhantomData;
use std::thread::LocalKey;

/// The README's examples, run as doctests.
#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

use qomgen::{
    Device, DeviceImpl, Error, LifecycleCx, Link, Object, ObjectImpl, OnOffAuto, PropertyKind,
    Result, Size, ValueCx,
};

thread_local! {
    /// Realize/unrealize calls seen by the fixtures, in order (for lifecycle tests).
    pub static EVENTS: std::cell::RefCell<Vec<String>> = const { std::cell::RefCell::new(Vec::new()) };
    /// Live `Backend` instances (to prove failed creations drop what they built).
    pub static LIVE_BACKENDS: Cell<usize> = const { Cell::new(0) };
}

fn event(s: impl Into<String>) {
    EVENTS.with(|e| e.borrow_mut().push(s.into()));
}

/// Takes and clears the recorded lifecycle events.
pub fn take_events() -> Vec<String> {
    EVENTS.with(|e| std::mem::take(&mut *e.borrow_mut()))
}

/// A custom kind, like QEMU's NVIDIA GPUDirect clique: a `uint8` in 0..=15.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Clique(pub u8);

impl PropertyKind for Clique {
    const TYPE_NAME: &'static str = "uint8";
    const DESCRIPTION: Option<&'static str> = Some("NVIDIA GPUDirect Clique ID (0 - 15)");

    fn parse(s: &str, cx: &ValueCx<'_>) -> Result<Self> {
        Self::check(u8::parse(s, cx)?, cx)
    }

    fn from_json(v: &serde_json::Value, cx: &ValueCx<'_>) -> Result<Self> {
        Self::check(u8::from_json(v, cx)?, cx)
    }

    fn to_json(&self) -> serde_json::Value {
        self.0.into()
    }

    fn print(&self) -> String {
        self.0.to_string()
    }

    fn default_value(&self) -> qomgen::DefaultValue {
        qomgen::DefaultValue::UInt(self.0.into())
    }
}

impl Clique {
    fn check(v: u8, cx: &ValueCx<'_>) -> Result<Self> {
        if v > 15 {
            return Err(Error::new(format!(
                "Property {}: valid range 0-15",
                cx.prop
            )));
        }
        Ok(Clique(v))
    }
}

/// A user-creatable backend object, like `-object iommufd`.
#[derive(Object, Debug)]
#[object(name = "test-backend", user_creatable)]
pub struct Backend {
    /// Descriptor number handed over by the caller
    #[prop(write_only, setter = Backend::set_fd)]
    pub fd: Option<i32>,
    /// Size of the shared window
    #[prop(default = Size(4096), since = "9.0")]
    pub window: Size,
    /// Refuse to complete (to test failed creation)
    #[prop(name = "x-fail-complete", default = false)]
    pub fail_complete: bool,
    /// Set by `complete`.
    pub completed: bool,
    _counted: Counted<Backends>,
}

/// Which live count a [`Counted`] field keeps.
pub trait LiveCount {
    /// The count, per thread (the tests of a binary run on many).
    const COUNT: &'static LocalKey<Cell<usize>>;
}

/// A field that counts its instance in `C::COUNT` while it exists: a
/// creation that fails, or a deletion, must drop it with the instance.
#[derive(Debug)]
pub struct Counted<C: LiveCount>(PhantomData<C>);

impl<C: LiveCount> Default for Counted<C> {
    fn default() -> Self {
        C::COUNT.with(|c| c.set(c.get() + 1));
        Counted(PhantomData)
    }
}

impl<C: LiveCount> Drop for Counted<C> {
    fn drop(&mut self) {
        C::COUNT.with(|c| c.set(c.get() - 1));
    }
}

/// Counts live backends in [`LIVE_BACKENDS`].
#[derive(Debug)]
struct Backends;

impl LiveCount for Backends {
    const COUNT: &'static LocalKey<Cell<usize>> = &LIVE_BACKENDS;
}

impl Backend {
    fn set_fd(&mut self, value: &str) -> Result<()> {
        let n: i32 = value.parse().map_err(|_| {
            Error::new(format!(
                "Could not parse object fd {value}:Invalid file descriptor number '{value}'"
            ))
        })?;
        self.fd = Some(n);
        Ok(())
    }
}

impl ObjectImpl for Backend {
    fn complete(&mut self, _cx: &LifecycleCx<'_>) -> Result<()> {
        if self.fail_complete {
            return Err(
                Error::new("can't create backend: refused").with_hint("Is x-fail-complete set?")
            );
        }
        self.completed = true;
        Ok(())
    }
}

/// A backend that is not user-creatable.
#[derive(Object, Debug, Default)]
#[object(name = "test-internal-object", no_desc)]
pub struct InternalObject {}

impl ObjectImpl for InternalObject {}

/// An abstract bus device, like `pci-device`.
#[derive(Device, Debug)]
#[device(name = "test-bus-device", abstract, bus = "TEST", no_desc)]
pub struct BusDevice {
    /// Slot on the bus
    #[prop(default = -1)]
    pub slot: i32,
    #[prop(default = u32::MAX)]
    pub romsize: u32,
    #[prop(name = "x-bus-quirk", default = true)]
    pub quirk: bool,
    /// Bus number, assigned at realize
    #[prop(read_only)]
    pub busnr: u8,
}

impl DeviceImpl for BusDevice {
    fn realize(&mut self, _cx: &LifecycleCx<'_>) -> Result<()> {
        if self.romsize != u32::MAX && !self.romsize.is_power_of_two() {
            return Err(Error::new(format!(
                "ROM size {} is not a power of two",
                self.romsize
            )));
        }
        self.busnr = 1;
        event("bus-device realize");
        Ok(())
    }

    fn unrealize(&mut self, _cx: &LifecycleCx<'_>) {
        event("bus-device unrealize");
    }
}

/// Test device with every kind of property
#[derive(Device, Debug)]
#[device(name = "test-leaf", category = Misc)]
pub struct Leaf {
    #[parent]
    pub bus: BusDevice,
    /// Host path of the assigned thing
    #[prop(since = "1.3")]
    pub host: Option<String>,
    /// Backend to use
    #[prop(link = "test-backend", since = "9.0")]
    pub backend: Option<Link<Backend>>,
    #[prop(name = "x-offset", default = 0)]
    pub offset: u16,
    /// Display mode
    #[prop(default = OnOffAuto::Off)]
    pub display: OnOffAuto,
    /// Buffer size
    #[prop(default = Size(u64::MAX))]
    pub buffer_size: Size,
    #[prop(name = "x-clique")]
    pub clique: Option<Clique>,
    /// Allowed to change while running
    #[prop(default = 0, set_after_realize)]
    pub weight: u64,
    /// Fail realize (to test cleanup)
    #[prop(name = "x-fail-realize", default = false)]
    pub fail_realize: bool,
    #[prop(write_only, setter = Leaf::set_token)]
    pub token: Option<String>,
    /// Not a property: state owned by the realized device.
    pub realized_with: Option<String>,
}

impl Leaf {
    fn set_token(&mut self, value: &str) -> Result<()> {
        self.token = Some(value.to_owned());
        Ok(())
    }
}

impl DeviceImpl for Leaf {
    fn realize(&mut self, _cx: &LifecycleCx<'_>) -> Result<()> {
        if self.host.is_none() && self.backend.is_none() {
            return Err(Error::new("No provided host device")
                .with_hint("Use -device test-leaf,host=PATH or -device test-leaf,backend=ID"));
        }
        if self.fail_realize {
            return Err(Error::new("realize refused"));
        }
        if let Some(b) = &self.backend {
            self.realized_with = Some(format!("window={}", b.borrow()?.window.0));
        }
        event("leaf realize");
        Ok(())
    }

    fn unrealize(&mut self, _cx: &LifecycleCx<'_>) {
        event("leaf unrealize");
    }
}

/// Test device that cannot be hot-plugged
#[derive(Device, Debug)]
#[device(name = "test-leaf-nohotplug", hotpluggable = false, no_desc)]
pub struct LeafNoHotplug {
    #[parent]
    pub leaf: Leaf,
    /// Extra option only this variant has
    #[prop(default = false, since = "10.1")]
    pub ramfb: bool,
}

impl DeviceImpl for LeafNoHotplug {}

/// A device only the machine may create
#[derive(Device, Debug, Default)]
#[device(name = "test-builtin", user_creatable = false, category = Bridge)]
pub struct Builtin {}

impl DeviceImpl for Builtin {}

/// What a QMP client reads from a negotiated monitor on `tree` that is
/// fed `input` in reads of `piece` bytes, then a resynchronising `\xFF`
/// and a `query-version` with id `probe`: the replies and events, their
/// timestamps removed, and whether the input asked to quit. Unless it
/// did, the probe must be answered last; every reply must be one line of
/// JSON ending in `\r\n`. The fuzz target `qmp` and its property test
/// both compare the input fed whole with the input fed in pieces.
pub fn qmp_replies(
    tree: &mut qomgen::ObjectTree,
    input: &[u8],
    piece: usize,
) -> (Vec<serde_json::Value>, bool) {
    let mut mon = qomgen::qmp::Monitor::new();
    let mut out = Vec::new();
    // No read leaves a reply half written.
    let mut feed = |mon: &mut qomgen::qmp::Monitor, bytes: &[u8]| {
        mon.feed(tree, bytes, &mut out);
        assert!(out.is_empty() || out.ends_with(b"\r\n"));
    };
    feed(&mut mon, b"{'execute':'qmp_capabilities'}");
    for chunk in input.chunks(piece.max(1)) {
        feed(&mut mon, chunk);
    }
    let quit = mon.quit_requested();
    feed(&mut mon, b"\xff{'execute':'query-version','id':'probe'}");
    let text = String::from_utf8(out).expect("replies are UTF-8");
    let mut lines: Vec<serde_json::Value> = text
        .split_terminator("\r\n")
        .map(|l| serde_json::from_str(l).expect("a reply is JSON"))
        .collect();
    for v in &mut lines {
        if let Some(m) = v.as_object_mut() {
            m.remove("timestamp");
        }
    }
    if !quit {
        assert_eq!(
            lines.last().map(|v| &v["id"]),
            Some(&serde_json::Value::from("probe"))
        );
    }
    (lines, quit)
}
