use qomgen::{Device, DeviceImpl};

#[derive(Device, Default)]
#[device(name = "demo", bus = "pci bus")]
struct Demo {}
impl DeviceImpl for Demo {}

fn main() {}
