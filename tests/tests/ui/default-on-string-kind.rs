use qomgen::{Device, DeviceImpl};

#[derive(Device)]
#[device(name = "demo")]
struct Demo {
    #[prop(default = String::from("abc"))]
    label: String,
}
impl DeviceImpl for Demo {}

fn main() {}
