use qomgen::{Device, DeviceImpl, Object, ObjectImpl};

#[derive(Object, Default)]
#[object(name = "base")]
struct Base {}
impl ObjectImpl for Base {}

#[derive(Device)]
#[device(name = "demo")]
struct Demo {
    #[parent]
    base: Base,
}
impl DeviceImpl for Demo {}

fn main() {}
