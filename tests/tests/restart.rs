//! The bundled `restart` plugin against the real Docker Engine (Debian's `docker.io`, started
//! by hand on 127.0.0.1), driven as a chat user through the shell-like dispatcher and through
//! the fake Discord; and against a misbehaving fake Engine for the failures the real one will
//! not produce on demand.

use chatops::adapters::discord::{self, Settings};
use chatops::capabilities::ProgressSink;
use chatops::dispatch::{Kind, Response};
use chatops::runtime::sha256_hex;
use chatops_tests::discord_fake::FakeDiscord;
use chatops_tests::docker::fake::{container_json, Canned, FakeEngine};
use chatops_tests::docker::Docker;
use chatops_tests::*;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(30);
const LABEL: (&str, &str) = ("chatops.restartable", "true");
const ALICE: u64 = 4242;

/// A config with `restart` pinned, pointed at `docker_url`, granted `grant` (if any).
fn config(dir: &Path, docker_url: &str, grant: Option<&str>, more: &str) -> PathBuf {
    let wasm = write_plugins(dir, &["restart"]).remove(0);
    let grants = grant
        .map(|g| format!("[plugins.restart.grants]\nhttp = [\"{g}\"]\n"))
        .unwrap_or_default();
    let cfg = dir.join("chatops.toml");
    std::fs::write(
        &cfg,
        format!(
            "[plugins.restart]\npath = \"restart.wasm\"\nsha256 = \"{}\"\n{grants}[plugins.restart.config]\ndocker_url = \"{docker_url}\"\n{more}\n",
            sha256_hex(&std::fs::read(&wasm).unwrap())
        ),
    )
    .unwrap();
    cfg
}

/// The grant an admin gives: the Engine's containers API, nothing else of it.
fn grant_for(url: &str) -> String {
    format!("{url}/v1.41/containers")
}

/// Say `line`, expect the question, answer it; returns the question and the answer.
async fn confirmed(chat: &Chat, line: &str, yes: bool) -> (String, Response) {
    let asked = chat.say(line).await;
    let Kind::Confirm { token } = asked.kind.clone() else {
        panic!("`{line}` should ask first, answered {asked:?}")
    };
    let progress: Arc<dyn ProgressSink> = chat.progress.clone();
    let answer = tokio::time::timeout(
        STEP,
        chat.bot
            .dispatcher
            .confirm(&chat.who, &token, yes, progress),
    )
    .await
    .unwrap_or_else(|_| panic!("`{line}` confirmed did not answer within {STEP:?}"));
    (asked.text, answer)
}

/// Docker's `StartedAt` as the plugin shows it: `2026-11-27 08:32:52.172 UTC`.
fn shown(started_at: &str) -> String {
    format!("{} {} UTC", &started_at[..10], &started_at[11..23])
}

