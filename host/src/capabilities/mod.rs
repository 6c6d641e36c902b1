//! One module per capability a plugin can be granted. Each owns everything about itself, in
//! the style of wasmtime's `wasi-config` crate: its state, a view implementing the
//! generated `Host` trait (which checks the grant at the call), its `add_to_linker`, the
//! interfaces it provides, its grant parsing and its config section's validation.
//!
//! Adding a capability is one module plus its name in the `capabilities!` list below; the
//! runtime links the list and refuses any import no capability provides.

use crate::config::{ConfigError, GrantsConfig, Limits, Loaded};
use crate::exit::Exit;
use crate::store::Store;
use std::sync::Arc;
use wasmtime::component::Linker;

pub use crate::exit::{NoProgress, Poster, ProgressSink};

/// The store data of a sandbox, as capabilities see it. The runtime's `HostState` is one.
pub trait Sandbox: wasmtime_wasi_http::WasiHttpView + Send + 'static {
    fn call(&mut self) -> &mut CallContext;
}

macro_rules! capabilities {
    ($($cap:ident),* $(,)?) => {
        $(pub mod $cap;)*

        /// Link every capability's interfaces.
        pub fn add_to_linker<T: Sandbox>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
            $($cap::add_to_linker(linker)?;)*
            Ok(())
        }

        /// Whether a capability provides `interface` (`package:name/iface`, no version).
        pub fn provides(interface: &str) -> bool {
            false $(|| $cap::INTERFACES.contains(&interface))*
        }
    };
}

capabilities!(log, chat, secrets, kv, http, config);

/// What a plugin was granted (for the digest it was loaded with). Webhooks and schedules
/// are not sandbox imports: the triggers read them (`crate::triggers`).
#[derive(Debug, Clone, Default)]
pub struct Grants {
    pub http: Vec<http::HttpGrant>,
    pub secrets: Vec<String>,
    pub post: Vec<String>,
    pub kv: bool,
    pub webhooks: std::collections::BTreeMap<String, crate::config::WebhookGrant>,
    /// Schedule name → `default`, a cron expression, or `off`.
    pub schedules: std::collections::BTreeMap<String, String>,
    /// `chatops test` only: granted requests are answered from the scenario, not sent.
    pub upstreams: Option<Arc<http::Upstreams>>,
    /// `chatops test` only: the wall clock the plugin reads stands still at this time.
    pub clock: Option<std::time::SystemTime>,
}

impl Grants {
    /// The grants of a plugin's config section (validated at load, so an entry that does
    /// not parse here was already reported and is left out).
    pub fn from_config(g: &GrantsConfig) -> Grants {
        Grants {
            http: g
                .http
                .iter()
                .filter_map(|p| p.parse::<http::HttpGrant>().ok())
                .collect(),
            secrets: g.secrets.clone(),
            post: g.post.clone(),
            kv: g.kv,
            webhooks: g.webhooks.clone(),
            schedules: Default::default(),
            upstreams: None,
            clock: None,
        }
    }
}

/// Every capability's config checks: grants, secrets, settings.
pub fn validate(loaded: &Loaded) -> Vec<ConfigError> {
    let file = loaded.path.as_path();
    let mut errors = secrets::validate_provider(loaded);
    for (name, p) in &loaded.config.plugins {
        errors.extend(http::validate(file, name, &p.grants.http));
        errors.extend(secrets::validate(file, name, &p.grants.secrets));
        errors.extend(config::validate(file, name, &p.config));
    }
    errors
}

/// Everything a sandbox knows about who is running and what it may do.
#[derive(Clone)]
pub struct CallContext {
    pub plugin: String,
    pub command: String,
    pub grants: Arc<Grants>,
    pub limits: Limits,
    pub secrets: Arc<secrets::SecretStore>,
    /// The host's store, for `kv` (used only if granted).
    pub store: Option<Arc<Store>>,
    /// The admin's settings for this plugin, read through `wasi:config/store`.
    pub settings: Arc<config::Settings>,
    /// The one way out for everything the plugin says.
    pub exit: Arc<Exit>,
}

impl CallContext {
    /// A context with nothing granted: what a plugin gets when it is only described.
    pub fn ungranted(plugin: &str, limits: Limits) -> Self {
        CallContext {
            plugin: plugin.to_string(),
            command: String::new(),
            grants: Arc::new(Grants::default()),
            limits,
            secrets: Arc::new(secrets::SecretStore::empty()),
            store: None,
            settings: Arc::new(config::Settings::default()),
            exit: Arc::new(Exit::quiet(plugin)),
        }
    }

    /// A refusal or other event the admin should see (redacted by the exit).
    pub fn notice(&self, text: String) {
        self.exit.notice(text)
    }
}
