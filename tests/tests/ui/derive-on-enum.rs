use qomgen::Device;

#[derive(Device)]
enum Demo {
    A,
    B,
}

fn main() {}
