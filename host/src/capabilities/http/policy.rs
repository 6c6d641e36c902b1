//! The `wasi:http` hooks of one sandbox: every request is checked against the grants, the
//! request count and the time budget, its name resolved and checked for internal addresses,
//! then sent by [`super::connect`] to exactly the checked addresses.

use super::connect::{resolve, send, Budget};
use super::grant::{internal_kind, is_internal, Destination, HttpGrant};
use crate::capabilities::CallContext;
use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use wasmtime_wasi_http::{Error as HttpErr, RequestOptions, WasiBody, WasiHttpHooks};

/// The `wasi:http` hooks of one sandbox: the grant check, the caps, and the connection.
pub struct HttpPolicy {
    call: CallContext,
    requests: u32,
    deadline: Instant,
}

impl HttpPolicy {
    pub fn new(call: CallContext) -> Self {
        let deadline = Instant::now() + Duration::from_millis(call.limits.http_ms);
        HttpPolicy {
            call,
            requests: 0,
            deadline,
        }
    }

    fn refuse(&self, url: &str, why: &str, fix: String) -> HttpErr {
        let origin = url
            .parse::<http::Uri>()
            .ok()
            .and_then(|u| Destination::from_uri(&u))
            .map(|d| d.suggested_grant())
            .unwrap_or_else(|| "(no host)".into());
        self.call.exit.capability(false, &format!("http {origin}"));
        self.call.exit.notice(format!(
            "refused: plugin `{}` requested {url}: {why}; {fix}",
            self.call.plugin
        ));
        HttpErr::HttpRequestDenied
    }

    /// Everything that can be decided before resolving the name.
    fn check(&mut self, uri: &http::Uri) -> Result<(Destination, HttpGrant), HttpErr> {
        let url = uri.to_string();
        let plugin = self.call.plugin.clone();
        let Some(dest) = Destination::from_uri(uri) else {
            return Err(self.refuse(
                &url,
                "the URL has no scheme or host",
                "the plugin must send absolute URLs".into(),
            ));
        };
        let Some(grant) = self
            .call
            .grants
            .http
            .iter()
            .find(|g| g.allows(&dest))
            .cloned()
        else {
            let fix = match dest.ip().filter(|ip| is_internal(*ip)).map(internal_kind) {
                Some((what, false)) => format!("it is {what}"),
                Some((what, true)) => format!(
                    "it is {what}; to allow it: chatops grant {plugin} http {}",
                    dest.suggested_grant()
                ),
                None => format!(
                    "to allow it: chatops grant {plugin} http {}",
                    dest.suggested_grant()
                ),
            };
            return Err(self.refuse(&url, "no HTTP grant covers it", fix));
        };
        self.requests += 1;
        let max = self.call.limits.http_requests;
        if self.requests > max {
            let fix =
                format!("to allow more, raise `http_requests` under [plugins.{plugin}.limits]");
            return Err(self.refuse(
                &url,
                &format!("it made more than {max} requests in one command"),
                fix,
            ));
        }
        Ok((dest, grant))
    }
}

impl WasiHttpHooks for HttpPolicy {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: Box<dyn Future<Output = Result<(), HttpErr>> + Send>,
    ) -> Box<
        dyn Future<
                Output = Result<
                    (
                        http::Response<WasiBody>,
                        Box<dyn Future<Output = Result<(), HttpErr>> + Send>,
                    ),
                    HttpErr,
                >,
            > + Send,
    > {
        drop(fut);
        let checked = self.check(request.uri());
        let call = self.call.clone();
        let deadline = self.deadline;
        Box::new(async move {
            let (dest, grant) = match checked {
                Ok(ok) => ok,
                Err(e) => return Err(refused(request, e)),
            };
            let remaining = deadline.saturating_duration_since(Instant::now());
            if let (Some(upstreams), false) = (&call.grants.upstreams, remaining.is_zero()) {
                call.exit
                    .capability(true, &format!("http {}", dest.suggested_grant()));
                let response = upstreams.answer(request).await?;
                let io = Box::new(async { Ok(()) })
                    as Box<dyn Future<Output = Result<(), HttpErr>> + Send>;
                return Ok((response, io));
            }
            if remaining.is_zero() {
                call.exit
                    .capability(false, &format!("http {}", dest.suggested_grant()));
                call.exit.notice(format!(
                    "refused: plugin `{}` used up its HTTP time of {} ms in one command; raise `http_ms` under [plugins.{}.limits]",
                    call.plugin, call.limits.http_ms, call.plugin
                ));
                return Err(refused(request, HttpErr::HttpRequestDenied));
            }
            let addrs = resolve(&dest, remaining).await?;
            if let Some(ip) = addrs
                .iter()
                .map(SocketAddr::ip)
                .find(|ip| is_internal(*ip) && !grant.names_ip(*ip))
            {
                let (what, suggest) = internal_kind(ip);
                let fix = if suggest {
                    format!(
                        "only a grant naming that address allows it (chatops grant {} http {}://{})",
                        call.plugin, dest.scheme, SocketAddr::new(ip, dest.port)
                    )
                } else {
                    "the host does not suggest opening it".to_string()
                };
                call.exit
                    .capability(false, &format!("http {}", dest.suggested_grant()));
                call.exit.notice(format!(
                    "refused: plugin `{}` requested {}://{}:{}: it resolves to the internal address {ip}, {what}; {fix}",
                    call.plugin, dest.scheme, dest.host, dest.port
                ));
                return Err(refused(request, HttpErr::HttpRequestDenied));
            }
            call.exit
                .capability(true, &format!("http {}", dest.suggested_grant()));
            // The guest may ask for a shorter wait for the answer; the plugin's HTTP time
            // budget bounds the whole exchange, body included.
            let first = options
                .and_then(|o| o.first_byte_timeout.or(o.connect_timeout))
                .unwrap_or(remaining)
                .min(remaining);
            let limits = Budget {
                first,
                total: remaining,
                max_body: call.limits.http_response_bytes,
            };
            send(request, &dest, &addrs, limits).await
        })
    }
}

/// The answer to a refused request. Its body is still read (and thrown away) in the
/// background: a client that writes the body before it looks at the answer (wstd does)
/// must see the refusal, not a write to a closed stream ("connection reset").
fn refused(request: http::Request<WasiBody>, error: HttpErr) -> HttpErr {
    use http_body_util::BodyExt;
    let mut body = request.into_body();
    tokio::spawn(async move {
        // The guest's side closes when it finishes the body or its sandbox ends; the
        // wait is bounded all the same.
        let drain = async { while let Some(Ok(_)) = body.frame().await {} };
        let _ = tokio::time::timeout(Duration::from_secs(300), drain).await;
    });
    error
}
