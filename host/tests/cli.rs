//! The `chatops` binary itself: the shell with piped stdin, `new`, `invoke` and `inspect`.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::{chatops, run, run_bytes, text};

#[test]
fn shell_answers_piped_commands_with_the_bundled_plugins() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = chatops();
    cmd.current_dir(dir.path()).arg("shell");
    let out = run(
        cmd,
        "help\necho hello\n!echo bang works\n/echo slash too\n",
        Duration::from_secs(60),
    );
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains("`!echo <text>` — Repeat a message back to the channel"),
        "{stdout}"
    );
    assert!(stdout.contains("\nhello\n"), "{stdout}");
    assert!(stdout.contains("bang works"), "{stdout}");
    assert!(stdout.contains("slash too"), "{stdout}");
    assert!(stderr.contains("chatops shell: 8 plugin(s)"), "{stderr}");
}

#[test]
fn run_without_a_token_falls_back_to_the_shell() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = chatops();
    cmd.current_dir(dir.path());
    let out = run(cmd, "echo fallback works\n", Duration::from_secs(60));
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("No Discord token"), "{stderr}");
    assert!(stdout.contains("fallback works"), "{stdout}");
}

/// `chatops new` → cargo build → `invoke`, `inspect` and the shell on the result.
#[test]
fn a_plugin_made_by_chatops_new_builds_and_runs() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("greeter");
    let mut new = chatops();
    new.args(["new", "greeter", "--dir"]).arg(&project);
    let out = run(new, "", Duration::from_secs(30));
    assert!(out.status.success(), "{}", text(&out).1);

    // Share the guest target directory so the SDK's dependencies are built once.
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let mut build = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    build
        .current_dir(&project)
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "--target-dir",
        ])
        .arg(root.join("target/guest-template"))
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_TARGET_DIR");
    let out = run(build, "", Duration::from_secs(600));
    assert!(
        out.status.success(),
        "the generated plugin does not build:\n{}",
        text(&out).1
    );
    let wasm = root.join("target/guest-template/wasm32-wasip2/release/greeter.wasm");

    let mut invoke = chatops();
    invoke
        .arg("invoke")
        .arg(&wasm)
        .arg("greeter Ada style=loud");
    let out = run(invoke, "", Duration::from_secs(60));
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    // The template answers with a button; `invoke` lists it and says where it can be pressed.
    assert_eq!(
        stdout.trim(),
        "HELLO, ADA!\n[1] Wave back   (buttons: press them in `chatops shell --plugin …`)"
    );

    let mut bad = chatops();
    bad.arg("invoke").arg(&wasm).arg("greeter");
    let out = run(bad, "", Duration::from_secs(60));
    assert!(!out.status.success());
    assert!(
        text(&out).0.contains("`name` is required"),
        "{}",
        text(&out).0
    );

    let mut inspect = chatops();
    inspect.args(["plugins", "inspect"]).arg(&wasm);
    let out = run(inspect, "", Duration::from_secs(60));
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.starts_with("greeter 0.1.0 — Says hello"), "{stdout}");
    assert!(stdout.contains("sha256 "), "{stdout}");
    assert!(
        stdout.contains("style (one of plain, loud, optional)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("salutation — The word to greet with (default: Hello)"),
        "{stdout}"
    );

    // A setting the author gives is read through wasi:config; an unset one is absent.
    let mut shell = chatops();
    shell.arg("shell").arg("--plugin").arg(&wasm);
    let out = run(shell, "greeter Grace\n", Duration::from_secs(60));
    assert!(text(&out).0.contains("Hello, Grace!"), "{:?}", text(&out));
    let mut shell = chatops();
    shell
        .arg("shell")
        .arg("--plugin")
        .arg(&wasm)
        .arg("--setting")
        .arg("salutation=Howdy");
    let out = run(shell, "greeter Grace\n", Duration::from_secs(60));
    assert!(text(&out).0.contains("Howdy, Grace!"), "{:?}", text(&out));
}

