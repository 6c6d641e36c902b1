//! Plugin authors: `chatops test` runs conversation tests (the first-party plugins' own, a
//! failing reply shown as a diff, an unanswered request shown in full), and `chatops new`
//! from a binary copied away from this checkout makes a project that builds and passes
//! its scenario test.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

mod common;
use common::{chatops, chatops_at, run, text};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn scenario(toml: &str) -> (Output, String) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("case.toml");
    std::fs::write(&file, toml).unwrap();
    let mut cmd = chatops();
    cmd.arg("test").arg(&file);
    let out = run(cmd, "", Duration::from_secs(120));
    let stdout = text(&out).0;
    (out, stdout)
}

fn guest(name: &str) -> String {
    root()
        .join(format!("target/guest/wasm32-wasip2/release/{name}.wasm"))
        .display()
        .to_string()
}

#[test]
fn the_first_party_plugins_pass_their_own_scenarios() {
    let mut cmd = chatops();
    cmd.current_dir(root()).args([
        "test",
        "plugins/echo/tests",
        "plugins/dice/tests",
        "plugins/httpcheck/tests",
        "plugins/alerts/tests",
        "plugins/deploy/tests",
    ]);
    let out = run(cmd, "", Duration::from_secs(300));
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("6 passed, 0 failed"), "{stdout}");
    assert!(stdout.contains("ok    dice"), "{stdout}");
}

#[test]
fn a_wrong_reply_fails_with_a_readable_diff() {
    let (out, stdout) = scenario(&format!(
        r#"
plugin = "{}"
user = "ada"

[[step]]
command = "echo hello"
reply = "hello"

[[step]]
command = "echo Hello, Bob!"
reply = "Hello, Rob!"
"#,
        guest("echo")
    ));
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("step 2 (`echo Hello, Bob!`)"), "{stdout}");
    assert!(stdout.contains("- expected: Hello, Rob!"), "{stdout}");
    assert!(stdout.contains("+ got:      Hello, Bob!"), "{stdout}");
    assert!(stdout.contains("^ differs here"), "{stdout}");
    assert!(
        stdout.trim_end().ends_with("0 passed, 1 failed"),
        "{stdout}"
    );

    // Several lines: what is missing and what came instead, line by line.
    let (out, stdout) = scenario(&format!(
        r#"
plugin = "{}"
[[step]]
command = "countdown 2"
reply = "Liftoff!"
progress = ["3…", "2…", "1…"]
"#,
        guest("dice")
    ));
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("the progress updates differ:\n          (- expected, + got)\n          - 3…\n            2…\n            1…"),
        "{stdout}"
    );
}

#[test]
fn an_unanswered_request_fails_showing_the_request() {
    let (out, stdout) = scenario(&format!(
        r#"
plugin = "{}"
[grants]
http = ["https://api.example.com"]
secrets = {{ httpcheck-token = "s3cret-value" }}

[[http]]
url = "https://api.example.com/health"
response = "ok"

[[step]]
command = "httpcheck https://api.example.com/other?x=1"
"#,
        guest("httpcheck")
    ));
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("the plugin sent a request the scenario has no answer for:"),
        "{stdout}"
    );
    assert!(
        stdout.contains("GET https://api.example.com/other?x=1"),
        "{stdout}"
    );
    assert!(stdout.contains("user-agent: chatops-httpcheck"), "{stdout}");
    assert!(stdout.contains("authorization: (set)"), "{stdout}");
    assert!(!stdout.contains("s3cret-value"), "{stdout}");
    assert!(
        stdout.contains("url = \"https://api.example.com/other?x=1\""),
        "{stdout}"
    );
    assert!(stdout.contains("0 passed, 1 failed"), "{stdout}");
}

/// An installed binary, far from this checkout: `new` writes the SDK and the WIT into the
/// project, which builds with its documented command, passes its scenario test and runs in
/// the shell.
#[test]
fn chatops_new_from_a_copied_binary_builds_tests_and_runs() {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin/chatops");
    std::fs::create_dir_all(bin.parent().unwrap()).unwrap();
    std::fs::copy(env!("CARGO_BIN_EXE_chatops"), &bin).unwrap();
    let work = dir.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    let mut new = chatops_at(&bin);
    new.current_dir(&work).args(["new", "hello-bot"]);
    let out = run(new, "", Duration::from_secs(30));
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("chatops test"), "{stdout}");
    let project = work.join("hello-bot");
    let manifest = std::fs::read_to_string(project.join("Cargo.toml")).unwrap();
    assert!(
        manifest.contains(r#"chatops-sdk = { path = "chatops/sdk" }"#),
        "{manifest}"
    );
    assert!(
        !manifest.contains(&root().display().to_string()),
        "{manifest}"
    );
    assert!(project.join("chatops/wit/plugin.wit").is_file());
    assert!(project.join("tests/hello-bot.toml").is_file());

    let target = root().join("target/guest-new");
    let mut build = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    build
        .current_dir(&project)
        .args(["build", "--release", "--target", "wasm32-wasip2"])
        .env("CARGO_TARGET_DIR", &target)
        .env_remove("RUSTFLAGS");
    let out = run(build, "", Duration::from_secs(900));
    assert!(
        out.status.success(),
        "the new project does not build:\n{}",
        text(&out).1
    );
    let wasm = target.join("wasm32-wasip2/release/hello_bot.wasm");

    let mut test = chatops_at(&bin);
    test.current_dir(&project)
        .args(["test", "--plugin"])
        .arg(&wasm);
    let out = run(test, "", Duration::from_secs(120));
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("1 passed, 0 failed"), "{stdout}");

    let mut shell = chatops_at(&bin);
    shell
        .current_dir(&project)
        .args(["shell", "--plugin"])
        .arg(&wasm);
    let out = run(shell, "hello-bot Ada\n", Duration::from_secs(120));
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("Hello, Ada!"), "{stdout}");
}

