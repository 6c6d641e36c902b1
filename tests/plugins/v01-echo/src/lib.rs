//! A plugin built from chatops-sdk 0.1: flat commands, text replies, a post from a webhook.
use chatops_sdk::*;

struct OldEcho;

impl Plugin for OldEcho {
    fn describe() -> PluginInfo {
        PluginInfo::new(
            "v01-echo",
            env!("CARGO_PKG_VERSION"),
            "Built from the 0.1 SDK",
        )
        .command(
            Command::new("oldecho", "Repeat text, as 0.1 did")
                .option(CommandOption::string("text", "what to say").required()),
        )
        .command(
            Command::new("oldprivate", "Answer only to you")
                .option(CommandOption::integer("n", "a number")),
        )
    }

    fn run(inv: Invocation) -> Result<Reply, CommandError> {
        match inv.command.as_str() {
            "oldecho" => {
                progress("echoing");
                Ok(Reply::text(format!(
                    "0.1 says: {}",
                    inv.str("text").unwrap_or_default()
                )))
            }
            "oldprivate" => Ok(Reply::private(format!(
                "n = {}",
                inv.integer("n").unwrap_or(0)
            ))),
            other => Err(CommandError::usage(format!("no command {other}"))),
        }
    }
}

plugin!(OldEcho);
