//! What the tests of the `chatops` binary share: the binary with a clean environment, and
//! running it with a deadline.
#![allow(dead_code)] // each test file uses its own part

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The binary at `bin`, with no Discord token or config from the caller's environment.
pub fn chatops_at(bin: &Path) -> Command {
    let mut c = Command::new(bin);
    c.env_remove("DISCORD_TOKEN")
        .env_remove("CHATOPS_CONFIG")
        .env("RUST_LOG", "warn");
    c
}

/// This build's `chatops`.
pub fn chatops() -> Command {
    chatops_at(Path::new(env!("CARGO_BIN_EXE_chatops")))
}

/// Run with a deadline, so a hung child fails the test instead of hanging it.
pub fn run(cmd: Command, stdin: &str, limit: Duration) -> Output {
    run_bytes(cmd, stdin.as_bytes(), limit)
}

pub fn run_bytes(mut cmd: Command, stdin: &[u8], limit: Duration) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > limit {
            child.kill().ok();
            panic!("{cmd:?} did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// stdout and stderr as text.
pub fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}
