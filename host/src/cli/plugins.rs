//! `chatops plugins …`: inspect, add, list, approve and remove plugins.

use super::{config_or_default, load_config, PluginsCmd};
use crate::config;
use crate::config::edit::ConfigFile;
use crate::dispatch::help;
use crate::model::{Capability, PluginInfo, Setting};
use crate::runtime::{sha256_hex, Runtime};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

/// What a plugin file says about itself.
pub(super) struct Described {
    pub info: PluginInfo,
    pub settings: Vec<Setting>,
    pub digest: String,
}

/// Describe a plugin file in a throwaway sandbox with nothing granted.
pub(super) async fn describe(path: &Path) -> Result<Described> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let runtime = Runtime::new()?;
    let compiled = runtime
        .load(
            &bytes,
            &path.display().to_string(),
            &config::Limits::default(),
        )
        .await?;
    Ok(Described {
        info: compiled.info.clone(),
        settings: compiled.settings.clone(),
        digest: compiled.digest.clone(),
    })
}

/// The settings a plugin reads, for the admin.
pub(super) fn print_settings(name: &str, settings: &[Setting]) {
    if settings.is_empty() {
        return;
    }
    println!("It reads these settings (chatops config {name} KEY VALUE; not secrets):");
    for s in settings {
        let required = if s.required { " (required)" } else { "" };
        println!("  {}{required} — {}", s.key, s.description);
    }
}

fn print_requests(name: &str, info: &crate::model::PluginInfo) {
    if info.capabilities.is_empty() {
        println!("It requests no capabilities.");
        return;
    }
    println!("It requests:");
    for r in &info.capabilities {
        println!("  {} — {}", r.capability.describe(), r.reason);
    }
    println!("Nothing is granted until you grant it, e.g.:");
    for r in &info.capabilities {
        let cmd = match &r.capability {
            Capability::Http(u) if u.contains("://") => format!("chatops grant {name} http {u}"),
            Capability::Http(_) => format!("chatops grant {name} http https://SITE"),
            Capability::Secret(s) => format!("chatops grant {name} secret {s}"),
            Capability::Kv => format!("chatops grant {name} kv"),
            Capability::Post(c) if c.chars().all(|ch| ch.is_ascii_digit()) => {
                format!("chatops grant {name} post {c}")
            }
            Capability::Post(_) => format!("chatops grant {name} post CHANNEL_ID"),
            Capability::Webhook(h) => format!("chatops grant {name} webhook {h}   # senders use Authorization: Bearer <secret {h}-token>; or --hmac SECRET"),
            Capability::Schedule(s) => format!("chatops grant {name} schedule {}   # at `{}`, or --cron", s.name, s.cron),
        };
        println!("  {cmd}");
    }
}

