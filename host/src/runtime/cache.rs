//! The compiled-code cache: each plugin's machine code on disk, so a start (of the bot,
//! `shell`, `invoke`, `bench`, `plugins inspect`) deserializes it instead of compiling.
//!
//! Loading compiled code runs it as native code, so an entry is trusted only if this host
//! wrote it: the directory must belong to this user and be private to it (0700), each entry
//! must belong to this user and be writable by nobody else, and each carries the SHA-256 of
//! its contents, checked before `Component::deserialize` sees a byte. An entry that fails
//! any check (truncated by a crash, written by another build, edited) is ignored and
//! rebuilt. Entries are keyed by the component's digest and the engine's compatibility
//! hash (wasmtime version, compiler settings, CPU features), so another build never reads
//! this build's code.

use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use wasmtime::component::Component;
use wasmtime::Engine;

/// Starts every entry this host writes (then the SHA-256 of the rest, then the code).
const MAGIC: &[u8; 16] = b"chatops-cwasm-1\n";
/// Entries kept, and their total size (a Python or JavaScript plugin's code is ~35 MB);
/// past either the least recently written are removed when one is added.
const MAX_ENTRIES: usize = 256;
const MAX_BYTES: u64 = 1 << 30;

/// Where compiled code goes when there is no configured store to put it beside:
/// `$CHATOPS_CACHE_DIR` (empty: no cache), else `$XDG_CACHE_HOME/chatops`, else
/// `~/.cache/chatops`.
pub fn default_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("CHATOPS_CACHE_DIR") {
        return (!dir.is_empty()).then(|| PathBuf::from(dir));
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir).join("chatops"));
    }
    std::env::var_os("HOME")
        .filter(|d| !d.is_empty())
        .map(|h| PathBuf::from(h).join(".cache").join("chatops"))
}

pub struct CodeCache {
    dir: PathBuf,
    /// The engine's compatibility hash, in every entry's name.
    engine_key: String,
}

/// Where a load came from, for `bench` and the logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Cache,
    Compiled,
}

impl CodeCache {
    /// Use `dir` (created private to this user). Refused if it belongs to someone else or
    /// others may write in it: code loaded from there would run as this host.
    pub fn open(dir: &Path, engine: &Engine) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::{MetadataExt, PermissionsExt};
            let meta = std::fs::symlink_metadata(dir)?;
            if !meta.is_dir() || meta.uid() != current_uid() {
                anyhow::bail!(
                    "the compiled-code cache {} is not a directory of this user; remove it or set CHATOPS_CACHE_DIR",
                    dir.display()
                );
            }
            if meta.permissions().mode() & 0o777 != 0o700 {
                std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
            }
        }
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut h);
        env!("CARGO_PKG_VERSION").hash(&mut h);
        Ok(CodeCache {
            dir: dir.to_path_buf(),
            engine_key: format!("{:016x}", h.finish()),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn entry(&self, digest: &str) -> PathBuf {
        self.dir.join(format!("{digest}-{}.cwasm", self.engine_key))
    }

    /// The component for `digest`, from the cache if a sound entry is there, else compiled
    /// from `bytes` and written to the cache.
    pub fn get_or_compile(
        &self,
        engine: &Engine,
        bytes: &[u8],
        digest: &str,
    ) -> wasmtime::Result<(Component, Source)> {
        let path = self.entry(digest);
        match self.read_checked(&path) {
            Ok(Some(code)) => {
                // SAFETY: `code` is exactly what `write` below stored for this digest and
                // this engine's compatibility hash (its SHA-256 matches), in a directory
                // and a file that only this user can write: code this host produced.
                match unsafe { Component::deserialize(engine, &code) } {
                    Ok(c) => return Ok((c, Source::Cache)),
                    Err(e) => tracing::warn!(
                        "ignoring the compiled cache entry {}: {e:#}; compiling again",
                        path.display()
                    ),
                }
            }
            Ok(None) => {}
            Err(why) => tracing::warn!(
                "ignoring the compiled cache entry {}: {why}; compiling again",
                path.display()
            ),
        }
        // Compiling takes up to seconds of CPU: off the runtime's workers.
        let component = crate::off_the_workers(|| Component::from_binary(engine, bytes))?;
        match component.serialize() {
            Ok(code) => {
                if let Err(e) = self.write(&path, &code) {
                    tracing::warn!(
                        "could not write the compiled cache entry {}: {e}",
                        path.display()
                    );
                }
            }
            Err(e) => tracing::warn!("could not serialize compiled code: {e:#}"),
        }
        Ok((component, Source::Compiled))
    }

    /// The code of a sound entry; `None` if there is none; an error says why one is unsound.
    fn read_checked(&self, path: &Path) -> Result<Option<Vec<u8>>, String> {
        let meta = match std::fs::symlink_metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.to_string()),
        };
        #[cfg(unix)]
        {
            use std::os::unix::fs::{MetadataExt, PermissionsExt};
            if !meta.is_file() || meta.uid() != current_uid() {
                return Err("not a file of this user".into());
            }
            if meta.permissions().mode() & 0o022 != 0 {
                return Err("writable by others".into());
            }
        }
        let data = std::fs::read(path).map_err(|e| e.to_string())?;
        let header = MAGIC.len() + 32;
        if data.len() < header || &data[..MAGIC.len()] != MAGIC {
            return Err("not written by this host".into());
        }
        let (sum, code) = data[MAGIC.len()..].split_at(32);
        if Sha256::digest(code).as_slice() != sum {
            return Err("its checksum does not match (corrupt or altered)".into());
        }
        Ok(Some(data[header..].to_vec()))
    }

    fn write(&self, path: &Path, code: &[u8]) -> std::io::Result<()> {
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let tmp = self.dir.join(format!(
            ".tmp-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let mut data = Vec::with_capacity(MAGIC.len() + 32 + code.len());
        data.extend_from_slice(MAGIC);
        data.extend_from_slice(&Sha256::digest(code));
        data.extend_from_slice(code);
        let written = {
            use std::io::Write;
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
            opts.open(&tmp).and_then(|mut f| f.write_all(&data))
        };
        let done = written.and_then(|()| std::fs::rename(&tmp, path));
        if done.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        done?;
        self.prune();
        Ok(())
    }

    /// Keep at most [`MAX_ENTRIES`] entries and [`MAX_BYTES`], removing the oldest written.
    fn prune(&self) {
        let Ok(dir) = std::fs::read_dir(&self.dir) else {
            return;
        };
        let mut entries: Vec<_> = dir
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(".cwasm"))
            .filter_map(|e| {
                let meta = e.metadata().ok()?;
                Some((meta.modified().ok()?, meta.len(), e.path()))
            })
            .collect();
        let mut total: u64 = entries.iter().map(|(_, len, _)| len).sum();
        let mut count = entries.len();
        entries.sort();
        for (_, len, path) in entries {
            // The newest entry (just written) is always kept.
            if count <= 1 || (count <= MAX_ENTRIES && total <= MAX_BYTES) {
                break;
            }
            if std::fs::remove_file(path).is_ok() {
                count -= 1;
                total -= len;
            }
        }
    }
}

