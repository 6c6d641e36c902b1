//! The contract, `chatops:plugin@0.1.0`: host-side bindings generated from `wit/plugin.wit`
//! (so the host and plugins cannot disagree) and the data types every layer shares. A leaf
//! module: capabilities implement its `Host` traits, the runtime calls its exports.

pub mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "chatops:plugin/plugin@0.1.0",
        imports: { default: async | trappable },
        exports: { default: async },
        require_store_data_send: true,
        with: {
            "wasi:http": wasmtime_wasi_http::p2::bindings::http,
            "wasi:io": wasmtime_wasi::p2::bindings::io,
            "wasi:clocks": wasmtime_wasi::p2::bindings::clocks,
        },
        additional_derives: [serde::Serialize, PartialEq],
    });
}

pub use bindings::chatops::plugin::types::{
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

/// A setting a plugin reads through `wasi:config/store`, from its optional `settings` export.
#[derive(
    Debug,
    Clone,
    PartialEq,
    serde::Serialize,
    wasmtime::component::ComponentType,
    wasmtime::component::Lift,
)]
#[component(record)]
pub struct Setting {
    pub key: String,
    pub description: String,
    pub required: bool,
}

/// The optional export that declares settings, and its one function.
pub const SETTINGS_INTERFACE: &str = "chatops:plugin/settings@0.1.0";
pub const SETTINGS_FUNCTION: &str = "settings";
/// The optional export that asks for a confirmation depending on the arguments.
pub const CONFIRMATION_INTERFACE: &str = "chatops:plugin/confirmation@0.1.0";
pub const CONFIRMATION_FUNCTION: &str = "needs-confirmation";

impl ArgValue {
    /// How the value is written on a command line (quoted when it has spaces).
    pub fn to_word(&self) -> String {
        quote_word(&self.to_string())
    }
}

/// A word as typed on a command line: as it is, or in double quotes with `\` and `"`
/// escaped when it is empty or has spaces, quotes or backslashes. The command parser
/// (`dispatch::parse::tokenize`) reads it back unchanged, also after `name=`.
pub fn quote_word(s: &str) -> String {
    if !s.is_empty() && !s.contains(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '\\')) {
        return s.to_string();
    }
    let mut q = String::with_capacity(s.len() + 2);
    q.push('"');
    for c in s.chars() {
        if matches!(c, '"' | '\\') {
            q.push('\\');
        }
        q.push(c);
    }
    q.push('"');
    q
}

/// A command as the user would have typed it: `deploy service=api env=prod`.
pub fn command_line(command: &str, args: &[Argument]) -> String {
    std::iter::once(command.to_string())
        .chain(
            args.iter()
                .map(|a| format!("{}={}", a.name, a.value.to_word())),
        )
        .collect::<Vec<_>>()
        .join(" ")
}
