use qomgen::{Device, DeviceImpl};

#[derive(Device)]
#[device(name = "demo")]
struct Demo {
    #[prop]
    legacy_mode: bool,
}
impl DeviceImpl for Demo {}

fn main() {}
