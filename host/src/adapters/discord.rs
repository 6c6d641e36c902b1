//! The Discord adapter (the only code that knows serenity).

use crate::bot::Bot;
use std::path::Path;
use std::sync::Arc;

/// The bot token, from the environment variable or secret the config names.
pub fn token(_bot: &Arc<Bot>, _config: Option<&Path>) -> anyhow::Result<Option<String>> {
    Ok(std::env::var("DISCORD_TOKEN")
        .ok()
        .filter(|t| !t.trim().is_empty()))
}

pub async fn run(_bot: Arc<Bot>, _config: Option<&Path>, _token: String) -> anyhow::Result<()> {
    anyhow::bail!("the Discord adapter is not built into this version yet; unset DISCORD_TOKEN to use the shell")
}
