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

    /// Settings the admin sets with `chatops config NAME KEY VALUE` (try them locally with
    /// `chatops shell --plugin … --setting KEY=VALUE`); read them with `config::get`.
    fn settings() -> Vec<Setting> {
        vec![Setting::new(
            "salutation",
            "The word to greet with (default: Hello)",
        )]
    }

    fn run(inv: Invocation) -> Result<Reply, CommandError> {
        let name = inv.str("name").unwrap_or_default();
        let loud = inv.str("style").as_deref() == Some("loud");
        let salutation = config::get("salutation").unwrap_or_else(|| "Hello".into());
        // A reply can carry embeds (`.embed(Embed::new().title(…).color(colors::GREEN))`),
        // files (`.attach(…)`) and buttons; a press comes back to `on_component`.
        Ok(Reply::text(greeting(&salutation, &name, loud)?)
            .button(Button::new("Wave back", "my-plugin", "wave").primary()))
    }

    /// A button was pressed: `press.custom_id` is the id given to `Button::new`.
    fn on_component(press: ComponentPress) -> Result<PressResult, CommandError> {
        Ok(PressResult::Edit(Message::text(format!(
            "{} waved back 👋",
            press.user.name
        ))))
    }
}

/// Plain logic lives in ordinary functions, so `cargo test` can check it natively.
pub fn greeting(salutation: &str, name: &str, loud: bool) -> Result<String, CommandError> {
    if name.trim().is_empty() {
        return Err(CommandError::usage("tell me who to greet"));
    }
    let text = format!("{salutation}, {name}!");
    Ok(if loud { text.to_uppercase() } else { text })
}

plugin!(MyPlugin);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greets() {
        assert_eq!(greeting("Hello", "Ada", false).unwrap(), "Hello, Ada!");
        assert_eq!(greeting("Hi", "Ada", true).unwrap(), "HI, ADA!");
        assert!(matches!(
            greeting("Hello", " ", false),
            Err(CommandError::Usage(_))
        ));
    }
}
