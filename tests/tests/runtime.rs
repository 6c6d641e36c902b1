//! The sandbox and the dispatcher, end to end with real plugins built from source.

use chatops::capabilities::Grants;
use chatops::config::Limits;
use chatops::dispatch::Kind;
use chatops::runtime::{LoadError, Runtime};
use chatops_tests::*;
use std::time::{Duration, Instant};

#[tokio::test]
async fn bundled_plugins_describe_themselves_and_run() {
    let chat = Chat::dev(&["echo", "dice"], Grants::default(), &[]).await;
    assert_eq!(chat.ok("echo hello world").await, "hello world");
    assert_eq!(chat.ok("echo \"  spaced  out  \"").await, "  spaced  out  ");
    let roll = chat.ok("roll 3d6 show=each").await;
    assert!(roll.starts_with("alice rolled 3d6: ["), "{roll}");
    assert!(["Heads", "Tails"].contains(&chat.ok("flip").await.as_str()));
}

#[tokio::test]
async fn usage_errors_show_the_usage() {
    let chat = Chat::dev(&["echo", "dice"], Grants::default(), &[]).await;
    // from the parser, before the plugin runs
    let r = chat.say("countdown soon").await;
    assert_eq!(r.kind, Kind::Usage);
    assert!(
        r.text
            .contains("`seconds` must be a whole number, not `soon`"),
        "{}",
        r.text
    );
    assert!(
        r.text.contains("Usage: `!countdown <seconds>`"),
        "{}",
        r.text
    );
    assert!(r.ephemeral);
    // from the plugin itself
    let r = chat.say("roll 0d6").await;
    assert_eq!(r.kind, Kind::Usage);
    assert!(
        r.text.contains("roll 1 to 100 dice") && r.text.contains("Usage: `!roll [dice] [show]`"),
        "{}",
        r.text
    );
    // A bonus that would overflow the total is refused, not wrapped into a negative roll.
    let r = chat.say("roll 2d6+9223372036854775807").await;
    assert_eq!(r.kind, Kind::Usage, "{}", r.text);
    assert!(r.text.contains("the bonus is at most"), "{}", r.text);
    let r = chat.say("roll show=sideways").await;
    assert!(
        r.text.contains("`show` must be one of: total, each"),
        "{}",
        r.text
    );
    let r = chat.say("rol").await;
    assert!(r.text.contains("Did you mean `!roll`?"), "{}", r.text);
}

#[tokio::test]
async fn help_lists_commands_and_explains_one() {
    let chat = Chat::dev(&["echo", "dice"], Grants::default(), &[]).await;
    let all = chat.say("help").await;
    assert_eq!(all.kind, Kind::Help);
    for needle in [
        "`!echo <text>` — Repeat a message back to the channel",
        "`!roll [dice] [show]`",
        "**dice** — Dice, coins and countdowns",
    ] {
        assert!(
            all.text.contains(needle),
            "missing {needle:?} in\n{}",
            all.text
        );
    }
    let one = chat.say("help roll").await;
    assert!(
        one.text.contains("show (one of total, each, optional)"),
        "{}",
        one.text
    );
    assert!(one.text.contains("from plugin dice 0.1.0"), "{}", one.text);
}

#[tokio::test]
async fn progress_updates_reach_the_adapter() {
    let chat = Chat::dev(&["dice"], Grants::default(), &[]).await;
    assert_eq!(chat.ok("countdown 2").await, "Liftoff!");
    assert_eq!(*chat.progress.0.lock().unwrap(), ["2…", "1…"]);
}

