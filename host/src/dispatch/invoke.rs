//! One command in a sandbox, and every answer's way out. [`Dispatcher::finish`] is where a
//! response leaves the dispatcher: its text and notices pass the call's exit (redacted,
//! cut) and its audit row is written from what the exit let through.

use super::{lock, read, Caller, Dispatcher, Kind, LoadedPlugin, Response};
use crate::capabilities::{CallContext, ProgressSink};
use crate::exit::{Exit, MAX_TEXT_BYTES};
use crate::model::{Command, CommandError, Invocation};
use crate::runtime::{Call, CallResult, RunError};
use crate::store::AuditEntry;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tracing::Instrument;

impl Dispatcher {
    /// The way out for one call of `plugin`: it redacts every secret granted to it.
    pub(super) fn exit_for(
        &self,
        plugin: &LoadedPlugin,
        command: &str,
        progress: Arc<dyn ProgressSink>,
    ) -> Arc<Exit> {
        let redactor = read(&self.secrets).redactor(&plugin.grants.secrets);
        Arc::new(Exit::new(
            &plugin.name,
            command,
            redactor,
            progress,
            read(&self.poster).clone(),
        ))
    }

    pub(super) fn context(
        &self,
        plugin: &LoadedPlugin,
        command: &str,
        exit: Arc<Exit>,
    ) -> CallContext {
        CallContext {
            plugin: plugin.name.clone(),
            command: command.to_string(),
            grants: plugin.grants.clone(),
            limits: plugin.limits.clone(),
            secrets: read(&self.secrets).clone(),
            store: self.store.clone(),
            settings: plugin.settings.clone(),
            exit,
        }
    }

    pub(super) async fn run(
        &self,
        shown: &str,
        caller: &Caller,
        plugin: Arc<LoadedPlugin>,
        invocation: Invocation,
        line: &str,
        progress: Arc<dyn ProgressSink>,
    ) -> Response {
        self.run_call(shown, caller, plugin, invocation, line, progress, false)
            .await
    }

    /// Run `invocation`; with `ask_first`, for a plugin that decides per invocation whether
    /// it needs confirming, one sandbox asks and, if nothing is asked, runs (otherwise the
    /// question is put to the user and nothing ran).
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn run_call(
        &self,
        shown: &str,
        caller: &Caller,
        plugin: Arc<LoadedPlugin>,
        invocation: Invocation,
        line: &str,
        progress: Arc<dyn ProgressSink>,
        ask_first: bool,
    ) -> Response {
        let command = invocation.command.clone();
        let exit = self.exit_for(&plugin, &command, progress);
        if let Err(why) = self
            .cooldowns
            .check(self.store.as_deref(), caller, &plugin, &command, true)
            .await
        {
            let r = Response::new(why.kind, format!("{}. Nothing ran.", why.text));
            return self.finish(caller, &plugin.name, line, &exit, r, true, None);
        }
        let Some(_slot) = Slot::take(&self.running, &plugin.name, plugin.limits.max_concurrent)
        else {
            let max = plugin.limits.max_concurrent;
            exit.notice(format!("plugin `{}` hit max_concurrent = {max}; raise it under [plugins.{}.limits] if this is normal load", plugin.name, plugin.name));
            let text = format!("`{command}` is busy: plugin `{}` is already running {max} command(s). Try again in a moment.", plugin.name);
            return self.finish(
                caller,
                &plugin.name,
                line,
                &exit,
                Response::new(Kind::Failed, text),
                true,
                None,
            );
        };
        let span = tracing::info_span!("command", plugin = %plugin.name, command = %command, user = %caller.user.name, id = %invocation.id);
        let ctx = self.context(&plugin, &command, exit.clone());
        let started = Instant::now();
        let (call, asked) = if ask_first {
            (Call::AskThenRun(invocation.clone()), Some(invocation))
        } else {
            (Call::Run(invocation), None)
        };
        let result = self
            .runtime
            .call(&plugin.compiled, ctx, call)
            .instrument(span.clone())
            .await;
        span.in_scope(|| tracing::info!(elapsed_ms = started.elapsed().as_millis() as u64, "ran"));
        // Asked first, the plugin wants a confirmation: nothing ran; ask the user.
        let result = match (result, asked) {
            (Ok(CallResult::NeedsConfirmation(Some(question))), Some(invocation)) => {
                drop(_slot);
                let question = question_or_default(&question, line);
                return self
                    .ask_to_confirm(shown, caller, &plugin, invocation, line, question)
                    .await;
            }
            (result, _) => result,
        };
        let response = match result {
            Ok(CallResult::Run(Ok(reply))) => {
                let rich = crate::render::Rich {
                    embeds: reply.embeds,
                    attachments: reply.attachments,
                    components: reply.components,
                };
                let mut r = self.rich_response(&plugin, &command, reply.text, rich);
                r.ephemeral |= reply.ephemeral;
                r
            }
            Ok(CallResult::Run(Err(CommandError::Usage(m)))) => {
                let cmd = plugin
                    .info()
                    .commands
                    .iter()
                    .find(|c| c.name == command)
                    .cloned()
                    .unwrap_or_else(|| Command {
                        name: command.clone(),
                        description: String::new(),
                        options: vec![],
                        subcommands: vec![],
                        groups: vec![],
                        confirm: false,
                    });
                self.usage_error_as(shown, &cmd, &m)
            }
            Ok(CallResult::Run(Err(CommandError::Denied(m)))) => {
                Response::new(Kind::Denied, format!("`{command}` refused: {m}"))
            }
            Ok(CallResult::Run(Err(CommandError::Failed(m)))) => {
                Response::new(Kind::Failed, format!("`{command}` failed: {m}"))
            }
            Ok(_) => Response::new(
                Kind::Failed,
                format!("`{command}` failed: the plugin answered with the wrong kind of result"),
            ),
            Err(RunError::Asking(e)) => Response::new(
                Kind::Failed,
                format!(
                    "`{command}` did not run: plugin `{}`, asked whether it needs confirming, {e}.",
                    plugin.name
                ),
            ),
            Err(e) => Response::new(
                Kind::Failed,
                format!("`{command}` (plugin `{}`) {e}.", plugin.name),
            ),
        };
        let ran = Ran::of(&plugin, started);
        self.finish(caller, &plugin.name, line, &exit, response, true, Some(ran))
    }

