//! my-plugin: a chatops plugin. Edit this file; the README says how to build and try it.
use chatops_sdk::*;

struct MyPlugin;

impl Plugin for MyPlugin {
    fn describe() -> PluginInfo {
        PluginInfo::new(
            env!("CARGO_PKG_NAME"),
            env!("CARGO_PKG_VERSION"),
            "Says hello",
        )
        .command(
            Command::new("my-plugin", "Greet someone")
                .option(CommandOption::string("name", "Who to greet").required())
                .option(
                    CommandOption::string("style", "How to say it")
                        .choice("plain", "plain")
                        .choice("loud", "loud"),
                ),
        )
        // Ask the admin for what you need, saying why; nothing is granted by asking:
        //   .http("https://api.example.com", "looks up deploy status")
        //   .secret("example-token", "authenticates to the example API")
    }

    fn run(inv: Invocation) -> Result<Reply, CommandError> {
        let name = inv.str("name").unwrap_or_default();
        let loud = inv.str("style").as_deref() == Some("loud");
        Ok(Reply::text(greeting(&name, loud)?))
    }
}

/// Plain logic lives in ordinary functions, so `cargo test` can check it natively.
pub fn greeting(name: &str, loud: bool) -> Result<String, CommandError> {
    if name.trim().is_empty() {
        return Err(CommandError::usage("tell me who to greet"));
    }
    let text = format!("Hello, {name}!");
    Ok(if loud { text.to_uppercase() } else { text })
}

plugin!(MyPlugin);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greets() {
        assert_eq!(greeting("Ada", false).unwrap(), "Hello, Ada!");
        assert_eq!(greeting("Ada", true).unwrap(), "HELLO, ADA!");
        assert!(matches!(greeting(" ", false), Err(CommandError::Usage(_))));
    }
}
