//! The REST side: reads and records every request, checks its body against the OpenAPI
//! description, applies injected failures, and routes the rest to [`super::routes`].

use super::spec::{spec, API_PREFIX};
use super::{routes, Recorded, Shared};
use axum::body::Body;
use axum::extract::{FromRequest, Multipart, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// Discord accepts uploads up to 25 MiB on unboosted guilds; a little headroom for the
/// multipart framing.
pub(crate) const BODY_LIMIT: usize = 32 * 1024 * 1024;

/// What a route answers.
pub(crate) struct Reply {
    pub status: u16,
    pub body: Option<Value>,
    pub headers: Vec<(&'static str, String)>,
}

impl Reply {
    pub fn json(status: u16, body: Value) -> Reply {
        Reply {
            status,
            body: Some(body),
            headers: Vec::new(),
        }
    }

    pub fn no_content() -> Reply {
        Reply {
            status: 204,
            body: None,
            headers: Vec::new(),
        }
    }

    /// Discord's error shape: `{"message", "code"}` (serenity needs both to decode it).
    pub fn error(status: u16, code: u32, message: &str) -> Reply {
        Reply::json(status, json!({"message": message, "code": code}))
    }

    pub fn not_found() -> Reply {
        Reply::error(404, 0, "404: Not Found")
    }

    /// A failure injected by `fail_next`.
    pub fn injected(status: u16) -> Reply {
        match status {
            429 => {
                let reset = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0.0, |d| d.as_secs_f64())
                    + 1.0;
                Reply {
                    status,
                    body: Some(json!({
                        "message": "You are being rate limited.",
                        "retry_after": 1.0,
                        "global": false,
                        "code": 0,
                    })),
                    headers: vec![
                        ("retry-after", "1".into()),
                        ("x-ratelimit-limit", "5".into()),
                        ("x-ratelimit-remaining", "0".into()),
                        ("x-ratelimit-reset", format!("{reset:.3}")),
                        ("x-ratelimit-reset-after", "1.000".into()),
                        ("x-ratelimit-bucket", "fake-bucket".into()),
                        ("x-ratelimit-scope", "user".into()),
                    ],
                }
            }
            500 => Reply::error(500, 0, "500: Internal Server Error"),
            s => {
                let reason = StatusCode::from_u16(s)
                    .ok()
                    .and_then(|c| c.canonical_reason())
                    .unwrap_or("Error");
                Reply::error(s, 0, &format!("{s}: {reason}"))
            }
        }
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut resp = match self.body {
            Some(b) => (
                status,
                [(header::CONTENT_TYPE, "application/json")],
                b.to_string(),
            )
                .into_response(),
            None => (status, Body::empty()).into_response(),
        };
        for (name, value) in self.headers {
            if let Ok(v) = HeaderValue::from_str(&value) {
                resp.headers_mut().insert(name, v);
            }
        }
        resp
    }
}

/// A request as the routes see it.
pub(crate) struct Incoming {
    pub method: String,
    pub path: String,
    pub query: String,
    /// `Null` when there was no body.
    pub body: Value,
    pub files: Vec<(String, usize)>,
    pub authorization: Option<String>,
}

impl Incoming {
    /// A query parameter's value (`?&wait=true` style strings included).
    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query
            .split('&')
            .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
    }
}

pub(crate) async fn handle(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let method = req.method().as_str().to_string();
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let authorization = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();

    let mut problems = Vec::new();
    let (body, files) = read_body(req, &content_type, &mut problems).await;
    if path.starts_with(API_PREFIX) {
        let checked = if body.is_null() { None } else { Some(&body) };
        problems.extend(spec().check(&method, &path, checked));
    }
    let invalid = !problems.is_empty();
    if invalid {
        shared.violation(format!("{method} {path}: {}", problems.join("; ")));
    }

    let incoming = Incoming {
        method,
        path,
        query,
        body,
        files,
        authorization,
    };
    let intercepted = super::faults::intercept(&shared, &incoming);
    let reply = match shared.take_failure(&incoming.path) {
        Some(status) => Reply::injected(status),
        None if intercepted.is_some() => intercepted.unwrap_or_else(Reply::not_found),
        None if invalid && shared.reject_invalid_bodies => Reply::json(
            400,
            json!({"message": "Invalid Form Body", "code": 50035, "errors": {"_errors": problems.iter().map(|p| json!({"code": "BASE_TYPE_INVALID", "message": p})).collect::<Vec<_>>()}}),
        ),
        None => {
            let mut reply = routes::route(&shared, &incoming);
            super::faults::decorate(&shared, &incoming, &mut reply);
            reply
        }
    };
    shared.record(Recorded {
        method: incoming.method,
        path: incoming.path,
        query: incoming.query,
        body: incoming.body,
        files: incoming.files,
        status: reply.status,
        authorization: incoming.authorization,
    });
    reply.into_response()
}

/// The JSON body, or for multipart the parsed `payload_json` part plus the files.
async fn read_body(
    req: Request,
    content_type: &str,
    problems: &mut Vec<String>,
) -> (Value, Vec<(String, usize)>) {
    if content_type.starts_with("multipart/form-data") {
        return read_multipart(req, problems).await;
    }
    let bytes = match axum::body::to_bytes(req.into_body(), BODY_LIMIT).await {
        Ok(b) => b,
        Err(e) => {
            problems.push(format!("unreadable body: {e}"));
            return (Value::Null, Vec::new());
        }
    };
    if bytes.is_empty() {
        return (Value::Null, Vec::new());
    }
    if !content_type.starts_with("application/json") {
        problems.push(format!(
            "a body with content-type {content_type:?}; Discord expects application/json"
        ));
    }
    match serde_json::from_slice(&bytes) {
        Ok(v) => (v, Vec::new()),
        Err(e) => {
            problems.push(format!("body is not JSON: {e}"));
            (
                Value::String(String::from_utf8_lossy(&bytes).into_owned()),
                Vec::new(),
            )
        }
    }
}

async fn read_multipart(req: Request, problems: &mut Vec<String>) -> (Value, Vec<(String, usize)>) {
    let mut form = match Multipart::from_request(req, &()).await {
        Ok(m) => m,
        Err(e) => {
            problems.push(format!("bad multipart body: {e}"));
            return (Value::Null, Vec::new());
        }
    };
    let mut payload = None;
    let mut fields = serde_json::Map::new();
    let mut files = Vec::new();
    loop {
        let field = match form.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => {
                problems.push(format!("bad multipart body: {e}"));
                break;
            }
        };
        let name = field.name().unwrap_or("").to_string();
        let filename = field.file_name().map(str::to_string);
        let data = match field.bytes().await {
            Ok(d) => d,
            Err(e) => {
                problems.push(format!("bad multipart part {name:?}: {e}"));
                continue;
            }
        };
        match filename {
            Some(f) => files.push((f, data.len())),
            None if name == "payload_json" => match serde_json::from_slice::<Value>(&data) {
                Ok(v) => payload = Some(v),
                Err(e) => problems.push(format!("payload_json is not JSON: {e}")),
            },
            None => {
                fields.insert(
                    name,
                    Value::String(String::from_utf8_lossy(&data).into_owned()),
                );
            }
        }
    }
    // Routes that take plain form fields instead of payload_json (stickers) still get
    // something to look at.
    (payload.unwrap_or(Value::Object(fields)), files)
}
