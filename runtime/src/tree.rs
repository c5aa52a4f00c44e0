//! The object tree: user-created objects under `/objects/<id>`, devices
//! (with or without id), shared resources, and the lifecycle rules that
//! bind them.

use std::any::Any;
use std::cell::RefCell;
use std::rc::Rc;

use crate::error::{Error, Result, with_suggestion};
use crate::kind::{Input, ValueCx};
use crate::object::{LifecycleCx, Object};
use crate::opts::qemu_opts::id_wellformed;
use crate::property::Property;
use crate::registry::{TypeEntry, registry};
use crate::types::{TypeInfo, TypeKind};

/// A shared, single-threaded reference to an object in the tree. The object
/// model is single-threaded, as QEMU's is under its big lock.
pub type ObjRef = Rc<RefCell<Box<dyn Object>>>;

/// An object or device that has been created and may have properties set,
/// but is not yet in the tree (not completed / not realized).
pub struct Instance {
    obj: Box<dyn Object>,
    id: Option<String>,
    /// The registry's entry for the instance's type, so that setting a
    /// property looks up only the property (`None` if the object does not
    /// report that entry's type; then [`find_property`] does the work).
    entry: Option<&'static TypeEntry>,
}

impl Instance {
    /// The instance's type.
    pub fn type_info(&self) -> &'static TypeInfo {
        self.obj.type_info()
    }

    /// The instance's id, if one was given.
    pub fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }

    /// The instance itself.
    pub fn object(&self) -> &dyn Object {
        &*self.obj
    }

    /// The registry's entry for the instance's type, where
    /// [`ObjectTree::set`] looks properties up first.
    pub(crate) fn entry(&self) -> Option<&'static TypeEntry> {
        self.entry
    }

    /// Mutable access, for typed configuration by Rust code.
    pub fn object_mut(&mut self) -> &mut dyn Object {
        &mut *self.obj
    }
}

struct Entry {
    id: Option<String>,
    /// The object's type, kept beside its cell so that resolving a link
    /// reads it without borrowing the target, which may be borrowed
    /// elsewhere or be the very object whose link is being set.
    ty: &'static TypeInfo,
    obj: ObjRef,
}

/// The tree of live objects and realized devices.
#[derive(Default)]
pub struct ObjectTree {
    objects: Vec<Entry>,
    devices: Vec<Entry>,
    resources: Vec<Box<dyn Any>>,
    // Interior mutability: hooks see the tree through a shared reference.
    warnings: RefCell<Vec<Error>>,
}

impl ObjectTree {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes `value` available to lifecycle hooks through
    /// [`LifecycleCx::resource`], replacing any earlier value of the same type.
    pub fn set_resource<T: Any>(&mut self, value: T) {
        self.resources.retain(|r| !r.is::<T>());
        self.resources.push(Box::new(value));
    }

    /// A resource set with [`ObjectTree::set_resource`].
    pub fn resource<T: Any>(&self) -> Option<&T> {
        self.resources.iter().find_map(|r| r.downcast_ref())
    }

    /// Records a warning (QEMU's `warn_report`): something the user should
    /// know that does not stop creation or realize. Hooks call
    /// [`LifecycleCx::warn`].
    pub fn warn(&self, warning: Error) {
        self.warnings.borrow_mut().push(warning);
    }

    /// The warnings recorded since the last call, oldest first; a front end
    /// prints them (`<prog>: -device <spec>: warning: <message>`).
    pub fn take_warnings(&mut self) -> Vec<Error> {
        std::mem::take(self.warnings.get_mut())
    }

