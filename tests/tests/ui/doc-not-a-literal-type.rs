use qomgen::{Object, ObjectImpl};

#[derive(Object, Default)]
#[object(name = "demo")]
#[doc = include_str!("doc-not-a-literal-type.rs")]
struct Demo {}
impl ObjectImpl for Demo {}

fn main() {}
