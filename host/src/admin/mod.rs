//! Administration shared by the `chatops` CLI and the chat's `chatops …` commands: the
//! same edits of `chatops.toml` (in place, comments kept, written atomically) and the same
//! approval of a new build. Each returns what it did, for the caller to print or answer.

pub mod chat;

use crate::capabilities::http::HttpGrant;
use crate::config::edit::{ConfigFile, Grant};
use crate::model::PluginInfo;
use crate::runtime::{sha256_hex, Runtime};
use anyhow::{bail, Context, Result};
use std::path::Path;

/// Grant (`add`) or revoke `kind value` (http URL, secret NAME, post CHANNEL, kv).
pub fn grant(
    path: &Path,
    plugin: &str,
    kind: &str,
    value: Option<&str>,
    add: bool,
) -> Result<String> {
    let g = Grant::parse(kind, value).map_err(anyhow::Error::msg)?;
    if let Grant::Http(url) = &g {
        url.parse::<HttpGrant>()?;
    }
    let mut file = ConfigFile::open(path)?;
    let what = match &g {
        Grant::Kv => "kv".to_string(),
        Grant::Http(v) | Grant::Secret(v) | Grant::Post(v) => format!("{kind} {v}"),
    };
    Ok(if add {
        if file.grant(plugin, &g)? {
            file.save()?;
            format!("Granted {what} to `{plugin}` (for its pinned build).")
        } else {
            format!("`{plugin}` already has {what}.")
        }
    } else if file.revoke(plugin, &g)? {
        file.save()?;
        format!("Revoked {what} from `{plugin}`.")
    } else {
        format!("`{plugin}` did not have {what}.")
    })
}

/// Set the setting `key` of `plugin` to `value`.
pub fn set_setting(path: &Path, plugin: &str, key: &str, value: &str) -> Result<String> {
    let max = crate::capabilities::config::MAX_KEY_BYTES;
    if key.is_empty() || key.len() > max || key.chars().any(char::is_control) {
        bail!("`{key}` is not a setting name: 1 to {max} printable characters");
    }
    let mut file = ConfigFile::open(path)?;
    let before = file.set_setting(plugin, key, value)?;
    file.save()?;
    Ok(match before {
        Some(b) => format!("Set `{key}` of `{plugin}` to \"{value}\" (was \"{b}\")."),
        None => format!("Set `{key}` of `{plugin}` to \"{value}\"."),
    })
}

/// A new build of a configured plugin, waiting to be approved.
pub struct Approval {
    pub name: String,
    pub version: String,
    /// The digest pinned now, and the file's.
    pub from: String,
    pub to: String,
    /// What its requests changed, one line each (`+ now requests …`, `- no longer …`).
    pub changes: Vec<String>,
    info: PluginInfo,
}

impl Approval {
    /// What the admin is asked.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "Approving `{}` {}: sha256 {} → {}",
            self.name, self.version, self.from, self.to
        );
        for c in &self.changes {
            s.push_str("\n  ");
            s.push_str(c);
        }
        s
    }
}

/// What approving the current file of `name` would change; `Ok(None)` if it is approved.
pub async fn approval(config: &Path, name: &str) -> Result<Option<Approval>> {
    let loaded = crate::bot::load_config_or_explain(config)?;
    let pc = loaded
        .config
        .plugins
        .get(name)
        .with_context(|| format!("no plugin `{name}` in {}", loaded.path.display()))?;
    let file = loaded.resolve(&pc.path);
    let bytes = std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
    let compiled = Runtime::new()?
        .load(
            &bytes,
            &file.display().to_string(),
            &crate::config::Limits::default(),
        )
        .await?;
    let info = compiled.info.clone();
    if info.name != name {
        bail!(
            "{} now describes itself as `{}`, not `{name}`; remove `{name}` and add it again",
            file.display(),
            info.name
        );
    }
    if compiled.digest == pc.sha256 {
        return Ok(None);
    }
    let now: Vec<String> = info
        .capabilities
        .iter()
        .map(|r| r.capability.describe())
        .collect();
    let changes = match recall_requests(config, name, &pc.sha256) {
        Some(old) => {
            let mut c: Vec<String> = now
                .iter()
                .filter(|c| !old.contains(c))
                .map(|c| format!("+ now requests {c}"))
                .collect();
            c.extend(
                old.iter()
                    .filter(|c| !now.contains(c))
                    .map(|c| format!("- no longer requests {c}")),
            );
            if c.is_empty() {
                c.push("Its requests did not change.".into());
            }
            c
        }
        None => std::iter::once(
            "(the previous build's requests were not recorded; it requests now:)".to_string(),
        )
        .chain(now.iter().map(|c| format!("  {c}")))
        .collect(),
    };
    Ok(Some(Approval {
        name: name.to_string(),
        version: info.version.clone(),
        from: pc.sha256.clone(),
        to: compiled.digest.clone(),
        changes,
        info,
    }))
}

/// Pin the build `approval` showed, if the file still is that build.
pub fn approve(config: &Path, approval: &Approval) -> Result<String> {
    pin(config, &approval.name, &approval.to)?;
    remember_requests(config, &approval.name, &approval.to, &approval.info);
    Ok(format!(
        "Approved `{}` at sha256 {}: its grants now apply to this build.",
        approval.name, approval.to
    ))
}

/// Pin `digest` for `name`, refusing if the plugin's file is no longer that build.
pub fn pin(config: &Path, name: &str, digest: &str) -> Result<()> {
    let loaded = crate::bot::load_config_or_explain(config)?;
    let pc = loaded
        .config
        .plugins
        .get(name)
        .with_context(|| format!("no plugin `{name}` in {}", loaded.path.display()))?;
    let file = loaded.resolve(&pc.path);
    let bytes = std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
    let actual = sha256_hex(&bytes);
    if actual != digest {
        bail!(
            "{} changed again (sha256 {}…) since it was shown; nothing was approved. Ask again to see the new build",
            file.display(),
            &actual[..12]
        );
    }
    let mut file = ConfigFile::open(config)?;
    file.set_digest(name, digest)?;
    file.save()
}

/// What a digest requested, kept in the store so `approve` can show what changed.
pub fn remember_requests(config: &Path, name: &str, digest: &str, info: &PluginInfo) {
    let caps: Vec<String> = info
        .capabilities
        .iter()
        .map(|r| r.capability.describe())
        .collect();
    if let Some(store) = open_store(config) {
        if let Err(e) = store.kv_set(
            "chatops.approvals",
            &format!("{name}@{digest}"),
            caps.join("\n").as_bytes(),
        ) {
            tracing::warn!("could not record the requests of {name}: {e}");
        }
    }
}

fn recall_requests(config: &Path, name: &str, digest: &str) -> Option<Vec<String>> {
    let bytes = open_store(config)?
        .kv_get("chatops.approvals", &format!("{name}@{digest}"))
        .ok()??;
    Some(
        String::from_utf8_lossy(&bytes)
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect(),
    )
}

fn open_store(config: &Path) -> Option<crate::store::Store> {
    let loaded = crate::bot::load_config(config).ok()?;
    crate::store::Store::from_config_blocking(&loaded).ok()
}
