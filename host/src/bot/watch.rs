//! Noticing changes: the config and every plugin file are fingerprinted (modification
//! time and size); a change reloads everything and says what changed.

use super::{load_config, lock, Bot, Fingerprint};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

impl Bot {
    pub(super) fn fingerprint(&self) -> Fingerprint {
        let stamp = |p: &Path| {
            std::fs::metadata(p)
                .ok()
                .map(|m| (m.modified().unwrap_or(SystemTime::UNIX_EPOCH), m.len()))
        };
        let mut paths = Vec::new();
        if let Some(dev) = &self.dev {
            paths.extend(dev.plugins.iter().cloned());
        }
        if let Some(cfg) = &self.config {
            paths.push(cfg.clone());
            if let Ok(loaded) = load_config(cfg) {
                paths.extend(
                    loaded
                        .config
                        .plugins
                        .values()
                        .map(|p| loaded.resolve(&p.path)),
                );
                if let Some(f) = &loaded.config.secrets.file {
                    paths.push(loaded.resolve(f));
                }
            }
        }
        paths
            .into_iter()
            .map(|p| {
                let s = stamp(&p);
                (p, s)
            })
            .collect()
    }

    /// Reload if the config or a plugin file changed. Returns what changed, for the user.
    pub async fn reload_if_changed(&self) -> Vec<String> {
        let now = self.fingerprint();
        if *lock(&self.seen) == now {
            return Vec::new();
        }
        *lock(&self.seen) = now;
        self.reload().await
    }

    /// Re-read the config and every plugin; the running set is replaced only if it is valid.
    pub async fn reload(&self) -> Vec<String> {
        if self.dev.is_some() {
            return match self.load_dev().await {
                Ok((plugins, disabled)) => {
                    let mut msgs: Vec<String> = disabled
                        .iter()
                        .map(|(n, why)| format!("{n} could not be reloaded: {why}"))
                        .collect();
                    let names: Vec<String> =
                        plugins.iter().map(|p| format!("`{}`", p.name)).collect();
                    self.dispatcher.install(plugins, disabled);
                    for (name, why) in self.dispatcher.disabled() {
                        if !msgs.iter().any(|m| m.starts_with(&name)) {
                            msgs.push(format!("{name} could not be reloaded: {why}"));
                        }
                    }
                    msgs.push(format!("reloaded {}", names.join(", ")));
                    msgs
                }
                Err(e) => vec![format!("reload failed: {e:#}")],
            };
        }
        let Some(path) = &self.config else {
            return Vec::new();
        };
        let loaded = match load_config(path) {
            Ok(l) => l,
            Err(errors) => {
                let mut msgs = vec![format!(
                    "{} changed but is not valid; still running the previous configuration:",
                    path.display()
                )];
                msgs.extend(errors.iter().map(ToString::to_string));
                return msgs;
            }
        };
        let before: BTreeMap<String, String> = self
            .dispatcher
            .plugins()
            .iter()
            .map(|p| (p.name.clone(), p.compiled.digest.clone()))
            .collect();
        let was_disabled: BTreeMap<String, String> =
            self.dispatcher.disabled().into_iter().collect();
        if let Err(e) = self.apply(&loaded).await {
            return vec![format!(
                "reloading {} failed; still running the previous plugins: {e:#}",
                path.display()
            )];
        }
        let mut msgs = Vec::new();
        for p in self.dispatcher.plugins() {
            match before.get(&p.name) {
                None => msgs.push(format!(
                    "plugin `{}` loaded ({} commands)",
                    p.name,
                    p.info().commands.len()
                )),
                Some(d) if *d != p.compiled.digest => msgs.push(format!(
                    "plugin `{}` reloaded: new approved build {}",
                    p.name,
                    &p.compiled.digest[..12]
                )),
                _ => {}
            }
        }
        for (name, why) in self.dispatcher.disabled() {
            if was_disabled.get(&name) != Some(&why) {
                msgs.push(format!("plugin `{name}` disabled: {why}"));
            }
        }
        for name in before.keys() {
            let gone = !self.dispatcher.plugins().iter().any(|p| &p.name == name);
            if gone && !self.dispatcher.disabled().iter().any(|(n, _)| n == name) {
                msgs.push(format!("plugin `{name}` removed"));
            }
        }
        if msgs.is_empty() {
            msgs.push(format!("configuration reloaded from {}", path.display()));
        }
        for m in &msgs {
            tracing::info!("{m}");
        }
        msgs
    }

    /// Poll for changes every `every`, sending what changed to `tell`.
    pub fn watch(
        self: &Arc<Self>,
        every: Duration,
        tell: tokio::sync::mpsc::UnboundedSender<String>,
    ) -> tokio::task::JoinHandle<()> {
        let bot = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let Some(bot) = bot.upgrade() else { break };
                for m in bot.reload_if_changed().await {
                    if tell.send(m).is_err() {
                        return;
                    }
                }
            }
        })
    }
}
