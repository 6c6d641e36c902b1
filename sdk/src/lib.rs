//! The guest side of chatops: everything a plugin author needs.
//!
//! ```ignore
//! use chatops_sdk::*;
//!
//! struct Echo;
//! impl Plugin for Echo {
//!     fn describe() -> PluginInfo {
//!         PluginInfo::new("echo", env!("CARGO_PKG_VERSION"), "Repeats what you say")
//!             .command(Command::new("echo", "Repeat text").option(CommandOption::string("text", "what to say").required()))
//!     }
//!     fn run(inv: Invocation) -> Result<Reply, CommandError> {
//!         Ok(Reply::text(inv.str("text").unwrap_or_default()))
//!     }
//! }
//! plugin!(Echo);
//! ```

pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit/v0.2",
        world: "chatops:plugin/full-plugin@0.2.0",
        pub_export_macro: true,
        generate_all,
    });
}

mod builders;
pub mod http;

/// Re-exported so plugins can build JSON without another dependency.
pub use serde;
pub use serde_json;

pub use bindings::chatops::plugin::chat::ChatError;
pub use bindings::chatops::plugin::kv::KvError;
pub use bindings::chatops::plugin::log::Level;
pub use bindings::chatops::plugin::model::{
    Action, ActionRow, ArgValue, Argument, Attachment, AutocompleteRequest, Button, ButtonStyle,
    Capability, CapabilityRequest, ChannelKind, Command, CommandError, CommandOption, Component,
    ComponentPress, Embed, EmbedField, Event, Invocation, LinkButton, Message, OptionChoice,
    OptionKind, PluginInfo, Post, PressResult, Reply, ScheduleSpec, SelectMenu, SelectOption,
    Subcommand, SubcommandGroup, User, WebhookRequest,
};
pub use bindings::chatops::plugin::secrets::SecretError;
pub use bindings::exports::chatops::plugin::settings::Setting;
pub use builders::colors;

/// What a plugin implements. Only `describe` and `run` are required.
pub trait Plugin {
    /// Name, version, commands and the capabilities the plugin asks the admin for.
    fn describe() -> PluginInfo;
    /// Run one command. Return `CommandError::Usage` for bad arguments: the host shows the
    /// command's usage with your message.
    fn run(invocation: Invocation) -> Result<Reply, CommandError>;
    /// A webhook request or a schedule fired; return what to post and where.
    fn on_event(event: Event) -> Result<Vec<Post>, CommandError> {
        let _ = event;
        Ok(Vec::new())
    }
    /// The settings this plugin reads with [`config::get`], each with what it is for; the
    /// admin sees them in `chatops plugins inspect` and sets them with `chatops config`.
    fn settings() -> Vec<Setting> {
        Vec::new()
    }
    /// Whether this invocation must be confirmed by the user before [`Plugin::run`]:
    /// `Some(question)` shows the question with Confirm/Cancel, `None` runs at once. For
    /// confirmation that depends on the arguments or settings (a deploy to production);
    /// a command flagged [`Command::confirm`] always asks without calling this. It runs in a
    /// sandbox of its own: keep it quick and free of side effects.
    fn confirm(invocation: &Invocation) -> Option<String> {
        let _ = invocation;
        None
    }
    /// A button pressed or a select menu chosen on a message this plugin sent
    /// ([`Button::new`]'s custom id is `press.custom_id`). Runs under the access rules,
    /// cooldown and audit of the button's command. Return [`PressResult::Edit`] to replace
    /// the message the button is on, or [`PressResult::Reply`] to answer.
    fn on_component(press: ComponentPress) -> Result<PressResult, CommandError> {
        let _ = press;
        Err(CommandError::failed("this plugin has no buttons"))
    }
    /// Complete the option `request.option_name` from what was typed so far
    /// (`request.partial`), for options flagged [`CommandOption::autocomplete`]. At most 25
    /// choices are shown; the host waits at most 2 seconds.
    fn complete(request: AutocompleteRequest) -> Vec<OptionChoice> {
        let _ = request;
        Vec::new()
    }
}

