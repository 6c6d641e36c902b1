//! The bundled `deploy` plugin end to end: against the real Buildbot (master + worker on
//! 127.0.0.1) through the dispatcher and the fake Discord, and against the fake GitHub,
//! which checks every request and response against GitHub's OpenAPI description.

use chatops::adapters::discord::{self, Settings};
use chatops::capabilities::ProgressSink;
use chatops::dispatch::{Kind, Request, Response};
use chatops::runtime::sha256_hex;
use chatops_tests::buildbot::{self, Buildbot};
use chatops_tests::discord_fake::FakeDiscord;
use chatops_tests::github_fake::FakeGitHub;
use chatops_tests::*;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(30);
const ALICE: u64 = 4242;

/// `chatops.toml` in `dir` with the bundled deploy plugin pinned, the secrets read from
/// environment variables with `prefix`, and `body` appended (grants, settings, limits).
fn config(dir: &Path, prefix: &str, body: &str) -> PathBuf {
    let wasm = write_plugins(dir, &["deploy"]).remove(0);
    let cfg = dir.join("chatops.toml");
    std::fs::write(
        &cfg,
        format!(
            "[secrets]\nenv_prefix = \"{prefix}\"\n\n[plugins.deploy]\npath = \"deploy.wasm\"\nsha256 = \"{}\"\n{body}\n",
            sha256_hex(&std::fs::read(&wasm).unwrap())
        ),
    )
    .unwrap();
    cfg
}

/// A bot whose deploy plugin talks to `bb`, with the password in `password`.
async fn buildbot_chat(bb: &Buildbot, prefix: &str, password: &str) -> Chat {
    std::env::set_var(format!("{prefix}BUILDBOT_PASSWORD"), password);
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        dir.path(),
        prefix,
        &format!(
            r#"[plugins.deploy.grants]
http = ["{url}"]
secrets = ["buildbot-password"]
kv = true

[plugins.deploy.config]
backend = "buildbot"
url = "{url}"
user = "{user}"
services = "api,web"
envs = "staging,qa,prod,dev"
confirm_envs = "qa"
poll_seconds = 1
wait_seconds = 45

[plugins.deploy.limits]
http_requests = 100
"#,
            url = bb.url,
            user = buildbot::USER,
        ),
    );
    Chat::from_config(&cfg).await.with_dir(dir)
}

/// Say `line` from a task of its own, as a second person typing while it runs would.
fn spawn_say(chat: &Chat, line: &str) -> tokio::task::JoinHandle<Response> {
    let (bot, who, line) = (chat.bot.clone(), chat.who.clone(), line.to_string());
    let progress: Arc<dyn ProgressSink> = Arc::new(Progress::default());
    tokio::spawn(async move {
        tokio::time::timeout(
            STEP,
            bot.dispatcher
                .dispatch(&who, Request::Text(line.clone()), progress),
        )
        .await
        .unwrap_or_else(|_| panic!("`{line}` did not answer within {STEP:?}"))
    })
}

