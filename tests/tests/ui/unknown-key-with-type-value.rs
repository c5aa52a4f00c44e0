use std::collections::HashMap;

use qomgen::{Device, DeviceImpl};

// The unknown key's value is skipped up to the next top-level `,`, even
// when it is a type with a `,` inside its angle brackets.
#[derive(Device)]
#[device(name = "demo")]
struct Demo {
    #[prop(kind = HashMap<u32, u32>, since = "9.0")]
    queues: u32,
}
impl DeviceImpl for Demo {}

fn main() {
    let _: Option<HashMap<u32, u32>> = None;
}