pub(super) async fn plugins(config: Option<PathBuf>, cmd: PluginsCmd) -> Result<()> {
    match cmd {
        PluginsCmd::Inspect { plugin, json } => {
            let Described {
                info,
                settings,
                digest,
            } = describe(&plugin).await?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(
                        &serde_json::json!({"sha256": digest, "info": info, "settings": settings})
                    )?
                );
                return Ok(());
            }
            println!("{} {} — {}", info.name, info.version, info.description);
            println!("sha256 {digest}");
            println!("Commands:");
            for c in &info.commands {
                println!(
                    "  {}\n",
                    help::command("!", &info, c).replace('\n', "\n    ")
                );
            }
            print_requests(&info.name, &info);
            print_settings(&info.name, &settings);
            Ok(())
        }
        PluginsCmd::Add { plugin } => {
            let Described {
                info,
                settings,
                digest,
            } = describe(&plugin).await?;
            let path = config_or_default(config);
            if path.exists() {
                refuse_clash(&path, &info).await?;
            }
            let mut file = ConfigFile::open_or_new(&path)?;
            let dir = path
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            let rel = relative_to(&plugin, dir);
            file.add_plugin(&info.name, &rel, &digest)?;
            file.save()?;
            println!(
                "Added plugin `{}` {} from {rel} to {}",
                info.name,
                info.version,
                path.display()
            );
            println!("Pinned sha256 {digest}");
            print_requests(&info.name, &info);
            print_settings(&info.name, &settings);
            crate::admin::remember_requests(&path, &info.name, &digest, &info);
            Ok(())
        }
        PluginsCmd::List => {
            let loaded = load_config(config)?;
            for (name, why) in &loaded.broken {
                println!(
                    "{name}  NOT RUNNING: its section in the config is wrong:\n    {}",
                    why.replace('\n', "\n    ")
                );
            }
            if loaded.config.plugins.is_empty() && loaded.broken.is_empty() {
                println!(
                    "No plugins configured in {}. Add one with `chatops plugins add PATH`.",
                    loaded.path.display()
                );
            }
            for (name, p) in &loaded.config.plugins {
                let file = loaded.resolve(&p.path);
                let status = match std::fs::read(&file) {
                    Err(_) => "missing file".to_string(),
                    Ok(bytes) if sha256_hex(&bytes) == p.sha256 => "approved".to_string(),
                    Ok(_) => format!("CHANGED: not running until `chatops plugins approve {name}`"),
                };
                println!(
                    "{name}  {}  sha256 {}…  {status}",
                    p.path.display(),
                    &p.sha256.get(..12).unwrap_or(&p.sha256)
                );
                let g = &p.grants;
                let mut grants: Vec<String> = g.http.iter().map(|h| format!("http {h}")).collect();
                grants.extend(g.secrets.iter().map(|s| format!("secret {s}")));
                grants.extend(g.post.iter().map(|s| format!("post {s}")));
                if g.kv {
                    grants.push("kv".into());
                }
                grants.extend(g.webhooks.keys().map(|h| format!("webhook {h}")));
                grants.extend(
                    p.schedules
                        .iter()
                        .map(|(s, v)| format!("schedule {s} ({v})")),
                );
                println!(
                    "    grants: {}",
                    if grants.is_empty() {
                        "none".into()
                    } else {
                        grants.join(", ")
                    }
                );
                if !p.config.is_empty() {
                    let keys: Vec<&str> = p.config.keys().map(String::as_str).collect();
                    println!("    settings: {}", keys.join(", "));
                }
            }
            Ok(())
        }
        PluginsCmd::Approve { name } => {
            let path = config_or_default(config);
            match crate::admin::approval(&path, &name).await? {
                None => {
                    let loaded = load_config(Some(path))?;
                    let pinned = &loaded.config.plugins[&name].sha256;
                    println!("`{name}` is already approved at sha256 {pinned}.");
                }
                Some(approval) => {
                    println!("{}", approval.summary());
                    println!("{}", crate::admin::approve(&path, &approval)?);
                    println!("A running host reloads it within a second.");
                }
            }
            Ok(())
        }
        PluginsCmd::Remove { name } => {
            let path = config_or_default(config);
            let mut file = ConfigFile::open(&path)?;
            file.remove_plugin(&name)?;
            file.save()?;
            println!("Removed `{name}` and its grants from {}.", path.display());
            Ok(())
        }
    }
}

/// Refuse to add a plugin whose name or commands another configured plugin already has:
/// the host would have to disable one of them.
async fn refuse_clash(config: &Path, info: &PluginInfo) -> Result<()> {
    let bot = crate::bot::Bot::start(Some(config)).await?;
    if bot.dispatcher.plugin(&info.name).is_some() {
        bail!("a plugin named `{}` is already configured; to pin a new build run `chatops plugins approve {}`", info.name, info.name);
    }
    for (owner, cmd) in bot.dispatcher.commands() {
        if info.commands.iter().any(|c| c.name == cmd.name) {
            bail!(
                "plugin `{}` declares command `{}`, which plugin `{owner}` already serves; the host would disable one of them. Fix: remove `{owner}` first (chatops plugins remove {owner}), or rename the command",
                info.name, cmd.name
            );
        }
    }
    Ok(())
}

fn relative_to(file: &Path, dir: &Path) -> String {
    let abs = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let (f, d) = (abs(file), abs(dir));
    match f.strip_prefix(&d) {
        Ok(rel) => rel.display().to_string(),
        Err(_) => f.display().to_string(),
    }
}
