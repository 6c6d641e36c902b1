//! Inbound events end to end: webhooks refused before the plugin runs, schedules fired by
//! the clock, and the real Prometheus Alertmanager posting into the fake Discord through
//! the bundled `alerts` plugin.

use chatops::adapters::discord::{self, Settings};
use chatops::runtime::sha256_hex;
use chatops::triggers::webhook::auth::sign;
use chatops_tests::alertmanager::Alertmanager;
use chatops_tests::discord_fake::FakeDiscord;
use chatops_tests::*;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(30);

/// A config with `plugin` pinned and `body` appended (its grants, settings, schedules).
fn config(dir: &Path, plugin: &str, head: &str, body: &str) -> PathBuf {
    let wasm = write_plugins(dir, &[plugin]).remove(0);
    let cfg = dir.join("chatops.toml");
    std::fs::write(
        &cfg,
        format!(
            "{head}\n[plugins.{plugin}]\npath = \"{plugin}.wasm\"\nsha256 = \"{}\"\n{body}\n",
            sha256_hex(&std::fs::read(&wasm).unwrap())
        ),
    )
    .unwrap();
    cfg
}

/// The host from `cfg` with its triggers running and posts recorded.
async fn host(cfg: &Path) -> (Chat, chatops::triggers::Triggers, Arc<Posts>) {
    let chat = Chat::from_config(cfg).await;
    let posts = Arc::new(Posts::default());
    chat.bot.dispatcher.set_poster(posts.clone());
    let loaded = chatops::bot::load_config(cfg).unwrap();
    let triggers = chatops::triggers::start(chat.bot.dispatcher.clone(), Some(&loaded))
        .await
        .expect("triggers start");
    (chat, triggers, posts)
}

async fn cli(args: &[&str]) -> anyhow::Result<()> {
    let mut argv = vec!["chatops"];
    argv.extend_from_slice(args);
    chatops::cli::main(<chatops::cli::Cli as clap::Parser>::parse_from(argv)).await
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(WAIT)
        .build()
        .unwrap()
}

