//! A fake upstream API on 127.0.0.1, on a port the OS picks, stopped when dropped.

use axum::extract::Query;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect};
use axum::routing::get;
use axum::Router;
use std::collections::HashMap;
use std::net::SocketAddr;

pub struct Upstream {
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Upstream {
    pub async fn start() -> Upstream {
        let app = Router::new()
            .route("/v1/status", get(|| async { "all systems go" }))
            .route("/admin", get(|| async { "the admin panel" }))
            .route("/v1/big", get(|| async { "y".repeat(4 << 20) }))
            .route(
                "/v1/whoami",
                get(|headers: HeaderMap| async move {
                    headers
                        .get("authorization")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("anonymous")
                        .to_string()
                }),
            )
            .route(
                "/v1/redirect",
                get(|Query(q): Query<HashMap<String, String>>| async move {
                    match q.get("to") {
                        Some(to) => Redirect::to(to).into_response(),
                        None => (StatusCode::BAD_REQUEST, "to= is required").into_response(),
                    }
                }),
            )
            .route(
                "/v1/slow",
                get(|| async {
                    tokio::time::sleep(std::time::Duration::from_secs(30)).await;
                    "finally"
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Upstream { addr, task }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}
