//! Inbound webhooks: an HTTP listener (off unless `[webhooks] listen` is set) that routes
//! `POST /hooks/PLUGIN/NAME[/…]` to the plugin's `on-event`. A hook runs only if the plugin
//! requested it (`webhook NAME` in `describe()`) and the admin granted it with a way to
//! authenticate; the host checks the sender before the plugin sees anything.
//!
//! Answers: 200 once the plugin handled the event and its posts were accepted; 401 bad or
//! missing authentication; 404 unknown or ungranted hook; 405 not POST; 408 too slow; 413
//! body too large; 429 over the per-hook rate; 503 with `Retry-After` when the plugin is
//! busy or the store cannot count the request; 500 when the plugin failed (the sender
//! retries). `GET /healthz` answers 200. The per-hook rate is counted in the store, so
//! every host process behind one load balancer shares one budget per hook.
//! Slow clients hold nothing: headers and body each have a deadline.

pub mod auth;

use crate::config::WebhooksConfig;
use crate::dispatch::{Dispatcher, EventError};
use crate::model::Capability;
use crate::store::Store;
use auth::{HookAuth, SIGNATURE_HEADER};
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// Headers a plugin never sees: the sender's credentials are the host's business.
const HIDDEN_HEADERS: &[&str] = &[
    "authorization",
    "cookie",
    "proxy-authorization",
    SIGNATURE_HEADER,
];

/// A running listener; dropping it stops accepting.
pub struct Listener {
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct State {
    dispatcher: Arc<Dispatcher>,
    cfg: WebhooksConfig,
    /// Where each hook's requests this minute are counted: the dispatcher's store, shared
    /// by every process on it (one in memory if the dispatcher has none).
    store: Arc<Store>,
}

/// Listen on `cfg.listen`; `None` if webhooks are off.
pub async fn start(
    dispatcher: Arc<Dispatcher>,
    cfg: &WebhooksConfig,
) -> anyhow::Result<Option<Listener>> {
    let Some(listen) = &cfg.listen else {
        return Ok(None);
    };
    let tcp = tokio::net::TcpListener::bind(listen.as_str()).await.map_err(|e| {
        anyhow::anyhow!("[webhooks] listen = \"{listen}\": cannot listen there ({e}). Fix: choose a free address, e.g. 127.0.0.1:8686")
    })?;
    let addr = tcp.local_addr()?;
    let store = match dispatcher.store() {
        Some(store) => store.clone(),
        None => Arc::new(Store::in_memory()?),
    };
    let state = Arc::new(State {
        dispatcher,
        cfg: cfg.clone(),
        store,
    });
    let header_timeout = Duration::from_millis(cfg.header_timeout_ms);
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = tcp.accept().await else {
                continue;
            };
            let state = state.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| {
                    let state = state.clone();
                    async move { Ok::<_, std::convert::Infallible>(handle(&state, req).await) }
                });
                let conn = hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(header_timeout)
                    .serve_connection(TokioIo::new(stream), service);
                if let Err(e) = conn.await {
                    tracing::debug!("webhook connection ended: {e}");
                }
            });
        }
    });
    tracing::info!("webhooks: listening on http://{addr}/hooks/");
    Ok(Some(Listener { addr, task }))
}

fn answer(status: StatusCode, text: &str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(format!("{text}\n"))));
    *r.status_mut() = status;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

fn with_header(
    mut r: Response<Full<Bytes>>,
    name: http::HeaderName,
    value: &'static str,
) -> Response<Full<Bytes>> {
    r.headers_mut()
        .insert(name, http::HeaderValue::from_static(value));
    r
}

