//! Reading `chatops.toml` and checking the host's own keys, each problem with the file,
//! the key and the fix.

use super::{is_valid_name, Config, ConfigError, LimitsConfig, Loaded, PluginConfig};
use std::path::Path;

/// Parse `text` (the contents of `path`) without touching the disk.
pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
    toml::from_str::<Config>(text).map_err(|e| {
        let location = match e.span() {
            Some(span) => {
                let before = &text[..span.start.min(text.len())];
                let line = before.matches('\n').count() + 1;
                let col = before.len() - before.rfind('\n').map(|i| i + 1).unwrap_or(0) + 1;
                format!("line {line}, column {col}: ")
            }
            None => String::new(),
        };
        let message = e.message().trim().to_string();
        let fix = if message.contains("unknown field") {
            "remove or rename that key; the README's Configuration section lists every key"
                .to_string()
        } else {
            "correct the TOML; the README's Configuration section shows a full example".to_string()
        };
        ConfigError {
            file: path.display().to_string(),
            location,
            message,
            fix,
            plugin: None,
        }
    })
}

/// Read, parse and check the host's own keys. Returns every problem found. Use
/// `bot::load_config`, which also runs every capability's checks.
pub fn load(path: &Path) -> Result<Loaded, Vec<ConfigError>> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        vec![ConfigError {
            file: path.display().to_string(),
            location: String::new(),
            message: format!("cannot be read ({e})"),
            fix: "create it with `chatops plugins add PLUGIN.wasm`, or pass --config with the right path".into(),
            plugin: None,
        }]
    })?;
    let config = parse(path, &text).map_err(|e| vec![e])?;
    let loaded = Loaded {
        path: path.to_path_buf(),
        config,
        broken: Default::default(),
    };
    let errors = validate(&loaded);
    settle(loaded, errors)
}

/// Apply the problems found in a config: any in the host's own keys refuse the whole file
/// (every problem is returned); problems in a plugin's section only take that plugin out,
/// with the reasons in `broken`, so one bad plugin never stops the host.
pub fn settle(mut loaded: Loaded, errors: Vec<ConfigError>) -> Result<Loaded, Vec<ConfigError>> {
    if errors.iter().any(|e| e.plugin.is_none()) {
        return Err(errors);
    }
    for e in errors {
        let Some(name) = e.plugin.clone() else {
            continue;
        };
        loaded.config.plugins.remove(&name);
        let why = loaded.broken.entry(name).or_default();
        if !why.is_empty() {
            why.push('\n');
        }
        why.push_str(&e.to_string());
    }
    Ok(loaded)
}

/// Everything that can be checked without running a plugin.
pub fn validate(loaded: &Loaded) -> Vec<ConfigError> {
    let file = loaded.path.as_path();
    let mut errors = Vec::new();
    let c = &loaded.config;
    if c.host.prefix.is_empty() || c.host.prefix.chars().any(char::is_whitespace) {
        errors.push(ConfigError {
            file: file.display().to_string(),
            location: "key `host.prefix`: ".into(),
            message: format!("`{}` cannot prefix commands", c.host.prefix),
            fix: "use one or two non-space characters, like \"!\"".into(),
            plugin: None,
        });
    }
    errors.extend(validate_limits(file, "limits", None, &c.limits));
    let store = c.host.store.to_string_lossy();
    if store.starts_with("postgres://") || store.starts_with("postgresql://") {
        if let Ok(url) = store.parse::<tokio_postgres::Config>() {
            if url.get_password().is_some() {
                errors.push(ConfigError {
                    file: file.display().to_string(),
                    location: "key `host.store`: ".into(),
                    message: "the PostgreSQL URL carries a password, which must not be in this file".into(),
                    fix: "remove it from the URL and set the secret `store-password` ([secrets] env_prefix or file)".into(),
                    plugin: None,
                });
            }
        }
    }
    if let Some(Err(e)) = c.discord.shards.as_ref().map(|s| s.range()) {
        errors.push(ConfigError {
            file: file.display().to_string(),
            location: "key `discord.shards`: ".into(),
            message: e,
            fix: "name the shards this process runs, out of `total`".into(),
            plugin: None,
        });
    }
    for (name, p) in &c.plugins {
        if !is_valid_name(name) {
            errors.push(ConfigError::plugin(
                file,
                name,
                "plugins",
                "the name is not 1-32 characters of a-z, 0-9, - and _",
                "rename the table to the plugin's own name, e.g. [plugins.deploy]",
            ));
        }
        let wasm = loaded.resolve(&p.path);
        if !wasm.is_file() {
            errors.push(ConfigError::plugin(
                file,
                name,
                "path",
                format!("{} does not exist", wasm.display()),
                "build the plugin, or correct `path` (relative paths start at the config file's folder)",
            ));
        }
        if p.sha256.len() != 64
            || !p
                .sha256
                .chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        {
            errors.push(ConfigError::plugin(
                file,
                name,
                "sha256",
                format!(
                    "`{}` is not a sha256 digest (64 lower-case hex digits)",
                    p.sha256
                ),
                format!(
                    "run `chatops plugins approve {name}` to pin the digest of its current file"
                ),
            ));
        }
        errors.extend(validate_limits(file, "limits", Some(name), &p.limits));
        errors.extend(validate_rules(file, name, p));
    }
    errors
}

