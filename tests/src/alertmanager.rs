//! The real Prometheus Alertmanager (Debian's `prometheus-alertmanager`) on 127.0.0.1, on a
//! free port, sending every notification to one webhook; killed when dropped.
//!
//! ```text
//! let am = Alertmanager::start("http://127.0.0.1:PORT/hooks/alerts/alertmanager", "s3cret").await;
//! am.push(&[("alertname", "HighLatency"), ("severity", "page")], &[("summary", "p99 > 1s")], false).await;
//! // the webhook arrives ~0.03 s later; a resolve (`push(.., true)`) about 1 s after that
//! ```

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const BINARY: &str = "prometheus-alertmanager";
/// How long Alertmanager may take to answer `/-/ready`.
const READY_WITHIN: Duration = Duration::from_secs(30);
/// Every API call is bounded too.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// The port is picked then released before Alertmanager binds it; if someone else took it
/// in between, try another one.
const ATTEMPTS: usize = 3;

pub struct Alertmanager {
    /// `http://127.0.0.1:PORT`, also Alertmanager's `externalURL`.
    pub url: String,
    child: Child,
    http: reqwest::Client,
    dir: tempfile::TempDir,
}

impl Alertmanager {
    /// Start `prometheus-alertmanager` on 127.0.0.1 on a free port, with one route
    /// (group_by ['alertname'], group_wait 0s, group_interval 1s, repeat_interval 1h) to a
    /// webhook receiver at `webhook_url` with send_resolved: true and
    /// http_config.authorization {type: Bearer, credentials: bearer}. Ready when GET /-/ready
    /// is 200 (waits up to 30 s).
    pub async fn start(webhook_url: &str, bearer: &str) -> Alertmanager {
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .expect("reqwest client");
        let mut last_failure = String::new();
        for _ in 0..ATTEMPTS {
            let dir = tempfile::tempdir().expect("temp dir for alertmanager");
            let config = dir.path().join("am.yml");
            std::fs::write(&config, config_yaml(webhook_url, bearer)).expect("write am.yml");
            let port = free_port();
            let url = format!("http://127.0.0.1:{port}");
            let child = spawn(dir.path(), &config, port);
            let mut am = Alertmanager {
                url,
                child,
                http: http.clone(),
                dir,
            };
            match am.wait_ready().await {
                Ok(()) => return am,
                // It exited (most likely: the port was taken meanwhile); `am` drops and
                // cleans up, then another port is tried.
                Err(Exited(why)) => last_failure = why,
                Err(TimedOut(why)) => panic!("{why}"),
            }
        }
        panic!("alertmanager did not start in {ATTEMPTS} attempts; the last: {last_failure}");
    }

    /// POST /api/v2/alerts with one alert (labels, annotations, a generatorURL); `resolved`
    /// sets endsAt to now. startsAt is a minute ago.
    pub async fn push(
        &self,
        labels: &[(&str, &str)],
        annotations: &[(&str, &str)],
        resolved: bool,
    ) {
        let now = SystemTime::now();
        let mut alert = serde_json::json!({
            "labels": to_map(labels),
            "annotations": to_map(annotations),
            "startsAt": rfc3339(now - Duration::from_secs(60)),
            "generatorURL": "http://prometheus.invalid/graph",
        });
        if resolved {
            alert["endsAt"] = rfc3339(now).into();
        }
        let resp = self
            .http
            .post(format!("{}/api/v2/alerts", self.url))
            .json(&serde_json::json!([alert]))
            .send()
            .await
            .expect("POST /api/v2/alerts");
        let status = resp.status();
        let body = resp.text().await.unwrap_or_default();
        assert!(
            status.is_success(),
            "alertmanager refused the alert ({status}): {body}"
        );
    }

    /// GET /api/v2/alerts as JSON.
    pub async fn alerts(&self) -> serde_json::Value {
        self.get_json("/api/v2/alerts").await
    }

