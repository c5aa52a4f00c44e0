use qomgen::{Device, DeviceImpl, Link};

#[path = "fixtures/link_target.rs"]
mod link_target;
use link_target::Backend;

// The parse error ends the attribute; the `link` after it is not read, and
// the field is not checked for a missing one.
#[derive(Device)]
#[device(name = "demo")]
struct Demo {
    #[prop(name = 5, link = "backend")]
    backend: Option<Link<Backend>>,
}
impl DeviceImpl for Demo {}

fn main() {}
