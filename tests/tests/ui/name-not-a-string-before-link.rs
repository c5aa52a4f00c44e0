use qomgen::{Device, DeviceImpl, Link, Object, ObjectImpl};

#[derive(Object, Default)]
#[object(name = "backend", user_creatable)]
struct Backend {}
impl ObjectImpl for Backend {}

// The parse error ends the attribute; the `link` after it is not read, and
// the field is not checked for a missing one.
#[derive(Device)]
#[device(name = "demo")]
struct Demo {
    #[prop(name = 5, link = "backend")]
    backend: Option<Link<Backend>>,
}
impl DeviceImpl for Demo {}

fn main() {}
