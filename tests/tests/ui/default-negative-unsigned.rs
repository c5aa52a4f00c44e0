use qomgen::{Device, DeviceImpl};

#[derive(Device, Default)]
#[device(name = "demo")]
struct Demo {
    #[prop(default = -1)]
    queues: u32,
}
impl DeviceImpl for Demo {}

fn main() {}
