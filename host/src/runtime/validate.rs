//! What a plugin's `describe()` (and `settings()`) must satisfy: Discord's rules for commands and options,
//! checked at load so a bad plugin is refused with a reason instead of failing at Discord.

use crate::config::is_valid_name;
use crate::model::{Capability, Command, OptionKind, PluginInfo, Setting};

pub const RESERVED: &[&str] = &["help", "chatops"];

pub fn plugin_info(info: &PluginInfo) -> Result<(), String> {
    if !is_valid_name(&info.name) {
        return Err(format!(
            "its name `{}` is not 1-32 characters of a-z, 0-9, - and _",
            info.name
        ));
    }
    if info.version.trim().is_empty() {
        return Err("its version is empty (use env!(\"CARGO_PKG_VERSION\"))".into());
    }
    for r in &info.capabilities {
        if let Capability::Schedule(s) = &r.capability {
            if !is_valid_name(&s.name) {
                return Err(format!(
                    "schedule `{}`: the name must be 1-32 characters of a-z, 0-9, - and _",
                    s.name
                ));
            }
            parse_cron(&s.cron).map_err(|e| format!("schedule `{}`: {e}", s.name))?;
        }
        if let Capability::Webhook(name) = &r.capability {
            if !is_valid_name(name) {
                return Err(format!(
                    "webhook `{name}`: the name must be 1-32 characters of a-z, 0-9, - and _"
                ));
            }
        }
    }
    if info.commands.len() > MAX_COMMANDS {
        return Err(format!(
            "it declares {} commands; Discord allows at most {MAX_COMMANDS} per scope",
            info.commands.len()
        ));
    }
    let mut seen = std::collections::BTreeSet::new();
    for c in &info.commands {
        command(c).map_err(|e| format!("command `{}`: {e}", c.name))?;
        if !seen.insert(c.name.as_str()) {
            return Err(format!("command `{}` is declared twice", c.name));
        }
    }
    Ok(())
}

/// A cron expression: five fields (minute hour day-of-month month day-of-week), or six
/// with seconds first. `@hourly`, `@daily` and friends work too.
pub fn parse_cron(text: &str) -> Result<croner::Cron, String> {
    let bad = |why: &str| {
        format!("`{text}` is not a cron expression ({why}); write five fields like \"0 9 * * 1-5\" (09:00 on weekdays), or six with seconds first")
    };
    // croner reads a field of bare commas as no value at all: such an expression never
    // fires, and each search for its next time took seconds (found by fuzzing).
    if let Some(i) = text
        .split_whitespace()
        .position(|f| f.split(',').all(str::is_empty))
    {
        return Err(bad(&format!("field {} has no value", i + 1)));
    }
    let cron = croner::Cron::new(text.trim())
        .with_seconds_optional()
        .parse()
        .map_err(|e| bad(&e.to_string()))?;
    // Dates that never come (30 February) are refused here rather than warned about at
    // every tick of the clock. From 2024-01-01, so 29 February is found.
    let from = chrono::DateTime::from_timestamp(1_704_067_200, 0).expect("a valid time");
    if cron.find_next_occurrence(&from, false).is_err() {
        return Err(format!("`{text}` is a cron expression that never fires: no date matches all its fields; check the day of the month against the month"));
    }
    Ok(cron)
}

/// The settings a plugin declares: named like config keys, each once, each described.
pub fn settings(settings: &[Setting]) -> Result<(), String> {
    let max = crate::capabilities::config::MAX_KEY_BYTES;
    let mut seen = std::collections::BTreeSet::new();
    for s in settings {
        if s.key.is_empty() || s.key.len() > max || s.key.chars().any(char::is_control) {
            return Err(format!(
                "setting `{}`: a key is 1 to {max} printable characters",
                s.key
            ));
        }
        if !seen.insert(s.key.as_str()) {
            return Err(format!("setting `{}` is declared twice", s.key));
        }
        text_len(
            &format!("setting `{}`: the description", s.key),
            &s.description,
            200,
        )?;
    }
    Ok(())
}

fn text_len(what: &str, s: &str, max: usize) -> Result<(), String> {
    let n = s.chars().count();
    if n == 0 || n > max {
        return Err(format!("{what} must be 1 to {max} characters, not {n}"));
    }
    Ok(())
}

