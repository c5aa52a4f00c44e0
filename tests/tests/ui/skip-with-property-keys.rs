use qomgen::{Device, DeviceImpl};

#[derive(Device)]
#[device(name = "demo")]
struct Demo {
    #[prop(skip, name = "log", since = "1.0", default = std::fs::File::open("/dev/null").unwrap())]
    log: std::fs::File,
}
impl DeviceImpl for Demo {}

fn main() {}
