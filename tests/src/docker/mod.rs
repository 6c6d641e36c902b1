//! The real Docker Engine (Debian's `docker.io`) on 127.0.0.1, on a free port, in a short
//! temp dir of its own, with a busybox image imported from Debian's `busybox-static`; it and
//! every process it started (containerd, shims) are stopped by PID when dropped.
//!
//! ```text
//! let docker = Docker::start().await;                      // ≈ 1–2 s until GET /_ping is OK
//! docker.run("web", &[("chatops.restartable", "true")], Some(Docker::healthy())).await;
//! let started = docker.started_at("web").await;
//! ```

pub mod fake;

use serde_json::{json, Value};
use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const DOCKERD: &str = "dockerd";
const BUSYBOX: &str = "/bin/busybox";
/// The image every test container runs.
pub const IMAGE: &str = "chatops-busybox:test";
/// dockerd needs 0.3–2 s here; much more under a loaded CI machine.
const READY_WITHIN: Duration = Duration::from_secs(60);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// The port is picked then released before dockerd binds it; another try if it was taken.
const ATTEMPTS: usize = 3;

pub struct Docker {
    /// `http://127.0.0.1:PORT`, the Engine API over TCP (no TLS: loopback only).
    pub url: String,
    /// How long dockerd took from spawn to answering `GET /_ping`.
    pub ready_after: Duration,
    child: Child,
    http: reqwest::Client,
    /// Short (`/tmp/dkXXXX`): the unix socket under it must fit in 108 bytes.
    dir: PathBuf,
    containers: std::sync::Mutex<Vec<String>>,
}

impl Docker {
    /// Start dockerd (vfs storage, no bridge, no iptables) and import the busybox image.
    pub async fn start() -> Docker {
        which(DOCKERD, "docker.io");
        assert!(
            Path::new(BUSYBOX).exists(),
            "{BUSYBOX} is missing: .ci/run installs Debian's busybox-static (apt-get install busybox-static)"
        );
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .expect("reqwest client");
        let mut last_failure = String::new();
        for _ in 0..ATTEMPTS {
            let dir = tempfile::Builder::new()
                .prefix("dk")
                .tempdir_in("/tmp")
                .expect("a temp dir under /tmp")
                .keep();
            let port = free_port();
            let started = Instant::now();
            let child = spawn(&dir, port);
            let mut docker = Docker {
                url: format!("http://127.0.0.1:{port}"),
                ready_after: Duration::ZERO,
                child,
                http: http.clone(),
                dir,
                containers: Default::default(),
            };
            match docker.wait_ready().await {
                Ok(()) => {
                    docker.ready_after = started.elapsed();
                    docker.import_image().await;
                    return docker;
                }
                Err(why) => last_failure = why,
            }
        }
        panic!("dockerd did not start in {ATTEMPTS} attempts; the last: {last_failure}");
    }

    /// A health check that passes at once and is checked every 300 ms.
    pub fn healthy() -> Value {
        json!({ "Test": ["CMD", "/bin/busybox", "true"], "Interval": 300_000_000u64,
                "Timeout": 2_000_000_000u64, "Retries": 3 })
    }

    /// A health check that fails for an hour without ever turning `unhealthy`: the
    /// container stays `starting`, as one that never comes up properly would.
    pub fn never_healthy() -> Value {
        json!({ "Test": ["CMD", "/bin/busybox", "false"], "Interval": 300_000_000u64,
                "Timeout": 2_000_000_000u64, "Retries": 3, "StartPeriod": 3_600_000_000_000u64 })
    }

