use qomgen::{Device, DeviceImpl};

#[derive(Device)]
#[device(name = "demo")]
struct Demo {
    #[prop]
    x_vga: bool,
    #[prop(name = "x-vga")]
    vga: bool,
}
impl DeviceImpl for Demo {}

fn main() {}
