//! `chatops:plugin/secrets`: a plugin reads only the secrets granted to its digest.
//! Values come from providers the admin configures and never reach logs or chat.

use super::{CallContext, Sandbox};
use crate::config::{ConfigError, Loaded};
use crate::exit::Redactor;
use crate::model::bindings::chatops::plugin::secrets::{self as wit, Host, SecretError};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use wasmtime::component::{HasData, Linker};

pub use crate::exit::MIN_REDACTED_LEN;

pub const INTERFACES: &[&str] = &["chatops:plugin/secrets"];

#[derive(Debug, Default)]
pub struct SecretStore {
    env_prefix: Option<String>,
    file: Option<PathBuf>,
    file_values: HashMap<String, String>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SecretsFileError {
    #[error("secrets file {path} can be read by other users (mode {mode:o}); the host refuses to use it. Fix: chmod 600 {path}")]
    WorldReadable { path: String, mode: u32 },
    #[error("secrets file {path} cannot be read: {reason}. Fix: create it (mode 600) with lines like `deploy-token = \"...\"`, or remove `secrets.file` from the config")]
    Unreadable { path: String, reason: String },
    #[error("secrets file {path} is not valid TOML: {reason}. Fix: write one `name = \"value\"` per line")]
    Invalid { path: String, reason: String },
}

impl SecretStore {
    pub fn empty() -> Self {
        Self::default()
    }

    /// `env_prefix`: secret `deploy-token` is read from `{prefix}DEPLOY_TOKEN`.
    /// `file`: a TOML table of `name = "value"` that only its owner may read.
    pub fn new(env_prefix: Option<String>, file: Option<&Path>) -> Result<Self, SecretsFileError> {
        let mut store = SecretStore {
            env_prefix,
            file: file.map(Path::to_path_buf),
            file_values: HashMap::new(),
        };
        if let Some(path) = file {
            store.file_values = read_secrets_file(path)?;
        }
        Ok(store)
    }

    /// The providers `[secrets]` of a config names.
    pub fn from_config(loaded: &Loaded) -> Result<Self, SecretsFileError> {
        let s = &loaded.config.secrets;
        SecretStore::new(
            s.env_prefix.clone(),
            s.file.as_ref().map(|f| loaded.resolve(f)).as_deref(),
        )
    }

    /// Fixed values (the shell's and `invoke`'s `--secret NAME=VALUE`).
    pub fn from_values(values: HashMap<String, String>) -> Self {
        SecretStore {
            env_prefix: None,
            file: None,
            file_values: values,
        }
    }

    /// The environment variable that holds secret `name`, if env lookup is configured.
    pub fn env_var(&self, name: &str) -> Option<String> {
        let prefix = self.env_prefix.as_ref()?;
        let suffix: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_uppercase()
                } else {
                    '_'
                }
            })
            .collect();
        Some(format!("{prefix}{suffix}"))
    }

    pub fn lookup(&self, name: &str) -> Option<String> {
        if let Some(v) = self.file_values.get(name) {
            return Some(v.clone());
        }
        std::env::var(self.env_var(name)?).ok()
    }

    /// How an admin gives secret `name` a value, for error messages.
    pub fn how_to_set(&self, name: &str) -> String {
        let mut ways = Vec::new();
        if let Some(var) = self.env_var(name) {
            ways.push(format!("set the environment variable {var}"));
        }
        if let Some(file) = &self.file {
            ways.push(format!("add `{name} = \"...\"` to {}", file.display()));
        }
        if ways.is_empty() {
            "configure a secret provider ([secrets] env_prefix or file in the config)".into()
        } else {
            ways.join(" or ")
        }
    }

    /// A redactor for everything a plugin granted `granted` may say: it could have read
    /// exactly these values.
    pub fn redactor(&self, granted: &[String]) -> Redactor {
        Redactor::new(granted.iter().filter_map(|name| self.lookup(name)))
    }
}

fn read_secrets_file(path: &Path) -> Result<HashMap<String, String>, SecretsFileError> {
    let shown = path.display().to_string();
    let meta = std::fs::metadata(path).map_err(|e| SecretsFileError::Unreadable {
        path: shown.clone(),
        reason: e.to_string(),
    })?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(SecretsFileError::WorldReadable { path: shown, mode });
        }
    }
    #[cfg(not(unix))]
    let _ = meta;
    let text = std::fs::read_to_string(path).map_err(|e| SecretsFileError::Unreadable {
        path: shown.clone(),
        reason: e.to_string(),
    })?;
    toml::from_str::<HashMap<String, String>>(&text).map_err(|e| SecretsFileError::Invalid {
        path: shown,
        reason: e.message().to_string(),
    })
}

pub struct SecretsView<'a>(pub(crate) &'a CallContext);

struct HasSecrets;
impl HasData for HasSecrets {
    type Data<'a> = SecretsView<'a>;
}

pub fn add_to_linker<T: Sandbox>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    wit::add_to_linker::<T, HasSecrets>(linker, |t| SecretsView(t.call()))
}

/// Config check: the secrets file, if any, exists and is private.
pub fn validate_provider(loaded: &Loaded) -> Vec<ConfigError> {
    if loaded.config.secrets.file.is_none() {
        return Vec::new();
    }
    match SecretStore::from_config(loaded) {
        Ok(_) => Vec::new(),
        Err(e) => {
            let text = e.to_string();
            let (message, fix) = text
                .split_once(" Fix: ")
                .unwrap_or((&text, "see the README's Secrets section"));
            vec![ConfigError {
                file: loaded.path.display().to_string(),
                location: "key `secrets.file`: ".into(),
                message: message.trim_end_matches('.').to_string(),
                fix: fix.to_string(),
                plugin: None,
            }]
        }
    }
}

/// Config check: granted secret names are names.
pub fn validate(file: &Path, plugin: &str, names: &[String]) -> Vec<ConfigError> {
    names
        .iter()
        .enumerate()
        .filter(|(_, s)| s.is_empty() || s.chars().any(char::is_whitespace))
        .map(|(i, s)| {
            ConfigError::plugin(
                file,
                plugin,
                &format!("grants.secrets[{i}]"),
                format!("`{s}` is not a secret name"),
                "use the name the plugin asks for, without spaces",
            )
        })
        .collect()
}

impl Host for SecretsView<'_> {
    async fn get(&mut self, name: String) -> wasmtime::Result<Result<String, SecretError>> {
        let call = self.0;
        let plugin = &call.plugin;
        let shown: String = name.chars().take(100).collect();
        let granted = call.grants.secrets.iter().any(|s| s == &name);
        call.exit.capability(granted, &format!("secret {shown}"));
        if !granted {
            call.notice(format!(
                "refused: plugin `{plugin}` asked for secret `{shown}`, which is not granted to it; to allow it: chatops grant {plugin} secret {shown}"
            ));
            return Ok(Err(SecretError::NotGranted(name)));
        }
        match call.secrets.lookup(&name) {
            Some(value) => Ok(Ok(value)),
            None => {
                let how = call.secrets.how_to_set(&name);
                call.notice(format!("secret `{name}` is granted to plugin `{plugin}` but has no value; to fix: {how}"));
                Ok(Err(SecretError::NotFound(name)))
            }
        }
    }
}
