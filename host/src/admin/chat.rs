//! `chatops …` from the chat, for admins (the dispatcher checks that, audits each one and
//! answers ephemerally): the CLI's edits, then a reload so they take effect at once.

use crate::bot::Bot;
use crate::dispatch::{AdminAnswer, Caller, ChatAdmin};
use crate::store::AuditFilter;
use std::path::PathBuf;
use std::sync::{Arc, Weak};

const USAGE: &str = "Admin commands (answered only to you, each audited):
  chatops plugins — loaded plugins: version, digest, requested vs granted; disabled ones and why
  chatops grant PLUGIN http URL | secret NAME | post CHANNEL | kv
  chatops revoke PLUGIN http URL | secret NAME | post CHANNEL | kv
  chatops config PLUGIN KEY VALUE — set a setting (not a secret)
  chatops approve PLUGIN — pin the plugin's new build, after showing what it asks for
  chatops audit [user=NAME] [plugin=P] [command=C] [outcome=ok|denied|failed|usage|cancelled] [since=2h] [limit=20]
  chatops reload — re-read the config and the plugins";

pub struct BotAdmin {
    bot: Weak<Bot>,
    config: PathBuf,
}

impl BotAdmin {
    pub fn new(bot: &Arc<Bot>, config: PathBuf) -> Self {
        BotAdmin {
            bot: Arc::downgrade(bot),
            config,
        }
    }

    /// An edit was saved: reload now rather than when the watcher notices.
    async fn applied(&self, bot: &Bot, done: String) -> AdminAnswer {
        let msgs = bot.reload_if_changed().await;
        let mut text = done;
        if msgs
            .iter()
            .any(|m| m.contains("not valid") || m.contains("failed"))
        {
            text.push_str("\nThe edit was saved, but the host could not apply it:");
            for m in &msgs {
                text.push_str("\n  ");
                text.push_str(m);
            }
            return AdminAnswer::Failed(text);
        }
        text.push_str(" In effect now.");
        for m in msgs
            .iter()
            .filter(|m| !m.starts_with("configuration reloaded"))
        {
            text.push_str("\n  ");
            text.push_str(m);
        }
        AdminAnswer::Done(text)
    }

    fn plugins(&self, bot: &Bot) -> String {
        let mut out = Vec::new();
        for p in bot.dispatcher.plugins() {
            let info = p.info();
            out.push(format!(
                "✓ {} {} — sha256 {}… ({}), {} command(s)",
                p.name,
                info.version,
                &p.compiled.digest[..12],
                p.source,
                info.commands.len()
            ));
            let g = &p.grants;
            let mut granted: Vec<String> = g.http.iter().map(|h| format!("http {h}")).collect();
            granted.extend(g.secrets.iter().map(|s| format!("secret {s}")));
            granted.extend(g.post.iter().map(|c| format!("post {c}")));
            if g.kv {
                granted.push("kv".into());
            }
            granted.extend(g.webhooks.keys().map(|h| format!("webhook {h}")));
            let requested: Vec<String> = info
                .capabilities
                .iter()
                .map(|r| r.capability.describe())
                .collect();
            if !requested.is_empty() {
                out.push(format!("    requests: {}", requested.join("; ")));
            }
            out.push(format!(
                "    granted:  {}",
                if granted.is_empty() {
                    "nothing".to_string()
                } else {
                    granted.join("; ")
                }
            ));
        }
        for (name, why) in bot.dispatcher.disabled() {
            out.push(format!("✗ {name} — disabled: {why}"));
        }
        if out.is_empty() {
            return "No plugins are configured; add one with `chatops plugins add PLUGIN.wasm` on the host.".into();
        }
        out.join("\n")
    }

