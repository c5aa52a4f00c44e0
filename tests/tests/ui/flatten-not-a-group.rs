use qomgen::{Device, DeviceImpl};

#[derive(Debug, Default)]
struct Plain {
    depth: u32,
}

// `flatten` needs a `#[derive(PropertyGroup)]` struct.
#[derive(Device)]
#[device(name = "demo")]
struct Demo {
    #[prop(flatten)]
    plain: Plain,
}
impl DeviceImpl for Demo {}

fn main() {
    let _ = Plain::default().depth;
}