/// Hot reload, seen from the shell: a changed plugin file is announced and disabled.
#[test]
fn the_shell_announces_a_plugin_whose_file_changed() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let echo = chatops::bundled::BUNDLED
        .iter()
        .find(|(n, _)| *n == "echo")
        .unwrap()
        .1;
    let wasm = dir.path().join("echo.wasm");
    std::fs::write(&wasm, echo).unwrap();
    let cfg = dir.path().join("chatops.toml");
    std::fs::write(
        &cfg,
        format!(
            "[plugins.echo]\npath = \"echo.wasm\"\nsha256 = \"{}\"\n",
            chatops::runtime::sha256_hex(echo)
        ),
    )
    .unwrap();

    let mut child = chatops()
        .arg("--config")
        .arg(&cfg)
        .arg("shell")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let wait_for = |needle: &str| {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut seen = Vec::new();
        while Instant::now() < deadline {
            if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
                if line.contains(needle) {
                    return line;
                }
                seen.push(line);
            }
        }
        panic!("the shell never said {needle:?}; it said: {seen:?}");
    };
    wait_for("chatops shell: 1 plugin(s)");
    let mut changed = echo.to_vec();
    let at = changed.windows(8).position(|w| w == b"give me ").unwrap();
    changed[at] = b'G';
    std::fs::write(&wasm, changed).unwrap();
    let line = wait_for("plugin `echo` disabled");
    assert!(
        line.contains("run `chatops plugins approve echo`"),
        "{line}"
    );
    drop(child.stdin.take());
    let _ = child.wait();
}

/// The first-party plugins' own unit tests (their pure logic: payload parsing, formatting),
/// run natively as an author runs them, so they are part of `cargo test --workspace`.
#[test]
fn first_party_plugins_pass_their_own_unit_tests() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let mut test = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    test.current_dir(root.join("plugins"))
        .args(["test", "--target-dir"])
        .arg(root.join("target/guest-native"))
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_TARGET_DIR");
    let out = run(test, "", Duration::from_secs(900));
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let ran: usize = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("test result: ok. "))
        .filter_map(|l| l.split(' ').next()?.parse::<usize>().ok())
        .sum();
    assert!(ran >= 10, "only {ran} plugin unit tests ran:\n{stdout}");
}

/// Bad input to the shell gets a message and the shell goes on to the next line.
#[test]
fn the_shell_skips_lines_it_cannot_read_and_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = chatops();
    cmd.current_dir(dir.path()).arg("shell");
    let mut input = b"echo before\n".to_vec();
    input.extend_from_slice(b"echo \xff\xfe broken\n");
    input.extend_from_slice(b"echo nul\0here\n");
    input.extend_from_slice(&vec![b'x'; 70 * 1024]);
    input.extend_from_slice(b"\necho after\n");
    let out = run_bytes(cmd, &input, Duration::from_secs(60));
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains("\nbefore\n") || stdout.starts_with("before\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("✗ that line is not valid UTF-8 (at byte 5). Skipped it."),
        "{stdout}"
    );
    assert!(
        stdout.contains("✗ that line contains a NUL character. Skipped it."),
        "{stdout}"
    );
    assert!(
        stdout.contains("✗ that line is 71680 bytes; a command is at most 65536. Skipped it."),
        "{stdout}"
    );
    assert!(stdout.contains("\nafter\n"), "{stdout}");
}

