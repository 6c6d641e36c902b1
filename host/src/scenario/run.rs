//! Running scenario files: one fresh host per file (its own in-memory store), the steps in
//! order, each compared with what the chat showed.

use super::diff::diff;
use super::{Post, Scenario, Step};
use crate::bot::{Bot, Dev};
use crate::capabilities::http::{Answer, HttpGrant, Seen, Upstreams};
use crate::capabilities::{Grants, Poster, ProgressSink};
use crate::dispatch::{Caller, Kind, Prefix};
use crate::model::User;
use crate::triggers::manual::Manual;
use anyhow::{bail, Context, Result};
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// How a run of scenario files went.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct Outcome {
    pub passed: usize,
    pub failed: usize,
}

/// Run every file, print each result and the `N passed, N failed` line to `out`.
pub async fn run_files(
    files: &[PathBuf],
    plugin: Option<&Path>,
    out: &mut (dyn Write + Send),
) -> Result<Outcome> {
    let mut outcome = Outcome::default();
    for file in files {
        let shown = file.display().to_string();
        match run_file(file, plugin).await {
            Ok((name, steps)) => {
                outcome.passed += 1;
                writeln!(out, "ok    {name} ({shown}, {steps} step(s))")?;
            }
            Err(e) => {
                outcome.failed += 1;
                writeln!(out, "FAIL  {shown}")?;
                for line in format!("{e:#}").lines() {
                    writeln!(out, "      {line}")?;
                }
            }
        }
        out.flush()?;
    }
    writeln!(out, "{} passed, {} failed", outcome.passed, outcome.failed)?;
    Ok(outcome)
}

#[derive(Default)]
struct Captured {
    progress: Mutex<Vec<String>>,
    posts: Mutex<Vec<Post>>,
}

struct CaptureProgress(Arc<Captured>);
impl ProgressSink for CaptureProgress {
    fn progress(&self, text: &str) {
        lock(&self.0.progress).push(text.to_string());
    }
}

