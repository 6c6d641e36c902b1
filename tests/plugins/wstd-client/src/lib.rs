//! `fetch METHOD URL [BODY]` through wstd's HTTP client: the refusal of an ungranted URL
//! must read `http-request-denied` whatever order the client writes the body in.
use chatops_sdk::*;

struct WstdClient;

impl Plugin for WstdClient {
    fn describe() -> PluginInfo {
        PluginInfo::new("wstd-client", "0.1.0", "HTTP through wstd").command(
            Command::new("fetch", "Send a request with wstd")
                .option(CommandOption::string("method", "GET or POST").required())
                .option(CommandOption::string("url", "Where").required())
                .option(CommandOption::string("body", "A body to send")),
        )
    }

    fn run(inv: Invocation) -> Result<Reply, CommandError> {
        let method = inv.str("method").unwrap_or_default();
        let url = inv.str("url").unwrap_or_default();
        let body = inv.str("body");
        wstd::runtime::block_on(fetch(method, url, body))
            .map(Reply::text)
            .map_err(CommandError::failed)
    }
}

async fn fetch(method: String, url: String, body: Option<String>) -> Result<String, String> {
    use wstd::http::{Body, Client, Request};
    let builder = Request::builder().method(method.as_str()).uri(url.as_str());
    let request = match body {
        // A body long enough that the client writes it in more than one piece.
        Some(b) => builder.body(Body::from(b.repeat(4096))),
        None => builder.body(Body::empty()),
    }
    .map_err(|e| format!("bad request: {e}"))?;
    match Client::new().send(request).await {
        Ok(mut resp) => {
            let status = resp.status();
            let text = resp
                .body_mut()
                .str_contents()
                .await
                .map_err(|e| format!("reading: {e:?}"))?
                .to_string();
            Ok(format!("{status} {text}"))
        }
        Err(e) => match e.downcast_ref::<wstd::http::error::ErrorCode>() {
            Some(wstd::http::error::ErrorCode::HttpRequestDenied) => {
                Err("http-request-denied".to_string())
            }
            _ => Err(format!("wstd error: {e:?}")),
        },
    }
}

plugin!(WstdClient);
