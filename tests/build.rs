//! Builds the test plugins (misbehaving and probing ones) for wasm32-wasip2.

include!("../host/guest_build.rs");

fn main() {
    let manifest = std::path::PathBuf::from(
        std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"),
    );
    let root = manifest
        .parent()
        .expect("tests/ is inside the workspace")
        .to_path_buf();
    for dir in ["tests/plugins", "sdk", "wit"] {
        rerun_if_changed_tree(&root.join(dir));
    }
    let target_dir = root.join("target").join("guest");
    build_guests(&root.join("tests/plugins"), &target_dir);
    println!(
        "cargo:rustc-env=TEST_PLUGIN_DIR={}",
        target_dir.join("wasm32-wasip2/release").display()
    );
    println!("cargo:rustc-env=WORKSPACE_ROOT={}", root.display());
}
