//! Capability-scoped HTTP and secrets, granted by admins to a plugin's sha256: real plugins
//! built from source, run against a fake upstream on 127.0.0.1.

use chatops::cli::Cli;
use chatops::dispatch::Kind;
use chatops::runtime::sha256_hex;
use chatops_tests::upstream::Upstream;
use chatops_tests::*;
use clap::Parser;
use std::path::{Path, PathBuf};

/// A config directory with the probe plugin pinned, and whatever else `extra` says.
fn setup(grants: &str, extra: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let wasm = write_plugins(dir.path(), &["probe"]).remove(0);
    let cfg = dir.path().join("chatops.toml");
    let text = format!(
        "{extra}\n[plugins.probe]\npath = \"probe.wasm\"\nsha256 = \"{}\"\n\n[plugins.probe.grants]\n{grants}\n",
        sha256_hex(&std::fs::read(&wasm).unwrap())
    );
    std::fs::write(&cfg, text).unwrap();
    (dir, cfg)
}

async fn cli(args: &[&str]) -> anyhow::Result<()> {
    let mut argv = vec!["chatops"];
    argv.extend_from_slice(args);
    chatops::cli::main(Cli::parse_from(argv)).await
}

#[tokio::test]
async fn http_reaches_what_was_granted_and_nothing_else() {
    let up = Upstream::start().await;
    let other = Upstream::start().await;
    let port = up.addr.port();
    let (dir, cfg) = setup(&format!("http = [\"http://127.0.0.1:{port}/v1/\"]"), "");
    let chat = Chat::from_config(&cfg).await.with_dir(dir);

    assert_eq!(
        chat.ok(&format!("fetch {}", up.url("/v1/status"))).await,
        "status=200 body=all systems go"
    );

    for (what, url) in [
        ("another port", other.url("/v1/status")),
        (
            "another scheme",
            format!("https://127.0.0.1:{port}/v1/status"),
        ),
        ("a path outside the prefix", up.url("/admin")),
        ("a prefix look-alike", up.url("/v10")),
        ("a dot-dot escape", up.url("/v1/../admin")),
        ("another host", "http://example.com/v1/status".to_string()),
        ("a private address", "http://10.0.0.1/v1/status".to_string()),
    ] {
        let r = chat.say(&format!("fetch {url}")).await;
        assert!(
            r.text.starts_with("denied "),
            "{what}: {url} gave {}",
            r.text
        );
        assert!(
            r.notices
                .iter()
                .any(|n| n.contains("refused: plugin `probe` requested")
                    && n.contains("chatops grant probe http")),
            "{what}: {:?}",
            r.notices
        );
    }
    let r = chat.say(&format!("fetch {}", up.url("/admin"))).await;
    assert!(
        r.notices.iter().any(|n| n.contains(&format!(
            "to allow it: chatops grant probe http http://127.0.0.1:{port}"
        ))),
        "{:?}",
        r.notices
    );
    // The cloud metadata service is named for what it is, and no grant is suggested.
    let r = chat
        .say("fetch http://169.254.169.254/latest/meta-data/")
        .await;
    assert!(r.text.starts_with("denied "), "{}", r.text);
    let note = r
        .notices
        .iter()
        .find(|n| n.contains("169.254.169.254/latest"))
        .expect("a notice");
    assert!(
        note.contains("link-local address, where cloud metadata services"),
        "{note}"
    );
    assert!(!note.contains("chatops grant"), "{note}");

    // A redirect is a new request, checked like any other.
    let inside = format!("fetch {}", up.url("/v1/redirect?to=/v1/status"));
    assert_eq!(chat.ok(&inside).await, "status=200 body=all systems go");
    for to in [
        up.url("/admin"),
        format!("http://localhost:{port}/v1/status"),
        other.url("/v1/status"),
    ] {
        let r = chat
            .say(&format!(
                "fetch {}",
                up.url(&format!("/v1/redirect?to={to}"))
            ))
            .await;
        assert!(
            r.text.starts_with("denied "),
            "redirect to {to} gave {}",
            r.text
        );
    }
}

