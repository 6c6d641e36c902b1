//! Faults a real Discord shows and a bot must survive: rate limits (per route, with the
//! headers serenity's limiter reads, and global), interaction tokens that expire, gateway
//! session invalidation and close codes, and serving as `https://discord.com` so the
//! real rate limiter can be tested (it ignores `HttpBuilder::proxy`).

use super::rest::{Incoming, Reply};
use super::{lock, FakeDiscord, Shared};
use axum::serve::Listener;
use serde_json::json;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

const INVALID_WEBHOOK_TOKEN: u32 = 50027;
const UNKNOWN_INTERACTION: u32 = 10062;

/// The test CA the `discord.com` certificate is signed by (valid 2000–2999).
const CA_PEM: &str = include_str!("tls/ca.pem");
const CERT_PEM: &str = include_str!("tls/cert.pem");
const KEY_PEM: &str = include_str!("tls/key.pem");

#[derive(Default)]
pub(crate) struct Faults {
    expired: HashSet<String>,
    limits: Vec<Limit>,
    buckets: Vec<Bucket>,
}

/// A one-off 429 for the next matching calls.
struct Limit {
    path_contains: String,
    retry_after: Duration,
    global: bool,
    left: usize,
}

/// A route's rate limit as Discord enforces it: `limit` calls per `window`, every answer
/// carrying `x-ratelimit-*` headers, and a 429 for a call past the limit.
struct Bucket {
    method: String,
    path_contains: String,
    limit: u32,
    window: Duration,
    started: Option<Instant>,
    used: u32,
}

fn rate_limited(retry_after: Duration, global: bool, limit: u32) -> Reply {
    let secs = retry_after.as_secs_f64();
    let reset = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
        + secs;
    let mut headers = vec![
        // Discord sends whole seconds here and the exact value in the body.
        ("retry-after", format!("{}", secs.ceil() as u64)),
        ("x-ratelimit-limit", limit.to_string()),
        ("x-ratelimit-remaining", "0".into()),
        ("x-ratelimit-reset", format!("{reset:.3}")),
        ("x-ratelimit-reset-after", format!("{secs:.3}")),
        ("x-ratelimit-bucket", "fake-bucket".into()),
        (
            "x-ratelimit-scope",
            if global { "global" } else { "user" }.into(),
        ),
    ];
    if global {
        headers.push(("x-ratelimit-global", "true".into()));
    }
    Reply {
        status: 429,
        body: Some(json!({
            "message": "You are being rate limited.",
            "retry_after": secs,
            "global": global,
            "code": 0,
        })),
        headers,
    }
}

/// The token in an interaction or webhook path, if any.
fn interaction_token(path: &str) -> Option<(&'static str, &str)> {
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    match segs.as_slice() {
        ["api", "v10", "webhooks", _, token, ..] => Some(("webhook", token)),
        ["api", "v10", "interactions", _, token, "callback"] => Some(("callback", token)),
        _ => None,
    }
}

/// An answer that replaces routing: an expired token or a rate limit.
pub(crate) fn intercept(s: &Shared, r: &Incoming) -> Option<Reply> {
    let mut f = lock(&s.faults);
    if let Some((kind, token)) = interaction_token(&r.path) {
        if f.expired.contains(token) {
            return Some(match kind {
                // What Discord answers once an interaction's 15 minutes are over.
                "webhook" => Reply::error(401, INVALID_WEBHOOK_TOKEN, "Invalid Webhook Token"),
                _ => Reply::error(404, UNKNOWN_INTERACTION, "Unknown interaction"),
            });
        }
    }
    if let Some(l) = f
        .limits
        .iter_mut()
        .find(|l| l.left > 0 && r.path.contains(&l.path_contains))
    {
        l.left -= 1;
        return Some(rate_limited(l.retry_after, l.global, 5));
    }
    let b = f
        .buckets
        .iter_mut()
        .find(|b| b.method == r.method && r.path.contains(&b.path_contains))?;
    let now = Instant::now();
    if b.started.is_none_or(|t| now.duration_since(t) >= b.window) {
        b.started = Some(now);
        b.used = 0;
    }
    if b.used >= b.limit {
        let left = b.window - now.duration_since(b.started.unwrap_or(now));
        return Some(rate_limited(left, false, b.limit));
    }
    b.used += 1;
    None
}