#[tokio::test]
async fn restart_web_gets_a_new_start_time_and_only_labelled_containers_are_touched() {
    let began = Instant::now();
    let docker = Docker::start().await;
    eprintln!("dockerd answered /_ping after {:?}", docker.ready_after);
    docker.run("web", &[LABEL], Some(Docker::healthy())).await;
    docker.run("worker", &[LABEL], None).await;
    docker.run("db", &[], None).await;
    docker.run("list", &[LABEL], None).await;
    docker
        .run("stuck", &[LABEL], Some(Docker::never_healthy()))
        .await;
    docker.wait_healthy("web").await;
    eprintln!("dockerd with 5 containers after {:?}", began.elapsed());

    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &docker.url, Some(&grant_for(&docker.url)), "");
    let chat = Chat::from_config(&cfg).await;

    // Listing asks nothing and shows only what carries the label.
    let list = chat.ok("restart list").await;
    eprintln!("restart list →\n{list}");
    for name in ["`web`", "`worker`", "`list`", "`stuck`"] {
        assert!(list.contains(name), "{name} is listed: {list}");
    }
    assert!(!list.contains("`db`"), "db carries no label: {list}");
    assert!(list.contains("4 restartable containers"), "{list}");

    let status = chat.ok("restart status web").await;
    eprintln!("restart status web → {status}");
    assert!(
        status.starts_with("`web` is running since") && status.contains("healthy"),
        "{status}"
    );

    // Unknown and unlabelled containers are refused at once, without a question.
    let unknown = chat.say("restart nope").await;
    assert_eq!(unknown.kind, Kind::Failed, "{unknown:?}");
    assert!(
        unknown.text.contains("there is no container `nope`"),
        "{}",
        unknown.text
    );
    let db_started = docker.started_at("db").await;
    let db = chat.say("restart db").await;
    assert_eq!(db.kind, Kind::Denied, "{db:?}");
    assert!(
        db.text
            .contains("`db` is not restartable from chat: it does not carry the label `chatops.restartable=true`"),
        "{}",
        db.text
    );
    let db_status = chat.say("restart status db").await;
    assert_eq!(db_status.kind, Kind::Denied, "{db_status:?}");
    assert_eq!(
        docker.started_at("db").await,
        db_started,
        "db was not touched"
    );
    // Nor can it be reached by another spelling of the path.
    let sneaky = chat.say("restart db/../web").await;
    assert_eq!(sneaky.kind, Kind::Usage, "{sneaky:?}");

    // Cancelled: nothing happens.
    let worker_started = docker.started_at("worker").await;
    let (_, cancelled) = confirmed(&chat, "restart worker", false).await;
    assert_eq!(cancelled.kind, Kind::Cancelled);
    assert_eq!(docker.started_at("worker").await, worker_started);

    // The restart itself: asked, confirmed, followed until healthy, both times reported.
    let old = docker.started_at("web").await;
    let t = Instant::now();
    let (question, done) = confirmed(&chat, "restart web", true).await;
    eprintln!("restart web took {:?}", t.elapsed());
    assert!(
        question.contains("Restart container `web` (running since") && question.contains("healthy"),
        "{question}"
    );
    eprintln!("restart web → {question}\n  → {}", done.text);
    eprintln!("progress: {:?}", chat.progress.0.lock().unwrap());
    assert_eq!(done.kind, Kind::Reply, "{done:?}");
    let new = docker.started_at("web").await;
    assert_ne!(new, old, "web has a new start time");
    assert_eq!(
        docker.inspect("web").await["State"]["Health"]["Status"],
        "healthy"
    );
    assert!(
        done.text.starts_with(&format!(
            "🔁 Restarted `web`: started {} → now {}, running and healthy",
            shown(&old),
            shown(&new)
        )),
        "{}",
        done.text
    );
    let progress = chat.progress.0.lock().unwrap().clone();
    assert!(
        progress
            .iter()
            .any(|p| p.starts_with("⏳ Restarting `web`")),
        "{progress:?}"
    );

    // A container literally named `list` is written with Docker's slash.
    let old = docker.started_at("list").await;
    let (_, done) = confirmed(&chat, "restart /list", true).await;
    assert!(
        done.text.starts_with("🔁 Restarted `list`"),
        "{}",
        done.text
    );
    assert_ne!(docker.started_at("list").await, old);
    let status = chat.ok("restart status /list").await;
    assert!(status.starts_with("`list` is running"), "{status}");

    // One that never comes up healthy: a clear answer once the configured wait is over.
    let dir3 = tempfile::tempdir().unwrap();
    let impatient = Chat::from_config(&config(
        dir3.path(),
        &docker.url,
        Some(&grant_for(&docker.url)),
        "timeout = \"3\"\n",
    ))
    .await;
    let t = Instant::now();
    let (_, stuck) = confirmed(&impatient, "restart stuck", true).await;
    eprintln!("restart stuck → {}", stuck.text);
    assert_eq!(stuck.kind, Kind::Failed, "{stuck:?}");
    assert!(
        stuck
            .text
            .contains("`stuck` did not come back up within 3 s (it is running since")
            && stuck.text.contains("starting"),
        "{}",
        stuck.text
    );
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());

    // Without the HTTP grant, nothing reaches Docker, and the admin is told what to grant.
    let dir2 = tempfile::tempdir().unwrap();
    let ungranted = Chat::from_config(&config(dir2.path(), &docker.url, None, "")).await;
    let refused = ungranted.say("restart list").await;
    assert_eq!(refused.kind, Kind::Denied, "{refused:?}");
    assert!(
        refused.text.contains(&format!(
            "chatops grant restart http {}/v1.41/containers",
            docker.url
        )),
        "{}",
        refused.text
    );
    assert!(
        refused
            .notices
            .iter()
            .any(|n| n.contains("chatops grant restart http")),
        "{:?}",
        refused.notices
    );
    let old = docker.started_at("worker").await;
    let (_, refused) = confirmed(&ungranted, "restart worker", true).await;
    assert_eq!(refused.kind, Kind::Denied, "{refused:?}");
    assert_eq!(docker.started_at("worker").await, old);

    drop(chat);
    drop(impatient);
    drop(ungranted);
    let dockers_dir = docker.dir();
    drop(docker);
    assert!(
        !dockers_dir.exists(),
        "{} is removed",
        dockers_dir.display()
    );
    assert_eq!(
        Docker::leftovers(&dockers_dir),
        Vec::<u32>::new(),
        "nothing of dockerd survives"
    );
    eprintln!("the whole test took {:?}", began.elapsed());
}

