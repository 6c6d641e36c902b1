//! Constructors and accessors that make the generated contract types pleasant to use.

use crate::bindings::chatops::plugin::model::*;
use crate::{ChatError, KvError, SecretError};

impl PluginInfo {
    pub fn new(name: &str, version: &str, description: &str) -> Self {
        PluginInfo {
            name: name.into(),
            version: version.into(),
            description: description.into(),
            commands: Vec::new(),
            capabilities: Vec::new(),
        }
    }
    pub fn command(mut self, command: Command) -> Self {
        self.commands.push(command);
        self
    }
    /// Ask the admin for a capability, saying why.
    pub fn request(mut self, capability: Capability, reason: &str) -> Self {
        self.capabilities.push(CapabilityRequest {
            capability,
            reason: reason.into(),
        });
        self
    }
    /// Ask for outbound HTTP to `scheme://host[:port][/path-prefix]`.
    pub fn http(self, destination: &str, reason: &str) -> Self {
        self.request(Capability::Http(destination.into()), reason)
    }
    /// Ask for a secret by name.
    pub fn secret(self, name: &str, reason: &str) -> Self {
        self.request(Capability::Secret(name.into()), reason)
    }
}

impl crate::Setting {
    /// A setting the plugin reads with `config::get(key)`, described for the admin.
    pub fn new(key: &str, description: &str) -> Self {
        crate::Setting {
            key: key.into(),
            description: description.into(),
            required: false,
        }
    }
    /// The plugin cannot work without it: `chatops check` says when it is unset.
    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }
}

impl Command {
    pub fn new(name: &str, description: &str) -> Self {
        Command {
            name: name.into(),
            description: description.into(),
            options: Vec::new(),
            subcommands: Vec::new(),
            groups: Vec::new(),
            confirm: false,
        }
    }
    pub fn option(mut self, option: CommandOption) -> Self {
        self.options.push(option);
        self
    }
    /// A subcommand: `/incident open`. A command with subcommands has no options of its own.
    pub fn subcommand(mut self, subcommand: Subcommand) -> Self {
        self.subcommands.push(subcommand);
        self
    }
    /// A group of subcommands: `/incident note add`.
    pub fn group(mut self, group: SubcommandGroup) -> Self {
        self.groups.push(group);
        self
    }
    /// Dangerous: the user confirms with a button before it runs.
    pub fn confirm(mut self) -> Self {
        self.confirm = true;
        self
    }
}

impl CommandOption {
    pub fn new(name: &str, description: &str, kind: OptionKind) -> Self {
        CommandOption {
            name: name.into(),
            description: description.into(),
            kind,
            required: false,
            choices: Vec::new(),
            min_value: None,
            max_value: None,
            min_length: None,
            max_length: None,
            channel_kinds: Vec::new(),
            autocomplete: false,
        }
    }
    /// Numbers: the smallest value accepted.
    pub fn min(mut self, value: f64) -> Self {
        self.min_value = Some(value);
        self
    }
    /// Numbers: the largest value accepted.
    pub fn max(mut self, value: f64) -> Self {
        self.max_value = Some(value);
        self
    }
    /// Text: the shortest and longest value accepted.
    pub fn length(mut self, min: u32, max: u32) -> Self {
        self.min_length = Some(min);
        self.max_length = Some(max);
        self
    }
    /// Channels: the kinds accepted.
    pub fn channel_kind(mut self, kind: ChannelKind) -> Self {
        self.channel_kinds.push(kind);
        self
    }
    /// Values are completed while typed, by [`crate::Plugin::complete`].
    pub fn autocomplete(mut self) -> Self {
        self.autocomplete = true;
        self
    }
    pub fn string(name: &str, description: &str) -> Self {
        Self::new(name, description, OptionKind::String)
    }
    pub fn integer(name: &str, description: &str) -> Self {
        Self::new(name, description, OptionKind::Integer)
    }
    pub fn number(name: &str, description: &str) -> Self {
        Self::new(name, description, OptionKind::Number)
    }
    pub fn boolean(name: &str, description: &str) -> Self {
        Self::new(name, description, OptionKind::Boolean)
    }
    pub fn user(name: &str, description: &str) -> Self {
        Self::new(name, description, OptionKind::User)
    }
    pub fn channel(name: &str, description: &str) -> Self {
        Self::new(name, description, OptionKind::Channel)
    }
    pub fn role(name: &str, description: &str) -> Self {
        Self::new(name, description, OptionKind::Role)
    }
    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }
    /// A fixed value the user picks from; `name` is shown, `value` is passed.
    pub fn choice(mut self, name: &str, value: &str) -> Self {
        self.choices.push(OptionChoice {
            name: name.into(),
            value: value.into(),
        });
        self
    }
}

