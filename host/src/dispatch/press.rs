//! Contract 0.2's interactive parts, routed like commands: a rich answer checked against
//! Discord's limits before it leaves; a button press or menu choice run as the command its
//! action names (the same access rules, cooldown, concurrency limit, exit and audit); and
//! autocomplete, answered within a tight time limit.

use super::invoke::{Ran, Slot};
use super::{Caller, Dispatcher, Kind, LoadedPlugin, Response};
use crate::capabilities::ProgressSink;
use crate::model::{
    Argument, AutocompleteRequest, CommandError, Component, ComponentPress, Invocation,
    OptionChoice, PressResult,
};
use crate::render::{self, Rich};
use crate::runtime::{Call, CallResult};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long autocomplete may take: Discord drops an answer after 3 seconds.
pub const AUTOCOMPLETE_LIMIT: Duration = Duration::from_millis(2000);
/// Choices shown while typing.
pub const MAX_AUTOCOMPLETE_CHOICES: usize = 25;

/// `incident ack` → ("incident", ["ack"]).
fn split_path(path: &str) -> (String, Vec<String>) {
    let mut words = path.split_whitespace().map(str::to_string);
    let name = words.next().unwrap_or_default();
    (name, words.collect())
}

impl Dispatcher {
    /// A plugin's answer with its rich parts, refused (naming the limit) when Discord
    /// would refuse it or a component acts as something that is not the plugin's command.
    pub(super) fn rich_response(
        &self,
        plugin: &LoadedPlugin,
        command: &str,
        text: String,
        rich: Rich,
    ) -> Response {
        let refuse = |why: String| {
            Response::new(
                Kind::Failed,
                format!(
                    "`{command}` (plugin `{}`) answered with a message that cannot be shown: {why}. Fix the plugin.",
                    plugin.name
                ),
            )
        };
        if let Err(why) = render::check(&rich) {
            return refuse(why);
        }
        let mut acts = false;
        for c in rich.components.iter().flatten() {
            let action = match c {
                Component::Button(b) => &b.action,
                Component::Select(s) => &s.action,
                Component::Link(_) => continue,
            };
            acts = true;
            let (name, path) = split_path(&action.command);
            let known = plugin
                .info()
                .commands
                .iter()
                .find(|c| c.name == name)
                .and_then(|c| c.sub(&path))
                .is_some();
            if !known {
                return refuse(format!(
                    "the component `{}` acts as `{}`, which is not a command of this plugin",
                    action.custom_id, action.command
                ));
            }
            if let Err(why) =
                render::encode_custom_id(&action.command, action.confirm, &action.custom_id)
            {
                return refuse(why);
            }
        }
        if acts && !plugin.compiled.answers_components() {
            return refuse(
                "it has buttons but does not export `chatops:plugin/components` (on-component)"
                    .into(),
            );
        }
        let mut r = Response::new(Kind::Reply, text);
        r.rich = rich;
        r
    }

    /// A button pressed or a menu chosen: `custom_id` as the host encoded it
    /// ([`render::encode_custom_id`]), on message `message_id` showing `message_text`.
    #[allow(clippy::too_many_arguments)]
    pub async fn press(
        &self,
        caller: &Caller,
        custom_id: &str,
        values: Vec<String>,
        message_id: &str,
        message_text: &str,
        progress: Arc<dyn ProgressSink>,
    ) -> Response {
        let r = self
            .press_unsynced(
                caller,
                custom_id,
                values,
                message_id,
                message_text,
                progress,
            )
            .await;
        // Its audit row is on disk before the answer leaves, as for a typed command.
        self.audit_durable().await;
        r
    }

