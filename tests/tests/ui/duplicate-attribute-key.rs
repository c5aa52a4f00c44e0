use qomgen::{Device, DeviceImpl};

#[derive(Device)]
#[device(name = "demo")]
struct Demo {
    #[prop(since = "1.0", since = "2.0")]
    queues: u32,
}
impl DeviceImpl for Demo {}

fn main() {}
