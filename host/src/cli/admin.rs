//! `chatops grant`/`revoke`, `chatops config`, `chatops check` and `chatops audit`.

use super::{config_or_default, load_config};
use crate::bot::Bot;
use crate::capabilities::secrets::{SecretStore, MIN_REDACTED_LEN};
use crate::config::edit::ConfigFile;
use crate::model::Capability;
use anyhow::{bail, Context, Result};
use std::path::PathBuf;

pub(super) async fn grant(
    config: Option<PathBuf>,
    plugin: &str,
    kind: &str,
    value: Option<&str>,
    add: bool,
) -> Result<()> {
    let path = config_or_default(config);
    println!("{}", crate::admin::grant(&path, plugin, kind, value, add)?);
    if add {
        println!("A running host applies it within a second.");
    }
    Ok(())
}

/// How `chatops grant … webhook|schedule` was asked to grant.
pub(super) struct TriggerGrant {
    pub bearer: Option<String>,
    pub hmac: Option<String>,
    pub cron: Option<String>,
}

/// `chatops grant|revoke PLUGIN webhook NAME` and `… schedule NAME`; `way` is `None` to revoke.
pub(super) fn grant_trigger(
    config: Option<PathBuf>,
    plugin: &str,
    kind: &str,
    name: Option<&str>,
    way: Option<TriggerGrant>,
) -> Result<()> {
    let Some(name) = name else {
        bail!("`{kind}` needs the name the plugin requests (chatops plugins inspect shows it)");
    };
    if !crate::config::is_valid_name(name) {
        bail!("`{name}` is not a {kind} name: 1-32 characters of a-z, 0-9, - and _");
    }
    let path = config_or_default(config);
    let mut file = ConfigFile::open(&path)?;
    match (kind, way) {
        ("webhook", Some(way)) => {
            if way.cron.is_some() {
                bail!("--cron is for schedules");
            }
            let (field, secret, how) = match (way.bearer, way.hmac) {
                (Some(_), Some(_)) => bail!("give --bearer or --hmac, not both"),
                (None, Some(s)) => (
                    "hmac_sha256",
                    s,
                    "sign the body: X-Hub-Signature-256: sha256=<HMAC-SHA256 of the body with",
                ),
                (Some(s), None) => ("bearer", s, "send Authorization: Bearer <the value of"),
                (None, None) => (
                    "bearer",
                    format!("{name}-token"),
                    "send Authorization: Bearer <the value of",
                ),
            };
            file.grant_webhook(plugin, name, field, &secret)?;
            file.save()?;
            println!("Granted webhook `{name}` to `{plugin}`: POST /hooks/{plugin}/{name}. Senders {how} secret `{secret}`>.");
            println!("Give the secret a value with your secrets provider ([secrets] in the config), and set [webhooks] listen to serve hooks.");
        }
        ("schedule", Some(way)) => {
            if way.bearer.is_some() || way.hmac.is_some() {
                bail!("--bearer and --hmac are for webhooks");
            }
            let value = match way.cron {
                Some(c) => {
                    crate::runtime::validate::parse_cron(&c).map_err(anyhow::Error::msg)?;
                    c
                }
                None => "default".to_string(),
            };
            file.set_schedule(plugin, name, &value)?;
            file.save()?;
            let when = if value == "default" {
                "at the time the plugin declares".to_string()
            } else {
                format!("at `{value}`")
            };
            println!("Schedule `{name}` of `{plugin}` runs {when}; `chatops schedules` shows when it fires next.");
        }
        ("webhook", None) => {
            if file.revoke_webhook(plugin, name)? {
                file.save()?;
                println!("Revoked webhook `{name}` from `{plugin}`: /hooks/{plugin}/{name} now answers 404.");
            } else {
                println!("`{plugin}` did not have webhook `{name}`.");
            }
        }
        (_, None) => {
            if file.remove_schedule(plugin, name)? {
                file.save()?;
                println!("Schedule `{name}` of `{plugin}` no longer runs.");
            } else {
                println!("`{plugin}` had no schedule `{name}` in the config.");
            }
        }
        (other, _) => bail!("`{other}` is not a trigger"),
    }
    Ok(())
}

