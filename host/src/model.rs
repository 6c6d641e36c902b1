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

/// `chatops:plugin@0.2.0` (`wit/v0.2/plugin.wit`): its types are the host's model; a 0.1
/// plugin's are adapted to them (`runtime::v0_1`).
pub mod bindings_v0_2 {
    wasmtime::component::bindgen!({
        path: "../wit/v0.2",
        world: "chatops:plugin/plugin@0.2.0",
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

pub use bindings_v0_2::chatops::plugin::model::Button;
pub use bindings_v0_2::chatops::plugin::model::{
    Action, ActionRow, ArgValue, Argument, Attachment, AutocompleteRequest, ButtonStyle,
    Capability, CapabilityRequest, ChannelKind, Command, CommandError, CommandOption, Component,
    ComponentPress, Embed, EmbedField, Event, Invocation, LinkButton, Message, OptionChoice,
    OptionKind, PluginInfo, Post, PressResult, Reply, ScheduleSpec, SelectMenu, SelectOption,
    Subcommand, SubcommandGroup, User, WebhookRequest,
};

impl Reply {
    /// A reply of text only.
    pub fn text(text: impl Into<String>) -> Reply {
        Reply {
            text: text.into(),
            ephemeral: false,
            embeds: vec![],
            attachments: vec![],
            components: vec![],
        }
    }
}

impl Message {
    /// A message of text only.
    pub fn text(text: impl Into<String>) -> Message {
        Message {
            text: text.into(),
            embeds: vec![],
            attachments: vec![],
            components: vec![],
        }
    }
}

impl Command {
    /// The subcommand at `path` ([] is the command itself): its options and whether it
    /// must be confirmed.
    pub fn at(&self, path: &[String]) -> Option<(Vec<CommandOption>, bool)> {
        match path {
            [] if self.subcommands.is_empty() && self.groups.is_empty() => {
                Some((self.options.clone(), self.confirm))
            }
            [sub] => self
                .subcommands
                .iter()
                .find(|s| &s.name == sub)
                .map(|s| (s.options.clone(), self.confirm || s.confirm)),
            [group, sub] => self
                .groups
                .iter()
                .find(|g| &g.name == group)
                .and_then(|g| g.subcommands.iter().find(|s| &s.name == sub))
                .map(|s| (s.options.clone(), self.confirm || s.confirm)),
            _ => None,
        }
    }

    /// The subcommand at `path` as a command of its own (named `incident open`, with the
    /// subcommand's options and description), for parsing, checking and usage.
    pub fn sub(&self, path: &[String]) -> Option<Command> {
        if path.is_empty() {
            return self.at(path).map(|_| self.clone());
        }
        let (options, confirm) = self.at(path)?;
        let description = self
            .paths()
            .into_iter()
            .find(|(p, _)| p == path)
            .map(|(_, d)| d)
            .unwrap_or_default();
        let mut name = self.name.clone();
        for p in path {
            name.push(' ');
            name.push_str(p);
        }
        Some(Command {
            name,
            description,
            options,
            subcommands: vec![],
            groups: vec![],
            confirm,
        })
    }

    /// The subcommand named by the first words of a text command (`open …`, `note add …`):
    /// its path and how many words name it. An error lists what there is.
    pub fn resolve(&self, words: &[String]) -> Result<(Vec<String>, usize), String> {
        if !self.has_subcommands() {
            return Ok((vec![], 0));
        }
        let names: Vec<String> = self.paths().into_iter().map(|(p, _)| p.join(" ")).collect();
        let missing = || format!("`{}` needs a subcommand: {}", self.name, names.join(", "));
        let first = words
            .first()
            .map(|w| w.to_ascii_lowercase())
            .ok_or_else(missing)?;
        if self.subcommands.iter().any(|s| s.name == first) {
            return Ok((vec![first], 1));
        }
        if let Some(g) = self.groups.iter().find(|g| g.name == first) {
            let second = words.get(1).map(|w| w.to_ascii_lowercase());
            if let Some(sub) = second.filter(|s| g.subcommands.iter().any(|c| &c.name == s)) {
                return Ok((vec![first, sub], 2));
            }
        }
        Err(format!(
            "`{first}` is not a subcommand of it; {}",
            missing()
        ))
    }

    /// Whether the command is only a parent of subcommands.
    pub fn has_subcommands(&self) -> bool {
        !self.subcommands.is_empty() || !self.groups.is_empty()
    }

    /// Every path to something that runs: [] or each subcommand, with its description.
    pub fn paths(&self) -> Vec<(Vec<String>, String)> {
        if !self.has_subcommands() {
            return vec![(vec![], self.description.clone())];
        }
        let mut out: Vec<(Vec<String>, String)> = self
            .subcommands
            .iter()
            .map(|s| (vec![s.name.clone()], s.description.clone()))
            .collect();
        for g in &self.groups {
            for s in &g.subcommands {
                out.push((vec![g.name.clone(), s.name.clone()], s.description.clone()));
            }
        }
        out
    }
}

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
/// The same optional exports in 0.2, and the 0.2-only ones.
pub const SETTINGS_INTERFACE_V0_2: &str = "chatops:plugin/settings@0.2.0";
pub const CONFIRMATION_INTERFACE_V0_2: &str = "chatops:plugin/confirmation@0.2.0";
pub const COMPONENTS_INTERFACE: &str = "chatops:plugin/components@0.2.0";
pub const COMPONENTS_FUNCTION: &str = "on-component";
pub const AUTOCOMPLETE_INTERFACE: &str = "chatops:plugin/autocomplete@0.2.0";
pub const AUTOCOMPLETE_FUNCTION: &str = "complete";

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
