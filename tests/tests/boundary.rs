//! The one exit: a plugin granted a secret puts it into every way out of the host — reply,
//! progress, post, panic, trap, limit errors, failed/denied/usage errors, refusal notices,
//! log lines, event posts and errors — and nothing that left (the chat, the admin's
//! notices, the captured log, the SQLite files on disk) carries the secret's bytes.

use chatops::dispatch::Kind;
use chatops::exit::MAX_TEXT_BYTES;
use chatops::runtime::sha256_hex;
use chatops::triggers;
use chatops_tests::*;
use std::path::PathBuf;
use std::sync::Arc;

const SECRET: &str = "tok-3f9a1c77e2";
/// A token the plugin holds without a grant; it must not reach the log or the audit trail.
const UPSTREAM_TOKEN: &str = "upstream-token-9f8e7d";

fn setup() -> (tempfile::TempDir, PathBuf) {
    std::env::set_var("CHATOPS_TEST_BOUNDARY_DEPLOY_TOKEN", SECRET);
    let dir = tempfile::tempdir().unwrap();
    let wasm = write_plugins(dir.path(), &["leaky"]).remove(0);
    let cfg = dir.path().join("chatops.toml");
    std::fs::write(
        &cfg,
        format!(
            "[secrets]\nenv_prefix = \"CHATOPS_TEST_BOUNDARY_\"\n\n[limits]\ncpu_ms = 300\nwall_ms = 3000\nmemory_mb = 32\n\n[plugins.leaky]\npath = \"leaky.wasm\"\nsha256 = \"{}\"\n\n[plugins.leaky.grants]\nsecrets = [\"deploy-token\"]\npost = [\"ops\"]\n",
            sha256_hex(&std::fs::read(&wasm).unwrap())
        ),
    )
    .unwrap();
    (dir, cfg)
}

