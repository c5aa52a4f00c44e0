use qomgen::{Device, DeviceImpl};

#[derive(Device)]
#[device(name = "demo")]
struct Demo {
    #[prop(default = 4)]
    queues: u32,
    log: std::fs::File,
}
impl DeviceImpl for Demo {}

fn main() {}
