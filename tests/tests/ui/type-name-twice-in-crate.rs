use qomgen::{Object, ObjectImpl};

mod nic {
    #[derive(qomgen::Device, Default)]
    #[device(name = "demo-nic")]
    pub struct DemoNic {}
    impl qomgen::DeviceImpl for DemoNic {}
}

mod legacy {
    #[derive(qomgen::Device, Default)]
    #[device(name = "demo-nic")]
    pub struct OldNic {}
    impl qomgen::DeviceImpl for OldNic {}
}

/// The name comes from the Rust name, `demo-backend`.
#[derive(Object, Default)]
struct DemoBackend {}
impl ObjectImpl for DemoBackend {}

#[derive(Object, Default)]
#[object(name = "demo-backend")]
struct Backend {}
impl ObjectImpl for Backend {}

fn main() {}
