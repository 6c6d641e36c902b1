//! The store's test suite, run against each backend (SQLite in the library's tests,
//! PostgreSQL in `tests/tests/store_postgres.rs`). It expects an empty store.

use super::{
    AuditEntry, AuditFilter, CooldownKey, Cooling, ProcessInfo, Store, Taken, MAX_COOLDOWN_MS,
    SCHEMA_VERSION,
};

fn user(id: &str, span_ms: i64) -> CooldownKey {
    CooldownKey {
        key: format!("deploy deploy user {id}"),
        span_ms,
    }
}

fn channel(id: &str, span_ms: i64) -> CooldownKey {
    CooldownKey {
        key: format!("deploy deploy channel {id}"),
        span_ms,
    }
}

fn cooling(index: usize, wait_ms: i64) -> Option<Cooling> {
    Some(Cooling { index, wait_ms })
}

fn entry(actor: &str, plugin: &str, outcome: &str, unix_ms: i64) -> AuditEntry {
    AuditEntry {
        at: "2026-11-27T10:00:00Z".into(),
        unix_ms,
        actor: actor.into(),
        channel: "ops".into(),
        plugin: plugin.into(),
        command: plugin.into(),
        args: format!("{plugin} api"),
        outcome: outcome.into(),
        detail: "line one\nline two".into(),
        guild: "g1".into(),
        version: "1.0.0".into(),
        digest: "ab".into(),
        duration_ms: 12,
        capabilities: "http https://ci.example.com; kv".into(),
        ..AuditEntry::default()
    }
}

