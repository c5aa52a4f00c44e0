use qomgen::{Device, DeviceImpl, Link};

#[derive(Device)]
#[device(name = "demo")]
struct Demo {
    #[prop(link = "string")]
    backend: Option<Link<String>>,
}
impl DeviceImpl for Demo {}

fn main() {}
