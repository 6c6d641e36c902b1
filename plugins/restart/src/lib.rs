//! `restart` — being written (issue 9); this placeholder is replaced before the issue closes.
use chatops_sdk::*;

struct Skeleton;

impl Plugin for Skeleton {
    fn describe() -> PluginInfo {
        PluginInfo::new("restart", env!("CARGO_PKG_VERSION"), "being written")
            .command(Command::new("restart", "being written"))
    }

    fn run(_inv: Invocation) -> Result<Reply, CommandError> {
        Err(CommandError::Failed("being written".into()))
    }
}

plugin!(Skeleton);