    /// Ask a plugin that exports `confirmation` whether this invocation needs confirming
    /// (`Ok(Some(question))`), in a sandbox of its own under the plugin's limits. A plugin
    /// that fails to answer does not run: the error is the answer, audited.
    pub(super) async fn ask_confirmation(
        &self,
        caller: &Caller,
        plugin: &Arc<LoadedPlugin>,
        invocation: &Invocation,
        line: &str,
    ) -> Result<Option<String>, Response> {
        let command = invocation.command.clone();
        let exit = self.exit_for(plugin, &command, Arc::new(crate::exit::NoProgress));
        let ctx = self.context(plugin, &command, exit.clone());
        let started = Instant::now();
        let result = self
            .runtime
            .call(
                &plugin.compiled,
                ctx,
                Call::NeedsConfirmation(invocation.clone()),
            )
            .await;
        let text = match result {
            Ok(CallResult::NeedsConfirmation(question)) => {
                return Ok(question.map(|q| question_or_default(&q, line)))
            }
            Ok(_) => format!(
                "`{command}` did not run: plugin `{}` answered whether it needs confirming with the wrong kind of result",
                plugin.name
            ),
            Err(e) => format!(
                "`{command}` did not run: plugin `{}`, asked whether it needs confirming, {e}.",
                plugin.name
            ),
        };
        let ran = Ran::of(plugin, started);
        let r = Response::new(Kind::Failed, text);
        Err(self.finish(caller, &plugin.name, line, &exit, r, true, Some(ran)))
    }

