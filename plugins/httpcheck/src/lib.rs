//! `httpcheck URL` — is this site up, and how fast? Uses outbound HTTP (only to the
//! destinations an admin granted) and, when granted, a bearer token from a secret.
use chatops_sdk::http::{HttpError, Request};
use chatops_sdk::*;
use std::time::Instant;

struct HttpCheck;

const TOKEN: &str = "httpcheck-token";

impl Plugin for HttpCheck {
    fn describe() -> PluginInfo {
        PluginInfo::new(
            "httpcheck",
            env!("CARGO_PKG_VERSION"),
            "Checks that a web service is up, and how fast it answers",
        )
        .command(
            Command::new("httpcheck", "Check a URL: status, time and size").option(
                CommandOption::string(
                    "url",
                    "The URL to check, e.g. https://api.example.com/health",
                )
                .required(),
            ),
        )
        .http(
            "*",
            "The sites you want checked: grant each one (e.g. https://api.example.com)",
        )
        .secret(
            TOKEN,
            "Optional bearer token sent with each check, for health endpoints behind auth",
        )
    }

    fn run(inv: Invocation) -> Result<Reply, CommandError> {
        let url = inv.str("url").unwrap_or_default();
        if !url.starts_with("http://") && !url.starts_with("https://") {
            return Err(CommandError::usage(format!(
                "`{url}` is not a URL: start it with https:// or http://"
            )));
        }
        let mut req = Request::get(&url).header("user-agent", "chatops-httpcheck");
        match secret(TOKEN) {
            Ok(token) => req = req.bearer(&token),
            Err(SecretError::NotGranted(_)) | Err(SecretError::NotFound(_)) => {}
            Err(e) => return Err(e.into()),
        }
        progress(format!("Checking {url}…"));
        let started = Instant::now();
        match req.send() {
            Ok(resp) => {
                let ms = started.elapsed().as_millis();
                let icon = if resp.is_success() { "✅" } else { "⚠️" };
                Ok(Reply::text(format!("{icon} {url} answered {} in {ms} ms ({} bytes)", resp.status, resp.body.len())))
            }
            Err(HttpError::Denied(_)) => Err(CommandError::denied(format!(
                "httpcheck may not reach {url}: an admin must grant it first (chatops grant httpcheck http URL)"
            ))),
            Err(e) => Ok(Reply::text(format!("❌ {url} is down: {e}"))),
        }
    }
}

plugin!(HttpCheck);
