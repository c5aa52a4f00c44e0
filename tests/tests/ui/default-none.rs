use qomgen::{Device, DeviceImpl};

#[derive(Device)]
#[device(name = "demo")]
struct Demo {
    #[prop(default = None)]
    limit: Option<u32>,
}
impl DeviceImpl for Demo {}

fn main() {}
