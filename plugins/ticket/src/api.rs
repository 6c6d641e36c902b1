//! One exchange with the tracker and every way it can go wrong, turned into one short
//! sentence for chat while the detail goes to the admin's log. Shared by both backends.

use crate::text::{clip, one_line};
use chatops_sdk::http::{HttpError, Request, Response};
use chatops_sdk::serde_json::Value;
use chatops_sdk::*;
use std::time::Duration;

/// The longest `Retry-After` the plugin waits out (once); longer ones are reported. Well
/// inside the default 60 s wall-time limit, and waiting does not use the HTTP-time budget.
pub const MAX_WAIT: Duration = Duration::from_secs(10);

/// Which tracker we talk to, for messages and the log.
#[derive(Debug, Clone, Copy)]
pub struct Service {
    /// `Redmine` or `GitHub`
    pub name: &'static str,
    /// The secret holding the credentials, named when they are refused.
    pub secret: &'static str,
}

/// `value` as the JSON body (the SDK sends its `Content-Length`, which thin, Redmine's
/// server, needs: it does not read a chunked body).
pub fn with_json(req: Request, value: &Value) -> Request {
    req.header("content-type", "application/json")
        .body(value.to_string().into_bytes())
}

/// Send `req`; a 429 (or GitHub's rate-limit 403) with a short `Retry-After` is waited out
/// once and the request sent again. `what` completes "could not …" (e.g. "open the ticket").
pub fn exchange(svc: Service, req: Request, what: &str) -> Result<Response, CommandError> {
    let mut waited = false;
    loop {
        let resp = req.clone().send().map_err(|e| transport(svc, what, e))?;
        if !is_rate_limited(&resp) {
            return Ok(resp);
        }
        let wait = retry_after(&resp);
        log(
            Level::Warn,
            format!(
                "{} rate-limited the request to {what} ({}), Retry-After {:?}",
                svc.name,
                resp.status,
                resp.header("retry-after")
            ),
        );
        match wait {
            Some(d) if !waited && d <= MAX_WAIT => {
                progress(format!(
                    "{} asked the bot to slow down; trying again in {} s…",
                    svc.name,
                    d.as_secs().max(1)
                ));
                std::thread::sleep(d);
                waited = true;
            }
            _ => {
                let when = match wait {
                    Some(d) => format!("in {} s", d.as_secs().max(1)),
                    None => "in a minute".into(),
                };
                let again = if waited { " again" } else { "" };
                return Err(CommandError::failed(format!(
                    "{} is rate-limiting the bot{again}, so it could not {what}; try again {when}.",
                    svc.name
                )));
            }
        }
    }
}

fn is_rate_limited(resp: &Response) -> bool {
    resp.status == 429
        || (resp.status == 403
            && (resp.header("retry-after").is_some()
                || resp.header("x-ratelimit-remaining") == Some("0")))
}

/// `Retry-After: 3` as a duration (HTTP dates are not waited for).
fn retry_after(resp: &Response) -> Option<Duration> {
    let v = resp.header("retry-after")?.trim();
    v.parse::<u64>().ok().map(Duration::from_secs)
}

/// The request never got an answer.
fn transport(svc: Service, what: &str, e: HttpError) -> CommandError {
    log(
        Level::Warn,
        format!("{} request to {what} failed: {e}", svc.name),
    );
    match e {
        HttpError::Denied(url) => CommandError::denied(format!(
            "The ticket plugin may not reach {}: an admin must grant it first (chatops grant ticket http {}).",
            origin(&url),
            origin(&url)
        )),
        HttpError::InvalidUrl(_) => CommandError::failed(format!(
            "The setting `url` is not a usable {} URL; ask an admin to fix it (chatops config ticket url …).",
            svc.name
        )),
        HttpError::Failed(why) if is_timeout(&why) => CommandError::failed(format!(
            "{} did not answer in time, so the bot could not {what} (it may still have happened: check before trying again).",
            svc.name
        )),
        HttpError::Failed(_) | HttpError::Decode(_) => CommandError::failed(format!(
            "Could not reach {} to {what}; try again later.",
            svc.name
        )),
    }
}

fn is_timeout(why: &str) -> bool {
    let w = why.to_ascii_lowercase();
    w.contains("timeout") || w.contains("timed out")
}

/// `scheme://host[:port]` of a URL: what a grant names.
fn origin(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let host = rest.split(['/', '?']).next().unwrap_or(rest);
            format!("{scheme}://{host}")
        }
        None => url.to_string(),
    }
}