/// Everything one store handle does.
pub async fn run(store: &Store) {
    assert_eq!(store.schema_version_async().await.unwrap(), SCHEMA_VERSION);

    // key-value data, per plugin
    assert_eq!(store.kv_get_async("a", "k").await.unwrap(), None);
    store.kv_set_async("a", "k", b"\x00\xffone").await.unwrap();
    store.kv_set_async("a", "k", b"\x00\xfftwo").await.unwrap();
    store.kv_set_async("a", "k2", b"").await.unwrap();
    store.kv_set_async("a", "j", b"x").await.unwrap();
    store.kv_set_async("b", "k", b"theirs").await.unwrap();
    assert_eq!(
        store.kv_get_async("a", "k").await.unwrap(),
        Some(b"\x00\xfftwo".to_vec())
    );
    assert_eq!(store.kv_get_async("a", "k2").await.unwrap(), Some(vec![]));
    assert_eq!(store.kv_keys_async("a", "k").await.unwrap(), ["k", "k2"]);
    assert_eq!(
        store.kv_keys_async("a", "").await.unwrap(),
        ["j", "k", "k2"]
    );
    assert_eq!(
        store.kv_keys_async("a", "%").await.unwrap(),
        Vec::<String>::new()
    );
    assert_eq!(store.kv_count_async("a").await.unwrap(), 3);
    store.kv_delete_async("a", "k").await.unwrap();
    assert_eq!(store.kv_get_async("a", "k").await.unwrap(), None);
    assert_eq!(
        store.kv_get_async("b", "k").await.unwrap(),
        Some(b"theirs".to_vec())
    );

    // the audit trail: one and many rows, filters, following, pruning
    store
        .audit(&entry("alice (1)", "deploy", "ok", 1_000))
        .unwrap();
    store
        .audit_batch_async(&[
            entry("Bob (2)", "deploy", "denied", 2_000),
            entry("carol (3)", "incident", "ok", 3_000),
            entry("alice (1)", "incident", "failed", 4_000),
        ])
        .await
        .unwrap();
    store.audit_batch_async(&[]).await.unwrap();
    let all = store.audit_recent(10).unwrap();
    assert_eq!(all.len(), 4);
    assert!(all.windows(2).all(|w| w[0].id < w[1].id), "oldest first");
    let mut want = entry("alice (1)", "deploy", "ok", 1_000);
    want.id = all[0].id;
    assert_eq!(all[0], want, "every column comes back");
    let q = |f: AuditFilter| async move {
        store
            .audit_query_async(&AuditFilter { limit: 10, ..f })
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.unix_ms)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        q(AuditFilter {
            user: Some("bob".into()),
            ..Default::default()
        })
        .await,
        [2_000],
        "the user filter matches any case"
    );
    assert_eq!(
        q(AuditFilter {
            plugin: Some("incident".into()),
            ..Default::default()
        })
        .await,
        [3_000, 4_000]
    );
    assert_eq!(
        q(AuditFilter {
            outcome: Some("ok".into()),
            command: Some("deploy".into()),
            ..Default::default()
        })
        .await,
        [1_000]
    );
    assert_eq!(
        q(AuditFilter {
            since_ms: Some(3_000),
            ..Default::default()
        })
        .await,
        [3_000, 4_000]
    );
    assert_eq!(
        q(AuditFilter {
            after_id: Some(all[2].id),
            ..Default::default()
        })
        .await,
        [4_000]
    );
    assert_eq!(store.audit_recent(2).unwrap().len(), 2);
    assert_eq!(store.audit_recent(2).unwrap()[0].unix_ms, 3_000);
    assert_eq!(store.audit_prune_async(2_500).await.unwrap(), 2);
    assert_eq!(store.audit_recent(10).unwrap().len(), 2);

    // leases: one fire per occurrence; the holder keeps it until it expires or is released
    assert!(store.lease_fire("s", "p1", 100, 10_100, 100).await.unwrap());
    assert!(
        !store.lease_fire("s", "p1", 100, 10_100, 100).await.unwrap(),
        "an occurrence fires once"
    );
    assert!(
        !store.lease_fire("s", "p2", 200, 10_200, 200).await.unwrap(),
        "p1 holds it"
    );
    assert!(store.lease_fire("s", "p1", 200, 10_200, 200).await.unwrap());
    store.lease_renew("p1", 20_000).await.unwrap();
    assert!(
        !store
            .lease_fire("s", "p2", 15_000, 25_000, 15_000)
            .await
            .unwrap(),
        "renewed"
    );
    assert!(
        store
            .lease_fire("s", "p2", 21_000, 31_000, 21_000)
            .await
            .unwrap(),
        "expired: it passes on"
    );
    assert!(store
        .lease_fire("t", "p1", 21_000, 31_000, 21_000)
        .await
        .unwrap());
    store.lease_release("p1").await.unwrap();
    assert!(
        !store
            .lease_fire("t", "p2", 21_000, 31_000, 21_500)
            .await
            .unwrap(),
        "released, but that occurrence was fired"
    );
    assert!(store
        .lease_fire("t", "p2", 22_000, 32_000, 22_000)
        .await
        .unwrap());
    let leases = store.leases().await.unwrap();
    assert_eq!(leases.len(), 2);
    assert_eq!(
        (
            leases[0].name.as_str(),
            leases[0].holder.as_str(),
            leases[0].fired_ms
        ),
        ("s", "p2", 21_000)
    );

    // processes
    let mut p = ProcessInfo {
        id: "host-a:1".into(),
        host: "host-a".into(),
        pid: 1,
        shards: "0..2 of 4".into(),
        started_ms: 1_000,
        heartbeat_ms: 1_000,
        state: "running".into(),
    };
    store.heartbeat(&p).await.unwrap();
    p.heartbeat_ms = 2_000;
    store.heartbeat(&p).await.unwrap();
    p.state = "stopped".into();
    p.heartbeat_ms = 3_000;
    store.heartbeat(&p).await.unwrap();
    assert_eq!(store.processes().await.unwrap(), [p]);

    // pending confirmations
    store
        .confirmation_put("t1", "u1", "{\"line\":\"deploy\"}", 10_000, 1_000)
        .await
        .unwrap();
    store
        .confirmation_put("t2", "u1", "two", 10_000, 1_000)
        .await
        .unwrap();
    assert_eq!(
        store
            .confirmation_owner("t1", 2_000)
            .await
            .unwrap()
            .as_deref(),
        Some("u1")
    );
    assert_eq!(store.confirmation_owner("t1", 10_000).await.unwrap(), None);
    assert_eq!(
        store.confirmation_take("t1", "u2", 2_000).await.unwrap(),
        Taken::NotYours
    );
    assert_eq!(
        store.confirmation_take("t1", "u1", 2_000).await.unwrap(),
        Taken::Body("{\"line\":\"deploy\"}".into())
    );
    assert_eq!(
        store.confirmation_take("t1", "u1", 2_000).await.unwrap(),
        Taken::Gone,
        "answered once"
    );
    store.confirmation_expire("t2").await.unwrap();
    assert_eq!(
        store.confirmation_take("t2", "u1", 2_000).await.unwrap(),
        Taken::Gone
    );
    assert_eq!(
        store.confirmation_take("nope", "u1", 2_000).await.unwrap(),
        Taken::Gone
    );

    cooldowns(store).await;
    rates(store).await;
}

