use qomgen::{Device, DeviceImpl, PropertyGroup};

#[derive(PropertyGroup)]
struct Common {
    #[prop]
    sysfsdev: Option<String>,
}

// `member(...)` names a property the group does not have.
#[derive(Device)]
#[device(name = "demo")]
struct Demo {
    #[prop]
    host: Option<String>,
    #[prop(flatten, member(name = "sysfsdevv", before = "host"))]
    common: Common,
}
impl DeviceImpl for Demo {}

fn main() {}
