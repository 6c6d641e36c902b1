//! Edits to `chatops.toml` in place, keeping the admin's comments and layout.

use std::path::{Path, PathBuf};
use toml_edit::{value, Array, DocumentMut, Item, Table};

#[derive(Debug, Clone, PartialEq)]
pub enum Grant {
    Http(String),
    Secret(String),
    Post(String),
    Kv,
}

impl Grant {
    /// `http URL`, `secret NAME`, `post CHANNEL` or `kv`, as typed after `chatops grant PLUGIN`.
    pub fn parse(kind: &str, value: Option<&str>) -> Result<Grant, String> {
        let need = |what: &str| {
            value
                .map(str::to_string)
                .ok_or_else(|| format!("`{kind}` needs a {what}"))
        };
        match kind {
            // The CLI checks the pattern with the http capability before writing it.
            "http" => Ok(Grant::Http(need("URL, e.g. https://api.example.com/v1")?)),
            "secret" => Ok(Grant::Secret(need("secret name")?)),
            "post" => Ok(Grant::Post(need("channel id")?)),
            "kv" => Ok(Grant::Kv),
            other => Err(format!(
                "`{other}` is not a capability: use http, secret, post or kv"
            )),
        }
    }

    fn key(&self) -> &'static str {
        match self {
            Grant::Http(_) => "http",
            Grant::Secret(_) => "secrets",
            Grant::Post(_) => "post",
            Grant::Kv => "kv",
        }
    }
}

pub struct ConfigFile {
    pub path: PathBuf,
    pub doc: DocumentMut,
    /// Held from `open` until this is dropped, so two editors (the CLI, an admin in the
    /// chat) take turns instead of one silently undoing the other's edit.
    _lock: Option<std::fs::File>,
}

/// How long an editor waits for another to finish before giving up.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// The lock beside the config (`.chatops.toml.lock`): an advisory lock the kernel drops
/// when its holder exits, even by SIGKILL, so a killed editor never blocks the next.
fn lock(path: &Path) -> anyhow::Result<std::fs::File> {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let lock_path = path.with_file_name(format!(".{name}.lock"));
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| anyhow::anyhow!("cannot create the edit lock {} ({e}); the directory of the config must be writable to edit it", lock_path.display()))?;
    let deadline = std::time::Instant::now() + LOCK_WAIT;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(std::fs::TryLockError::WouldBlock) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(20))
            }
            Err(std::fs::TryLockError::WouldBlock) => anyhow::bail!(
                "another `chatops` is editing {} (it holds {}); try again when it is done",
                path.display(),
                lock_path.display()
            ),
            Err(std::fs::TryLockError::Error(e)) => {
                anyhow::bail!("cannot lock {} ({e})", lock_path.display())
            }
        }
    }
}

