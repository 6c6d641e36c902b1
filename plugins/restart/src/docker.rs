//! The Docker Engine API (v1.41) as this plugin uses it: inspect, list by label, restart.
//! Every upstream failure becomes one short sentence for chat; the detail goes to the log.

use crate::text::{clip, Label};
use chatops_sdk::http::{HttpError, Request, Response};
use chatops_sdk::serde::Deserialize;
use chatops_sdk::*;
use std::collections::BTreeMap;
use std::time::Duration;

/// Docker Engine 20.10 speaks 1.41; newer engines still accept it.
pub const API: &str = "/v1.41";
/// Secret sent as `Authorization: Bearer …` when granted: for a proxy in front of Docker.
pub const TOKEN: &str = "docker-token";
/// The longest `Retry-After` worth waiting for inside one command.
const MAX_RETRY_AFTER: u64 = 10;

pub struct Engine {
    base: String,
    token: Option<String>,
}

/// `GET /containers/{id}/json`, the parts this plugin reads.
#[derive(Debug, Clone, Deserialize)]
#[serde(crate = "chatops_sdk::serde", rename_all = "PascalCase")]
pub struct Container {
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub restart_count: i64,
    pub state: State,
    #[serde(default)]
    pub config: Config,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(crate = "chatops_sdk::serde", rename_all = "PascalCase", default)]
pub struct State {
    /// created, running, paused, restarting, removing, exited or dead
    pub status: String,
    pub running: bool,
    pub restarting: bool,
    pub exit_code: i64,
    pub error: String,
    pub started_at: String,
    pub finished_at: String,
    /// Present only when the container has a health check.
    pub health: Option<Health>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(crate = "chatops_sdk::serde", rename_all = "PascalCase", default)]
pub struct Health {
    /// starting, healthy or unhealthy
    pub status: String,
    pub failing_streak: i64,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(crate = "chatops_sdk::serde", rename_all = "PascalCase", default)]
pub struct Config {
    pub image: String,
    /// `null` when the container has none.
    pub labels: Option<BTreeMap<String, String>>,
}

impl Container {
    /// `web`, without Docker's leading slash.
    pub fn short_name(&self) -> &str {
        let n = self.name.trim_start_matches('/');
        if n.is_empty() {
            &self.id[..self.id.len().min(12)]
        } else {
            n
        }
    }
    pub fn carries(&self, label: &Label) -> bool {
        self.config
            .labels
            .iter()
            .flatten()
            .any(|(k, v)| label.matches(std::iter::once((k.as_str(), v.as_str()))))
    }
    pub fn health(&self) -> Option<&str> {
        self.state.health.as_ref().map(|h| h.status.as_str())
    }
}

/// `GET /containers/json`, one entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(crate = "chatops_sdk::serde", rename_all = "PascalCase")]
pub struct Summary {
    #[serde(default)]
    pub names: Vec<String>,
    #[serde(default)]
    pub image: String,
    /// Docker's own words: `Up 3 minutes (healthy)`, `Exited (0) 2 hours ago`.
    #[serde(default)]
    pub status: String,
}

#[derive(Deserialize)]
#[serde(crate = "chatops_sdk::serde")]
struct DockerError {
    message: String,
}

