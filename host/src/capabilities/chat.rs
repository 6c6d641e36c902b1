//! `chatops:plugin/chat`: progress on the running command, and posting to granted channels.

use crate::runtime::bindings::chatops::plugin::chat::{ChatError, Host};
use crate::runtime::HostState;

/// Progress text is short by nature; anything longer is cut rather than flooding the chat.
const MAX_PROGRESS: usize = 1800;

impl Host for HostState {
    async fn progress(&mut self, text: String) -> wasmtime::Result<()> {
        let (text, redacted) = self.call.redact(&text);
        if redacted {
            self.call.notice(format!(
                "redacted a secret value from a progress update of plugin `{}`",
                self.call.plugin
            ));
        }
        let text: String = text.chars().take(MAX_PROGRESS).collect();
        self.call.progress.progress(&text);
        Ok(())
    }

    async fn post(
        &mut self,
        channel: String,
        text: String,
    ) -> wasmtime::Result<Result<(), ChatError>> {
        if !self.call.grants.post.iter().any(|c| c == &channel) {
            self.call.notice(format!(
                "refused: plugin `{}` tried to post to channel `{channel}`; to allow it: chatops grant {} post {channel}",
                self.call.plugin, self.call.plugin
            ));
            return Ok(Err(ChatError::NotGranted(channel)));
        }
        let Some(poster) = self.call.poster.clone() else {
            return Ok(Err(ChatError::Failed(
                "this adapter cannot post to channels".into(),
            )));
        };
        let (text, _) = self.call.redact(&text);
        Ok(poster
            .post(&channel, &text)
            .await
            .map_err(ChatError::Failed))
    }
}
