//! The configuration an admin keeps in git: `chatops.toml`. Every struct denies unknown
//! keys, and every validation error names the file, the plugin, the key and the fix.
//! This module checks the host's own keys; each capability checks its own section
//! (`capabilities::validate`), and `bot::load_config` runs both. It imports no other part
//! of the host.

mod check;
pub mod edit;

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub const DEFAULT_PATH: &str = "chatops.toml";

/// Per-invocation limits of one sandbox.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Limits {
    /// Linear memory, MiB.
    pub memory_mb: u64,
    /// Guest CPU time, ms (time waiting on the host does not count).
    pub cpu_ms: u64,
    /// Wall time of the whole command, ms.
    pub wall_ms: u64,
    /// Outbound HTTP requests per command.
    pub http_requests: u32,
    /// Total time for outbound HTTP per command, ms.
    pub http_ms: u64,
    /// Size of one HTTP response body, bytes.
    pub http_response_bytes: u64,
    /// Commands of this plugin running at once; more are refused as busy. Bounds memory
    /// at `max_concurrent × memory_mb`.
    pub max_concurrent: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_mb: 64,
            cpu_ms: 2_000,
            wall_ms: 60_000,
            http_requests: 20,
            http_ms: 20_000,
            http_response_bytes: 2 * 1024 * 1024,
            max_concurrent: 8,
        }
    }
}

/// Limits as written in the config: each key optional, over the defaults.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    pub memory_mb: Option<u64>,
    pub cpu_ms: Option<u64>,
    pub wall_ms: Option<u64>,
    pub http_requests: Option<u32>,
    pub http_ms: Option<u64>,
    pub http_response_bytes: Option<u64>,
    pub max_concurrent: Option<u32>,
}

