//! The bundled `incident` plugin end to end, driven through the dispatcher by two chat
//! users: its kv state (across a restart of the bot), its announcements in the incident
//! channel, and what it forwards to a fake PagerDuty Events API v2 that checks every
//! request against PagerDuty's documentation — then the missing grants and the ways
//! PagerDuty fails.

use chatops::dispatch::{Caller, Kind, Response};
use chatops::runtime::sha256_hex;
use chatops_tests::pagerduty_fake::{PagerDutyFake, INJECTED_400_ERROR};
use chatops_tests::*;
use serde_json::Value;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const CHANNEL: &str = "C-INCIDENTS";
/// A PagerDuty integration key is 32 characters.
const ROUTING_KEY: &str = "R0ut1ngKeyForTheFakePagerDuty32c";

/// What the plugin is granted and told, for one test.
#[derive(Default)]
struct Setup<'a> {
    kv: bool,
    post: bool,
    routing_key: bool,
    http: Option<&'a str>,
    pagerduty_url: Option<&'a str>,
}

/// A config in `dir` with the bundled `incident` pinned, a secrets file, and `setup`.
fn config(dir: &Path, setup: &Setup) -> PathBuf {
    let wasm = write_plugins(dir, &["incident"]).remove(0);
    let secrets = dir.join("secrets.toml");
    std::fs::write(
        &secrets,
        format!("pagerduty-routing-key = \"{ROUTING_KEY}\"\n"),
    )
    .unwrap();
    std::fs::set_permissions(&secrets, std::fs::Permissions::from_mode(0o600)).unwrap();
    let mut grants = format!("kv = {}\n", setup.kv);
    if setup.post {
        grants.push_str(&format!("post = [\"{CHANNEL}\"]\n"));
    }
    if setup.routing_key {
        grants.push_str("secrets = [\"pagerduty-routing-key\"]\n");
    }
    if let Some(url) = setup.http {
        grants.push_str(&format!("http = [\"{url}\"]\n"));
    }
    let mut settings = format!("channel = \"{CHANNEL}\"\nsource = \"chatops-test\"\n");
    if let Some(url) = setup.pagerduty_url {
        settings.push_str(&format!("pagerduty_url = \"{url}\"\n"));
    }
    let cfg = dir.join("chatops.toml");
    std::fs::write(
        &cfg,
        format!(
            "[host]\nstore = \"chatops.db\"\n[secrets]\nfile = \"secrets.toml\"\n\
             [plugins.incident]\npath = \"incident.wasm\"\nsha256 = \"{}\"\n\
             [plugins.incident.grants]\n{grants}\
             [plugins.incident.config]\n{settings}\
             [plugins.incident.limits]\nhttp_ms = 2500\n",
            sha256_hex(&std::fs::read(&wasm).unwrap())
        ),
    )
    .unwrap();
    cfg
}

/// The bot from `cfg`, with what it posts recorded.
async fn host(cfg: &Path) -> (Chat, Arc<Posts>) {
    let chat = Chat::from_config(cfg).await;
    let posts = Arc::new(Posts::default());
    chat.bot.dispatcher.set_poster(posts.clone());
    (chat, posts)
}

fn logs() -> Arc<Mutex<Vec<u8>>> {
    capture_logs("warn,chatops=info,plugin=info")
}

fn log_text(logs: &Arc<Mutex<Vec<u8>>>) -> String {
    String::from_utf8_lossy(&logs.lock().unwrap()).into_owned()
}

async fn say(chat: &Chat, who: &Caller, line: &str) -> Response {
    chat.say_as(who, line).await
}

/// Say `line` as `who`, expecting a normal reply.
async fn ok(chat: &Chat, who: &Caller, line: &str) -> String {
    let r = say(chat, who, line).await;
    assert_eq!(
        r.kind,
        Kind::Reply,
        "`{line}` answered {:?}: {}",
        r.kind,
        r.text
    );
    r.text
}

/// Say `line`, expecting a refusal of `kind` whose text contains `needle`.
async fn refused(chat: &Chat, line: &str, kind: Kind, needle: &str) -> Response {
    let r = chat.say(line).await;
    assert_eq!(r.kind, kind, "`{line}` answered {:?}: {}", r.kind, r.text);
    assert!(r.text.contains(needle), "`{line}`: {}", r.text);
    r
}

fn posted(posts: &Posts) -> Vec<(String, String)> {
    posts.0.lock().unwrap().clone()
}

/// The events PagerDuty accepted for one incident, as (event_action, dedup_key).
fn actions_for(events: &[Value], id: &str) -> Vec<String> {
    events
        .iter()
        .filter(|e| e["dedup_key"] == id)
        .map(|e| e["event_action"].as_str().unwrap_or("?").to_string())
        .collect()
}

