//! Who may run what: every permission check in one place, failing closed. Admins may run
//! everything; otherwise a plugin's `access` lists users, roles and channels, its `rules`
//! narrow that per command and per argument value, and its `cooldowns` space out runs.

use super::{Caller, LoadedPlugin};
use crate::config::{Access, Cooldown, Rule};
use crate::model::{Command, Invocation, PluginInfo};
use crate::store::{now_ms, CooldownKey, Store, StoreError};
use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::Duration;

pub fn is_admin(admins: &Access, caller: &Caller) -> bool {
    admins.users.contains(&caller.user.id)
        || caller.user.roles.iter().any(|r| admins.roles.contains(r))
}

/// Whether `caller` may run `plugin`'s commands here; the error says who may.
pub fn may_run(admins: &Access, caller: &Caller, plugin: &LoadedPlugin) -> Result<(), String> {
    if is_admin(admins, caller) {
        return Ok(());
    }
    let a = &plugin.access;
    if !a.channels.is_empty() && !a.channels.contains(&caller.channel) {
        return Err(format!(
            "`{}` commands can only be run in these channels: {}",
            plugin.name,
            a.channels.join(", ")
        ));
    }
    let restricted = !a.users.is_empty() || !a.roles.is_empty();
    let allowed =
        a.users.contains(&caller.user.id) || caller.user.roles.iter().any(|r| a.roles.contains(r));
    if restricted && !allowed {
        let mut who = Vec::new();
        if !a.roles.is_empty() {
            who.push(format!("roles {}", a.roles.join(", ")));
        }
        if !a.users.is_empty() {
            who.push(format!("{} named user(s)", a.users.len()));
        }
        return Err(format!(
            "`{}` commands are limited to {}. Ask an admin for access",
            plugin.name,
            who.join(" and ")
        ));
    }
    Ok(())
}

/// Whether `caller` may run this invocation: the plugin's access, then every rule that
/// applies to the command and its arguments. The error names the rule that refused.
pub fn may_invoke(
    admins: &Access,
    caller: &Caller,
    plugin: &LoadedPlugin,
    invocation: &Invocation,
) -> Result<(), String> {
    may_run(admins, caller, plugin)?;
    if is_admin(admins, caller) {
        return Ok(());
    }
    for (i, rule) in plugin.policy.rules.iter().enumerate() {
        if applies(rule, &invocation.command, Some(invocation)) {
            allows(rule, i, caller, &plugin.name, &invocation.command)?;
        }
    }
    Ok(())
}

/// The commands of `plugin` that `caller` may run in some form: those no argument-free
/// rule refuses (what `help` shows).
pub fn visible_commands(
    admins: &Access,
    caller: &Caller,
    plugin: &LoadedPlugin,
) -> Option<Vec<Command>> {
    may_run(admins, caller, plugin).ok()?;
    let admin = is_admin(admins, caller);
    let commands: Vec<Command> = plugin
        .info()
        .commands
        .iter()
        .filter(|c| {
            admin
                || plugin.policy.rules.iter().enumerate().all(|(i, rule)| {
                    !rule.when.is_empty()
                        || !applies(rule, &c.name, None)
                        || allows(rule, i, caller, &plugin.name, &c.name).is_ok()
                })
        })
        .cloned()
        .collect();
    (!commands.is_empty()).then_some(commands)
}

/// Whether `rule` covers `command`; with an invocation, also whether its argument values
/// match every `when` condition (compared as typed, ignoring case and surrounding spaces).
/// Without one, only rules with no conditions apply.
fn applies(rule: &Rule, command: &str, invocation: Option<&Invocation>) -> bool {
    if rule.command.as_deref().is_some_and(|c| c != command) {
        return false;
    }
    rule.when.iter().all(|(option, value)| {
        let Some(inv) = invocation else { return false };
        let Some(arg) = inv.args.iter().find(|a| a.name == *option) else {
            return false;
        };
        let given = arg.value.to_string();
        Rule::accepted(value)
            .iter()
            .any(|v| v.trim().eq_ignore_ascii_case(given.trim()))
    })
}