/// Cooldowns per user and per channel: the wait is said, a peek counts nothing, a refused
/// take records nothing, and a span passes.
async fn cooldowns(store: &Store) {
    let t = 1_000_000i64;
    let take = |keys: Vec<CooldownKey>, now: i64| async move {
        store.cooldown_take(&keys, now, true).await.unwrap()
    };
    let peek = |keys: Vec<CooldownKey>, now: i64| async move {
        store.cooldown_take(&keys, now, false).await.unwrap()
    };
    assert_eq!(store.cooldown_take(&[], t, true).await.unwrap(), None);
    for _ in 0..3 {
        assert_eq!(peek(vec![user("u1", 30_000)], t).await, None);
    }
    assert_eq!(
        take(vec![user("u1", 30_000)], t).await,
        None,
        "peeks counted nothing"
    );
    assert_eq!(
        peek(vec![user("u1", 30_000)], t + 1_000).await,
        cooling(0, 29_000)
    );
    assert_eq!(
        take(vec![user("u1", 30_000)], t + 1_000).await,
        cooling(0, 29_000)
    );
    assert_eq!(
        take(vec![user("u2", 30_000)], t + 1_000).await,
        None,
        "per user"
    );
    // user and channel together: the user refuses first, and the channel is not taken
    assert_eq!(
        take(vec![user("u1", 30_000), channel("ops", 60_000)], t + 2_000).await,
        cooling(0, 28_000)
    );
    assert_eq!(
        take(vec![user("u3", 30_000), channel("ops", 60_000)], t + 2_000).await,
        None,
        "the refused take recorded nothing for the channel"
    );
    assert_eq!(
        take(vec![user("u4", 30_000), channel("ops", 60_000)], t + 3_000).await,
        cooling(1, 59_000),
        "per channel"
    );
    assert_eq!(
        take(vec![user("u4", 30_000)], t + 3_000).await,
        None,
        "the refusal by the channel took nothing for the user"
    );
    assert_eq!(
        take(vec![user("u5", 30_000), channel("dev", 60_000)], t + 3_000).await,
        None,
        "another channel"
    );
    // the span passes (exactly)
    assert_eq!(
        peek(vec![user("u1", 30_000)], t + 29_999).await,
        cooling(0, 1)
    );
    assert_eq!(take(vec![user("u1", 30_000)], t + 30_000).await, None);
    assert_eq!(
        take(vec![user("u1", 30_000)], t + 30_001).await,
        cooling(0, 29_999),
        "counted again"
    );
    // the span is the configured one now: a shorter cooldown frees the user earlier
    assert_eq!(take(vec![user("u1", 5_000)], t + 35_001).await, None);
    // rows older than the longest cooldown go, now and then
    let (before, _) = store.limiter_rows().await.unwrap();
    assert!(before >= 6, "{before}");
    let later = t + MAX_COOLDOWN_MS + 100_000;
    for i in 0..super::PRUNE_EVERY {
        take(vec![user(&format!("late{i}"), 1_000)], later).await;
    }
    let (after, _) = store.limiter_rows().await.unwrap();
    assert_eq!(
        after,
        super::PRUNE_EVERY as i64,
        "only the recent rows are left"
    );
}

/// Webhook rate budgets: at most `limit` per window, per key, and a new window after one.
async fn rates(store: &Store) {
    let t = 5_000_000i64;
    for i in 1..=3 {
        assert!(
            store
                .rate_take("webhook a h", 60_000, 3, t + i)
                .await
                .unwrap(),
            "request {i}"
        );
    }
    assert!(!store
        .rate_take("webhook a h", 60_000, 3, t + 10)
        .await
        .unwrap());
    assert!(
        store
            .rate_take("webhook a g", 60_000, 3, t + 10)
            .await
            .unwrap(),
        "per hook"
    );
    assert!(
        !store
            .rate_take("webhook a h", 60_000, 3, t + 59_999)
            .await
            .unwrap(),
        "the window lasts from the first request"
    );
    assert!(
        store
            .rate_take("webhook a h", 60_000, 3, t + 60_001)
            .await
            .unwrap(),
        "a new window"
    );
    assert!(store
        .rate_take("webhook a h", 60_000, 3, t + 60_002)
        .await
        .unwrap());
    // ended windows go, now and then
    let later = t + 10 * 60_000;
    for _ in 0..super::PRUNE_EVERY {
        store
            .rate_take("webhook b h", 60_000, 1_000, later)
            .await
            .unwrap();
    }
    let (_, rows) = store.limiter_rows().await.unwrap();
    assert_eq!(rows, 1, "only the live window is left");
}

