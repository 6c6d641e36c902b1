//! Several real `chatops` processes on one PostgreSQL: a schedule fires once per period
//! across them, the audit trail of both is one query, killing the process that holds a
//! schedule's lease hands it to the other within the lease time, a SIGTERM gives the
//! leases up at once, and `chatops status` shows all of it.

#[path = "../../tests/src/postgres.rs"]
mod postgres;

use chatops::store::{AuditFilter, Store};
use postgres::{Postgres, PASSWORD};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

extern "C" {
    fn kill(pid: i32, sig: i32) -> i32;
}

const LEASE_SECONDS: u64 = 2;

/// A host process (the shell on a pipe, no Discord token), its output kept.
struct Host {
    child: Child,
    stdin: Option<std::process::ChildStdin>,
    out: Arc<Mutex<Vec<(Instant, String)>>>,
    err: Arc<Mutex<String>>,
}

impl Host {
    fn start(dir: &Path) -> Host {
        let mut child = Command::new(env!("CARGO_BIN_EXE_chatops"))
            .args(["run", "--config", "chatops.toml"])
            .current_dir(dir)
            .env_remove("DISCORD_TOKEN")
            .env_remove("CHATOPS_CONFIG")
            .env("CHATOPS_SCALE_STORE_PASSWORD", PASSWORD)
            .env("RUST_LOG", "warn,chatops=info")
            .process_group(0)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn chatops");
        let out = Arc::new(Mutex::new(Vec::new()));
        let lines = BufReader::new(child.stdout.take().unwrap());
        let o = out.clone();
        std::thread::spawn(move || {
            for line in lines.lines().map_while(Result::ok) {
                o.lock().unwrap().push((Instant::now(), line));
            }
        });
        let err = Arc::new(Mutex::new(String::new()));
        let lines = BufReader::new(child.stderr.take().unwrap());
        let e = err.clone();
        std::thread::spawn(move || {
            for line in lines.lines().map_while(Result::ok) {
                e.lock().unwrap().push_str(&format!("{line}\n"));
            }
        });
        let stdin = child.stdin.take();
        Host {
            child,
            stdin,
            out,
            err,
        }
    }

    fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().unwrap();
        stdin.write_all(format!("{line}\n").as_bytes()).unwrap();
        stdin.flush().unwrap();
    }

    /// When each summary post came out.
    fn posts(&self) -> Vec<Instant> {
        self.out
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, l)| l.starts_with("[#ops]"))
            .map(|(t, _)| *t)
            .collect()
    }

    fn output(&self) -> String {
        let out: Vec<String> = self
            .out
            .lock()
            .unwrap()
            .iter()
            .map(|(_, l)| l.clone())
            .collect();
        format!(
            "stdout:\n{}\nstderr:\n{}",
            out.join("\n"),
            self.err.lock().unwrap()
        )
    }

    fn signal(&mut self, sig: i32) {
        if let Ok(None) = self.child.try_wait() {
            // SAFETY: kill(2) on our own unreaped child.
            unsafe { kill(self.child.id() as i32, sig) };
        }
    }

    fn wait(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(s)) = self.child.try_wait() {
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            // SAFETY: kill(2) on the group this unreaped child leads.
            unsafe { kill(-(self.child.id() as i32), 9) };
        }
        let _ = self.child.wait();
    }
}

/// A config in `dir` on the shared database: the bundled `alerts` plugin with its summary
/// schedule every second.
fn config(dir: &Path, url: &str) {
    let (_, bytes) = chatops::bundled::BUNDLED
        .iter()
        .find(|(n, _)| *n == "alerts")
        .unwrap();
    std::fs::write(dir.join("alerts.wasm"), bytes).unwrap();
    std::fs::write(
        dir.join("chatops.toml"),
        format!(
            "[host]\nstore = \"{url}\"\nlease_seconds = {LEASE_SECONDS}\n\
             [secrets]\nenv_prefix = \"CHATOPS_SCALE_\"\n\
             [plugins.alerts]\npath = \"alerts.wasm\"\nsha256 = \"{}\"\n\
             [plugins.alerts.grants]\nkv = true\npost = [\"ops\"]\n\
             [plugins.alerts.schedules]\nweekday-summary = \"* * * * * *\"\n\
             [plugins.alerts.config]\nchannel = \"ops\"\nurl = \"http://127.0.0.1:9\"\n",
            chatops::runtime::sha256_hex(bytes)
        ),
    )
    .unwrap();
}

