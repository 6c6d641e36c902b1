//! Assembles a running host from the configuration (or the bundled plugins), and reloads
//! plugins when their files or the configuration change, re-checking every digest.

use crate::capabilities::config::Settings;
use crate::capabilities::secrets::SecretStore;
use crate::capabilities::Grants;
use crate::config::{self, ConfigError, Loaded};
use crate::dispatch::{Dispatcher, LoadedPlugin, Policy, Source};
use crate::runtime::{sha256_hex, CompiledPlugin, Runtime};
use crate::store::Store;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

pub mod drain;
mod watch;

pub struct Bot {
    pub dispatcher: Arc<Dispatcher>,
    pub config: Option<PathBuf>,
    /// Plugin files loaded without a config (the author's loop): no digest pinning.
    dev: Option<Dev>,
    /// Compiled plugins by digest: reloading an unchanged plugin costs nothing.
    compiled: Mutex<HashMap<String, Arc<CompiledPlugin>>>,
    seen: Mutex<Fingerprint>,
}

/// A plugin author's setup: their plugin files, with fake grants, secret values and settings.
#[derive(Default)]
pub struct Dev {
    pub plugins: Vec<PathBuf>,
    pub grants: Grants,
    pub secrets: HashMap<String, String>,
    pub settings: BTreeMap<String, String>,
    pub with_bundled: bool,
    /// The database file (default: in memory, nothing kept).
    pub store: Option<PathBuf>,
    /// How durable the database file's commits are (`[host] store_sync`).
    pub store_sync: config::StoreSync,
    /// The plugins' limits (default: [`config::Limits::default`]).
    pub limits: Option<config::Limits>,
}

/// Read, parse and check a config file: the host's keys and every capability's section.
/// A problem in the host's keys refuses the file (with every problem found); a problem in
/// a plugin's section leaves that plugin out, with the reason in `Loaded::broken`.
pub fn load_config(path: &Path) -> Result<Loaded, Vec<ConfigError>> {
    let loaded = config::load(path)?;
    let mut errors = crate::capabilities::validate(&loaded);
    errors.extend(crate::triggers::validate(&loaded));
    config::settle(loaded, errors)
}

