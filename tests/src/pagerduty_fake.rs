//! A fake PagerDuty Events API v2 on 127.0.0.1: `POST /v2/enqueue`, validated the way
//! PagerDuty documents it (developer-docs `events-API-v2/02-Trigger-Events.md`, the
//! `api-schema` `reference/events-v2/openapiv3.json`): `routing_key` of 32 characters,
//! `event_action` trigger|acknowledge|resolve, `dedup_key` at most 255 characters and
//! required for acknowledge/resolve, a trigger's `payload` with `summary` (at most 1024),
//! `source` and `severity` critical|error|warning|info, optional ISO 8601 `timestamp`,
//! `component`, `group`, `class`, `custom_details`; `links` and `images`; 512 KB at most.
//!
//! Answers 202 `{"status":"success","message":"Event processed","dedup_key":…}`, or 400
//! `{"status":"invalid event","message":"Event object is invalid","errors":[…]}` for an
//! invalid event, which is also recorded as a violation so a test can assert the plugin
//! never sent one. On demand: a status (429 with or without `Retry-After`, 5xx, an
//! injected 400), a malformed body, a late answer. Stopped when dropped.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the next valid request gets instead of a plain 202.
#[derive(Debug, Clone)]
enum Fault {
    Status {
        status: u16,
        retry_after: Option<u64>,
    },
    Garble,
    Delay(Duration),
}

#[derive(Default)]
struct Shared {
    events: Mutex<Vec<Value>>,
    violations: Mutex<Vec<String>>,
    answers: Mutex<Vec<u16>>,
    faults: Mutex<VecDeque<Fault>>,
}