#[tokio::test]
async fn runaway_plugins_are_stopped_and_the_next_command_runs() {
    let chat = Chat::dev(&["misbehave", "echo"], Grants::default(), &[]).await;

    let t = Instant::now();
    let r = chat.say("spin").await;
    assert_eq!(r.kind, Kind::Failed);
    assert!(
        r.text.contains("used more than its CPU limit of 2000 ms"),
        "{}",
        r.text
    );
    assert!(
        t.elapsed() < Duration::from_secs(20),
        "spin took {:?}",
        t.elapsed()
    );
    assert_eq!(chat.ok("echo still here").await, "still here");

    let r = chat.say("hog").await;
    assert!(
        r.text.contains("ran out of memory: it may use 64 MiB"),
        "{}",
        r.text
    );
    assert!(
        r.text
            .contains("raise `memory_mb` under [plugins.misbehave.limits]"),
        "{}",
        r.text
    );
    assert_eq!(chat.ok("echo still here").await, "still here");

    let r = chat.say("boom").await;
    assert!(
        r.text
            .contains("panicked: the flux capacitor broke (at misbehave/src/lib.rs"),
        "{}",
        r.text
    );
    assert!(r.text.contains("(plugin `misbehave`)"), "{}", r.text);
    assert_eq!(chat.ok("echo still here").await, "still here");

    // A plugin that prints without end keeps a bounded tail and still answers.
    assert_eq!(chat.ok("chatty").await, "done talking");
}

#[tokio::test]
async fn a_sleeping_plugin_hits_its_wall_time_while_others_keep_answering() {
    let dir = tempfile::tempdir().unwrap();
    let paths = write_plugins(dir.path(), &["misbehave", "echo"]);
    let cfg = dir.path().join("chatops.toml");
    let digest = |p: &std::path::Path| chatops::runtime::sha256_hex(&std::fs::read(p).unwrap());
    std::fs::write(
        &cfg,
        format!(
            "[plugins.misbehave]\npath = \"misbehave.wasm\"\nsha256 = \"{}\"\n[plugins.misbehave.limits]\nwall_ms = 1500\n\n[plugins.echo]\npath = \"echo.wasm\"\nsha256 = \"{}\"\n",
            digest(&paths[0]),
            digest(&paths[1])
        ),
    )
    .unwrap();
    let chat = std::sync::Arc::new(Chat::from_config(&cfg).await.with_dir(dir));
    let napper = {
        let chat = chat.clone();
        tokio::spawn(async move { chat.say("nap").await })
    };
    // While one command sleeps, others are served at once.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let t = Instant::now();
    assert_eq!(chat.ok("echo meanwhile").await, "meanwhile");
    assert!(
        t.elapsed() < Duration::from_secs(1),
        "echo waited {:?}",
        t.elapsed()
    );
    let r = napper.await.unwrap();
    assert!(
        r.text
            .contains("took longer than its wall-time limit of 1500 ms"),
        "{}",
        r.text
    );
}

#[tokio::test]
async fn huge_replies_are_cut_with_a_note() {
    let chat = Chat::dev(&["misbehave"], Grants::default(), &[]).await;
    let text = chat.ok("flood").await;
    assert!(text.len() < 300 * 1024);
    assert!(
        text.ends_with(&format!("… (cut at 262144 of {} bytes)", 3 << 20)),
        "{}",
        &text[text.len() - 80..]
    );
}

#[tokio::test]
async fn dangerous_commands_wait_for_the_same_users_confirmation() {
    let chat = Chat::dev(&["misbehave"], Grants::default(), &[]).await;
    let r = chat.say("wipe").await;
    let Kind::Confirm { token } = r.kind.clone() else {
        panic!("expected a confirmation, got {r:?}")
    };
    let progress: std::sync::Arc<dyn chatops::capabilities::ProgressSink> = chat.progress.clone();
    let bob = caller("bob", &[]);
    let other = chat
        .bot
        .dispatcher
        .confirm(&bob, &token, true, progress.clone())
        .await;
    assert_eq!(other.kind, Kind::Denied);
    let done = chat
        .bot
        .dispatcher
        .confirm(&chat.who, &token, true, progress.clone())
        .await;
    assert_eq!(done.text, "wiped everything, as alice asked");
    let again = chat
        .bot
        .dispatcher
        .confirm(&chat.who, &token, true, progress.clone())
        .await;
    assert!(
        again.text.contains("expired or was already answered"),
        "{}",
        again.text
    );
    let Kind::Confirm { token } = chat.say("wipe").await.kind else {
        panic!()
    };
    let cancelled = chat
        .bot
        .dispatcher
        .confirm(&chat.who, &token, false, progress)
        .await;
    assert_eq!(cancelled.kind, Kind::Cancelled);
}