/// `chatops config PLUGIN [KEY [VALUE]] [--unset]`.
pub(super) async fn settings(
    config: Option<PathBuf>,
    plugin: &str,
    key: Option<&str>,
    value: Option<&str>,
    unset: bool,
) -> Result<()> {
    let path = config_or_default(config.clone());
    match (key, value, unset) {
        (Some(key), None, true) => {
            let mut file = ConfigFile::open(&path)?;
            if file.unset_setting(plugin, key)? {
                file.save()?;
                println!("Removed setting `{key}` of `{plugin}`. A running host applies it within a second.");
            } else {
                println!("`{plugin}` has no setting `{key}`.");
            }
            Ok(())
        }
        (_, _, true) => bail!("--unset takes the key only: chatops config {plugin} KEY --unset"),
        (None, Some(_), false) => {
            bail!("write the key before the value: chatops config {plugin} KEY VALUE")
        }
        (Some(key), Some(value), false) => {
            println!("{}", crate::admin::set_setting(&path, plugin, key, value)?);
            println!("A running host applies it within a second. Settings are not secrets: use `chatops grant {plugin} secret NAME` for those.");
            Ok(())
        }
        (key, None, false) => {
            let loaded = load_config(config)?;
            let pc = loaded.config.plugins.get(plugin).with_context(|| {
                format!(
                    "no plugin `{plugin}` in {}; add it with `chatops plugins add PATH`",
                    loaded.path.display()
                )
            })?;
            let declared = match super::plugins::describe(&loaded.resolve(&pc.path)).await {
                Ok(d) => d.settings,
                Err(e) => {
                    eprintln!("(could not ask the plugin which settings it reads: {e:#})");
                    Vec::new()
                }
            };
            let show = |k: &str| {
                let value = pc
                    .config
                    .get(k)
                    .and_then(crate::capabilities::config::as_text);
                let about = declared.iter().find(|s| s.key == k);
                let value = match (value, about) {
                    (Some(v), _) => format!("= \"{v}\""),
                    (None, Some(s)) if s.required => "is not set (required)".to_string(),
                    (None, _) => "is not set".to_string(),
                };
                let about = about
                    .map(|s| format!(" — {}", s.description))
                    .unwrap_or_default();
                println!("  {k} {value}{about}");
            };
            match key {
                Some(k) => show(k),
                None => {
                    if declared.is_empty() && pc.config.is_empty() {
                        println!("`{plugin}` declares no settings and has none set.");
                    }
                    let mut keys: Vec<&str> = declared.iter().map(|s| s.key.as_str()).collect();
                    keys.extend(
                        pc.config
                            .keys()
                            .map(String::as_str)
                            .filter(|k| !declared.iter().any(|s| s.key == *k)),
                    );
                    for k in keys {
                        show(k);
                    }
                }
            }
            Ok(())
        }
    }
}

