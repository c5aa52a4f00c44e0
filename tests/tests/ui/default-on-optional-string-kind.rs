use qomgen::{Device, DeviceImpl, PciHostAddress};

#[derive(Device)]
#[device(name = "demo")]
struct Demo {
    #[prop(default = PciHostAddress::parse_str("0000:00:01.0"))]
    host: Option<PciHostAddress>,
}
impl DeviceImpl for Demo {}

fn main() {}
