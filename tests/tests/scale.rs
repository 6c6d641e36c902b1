//! Past one process, in one test process: pending confirmations live in the store (a
//! button shown before a restart is answered after it, on PostgreSQL and on SQLite), and a
//! graceful shutdown lets running commands finish, refuses new ones and answers those
//! still running at the deadline. Several real host processes: `host/tests/scale.rs`.

use chatops::dispatch::Kind;
use chatops::runtime::sha256_hex;
use chatops_tests::postgres::{Postgres, PASSWORD};
use chatops_tests::*;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A config with `misbehave` pinned, on `store` (a PostgreSQL URL or a file).
fn config(dir: &Path, store: &str) -> PathBuf {
    let wasm = write_plugins(dir, &["misbehave"]).remove(0);
    let cfg = dir.join("chatops.toml");
    std::fs::write(
        &cfg,
        format!(
            "[host]\nstore = \"{store}\"\n[secrets]\nenv_prefix = \"CHATOPS_SCALE_TEST_\"\n\
             [plugins.misbehave]\npath = \"misbehave.wasm\"\nsha256 = \"{}\"\n",
            sha256_hex(&std::fs::read(&wasm).unwrap())
        ),
    )
    .unwrap();
    cfg
}

/// Ask in one host, which then goes away; answer in the next one on the same store.
async fn a_confirmation_outlives_its_host(cfg: &Path) {
    let first = Chat::from_config(cfg).await;
    let r = first.say("wipe").await;
    let Kind::Confirm { token } = r.kind.clone() else {
        panic!("expected a confirmation, got {r:?}")
    };
    drop(first);
    let next = Chat::from_config(cfg).await;
    let progress: Arc<dyn chatops::capabilities::ProgressSink> = next.progress.clone();
    let d = &next.bot.dispatcher;
    assert_eq!(
        d.confirmation_owner(&token).await.as_deref(),
        Some(next.who.user.id.as_str())
    );
    let bob = caller("bob", &[]);
    assert_eq!(
        d.confirm(&bob, &token, true, progress.clone()).await.kind,
        Kind::Denied
    );
    let done = d.confirm(&next.who, &token, true, progress.clone()).await;
    assert_eq!(done.text, "wiped everything, as alice asked");
    let again = d.confirm(&next.who, &token, true, progress.clone()).await;
    assert!(
        again.text.contains("expired or was already answered"),
        "{}",
        again.text
    );
    // Expiry holds in the store too.
    let Kind::Confirm { token } = next.say("wipe").await.kind else {
        panic!()
    };
    d.expire_confirmation(&token);
    let late = d.confirm(&next.who, &token, true, progress).await;
    assert!(late.text.contains("expired"), "{}", late.text);
}

#[tokio::test]
async fn a_confirmation_shown_before_a_restart_is_answered_after_it_on_postgres() {
    let pg = Postgres::start();
    let url = pg.database("confirm");
    std::env::set_var("CHATOPS_SCALE_TEST_STORE_PASSWORD", PASSWORD);
    let dir = tempfile::tempdir().unwrap();
    a_confirmation_outlives_its_host(&config(dir.path(), &url)).await;
}

#[tokio::test]
async fn a_confirmation_shown_before_a_restart_is_answered_after_it_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    a_confirmation_outlives_its_host(&config(dir.path(), "chatops.db")).await;
}

