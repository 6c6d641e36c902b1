//! The contract's data types, shared by the runtime, the dispatcher and the adapters.
//! They are generated from `wit/plugin.wit`, so the host and plugins cannot disagree.

pub use crate::runtime::bindings::chatops::plugin::types::{
    ArgValue, Argument, Capability, CapabilityRequest, Command, CommandError, CommandOption, Event,
    Invocation, OptionChoice, OptionKind, PluginInfo, Post, Reply, ScheduleSpec, User,
    WebhookRequest,
};

impl OptionKind {
    pub fn label(&self) -> &'static str {
        match self {
            OptionKind::String => "text",
            OptionKind::Integer => "integer",
            OptionKind::Number => "number",
            OptionKind::Boolean => "true/false",
            OptionKind::User => "user",
            OptionKind::Channel => "channel",
            OptionKind::Role => "role",
        }
    }
}

impl Capability {
    /// How an admin writes this capability in a grant command.
    pub fn describe(&self) -> String {
        match self {
            Capability::Http(url) => format!("http {url}"),
            Capability::Secret(name) => format!("secret {name}"),
            Capability::Kv => "kv".into(),
            Capability::Post(channel) => format!("post {channel}"),
            Capability::Webhook(path) => format!("webhook {path}"),
            Capability::Schedule(s) => format!("schedule {} ({})", s.name, s.cron),
        }
    }
}

impl std::fmt::Display for ArgValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ArgValue::String(s) | ArgValue::User(s) | ArgValue::Channel(s) | ArgValue::Role(s) => {
                f.write_str(s)
            }
            ArgValue::Integer(i) => write!(f, "{i}"),
            ArgValue::Number(n) => write!(f, "{n}"),
            ArgValue::Boolean(b) => write!(f, "{b}"),
        }
    }
}
