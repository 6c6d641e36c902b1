//! Constructors and accessors that make the generated contract types pleasant to use.

use crate::bindings::chatops::plugin::types::*;
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

impl CommandOption {
    pub fn new(name: &str, description: &str, kind: OptionKind) -> Self {
        CommandOption {
            name: name.into(),
            description: description.into(),
            kind,
            required: false,
            choices: Vec::new(),
        }
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

impl Reply {
    /// A reply everyone in the channel sees.
    pub fn text(text: impl Into<String>) -> Self {
        Reply {
            text: text.into(),
            ephemeral: false,
        }
    }
    /// A reply only the invoking user sees.
    pub fn private(text: impl Into<String>) -> Self {
        Reply {
            text: text.into(),
            ephemeral: true,
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