#[tokio::test]
async fn names_that_resolve_to_internal_addresses_need_a_literal_grant() {
    let up = Upstream::start().await;
    let port = up.addr.port();
    let (dir, cfg) = setup(&format!("http = [\"http://localhost:{port}\"]"), "");
    let chat = Chat::from_config(&cfg).await.with_dir(dir);
    let r = chat
        .say(&format!("fetch http://localhost:{port}/v1/status"))
        .await;
    assert!(r.text.starts_with("denied "), "{}", r.text);
    let note = r.notices.join("\n");
    assert!(
        note.contains("resolves to the internal address 127.0.0.1"),
        "{note}"
    );
    assert!(
        note.contains(&format!("chatops grant probe http http://127.0.0.1:{port}")),
        "{note}"
    );
}

#[tokio::test]
async fn response_size_request_count_and_time_are_capped() {
    let up = Upstream::start().await;
    let port = up.addr.port();
    let (dir, cfg) = setup(
        &format!("http = [\"http://127.0.0.1:{port}\"]\n\n[plugins.probe.limits]\nhttp_response_bytes = 1000\nhttp_requests = 2\nhttp_ms = 1500"),
        "",
    );
    let chat = Chat::from_config(&cfg).await.with_dir(dir);
    let big = chat.ok(&format!("fetch {}", up.url("/v1/big"))).await;
    assert!(big.contains("larger than the host allows"), "{big}");
    let many = chat
        .ok(&format!("fetch-many {} 3", up.url("/v1/status")))
        .await;
    let lines: Vec<&str> = many.lines().collect();
    assert_eq!(lines[..2], ["status=200 body=all systems go"; 2]);
    assert!(lines[2].starts_with("denied "), "{many}");
    let slow = chat.ok(&format!("fetch {}", up.url("/v1/slow"))).await;
    assert!(slow.starts_with("error "), "{slow}");
}

#[tokio::test]
async fn secrets_are_granted_by_name_and_redacted_from_chat() {
    let up = Upstream::start().await;
    let other = Upstream::start().await;
    let (port, other_port) = (up.addr.port(), other.addr.port());
    let (dir, cfg) = setup(
        &format!(
            "http = [\"http://127.0.0.1:{port}\", \"http://127.0.0.1:{other_port}\"]\nsecrets = [\"api-token\", \"unset-token\"]"
        ),
        "[secrets]\nenv_prefix = \"CHATOPS_TEST_CAPS_\"\n",
    );
    std::env::set_var("CHATOPS_TEST_CAPS_API_TOKEN", "s3cr3t-t0ken-value");
    std::env::set_var("CHATOPS_TEST_CAPS_OTHER", "not-for-probe");
    let chat = Chat::from_config(&cfg).await.with_dir(dir);

    // The plugin reads it and uses it upstream...
    let r = chat.say(&format!("fetch {}", up.url("/v1/whoami"))).await;
    assert_eq!(
        r.text,
        "status=200 body=Bearer [redacted]\n(a secret value was redacted from this reply)"
    );
    assert!(
        r.notices
            .iter()
            .any(|n| n.contains("redacted a secret value")),
        "{:?}",
        r.notices
    );
    // ...but its value never reaches the chat, in replies or progress.
    let r = chat.say("secret api-token").await;
    assert!(r.text.starts_with("value=[redacted]"), "{}", r.text);
    assert!(!r.text.contains("s3cr3t"));
    let r = chat.say("leak api-token").await;
    assert!(!r.text.contains("s3cr3t"), "{}", r.text);
    assert!(chat
        .progress
        .0
        .lock()
        .unwrap()
        .contains(&"working with [redacted]".to_string()));

    // A redirect within the origin keeps the token; one to another origin drops it, even
    // to a granted destination (the SDK's client, as curl and browsers do).
    let same = format!("fetch {}", up.url("/v1/redirect?to=/v1/whoami"));
    assert!(chat
        .ok(&same)
        .await
        .starts_with("status=200 body=Bearer [redacted]"));
    let cross = format!(
        "fetch {}",
        up.url(&format!("/v1/redirect?to={}", other.url("/v1/whoami")))
    );
    assert_eq!(chat.ok(&cross).await, "status=200 body=anonymous");

    let r = chat.say("secret other").await;
    assert_eq!(r.text, "not-granted other");
    assert!(
        r.notices[0].contains("to allow it: chatops grant probe secret other"),
        "{:?}",
        r.notices
    );
    let r = chat.say("secret unset-token").await;
    assert_eq!(r.text, "not-found unset-token");
    assert!(
        r.notices[0].contains("set the environment variable CHATOPS_TEST_CAPS_UNSET_TOKEN"),
        "{:?}",
        r.notices
    );

    // Nor in the audit trail.
    let audit = chat
        .bot
        .dispatcher
        .store()
        .unwrap()
        .audit_recent(50)
        .unwrap();
    assert!(!audit.is_empty());
    assert!(
        audit.iter().all(|e| !format!("{e:?}").contains("s3cr3t")),
        "{audit:?}"
    );
}