/// Discord's limits on application commands (checked at load, so a plugin over one is
/// refused naming it instead of failing at registration).
pub const MAX_COMMANDS: usize = 100;
pub const MAX_OPTIONS: usize = 25;
pub const MAX_CHOICES: usize = 25;
pub const MAX_NAME: usize = 32;
pub const MAX_DESCRIPTION: usize = 100;
/// Names, descriptions, choice names and values of one command, all levels together.
pub const MAX_COMMAND_CHARS: usize = 4000;
pub const MAX_STRING_LENGTH: u32 = 6000;

/// The optional exports a description relies on: an option completed while typed needs
/// `autocomplete`.
pub fn exports(info: &PluginInfo, plugin: &super::CompiledPlugin) -> Result<(), String> {
    if plugin.completes() {
        return Ok(());
    }
    for c in &info.commands {
        for (path, _) in c.paths() {
            let (options, _) = c.at(&path).unwrap_or_default();
            if let Some(o) = options.iter().find(|o| o.autocomplete) {
                let mut shown = vec![c.name.clone()];
                shown.extend(path);
                return Err(format!(
                    "command `{}`: option `{}` is completed while typed (autocomplete), but the plugin does not export `chatops:plugin/autocomplete`; implement `complete` or drop `autocomplete`",
                    shown.join(" "),
                    o.name
                ));
            }
        }
    }
    Ok(())
}

fn name(what: &str, n: &str) -> Result<(), String> {
    if !is_valid_name(n) {
        return Err(format!(
            "{what}`{n}`: the name must be 1-{MAX_NAME} characters of a-z, 0-9, - and _"
        ));
    }
    Ok(())
}

fn command(c: &Command) -> Result<(), String> {
    name("", &c.name)?;
    if RESERVED.contains(&c.name.as_str()) {
        return Err(format!("`{}` is reserved by the host", c.name));
    }
    text_len("the description", &c.description, MAX_DESCRIPTION)?;
    let mut chars = c.name.chars().count() + c.description.chars().count();
    if c.has_subcommands() {
        if !c.options.is_empty() {
            return Err("a command with subcommands has no options of its own; give each subcommand its options".into());
        }
        let n = c.subcommands.len() + c.groups.len();
        if n > MAX_OPTIONS {
            return Err(format!(
                "it has {n} subcommands and groups; Discord allows at most {MAX_OPTIONS}"
            ));
        }
        let mut names = std::collections::BTreeSet::new();
        for s in &c.subcommands {
            chars +=
                subcommand(s, &mut names).map_err(|e| format!("subcommand `{}`: {e}", s.name))?;
        }
        for g in &c.groups {
            name("group ", &g.name)?;
            if !names.insert(g.name.clone()) {
                return Err(format!("`{}` is declared twice", g.name));
            }
            text_len(
                &format!("group `{}`: the description", g.name),
                &g.description,
                MAX_DESCRIPTION,
            )?;
            chars += g.name.chars().count() + g.description.chars().count();
            if g.subcommands.is_empty() {
                return Err(format!("group `{}` has no subcommands", g.name));
            }
            if g.subcommands.len() > MAX_OPTIONS {
                return Err(format!(
                    "group `{}` has {} subcommands; Discord allows at most {MAX_OPTIONS}",
                    g.name,
                    g.subcommands.len()
                ));
            }
            let mut inner = std::collections::BTreeSet::new();
            for s in &g.subcommands {
                chars += subcommand(s, &mut inner)
                    .map_err(|e| format!("subcommand `{} {}`: {e}", g.name, s.name))?;
            }
        }
    } else {
        chars += options(&c.options)?;
    }
    if chars > MAX_COMMAND_CHARS {
        return Err(format!(
            "its names, descriptions and choices total {chars} characters; Discord allows at most {MAX_COMMAND_CHARS} per command"
        ));
    }
    Ok(())
}

