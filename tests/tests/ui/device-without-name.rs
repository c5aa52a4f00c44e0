// A device's QOM name is its command-line name: it is given, not derived
// from the Rust name. One error per device without one.
use qomgen::{Device, DeviceImpl};

#[derive(Device, Default)]
#[device(category = Network)]
struct DemoNic {
    #[prop]
    queues: u32,
}
impl DeviceImpl for DemoNic {}

#[derive(Device, Default)]
struct Bare {}
impl DeviceImpl for Bare {}

fn main() {}
