use qomgen::{Device, DeviceImpl};

#[derive(Device, Default)]
#[device(name = "base", abstract)]
struct Base {}
impl DeviceImpl for Base {}

#[derive(Device)]
#[device(name = "demo")]
struct Demo {
    #[parent(skip, whatever = 1)]
    base: Base,
}
impl DeviceImpl for Demo {}

fn main() {}
