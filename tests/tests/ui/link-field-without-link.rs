use qomgen::{Device, DeviceImpl, Link, Object, ObjectImpl};

#[derive(Object, Default)]
#[object(name = "backend", user_creatable)]
struct Backend {}
impl ObjectImpl for Backend {}

#[derive(Device)]
#[device(name = "demo")]
struct Demo {
    #[prop]
    backend: Option<Link<Backend>>,
}
impl DeviceImpl for Demo {}

fn main() {}
