use qomgen::{Device, DeviceImpl};

#[derive(Device, Default)]
#[device(name = "device")]
struct MyDevice {}
impl DeviceImpl for MyDevice {}

/// `Object` in kebab case is `object`.
#[derive(qomgen::Object, Default)]
struct Object {}
impl qomgen::ObjectImpl for Object {}

fn main() {}
