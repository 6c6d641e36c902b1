//! `chatops new NAME`: a plugin project from `plugin-template/`, ready to build.
//!
//! Self-contained: the SDK and the WIT contract the project needs are compiled into this
//! binary and written into the project (`chatops/`, with the host version that wrote
//! them), so a binary installed on a machine with no checkout of this repository makes
//! projects that build.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

macro_rules! embed {
    ($($path:literal),* $(,)?) => {
        &[$(($path, include_str!(concat!("../../", $path)))),*]
    };
}

/// The Rust template.
const RUST: &[(&str, &str)] = &[
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
    (
        "tests/my-plugin.toml",
        include_str!("../../plugin-template/tests/my-plugin.toml"),
    ),
];

/// The Python template (componentize-py).
const PYTHON: &[(&str, &str)] = &[
    (
        "app.py",
        include_str!("../../plugin-template-python/app.py"),
    ),
    (
        "README.md",
        include_str!("../../plugin-template-python/README.md"),
    ),
    (
        ".gitignore",
        include_str!("../../plugin-template-python/.gitignore"),
    ),
    (
        "tests/my-plugin.toml",
        include_str!("../../plugin-template-python/tests/my-plugin.toml"),
    ),
];

/// The JavaScript template (componentize-js).
const JAVASCRIPT: &[(&str, &str)] = &[
    ("app.js", include_str!("../../plugin-template-js/app.js")),
    (
        "package.json",
        include_str!("../../plugin-template-js/package.json"),
    ),
    (
        "README.md",
        include_str!("../../plugin-template-js/README.md"),
    ),
    (
        ".gitignore",
        include_str!("../../plugin-template-js/.gitignore"),
    ),
    (
        "tests/my-plugin.toml",
        include_str!("../../plugin-template-js/tests/my-plugin.toml"),
    ),
];

/// The SDK crate, written to `chatops/sdk/` (it reads the WIT at `../wit`).
const SDK: &[(&str, &str)] = embed!(
    "sdk/Cargo.toml",
    "sdk/src/lib.rs",
    "sdk/src/http.rs",
    "sdk/src/builders.rs",
);

/// The contract, every version this host loads, with the WASI packages it uses.
const WIT: &[(&str, &str)] = embed!(
    "wit/plugin.wit",
    "wit/v0.2/plugin.wit",
    "wit/deps/cli.wit",
    "wit/deps/clocks.wit",
    "wit/deps/config.wit",
    "wit/deps/filesystem.wit",
    "wit/deps/http.wit",
    "wit/deps/io.wit",
    "wit/deps/random.wit",
    "wit/deps/sockets.wit",
);

/// Where the SDK and WIT go inside a new project.
const VENDOR: &str = "chatops";

/// The languages `chatops new --lang` makes projects in.
pub const LANGS: &[&str] = &["rust", "python", "javascript"];

