//! A real PostgreSQL (Debian's `postgresql` package) for the store tests: a cluster made
//! with `initdb` in a temp dir, served on 127.0.0.1 on a free port, as the `postgres` user
//! (it refuses to run as root), stopped by its PID when dropped.
//!
//! ```text
//! let pg = Postgres::start();           // ≈ 1–3 s: initdb, then the server
//! let url = pg.database("one");         // postgres://postgres@127.0.0.1:PORT/one
//! // the password, PASSWORD, goes to the host as the secret `store-password`
//! ```
//!
//! Self-contained (std and tempfile only), so `host/tests` can include it with `#[path]`.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const INSTALL: &str =
    "PostgreSQL is not installed: .ci/run installs it with `apt-get install -y postgresql`";
/// The superuser's password (scram-sha-256 on the loopback: the host must send it).
pub const PASSWORD: &str = "chatops-test-password";
const READY_WITHIN: Duration = Duration::from_secs(60);
const ATTEMPTS: usize = 3;

pub struct Postgres {
    pub port: u16,
    child: Child,
    bin: PathBuf,
    dir: tempfile::TempDir,
    ids: (u32, u32),
}

/// The newest `/usr/lib/postgresql/<ver>/bin`.
fn bin_dir() -> PathBuf {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .expect(INSTALL)
        .filter_map(|e| {
            let e = e.ok()?;
            let v = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("postgres").exists().then_some((v, bin))
        })
        .collect();
    versions.sort();
    versions.pop().expect(INSTALL).1
}

/// The uid and gid of the `postgres` user the package made.
fn postgres_ids() -> (u32, u32) {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap();
    passwd
        .lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.first() == Some(&"postgres")).then(|| (f[2].parse().unwrap(), f[3].parse().unwrap()))
        })
        .expect(INSTALL)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn chown(path: &Path, (uid, gid): (u32, u32)) {
    std::os::unix::fs::chown(path, Some(uid), Some(gid)).unwrap();
}

impl Postgres {
    /// A fresh cluster, serving.
    pub fn start() -> Postgres {
        let bin = bin_dir();
        let ids = postgres_ids();
        let dir = tempfile::Builder::new()
            .prefix("chatops-pg")
            .tempdir()
            .unwrap();
        chown(dir.path(), ids);
        let pwfile = dir.path().join("pw");
        std::fs::write(&pwfile, PASSWORD).unwrap();
        chown(&pwfile, ids);
        let data = dir.path().join("data");
        let out = Command::new(bin.join("initdb"))
            .args(["-U", "postgres", "-E", "UTF8", "--locale=C", "--no-sync"])
            .args(["--auth-host=scram-sha-256", "--auth-local=trust"])
            .arg(format!("--pwfile={}", pwfile.display()))
            .arg("-D")
            .arg(&data)
            .uid(ids.0)
            .gid(ids.1)
            .current_dir(dir.path())
            .output()
            .expect(INSTALL);
        assert!(
            out.status.success(),
            "initdb failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let mut last = String::new();
        for _ in 0..ATTEMPTS {
            let port = free_port();
            let log = std::fs::File::create(dir.path().join(format!("log-{port}"))).unwrap();
            let mut child = Command::new(bin.join("postgres"))
                .arg("-D")
                .arg(&data)
                .args(["-p", &port.to_string(), "-c", "listen_addresses=127.0.0.1"])
                .arg("-c")
                .arg(format!("unix_socket_directories={}", dir.path().display()))
                .args(["-c", "max_connections=200"])
                .uid(ids.0)
                .gid(ids.1)
                .process_group(0)
                .current_dir(dir.path())
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .expect(INSTALL);
            let started = Instant::now();
            while started.elapsed() < READY_WITHIN {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                let ready = Command::new(bin.join("pg_isready"))
                    .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-q"])
                    .status()
                    .map(|s| s.success())
                    .unwrap_or(false);
                if ready {
                    return Postgres {
                        port,
                        child,
                        bin,
                        dir,
                        ids,
                    };
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            last =
                std::fs::read_to_string(dir.path().join(format!("log-{port}"))).unwrap_or_default();
            kill_group(&mut child);
        }
        panic!("PostgreSQL did not start: {last}");
    }

    /// A new, empty database, and its URL (no password in it).
    pub fn database(&self, name: &str) -> String {
        let out = Command::new(self.bin.join("psql"))
            .args(["-h"])
            .arg(self.dir.path())
            .args(["-p", &self.port.to_string(), "-U", "postgres", "-q", "-c"])
            .arg(format!("CREATE DATABASE \"{name}\""))
            .arg("postgres")
            .uid(self.ids.0)
            .gid(self.ids.1)
            .output()
            .expect(INSTALL);
        assert!(
            out.status.success(),
            "CREATE DATABASE {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        self.url(name)
    }

    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// The server's log so far (for failure messages).
    #[allow(dead_code)] // host/tests include this file without using it
    pub fn log(&self) -> String {
        let mut out = String::new();
        for e in std::fs::read_dir(self.dir.path()).unwrap().flatten() {
            if e.file_name().to_string_lossy().starts_with("log-") {
                out.push_str(&std::fs::read_to_string(e.path()).unwrap_or_default());
            }
        }
        out
    }
}

impl Drop for Postgres {
    /// A fast shutdown (SIGINT to the postmaster, which stops its children), then the
    /// group killed if it is still there after a while.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            // SAFETY: kill(2) on our own unreaped child.
            unsafe { libc_kill(self.child.id() as i32, 2) };
            let started = Instant::now();
            while started.elapsed() < Duration::from_secs(10) {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        kill_group(&mut self.child);
    }
}

/// SIGKILL the server's process group while its leader is unreaped (once reaped, its id may
/// be someone else's), then reap it. (Its own copy: `host/tests` include this file.)
fn kill_group(child: &mut Child) {
    if let Ok(None) = child.try_wait() {
        // SAFETY: kill(2) on the group this unreaped child leads.
        unsafe { libc_kill(-(child.id() as i32), 9) };
    }
    let _ = child.kill();
    let _ = child.wait();
}

extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}