    #[allow(clippy::too_many_arguments)]
    async fn press_unsynced(
        &self,
        caller: &Caller,
        custom_id: &str,
        values: Vec<String>,
        message_id: &str,
        message_text: &str,
        progress: Arc<dyn ProgressSink>,
    ) -> Response {
        let Some((path, confirm, custom)) = render::decode_custom_id(custom_id) else {
            return self.answer(Response::new(
                Kind::Failed,
                "This button was not made by this host; nothing ran.",
            ));
        };
        let (name, sub) = split_path(&path);
        let line = format!("{path} (pressed {custom})");
        let Some((plugin, cmd)) = self.registry().command(&name) else {
            return self.answer(Response::new(
                Kind::Failed,
                format!(
                    "The command behind this button, `{path}`, is no longer loaded; nothing ran."
                ),
            ));
        };
        let Some(cmd) = cmd.sub(&sub) else {
            return self.answer(Response::new(
                Kind::Failed,
                format!(
                    "`{path}` is no longer a command of plugin `{}`; nothing ran.",
                    plugin.name
                ),
            ));
        };
        let invocation = Invocation {
            id: self.next_id(),
            command: name.clone(),
            subcommand: sub.clone(),
            args: vec![],
            user: caller.user.clone(),
            channel: caller.channel.clone(),
            guild: caller.guild.clone(),
        };
        if let Err(why) = self.may_invoke(caller, &plugin, &invocation) {
            let r = Response::new(
                Kind::Denied,
                format!("You may not press this (`{path}`): {why}."),
            );
            return self.refuse(caller, &plugin, &line, r);
        }
        if confirm || cmd.confirm {
            // Pressing a dangerous button asks first, like the command; the confirmation
            // runs the press (see `confirm.rs`).
            return self
                .ask_press(
                    caller,
                    &plugin,
                    invocation,
                    &line,
                    &custom,
                    values,
                    message_id,
                    message_text,
                )
                .await;
        }
        let press = ComponentPress {
            id: invocation.id.clone(),
            custom_id: custom,
            command: name,
            subcommand: sub,
            values,
            user: caller.user.clone(),
            channel: caller.channel.clone(),
            guild: caller.guild.clone(),
            message_id: message_id.to_string(),
            message_text: message_text.to_string(),
        };
        self.run_press(caller, plugin, press, &line, progress).await
    }

    /// Run a press that may run now (access checked, confirmed if it had to be).
    pub(super) async fn run_press(
        &self,
        caller: &Caller,
        plugin: Arc<LoadedPlugin>,
        press: ComponentPress,
        line: &str,
        progress: Arc<dyn ProgressSink>,
    ) -> Response {
        let command = press.command.clone();
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
            let text = format!(
                "`{command}` is busy: plugin `{}` is already running {} command(s). Try again in a moment.",
                plugin.name, plugin.limits.max_concurrent
            );
            let r = Response::new(Kind::Failed, text);
            return self.finish(caller, &plugin.name, line, &exit, r, true, None);
        };
        let ctx = self.context(&plugin, &command, exit.clone());
        let started = Instant::now();
        let result = self
            .runtime
            .call(&plugin.compiled, ctx, Call::Component(press))
            .await;
        let response = match result {
            Ok(CallResult::Component(Ok(PressResult::Edit(m)))) => {
                let mut r =
                    self.rich_response(&plugin, &command, m.text.clone(), Rich::of_message(&m));
                r.edit = r.kind == Kind::Reply;
                r
            }
            Ok(CallResult::Component(Ok(PressResult::Reply(reply)))) => {
                let mut r = self.rich_response(
                    &plugin,
                    &command,
                    reply.text.clone(),
                    Rich {
                        embeds: reply.embeds,
                        attachments: reply.attachments,
                        components: reply.components,
                    },
                );
                r.ephemeral |= reply.ephemeral;
                r
            }
            Ok(CallResult::Component(Err(e))) => match e {
                CommandError::Usage(m) | CommandError::Failed(m) => {
                    Response::new(Kind::Failed, format!("`{line}` failed: {m}"))
                }
                CommandError::Denied(m) => {
                    Response::new(Kind::Denied, format!("`{line}` refused: {m}"))
                }
            },
            Ok(_) => Response::new(
                Kind::Failed,
                format!("`{line}` failed: the plugin answered with the wrong kind of result"),
            ),
            Err(e) => Response::new(
                Kind::Failed,
                format!("`{line}` (plugin `{}`) {e}.", plugin.name),
            ),
        };
        let ran = Ran::of(&plugin, started);
        self.finish(caller, &plugin.name, line, &exit, response, true, Some(ran))
    }

    /// Complete `option` of `command` (`incident open`) from `partial`, for `caller`: at
    /// most 25 choices, within [`AUTOCOMPLETE_LIMIT`]; none when the caller may not run
    /// the command, the plugin does not complete, or it fails or is too slow.
    pub async fn complete(
        &self,
        caller: &Caller,
        command: &str,
        option: &str,
        partial: &str,
        args: Vec<Argument>,
    ) -> Vec<OptionChoice> {
        let (name, sub) = split_path(command);
        let Some((plugin, cmd)) = self.registry().command(&name) else {
            return vec![];
        };
        let completes = cmd
            .sub(&sub)
            .is_some_and(|c| c.options.iter().any(|o| o.name == option && o.autocomplete));
        if !completes || !plugin.compiled.completes() {
            return vec![];
        }
        let invocation = Invocation {
            id: self.next_id(),
            command: name.clone(),
            subcommand: sub.clone(),
            args: args.clone(),
            user: caller.user.clone(),
            channel: caller.channel.clone(),
            guild: caller.guild.clone(),
        };
        if self.may_invoke(caller, &plugin, &invocation).is_err() {
            return vec![];
        }
        let exit = self.exit_for(&plugin, &name, Arc::new(crate::exit::NoProgress));
        let mut ctx = self.context(&plugin, &name, exit.clone());
        ctx.limits.wall_ms = ctx
            .limits
            .wall_ms
            .min(AUTOCOMPLETE_LIMIT.as_millis() as u64);
        let request = AutocompleteRequest {
            command: name,
            subcommand: sub,
            option_name: option.to_string(),
            partial: partial.to_string(),
            args,
            user: caller.user.clone(),
            channel: caller.channel.clone(),
            guild: caller.guild.clone(),
        };
        let choices = match self
            .runtime
            .call(&plugin.compiled, ctx, Call::Autocomplete(request))
            .await
        {
            Ok(CallResult::Autocomplete(c)) => c,
            Ok(_) => vec![],
            Err(e) => {
                exit.notice(format!(
                    "plugin `{}` did not complete `{option}` of `{command}`: {e}",
                    plugin.name
                ));
                vec![]
            }
        };
        let cut = |s: &str| -> String {
            let s = exit.chat(s, 400);
            s.chars().take(100).collect()
        };
        choices
            .into_iter()
            .filter(|c| !c.name.trim().is_empty() && !c.value.is_empty())
            .take(MAX_AUTOCOMPLETE_CHOICES)
            .map(|c| OptionChoice {
                name: cut(&c.name),
                value: cut(&c.value),
            })
            .collect()
    }
}

