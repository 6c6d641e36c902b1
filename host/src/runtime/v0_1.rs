//! The adapter from `chatops:plugin@0.1.0` to the host's model (0.2's types): a 0.1 plugin
//! describes flat commands and answers with text; it is called with what 0.1 knows.

use crate::model as m;
use crate::model::bindings::chatops::plugin::types as v1;

fn kind(k: v1::OptionKind) -> m::OptionKind {
    match k {
        v1::OptionKind::String => m::OptionKind::String,
        v1::OptionKind::Integer => m::OptionKind::Integer,
        v1::OptionKind::Number => m::OptionKind::Number,
        v1::OptionKind::Boolean => m::OptionKind::Boolean,
        v1::OptionKind::User => m::OptionKind::User,
        v1::OptionKind::Channel => m::OptionKind::Channel,
        v1::OptionKind::Role => m::OptionKind::Role,
    }
}

fn option(o: v1::CommandOption) -> m::CommandOption {
    m::CommandOption {
        name: o.name,
        description: o.description,
        kind: kind(o.kind),
        required: o.required,
        choices: o
            .choices
            .into_iter()
            .map(|c| m::OptionChoice {
                name: c.name,
                value: c.value,
            })
            .collect(),
        min_value: None,
        max_value: None,
        min_length: None,
        max_length: None,
        channel_kinds: vec![],
        autocomplete: false,
    }
}

fn capability(c: v1::Capability) -> m::Capability {
    match c {
        v1::Capability::Http(s) => m::Capability::Http(s),
        v1::Capability::Secret(s) => m::Capability::Secret(s),
        v1::Capability::Kv => m::Capability::Kv,
        v1::Capability::Post(s) => m::Capability::Post(s),
        v1::Capability::Webhook(s) => m::Capability::Webhook(s),
        v1::Capability::Schedule(s) => m::Capability::Schedule(m::ScheduleSpec {
            name: s.name,
            cron: s.cron,
        }),
    }
}

pub fn plugin_info(i: v1::PluginInfo) -> m::PluginInfo {
    m::PluginInfo {
        name: i.name,
        version: i.version,
        description: i.description,
        commands: i
            .commands
            .into_iter()
            .map(|c| m::Command {
                name: c.name,
                description: c.description,
                options: c.options.into_iter().map(option).collect(),
                subcommands: vec![],
                groups: vec![],
                confirm: c.confirm,
            })
            .collect(),
        capabilities: i
            .capabilities
            .into_iter()
            .map(|r| m::CapabilityRequest {
                capability: capability(r.capability),
                reason: r.reason,
            })
            .collect(),
    }
}

fn arg(a: &m::Argument) -> v1::Argument {
    v1::Argument {
        name: a.name.clone(),
        value: match &a.value {
            m::ArgValue::String(s) => v1::ArgValue::String(s.clone()),
            m::ArgValue::Integer(i) => v1::ArgValue::Integer(*i),
            m::ArgValue::Number(n) => v1::ArgValue::Number(*n),
            m::ArgValue::Boolean(b) => v1::ArgValue::Boolean(*b),
            m::ArgValue::User(s) => v1::ArgValue::User(s.clone()),
            m::ArgValue::Channel(s) => v1::ArgValue::Channel(s.clone()),
            m::ArgValue::Role(s) => v1::ArgValue::Role(s.clone()),
        },
    }
}

/// What a 0.1 plugin is called with (it has no subcommands, so there is none to drop).
pub fn invocation(i: &m::Invocation) -> v1::Invocation {
    v1::Invocation {
        id: i.id.clone(),
        command: i.command.clone(),
        args: i.args.iter().map(arg).collect(),
        user: v1::User {
            id: i.user.id.clone(),
            name: i.user.name.clone(),
            roles: i.user.roles.clone(),
        },
        channel: i.channel.clone(),
        guild: i.guild.clone(),
    }
}

pub fn error(e: v1::CommandError) -> m::CommandError {
    match e {
        v1::CommandError::Usage(s) => m::CommandError::Usage(s),
        v1::CommandError::Denied(s) => m::CommandError::Denied(s),
        v1::CommandError::Failed(s) => m::CommandError::Failed(s),
    }
}

pub fn reply(r: Result<v1::Reply, v1::CommandError>) -> Result<m::Reply, m::CommandError> {
    r.map(|r| m::Reply {
        ephemeral: r.ephemeral,
        ..m::Reply::text(r.text)
    })
    .map_err(error)
}

pub fn event(e: &m::Event) -> v1::Event {
    match e {
        m::Event::Webhook(w) => v1::Event::Webhook(v1::WebhookRequest {
            method: w.method.clone(),
            path: w.path.clone(),
            headers: w.headers.clone(),
            body: w.body.clone(),
        }),
        m::Event::Schedule(s) => v1::Event::Schedule(s.clone()),
    }
}

pub fn posts(r: Result<Vec<v1::Post>, v1::CommandError>) -> Result<Vec<m::Post>, m::CommandError> {
    r.map(|posts| {
        posts
            .into_iter()
            .map(|p| m::Post {
                channel: p.channel,
                message: m::Message::text(p.text),
            })
            .collect()
    })
    .map_err(error)
}
