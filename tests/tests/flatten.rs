//! `#[prop(flatten)]`: a property group's properties in the table of the
//! type that embeds it, where `member(...)` puts them, read and written
//! through the group's field. The types live in this test binary only,
//! so the registry-wide snapshots do not see them.

use qomgen::{
    Device, DeviceImpl, Input, Link, Object, ObjectImpl, ObjectTree, ObjectType, PropertyGroup,
    Result,
};
use serde_json::json;

#[derive(Object, Default)]
#[object(name = "flat-backend", user_creatable)]
struct Backend {}
impl ObjectImpl for Backend {}

/// The common part of two devices.
#[derive(PropertyGroup, Debug)]
struct Common {
    /// Host path
    #[prop]
    path: Option<String>,
    /// Queue depth
    #[prop(default = 8, since = "2.0")]
    depth: u32,
    /// Backend
    #[prop(link = "flat-backend", since = "9.0")]
    backend: Option<Link<Backend>>,
    #[prop(write_only, setter = Common::set_token)]
    token: Option<String>,
    /// Computed default
    #[prop(default = qomgen::OnOffAuto::Auto)]
    mode: qomgen::OnOffAuto,
    /// State: what realize made.
    made: Option<u32>,
}

impl Common {
    fn set_token(&mut self, v: &str) -> Result<()> {
        self.token = Some(v.to_uppercase());
        Ok(())
    }
}

/// A device that places the group's members among its own properties.
#[derive(Device, Debug)]
#[device(name = "flat-dev", category = Misc)]
struct FlatDev {
    #[prop]
    first: u8,
    #[prop]
    second: u8,
    #[prop(flatten, member(name = "path", since = "1.5", before = "second"))]
    common: Common,
    #[prop]
    last: bool,
}
impl DeviceImpl for FlatDev {
    fn realize(&mut self, _cx: &qomgen::LifecycleCx<'_>) -> Result<()> {
        self.common.made = Some(self.common.depth);
        Ok(())
    }
}

/// An object that takes the group whole, at its field.
#[derive(Object)]
#[object(name = "flat-obj")]
struct FlatObj {
    #[prop(flatten)]
    common: Common,
    #[prop]
    after: u8,
}
impl ObjectImpl for FlatObj {}

fn names(ty: &'static qomgen::TypeInfo) -> Vec<&'static str> {
    ty.own_properties.iter().map(|p| p.name).collect()
}

#[test]
fn members_are_placed_and_made_the_types_own() {
    assert_eq!(
        names(FlatDev::TYPE_INFO),
        [
            "first", "path", "second", "depth", "backend", "token", "mode", "last"
        ]
    );
    assert_eq!(
        names(FlatObj::TYPE_INFO),
        ["path", "depth", "backend", "token", "mode", "after"]
    );
    let dev = FlatDev::TYPE_INFO.own_properties;
    assert!(
        dev.iter()
            .all(|p| std::ptr::eq(p.owner, FlatDev::TYPE_INFO))
    );
    // The member's `since` is the embedding type's; the others the group's.
    let since: Vec<_> = dev.iter().map(|p| p.since).collect();
    assert_eq!(
        since,
        [
            None,
            Some("1.5"),
            None,
            Some("2.0"),
            Some("9.0"),
            None,
            None,
            None
        ]
    );
    // A device's string is qdev's `str`, an object's QOM's `string`.
    assert_eq!(dev[1].type_name, "str");
    assert_eq!(FlatObj::TYPE_INFO.own_properties[0].type_name, "string");
    assert_eq!(dev[4].type_name, "link<flat-backend>");
    assert_eq!(dev[4].link_type, Some("flat-backend"));
    assert!(dev[5].is_write_only());
    assert_eq!(dev[3].default_value(), Some(qomgen::DefaultValue::UInt(8)));
    assert_eq!(
        dev[6].default_value(),
        Some(qomgen::DefaultValue::Str("auto"))
    );
}

#[test]
fn group_members_are_set_and_read_through_the_group() {
    let mut tree = ObjectTree::new();
    tree.object_add("flat-backend,id=b0").unwrap();
    let obj = tree
        .device_add("flat-dev,id=d0,first=1,path=/x,second=2,depth=16,backend=b0,token=abc,last=on")
        .unwrap();
    {
        let o = obj.borrow();
        let d = o.downcast_ref::<FlatDev>().unwrap();
        assert_eq!((d.first, d.second, d.last), (1, 2, true));
        assert_eq!(d.common.path.as_deref(), Some("/x"));
        assert_eq!(d.common.depth, 16);
        assert_eq!(d.common.token.as_deref(), Some("ABC"));
        assert!(d.common.backend.is_some());
        assert_eq!(d.common.made, Some(16));
    }
    let o = obj.borrow();
    assert_eq!(ObjectTree::get(&**o, "path").unwrap(), json!("/x"));
    assert_eq!(ObjectTree::get(&**o, "depth").unwrap(), json!(16));
    assert_eq!(ObjectTree::get(&**o, "backend").unwrap(), json!("b0"));
    assert!(ObjectTree::get(&**o, "token").is_err());
    drop(o);
    let e = tree.del_object("b0").unwrap_err();
    assert_eq!(e.to_string(), "object 'b0' is in use, can not be deleted");

    let mut inst = tree.instantiate("flat-obj").unwrap();
    tree.set(&mut inst, "depth", Input::Str("3")).unwrap();
    tree.set(&mut inst, "after", Input::Str("4")).unwrap();
    let o = inst.object().downcast_ref::<FlatObj>().unwrap();
    assert_eq!((o.common.depth, o.after), (3, 4));
}