impl ConfigFile {
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        let lock = lock(path)?;
        let text = std::fs::read_to_string(path).map_err(|e| {
            anyhow::anyhow!(
                "cannot read {} ({e}); create it with `chatops plugins add PLUGIN.wasm`",
                path.display()
            )
        })?;
        let doc = text
            .parse::<DocumentMut>()
            .map_err(|e| anyhow::anyhow!("{} is not valid TOML: {e}", path.display()))?;
        Ok(ConfigFile {
            path: path.to_path_buf(),
            doc,
            _lock: Some(lock),
        })
    }

    /// Open, or start a new file with a header comment if there is none yet.
    pub fn open_or_new(path: &Path) -> anyhow::Result<Self> {
        if path.exists() {
            return Self::open(path);
        }
        let lock = lock(path)?;
        if path.exists() {
            // another editor created it while this one waited
            drop(lock);
            return Self::open(path);
        }
        let doc = "# chatops configuration: plugins, their pinned digests, grants and limits.\n# Edit by hand or with `chatops plugins ...` and `chatops grant ...`; comments are kept.\n[host]\nprefix = \"!\"\n"
            .parse::<DocumentMut>()?;
        Ok(ConfigFile {
            path: path.to_path_buf(),
            doc,
            _lock: Some(lock),
        })
    }

    /// Write atomically, so a crash never leaves half a config: the whole text goes to a
    /// temp file of this editor's own (named for its process and save) beside the config,
    /// with the config's permissions, is flushed to disk, then renamed over the config, and
    /// the directory is flushed so the rename itself survives a power cut. A symlinked
    /// config has its target replaced, the link kept.
    pub fn save(&self) -> anyhow::Result<()> {
        use std::io::Write;
        static SAVES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let target = std::fs::canonicalize(&self.path).unwrap_or_else(|_| self.path.clone());
        let dir = match target.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = target.file_name().unwrap_or_default().to_string_lossy();
        let tmp = dir.join(format!(
            ".{name}.{}-{}.tmp",
            std::process::id(),
            SAVES.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        if self._lock.is_some() {
            // Under the lock no other editor is saving: a temp file here is what a killed
            // one left behind.
            let prefix = format!(".{name}.");
            for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                let n = entry.file_name();
                let n = n.to_string_lossy();
                if n.starts_with(&prefix) && n.ends_with(".tmp") {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
        let write = || -> std::io::Result<()> {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&tmp)?;
            if let Ok(meta) = std::fs::metadata(&target) {
                f.set_permissions(meta.permissions())?;
            }
            f.write_all(self.doc.to_string().as_bytes())?;
            f.sync_all()?;
            std::fs::rename(&tmp, &target)?;
            std::fs::File::open(&dir)?.sync_all()
        };
        write().map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            anyhow::anyhow!("could not write {} ({e})", target.display())
        })
    }

    fn plugins(&mut self) -> &mut Table {
        let item = self.doc.entry("plugins").or_insert_with(|| {
            let mut t = Table::new();
            t.set_implicit(true);
            Item::Table(t)
        });
        if !item.is_table() {
            *item = Item::Table(Table::new());
        }
        item.as_table_mut().expect("made a table above")
    }

    fn plugin(&mut self, name: &str) -> anyhow::Result<&mut Table> {
        self.plugins()
            .get_mut(name)
            .and_then(Item::as_table_mut)
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "no plugin `{name}` in the config; add it with `chatops plugins add PATH`"
                )
            })
    }

    pub fn has_plugin(&self, name: &str) -> bool {
        self.doc.get("plugins").and_then(|p| p.get(name)).is_some()
    }

    pub fn add_plugin(&mut self, name: &str, path: &str, sha256: &str) -> anyhow::Result<()> {
        if self.has_plugin(name) {
            anyhow::bail!("plugin `{name}` is already configured; to pin a new build run `chatops plugins approve {name}`");
        }
        let mut t = Table::new();
        t["path"] = value(path);
        t["sha256"] = value(sha256);
        self.plugins().insert(name, Item::Table(t));
        Ok(())
    }

    pub fn set_digest(&mut self, name: &str, sha256: &str) -> anyhow::Result<()> {
        self.plugin(name)?["sha256"] = value(sha256);
        Ok(())
    }

    pub fn remove_plugin(&mut self, name: &str) -> anyhow::Result<()> {
        self.plugin(name)?;
        self.plugins().remove(name);
        Ok(())
    }

    fn grants(&mut self, name: &str) -> anyhow::Result<&mut Table> {
        let plugin = self.plugin(name)?;
        let item = plugin
            .entry("grants")
            .or_insert_with(|| Item::Table(Table::new()));
        item.as_table_mut()
            .ok_or_else(|| anyhow::anyhow!("`plugins.{name}.grants` is not a table"))
    }

    /// Returns false if the grant was already there.
    pub fn grant(&mut self, name: &str, grant: &Grant) -> anyhow::Result<bool> {
        let grants = self.grants(name)?;
        let (key, item) = match grant {
            Grant::Kv => {
                let already = grants.get("kv").and_then(Item::as_bool) == Some(true);
                grants["kv"] = value(true);
                return Ok(!already);
            }
            Grant::Http(v) | Grant::Secret(v) | Grant::Post(v) => (grant.key(), v),
        };
        let entry = grants.entry(key).or_insert_with(|| value(Array::new()));
        let array = entry
            .as_array_mut()
            .ok_or_else(|| anyhow::anyhow!("`plugins.{name}.grants.{key}` is not a list"))?;
        if array.iter().any(|v| v.as_str() == Some(item)) {
            return Ok(false);
        }
        array.push(item.as_str());
        Ok(true)
    }

    /// Grant hook `hook`, authenticated by `way` (`bearer` or `hmac_sha256`) with the secret
    /// `secret`. Returns the previous grant's text if it replaced one.
    pub fn grant_webhook(
        &mut self,
        name: &str,
        hook: &str,
        way: &str,
        secret: &str,
    ) -> anyhow::Result<Option<String>> {
        let grants = self.grants(name)?;
        let hooks = grants
            .entry("webhooks")
            .or_insert_with(|| {
                let mut t = Table::new();
                t.set_implicit(true);
                Item::Table(t)
            })
            .as_table_like_mut()
            .ok_or_else(|| anyhow::anyhow!("`plugins.{name}.grants.webhooks` is not a table"))?;
        let before = hooks.get(hook).map(|i| i.to_string().trim().to_string());
        let mut t = Table::new();
        t[way] = value(secret);
        hooks.insert(hook, Item::Table(t));
        Ok(before)
    }

    /// Returns false if the hook was not granted.
    pub fn revoke_webhook(&mut self, name: &str, hook: &str) -> anyhow::Result<bool> {
        let grants = self.grants(name)?;
        let Some(hooks) = grants.get_mut("webhooks").and_then(Item::as_table_like_mut) else {
            return Ok(false);
        };
        Ok(hooks.remove(hook).is_some())
    }

    /// `[plugins.NAME.schedules] SCHEDULE = "VALUE"` (`default`, `off` or a cron).
    pub fn set_schedule(&mut self, name: &str, schedule: &str, text: &str) -> anyhow::Result<()> {
        let plugin = self.plugin(name)?;
        let table = plugin
            .entry("schedules")
            .or_insert_with(|| Item::Table(Table::new()))
            .as_table_like_mut()
            .ok_or_else(|| anyhow::anyhow!("`plugins.{name}.schedules` is not a table"))?;
        table.insert(schedule, value(text));
        Ok(())
    }

    /// Returns false if the schedule was not in the config.
    pub fn remove_schedule(&mut self, name: &str, schedule: &str) -> anyhow::Result<bool> {
        let plugin = self.plugin(name)?;
        let Some(table) = plugin
            .get_mut("schedules")
            .and_then(Item::as_table_like_mut)
        else {
            return Ok(false);
        };
        Ok(table.remove(schedule).is_some())
    }

    /// Set `[plugins.NAME.config] KEY = "VALUE"`. Returns the previous value, if any.
    pub fn set_setting(
        &mut self,
        name: &str,
        key: &str,
        text: &str,
    ) -> anyhow::Result<Option<String>> {
        let plugin = self.plugin(name)?;
        let item = plugin
            .entry("config")
            .or_insert_with(|| Item::Table(Table::new()));
        let table = item
            .as_table_like_mut()
            .ok_or_else(|| anyhow::anyhow!("`plugins.{name}.config` is not a table"))?;
        let before = table.get(key).and_then(|v| v.as_value()).map(|v| {
            v.as_str()
                .map(str::to_string)
                .unwrap_or_else(|| v.to_string().trim().to_string())
        });
        table.insert(key, value(text));
        Ok(before)
    }

    /// Remove a setting. Returns false if it was not set.
    pub fn unset_setting(&mut self, name: &str, key: &str) -> anyhow::Result<bool> {
        let plugin = self.plugin(name)?;
        let Some(table) = plugin.get_mut("config").and_then(Item::as_table_like_mut) else {
            return Ok(false);
        };
        Ok(table.remove(key).is_some())
    }

    /// Returns false if there was no such grant.
    pub fn revoke(&mut self, name: &str, grant: &Grant) -> anyhow::Result<bool> {
        let grants = self.grants(name)?;
        match grant {
            Grant::Kv => {
                let had = grants.get("kv").and_then(Item::as_bool) == Some(true);
                grants.remove("kv");
                Ok(had)
            }
            Grant::Http(v) | Grant::Secret(v) | Grant::Post(v) => {
                let Some(array) = grants.get_mut(grant.key()).and_then(Item::as_array_mut) else {
                    return Ok(false);
                };
                let before = array.len();
                array.retain(|x| x.as_str() != Some(v.as_str()));
                Ok(array.len() != before)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COMMENTED: &str = r#"# Our team's bot. Reviewed in PR #42.
[host]
prefix = "!" # bang commands

# Deploys go through the release API only.
[plugins.deploy]
path = "plugins/deploy.wasm" # built by CI
sha256 = "0000000000000000000000000000000000000000000000000000000000000000"

[plugins.deploy.grants]
# the release API
http = ["https://releases.example.com/api"]
"#;

    #[test]
    fn editing_keeps_every_comment() {
        let mut f = ConfigFile {
            path: "x.toml".into(),
            doc: COMMENTED.parse().unwrap(),
            _lock: None,
        };
        assert!(f
            .grant("deploy", &Grant::Secret("release-token".into()))
            .unwrap());
        assert!(f
            .grant("deploy", &Grant::Http("https://status.example.com".into()))
            .unwrap());
        assert!(!f
            .grant("deploy", &Grant::Http("https://status.example.com".into()))
            .unwrap());
        f.add_plugin("echo", "plugins/echo.wasm", &"1".repeat(64))
            .unwrap();
        f.set_digest("deploy", &"f".repeat(64)).unwrap();
        assert!(f
            .revoke("deploy", &Grant::Http("https://status.example.com".into()))
            .unwrap());
        let out = f.doc.to_string();
        for comment in [
            "# Our team's bot. Reviewed in PR #42.",
            "# bang commands",
            "# Deploys go through the release API only.",
            "# built by CI",
            "# the release API",
        ] {
            assert!(out.contains(comment), "lost {comment:?} in:\n{out}");
        }
        let parsed: crate::config::Config = toml::from_str(&out).unwrap();
        let deploy = &parsed.plugins["deploy"];
        assert_eq!(deploy.sha256, "f".repeat(64));
        assert_eq!(deploy.grants.secrets, vec!["release-token"]);
        assert_eq!(deploy.grants.http, vec!["https://releases.example.com/api"]);
        assert!(parsed.plugins.contains_key("echo"));
        assert_eq!(
            f.set_setting("deploy", "url", "https://ci.example.com")
                .unwrap(),
            None
        );
        assert_eq!(
            f.set_setting("deploy", "url", "https://ci2.example.com")
                .unwrap()
                .as_deref(),
            Some("https://ci.example.com")
        );
        let parsed: crate::config::Config = toml::from_str(&f.doc.to_string()).unwrap();
        assert_eq!(
            parsed.plugins["deploy"].config["url"].as_str(),
            Some("https://ci2.example.com")
        );
        assert!(f.unset_setting("deploy", "url").unwrap());
        assert_eq!(
            f.grant_webhook("deploy", "ci", "bearer", "ci-token")
                .unwrap(),
            None
        );
        assert!(f
            .grant_webhook("deploy", "ci", "hmac_sha256", "ci-secret")
            .unwrap()
            .is_some());
        f.set_schedule("deploy", "nightly", "0 2 * * *").unwrap();
        let parsed: crate::config::Config = toml::from_str(&f.doc.to_string()).unwrap();
        let ci = &parsed.plugins["deploy"].grants.webhooks["ci"];
        assert_eq!(
            (ci.bearer.as_deref(), ci.hmac_sha256.as_deref()),
            (None, Some("ci-secret"))
        );
        assert_eq!(parsed.plugins["deploy"].schedules["nightly"], "0 2 * * *");
        assert!(f.revoke_webhook("deploy", "ci").unwrap());
        assert!(f.remove_schedule("deploy", "nightly").unwrap());
        assert!(!f.unset_setting("deploy", "url").unwrap());
        f.remove_plugin("echo").unwrap();
        assert!(!f.doc.to_string().contains("echo"));
    }

    #[test]
    fn grants_are_checked_before_they_are_written() {
        assert!(Grant::parse("http", None)
            .unwrap_err()
            .contains("needs a URL"));
        assert!(Grant::parse("teleport", None)
            .unwrap_err()
            .contains("not a capability"));
        assert_eq!(Grant::parse("kv", None).unwrap(), Grant::Kv);
    }

    fn config_in(dir: &Path) -> PathBuf {
        let path = dir.join("chatops.toml");
        std::fs::write(&path, COMMENTED).unwrap();
        path
    }

    /// Two editors saving at once each write a temp file of their own: with one shared
    /// temp name, one's rename finds the file gone, or renames the other's half-written one.
    #[test]
    fn two_editors_saving_at_once_never_share_a_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = config_in(dir.path());
        let docs: Vec<String> = (0..2)
            .map(|i| {
                let mut f = ConfigFile::open(&path).unwrap();
                f.set_setting("deploy", "editor", &i.to_string().repeat(5000))
                    .unwrap();
                f.doc.to_string()
            })
            .collect();
        std::fs::write(&path, &docs[0]).unwrap();
        let stop = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|s| {
            let writers: Vec<_> = docs
                .iter()
                .map(|text| {
                    let path = &path;
                    s.spawn(move || {
                        for _ in 0..300 {
                            // no lock: the temp name alone must keep them apart
                            let f = ConfigFile {
                                path: path.clone(),
                                doc: text.parse().unwrap(),
                                _lock: None,
                            };
                            f.save().unwrap();
                        }
                    })
                })
                .collect();
            s.spawn(|| {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let now = std::fs::read_to_string(&path).unwrap();
                    assert!(docs.contains(&now), "a reader saw a half-written config");
                }
            });
            let ended: Vec<_> = writers.into_iter().map(|w| w.join()).collect();
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            for e in ended {
                e.expect("an editor failed to save");
            }
        });
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".tmp"))
            .collect();
        assert!(left.is_empty(), "temp files left behind: {left:?}");
    }

    /// Editors take turns (the CLI and an admin in the chat): every edit of each survives.
    #[test]
    fn concurrent_edits_are_never_lost() {
        let dir = tempfile::tempdir().unwrap();
        let path = config_in(dir.path());
        std::thread::scope(|s| {
            for t in 0..3 {
                let path = &path;
                s.spawn(move || {
                    for i in 0..40 {
                        let mut f = ConfigFile::open(path).unwrap();
                        let url = format!("https://t{t}-{i}.example.com");
                        assert!(f.grant("deploy", &Grant::Http(url)).unwrap());
                        f.save().unwrap();
                    }
                });
            }
        });
        let parsed: crate::config::Config =
            toml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let http = &parsed.plugins["deploy"].grants.http;
        for t in 0..3 {
            for i in 0..40 {
                let url = format!("https://t{t}-{i}.example.com");
                assert!(http.contains(&url), "the grant of {url} was lost");
            }
        }
    }

    /// A config only its owner may read (it names secrets files, webhooks) stays so.
    #[test]
    fn saving_keeps_the_files_permissions() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = config_in(dir.path());
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let mut f = ConfigFile::open(&path).unwrap();
        f.grant("deploy", &Grant::Kv).unwrap();
        f.save().unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}
