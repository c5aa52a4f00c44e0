use qomgen::{Device, DeviceImpl};

#[derive(Device)]
#[device(name = "demo")]
struct Demo {
    #[doc = concat!("Number of ", "queues")]
    #[prop]
    queues: u32,
}
impl DeviceImpl for Demo {}

fn main() {}
