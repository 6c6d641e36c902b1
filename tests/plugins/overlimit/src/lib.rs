//! One choice too many: the host must refuse this at load, naming Discord's limit.
use chatops_sdk::*;

struct Over;

impl Plugin for Over {
    fn describe() -> PluginInfo {
        let mut region = CommandOption::string("region", "where");
        for i in 0..26 {
            region = region.choice(&format!("r{i}"), &format!("r{i}"));
        }
        PluginInfo::new("overlimit", env!("CARGO_PKG_VERSION"), "Too many choices")
            .command(Command::new("pick", "Pick a region").option(region))
    }
    fn run(_inv: Invocation) -> Result<Reply, CommandError> {
        Ok(Reply::text("unreachable"))
    }
}

plugin!(Over);