#[tokio::test]
async fn webhooks_are_refused_before_the_plugin_runs() {
    std::env::set_var("CHATOPS_TEST_HOOKS_HOOK_TOKEN", "bearer-value-123");
    std::env::set_var("CHATOPS_TEST_HOOKS_HOOK_SECRET", "hmac-key-456");
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        dir.path(),
        "probe",
        "[secrets]\nenv_prefix = \"CHATOPS_TEST_HOOKS_\"\n[webhooks]\nlisten = \"127.0.0.1:0\"\nmax_body_bytes = 1000\nper_minute = 30\nheader_timeout_ms = 1500\n",
        "[plugins.probe.limits]\nmax_concurrent = 1\n[plugins.probe.grants]\npost = [\"ops\"]\n[plugins.probe.grants.webhooks]\ntokened = { bearer = \"hook-token\" }\nsigned = { hmac_sha256 = \"hook-secret\" }\nextra = { bearer = \"hook-token\" }\n",
    );
    let (chat, triggers, posts) = host(&cfg).await;
    let addr = triggers.webhooks.as_ref().expect("listening").addr;
    let url = |p: &str| format!("http://{addr}{p}");
    let c = client();
    let status = |r: reqwest::Response| r.status().as_u16();

    assert_eq!(status(c.get(url("/healthz")).send().await.unwrap()), 200);
    // Accepted: the plugin sees the body and the headers, but never the credentials.
    let r = c
        .post(url("/hooks/probe/tokened/deep/path"))
        .bearer_auth("bearer-value-123")
        .header("content-type", "application/json")
        .body("{\"a\":1}")
        .send()
        .await
        .unwrap();
    assert_eq!(status(r), 200);
    let body = b"{\"action\":\"opened\"}".to_vec();
    let r = c
        .post(url("/hooks/probe/signed"))
        .header("x-hub-signature-256", sign("hmac-key-456", &body))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(status(r), 200);
    let seen: Vec<String> = posts
        .0
        .lock()
        .unwrap()
        .iter()
        .map(|(c, t)| format!("{c} {t}"))
        .collect();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(
        seen[0].starts_with("ops POST /tokened/deep/path 7: {\"a\":1} ["),
        "{seen:?}"
    );
    assert!(
        seen.iter()
            .all(|s| !s.contains("authorization") && !s.contains("x-hub-signature")),
        "{seen:?}"
    );
    assert!(
        seen[1].starts_with("ops POST /signed 19: {\"action\":\"opened\"}"),
        "{seen:?}"
    );

    // Refused, each before the plugin runs.
    let cases: Vec<(&str, reqwest::RequestBuilder, u16)> = vec![
        (
            "no auth",
            c.post(url("/hooks/probe/tokened")).body("x"),
            401,
        ),
        (
            "a wrong bearer",
            c.post(url("/hooks/probe/tokened"))
                .bearer_auth("bearer-value-124")
                .body("x"),
            401,
        ),
        (
            "basic auth",
            c.post(url("/hooks/probe/tokened"))
                .basic_auth("u", Some("bearer-value-123"))
                .body("x"),
            401,
        ),
        (
            "no signature",
            c.post(url("/hooks/probe/signed")).body(body.clone()),
            401,
        ),
        (
            "a bad signature",
            c.post(url("/hooks/probe/signed"))
                .header("x-hub-signature-256", "sha256=00ff")
                .body(body.clone()),
            401,
        ),
        (
            "a signature of another body",
            c.post(url("/hooks/probe/signed"))
                .header("x-hub-signature-256", sign("hmac-key-456", b"{}"))
                .body(body.clone()),
            401,
        ),
        (
            "a signature with another key",
            c.post(url("/hooks/probe/signed"))
                .header("x-hub-signature-256", sign("hmac-key-457", &body))
                .body(body.clone()),
            401,
        ),
        (
            "a bearer token on a signed hook",
            c.post(url("/hooks/probe/signed"))
                .bearer_auth("hmac-key-456")
                .body(body.clone()),
            401,
        ),
        (
            "an unknown hook",
            c.post(url("/hooks/probe/nope"))
                .bearer_auth("bearer-value-123")
                .body("x"),
            404,
        ),
        (
            "a requested hook nobody granted",
            c.post(url("/hooks/probe/spare"))
                .bearer_auth("bearer-value-123")
                .body("x"),
            404,
        ),
        (
            "a granted hook the plugin never requested",
            c.post(url("/hooks/probe/extra"))
                .bearer_auth("bearer-value-123")
                .body("x"),
            404,
        ),
        (
            "an unknown plugin",
            c.post(url("/hooks/ghost/tokened"))
                .bearer_auth("bearer-value-123")
                .body("x"),
            404,
        ),
        ("another path", c.post(url("/other")).body("x"), 404),
        (
            "GET",
            c.get(url("/hooks/probe/tokened"))
                .bearer_auth("bearer-value-123"),
            405,
        ),
        (
            "an oversized body",
            c.post(url("/hooks/probe/tokened"))
                .bearer_auth("bearer-value-123")
                .body(vec![b'x'; 1001]),
            413,
        ),
    ];
    for (what, req, want) in cases {
        let r = req.send().await.unwrap();
        assert_eq!(status(r), want, "{what}");
    }
    // An oversized body sent in chunks, with no length to refuse it by up front.
    let mut chunked = format!(
        "POST /hooks/probe/signed HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nX-Hub-Signature-256: {}\r\n\r\n",
        sign("hmac-key-456", &[b'x'; 5000])
    )
    .into_bytes();
    for _ in 0..5 {
        chunked.extend_from_slice(b"3e8\r\n");
        chunked.extend_from_slice(&[b'x'; 1000]);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let answer = tokio::task::spawn_blocking(move || {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let _ = s.write_all(&chunked);
        let mut buf = [0u8; 64];
        let n = s.read(&mut buf).unwrap_or(0);
        String::from_utf8_lossy(&buf[..n]).into_owned()
    });
    let answer = tokio::time::timeout(WAIT, answer).await.unwrap().unwrap();
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert_eq!(
        posts.0.lock().unwrap().len(),
        2,
        "a refused request reached the plugin"
    );

    // A client that sends its headers one byte a second is cut off, holding nothing.
    let slow = tokio::task::spawn_blocking(move || {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let started = Instant::now();
        for b in b"POST /hooks/probe/tokened HTTP/1.1\r\nHost: x\r\n".iter() {
            if s.write_all(&[*b]).is_err() {
                break;
            }
            std::thread::sleep(Duration::from_secs(1));
            if started.elapsed() > Duration::from_secs(8) {
                break;
            }
        }
        let mut rest = Vec::new();
        let _ = s.read_to_end(&mut rest);
        (
            started.elapsed(),
            String::from_utf8_lossy(&rest).into_owned(),
        )
    });
    let (took, answer) = tokio::time::timeout(WAIT, slow).await.unwrap().unwrap();
    assert!(
        took < Duration::from_secs(8),
        "the slow client held the connection for {took:?}"
    );
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "{answer}"
    );

    // A plugin at its max_concurrent answers 503 with Retry-After; the sender retries.
    let sleeping = c
        .post(url("/hooks/probe/tokened"))
        .bearer_auth("bearer-value-123")
        .body("sleep")
        .send();
    let sleeping = tokio::spawn(sleeping);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let busy = c
        .post(url("/hooks/probe/tokened"))
        .bearer_auth("bearer-value-123")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(busy.status().as_u16(), 503);
    assert_eq!(busy.headers()["retry-after"], "5");
    assert_eq!(status(sleeping.await.unwrap().unwrap()), 200);

    // `chatops webhook send` authenticates the way the grant says.
    let file = dir.path().join("event.json");
    std::fs::write(&file, "{\"from\":\"cli\"}").unwrap();
    cli(&[
        "--config",
        cfg.to_str().unwrap(),
        "webhook",
        "send",
        "probe",
        "signed",
        file.to_str().unwrap(),
        "--to",
        &addr.to_string(),
    ])
    .await
    .unwrap();
    assert!(
        posts
            .0
            .lock()
            .unwrap()
            .iter()
            .any(|(_, t)| t.starts_with("POST /signed 14: {\"from\":\"cli\"}")),
        "{:?}",
        posts.0.lock().unwrap()
    );

    // Strangers cannot use up the hook's rate: only authenticated requests count.
    for _ in 0..40 {
        let r = c
            .post(url("/hooks/probe/tokened"))
            .bearer_auth("guess")
            .body("x")
            .send()
            .await
            .unwrap();
        assert_eq!(status(r), 401);
    }
    let r = c
        .post(url("/hooks/probe/tokened"))
        .bearer_auth("bearer-value-123")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(status(r), 200);

    // Over the per-minute rate: 429 with Retry-After.
    let mut last = 0;
    for _ in 0..40 {
        let r = c
            .post(url("/hooks/probe/tokened"))
            .bearer_auth("bearer-value-123")
            .body("x")
            .send()
            .await
            .unwrap();
        last = status(r);
        if last == 429 {
            break;
        }
    }
    assert_eq!(last, 429);

    // Every request is audited, with nothing secret in it.
    let audit = chat
        .bot
        .dispatcher
        .store()
        .unwrap()
        .audit_recent(200)
        .unwrap();
    assert!(
        audit
            .iter()
            .any(|e| e.actor.starts_with("[webhook tokened]") && e.outcome == "401"),
        "{audit:?}"
    );
    assert!(
        audit
            .iter()
            .any(|e| e.actor.starts_with("[webhook signed]") && e.outcome == "ok"),
        "{audit:?}"
    );
    let all = format!("{audit:?}");
    assert!(
        !all.contains("bearer-value-123") && !all.contains("hmac-key-456"),
        "{all}"
    );
    drop(triggers);
    drop(dir);
}

