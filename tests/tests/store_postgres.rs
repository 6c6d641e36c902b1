//! The store's suite against a real PostgreSQL (as against SQLite in the library's tests),
//! the password from the secrets providers, two handles on one database, and refusals.

use chatops::dispatch::Kind;
use chatops::runtime::sha256_hex;
use chatops::store::{suite, CooldownKey, Store};
use chatops_tests::postgres::{Postgres, PASSWORD};
use chatops_tests::{caller, write_plugins, Chat};

#[tokio::test]
async fn the_store_suite_passes_on_postgres() {
    let pg = Postgres::start();
    let url = pg.database("suite");
    let store = Store::connect(&url, Some(PASSWORD))
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", pg.log()));
    assert_eq!(store.backend_name(), "postgres");
    suite::run(&store).await;
    // A second process on the same database: the schema is there already; both see one
    // state and of simultaneous fires of one occurrence exactly one wins.
    let other = Store::connect(&url, Some(PASSWORD)).await.unwrap();
    suite::run_two(&store, &other).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processes_starting_together_migrate_once_and_blocking_calls_work_on_workers() {
    let pg = Postgres::start();
    let url = pg.database("together");
    let stores = futures_join((0..4).map(|_| {
        let url = url.clone();
        tokio::spawn(async move { Store::connect(&url, Some(PASSWORD)).await })
    }))
    .await;
    for s in &stores {
        let s = s.as_ref().unwrap();
        assert_eq!(s.schema_version().unwrap(), chatops::store::SCHEMA_VERSION);
    }
    let s = stores[0].as_ref().unwrap();
    s.kv_set("p", "k", b"v").unwrap();
    assert_eq!(
        stores[3].as_ref().unwrap().kv_get("p", "k").unwrap(),
        Some(b"v".to_vec())
    );
}

async fn futures_join<T>(tasks: impl Iterator<Item = tokio::task::JoinHandle<T>>) -> Vec<T> {
    let mut out = Vec::new();
    for t in tasks.collect::<Vec<_>>() {
        out.push(t.await.unwrap());
    }
    out
}

#[tokio::test]
async fn a_wrong_or_missing_password_and_a_password_in_the_url_are_refused_clearly() {
    let pg = Postgres::start();
    let url = pg.database("refusals");
    let e = Store::connect(&url, None)
        .await
        .err()
        .expect("no password")
        .to_string();
    assert!(e.contains("password"), "{e}");
    let e = Store::connect(&url, Some("wrong"))
        .await
        .err()
        .expect("wrong")
        .to_string();
    assert!(e.contains("password authentication failed"), "{e}");
    let with = url.replace("postgres@", "postgres:hunter2@");
    let e = Store::connect(&with, Some(PASSWORD))
        .await
        .err()
        .expect("in url")
        .to_string();
    assert!(e.contains("store-password"), "{e}");
    assert!(!e.contains("hunter2"), "{e}");
}

/// What an audit write and a kv read cost on PostgreSQL over the loopback (printed, not
/// asserted: figures for the README's arithmetic,
/// `cargo test -p chatops-tests --test store_postgres cost -- --nocapture`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_write_cost() {
    let pg = Postgres::start();
    let url = pg.database("cost");
    let store = Store::connect(&url, Some(PASSWORD)).await.unwrap();
    let e = chatops::store::AuditEntry {
        actor: "alice (1)".into(),
        plugin: "deploy".into(),
        args: "deploy api prod".into(),
        outcome: "ok".into(),
        ..Default::default()
    };
    let n = 300u32;
    let started = std::time::Instant::now();
    for _ in 0..n {
        store
            .audit_batch_async(std::slice::from_ref(&e))
            .await
            .unwrap();
    }
    println!(
        "postgres: {:?} per audit write, one per transaction ({n} writes)",
        started.elapsed() / n
    );
    let batch = vec![e.clone(); 50];
    let started = std::time::Instant::now();
    for _ in 0..(n / 50) {
        store.audit_batch_async(&batch).await.unwrap();
    }
    println!(
        "postgres: {:?} per audit write, 50 per transaction ({n} writes)",
        started.elapsed() / n
    );
    store.kv_set_async("p", "k", b"value").await.unwrap();
    let started = std::time::Instant::now();
    for _ in 0..n {
        store.kv_get_async("p", "k").await.unwrap();
    }
    println!(
        "postgres: {:?} per kv read ({n} reads)",
        started.elapsed() / n
    );
    let started = std::time::Instant::now();
    for i in 0..n as i64 {
        store
            .lease_fire("s", "me", i + 1, i64::MAX, 0)
            .await
            .unwrap();
    }
    println!(
        "postgres: {:?} per schedule lease fire ({n} fires)",
        started.elapsed() / n
    );
    let started = std::time::Instant::now();
    for i in 0..n as i64 {
        let keys = [
            CooldownKey {
                key: format!("p c user {i}"),
                span_ms: 1_000,
            },
            CooldownKey {
                key: "p c channel ops".into(),
                span_ms: 1_000,
            },
        ];
        store.cooldown_take(&keys, i * 1_000, true).await.unwrap();
    }
    println!(
        "postgres: {:?} per cooldown check and take, user and channel ({n} takes)",
        started.elapsed() / n
    );
    let started = std::time::Instant::now();
    for i in 0..n as i64 {
        store
            .rate_take("webhook p h", 60_000, 120, i)
            .await
            .unwrap();
    }
    println!(
        "postgres: {:?} per webhook rate take ({n} takes)",
        started.elapsed() / n
    );
}