pub fn new_plugin(
    name: &str,
    dir: Option<PathBuf>,
    sdk: Option<PathBuf>,
    lang: &str,
) -> Result<()> {
    if !crate::config::is_valid_name(name)
        || name.starts_with(['-', '_'])
        || name.chars().next().is_some_and(|c| c.is_ascii_digit())
    {
        bail!("`{name}` cannot name a plugin: use 1-32 characters of a-z, 0-9, - and _, starting with a letter");
    }
    if !LANGS.contains(&lang) {
        bail!(
            "`--lang {lang}`: this chatops makes plugin projects in {}; any language that builds WASI 0.2 components can target the contract (docs/contract.md)",
            LANGS.join(", ")
        );
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
    let snake = name.replace('-', "_");
    let files = match lang {
        "python" => PYTHON,
        "javascript" => JAVASCRIPT,
        _ => RUST,
    };
    if lang != "rust" {
        if sdk.is_some() {
            bail!("--sdk is the Rust SDK; a {lang} plugin uses the WIT written into its project");
        }
        vendor(&dir, false)?;
        for (file, text) in files {
            let text = text.replace("my-plugin", name).replace("my_plugin", &snake);
            write(&dir.join(file.replace("my-plugin", name)), &text)?;
        }
        println!("Created {lang} plugin `{name}` in {}.", dir.display());
        println!("Next (the README says what to install first):");
        println!("  cd {}", dir.display());
        if lang == "python" {
            println!("  componentize-py -d chatops/wit -w chatops:plugin/plugin@0.1.0 --import-interface-name wasi:http/types@0.2.12=types componentize app -o {snake}.wasm");
        } else {
            println!("  npm install && npm run build");
        }
        println!("  chatops test");
        println!("  chatops shell --plugin {snake}.wasm");
        return Ok(());
    }
    // The SDK: a checkout's (for working on the SDK itself), or the one in this binary.
    let sdk_dep = match sdk {
        Some(p) => {
            let p = std::fs::canonicalize(&p)
                .with_context(|| format!("--sdk {} does not exist", p.display()))?;
            if !p.join("Cargo.toml").is_file() {
                bail!("--sdk {}: no Cargo.toml there", p.display());
            }
            format!("path = {:?}", p.display().to_string())
        }
        None => {
            vendor(&dir, true)?;
            format!("path = \"{VENDOR}/sdk\"")
        }
    };
    for (file, text) in files {
        let text = text
            .replace("path = \"../sdk\"", &sdk_dep)
            .replace("my-plugin", name)
            .replace("my_plugin", &snake)
            .replace("MyPlugin", &camel(name));
        let file = file.replace("my-plugin", name);
        write(&dir.join(file), &text)?;
    }
    println!("Created plugin `{name}` in {}.", dir.display());
    println!("Next:");
    println!("  cd {}", dir.display());
    println!("  cargo build --release --target wasm32-wasip2");
    println!("  chatops test");
    println!("  chatops shell --plugin target/wasm32-wasip2/release/{snake}.wasm");
    Ok(())
}

/// Write the WIT (and for Rust the SDK) this binary carries into `dir/chatops/`.
fn vendor(dir: &Path, with_sdk: bool) -> Result<()> {
    let root = dir.join(VENDOR);
    let sdk: &[(&str, &str)] = if with_sdk { SDK } else { &[] };
    for (path, text) in sdk.iter().chain(WIT) {
        write(&root.join(path), text)?;
    }
    // wit/v0.2 reads the same WASI packages as 0.1.
    for (path, text) in WIT.iter().filter(|(p, _)| p.starts_with("wit/deps/")) {
        let copy = path.replacen("wit/deps/", "wit/v0.2/deps/", 1);
        write(&root.join(copy), text)?;
    }
    write(
        &root.join("README.md"),
        &format!(
            "The chatops plugin contract (WIT){} as shipped with chatops {}.\n\
             Written by `chatops new`; the plugin builds from these, with no other copy of chatops.\n\
             To move to a newer chatops, create a project with its `chatops new` and copy this directory over.\n",
            if with_sdk { " and Rust SDK" } else { "" },
            env!("CARGO_PKG_VERSION")
        ),
    )
}

fn write(dest: &Path, text: &str) -> Result<()> {
    if let Some(parent) = dest.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    std::fs::write(dest, text).with_context(|| format!("cannot write {}", dest.display()))
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Every file of `sdk/` and `wit/` is in the binary: a file added there and not here
    /// would make projects that do not build.
    #[test]
    fn every_sdk_and_wit_file_is_embedded() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut embedded: Vec<&str> = SDK.iter().chain(WIT).map(|(p, _)| *p).collect();
        embedded.sort();
        let mut on_disk = Vec::new();
        for top in ["sdk", "wit"] {
            walk(&root, &root.join(top), &mut on_disk);
        }
        on_disk.sort();
        assert_eq!(embedded, on_disk);
    }

    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            if rel == "wit/v0.2/deps" || rel.ends_with("/target") || rel.ends_with("Cargo.lock") {
                continue;
            }
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                out.push(rel);
            }
        }
    }
}
