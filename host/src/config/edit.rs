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
}

impl ConfigFile {
    pub fn open(path: &Path) -> anyhow::Result<Self> {
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
        })
    }

    /// Open, or start a new file with a header comment if there is none yet.
    pub fn open_or_new(path: &Path) -> anyhow::Result<Self> {
        if path.exists() {
            return Self::open(path);
        }
        let doc = "# chatops configuration: plugins, their pinned digests, grants and limits.\n# Edit by hand or with `chatops plugins ...` and `chatops grant ...`; comments are kept.\n[host]\nprefix = \"!\"\n"
            .parse::<DocumentMut>()?;
        Ok(ConfigFile {
            path: path.to_path_buf(),
            doc,
        })
    }

    /// Write atomically, so a crash never leaves half a config.
    pub fn save(&self) -> anyhow::Result<()> {
        let tmp = self.path.with_extension("toml.tmp");
        std::fs::write(&tmp, self.doc.to_string())?;
        std::fs::rename(&tmp, &self.path)?;
        Ok(())
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
}