#[tokio::test]
async fn a_secrets_file_works_only_when_private() {
    let (dir, cfg) = setup(
        "secrets = [\"api-token\"]",
        "[secrets]\nfile = \"secrets.toml\"\n",
    );
    let file = dir.path().join("secrets.toml");
    std::fs::write(&file, "api-token = \"from-the-file-123\"\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let chat = Chat::from_config(&cfg).await;
    assert!(chat
        .ok("secret api-token")
        .await
        .starts_with("value=[redacted]"));
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = chatops::bot::Bot::start(Some(&cfg))
        .await
        .err()
        .expect("refused")
        .to_string();
    assert!(
        err.contains("can be read by other users (mode 644)") && err.contains("Fix: chmod 600"),
        "{err}"
    );
    drop(dir);
}

#[tokio::test]
async fn kv_and_posting_need_grants() {
    let (dir, cfg) = setup("", "");
    let chat = Chat::from_config(&cfg).await;
    assert_eq!(
        chat.ok("count").await,
        "kv error: the key-value store is not granted to this plugin"
    );
    assert_eq!(
        chat.ok("announce 42").await,
        "post error: posting to `42` is not granted to this plugin"
    );
    drop(chat);
    let text = std::fs::read_to_string(&cfg).unwrap().replace(
        "[plugins.probe.grants]\n",
        "[plugins.probe.grants]\nkv = true\n",
    );
    std::fs::write(&cfg, text).unwrap();
    let chat = Chat::from_config(&cfg).await;
    assert_eq!(chat.ok("count").await, "count=1");
    assert_eq!(chat.ok("count").await, "count=2");
    drop(chat);
    // The store is a file: the count survives a restart.
    // Compiled code is cached by digest beside the store, private to this user.
    let cache = dir.path().join("chatops.cache");
    let cached: Vec<_> = std::fs::read_dir(&cache)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(cached.iter().any(|n| n.ends_with(".cwasm")), "{cached:?}");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&cache).unwrap().permissions().mode() & 0o777,
        0o700
    );
    let chat = Chat::from_config(&cfg).await.with_dir(dir);
    assert_eq!(chat.ok("count").await, "count=3");
}

/// Change one byte of the plugin's file: the change is in its reply text, so the test
/// also sees that the new build is what runs after approval.
fn tamper(path: &Path) {
    let mut bytes = std::fs::read(path).unwrap();
    let needle = b"announcement from probe";
    let at = bytes
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("the string is in the binary");
    bytes[at] = b'A';
    std::fs::write(path, bytes).unwrap();
}

#[tokio::test]
async fn a_changed_plugin_loses_its_grants_until_approved() {
    let up = Upstream::start().await;
    let port = up.addr.port();
    let (dir, cfg) = setup(
        &format!("http = [\"http://127.0.0.1:{port}\"]\npost = [\"ops\"]"),
        "",
    );
    let wasm = dir.path().join("probe.wasm");
    let chat = Chat::from_config(&cfg).await;
    chat.bot
        .dispatcher
        .set_poster(std::sync::Arc::new(Posts::default()));
    assert_eq!(
        chat.ok(&format!("fetch {}", up.url("/v1/status"))).await,
        "status=200 body=all systems go"
    );
    let old = sha256_hex(&std::fs::read(&wasm).unwrap());

    tamper(&wasm);
    let new = sha256_hex(&std::fs::read(&wasm).unwrap());
    let msgs = chat.bot.reload_if_changed().await.join("\n");
    assert!(
        msgs.contains(&format!(
            "plugin `probe` disabled: {} has sha256 {new} but the config approves {old}",
            wasm.display()
        )),
        "{msgs}"
    );
    assert!(
        msgs.contains("run `chatops plugins approve probe`"),
        "{msgs}"
    );
    let r = chat.say(&format!("fetch {}", up.url("/v1/status"))).await;
    assert_eq!(r.kind, Kind::Usage, "{}", r.text);
    assert!(r.text.contains("There is no command `fetch`"), "{}", r.text);

    cli(&[
        "--config",
        cfg.to_str().unwrap(),
        "plugins",
        "approve",
        "probe",
    ])
    .await
    .unwrap();
    let msgs = chat.bot.reload_if_changed().await.join("\n");
    assert!(msgs.contains("plugin `probe` loaded"), "{msgs}");
    assert_eq!(
        chat.ok(&format!("fetch {}", up.url("/v1/status"))).await,
        "status=200 body=all systems go"
    );
    assert_eq!(chat.ok("announce ops").await, "posted");
    drop(dir);
}

