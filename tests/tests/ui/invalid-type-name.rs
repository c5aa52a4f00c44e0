use qomgen::{Device, DeviceImpl, Object, ObjectImpl};

#[derive(Device, Default)]
#[device(name = "0dev")]
struct ZeroFirst {}
impl DeviceImpl for ZeroFirst {}

#[derive(Device, Default)]
#[device(name = "x")]
struct TooShort {}
impl DeviceImpl for TooShort {}

#[derive(Object, Default)]
#[object(name = "my backend")]
struct Spaced {}
impl ObjectImpl for Spaced {}

fn main() {}
