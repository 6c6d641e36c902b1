//! `help` and usage lines, generated from the plugins' `describe()`.

use super::parse::choice_list;
use super::{access, read, Caller, Dispatcher, Kind, LoadedPlugin, Response};
use crate::model::{Command, OptionKind, PluginInfo};

/// `deploy <service> <env> [canary]`
pub fn usage(prefix: &str, cmd: &Command) -> String {
    let mut s = format!("{prefix}{}", cmd.name);
    if cmd.has_subcommands() {
        let subs: Vec<String> = cmd.paths().into_iter().map(|(p, _)| p.join(" ")).collect();
        s.push_str(&format!(" <{}>", subs.join("|")));
        return s;
    }
    for o in &cmd.options {
        if o.required {
            s.push_str(&format!(" <{}>", o.name));
        } else {
            s.push_str(&format!(" [{}]", o.name));
        }
    }
    s
}

/// The list of commands a user may run, grouped by plugin.
pub fn overview(prefix: &str, plugins: &[&PluginInfo], disabled: &[(String, String)]) -> String {
    let mut out = String::new();
    if plugins.iter().all(|p| p.commands.is_empty()) {
        out.push_str("There are no commands you can run here.\n");
    } else {
        out.push_str(&format!(
            "Commands you can run (`{prefix}help COMMAND` for details):\n"
        ));
        for p in plugins {
            if p.commands.is_empty() {
                continue;
            }
            out.push_str(&format!("\n**{}** — {}\n", p.name, p.description));
            for c in p
                .commands
                .iter()
                .flat_map(|c| c.paths().into_iter().filter_map(|(p, _)| c.sub(&p)))
            {
                let c = &c;
                let mark = if c.confirm {
                    " (asks for confirmation)"
                } else {
                    ""
                };
                out.push_str(&format!(
                    "  `{}` — {}{mark}\n",
                    usage(prefix, c),
                    c.description
                ));
            }
        }
    }
    if !disabled.is_empty() {
        out.push_str("\nDisabled plugins (an admin must act):\n");
        for (name, why) in disabled {
            out.push_str(&format!("  {name}: {why}\n"));
        }
    }
    out.trim_end().to_string()
}

/// Everything about one command.
pub fn command(prefix: &str, plugin: &PluginInfo, cmd: &Command) -> String {
    let mut out = format!("`{}` — {}\n", usage(prefix, cmd), cmd.description);
    out.push_str(&format!("from plugin {} {}\n", plugin.name, plugin.version));
    if cmd.confirm {
        out.push_str("Dangerous: you will be asked to confirm before it runs.\n");
    }
    if cmd.has_subcommands() {
        out.push_str("Subcommands:\n");
        for (path, _) in cmd.paths() {
            if let Some(sub) = cmd.sub(&path) {
                out.push_str(&format!(
                    "  `{}` — {}\n",
                    usage(prefix, &sub),
                    sub.description
                ));
            }
        }
    }
    if !cmd.options.is_empty() {
        out.push_str("Options (in order, or as name=value):\n");
        for o in &cmd.options {
            let kind = if o.choices.is_empty() {
                o.kind.label().to_string()
            } else {
                format!("one of {}", choice_list(o))
            };
            let req = if o.required { "required" } else { "optional" };
            out.push_str(&format!(
                "  {} ({kind}, {req}) — {}\n",
                o.name, o.description
            ));
        }
    }
    if let Some(example) = example(prefix, cmd) {
        out.push_str(&format!("Example: `{example}`\n"));
    }
    out.trim_end().to_string()
}

fn example(prefix: &str, cmd: &Command) -> Option<String> {
    let mut s = format!("{prefix}{}", cmd.name);
    for o in cmd.options.iter().filter(|o| o.required) {
        let v = match (o.choices.first(), &o.kind) {
            (Some(c), _) => c.value.clone(),
            (None, OptionKind::Integer) => "3".into(),
            (None, OptionKind::Number) => "1.5".into(),
            (None, OptionKind::Boolean) => "true".into(),
            (None, OptionKind::User) => "@someone".into(),
            (None, OptionKind::Channel) => "#ops".into(),
            (None, OptionKind::Role) => "@oncall".into(),
            (None, OptionKind::String) => "\"some text\"".into(),
        };
        s.push(' ');
        s.push_str(&v);
    }
    Some(s)
}

impl Dispatcher {
    pub(super) fn usage_error_as(&self, prefix: &str, cmd: &Command, message: &str) -> Response {
        Response::new(
            Kind::Usage,
            format!(
                "{message}\nUsage: `{}`  (`{}help {}` for details)",
                usage(prefix, cmd),
                prefix,
                cmd.name
            ),
        )
    }

    pub(super) fn unknown_as(&self, prefix: &str, name: &str) -> Response {
        let hint = match self.registry().similar(name) {
            Some(c) => format!(" Did you mean `{prefix}{c}`?"),
            None => String::new(),
        };
        self.answer(Response::new(
            Kind::Usage,
            format!(
                "There is no command `{name}`.{hint} Type `{prefix}help` to see what you can run."
            ),
        ))
    }

    /// What of `plugin` help shows `caller`: the commands they may run in some form.
    fn visible(&self, caller: &Caller, plugin: &LoadedPlugin) -> Option<PluginInfo> {
        let commands = access::visible_commands(&read(&self.admins), caller, plugin)?;
        Some(PluginInfo {
            commands,
            ..plugin.info().clone()
        })
    }

    /// Help lists only what the caller may run.
    pub fn help(&self, caller: &Caller, topic: Option<&str>) -> Response {
        self.help_as(&self.prefix.clone(), caller, topic)
    }

    pub(super) fn help_as(&self, prefix: &str, caller: &Caller, topic: Option<&str>) -> Response {
        let reg = self.registry();
        if let Some(topic) = topic {
            let topic = topic.trim_start_matches('/');
            let topic = topic.strip_prefix(self.prefix.as_str()).unwrap_or(topic);
            return match reg.command(topic) {
                Some((p, cmd))
                    if self
                        .visible(caller, &p)
                        .is_some_and(|i| i.commands.contains(&cmd)) =>
                {
                    self.answer(Response::new(Kind::Help, command(prefix, p.info(), &cmd)))
                }
                _ => self.unknown_as(prefix, topic),
            };
        }
        let visible: Vec<PluginInfo> = reg
            .plugins
            .values()
            .filter_map(|p| self.visible(caller, p))
            .collect();
        let visible: Vec<&PluginInfo> = visible.iter().collect();
        let admin = self.is_admin(caller);
        let disabled = if admin { self.disabled() } else { Vec::new() };
        let mut text = overview(prefix, &visible, &disabled);
        if admin {
            text.push_str(&format!(
                "\n\nAs an admin: `{prefix}{}` — plugins, grant, revoke, config, approve, audit, reload (`{prefix}{} help`).",
                super::ADMIN_COMMAND,
                super::ADMIN_COMMAND
            ));
        }
        self.answer(Response::new(Kind::Help, text))
    }
}