#[tokio::test]
async fn restart_in_discord_asks_with_buttons_and_edits_in_the_result() {
    let docker = Docker::start().await;
    docker.run("web", &[LABEL], Some(Docker::healthy())).await;
    docker.wait_healthy("web").await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &docker.url, Some(&grant_for(&docker.url)), "");
    let chat = Chat::from_config(&cfg).await;
    let fake = FakeDiscord::start().await;
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
    let put = fake
        .wait_request("command registration", |r| r.method == "PUT", WAIT)
        .await
        .unwrap();
    let restart = put
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "restart")
        .unwrap_or_else(|| panic!("restart is registered: {}", put.body))
        .clone();
    assert_eq!(restart["options"][0]["name"], "target");
    assert_eq!(restart["options"][0]["required"], true);

    let slash = |target: &str| {
        let ev = fake.slash_command(
            "restart",
            json!([{ "name": "target", "type": 3, "value": target }]),
            ALICE,
            &[],
        );
        (
            ev["id"].as_str().unwrap().to_string(),
            ev["token"].as_str().unwrap().to_string(),
            ev,
        )
    };
    let callback = |id: String, token: String| {
        let fake = &fake;
        async move {
            let path = format!("/api/v10/interactions/{id}/{token}/callback");
            fake.wait_request(
                "the interaction's callback",
                |r| r.method == "POST" && r.path == path,
                WAIT,
            )
            .await
            .unwrap()
        }
    };

    // `restart list` answers at once, without buttons.
    let (id, token, ev) = slash("list");
    fake.dispatch("INTERACTION_CREATE", ev).await;
    let cb = callback(id, token).await;
    assert_eq!(cb.body["type"], 4, "{}", cb.body);
    assert!(
        cb.body["data"]["content"]
            .as_str()
            .unwrap()
            .contains("`web`"),
        "{}",
        cb.body
    );
    assert!(cb.body["data"]["components"].is_null() || cb.body["data"]["components"] == json!([]));

    // `restart web` shows Confirm/Cancel; Confirm restarts and edits in the result.
    let old = docker.started_at("web").await;
    let (id, token, ev) = slash("web");
    fake.dispatch("INTERACTION_CREATE", ev).await;
    let cb = callback(id, token).await;
    let content = cb.body["data"]["content"].as_str().unwrap().to_string();
    assert!(content.contains("Restart container `web`"), "{content}");
    let buttons = &cb.body["data"]["components"][0]["components"];
    let confirm = buttons[0]["custom_id"].as_str().unwrap().to_string();
    assert!(confirm.starts_with("chatops:confirm:"), "{}", cb.body);
    assert!(buttons[1]["custom_id"]
        .as_str()
        .unwrap()
        .starts_with("chatops:cancel:"));
    assert_eq!(
        docker.started_at("web").await,
        old,
        "nothing runs before Confirm"
    );

    let press = fake.button_press(&confirm, ALICE, 1);
    let (pid, ptoken) = (
        press["id"].as_str().unwrap().to_string(),
        press["token"].as_str().unwrap().to_string(),
    );
    fake.dispatch("INTERACTION_CREATE", press).await;
    assert_eq!(callback(pid, ptoken.clone()).await.body["type"], 7);
    let original = format!(
        "/api/v10/webhooks/{}/{ptoken}/messages/@original",
        FakeDiscord::APP_ID
    );
    let done = fake
        .wait_request(
            "the result edited in",
            |r| {
                r.method == "PATCH"
                    && r.path == original
                    && r.body["content"]
                        .as_str()
                        .unwrap_or("")
                        .starts_with("🔁 Restarted `web`")
            },
            WAIT,
        )
        .await
        .unwrap();
    let new = docker.started_at("web").await;
    assert_ne!(new, old);
    let text = done.body["content"].as_str().unwrap();
    assert!(
        text.contains(&shown(&old)) && text.contains(&shown(&new)),
        "{text}"
    );

    running.shutdown().await;
    let violations = fake.spec_violations();
    assert!(
        violations.is_empty(),
        "the bot sent what Discord would reject:\n{}",
        violations.join("\n")
    );
    drop(docker);
}