pub struct PagerDutyFake {
    /// The base URL, what the plugin's `pagerduty_url` is set to (no trailing slash).
    pub url: String,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for PagerDutyFake {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What the body of an injected 400 says; a test checks it never reaches the chat.
pub const INJECTED_400_ERROR: &str =
    "Injected by the test: this event was rejected (PD-FAKE-400-BODY)";

impl PagerDutyFake {
    pub async fn start() -> PagerDutyFake {
        let shared = Arc::new(Shared::default());
        let app = Router::new()
            .route("/v2/enqueue", post(enqueue))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        PagerDutyFake {
            url: format!("http://{addr}"),
            shared,
            task,
        }
    }

    /// The events PagerDuty accepted (answered 202 with its normal body), in order.
    pub fn events(&self) -> Vec<Value> {
        self.shared.events.lock().unwrap().clone()
    }

    /// Every way a request broke PagerDuty's documented contract.
    pub fn violations(&self) -> Vec<String> {
        self.shared.violations.lock().unwrap().clone()
    }

    /// The status of every answer given, in order (an interrupted late answer included).
    pub fn answers(&self) -> Vec<u16> {
        self.shared.answers.lock().unwrap().clone()
    }

    /// The next `times` valid requests get `status` (e.g. 400, 429, 500, 503) instead.
    pub fn fail_next(&self, status: u16, times: usize) {
        let mut f = self.shared.faults.lock().unwrap();
        for _ in 0..times {
            f.push_back(Fault::Status {
                status,
                retry_after: None,
            });
        }
    }

    /// The next valid request gets 429 with `Retry-After: secs`.
    pub fn rate_limit_next(&self, retry_after_secs: u64) {
        self.shared.faults.lock().unwrap().push_back(Fault::Status {
            status: 429,
            retry_after: Some(retry_after_secs),
        });
    }

    /// The next valid request gets 202 with a body that is not JSON.
    pub fn garble_next(&self) {
        self.shared.faults.lock().unwrap().push_back(Fault::Garble);
    }

    /// The next valid request is answered (normally) only after `delay`.
    pub fn delay_next(&self, delay: Duration) {
        self.shared
            .faults
            .lock()
            .unwrap()
            .push_back(Fault::Delay(delay));
    }
}

fn json_response(status: StatusCode, body: Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn invalid(errors: Vec<String>) -> Response {
    json_response(
        StatusCode::BAD_REQUEST,
        json!({"status": "invalid event", "message": "Event object is invalid", "errors": errors}),
    )
}

async fn enqueue(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let (status, resp) = answer(&shared, &headers, &body).await;
    shared.answers.lock().unwrap().push(status);
    resp
}

async fn answer(shared: &Shared, headers: &HeaderMap, body: &[u8]) -> (u16, Response) {
    let errors = validate(headers, body);
    if !errors.is_empty() {
        shared
            .violations
            .lock()
            .unwrap()
            .extend(errors.iter().cloned());
        // PagerDuty's own answer to unparseable JSON (the OpenAPI error example).
        if errors.iter().any(|e| e.starts_with("JSON parse error")) {
            return (
                400,
                json_response(
                    StatusCode::BAD_REQUEST,
                    json!({"status": "Unrecognized object", "message": "Event object format is unrecognized", "errors": ["JSON parse error"]}),
                ),
            );
        }
        return (400, invalid(errors));
    }
    let event: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let fault = shared.faults.lock().unwrap().pop_front();
    match fault {
        Some(Fault::Status {
            status,
            retry_after,
        }) => {
            let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let resp = match status {
                400 => invalid(vec![INJECTED_400_ERROR.into()]),
                // PagerDuty documents no body for 429.
                429 => {
                    let mut r = (code, "").into_response();
                    if let Some(s) = retry_after {
                        r.headers_mut()
                            .insert(header::RETRY_AFTER, s.to_string().parse().unwrap());
                    }
                    r
                }
                _ => json_response(
                    code,
                    json!({"status": "Internal Server Error", "message": "PD-FAKE-5XX-BODY: the fake is failing on purpose", "errors": ["PD-FAKE-5XX-BODY"]}),
                ),
            };
            return (status, resp);
        }
        Some(Fault::Garble) => {
            return (
                202,
                (
                    StatusCode::ACCEPTED,
                    [(header::CONTENT_TYPE, "application/json")],
                    "{\"status\":\"succ<html>PD-FAKE-GARBLED",
                )
                    .into_response(),
            )
        }
        Some(Fault::Delay(d)) => tokio::time::sleep(d).await,
        None => {}
    }
    let dedup_key = event["dedup_key"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(random_key);
    shared.events.lock().unwrap().push(event);
    (
        202,
        json_response(
            StatusCode::ACCEPTED,
            json!({"status": "success", "message": "Event processed", "dedup_key": dedup_key}),
        ),
    )
}

/// A key like the one PagerDuty generates for a trigger without `dedup_key`.
fn random_key() -> String {
    use std::hash::{BuildHasher, Hasher};
    let part = || {
        std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish()
    };
    format!("{:016x}{:016x}", part(), part())
}

const SEVERITIES: [&str; 4] = ["critical", "error", "warning", "info"];
const ACTIONS: [&str; 3] = ["trigger", "acknowledge", "resolve"];
const TOP_KEYS: [&str; 8] = [
    "routing_key",
    "event_action",
    "dedup_key",
    "payload",
    "client",
    "client_url",
    "links",
    "images",
];
const PAYLOAD_KEYS: [&str; 8] = [
    "summary",
    "source",
    "severity",
    "timestamp",
    "component",
    "group",
    "class",
    "custom_details",
];

/// Every way this request breaks the documented contract; empty when it is valid.
pub fn validate(headers: &HeaderMap, body: &[u8]) -> Vec<String> {
    let mut errors = Vec::new();
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if ct.split(';').next().unwrap_or("").trim() != "application/json" {
        errors.push(format!("Content-Type must be application/json, was `{ct}`"));
    }
    if body.len() > 512 * 1024 {
        errors.push(format!(
            "the event is {} bytes; the limit is 512 KB",
            body.len()
        ));
    }
    let event: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => {
            errors.push(format!("JSON parse error: {e}"));
            return errors;
        }
    };
    let Some(obj) = event.as_object() else {
        errors.push("the event is not a JSON object".into());
        return errors;
    };
    for k in obj.keys() {
        if !TOP_KEYS.contains(&k.as_str()) {
            errors.push(format!("unknown field `{k}`"));
        }
    }
    let key = match obj.get("routing_key") {
        Some(Value::String(k)) => {
            if k.chars().count() != 32 {
                errors
                    .push("Length of 'routing_key' is incorrect (should be 32 characters)".into());
            }
            Some(k.clone())
        }
        Some(_) => {
            errors.push("'routing_key' must be a string".into());
            None
        }
        None => {
            errors.push("'routing_key' is missing".into());
            None
        }
    };
    let action = obj.get("event_action").and_then(Value::as_str);
    match action {
        Some(a) if ACTIONS.contains(&a) => {}
        Some(a) => errors.push(format!(
            "'event_action' is invalid (`{a}`; must be trigger, acknowledge or resolve)"
        )),
        None => errors.push("'event_action' is missing or not a string".into()),
    }
    match obj.get("dedup_key") {
        Some(Value::String(d)) if d.is_empty() => errors.push("'dedup_key' is empty".into()),
        Some(Value::String(d)) if d.chars().count() > 255 => {
            errors.push("'dedup_key' is longer than 255 characters".into())
        }
        Some(Value::String(_)) => {}
        Some(_) => errors.push("'dedup_key' must be a string".into()),
        None if matches!(action, Some("acknowledge" | "resolve")) => errors.push(format!(
            "'dedup_key' is required for {} events",
            action.unwrap_or("")
        )),
        None => {}
    }
    match (action, obj.get("payload")) {
        (Some("trigger"), None) => errors.push("'payload' is required for trigger events".into()),
        (_, Some(p)) => validate_payload(p, action == Some("trigger"), &mut errors),
        _ => {}
    }
    for k in ["client", "client_url"] {
        if obj.get(k).is_some_and(|v| !v.is_string()) {
            errors.push(format!("'{k}' must be a string"));
        }
    }
    if let Some(u) = obj.get("client_url").and_then(Value::as_str) {
        if !is_url(u) {
            errors.push(format!("'client_url' is not a URL: `{u}`"));
        }
    }
    validate_list(
        obj.get("links"),
        "links",
        "href",
        &["href", "text"],
        &mut errors,
    );
    validate_list(
        obj.get("images"),
        "images",
        "src",
        &["src", "href", "alt"],
        &mut errors,
    );
    // The routing key is a credential: it belongs in `routing_key` only, never in what
    // PagerDuty shows people (summary, details, links).
    if let Some(k) = key.filter(|k| k.len() >= 8) {
        let mut rest = event.clone();
        rest.as_object_mut().unwrap().remove("routing_key");
        if rest.to_string().contains(&k) {
            errors.push("the routing key appears outside 'routing_key'".into());
        }
    }
    errors
}

fn validate_payload(p: &Value, required: bool, errors: &mut Vec<String>) {
    let Some(p) = p.as_object() else {
        errors.push("'payload' must be an object".into());
        return;
    };
    for k in p.keys() {
        if !PAYLOAD_KEYS.contains(&k.as_str()) {
            errors.push(format!("unknown field `payload.{k}`"));
        }
    }
    match p.get("summary") {
        Some(Value::String(s)) if s.trim().is_empty() => {
            errors.push("'payload.summary' is empty".into())
        }
        Some(Value::String(s)) if s.chars().count() > 1024 => {
            errors.push("'payload.summary' is longer than 1024 characters".into())
        }
        Some(Value::String(_)) => {}
        Some(_) => errors.push("'payload.summary' must be a string".into()),
        None if required => errors.push("'payload.summary' is missing".into()),
        None => {}
    }
    match p.get("source") {
        Some(Value::String(s)) if s.trim().is_empty() => {
            errors.push("'payload.source' is empty".into())
        }
        Some(Value::String(_)) => {}
        Some(_) => errors.push("'payload.source' must be a string".into()),
        None if required => errors.push("'payload.source' is missing".into()),
        None => {}
    }
    match p.get("severity") {
        Some(Value::String(s)) if SEVERITIES.contains(&s.as_str()) => {}
        Some(s) => errors.push(format!(
            "'payload.severity' is invalid ({s}; must be critical, error, warning or info)"
        )),
        None if required => errors.push("'payload.severity' is missing".into()),
        None => {}
    }
    match p.get("timestamp") {
        Some(Value::String(t)) if is_iso8601(t) => {}
        Some(t) => errors.push(format!("'payload.timestamp' is not ISO 8601: {t}")),
        None => {}
    }
    for k in ["component", "group", "class"] {
        if p.get(k).is_some_and(|v| !v.is_string()) {
            errors.push(format!("'payload.{k}' must be a string"));
        }
    }
    if p.get("custom_details").is_some_and(|v| !v.is_object()) {
        errors.push("'payload.custom_details' must be an object".into());
    }
}

fn validate_list(
    list: Option<&Value>,
    name: &str,
    required: &str,
    allowed: &[&str],
    errors: &mut Vec<String>,
) {
    let Some(list) = list else { return };
    let Some(items) = list.as_array() else {
        errors.push(format!("'{name}' must be an array"));
        return;
    };
    for (i, item) in items.iter().enumerate() {
        let Some(o) = item.as_object() else {
            errors.push(format!("'{name}[{i}]' must be an object"));
            continue;
        };
        for k in o.keys() {
            if !allowed.contains(&k.as_str()) {
                errors.push(format!("unknown field `{name}[{i}].{k}`"));
            }
        }
        match o.get(required).and_then(Value::as_str) {
            Some(u) if is_url(u) => {}
            _ => errors.push(format!("'{name}[{i}].{required}' must be a URL")),
        }
        for (k, v) in o {
            if !v.is_string() {
                errors.push(format!("'{name}[{i}].{k}' must be a string"));
            }
        }
    }
}

fn is_url(u: &str) -> bool {
    let rest = u
        .strip_prefix("https://")
        .or_else(|| u.strip_prefix("http://"));
    rest.is_some_and(|r| !r.is_empty() && !r.starts_with('/') && !r.contains(char::is_whitespace))
}

/// `2015-07-17T08:42:58.315+0000`, `2026-11-27T08:40:12Z`, `…+02:00`: ISO 8601 date-time.
pub fn is_iso8601(t: &str) -> bool {
    let b = t.as_bytes();
    let digits = |r: std::ops::Range<usize>| {
        b.get(r.clone())
            .is_some_and(|s| s.iter().all(u8::is_ascii_digit))
    };
    if b.len() < 19
        || !digits(0..4)
        || b[4] != b'-'
        || !digits(5..7)
        || b[7] != b'-'
        || !digits(8..10)
        || !(b[10] == b'T' || b[10] == b't' || b[10] == b' ')
        || !digits(11..13)
        || b[13] != b':'
        || !digits(14..16)
        || b[16] != b':'
        || !digits(17..19)
    {
        return false;
    }
    let num = |r: std::ops::Range<usize>| t[r].parse::<u32>().unwrap_or(99);
    if !(1..=12).contains(&num(5..7))
        || !(1..=31).contains(&num(8..10))
        || num(11..13) > 23
        || num(14..16) > 59
        || num(17..19) > 60
    {
        return false;
    }
    let mut rest = &t[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return false;
        }
        rest = &frac[n..];
    }
    match rest {
        "" | "Z" | "z" => true,
        _ => {
            let (sign, off) = rest.split_at(1);
            (sign == "+" || sign == "-")
                && match off.len() {
                    5 => {
                        off.as_bytes()[2] == b':'
                            && digits_only(&off[..2])
                            && digits_only(&off[3..])
                    }
                    4 | 2 => digits_only(off),
                    _ => false,
                }
        }
    }
}

fn digits_only(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers() -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_TYPE, "application/json".parse().unwrap());
        h
    }

