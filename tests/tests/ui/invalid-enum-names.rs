use qomgen::PropertyEnum;

#[derive(PropertyEnum)]
#[property_enum(name = "on-off")]
enum Switch {
    #[value("")]
    Empty,
    #[value("fast mode")]
    Fast,
    #[value("a,b")]
    Both,
    #[value("Slow")]
    Slow,
}

/// No lowercase letter: not CamelCase for QAPI.
#[derive(PropertyEnum)]
enum IO {
    In,
    Out,
}

fn main() {}
