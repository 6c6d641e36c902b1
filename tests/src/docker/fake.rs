//! A misbehaving Docker Engine on 127.0.0.1: canned answers per method and path, for the
//! failures the real one will not produce on demand (500, 429, malformed JSON, slowness).
//! Unmatched requests get Docker's own 404 (`{"message": "No such container: …"}`).

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Router;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Clone)]
pub struct Canned {
    pub method: &'static str,
    /// Matches a request whose path (without the query) starts with this.
    pub path: String,
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
    pub delay: Duration,
    /// How many requests it answers; `None`: every one.
    pub times: Option<usize>,
}

impl Canned {
    pub fn new(method: &'static str, path: &str, status: u16, body: &str) -> Canned {
        Canned {
            method,
            path: path.into(),
            status,
            headers: vec![("content-type", "application/json".into())],
            body: body.into(),
            delay: Duration::ZERO,
            times: None,
        }
    }
    pub fn header(mut self, name: &'static str, value: &str) -> Canned {
        self.headers.push((name, value.into()));
        self
    }
    pub fn times(mut self, n: usize) -> Canned {
        self.times = Some(n);
        self
    }
    pub fn delay(mut self, d: Duration) -> Canned {
        self.delay = d;
        self
    }
}

#[derive(Default)]
struct Shared {
    canned: Mutex<Vec<Canned>>,
    seen: Mutex<Vec<String>>,
}

pub struct FakeEngine {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeEngine {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeEngine {
    pub async fn start() -> FakeEngine {
        let shared = Arc::new(Shared::default());
        let app = Router::new().fallback(answer).with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeEngine { addr, shared, task }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Answers are tried in the order they were added; the first match wins.
    pub fn answer(&self, canned: Canned) {
        self.shared.canned.lock().unwrap().push(canned);
    }

    /// Forget every canned answer and every request seen.
    pub fn reset(&self) {
        self.shared.canned.lock().unwrap().clear();
        self.shared.seen.lock().unwrap().clear();
    }

    /// `METHOD /path?query` of every request so far.
    pub fn seen(&self) -> Vec<String> {
        self.shared.seen.lock().unwrap().clone()
    }
}

/// What `GET /v1.41/containers/{name}/json` returns for a running container.
pub fn container_json(name: &str, labels: &[(&str, &str)], health: Option<&str>) -> String {
    let labels: serde_json::Map<String, serde_json::Value> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), (*v).into()))
        .collect();
    let mut state = serde_json::json!({
        "Status": "running", "Running": true, "Paused": false, "Restarting": false,
        "OOMKilled": false, "Dead": false, "Pid": 4242, "ExitCode": 0, "Error": "",
        "StartedAt": "2026-11-27T08:00:00.123456789Z", "FinishedAt": "0001-01-01T00:00:00Z",
    });
    if let Some(h) = health {
        state["Health"] = serde_json::json!({ "Status": h, "FailingStreak": 0, "Log": [] });
    }
    serde_json::json!({
        "Id": format!("{:0<64}", "c0ffee"),
        "Name": format!("/{name}"),
        "RestartCount": 0,
        "State": state,
        "Config": { "Image": "busybox", "Labels": labels },
    })
    .to_string()
}

async fn answer(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let method = req.method().to_string();
    let path = req.uri().path().to_string();
    let line = format!(
        "{method} {}",
        req.uri()
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or(&path)
    );
    shared.seen.lock().unwrap().push(line);
    let found = {
        let mut canned = shared.canned.lock().unwrap();
        let i = canned
            .iter()
            .position(|c| c.method == method && path.starts_with(&c.path));
        i.map(|i| {
            let c = canned[i].clone();
            if let Some(n) = canned[i].times.as_mut() {
                *n -= 1;
                if *n == 0 {
                    canned.remove(i);
                }
            }
            c
        })
    };
    let c = found.unwrap_or_else(|| {
        Canned::new(
            "",
            "",
            404,
            &format!(r#"{{"message":"No such container: {path}"}}"#),
        )
    });
    tokio::time::sleep(c.delay).await;
    let mut resp = Response::builder().status(StatusCode::from_u16(c.status).unwrap());
    for (k, v) in &c.headers {
        resp = resp.header(*k, v);
    }
    resp.body(Body::from(c.body)).unwrap()
}