#[tokio::test]
async fn schedules_fire_fail_alone_and_never_stack() {
    let logs = capture_logs("warn,chatops=info");
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        dir.path(),
        "probe",
        "",
        "[plugins.probe.grants]\npost = [\"ops\"]\n[plugins.probe.schedules]\ntick = \"default\"\nboom = \"default\"\nslow = \"default\"\n",
    );
    cli(&["--config", cfg.to_str().unwrap(), "schedules"])
        .await
        .unwrap();
    let (chat, triggers, posts) = host(&cfg).await;
    let count = |text: &str| {
        posts
            .0
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, t)| t == text)
            .count()
    };
    let deadline = Instant::now() + WAIT;
    while (count("tick") < 3 || count("slow done") < 1) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // `boom` fails every second; `tick` keeps firing.
    assert!(count("tick") >= 3, "{:?}", posts.0.lock().unwrap());
    assert_eq!(count("slow done"), 1, "{:?}", posts.0.lock().unwrap());
    drop(triggers);
    let logs = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
    assert!(logs.contains("schedule `boom` failed: plugin `probe` could not handle schedule boom: boom went the schedule"), "{logs}");
    assert!(
        logs.contains(
            "schedule `slow` is due but its previous run is still going; skipped this run"
        ),
        "{logs}"
    );
    let audit = chat
        .bot
        .dispatcher
        .store()
        .unwrap()
        .audit_recent(200)
        .unwrap();
    assert!(
        audit
            .iter()
            .any(|e| e.actor.starts_with("[schedule boom]") && e.outcome == "failed"),
        "{audit:?}"
    );
    let slow_runs = audit
        .iter()
        .filter(|e| e.actor.starts_with("[schedule slow]"))
        .count();
    assert!(
        slow_runs <= 2,
        "slow ran {slow_runs} times at once: {audit:?}"
    );
    drop(dir);
}