/// Adds a bucket's `x-ratelimit-*` headers to a routed answer.
pub(crate) fn decorate(s: &Shared, r: &Incoming, reply: &mut Reply) {
    let f = lock(&s.faults);
    let Some(b) = f
        .buckets
        .iter()
        .find(|b| b.method == r.method && r.path.contains(&b.path_contains))
    else {
        return;
    };
    if reply.status == 429 {
        return;
    }
    let left = b
        .started
        .map_or(b.window, |t| b.window.saturating_sub(t.elapsed()));
    reply.headers.extend([
        ("x-ratelimit-limit", b.limit.to_string()),
        ("x-ratelimit-remaining", (b.limit - b.used).to_string()),
        (
            "x-ratelimit-reset-after",
            format!("{:.3}", left.as_secs_f64()),
        ),
        ("x-ratelimit-bucket", "fake-bucket".into()),
    ]);
}

/// A TLS listener for `discord.com` on 127.0.0.1, for axum.
struct TlsListener {
    tcp: TcpListener,
    acceptor: TlsAcceptor,
}

impl Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((tcp, addr)) = self.tcp.accept().await else {
                continue;
            };
            let handshake = self.acceptor.accept(tcp);
            if let Ok(Ok(tls)) = tokio::time::timeout(Duration::from_secs(5), handshake).await {
                return (tls, addr);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

fn acceptor() -> TlsAcceptor {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_slice_iter(CERT_PEM.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .expect("the fake's discord.com certificate parses");
    let key = PrivateKeyDer::from_pem_slice(KEY_PEM.as_bytes()).expect("the fake's key parses");
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("rustls has default protocol versions")
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .expect("the certificate and key match");
    TlsAcceptor::from(Arc::new(config))
}

impl FakeDiscord {
    /// From now on, calls with this interaction token fail as they do on Discord once
    /// the interaction is over: edits and follow-ups 401 "Invalid Webhook Token" (50027),
    /// a first answer 404 "Unknown interaction" (10062).
    pub fn expire_interaction(&self, token: &str) {
        lock(&self.shared.faults).expired.insert(token.to_string());
    }

    /// Answers the next `times` calls whose path contains `path_contains` with 429, the
    /// way Discord does: `retry-after` (whole seconds), `x-ratelimit-*`, and for a global
    /// limit `x-ratelimit-global: true` and `"global": true`.
    pub fn rate_limit_next(
        &self,
        path_contains: &str,
        retry_after: Duration,
        global: bool,
        times: usize,
    ) {
        lock(&self.shared.faults).limits.push(Limit {
            path_contains: path_contains.to_string(),
            retry_after,
            global,
            left: times,
        });
    }

    /// Enforces a rate limit on `method` calls whose path contains `path_contains`:
    /// `limit` per `window`, announced in `x-ratelimit-*` headers; a call past it is
    /// answered 429 (and recorded so).
    pub fn limit_route(&self, method: &str, path_contains: &str, limit: u32, window: Duration) {
        lock(&self.shared.faults).buckets.push(Bucket {
            method: method.to_string(),
            path_contains: path_contains.to_string(),
            limit,
            window,
            started: None,
            used: 0,
        });
    }

    /// Sends op 9 Invalid Session on the live connection: `resumable` false makes the
    /// bot identify afresh, true makes it resume.
    pub async fn invalidate_session(&self, resumable: bool) {
        self.shared.gateway().invalidate_live(resumable);
    }

    /// Closes the live connection with a close frame of this code (4000–4009 let the bot
    /// resume or re-identify; 4004, 4013 and 4014 end its connection for good).
    pub async fn close_live(&self, code: u16) {
        self.shared.gateway().close_live(code);
    }

    /// Serves the REST API as `https://discord.com` too, and returns a reqwest client
    /// that reaches it there: it resolves discord.com to the fake and trusts only the
    /// fake's test CA. Give it to serenity with the rate limiter on and no proxy, and the
    /// real limiter runs against the fake.
    pub async fn discord_com_client(&self) -> reqwest::Client {
        let port = {
            let mut tls = lock(&self.tls);
            match &*tls {
                Some((port, _)) => *port,
                None => {
                    let std = std::net::TcpListener::bind("127.0.0.1:0")
                        .expect("bind 127.0.0.1:0 for the fake's discord.com");
                    std.set_nonblocking(true).expect("a nonblocking listener");
                    let port = std.local_addr().expect("a bound address").port();
                    let listener = TlsListener {
                        tcp: TcpListener::from_std(std).expect("a tokio listener"),
                        acceptor: acceptor(),
                    };
                    let app = self.app.clone();
                    let task = tokio::spawn(async move {
                        let _ = axum::serve(listener, app).await;
                    });
                    *tls = Some((port, task));
                    port
                }
            }
        };
        let ca = reqwest::Certificate::from_pem(CA_PEM.as_bytes()).expect("the test CA parses");
        reqwest::Client::builder()
            .no_proxy()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(ca)
            .resolve("discord.com", ([127, 0, 0, 1], port).into())
            .build()
            .expect("a reqwest client for the fake's discord.com")
    }
}
