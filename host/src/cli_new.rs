//! `chatops new NAME`: a plugin project from `plugin-template/`, ready to build.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

const FILES: &[(&str, &str)] = &[
    (
        "Cargo.toml",
        include_str!("../../plugin-template/Cargo.toml"),
    ),
    (
        "rust-toolchain.toml",
        include_str!("../../plugin-template/rust-toolchain.toml"),
    ),
    (
        ".gitignore",
        include_str!("../../plugin-template/.gitignore"),
    ),
    ("README.md", include_str!("../../plugin-template/README.md")),
    (
        "src/lib.rs",
        include_str!("../../plugin-template/src/lib.rs"),
    ),
];

/// The sdk beside the source this binary was built from.
fn default_sdk() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("sdk");
    std::fs::canonicalize(p)
        .ok()
        .filter(|p| p.join("Cargo.toml").is_file())
}

pub fn new_plugin(name: &str, dir: Option<PathBuf>, sdk: Option<PathBuf>) -> Result<()> {
    if !crate::config::is_valid_name(name)
        || name.starts_with(['-', '_'])
        || name.chars().next().is_some_and(|c| c.is_ascii_digit())
    {
        bail!("`{name}` cannot name a plugin: use 1-32 characters of a-z, 0-9, - and _, starting with a letter");
    }
    let dir = dir.unwrap_or_else(|| PathBuf::from(name));
    if dir.exists()
        && std::fs::read_dir(&dir)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        bail!(
            "{} already exists and is not empty; choose another --dir",
            dir.display()
        );
    }
    let sdk = match sdk {
        Some(p) => std::fs::canonicalize(&p)
            .with_context(|| format!("--sdk {} does not exist", p.display()))?,
        None => default_sdk().context(
            "cannot find chatops-sdk beside this binary's source; pass --sdk PATH/TO/chatops/sdk",
        )?,
    };
    let snake = name.replace('-', "_");
    for (file, text) in FILES {
        let text = text
            .replace(
                "path = \"../sdk\"",
                &format!("path = {:?}", sdk.display().to_string()),
            )
            .replace("my-plugin", name)
            .replace("my_plugin", &snake)
            .replace("MyPlugin", &camel(name));
        let dest = dir.join(file);
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&dest, text).with_context(|| format!("cannot write {}", dest.display()))?;
    }
    println!("Created plugin `{name}` in {}.", dir.display());
    println!("Next:");
    println!("  cd {}", dir.display());
    println!("  cargo build --release --target wasm32-wasip2");
    println!("  chatops shell --plugin target/wasm32-wasip2/release/{snake}.wasm");
    Ok(())
}

fn camel(name: &str) -> String {
    name.split(['-', '_'])
        .filter(|s| !s.is_empty())
        .map(|s| {
            let mut c = s.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}
