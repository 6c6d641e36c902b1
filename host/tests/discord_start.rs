//! `chatops run` with a Discord token, against a Discord that rejects the token or cannot
//! be reached: the host says what is wrong in its own words, stops when retrying cannot
//! help, and otherwise tries again with growing waits.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(60);

/// A stand-in for Discord's REST API on 127.0.0.1 that answers every request with 401,
/// as Discord does for a wrong token. Stops when dropped.
struct Rejecting {
    port: u16,
    requests: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Rejecting {
    fn start() -> Rejecting {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (n, halt) = (requests.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !halt.load(Ordering::SeqCst) {
                let Ok((mut conn, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                };
                conn.set_nonblocking(false).unwrap();
                conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && conn.read(&mut byte).unwrap_or(0) == 1 {
                    head.push(byte[0]);
                }
                n.fetch_add(1, Ordering::SeqCst);
                let body = r#"{"message": "401: Unauthorized", "code": 0}"#;
                let _ = write!(
                    conn,
                    "HTTP/1.1 401 Unauthorized\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        Rejecting {
            port,
            requests,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Rejecting {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A loopback port with nothing listening on it.
fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

fn config(dir: &Path, api_url: &str) -> std::path::PathBuf {
    let path = dir.join("chatops.toml");
    std::fs::write(&path, format!("[discord]\napi_url = \"{api_url}\"\n")).unwrap();
    path
}

/// `chatops run` with a token; stderr comes back line by line.
fn run(dir: &Path, config: &Path) -> (Child, mpsc::Receiver<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_chatops"))
        .current_dir(dir)
        .env_remove("CHATOPS_CONFIG")
        .env("DISCORD_TOKEN", "a-token-discord-does-not-know")
        .env("RUST_LOG", "info,wasmtime=warn,cranelift=warn")
        .env("NO_COLOR", "1")
        .arg("--config")
        .arg(config)
        .arg("run")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn chatops");
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (child, rx)
}

/// Kills the child (by its PID, through its handle) unless it has exited.
struct Reap(Child);
impl Drop for Reap {
    fn drop(&mut self) {
        if self.0.try_wait().ok().flatten().is_none() {
            let _ = self.0.kill();
        }
        let _ = self.0.wait();
    }
}

#[test]
fn a_token_discord_rejects_stops_the_host_with_the_fix() {
    let discord = Rejecting::start();
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &format!("http://127.0.0.1:{}", discord.port));
    let (child, lines) = run(dir.path(), &cfg);
    let mut child = Reap(child);
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.0.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > LIMIT {
            let seen: Vec<String> = lines.try_iter().collect();
            panic!(
                "chatops still running after {LIMIT:?} against a Discord that rejects its token:\n{}",
                seen.join("\n")
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stderr: Vec<String> = lines.iter().collect();
    let stderr = stderr.join("\n");
    assert!(!status.success(), "{stderr}");
    assert!(
        stderr.contains(
            "error: Discord rejected the bot token (401 Unauthorized: 401: Unauthorized)"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("Reset Token") && stderr.contains("DISCORD_TOKEN environment variable"),
        "the message names the fix: {stderr}"
    );
    assert_eq!(
        discord.requests.load(Ordering::SeqCst),
        1,
        "a rejected token is not tried again: {stderr}"
    );
    assert!(
        !stderr.contains("Shard"),
        "the gateway never started: {stderr}"
    );
}

#[test]
fn an_unreachable_discord_is_said_and_tried_again_with_growing_waits() {
    let port = closed_port();
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &format!("http://127.0.0.1:{port}"));
    let (child, lines) = run(dir.path(), &cfg);
    let mut child = Reap(child);
    let start = Instant::now();
    let mut seen = Vec::new();
    let mut waits = Vec::new();
    while waits.len() < 3 {
        let left = LIMIT.saturating_sub(start.elapsed());
        match lines.recv_timeout(left) {
            Ok(line) => {
                if let Some(rest) = line.split("trying again in ").nth(1) {
                    assert!(
                        line.contains(&format!("cannot reach Discord at http://127.0.0.1:{port}"))
                            && line.contains("Connection refused"),
                        "{line}"
                    );
                    waits.push(rest.split('s').next().unwrap().to_string());
                }
                seen.push(line);
            }
            Err(_) => panic!(
                "no third try within {LIMIT:?} (exited: {:?}):\n{}",
                child.0.try_wait(),
                seen.join("\n")
            ),
        }
    }
    assert!(
        child.0.try_wait().unwrap().is_none(),
        "an unreachable Discord is not a reason to stop"
    );
    assert_eq!(waits, ["1", "2", "4"], "{}", seen.join("\n"));
    let _ = child.0.kill();
    let _ = child.0.wait();
    seen.extend(lines.iter());
    let all = seen.join("\n");
    assert!(
        !all.contains("Shard") && !all.contains("gateway URL failed"),
        "only the host's own lines, no gateway retry stream: {all}"
    );
}