/// A response that was not what we asked for. `not_found` is the sentence for 404.
pub fn refused(svc: Service, what: &str, resp: &Response, not_found: &str) -> CommandError {
    log(
        Level::Warn,
        format!(
            "{} answered {} when asked to {what}: {}",
            svc.name,
            resp.status,
            clip(&one_line(&resp.text()), 1000)
        ),
    );
    let msg = match resp.status {
        401 => format!(
            "{} did not accept the bot's credentials, so it could not {what}; an admin should check the secret `{}`.",
            svc.name, svc.secret
        ),
        403 => format!(
            "{} does not let the bot's account {what}; an admin should check that account's permissions.",
            svc.name
        ),
        404 => not_found.to_string(),
        410 => format!("{} says that ticket is gone (deleted, or issues are turned off).", svc.name),
        422 => match validation(&resp.body) {
            Some(why) => format!("{} could not {what}: {why}.", svc.name),
            None => format!("{} could not {what}: it refused the request as invalid.", svc.name),
        },
        500..=599 => format!(
            "{} had a server error ({}) and could not {what}; try again in a while.",
            svc.name, resp.status
        ),
        s => format!("{} answered {s} and could not {what}.", svc.name),
    };
    CommandError::failed(msg)
}

/// The validation messages in a 422: Redmine's `{"errors":["Subject cannot be blank"]}` or
/// GitHub's `{"message":"Validation Failed","errors":[{"field":"title","code":"missing_field"}]}`.
pub fn validation(body: &[u8]) -> Option<String> {
    let v: Value = chatops_sdk::serde_json::from_slice(body).ok()?;
    let mut parts: Vec<String> = Vec::new();
    if let Some(errors) = v.get("errors").and_then(Value::as_array) {
        for e in errors.iter().take(5) {
            let part = match e {
                Value::String(s) => s.clone(),
                Value::Object(o) => {
                    let get = |k: &str| o.get(k).and_then(Value::as_str).unwrap_or("");
                    if !get("message").is_empty() {
                        get("message").to_string()
                    } else {
                        field_problem(get("field"), get("code"))
                    }
                }
                _ => continue,
            };
            if !part.is_empty() {
                parts.push(part);
            }
        }
    }
    if parts.is_empty() {
        if let Some(m) = v.get("message").and_then(Value::as_str) {
            parts.push(m.to_string());
        }
    }
    let joined = clip(&one_line(&parts.join("; ")), 300);
    let joined = joined.trim_end_matches('.').to_string();
    (!joined.is_empty()).then_some(joined)
}

/// GitHub's error codes (docs: "Client errors") as words.
fn field_problem(field: &str, code: &str) -> String {
    let field = if field.is_empty() { "a field" } else { field };
    match code {
        "missing_field" => format!("`{field}` is missing"),
        "missing" => format!("`{field}` refers to something that does not exist"),
        "invalid" => format!("`{field}` is invalid"),
        "already_exists" => format!("`{field}` already exists"),
        "unprocessable" => format!("`{field}` could not be processed"),
        "" => format!("`{field}` was refused"),
        other => format!("`{field}`: {}", other.replace('_', " ")),
    }
}

/// Parse an answer we expected to be JSON of shape `T`.
pub fn json<T: chatops_sdk::serde::de::DeserializeOwned>(
    svc: Service,
    what: &str,
    resp: &Response,
) -> Result<T, CommandError> {
    resp.json::<T>().map_err(|e| {
        log(
            Level::Warn,
            format!(
                "{} answered {} to {what} with something unexpected ({e}): {}",
                svc.name,
                resp.status,
                clip(&one_line(&resp.text()), 500)
            ),
        );
        CommandError::failed(format!(
            "{} sent an answer the bot could not read while trying to {what}; an admin can find the detail in the log.",
            svc.name
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_validation_messages() {
        assert_eq!(
            validation(br#"{"errors":["Subject cannot be blank","Tracker cannot be blank"]}"#)
                .as_deref(),
            Some("Subject cannot be blank; Tracker cannot be blank")
        );
        assert_eq!(
            validation(br#"{"message":"Validation Failed","errors":[{"resource":"Issue","field":"title","code":"missing_field"}]}"#).as_deref(),
            Some("`title` is missing")
        );
        assert_eq!(
            validation(br#"{"message":"Validation Failed","errors":[{"message":"title is too long (maximum is 256 characters)"}]}"#).as_deref(),
            Some("title is too long (maximum is 256 characters)")
        );
        assert_eq!(
            validation(br#"{"message":"Validation Failed."}"#).as_deref(),
            Some("Validation Failed")
        );
        assert_eq!(validation(b"<html>"), None);
    }

    #[test]
    fn names_origins() {
        assert_eq!(
            origin("http://127.0.0.1:3000/issues.json"),
            "http://127.0.0.1:3000"
        );
        assert_eq!(
            origin("https://api.github.com/repos/o/r"),
            "https://api.github.com"
        );
        assert!(is_timeout("http://x: ConnectionTimeout"));
        assert!(!is_timeout("ConnectionRefused"));
    }
}