fn status(dir: &Path) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_chatops"))
        .args(["status", "--json", "--config", "chatops.toml"])
        .current_dir(dir)
        .env("CHATOPS_SCALE_STORE_PASSWORD", PASSWORD)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_fire_each_schedule_once_and_hand_over_leases() {
    let pg = Postgres::start();
    let url = pg.database("two");
    let (a_dir, b_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    config(a_dir.path(), &url);
    config(b_dir.path(), &url);
    let mut a = Host::start(a_dir.path());
    let mut b = Host::start(b_dir.path());
    // Both run commands on the one store.
    a.send("alerts list");
    b.send("silence list");

    // Six seconds of a schedule due every second, in both processes.
    let deadline = Instant::now() + Duration::from_secs(60);
    while a.posts().len() + b.posts().len() < 6 {
        assert!(
            Instant::now() < deadline,
            "no summaries\n{}\n{}",
            a.output(),
            b.output()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (na, nb) = (a.posts().len(), b.posts().len());
    assert!(
        na == 0 || nb == 0,
        "one process holds the lease and fires: a fired {na}, b {nb}\n{}\n{}",
        a.output(),
        b.output()
    );
    let mut all: Vec<Instant> = a.posts().into_iter().chain(b.posts()).collect();
    all.sort();
    for w in all.windows(2) {
        assert!(
            w[1] - w[0] > Duration::from_millis(500),
            "an occurrence fired twice: {all:?}"
        );
    }

    // One query reads the audit trail of both.
    let store = Store::connect(&url, Some(PASSWORD)).await.unwrap();
    let trail = store
        .audit_query_async(&AuditFilter {
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap();
    let args: Vec<&str> = trail.iter().map(|e| e.args.as_str()).collect();
    assert!(
        args.contains(&"alerts list") && args.contains(&"silence list"),
        "{args:?}"
    );
    let summaries = trail
        .iter()
        .filter(|e| e.actor.starts_with("[schedule weekday-summary]"))
        .count();
    assert!(summaries >= 6, "{summaries} summaries audited");

    // Kill the holder: the other takes the lease over within the lease time.
    let (holder, other) = if na > 0 {
        (&mut a, &mut b)
    } else {
        (&mut b, &mut a)
    };
    let before = other.posts().len();
    holder.signal(9);
    let killed = Instant::now();
    holder.wait(Duration::from_secs(10)).expect("killed");
    while other.posts().len() == before {
        assert!(
            killed.elapsed() < Duration::from_secs(LEASE_SECONDS + 3),
            "the lease was not handed over within {LEASE_SECONDS}s\n{}",
            other.output()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let handover = other.posts()[before] - killed;
    println!("lease handed over {handover:?} after the kill (lease {LEASE_SECONDS}s)");

    // `chatops status` names both: the killed one silent (its heartbeat stops), the other
    // running and holding the lease.
    let s = status(a_dir.path());
    let leases = s["leases"].as_array().unwrap();
    assert_eq!(leases.len(), 1, "{s}");
    assert_eq!(leases[0]["name"], "schedule alerts/weekday-summary");
    let other_id = format!("{}", other.child.id());
    assert!(
        leases[0]["holder"]
            .as_str()
            .unwrap()
            .ends_with(&format!(":{other_id}")),
        "{s}"
    );
    assert_eq!(s["processes"].as_array().unwrap().len(), 2, "{s}");

    // SIGTERM: the survivor stops cleanly and gives its lease up at once.
    other.signal(15);
    let status_code = other
        .wait(Duration::from_secs(30))
        .expect("stops on SIGTERM");
    assert!(status_code.success(), "{status_code:?}\n{}", other.output());
    let s = status(a_dir.path());
    assert_eq!(s["leases"][0]["holder"], "", "released: {s}");
    let stopped: Vec<&serde_json::Value> = s["processes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["state"] == "stopped")
        .collect();
    assert_eq!(stopped.len(), 1, "{s}");
    assert_eq!(stopped[0]["pid"].as_i64(), Some(other.child.id() as i64));
}