/// Ask `deploy status` until a deploy whose line has `needle` is in `state`; its ID.
async fn listed(chat: &Chat, needle: &str, state: &str) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        let list = chat.ok("deploy status").await;
        if let Some(line) = list
            .lines()
            .find(|l| l.contains(needle) && l.contains(&format!("— {state}")))
        {
            return line
                .split('`')
                .nth(1)
                .unwrap_or_else(|| panic!("no ID in {line}"))
                .to_string();
        }
        assert!(
            Instant::now() < deadline,
            "no deploy {needle} {state} within {WAIT:?}: {list}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// The deploy ID in "… Deploy `12`: …".
fn deploy_id(text: &str) -> String {
    text.split("Deploy `")
        .nth(1)
        .and_then(|r| r.split('`').next())
        .unwrap_or_else(|| panic!("no deploy ID in {text}"))
        .to_string()
}

#[tokio::test]
async fn buildbot_deploys_report_their_build_and_can_be_confirmed_failed_and_cancelled() {
    let logs = capture_logs("warn,chatops=info");
    let bb = Buildbot::start().await;
    eprintln!(
        "buildbot master + worker ready in {:.1} s",
        bb.startup.as_secs_f64()
    );
    let chat = buildbot_chat(&bb, "CHATOPS_TEST_DEPLOY_", buildbot::PASSWORD).await;

    // A deploy to staging succeeds and links to its build.
    let ok = chat.ok("deploy api 1.4.2 staging").await;
    let id = deploy_id(&ok);
    assert!(
        ok.starts_with("✅") && ok.contains("api 1.4.2 → staging succeeded"),
        "{ok}"
    );
    let build = bb.wait_complete(&id, WAIT).await;
    assert_eq!(build["results"], 0, "{build}");
    let link = format!(
        "{}/#/builders/{}/builds/{}",
        bb.url, build["builderid"], build["number"]
    );
    assert!(ok.contains(&link), "{ok} should link {link}");
    let progress = chat.progress.0.lock().unwrap().clone();
    assert!(
        progress
            .iter()
            .any(|p| p.contains(&format!("Deploy `{id}`"))),
        "progress while it waits: {progress:?}"
    );

    // A failing build is reported as failed.
    let failed = chat.ok("deploy web fail-7 staging").await;
    let failed_id = deploy_id(&failed);
    assert!(
        failed.starts_with("❌") && failed.contains("web fail-7 → staging failed"),
        "{failed}"
    );
    assert_eq!(bb.wait_complete(&failed_id, WAIT).await["results"], 2);

    // Production always asks, with the question, and nothing reaches Buildbot before the
    // confirmation; an environment in confirm_envs asks too, and cancelling runs nothing.
    let before = bb.build_requests().await.len();
    let r = chat.say("deploy api 1.4.2 qa").await;
    let Kind::Confirm { token } = r.kind else {
        panic!("qa is in confirm_envs: {r:?}")
    };
    assert!(r.text.contains("Deploy api 1.4.2 to qa?"), "{}", r.text);
    let progress: Arc<dyn ProgressSink> = chat.progress.clone();
    let no = chat
        .bot
        .dispatcher
        .confirm(&chat.who, &token, false, progress.clone())
        .await;
    assert_eq!(no.kind, Kind::Cancelled);
    let r = chat.say("deploy api 1.4.2 prod").await;
    let Kind::Confirm { token } = r.kind else {
        panic!("prod always asks: {r:?}")
    };
    assert!(r.text.contains("Deploy api 1.4.2 to prod?"), "{}", r.text);
    assert_eq!(
        bb.build_requests().await.len(),
        before,
        "nothing ran before the confirmation"
    );
    let yes = tokio::time::timeout(
        STEP,
        chat.bot
            .dispatcher
            .confirm(&chat.who, &token, true, progress.clone()),
    )
    .await
    .expect("the confirmed deploy answers");
    assert_eq!(yes.kind, Kind::Reply, "{}", yes.text);
    assert!(
        yes.text.contains("api 1.4.2 → prod succeeded"),
        "{}",
        yes.text
    );
    assert_eq!(bb.build_requests().await.len(), before + 1);

    // A choice Buildbot does not offer comes back as JSON-RPC -32602, shown like usage.
    let bad = chat.say("deploy api 1.4.2 dev").await;
    assert_eq!(bad.kind, Kind::Usage, "{}", bad.text);
    assert!(
        bad.text.contains("Buildbot refused the parameters")
            && bad
                .text
                .contains("does not belong to list of available choices"),
        "{}",
        bad.text
    );
    // What the settings do not allow never reaches Buildbot.
    let other = chat.say("deploy billing 1.0 staging").await;
    assert_eq!(other.kind, Kind::Usage, "{}", other.text);
    assert!(other.text.contains("these are: api, web"), "{}", other.text);
    let nowhere = chat.say("deploy api 1.0 moon").await;
    assert_eq!(nowhere.kind, Kind::Usage, "{}", nowhere.text);
    assert_eq!(bb.build_requests().await.len(), before + 1);

    // Cancel stops a running build: the deploy runs in a task of its own while
    // `deploy status` shows it running and `deploy cancel` stops it.
    let slow = spawn_say(&chat, "deploy api slow-1 staging");
    let slow_id = listed(&chat, "slow-1", "running").await;
    let one = chat.ok(&format!("deploy status {slow_id}")).await;
    assert!(
        one.contains("running") && one.contains("/#/builders/"),
        "{one}"
    );
    // A second one waits for the busy worker; cancelling it cancels the build request.
    let queued = spawn_say(&chat, "deploy web slow-2 staging");
    let queued_id = listed(&chat, "slow-2", "queued").await;
    let cancelled = chat.ok(&format!("deploy cancel {queued_id}")).await;
    assert!(cancelled.contains("cancelled by alice"), "{cancelled}");
    let queued = queued.await.unwrap();
    assert!(
        queued.text.contains("web slow-2 → staging was cancelled"),
        "{:?}: {}",
        queued.kind,
        queued.text
    );
    assert_eq!(bb.build_request(&queued_id).await["results"], 6);
    assert!(bb.builds_of(&queued_id).await.is_empty(), "it never built");

    let cancelled = chat.ok(&format!("deploy cancel {slow_id}")).await;
    assert!(cancelled.contains("cancelled by alice"), "{cancelled}");
    let slow = slow.await.unwrap();
    assert!(
        slow.text.contains("api slow-1 → staging was cancelled"),
        "{:?}: {}",
        slow.kind,
        slow.text
    );
    assert_eq!(bb.wait_complete(&slow_id, WAIT).await["results"], 6);

    // The recent deploys, newest first, with their state and link.
    let list = chat.ok("deploy status").await;
    let lines: Vec<&str> = list.lines().skip(1).collect();
    assert_eq!(lines.len(), 5, "{list:?}");
    assert!(
        lines[0].contains("slow-2") && lines[0].contains("cancelled"),
        "{list}"
    );
    let lines = &lines[1..];
    assert!(
        lines[0].contains("slow-1") && lines[0].contains("cancelled"),
        "{list}"
    );
    assert!(
        lines[1].contains("→ prod") && lines[1].contains("succeeded"),
        "{list}"
    );
    assert!(
        lines[2].contains("fail-7") && lines[2].contains("failed"),
        "{list}"
    );
    assert!(
        lines[3].contains(&link) && lines[3].contains("by alice"),
        "{list}"
    );
    let again = chat.ok(&format!("deploy cancel {id}")).await;
    assert!(again.contains("already succeeded"), "{again}");
    let unknown = chat.say("deploy status 999").await;
    assert_eq!(unknown.kind, Kind::Failed);
    assert!(
        unknown.text.contains("no recent deploy `999`"),
        "{}",
        unknown.text
    );
    let junk = chat.say("deploy cancel ../builds").await;
    assert_eq!(junk.kind, Kind::Usage, "{}", junk.text);

    // A refused login is one sentence naming what to check, and no secret.
    let wrong = buildbot_chat(&bb, "CHATOPS_TEST_DEPLOY_BAD_", "not-the-password").await;
    let r = wrong.say("deploy api 1.4.3 staging").await;
    assert_eq!(r.kind, Kind::Failed, "{}", r.text);
    assert!(
        r.text.contains("did not accept our credentials") && r.text.contains("buildbot-password"),
        "{}",
        r.text
    );
    assert!(!r.text.contains("not-the-password"));

    // The same through Discord: a production deploy asks with buttons, runs once pressed,
    // and its progress and result edit the answer.
    let fake = FakeDiscord::start().await;
    let running = discord::start(
        chat.bot.clone(),
        Settings {
            token: FakeDiscord::TOKEN.into(),
            api_url: Some(fake.url()),
            guilds: vec![FakeDiscord::GUILD_ID],
            prefix_commands: true,
            defer_after: Duration::from_millis(1500),
            watch_every: Duration::from_millis(200),
        },
    )
    .await
    .expect("client starts");
    fake.wait_ready(WAIT).await.expect("READY");
    let options = json!([
        {"name": "service", "type": 3, "value": "web"},
        {"name": "version", "type": 3, "value": "2.0.0"},
        {"name": "env", "type": 3, "value": "prod"},
    ]);
    let ev = fake.slash_command("deploy", options, ALICE, &[]);
    let (iid, itoken) = (
        ev["id"].as_str().unwrap().to_string(),
        ev["token"].as_str().unwrap().to_string(),
    );
    fake.dispatch("INTERACTION_CREATE", ev).await;
    let callback = |id: String, token: String| {
        let fake = &fake;
        async move {
            let path = format!("/api/v10/interactions/{id}/{token}/callback");
            fake.wait_request(
                "the callback",
                |r| r.method == "POST" && r.path == path,
                WAIT,
            )
            .await
            .unwrap()
        }
    };
    let cb = callback(iid, itoken).await;
    assert!(
        cb.body["data"]["content"]
            .as_str()
            .unwrap_or("")
            .contains("Deploy web 2.0.0 to prod?"),
        "{}",
        cb.body
    );
    let confirm = cb.body["data"]["components"][0]["components"][0]["custom_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(confirm.starts_with("chatops:confirm:"), "{}", cb.body);
    let press = fake.button_press(&confirm, ALICE, 1);
    let (pid, ptoken) = (
        press["id"].as_str().unwrap().to_string(),
        press["token"].as_str().unwrap().to_string(),
    );
    fake.dispatch("INTERACTION_CREATE", press).await;
    assert_eq!(callback(pid, ptoken.clone()).await.body["type"], 7);
    let edit_path = format!(
        "/api/v10/webhooks/{}/{ptoken}/messages/@original",
        FakeDiscord::APP_ID
    );
    let done = fake
        .wait_request(
            "the deploy's result",
            |r| {
                r.method == "PATCH"
                    && r.path == edit_path
                    && r.body["content"].as_str().unwrap_or("").starts_with("✅")
            },
            WAIT,
        )
        .await
        .unwrap();
    let done = done.body["content"].as_str().unwrap().to_string();
    assert!(
        done.contains("web 2.0.0 → prod succeeded") && done.contains(&bb.url),
        "{done}"
    );
    let edits: Vec<String> = fake
        .requests()
        .into_iter()
        .filter(|r| r.method == "PATCH" && r.path == edit_path)
        .map(|r| r.body["content"].as_str().unwrap_or("").to_string())
        .collect();
    assert!(
        edits.iter().any(|e| e.contains("deploy cancel")),
        "progress edits while it waits: {edits:?}"
    );
    running.shutdown().await;
    let violations = fake.spec_violations();
    assert!(violations.is_empty(), "{}", violations.join("\n"));

    // Nothing secret reached the host's log; then nothing of Buildbot survives.
    let log = String::from_utf8_lossy(&logs.lock().unwrap()).to_string();
    assert!(
        !log.contains(buildbot::PASSWORD),
        "the password leaked into the log"
    );
    let left = bb.stop().await;
    assert!(left.is_empty(), "buildbot processes survived: {left:?}");
}

#[tokio::test]
async fn deploy_without_its_grants_is_refused_with_the_grant_to_ask_for() {
    // No HTTP grant: the request never leaves, and the answer names the grant.
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        dir.path(),
        "CHATOPS_TEST_DEPLOY_NOGRANT_",
        "[plugins.deploy.grants]\nkv = true\n[plugins.deploy.config]\nbackend = \"buildbot\"\nurl = \"http://127.0.0.1:9\"\n",
    );
    let chat = Chat::from_config(&cfg).await.with_dir(dir);
    let r = chat.say("deploy api 1.0 staging").await;
    assert_eq!(r.kind, Kind::Denied, "{}", r.text);
    assert!(
        r.text
            .contains("chatops grant deploy http http://127.0.0.1:9"),
        "{}",
        r.text
    );

    // HTTP granted but not the password: refused before anything is sent.
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        dir.path(),
        "CHATOPS_TEST_DEPLOY_NOGRANT_",
        "[plugins.deploy.grants]\nhttp = [\"http://127.0.0.1:9\"]\nkv = true\n[plugins.deploy.config]\nbackend = \"buildbot\"\nurl = \"http://127.0.0.1:9\"\nuser = \"deployer\"\n",
    );
    let chat = Chat::from_config(&cfg).await.with_dir(dir);
    let r = chat.say("deploy api 1.0 staging").await;
    assert_eq!(r.kind, Kind::Denied, "{}", r.text);
    assert!(
        r.text
            .contains("chatops grant deploy secret buildbot-password"),
        "{}",
        r.text
    );

    // No key-value store: refused before a deploy starts that could not be remembered.
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        dir.path(),
        "CHATOPS_TEST_DEPLOY_NOGRANT_",
        "[plugins.deploy.grants]\nhttp = [\"http://127.0.0.1:9\"]\n[plugins.deploy.config]\nbackend = \"buildbot\"\nurl = \"http://127.0.0.1:9\"\n",
    );
    let chat = Chat::from_config(&cfg).await.with_dir(dir);
    for line in ["deploy api 1.0 staging", "deploy status"] {
        let r = chat.say(line).await;
        assert_eq!(r.kind, Kind::Denied, "{line}: {}", r.text);
        assert!(r.text.contains("chatops grant deploy kv"), "{}", r.text);
    }

    // No backend set: the answer says which setting to ask for.
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "CHATOPS_TEST_DEPLOY_NOGRANT_", "");
    let chat = Chat::from_config(&cfg).await.with_dir(dir);
    let r = chat.say("deploy api 1.0 staging").await;
    assert_eq!(r.kind, Kind::Failed, "{}", r.text);
    assert!(
        r.text.contains("chatops config deploy backend"),
        "{}",
        r.text
    );
}