    /// Creates an instance of `type_name` with every default applied.
    ///
    /// # Errors
    /// Unknown type (with a suggestion), abstract type.
    pub fn instantiate(&self, type_name: &str) -> Result<Instance> {
        let entry = registry().get(type_name).ok_or_else(|| {
            with_suggestion(
                Error::new(format!("Class '{type_name}' not found")),
                type_name,
                registry().types().iter().map(|t| t.name),
            )
        })?;
        let new = entry
            .info
            .instantiate
            .ok_or_else(|| Error::new(format!("object type '{type_name}' is abstract")))?;
        let obj = new();
        let entry = std::ptr::eq(entry.info, obj.type_info()).then_some(entry);
        Ok(Instance {
            obj,
            id: None,
            entry,
        })
    }

    /// Sets a property on an instance that is not yet in the tree.
    ///
    /// # Errors
    /// Unknown property (with a suggestion), read-only property, bad value.
    pub fn set(&self, inst: &mut Instance, name: &str, value: Input<'_>) -> Result<()> {
        let prop = match inst.entry.and_then(|e| e.property(name)) {
            Some(p) => p,
            // The implicit `type` is read-only, as in QOM.
            None if name == "type" => {
                return Err(Error::new(format!(
                    "Property '{}.type' is not writable",
                    inst.type_info().name
                )));
            }
            // Not found (the error and its suggestion), or no entry.
            None => find_property(inst.type_info(), name)?,
        };
        self.apply(&mut *inst.obj, prop, value)
    }

    /// Sets `prop`, found by the caller in [`Instance::entry`], on `inst`:
    /// [`ObjectTree::set`] after its lookup.
    pub(crate) fn set_found(
        &self,
        inst: &mut Instance,
        prop: &Property,
        value: Input<'_>,
    ) -> Result<()> {
        self.apply(&mut *inst.obj, prop, value)
    }

    fn apply(&self, obj: &mut dyn Object, prop: &Property, value: Input<'_>) -> Result<()> {
        let ty = obj.type_info();
        if !prop.writable {
            return Err(Error::new(format!(
                "Property '{}.{}' is not writable",
                ty.name, prop.name
            )));
        }
        let cx = ValueCx {
            type_name: ty.name,
            prop: prop.name,
            tree: Some(self),
        };
        (prop.owner.accessors.set)(obj, prop.index, value, &cx)
    }

    /// Reads a property as JSON (`qom-get`), the implicit `type` included
    /// (QOM's `object_class_init` gives every object a readable `type`,
    /// its type name).
    ///
    /// # Errors
    /// Unknown or write-only property.
    pub fn get(obj: &dyn Object, name: &str) -> Result<serde_json::Value> {
        let ty = obj.type_info();
        if name == "type" {
            return Ok(serde_json::Value::from(ty.name));
        }
        let prop = find_property(ty, name)?;
        prop.get_from(obj).ok_or_else(|| {
            Error::new(format!(
                "Property '{}.{}' is not readable",
                ty.name, prop.name
            ))
        })
    }

    /// Completes a user-creatable object and adds it as `/objects/<id>`.
    /// On error nothing is added and the instance is dropped (closing what it owned).
    ///
    /// # Errors
    /// Bad or duplicate id, a device instance (devices are realized, with
    /// [`ObjectTree::realize`]), the object's own `complete` failing.
    pub fn add_object(&mut self, mut inst: Instance, id: &str) -> Result<ObjRef> {
        if !id_wellformed(id) {
            return Err(Error::bad_id());
        }
        let ty = inst.type_info();
        if ty.is_device() {
            return Err(Error::new(format!(
                "object type '{}' isn't supported by object-add",
                ty.name
            )));
        }
        if find_entry(&self.objects, id).is_some() {
            return Err(Error::new(format!("Duplicate ID '{id}' for object")));
        }
        let cx = LifecycleCx {
            tree: self,
            id: Some(id),
        };
        inst.obj.complete_chain(&cx)?;
        let obj: ObjRef = Rc::new(RefCell::new(inst.obj));
        self.objects.push(Entry {
            id: Some(id.to_owned()),
            ty,
            obj: obj.clone(),
        });
        Ok(obj)
    }

