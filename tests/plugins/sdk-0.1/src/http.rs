//! A small HTTP client over the standard `wasi:http/outgoing-handler`.
//!
//! The host only lets through destinations an admin granted to this build of the plugin;
//! anything else fails with [`HttpError::Denied`].
//!
//! ```ignore
//! let status: Status = chatops_sdk::http::get("https://api.example.com/status")?.json()?;
//! let created = Request::post("https://tickets.example.com/api/tickets")
//!     .bearer(&chatops_sdk::secret("tickets-token")?)
//!     .json(&serde_json::json!({"title": "db down"}))?
//!     .send()?;
//! ```

use crate::bindings::wasi::http::outgoing_handler;
use crate::bindings::wasi::http::types::{
    ErrorCode, Fields, IncomingBody, Method, OutgoingBody, OutgoingRequest, Scheme,
};
use crate::bindings::wasi::io::streams::StreamError;
use crate::CommandError;
use std::fmt;

#[derive(Debug, Clone, PartialEq)]
pub enum HttpError {
    /// The host refused the destination: no grant covers it.
    Denied(String),
    /// The URL could not be parsed.
    InvalidUrl(String),
    /// Connecting, sending or reading failed.
    Failed(String),
    /// The response was not valid JSON of the expected shape.
    Decode(String),
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpError::Denied(url) => write!(
                f,
                "the host refused the request to {url}: this plugin has no HTTP grant for it (an admin can grant it)"
            ),
            HttpError::InvalidUrl(why) => write!(f, "invalid URL: {why}"),
            HttpError::Failed(why) => write!(f, "HTTP request failed: {why}"),
            HttpError::Decode(why) => write!(f, "could not decode the response: {why}"),
        }
    }
}

impl std::error::Error for HttpError {}

impl From<HttpError> for CommandError {
    fn from(e: HttpError) -> Self {
        match e {
            HttpError::Denied(_) => CommandError::Denied(e.to_string()),
            _ => CommandError::Failed(e.to_string()),
        }
    }
}

