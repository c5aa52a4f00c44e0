use qomgen::{Device, DeviceImpl};

// A flag takes nothing, `= true` or `= false`.
#[derive(Device)]
#[device(name = "demo")]
struct Demo {
    #[prop(read_only = 1, default = 4)]
    queues: u32,
}
impl DeviceImpl for Demo {}

fn main() {}
