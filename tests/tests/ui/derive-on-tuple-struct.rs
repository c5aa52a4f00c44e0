use qomgen::Object;

#[derive(Object)]
struct Demo(u32, bool);

fn main() {}