impl Invocation {
    /// The subcommand invoked, its words joined: "open", "note add", or "" for none.
    pub fn sub(&self) -> String {
        self.subcommand.join(" ")
    }
    pub fn arg(&self, name: &str) -> Option<&ArgValue> {
        self.args.iter().find(|a| a.name == name).map(|a| &a.value)
    }
    /// A string-like argument (string, user, channel, role) by name.
    pub fn str(&self, name: &str) -> Option<String> {
        match self.arg(name)? {
            ArgValue::String(s) | ArgValue::User(s) | ArgValue::Channel(s) | ArgValue::Role(s) => {
                Some(s.clone())
            }
            ArgValue::Integer(i) => Some(i.to_string()),
            ArgValue::Number(n) => Some(n.to_string()),
            ArgValue::Boolean(b) => Some(b.to_string()),
        }
    }
    pub fn integer(&self, name: &str) -> Option<i64> {
        match self.arg(name)? {
            ArgValue::Integer(i) => Some(*i),
            _ => None,
        }
    }
    pub fn number(&self, name: &str) -> Option<f64> {
        match self.arg(name)? {
            ArgValue::Number(n) => Some(*n),
            ArgValue::Integer(i) => Some(*i as f64),
            _ => None,
        }
    }
    pub fn boolean(&self, name: &str) -> Option<bool> {
        match self.arg(name)? {
            ArgValue::Boolean(b) => Some(*b),
            _ => None,
        }
    }
}

impl Subcommand {
    pub fn new(name: &str, description: &str) -> Self {
        Subcommand {
            name: name.into(),
            description: description.into(),
            options: Vec::new(),
            confirm: false,
        }
    }
    pub fn option(mut self, option: CommandOption) -> Self {
        self.options.push(option);
        self
    }
    /// Dangerous: the user confirms with a button before it runs.
    pub fn confirm(mut self) -> Self {
        self.confirm = true;
        self
    }
}

impl SubcommandGroup {
    pub fn new(name: &str, description: &str) -> Self {
        SubcommandGroup {
            name: name.into(),
            description: description.into(),
            subcommands: Vec::new(),
        }
    }
    pub fn subcommand(mut self, subcommand: Subcommand) -> Self {
        self.subcommands.push(subcommand);
        self
    }
}

/// Colours for [`Embed::color`] (0xRRGGBB).
pub mod colors {
    pub const RED: u32 = 0xE0_3B_3B;
    pub const ORANGE: u32 = 0xE6_7E_22;
    pub const YELLOW: u32 = 0xF1_C4_0F;
    pub const GREEN: u32 = 0x2E_CC_71;
    pub const BLUE: u32 = 0x34_98_DB;
    pub const GREY: u32 = 0x95_A5_A6;
}

