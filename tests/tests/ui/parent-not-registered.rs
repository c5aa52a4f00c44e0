use qomgen::{Device, DeviceImpl};

#[derive(Default)]
struct NotAType {
    x: u32,
}

#[derive(Device)]
#[device(name = "demo")]
struct Demo {
    #[parent]
    base: NotAType,
}
impl DeviceImpl for Demo {}

fn main() {}