pub(super) async fn check(config: Option<PathBuf>) -> Result<()> {
    let path = config_or_default(config);
    let loaded = match crate::bot::load_config(&path) {
        Ok(l) => l,
        Err(errors) => {
            for e in &errors {
                println!("error: {e}");
            }
            bail!("{} has {} problem(s)", path.display(), errors.len());
        }
    };
    let bot = Bot::start(Some(&path)).await?;
    let secrets = SecretStore::from_config(&loaded)?;
    let mut problems = 0;
    for (name, why) in &loaded.broken {
        println!(
            "✗ {name}: its section in the config is wrong, so it will not run:\n    {}",
            why.replace('\n', "\n    ")
        );
        problems += 1;
    }
    for (name, pc) in &loaded.config.plugins {
        let running = bot
            .dispatcher
            .plugins()
            .into_iter()
            .find(|p| &p.name == name);
        let Some(p) = running else {
            let why = bot
                .dispatcher
                .disabled()
                .into_iter()
                .find(|(n, _)| n == name)
                .map(|(_, w)| w)
                .unwrap_or_default();
            println!("✗ {name}: {why}");
            problems += 1;
            continue;
        };
        let info = p.info();
        println!(
            "✓ {name} {} ({} command(s)), sha256 {}…",
            info.version,
            info.commands.len(),
            &p.compiled.digest[..12]
        );
        let granted: Vec<String> = pc
            .grants
            .http
            .iter()
            .map(|h| format!("http {h}"))
            .chain(pc.grants.secrets.iter().map(|s| format!("secret {s}")))
            .chain(pc.grants.post.iter().map(|c| format!("post {c}")))
            .chain(pc.grants.kv.then(|| "kv".to_string()))
            .chain(pc.grants.webhooks.keys().map(|h| format!("webhook {h}")))
            .chain(
                pc.schedules
                    .iter()
                    .filter(|(_, v)| *v != "off")
                    .map(|(n, _)| format!("schedule {n}")),
            )
            .collect();
        for r in &info.capabilities {
            let shown = r.capability.describe();
            let want = match &r.capability {
                Capability::Schedule(sched) => format!("schedule {}", sched.name),
                _ => shown.clone(),
            };
            let mark = match &r.capability {
                Capability::Http(_) => {
                    if pc.grants.http.is_empty() {
                        "not granted"
                    } else {
                        "see http grants"
                    }
                }
                _ if granted.contains(&want) => "granted",
                _ => "not granted",
            };
            println!("    requests {shown} — {} [{mark}]", r.reason);
        }
        for g in &granted {
            println!("    granted  {g}");
        }
        for s in &pc.grants.secrets {
            match secrets.lookup(s) {
                None => println!("    ! secret `{s}` has no value: {}", secrets.how_to_set(s)),
                Some(v) if v.len() < MIN_REDACTED_LEN => {
                    println!("    ! secret `{s}` is shorter than {MIN_REDACTED_LEN} characters, so it cannot be redacted from chat")
                }
                Some(_) => {}
            }
        }
        for setting in &p.compiled.settings {
            match pc.config.get(&setting.key) {
                Some(v) => println!(
                    "    setting  {} = {v} — {}",
                    setting.key, setting.description
                ),
                None if setting.required => {
                    println!("    ! setting `{}` is required and not set ({}): chatops config {name} {} VALUE", setting.key, setting.description, setting.key);
                }
                None => println!(
                    "    setting  {} is not set — {}",
                    setting.key, setting.description
                ),
            }
        }
        for key in pc
            .config
            .keys()
            .filter(|k| !p.compiled.settings.iter().any(|s| &s.key == *k))
        {
            println!("    setting  {key} is set but the plugin does not declare it");
        }
    }
    if problems > 0 {
        bail!("{problems} plugin(s) will not run");
    }
    println!("{} is valid.", path.display());
    Ok(())
}

pub(super) async fn audit(config: Option<PathBuf>, args: super::AuditArgs) -> Result<()> {
    let loaded = load_config(config)?;
    let store = crate::store::Store::from_config(&loaded).await?;
    let since_ms = match &args.since {
        None => None,
        Some(s) => {
            let d = humantime::parse_duration(s)
                .with_context(|| format!("--since `{s}`: write a duration like 30m, 2h or 7d"))?;
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?;
            Some(now.saturating_sub(d).as_millis() as i64)
        }
    };
    let mut filter = crate::store::AuditFilter {
        user: args.user,
        plugin: args.plugin,
        command: args.command,
        outcome: args.outcome,
        since_ms,
        after_id: None,
        limit: args.limit,
    };
    let entries = store.audit_query_async(&filter).await?;
    if entries.is_empty() && !args.json && !args.follow {
        println!("No audit records match.");
    }
    let print = |e: &crate::store::AuditEntry| -> Result<()> {
        if args.json {
            println!("{}", serde_json::to_string(e)?);
            return Ok(());
        }
        let detail = if e.detail.is_empty() {
            String::new()
        } else {
            format!(" — {}", e.detail.lines().next().unwrap_or(""))
        };
        let took = if e.digest.is_empty() {
            String::new()
        } else {
            format!(" {} ms", e.duration_ms)
        };
        let used = if e.capabilities.is_empty() {
            String::new()
        } else {
            format!(" (used: {})", e.capabilities)
        };
        println!(
            "{}  {}  #{}  {}: {}  [{}]{took}{used}{detail}",
            e.at, e.actor, e.channel, e.plugin, e.args, e.outcome
        );
        Ok(())
    };
    for e in &entries {
        print(e)?;
    }
    if !args.follow {
        return Ok(());
    }
    filter.after_id = entries.last().map(|e| e.id).or(Some(0));
    filter.limit = 1000;
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return Ok(()),
            _ = tokio::time::sleep(std::time::Duration::from_millis(500)) => {}
        }
        for e in store.audit_query_async(&filter).await? {
            filter.after_id = Some(e.id);
            print(&e)?;
        }
    }
}
