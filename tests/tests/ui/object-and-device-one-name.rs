use qomgen::{Device, DeviceImpl, Object, ObjectImpl};

#[derive(Object, Default)]
#[object(name = "demo", user_creatable)]
struct DemoBackend {}
impl ObjectImpl for DemoBackend {}

// QOM has one namespace of types: a device cannot take an object's name.
#[derive(Device, Default)]
#[device(name = "demo")]
struct Demo {}
impl DeviceImpl for Demo {}

fn main() {}