/// Where each needle first appears in `text`, asserting they appear in this order.
fn assert_in_order(text: &str, needles: &[&str]) {
    let mut at = 0;
    for n in needles {
        match text[at..].find(n) {
            Some(i) => at += i + n.len(),
            None => panic!("`{n}` missing or out of order in:\n{text}"),
        }
    }
}

#[tokio::test]
async fn an_incident_from_open_to_resolved_with_pagerduty_and_a_restart() {
    let started = Instant::now();
    let pd = PagerDutyFake::start().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        dir.path(),
        &Setup {
            kv: true,
            post: true,
            routing_key: true,
            http: Some(&pd.url),
            pagerduty_url: Some(&pd.url),
        },
    );
    let (chat, posts) = host(&cfg).await;
    let alice = caller("alice", &[]);
    let bob = caller("bob", &[]);

    let opened = ok(&chat, &alice, "incident open \"db latency\" sev1").await;
    assert!(
        opened.contains("Opened **INC-1** · sev1 (critical): db latency.")
            && opened.contains("PagerDuty was updated."),
        "{opened}"
    );
    let acked = ok(&chat, &bob, "incident ack INC-1").await;
    assert!(acked.contains("You acknowledged **INC-1**"), "{acked}");
    assert!(
        ok(&chat, &bob, "incident ack 1")
            .await
            .contains("You already acknowledged **INC-1**"),
        "a second ack by the same user changes nothing"
    );
    let noted = ok(&chat, &alice, "incident note 1 replica lag back under 1s").await;
    assert!(noted.contains("Noted on **INC-1**."), "{noted}");
    // No quotes needed: the severity is the last word, the title what comes before.
    let second = ok(&chat, &bob, "incident open api 5xx on checkout warning").await;
    assert!(
        second.contains("**INC-2** · sev3 (warning): api 5xx on checkout"),
        "{second}"
    );
    let list = ok(&chat, &alice, "incident list").await;
    assert!(list.contains("2 open incidents"), "{list}");
    assert_in_order(
        &list,
        &[
            "**INC-1**",
            "acknowledged by bob",
            "**INC-2**",
            "not acknowledged",
        ],
    );

    let resolved = ok(&chat, &bob, "incident resolve inc-1").await;
    assert!(
        resolved.contains("You resolved **INC-1** after")
            && resolved.contains("PagerDuty was updated."),
        "{resolved}"
    );
    let list = ok(&chat, &alice, "incident list").await;
    assert!(
        list.contains("**INC-2**") && !list.contains("INC-1"),
        "only open incidents are listed: {list}"
    );

    let show = ok(&chat, &alice, "incident show INC-1").await;
    assert!(
        show.starts_with("**INC-1** · sev1 (critical) · resolved\n> db latency"),
        "{show}"
    );
    assert_in_order(
        &show,
        &[
            "**alice** opened it",
            "**bob** acknowledged",
            "**alice** noted: replica lag back under 1s",
            "**bob** resolved it (after",
            "PagerDuty: up to date.",
        ],
    );
    assert_eq!(
        show.matches(" UTC` ").count(),
        4,
        "a UTC timestamp per entry: {show}"
    );

    // Every change was announced in the incident channel, in order, naming who.
    let posts_now = posted(&posts);
    assert!(posts_now.iter().all(|(c, _)| c == CHANNEL), "{posts_now:?}");
    let texts: Vec<&str> = posts_now.iter().map(|(_, t)| t.as_str()).collect();
    assert_eq!(texts.len(), 5, "{texts:#?}");
    assert!(
        texts[0].contains("**INC-1** opened by alice · sev1 (critical): db latency"),
        "{}",
        texts[0]
    );
    assert!(
        texts[1].contains("**INC-1** acknowledged by bob"),
        "{}",
        texts[1]
    );
    assert!(
        texts[2].contains("**INC-1** note from alice: replica lag back under 1s"),
        "{}",
        texts[2]
    );
    assert!(
        texts[3].contains("**INC-2** opened by bob · sev3 (warning)"),
        "{}",
        texts[3]
    );
    assert!(
        texts[4].contains("**INC-1** resolved by bob after"),
        "{}",
        texts[4]
    );

    // PagerDuty got trigger, acknowledge, resolve for INC-1 with one dedup_key, and
    // nothing that breaks its documented contract.
    let events = pd.events();
    assert_eq!(
        actions_for(&events, "INC-1"),
        ["trigger", "acknowledge", "resolve"]
    );
    assert_eq!(actions_for(&events, "INC-2"), ["trigger"]);
    assert!(events.iter().all(|e| e["routing_key"] == ROUTING_KEY));
    let trigger = &events[0];
    assert_eq!(trigger["payload"]["severity"], "critical");
    assert_eq!(trigger["payload"]["source"], "chatops-test");
    assert_eq!(trigger["payload"]["summary"], "INC-1: db latency");
    assert_eq!(trigger["payload"]["custom_details"]["opened_by"], "alice");
    assert!(trigger["payload"]["timestamp"]
        .as_str()
        .unwrap()
        .ends_with('Z'));
    let warning = events.iter().find(|e| e["dedup_key"] == "INC-2").unwrap();
    assert_eq!(warning["payload"]["severity"], "warning");
    assert_eq!(pd.violations(), Vec::<String>::new());

    // Misuse is refused, clearly.
    refused(
        &chat,
        "incident resolve INC-1",
        Kind::Failed,
        "INC-1 was already resolved by bob at",
    )
    .await;
    refused(
        &chat,
        "incident ack INC-1",
        Kind::Failed,
        "INC-1 is already resolved (by bob",
    )
    .await;
    refused(
        &chat,
        "incident ack INC-99",
        Kind::Failed,
        "there is no incident INC-99",
    )
    .await;
    refused(
        &chat,
        "incident resolve 42",
        Kind::Failed,
        "there is no incident INC-42",
    )
    .await;
    refused(
        &chat,
        "incident ack db",
        Kind::Usage,
        "`db` is not an incident id",
    )
    .await;
    refused(&chat, "incident ack", Kind::Usage, "which incident?").await;
    refused(
        &chat,
        "incident open \"\" sev1",
        Kind::Usage,
        "needs a title",
    )
    .await;
    refused(&chat, "incident open sev1", Kind::Usage, "Give a severity").await;
    refused(&chat, "incident open \"db latency\"", Kind::Usage, "Give a severity after the title, sev1 (critical), sev2 (error), sev3 (warning) or sev4 (info)").await;
    refused(
        &chat,
        "incident open db latency urgent",
        Kind::Usage,
        "`urgent` is not a severity",
    )
    .await;
    let long = "x".repeat(201);
    refused(
        &chat,
        &format!("incident open {long} sev2"),
        Kind::Usage,
        "that title is 201 characters; keep it to 200",
    )
    .await;
    refused(
        &chat,
        "incident note INC-2",
        Kind::Usage,
        "what is the note?",
    )
    .await;
    refused(&chat, "incident frobnicate", Kind::Usage, "must be one of").await;
    // Notes on a resolved incident are allowed, for the follow-up, and say so.
    let late = ok(&chat, &alice, "incident note INC-1 post-mortem on Monday").await;
    assert!(
        late.contains("it is resolved; the note is kept on its timeline"),
        "{late}"
    );
    assert_eq!(
        pd.events().len(),
        4,
        "notes and refusals send nothing to PagerDuty"
    );

    // The bot restarts: the incidents, their timelines and the counter are in its database.
    drop(chat);
    let (chat, posts) = host(&cfg).await;
    let list = ok(&chat, &alice, "incident list").await;
    assert!(
        list.contains("**INC-2**") && !list.contains("INC-1"),
        "{list}"
    );
    let show = ok(&chat, &bob, "incident show 1").await;
    assert_in_order(
        &show,
        &[
            "**alice** opened it",
            "**bob** acknowledged",
            "**bob** resolved it",
            "**alice** noted: post-mortem on Monday",
        ],
    );
    let third = ok(&chat, &bob, "incident open cache cold sev4").await;
    assert!(
        third.contains("**INC-3** · sev4 (info): cache cold"),
        "{third}"
    );
    assert!(ok(&chat, &alice, "incident resolve INC-2")
        .await
        .contains("You resolved **INC-2**"));
    assert_eq!(posted(&posts).len(), 2);
    let events = pd.events();
    assert_eq!(actions_for(&events, "INC-2"), ["trigger", "resolve"]);
    assert_eq!(actions_for(&events, "INC-3"), ["trigger"]);
    assert_eq!(pd.violations(), Vec::<String>::new());
    eprintln!("lifecycle test took {:?}", started.elapsed());
}

