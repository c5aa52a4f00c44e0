// Whichever derive comes first and whichever type attributes the struct
// carries, one error each, and no claim of the name twice.
use qomgen::{Device, DeviceImpl, Object, ObjectImpl};

#[derive(Device, Object, Default)]
#[device(name = "both-attrs")]
#[object(name = "both-attrs")]
struct BothAttrs {}
impl ObjectImpl for BothAttrs {}
impl DeviceImpl for BothAttrs {}

#[derive(Object, Device, Default)]
#[object(name = "object-attr")]
struct ObjectAttr {}
impl ObjectImpl for ObjectAttr {}
impl DeviceImpl for ObjectAttr {}

#[derive(Object, Device, Default)]
#[device(name = "device-attr")]
struct DeviceAttr {}
impl ObjectImpl for DeviceAttr {}
impl DeviceImpl for DeviceAttr {}

fn main() {}