fn subcommand(
    s: &crate::model::Subcommand,
    names: &mut std::collections::BTreeSet<String>,
) -> Result<usize, String> {
    name("", &s.name)?;
    if !names.insert(s.name.clone()) {
        return Err("it is declared twice".into());
    }
    text_len("the description", &s.description, MAX_DESCRIPTION)?;
    Ok(s.name.chars().count() + s.description.chars().count() + options(&s.options)?)
}

/// The options of one command or subcommand; the characters they count.
fn options(options: &[crate::model::CommandOption]) -> Result<usize, String> {
    if options.len() > MAX_OPTIONS {
        return Err(format!(
            "it has {} options; Discord allows at most {MAX_OPTIONS}",
            options.len()
        ));
    }
    let mut chars = 0;
    let mut optional_seen = false;
    let mut names = std::collections::BTreeSet::new();
    for o in options {
        name("option ", &o.name)?;
        if !names.insert(o.name.as_str()) {
            return Err(format!("option `{}` is declared twice", o.name));
        }
        text_len(
            &format!("option `{}`: the description", o.name),
            &o.description,
            MAX_DESCRIPTION,
        )?;
        chars += o.name.chars().count() + o.description.chars().count();
        if o.required && optional_seen {
            return Err(format!(
                "required option `{}` comes after an optional one; list required options first",
                o.name
            ));
        }
        optional_seen |= !o.required;
        if o.choices.len() > MAX_CHOICES {
            return Err(format!(
                "option `{}` has {} choices; Discord allows at most {MAX_CHOICES}",
                o.name,
                o.choices.len()
            ));
        }
        let numeric = matches!(o.kind, OptionKind::Integer | OptionKind::Number);
        if !o.choices.is_empty() && !(numeric || o.kind == OptionKind::String) {
            return Err(format!(
                "option `{}`: only text and number options can have choices",
                o.name
            ));
        }
        if o.autocomplete && (!o.choices.is_empty() || !(numeric || o.kind == OptionKind::String)) {
            return Err(format!(
                "option `{}`: only text and number options without choices can be completed while typed",
                o.name
            ));
        }
        if (o.min_value.is_some() || o.max_value.is_some()) && !numeric {
            return Err(format!(
                "option `{}`: min/max values are for integer and number options",
                o.name
            ));
        }
        if let (Some(lo), Some(hi)) = (o.min_value, o.max_value) {
            if lo > hi {
                return Err(format!(
                    "option `{}`: min value {lo} is above max value {hi}",
                    o.name
                ));
            }
        }
        if o.min_length.is_some() || o.max_length.is_some() {
            if o.kind != OptionKind::String {
                return Err(format!(
                    "option `{}`: min/max lengths are for text options",
                    o.name
                ));
            }
            let lo = o.min_length.unwrap_or(0);
            let hi = o.max_length.unwrap_or(MAX_STRING_LENGTH);
            if lo > MAX_STRING_LENGTH || hi > MAX_STRING_LENGTH || hi == 0 || lo > hi {
                return Err(format!(
                    "option `{}`: lengths must satisfy 0 <= min <= max <= {MAX_STRING_LENGTH} and max >= 1",
                    o.name
                ));
            }
        }
        if !o.channel_kinds.is_empty() && o.kind != OptionKind::Channel {
            return Err(format!(
                "option `{}`: channel types are for channel options",
                o.name
            ));
        }
        for ch in &o.choices {
            text_len(&format!("option `{}`: choice name", o.name), &ch.name, 100)?;
            text_len(
                &format!("option `{}`: choice value", o.name),
                &ch.value,
                100,
            )?;
            chars += ch.name.chars().count() + ch.value.chars().count();
            let ok = match o.kind {
                OptionKind::Integer => ch.value.parse::<i64>().is_ok(),
                OptionKind::Number => ch.value.parse::<f64>().is_ok(),
                _ => true,
            };
            if !ok {
                return Err(format!(
                    "option `{}`: choice `{}` is not a {}",
                    o.name,
                    ch.value,
                    o.kind.label()
                ));
            }
        }
    }
    Ok(chars)
}

#[cfg(test)]
mod limits {
    use super::*;
    use crate::model::{CommandOption, OptionChoice, Subcommand};

