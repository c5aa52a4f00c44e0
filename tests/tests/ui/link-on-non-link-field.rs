use qomgen::{Device, DeviceImpl};

#[derive(Device)]
#[device(name = "demo")]
struct Demo {
    #[prop(link = "iommufd")]
    backend: Option<String>,
}
impl DeviceImpl for Demo {}

fn main() {}
