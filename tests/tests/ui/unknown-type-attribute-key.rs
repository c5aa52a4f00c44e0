use qomgen::{Device, DeviceImpl};

#[derive(Device)]
#[device(name = "demo", hotplugable = false)]
struct Demo {}
impl DeviceImpl for Demo {}

fn main() {}
