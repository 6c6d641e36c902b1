//! Crash safety: the real `chatops` binary killed with SIGKILL while commands run, while
//! webhooks arrive, and while the admin CLI or a chat admin command edits the config. After
//! each kill the config parses, the database opens, every command that answered has its
//! audit record, and what the plugin stored before answering is still there.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

extern "C" {
    fn kill(pid: i32, sig: i32) -> i32;
}
const SIGKILL: i32 = 9;

/// A `chatops` process in its own process group, SIGKILLed (the whole group) when dropped,
/// so a failing test leaves nothing running.
struct Proc {
    child: Child,
    lines: Receiver<String>,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
    stdin: Option<std::process::ChildStdin>,
}

impl Proc {
    fn start(dir: &Path, args: &[&str]) -> Proc {
        let mut child = Command::new(env!("CARGO_BIN_EXE_chatops"))
            .args(args)
            .current_dir(dir)
            .env_remove("DISCORD_TOKEN")
            .env_remove("CHATOPS_CONFIG")
            .env("RUST_LOG", "warn")
            .process_group(0)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn chatops");
        let (tx, lines) = channel();
        let stdout = Arc::new(Mutex::new(String::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let out = BufReader::new(child.stdout.take().unwrap());
        let all = stdout.clone();
        std::thread::spawn(move || {
            for line in out.lines().map_while(Result::ok) {
                all.lock().unwrap().push_str(&format!("{line}\n"));
                let _ = tx.send(line);
            }
        });
        let mut err = child.stderr.take().unwrap();
        let all = stderr.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err.read(&mut buf) {
                if n == 0 {
                    break;
                }
                all.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let stdin = child.stdin.take();
        Proc {
            child,
            lines,
            stdout,
            stderr,
            stdin,
        }
    }

    /// The host on `config`: with no Discord token, the shell reading our pipe, as user "you".
    fn host(dir: &Path) -> Proc {
        Proc::start(dir, &["run", "--config", "chatops.toml"])
    }

    fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin still open");
        stdin.write_all(format!("{line}\n").as_bytes()).unwrap();
        stdin.flush().unwrap();
    }

    fn output(&self) -> String {
        format!(
            "stdout:\n{}\nstderr:\n{}",
            self.stdout.lock().unwrap(),
            self.stderr.lock().unwrap()
        )
    }

    /// The next answer line that `pick` accepts (posts to channels, `[#…]`, are skipped).
    fn answer<T>(&self, limit: Duration, mut pick: impl FnMut(&str) -> Option<T>) -> T {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.starts_with("[#") => {}
                Ok(line) => {
                    if let Some(t) = pick(&line) {
                        return t;
                    }
                }
                Err(_) => panic!("no expected answer within {limit:?}\n{}", self.output()),
            }
        }
    }

    fn sigkill(&mut self) {
        let pid = self.child.id() as i32;
        // Only while the child is unreaped: once reaped, its PID (and group id) may be
        // another process group's, and kill(-pid) would kill that (a shell, the CI runner).
        if let Ok(None) = self.child.try_wait() {
            // SAFETY: kill(2) on the process group this test started, its leader unreaped.
            unsafe { kill(-pid, SIGKILL) };
        }
        let _ = self.child.wait();
    }

    /// Close stdin (the shell ends at EOF) and wait, bounded, for the exit.
    fn finish(mut self, limit: Duration) -> String {
        drop(self.stdin.take());
        let deadline = Instant::now() + limit;
        while self.child.try_wait().unwrap().is_none() {
            assert!(
                Instant::now() < deadline,
                "chatops did not end within {limit:?}\n{}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        // let the reader threads drain
        std::thread::sleep(Duration::from_millis(100));
        self.output()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            self.sigkill();
        }
    }
}

/// Run the CLI to its end (bounded); (success, stdout, stderr).
fn cli(dir: &Path, args: &[&str]) -> (bool, String, String) {
    let p = Proc::start(dir, args);
    let mut p = p;
    drop(p.stdin.take());
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(s) = p.child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "chatops {args:?} hung");
        std::thread::sleep(Duration::from_millis(10));
    };
    std::thread::sleep(Duration::from_millis(50));
    let out = p.stdout.lock().unwrap().clone();
    let err = p.stderr.lock().unwrap().clone();
    (status.success(), out, err)
}

