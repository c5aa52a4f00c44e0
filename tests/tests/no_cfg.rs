//! Every property is declared unconditionally: availability is a run-time
//! question, never a build-time one. This guards the rule that made qomgen
//! (QEMU had to `#ifdef CONFIG_IOMMUFD` its `iommufd` and `fd` properties).

use std::path::Path;

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn property_model_and_device_models_use_no_cfg_but_test() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    for dir in [
        "macros/src",
        "runtime/src",
        "devices/src/models",
        "devices/src/attach",
    ] {
        rust_files(&root.join(dir), &mut files);
    }
    assert!(files.len() > 20, "scanned too few files: {}", files.len());
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        for (n, line) in text.lines().enumerate() {
            let l = line.trim_start();
            if l.starts_with("//") {
                continue;
            }
            for pat in ["#[cfg(", "#[cfg_attr(", "cfg!("] {
                if let Some(i) = l.find(pat) {
                    let rest = &l[i + pat.len()..];
                    assert!(
                        rest.starts_with("test)"),
                        "{}:{}: `{l}` makes the model depend on the build",
                        f.display(),
                        n + 1
                    );
                }
            }
        }
    }
}