/// Everything written to the store's files (the database and its write-ahead log).
fn store_bytes(dir: &std::path::Path) -> Vec<u8> {
    let mut all = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        if e.file_name().to_string_lossy().starts_with("chatops.db") {
            all.extend(std::fs::read(e.path()).unwrap());
        }
    }
    all
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[tokio::test]
async fn no_secret_leaves_by_any_exit() {
    let logs = capture_logs("info,chatops=trace,plugin=trace");
    let (dir, cfg) = setup();
    let chat = Chat::from_config(&cfg).await;
    let posts = Arc::new(Posts::default());
    chat.bot.dispatcher.set_poster(posts.clone());
    // Everything shown to a person: chat text and the admin's notices.
    let mut shown = String::new();
    let mut say = async |line: &str| {
        let r = chat.say(line).await;
        shown.push_str(&format!(
            "{line}: {:?} {}\n{}\n",
            r.kind,
            r.text,
            r.notices.join("\n")
        ));
        r
    };

    let r = say("reply").await;
    assert_eq!(
        r.text,
        "the token is [redacted]\n(a secret value was redacted from this reply)"
    );
    assert!(
        r.notices
            .iter()
            .any(|n| n.contains("redacted a secret value")),
        "{:?}",
        r.notices
    );
    say("progress").await;
    assert!(chat
        .progress
        .0
        .lock()
        .unwrap()
        .contains(&"using [redacted]".to_string()));
    assert_eq!(say("announce").await.text, "posted");
    assert_eq!(
        posts.0.lock().unwrap()[0],
        ("ops".to_string(), "token: [redacted]".to_string())
    );

    let r = say("panic").await;
    assert!(
        r.text
            .contains("panicked: could not deploy with [redacted]"),
        "{}",
        r.text
    );
    let r = say("trap").await;
    assert!(
        r.text.contains("looks like a panic: [redacted]"),
        "{}",
        r.text
    );
    let r = say("spin").await;
    assert!(r.text.contains("CPU limit"), "{}", r.text);
    let r = say("hog").await;
    assert!(r.text.contains("ran out of memory"), "{}", r.text);
    let r = say("nap").await;
    assert!(r.text.contains("wall-time limit"), "{}", r.text);

    let r = say("fail").await;
    assert_eq!(
        (r.kind, r.text.as_str()),
        (Kind::Failed, "`fail` failed: deploy failed: [redacted]")
    );
    let r = say("deny").await;
    assert_eq!(
        (r.kind, r.text.as_str()),
        (Kind::Denied, "`deny` refused: not with [redacted]")
    );
    let r = say("misuse").await;
    assert_eq!(r.kind, Kind::Usage);
    assert!(
        r.text.starts_with("bad token [redacted]\nUsage: `!misuse`"),
        "{}",
        r.text
    );
    let r = say("huge-fail").await;
    assert!(r.text.len() < MAX_TEXT_BYTES + 100, "{}", r.text.len());
    assert!(
        r.text.contains("[redacted] xxx") && r.text.contains("(cut at "),
        "{}",
        &r.text[..100]
    );

    let r = say("fetch").await;
    let notes = r.notices.join("\n");
    assert!(
        notes.contains("https://example.com/deploy?token=…&team=…"),
        "{notes}"
    );
    assert!(notes.contains("https://***@example.com/v1"), "{notes}");
    assert!(notes.contains("https://example.com/hook?key=…"), "{notes}");
    let r = say("ask").await;
    assert!(
        r.notices
            .iter()
            .any(|n| n.contains("asked for secret `x-[redacted]`")),
        "{:?}",
        r.notices
    );
    let r = say("shout").await;
    assert_eq!(r.text, "refused");
    assert!(
        r.notices
            .iter()
            .any(|n| n.contains("channel `chan-[redacted]`")),
        "{:?}",
        r.notices
    );
    assert_eq!(say("log").await.text, "logged");

    // Events: returned posts, a refused channel, a failure and a panic.
    let d = &chat.bot.dispatcher;
    let out = d
        .deliver("leaky", triggers::schedule("nightly"), "schedule nightly")
        .await;
    assert_eq!((out.posted, out.error.clone()), (1, None));
    assert!(
        out.notices
            .iter()
            .any(|n| n.contains("tried to post to channel `not-granted`")),
        "{:?}",
        out.notices
    );
    let hook = triggers::webhook(
        "post",
        "alerts",
        vec![("content-type".into(), "application/json".into())],
        b"{}".to_vec(),
    );
    assert_eq!(d.deliver("leaky", hook, "webhook alerts").await.posted, 1);
    let failed = d
        .deliver("leaky", triggers::schedule("fail"), "schedule fail")
        .await;
    let error = failed.error.as_ref().expect("the event failed").to_string();
    assert!(error.contains("event failed with [redacted]"), "{error}");
    let panicked = d
        .deliver("leaky", triggers::schedule("panic"), "schedule panic")
        .await;
    let error = panicked
        .error
        .as_ref()
        .expect("the event panicked")
        .to_string();
    assert!(error.contains("event panic with [redacted]"), "{error}");
    shown.push_str(&format!("{out:?}\n{failed:?}\n{panicked:?}\n"));
    let event_posts: Vec<String> = posts
        .0
        .lock()
        .unwrap()
        .iter()
        .map(|(c, t)| format!("{c} {t}"))
        .collect();
    assert_eq!(
        event_posts[1..],
        [
            "ops nightly: [redacted]".to_string(),
            "ops POST /alerts (2 bytes) [redacted]".to_string()
        ]
    );
    shown.push_str(&event_posts.join("\n"));
    shown.push_str(&chat.progress.0.lock().unwrap().join("\n"));

    // The audit trail records each, redacted and cut.
    let audit = d.store().unwrap().audit_recent(100).unwrap();
    assert!(
        audit
            .iter()
            .any(|e| e.actor.starts_with("[schedule nightly]") && e.outcome == "ok"),
        "{audit:?}"
    );
    let huge = audit
        .iter()
        .find(|e| e.command == "huge-fail")
        .expect("audited");
    assert!(
        huge.detail.len() < MAX_TEXT_BYTES + 100,
        "{}",
        huge.detail.len()
    );
    drop(chat);

    let logs = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
    assert!(
        !shown.contains(SECRET),
        "a secret reached the chat or the admin:\n{shown}"
    );
    assert!(
        !shown.contains(UPSTREAM_TOKEN),
        "a URL token reached the admin:\n{shown}"
    );
    assert!(!logs.contains(SECRET), "a secret reached the log");
    assert!(
        !logs.contains(UPSTREAM_TOKEN),
        "a URL token reached the log"
    );
    for (what, proof) in [
        ("a plugin's log line", "logging [redacted]"),
        ("its stdout", "stdout with [redacted]"),
        (
            "its stderr when a limit stops it",
            "spinning with [redacted]",
        ),
        ("its stderr when memory runs out", "growing with [redacted]"),
        (
            "a refusal notice",
            "refused: plugin `leaky` requested https://example.com/deploy?token=…",
        ),
    ] {
        assert!(logs.contains(proof), "{what} was not logged as {proof:?}");
    }
    let stored = store_bytes(dir.path());
    assert!(
        contains(&stored, "[redacted]"),
        "the audit trail was not written"
    );
    assert!(
        !contains(&stored, SECRET),
        "a secret reached the store on disk"
    );
    assert!(
        !contains(&stored, UPSTREAM_TOKEN),
        "a URL token reached the store on disk"
    );
}
