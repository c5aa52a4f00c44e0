use qomgen::PropertyEnum;

#[derive(PropertyEnum)]
enum Mode {
    #[value("on")]
    #[value("enabled")]
    On,
    Off,
}

fn main() {}