const GH_TOKEN: &str = "ghp_deploy_test_token_8231";

/// A bot whose deploy plugin dispatches `workflow` in acme/shop on the fake GitHub.
async fn github_chat(
    gh: &FakeGitHub,
    prefix: &str,
    token: &str,
    workflow: &str,
    wait_seconds: u64,
    limits: &str,
) -> Chat {
    std::env::set_var(format!("{prefix}GITHUB_TOKEN"), token);
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        dir.path(),
        prefix,
        &format!(
            r#"[plugins.deploy.grants]
http = ["{url}"]
secrets = ["github-token"]
kv = true

[plugins.deploy.config]
backend = "github"
url = "{url}"
repo = "acme/shop"
workflow = "{workflow}"
ref = "main"
services = "api,web"
envs = "staging,prod"
poll_seconds = 1
wait_seconds = {wait_seconds}

[plugins.deploy.limits]
{limits}
"#,
            url = gh.url,
        ),
    );
    Chat::from_config(&cfg).await.with_dir(dir)
}

#[tokio::test]
async fn github_actions_deploys_dispatch_follow_and_cancel_runs_as_the_openapi_description_says() {
    let gh = FakeGitHub::start(GH_TOKEN).await;
    gh.add_workflow("acme", "shop", "deploy.yml");
    let chat = github_chat(
        &gh,
        "CHATOPS_TEST_DEPLOY_GH_",
        GH_TOKEN,
        "deploy.yml",
        45,
        "http_requests = 100",
    )
    .await;

    // Dispatched with the inputs, followed to its conclusion, reported with its URL.
    gh.set_run_outcome("success", 2);
    let ok = chat.ok("deploy api 1.4.2 staging").await;
    let id = deploy_id(&ok);
    assert!(
        ok.starts_with("✅") && ok.contains("api 1.4.2 → staging succeeded"),
        "{ok}\n{}",
        gh.report()
    );
    assert!(
        ok.contains(&format!("https://github.com/acme/shop/actions/runs/{id}")),
        "{ok}"
    );
    let run_id: u64 = id.parse().unwrap();
    assert_eq!(
        gh.run_inputs(run_id).unwrap(),
        json!({"service": "api", "version": "1.4.2", "env": "staging"})
    );
    let dispatch = gh
        .requests()
        .into_iter()
        .find(|r| r.method == "POST" && r.path.ends_with("/dispatches"))
        .unwrap();
    assert_eq!(dispatch.body.as_ref().unwrap()["ref"], "main");
    assert_eq!(
        dispatch.header("authorization"),
        Some(&*format!("Bearer {GH_TOKEN}"))
    );

    // A failed run is reported as failed.
    gh.set_run_outcome("failure", 1);
    let failed = chat.ok("deploy web 2.0.1 staging").await;
    assert!(
        failed.starts_with("❌") && failed.contains("conclusion failure"),
        "{failed}"
    );

    // Cancel through the run's cancel endpoint while the deploy is being followed.
    gh.set_run_outcome("success", 1000);
    let slow = spawn_say(&chat, "deploy api 1.5.0 staging");
    let slow_id = listed(&chat, "1.5.0", "running").await;
    let cancelled = chat.ok(&format!("deploy cancel {slow_id}")).await;
    assert!(cancelled.contains("cancelled by alice"), "{cancelled}");
    let slow = slow.await.unwrap();
    assert!(
        slow.text.contains("api 1.5.0 → staging was cancelled"),
        "{}",
        slow.text
    );
    assert!(gh.requests().iter().any(|r| r.method == "POST"
        && r.path == format!("/repos/acme/shop/actions/runs/{slow_id}/cancel")));

    // Production asks first; nothing is dispatched before the answer.
    let runs = gh.runs().len();
    let r = chat.say("deploy api 1.4.2 prod").await;
    assert!(matches!(r.kind, Kind::Confirm { .. }), "{r:?}");
    assert!(r.text.contains("Deploy api 1.4.2 to prod?"), "{}", r.text);
    assert_eq!(gh.runs().len(), runs);

    // 429 with Retry-After is waited out once, then the deploy goes on.
    gh.set_run_outcome("success", 1);
    gh.rate_limit_next("POST", "/dispatches", 1, 1);
    let waited = chat.ok("deploy api 1.4.3 staging").await;
    assert!(waited.contains("succeeded"), "{waited}");
    assert!(chat
        .progress
        .0
        .lock()
        .unwrap()
        .iter()
        .any(|p| p.contains("asked us to slow down")));
    // Twice in a row: said so, without waiting a third time.
    gh.rate_limit_next("POST", "/dispatches", 1, 2);
    let limited = chat.say("deploy api 1.4.4 staging").await;
    assert_eq!(limited.kind, Kind::Failed, "{}", limited.text);
    assert!(
        limited
            .text
            .contains("still rate-limiting us after one wait"),
        "{}",
        limited.text
    );

    // 422 shows GitHub's validation message.
    gh.fail_next("POST", "/dispatches", 422, 1);
    let invalid = chat.say("deploy api 1.4.5 staging").await;
    assert_eq!(invalid.kind, Kind::Failed, "{}", invalid.text);
    assert!(
        invalid.text.contains(
            "GitHub rejected starting the workflow: Validation Failed; ref: missing_field"
        ),
        "{}",
        invalid.text
    );

    // 5xx: one short sentence; one bad poll while following is tried again.
    gh.fail_next("POST", "/dispatches", 503, 1);
    let down = chat.say("deploy api 1.4.6 staging").await;
    assert_eq!(down.kind, Kind::Failed, "{}", down.text);
    assert!(
        down.text
            .contains("GitHub failed while starting the workflow (503)"),
        "{}",
        down.text
    );
    gh.set_run_outcome("success", 2);
    gh.fail_next("GET", "/actions/runs/", 502, 1);
    let recovered = chat.ok("deploy api 1.4.7 staging").await;
    assert!(recovered.contains("succeeded"), "{recovered}");

    // Malformed JSON: said plainly, no body in the chat.
    gh.garble_next("POST", "/dispatches");
    let garbled = chat.say("deploy api 1.4.8 staging").await;
    assert_eq!(garbled.kind, Kind::Failed, "{}", garbled.text);
    assert!(garbled.text.contains("could not read"), "{}", garbled.text);

    // A workflow GitHub does not have: 404 named for what it is.
    let missing = github_chat(
        &gh,
        "CHATOPS_TEST_DEPLOY_GH404_",
        GH_TOKEN,
        "nope.yml",
        45,
        "http_requests = 100",
    )
    .await;
    let r = missing.say("deploy api 1.4.2 staging").await;
    assert_eq!(r.kind, Kind::Failed, "{}", r.text);
    assert!(
        r.text
            .contains("GitHub has no workflow `nope.yml` in acme/shop"),
        "{}",
        r.text
    );

    // A token GitHub refuses: 401, naming the secret, never its value.
    let bad = github_chat(
        &gh,
        "CHATOPS_TEST_DEPLOY_GH401_",
        "ghp_wrong_token_000",
        "deploy.yml",
        45,
        "http_requests = 100",
    )
    .await;
    let r = bad.say("deploy api 1.4.2 staging").await;
    assert_eq!(r.kind, Kind::Failed, "{}", r.text);
    assert!(
        r.text.contains("did not accept our credentials") && r.text.contains("github-token"),
        "{}",
        r.text
    );
    assert!(!r.text.contains("ghp_"), "{}", r.text);

    // Past wait_seconds, or out of HTTP requests, the answer says where to follow it.
    gh.set_run_outcome("success", 1000);
    let short = github_chat(
        &gh,
        "CHATOPS_TEST_DEPLOY_GHWAIT_",
        GH_TOKEN,
        "deploy.yml",
        2,
        "http_requests = 100",
    )
    .await;
    let r = short.ok("deploy api 1.6.0 staging").await;
    let id = deploy_id(&r);
    assert!(
        r.contains("is still running after") && r.contains(&format!("`deploy status {id}`")),
        "{r}"
    );
    let few = github_chat(
        &gh,
        "CHATOPS_TEST_DEPLOY_GHFEW_",
        GH_TOKEN,
        "deploy.yml",
        45,
        "http_requests = 3",
    )
    .await;
    let r = few.ok("deploy api 1.6.1 staging").await;
    assert!(r.contains("(this command reached its limits)"), "{r}");

    // A GitHub that does not answer within the plugin's HTTP time: said so, briefly.
    let slow = github_chat(
        &gh,
        "CHATOPS_TEST_DEPLOY_GHSLOW_",
        GH_TOKEN,
        "deploy.yml",
        45,
        "http_ms = 1000",
    )
    .await;
    gh.delay_next("POST", "/dispatches", Duration::from_secs(3));
    let r = slow.say("deploy api 1.6.2 staging").await;
    assert_eq!(r.kind, Kind::Failed, "{}", r.text);
    assert!(
        r.text
            .contains("GitHub did not answer in time while starting the workflow"),
        "{}",
        r.text
    );

    let list = chat.ok("deploy status").await;
    assert!(
        list.contains("cancelled") && list.contains("failed") && list.contains("succeeded"),
        "{list}"
    );
    let violations = gh.violations();
    assert!(violations.is_empty(), "{}", gh.report());
}
