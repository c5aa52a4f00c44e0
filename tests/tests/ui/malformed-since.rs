use qomgen::{Device, DeviceImpl};

#[derive(Device)]
#[device(name = "demo")]
struct Demo {
    #[prop(since = "nine")]
    queues: u32,
}
impl DeviceImpl for Demo {}

fn main() {}
