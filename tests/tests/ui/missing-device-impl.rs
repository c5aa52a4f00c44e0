use qomgen::Device;

#[derive(Device)]
#[device(name = "demo")]
struct Demo {
    #[prop(default = 1)]
    queues: u32,
}

fn main() {}