impl LimitsConfig {
    pub fn over(&self, base: &Limits) -> Limits {
        Limits {
            memory_mb: self.memory_mb.unwrap_or(base.memory_mb),
            cpu_ms: self.cpu_ms.unwrap_or(base.cpu_ms),
            wall_ms: self.wall_ms.unwrap_or(base.wall_ms),
            http_requests: self.http_requests.unwrap_or(base.http_requests),
            http_ms: self.http_ms.unwrap_or(base.http_ms),
            http_response_bytes: self.http_response_bytes.unwrap_or(base.http_response_bytes),
            max_concurrent: self.max_concurrent.unwrap_or(base.max_concurrent),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub host: HostConfig,
    /// Defaults for every plugin.
    #[serde(default)]
    pub limits: LimitsConfig,
    #[serde(default)]
    pub secrets: SecretsConfig,
    #[serde(default)]
    pub discord: DiscordConfig,
    #[serde(default)]
    pub webhooks: WebhooksConfig,
    #[serde(default)]
    pub plugins: BTreeMap<String, PluginConfig>,
}

/// The inbound webhook listener (`POST /hooks/PLUGIN/NAME`); off unless `listen` is set.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct WebhooksConfig {
    /// `127.0.0.1:8686`; behind a TLS-terminating proxy for anything not on loopback.
    pub listen: Option<String>,
    /// Largest body accepted; more is refused with 413.
    pub max_body_bytes: u64,
    /// Requests per minute per hook; more are refused with 429.
    pub per_minute: u32,
    /// Time a client has to send its request headers, ms.
    pub header_timeout_ms: u64,
    /// Time a client has to send its body, ms.
    pub body_timeout_ms: u64,
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        WebhooksConfig {
            listen: None,
            max_body_bytes: 1024 * 1024,
            per_minute: 120,
            header_timeout_ms: 5_000,
            body_timeout_ms: 10_000,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct HostConfig {
    /// Prefix of text commands in chat, e.g. `!deploy api prod`.
    pub prefix: String,
    /// The store: a SQLite file relative to the config file (the default), or a PostgreSQL
    /// URL (`postgres://user@host:port/db`, its password the secret `store-password`) that
    /// several host processes share.
    pub store: PathBuf,
    /// Also load the first-party plugins bundled with the binary (no grants).
    pub bundled_plugins: bool,
    /// Who may run every command and see every plugin, by user id or role.
    pub admins: Access,
    /// The time zone schedules are read in (an IANA name like `Europe/Paris`); UTC if unset.
    pub timezone: Option<String>,
    /// Audit records older than this many days are deleted at start and on reload; kept
    /// forever if unset.
    pub audit_retention_days: Option<u32>,
    /// How long a process holds a schedule's lease without renewing it (it renews every
    /// third of this while it runs): after a process dies, another fires its schedules
    /// within this many seconds. Default 30.
    pub lease_seconds: Option<u32>,
    /// How far the SQLite store's writes are durable when a command's answer leaves:
    /// `"normal"` (the default) survives the host being killed (`kill -9`, a crash, an OOM
    /// kill); `"full"` also survives the machine losing power, at the cost of one fsync per
    /// group of audit records (0.3–4 ms on a virtual disk). PostgreSQL follows its own
    /// `synchronous_commit`.
    pub store_sync: StoreSync,
}

/// `[host] store_sync`: SQLite's `synchronous` setting in WAL mode.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum StoreSync {
    /// Each commit is in the operating system's files before it returns; the WAL is
    /// fsynced at checkpoints. Survives the process dying, not a power cut.
    #[default]
    Normal,
    /// Each commit is fsynced before it returns: survives a power cut.
    Full,
}

impl StoreSync {
    /// The value of SQLite's `synchronous` pragma.
    pub fn pragma(self) -> &'static str {
        match self {
            StoreSync::Normal => "NORMAL",
            StoreSync::Full => "FULL",
        }
    }
}

impl Default for HostConfig {
    fn default() -> Self {
        HostConfig {
            prefix: "!".into(),
            store: PathBuf::from("chatops.db"),
            bundled_plugins: false,
            admins: Access::default(),
            timezone: None,
            audit_retention_days: None,
            lease_seconds: None,
            store_sync: StoreSync::Normal,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SecretsConfig {
    /// Secret `deploy-token` is read from `{env_prefix}DEPLOY_TOKEN`.
    pub env_prefix: Option<String>,
    /// A TOML file of `name = "value"`, readable by its owner only; relative to the config.
    pub file: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DiscordConfig {
    /// Environment variable holding the bot token (the token never goes in this file).
    pub token_env: String,
    /// Or: the name of a secret (from [secrets]) holding the token.
    pub token_secret: Option<String>,
    /// Register slash commands in these guilds (instant) instead of globally (slow to spread).
    pub guilds: Vec<String>,
    /// Answer `!cmd` messages (needs the message-content intent).
    pub prefix_commands: bool,
    /// Send REST calls to this Discord API proxy (e.g. twilight-http-proxy, which does
    /// the rate limiting) instead of https://discord.com; the host's own limiter is off.
    pub api_url: Option<String>,
    /// Run some of the bot's gateway shards in this process: `{ total = 4, ids = "0..2" }`
    /// runs shards 0 and 1 of 4 (another process runs `"2..4"`). One process (for all
    /// shards) if unset.
    pub shards: Option<ShardsConfig>,
}

/// `[discord] shards`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ShardsConfig {
    /// How many shards the bot runs in all, across its processes (Discord requires one per
    /// 2,500 guilds; `GET /gateway/bot` recommends a count).
    pub total: u32,
    /// Which of them this process runs: `"0..2"` (0 and 1) or one id, `"3"`; all if unset.
    pub ids: Option<String>,
}

impl ShardsConfig {
    /// The shards this process runs, `start..end` (end excluded).
    pub fn range(&self) -> Result<std::ops::Range<u32>, String> {
        let total = self.total;
        if total == 0 {
            return Err("[discord] shards: `total` must be at least 1".into());
        }
        let bad = |ids: &str| {
            format!("[discord] shards: ids = \"{ids}\" is not a range of shards of {total}; write it like \"0..2\" (shards 0 and 1) or \"3\"")
        };
        let range = match self.ids.as_deref().map(str::trim) {
            None => 0..total,
            Some(ids) => match ids.split_once("..") {
                Some((a, b)) => match (a.trim().parse::<u32>(), b.trim().parse::<u32>()) {
                    (Ok(a), Ok(b)) => a..b,
                    _ => return Err(bad(ids)),
                },
                None => match ids.parse::<u32>() {
                    Ok(one) => one..one.saturating_add(1),
                    Err(_) => return Err(bad(ids)),
                },
            },
        };
        if range.is_empty() || range.end > total {
            return Err(bad(self.ids.as_deref().unwrap_or_default()));
        }
        Ok(range)
    }
}

impl Default for DiscordConfig {
    fn default() -> Self {
        DiscordConfig {
            token_env: "DISCORD_TOKEN".into(),
            token_secret: None,
            guilds: vec![],
            prefix_commands: true,
            api_url: None,
            shards: None,
        }
    }
}

/// Who may run a plugin's commands. Empty lists mean nobody is singled out: everyone may.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Access {
    pub users: Vec<String>,
    pub roles: Vec<String>,
    pub channels: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PluginConfig {
    /// The `.wasm` file; relative to the config file.
    pub path: PathBuf,
    /// The approved build. Grants apply to this digest only.
    pub sha256: String,
    #[serde(default)]
    pub grants: GrantsConfig,
    #[serde(default)]
    pub limits: LimitsConfig,
    #[serde(default)]
    pub access: Access,
    /// Settings the plugin reads through `wasi:config/store` (never secrets).
    #[serde(default)]
    pub config: BTreeMap<String, toml::Value>,
    /// The plugin's schedules that run: name → `"default"` (the cron it declares), a cron
    /// expression of the admin's, or `"off"`.
    #[serde(default)]
    pub schedules: BTreeMap<String, String>,
    /// Finer rules than `access`, per command and per argument value; every rule that
    /// applies to an invocation must allow it.
    #[serde(default)]
    pub rules: Vec<Rule>,
    /// Per command: how often one user, or one channel, may run it.
    #[serde(default)]
    pub cooldowns: BTreeMap<String, Cooldown>,
}

/// `[[plugins.NAME.rules]]`: when `command` (default: every command of the plugin) runs with
/// arguments matching `when`, only `users`/`roles` may run it, and only in `channels`.
///
/// ```toml
/// [[plugins.deploy.rules]]
/// name = "prod is for deployers, in #deploys"
/// command = "deploy"
/// when = { env = "prod" }            # a value, or a list of values (any of them)
/// roles = ["deployers"]
/// channels = ["deploys"]
/// ```
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Rule {
    /// Shown in refusals; default `rules[N]`.
    pub name: Option<String>,
    pub command: Option<String>,
    /// Option name → the value (or any of the values) that makes the rule apply.
    pub when: BTreeMap<String, toml::Value>,
    pub users: Vec<String>,
    pub roles: Vec<String>,
    pub channels: Vec<String>,
}

impl Rule {
    /// What refusals call it: its name, or where it is in the file.
    pub fn label(&self, index: usize) -> String {
        match &self.name {
            Some(n) => format!("`{n}`"),
            None => format!("rules[{index}]"),
        }
    }

    /// The values `when.OPTION` accepts, as the user would type them.
    pub fn accepted(value: &toml::Value) -> Vec<String> {
        match value {
            toml::Value::Array(items) => items.iter().flat_map(Rule::accepted).collect(),
            toml::Value::String(s) => vec![s.clone()],
            other => vec![other.to_string()],
        }
    }
}

/// `[plugins.NAME.cooldowns.COMMAND]`: at most one run per user (`per_user`) and per
/// channel (`per_channel`) in the given time (`"30s"`, `"5m"`); `exempt_roles` skip it.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Cooldown {
    pub per_user: Option<String>,
    pub per_channel: Option<String>,
    pub exempt_roles: Vec<String>,
}

impl Cooldown {
    /// The two spans, parsed (validation has already refused what does not parse).
    pub fn spans(&self) -> (Option<std::time::Duration>, Option<std::time::Duration>) {
        let parse =
            |s: &Option<String>| s.as_deref().and_then(|s| humantime::parse_duration(s).ok());
        (parse(&self.per_user), parse(&self.per_channel))
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct GrantsConfig {
    pub http: Vec<String>,
    pub secrets: Vec<String>,
    pub post: Vec<String>,
    pub kv: bool,
    /// Inbound hooks `POST /hooks/PLUGIN/NAME`, each with how the sender authenticates.
    pub webhooks: BTreeMap<String, WebhookGrant>,
}

/// How a webhook's sender proves itself: exactly one, naming a secret from `[secrets]`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct WebhookGrant {
    /// `Authorization: Bearer <secret>` (what Alertmanager sends).
    pub bearer: Option<String>,
    /// `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>` (GitHub's scheme).
    pub hmac_sha256: Option<String>,
}

/// A config problem: where it is, what is wrong, and what to do.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{file}: {location}{message}. Fix: {fix}")]
pub struct ConfigError {
    pub file: String,
    /// `plugin `x`, key `grants.http`: ` or `line 3, column 1: `, or empty.
    pub location: String,
    pub message: String,
    pub fix: String,
    /// The plugin whose section is wrong: only that plugin is disabled. `None`: the host's
    /// own keys, which stop the start.
    pub plugin: Option<String>,
}

impl ConfigError {
    pub fn plugin(
        file: &Path,
        plugin: &str,
        key: &str,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        ConfigError {
            file: file.display().to_string(),
            location: format!("plugin `{plugin}`, key `{key}`: "),
            message: message.into(),
            fix: fix.into(),
            plugin: Some(plugin.to_string()),
        }
    }
}

/// A parsed and validated config, with the paths it refers to resolved.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub path: PathBuf,
    pub config: Config,
    /// Plugins left out because their section is wrong, with why (see `bot::load_config`).
    pub broken: BTreeMap<String, String>,
}

impl Loaded {
    pub fn dir(&self) -> PathBuf {
        self.path
            .parent()
            .map(Path::to_path_buf)
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or_else(|| PathBuf::from("."))
    }
    pub fn resolve(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.dir().join(p)
        }
    }
    pub fn limits_for(&self, plugin: &str) -> Limits {
        let base = self.config.limits.over(&Limits::default());
        match self.config.plugins.get(plugin) {
            Some(p) => p.limits.over(&base),
            None => base,
        }
    }
}

pub fn is_valid_name(name: &str) -> bool {
    (1..=32).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

pub use check::{load, parse, settle, validate};