#[cfg(unix)]
fn current_uid() -> u32 {
    use std::os::unix::fs::MetadataExt;
    // The owner of a file this process just created is this process's effective uid.
    static UID: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *UID.get_or_init(|| {
        std::fs::metadata("/proc/self")
            .map(|m| m.uid())
            .unwrap_or(u32::MAX)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The smallest component: compiles in milliseconds.
    const EMPTY_COMPONENT: &[u8] = b"\0asm\x0d\0\x01\0";

    fn engine() -> Engine {
        let mut config = wasmtime::Config::new();
        config.wasm_component_model(true);
        Engine::new(&config).unwrap()
    }

    #[test]
    fn a_corrupt_or_foreign_entry_is_rebuilt_never_loaded() {
        let dir = tempfile::tempdir().unwrap();
        let engine = engine();
        let cache = CodeCache::open(&dir.path().join("c"), &engine).unwrap();
        let digest = crate::runtime::sha256_hex(EMPTY_COMPONENT);
        let (_, src) = cache
            .get_or_compile(&engine, EMPTY_COMPONENT, &digest)
            .unwrap();
        assert_eq!(src, Source::Compiled);
        let (_, src) = cache
            .get_or_compile(&engine, EMPTY_COMPONENT, &digest)
            .unwrap();
        assert_eq!(src, Source::Cache);

        // One flipped byte of code: the checksum catches it, the entry is rewritten.
        let path = cache.entry(&digest);
        let mut data = std::fs::read(&path).unwrap();
        let last = data.len() - 1;
        data[last] ^= 1;
        std::fs::write(&path, &data).unwrap();
        assert!(cache.read_checked(&path).unwrap_err().contains("checksum"));
        let (_, src) = cache
            .get_or_compile(&engine, EMPTY_COMPONENT, &digest)
            .unwrap();
        assert_eq!(src, Source::Compiled);
        assert!(cache.read_checked(&path).unwrap().is_some());

        // A raw wasmtime artifact (no header of ours) is not ours.
        let raw = Component::from_binary(&engine, EMPTY_COMPONENT)
            .unwrap()
            .serialize()
            .unwrap();
        std::fs::write(&path, raw).unwrap();
        assert!(cache
            .read_checked(&path)
            .unwrap_err()
            .contains("not written"));
        let (_, src) = cache
            .get_or_compile(&engine, EMPTY_COMPONENT, &digest)
            .unwrap();
        assert_eq!(src, Source::Compiled);

        // Writable by others: ignored.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
        assert!(cache.read_checked(&path).unwrap_err().contains("others"));
        let (_, src) = cache
            .get_or_compile(&engine, EMPTY_COMPONENT, &digest)
            .unwrap();
        assert_eq!(src, Source::Compiled);
        assert_eq!(
            std::fs::metadata(dir.path().join("c"))
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o700
        );
    }

    #[test]
    fn another_engine_configuration_does_not_share_entries() {
        let dir = tempfile::tempdir().unwrap();
        let a = engine();
        let mut config = wasmtime::Config::new();
        config.wasm_component_model(true).epoch_interruption(true);
        let b = Engine::new(&config).unwrap();
        let ca = CodeCache::open(dir.path(), &a).unwrap();
        let cb = CodeCache::open(dir.path(), &b).unwrap();
        assert_ne!(ca.entry("x"), cb.entry("x"));
    }
}