fn allows(
    rule: &Rule,
    index: usize,
    caller: &Caller,
    plugin: &str,
    command: &str,
) -> Result<(), String> {
    let what = if rule.when.is_empty() {
        format!("`{command}`")
    } else {
        let conditions: Vec<String> = rule
            .when
            .iter()
            .map(|(o, v)| format!("{o} = {}", Rule::accepted(v).join(" or ")))
            .collect();
        format!("`{command}` with {}", conditions.join(", "))
    };
    let name = format!("rule {} of plugin `{plugin}`", rule.label(index));
    if !rule.channels.is_empty() && !rule.channels.contains(&caller.channel) {
        return Err(format!(
            "{name} allows {what} only in channels {}",
            rule.channels.join(", ")
        ));
    }
    let restricted = !rule.users.is_empty() || !rule.roles.is_empty();
    let allowed = rule.users.contains(&caller.user.id)
        || caller.user.roles.iter().any(|r| rule.roles.contains(r));
    if restricted && !allowed {
        let mut who = Vec::new();
        if !rule.roles.is_empty() {
            who.push(format!("roles {}", rule.roles.join(", ")));
        }
        if !rule.users.is_empty() {
            who.push(format!("{} named user(s)", rule.users.len()));
        }
        return Err(format!(
            "{name} allows {what} only to {}. Ask an admin for access",
            who.join(" and ")
        ));
    }
    Ok(())
}

/// A plugin's rules and cooldowns, checked against what it describes when it loads: a rule
/// or cooldown naming a command or option the plugin does not have disables the plugin
/// (failing closed), rather than protecting nothing.
#[derive(Debug, Default)]
pub struct Policy {
    pub rules: Vec<Rule>,
    pub cooldowns: BTreeMap<String, Cooldown>,
}

impl Policy {
    pub fn new(
        rules: &[Rule],
        cooldowns: &BTreeMap<String, Cooldown>,
        info: &PluginInfo,
    ) -> Result<Policy, String> {
        let command = |name: &str| info.commands.iter().find(|c| c.name == name);
        let known = || {
            info.commands
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        for (i, rule) in rules.iter().enumerate() {
            let covered: Vec<&Command> = match &rule.command {
                Some(name) => match command(name) {
                    Some(c) => vec![c],
                    None => {
                        return Err(format!(
                            "rule {} names command `{name}`, which the plugin does not have (it has: {}). Fix the rule's `command`",
                            rule.label(i),
                            known()
                        ))
                    }
                },
                None => info.commands.iter().collect(),
            };
            for option in rule.when.keys() {
                if !covered
                    .iter()
                    .any(|c| c.options.iter().any(|o| o.name == *option))
                {
                    return Err(format!(
                        "rule {} has a condition on `{option}`, an option no command it covers has. Fix its `when`",
                        rule.label(i)
                    ));
                }
            }
        }
        for name in cooldowns.keys() {
            if command(name).is_none() {
                return Err(format!(
                    "cooldowns name command `{name}`, which the plugin does not have (it has: {}). Fix [plugins.{}.cooldowns.{name}]",
                    known(),
                    info.name
                ));
            }
        }
        Ok(Policy {
            rules: rules.to_vec(),
            cooldowns: cooldowns.clone(),
        })
    }
}

/// Why a cooldown check refused: the kind of answer and what to say.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    /// `Denied` while cooling down; `Failed` when the store could not be asked.
    pub kind: super::Kind,
    pub text: String,
}

/// Cooldowns, kept in the store: every host process on one database enforces one cooldown
/// per (plugin, command, user or channel). A command without a cooldown never touches the
/// store.
#[derive(Default)]
pub struct Cooldowns {
    /// For a dispatcher without a store: one in memory, made when first needed.
    own: OnceLock<Option<Store>>,
}