    /// GET /api/v2/silences as JSON (every silence, expired ones included).
    pub async fn silences(&self) -> serde_json::Value {
        self.get_json("/api/v2/silences").await
    }

    /// Alertmanager's own log so far (stdout and stderr), for assertion messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("alertmanager.log")).unwrap_or_default()
    }

    async fn get_json(&self, path: &str) -> serde_json::Value {
        let resp = self
            .http
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        let status = resp.status();
        assert!(status.is_success(), "GET {path} answered {status}");
        resp.json()
            .await
            .unwrap_or_else(|e| panic!("GET {path} is not JSON: {e}"))
    }

    async fn wait_ready(&mut self) -> Result<(), NotReady> {
        let deadline = Instant::now() + READY_WITHIN;
        let ready = format!("{}/-/ready", self.url);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(Exited(format!(
                    "alertmanager exited ({status}) before it was ready:\n{}",
                    self.log()
                )));
            }
            let probe = self
                .http
                .get(&ready)
                .timeout(Duration::from_secs(2))
                .send()
                .await;
            if probe.is_ok_and(|r| r.status().is_success()) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(TimedOut(format!(
                    "alertmanager at {} was not ready within {READY_WITHIN:?}:\n{}",
                    self.url,
                    self.log()
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

enum NotReady {
    Exited(String),
    TimedOut(String),
}
use NotReady::{Exited, TimedOut};

impl Drop for Alertmanager {
    fn drop(&mut self) {
        // `Child::kill` signals this child's PID (SIGKILL); `wait` reaps it. The temp dir
        // (config, storage, log) is removed when `dir` drops, after this.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The Alertmanager configuration: one route, one webhook receiver.
fn config_yaml(webhook_url: &str, bearer: &str) -> String {
    // A JSON string is a valid YAML double-quoted scalar: no escaping surprises.
    let q = |s: &str| serde_json::to_string(s).expect("a string serialises");
    format!(
        "route:
  receiver: chatops
  group_by: ['alertname']
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: chatops
    webhook_configs:
      - url: {url}
        send_resolved: true
        http_config:
          authorization:
            type: Bearer
            credentials: {bearer}
",
        url = q(webhook_url),
        bearer = q(bearer),
    )
}

fn spawn(dir: &Path, config: &Path, port: u16) -> Child {
    let log = std::fs::File::create(dir.join("alertmanager.log")).expect("alertmanager log file");
    let log2 = log.try_clone().expect("clone the log file handle");
    let storage = dir.join("data");
    Command::new(BINARY)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.path={}", storage.display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg(format!("--web.external-url=http://127.0.0.1:{port}"))
        .arg("--cluster.listen-address=")
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2)
        .spawn()
        .unwrap_or_else(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                panic!("prometheus-alertmanager is not installed: .ci/run installs Debian's prometheus-alertmanager")
            }
            panic!("could not start {BINARY}: {e}")
        })
}

/// A port nobody listens on right now.
fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local addr").port()
}

fn to_map(pairs: &[(&str, &str)]) -> serde_json::Map<String, serde_json::Value> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), serde_json::Value::from(*v)))
        .collect()
}

/// `2026-11-27T04:19:47.123Z` (UTC, milliseconds).
pub fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).expect("after 1970");
    let secs = d.as_secs();
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_millis()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_rfc3339() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let t = UNIX_EPOCH + Duration::from_millis(1_795_753_187_802);
        assert_eq!(rfc3339(t), "2026-11-27T04:19:47.802Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(rfc3339(leap), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn config_quotes_its_strings() {
        let y = config_yaml("http://127.0.0.1:1/hooks/alerts/alertmanager", "a\"b: c");
        assert!(y.contains("url: \"http://127.0.0.1:1/hooks/alerts/alertmanager\""));
        assert!(y.contains("credentials: \"a\\\"b: c\""));
    }
}