    const KEY: &str = "e93facc04764012d7bfb002500d5d1a6";

    #[test]
    fn the_documented_examples_are_valid() {
        // developer-docs 02-Trigger-Events.md, with a 32-character key.
        let trigger = json!({
            "payload": {"summary": "Example alert on host1.example.com", "timestamp": "2015-07-17T08:42:58.315+0000",
                "source": "monitoringtool:cloudvendor:central-region-dc-01:852559987:cluster/api-stats-prod-003",
                "severity": "info", "component": "postgres", "group": "prod-datapipe", "class": "deploy",
                "custom_details": {"ping time": "1500ms", "load avg": 0.75}},
            "routing_key": KEY, "dedup_key": "samplekeyhere",
            "images": [{"src": "https://www.pagerduty.com/logo.png", "href": "https://example.com/", "alt": "Example text"}],
            "links": [{"href": "https://example.com/", "text": "Link text"}],
            "event_action": "trigger", "client": "Sample Monitoring Service", "client_url": "https://monitoring.example.com"
        });
        assert_eq!(
            validate(&headers(), trigger.to_string().as_bytes()),
            Vec::<String>::new()
        );
        for a in ["acknowledge", "resolve"] {
            let e = json!({"routing_key": KEY, "dedup_key": "dedupkeyhere", "event_action": a});
            assert!(validate(&headers(), e.to_string().as_bytes()).is_empty());
        }
    }