#[tokio::test]
async fn upstream_failures_give_one_short_sentence_and_the_log_the_detail() {
    let logs = capture_logs("warn,chatops=info");
    let engine = FakeEngine::start().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        dir.path(),
        &engine.url(),
        Some(&grant_for(&engine.url())),
        "[plugins.restart.limits]\nhttp_ms = 2000\n",
    );
    let chat = Chat::from_config(&cfg).await;
    let web = container_json("web", &[LABEL], None);
    let inspect = "/v1.41/containers/web/json";

    // 500 on the restart: one sentence; Docker's message (with its internals) only in the log.
    engine.answer(Canned::new("GET", inspect, 200, &web));
    engine.answer(Canned::new(
        "POST",
        "/v1.41/containers/",
        500,
        r#"{"message":"Cannot restart container web: OCI runtime exec failed in /var/lib/docker/overlay2/secret-layer"}"#,
    ));
    let (_, failed) = confirmed(&chat, "restart web", true).await;
    assert_eq!(failed.kind, Kind::Failed, "{failed:?}");
    assert_eq!(
        failed.text,
        "`restart` failed: Docker failed to restart `web` (HTTP 500); the bot's log has Docker's message."
    );
    assert!(
        engine.seen().iter().any(|r| r.starts_with(&format!(
            "POST /v1.41/containers/{:0<64}/restart?t=10",
            "c0ffee"
        ))),
        "the restart goes to the full ID: {:?}",
        engine.seen()
    );
    let log = String::from_utf8_lossy(&logs.lock().unwrap()).to_string();
    assert!(log.contains("secret-layer"), "{log}");

    // 404: an unknown container, in Docker's words, is a clear sentence.
    engine.reset();
    let r = chat.say("restart status ghost").await;
    assert_eq!(r.kind, Kind::Failed);
    assert!(
        r.text.contains("there is no container `ghost`"),
        "{}",
        r.text
    );

    // Malformed JSON.
    engine.answer(Canned::new(
        "GET",
        inspect,
        200,
        r#"{"Id": "abc", "State": "#,
    ));
    let r = chat.say("restart status web").await;
    assert_eq!(r.kind, Kind::Failed);
    assert_eq!(
        r.text,
        "`restart` failed: Docker's answer to `look up `web`` could not be read (not the JSON the API describes); the bot's log has the detail."
    );

    // 429 with Retry-After: waited once, then it works; the wait is shown as progress.
    engine.reset();
    engine.answer(
        Canned::new("GET", "/v1.41/containers/json", 429, "{}")
            .header("retry-after", "1")
            .times(1),
    );
    engine.answer(Canned::new(
        "GET",
        "/v1.41/containers/json",
        200,
        r#"[{"Names":["/web"],"Image":"busybox","State":"running","Status":"Up 2 minutes"}]"#,
    ));
    let t = Instant::now();
    let list = chat.ok("restart list").await;
    assert!(t.elapsed() >= Duration::from_secs(1));
    assert!(list.contains("• `web` — Up 2 minutes (busybox)"), "{list}");
    assert!(
        engine.seen()[0]
            .contains("filters=%7B%22label%22%3A%5B%22chatops.restartable%3Dtrue%22%5D%7D"),
        "{:?}",
        engine.seen()
    );
    assert!(chat
        .progress
        .0
        .lock()
        .unwrap()
        .iter()
        .any(|p| p.contains("Docker asked to wait 1 s")));
    // A Retry-After too long to wait inside one command is said, not waited.
    engine.reset();
    engine.answer(
        Canned::new("GET", "/v1.41/containers/json", 429, "{}").header("retry-after", "120"),
    );
    let r = chat.say("restart list").await;
    assert_eq!(
        r.text,
        "`restart` failed: Docker is rate-limiting requests; could not list containers. Try again in 120 s."
    );

    // 403 from a proxy in front of Docker.
    engine.reset();
    engine.answer(Canned::new(
        "GET",
        "/v1.41/containers/json",
        403,
        r#"{"message":"forbidden by proxy"}"#,
    ));
    let r = chat.say("restart list").await;
    assert!(
        r.text
            .contains("Docker refused to list containers (HTTP 403)")
            && !r.text.contains("forbidden by proxy"),
        "{}",
        r.text
    );

    // Too slow: the host's HTTP time limit ends it, and the user hears so.
    engine.reset();
    engine.answer(
        Canned::new("GET", "/v1.41/containers/json", 200, "[]").delay(Duration::from_secs(10)),
    );
    let r = chat.say("restart list").await;
    assert_eq!(r.kind, Kind::Failed);
    assert!(r.text.contains("did not answer in time"), "{}", r.text);

    // Unhealthy after the restart.
    engine.reset();
    engine.answer(Canned::new("GET", inspect, 200, &web).times(2));
    engine.answer(Canned::new("POST", "/v1.41/containers/", 204, ""));
    let mut sick: serde_json::Value =
        serde_json::from_str(&container_json("web", &[LABEL], Some("unhealthy"))).unwrap();
    sick["State"]["StartedAt"] = "2026-11-27T08:05:00.5Z".into();
    sick["State"]["Health"]["FailingStreak"] = 3.into();
    engine.answer(Canned::new(
        "GET",
        &format!("/v1.41/containers/{:0<64}/json", "c0ffee"),
        200,
        &sick.to_string(),
    ));
    let (_, r) = confirmed(&chat, "restart web", true).await;
    assert_eq!(
        r.text,
        "`restart` failed: `web` was restarted (started 2026-11-27 08:05:00.500 UTC) but its health check fails (3 times in a row); look at it with `restart status web`."
    );

    // Out of HTTP requests while watching: the restart happened, and the answer says so.
    engine.reset();
    let dir3 = tempfile::tempdir().unwrap();
    let frugal = Chat::from_config(&config(
        dir3.path(),
        &engine.url(),
        Some(&grant_for(&engine.url())),
        "[plugins.restart.limits]\nhttp_requests = 3\n",
    ))
    .await;
    engine.answer(Canned::new("GET", inspect, 200, &web));
    engine.answer(Canned::new("POST", "/v1.41/containers/", 204, ""));
    let mut starting: serde_json::Value =
        serde_json::from_str(&container_json("web", &[LABEL], Some("starting"))).unwrap();
    starting["State"]["StartedAt"] = "2026-11-27T08:05:00.5Z".into();
    engine.answer(Canned::new(
        "GET",
        &format!("/v1.41/containers/{:0<64}/json", "c0ffee"),
        200,
        &starting.to_string(),
    ));
    let (_, r) = confirmed(&frugal, "restart web", true).await;
    assert_eq!(r.kind, Kind::Failed, "{r:?}");
    assert!(
        r.text
            .contains("`web` was restarted, but the bot stopped watching it")
            && r.text.contains("http_requests"),
        "{}",
        r.text
    );
    drop(frugal);

    // Nobody listening.
    drop(engine);
    let dir2 = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let chat2 = Chat::from_config(&config(dir2.path(), &url, Some(&grant_for(&url)), "")).await;
    let r = chat2.say("restart list").await;
    assert_eq!(r.kind, Kind::Failed);
    assert!(r.text.contains("refused the connection"), "{}", r.text);

    // Nothing that came back from "Docker" ever reached the chat verbatim.
    for text in [&failed.text, &r.text] {
        assert!(
            !text.contains("OCI runtime") && !text.contains('{'),
            "{text}"
        );
    }
}