/// An outgoing request, built up then sent with [`Request::send`].
#[derive(Debug, Clone)]
pub struct Request {
    method: String,
    url: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

/// A complete response; the body has been read (up to the host's size cap).
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, HttpError> {
        serde_json::from_slice(&self.body).map_err(|e| HttpError::Decode(e.to_string()))
    }
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// `GET url`.
pub fn get(url: &str) -> Result<Response, HttpError> {
    Request::get(url).send()
}

impl Request {
    pub fn new(method: &str, url: &str) -> Self {
        Request {
            method: method.to_ascii_uppercase(),
            url: url.into(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }
    pub fn get(url: &str) -> Self {
        Self::new("GET", url)
    }
    pub fn post(url: &str) -> Self {
        Self::new("POST", url)
    }
    pub fn put(url: &str) -> Self {
        Self::new("PUT", url)
    }
    pub fn delete(url: &str) -> Self {
        Self::new("DELETE", url)
    }
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
    pub fn bearer(self, token: &str) -> Self {
        self.header("authorization", &format!("Bearer {token}"))
    }
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }
    /// Serialise `value` as the JSON body.
    pub fn json<T: serde::Serialize>(self, value: &T) -> Result<Self, HttpError> {
        let body = serde_json::to_vec(value).map_err(|e| HttpError::Decode(e.to_string()))?;
        Ok(self.header("content-type", "application/json").body(body))
    }

    /// Send, following up to 5 redirects (each one is a new request the host checks).
    /// A redirect to another origin (scheme, host or port) drops `Authorization`,
    /// `Cookie` and `Proxy-Authorization`, as curl and browsers do: a token meant for one
    /// service never follows a redirect to another.
    pub fn send(self) -> Result<Response, HttpError> {
        let mut req = self;
        for _ in 0..5 {
            let resp = req.send_once()?;
            let Some(location) = resp
                .header("location")
                .filter(|_| matches!(resp.status, 301 | 302 | 303 | 307 | 308))
            else {
                return Ok(resp);
            };
            let next = resolve_location(&req.url, location);
            if origin(&next) != origin(&req.url) {
                req.headers.retain(|(name, _)| !is_credential(name));
            }
            req = if resp.status == 303
                || (resp.status != 307 && resp.status != 308 && req.method == "POST")
            {
                let mut headers = req.headers;
                headers.retain(|(name, _)| {
                    !name.eq_ignore_ascii_case("content-length")
                        && !name.eq_ignore_ascii_case("content-type")
                });
                Request {
                    method: "GET".into(),
                    url: next,
                    headers,
                    body: Vec::new(),
                }
            } else {
                Request { url: next, ..req }
            };
        }
        Err(HttpError::Failed(format!(
            "too many redirects from {}",
            req.url
        )))
    }

    /// Send without following a redirect: a 3xx comes back as it is, with its `Location`
    /// and `Set-Cookie` (a login that answers with a redirect and a session cookie).
    pub fn send_once(&self) -> Result<Response, HttpError> {
        let url = self.url.clone();
        let (scheme, authority, path) = split_url(&url)?;
        let fields = Fields::new();
        for (k, v) in &self.headers {
            fields
                .append(k, v.as_bytes())
                .map_err(|e| HttpError::Failed(format!("header `{k}`: {e:?}")))?;
        }
        // The body is known whole: say its length rather than stream it chunked, which some
        // servers (thin, behind Redmine) do not read.
        let has_length = self
            .headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("content-length"));
        if !self.body.is_empty() && !has_length {
            fields
                .append("content-length", self.body.len().to_string().as_bytes())
                .map_err(|e| HttpError::Failed(format!("header `content-length`: {e:?}")))?;
        }
        let req = OutgoingRequest::new(fields);
        let method = match self.method.as_str() {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "DELETE" => Method::Delete,
            "PATCH" => Method::Patch,
            "OPTIONS" => Method::Options,
            other => Method::Other(other.into()),
        };
        let bad = |what: &str| HttpError::InvalidUrl(format!("{what} of {url}"));
        req.set_method(&method).map_err(|_| bad("method"))?;
        let scheme = match scheme {
            "http" => Scheme::Http,
            "https" => Scheme::Https,
            other => Scheme::Other(other.into()),
        };
        req.set_scheme(Some(&scheme)).map_err(|_| bad("scheme"))?;
        req.set_authority(Some(authority))
            .map_err(|_| bad("host"))?;
        req.set_path_with_query(Some(path))
            .map_err(|_| bad("path"))?;
        let body = req
            .body()
            .map_err(|_| HttpError::Failed("request body taken twice".into()))?;

        let future = outgoing_handler::handle(req, None).map_err(|e| error_code(&url, e))?;
        write_body(body, &self.body)?;
        let incoming = loop {
            match future.get() {
                Some(Ok(Ok(resp))) => break resp,
                Some(Ok(Err(code))) => return Err(error_code(&url, code)),
                Some(Err(())) => return Err(HttpError::Failed("response already taken".into())),
                None => future.subscribe().block(),
            }
        };
        let status = incoming.status();
        let headers = incoming
            .headers()
            .entries()
            .into_iter()
            .map(|(k, v)| (k, String::from_utf8_lossy(&v).into_owned()))
            .collect();
        let body = incoming
            .consume()
            .map_err(|_| HttpError::Failed("response body taken twice".into()))?;
        let bytes = read_body(&url, &body)?;
        IncomingBody::finish(body);
        Ok(Response {
            status,
            headers,
            body: bytes,
        })
    }
}

fn write_body(body: OutgoingBody, bytes: &[u8]) -> Result<(), HttpError> {
    {
        let stream = body
            .write()
            .map_err(|_| HttpError::Failed("request body stream".into()))?;
        for chunk in bytes.chunks(4096) {
            stream
                .blocking_write_and_flush(chunk)
                .map_err(|e| HttpError::Failed(format!("writing the request body: {e:?}")))?;
        }
    }
    OutgoingBody::finish(body, None)
        .map_err(|e| HttpError::Failed(format!("finishing the request body: {e:?}")))
}

fn read_body(url: &str, body: &IncomingBody) -> Result<Vec<u8>, HttpError> {
    let stream = body
        .stream()
        .map_err(|_| HttpError::Failed("response body stream".into()))?;
    let mut out = Vec::new();
    loop {
        match stream.blocking_read(64 * 1024) {
            Ok(chunk) => out.extend_from_slice(&chunk),
            Err(StreamError::Closed) => return Ok(out),
            Err(StreamError::LastOperationFailed(e)) => {
                return Err(HttpError::Failed(format!(
                    "reading the response from {url}: {}",
                    e.to_debug_string()
                )))
            }
        }
    }
}

fn error_code(url: &str, code: ErrorCode) -> HttpError {
    match code {
        ErrorCode::HttpRequestDenied => HttpError::Denied(url.to_string()),
        ErrorCode::HttpResponseBodySize(_) => HttpError::Failed(format!(
            "the response from {url} is larger than the host allows"
        )),
        other => HttpError::Failed(format!("{url}: {other:?}")),
    }
}

/// Headers that carry credentials for one origin.
fn is_credential(name: &str) -> bool {
    ["authorization", "cookie", "proxy-authorization"]
        .iter()
        .any(|h| name.eq_ignore_ascii_case(h))
}

/// `scheme://host:port` of a URL, lower-cased, with the scheme's default port filled in.
fn origin(url: &str) -> Option<String> {
    let (scheme, authority, _) = split_url(url).ok()?;
    let scheme = scheme.to_ascii_lowercase();
    let host = authority
        .rsplit('@')
        .next()
        .unwrap_or(authority)
        .to_ascii_lowercase();
    let has_port = host
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.chars().all(|c| c.is_ascii_digit()))
        && !host.ends_with(']');
    let host = if has_port {
        host
    } else {
        let port = if scheme == "https" { 443 } else { 80 };
        format!("{host}:{port}")
    };
    Some(format!("{scheme}://{host}"))
}

/// An absolute URL for a `Location` header relative to `base`.
fn resolve_location(base: &str, location: &str) -> String {
    if location.contains("://") {
        return location.to_string();
    }
    let Ok((scheme, authority, path)) = split_url(base) else {
        return location.to_string();
    };
    if let Some(rest) = location.strip_prefix("//") {
        return format!("{scheme}://{rest}");
    }
    if location.starts_with('/') {
        return format!("{scheme}://{authority}{location}");
    }
    let dir = &path[..path.rfind('/').map(|i| i + 1).unwrap_or(0)];
    format!("{scheme}://{authority}{dir}{location}")
}

/// `scheme://authority/path?query` → its three parts (path defaults to `/`).
fn split_url(url: &str) -> Result<(&str, &str, &str), HttpError> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| HttpError::InvalidUrl(format!("`{url}` has no scheme (write https://…)")))?;
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.is_empty() {
        return Err(HttpError::InvalidUrl(format!("`{url}` has no host")));
    }
    Ok((scheme, authority, path))
}
