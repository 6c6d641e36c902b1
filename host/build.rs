//! Builds the first-party plugins for wasm32-wasip2 and bundles them into the binary, so
//! `cargo run -- shell` works on a fresh clone with no configuration.

include!("guest_build.rs");

/// The bundled plugins, in the order `help` lists them.
const BUNDLED: &[&str] = &[
    "echo",
    "dice",
    "httpcheck",
    "alerts",
    "deploy",
    "restart",
    "ticket",
    "incident",
];

fn main() {
    let manifest = std::path::PathBuf::from(
        std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"),
    );
    let root = manifest
        .parent()
        .expect("host/ is inside the workspace")
        .to_path_buf();
    for dir in ["plugins", "sdk", "wit"] {
        rerun_if_changed_tree(&root.join(dir));
    }
    println!("cargo:rerun-if-changed=guest_build.rs");
    let target_dir = root.join("target").join("guest");
    build_guests(&root.join("plugins"), &target_dir);
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let mut table = String::from("/// (name, component bytes) of each bundled plugin.\npub const BUNDLED: &[(&str, &[u8])] = &[\n");
    for name in BUNDLED {
        let built = target_dir
            .join("wasm32-wasip2/release")
            .join(format!("{name}.wasm"));
        let dest = out.join(format!("{name}.wasm"));
        std::fs::copy(&built, &dest)
            .unwrap_or_else(|e| panic!("plugin {name} was not built at {}: {e}", built.display()));
        table.push_str(&format!(
            "    ({name:?}, include_bytes!(concat!(env!(\"OUT_DIR\"), \"/{name}.wasm\"))),\n"
        ));
    }
    table.push_str("];\n");
    std::fs::write(out.join("bundled.rs"), table).expect("OUT_DIR is writable");
}