impl Embed {
    pub fn new() -> Self {
        Embed {
            title: None,
            description: None,
            url: None,
            color: None,
            fields: Vec::new(),
            footer: None,
            timestamp: None,
        }
    }
    pub fn title(mut self, title: impl Into<String>) -> Self {
        self.title = Some(title.into());
        self
    }
    pub fn description(mut self, text: impl Into<String>) -> Self {
        self.description = Some(text.into());
        self
    }
    /// The title links here.
    pub fn url(mut self, url: impl Into<String>) -> Self {
        self.url = Some(url.into());
        self
    }
    /// 0xRRGGBB; see [`crate::colors`].
    pub fn color(mut self, rgb: u32) -> Self {
        self.color = Some(rgb);
        self
    }
    /// A field on a line of its own.
    pub fn field(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.fields.push(EmbedField {
            name: name.into(),
            value: value.into(),
            inline: false,
        });
        self
    }
    /// A field side by side with its inline neighbours.
    pub fn inline_field(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.fields.push(EmbedField {
            name: name.into(),
            value: value.into(),
            inline: true,
        });
        self
    }
    pub fn footer(mut self, text: impl Into<String>) -> Self {
        self.footer = Some(text.into());
        self
    }
    /// RFC 3339, e.g. `2026-11-27T12:00:00Z`.
    pub fn timestamp(mut self, rfc3339: impl Into<String>) -> Self {
        self.timestamp = Some(rfc3339.into());
        self
    }
}

impl Default for Embed {
    fn default() -> Self {
        Self::new()
    }
}

impl Attachment {
    /// A file: `Attachment::new("deploy.log", "text/plain", bytes)`.
    pub fn new(name: &str, content_type: &str, data: impl Into<Vec<u8>>) -> Self {
        Attachment {
            name: name.into(),
            content_type: content_type.into(),
            data: data.into(),
        }
    }
}

impl Button {
    /// A button that calls [`crate::Plugin::on_component`] with `custom_id`, under the
    /// access rules of `command` (this plugin's, with its subcommand: "incident ack").
    pub fn new(label: &str, command: &str, custom_id: &str) -> Self {
        Button {
            label: label.into(),
            style: ButtonStyle::Secondary,
            action: Action {
                command: command.into(),
                custom_id: custom_id.into(),
                confirm: false,
            },
            disabled: false,
        }
    }
    pub fn style(mut self, style: ButtonStyle) -> Self {
        self.style = style;
        self
    }
    pub fn primary(self) -> Self {
        self.style(ButtonStyle::Primary)
    }
    pub fn success(self) -> Self {
        self.style(ButtonStyle::Success)
    }
    pub fn danger(self) -> Self {
        self.style(ButtonStyle::Danger)
    }
    /// The pressing user confirms before the plugin is called.
    pub fn confirm(mut self) -> Self {
        self.action.confirm = true;
        self
    }
    pub fn disabled(mut self) -> Self {
        self.disabled = true;
        self
    }
}

impl LinkButton {
    /// A button that opens `url` (it does not call the plugin).
    pub fn new(label: &str, url: &str) -> Self {
        LinkButton {
            label: label.into(),
            url: url.into(),
        }
    }
}

impl SelectMenu {
    /// A menu whose chosen values reach [`crate::Plugin::on_component`] with `custom_id`.
    pub fn new(command: &str, custom_id: &str) -> Self {
        SelectMenu {
            action: Action {
                command: command.into(),
                custom_id: custom_id.into(),
                confirm: false,
            },
            placeholder: None,
            options: Vec::new(),
            min_values: 1,
            max_values: 1,
        }
    }
    pub fn placeholder(mut self, text: &str) -> Self {
        self.placeholder = Some(text.into());
        self
    }
    pub fn option(mut self, label: &str, value: &str) -> Self {
        self.options.push(SelectOption {
            label: label.into(),
            value: value.into(),
            description: None,
        });
        self
    }
}

/// Components go in rows: up to 5 buttons, or one select menu.
fn add_component(rows: &mut Vec<ActionRow>, c: Component) {
    let fits = |row: &ActionRow| {
        !matches!(c, Component::Select(_))
            && row.len() < 5
            && !row.iter().any(|x| matches!(x, Component::Select(_)))
    };
    match rows.last_mut() {
        Some(row) if fits(row) => row.push(c),
        _ => rows.push(vec![c]),
    }
}

