use qomgen::{Object, ObjectImpl};

#[derive(Object, Default)]
#[object(name = "demo")]
struct Demo {
    // The property name is the unraw'd field name, `type`.
    #[prop]
    r#type: u32,
}
impl ObjectImpl for Demo {}

fn main() {}
