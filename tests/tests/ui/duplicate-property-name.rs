use qomgen::{Device, DeviceImpl};

#[derive(Device)]
#[device(name = "demo")]
struct Demo {
    #[prop]
    queues: u32,
    #[prop(name = "queues")]
    other: u32,
}
impl DeviceImpl for Demo {}

fn main() {}
