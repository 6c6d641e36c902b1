//! The bundled `ticket` plugin end to end, driven as chat users would: against the real
//! Redmine (new → comment → close read back through Redmine's own API, refusals and
//! upstream failures), and against the fake GitHub, where every request and response is
//! checked against GitHub's OpenAPI description.

use chatops::dispatch::Kind;
use chatops::runtime::sha256_hex;
use chatops_tests::github_fake::FakeGitHub;
use chatops_tests::redmine::Redmine;
use chatops_tests::*;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// `chatops.toml` in `dir` with the bundled ticket plugin pinned, secrets from environment
/// variables with `env_prefix`, and `section` (its grants, settings, limits) appended.
fn config(dir: &Path, env_prefix: &str, section: &str) -> PathBuf {
    let wasm = write_plugins(dir, &["ticket"]).remove(0);
    let cfg = dir.join("chatops.toml");
    std::fs::write(
        &cfg,
        format!(
            "[secrets]\nenv_prefix = \"{env_prefix}\"\n\n[plugins.ticket]\npath = \"ticket.wasm\"\nsha256 = \"{}\"\n{section}\n",
            sha256_hex(&std::fs::read(&wasm).unwrap())
        ),
    )
    .unwrap();
    cfg
}

/// A host whose ticket plugin gets `grants` and `settings` (TOML lines).
async fn host(env_prefix: &str, grants: &str, settings: &str) -> Chat {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        dir.path(),
        env_prefix,
        &format!("[plugins.ticket.grants]\n{grants}\n[plugins.ticket.config]\n{settings}\n"),
    );
    Chat::from_config(&cfg).await.with_dir(dir)
}

/// Everything said in chat during a test, to prove no secret ever appeared in it.
#[derive(Default, Clone)]
struct Said(Arc<Mutex<Vec<String>>>);

impl Said {
    async fn say(&self, chat: &Chat, who: &str, line: &str) -> chatops::dispatch::Response {
        let r = chat.say_as(&caller(who, &[]), line).await;
        self.0.lock().unwrap().push(r.text.clone());
        self.0
            .lock()
            .unwrap()
            .extend(chat.progress.0.lock().unwrap().drain(..));
        r
    }

    async fn ok(&self, chat: &Chat, who: &str, line: &str) -> String {
        let r = self.say(chat, who, line).await;
        assert_eq!(
            r.kind,
            Kind::Reply,
            "`{line}` answered {:?}: {}",
            r.kind,
            r.text
        );
        r.text
    }

    /// A refusal or failure: one short sentence, no raw body.
    async fn fails(&self, chat: &Chat, who: &str, line: &str, kind: Kind) -> String {
        let r = self.say(chat, who, line).await;
        assert_eq!(r.kind, kind, "`{line}` answered {:?}: {}", r.kind, r.text);
        assert!(
            r.text.len() < 400 && !r.text.contains('{') && !r.text.contains("<html"),
            "`{line}` should answer one short sentence: {}",
            r.text
        );
        r.text
    }

    fn assert_never_said(&self, secret: &str) {
        for text in self.0.lock().unwrap().iter() {
            assert!(!text.contains(secret), "a secret reached the chat: {text}");
        }
    }
}

fn logs_since(logs: &Arc<Mutex<Vec<u8>>>, from: usize) -> String {
    String::from_utf8_lossy(&logs.lock().unwrap()[from..]).into_owned()
}

