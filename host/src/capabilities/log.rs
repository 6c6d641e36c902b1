//! `chatops:plugin/log`: plugin log lines land in the host's log, attributed to the plugin.

use crate::runtime::bindings::chatops::plugin::log::{Host, Level};
use crate::runtime::HostState;

impl Host for HostState {
    async fn log(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
        let (message, _) = self.call.redact(&message);
        let message: String = message.chars().take(4096).collect();
        let plugin = &self.call.plugin;
        match level {
            Level::Trace => tracing::trace!(target: "plugin", %plugin, "{message}"),
            Level::Debug => tracing::debug!(target: "plugin", %plugin, "{message}"),
            Level::Info => tracing::info!(target: "plugin", %plugin, "{message}"),
            Level::Warn => tracing::warn!(target: "plugin", %plugin, "{message}"),
            Level::Error => tracing::error!(target: "plugin", %plugin, "{message}"),
        }
        Ok(())
    }
}
