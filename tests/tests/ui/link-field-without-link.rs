use qomgen::{Device, DeviceImpl, Link};

#[path = "fixtures/link_target.rs"]
mod link_target;
use link_target::Backend;

#[derive(Device)]
#[device(name = "demo")]
struct Demo {
    #[prop]
    backend: Option<Link<Backend>>,
}
impl DeviceImpl for Demo {}

fn main() {}