#[tokio::test]
async fn pagerduty_failing_leaves_the_incident_recorded_and_says_so_in_one_sentence() {
    let logs = logs();
    let pd = PagerDutyFake::start().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        dir.path(),
        &Setup {
            kv: true,
            post: true,
            routing_key: true,
            http: Some(&pd.url),
            pagerduty_url: Some(&pd.url),
        },
    );
    let (chat, posts) = host(&cfg).await;
    let no_body = |text: &str| {
        for marker in [
            "PD-FAKE",
            "Event object is invalid",
            "Internal Server Error",
            ROUTING_KEY,
        ] {
            assert!(
                !text.contains(marker),
                "`{marker}` reached the chat: {text}"
            );
        }
    };

    // 400 invalid event: recorded and announced; PagerDuty's reasons go to the log only.
    pd.fail_next(400, 1);
    let r = chat.ok("incident open disk full on db-2 sev2").await;
    assert!(r.contains("Opened **INC-1**"), "{r}");
    assert!(r.contains("PagerDuty was not updated: it refused the event as invalid (the admin log says why); once that is fixed, run `incident sync INC-1`."), "{r}");
    no_body(&r);
    assert!(
        log_text(&logs).contains(INJECTED_400_ERROR),
        "the log has PagerDuty's reason"
    );
    assert!(chat
        .ok("incident show INC-1")
        .await
        .contains("PagerDuty: not up to date; `incident sync INC-1`"));
    let synced = chat.ok("incident sync INC-1").await;
    assert!(
        synced.contains("PagerDuty now knows **INC-1** is open (sent: trigger)"),
        "{synced}"
    );
    assert_eq!(actions_for(&pd.events(), "INC-1"), ["trigger"]);

    // 429 without Retry-After: no waiting inside a chat command; say when to retry.
    pd.fail_next(429, 1);
    let r = chat.ok("incident ack INC-1").await;
    assert!(r.contains("You acknowledged **INC-1**"), "{r}");
    assert!(r.contains("PagerDuty was not updated: it is rate limiting us; run `incident sync INC-1` in a minute or two."), "{r}");
    // 429 with a short Retry-After: wait once, as PagerDuty asks, then say so.
    pd.rate_limit_next(1);
    let t = Instant::now();
    let synced = chat.ok("incident sync INC-1").await;
    assert!(synced.contains("(sent: acknowledge)"), "{synced}");
    assert!(t.elapsed() >= Duration::from_secs(1));
    pd.rate_limit_next(1);
    let r = chat.ok("incident open queue backlog sev3").await;
    assert!(
        r.contains("PagerDuty was updated (after waiting 1s as it asked)."),
        "{r}"
    );

    // 5xx: PagerDuty's error body stays out of the chat.
    pd.fail_next(503, 1);
    let r = chat.ok("incident resolve INC-1").await;
    assert!(r.contains("You resolved **INC-1**"), "{r}");
    assert!(r.contains("PagerDuty was not updated: it had a server error (503); run `incident sync INC-1` in a minute."), "{r}");
    no_body(&r);
    assert!(log_text(&logs).contains("PD-FAKE-5XX-BODY"));

    // Malformed JSON in a 202: maybe it arrived, maybe not; sync makes sure.
    pd.garble_next();
    let r = chat.ok("incident open cert expiring sev4").await;
    assert!(r.contains("Opened **INC-3**"), "{r}");
    assert!(r.contains("PagerDuty may not have been updated: its answer could not be read; run `incident sync INC-3` to make sure."), "{r}");
    no_body(&r);
    assert!(log_text(&logs).contains("PD-FAKE-GARBLED"));

    // No answer within the plugin's HTTP time (http_ms = 2500 here).
    pd.delay_next(Duration::from_secs(6));
    let t = Instant::now();
    let r = chat.ok("incident ack INC-2").await;
    assert!(r.contains("You acknowledged **INC-2**"), "{r}");
    assert!(r.contains("PagerDuty was not updated: it did not answer in time; run `incident sync INC-2` in a minute."), "{r}");
    assert!(
        t.elapsed() < Duration::from_secs(6),
        "the command did not wait for the late answer"
    );

    // Every change is recorded and announced whatever PagerDuty did; catching up sends
    // exactly what was missing, in order.
    let list = chat.ok("incident list").await;
    assert_in_order(&list, &["**INC-2**", "acknowledged by alice", "**INC-3**"]);
    assert!(!list.contains("INC-1"), "{list}");
    assert_eq!(posted(&posts).len(), 6, "{:#?}", posted(&posts));
    assert!(chat
        .ok("incident sync INC-1")
        .await
        .contains("(sent: resolve)"));
    assert!(chat.ok("incident sync 3").await.contains("(sent: trigger)"));
    let events = pd.events();
    assert_eq!(
        actions_for(&events, "INC-1"),
        ["trigger", "acknowledge", "resolve"]
    );
    assert_eq!(actions_for(&events, "INC-3"), ["trigger"]);
    let r = chat.ok("incident sync INC-1").await;
    assert!(
        r.contains("PagerDuty already knows **INC-1** is resolved."),
        "{r}"
    );
    assert_eq!(pd.violations(), Vec::<String>::new());
}