impl Cooldowns {
    /// Refuse if `command` ran too recently for this user or channel, saying how long to
    /// wait; otherwise, when `take`, count this run (without, a peek that counts nothing).
    /// If the store cannot be asked, refuse (fail closed) and log why.
    pub async fn check(
        &self,
        store: Option<&Store>,
        caller: &Caller,
        plugin: &LoadedPlugin,
        command: &str,
        take: bool,
    ) -> Result<(), Refusal> {
        let Some(cooldown) = plugin.policy.cooldowns.get(command) else {
            return Ok(());
        };
        if caller
            .user
            .roles
            .iter()
            .any(|r| cooldown.exempt_roles.contains(r))
        {
            return Ok(());
        }
        let (per_user, per_channel) = cooldown.spans();
        // User before channel, always: the store locks keys in the order given.
        let scopes: Vec<(Duration, String, &str)> = [
            (per_user, format!("user {}", caller.user.id), "you"),
            (
                per_channel,
                format!("channel {}", caller.channel),
                "this channel",
            ),
        ]
        .into_iter()
        .filter_map(|(span, scope, who)| Some((span?, scope, who)))
        .collect();
        let keys: Vec<CooldownKey> = scopes
            .iter()
            .map(|(span, scope, _)| CooldownKey {
                key: format!("{} {command} {scope}", plugin.name),
                span_ms: span.as_millis() as i64,
            })
            .collect();
        let store = match store {
            Some(s) => Some(s),
            None => self
                .own
                .get_or_init(|| {
                    Store::in_memory()
                        .map_err(|e| tracing::error!("cannot keep cooldowns in memory: {e}"))
                        .ok()
                })
                .as_ref(),
        };
        let checked = match store {
            Some(store) => store.cooldown_take(&keys, now_ms(), take).await,
            None => Err(StoreError("no store to keep cooldowns in".into())),
        };
        match checked {
            Ok(None) => Ok(()),
            Ok(Some(cooling)) => {
                let (span, _, who) = &scopes[cooling.index];
                let wait = Duration::from_millis(cooling.wait_ms.max(1) as u64);
                Err(Refusal {
                    kind: super::Kind::Denied,
                    text: format!(
                        "`{command}` is cooling down: {who} can run it again in {} (once every {})",
                        human(wait),
                        human(*span)
                    ),
                })
            }
            Err(e) => {
                tracing::error!(
                    "plugin `{}`, command `{command}`: the cooldown could not be checked, so the command was refused: the store is unreachable: {e}",
                    plugin.name
                );
                Err(Refusal {
                    kind: super::Kind::Failed,
                    text: format!(
                        "`{command}` (plugin `{}`) was refused: its cooldown could not be checked because the store is unreachable (the error is in the host's log). Try again in a moment; if it goes on, an admin should check the store",
                        plugin.name
                    ),
                })
            }
        }
    }
}

/// `23 s`, `4 min 5 s`: rounded up to the second, so "0 s" is never said.
fn human(d: Duration) -> String {
    let s = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    match s {
        0..=59 => format!("{s} s"),
        60..=3599 if s % 60 == 0 => format!("{} min", s / 60),
        60..=3599 => format!("{} min {} s", s / 60, s % 60),
        _ if s % 3600 == 0 => format!("{} h", s / 3600),
        _ => format!("{} h {} min", s / 3600, (s % 3600) / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::human;
    use std::time::Duration;

    #[test]
    fn waits_are_said_plainly() {
        assert_eq!(human(Duration::from_millis(22_100)), "23 s");
        assert_eq!(human(Duration::from_secs(60)), "1 min");
        assert_eq!(human(Duration::from_secs(245)), "4 min 5 s");
        assert_eq!(human(Duration::from_secs(7_260)), "2 h 1 min");
        assert_eq!(human(Duration::from_millis(3_599_990)), "1 h");
    }
}
