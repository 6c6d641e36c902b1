//! `chatops:plugin/chat`: progress on the running command, and posting to granted channels.

use super::{CallContext, Sandbox};
use crate::model::bindings::chatops::plugin::chat::{self as wit, ChatError, Host};
use wasmtime::component::{HasData, Linker};

pub const INTERFACES: &[&str] = &["chatops:plugin/chat"];

pub struct ChatView<'a>(&'a CallContext);

struct HasChat;
impl HasData for HasChat {
    type Data<'a> = ChatView<'a>;
}

pub fn add_to_linker<T: Sandbox>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    wit::add_to_linker::<T, HasChat>(linker, |t| ChatView(t.call()))
}

/// Post for a plugin if `post CHANNEL` was granted to it: from the `post` import, and for
/// the posts an event handler returns.
pub async fn post(call: &CallContext, channel: &str, text: &str) -> Result<(), ChatError> {
    post_message(call, channel, &crate::model::Message::text(text)).await
}

/// [`post`] of a rich message (contract 0.2): text only goes the 0.1 way.
pub async fn post_message(
    call: &CallContext,
    channel: &str,
    message: &crate::model::Message,
) -> Result<(), ChatError> {
    let shown: String = channel.chars().take(100).collect();
    let granted = call.grants.post.iter().any(|c| c == channel);
    call.exit.capability(granted, &format!("post {shown}"));
    if !granted {
        let plugin = &call.plugin;
        call.notice(format!(
            "refused: plugin `{plugin}` tried to post to channel `{shown}`; to allow it: chatops grant {plugin} post {shown}"
        ));
        return Err(ChatError::NotGranted(channel.to_string()));
    }
    let rich = crate::render::Rich::of_message(message);
    let sent = if rich.is_empty() {
        call.exit.post(channel, &message.text).await
    } else {
        call.exit.post_message(channel, message).await
    };
    sent.map_err(ChatError::Failed)
}

impl Host for ChatView<'_> {
    async fn progress(&mut self, text: String) -> wasmtime::Result<()> {
        self.0.exit.progress(&text);
        Ok(())
    }

    async fn post(
        &mut self,
        channel: String,
        text: String,
    ) -> wasmtime::Result<Result<(), ChatError>> {
        Ok(post(self.0, &channel, &text).await)
    }
}