    /// Deletes `/objects/<id>`.
    ///
    /// # Errors
    /// Unknown id; a realized device still links to it.
    pub fn del_object(&mut self, id: &str) -> Result<()> {
        let pos = entry_position(&self.objects, id)
            .ok_or_else(|| Error::new(format!("object '{id}' not found")))?;
        let target = &self.objects[pos].obj;
        if self.devices.iter().any(|d| links_to(&d.obj, target)) {
            return Err(Error::new(format!(
                "object '{id}' is in use, can not be deleted"
            )));
        }
        self.objects.remove(pos);
        Ok(())
    }

    /// Realizes a device (its types' hooks in the order
    /// [`DeviceImpl`](crate::DeviceImpl) gives) and adds it to the tree
    /// under `id` (if any). On error nothing is added and the instance is
    /// dropped.
    ///
    /// # Errors
    /// Not a device, bad or duplicate id, realize failing.
    pub fn realize(&mut self, mut inst: Instance, id: Option<&str>) -> Result<ObjRef> {
        if !inst.type_info().is_device() {
            return Err(Error::invalid_parameter_value(
                "driver",
                "a non-abstract device type",
            ));
        }
        if let Some(id) = id {
            if !id_wellformed(id) {
                return Err(Error::bad_id());
            }
            if find_entry(&self.devices, id).is_some() {
                return Err(Error::new(format!("Duplicate ID '{id}' for device")));
            }
        }
        inst.id = id.map(str::to_owned);
        let cx = LifecycleCx { tree: self, id };
        inst.obj.realize_chain(&cx)?;
        let ty = inst.obj.type_info();
        let obj: ObjRef = Rc::new(RefCell::new(inst.obj));
        self.devices.push(Entry {
            id: inst.id,
            ty,
            obj: obj.clone(),
        });
        Ok(obj)
    }

    /// Sets a property of a realized device, which QEMU refuses unless the
    /// property allows it.
    ///
    /// # Errors
    /// Unknown device or property; read-only property; the device is
    /// realized and the property cannot change after realize.
    pub fn set_device_property(&self, id: &str, name: &str, value: Input<'_>) -> Result<()> {
        let dev = self
            .device(id)
            .ok_or_else(|| Error::new(format!("Device '{id}' not found")))?;
        let mut obj = dev
            .try_borrow_mut()
            .map_err(|_| Error::new(format!("Device '{id}' is busy")))?;
        let ty = obj.type_info();
        let prop = find_property(ty, name)?;
        // QEMU looks for a setter before its setter checks `realized`: a
        // read-only property is "not writable" (from `apply`) either way.
        if prop.writable && !prop.set_after_realize {
            let what = if prop.link_type.is_some() {
                "link property"
            } else {
                "property"
            };
            return Err(Error::new(format!(
                "Attempt to set {what} '{name}' on device '{id}' (type '{}') after it was realized",
                ty.name
            )));
        }
        self.apply(&mut **obj, prop, value)
    }

    /// Sets a property of an object or realized device in the tree, as
    /// QMP's `qom-set` does: objects take any writable property; a device
    /// only one settable after realize (QEMU's messages name the device by
    /// id, or call it anonymous).
    ///
    /// # Errors
    /// Unknown or read-only property; set after realize; a busy object;
    /// the value refused.
    pub fn set_property(&self, obj: &ObjRef, name: &str, value: Input<'_>) -> Result<()> {
        let device = self.devices.iter().find(|e| Rc::ptr_eq(&e.obj, obj));
        let mut o = obj
            .try_borrow_mut()
            .map_err(|_| Error::new("object is busy"))?;
        let ty = o.type_info();
        let prop = find_property(ty, name)?;
        if let Some(dev) = device
            && prop.writable
            && !prop.set_after_realize
        {
            let what = if prop.link_type.is_some() {
                "link property"
            } else {
                "property"
            };
            return Err(Error::new(match &dev.id {
                Some(id) => format!(
                    "Attempt to set {what} '{name}' on device '{id}' (type '{}') after it was realized",
                    ty.name
                ),
                None => format!(
                    "Attempt to set {what} '{name}' on anonymous device (type '{}') after it was realized",
                    ty.name
                ),
            }));
        }
        self.apply(&mut **o, prop, value)
    }