#[tokio::test]
async fn without_kv_the_user_is_told_what_to_ask_for() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        dir.path(),
        &Setup {
            post: true,
            ..Setup::default()
        },
    );
    let (chat, posts) = host(&cfg).await;
    for line in [
        "incident open db down sev1",
        "incident list",
        "incident ack INC-1",
    ] {
        let r = refused(
            &chat,
            line,
            Kind::Failed,
            "ask an admin to run `chatops grant incident kv`",
        )
        .await;
        assert!(
            r.notices
                .iter()
                .any(|n| n.contains("chatops grant incident kv")),
            "the admin is told too: {:?}",
            r.notices
        );
    }
    assert!(
        posted(&posts).is_empty(),
        "nothing was announced for an incident not recorded"
    );
}

#[tokio::test]
async fn without_post_the_command_works_and_the_admin_is_told() {
    let logs = logs();
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        dir.path(),
        &Setup {
            kv: true,
            ..Setup::default()
        },
    );
    let (chat, posts) = host(&cfg).await;
    let r = chat.say("incident open printer on fire sev4").await;
    assert_eq!(r.kind, Kind::Reply, "{}", r.text);
    assert!(
        r.text.contains("Opened **INC-1**")
            && r.text.contains("The incident channel was not told: posting there is not granted (the admin has been told)."),
        "{}",
        r.text
    );
    assert!(
        r.notices
            .iter()
            .any(|n| n.contains(&format!("chatops grant incident post {CHANNEL}"))),
        "{:?}",
        r.notices
    );
    assert!(posted(&posts).is_empty());
    assert!(chat.ok("incident list").await.contains("printer on fire"));
    assert!(log_text(&logs).contains("INC-1 was not announced in channel C-INCIDENTS"));
}

