use qomgen::{Device, DeviceImpl, Object, ObjectImpl};

#[derive(Object, Device, Default)]
struct Demo {
    #[prop]
    queues: u32,
}
impl ObjectImpl for Demo {}
impl DeviceImpl for Demo {}

fn main() {}
