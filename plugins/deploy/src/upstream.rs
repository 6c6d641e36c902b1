//! Talking to the CI server: one short sentence for the chat user on every failure, the
//! detail in the admin's log, one wait on 429 `Retry-After`.

use chatops_sdk::http::{HttpError, Request, Response};
use chatops_sdk::{log, CommandError, Level};

/// Longest `Retry-After` worth waiting for inside one command.
const MAX_RETRY_AFTER: u64 = 20;

/// Which server, and what to tell the user when it refuses the credentials.
pub struct Upstream {
    pub name: &'static str,
    pub credentials: &'static str,
}

pub const BUILDBOT: Upstream = Upstream {
    name: "Buildbot",
    credentials: "the `user` setting and the `buildbot-password` secret",
};

pub const GITHUB: Upstream = Upstream {
    name: "GitHub",
    credentials: "the `github-token` secret",
};

impl Upstream {
    /// Send, once more after a 429 within the limits; any status comes back as a response.
    pub fn send(&self, req: Request, what: &str) -> Result<Response, CommandError> {
        let resp = self.send_once(req.clone(), what)?;
        if let Some(wait) = rate_limited(&resp) {
            if wait > MAX_RETRY_AFTER {
                log(
                    Level::Warn,
                    format!(
                        "{} rate-limited {what}; Retry-After {wait} s is too long to wait",
                        self.name
                    ),
                );
                return Err(CommandError::failed(format!(
                    "{} is rate-limiting us; try again in {wait} s.",
                    self.name
                )));
            }
            log(
                Level::Info,
                format!("{} rate-limited {what}; waiting {wait} s once", self.name),
            );
            chatops_sdk::progress(format!(
                "⏳ {} asked us to slow down; retrying in {wait} s…",
                self.name
            ));
            std::thread::sleep(std::time::Duration::from_secs(wait));
            let again = self.send_once(req, what)?;
            if let Some(wait) = rate_limited(&again) {
                log(
                    Level::Warn,
                    format!("{} rate-limited {what} again after the wait", self.name),
                );
                return Err(CommandError::failed(format!(
                    "{} is still rate-limiting us after one wait; try again in {} s.",
                    self.name,
                    wait.max(1)
                )));
            }
            return Ok(again);
        }
        Ok(resp)
    }

    fn send_once(&self, req: Request, what: &str) -> Result<Response, CommandError> {
        req.send().map_err(|e| self.transport(e, what))
    }

    /// A request that never left, or never came back.
    pub fn transport(&self, e: HttpError, what: &str) -> CommandError {
        log(Level::Warn, format!("{} while {what}: {e}", self.name));
        match e {
            HttpError::Denied(url) => CommandError::denied(format!(
                "deploy may not reach {}: an admin must grant it (`chatops grant deploy http {}`), or a per-command limit was hit",
                origin(&url),
                origin(&url)
            )),
            HttpError::Failed(why) if why.to_ascii_lowercase().contains("timeout") || why.contains("Timeout") => {
                CommandError::failed(format!("{} did not answer in time while {what}; try again in a moment.", self.name))
            }
            _ => CommandError::failed(format!("could not reach {} while {what}; try again in a moment.", self.name)),
        }
    }

    /// A response with a status that is not the expected one.
    pub fn refused(&self, resp: &Response, what: &str) -> CommandError {
        log(
            Level::Warn,
            format!(
                "{} answered {} while {what}: {}",
                self.name,
                resp.status,
                clip(&resp.text(), 500)
            ),
        );
        let name = self.name;
        let status = resp.status;
        CommandError::failed(match status {
            401 => format!("{name} did not accept our credentials while {what} (401); ask an admin to check {}.", self.credentials),
            403 => format!("{name} denied {what} (403): the account deploy uses may not do that; ask an admin to check {}.", self.credentials),
            404 => format!("{name} found nothing while {what} (404); ask an admin to check the deploy settings."),
            422 => match validation_message(resp) {
                Some(m) => format!("{name} rejected {what}: {m}"),
                None => format!("{name} rejected {what} (422)."),
            },
            500..=599 => format!("{name} failed while {what} ({status}); try again in a moment."),
            _ => format!("{name} answered {status} while {what}."),
        })
    }

    /// The body as `T`, or a sentence saying the server answered something else.
    pub fn json<T: chatops_sdk::serde::de::DeserializeOwned>(
        &self,
        resp: &Response,
        what: &str,
    ) -> Result<T, CommandError> {
        resp.json().map_err(|e| {
            log(
                Level::Warn,
                format!("{} answered {what} with what is not the expected JSON ({e}): {}", self.name, clip(&resp.text(), 300)),
            );
            CommandError::failed(format!(
                "{} gave an answer deploy could not read while {what}; ask an admin to check the `url` setting.",
                self.name
            ))
        })
    }
}

/// Seconds to wait when the response is a rate limit (429, or GitHub's 403 with no requests
/// left), from `Retry-After` or GitHub's reset time.
fn rate_limited(resp: &Response) -> Option<u64> {
    let exhausted = resp.status == 403 && resp.header("x-ratelimit-remaining") == Some("0");
    if resp.status != 429 && !exhausted {
        return None;
    }
    if let Some(s) = resp
        .header("retry-after")
        .and_then(|v| v.trim().parse::<u64>().ok())
    {
        return Some(s);
    }
    if let Some(reset) = resp
        .header("x-ratelimit-reset")
        .and_then(|v| v.trim().parse::<u64>().ok())
    {
        return Some(reset.saturating_sub(crate::text::unix_now()).max(1));
    }
    Some(1)
}

/// GitHub's `message` plus its `errors[]` messages, on one short line.
fn validation_message(resp: &Response) -> Option<String> {
    let v: chatops_sdk::serde_json::Value = resp.json().ok()?;
    let mut parts = Vec::new();
    if let Some(m) = v["message"].as_str() {
        parts.push(m.to_string());
    }
    if let Some(errors) = v["errors"].as_array() {
        for e in errors {
            match e {
                chatops_sdk::serde_json::Value::String(s) => parts.push(s.clone()),
                e => {
                    if let Some(m) = e["message"].as_str() {
                        parts.push(m.to_string());
                    } else if let (Some(f), Some(c)) = (e["field"].as_str(), e["code"].as_str()) {
                        parts.push(format!("{f}: {c}"));
                    }
                }
            }
        }
    }
    (!parts.is_empty()).then(|| clip(&parts.join("; ").replace(['\n', '\r'], " "), 300))
}

/// `scheme://host[:port]` of a URL.
pub fn origin(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let host = rest.split(['/', '?', '#']).next().unwrap_or(rest);
            let host = host.rsplit('@').next().unwrap_or(host);
            format!("{scheme}://{host}")
        }
        None => url.to_string(),
    }
}

pub fn clip(s: &str, max: usize) -> String {
    let s = s.trim();
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max).collect();
    out.push('…');
    out
}
