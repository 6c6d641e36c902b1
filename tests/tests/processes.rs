//! Two real `chatops run` processes on one PostgreSQL and one fake Discord, four shards
//! between them (process A runs shards 0 and 1, process B shards 2 and 3), one guild on
//! each shard. Each process connects with a token of its own, so every gateway Identify and
//! every REST call the fake records says which process made it.
//!
//! Proven here: each process identifies its shards and only A (shard 0) registers the slash
//! commands; a command in each guild is answered once, by the process running the guild's
//! shard; one `chatops audit` reads both processes' commands; the schedule fires once per
//! second across both; a confirmation shown by the lease holder is completed after that
//! process is SIGKILLed and restarted; the kill hands the schedule's lease to the other
//! process within `lease_seconds`; `chatops status` shows the processes, their shards and
//! the lease; a SIGTERM gives the lease up and records the process as stopped.

use chatops_tests::discord_fake::FakeDiscord;
use chatops_tests::postgres::{Postgres, PASSWORD};
use chatops_tests::{kill_group, plugin_bytes};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

extern "C" {
    fn kill(pid: i32, sig: i32) -> i32;
}

const BIN: &str = env!("CARGO_BIN_EXE_chatops-host");
const LEASE_SECONDS: u64 = 2;
const SHARDS: u64 = 4;
/// The whole test; the processes are killed when it runs out.
const DEADLINE: Duration = Duration::from_secs(170);
/// One step (a reply, a handover, a restart).
const STEP: Duration = Duration::from_secs(40);
/// The channel the schedule posts its summary to.
const SUMMARY_CHANNEL: u64 = 1_200_000_000_000_000_100;
const ALICE: u64 = 1_300_000_000_000_000_001;

/// A guild on shard `k` of 4: Discord routes a guild to shard `(id >> 22) % shards`.
fn guild(k: u64) -> u64 {
    (((1 << 38) + k) << 22) | 0x2a
}

fn channel(k: u64) -> u64 {
    1_200_000_000_000_000_000 + k
}

/// One `chatops run` process: its config directory, token and output.
struct Host {
    name: &'static str,
    dir: PathBuf,
    token: String,
    child: Child,
    log: Arc<Mutex<String>>,
}

