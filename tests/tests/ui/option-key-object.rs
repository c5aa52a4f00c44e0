use qomgen::{Object, ObjectImpl};

#[derive(Object, Default)]
#[object(name = "demo-backend", user_creatable)]
struct Backend {
    #[prop]
    id: u32,
    #[prop(name = "qom-type")]
    kind: Option<String>,
}
impl ObjectImpl for Backend {}

fn main() {}
