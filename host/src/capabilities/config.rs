//! Plugin settings through the standard `wasi:config/store` (wasmtime's `wasi-config`
//! crate): non-secret values an admin sets per plugin under `[plugins.NAME.config]` or with
//! `chatops config PLUGIN KEY VALUE` — base URLs, project names, allowed environments. A
//! key the admin did not set is simply absent. Settings belong to the plugin's name, not its
//! digest: they are not grants and carry no authority. Secrets never go here.

use super::Sandbox;
use crate::config::ConfigError;
use std::collections::BTreeMap;
use std::path::Path;
use wasmtime::component::Linker;
use wasmtime_wasi_config::{WasiConfig, WasiConfigVariables};

pub const INTERFACES: &[&str] = &["wasi:config/store"];

/// A key is at most this long; a value at most [`MAX_VALUE_BYTES`].
pub const MAX_KEY_BYTES: usize = 128;
pub const MAX_VALUE_BYTES: usize = 16 * 1024;

/// One plugin's settings, as its sandbox reads them.
#[derive(Default)]
pub struct Settings {
    vars: WasiConfigVariables,
    keys: Vec<String>,
}

impl Settings {
    /// From a validated `[plugins.NAME.config]` table: scalars become their text.
    pub fn from_config(table: &BTreeMap<String, toml::Value>) -> Settings {
        let mut s = Settings::default();
        for (k, v) in table {
            if let Some(text) = as_text(v) {
                s.vars.insert(k.clone(), text);
                s.keys.push(k.clone());
            }
        }
        s
    }

    /// The keys that are set, for `check` and `plugins list`.
    pub fn keys(&self) -> &[String] {
        &self.keys
    }
}

/// A setting's value as the plugin reads it: strings as they are, numbers and booleans as
/// TOML writes them. Tables and arrays have no text form.
pub fn as_text(v: &toml::Value) -> Option<String> {
    match v {
        toml::Value::String(s) => Some(s.clone()),
        toml::Value::Integer(i) => Some(i.to_string()),
        toml::Value::Float(f) => Some(f.to_string()),
        toml::Value::Boolean(b) => Some(b.to_string()),
        toml::Value::Datetime(d) => Some(d.to_string()),
        toml::Value::Array(_) | toml::Value::Table(_) => None,
    }
}

pub fn add_to_linker<T: Sandbox>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    wasmtime_wasi_config::add_to_linker(linker, |t: &mut T| {
        WasiConfig::from(&t.call().settings.vars)
    })
}

/// Config check: keys are short names, values are text, numbers or booleans.
pub fn validate(
    file: &Path,
    plugin: &str,
    table: &BTreeMap<String, toml::Value>,
) -> Vec<ConfigError> {
    let mut errors = Vec::new();
    for (k, v) in table {
        let key = format!("config.{k}");
        if k.is_empty() || k.len() > MAX_KEY_BYTES || k.chars().any(char::is_control) {
            errors.push(ConfigError::plugin(
                file,
                plugin,
                &key,
                format!("a setting's name is 1 to {MAX_KEY_BYTES} printable characters"),
                "rename it to the key the plugin reads (`chatops plugins inspect` lists them)",
            ));
        }
        match as_text(v) {
            None => errors.push(ConfigError::plugin(
                file,
                plugin,
                &key,
                format!("a setting is text, a number or true/false, not {}", v.type_str()),
                "write it as one value; a list can be one string, e.g. envs = \"staging,prod\"",
            )),
            Some(t) if t.len() > MAX_VALUE_BYTES => errors.push(ConfigError::plugin(
                file,
                plugin,
                &key,
                format!("the value is {} bytes; a setting holds at most {MAX_VALUE_BYTES}", t.len()),
                "keep settings short; large data belongs with the plugin's upstream",
            )),
            Some(_) => {}
        }
    }
    errors
}