    fn audit(&self, bot: &Bot, words: &[String]) -> AdminAnswer {
        let Some(store) = bot.dispatcher.store() else {
            return AdminAnswer::Failed("this host keeps no audit trail".into());
        };
        let mut f = AuditFilter {
            limit: 20,
            ..AuditFilter::default()
        };
        for w in words {
            let Some((k, v)) = w.split_once('=') else {
                return AdminAnswer::Usage(format!(
                    "`{w}` is not a filter: write key=value, e.g. plugin=deploy since=2h\n{USAGE}"
                ));
            };
            let v = v.to_string();
            match k {
                "user" => f.user = Some(v),
                "plugin" => f.plugin = Some(v),
                "command" => f.command = Some(v),
                "outcome" => f.outcome = Some(v),
                "since" => match humantime::parse_duration(&v) {
                    Ok(d) => {
                        let now = std::time::SystemTime::now()
                            .duration_since(std::time::UNIX_EPOCH)
                            .unwrap_or_default();
                        f.since_ms = Some(now.saturating_sub(d).as_millis() as i64);
                    }
                    Err(_) => {
                        return AdminAnswer::Usage(format!(
                            "since=`{v}`: write a duration like 30m, 2h or 7d"
                        ))
                    }
                },
                "limit" => match v.parse::<usize>() {
                    Ok(n) if (1..=100).contains(&n) => f.limit = n,
                    _ => return AdminAnswer::Usage("limit is a number from 1 to 100".into()),
                },
                other => {
                    return AdminAnswer::Usage(format!(
                    "`{other}` is not a filter: use user, plugin, command, outcome, since or limit"
                ))
                }
            }
        }
        match store.audit_query(&f) {
            Ok(rows) if rows.is_empty() => AdminAnswer::Done("No audit records match.".into()),
            Ok(rows) => AdminAnswer::Done(
                rows.iter()
                    .map(|e| {
                        let detail = e.detail.lines().next().unwrap_or("");
                        let detail = if detail.is_empty() {
                            String::new()
                        } else {
                            format!(" — {detail}")
                        };
                        let used = if e.capabilities.is_empty() {
                            String::new()
                        } else {
                            format!(" (used: {})", e.capabilities)
                        };
                        format!(
                            "{}  {}  #{}  {}: {}  [{}]{used}{detail}",
                            e.at, e.actor, e.channel, e.plugin, e.args, e.outcome
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n"),
            ),
            Err(e) => AdminAnswer::Failed(format!("could not read the audit trail: {e}")),
        }
    }
}

#[async_trait::async_trait]
impl ChatAdmin for BotAdmin {
    async fn run(&self, _caller: &Caller, words: &[String]) -> AdminAnswer {
        let Some(bot) = self.bot.upgrade() else {
            return AdminAnswer::Failed("the host is stopping".into());
        };
        let word = |i: usize| words.get(i).map(String::as_str);
        let failed = |e: anyhow::Error| AdminAnswer::Failed(format!("{e:#}"));
        match word(0) {
            None | Some("help") => AdminAnswer::Done(USAGE.into()),
            Some("plugins") => AdminAnswer::Done(self.plugins(&bot)),
            Some(verb @ ("grant" | "revoke")) => {
                let (Some(plugin), Some(kind)) = (word(1), word(2)) else {
                    return AdminAnswer::Usage(format!(
                        "write `chatops {verb} PLUGIN http URL` (or secret NAME, post CHANNEL, kv)"
                    ));
                };
                if words.len() > 4 {
                    return AdminAnswer::Usage(format!(
                        "one capability at a time: `chatops {verb} {plugin} {kind} VALUE`"
                    ));
                }
                match crate::admin::grant(&self.config, plugin, kind, word(3), verb == "grant") {
                    Ok(done) => self.applied(&bot, done).await,
                    Err(e) => failed(e),
                }
            }
            Some("config") => {
                let (Some(plugin), Some(key), Some(_)) = (word(1), word(2), word(3)) else {
                    return AdminAnswer::Usage("write `chatops config PLUGIN KEY VALUE`".into());
                };
                let value = words[3..].join(" ");
                match crate::admin::set_setting(&self.config, plugin, key, &value) {
                    Ok(done) => self.applied(&bot, done).await,
                    Err(e) => failed(e),
                }
            }
            Some("approve") => {
                let Some(name) = word(1) else {
                    return AdminAnswer::Usage("write `chatops approve PLUGIN`".into());
                };
                match crate::admin::approval(&self.config, name).await {
                    Ok(None) => AdminAnswer::Done(format!(
                        "`{name}` is already approved at its current build."
                    )),
                    Ok(Some(a)) => AdminAnswer::Confirm {
                        question: a.summary(),
                        action: vec!["approve".into(), a.name.clone(), a.to.clone()],
                    },
                    Err(e) => failed(e),
                }
            }
            Some("audit") => self.audit(&bot, &words[1..]),
            Some("reload") => {
                let msgs = bot.reload().await;
                AdminAnswer::Done(if msgs.is_empty() {
                    "Reloaded; nothing changed.".into()
                } else {
                    msgs.join("\n")
                })
            }
            Some(other) => AdminAnswer::Usage(format!(
                "`chatops {other}` is not an admin command.\n{USAGE}"
            )),
        }
    }

    async fn confirmed(&self, _caller: &Caller, action: &[String]) -> AdminAnswer {
        let Some(bot) = self.bot.upgrade() else {
            return AdminAnswer::Failed("the host is stopping".into());
        };
        let [verb, name, digest] = action else {
            return AdminAnswer::Failed("this confirmation is not one the host made".into());
        };
        if verb != "approve" {
            return AdminAnswer::Failed("this confirmation is not one the host made".into());
        }
        let approval = match crate::admin::approval(&self.config, name).await {
            Ok(Some(a)) if a.to == *digest => a,
            Ok(Some(a)) => {
                return AdminAnswer::Failed(format!(
                    "`{name}` changed again (now sha256 {}…) since you were shown it; nothing was approved. Run `chatops approve {name}` again.",
                    &a.to[..12]
                ))
            }
            Ok(None) => {
                return AdminAnswer::Done(format!("`{name}` is already approved at this build."))
            }
            Err(e) => return AdminAnswer::Failed(format!("{e:#}")),
        };
        match crate::admin::approve(&self.config, &approval) {
            Ok(done) => self.applied(&bot, done).await,
            Err(e) => AdminAnswer::Failed(format!("{e:#}")),
        }
    }
}