    /// The one way a response leaves: text redacted and cut, notices gathered, audit row
    /// written (when `audit`) from the redacted text.
    pub(super) fn finish(
        &self,
        caller: &Caller,
        plugin: &str,
        line: &str,
        exit: &Exit,
        mut r: Response,
        audit: bool,
        ran: Option<Ran>,
    ) -> Response {
        let (text, hit) = exit.chat_checked(&r.text, MAX_TEXT_BYTES);
        r.text = text;
        if hit && r.kind == Kind::Reply {
            r.text
                .push_str("\n(a secret value was redacted from this reply)");
        }
        if crate::render::redact(exit, &mut r.rich) && r.kind == Kind::Reply {
            r.text
                .push_str("\n(a secret value was redacted from this reply)");
        }
        r.notices.extend(exit.take_notices());
        if audit {
            if let Some(store) = &self.store {
                let outcome = match r.kind {
                    Kind::Reply => "ok",
                    Kind::Usage => "usage",
                    Kind::Denied => "denied",
                    Kind::Cancelled => "cancelled",
                    _ => "failed",
                };
                let detail = if r.kind == Kind::Reply {
                    String::new()
                } else {
                    r.text.clone()
                };
                let mut e = entry(caller, plugin, line, outcome, detail);
                if let Some(ran) = &ran {
                    ran.fill(&mut e);
                }
                // Durable before the answer leaves: `dispatch` and `confirm` wait for it.
                match &self.audit {
                    Some(audit) => audit.submit(exit.audit_entry(e)),
                    None => exit.audit(store, e),
                }
            }
        }
        r
    }

    /// An answer that names no plugin (help, unknown command, a press of a stale button).
    pub(super) fn answer(&self, r: Response) -> Response {
        let caller = Caller {
            user: crate::model::User {
                id: String::new(),
                name: String::new(),
                roles: vec![],
            },
            channel: String::new(),
            guild: None,
        };
        self.finish(&caller, "", "", &Exit::quiet(""), r, false, None)
    }

    /// An answer about `plugin` where nothing ran (denied, cancelled), audited.
    pub(super) fn refuse(
        &self,
        caller: &Caller,
        plugin: &LoadedPlugin,
        line: &str,
        r: Response,
    ) -> Response {
        let exit = self.exit_for(
            plugin,
            line.split(' ').next().unwrap_or(""),
            Arc::new(crate::exit::NoProgress),
        );
        self.finish(caller, &plugin.name, line, &exit, r, true, None)
    }

    /// An answer about a plugin that is no longer loaded, audited.
    pub(super) fn audit_only(
        &self,
        caller: &Caller,
        plugin: &str,
        line: &str,
        r: Response,
    ) -> Response {
        self.finish(caller, plugin, line, &Exit::quiet(plugin), r, true, None)
    }
}

/// A plugin's confirmation question, or ours if it gave an empty one.
fn question_or_default(question: &str, line: &str) -> String {
    let q = question.trim();
    if q.is_empty() {
        format!("`{line}` asks to be confirmed.")
    } else {
        q.to_string()
    }
}

pub(super) fn entry(
    caller: &Caller,
    plugin: &str,
    line: &str,
    outcome: &str,
    detail: String,
) -> AuditEntry {
    let now = std::time::SystemTime::now();
    AuditEntry {
        at: humantime::format_rfc3339_seconds(now).to_string(),
        unix_ms: now
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0),
        guild: caller.guild.clone().unwrap_or_default(),
        actor: format!("{} ({})", caller.user.name, caller.user.id),
        channel: caller.channel.clone(),
        plugin: plugin.to_string(),
        command: line.split_whitespace().next().unwrap_or("").to_string(),
        args: line.to_string(),
        outcome: outcome.to_string(),
        detail,
        ..AuditEntry::default()
    }
}

/// What the audit row records of a plugin that ran.
pub(super) struct Ran {
    pub version: String,
    pub digest: String,
    pub duration: std::time::Duration,
}

impl Ran {
    pub(super) fn of(plugin: &LoadedPlugin, started: Instant) -> Ran {
        Ran {
            version: plugin.info().version.clone(),
            digest: plugin.compiled.digest.clone(),
            duration: started.elapsed(),
        }
    }

    pub(super) fn fill(&self, e: &mut AuditEntry) {
        e.version = self.version.clone();
        e.digest = self.digest.clone();
        e.duration_ms = self.duration.as_millis() as i64;
    }
}

/// A running command's place in its plugin's `max_concurrent`, given back on drop.
pub(super) struct Slot {
    running: Arc<Mutex<HashMap<String, u32>>>,
    plugin: String,
}

impl Slot {
    pub(super) fn take(
        running: &Arc<Mutex<HashMap<String, u32>>>,
        plugin: &str,
        max: u32,
    ) -> Option<Slot> {
        let mut map = lock(running);
        let n = map.entry(plugin.to_string()).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(Slot {
            running: running.clone(),
            plugin: plugin.to_string(),
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(n) = lock(&self.running).get_mut(&self.plugin) {
            *n = n.saturating_sub(1);
        }
    }
}