/// `chatops audit` filters the trail and prints NDJSON an admin can pipe into other tools.
#[test]
fn audit_filters_by_plugin_outcome_and_time_as_ndjson() {
    let dir = tempfile::tempdir().unwrap();
    let echo = chatops::bundled::BUNDLED
        .iter()
        .find(|(n, _)| *n == "echo")
        .unwrap()
        .1;
    std::fs::write(dir.path().join("echo.wasm"), echo).unwrap();
    let cfg = dir.path().join("chatops.toml");
    std::fs::write(
        &cfg,
        format!(
            "[host]\naudit_retention_days = 30\n[plugins.echo]\npath = \"echo.wasm\"\nsha256 = \"{}\"\n[plugins.echo.access]\nroles = [\"ops\"]\n",
            chatops::runtime::sha256_hex(echo)
        ),
    )
    .unwrap();
    let shell = |args: &[&str], input: &str| {
        let mut cmd = chatops();
        cmd.arg("--config").arg(&cfg).arg("shell").args(args);
        let out = run(cmd, input, Duration::from_secs(60));
        assert!(out.status.success(), "{}", text(&out).1);
    };
    shell(&["--user", "alice"], "echo one\necho two\n");
    shell(&["--user", "bob", "--role", "ops"], "echo three\n");
    let audit = |args: &[&str]| {
        let mut cmd = chatops();
        cmd.arg("--config").arg(&cfg).arg("audit").args(args);
        let out = run(cmd, "", Duration::from_secs(60));
        assert!(out.status.success(), "{}", text(&out).1);
        text(&out)
            .0
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap_or_else(|e| panic!("{l}: {e}"))
            })
            .collect::<Vec<_>>()
    };
    let denied = audit(&[
        "--plugin",
        "echo",
        "--outcome",
        "denied",
        "--since",
        "1h",
        "--json",
    ]);
    assert_eq!(denied.len(), 2, "{denied:?}");
    assert!(
        denied
            .iter()
            .all(|e| e["actor"].as_str().unwrap().starts_with("alice")),
        "{denied:?}"
    );
    let ok = audit(&["--user", "bob", "--json"]);
    assert_eq!(ok.len(), 1, "{ok:?}");
    assert_eq!(ok[0]["outcome"], "ok");
    assert_eq!(ok[0]["args"], "echo three");
    assert_eq!(ok[0]["digest"], chatops::runtime::sha256_hex(echo));
    assert!(audit(&["--plugin", "echo", "--since", "0s", "--json"]).is_empty());
}

/// Every bundled plugin explains itself to the admin: `plugins inspect` lists its commands,
/// each capability it requests with the reason, and each setting it reads with what for.
#[test]
fn inspect_shows_each_bundled_plugins_commands_requests_and_settings_with_reasons() {
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes) in chatops::bundled::BUNDLED {
        let wasm = dir.path().join(format!("{name}.wasm"));
        std::fs::write(&wasm, bytes).unwrap();
        let mut json = chatops();
        json.args(["plugins", "inspect", "--json"]).arg(&wasm);
        let out = run(json, "", Duration::from_secs(60));
        assert!(out.status.success(), "{name}: {:?}", text(&out));
        let described: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let mut human = chatops();
        human.args(["plugins", "inspect"]).arg(&wasm);
        let out = run(human, "", Duration::from_secs(60));
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{name}: {stderr}");
        assert!(stdout.contains("Commands:"), "{name}: {stdout}");
        for c in described["info"]["commands"].as_array().unwrap() {
            let cmd = c["name"].as_str().unwrap();
            assert!(
                stdout.contains(&format!("!{cmd}")),
                "{name}: command {cmd} missing:\n{stdout}"
            );
        }
        for r in described["info"]["capabilities"].as_array().unwrap() {
            let reason = r["reason"].as_str().unwrap();
            assert!(
                reason.len() > 10,
                "{name}: a request without a real reason: {r}"
            );
            assert!(
                stdout.contains(reason),
                "{name}: reason {reason:?} missing:\n{stdout}"
            );
        }
        for s in described["settings"].as_array().unwrap() {
            let (key, about) = (
                s["key"].as_str().unwrap(),
                s["description"].as_str().unwrap(),
            );
            assert!(
                about.len() > 10,
                "{name}: setting {key} without a real description"
            );
            assert!(
                stdout.contains(key) && stdout.contains(about),
                "{name}: setting {key} missing:\n{stdout}"
            );
        }
        if ["deploy", "restart", "ticket", "incident"].contains(name) {
            assert!(
                !described["info"]["capabilities"]
                    .as_array()
                    .unwrap()
                    .is_empty()
                    && !described["settings"].as_array().unwrap().is_empty(),
                "{name} declares what it needs"
            );
        }
    }
}
