//! `ticket` — open, comment on, close and show tickets from chat, in Redmine or GitHub
//! Issues (setting `backend`). Every answer carries the ticket's link, and every ticket and
//! note names the chat user who asked.
use chatops_sdk::*;

mod api;
mod github;
mod redmine;
mod text;

use text::Who;

pub const REDMINE_KEY: &str = "redmine-api-key";
pub const GITHUB_TOKEN: &str = "github-token";

struct Ticket;

impl Plugin for Ticket {
    fn describe() -> PluginInfo {
        PluginInfo::new(
            "ticket",
            env!("CARGO_PKG_VERSION"),
            "Tickets from chat: open, comment, close and show Redmine issues or GitHub issues",
        )
        .command(
            Command::new(
                "ticket",
                "Open, comment on, close or show a ticket: ticket new|comment|close|show …",
            )
            .option(
                CommandOption::string("action", "What to do")
                    .choice("new", "new")
                    .choice("comment", "comment")
                    .choice("close", "close")
                    .choice("show", "show")
                    .required(),
            )
            .option(CommandOption::string(
                "target",
                "The title for `new` (quote it if it has spaces), or the ticket number",
            ))
            .option(CommandOption::string(
                "text",
                "The description for `new`, the comment for `comment`, an optional note for `close`",
            )),
        )
        .http(
            "the tracker's API in setting `url` (Redmine's base URL, or https://api.github.com)",
            "creates, comments on, closes and reads tickets",
        )
        .secret(
            REDMINE_KEY,
            "Redmine API key (X-Redmine-API-Key) of the account that files tickets, for backend = redmine",
        )
        .secret(
            GITHUB_TOKEN,
            "GitHub token with Issues read/write on `repo`, for backend = github",
        )
    }

    fn settings() -> Vec<Setting> {
        vec![
            Setting::new("backend", "Where tickets live: `redmine` or `github`").required(),
            Setting::new(
                "url",
                "Redmine's base URL (e.g. https://redmine.example.com), or the GitHub API base (default https://api.github.com; GitHub Enterprise: https://HOST/api/v3)",
            ),
            Setting::new(
                "project",
                "Redmine: the project identifier new tickets are filed in (e.g. ops)",
            ),
            Setting::new(
                "tracker_id",
                "Redmine: the tracker id for new tickets (default: the project's first tracker)",
            ),
            Setting::new(
                "closed_status",
                "Redmine: the status `ticket close` sets, by id or name (default: the first status Redmine marks closed)",
            ),
            Setting::new(
                "web_url",
                "Redmine: the base URL for links in chat, if people reach Redmine at another address than the bot (default: `url`)",
            ),
            Setting::new("repo", "GitHub: the repository as OWNER/REPO"),
            Setting::new(
                "labels",
                "GitHub: labels for new issues, comma-separated (optional)",
            ),
        ]
    }

    fn run(inv: Invocation) -> Result<Reply, CommandError> {
        let action = inv.str("action").unwrap_or_default();
        let target = inv.str("target").unwrap_or_default();
        let body = inv.str("text").unwrap_or_default();
        let who = Who::of(&inv);
        let request = parse(&action, &target, &body).map_err(CommandError::usage)?;
        let backend = Backend::from_config()?;
        let text = match request {
            Action::New { title, description } => backend.new_ticket(&title, &description, &who),
            Action::Comment { id, text } => backend.comment(id, &text, &who),
            Action::Close { id, text } => backend.close(id, &text, &who),
            Action::Show { id } => backend.show(id),
        }?;
        Ok(Reply::text(text))
    }
}

/// What the user asked for, checked before anything leaves the sandbox.
#[derive(Debug, PartialEq)]
enum Action {
    New { title: String, description: String },
    Comment { id: u64, text: String },
    Close { id: u64, text: String },
    Show { id: u64 },
}

fn parse(action: &str, target: &str, body: &str) -> Result<Action, String> {
    let target = target.trim();
    let id = || text::ticket_id(target);
    match action {
        "new" if target.is_empty() => Err(
            "give the ticket a title: `ticket new \"db is slow\" p99 over 2s since 09:00`".into(),
        ),
        "new" => Ok(Action::New {
            title: target.to_string(),
            description: body.trim().to_string(),
        }),
        "comment" if body.trim().is_empty() => {
            Err("what should the comment say? `ticket comment 12 restarted the db`".into())
        }
        "comment" => Ok(Action::Comment {
            id: id()?,
            text: body.trim().to_string(),
        }),
        "close" => Ok(Action::Close {
            id: id()?,
            text: body.trim().to_string(),
        }),
        "show" if !body.trim().is_empty() => {
            Err("`ticket show` takes only the ticket number: `ticket show 12`".into())
        }
        "show" => Ok(Action::Show { id: id()? }),
        other => Err(format!(
            "`{}` is not an action: use new, comment, close or show",
            text::clip(other, 40)
        )),
    }
}