#[tokio::test]
async fn alertmanager_alerts_reach_the_channel_and_silences_reach_alertmanager() {
    const TOKEN: &str = "am-bearer-token-789";
    std::env::set_var("CHATOPS_TEST_AM_ALERTMANAGER_TOKEN", TOKEN);
    let fake = FakeDiscord::start().await;
    let channel = FakeDiscord::CHANNEL_ID.to_string();
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        dir.path(),
        "alerts",
        "[secrets]\nenv_prefix = \"CHATOPS_TEST_AM_\"\n[webhooks]\nlisten = \"127.0.0.1:0\"\n",
        &format!("[plugins.alerts.grants]\nkv = true\npost = [\"{channel}\"]\n[plugins.alerts.grants.webhooks]\nalertmanager = {{ bearer = \"alertmanager-token\" }}\n[plugins.alerts.config]\nchannel = \"{channel}\"\n"),
    );
    let (chat, triggers, _) = host(&cfg).await;
    let addr = triggers.webhooks.as_ref().expect("listening").addr;
    let settings = Settings {
        token: FakeDiscord::TOKEN.into(),
        api_url: Some(fake.url()),
        guilds: vec![FakeDiscord::GUILD_ID],
        prefix_commands: true,
        defer_after: Duration::from_millis(1500),
        watch_every: Duration::from_millis(200),
    };
    let running = discord::start(chat.bot.clone(), settings)
        .await
        .expect("client starts");
    fake.wait_ready(WAIT).await.expect("READY");

    let am = Alertmanager::start(&format!("http://{addr}/hooks/alerts/alertmanager"), TOKEN).await;
    // The admin points the plugin at Alertmanager and lets it reach the API.
    let c = cfg.to_str().unwrap();
    cli(&["--config", c, "config", "alerts", "url", &am.url])
        .await
        .unwrap();
    cli(&["--config", c, "grant", "alerts", "http", &am.url])
        .await
        .unwrap();
    chat.bot.reload_if_changed().await;

    let posted = |needle: &'static str| {
        let path = format!("/api/v10/channels/{}/messages", FakeDiscord::CHANNEL_ID);
        let fake = &fake;
        async move {
            fake.wait_request(
                &format!("a post with {needle}"),
                |r| {
                    r.method == "POST"
                        && r.path == path
                        && r.body["content"].as_str().unwrap_or("").contains(needle)
                },
                WAIT,
            )
            .await
            .unwrap()
            .body["content"]
                .as_str()
                .unwrap()
                .to_string()
        }
    };
    let labels = [
        ("alertname", "HighLatency"),
        ("severity", "critical"),
        ("service", "api"),
    ];
    let notes = [
        ("summary", "p99 latency over 2s"),
        ("description", "Requests to api are slow"),
    ];
    am.push(&labels, &notes, false).await;
    let firing = posted("FIRING").await;
    assert!(
        firing.contains("HighLatency")
            && firing.contains("(critical)")
            && firing.contains("p99 latency over 2s"),
        "{firing}"
    );
    assert!(firing.contains(&am.url), "a link to Alertmanager: {firing}");

    let list = chat.ok("alerts list").await;
    assert!(
        list.contains("HighLatency") && list.contains("not acked"),
        "{list}"
    );
    let fp = list
        .split('`')
        .nth(3)
        .expect("a fingerprint in backticks")
        .to_string();
    let acked = chat.ok(&format!("alerts ack {}", &fp[..8])).await;
    assert!(acked.contains("You acked **HighLatency**"), "{acked}");
    assert!(posted("acked **HighLatency**").await.contains("alice"));
    assert!(chat.ok("alerts list").await.contains("acked by alice"));

    am.push(&labels, &notes, true).await;
    let resolved = posted("RESOLVED").await;
    assert!(resolved.contains("HighLatency"), "{resolved}");
    assert!(chat.ok("alerts list").await.contains("Nothing is firing"));

    // A silence made from the chat, as the user who asked, suppresses the alert.
    am.push(
        &[("alertname", "DiskFull"), ("severity", "warning")],
        &[("summary", "disk 95% full")],
        false,
    )
    .await;
    posted("DiskFull").await;
    let silenced = chat
        .ok("silence alertname=DiskFull 1h cleaning up old logs")
        .await;
    assert!(
        silenced.contains("Silenced alertname=\"DiskFull\""),
        "{silenced}"
    );
    let deadline = Instant::now() + WAIT;
    loop {
        let alerts = am.alerts().await;
        let state = alerts
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["labels"]["alertname"] == "DiskFull")
            .map(|a| a["status"]["state"].as_str().unwrap_or("").to_string());
        if state.as_deref() == Some("suppressed") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "DiskFull never became suppressed: {alerts}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let silences = am.silences().await;
    assert!(
        silences.to_string().contains("\"createdBy\":\"alice\""),
        "{silences}"
    );
    assert!(chat
        .ok("silence list")
        .await
        .contains("cleaning up old logs"));

    running.shutdown().await;
    drop(am);
    drop(triggers);
    let violations = fake.spec_violations();
    assert!(violations.is_empty(), "{}", violations.join("\n"));
    drop(dir);
}