#[tokio::test]
async fn a_plugin_decides_from_the_arguments_which_runs_need_confirming() {
    let chat = Chat::dev(&["misbehave"], Grants::default(), &[]).await;
    // staging: the plugin says no confirmation is needed, so it runs at once
    assert_eq!(chat.ok("launch staging").await, "launched to staging");
    // prod: the plugin's question is shown, and nothing runs until the same user confirms
    let r = chat.say("launch prod").await;
    let Kind::Confirm { token } = r.kind.clone() else {
        panic!("expected a confirmation, got {r:?}")
    };
    assert!(
        r.text.starts_with("Launch to prod for alice?"),
        "{}",
        r.text
    );
    assert!(r.text.contains("only alice can"), "{}", r.text);
    let progress: std::sync::Arc<dyn chatops::capabilities::ProgressSink> = chat.progress.clone();
    let bob = caller("bob", &[]);
    let denied = chat
        .bot
        .dispatcher
        .confirm(&bob, &token, true, progress.clone())
        .await;
    assert_eq!(denied.kind, Kind::Denied);
    let done = chat
        .bot
        .dispatcher
        .confirm(&chat.who, &token, true, progress)
        .await;
    assert_eq!(done.text, "launched to prod");
    // a hook that never answers is stopped by the CPU limit and the command does not run
    let r = chat.say("launch spin").await;
    assert_eq!(r.kind, Kind::Failed, "{r:?}");
    assert!(
        r.text
            .contains("plugin `misbehave`, asked whether it needs confirming")
            && r.text.contains("CPU limit"),
        "{}",
        r.text
    );
}

#[tokio::test]
async fn a_plugin_importing_what_the_host_lacks_is_refused_by_name() {
    let bytes = wat::parse_str(
        r#"(component (import "acme:rockets/launch@1.0.0" (instance (export "fire" (func)))))"#,
    )
    .unwrap();
    let runtime = Runtime::new().unwrap();
    let err = runtime
        .load(&bytes, "rockets.wasm", &Limits::default())
        .await
        .err()
        .expect("must not load");
    assert!(matches!(err, LoadError::MissingImport { .. }), "{err}");
    assert!(
        err.to_string().contains(
            "rockets.wasm imports `acme:rockets/launch@1.0.0`, which this host does not provide"
        ),
        "{err}"
    );
    let err = runtime
        .load(b"not wasm at all", "junk.wasm", &Limits::default())
        .await
        .err()
        .unwrap();
    assert!(
        err.to_string()
            .contains("junk.wasm is not a WebAssembly component"),
        "{err}"
    );
}

#[tokio::test]
async fn two_plugins_declaring_one_command_is_a_load_error_naming_both() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a");
    let b = dir.path().join("b");
    std::fs::create_dir_all(&a).unwrap();
    std::fs::create_dir_all(&b).unwrap();
    let mut paths = write_plugins(&a, &["echo"]);
    paths.extend(write_plugins(&b, &["echo"]));
    let dev = chatops::bot::Dev {
        plugins: paths,
        ..Default::default()
    };
    let err = chatops::bot::Bot::start_dev(dev)
        .await
        .err()
        .expect("conflict")
        .to_string();
    assert!(
        err.contains("command `echo` is declared by both plugin `echo`"),
        "{err}"
    );
    assert!(
        err.contains("a/echo.wasm") && err.contains("b/echo.wasm"),
        "{err}"
    );
}