/// Two handles on one database (two processes): what one writes the other reads, and of
/// many fires of one occurrence at once from both, exactly one wins.
pub async fn run_two(a: &Store, b: &Store) {
    a.kv_set_async("shared", "x", b"1").await.unwrap();
    assert_eq!(
        b.kv_get_async("shared", "x").await.unwrap(),
        Some(b"1".to_vec())
    );
    a.kv_set("shared", "y", b"2").unwrap();
    assert_eq!(
        b.kv_get("shared", "y").unwrap(),
        Some(b"2".to_vec()),
        "the blocking calls too"
    );
    a.confirmation_put("c", "u", "body", i64::MAX, 0)
        .await
        .unwrap();
    assert_eq!(
        b.confirmation_take("c", "u", 1).await.unwrap(),
        Taken::Body("body".into())
    );
    for occurrence in 1..=5i64 {
        let fires = (0..8).map(|i| {
            let (store, holder) = if i % 2 == 0 { (a, "pa") } else { (b, "pb") };
            store.lease_fire("race", holder, occurrence * 1_000_000, i64::MAX, 0)
        });
        let won = futures_join_all(fires).await;
        assert_eq!(
            won.into_iter().filter(|w| *w.as_ref().unwrap()).count(),
            1,
            "occurrence {occurrence} fired once"
        );
    }
    limiters_race(a, b).await;
}

/// Two processes racing one cooldown and one rate budget: exactly the right number pass.
async fn limiters_race(a: &Store, b: &Store) {
    let now = 9_000_000i64;
    // one user, from both processes at once
    let takes = (0..8).map(|i| {
        let store = if i % 2 == 0 { a } else { b };
        async move {
            store
                .cooldown_take(&[user("racer", 60_000)], now, true)
                .await
        }
    });
    let passed = futures_join_all(takes)
        .await
        .into_iter()
        .filter(|r| r.as_ref().unwrap().is_none())
        .count();
    assert_eq!(passed, 1, "one run per user cooldown");
    // many users, one channel
    let takes = (0..8).map(|i| {
        let store = if i % 2 == 0 { a } else { b };
        async move {
            let keys = [user(&format!("crowd{i}"), 60_000), channel("race", 60_000)];
            store.cooldown_take(&keys, now, true).await
        }
    });
    let results = futures_join_all(takes).await;
    let passed = results
        .iter()
        .filter(|r| r.as_ref().unwrap().is_none())
        .count();
    assert_eq!(passed, 1, "one run per channel cooldown: {results:?}");
    assert!(
        results
            .iter()
            .all(|r| matches!(r, Ok(None) | Ok(Some(Cooling { index: 1, .. })))),
        "{results:?}"
    );
    // what one process took, the other sees
    assert_eq!(
        b.cooldown_take(&[user("racer", 60_000)], now + 1_000, false)
            .await
            .unwrap(),
        cooling(0, 59_000)
    );
    // one hook's budget of 7, 20 requests from both processes at once
    let takes = (0..20).map(|i| {
        let store = if i % 2 == 0 { a } else { b };
        store.rate_take("webhook race h", 60_000, 7, now)
    });
    let passed = futures_join_all(takes)
        .await
        .into_iter()
        .filter(|r| *r.as_ref().unwrap())
        .count();
    assert_eq!(passed, 7, "one budget across processes");
}

/// Poll all of `futs` together (no `futures` crate needed for this one use).
async fn futures_join_all<F: std::future::Future>(futs: impl Iterator<Item = F>) -> Vec<F::Output> {
    let mut futs: Vec<_> = futs.map(|f| Some(Box::pin(f))).collect();
    let mut out: Vec<Option<F::Output>> = futs.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, slot) in futs.iter_mut().enumerate() {
            if let Some(f) = slot {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => {
                        out[i] = Some(v);
                        *slot = None;
                    }
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.into_iter().map(|o| o.unwrap()).collect()
}