/// Two hosts on one PostgreSQL hold one cooldown between them; with the database gone, a
/// command with a cooldown is refused (failing closed, naming the plugin and the command)
/// while a command without one never asks the store and still runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hosts_hold_one_cooldown_and_without_the_store_a_cooled_command_is_refused() {
    let pg = Postgres::start();
    let url = pg.database("cooldowns");
    std::env::set_var("CHATOPS_STORE_PG_TEST_STORE_PASSWORD", PASSWORD);
    let dir = tempfile::tempdir().unwrap();
    let wasm = write_plugins(dir.path(), &["misbehave"]).remove(0);
    let cfg = dir.path().join("chatops.toml");
    std::fs::write(
        &cfg,
        format!(
            "[host]\nstore = \"{url}\"\n[secrets]\nenv_prefix = \"CHATOPS_STORE_PG_TEST_\"\n\
             [plugins.misbehave]\npath = \"misbehave.wasm\"\nsha256 = \"{}\"\n\
             [plugins.misbehave.cooldowns.launch]\nper_user = \"1h\"\nper_channel = \"2h\"\n",
            sha256_hex(&std::fs::read(&wasm).unwrap())
        ),
    )
    .unwrap();
    let a = Chat::from_config(&cfg).await;
    let b = Chat::from_config(&cfg).await;
    let erin = caller("erin", &[]);
    assert_eq!(a.say_as(&erin, "launch x").await.text, "launched to x");
    let r = b.say_as(&erin, "launch y").await;
    assert_eq!(r.kind, Kind::Denied, "{r:?}");
    assert_eq!(
        r.text, "`launch` is cooling down: you can run it again in 1 h (once every 1 h).",
        "the other host knows"
    );
    let mut frank = caller("frank", &[]);
    let r = b.say_as(&frank, "launch y").await;
    assert_eq!(
        r.text, "`launch` is cooling down: this channel can run it again in 2 h (once every 2 h).",
        "the channel's cooldown holds too"
    );
    frank.channel = "elsewhere".into();
    assert_eq!(b.say_as(&frank, "launch y").await.text, "launched to y");

    drop(pg);
    let mut gina = caller("gina", &[]);
    gina.channel = "third".into();
    let r = a.say_as(&gina, "launch z").await;
    assert_eq!(r.kind, Kind::Failed, "{r:?}");
    for part in ["`launch`", "plugin `misbehave`", "store is unreachable"] {
        assert!(r.text.contains(part), "{part}: {}", r.text);
    }
    assert_eq!(
        a.say_as(&gina, "doze 0").await.text,
        "slept 0s",
        "no cooldown, no store"
    );
}