macro_rules! rich_builders {
    ($t:ty) => {
        impl $t {
            pub fn embed(mut self, embed: Embed) -> Self {
                self.embeds.push(embed);
                self
            }
            /// Attach a file (a log, a CSV).
            pub fn attach(mut self, attachment: Attachment) -> Self {
                self.attachments.push(attachment);
                self
            }
            /// A button, in the last row while it has room.
            pub fn button(mut self, button: Button) -> Self {
                add_component(&mut self.components, Component::Button(button));
                self
            }
            pub fn link(mut self, link: LinkButton) -> Self {
                add_component(&mut self.components, Component::Link(link));
                self
            }
            /// A select menu, on a row of its own.
            pub fn select(mut self, menu: SelectMenu) -> Self {
                add_component(&mut self.components, Component::Select(menu));
                self
            }
            /// Start a new row of components.
            pub fn row(mut self) -> Self {
                self.components.push(Vec::new());
                self
            }
        }
    };
}

rich_builders!(Reply);
rich_builders!(Message);

impl Reply {
    /// A reply everyone in the channel sees.
    pub fn text(text: impl Into<String>) -> Self {
        Reply {
            text: text.into(),
            ephemeral: false,
            embeds: Vec::new(),
            attachments: Vec::new(),
            components: Vec::new(),
        }
    }
    /// A reply only the invoking user sees.
    pub fn private(text: impl Into<String>) -> Self {
        Reply {
            ephemeral: true,
            ..Reply::text(text)
        }
    }
}

impl Message {
    pub fn text(text: impl Into<String>) -> Self {
        Message {
            text: text.into(),
            embeds: Vec::new(),
            attachments: Vec::new(),
            components: Vec::new(),
        }
    }
}

impl Post {
    /// Text for a channel granted with `post`.
    pub fn text(channel: &str, text: impl Into<String>) -> Self {
        Post {
            channel: channel.into(),
            message: Message::text(text),
        }
    }
    /// A rich message for a channel granted with `post`.
    pub fn message(channel: &str, message: Message) -> Self {
        Post {
            channel: channel.into(),
            message,
        }
    }
}

impl CommandError {
    pub fn usage(message: impl Into<String>) -> Self {
        CommandError::Usage(message.into())
    }
    pub fn denied(message: impl Into<String>) -> Self {
        CommandError::Denied(message.into())
    }
    pub fn failed(message: impl Into<String>) -> Self {
        CommandError::Failed(message.into())
    }
}

impl SecretError {
    /// A sentence saying what went wrong, for chat.
    pub fn message(&self) -> String {
        match self {
            SecretError::NotGranted(name) => {
                format!("secret `{name}` is not granted to this plugin")
            }
            SecretError::NotFound(name) => format!("secret `{name}` is granted but has no value"),
            SecretError::Unavailable(why) => format!("secrets are unavailable: {why}"),
        }
    }
}

impl ChatError {
    /// A sentence saying what went wrong, for chat.
    pub fn message(&self) -> String {
        match self {
            ChatError::NotGranted(channel) => {
                format!("posting to `{channel}` is not granted to this plugin")
            }
            ChatError::Failed(why) => format!("posting failed: {why}"),
        }
    }
}

impl KvError {
    /// A sentence saying what went wrong, for chat.
    pub fn message(&self) -> String {
        match self {
            KvError::NotGranted => format!("the key-value store is not granted to this plugin"),
            KvError::Quota(why) => format!("key-value quota exceeded: {why}"),
            KvError::Failed(why) => format!("key-value store failed: {why}"),
        }
    }
}

impl From<SecretError> for CommandError {
    fn from(e: SecretError) -> Self {
        CommandError::Failed(e.message())
    }
}

impl From<ChatError> for CommandError {
    fn from(e: ChatError) -> Self {
        CommandError::Failed(e.message())
    }
}

impl From<KvError> for CommandError {
    fn from(e: KvError) -> Self {
        CommandError::Failed(e.message())
    }
}
