use qomgen::{Device, DeviceImpl};

#[derive(Device)]
#[device(name = "demo")]
struct Demo {
    #[prop(name = "realized")]
    ready: bool,
}
impl DeviceImpl for Demo {}

fn main() {}