#[test]
fn chatops_new_refuses_a_language_it_cannot_make() {
    let dir = tempfile::tempdir().unwrap();
    let mut new = chatops();
    new.current_dir(dir.path())
        .args(["new", "x", "--lang", "cobol"]);
    let out = run(new, "", Duration::from_secs(30));
    assert!(!out.status.success());
    assert!(text(&out).1.contains("`--lang cobol`"), "{}", text(&out).1);
}

/// A tool `.ci/run` installs under target/upstreams; missing, the test fails saying so.
fn upstream_tool(rel: &str, install: &str) -> PathBuf {
    let p = root().join("target/upstreams").join(rel);
    assert!(
        p.exists(),
        "{} is missing: run .ci/run, or {install}",
        p.display()
    );
    p
}

/// `chatops new --lang LANG`, built with its documented command, passes its scenario test
/// (whose last step crashes the plugin on purpose and expects the exception's message), and
/// chats in the shell, where a crash shows the user its message.
fn interpreted_template(lang: &str, build: impl FnOnce(&Path) -> Command, crash: &str) {
    let dir = tempfile::tempdir().unwrap();
    let name = format!("hello-{lang}");
    let mut new = chatops();
    new.current_dir(dir.path())
        .args(["new", &name, "--lang", lang]);
    let out = run(new, "", Duration::from_secs(30));
    assert!(out.status.success(), "{}", text(&out).1);
    let project = dir.path().join(&name);
    assert!(project.join("chatops/wit/plugin.wit").is_file());
    assert!(!project.join("chatops/sdk").exists());

    let started = Instant::now();
    let out = run(build(&project), "", Duration::from_secs(900));
    assert!(
        out.status.success(),
        "the {lang} template does not build:\n{}\n{}",
        text(&out).0,
        text(&out).1
    );
    let wasm = project.join(format!("{}.wasm", name.replace('-', "_")));
    eprintln!(
        "{lang}: built in {:.1} s, {} bytes",
        started.elapsed().as_secs_f64(),
        std::fs::metadata(&wasm).unwrap().len()
    );

    let mut test = chatops();
    test.current_dir(&project).arg("test");
    let out = run(test, "", Duration::from_secs(300));
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("1 passed, 0 failed"), "{stdout}");

    let mut shell = chatops();
    shell
        .current_dir(&project)
        .args(["shell", "--plugin"])
        .arg(&wasm);
    let out = run(
        shell,
        &format!("{name} Ada style=loud\n{name} crash\n"),
        Duration::from_secs(300),
    );
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("HELLO, ADA!"), "{stdout}");
    assert!(
        stdout.contains(crash),
        "the user does not see the message: {stdout}"
    );
}

#[test]
fn the_python_template_builds_tests_and_shows_exceptions() {
    let componentize = upstream_tool(
        "componentize-py-venv/bin/componentize-py",
        "python3 -m venv target/upstreams/componentize-py-venv && target/upstreams/componentize-py-venv/bin/pip install componentize-py==0.25.1",
    );
    interpreted_template(
        "python",
        |project| {
            // The README's command.
            let mut c = Command::new(&componentize);
            c.current_dir(project).args([
                "-d",
                "chatops/wit",
                "-w",
                "chatops:plugin/plugin@0.1.0",
                "--import-interface-name",
                "wasi:http/types@0.2.12=types",
                "componentize",
                "app",
                "-o",
                "hello_python.wasm",
            ]);
            c
        },
        "ValueError: asked to crash (at",
    );
}

#[test]
fn the_javascript_template_builds_tests_and_shows_throws() {
    let bin = upstream_tool(
        "componentize-js/node_modules/.bin",
        "npm install --prefix target/upstreams/componentize-js @bytecodealliance/componentize-js@0.23.0",
    );
    assert!(
        bin.join("componentize-js").exists(),
        "componentize-js is missing under {}",
        bin.display()
    );
    interpreted_template(
        "javascript",
        |project| {
            // The README's `npm run build`, with componentize-js from target/upstreams
            // instead of a fresh `npm install`.
            let path = format!(
                "{}:{}",
                bin.display(),
                std::env::var("PATH").unwrap_or_default()
            );
            let mut c = Command::new("npm");
            c.current_dir(project)
                .args(["run", "build"])
                .env("PATH", path);
            c
        },
        "Error: asked to crash",
    );
}