    /// Unrealizes and removes a device and unsets its links; everything it
    /// owned is released.
    ///
    /// # Errors
    /// Unknown id.
    pub fn del_device(&mut self, id: &str) -> Result<()> {
        let pos = entry_position(&self.devices, id).ok_or_else(|| device_not_found(id))?;
        self.unrealize_at(pos);
        Ok(())
    }

    /// [`ObjectTree::del_device`] for a device found by reference (an
    /// anonymous one, say).
    ///
    /// # Errors
    /// The object is not a realized device of this tree.
    pub fn del_device_ref(&mut self, dev: &ObjRef) -> Result<()> {
        let pos = self
            .devices
            .iter()
            .position(|e| Rc::ptr_eq(&e.obj, dev))
            .ok_or_else(|| Error::new("not a device of this tree"))?;
        self.unrealize_at(pos);
        Ok(())
    }

    fn unrealize_at(&mut self, pos: usize) {
        let e = self.devices.remove(pos);
        let cx = LifecycleCx {
            tree: self,
            id: e.id.as_deref(),
        };
        if let Ok(mut obj) = e.obj.try_borrow_mut() {
            obj.unrealize_chain(&cx);
            release_links(&mut **obj);
        }
    }

    /// Unrealizes every device (newest first) and drops every object.
    pub fn clear(&mut self) {
        while !self.devices.is_empty() {
            self.unrealize_at(self.devices.len() - 1);
        }
        self.objects.clear();
    }

    /// A user-created object by id.
    pub fn object(&self, id: &str) -> Option<&ObjRef> {
        find_entry(&self.objects, id).map(|e| &e.obj)
    }

    /// A device by id.
    pub fn device(&self, id: &str) -> Option<&ObjRef> {
        find_entry(&self.devices, id).map(|e| &e.obj)
    }

    /// Every realized device with its id, oldest first.
    pub fn devices(&self) -> impl Iterator<Item = (Option<&str>, &ObjRef)> {
        self.devices.iter().map(|e| (e.id.as_deref(), &e.obj))
    }

    /// Every user-created object with its id, oldest first.
    pub fn objects(&self) -> impl Iterator<Item = (&str, &ObjRef)> {
        self.objects
            .iter()
            .filter_map(|e| Some((e.id.as_deref()?, &e.obj)))
    }

    /// Number of objects plus devices in the tree.
    pub fn len(&self) -> usize {
        self.objects.len() + self.devices.len()
    }

    /// Whether the tree holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Resolves a path: `/objects/<id>`, `/machine/peripheral/<id>`, or a
    /// bare id (QEMU's partial path), which must be unambiguous.
    ///
    /// # Errors
    /// `Device '<path>' not found`, or ambiguous path.
    pub fn resolve_path(&self, path: &str) -> Result<ObjRef> {
        match self.named_by(path) {
            [Some(e), None] | [None, Some(e)] => Ok(e.obj.clone()),
            [Some(_), Some(_)] => Err(ambiguous_path(path)),
            [None, None] => Err(device_not_found(path)),
        }
    }

