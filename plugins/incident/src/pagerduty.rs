//! Forwarding to PagerDuty's Events API v2: `POST {pagerduty_url}/v2/enqueue` with the
//! routing key from a granted secret, `dedup_key` = the incident's id.

use crate::model::{clip, Incident, Status};
use crate::{store, text};
use chatops_sdk::http::{HttpError, Request, Response};
use chatops_sdk::serde::Deserialize;
use chatops_sdk::serde_json::{json, Value};
use chatops_sdk::{config, log, secret, Level};
use std::time::Duration;

pub const ROUTING_KEY: &str = "pagerduty-routing-key";
pub const DEFAULT_URL: &str = "https://events.pagerduty.com";
/// The longest `Retry-After` worth waiting for inside one chat command.
const MAX_WAIT_SECS: u64 = 5;

/// Where and how events go, when forwarding is on.
pub struct Forwarding {
    pub base: String,
    key: String,
    source: String,
    link: Option<String>,
}

fn setting(key: &str) -> Option<String> {
    config::get(key)
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// Forwarding's settings, or why it is off (a sentence for the admin log).
fn forwarding() -> Result<Forwarding, (Level, String)> {
    let Some(base) = setting("pagerduty_url") else {
        return Err((
            Level::Info,
            format!("the setting `pagerduty_url` is not set; to forward incidents: chatops config incident pagerduty_url {DEFAULT_URL}, and grant the secret {ROUTING_KEY} and http {DEFAULT_URL}"),
        ));
    };
    let base = base.trim_end_matches('/').to_string();
    if !(base.starts_with("https://") || base.starts_with("http://")) {
        return Err((
            Level::Warn,
            format!(
                "the setting `pagerduty_url` (`{}`) is not an http(s) URL; use {DEFAULT_URL}",
                clip(&base, 100)
            ),
        ));
    }
    let key = match secret(ROUTING_KEY) {
        Ok(k) => k.trim().to_string(),
        Err(e) => {
            return Err((
                Level::Warn,
                format!("{}; to turn it on: chatops grant incident secret {ROUTING_KEY} (the Integration Key of an Events API v2 integration)", e.message()),
            ))
        }
    };
    let n = key.chars().count();
    if n != 32 {
        return Err((
            Level::Warn,
            format!("the secret {ROUTING_KEY} is {n} characters long, but a PagerDuty integration key has 32; copy it from the service's Events API v2 integration"),
        ));
    }
    let source = setting("source").unwrap_or_else(|| "chatops".into());
    // A link with credentials in it would hand them to PagerDuty and everyone who sees
    // the incident there.
    let link = setting("link_url").filter(|l| {
        let ok = (l.starts_with("https://") || l.starts_with("http://"))
            && !l.split('/').nth(2).unwrap_or("").contains('@');
        if !ok {
            log(Level::Warn, "the setting `link_url` is not an http(s) URL without credentials; no link is sent to PagerDuty");
        }
        ok
    });
    Ok(Forwarding {
        base,
        key,
        source,
        link,
    })
}

/// Forwarding, if on; its state goes to the admin log when it changes, not every time.
pub fn current() -> Option<Forwarding> {
    match forwarding() {
        Ok(f) => {
            if store::pagerduty_state_changed("on") {
                log(
                    Level::Info,
                    format!(
                        "PagerDuty forwarding is on: events go to {}/v2/enqueue",
                        f.base
                    ),
                );
            }
            Some(f)
        }
        Err((level, why)) => {
            if store::pagerduty_state_changed(&why) {
                log(level, format!("PagerDuty forwarding is off: {why}"));
            }
            None
        }
    }
}

/// Whether the admin meant PagerDuty to be used (for `incident show`), without reading
/// the secret.
pub fn configured() -> bool {
    setting("pagerduty_url").is_some()
}

/// The Events API v2 body for `action` on `inc`.
pub fn event(f: &Forwarding, inc: &Incident, action: &str) -> Value {
    let id = inc.id();
    let mut ev = json!({
        "routing_key": f.key,
        "event_action": action,
        "dedup_key": id,
    });
    if action == "trigger" {
        let opened = inc.opened();
        let mut payload = json!({
            "summary": clip(&format!("{id}: {}", inc.title), 1024),
            "source": f.source,
            "severity": inc.severity.pagerduty(),
            "class": "incident",
            "custom_details": {
                "incident": id,
                "severity": inc.severity.sev(),
                "opened_by": opened.map(|e| e.who.as_str()).unwrap_or(""),
            },
        });
        if let Some(e) = opened {
            payload["timestamp"] = json!(text::rfc3339(e.at));
        }
        ev["payload"] = payload;
        ev["client"] = json!("chatops");
        if let Some(link) = &f.link {
            ev["links"] =
                json!([{ "href": link.replace("{id}", &id), "text": format!("{id} details") }]);
        }
    }
    ev
}

/// Why PagerDuty was not updated.
#[derive(Debug, Clone, PartialEq)]
pub enum Failure {
    /// 400: PagerDuty says the event is invalid; resending it will not help.
    Refused,
    /// 429, with how long PagerDuty asked us to wait (if it said).
    RateLimited(Option<u64>),
    /// 5xx.
    ServerError(u16),
    /// No answer in time, or no connection.
    Unanswered { timeout: bool },
    /// A success status whose body is not PagerDuty's answer.
    Garbled,
    /// The host refused the destination: no http grant.
    Denied(String),
    /// Anything else (401, 403, 404 …): most likely a wrong `pagerduty_url`.
    Status(u16),
}

impl Failure {
    /// One short sentence for the chat, with what to do next.
    pub fn sentence(&self, id: &str) -> String {
        let again = format!("run `incident sync {id}`");
        match self {
            Failure::Refused => format!("PagerDuty was not updated: it refused the event as invalid (the admin log says why); once that is fixed, {again}."),
            Failure::RateLimited(Some(s)) if *s > 0 => format!("PagerDuty was not updated: it is rate limiting us; {again} in {}.", text::duration(*s)),
            Failure::RateLimited(_) => format!("PagerDuty was not updated: it is rate limiting us; {again} in a minute or two."),
            Failure::ServerError(code) => format!("PagerDuty was not updated: it had a server error ({code}); {again} in a minute."),
            Failure::Unanswered { timeout: true } => format!("PagerDuty was not updated: it did not answer in time; {again} in a minute."),
            Failure::Unanswered { timeout: false } => format!("PagerDuty was not updated: it could not be reached; {again} in a minute."),
            Failure::Garbled => format!("PagerDuty may not have been updated: its answer could not be read; {again} to make sure."),
            Failure::Denied(url) => format!("PagerDuty was not updated: this plugin may not reach {url}; an admin must grant it (`chatops grant incident http {url}`)."),
            Failure::Status(code) => format!("PagerDuty was not updated: it answered {code}; an admin should check the setting `pagerduty_url`, then {again}."),
        }
    }
}

#[derive(Deserialize)]
#[serde(crate = "chatops_sdk::serde")]
struct Accepted {
    status: String,
    #[serde(default)]
    dedup_key: Option<String>,
}

#[derive(Deserialize)]
#[serde(crate = "chatops_sdk::serde")]
struct Invalid {
    #[serde(default)]
    status: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    errors: Vec<String>,
}

/// A response body for the admin log: one line, short.
fn body_for_log(resp: &Response) -> String {
    clip(&resp.text().replace(['\n', '\r'], " "), 300)
}

/// Send one event; waits once for a short `Retry-After`. `Ok(waited seconds)`.
fn send(f: &Forwarding, inc: &Incident, action: &str) -> Result<u64, Failure> {
    let url = format!("{}/v2/enqueue", f.base);
    let body = event(f, inc, action);
    let what = format!("the {action} event for {}", inc.id());
    let mut waited = 0;
    loop {
        let req = Request::post(&url)
            .header("accept", "application/json")
            .header("user-agent", "chatops-incident")
            .json(&body)
            .map_err(|_| Failure::Refused)?;
        let resp = match req.send() {
            Ok(r) => r,
            Err(HttpError::Denied(_)) => {
                log(
                    Level::Warn,
                    format!(
                        "PagerDuty: {what} was not sent: the http grant for {} is missing",
                        f.base
                    ),
                );
                return Err(Failure::Denied(f.base.clone()));
            }
            Err(e) => {
                let detail = e.to_string();
                log(Level::Warn, format!("PagerDuty: {what} failed: {detail}"));
                let timeout = detail.to_ascii_lowercase().contains("timeout")
                    || detail.to_ascii_lowercase().contains("timed out");
                return Err(Failure::Unanswered { timeout });
            }
        };
        match resp.status {
            200..=299 => {
                return match resp.json::<Accepted>() {
                    Ok(a) if a.status == "success" => {
                        if a.dedup_key.as_deref().is_some_and(|k| k != inc.id()) {
                            log(
                                Level::Warn,
                                format!(
                                    "PagerDuty answered {what} with another dedup_key: {:?}",
                                    a.dedup_key
                                ),
                            );
                        }
                        Ok(waited)
                    }
                    Ok(a) => {
                        log(
                            Level::Warn,
                            format!(
                                "PagerDuty answered {what} with {} and status `{}`",
                                resp.status,
                                clip(&a.status, 100)
                            ),
                        );
                        Err(Failure::Garbled)
                    }
                    Err(e) => {
                        log(Level::Warn, format!("PagerDuty answered {what} with {} and a body that is not its JSON answer ({e}): {}", resp.status, body_for_log(&resp)));
                        Err(Failure::Garbled)
                    }
                }
            }
            400 => {
                let detail = match resp.json::<Invalid>() {
                    Ok(i) => format!("{}: {} {:?}", i.status, i.message, i.errors),
                    Err(_) => body_for_log(&resp),
                };
                log(
                    Level::Error,
                    format!("PagerDuty refused {what} (400): {}", clip(&detail, 600)),
                );
                return Err(Failure::Refused);
            }
            429 => {
                let after = resp
                    .header("retry-after")
                    .and_then(|v| v.trim().parse::<u64>().ok());
                match after {
                    Some(s) if waited == 0 && s <= MAX_WAIT_SECS => {
                        log(Level::Info, format!("PagerDuty rate limited {what}; retrying once after {s}s as it asked"));
                        std::thread::sleep(Duration::from_secs(s.max(1)));
                        waited = s.max(1);
                        continue;
                    }
                    _ => {
                        log(Level::Warn, format!("PagerDuty rate limited {what} (429, Retry-After: {}); not retried now", resp.header("retry-after").unwrap_or("none")));
                        return Err(Failure::RateLimited(after));
                    }
                }
            }
            code @ 500..=599 => {
                log(
                    Level::Warn,
                    format!("PagerDuty failed {what} ({code}): {}", body_for_log(&resp)),
                );
                return Err(Failure::ServerError(code));
            }
            code => {
                log(
                    Level::Warn,
                    format!(
                        "PagerDuty answered {what} with {code}: {}",
                        body_for_log(&resp)
                    ),
                );
                return Err(Failure::Status(code));
            }
        }
    }
}

/// What a catch-up did.
pub struct Outcome {
    pub sent: Vec<&'static str>,
    pub waited: u64,
    pub failure: Option<Failure>,
}

impl Outcome {
    /// A sentence for the reply: empty when nothing needed saying.
    pub fn sentence(&self, id: &str) -> String {
        match &self.failure {
            Some(f) => f.sentence(id),
            None if self.sent.is_empty() => String::new(),
            None if self.waited > 0 => format!(
                "PagerDuty was updated (after waiting {} as it asked).",
                text::duration(self.waited)
            ),
            None => "PagerDuty was updated.".into(),
        }
    }
}

/// Send what PagerDuty has not been told yet, in order, recording each success on `inc`
/// (the caller saves it). Stops at the first failure.
pub fn catch_up(f: &Forwarding, inc: &mut Incident) -> Outcome {
    let mut out = Outcome {
        sent: Vec::new(),
        waited: 0,
        failure: None,
    };
    for action in inc.pending_events() {
        match send(f, inc, action) {
            Ok(w) => {
                out.waited += w;
                out.sent.push(action);
                inc.pagerduty.sent = Some(match action {
                    "trigger" => Status::Open,
                    "acknowledge" => Status::Acknowledged,
                    _ => Status::Resolved,
                });
            }
            Err(e) => {
                out.failure = Some(e);
                break;
            }
        }
    }
    out
}
