use qomgen::{Device, DeviceImpl, PropertyEnum};

#[derive(PropertyEnum, Clone, Copy)]
enum Mode {}

#[derive(Device)]
#[device(name = "demo")]
struct Demo {
    #[prop]
    mode: Option<Mode>,
}
impl DeviceImpl for Demo {}

fn main() {}