    /// Resolves the value of link property `prop` to an object of type
    /// `target_type` (or a subtype), as QEMU's `object_resolve_link` does:
    /// among the objects `path` names, those of the link's type count
    /// first, so a bare id that names an object and a device alike resolves
    /// to the one of the right type. The type is read from the tree, never
    /// by borrowing the target, so a busy object, or the device whose link
    /// is being set, can be a target.
    ///
    /// # Errors
    /// `Path '<path>' does not uniquely identify an object` when more than
    /// one object of the type matches; `Invalid parameter type for
    /// '<prop>', expected: <target_type>` when only objects of other types
    /// match; `Device '<path>' not found` when nothing does.
    pub fn resolve_link(&self, path: &str, prop: &str, target_type: &str) -> Result<ObjRef> {
        let named = self.named_by(path);
        let mut typed = named.iter().flatten().filter(|e| e.ty.is_a(target_type));
        match (typed.next(), typed.next()) {
            (Some(e), None) => Ok(e.obj.clone()),
            (Some(_), Some(_)) => Err(ambiguous_path(path)),
            // QEMU's untyped second look: anything there, even ambiguous,
            // means the path was right and the type wrong.
            (None, _) if named.iter().any(Option::is_some) => {
                Err(Error::invalid_parameter_type(prop, target_type))
            }
            (None, _) => Err(device_not_found(path)),
        }
    }

    /// The entries `path` names: the object and the device of a bare id,
    /// or the one an absolute path leads to.
    fn named_by(&self, path: &str) -> [Option<&Entry>; 2] {
        if let Some(id) = path.strip_prefix("/objects/") {
            return [find_entry(&self.objects, id), None];
        }
        if let Some(id) = path.strip_prefix("/machine/peripheral/") {
            return [None, find_entry(&self.devices, id)];
        }
        [
            find_entry(&self.objects, path),
            find_entry(&self.devices, path),
        ]
    }
}

fn find_entry<'t>(entries: &'t [Entry], id: &str) -> Option<&'t Entry> {
    entries.get(entry_position(entries, id)?)
}

fn entry_position(entries: &[Entry], id: &str) -> Option<usize> {
    entries.iter().position(|e| e.id.as_deref() == Some(id))
}

fn device_not_found(path: &str) -> Error {
    Error::new(format!("Device '{path}' not found"))
}

fn ambiguous_path(path: &str) -> Error {
    Error::new(format!(
        "Path '{path}' does not uniquely identify an object"
    ))
}

impl Drop for ObjectTree {
    fn drop(&mut self) {
        self.clear();
    }
}

/// Finds a property of `ty` (own or inherited), with QEMU's error and a suggestion.
pub(crate) fn find_property(ty: &'static TypeInfo, name: &str) -> Result<&'static Property> {
    let found = match registry().get(ty.name) {
        Some(e) if std::ptr::eq(e.info, ty) => e.property(name),
        _ => ty.properties().find(|p| p.name == name),
    };
    found.ok_or_else(|| {
        with_suggestion(
            Error::new(format!("Property '{}.{name}' not found", ty.name)),
            name,
            ty.properties().map(|p| p.name),
        )
    })
}

/// Unsets every link of a device that leaves the tree, as QEMU's finalize
/// releases a device's links. A link to itself, or links between devices
/// that form a cycle, would otherwise keep the device, and what it owns,
/// alive after it is deleted. Each link is set to "" through its setter
/// (which unsets a `Link`); a failure leaves that link as it was.
fn release_links(obj: &mut dyn Object) {
    let ty = obj.type_info();
    for p in ty.properties() {
        if p.writable && p.link_target(obj).is_some() {
            let cx = ValueCx::new(ty.name, p.name);
            let _ = (p.owner.accessors.set)(obj, p.index, Input::Str(""), &cx);
        }
    }
}

fn links_to(dev: &ObjRef, target: &ObjRef) -> bool {
    let Ok(dev) = dev.try_borrow() else {
        return true;
    };
    let obj: &dyn Object = &**dev;
    obj.type_info()
        .properties()
        .any(|p| p.link_target(obj).is_some_and(|t| Rc::ptr_eq(t, target)))
}

/// Whether `ty` may be created by `-object`.
pub(crate) fn object_creatable(ty: &TypeInfo) -> bool {
    matches!(
        ty.kind,
        TypeKind::Object {
            user_creatable: true
        }
    )
}
