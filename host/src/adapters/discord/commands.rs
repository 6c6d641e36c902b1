//! Slash-command payloads from the plugins' `describe()`, and typed arguments back.

use crate::model::{ArgValue, Argument, Command, CommandOption, OptionKind};
use serenity::all::{
    CommandDataOption, CommandDataOptionValue, CommandOptionType, CreateCommand,
    CreateCommandOption,
};

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
