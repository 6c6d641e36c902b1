// Shared by the build scripts of `host` and `tests` (pulled in with `include!`): builds a
// workspace of guest crates for wasm32-wasip2 in its own target directory, so the nested
// cargo never waits on the outer build's lock.

#[allow(dead_code)]
fn build_guests(workspace: &std::path::Path, target_dir: &std::path::Path) {
    use std::process::Command;
    // Under rustup, the guests build with the toolchain the workspace pins (its
    // rust-toolchain.toml lists the wasm target), through rustup's proxies, also when the
    // host is built with another toolchain, as `cargo +nightly fuzz` does.
    let rustup = std::env::var_os("RUSTUP_TOOLCHAIN").is_some();
    ensure_wasm_target(workspace, rustup);
    let cargo = match std::env::var("CARGO") {
        Ok(c) if !rustup => c,
        _ => "cargo".into(),
    };
    let mut cmd = Command::new(cargo);
    if rustup {
        cmd.env_remove("RUSTUP_TOOLCHAIN").env_remove("RUSTC");
    }
    cmd.current_dir(workspace)
        .args(["build", "--release", "--target", "wasm32-wasip2", "--target-dir"])
        .arg(target_dir);
    // Flags meant for the host build must not leak into the guest build.
    for var in ["RUSTFLAGS", "CARGO_ENCODED_RUSTFLAGS", "CARGO_BUILD_RUSTFLAGS", "CARGO_TARGET_DIR", "CARGO_BUILD_TARGET", "RUSTC_WORKSPACE_WRAPPER", "CARGO_PRIMARY_PACKAGE", "CARGO_MANIFEST_DIR", "CARGO_MANIFEST_PATH"] {
        cmd.env_remove(var);
    }
    let out = cmd.output().unwrap_or_else(|e| panic!("could not run cargo to build the plugins in {}: {e}", workspace.display()));
    if !out.status.success() {
        panic!(
            "building the plugins in {} for wasm32-wasip2 failed:\n{}",
            workspace.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// rustup installs targets listed in rust-toolchain.toml only when it installs the
/// toolchain itself; add the target when the toolchain was already there.
#[allow(dead_code)]
fn ensure_wasm_target(workspace: &std::path::Path, rustup: bool) {
    use std::process::Command;
    let rustc = match std::env::var("RUSTC") {
        Ok(r) if !rustup => r,
        _ => "rustc".into(),
    };
    let sysroot = Command::new(&rustc).current_dir(workspace).env_remove("RUSTUP_TOOLCHAIN").args(["--print", "sysroot"]).output().ok().map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    if let Some(sysroot) = sysroot {
        if std::path::Path::new(&sysroot).join("lib/rustlib/wasm32-wasip2").is_dir() {
            return;
        }
    }
    let status = Command::new("rustup").current_dir(workspace).env_remove("RUSTUP_TOOLCHAIN").args(["target", "add", "wasm32-wasip2"]).status();
    if !matches!(status, Ok(s) if s.success()) {
        panic!("the wasm32-wasip2 target is missing and `rustup target add wasm32-wasip2` failed; run it by hand");
    }
}

#[allow(dead_code)]
fn rerun_if_changed_tree(dir: &std::path::Path) {
    println!("cargo:rerun-if-changed={}", dir.display());
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            let name = e.file_name();
            if name == "target" || name.to_string_lossy().starts_with('.') {
                continue;
            }
            if p.is_dir() {
                rerun_if_changed_tree(&p);
            } else {
                println!("cargo:rerun-if-changed={}", p.display());
            }
        }
    }
}
