use qomgen::{Device, DeviceImpl};

#[derive(Device)]
#[device(name = "demo")]
struct Demo {
    #[prop]
    timeout: std::time::Duration,
}
impl DeviceImpl for Demo {}

fn main() {}