/// A bundled plugin's build, written beside the config; its `[plugins.NAME]` section.
fn plugin(dir: &Path, name: &str) -> String {
    let (_, bytes) = chatops::bundled::BUNDLED
        .iter()
        .find(|(n, _)| *n == name)
        .expect("a bundled plugin");
    std::fs::create_dir_all(dir.join("plugins")).unwrap();
    std::fs::write(dir.join(format!("plugins/{name}.wasm")), bytes).unwrap();
    format!(
        "[plugins.{name}]\npath = \"plugins/{name}.wasm\"\nsha256 = \"{}\"\n",
        chatops::runtime::sha256_hex(bytes)
    )
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The config file parses, and as the host's own model, with both plugins still pinned.
fn assert_config_intact(dir: &Path, when: &str) -> chatops::config::Config {
    let text = std::fs::read_to_string(dir.join("chatops.toml")).unwrap();
    let config: chatops::config::Config = toml::from_str(&text)
        .unwrap_or_else(|e| panic!("{when}: the config is not whole ({e}):\n{text}"));
    assert!(
        config.plugins.contains_key("incident") && config.plugins["incident"].sha256.len() == 64,
        "{when}: the config lost its plugin:\n{text}"
    );
    config
}

/// Every audit record, through `chatops audit --json` (which opens the database as an
/// admin would after the crash), and the database's own integrity check.
fn audit_trail(dir: &Path) -> Vec<serde_json::Value> {
    let db = dir.join("chatops.db");
    let conn =
        rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE)
            .expect("the database opens");
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    drop(conn);
    let (ok, out, err) = cli(
        dir,
        &[
            "--config",
            "chatops.toml",
            "audit",
            "--json",
            "--limit",
            "100000",
        ],
    );
    assert!(ok, "chatops audit failed after the crash: {err}");
    out.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// The id and title in incident's answer to `open`: "🚨 Opened **INC-3** · …: crash 3."
fn opened(line: &str) -> Option<(u64, String)> {
    let rest = line.split("Opened **INC-").nth(1)?;
    let (n, rest) = rest.split_once("**")?;
    let title = rest.split_once(": ")?.1.split('.').next()?.to_string();
    Some((n.parse().ok()?, title))
}

const TIME: Duration = Duration::from_secs(90);

fn incident_config(dir: &Path, extra: &str) {
    let text = format!(
        "[host]\nstore = \"chatops.db\"\nadmins = {{ users = [\"you\"] }}\n{extra}\n{}[plugins.incident.grants]\nkv = true\npost = [\"ops\"]\n[plugins.incident.config]\nchannel = \"ops\"\n",
        plugin(dir, "incident")
    );
    std::fs::write(dir.join("chatops.toml"), text).unwrap();
}

/// Killed in the middle of a stream of commands, and again while a slow one waits on its
/// upstream: every command whose answer was read has its audit record, and the incidents
/// it stored (and the id counter) are all there after the restart.
#[test]
fn a_host_killed_while_commands_run_keeps_every_answered_command() {
    let dir = tempfile::tempdir().unwrap();
    // an upstream that accepts and never answers: httpcheck waits on it
    let upstream = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = upstream.local_addr().unwrap().port();
    let accepted = Arc::new(AtomicBool::new(false));
    {
        let accepted = accepted.clone();
        std::thread::spawn(move || {
            let mut held = vec![];
            for s in upstream.incoming().flatten() {
                accepted.store(true, Ordering::SeqCst);
                held.push(s);
            }
        });
    }
    let httpcheck = format!(
        "{}[plugins.httpcheck.grants]\nhttp = [\"http://127.0.0.1:{port}\"]\n",
        plugin(dir.path(), "httpcheck")
    );
    incident_config(dir.path(), "");
    let text = std::fs::read_to_string(dir.path().join("chatops.toml")).unwrap();
    std::fs::write(dir.path().join("chatops.toml"), text + &httpcheck).unwrap();

    let mut answered: Vec<(u64, String)> = vec![];
    // 1: a stream of 40 opens, killed as soon as 8 answers were read
    let mut host = Proc::host(dir.path());
    for i in 0..40 {
        host.send(&format!("incident open \"crash {i}\" sev3"));
    }
    for _ in 0..8 {
        answered.push(host.answer(TIME, opened));
    }
    host.sigkill();
    assert_config_intact(dir.path(), "after the first kill");
    // what was answered sits in the write-ahead log the killed host left: the next open
    // must replay it
    let wal = std::fs::metadata(dir.path().join("chatops.db-wal")).map_or(0, |m| m.len());
    assert!(wal > 0, "the kill left no write-ahead log to recover");

    // 2: three more, then a command still running (waiting on the upstream) at the kill
    let mut host = Proc::host(dir.path());
    for i in 0..3 {
        host.send(&format!("incident open \"later {i}\" sev2"));
    }
    for _ in 0..3 {
        answered.push(host.answer(TIME, opened));
    }
    host.send(&format!("httpcheck http://127.0.0.1:{port}/slow"));
    let deadline = Instant::now() + TIME;
    while !accepted.load(Ordering::SeqCst) {
        assert!(
            Instant::now() < deadline,
            "httpcheck never ran\n{}",
            host.output()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    host.sigkill();
    assert_config_intact(dir.path(), "after the second kill");

    let trail = audit_trail(dir.path());
    for (id, title) in &answered {
        assert!(
            trail.iter().any(|e| e["plugin"] == "incident"
                && e["outcome"] == "ok"
                && e["args"]
                    .as_str()
                    .unwrap_or("")
                    .contains(&format!("\"{title}\""))),
            "INC-{id} ({title}) answered but has no audit record: {trail:#?}"
        );
    }
    // what the plugin stored: each answered incident, and the counter past all of them
    let mut host = Proc::host(dir.path());
    for (id, _) in &answered {
        host.send(&format!("incident show INC-{id}"));
    }
    host.send("incident open \"after the crashes\" sev4");
    let out = host.finish(TIME);
    for (id, title) in &answered {
        assert!(
            out.contains(title.as_str()),
            "INC-{id} ({title}) was lost:\n{out}"
        );
    }
    let next = out
        .lines()
        .find_map(opened)
        .unwrap_or_else(|| panic!("no answer to the last open:\n{out}"));
    let max = answered.iter().map(|(id, _)| *id).max().unwrap();
    assert!(
        next.0 > max,
        "the id counter went back: INC-{} after INC-{max}",
        next.0
    );
}

/// A POST to the alerts hook with one alert; its HTTP status (None: no answer).
fn post_alert(port: u16, token: &str, fingerprint: &str) -> Option<u16> {
    let body = format!(
        r#"{{"version":"4","status":"firing","receiver":"chatops","groupLabels":{{}},"commonLabels":{{}},"externalURL":"http://am","alerts":[{{"status":"firing","labels":{{"alertname":"{fingerprint}","severity":"page"}},"annotations":{{"summary":"crash test"}},"startsAt":"2026-11-27T10:00:00Z","endsAt":"0001-01-01T00:00:00Z","generatorURL":"","fingerprint":"{fingerprint}"}}]}}"#
    );
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(20))).ok()?;
    s.set_write_timeout(Some(Duration::from_secs(20))).ok()?;
    let req = format!(
        "POST /hooks/alerts/alertmanager HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).ok()?;
    let mut head = String::new();
    BufReader::new(s).read_line(&mut head).ok()?;
    head.split_whitespace().nth(1)?.parse().ok()
}

fn wait_healthy(port: u16, host: &Proc) {
    let deadline = Instant::now() + TIME;
    loop {
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
            let _ = s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
            let mut head = String::new();
            let _ = BufReader::new(s).read_line(&mut head);
            if head.contains(" 200") {
                return;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the webhook listener never came up\n{}",
            host.output()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Killed in the middle of a stream of authenticated webhook deliveries from four senders:
/// every delivery that got a 2xx has its audit record and its alert in the plugin's store.
#[test]
fn a_host_killed_while_webhooks_arrive_keeps_every_accepted_delivery() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let token = "a-crash-test-token-0123456789";
    let secrets = dir.path().join("secrets.toml");
    std::fs::write(&secrets, format!("am-token = \"{token}\"\n")).unwrap();
    std::fs::set_permissions(&secrets, std::fs::Permissions::from_mode(0o600)).unwrap();
    let alerts = plugin(dir.path(), "alerts");
    incident_config(
        dir.path(),
        &format!("[secrets]\nfile = \"secrets.toml\"\n[webhooks]\nlisten = \"127.0.0.1:{port}\"\nper_minute = 100000\n"),
    );
    let text = std::fs::read_to_string(dir.path().join("chatops.toml")).unwrap();
    std::fs::write(
        dir.path().join("chatops.toml"),
        text + &alerts + "[plugins.alerts.grants]\nkv = true\npost = [\"ops\"]\n[plugins.alerts.grants.webhooks]\nalertmanager = { bearer = \"am-token\" }\n[plugins.alerts.config]\nchannel = \"ops\"\n",
    )
    .unwrap();

    let mut host = Proc::host(dir.path());
    wait_healthy(port, &host);
    let accepted = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let senders: Vec<_> = (0..4)
        .map(|t| {
            let (accepted, stop) = (accepted.clone(), stop.clone());
            std::thread::spawn(move || {
                for i in 0..2000 {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let fp = format!("crash{t}x{i}");
                    match post_alert(port, token, &fp) {
                        Some(s) if (200..300).contains(&s) => accepted.lock().unwrap().push(fp),
                        Some(s) => panic!("delivery {fp} got {s}"),
                        None => break, // the host is gone
                    }
                }
            })
        })
        .collect();
    let deadline = Instant::now() + TIME;
    while accepted.lock().unwrap().len() < 30 {
        assert!(
            Instant::now() < deadline,
            "deliveries stalled\n{}",
            host.output()
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    host.sigkill();
    stop.store(true, Ordering::SeqCst);
    for s in senders {
        s.join().expect("a sender failed");
    }
    let accepted = accepted.lock().unwrap().clone();
    assert_config_intact(dir.path(), "after the kill");

    let trail = audit_trail(dir.path());
    let ok = trail
        .iter()
        .filter(|e| e["plugin"] == "alerts" && e["outcome"] == "ok")
        .count();
    assert!(
        ok >= accepted.len(),
        "{} deliveries got 2xx but only {ok} have an audit record",
        accepted.len()
    );
    let conn = rusqlite::Connection::open_with_flags(
        dir.path().join("chatops.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    let keys: Vec<String> = conn
        .prepare("SELECT key FROM kv WHERE plugin = 'alerts'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    drop(conn);
    for fp in &accepted {
        assert!(
            keys.contains(&format!("open/{fp}")),
            "alert {fp} was accepted (2xx) but not kept"
        );
    }
    // the host starts again on the same files; a sender retrying from the moment the port
    // opens gets its first answer as a success (not a 500 because the chat is not ready)
    let host = Proc::host(dir.path());
    let deadline = Instant::now() + TIME;
    let status = loop {
        if let Some(s) = post_alert(port, token, "after") {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "the host never listened again\n{}",
            host.output()
        );
        std::thread::sleep(Duration::from_millis(2));
    };
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        status,
        200,
        "the first delivery after the restart\n{}",
        host.output()
    );
    drop(host);
}

/// A tiny deterministic generator for kill delays (the seed is printed).
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// The admin CLI (`grant`, `config`, `revoke`, each a process of its own) killed at random
/// moments while the host runs and an admin edits the same config from the chat, and the
/// host killed in the middle of the chat's edits: the config is whole after every kill, and
/// every edit that was reported done is in it.
#[test]
fn killed_editors_never_leave_a_half_config_or_lose_a_reported_edit() {
    let dir = tempfile::tempdir().unwrap();
    // a big config, so a write takes long enough to be interrupted
    let padding: String = (0..400)
        .map(|i| format!("# padding line {i}: the config is long so writes take a while\n"))
        .collect();
    incident_config(dir.path(), &padding);
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    println!("kill delays from seed {seed}");
    let mut rng = Rng(seed);

    // chat admin edits, in a thread of their own; the host is killed after some answers
    let chat_granted = Arc::new(Mutex::new(Vec::<String>::new()));
    let chat = {
        let dir = dir.path().to_path_buf();
        let granted = chat_granted.clone();
        std::thread::spawn(move || {
            for round in 0..3 {
                let mut host = Proc::host(&dir);
                for i in 0..15 {
                    host.send(&format!("chatops grant incident secret chat-{round}-{i}"));
                }
                for i in 0..(4 + round * 3) {
                    let name = format!("chat-{round}-{i}");
                    host.answer(TIME, |l| {
                        assert!(!l.starts_with('✗'), "a chat edit failed: {l}");
                        l.contains(&format!("Granted secret {name} to"))
                            .then_some(())
                    });
                    granted.lock().unwrap().push(name);
                }
                host.sigkill();
                assert_config_intact(&dir, "after the host was killed in a chat edit");
            }
        })
    };

    // CLI edits: http grants c0, c1, … (revoking the one before), and a setting, each
    // killed after a random delay or left to finish
    let mut http: std::collections::BTreeMap<String, Option<bool>> = Default::default();
    let mut kills = 0;
    for i in 0..60 {
        let url = format!("https://c{i}.example.com");
        // the grant made two steps before
        let before = format!("https://c{}.example.com", i.max(2) - 2);
        let value = format!("v{i}");
        let (args, effect): (Vec<&str>, Option<(&String, bool)>) = match i % 3 {
            0 => (vec!["grant", "incident", "http", &url], Some((&url, true))),
            1 => (vec!["config", "incident", "note", &value], None),
            _ => (
                vec!["revoke", "incident", "http", &before],
                Some((&before, false)),
            ),
        };
        let mut full = vec!["--config", "chatops.toml"];
        full.extend(&args);
        let mut p = Proc::start(dir.path(), &full);
        drop(p.stdin.take());
        let delay = rng.below(40);
        let deadline = Instant::now() + Duration::from_millis(delay);
        while Instant::now() < deadline && p.child.try_wait().unwrap().is_none() {
            std::thread::sleep(Duration::from_millis(1));
        }
        let finished = match p.child.try_wait().unwrap() {
            Some(status) => Some(status),
            None if i % 2 == 0 => {
                p.sigkill();
                kills += 1;
                None
            }
            None => {
                let deadline = Instant::now() + TIME;
                loop {
                    if let Some(s) = p.child.try_wait().unwrap() {
                        break Some(s);
                    }
                    assert!(Instant::now() < deadline, "chatops {args:?} hung");
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
        };
        if let Some(status) = finished {
            std::thread::sleep(Duration::from_millis(20));
            assert!(status.success(), "chatops {args:?} failed:\n{}", p.output());
        }
        if let Some((u, granted)) = effect {
            // a killed edit may or may not have landed; a finished one did
            http.insert(u.clone(), finished.map(|_| granted));
        }
        assert_config_intact(dir.path(), &format!("after chatops {args:?}"));
    }
    chat.join().expect("the chat editor failed");
    let strays = std::fs::read_dir(dir.path())
        .unwrap()
        .filter(|e| {
            let name = e.as_ref().unwrap().file_name();
            name.to_string_lossy().ends_with(".tmp")
        })
        .count();
    println!("{kills} CLI processes killed mid-edit; {strays} temp file(s) left by them");

    // the next edit clears what the killed ones left
    let (ok, _, err) = cli(
        dir.path(),
        &[
            "--config",
            "chatops.toml",
            "config",
            "incident",
            "note",
            "end",
        ],
    );
    assert!(ok, "{err}");
    let strays: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(strays.is_empty(), "temp files left: {strays:?}");
    let config = assert_config_intact(dir.path(), "at the end");
    let grants = &config.plugins["incident"].grants;
    for (url, want) in http {
        if let Some(want) = want {
            assert_eq!(
                grants.http.contains(&url),
                want,
                "the finished edit of {url} was lost"
            );
        }
    }
    for name in chat_granted.lock().unwrap().iter() {
        assert!(
            grants.secrets.contains(name),
            "the chat's grant of {name} was answered but lost"
        );
    }
    // and the host starts on it
    let mut host = Proc::host(dir.path());
    host.send("incident open \"still serving\" sev4");
    host.answer(TIME, opened);
}
