use qomgen::{Device, DeviceImpl};

#[path = "fixtures/group.rs"]
mod group;
use group::Common;

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
