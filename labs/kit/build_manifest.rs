//! The build script of every topic crate (`build = "../kit/build_manifest.rs"`): converts the
//! crate's `lab.yaml` to JSON once, at build time, so labctl parses JSON at run time (YAML
//! parsing was most of `labctl list`'s time). A YAML syntax error fails the build with its
//! file and line; `labctl dev check` validates the YAML itself with lines too.

fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let path = std::path::Path::new(&dir).join("lab.yaml");
    println!("cargo:rerun-if-changed={}", path.display());
    let yaml = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let value: serde_json::Value = serde_yaml_ng::from_str(&yaml).unwrap_or_else(|e| {
        let (line, column) = e.location().map(|l| (l.line(), l.column())).unwrap_or((0, 0));
        panic!("{}:{line}:{column}: {e}", path.display())
    });
    let out = std::path::Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("lab.json");
    std::fs::write(&out, serde_json::to_string(&value).expect("JSON"))
        .unwrap_or_else(|e| panic!("{}: {e}", out.display()));
}