/// Export a type implementing [`Plugin`] as this component's plugin.
#[macro_export]
macro_rules! plugin {
    ($ty:ty) => {
        const _: () = {
            struct __ChatopsPluginExport;
            impl $crate::bindings::exports::chatops::plugin::guest::Guest for __ChatopsPluginExport {
                fn describe() -> $crate::PluginInfo {
                    <$ty as $crate::Plugin>::describe()
                }
                fn run(invocation: $crate::Invocation) -> ::core::result::Result<$crate::Reply, $crate::CommandError> {
                    <$ty as $crate::Plugin>::run(invocation)
                }
                fn on_event(event: $crate::Event) -> ::core::result::Result<::std::vec::Vec<$crate::Post>, $crate::CommandError> {
                    <$ty as $crate::Plugin>::on_event(event)
                }
            }
            impl $crate::bindings::exports::chatops::plugin::settings::Guest for __ChatopsPluginExport {
                fn settings() -> ::std::vec::Vec<$crate::Setting> {
                    <$ty as $crate::Plugin>::settings()
                }
            }
            impl $crate::bindings::exports::chatops::plugin::confirmation::Guest for __ChatopsPluginExport {
                fn needs_confirmation(invocation: $crate::Invocation) -> ::core::option::Option<::std::string::String> {
                    <$ty as $crate::Plugin>::confirm(&invocation)
                }
            }
            impl $crate::bindings::exports::chatops::plugin::components::Guest for __ChatopsPluginExport {
                fn on_component(press: $crate::ComponentPress) -> ::core::result::Result<$crate::PressResult, $crate::CommandError> {
                    <$ty as $crate::Plugin>::on_component(press)
                }
            }
            impl $crate::bindings::exports::chatops::plugin::autocomplete::Guest for __ChatopsPluginExport {
                fn complete(request: $crate::AutocompleteRequest) -> ::std::vec::Vec<$crate::OptionChoice> {
                    <$ty as $crate::Plugin>::complete(request)
                }
            }
            $crate::bindings::export!(__ChatopsPluginExport with_types_in $crate::bindings);
        };
    };
}

/// Replace the progress text shown in chat for the running command.
pub fn progress(text: impl AsRef<str>) {
    bindings::chatops::plugin::chat::progress(&Message::text(text.as_ref()));
}

/// Replace the progress shown for the running command with a rich message.
pub fn progress_message(message: &Message) {
    bindings::chatops::plugin::chat::progress(message);
}

/// Post to a channel the admin granted this plugin with the `post` capability.
pub fn post(channel: &str, text: impl AsRef<str>) -> Result<(), ChatError> {
    bindings::chatops::plugin::chat::post(channel, &Message::text(text.as_ref()))
}

/// Post a rich message to a channel granted with the `post` capability.
pub fn post_message(channel: &str, message: &Message) -> Result<(), ChatError> {
    bindings::chatops::plugin::chat::post(channel, message)
}

/// A log line in the host's log, attributed to this plugin.
pub fn log(level: Level, message: impl AsRef<str>) {
    bindings::chatops::plugin::log::log(level, message.as_ref());
}

/// Read a secret the admin granted to this build of the plugin.
pub fn secret(name: &str) -> Result<String, SecretError> {
    bindings::chatops::plugin::secrets::get(name)
}

/// This plugin's own key-value namespace.
pub mod kv {
    pub use crate::bindings::chatops::plugin::kv::{delete, get, list_keys, set};
}

/// Settings the admin set for this plugin (`[plugins.NAME.config]`, `chatops config`),
/// through the standard `wasi:config/store`. Not for secrets: use [`secret`] for those.
pub mod config {
    use crate::bindings::wasi::config::store;

    /// The value of `key`, or `None` if the admin did not set it.
    pub fn get(key: &str) -> Option<String> {
        store::get(key).ok().flatten()
    }

    /// The value of `key`, or an error that tells the user what to ask the admin for.
    pub fn require(key: &str) -> Result<String, crate::CommandError> {
        get(key).ok_or_else(|| {
            crate::CommandError::Failed(format!(
                "this plugin needs the setting `{key}`; ask an admin to run `chatops config PLUGIN {key} VALUE`"
            ))
        })
    }

    /// Every setting, as (key, value) pairs.
    pub fn get_all() -> Vec<(String, String)> {
        store::get_all().unwrap_or_default()
    }
}
