use qomgen::{Device, DeviceImpl};

#[derive(Device)]
#[device(name = "demo")]
struct Demo {
    #[prop(default = "yes")]
    enabled: bool,
}
impl DeviceImpl for Demo {}

fn main() {}