struct CapturePosts(Arc<Captured>);
#[async_trait::async_trait]
impl Poster for CapturePosts {
    async fn post(&self, channel: &str, text: &str) -> Result<(), String> {
        lock(&self.0.posts).push(Post {
            channel: channel.to_string(),
            text: text.to_string(),
        });
        Ok(())
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The answers of a scenario's `[[http]]` tables.
fn answers(s: &Scenario) -> Result<Vec<Answer>> {
    s.http
        .iter()
        .map(|h| {
            let mut headers: Vec<(String, String)> = h
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            let response = match (&h.response, &h.json) {
                (Some(_), Some(_)) => {
                    bail!(
                        "[[http]] {} {}: give `response` or `json`, not both",
                        h.method,
                        h.url
                    )
                }
                (Some(text), None) => text.clone().into_bytes(),
                (None, Some(json)) => {
                    if !headers
                        .iter()
                        .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
                    {
                        headers.push(("content-type".into(), "application/json".into()));
                    }
                    serde_json::to_vec(json)?
                }
                (None, None) => Vec::new(),
            };
            Ok(Answer {
                method: h.method.to_ascii_uppercase(),
                url: h.url.clone(),
                body: h.body.clone(),
                status: h.status,
                headers,
                response,
            })
        })
        .collect()
}

async fn run_file(file: &Path, plugin: Option<&Path>) -> Result<(String, usize)> {
    let s = Scenario::load(file)?;
    let name = s.name.clone().unwrap_or_else(|| {
        file.file_stem()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default()
    });
    let wasm = match (plugin, &s.plugin) {
        (Some(p), _) => p.to_path_buf(),
        (None, Some(p)) => file.parent().unwrap_or(Path::new(".")).join(p),
        (None, None) => bail!(
            "the scenario names no plugin: add `plugin = \"path/to/plugin.wasm\"` (relative to the file) or pass --plugin"
        ),
    };
    if !wasm.is_file() {
        bail!(
            "plugin {} does not exist: build it first (see the project's README)",
            wasm.display()
        );
    }
    let upstreams = Arc::new(Upstreams::new(answers(&s)?));
    let mut grants = Grants {
        post: s.grants.post.clone(),
        kv: s.grants.kv.unwrap_or(true),
        secrets: s.grants.secrets.keys().cloned().collect(),
        upstreams: Some(upstreams.clone()),
        ..Grants::default()
    };
    for h in &s.grants.http {
        grants.http.push(
            h.parse::<HttpGrant>()
                .map_err(|e| anyhow::anyhow!("grants.http `{h}`: {}", e.reason))?,
        );
    }
    if let Some(clock) = &s.clock {
        let at = chrono::DateTime::parse_from_rfc3339(clock).with_context(|| {
            format!("clock `{clock}`: write RFC 3339, e.g. 2026-03-01T09:00:00Z")
        })?;
        grants.clock = Some(std::time::SystemTime::from(at));
    }
    let settings = s
        .settings
        .iter()
        .map(|(k, v)| {
            let v = match v {
                toml::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (k.clone(), v)
        })
        .collect();
    let dev = Dev {
        plugins: vec![wasm],
        grants,
        secrets: s
            .grants
            .secrets
            .clone()
            .into_iter()
            .collect::<HashMap<_, _>>(),
        settings,
        with_bundled: false,
        ..Dev::default()
    };
    let bot = Bot::start_dev(dev).await?;
    let captured = Arc::new(Captured::default());
    bot.dispatcher
        .set_poster(Arc::new(CapturePosts(captured.clone())));
    let plugin_name = bot
        .dispatcher
        .plugins()
        .first()
        .map(|p| p.name.clone())
        .context("the plugin did not load")?;
    if !s.kv.is_empty() {
        let store = bot.dispatcher.store().context("no store")?;
        for (k, v) in &s.kv {
            store.kv_set(&plugin_name, k, v.as_bytes())?;
        }
    }
    // What the runner itself shows of the plugin (requests, stored values) leaves through
    // the same redactor as everything else it says.
    let redactor = crate::exit::Redactor::new(s.grants.secrets.values().cloned());
    for (i, step) in s.step.iter().enumerate() {
        let failures = run_step(&bot, &s, step, &plugin_name, &captured, &upstreams).await;
        if !failures.is_empty() {
            bail!(
                "step {} ({}):\n{}",
                i + 1,
                step_label(step),
                redactor.chat(&failures.join("\n")).0
            );
        }
    }
    Ok((name, s.step.len()))
}

fn step_label(step: &Step) -> String {
    if let Some(c) = &step.command {
        format!("`{c}`")
    } else if let Some(w) = &step.webhook {
        format!("webhook {} {w}", step.method.as_deref().unwrap_or("POST"))
    } else {
        format!("schedule {}", step.schedule.as_deref().unwrap_or(""))
    }
}

fn outcome_name(kind: &Kind) -> &'static str {
    match kind {
        Kind::Reply | Kind::Help => "ok",
        Kind::Usage => "usage",
        Kind::Denied => "denied",
        Kind::Failed => "failed",
        Kind::Cancelled => "cancelled",
        Kind::Confirm { .. } => "confirm",
    }
}

/// Run one step; what did not match, each as a readable paragraph.
async fn run_step(
    bot: &Bot,
    s: &Scenario,
    step: &Step,
    plugin: &str,
    captured: &Arc<Captured>,
    upstreams: &Upstreams,
) -> Vec<String> {
    lock(&captured.progress).clear();
    lock(&captured.posts).clear();
    upstreams.take_seen();
    let user = step.user.clone().unwrap_or_else(|| s.user.clone());
    let caller = Caller {
        user: User {
            id: match &step.user {
                Some(u) => u.clone(),
                None => s.user_id.clone().unwrap_or_else(|| s.user.clone()),
            },
            name: user,
            roles: step.roles.clone().unwrap_or_else(|| s.roles.clone()),
        },
        channel: step.channel.clone().unwrap_or_else(|| s.channel.clone()),
        guild: None,
    };
    let d = &bot.dispatcher;
    let progress: Arc<dyn ProgressSink> = Arc::new(CaptureProgress(captured.clone()));
    let mut failures = Vec::new();
    let (outcome, text, notices) = if let Some(line) = &step.command {
        let Some(request) = d.request(line, Prefix::Optional) else {
            return vec![format!("`{line}` is not a command line")];
        };
        let mut response = d.dispatch(&caller, request, progress.clone()).await;
        let mut notices = std::mem::take(&mut response.notices);
        if let Kind::Confirm { token } = &response.kind {
            if let Some(want) = &step.asks {
                if !response.text.contains(want.trim()) {
                    failures.push(format!(
                        "the confirmation question differs:\n{}",
                        indent(&diff(want.trim(), response.text.trim()))
                    ));
                }
            }
            let token = token.clone();
            response = d
                .confirm(&caller, &token, step.confirm.unwrap_or(true), progress)
                .await;
            notices.append(&mut response.notices);
        } else if step.asks.is_some() {
            failures.push("expected a confirmation question; the command ran without one".into());
        }
        (outcome_name(&response.kind), response.text, notices)
    } else {
        let what = match (&step.webhook, &step.schedule) {
            (Some(path), _) => Manual::Webhook {
                method: step.method.clone().unwrap_or_else(|| "POST".into()),
                path: path.clone(),
                headers: step
                    .headers
                    .iter()
                    .map(|(k, v)| format!("{k}: {v}"))
                    .collect(),
                body: step.body.clone().unwrap_or_default().into_bytes(),
            },
            (None, Some(name)) => Manual::Schedule(name.clone()),
            (None, None) => unreachable!("checked at load"),
        };
        match crate::triggers::manual::fire(d, plugin, what).await {
            Err(e) => return vec![e],
            Ok(o) => match o.error {
                None => ("ok", String::new(), o.notices),
                Some(e) => ("failed", e.to_string(), o.notices),
            },
        }
    };
    let want = step.outcome.as_deref().unwrap_or("ok");
    if want != outcome {
        failures.push(format!(
            "expected outcome `{want}`, got `{outcome}`:\n{}",
            indent(&text)
        ));
    }
    if let Some(reply) = &step.reply {
        if reply.trim() != text.trim() {
            failures.push(format!(
                "the reply differs:\n{}",
                indent(&diff(reply.trim(), text.trim()))
            ));
        }
    }
    if let Some(parts) = &step.reply_contains {
        for part in parts.items() {
            if !text.contains(&part) {
                failures.push(format!(
                    "the reply does not contain `{part}`; it was:\n{}",
                    indent(&text)
                ));
            }
        }
    }
    if let Some(want) = &step.progress {
        let got = lock(&captured.progress).clone();
        if *want != got {
            failures.push(format!(
                "the progress updates differ:\n{}",
                indent(&diff(&want.join("\n"), &got.join("\n")))
            ));
        }
    }
    if let Some(want) = &step.posts {
        let got = lock(&captured.posts).clone();
        if *want != got {
            let show = |p: &[Post]| {
                p.iter()
                    .map(|p| format!("#{}: {}", p.channel, p.text))
                    .collect::<Vec<_>>()
                    .join("\n")
            };
            failures.push(format!(
                "the posts differ:\n{}",
                indent(&diff(&show(want), &show(&got)))
            ));
        }
    }
    let refusals: Vec<&String> = notices
        .iter()
        .filter(|n| n.starts_with("refused"))
        .collect();
    if let Some(want) = &step.refused {
        for w in want {
            if !refusals.iter().any(|n| n.contains(w.as_str())) {
                failures.push(format!(
                    "expected a refusal mentioning `{w}`; the admin was told:\n{}",
                    indent(&or_none(&refusals))
                ));
            }
        }
    }
    let seen = upstreams.take_seen();
    let unmatched: Vec<&Seen> = seen.iter().filter(|r| !r.answered).collect();
    for r in &unmatched {
        failures.push(format!(
            "the plugin sent a request the scenario has no answer for:\n{}\n  answer it with:\n    [[http]]\n    method = \"{}\"\n    url = \"{}\"\n    json = {{ }}",
            indent(&r.to_string()),
            r.method,
            r.url
        ));
    }
    if let Some(want) = &step.requests {
        let got: Vec<String> = seen
            .iter()
            .map(|r| format!("{} {}", r.method, r.url))
            .collect();
        if *want != got {
            failures.push(format!(
                "the HTTP requests differ:\n{}",
                indent(&diff(&want.join("\n"), &got.join("\n")))
            ));
        }
    }
    if step.kv.is_some() || step.kv_absent.is_some() {
        match d.store() {
            None => failures.push("the host has no store".into()),
            Some(store) => {
                for (k, v) in step.kv.iter().flatten() {
                    let got = store
                        .kv_get(plugin, k)
                        .ok()
                        .flatten()
                        .map(|b| String::from_utf8_lossy(&b).into_owned());
                    match got {
                        Some(g) if g == *v => {}
                        Some(g) => failures
                            .push(format!("stored `{k}` differs:\n{}", indent(&diff(v, &g)))),
                        None => failures.push(format!("`{k}` is not stored (expected `{v}`)")),
                    }
                }
                for k in step.kv_absent.iter().flatten() {
                    if let Ok(Some(b)) = store.kv_get(plugin, k) {
                        failures.push(format!(
                            "`{k}` is stored (`{}`); expected it absent",
                            String::from_utf8_lossy(&b)
                        ));
                    }
                }
            }
        }
    }
    if !failures.is_empty() && step.refused.is_none() && !refusals.is_empty() {
        failures.push(format!(
            "(the admin was told: {})",
            refusals
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join("; ")
        ));
    }
    failures
}

fn or_none(items: &[&String]) -> String {
    if items.is_empty() {
        "(nothing)".into()
    } else {
        items
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    }
}

fn indent(text: &str) -> String {
    if text.is_empty() {
        return "    (empty)".into();
    }
    text.lines()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}
