//! Canned upstream answers for `chatops test`: a request that passed every grant check is
//! answered from the scenario instead of the network (matched by method, URL and,
//! optionally, body). A request nothing matches is kept, so the test fails showing it.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use std::sync::Mutex;
use wasmtime_wasi_http::{Error as HttpErr, WasiBody};

/// The most of a request body a scenario keeps to match and show.
const MAX_BODY: usize = 1 << 20;

/// One canned answer.
#[derive(Debug, Clone)]
pub struct Answer {
    pub method: String,
    pub url: String,
    /// Matched exactly, or as equal JSON when both sides are JSON.
    pub body: Option<String>,
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub response: Vec<u8>,
}

impl Answer {
    fn matches(&self, seen: &Seen) -> bool {
        self.method.eq_ignore_ascii_case(&seen.method)
            && same_url(&self.url, &seen.url)
            && self
                .body
                .as_deref()
                .is_none_or(|want| same_body(want, &seen.body))
    }
}

/// A request the plugin sent.
#[derive(Debug, Clone, PartialEq)]
pub struct Seen {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
    pub answered: bool,
}

impl std::fmt::Display for Seen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.method, self.url)?;
        for (k, v) in &self.headers {
            // Credentials are the plugin's secrets: the exit redacts them, but a test
            // output has no need of them at all.
            let v = if k.eq_ignore_ascii_case("authorization") {
                "(set)"
            } else {
                v.as_str()
            };
            write!(f, "\n    {k}: {v}")?;
        }
        if !self.body.is_empty() {
            write!(f, "\n    body: {}", self.body)?;
        }
        Ok(())
    }
}

/// The upstreams of one scenario.
#[derive(Debug, Default)]
pub struct Upstreams {
    answers: Vec<Answer>,
    seen: Mutex<Vec<Seen>>,
}

impl Upstreams {
    pub fn new(answers: Vec<Answer>) -> Self {
        Upstreams {
            answers,
            seen: Mutex::new(Vec::new()),
        }
    }

    /// Every request sent since the last call, in order.
    pub fn take_seen(&self) -> Vec<Seen> {
        std::mem::take(&mut *self.seen.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Answer a request that passed the grant checks.
    pub(super) async fn answer(
        &self,
        request: http::Request<WasiBody>,
    ) -> Result<http::Response<WasiBody>, HttpErr> {
        let (parts, body) = request.into_parts();
        let bytes = body.collect().await?.to_bytes();
        let shown = &bytes[..bytes.len().min(MAX_BODY)];
        let mut seen = Seen {
            method: parts.method.to_string(),
            url: parts.uri.to_string(),
            headers: parts
                .headers
                .iter()
                .filter(|(k, _)| *k != http::header::HOST)
                .map(|(k, v)| {
                    (
                        k.to_string(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect(),
            body: String::from_utf8_lossy(shown).into_owned(),
            answered: false,
        };
        let found = self.answers.iter().find(|a| a.matches(&seen)).cloned();
        seen.answered = found.is_some();
        let url = seen.url.clone();
        let method = seen.method.clone();
        self.seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(seen);
        let Some(a) = found else {
            return Err(HttpErr::InternalError(Some(format!(
                "the scenario has no answer for {method} {url}"
            ))));
        };
        let mut response = http::Response::builder().status(a.status);
        for (k, v) in &a.headers {
            response = response.header(k, v);
        }
        response
            .body(
                Full::new(Bytes::from(a.response))
                    .map_err(|never| match never {})
                    .boxed_unsync(),
            )
            .map_err(|e| HttpErr::InternalError(Some(e.to_string())))
    }
}

/// URLs compare without a trailing `/` on an empty path (`https://a.example` = `https://a.example/`).
fn same_url(want: &str, got: &str) -> bool {
    let norm = |u: &str| -> String {
        match u.parse::<http::Uri>() {
            Ok(uri) if uri.path() == "/" && uri.query().is_none() => {
                u.trim_end_matches('/').to_string()
            }
            _ => u.to_string(),
        }
    };
    norm(want) == norm(got)
}

fn same_body(want: &str, got: &str) -> bool {
    if want == got {
        return true;
    }
    match (
        serde_json::from_str::<serde_json::Value>(want),
        serde_json::from_str::<serde_json::Value>(got),
    ) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_json_bodies_match_loosely() {
        assert!(same_url("https://a.example", "https://a.example/"));
        assert!(!same_url("https://a.example/x", "https://a.example/x/"));
        assert!(same_body(r#"{"a":1,"b":[2]}"#, r#"{ "b": [2], "a": 1 }"#));
        assert!(!same_body(r#"{"a":1}"#, r#"{"a":2}"#));
    }
}
