//! `echo TEXT` — repeats what you say. The smallest useful plugin.
use chatops_sdk::*;

struct Echo;

impl Plugin for Echo {
    fn describe() -> PluginInfo {
        PluginInfo::new("echo", env!("CARGO_PKG_VERSION"), "Repeats what you say").command(
            Command::new("echo", "Repeat a message back to the channel")
                .option(CommandOption::string("text", "What to say").required()),
        )
    }

    fn run(inv: Invocation) -> Result<Reply, CommandError> {
        let text = inv.str("text").unwrap_or_default();
        if text.trim().is_empty() {
            return Err(CommandError::usage("give me something to say"));
        }
        Ok(Reply::text(text))
    }
}

plugin!(Echo);