/// A configured host degrades instead of dying: of two plugins declaring one command the
/// second is disabled, naming both, and the first serves; `plugins add` refuses the clash.
#[tokio::test]
async fn a_command_clash_disables_one_plugin_and_the_host_serves_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let paths = write_plugins(dir.path(), &["leaky", "probe"]);
    let sha = |p: &std::path::Path| chatops::runtime::sha256_hex(&std::fs::read(p).unwrap());
    let cfg = dir.path().join("chatops.toml");
    std::fs::write(
        &cfg,
        format!(
            "[plugins.leaky]\npath = \"leaky.wasm\"\nsha256 = \"{}\"\n",
            sha(&paths[0])
        ),
    )
    .unwrap();
    let add = |p: &std::path::Path| {
        let argv = [
            "chatops",
            "--config",
            cfg.to_str().unwrap(),
            "plugins",
            "add",
            p.to_str().unwrap(),
        ];
        chatops::cli::main(<chatops::cli::Cli as clap::Parser>::parse_from(argv))
    };
    let err = add(&paths[1]).await.unwrap_err().to_string();
    assert!(
        err.contains(
            "plugin `probe` declares command `announce`, which plugin `leaky` already serves"
        ),
        "{err}"
    );
    assert!(
        !std::fs::read_to_string(&cfg).unwrap().contains("probe"),
        "the clash was written"
    );

    // Written by hand anyway: the host starts, serves `leaky`, and says why `probe` is off.
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    text.push_str(&format!(
        "[plugins.probe]\npath = \"probe.wasm\"\nsha256 = \"{}\"\n",
        sha(&paths[1])
    ));
    std::fs::write(&cfg, text).unwrap();
    let chat = Chat::from_config(&cfg).await;
    assert_eq!(chat.say("fail").await.kind, Kind::Failed);
    let disabled = chat.bot.dispatcher.disabled();
    assert_eq!(disabled.len(), 1, "{disabled:?}");
    assert_eq!(disabled[0].0, "probe");
    assert!(
        disabled[0].1.contains("is declared by both plugin `leaky`")
            && disabled[0].1.contains("`probe` is disabled"),
        "{disabled:?}"
    );
    assert!(chat
        .say("setting url")
        .await
        .text
        .contains("There is no command `setting`"));
    drop(dir);
}

