use qomgen::Device;

#[derive(Device)]
struct Demo<T> {
    #[prop]
    value: T,
}

fn main() {}
