//! The store's suite against a real PostgreSQL (as against SQLite in the library's tests),
//! the password from the secrets providers, two handles on one database, and refusals.

use chatops::store::{suite, Store};
use chatops_tests::postgres::{Postgres, PASSWORD};

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
}