impl Engine {
    /// From the `docker_url` setting, with the token if the admin granted one.
    pub fn from_settings() -> Result<Engine, CommandError> {
        let raw = crate::setting("docker_url")?;
        let base = raw.trim_end_matches('/');
        let base = base.strip_suffix(API).unwrap_or(base).to_string();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(CommandError::failed(format!(
                "the setting `docker_url` must be the Engine's HTTP address, e.g. http://127.0.0.1:2375, not `{}`; ask an admin to fix it",
                clip(&raw, 80)
            )));
        }
        Ok(Engine {
            base,
            token: secret(TOKEN).ok(),
        })
    }

    fn request(&self, method: &str, path: &str) -> Request {
        let mut req = Request::new(method, &format!("{}{API}{path}", self.base))
            .header("accept", "application/json")
            .header("user-agent", "chatops-restart");
        if let Some(t) = &self.token {
            req = req.bearer(t);
        }
        req
    }

    /// `None` when Docker knows no such container.
    pub fn inspect(&self, name: &str) -> Result<Option<Container>, CommandError> {
        let what = format!("look up `{name}`");
        let resp = self.send(
            self.request("GET", &format!("/containers/{name}/json")),
            &what,
        )?;
        match resp.status {
            200 => decode(&resp, &what).map(Some),
            404 => Ok(None),
            _ => Err(self.refused(&what, &resp)),
        }
    }

    /// Containers (running or not) that carry `label`.
    pub fn list(&self, label: &Label) -> Result<Vec<Summary>, CommandError> {
        let what = "list containers";
        let path = format!("/containers/json?all=true&filters={}", label.filter_query());
        let resp = self.send(self.request("GET", &path), what)?;
        match resp.status {
            200 => decode(&resp, what),
            _ => Err(self.refused(what, &resp)),
        }
    }

    /// Stop (Docker sends SIGTERM, then SIGKILL after `stop_timeout` s) and start again.
    /// Docker answers once the container has been started.
    pub fn restart(&self, c: &Container, stop_timeout: u64) -> Result<(), CommandError> {
        let name = c.short_name();
        let what = format!("restart `{name}`");
        let path = format!("/containers/{}/restart?t={stop_timeout}", c.id);
        let resp = self.send(self.request("POST", &path), &what)?;
        match resp.status {
            200..=299 => Ok(()),
            404 => Err(CommandError::failed(format!(
                "`{name}` disappeared before Docker could restart it"
            ))),
            _ => Err(self.refused(&what, &resp)),
        }
    }

    /// Send, waiting once for a short `Retry-After`; transport failures become a sentence.
    fn send(&self, req: Request, what: &str) -> Result<Response, CommandError> {
        let resp = self.send_once(req.clone(), what)?;
        if resp.status != 429 {
            return Ok(resp);
        }
        let wait = resp
            .header("retry-after")
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(1);
        log(
            Level::Warn,
            format!("Docker answered 429 to `{what}`; Retry-After {wait} s"),
        );
        if wait > MAX_RETRY_AFTER {
            return Err(CommandError::failed(format!(
                "Docker is rate-limiting requests; could not {what}. Try again in {wait} s."
            )));
        }
        progress(format!(
            "⏳ Docker asked to wait {wait} s before it would {what}; trying once more…"
        ));
        std::thread::sleep(Duration::from_secs(wait));
        let again = self.send_once(req, what)?;
        if again.status == 429 {
            return Err(CommandError::failed(format!(
                "Docker is still rate-limiting after a {wait} s wait; could not {what}. Try again in a minute."
            )));
        }
        Ok(again)
    }

    fn send_once(&self, req: Request, what: &str) -> Result<Response, CommandError> {
        req.send().map_err(|e| {
            log(Level::Warn, format!("could not {what}: {e}"));
            match e {
                HttpError::Denied(_) => CommandError::denied(format!(
                    "the restart plugin may not reach Docker at {}: an admin must grant it (`chatops grant restart http {}{API}/containers`), or the command used up its HTTP limits",
                    self.base, self.base
                )),
                HttpError::Failed(why) if why.contains("Timeout") || why.contains("timed out") => {
                    CommandError::failed(format!(
                        "Docker at {} did not answer in time; could not {what}.",
                        self.base
                    ))
                }
                HttpError::Failed(why) if why.contains("ConnectionRefused") => {
                    CommandError::failed(format!(
                        "Docker at {} refused the connection (is the Engine running and listening there?); could not {what}.",
                        self.base
                    ))
                }
                _ => CommandError::failed(format!(
                    "could not reach Docker at {}; could not {what}. The bot's log has the detail.",
                    self.base
                )),
            }
        })
    }

    /// A non-success answer, as one sentence; Docker's own message goes to the log, and to
    /// chat only for a conflict (409), where it says what is in the way.
    fn refused(&self, what: &str, resp: &Response) -> CommandError {
        let message = resp
            .json::<DockerError>()
            .map(|e| e.message)
            .unwrap_or_else(|_| clip(&resp.text(), 500));
        log(
            Level::Warn,
            format!(
                "Docker answered {} to `{what}`: {}",
                resp.status,
                clip(&message, 1000)
            ),
        );
        let status = resp.status;
        CommandError::failed(match status {
            401 | 403 => format!(
                "Docker refused to {what} (HTTP {status}): the bot is not allowed in; an admin should check the `{TOKEN}` secret or the proxy in front of Docker."
            ),
            409 => format!(
                "Docker could not {what}: {}",
                clip(message.trim_end_matches('.'), 200)
            ),
            500..=599 => format!(
                "Docker failed to {what} (HTTP {status}); the bot's log has Docker's message."
            ),
            _ => format!("Docker answered HTTP {status} when asked to {what}; the bot's log has the detail."),
        })
    }
}

/// JSON of the expected shape, or one sentence (the body goes to the log, never to chat).
fn decode<T: chatops_sdk::serde::de::DeserializeOwned>(
    resp: &Response,
    what: &str,
) -> Result<T, CommandError> {
    resp.json().map_err(|e| {
        log(
            Level::Warn,
            format!(
                "Docker's answer to `{what}` is not what the API describes ({e}): {}",
                clip(&resp.text(), 500)
            ),
        );
        CommandError::failed(format!(
            "Docker's answer to `{what}` could not be read (not the JSON the API describes); the bot's log has the detail."
        ))
    })
}
