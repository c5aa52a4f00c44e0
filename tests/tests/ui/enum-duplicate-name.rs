use qomgen::PropertyEnum;

#[derive(PropertyEnum)]
#[property_enum(name = "Mode")]
#[property_enum(name = "OtherMode")]
enum Mode {
    On,
    Off,
}

fn main() {}
