use qomgen::{Device, DeviceImpl};

#[derive(Device, Default)]
#[device(name = "grandparent", abstract)]
struct Grandparent {
    #[prop]
    x_vga: bool,
}
impl DeviceImpl for Grandparent {}

#[derive(Device, Default)]
#[device(name = "base", abstract)]
struct Base {
    #[parent]
    parent: Grandparent,
    #[prop]
    host: String,
}
impl DeviceImpl for Base {}

#[derive(Device)]
#[device(name = "demo")]
struct Demo {
    #[parent]
    base: Base,
    #[prop]
    queues: u32,
    #[prop(name = "x-vga")]
    vga: bool,
}
impl DeviceImpl for Demo {}

fn main() {}