/// The argument name under which a pending press keeps what was pressed (no option can be
/// named so: option names are `a-z0-9_-`).
pub(super) const PRESS_ARG: &str = "\u{1}press";

impl Dispatcher {
    /// Ask the pressing user to confirm a dangerous press; the answer runs it
    /// ([`Dispatcher::confirmed_press`]).
    #[allow(clippy::too_many_arguments)]
    async fn ask_press(
        &self,
        caller: &Caller,
        plugin: &Arc<LoadedPlugin>,
        mut invocation: Invocation,
        line: &str,
        custom: &str,
        values: Vec<String>,
        message_id: &str,
        message_text: &str,
    ) -> Response {
        let body = serde_json::json!({
            "custom": custom, "values": values,
            "message_id": message_id, "message_text": message_text,
        });
        invocation.args = vec![Argument {
            name: PRESS_ARG.into(),
            value: crate::model::ArgValue::String(body.to_string()),
        }];
        let token = invocation.id.clone();
        self.pend(
            token.clone(),
            super::confirm::Pending {
                user_id: caller.user.id.clone(),
                plugin: plugin.name.clone(),
                digest: plugin.compiled.digest.clone(),
                invocation,
                line: line.to_string(),
                shown: String::new(),
                expires: Instant::now() + super::CONFIRM_TTL,
            },
        )
        .await;
        let text = format!(
            "`{line}` is marked dangerous. Confirm to run it (only {} can).",
            caller.user.name
        );
        let exit = self.exit_for(plugin, line, Arc::new(crate::exit::NoProgress));
        let r = Response::new(Kind::Confirm { token }, text);
        self.finish(caller, &plugin.name, line, &exit, r, false, None)
    }

    /// A confirmed press (`None` if the pending entry is not a press).
    pub(super) async fn confirmed_press(
        &self,
        caller: &Caller,
        plugin: Arc<LoadedPlugin>,
        invocation: &Invocation,
        line: &str,
        progress: Arc<dyn ProgressSink>,
    ) -> Option<Response> {
        let [arg] = invocation.args.as_slice() else {
            return None;
        };
        if arg.name != PRESS_ARG {
            return None;
        }
        let v: serde_json::Value = serde_json::from_str(&arg.value.to_string()).ok()?;
        let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
        let press = ComponentPress {
            id: invocation.id.clone(),
            custom_id: s("custom"),
            command: invocation.command.clone(),
            subcommand: invocation.subcommand.clone(),
            values: v["values"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
            user: caller.user.clone(),
            channel: caller.channel.clone(),
            guild: caller.guild.clone(),
            message_id: s("message_id"),
            message_text: s("message_text"),
        };
        let check = Invocation {
            args: vec![],
            ..invocation.clone()
        };
        if let Err(why) = self.may_invoke(caller, &plugin, &check) {
            let r = Response::new(
                Kind::Denied,
                format!("You may no longer press this: {why}. Nothing ran."),
            );
            return Some(self.refuse(caller, &plugin, line, r));
        }
        Some(self.run_press(caller, plugin, press, line, progress).await)
    }
}