const COMMENTED: &str = "# The ops team's bot. Changes are reviewed in PRs.
[host]
prefix = \"!\" # bang commands

[limits]
# be strict by default
cpu_ms = 1000
";

#[tokio::test]
async fn the_admin_cli_round_trips_a_commented_config() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("chatops.toml");
    std::fs::write(&cfg, COMMENTED).unwrap();
    let wasm = write_plugins(dir.path(), &["probe", "echo"]);
    let c = cfg.to_str().unwrap();
    cli(&["--config", c, "plugins", "add", wasm[0].to_str().unwrap()])
        .await
        .unwrap();
    cli(&["--config", c, "plugins", "add", wasm[1].to_str().unwrap()])
        .await
        .unwrap();
    // A comment added by hand between CLI edits survives the next ones.
    let text = std::fs::read_to_string(&cfg).unwrap().replace(
        "[plugins.probe]\n",
        "[plugins.probe]\n# probe is for testing only\n",
    );
    std::fs::write(&cfg, text).unwrap();
    cli(&[
        "--config",
        c,
        "grant",
        "probe",
        "http",
        "https://api.example.com/v1",
    ])
    .await
    .unwrap();
    cli(&["--config", c, "grant", "probe", "secret", "api-token"])
        .await
        .unwrap();
    cli(&["--config", c, "grant", "probe", "kv"]).await.unwrap();
    cli(&[
        "--config",
        c,
        "grant",
        "echo",
        "http",
        "https://*.example.org",
    ])
    .await
    .unwrap();
    cli(&[
        "--config",
        c,
        "revoke",
        "echo",
        "http",
        "https://*.example.org",
    ])
    .await
    .unwrap();
    cli(&["--config", c, "plugins", "remove", "echo"])
        .await
        .unwrap();
    let bad = cli(&["--config", c, "grant", "probe", "http", "api.example.com"])
        .await
        .unwrap_err()
        .to_string();
    assert!(bad.contains("the scheme is missing"), "{bad}");
    cli(&["--config", c, "check"]).await.unwrap();
    cli(&["--config", c, "plugins", "list"]).await.unwrap();

    let out = std::fs::read_to_string(&cfg).unwrap();
    for comment in [
        "# The ops team's bot. Changes are reviewed in PRs.",
        "# bang commands",
        "# be strict by default",
        "# probe is for testing only",
    ] {
        assert!(out.contains(comment), "lost {comment:?}:\n{out}");
    }
    let loaded = chatops::config::load(&cfg).unwrap();
    let probe = &loaded.config.plugins["probe"];
    assert_eq!(probe.grants.http, ["https://api.example.com/v1"]);
    assert_eq!(probe.grants.secrets, ["api-token"]);
    assert!(probe.grants.kv);
    assert_eq!(probe.path, PathBuf::from("probe.wasm"));
    assert!(!loaded.config.plugins.contains_key("echo"));
    assert_eq!(loaded.config.limits.cpu_ms, Some(1000));
}

