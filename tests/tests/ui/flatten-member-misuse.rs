use qomgen::{Device, DeviceImpl};

#[path = "fixtures/group.rs"]
mod group;
use group::Common;

// A member placed before a property the type does not declare, and a
// property key on the flattened field.
#[derive(Device)]
#[device(name = "demo")]
struct Demo {
    #[prop]
    host: Option<String>,
    #[prop(
        flatten,
        since = "9.0",
        member(name = "sysfsdev", before = "hots")
    )]
    common: Common,
}
impl DeviceImpl for Demo {}

fn main() {}
