use qomgen::{Device, DeviceImpl};

#[derive(Device, Default)]
#[device(name = "demo")]
struct Demo {
    #[prop(name = "rx.queues")]
    rx_queues: u32,
    #[prop(name = "2nd-queue")]
    second: u32,
    #[prop(name = "")]
    unnamed: u32,
}
impl DeviceImpl for Demo {}

fn main() {}