#[tokio::test]
async fn a_plugin_runs_at_most_max_concurrent_commands_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let wasm = write_plugins(dir.path(), &["misbehave"]).remove(0);
    let cfg = dir.path().join("chatops.toml");
    let sha = chatops::runtime::sha256_hex(&std::fs::read(&wasm).unwrap());
    std::fs::write(&cfg, format!("[plugins.misbehave]\npath = \"misbehave.wasm\"\nsha256 = \"{sha}\"\n[plugins.misbehave.limits]\nmax_concurrent = 1\n")).unwrap();
    let chat = std::sync::Arc::new(Chat::from_config(&cfg).await.with_dir(dir));
    let first = {
        let chat = chat.clone();
        tokio::spawn(async move { chat.say("doze 2").await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let busy = chat.say("doze 0").await;
    assert_eq!(busy.kind, Kind::Failed);
    assert_eq!(busy.text, "`doze` is busy: plugin `misbehave` is already running 1 command(s). Try again in a moment.");
    assert!(
        busy.notices[0].contains("raise it under [plugins.misbehave.limits]"),
        "{:?}",
        busy.notices
    );
    assert_eq!(first.await.unwrap().text, "slept 2s");
    assert_eq!(chat.ok("doze 0").await, "slept 0s");
}

/// The README's example plugin is built from the README's own text (tests/plugins/readme-example).
#[tokio::test]
async fn the_readme_example_plugin_loads_and_fails_clearly_without_grants() {
    let chat = Chat::dev(&["readme-example"], Grants::default(), &[]).await;
    let help = chat.say("help deploy").await.text;
    assert!(
        help.contains("Dangerous: you will be asked to confirm"),
        "{help}"
    );
    assert!(
        help.contains("env (one of prod, staging, required)"),
        "{help}"
    );
    let r = chat.say("deploy api Production").await;
    let Kind::Confirm { token } = r.kind else {
        panic!("{r:?}")
    };
    let progress: std::sync::Arc<dyn chatops::capabilities::ProgressSink> = chat.progress.clone();
    let done = chat
        .bot
        .dispatcher
        .confirm(&chat.who, &token, true, progress)
        .await;
    assert_eq!(done.kind, Kind::Failed);
    assert_eq!(
        done.text,
        "`deploy` failed: secret `deploy-token` is not granted to this plugin"
    );
    assert!(
        done.notices
            .iter()
            .any(|n| n.contains("chatops grant deploy secret deploy-token")),
        "{:?}",
        done.notices
    );
}

#[test]
fn the_readme_example_plugin_is_the_readme_text() {
    let root = workspace_root();
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let start = readme
        .find("A whole plugin:\n\n```rust\n")
        .expect("README has the example")
        + "A whole plugin:\n\n```rust\n".len();
    let end = start + readme[start..].find("```").unwrap();
    let example =
        std::fs::read_to_string(root.join("tests/plugins/readme-example/src/lib.rs")).unwrap();
    let example = example.split_once('\n').unwrap().1;
    assert_eq!(example, &readme[start..end], "copy the README's example into tests/plugins/readme-example/src/lib.rs (after its first line)");
}

/// A config with `misbehave` pinned (its `wipe` asks for confirmation), open to role `ops`.
fn confirm_setup() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let wasm = write_plugins(dir.path(), &["misbehave"]).remove(0);
    let cfg = dir.path().join("chatops.toml");
    let digest = chatops::runtime::sha256_hex(&std::fs::read(&wasm).unwrap());
    std::fs::write(
        &cfg,
        format!("[plugins.misbehave]\npath = \"misbehave.wasm\"\nsha256 = \"{digest}\"\n[plugins.misbehave.access]\nroles = [\"ops\"]\n"),
    )
    .unwrap();
    (dir, cfg)
}

/// Ask for `wipe` as an `ops` member; returns the confirmation token.
async fn ask_wipe(chat: &Chat) -> (chatops::dispatch::Caller, String) {
    let who = caller("alice", &["ops"]);
    let r = chat.say_as(&who, "wipe").await;
    let Kind::Confirm { token } = r.kind else {
        panic!("expected a confirmation, got {r:?}")
    };
    (who, token)
}

async fn press(
    chat: &Chat,
    who: &chatops::dispatch::Caller,
    token: &str,
) -> chatops::dispatch::Response {
    let progress: std::sync::Arc<dyn chatops::capabilities::ProgressSink> = chat.progress.clone();
    tokio::time::timeout(
        STEP,
        chat.bot.dispatcher.confirm(who, token, true, progress),
    )
    .await
    .expect("the press is answered")
}

#[tokio::test]
async fn a_confirmation_is_checked_again_when_pressed() {
    let (dir, cfg) = confirm_setup();
    let chat = Chat::from_config(&cfg).await;

    // Normal: the same user confirms and it runs.
    let (who, token) = ask_wipe(&chat).await;
    assert_eq!(
        press(&chat, &who, &token).await.text,
        "wiped everything, as alice asked"
    );

    // Expired: refused, nothing runs.
    let (who, token) = ask_wipe(&chat).await;
    chat.bot.dispatcher.expire_confirmation(&token);
    let r = press(&chat, &who, &token).await;
    assert!(
        r.text.contains("expired or was already answered"),
        "{}",
        r.text
    );

    // Access revoked between the prompt and the press: refused, naming who may.
    let (who, token) = ask_wipe(&chat).await;
    let text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(
        &cfg,
        text.replace("roles = [\"ops\"]", "roles = [\"release-managers\"]"),
    )
    .unwrap();
    chat.bot.reload().await;
    let r = press(&chat, &who, &token).await;
    assert_eq!(r.kind, Kind::Denied);
    assert_eq!(r.text, "You may no longer run `wipe`: `misbehave` commands are limited to roles release-managers. Ask an admin for access. Nothing ran.");
    std::fs::write(&cfg, text).unwrap();
    chat.bot.reload().await;

    // The plugin file replaced by a build nobody approved: refused, saying why.
    let (who, token) = ask_wipe(&chat).await;
    let wasm = dir.path().join("misbehave.wasm");
    let mut bytes = std::fs::read(&wasm).unwrap();
    let at = bytes.windows(7).position(|w| w == b"wiped e").unwrap();
    bytes[at] = b'W';
    std::fs::write(&wasm, &bytes).unwrap();
    chat.bot.reload().await;
    let r = press(&chat, &who, &token).await;
    assert_eq!(r.kind, Kind::Denied);
    assert!(
        r.text
            .contains("plugin `misbehave` has been disabled since you were asked"),
        "{}",
        r.text
    );
    assert!(
        r.text.contains("chatops plugins approve misbehave"),
        "{}",
        r.text
    );

    // Approved after the prompt: still refused, since the user confirmed another build.
    write_plugins(dir.path(), &["misbehave"]);
    chat.bot.reload().await;
    let (who, token) = ask_wipe(&chat).await;
    std::fs::write(&wasm, &bytes).unwrap();
    let digest = chatops::runtime::sha256_hex(&bytes);
    let text = std::fs::read_to_string(&cfg).unwrap();
    let old = text.split('"').nth(3).unwrap().to_string();
    std::fs::write(&cfg, text.replace(&old, &digest)).unwrap();
    chat.bot.reload().await;
    let r = press(&chat, &who, &token).await;
    assert_eq!(r.kind, Kind::Denied);
    assert!(
        r.text.contains("was replaced by another build"),
        "{}",
        r.text
    );
    let (who, token) = ask_wipe(&chat).await;
    assert_eq!(
        press(&chat, &who, &token).await.text,
        "Wiped everything, as alice asked"
    );

    let audit = chat
        .bot
        .dispatcher
        .store()
        .unwrap()
        .audit_recent(20)
        .unwrap();
    let outcomes: Vec<&str> = audit
        .iter()
        .filter(|e| e.command == "wipe")
        .map(|e| e.outcome.as_str())
        .collect();
    assert_eq!(
        outcomes,
        ["ok", "denied", "denied", "denied", "ok"],
        "{audit:?}"
    );
    drop(dir);
}

/// A plugin built against the contract as first shipped — no `wasi:config` import, no
/// `settings` export, wit-bindgen without the SDK — loads and runs unchanged.
#[tokio::test]
async fn plugins_built_against_the_first_contract_still_load() {
    let chat = Chat::dev(&["legacy"], Grants::default(), &[]).await;
    assert_eq!(chat.ok("legacy-ping").await, "pong from the first contract");
    let p = chat.bot.dispatcher.plugin("legacy").unwrap();
    assert!(p.compiled.settings.is_empty());
}

/// A plugin whose config section is wrong is left out with the reason; the rest serve.
#[tokio::test]
async fn a_bad_plugin_section_disables_that_plugin_only() {
    let dir = tempfile::tempdir().unwrap();
    let paths = write_plugins(dir.path(), &["echo", "probe"]);
    let sha = |p: &std::path::Path| chatops::runtime::sha256_hex(&std::fs::read(p).unwrap());
    let cfg = dir.path().join("chatops.toml");
    std::fs::write(
        &cfg,
        format!(
            "[plugins.echo]\npath = \"echo.wasm\"\nsha256 = \"{}\"\n[plugins.probe]\npath = \"probe.wasm\"\nsha256 = \"{}\"\n[plugins.probe.grants]\nhttp = [\"api.example.com\"]\n",
            sha(&paths[0]),
            sha(&paths[1])
        ),
    )
    .unwrap();
    let chat = Chat::from_config(&cfg).await;
    assert_eq!(chat.ok("echo still here").await, "still here");
    let disabled = chat.bot.dispatcher.disabled();
    assert_eq!(disabled.len(), 1, "{disabled:?}");
    assert_eq!(disabled[0].0, "probe");
    assert!(
        disabled[0].1.contains(
            "key `grants.http[0]`: `api.example.com` is not an HTTP grant: the scheme is missing"
        ),
        "{disabled:?}"
    );
    drop(dir);
}