/// [`load_config`] with its problems as one error, for the CLI.
pub fn load_config_or_explain(path: &Path) -> anyhow::Result<Loaded> {
    load_config(path).map_err(|errors| {
        anyhow::anyhow!(errors
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n"))
    })
}

/// What the watcher compares: modification time and size of the config and every plugin.
type Fingerprint = Vec<(PathBuf, Option<(SystemTime, u64)>)>;

/// The config file to use: the one given, `$CHATOPS_CONFIG`, or `./chatops.toml` if it exists.
pub fn config_path(given: Option<&Path>) -> Option<PathBuf> {
    if let Some(p) = given {
        return Some(p.to_path_buf());
    }
    if let Ok(p) = std::env::var("CHATOPS_CONFIG") {
        return Some(PathBuf::from(p));
    }
    let default = PathBuf::from(config::DEFAULT_PATH);
    default.exists().then_some(default)
}

/// Why a configured plugin is not running, in words an admin can act on.
pub fn digest_mismatch(name: &str, path: &Path, actual: &str, pinned: &str) -> String {
    format!(
        "{} has sha256 {actual} but the config approves {pinned}; it will not run with the old grants. Fix: if you trust this build, run `chatops plugins approve {name}`",
        path.display()
    )
}

impl Bot {
    /// Start from a config file, or with the bundled plugins and nothing granted if `None`.
    pub async fn start(config_file: Option<&Path>) -> anyhow::Result<Arc<Bot>> {
        let (runtime, store, prefix, loaded) = match config_file {
            Some(path) => {
                let loaded = load_config_or_explain(path)?;
                let store = Store::from_config(&loaded).await?;
                // Compiled plugins are kept beside the SQLite file, or the config with PostgreSQL.
                let db = match store.backend_name() {
                    "sqlite" => loaded.resolve(&loaded.config.host.store),
                    _ => loaded.resolve(Path::new("chatops.db")),
                };
                let runtime = Runtime::uncached()?.with_cache(&db.with_extension("cache"))?;
                (
                    runtime,
                    store,
                    loaded.config.host.prefix.clone(),
                    Some(loaded),
                )
            }
            None => (Runtime::new()?, Store::in_memory()?, "!".to_string(), None),
        };
        let runtime = Arc::new(runtime);
        let dispatcher = Arc::new(Dispatcher::new(runtime, Some(Arc::new(store)), &prefix));
        let bot = Arc::new(Bot {
            dispatcher,
            config: config_file.map(Path::to_path_buf),
            dev: None,
            compiled: Mutex::new(HashMap::new()),
            seen: Mutex::new(Vec::new()),
        });
        match loaded {
            Some(loaded) => bot.apply(&loaded).await?,
            None => {
                let plugins = bot.bundled(&config::Limits::default()).await?;
                bot.dispatcher.install(plugins, BTreeMap::new());
            }
        }
        *lock(&bot.seen) = bot.fingerprint();
        if let Some(path) = &bot.config {
            let admin = crate::admin::chat::BotAdmin::new(&bot, path.clone());
            bot.dispatcher.set_admin(Arc::new(admin));
        }
        Ok(bot)
    }

    /// Start with plugin files given on the command line, granted only what `dev` says.
    pub async fn start_dev(dev: Dev) -> anyhow::Result<Arc<Bot>> {
        let runtime = Arc::new(Runtime::new()?);
        let store = match &dev.store {
            Some(path) => Store::open_with(path, dev.store_sync)
                .map_err(|e| anyhow::anyhow!("cannot open the store {}: {e}", path.display()))?,
            None => Store::in_memory()?,
        };
        let dispatcher = Arc::new(Dispatcher::new(runtime, Some(Arc::new(store)), "!"));
        dispatcher.set_secrets(SecretStore::from_values(dev.secrets.clone()));
        let bot = Arc::new(Bot {
            dispatcher,
            config: None,
            dev: Some(dev),
            compiled: Mutex::new(HashMap::new()),
            seen: Mutex::new(Vec::new()),
        });
        let (plugins, disabled) = bot.load_dev().await?;
        if let Some((name, why)) = disabled.iter().next() {
            anyhow::bail!("plugin {name} cannot be loaded: {why}");
        }
        bot.dispatcher.install(plugins, disabled);
        // The author's loop fails loudly: a plugin that cannot join is the one being tried.
        if let Some((name, why)) = bot.dispatcher.disabled().into_iter().next() {
            anyhow::bail!("plugin {name} cannot be loaded: {why}");
        }
        *lock(&bot.seen) = bot.fingerprint();
        Ok(bot)
    }

    async fn load_dev(&self) -> anyhow::Result<(Vec<LoadedPlugin>, BTreeMap<String, String>)> {
        let Some(dev) = &self.dev else {
            return Ok(Default::default());
        };
        let limits = dev.limits.clone().unwrap_or_default();
        let settings = Arc::new(Settings::from_config(
            &dev.settings
                .iter()
                .map(|(k, v)| (k.clone(), toml::Value::String(v.clone())))
                .collect(),
        ));
        let mut plugins = Vec::new();
        let mut disabled = BTreeMap::new();
        for path in &dev.plugins {
            let shown = path.display().to_string();
            let compiled = match std::fs::read(path) {
                Ok(bytes) => self.compile(&bytes, &shown, &limits).await,
                Err(e) => Err(format!("cannot read {shown} ({e}); build it first (its README says how; Rust: `cargo build --release --target wasm32-wasip2`)")),
            };
            match compiled {
                Ok(compiled) => plugins.push(LoadedPlugin {
                    name: compiled.info.name.clone(),
                    source: Source::File(path.clone()),
                    compiled,
                    grants: Arc::new(dev.grants.clone()),
                    limits: limits.clone(),
                    access: Default::default(),
                    policy: Default::default(),
                    settings: settings.clone(),
                }),
                Err(e) => {
                    disabled.insert(shown, e);
                }
            }
        }
        if dev.with_bundled {
            let names: Vec<String> = plugins.iter().map(|p| p.name.clone()).collect();
            plugins.extend(
                self.bundled(&limits)
                    .await?
                    .into_iter()
                    .filter(|b| !names.contains(&b.name)),
            );
        }
        Ok((plugins, disabled))
    }

    async fn compile(
        &self,
        bytes: &[u8],
        name: &str,
        limits: &config::Limits,
    ) -> Result<Arc<CompiledPlugin>, String> {
        let digest = sha256_hex(bytes);
        if let Some(c) = lock(&self.compiled).get(&digest) {
            return Ok(c.clone());
        }
        let compiled = Arc::new(
            self.dispatcher
                .runtime()
                .load(bytes, name, limits)
                .await
                .map_err(|e| e.to_string())?,
        );
        lock(&self.compiled).insert(digest, compiled.clone());
        Ok(compiled)
    }

    async fn bundled(&self, limits: &config::Limits) -> anyhow::Result<Vec<LoadedPlugin>> {
        // Loaded side by side: compiling, or reading compiled code, is CPU work that the
        // runtime's threads (one per core) share.
        let loading: Vec<_> = crate::bundled::BUNDLED
            .iter()
            .map(|(name, bytes)| {
                let known = lock(&self.compiled).get(&sha256_hex(bytes)).cloned();
                let (runtime, limits) = (self.dispatcher.runtime().clone(), limits.clone());
                tokio::spawn(async move {
                    match known {
                        Some(compiled) => Ok(compiled),
                        None => runtime
                            .load(bytes, name, &limits)
                            .await
                            .map(Arc::new)
                            .map_err(|e| e.to_string()),
                    }
                })
            })
            .collect();
        let mut out = Vec::new();
        for ((name, _), loaded) in crate::bundled::BUNDLED.iter().zip(loading) {
            let compiled = loaded.await?.map_err(anyhow::Error::msg)?;
            lock(&self.compiled).insert(compiled.digest.clone(), compiled.clone());
            out.push(LoadedPlugin {
                name: name.to_string(),
                source: Source::Bundled,
                compiled,
                grants: Arc::new(Grants::default()),
                limits: limits.clone(),
                access: Default::default(),
                policy: Default::default(),
                settings: Arc::default(),
            });
        }
        Ok(out)
    }

    /// Load every configured plugin whose file matches its pinned digest; the rest are
    /// disabled with the reason.
    pub async fn load_plugins(
        &self,
        loaded: &Loaded,
    ) -> (Vec<LoadedPlugin>, BTreeMap<String, String>) {
        let mut plugins = Vec::new();
        let mut disabled = loaded.broken.clone();
        for (name, pc) in &loaded.config.plugins {
            let path = loaded.resolve(&pc.path);
            let limits = loaded.limits_for(name);
            let bytes = match std::fs::read(&path) {
                Ok(b) => b,
                Err(e) => {
                    disabled.insert(
                        name.clone(),
                        format!(
                            "cannot read {} ({e}). Fix: build the plugin or correct `path`",
                            path.display()
                        ),
                    );
                    continue;
                }
            };
            let digest = sha256_hex(&bytes);
            if digest != pc.sha256 {
                disabled.insert(
                    name.clone(),
                    digest_mismatch(name, &path, &digest, &pc.sha256),
                );
                continue;
            }
            let compiled = match self.compile(&bytes, name, &limits).await {
                Ok(c) => c,
                Err(e) => {
                    disabled.insert(name.clone(), e);
                    continue;
                }
            };
            if compiled.info.name != *name {
                disabled.insert(
                    name.clone(),
                    format!(
                        "{} describes itself as `{}`. Fix: rename [plugins.{name}] to [plugins.{}]",
                        path.display(),
                        compiled.info.name,
                        compiled.info.name
                    ),
                );
                continue;
            }
            let policy = match Policy::new(&pc.rules, &pc.cooldowns, &compiled.info) {
                Ok(policy) => Arc::new(policy),
                Err(why) => {
                    disabled.insert(name.clone(), format!("{why} (in [plugins.{name}])"));
                    continue;
                }
            };
            plugins.push(LoadedPlugin {
                name: name.clone(),
                source: Source::File(path),
                compiled,
                grants: Arc::new(Grants {
                    schedules: pc.schedules.clone(),
                    ..Grants::from_config(&pc.grants)
                }),
                limits,
                access: pc.access.clone(),
                policy,
                settings: Arc::new(Settings::from_config(&pc.config)),
            });
        }
        if loaded.config.host.bundled_plugins {
            let limits = loaded.limits_for("");
            if let Ok(bundled) = self.bundled(&limits).await {
                plugins.extend(
                    bundled
                        .into_iter()
                        .filter(|b| !loaded.config.plugins.contains_key(&b.name)),
                );
            }
        }
        (plugins, disabled)
    }

    async fn apply(&self, loaded: &Loaded) -> anyhow::Result<()> {
        let c = &loaded.config;
        if let (Some(days), Some(store)) = (c.host.audit_retention_days, self.dispatcher.store()) {
            let keep = std::time::Duration::from_secs(u64::from(days) * 86_400);
            let now = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default();
            match store.audit_prune(now.saturating_sub(keep).as_millis() as i64) {
                Ok(0) => {}
                Ok(n) => tracing::info!("deleted {n} audit record(s) older than {days} days"),
                Err(e) => tracing::error!("could not prune the audit trail: {e}"),
            }
        }
        let secrets = SecretStore::from_config(loaded)?;
        let (plugins, disabled) = self.load_plugins(loaded).await;
        for (name, why) in &disabled {
            tracing::warn!(plugin = %name, "disabled: {why}");
        }
        self.dispatcher.set_secrets(secrets);
        self.dispatcher.set_admins(c.host.admins.clone());
        self.dispatcher.install(plugins, disabled);
        Ok(())
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