#[tokio::test]
async fn a_missing_store_password_names_the_secret_and_how_to_set_it() {
    let pg = Postgres::start();
    let url = pg.database("nopassword");
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("chatops.toml");
    std::fs::write(
        &cfg,
        format!("[host]\nstore = \"{url}\"\n[secrets]\nenv_prefix = \"CHATOPS_SCALE_NONE_\"\n"),
    )
    .unwrap();
    let e = chatops::bot::Bot::start(Some(&cfg))
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("cannot open the store postgres://postgres@127.0.0.1")
            && e.contains("set the environment variable CHATOPS_SCALE_NONE_STORE_PASSWORD"),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graceful_shutdown_finishes_running_commands_and_answers_the_rest() {
    let chat = Arc::new(Chat::dev(&["misbehave"], Default::default(), &[]).await);
    let quick = {
        let c = chat.clone();
        tokio::spawn(async move { c.say("doze 1").await })
    };
    let stuck = {
        let c = chat.clone();
        tokio::spawn(async move { c.say("nap").await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let d = chat.bot.dispatcher.clone();
    let started = Instant::now();
    let draining = tokio::spawn(async move { d.drain.drain(Duration::from_secs(3)).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let refused = chat.say("doze 0").await;
    assert_eq!(refused.kind, Kind::Failed);
    assert_eq!(refused.text, chatops::bot::drain::REFUSED);
    assert_eq!(
        quick.await.unwrap().text,
        "slept 1s",
        "it finished before the deadline"
    );
    let cut = stuck.await.unwrap();
    assert_eq!(
        (cut.kind, cut.text.as_str()),
        (Kind::Failed, chatops::bot::drain::CUT)
    );
    assert_eq!(draining.await.unwrap(), 1, "one command was cut");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(3) && took < Duration::from_secs(8),
        "{took:?}"
    );
}

#[test]
fn shard_ranges_read_as_written_and_bad_ones_say_how_to_write_them() {
    use chatops::config::ShardsConfig;
    let r = |total: u32, ids: Option<&str>| {
        ShardsConfig {
            total,
            ids: ids.map(str::to_string),
        }
        .range()
    };
    assert_eq!(r(4, Some("0..2")), Ok(0..2));
    assert_eq!(r(4, Some("2..4")), Ok(2..4));
    assert_eq!(r(4, Some("3")), Ok(3..4));
    assert_eq!(r(4, None), Ok(0..4));
    for bad in ["0..5", "2..2", "4", "a..b", "1-2"] {
        let e = r(4, Some(bad)).unwrap_err();
        assert!(e.contains("write it like \"0..2\""), "{bad}: {e}");
    }
    assert!(r(0, None).unwrap_err().contains("at least 1"));
}

#[test]
fn chatops_check_refuses_a_password_in_the_store_url_and_bad_shards() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("chatops.toml");
    std::fs::write(
        &cfg,
        "[host]\nstore = \"postgres://chatops:hunter2@db:5432/ops\"\n[discord]\nshards = { total = 2, ids = \"1..3\" }\n",
    )
    .unwrap();
    let errors = match chatops::config::load(&cfg) {
        Ok(_) => panic!("accepted"),
        Err(errors) => errors
            .iter()
            .map(|e| format!("{}{} — {}", e.location, e.message, e.fix))
            .collect::<Vec<_>>()
            .join("\n"),
    };
    assert!(
        errors.contains("key `host.store`: the PostgreSQL URL carries a password")
            && errors.contains("secret `store-password`"),
        "{errors}"
    );
    assert!(!errors.contains("hunter2"), "{errors}");
    assert!(
        errors.contains("key `discord.shards`: [discord] shards: ids = \"1..3\""),
        "{errors}"
    );
}

/// Two hosts on one (fake) Discord, shard 1 of 2 and shard 0 of 2: each identifies with its
/// shard, only the one running shard 0 registers the slash commands, and a command arriving
/// on a shard is answered by the process running it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_process_identifies_its_shards_and_only_shard_0_registers_commands() {
    use chatops::adapters::discord::{self, Connect, Settings};
    use chatops_tests::discord_fake::FakeDiscord;
    let fake = FakeDiscord::start().await;
    let settings = || Settings {
        token: FakeDiscord::TOKEN.into(),
        api_url: Some(fake.url()),
        guilds: vec![FakeDiscord::GUILD_ID],
        prefix_commands: false,
        defer_after: Duration::from_millis(1500),
        watch_every: Duration::from_millis(200),
    };
    let start = |shards: std::ops::Range<u32>| {
        let settings = settings();
        async move {
            let chat = Chat::dev(&["echo"], Default::default(), &[]).await;
            let connect = Connect {
                shards: Some((shards, 2)),
                ..Connect::default()
            };
            let running = discord::start_with(chat.bot.clone(), settings, connect)
                .await
                .expect("client starts");
            (chat, running)
        }
    };
    let registrations = || {
        fake.requests()
            .iter()
            .filter(|r| r.method == "PUT" && r.path.ends_with("/commands"))
            .count()
    };
    let identified = || -> Vec<serde_json::Value> {
        fake.gateway_received()
            .into_iter()
            .filter(|f| f["op"] == 2)
            .map(|f| f["d"]["shard"].clone())
            .collect()
    };
    let (_b, b) = start(1..2).await;
    fake.wait_ready(Duration::from_secs(30)).await.unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(identified(), [serde_json::json!([1, 2])]);
    assert_eq!(registrations(), 0, "shard 1's process does not register");
    let (_a, a) = start(0..1).await;
    fake.wait_request(
        "the shard-0 process registers",
        |r| r.method == "PUT" && r.path.ends_with("/commands"),
        Duration::from_secs(30),
    )
    .await
    .unwrap();
    assert_eq!(
        identified(),
        [serde_json::json!([1, 2]), serde_json::json!([0, 2])]
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(registrations(), 1, "registered once");

    // A command arriving on each shard is answered by the process running it.
    let (a_chat, b_chat) = (&_a, &_b);
    let audited = |chat: &Chat| -> Vec<String> {
        chat.bot
            .dispatcher
            .store()
            .unwrap()
            .audit_recent(10)
            .unwrap()
            .into_iter()
            .map(|e| e.args)
            .collect()
    };
    for (shard, text) in [(1, "to shard one"), (0, "to shard zero")] {
        let text_option = serde_json::json!([{"name": "text", "type": 3, "value": text}]);
        let ev = fake.slash_command("echo", text_option, 42, &[]);
        assert!(
            fake.dispatch_to_shard(shard, "INTERACTION_CREATE", ev)
                .await
        );
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while audited(a_chat).is_empty() || audited(b_chat).is_empty() {
        assert!(Instant::now() < deadline, "not answered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(audited(a_chat), ["echo text=\"to shard zero\""]);
    assert_eq!(audited(b_chat), ["echo text=\"to shard one\""]);
    a.shutdown().await;
    b.shutdown().await;
}
