use qomgen::{Device, DeviceImpl};

#[derive(Device)]
#[device(name = "demo")]
struct Demo {
    #[prop(write_only)]
    fd: Option<String>,
}
impl DeviceImpl for Demo {}

fn main() {}
