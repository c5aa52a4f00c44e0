use qomgen::{Device, DeviceImpl};

#[derive(Device, Default)]
#[device(name = "demo")]
struct Demo {
    #[prop]
    id: u32,
    #[prop(name = "bus")]
    bus_number: u32,
    #[prop]
    driver: Option<String>,
}
impl DeviceImpl for Demo {}

fn main() {}
