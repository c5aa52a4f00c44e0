use qomgen::{Device, DeviceImpl, Object, ObjectImpl};

#[derive(Device, Default)]
#[device(name = "base")]
struct Base {}
impl DeviceImpl for Base {}

#[derive(Object)]
#[object(name = "demo")]
struct Demo {
    #[parent]
    base: Base,
}
impl ObjectImpl for Demo {}

fn main() {}