enum Backend {
    Redmine(redmine::Redmine),
    GitHub(github::GitHub),
}

impl Backend {
    fn from_config() -> Result<Backend, CommandError> {
        match setting("backend")?.to_ascii_lowercase().as_str() {
            "redmine" => Ok(Backend::Redmine(redmine::Redmine::from_config()?)),
            "github" => Ok(Backend::GitHub(github::GitHub::from_config()?)),
            _ => Err(CommandError::failed(
                "The setting `backend` must be `redmine` or `github`; ask an admin to fix it (chatops config ticket backend redmine).",
            )),
        }
    }

    fn new_ticket(
        &self,
        title: &str,
        description: &str,
        who: &Who,
    ) -> Result<String, CommandError> {
        match self {
            Backend::Redmine(r) => r.new_ticket(title, description, who),
            Backend::GitHub(g) => g.new_ticket(title, description, who),
        }
    }

    fn comment(&self, id: u64, text: &str, who: &Who) -> Result<String, CommandError> {
        match self {
            Backend::Redmine(r) => r.comment(id, text, who),
            Backend::GitHub(g) => g.comment(id, text, who),
        }
    }

    fn close(&self, id: u64, text: &str, who: &Who) -> Result<String, CommandError> {
        match self {
            Backend::Redmine(r) => r.close(id, text, who),
            Backend::GitHub(g) => g.close(id, text, who),
        }
    }

    fn show(&self, id: u64) -> Result<String, CommandError> {
        match self {
            Backend::Redmine(r) => r.show(id),
            Backend::GitHub(g) => g.show(id),
        }
    }
}

/// A setting that may be unset; blank counts as unset.
pub(crate) fn optional(key: &str) -> Option<String> {
    config::get(key)
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// A setting the chosen backend needs, or a sentence telling the user what to ask for.
pub(crate) fn setting(key: &str) -> Result<String, CommandError> {
    optional(key).ok_or_else(|| {
        CommandError::failed(format!(
            "The ticket plugin needs the setting `{key}`; ask an admin to run `chatops config ticket {key} VALUE`."
        ))
    })
}

/// The backend's credentials, or a sentence naming the grant that is missing.
pub(crate) fn secret_or_explain(name: &str) -> Result<String, CommandError> {
    secret(name).map_err(|e| {
        log(Level::Warn, format!("secret `{name}`: {}", e.message()));
        match e {
            SecretError::NotGranted(_) => CommandError::denied(format!(
                "The ticket plugin has no credentials: an admin must grant it the secret `{name}` (chatops grant ticket secret {name})."
            )),
            SecretError::NotFound(_) => CommandError::failed(format!(
                "The secret `{name}` is granted but has no value; ask an admin to set it."
            )),
            SecretError::Unavailable(_) => CommandError::failed(
                "The bot's secrets are unavailable right now; an admin can find why in the log.",
            ),
        }
    })
}

plugin!(Ticket);

#[cfg(test)]
mod tests {
    use super::*;

    /// What the host checks at load (Discord's limits): a plugin over them is not loaded.
    #[test]
    fn descriptions_fit_discord() {
        let info = Ticket::describe();
        for c in &info.commands {
            assert!(c.description.chars().count() <= 100, "{}", c.description);
            for o in &c.options {
                assert!(o.description.chars().count() <= 100, "{}", o.description);
            }
        }
        for s in Ticket::settings() {
            assert!(s.description.chars().count() <= 200, "{}", s.description);
        }
    }

    #[test]
    fn parses_actions() {
        assert_eq!(
            parse("new", "db is slow", " p99 > 2s "),
            Ok(Action::New {
                title: "db is slow".into(),
                description: "p99 > 2s".into()
            })
        );
        assert!(parse("new", " ", "x").is_err());
        assert_eq!(
            parse("comment", "#4", "restarted"),
            Ok(Action::Comment {
                id: 4,
                text: "restarted".into()
            })
        );
        assert!(parse("comment", "4", "").is_err());
        assert!(parse("comment", "four", "x").is_err());
        assert_eq!(
            parse("close", "4", ""),
            Ok(Action::Close {
                id: 4,
                text: String::new()
            })
        );
        assert_eq!(parse("show", "9", ""), Ok(Action::Show { id: 9 }));
        assert!(parse("show", "9", "extra").is_err());
        assert!(parse("delete", "9", "").is_err());
    }
}
