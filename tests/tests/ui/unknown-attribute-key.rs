use qomgen::{Device, DeviceImpl};

#[derive(Device)]
#[device(name = "demo")]
struct Demo {
    #[prop(defalt = 4)]
    queues: u32,
}
impl DeviceImpl for Demo {}

fn main() {}