impl Host {
    /// Writes the config for `shards` ("0..2") in `dir` and starts the process.
    fn start(name: &'static str, dir: &Path, url: &str, fake: &FakeDiscord, shards: &str) -> Host {
        write_config(dir, url, fake, shards);
        let token = format!("fake-token-of-process-{name}");
        let mut child = Command::new(BIN)
            .args(["run", "--config", "chatops.toml"])
            .current_dir(dir)
            .env_remove("CHATOPS_CONFIG")
            .env("DISCORD_TOKEN", &token)
            .env("CHATOPS_PROCESSES_STORE_PASSWORD", PASSWORD)
            .env("RUST_LOG", "warn,chatops=info")
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {BIN}: {e}"));
        let log = Arc::new(Mutex::new(String::new()));
        for pipe in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let log = log.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    log.lock().unwrap().push_str(&format!("{}\n", plain(&line)));
                }
            });
        }
        Host {
            name,
            dir: dir.to_path_buf(),
            token,
            child,
            log,
        }
    }

    fn auth(&self) -> String {
        format!("Bot {}", self.token)
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn output(&self) -> String {
        format!(
            "--- process {} (pid {}):\n{}",
            self.name,
            self.pid(),
            self.log.lock().unwrap()
        )
    }

    /// SIGTERM, as `docker stop` or systemd send; waits for the exit (reaped).
    fn terminate(&mut self) -> std::process::ExitStatus {
        if let Ok(None) = self.child.try_wait() {
            // SAFETY: kill(2) on our own child, not yet reaped, so its PID is still ours.
            unsafe { kill(self.child.id() as i32, 15) };
        }
        let deadline = Instant::now() + STEP;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "no exit within {STEP:?} of SIGTERM\n{}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL, as a crash or an OOM kill would; reaped, so its PID is never signalled again.
    fn kill(&mut self) {
        kill_group(&mut self.child);
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        kill_group(&mut self.child);
    }
}

/// `line` without terminal colour codes (`ESC [ … m`).
fn plain(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn write_config(dir: &Path, url: &str, fake: &FakeDiscord, shards: &str) {
    let mut pins = String::new();
    for name in ["echo", "misbehave", "alerts"] {
        let bytes = plugin_bytes(name);
        std::fs::write(dir.join(format!("{name}.wasm")), &bytes).unwrap();
        pins.push_str(&format!(
            "[plugins.{name}]\npath = \"{name}.wasm\"\nsha256 = \"{}\"\n",
            chatops::runtime::sha256_hex(&bytes)
        ));
    }
    let guilds: Vec<String> = (0..SHARDS).map(|k| format!("\"{}\"", guild(k))).collect();
    std::fs::write(
        dir.join("chatops.toml"),
        format!(
            "[host]\nstore = \"{url}\"\nlease_seconds = {LEASE_SECONDS}\n\
             [secrets]\nenv_prefix = \"CHATOPS_PROCESSES_\"\n\
             [discord]\napi_url = \"{}\"\nprefix_commands = false\nguilds = [{}]\n\
             shards = {{ total = {SHARDS}, ids = \"{shards}\" }}\n\
             {pins}\
             [plugins.alerts.grants]\nkv = true\npost = [\"{SUMMARY_CHANNEL}\"]\n\
             [plugins.alerts.schedules]\nweekday-summary = \"* * * * * *\"\n\
             [plugins.alerts.config]\nchannel = \"{SUMMARY_CHANNEL}\"\nurl = \"http://127.0.0.1:9\"\n",
            fake.url(),
            guilds.join(", "),
        ),
    )
    .unwrap();
}

/// Runs `chatops ARGS --config chatops.toml` in `dir` with a deadline.
fn chatops(dir: &Path, args: &[&str]) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .args(["--config", "chatops.toml"])
        .current_dir(dir)
        .env_remove("DISCORD_TOKEN")
        .env("CHATOPS_PROCESSES_STORE_PASSWORD", PASSWORD)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > STEP {
            kill_group(&mut child);
            panic!("`chatops {args:?}` did not finish within {STEP:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "`chatops {args:?}` failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// `chatops audit --json`: one query of the shared store, newest first.
fn audit(dir: &Path) -> Vec<Value> {
    let out = chatops(dir, &["audit", "--json", "--limit", "1000"]);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn status(dir: &Path) -> Value {
    serde_json::from_slice(&chatops(dir, &["status", "--json"]).stdout).unwrap()
}

/// When each scheduled summary fired, oldest first (ms since the epoch).
fn summaries(trail: &[Value]) -> Vec<i64> {
    let mut at: Vec<i64> = trail
        .iter()
        .filter(|e| {
            e["actor"]
                .as_str()
                .is_some_and(|a| a.starts_with("[schedule weekday-summary]"))
        })
        .map(|e| e["unix_ms"].as_i64().unwrap())
        .collect();
    at.sort();
    at
}

/// The shard ids identified with each token, in order.
fn identified(fake: &FakeDiscord, auth: &str) -> Vec<u64> {
    fake.gateway_received()
        .iter()
        .filter(|f| f["op"] == 2 && f["d"]["token"] == auth)
        .map(|f| {
            assert_eq!(f["d"]["shard"][1], SHARDS, "{f}");
            f["d"]["shard"][0].as_u64().unwrap()
        })
        .collect()
}

async fn wait_for(what: &str, hosts: &[&Host], mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + STEP;
    while !done() {
        if Instant::now() > deadline {
            let logs: Vec<String> = hosts.iter().map(|h| h.output()).collect();
            panic!("{what}: not within {STEP:?}\n{}", logs.join("\n"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Sends a slash command in guild `k`'s channel; returns the interaction's (id, token).
async fn slash(fake: &FakeDiscord, k: u64, name: &str, options: Value) -> (String, String) {
    let ev = fake.slash_command_in(guild(k), channel(k), name, options, ALICE, &[]);
    let ids = (
        ev["id"].as_str().unwrap().to_string(),
        ev["token"].as_str().unwrap().to_string(),
    );
    assert_eq!(
        fake.dispatch_in_guild(guild(k), "INTERACTION_CREATE", ev)
            .await,
        Some(k),
        "guild {k} is on shard {k}, and a connection runs it"
    );
    ids
}

fn callbacks(
    fake: &FakeDiscord,
    id: &str,
    token: &str,
) -> Vec<chatops_tests::discord_fake::Recorded> {
    let path = format!("/api/v10/interactions/{id}/{token}/callback");
    fake.requests()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path == path)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_with_two_shards_each_share_one_postgres() {
    let pg = Postgres::start();
    let url = pg.database("processes");
    let fake = FakeDiscord::start().await;
    fake.set_guilds(&(0..SHARDS).map(guild).collect::<Vec<_>>());
    let (a_dir, b_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut a = Host::start("A", a_dir.path(), &url, &fake, "0..2");
    let mut b = Host::start("B", b_dir.path(), &url, &fake, "2..4");
    tokio::time::timeout(DEADLINE, scenario(&fake, &url, &mut a, &mut b))
        .await
        .unwrap_or_else(|_| {
            panic!(
                "the test ran out of {DEADLINE:?}\n{}\n{}",
                a.output(),
                b.output()
            )
        });
    drop((a, b));
    drop(pg);
}

async fn scenario(fake: &FakeDiscord, url: &str, a: &mut Host, b: &mut Host) {
    // Each process identifies the shards of its range, with its own token.
    wait_for("all four shards identify", &[a, b], || {
        identified(fake, &a.auth()).len() == 2 && identified(fake, &b.auth()).len() == 2
    })
    .await;
    assert_eq!(identified(fake, &a.auth()), [0, 1]);
    assert_eq!(identified(fake, &b.auth()), [2, 3]);

    // Only the process running shard 0 registers the commands, once in each guild.
    let registrations = || -> Vec<(String, String)> {
        fake.requests()
            .into_iter()
            .filter(|r| r.method == "PUT" && r.path.ends_with("/commands"))
            .map(|r| (r.path, r.authorization.unwrap_or_default()))
            .collect()
    };
    wait_for("commands registered in the four guilds", &[a, b], || {
        registrations().len() >= SHARDS as usize
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let regs = registrations();
    assert_eq!(regs.len(), SHARDS as usize, "{regs:?}");
    for k in 0..SHARDS {
        let path = format!(
            "/api/v10/applications/{}/guilds/{}/commands",
            FakeDiscord::APP_ID,
            guild(k)
        );
        assert!(
            regs.contains(&(path.clone(), a.auth())),
            "{path} by A: {regs:?}"
        );
    }

    // A command in each guild is answered once, by the process running its shard.
    let mut asked = Vec::new();
    for k in 0..SHARDS {
        let text = json!([{"name": "text", "type": 3, "value": format!("hello guild {k}")}]);
        asked.push((k, slash(fake, k, "echo", text).await));
    }
    for (k, (id, token)) in &asked {
        wait_for(&format!("the echo in guild {k} answered"), &[a, b], || {
            !callbacks(fake, id, token).is_empty()
        })
        .await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    for (k, (id, token)) in &asked {
        let answers = callbacks(fake, id, token);
        assert_eq!(answers.len(), 1, "guild {k}: answered once");
        let by = if *k < 2 { a.auth() } else { b.auth() };
        assert_eq!(answers[0].authorization.as_deref(), Some(by.as_str()));
        assert_eq!(
            answers[0].body["data"]["content"],
            format!("hello guild {k}")
        );
    }

    // One query of the shared store reads both processes' commands, each in its guild.
    let trail = audit(&a.dir);
    for k in 0..SHARDS {
        let found = trail.iter().any(|e| {
            e["plugin"] == "echo"
                && e["guild"] == guild(k).to_string()
                && e["args"] == format!("echo text=\"hello guild {k}\"")
        });
        assert!(found, "guild {k}'s echo in the audit trail: {trail:#?}");
    }

    // The schedule (due every second) fires once per second across both processes.
    wait_for("six summaries", &[a, b], || {
        summaries(&audit(&a.dir)).len() >= 6
    })
    .await;
    let fired = summaries(&audit(&a.dir));
    for w in fired.windows(2) {
        assert!(w[1] - w[0] >= 500, "an occurrence fired twice: {fired:?}");
    }
    let s = status(&a.dir);
    let leases = s["leases"].as_array().unwrap();
    assert_eq!(leases.len(), 1, "{s}");
    assert_eq!(leases[0]["name"], "schedule alerts/weekday-summary", "{s}");
    let holder = leases[0]["holder"].as_str().unwrap().to_string();
    let a_holds = holder.ends_with(&format!(":{}", a.pid()));
    assert!(
        a_holds || holder.ends_with(&format!(":{}", b.pid())),
        "held by A ({}) or B ({}): {s}",
        a.pid(),
        b.pid()
    );
    let (holder, other) = if a_holds { (a, b) } else { (b, a) };
    let shard = if a_holds { 0 } else { 2 };

    // The holder asks for a confirmation in a guild of its shard...
    let (id, token) = slash(fake, shard, "wipe", json!([])).await;
    wait_for("the confirmation shown", &[holder], || {
        !callbacks(fake, &id, &token).is_empty()
    })
    .await;
    let shown = &callbacks(fake, &id, &token)[0];
    assert_eq!(shown.authorization.as_deref(), Some(holder.auth().as_str()));
    let confirm = shown.body["data"]["components"][0]["components"][0]["custom_id"]
        .as_str()
        .unwrap_or_else(|| panic!("no confirm button: {}", shown.body))
        .to_string();
    assert!(confirm.starts_with("chatops:confirm:"), "{confirm}");
    let message = fake
        .original_message(&token)
        .expect("the answer is a message");

    // ...and is killed: the other process takes the schedule over within the lease time.
    let before = summaries(&audit(&other.dir)).len();
    let old_pid = holder.pid();
    holder.kill();
    let killed = Instant::now();
    let killed_ms = chatops::store::now_ms();
    wait_for("the other process fires", &[other], || {
        let fired = summaries(&audit(&other.dir));
        fired.len() > before && fired.last().is_some_and(|t| *t > killed_ms)
    })
    .await;
    let handover = killed.elapsed();
    println!("lease handed over {handover:?} after the SIGKILL (lease {LEASE_SECONDS}s)");
    assert!(
        handover < Duration::from_secs(LEASE_SECONDS + 3),
        "handed over after {handover:?}, lease {LEASE_SECONDS}s"
    );
    let s = status(&other.dir);
    assert!(
        s["leases"][0]["holder"]
            .as_str()
            .unwrap()
            .ends_with(&format!(":{}", other.pid())),
        "{s}"
    );

    // Restarted, the killed process runs its shards again, and the confirmation it showed
    // before it died is completed when the button is pressed.
    let identifies = identified(fake, &holder.auth()).len();
    let dir = holder.dir.clone();
    let range = if a_holds { "0..2" } else { "2..4" };
    *holder = Host::start(holder.name, &dir, url, fake, range);
    wait_for(
        "the restarted process identifies its shards",
        &[holder],
        || identified(fake, &holder.auth()).len() >= identifies + 2,
    )
    .await;
    let press = fake.button_press(&confirm, ALICE, message);
    assert_eq!(press["guild_id"], guild(shard).to_string());
    let (pid, ptoken) = (
        press["id"].as_str().unwrap().to_string(),
        press["token"].as_str().unwrap().to_string(),
    );
    assert_eq!(
        fake.dispatch_in_guild(guild(shard), "INTERACTION_CREATE", press)
            .await,
        Some(shard)
    );
    wait_for("the confirmed command runs", &[holder], || {
        fake.requests()
            .iter()
            .any(|r| r.body.to_string().contains("wiped everything"))
    })
    .await;
    let ran: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.body.to_string().contains("wiped everything"))
        .collect();
    assert_eq!(ran.len(), 1, "ran once");
    assert_eq!(
        ran[0].authorization.as_deref(),
        Some(holder.auth().as_str())
    );
    assert_eq!(callbacks(fake, &pid, &ptoken).len(), 1);

    // `chatops status`: the three processes that reported (the killed one, its restart,
    // the other), their shards, and the lease with the survivor.
    let s = status(&dir);
    let processes = s["processes"].as_array().unwrap();
    let by_pid = |pid: u32| {
        processes
            .iter()
            .find(|p| p["pid"].as_i64() == Some(pid as i64))
            .unwrap_or_else(|| panic!("process {pid} in {s}"))
    };
    let other_range = if a_holds { "2..4" } else { "0..2" };
    assert_eq!(
        by_pid(old_pid)["shards"],
        format!("{range} of {SHARDS}"),
        "{s}"
    );
    assert_eq!(
        by_pid(holder.pid())["shards"],
        format!("{range} of {SHARDS}"),
        "{s}"
    );
    assert_eq!(
        by_pid(other.pid())["shards"],
        format!("{other_range} of {SHARDS}"),
        "{s}"
    );
    assert_eq!(processes.len(), 3, "{s}");
    // The killed one stopped beating more than two leases ago: shown as silent.
    assert_eq!(by_pid(old_pid)["state"], "running", "{s}");
    assert_eq!(by_pid(old_pid)["silent"], true, "{s}");
    assert_eq!(by_pid(holder.pid())["silent"], false, "{s}");
    assert_eq!(by_pid(other.pid())["silent"], false, "{s}");
    assert!(
        s["leases"][0]["holder"]
            .as_str()
            .unwrap()
            .ends_with(&format!(":{}", other.pid())),
        "{s}"
    );
    let text = String::from_utf8_lossy(&chatops(&dir, &["status"]).stdout).into_owned();
    println!("{text}");
    assert!(
        text.contains(&format!("shards {range} of {SHARDS}"))
            && text.contains(&format!("shards {other_range} of {SHARDS}"))
            && text.contains("silent (killed or unreachable?)")
            && text.contains("schedule alerts/weekday-summary"),
        "{text}"
    );
    assert!(
        fake.spec_violations().is_empty(),
        "{:?}",
        fake.spec_violations()
    );

    // Each shard's READY listed its own guild only.
    for h in [&*holder, &*other] {
        let readies = h
            .log
            .lock()
            .unwrap()
            .lines()
            .filter(|l| l.contains("connected to Discord"))
            .map(|l| l.contains("guilds=1"))
            .collect::<Vec<_>>();
        assert_eq!(readies, [true, true], "{}", h.output());
    }

    // SIGTERM: the survivor shuts its shards down, gives its lease up at once and is
    // recorded as stopped.
    let status_code = other.terminate();
    assert!(status_code.success(), "{status_code:?}\n{}", other.output());
    let s = status(&dir);
    assert_eq!(s["leases"][0]["holder"], "", "released: {s}");
    let stopped = s["processes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["pid"].as_i64() == Some(other.pid() as i64))
        .unwrap();
    assert_eq!(stopped["state"], "stopped", "{s}");
}
