use qomgen::{Device, DeviceImpl};

#[path = "fixtures/group.rs"]
mod group;
use group::Common;

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
