use qomgen::{Device, DeviceImpl, PropertyGroup};

#[derive(PropertyGroup)]
struct Common {
    #[prop]
    sysfsdev: Option<String>,
}

// The group already declares `sysfsdev`.
#[derive(Device)]
#[device(name = "demo")]
struct Demo {
    #[prop]
    sysfsdev: Option<String>,
    #[prop(flatten)]
    common: Common,
}
impl DeviceImpl for Demo {}

fn main() {}
