use qomgen::PropertyEnum;

// `#[property_enum]` reads its keys through the same table as the other
// attributes: "did you mean" for a misspelling, and `desc` (not
// `description`) for the description, as everywhere.
#[derive(PropertyEnum)]
#[property_enum(nmae = "Mode", description = "on or off")]
enum Mode {
    On,
    Off,
}

fn main() {
    let _ = (Mode::On, Mode::Off);
}
