use qomgen::{Device, DeviceImpl};

#[derive(Device)]
#[device(name = "demo")]
struct Demo {
    #[prop(setter = Demo::set_queues)]
    queues: u32,
}
impl DeviceImpl for Demo {}

impl Demo {
    fn set_queues(&mut self, v: &str) -> qomgen::Result<()> {
        self.queues = v.parse().map_err(|_| qomgen::Error::new("bad"))?;
        Ok(())
    }
}

fn main() {}