#[tokio::test]
async fn access_rules_decide_who_runs_what_and_help_shows_only_that() {
    let dir = tempfile::tempdir().unwrap();
    let paths = write_plugins(dir.path(), &["echo", "dice"]);
    let cfg = dir.path().join("chatops.toml");
    let sha = |p: &Path| sha256_hex(&std::fs::read(p).unwrap());
    std::fs::write(
        &cfg,
        format!(
            "[host]\nadmins = {{ users = [\"id-root\"] }}\n\n[plugins.echo]\npath = \"echo.wasm\"\nsha256 = \"{}\"\n[plugins.echo.access]\nroles = [\"deployers\"]\n\n[plugins.dice]\npath = \"dice.wasm\"\nsha256 = \"{}\"\n[plugins.dice.access]\nchannels = [\"games\"]\n",
            sha(&paths[0]),
            sha(&paths[1])
        ),
    )
    .unwrap();
    let chat = Chat::from_config(&cfg).await.with_dir(dir);
    let alice = caller("alice", &[]);
    let bob = caller("bob", &["deployers"]);
    let root = caller("root", &[]);

    let r = chat.say_as(&alice, "echo hi").await;
    assert_eq!(r.kind, Kind::Denied);
    assert_eq!(r.text, "You may not run `echo`: `echo` commands are limited to roles deployers. Ask an admin for access.");
    assert!(r.ephemeral);
    assert_eq!(chat.say_as(&bob, "echo hi").await.text, "hi");
    assert_eq!(chat.say_as(&root, "echo hi").await.text, "hi");

    let r = chat.say_as(&bob, "flip").await;
    assert!(
        r.text.contains("can only be run in these channels: games"),
        "{}",
        r.text
    );
    let mut in_games = bob.clone();
    in_games.channel = "games".into();
    assert_eq!(chat.say_as(&in_games, "flip").await.kind, Kind::Reply);

    let help = chat.say_as(&alice, "help").await.text;
    assert!(!help.contains("echo") && !help.contains("roll"), "{help}");
    assert!(chat
        .say_as(&bob, "help")
        .await
        .text
        .contains("`!echo <text>`"));
    let audit = chat
        .bot
        .dispatcher
        .store()
        .unwrap()
        .audit_recent(10)
        .unwrap();
    assert!(
        audit
            .iter()
            .any(|e| e.outcome == "denied" && e.actor.starts_with("alice")),
        "{audit:?}"
    );
}