    fn opt(name: &str) -> CommandOption {
        CommandOption {
            name: name.into(),
            description: "d".into(),
            kind: OptionKind::String,
            required: false,
            choices: vec![],
            min_value: None,
            max_value: None,
            min_length: None,
            max_length: None,
            channel_kinds: vec![],
            autocomplete: false,
        }
    }

    fn cmd(name: &str) -> Command {
        Command {
            name: name.into(),
            description: "d".into(),
            options: vec![],
            subcommands: vec![],
            groups: vec![],
            confirm: false,
        }
    }

    fn info(commands: Vec<Command>) -> PluginInfo {
        PluginInfo {
            name: "p".into(),
            version: "1".into(),
            description: "d".into(),
            commands,
            capabilities: vec![],
        }
    }

    fn refused(commands: Vec<Command>) -> String {
        plugin_info(&info(commands)).unwrap_err()
    }

    #[test]
    fn each_discord_limit_is_named_when_a_plugin_is_over_it() {
        let many: Vec<Command> = (0..101).map(|i| cmd(&format!("c{i}"))).collect();
        assert_eq!(
            refused(many),
            "it declares 101 commands; Discord allows at most 100 per scope"
        );
        let mut c = cmd("wide");
        c.options = (0..26).map(|i| opt(&format!("o{i}"))).collect();
        assert_eq!(
            refused(vec![c]),
            "command `wide`: it has 26 options; Discord allows at most 25"
        );
        let mut o = opt("region");
        o.choices = (0..26)
            .map(|i| OptionChoice {
                name: format!("r{i}"),
                value: format!("r{i}"),
            })
            .collect();
        let mut c = cmd("pick");
        c.options = vec![o];
        assert_eq!(
            refused(vec![c]),
            "command `pick`: option `region` has 26 choices; Discord allows at most 25"
        );
        assert_eq!(
            refused(vec![cmd(&"x".repeat(33))]),
            format!(
                "command `{0}`: `{0}`: the name must be 1-32 characters of a-z, 0-9, - and _",
                "x".repeat(33)
            )
        );
        let mut c = cmd("long");
        c.description = "d".repeat(101);
        assert_eq!(
            refused(vec![c]),
            "command `long`: the description must be 1 to 100 characters, not 101"
        );
        let mut c = cmd("big");
        c.subcommands = (0..25)
            .map(|i| Subcommand {
                name: format!("s{i}"),
                description: "d".repeat(100),
                options: (0..2)
                    .map(|j| {
                        let mut o = opt(&format!("o{j}"));
                        o.description = "d".repeat(100);
                        o
                    })
                    .collect(),
                confirm: false,
            })
            .collect();
        assert_eq!(
            refused(vec![c]),
            "command `big`: its names, descriptions and choices total 7669 characters; Discord allows at most 4000 per command"
        );
        let mut c = cmd("mixed");
        c.options = vec![opt("a")];
        c.subcommands = vec![Subcommand {
            name: "s".into(),
            description: "d".into(),
            options: vec![],
            confirm: false,
        }];
        assert!(refused(vec![c]).contains("a command with subcommands has no options of its own"));
        let mut o = opt("n");
        o.min_value = Some(1.0);
        let mut c = cmd("num");
        c.options = vec![o];
        assert_eq!(
            refused(vec![c]),
            "command `num`: option `n`: min/max values are for integer and number options"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::parse_cron;

    #[test]
    fn cron_expressions_that_never_fire_are_refused_at_once() {
        // Found by fuzzing: an empty field parsed, and every search for its next time
        // took seconds.
        for (expr, why) in [
            (", * * * *", "field 1 has no value"),
            ("0 0 ,, * *", "field 3 has no value"),
            ("* * * * * ,", "field 6 has no value"),
            ("0 0 30 2 *", "never fires"),
            ("0 0 31 4,6,9,11 *", "never fires"),
        ] {
            let e = parse_cron(expr).unwrap_err();
            assert!(e.contains(why), "{expr}: {e}");
            assert!(e.contains("cron expression"), "{e}");
        }
        for ok in [
            "0 9 * * 1-5",
            "0 0 29 2 *",
            "1, * * * *",
            "@hourly",
            "0 0 L 2 *",
        ] {
            assert!(parse_cron(ok).is_ok(), "{ok}");
        }
    }
}
