//! Inbound events — a webhook request, a schedule firing — delivered to a plugin's
//! `on-event`. The same limits, concurrency slots, exit (redaction), posting grants and
//! audit as a command, under a system actor named for where the event came from.

use super::invoke::{entry, Ran, Slot};
use super::{Caller, Dispatcher};
use crate::capabilities::chat;
use crate::exit::{Exit, NoProgress, MAX_TEXT_BYTES};
use crate::model::{CommandError, Event, User};
use crate::runtime::{Call, CallResult};
use std::sync::Arc;

/// What became of an event.
#[derive(Debug, Clone, PartialEq)]
pub struct EventOutcome {
    /// Posts the plugin returned that reached their channel.
    pub posted: usize,
    /// `None` if the plugin handled the event; otherwise why not, redacted, for the sender
    /// (a webhook answers 5xx with it) and the log.
    pub error: Option<EventError>,
    /// Refusals and redactions, for the admin.
    pub notices: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum EventError {
    /// No such plugin is running (not configured, or disabled).
    NoPlugin(String),
    /// The plugin is at `max_concurrent`; the sender should retry.
    Busy(String),
    /// The plugin refused or failed, or its sandbox stopped it.
    Failed(String),
}

impl std::fmt::Display for EventError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EventError::NoPlugin(m) | EventError::Busy(m) | EventError::Failed(m) => f.write_str(m),
        }
    }
}

/// How an event is named in the audit trail and the plugin's log lines.
fn label(event: &Event) -> String {
    match event {
        Event::Webhook(w) => format!("webhook {} {} ({} bytes)", w.method, w.path, w.body.len()),
        Event::Schedule(name) => format!("schedule {name}"),
    }
}

fn system(origin: &str) -> Caller {
    Caller {
        user: User {
            id: "system".into(),
            name: format!("[{origin}]"),
            roles: vec![],
        },
        channel: String::new(),
        guild: None,
    }
}

impl Dispatcher {
    /// Deliver `event` to plugin `plugin`'s `on-event` and post what it returns. `origin`
    /// names the trigger (`webhook alertmanager`, `schedule nightly`, `cli`) for the audit
    /// trail. Triggers check their own grants (a webhook's auth, a schedule's approval)
    /// before they call this.
    pub async fn deliver(&self, plugin: &str, event: Event, origin: &str) -> EventOutcome {
        let outcome = self.deliver_unsynced(plugin, event, origin).await;
        self.audit_durable().await;
        outcome
    }

    async fn deliver_unsynced(&self, plugin: &str, event: Event, origin: &str) -> EventOutcome {
        let actor = system(origin);
        let what: String = label(&event).chars().take(200).collect();
        let Some(p) = self.registry().plugins.get(plugin).cloned() else {
            let why = match self.registry().disabled.get(plugin) {
                Some(why) => format!("plugin `{plugin}` is disabled: {why}"),
                None => format!("no plugin `{plugin}` is running"),
            };
            return EventOutcome {
                posted: 0,
                error: Some(EventError::NoPlugin(why)),
                notices: vec![],
            };
        };
        let exit = self.exit_for(&p, &what, Arc::new(NoProgress));
        let started = std::time::Instant::now();
        let audit = |error: Option<&EventError>, posted: usize| {
            if let Some(store) = &self.store {
                let (outcome, detail) = match error {
                    None => ("ok", format!("{posted} post(s)")),
                    Some(EventError::Busy(m)) => ("busy", m.clone()),
                    Some(e) => ("failed", e.to_string()),
                };
                let mut e = entry(&actor, plugin, &what, outcome, detail);
                Ran::of(&p, started).fill(&mut e);
                // Durable before the sender gets its 2xx: `deliver` waits for it.
                match &self.audit {
                    Some(audit) => audit.submit(exit.audit_entry(e)),
                    None => exit.audit(store, e),
                }
            }
        };
        let Some(_slot) = Slot::take(&self.running, &p.name, p.limits.max_concurrent) else {
            let max = p.limits.max_concurrent;
            exit.notice(format!("plugin `{plugin}` hit max_concurrent = {max} while handling {what}; raise it under [plugins.{plugin}.limits] if this is normal load"));
            let error = EventError::Busy(format!(
                "plugin `{plugin}` is busy ({max} running); retry later"
            ));
            audit(Some(&error), 0);
            return EventOutcome {
                posted: 0,
                error: Some(error),
                notices: exit.take_notices(),
            };
        };
        let ctx = self.context(&p, &what, exit.clone());
        let result = self
            .runtime
            .call(&p.compiled, ctx.clone(), Call::Event(event))
            .await;
        let (posts, error) = match result {
            Ok(CallResult::Event(Ok(posts))) => (posts, None),
            Ok(CallResult::Event(Err(
                CommandError::Usage(m) | CommandError::Denied(m) | CommandError::Failed(m),
            ))) => (
                vec![],
                Some(format!("plugin `{plugin}` could not handle {what}: {m}")),
            ),
            Ok(_) => (
                vec![],
                Some(format!(
                    "plugin `{plugin}` answered {what} with the wrong kind of result"
                )),
            ),
            Err(e) => (
                vec![],
                Some(format!("plugin `{plugin}` {e} while handling {what}")),
            ),
        };
        let (mut posted, mut undelivered) = (0, 0);
        for post in posts {
            match chat::post_message(&ctx, &post.channel, &post.message).await {
                Ok(()) => posted += 1,
                // Refused by its grant: the notice tells the admin; a retry would not help.
                Err(crate::model::bindings::chatops::plugin::chat::ChatError::NotGranted(_)) => {}
                Err(e) => {
                    undelivered += 1;
                    exit.log(
                        tracing::Level::WARN,
                        &format!("a post from {what} did not go out: {e:?}"),
                    );
                }
            }
        }
        // Posts the chat did not accept make the event fail, so the sender tries again.
        let error = error.or_else(|| {
            (undelivered > 0).then(|| format!("{undelivered} post(s) from plugin `{plugin}` could not be delivered to the chat; try again"))
        });
        let error = error.map(|m| EventError::Failed(exit.chat(&m, MAX_TEXT_BYTES)));
        audit(error.as_ref(), posted);
        EventOutcome {
            posted,
            error,
            notices: exit.take_notices(),
        }
    }

    /// Audit a trigger's refusal before any plugin ran (a webhook's 401, 404, 429, …).
    /// The detail passes the exit like every audit row.
    pub fn audit_refused(
        &self,
        plugin: &str,
        origin: &str,
        what: &str,
        outcome: &str,
        detail: &str,
    ) {
        if let Some(store) = &self.store {
            // The names come from the URL, so from anyone: keep them short.
            let plugin: String = plugin.chars().take(64).collect();
            let origin: String = origin.chars().take(80).collect();
            let exit = Exit::quiet(&plugin);
            exit.audit(
                store,
                entry(&system(&origin), &plugin, what, outcome, detail.to_string()),
            );
        }
    }
}