/// What can be checked of rules and cooldowns without the plugin: every rule restricts
/// someone, conditions are plain values, spans parse. Whether the commands and options
/// they name exist is checked when the plugin loads.
fn validate_rules(file: &Path, name: &str, p: &PluginConfig) -> Vec<ConfigError> {
    let mut errors = Vec::new();
    for (i, rule) in p.rules.iter().enumerate() {
        let key = format!("rules[{i}]");
        if rule.users.is_empty() && rule.roles.is_empty() && rule.channels.is_empty() {
            errors.push(ConfigError::plugin(
                file,
                name,
                &key,
                format!("rule {} restricts nobody", rule.label(i)),
                "give it `roles`, `users` or `channels`, or delete it",
            ));
        }
        for (option, value) in &rule.when {
            let scalar = |v: &toml::Value| {
                matches!(
                    v,
                    toml::Value::String(_) | toml::Value::Integer(_) | toml::Value::Boolean(_)
                )
            };
            let ok = match value {
                toml::Value::Array(items) => !items.is_empty() && items.iter().all(scalar),
                v => scalar(v),
            };
            if !ok {
                errors.push(ConfigError::plugin(
                    file,
                    name,
                    &format!("{key}.when.{option}"),
                    format!("`{value}` is not a value an argument can have"),
                    format!("write `{option} = \"prod\"` or `{option} = [\"prod\", \"live\"]`"),
                ));
            }
        }
    }
    for (command, cooldown) in &p.cooldowns {
        for (field, span) in [
            ("per_user", &cooldown.per_user),
            ("per_channel", &cooldown.per_channel),
        ] {
            let Some(span) = span else { continue };
            match humantime::parse_duration(span) {
                Ok(d) if !d.is_zero() && d <= std::time::Duration::from_secs(7 * 86_400) => {}
                _ => errors.push(ConfigError::plugin(
                    file,
                    name,
                    &format!("cooldowns.{command}.{field}"),
                    format!("`{span}` is not a time span from 1s to 7 days"),
                    "write it like \"30s\", \"5m\" or \"1h\"",
                )),
            }
        }
        if cooldown.per_user.is_none() && cooldown.per_channel.is_none() {
            errors.push(ConfigError::plugin(
                file,
                name,
                &format!("cooldowns.{command}"),
                "the cooldown sets neither `per_user` nor `per_channel`",
                "add `per_user = \"30s\"` (or `per_channel`), or delete it",
            ));
        }
    }
    errors
}

fn validate_limits(
    file: &Path,
    key: &str,
    plugin: Option<&str>,
    l: &LimitsConfig,
) -> Vec<ConfigError> {
    let mut errors = Vec::new();
    let mut check = |field: &str, value: Option<u64>, min: u64, max: u64| {
        if let Some(v) = value {
            if v < min || v > max {
                let location = match plugin {
                    Some(p) => format!("plugin `{p}`, key `{key}.{field}`: "),
                    None => format!("key `{key}.{field}`: "),
                };
                errors.push(ConfigError {
                    file: file.display().to_string(),
                    location,
                    message: format!("{v} is out of range"),
                    fix: format!("use a value from {min} to {max}"),
                    plugin: plugin.map(str::to_string),
                });
            }
        }
    };
    check("memory_mb", l.memory_mb, 1, 4096);
    check("cpu_ms", l.cpu_ms, 1, 3_600_000);
    check("wall_ms", l.wall_ms, 1, 3_600_000);
    check("http_requests", l.http_requests.map(u64::from), 0, 10_000);
    check("http_ms", l.http_ms, 1, 3_600_000);
    check("http_response_bytes", l.http_response_bytes, 1, 1 << 30);
    check("max_concurrent", l.max_concurrent.map(u64::from), 1, 1000);
    errors
}