async fn handle(state: &State, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_string();
    if path == "/healthz" {
        return answer(StatusCode::OK, "ok");
    }
    let Some(rest) = path.strip_prefix("/hooks/") else {
        return answer(
            StatusCode::NOT_FOUND,
            "no such hook: webhooks are POST /hooks/PLUGIN/NAME",
        );
    };
    let (plugin, below) = rest.split_once('/').unwrap_or((rest, ""));
    let name = below.split('/').next().unwrap_or("");
    let origin = format!("webhook {name}");
    let what = format!("webhook {} /{below}", req.method());
    let refuse = |status: StatusCode, why: &str| {
        state
            .dispatcher
            .audit_refused(plugin, &origin, &what, status.as_str(), why);
        answer(status, why)
    };
    // Unknown and ungranted hooks look the same from outside.
    let granted = state.dispatcher.plugin(plugin).and_then(|p| {
        let requested = p
            .info()
            .capabilities
            .iter()
            .any(|r| r.capability == Capability::Webhook(name.to_string()));
        let auth = p.grants.webhooks.get(name).and_then(HookAuth::from_grant)?;
        requested.then_some(auth)
    });
    let Some(auth) = granted else {
        return refuse(StatusCode::NOT_FOUND, "no such hook");
    };
    if req.method() != Method::POST {
        let r = refuse(StatusCode::METHOD_NOT_ALLOWED, "webhooks take POST");
        return with_header(r, http::header::ALLOW, "POST");
    }
    let Some(key) = state
        .dispatcher
        .secret(auth.secret())
        .filter(|k| !k.is_empty())
    else {
        let why = format!(
            "hook `{name}` of plugin `{plugin}` authenticates with secret `{}`, which has no value (or an empty one)",
            auth.secret()
        );
        tracing::error!("{why}; the sender is refused until an admin sets it");
        return refuse(
            StatusCode::UNAUTHORIZED,
            "this hook cannot authenticate anyone yet",
        );
    };
    let header = |n: &str| req.headers().get(n).and_then(|v| v.to_str().ok());
    // A bearer token is checked before the body is read: a stranger costs nothing more.
    if let HookAuth::Bearer(_) = auth {
        if let Err(why) = auth.check(&key, header, b"") {
            return with_header(
                refuse(StatusCode::UNAUTHORIZED, why),
                http::header::WWW_AUTHENTICATE,
                "Bearer",
            );
        }
    }
    let max = state.cfg.max_body_bytes;
    let declared = req
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max) {
        return refuse(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("the body is larger than {max} bytes"),
        );
    }
    let method = req.method().to_string();
    let headers: Vec<(String, String)> = req
        .headers()
        .iter()
        .filter(|(k, _)| !HIDDEN_HEADERS.contains(&k.as_str()))
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let signature = header(SIGNATURE_HEADER).map(str::to_string);
    let body = Limited::new(req.into_body(), max as usize);
    let body = match tokio::time::timeout(
        Duration::from_millis(state.cfg.body_timeout_ms),
        body.collect(),
    )
    .await
    {
        Err(_) => {
            return refuse(
                StatusCode::REQUEST_TIMEOUT,
                "the body took too long to arrive",
            )
        }
        Ok(Err(_)) => {
            return refuse(
                StatusCode::PAYLOAD_TOO_LARGE,
                &format!("the body is larger than {max} bytes"),
            )
        }
        Ok(Ok(collected)) => collected.to_bytes(),
    };
    if let HookAuth::Hmac(_) = auth {
        let sig = |n: &str| {
            (n == SIGNATURE_HEADER)
                .then_some(signature.as_deref())
                .flatten()
        };
        if let Err(why) = auth.check(&key, sig, &body) {
            return refuse(StatusCode::UNAUTHORIZED, why);
        }
    }
    // Only senders who proved themselves count against the hook's rate: a stranger's
    // requests cannot use up the budget of the real sender.
    match take_rate(state, plugin, name).await {
        Ok(true) => {}
        Ok(false) => {
            let r = refuse(
                StatusCode::TOO_MANY_REQUESTS,
                "too many requests for this hook; slow down",
            );
            return with_header(r, http::header::RETRY_AFTER, "60");
        }
        Err(e) => {
            tracing::error!("hook `{name}` of plugin `{plugin}`: its rate could not be counted, so the request was refused: the store is unreachable: {e}");
            let r = refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                "the store is unreachable, so this request could not be counted; retry later",
            );
            return with_header(r, http::header::RETRY_AFTER, "30");
        }
    }
    let event = super::webhook(&method, &format!("/{below}"), headers, body.to_vec());
    let outcome = state.dispatcher.deliver(plugin, event, &origin).await;
    match outcome.error {
        None => answer(StatusCode::OK, &format!("ok: {} post(s)", outcome.posted)),
        Some(EventError::Busy(m)) => with_header(
            answer(StatusCode::SERVICE_UNAVAILABLE, &m),
            http::header::RETRY_AFTER,
            "5",
        ),
        Some(EventError::NoPlugin(m)) => answer(StatusCode::NOT_FOUND, &m),
        Some(EventError::Failed(m)) => answer(StatusCode::INTERNAL_SERVER_ERROR, &m),
    }
}

/// One request against the hook's budget for this minute, in the store (one budget across
/// the processes that share it).
async fn take_rate(state: &State, plugin: &str, name: &str) -> crate::store::Result<bool> {
    let key = format!("webhook {plugin} {name}");
    state
        .store
        .rate_take(&key, 60_000, state.cfg.per_minute, crate::store::now_ms())
        .await
}
