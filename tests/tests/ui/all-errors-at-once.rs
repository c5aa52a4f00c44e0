use qomgen::{Device, DeviceImpl};

#[derive(Device)]
#[device(name = "demo")]
struct Demo {
    #[prop(sinse = "1.0")]
    queues: u32,
    #[prop(since = "1")]
    depth: u32,
    #[prop(write_only, read_only)]
    secret: Option<String>,
    #[prop(name = "bad,name")]
    other: u32,
}
impl DeviceImpl for Demo {}

fn main() {}