    #[test]
    fn invalid_events_are_caught() {
        let cases = [
            (
                json!({"routing_key": "short", "event_action": "resolve", "dedup_key": "x"}),
                "Length of 'routing_key'",
            ),
            (
                json!({"routing_key": KEY, "event_action": "resolve"}),
                "'dedup_key' is required",
            ),
            (
                json!({"routing_key": KEY, "event_action": "page"}),
                "'event_action' is invalid",
            ),
            (
                json!({"routing_key": KEY, "event_action": "trigger"}),
                "'payload' is required",
            ),
            (
                json!({"routing_key": KEY, "event_action": "trigger", "payload": {"summary": "s", "source": "x", "severity": "sev1"}}),
                "'payload.severity'",
            ),
            (
                json!({"routing_key": KEY, "event_action": "trigger", "payload": {"summary": "x".repeat(1025), "source": "x", "severity": "info"}}),
                "1024",
            ),
            (
                json!({"routing_key": KEY, "event_action": "trigger", "payload": {"summary": "s", "source": "x", "severity": "info", "timestamp": "yesterday"}}),
                "ISO 8601",
            ),
            (
                json!({"routing_key": KEY, "event_action": "acknowledge", "dedup_key": "x".repeat(256)}),
                "255",
            ),
            (
                json!({"routing_key": KEY, "event_action": "trigger", "payload": {"summary": KEY, "source": "x", "severity": "info"}}),
                "routing key appears",
            ),
        ];
        for (event, needle) in cases {
            let errors = validate(&headers(), event.to_string().as_bytes());
            assert!(
                errors.iter().any(|e| e.contains(needle)),
                "{event}: {errors:?}"
            );
        }
        let errors = validate(&HeaderMap::new(), b"{");
        assert!(
            errors.iter().any(|e| e.contains("Content-Type")),
            "{errors:?}"
        );
        assert!(
            errors.iter().any(|e| e.contains("JSON parse error")),
            "{errors:?}"
        );
    }

    #[test]
    fn timestamps() {
        for ok in [
            "2015-07-17T08:42:58.315+0000",
            "2026-11-27T08:40:12Z",
            "2026-11-27T08:40:12+02:00",
        ] {
            assert!(is_iso8601(ok), "{ok}");
        }
        for bad in [
            "2026-13-27T08:40:12Z",
            "2026-11-27",
            "2026-11-27T08:40:12+2",
            "now",
        ] {
            assert!(!is_iso8601(bad), "{bad}");
        }
    }
}
