use qomgen::{Device, DeviceImpl};

// `setter` takes a path, not a string; the `write_only` before it is then
// not reported as lacking a setter.
#[derive(Device)]
#[device(name = "demo")]
struct Demo {
    #[prop(write_only, setter = "Demo::set_fd")]
    fd: String,
}
impl DeviceImpl for Demo {}

impl Demo {
    fn set_fd(&mut self, _: &str) -> qomgen::Result<()> {
        Ok(())
    }
}

fn main() {}
