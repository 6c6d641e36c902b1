//! Slash-command payloads from the plugins' `describe()`, and typed arguments back.

use crate::model::{ArgValue, Argument, ChannelKind, Command, CommandOption, OptionKind};
use serenity::all::{
    ChannelType, CommandDataOption, CommandDataOptionValue, CommandOptionType, CreateCommand,
    CreateCommandOption,
};

fn channel_type(k: &ChannelKind) -> ChannelType {
    match k {
        ChannelKind::Text => ChannelType::Text,
        ChannelKind::Voice => ChannelType::Voice,
        ChannelKind::Category => ChannelType::Category,
        ChannelKind::Announcement => ChannelType::News,
        ChannelKind::AnnouncementThread => ChannelType::NewsThread,
        ChannelKind::PublicThread => ChannelType::PublicThread,
        ChannelKind::PrivateThread => ChannelType::PrivateThread,
        ChannelKind::Stage => ChannelType::Stage,
        ChannelKind::Forum => ChannelType::Forum,
        ChannelKind::Media => ChannelType::Unknown(16),
    }
}

/// Min/max values: integral and non-negative ones as integers (serenity's integer
/// setters take u64), others as numbers.
fn bound(c: CreateCommandOption, v: f64, min: bool) -> CreateCommandOption {
    match (v >= 0.0 && v.fract() == 0.0, min) {
        (true, true) => c.min_int_value(v as u64),
        (true, false) => c.max_int_value(v as u64),
        (false, true) => c.min_number_value(v),
        (false, false) => c.max_number_value(v),
    }
}

fn option_type(kind: &OptionKind) -> CommandOptionType {
    match kind {
        OptionKind::String => CommandOptionType::String,
        OptionKind::Integer => CommandOptionType::Integer,
        OptionKind::Number => CommandOptionType::Number,
        OptionKind::Boolean => CommandOptionType::Boolean,
        OptionKind::User => CommandOptionType::User,
        OptionKind::Channel => CommandOptionType::Channel,
        OptionKind::Role => CommandOptionType::Role,
    }
}

fn option(o: &CommandOption) -> CreateCommandOption {
    let mut c = CreateCommandOption::new(option_type(&o.kind), &o.name, &o.description)
        .required(o.required);
    if let Some(v) = o.min_value {
        c = bound(c, v, true);
    }
    if let Some(v) = o.max_value {
        c = bound(c, v, false);
    }
    if let Some(v) = o.min_length {
        c = c.min_length(v.min(6000) as u16);
    }
    if let Some(v) = o.max_length {
        c = c.max_length(v.min(6000) as u16);
    }
    if !o.channel_kinds.is_empty() {
        c = c.channel_types(o.channel_kinds.iter().map(channel_type).collect());
    }
    if o.autocomplete {
        c = c.set_autocomplete(true);
    }
    for ch in &o.choices {
        c = match o.kind {
            OptionKind::Integer => match ch.value.parse::<i32>() {
                Ok(v) => c.add_int_choice(&ch.name, v),
                Err(_) => {
                    tracing::warn!(option = %o.name, choice = %ch.value, "integer choice does not fit Discord's range; left out");
                    c
                }
            },
            OptionKind::Number => match ch.value.parse::<f64>() {
                Ok(v) => c.add_number_choice(&ch.name, v),
                Err(_) => c,
            },
            _ => c.add_string_choice(&ch.name, &ch.value),
        };
    }
    c
}

/// One slash command per plugin command, plus `help`.
pub fn slash_commands(commands: &[(String, Command)]) -> Vec<CreateCommand> {
    let mut out: Vec<CreateCommand> = commands
        .iter()
        .map(|(_, c)| {
            let mut cmd = CreateCommand::new(&c.name).description(&c.description);
            for o in &c.options {
                cmd = cmd.add_option(option(o));
            }
            // Subcommands and groups: Discord's SUB_COMMAND and SUB_COMMAND_GROUP options.
            let sub = |s: &crate::model::Subcommand| {
                let mut o = CreateCommandOption::new(
                    CommandOptionType::SubCommand,
                    &s.name,
                    &s.description,
                );
                for x in &s.options {
                    o = o.add_sub_option(option(x));
                }
                o
            };
            for s in &c.subcommands {
                cmd = cmd.add_option(sub(s));
            }
            for g in &c.groups {
                let mut o = CreateCommandOption::new(
                    CommandOptionType::SubCommandGroup,
                    &g.name,
                    &g.description,
                );
                for s in &g.subcommands {
                    o = o.add_sub_option(sub(s));
                }
                cmd = cmd.add_option(o);
            }
            cmd
        })
        .collect();
    // Not hidden with `default_member_permissions`: serenity sends it as a string, which
    // Discord's OpenAPI description (integer) rejects; the host checks [host] admins on
    // every use, refuses and audits anyone else.
    out.push(
        CreateCommand::new(crate::dispatch::ADMIN_COMMAND)
            .description("Admin: plugins, grants, settings, approvals, the audit trail")
            .add_option(
                CreateCommandOption::new(
                    CommandOptionType::String,
                    "command",
                    "e.g. `plugins`, `grant deploy http https://ci.example.com`, `audit since=1h`",
                )
                .required(false),
            ),
    );
    out.push(
        CreateCommand::new("help")
            .description("Show the commands you can run, or the details of one")
            .add_option(
                CreateCommandOption::new(
                    CommandOptionType::String,
                    "command",
                    "A command to explain",
                )
                .required(false),
            ),
    );
    out
}

/// The subcommand path in Discord's options (a SUB_COMMAND_GROUP holding a SUB_COMMAND,
/// or a SUB_COMMAND) and the options below it.
pub fn path(options: &[CommandDataOption]) -> (Vec<String>, &[CommandDataOption]) {
    match options {
        [o] => match &o.value {
            CommandDataOptionValue::SubCommand(inner) => (vec![o.name.clone()], inner),
            CommandDataOptionValue::SubCommandGroup(inner) => {
                let (mut rest, inner) = path(inner);
                rest.insert(0, o.name.clone());
                (rest, inner)
            }
            _ => (vec![], options),
        },
        _ => (vec![], options),
    }
}

/// Discord's typed options → the contract's arguments.
pub fn arguments(options: &[CommandDataOption]) -> Vec<Argument> {
    options
        .iter()
        .filter_map(|o| {
            let value = match &o.value {
                CommandDataOptionValue::String(s) => ArgValue::String(s.clone()),
                CommandDataOptionValue::Integer(i) => ArgValue::Integer(*i),
                CommandDataOptionValue::Number(n) => ArgValue::Number(*n),
                CommandDataOptionValue::Boolean(b) => ArgValue::Boolean(*b),
                CommandDataOptionValue::User(id) => ArgValue::User(id.to_string()),
                CommandDataOptionValue::Channel(id) => ArgValue::Channel(id.to_string()),
                CommandDataOptionValue::Role(id) => ArgValue::Role(id.to_string()),
                _ => return None,
            };
            Some(Argument {
                name: o.name.clone(),
                value,
            })
        })
        .collect()
}
