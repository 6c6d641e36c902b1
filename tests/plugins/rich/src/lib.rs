//! Subcommands, embeds, a file, buttons that edit the message, and autocomplete.
use chatops_sdk::*;

struct Rich;

const SERVICES: &[&str] = &["api", "auth", "billing", "search", "web"];

impl Plugin for Rich {
    fn describe() -> PluginInfo {
        PluginInfo::new("rich", env!("CARGO_PKG_VERSION"), "Rich answers")
            .command(
                Command::new("ticket", "Tickets")
                    .subcommand(
                        Subcommand::new("open", "Open a ticket")
                            .option(
                                CommandOption::string("title", "what is wrong")
                                    .required()
                                    .length(3, 80),
                            )
                            .option(
                                CommandOption::integer("severity", "1 (worst) to 4")
                                    .min(1.0)
                                    .max(4.0),
                            ),
                    )
                    .subcommand(
                        Subcommand::new("ack", "Acknowledge a ticket")
                            .option(CommandOption::string("id", "the ticket").required()),
                    )
                    .group(
                        SubcommandGroup::new("note", "Notes on a ticket").subcommand(
                            Subcommand::new("add", "Add a note")
                                .option(CommandOption::string("text", "the note").required()),
                        ),
                    ),
            )
            .command(
                Command::new("status", "A service's status").option(
                    CommandOption::string("service", "which service")
                        .required()
                        .autocomplete(),
                ),
            )
            .command(Command::new("logs", "The last log lines, as a file"))
            .command(Command::new(
                "announce",
                "Post an alert card to this channel",
            ))
    }

    fn run(inv: Invocation) -> Result<Reply, CommandError> {
        match (inv.command.as_str(), inv.sub().as_str()) {
            ("ticket", "open") => {
                let title = inv.str("title").unwrap_or_default();
                let sev = inv.integer("severity").unwrap_or(3);
                let color = if sev <= 1 {
                    colors::RED
                } else {
                    colors::YELLOW
                };
                Ok(Reply::text(format!("Opened T-1: {title}"))
                    .embed(
                        Embed::new()
                            .title(format!("T-1 {title}"))
                            .url("https://tickets.example.com/T-1")
                            .color(color)
                            .inline_field("Severity", sev.to_string())
                            .inline_field("Opened by", inv.user.name.clone())
                            .footer("rich plugin")
                            .timestamp("2026-11-27T12:00:00Z"),
                    )
                    .button(Button::new("Ack", "ticket ack", "ack:T-1").primary())
                    .button(
                        Button::new("Close", "ticket ack", "close:T-1")
                            .danger()
                            .confirm(),
                    )
                    .link(LinkButton::new("Open", "https://tickets.example.com/T-1")))
            }
            ("ticket", "ack") => Ok(Reply::text(format!(
                "{} acked {}",
                inv.user.name,
                inv.str("id").unwrap_or_default()
            ))),
            ("ticket", "note add") => Ok(Reply::text(format!(
                "Noted: {}",
                inv.str("text").unwrap_or_default()
            ))),
            ("status", _) => Ok(Reply::text(format!(
                "{} is up",
                inv.str("service").unwrap_or_default()
            ))
            .select(
                SelectMenu::new("status", "pick")
                    .placeholder("Another service")
                    .option("api", "api")
                    .option("web", "web"),
            )),
            ("logs", _) => Ok(
                Reply::text("The last lines are attached.").attach(Attachment::new(
                    "app.log",
                    "text/plain",
                    "line 1\nline 2\n".as_bytes(),
                )),
            ),
            ("announce", _) => {
                let card = Message::text("Alert A-1")
                    .embed(Embed::new().title("disk full on db-1").color(colors::RED))
                    .button(Button::new("Ack", "ticket ack", "ack:A-1").primary());
                post_message(&inv.channel, &card)?;
                Ok(Reply::text("Announced."))
            }
            _ => Err(CommandError::usage("unknown")),
        }
    }

    fn on_component(press: ComponentPress) -> Result<PressResult, CommandError> {
        if let Some(id) = press.custom_id.strip_prefix("ack:") {
            return Ok(PressResult::Edit(
                Message::text(format!("{id} acked by {}", press.user.name)).embed(
                    Embed::new()
                        .title(format!("{id} acknowledged"))
                        .color(colors::GREEN),
                ),
            ));
        }
        if let Some(id) = press.custom_id.strip_prefix("close:") {
            return Ok(PressResult::Reply(Reply::text(format!(
                "{id} closed by {}",
                press.user.name
            ))));
        }
        if press.custom_id == "pick" {
            return Ok(PressResult::Reply(Reply::private(format!(
                "{} is up",
                press.values.join(", ")
            ))));
        }
        Err(CommandError::failed(format!(
            "unknown button {}",
            press.custom_id
        )))
    }

    fn complete(request: AutocompleteRequest) -> Vec<OptionChoice> {
        SERVICES
            .iter()
            .filter(|s| s.starts_with(request.partial.as_str()))
            .map(|s| OptionChoice {
                name: s.to_string(),
                value: s.to_string(),
            })
            .collect()
    }
}

plugin!(Rich);