    /// Create and start `busybox sleep 3600` named `name` (no network, tini as PID 1 so
    /// SIGTERM stops it at once), with these labels and health check.
    pub async fn run(&self, name: &str, labels: &[(&str, &str)], health: Option<Value>) {
        let labels: serde_json::Map<String, Value> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), Value::from(*v)))
            .collect();
        let mut spec = json!({
            "Image": IMAGE,
            "Cmd": ["/bin/busybox", "sleep", "3600"],
            "Labels": labels,
            "StopTimeout": 2,
            "HostConfig": { "NetworkMode": "none", "Init": true },
        });
        if let Some(h) = health {
            spec["Healthcheck"] = h;
        }
        let created = self
            .call(
                "POST",
                &format!("/containers/create?name={name}"),
                Some(spec),
            )
            .await;
        assert!(created["Id"].is_string(), "create {name}: {created}");
        self.containers.lock().unwrap().push(name.to_string());
        self.call("POST", &format!("/containers/{name}/start"), None)
            .await;
    }

    /// `GET /containers/{name}/json`.
    pub async fn inspect(&self, name: &str) -> Value {
        self.call("GET", &format!("/containers/{name}/json"), None)
            .await
    }

    /// `State.StartedAt`, as Docker reports it.
    pub async fn started_at(&self, name: &str) -> String {
        self.inspect(name).await["State"]["StartedAt"]
            .as_str()
            .expect("StartedAt")
            .to_string()
    }

    /// Wait until `State.Health.Status` is `healthy`.
    pub async fn wait_healthy(&self, name: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let c = self.inspect(name).await;
            if c["State"]["Health"]["Status"] == "healthy" {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{name} never became healthy: {c}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The temp dir dockerd works in; gone once this is dropped.
    pub fn dir(&self) -> PathBuf {
        self.dir.clone()
    }

    /// Processes still running with `dir` on their command line (dockerd, containerd,
    /// shims): none once the `Docker` that owned `dir` is dropped.
    pub fn leftovers(dir: &Path) -> Vec<u32> {
        processes_mentioning(dir)
    }

    /// dockerd's own log so far, for assertion messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("dockerd.log")).unwrap_or_default()
    }

    /// One Engine API call under `/v1.41`; panics (with dockerd's log) unless it succeeds.
    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/v1.41{path}", self.url);
        let mut req = self.http.request(method.parse().expect("a method"), &url);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        assert!(
            status.is_success(),
            "{method} {path} answered {status}: {text}\n{}",
            self.log()
        );
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    /// `docker import`: a tar of a rootfs holding only busybox, as image `IMAGE`.
    async fn import_image(&self) {
        let root = self.dir.join("rootfs");
        std::fs::create_dir_all(root.join("bin")).expect("rootfs/bin");
        std::fs::copy(BUSYBOX, root.join("bin/busybox")).expect("copy busybox");
        let tar = self.dir.join("rootfs.tar");
        let status = Command::new("tar")
            .arg("-C")
            .arg(&root)
            .arg("-cf")
            .arg(&tar)
            .arg(".")
            .status()
            .expect("run tar");
        assert!(status.success(), "tar of the rootfs failed");
        let (repo, tag) = IMAGE.split_once(':').expect("IMAGE is repo:tag");
        let resp = self
            .http
            .post(format!(
                "{}/v1.41/images/create?fromSrc=-&repo={repo}&tag={tag}",
                self.url
            ))
            .header("content-type", "application/x-tar")
            .body(std::fs::read(&tar).expect("read rootfs.tar"))
            .send()
            .await
            .expect("POST /images/create");
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        assert!(
            status.is_success() && !text.contains("\"error"),
            "importing the image answered {status}: {text}"
        );
    }

    async fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + READY_WITHIN;
        let ping = format!("{}/_ping", self.url);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!(
                    "dockerd exited ({status}) before it was ready:\n{}",
                    self.log()
                ));
            }
            let probe = self
                .http
                .get(&ping)
                .timeout(Duration::from_secs(2))
                .send()
                .await;
            if let Ok(r) = probe {
                if r.status().is_success() && r.text().await.is_ok_and(|t| t == "OK") {
                    return Ok(());
                }
            }
            assert!(
                Instant::now() < deadline,
                "dockerd at {} was not ready within {READY_WITHIN:?}:\n{}",
                self.url,
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Docker {
    fn drop(&mut self) {
        // Containers first (SIGKILL, removed), so dockerd has nothing to wait for.
        let port = self.url.rsplit(':').next().unwrap_or("0").to_string();
        for name in self
            .containers
            .lock()
            .map(|c| c.clone())
            .unwrap_or_default()
        {
            blocking_request(
                &port,
                "DELETE",
                &format!("/v1.41/containers/{name}?force=true"),
            );
        }
        signal("TERM", self.child.id());
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Whatever dockerd started and left names our dir on its command line: containerd,
        // and the shims, which daemonise away from dockerd's process tree.
        for pid in processes_mentioning(&self.dir) {
            if pid != self.child.id() {
                signal("KILL", pid);
            }
        }
        unmount_under(&self.dir);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn spawn(dir: &Path, port: u16) -> Child {
    let log = std::fs::File::create(dir.join("dockerd.log")).expect("dockerd log file");
    let log2 = log.try_clone().expect("clone the log file handle");
    let d = dir.display();
    let mut cmd = Command::new(DOCKERD);
    // If the test process dies without dropping us, dockerd is told to shut down (and stops
    // its containers) rather than outliving it. The spawning thread is the test's own, which
    // lives until the `Docker` is dropped.
    // SAFETY: prctl(2) is async-signal-safe and touches only the new process.
    unsafe {
        cmd.pre_exec(|| {
            prctl(PR_SET_PDEATHSIG, SIGTERM);
            Ok(())
        });
    }
    cmd.arg("-H")
        .arg(format!("unix://{d}/docker.sock"))
        .arg("-H")
        .arg(format!("tcp://127.0.0.1:{port}"))
        .arg(format!("--data-root={d}/data"))
        .arg(format!("--exec-root={d}/exec"))
        .arg(format!("--pidfile={d}/docker.pid"))
        // vfs: no overlay mounts to leave behind, and it works on any backing filesystem.
        .arg("--storage-driver=vfs")
        .arg("--iptables=false")
        .arg("--ip-masq=false")
        .arg("--bridge=none")
        .arg("--shutdown-timeout=2")
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2)
        .spawn()
        .unwrap_or_else(|e| panic!("could not start {DOCKERD}: {e}"))
}

const PR_SET_PDEATHSIG: i32 = 1;
const SIGTERM: u64 = 15;
extern "C" {
    fn prctl(option: i32, ...) -> i32;
}

/// Panics naming the `.ci/run` install step if `bin` is not on the PATH.
fn which(bin: &str, package: &str) {
    let found = std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path)
            .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
            .any(|p| p.join(bin).is_file())
    });
    assert!(
        found,
        "{bin} is not installed: .ci/run installs Debian's {package} (apt-get install {package} busybox-static)"
    );
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local addr").port()
}