/// The number after `#` in "Opened #12 …".
fn ticket_number(reply: &str) -> u64 {
    reply
        .split_once("Opened #")
        .and_then(|(_, rest)| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no ticket number in: {reply}"))
}

/// One Redmine for the whole scenario: starting it is the slow part (seconds).
#[tokio::test]
async fn redmine_tickets_round_trip_and_failures_are_one_sentence() {
    let logs = capture_logs("warn,chatops=info,plugin=info");
    let t0 = Instant::now();
    let rm = Redmine::start(&["chatops"]).await;
    eprintln!(
        "redmine: seeded in {:?}, serving after {:?} more ({:?} in all)",
        rm.seed_time,
        rm.start_time,
        t0.elapsed()
    );
    let key = rm.api_key.clone();
    std::env::set_var("CHATOPS_TEST_TICKET_RM_REDMINE_API_KEY", &key);
    const BAD_KEY: &str = "0123456789abcdef0123456789abcdef-not-a-key";
    std::env::set_var("CHATOPS_TEST_TICKET_RMBAD_REDMINE_API_KEY", BAD_KEY);
    let settings = format!(
        "backend = \"redmine\"\nurl = \"{}\"\nproject = \"chatops\"\n",
        rm.url
    );
    let grants = format!("http = [\"{}\"]\nsecrets = [\"redmine-api-key\"]\n", rm.url);
    let said = Said::default();
    let chat = host("CHATOPS_TEST_TICKET_RM_", &grants, &settings).await;

    // new → comment → close, each by a different chat user, each answer with the link.
    let opened = said
        .ok(
            &chat,
            "alice",
            "ticket new \"Database is slow\" p99 over 2s since 09:00",
        )
        .await;
    let n = ticket_number(&opened);
    let link = format!("{}/issues/{n}", rm.url);
    assert!(
        opened.contains(&link) && opened.contains("Database is slow"),
        "{opened}"
    );
    let commented = said
        .ok(
            &chat,
            "bob",
            &format!("ticket comment {n} restarted the replica"),
        )
        .await;
    assert!(commented.contains(&link), "{commented}");
    let closed = said
        .ok(
            &chat,
            "carol",
            &format!("ticket close #{n} fixed by the restart"),
        )
        .await;
    assert!(
        closed.contains(&format!("Closed #{n}")) && closed.contains(&link),
        "{closed}"
    );
    let shown = said.ok(&chat, "alice", &format!("ticket show {n}")).await;
    assert!(
        shown.contains("Database is slow") && shown.contains("Closed") && shown.contains(&link),
        "{shown}"
    );
    assert!(
        shown.contains("fixed by the restart"),
        "the last note: {shown}"
    );

    // What Redmine itself says about the ticket.
    let issue = rm.issue(n).await;
    assert_eq!(issue["subject"], "Database is slow", "{issue}");
    assert_eq!(issue["status"]["is_closed"], true, "{issue}");
    let description = issue["description"].as_str().unwrap();
    assert!(
        description.starts_with("p99 over 2s since 09:00")
            && description.contains("Opened from chat by alice (id id-alice) in #ops"),
        "{description}"
    );
    let notes: Vec<&str> = issue["journals"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|j| j["notes"].as_str())
        .filter(|n| !n.is_empty())
        .collect();
    assert!(
        notes.iter().any(
            |n| n.starts_with("restarted the replica") && n.contains("bob (id id-bob) in #ops")
        ),
        "{notes:?}"
    );
    assert!(
        notes
            .iter()
            .any(|n| n
                .contains("Closed from chat by carol (id id-carol) in #ops: fixed by the restart")),
        "{notes:?}"
    );
    let status_change = issue["journals"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|j| j["details"].as_array().unwrap().iter())
        .any(|d| d["name"] == "status_id");
    assert!(
        status_change,
        "the journal records the status change: {issue}"
    );

    // 404: an unknown ticket.
    let from = logs.lock().unwrap().len();
    let missing = said
        .fails(&chat, "alice", "ticket show 99999", Kind::Failed)
        .await;
    assert!(missing.contains("no ticket #99999"), "{missing}");
    let missing = said
        .fails(&chat, "alice", "ticket comment 99999 hello", Kind::Failed)
        .await;
    assert!(missing.contains("no ticket #99999"), "{missing}");
    assert!(logs_since(&logs, from).contains("answered 404"));

    // 422: Redmine's own validation message, and nothing created.
    let before = rm.issue_count("chatops").await;
    let from = logs.lock().unwrap().len();
    let long_title = "x".repeat(300);
    let invalid = said
        .fails(
            &chat,
            "alice",
            &format!("ticket new {long_title} too long a title"),
            Kind::Failed,
        )
        .await;
    assert!(
        invalid.contains("Redmine could not open the ticket: Subject is too long"),
        "{invalid}"
    );
    assert!(
        logs_since(&logs, from).contains("answered 422"),
        "the log has the detail"
    );
    assert_eq!(rm.issue_count("chatops").await, before);

    // Usage errors never reach Redmine.
    let usage = said
        .fails(&chat, "alice", "ticket comment abc hello", Kind::Usage)
        .await;
    assert!(usage.contains("not a ticket number"), "{usage}");

    // A closing status by name, from the settings.
    let rejecting = host(
        "CHATOPS_TEST_TICKET_RM_",
        &grants,
        &format!("{settings}closed_status = \"Rejected\"\n"),
    )
    .await;
    let second = ticket_number(
        &said
            .ok(&rejecting, "alice", "ticket new \"Not a bug\"")
            .await,
    );
    let rejected = said
        .ok(&rejecting, "dave", &format!("ticket close {second}"))
        .await;
    assert!(rejected.contains("(Rejected)"), "{rejected}");
    let issue = rm.issue(second).await;
    assert_eq!(issue["status"]["name"], "Rejected", "{issue}");
    assert!(
        issue["description"]
            .as_str()
            .unwrap()
            .contains("Opened from chat by alice"),
        "{issue}"
    );
    // Redmine ignores a status its workflow does not allow (it only adds the note): the
    // plugin reads the ticket back and says so. A developer may close, not reject.
    std::env::set_var(
        "CHATOPS_TEST_TICKET_RMDEV_REDMINE_API_KEY",
        &rm.developer_key,
    );
    let as_developer = host(
        "CHATOPS_TEST_TICKET_RMDEV_",
        &grants,
        &format!("{settings}closed_status = \"Rejected\"\n"),
    )
    .await;
    let third = ticket_number(
        &said
            .ok(&as_developer, "erin", "ticket new \"Flaky test\"")
            .await,
    );
    let kept = said
        .fails(
            &as_developer,
            "erin",
            &format!("ticket close {third} not reproducible"),
            Kind::Failed,
        )
        .await;
    assert!(
        kept.contains(&format!("kept #{third} open"))
            && kept.contains(&format!("{}/issues/{third}", rm.url)),
        "{kept}"
    );
    let issue = rm.issue(third).await;
    assert_eq!(issue["status"]["is_closed"], false, "{issue}");
    let developer_default = host("CHATOPS_TEST_TICKET_RMDEV_", &grants, &settings).await;
    let closed = said
        .ok(&developer_default, "erin", &format!("ticket close {third}"))
        .await;
    assert!(closed.contains("(Closed)"), "{closed}");
    assert_eq!(rm.issue(third).await["status"]["name"], "Closed");

    let unknown_status = host(
        "CHATOPS_TEST_TICKET_RM_",
        &grants,
        &format!("{settings}closed_status = \"Done-ish\"\n"),
    )
    .await;
    let no_status = said
        .fails(
            &unknown_status,
            "dave",
            &format!("ticket close {second}"),
            Kind::Failed,
        )
        .await;
    assert!(no_status.contains("no status `Done-ish`"), "{no_status}");

    // 401: a wrong API key, named by its secret, never shown.
    let bad_grants = grants.clone();
    let bad = host("CHATOPS_TEST_TICKET_RMBAD_", &bad_grants, &settings).await;
    let from = logs.lock().unwrap().len();
    let refused = said
        .fails(
            &bad,
            "alice",
            "ticket new \"Should not exist\"",
            Kind::Failed,
        )
        .await;
    assert!(
        refused.contains("did not accept the bot's credentials")
            && refused.contains("redmine-api-key"),
        "{refused}"
    );
    assert!(logs_since(&logs, from).contains("answered 401"));

    // Missing grants: no secret granted, no HTTP granted.
    let no_secret = host(
        "CHATOPS_TEST_TICKET_RM_",
        &format!("http = [\"{}\"]\n", rm.url),
        &settings,
    )
    .await;
    let denied = said
        .fails(&no_secret, "alice", "ticket show 1", Kind::Denied)
        .await;
    assert!(
        denied.contains("chatops grant ticket secret redmine-api-key"),
        "{denied}"
    );
    let no_http = host(
        "CHATOPS_TEST_TICKET_RM_",
        "secrets = [\"redmine-api-key\"]\n",
        &settings,
    )
    .await;
    let denied = said
        .fails(&no_http, "alice", "ticket show 1", Kind::Denied)
        .await;
    assert!(
        denied.contains(&format!("chatops grant ticket http {}", rm.url)),
        "{denied}"
    );
    // A missing setting names it.
    let unset = host(
        "CHATOPS_TEST_TICKET_RM_",
        &grants,
        &format!("backend = \"redmine\"\nurl = \"{}\"\n", rm.url),
    )
    .await;
    let needs = said
        .fails(&unset, "alice", "ticket new \"No project\"", Kind::Failed)
        .await;
    assert!(needs.contains("setting `project`"), "{needs}");

    said.assert_never_said(&key);
    said.assert_never_said(&rm.developer_key);
    said.assert_never_said(BAD_KEY);
    let all_logs = logs_since(&logs, 0);
    assert!(!all_logs.contains(&key), "the API key reached the log");
    assert!(
        !all_logs.contains(BAD_KEY),
        "the bad API key reached the log"
    );

    // Redmine goes with its process group: nothing of it is left running.
    let pid = rm.pid();
    drop(rm);
    let gone = !Path::new(&format!("/proc/{pid}")).exists()
        || std::fs::read_to_string(format!("/proc/{pid}/cmdline"))
            .map(|c| !c.contains("rails"))
            .unwrap_or(true);
    assert!(gone, "redmine (pid {pid}) survived its drop");
    eprintln!("redmine scenario took {:?}", t0.elapsed());
}

const GH_TOKEN: &str = "ghp_ticketTestToken0123456789abcdef";

/// A host for the fake GitHub's repository acme/api, with `extra` config lines appended.
async fn github_host(fake: &FakeGitHub, grants: &str, extra: &str) -> Chat {
    std::env::set_var("CHATOPS_TEST_TICKET_GH_GITHUB_TOKEN", GH_TOKEN);
    host(
        "CHATOPS_TEST_TICKET_GH_",
        grants,
        &format!(
            "backend = \"github\"\nurl = \"{}\"\nrepo = \"acme/api\"\nlabels = \"chatops\"\n{extra}",
            fake.url
        ),
    )
    .await
}

fn github_grants(fake: &FakeGitHub) -> String {
    format!("http = [\"{}\"]\nsecrets = [\"github-token\"]\n", fake.url)
}

#[tokio::test]
async fn github_issues_round_trip_validates_against_the_openapi_description() {
    let fake = FakeGitHub::start(GH_TOKEN).await;
    fake.add_repo("acme", "api");
    let said = Said::default();
    let chat = github_host(&fake, &github_grants(&fake), "").await;

    let opened = said
        .ok(
            &chat,
            "alice",
            "ticket new \"Deploy failed\" the canary did not come up",
        )
        .await;
    let n = ticket_number(&opened);
    let issue = fake.issue("acme", "api", n).expect("the issue exists");
    let link = issue["html_url"].as_str().unwrap().to_string();
    assert!(
        opened.contains(&link) && opened.contains("Deploy failed"),
        "{opened}"
    );
    assert_eq!(issue["title"], "Deploy failed");
    let body = issue["body"].as_str().unwrap();
    assert!(
        body.starts_with("the canary did not come up")
            && body.contains("Opened from chat by alice (id id-alice) in #ops"),
        "{body}"
    );
    assert_eq!(issue["labels"][0]["name"], "chatops", "{issue}");

    let commented = said
        .ok(&chat, "bob", &format!("ticket comment {n} rolled back"))
        .await;
    assert!(commented.contains(&link), "{commented}");
    let closed = said
        .ok(&chat, "carol", &format!("ticket close {n} fixed in 1.4.2"))
        .await;
    assert!(
        closed.contains(&format!("Closed #{n}")) && closed.contains(&link),
        "{closed}"
    );
    let issue = fake.issue("acme", "api", n).unwrap();
    assert_eq!(issue["state"], "closed", "{issue}");
    assert_eq!(issue["state_reason"], "completed", "{issue}");
    let comments: Vec<String> = fake
        .comments("acme", "api", n)
        .iter()
        .map(|c| c["body"].as_str().unwrap().to_string())
        .collect();
    assert!(
        comments
            .iter()
            .any(|c| c.starts_with("rolled back") && c.contains("bob (id id-bob) in #ops")),
        "{comments:?}"
    );
    assert!(
        comments
            .iter()
            .any(|c| c == "Closed from chat by carol (id id-carol) in #ops: fixed in 1.4.2"),
        "{comments:?}"
    );
    let shown = said.ok(&chat, "dave", &format!("ticket show {n}")).await;
    assert!(
        shown.contains("Deploy failed")
            && shown.contains("closed as completed")
            && shown.contains("2 comments")
            && shown.contains(&link),
        "{shown}"
    );

    // Every request carries what GitHub asks for, and the token only in Authorization.
    let requests = fake.requests();
    assert_eq!(requests.len(), 5, "{}", fake.report());
    for r in &requests {
        assert_eq!(
            r.header("authorization"),
            Some(format!("Bearer {GH_TOKEN}").as_str())
        );
        assert_eq!(r.header("accept"), Some("application/vnd.github+json"));
        assert_eq!(r.header("x-github-api-version"), Some("2022-11-28"));
        assert!(r.header("user-agent").is_some_and(|u| !u.is_empty()));
        assert!(!r.query.contains(GH_TOKEN));
    }
    said.assert_never_said(GH_TOKEN);
    let violations = fake.violations();
    assert!(violations.is_empty(), "{}", fake.report());
}

#[tokio::test]
async fn github_failures_are_one_short_sentence_and_the_log_has_the_detail() {
    let logs = capture_logs("warn,chatops=info,plugin=info");
    let fake = FakeGitHub::start(GH_TOKEN).await;
    fake.add_repo("acme", "api");
    let existing = fake.add_issue("acme", "api", "Known issue", "already here");
    let said = Said::default();
    let chat = github_host(&fake, &github_grants(&fake), "").await;
    let show = format!("ticket show {existing}");
    let path = format!("/issues/{existing}");

    // 401: the token is refused; the reply names the secret, never its value.
    let from = logs.lock().unwrap().len();
    fake.fail_next("POST", "/repos/acme/api/issues", 401, 1);
    let r = said
        .fails(&chat, "alice", "ticket new \"Nope\"", Kind::Failed)
        .await;
    assert!(
        r.contains("GitHub did not accept the bot's credentials") && r.contains("`github-token`"),
        "{r}"
    );
    assert!(logs_since(&logs, from).contains("GitHub answered 401"));

    // 403 that is not a rate limit: a permission problem.
    fake.forbid_next("GET", &path, 1);
    let r = said.fails(&chat, "alice", &show, Kind::Failed).await;
    assert!(r.contains("does not let the bot's account"), "{r}");

    // 404: an unknown issue.
    let r = said
        .fails(&chat, "alice", "ticket show 999", Kind::Failed)
        .await;
    assert!(r.contains("acme/api has no issue #999"), "{r}");
    let r = said
        .fails(&chat, "alice", "ticket close 999 done", Kind::Failed)
        .await;
    assert!(r.contains("acme/api has no issue #999"), "{r}");

    // 422: GitHub's validation message, in words.
    let from = logs.lock().unwrap().len();
    fake.fail_next("POST", "/repos/acme/api/issues", 422, 1);
    let r = said
        .fails(&chat, "alice", "ticket new \"Bad\"", Kind::Failed)
        .await;
    assert!(
        r.starts_with("`ticket` failed: GitHub could not open the issue: `title` is missing"),
        "{r}"
    );
    assert!(logs_since(&logs, from).contains("GitHub answered 422"));

    // 429 with Retry-After: waited out once, then the request goes through.
    fake.rate_limit_next("POST", "/comments", 1, 1);
    let t = Instant::now();
    let r = said
        .ok(
            &chat,
            "alice",
            &format!("ticket comment {existing} still broken"),
        )
        .await;
    assert!(r.contains("Commented on"), "{r}");
    assert!(t.elapsed().as_millis() >= 900, "Retry-After was waited out");
    assert_eq!(fake.comments("acme", "api", existing).len(), 1);
    // ... and said when it persists.
    fake.rate_limit_next("GET", &path, 1, 2);
    let r = said.fails(&chat, "alice", &show, Kind::Failed).await;
    assert!(
        r.contains("GitHub is rate-limiting the bot again") && r.contains("try again in 1 s"),
        "{r}"
    );
    // A rate limit answered with 403, as GitHub also does, is one too.
    fake.rate_limit_403_next("GET", &path, 1, 1);
    assert!(said.ok(&chat, "alice", &show).await.contains("Known issue"));

    // 5xx
    let from = logs.lock().unwrap().len();
    fake.fail_next("GET", &path, 502, 1);
    let r = said.fails(&chat, "alice", &show, Kind::Failed).await;
    assert!(r.contains("GitHub had a server error (502)"), "{r}");
    assert!(logs_since(&logs, from).contains("GitHub answered 502"));

    // Malformed JSON
    let from = logs.lock().unwrap().len();
    fake.garble_next("GET", &path);
    let r = said.fails(&chat, "alice", &show, Kind::Failed).await;
    assert!(
        r.contains("GitHub sent an answer the bot could not read"),
        "{r}"
    );
    assert!(logs_since(&logs, from).contains("with something unexpected"));

    // A timeout: the plugin's HTTP time runs out while GitHub says nothing.
    let slow = github_host(
        &fake,
        &format!(
            "{}\n[plugins.ticket.limits]\nhttp_ms = 1500\n",
            github_grants(&fake)
        ),
        "",
    )
    .await;
    fake.delay_next("GET", &path, std::time::Duration::from_secs(5));
    let r = said.fails(&slow, "alice", &show, Kind::Failed).await;
    assert!(r.contains("GitHub did not answer in time"), "{r}");

    // Missing grants.
    let no_secret = github_host(&fake, &format!("http = [\"{}\"]\n", fake.url), "").await;
    let r = said.fails(&no_secret, "alice", &show, Kind::Denied).await;
    assert!(
        r.contains("chatops grant ticket secret github-token"),
        "{r}"
    );
    let no_http = github_host(&fake, "secrets = [\"github-token\"]\n", "").await;
    let r = said.fails(&no_http, "alice", &show, Kind::Denied).await;
    assert!(
        r.contains(&format!("chatops grant ticket http {}", fake.url)),
        "{r}"
    );
    // A bad `repo` never reaches GitHub.
    let bad_repo = host(
        "CHATOPS_TEST_TICKET_GH_",
        &github_grants(&fake),
        &format!(
            "backend = \"github\"\nurl = \"{}\"\nrepo = \"acme/../x\"\n",
            fake.url
        ),
    )
    .await;
    let r = said.fails(&bad_repo, "alice", &show, Kind::Failed).await;
    assert!(r.contains("setting `repo` must be OWNER/REPO"), "{r}");

    said.assert_never_said(GH_TOKEN);
    assert!(
        !logs_since(&logs, 0).contains(GH_TOKEN),
        "the token reached the log"
    );
    let violations = fake.violations();
    assert!(violations.is_empty(), "{}", fake.report());
}

/// What `chatops plugins inspect` shows comes from here: the command with its options,
/// each capability request and each setting, all with a reason.
#[tokio::test]
async fn ticket_describes_its_command_requests_and_settings_with_reasons() {
    let runtime = chatops::runtime::Runtime::new().unwrap();
    let plugin = runtime
        .load(
            &plugin_bytes("ticket"),
            "ticket.wasm",
            &chatops::config::Limits::default(),
        )
        .await
        .expect("the ticket plugin loads");
    let info = serde_json::to_value(&plugin.info).unwrap();
    let command = &info["commands"][0];
    assert_eq!(command["name"], "ticket", "{info}");
    let choices: Vec<&str> = command["options"][0]["choices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["value"].as_str().unwrap())
        .collect();
    assert_eq!(choices, ["new", "comment", "close", "show"]);
    let requests = info["capabilities"].as_array().unwrap();
    let text = info["capabilities"].to_string();
    assert!(
        text.contains("redmine-api-key") && text.contains("github-token"),
        "{text}"
    );
    assert!(requests
        .iter()
        .all(|r| !r["reason"].as_str().unwrap().is_empty()));
    let keys: Vec<&str> = plugin.settings.iter().map(|s| s.key.as_str()).collect();
    for key in [
        "backend",
        "url",
        "project",
        "repo",
        "tracker_id",
        "closed_status",
    ] {
        assert!(keys.contains(&key), "setting {key} in {keys:?}");
    }
    assert!(plugin.settings.iter().all(|s| !s.description.is_empty()));
    assert!(plugin
        .settings
        .iter()
        .any(|s| s.key == "backend" && s.required));
}
