//! `chatops test`: conversation tests kept beside a plugin's source. A scenario file (TOML)
//! gives the plugin its grants, secrets, settings, stored state, the answers its upstreams
//! give, who is typing where and what time it is; then steps — commands, webhooks and
//! schedule firings — each with what the chat should show. The plugin runs in the same
//! sandbox with the same enforcement as in production; only the network is replaced by
//! the scenario's answers, and a request no answer matches fails the test, showing it.
//!
//! ```toml
//! plugin = "../target/wasm32-wasip2/release/greeter.wasm"   # relative to this file
//! user = "alice"
//! roles = ["ops"]
//! channel = "general"
//! clock = "2026-03-01T09:00:00Z"
//!
//! [grants]
//! http = ["https://api.example.com"]
//! secrets = { token = "s3cret" }
//! post = ["alerts"]
//!
//! [settings]
//! url = "https://api.example.com"
//!
//! [[http]]
//! method = "GET"
//! url = "https://api.example.com/status"
//! json = { ok = true }
//!
//! [[step]]
//! command = "greet Bob"
//! reply = "Hello, Bob!"
//! ```

mod diff;
mod run;

pub use run::{run_files, Outcome};

use anyhow::{bail, Context, Result};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One scenario file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// The plugin file, relative to the scenario file (`--plugin` overrides it).
    pub plugin: Option<PathBuf>,
    /// Shown in the results (default: the file's name).
    pub name: Option<String>,
    #[serde(default = "default_user")]
    pub user: String,
    pub user_id: Option<String>,
    #[serde(default)]
    pub roles: Vec<String>,
    #[serde(default = "default_channel")]
    pub channel: String,
    /// RFC 3339; the plugin's wall clock stands still at this time.
    pub clock: Option<String>,
    #[serde(default)]
    pub grants: GrantsSpec,
    #[serde(default)]
    pub settings: BTreeMap<String, toml::Value>,
    /// The plugin's stored state before the first step.
    #[serde(default)]
    pub kv: BTreeMap<String, String>,
    #[serde(default)]
    pub http: Vec<HttpAnswer>,
    #[serde(default)]
    pub step: Vec<Step>,
}

fn default_user() -> String {
    "tester".into()
}
fn default_channel() -> String {
    "test".into()
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrantsSpec {
    #[serde(default)]
    pub http: Vec<String>,
    /// Secret name → the value the plugin reads.
    #[serde(default)]
    pub secrets: BTreeMap<String, String>,
    #[serde(default)]
    pub post: Vec<String>,
    /// `kv` is granted unless this says `false`.
    pub kv: Option<bool>,
}

/// What an upstream answers to a request matching `method`, `url` and (if given) `body`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpAnswer {
    #[serde(default = "default_method")]
    pub method: String,
    pub url: String,
    /// The request body to match: exact text, or equal JSON.
    pub body: Option<String>,
    #[serde(default = "default_status")]
    pub status: u16,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// The response body as text.
    pub response: Option<String>,
    /// The response body as JSON (sets `content-type: application/json`).
    pub json: Option<toml::Value>,
}

fn default_method() -> String {
    "GET".into()
}
fn default_status() -> u16 {
    200
}

/// One thing that happens in the chat, and what should be seen after it.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// A command line as typed in the chat (`roll 2d6`).
    pub command: Option<String>,
    /// A webhook request to the plugin: the path below /hooks/PLUGIN.
    pub webhook: Option<String>,
    /// A schedule firing, by name.
    pub schedule: Option<String>,
    /// Webhook method (default POST), headers and body.
    pub method: Option<String>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    pub body: Option<String>,
    /// Who types this step (default: the scenario's user, roles and channel).
    pub user: Option<String>,
    pub roles: Option<Vec<String>>,
    pub channel: Option<String>,
    /// For a command that asks for confirmation: the question it should ask (the host
    /// adds who may confirm).
    pub asks: Option<String>,
    /// Answer a confirmation with Confirm (default) or Cancel (`false`).
    pub confirm: Option<bool>,

    /// The expected reply, exactly (surrounding whitespace aside).
    pub reply: Option<String>,
    /// Text the reply must contain; a string or a list.
    pub reply_contains: Option<OneOrMany>,
    /// ok (default), usage, denied, failed, cancelled.
    pub outcome: Option<String>,
    /// The progress updates, in order.
    pub progress: Option<Vec<String>>,
    /// The posts to other channels, in order.
    pub posts: Option<Vec<Post>>,
    /// Stored values after the step (only the keys named are compared).
    pub kv: Option<BTreeMap<String, String>>,
    /// Keys that must not be stored after the step.
    pub kv_absent: Option<Vec<String>>,
    /// Refusals the admin must be told of: text each refusal notice contains.
    pub refused: Option<Vec<String>>,
    /// The HTTP requests the step sends, in order: `METHOD URL`.
    pub requests: Option<Vec<String>>,
}

#[derive(Debug, Deserialize, Clone)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub fn items(&self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s.clone()],
            OneOrMany::Many(v) => v.clone(),
        }
    }
}

#[derive(Debug, Deserialize, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Post {
    pub channel: String,
    pub text: String,
}

impl Scenario {
    pub fn load(path: &Path) -> Result<Scenario> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let s: Scenario =
            toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        for (i, step) in s.step.iter().enumerate() {
            let inputs = [&step.command, &step.webhook, &step.schedule]
                .iter()
                .filter(|x| x.is_some())
                .count();
            if inputs != 1 {
                bail!(
                    "{}: step {} needs exactly one of `command`, `webhook` or `schedule`",
                    path.display(),
                    i + 1
                );
            }
            if let Some(o) = &step.outcome {
                if !["ok", "usage", "denied", "failed", "cancelled"].contains(&o.as_str()) {
                    bail!(
                        "{}: step {}: outcome `{o}` is not one of ok, usage, denied, failed, cancelled",
                        path.display(),
                        i + 1
                    );
                }
            }
        }
        if s.step.is_empty() {
            bail!(
                "{}: no [[step]]: a scenario needs at least one",
                path.display()
            );
        }
        Ok(s)
    }
}

/// The scenario files named: files as given, directories searched for `*.toml` (sorted).
pub fn collect(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(p)
                .with_context(|| format!("cannot read {}", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.extension().is_some_and(|x| x == "toml") && f.is_file())
                .collect();
            found.sort();
            if found.is_empty() {
                bail!("{} holds no scenario files (*.toml)", p.display());
            }
            files.extend(found);
        } else if p.is_file() {
            files.push(p.clone());
        } else {
            bail!("{} does not exist", p.display());
        }
    }
    Ok(files)
}