fn signal(sig: &str, pid: u32) {
    let _ = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .stderr(Stdio::null())
        .status();
}

/// PIDs whose command line mentions `dir` (dockerd, containerd and the shims use it).
fn processes_mentioning(dir: &Path) -> Vec<u32> {
    let needle = dir.to_string_lossy().into_owned();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
                .is_ok_and(|c| c.contains(&needle))
        })
        .collect()
}

/// Lazily unmount anything dockerd left mounted under `dir`, deepest first.
fn unmount_under(dir: &Path) {
    let Ok(mounts) = std::fs::read_to_string("/proc/mounts") else {
        return;
    };
    let prefix = dir.to_string_lossy().into_owned();
    let mut points: Vec<&str> = mounts
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1))
        .filter(|p| p.starts_with(&prefix))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for p in points {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(p)
            .stderr(Stdio::null())
            .status();
    }
}

/// A bounded HTTP/1.0 request from a destructor, where no runtime may be at hand.
fn blocking_request(port: &str, method: &str, path: &str) {
    let Ok(mut s) = std::net::TcpStream::connect(format!("127.0.0.1:{port}")) else {
        return;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
    let _ = s.set_write_timeout(Some(Duration::from_secs(5)));
    let _ = write!(s, "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
    let mut sink = Vec::new();
    let _ = s.read_to_end(&mut sink);
}