#[tokio::test]
async fn rules_on_arguments_and_cooldowns_decide_each_run_and_name_the_rule() {
    let dir = tempfile::tempdir().unwrap();
    let paths = write_plugins(dir.path(), &["misbehave"]);
    let cfg = dir.path().join("chatops.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"[host]
admins = {{ users = ["id-root"] }}

[plugins.misbehave]
path = "misbehave.wasm"
sha256 = "{}"

# anyone may launch to staging; prod and live are for deployers, in #deploys
[[plugins.misbehave.rules]]
name = "prod is for deployers, in deploys"
command = "launch"
when = {{ target = ["prod", "live"] }}
roles = ["deployers"]
channels = ["deploys"]

[[plugins.misbehave.rules]]
command = "wipe"
users = ["id-root"]

[plugins.misbehave.cooldowns.launch]
per_user = "1s"
exempt_roles = ["sre"]
"#,
            sha256_hex(&std::fs::read(&paths[0]).unwrap())
        ),
    )
    .unwrap();
    let chat = Chat::from_config(&cfg).await.with_dir(dir);
    let progress: std::sync::Arc<dyn chatops::capabilities::ProgressSink> = chat.progress.clone();
    let alice = caller("alice", &[]);
    let mut bob = caller("bob", &["deployers"]);
    let root = caller("root", &[]);

    assert_eq!(
        chat.say_as(&alice, "launch staging").await.text,
        "launched to staging"
    );
    let refused = "You may not run `launch`: rule `prod is for deployers, in deploys` of plugin `misbehave` allows `launch` with target = prod or live";
    for line in ["launch prod", "launch PROD", "launch live"] {
        let r = chat.say_as(&caller("carol", &[]), line).await;
        assert_eq!(r.kind, Kind::Denied, "{line}: {r:?}");
        assert!(r.text.starts_with(refused), "{line}: {}", r.text);
        assert!(r.text.contains("only in channels deploys"), "{}", r.text);
    }
    // the right role in the wrong channel is still refused; in #deploys the plugin's own
    // confirmation comes next, and the rule is checked again at the press
    let r = chat.say_as(&bob, "launch prod").await;
    assert!(r.text.contains("only in channels deploys"), "{}", r.text);
    bob.channel = "deploys".into();
    let Kind::Confirm { token } = chat.say_as(&bob, "launch prod").await.kind else {
        panic!("bob in #deploys should be asked to confirm")
    };
    let done = chat
        .bot
        .dispatcher
        .confirm(&bob, &token, true, progress.clone())
        .await;
    assert_eq!(done.text, "launched to prod");
    let mut dave = caller("dave", &["deployers"]);
    dave.channel = "deploys".into();
    let Kind::Confirm { token } = chat.say_as(&dave, "launch prod").await.kind else {
        panic!("dave should be asked to confirm")
    };
    dave.user.roles.clear();
    let r = chat
        .bot
        .dispatcher
        .confirm(&dave, &token, true, progress.clone())
        .await;
    assert_eq!(r.kind, Kind::Denied, "{r:?}");
    assert!(r.text.contains("Nothing ran"), "{}", r.text);

    // a rule without conditions hides the command from help; a conditional one does not
    let help = chat.say_as(&alice, "help").await.text;
    assert!(help.contains("launch") && !help.contains("wipe"), "{help}");
    assert!(chat.say_as(&root, "help").await.text.contains("wipe"));
    let r = chat.say_as(&alice, "wipe").await;
    assert!(
        r.text
            .contains("rule rules[1] of plugin `misbehave` allows `wipe` only to 1 named user(s)"),
        "{}",
        r.text
    );

    // cooldowns: once a second per user; another user and an exempt role are not held back
    let erin = caller("erin", &[]);
    assert_eq!(chat.say_as(&erin, "launch a").await.text, "launched to a");
    let r = chat.say_as(&erin, "launch b").await;
    assert_eq!(r.kind, Kind::Denied, "{r:?}");
    assert_eq!(
        r.text,
        "`launch` is cooling down: you can run it again in 1 s (once every 1 s)."
    );
    assert_eq!(
        chat.say_as(&caller("frank", &[]), "launch c").await.text,
        "launched to c"
    );
    let sre = caller("sam", &["sre"]);
    for _ in 0..3 {
        assert_eq!(chat.say_as(&sre, "launch d").await.text, "launched to d");
    }
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(chat.say_as(&erin, "launch b").await.text, "launched to b");

    let audit = chat
        .bot
        .dispatcher
        .store()
        .unwrap()
        .audit_recent(50)
        .unwrap();
    assert!(
        audit.iter().any(|e| e.outcome == "denied"
            && e.actor.starts_with("carol")
            && e.detail.contains("prod is for deployers")),
        "{audit:?}"
    );
    assert!(
        audit
            .iter()
            .any(|e| e.outcome == "denied" && e.detail.contains("cooling down")),
        "{audit:?}"
    );
}

#[tokio::test]
async fn plugins_read_the_settings_an_admin_set_through_wasi_config() {
    let (dir, cfg) = setup(
        "\n[plugins.probe.config]\nurl = \"https://ci.example.com\"\nretries = 3",
        "",
    );
    let chat = Chat::from_config(&cfg).await;
    assert_eq!(
        chat.ok("setting url").await,
        "value=https://ci.example.com of 2"
    );
    assert_eq!(chat.ok("setting retries").await, "value=3 of 2");
    // A key the admin did not set is simply absent.
    assert_eq!(chat.ok("setting project").await, "absent");
    let probe = chat
        .bot
        .dispatcher
        .plugins()
        .into_iter()
        .find(|p| p.name == "probe")
        .unwrap();
    let declared: Vec<(&str, bool)> = probe
        .compiled
        .settings
        .iter()
        .map(|s| (s.key.as_str(), s.required))
        .collect();
    assert_eq!(declared, [("url", true), ("project", false)]);

    let c = cfg.to_str().unwrap();
    cli(&["--config", c, "config", "probe", "project", "payments"])
        .await
        .unwrap();
    cli(&["--config", c, "config", "probe", "url", "--unset"])
        .await
        .unwrap();
    cli(&["--config", c, "config", "probe"]).await.unwrap();
    chat.bot.reload_if_changed().await;
    assert_eq!(chat.ok("setting project").await, "value=payments of 2");
    assert_eq!(chat.ok("setting url").await, "absent");
    let err = cli(&["--config", c, "config", "nobody", "x", "y"])
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("no plugin `nobody` in the config"), "{err}");
    drop(dir);
}
