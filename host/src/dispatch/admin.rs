//! `chatops …` in the chat: the administration commands, for admins only. The dispatcher
//! owns the gate (who may, the audit row, ephemeral answers, Confirm/Cancel for an
//! approval); what each command does is the `ChatAdmin` the bot installs
//! (`crate::admin::chat`), since it edits the config and reloads.

use super::confirm::Pending;
use super::{Caller, Dispatcher, Kind, Response, CONFIRM_TTL};
use crate::exit::Exit;
use crate::model::{ArgValue, Argument, Invocation};
use std::time::Instant;

/// The built-in command's name; no plugin may declare it.
pub const ADMIN_COMMAND: &str = "chatops";

/// What an admin command answered.
pub enum AdminAnswer {
    Done(String),
    Failed(String),
    /// The words were wrong; the text says how to write them.
    Usage(String),
    /// Ask the admin first; on Confirm, [`ChatAdmin::confirmed`] gets `action`.
    Confirm {
        question: String,
        action: Vec<String>,
    },
}

#[async_trait::async_trait]
pub trait ChatAdmin: Send + Sync {
    /// `chatops WORDS…` from an admin.
    async fn run(&self, caller: &Caller, words: &[String]) -> AdminAnswer;
    /// The admin confirmed what [`AdminAnswer::Confirm`] asked.
    async fn confirmed(&self, caller: &Caller, action: &[String]) -> AdminAnswer;
}

impl Dispatcher {
    /// Install what `chatops …` does (the bot does, when it runs from a config file).
    pub fn set_admin(&self, admin: std::sync::Arc<dyn ChatAdmin>) {
        *super::write(&self.admin) = Some(admin);
    }

    pub(super) async fn admin_command(
        &self,
        caller: &Caller,
        shown: &str,
        words: Vec<String>,
    ) -> Response {
        let line = std::iter::once(ADMIN_COMMAND.to_string())
            .chain(words.iter().cloned())
            .collect::<Vec<_>>()
            .join(" ");
        let exit = self.admin_exit();
        let answer = |kind: Kind, text: String| {
            let mut r = Response::new(kind, text);
            r.ephemeral = true;
            r
        };
        if !self.is_admin(caller) {
            let r = answer(
                Kind::Denied,
                format!("`{shown}{ADMIN_COMMAND}` is for admins ([host] admins in the config). Nothing changed."),
            );
            return self.finish(caller, ADMIN_COMMAND, &line, &exit, r, true, None);
        }
        let admin = super::read(&self.admin).clone();
        let Some(admin) = admin else {
            let r = answer(
                Kind::Failed,
                format!("`{shown}{ADMIN_COMMAND}` needs a host started from a config file (`chatops run --config chatops.toml`); this one runs plugins given on the command line."),
            );
            return self.finish(caller, ADMIN_COMMAND, &line, &exit, r, false, None);
        };
        let r = match admin.run(caller, &words).await {
            AdminAnswer::Confirm { question, action } => {
                let invocation = Invocation {
                    id: self.next_id(),
                    command: ADMIN_COMMAND.to_string(),
                    subcommand: vec![],
                    args: action
                        .into_iter()
                        .map(|w| Argument {
                            name: "word".into(),
                            value: ArgValue::String(w),
                        })
                        .collect(),
                    user: caller.user.clone(),
                    channel: caller.channel.clone(),
                    guild: caller.guild.clone(),
                };
                let token = invocation.id.clone();
                self.pend(
                    token.clone(),
                    Pending {
                        user_id: caller.user.id.clone(),
                        plugin: ADMIN_COMMAND.to_string(),
                        digest: String::new(),
                        invocation,
                        line: line.clone(),
                        shown: shown.to_string(),
                        expires: Instant::now() + CONFIRM_TTL,
                    },
                )
                .await;
                let r = answer(
                    Kind::Confirm { token },
                    format!(
                        "{question}\nConfirm to go ahead (only {} can).",
                        caller.user.name
                    ),
                );
                return self.finish(caller, ADMIN_COMMAND, &line, &exit, r, false, None);
            }
            other => self.admin_response(other),
        };
        self.finish(caller, ADMIN_COMMAND, &line, &exit, r, true, None)
    }

    /// The admin pressed Confirm on an approval: still an admin, then do it, audited.
    pub(super) async fn admin_confirmed(&self, caller: &Caller, p: Pending) -> Response {
        let exit = self.admin_exit();
        let admin = super::read(&self.admin).clone();
        let r = match admin {
            _ if !self.is_admin(caller) => Response::new(
                Kind::Denied,
                format!("You are no longer an admin; `{}` did not run.", p.line),
            ),
            None => Response::new(Kind::Failed, "admin commands are off in this host"),
            Some(admin) => {
                let action: Vec<String> = p
                    .invocation
                    .args
                    .iter()
                    .map(|a| a.value.to_string())
                    .collect();
                self.admin_response(admin.confirmed(caller, &action).await)
            }
        };
        let mut r = r;
        r.ephemeral = true;
        self.finish(caller, ADMIN_COMMAND, &p.line, &exit, r, true, None)
    }

    /// Admin answers leave through an exit that knows every secret granted to any plugin:
    /// an admin may paste one where a setting goes, and it is not echoed back.
    fn admin_exit(&self) -> Exit {
        let names: Vec<String> = self
            .plugins()
            .iter()
            .flat_map(|p| p.grants.secrets.iter().cloned())
            .collect();
        let redactor = super::read(&self.secrets).redactor(&names);
        Exit::new(
            ADMIN_COMMAND,
            "",
            redactor,
            std::sync::Arc::new(crate::exit::NoProgress),
            None,
        )
    }

    fn admin_response(&self, a: AdminAnswer) -> Response {
        let mut r = match a {
            AdminAnswer::Done(t) => Response::new(Kind::Reply, t),
            AdminAnswer::Failed(t) => Response::new(Kind::Failed, t),
            AdminAnswer::Usage(t) => Response::new(Kind::Usage, t),
            AdminAnswer::Confirm { question, .. } => Response::new(Kind::Failed, question),
        };
        r.ephemeral = true;
        r
    }
}