#[tokio::test]
async fn without_a_routing_key_it_works_without_pagerduty_and_tells_the_admin_once() {
    let logs = logs();
    let pd = PagerDutyFake::start().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        dir.path(),
        &Setup {
            kv: true,
            post: true,
            http: Some(&pd.url),
            pagerduty_url: Some(&pd.url),
            ..Setup::default()
        },
    );
    let (chat, posts) = host(&cfg).await;
    let first = chat.ok("incident open login slow sev2").await;
    let second = chat.ok("incident ack INC-1").await;
    let third = chat.ok("incident resolve INC-1").await;
    for r in [&first, &second, &third] {
        assert!(
            !r.contains("PagerDuty"),
            "replies do not mention PagerDuty: {r}"
        );
    }
    assert_eq!(posted(&posts).len(), 3);
    assert!(pd.events().is_empty() && pd.answers().is_empty());
    let said = log_text(&logs)
        .matches("PagerDuty forwarding is off: secret `pagerduty-routing-key` is not granted")
        .count();
    assert_eq!(said, 1, "the plugin says it once, not on every command");
    // With no `pagerduty_url` at all, the secret is not even asked for.
    let dir2 = tempfile::tempdir().unwrap();
    let cfg2 = config(
        dir2.path(),
        &Setup {
            kv: true,
            post: true,
            routing_key: true,
            ..Setup::default()
        },
    );
    let (chat2, _) = host(&cfg2).await;
    let r = chat2.say("incident open backups late sev3").await;
    assert_eq!(r.kind, Kind::Reply);
    assert!(!r.text.contains("PagerDuty"), "{}", r.text);
    assert!(r.notices.is_empty(), "{:?}", r.notices);
}

#[tokio::test]
async fn without_the_http_grant_pagerduty_is_not_reached_and_the_user_hears_why() {
    let pd = PagerDutyFake::start().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        dir.path(),
        &Setup {
            kv: true,
            post: true,
            routing_key: true,
            pagerduty_url: Some(&pd.url),
            ..Setup::default()
        },
    );
    let (chat, _) = host(&cfg).await;
    let r = chat.say("incident open search down sev1").await;
    assert_eq!(r.kind, Kind::Reply, "{}", r.text);
    assert!(
        r.text.contains(&format!(
            "PagerDuty was not updated: this plugin may not reach {}; an admin must grant it (`chatops grant incident http {}`).",
            pd.url, pd.url
        )),
        "{}",
        r.text
    );
    assert!(pd.answers().is_empty());
    assert!(chat.ok("incident list").await.contains("search down"));
}
