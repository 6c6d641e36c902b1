//! The real Buildbot 4 (master + one worker, from the venv `.ci/run` makes in
//! `target/upstreams/buildbot-venv`) on 127.0.0.1, on free ports; both killed when dropped.
//!
//! The master has one builder `deploy` forced by the ForceScheduler `deploy` with string
//! parameters `service` and `version` and a choice `env` (staging, qa, prod). Its one shell
//! step fails for a version `fail-*`, runs 30 s for `slow-*`, and otherwise says
//! "deployed SERVICE VERSION to ENV". The web UI and API need a login as [`USER`] /
//! [`PASSWORD`], whose role may use every control endpoint (force, stop, cancel).
//!
//! ```text
//! let bb = Buildbot::start().await;   // ready when the worker is attached
//! bb.build(brid).await                // GET /api/v2/builds?buildrequestid=…
//! ```

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const USER: &str = "deployer";
pub const PASSWORD: &str = "bb-pass-4711";
/// The environments the ForceScheduler's `env` choice offers.
pub const ENVS: [&str; 3] = ["staging", "qa", "prod"];
/// How long the master may take to answer, and the worker to attach.
const READY_WITHIN: Duration = Duration::from_secs(120);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
const WORKER: &str = "w1";
const WORKER_PASSWORD: &str = "worker-pass";

pub struct Buildbot {
    /// `http://127.0.0.1:PORT`, also the master's `buildbotURL` (without the slash).
    pub url: String,
    /// From spawning the master to the worker being attached.
    pub startup: Duration,
    master: Option<Child>,
    worker: Option<Child>,
    http: reqwest::Client,
    dir: tempfile::TempDir,
}

/// The venv's `bin` directory, or a panic naming the install step.
fn venv_bin() -> PathBuf {
    let bin = crate::workspace_root().join("target/upstreams/buildbot-venv/bin");
    if !bin.join("buildbot").exists() || !bin.join("buildbot-worker").exists() {
        panic!(
            "Buildbot is not installed at {}: .ci/run installs it (python3 -m venv target/upstreams/buildbot-venv && pip install 'buildbot[bundle]' buildbot-worker)",
            bin.display()
        );
    }
    bin
}

impl Buildbot {
    /// Create, configure and start a master and a worker; ready when the worker is attached.
    pub async fn start() -> Buildbot {
        let bin = venv_bin();
        let t0 = Instant::now();
        let dir = tempfile::tempdir().expect("temp dir for buildbot");
        let (master_dir, worker_dir) = (dir.path().join("master"), dir.path().join("worker"));
        let (www, pb) = (free_port(), free_port());
        let url = format!("http://127.0.0.1:{www}");
        let create_master = run(
            &bin.join("buildbot"),
            &["create-master", "-r", path_str(&master_dir)],
            dir.path(),
        );
        let create_worker = run(
            &bin.join("buildbot-worker"),
            &[
                "create-worker",
                "-r",
                path_str(&worker_dir),
                &format!("127.0.0.1:{pb}"),
                WORKER,
                WORKER_PASSWORD,
            ],
            dir.path(),
        );
        for (what, child) in [
            ("create-master", create_master),
            ("create-worker", create_worker),
        ] {
            let out = child.wait_with_output().expect("wait for buildbot create");
            assert!(
                out.status.success(),
                "buildbot {what} failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::fs::write(master_dir.join("master.cfg"), master_cfg(www, pb))
            .expect("write master.cfg");
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .expect("reqwest client");
        let mut bb = Buildbot {
            url,
            startup: Duration::ZERO,
            master: None,
            worker: None,
            http,
            dir,
        };
        bb.master = Some(spawn(&bin.join("buildbot"), &master_dir, "master.log"));
        // The worker backs off between attempts to connect: start it once the master listens.
        bb.wait_for("the master's web server", |v| v["workers"].is_array())
            .await;
        bb.worker = Some(spawn(
            &bin.join("buildbot-worker"),
            &worker_dir,
            "worker.log",
        ));
        bb.wait_for("the worker to attach", |v| {
            v["workers"][0]["connected_to"]
                .as_array()
                .is_some_and(|c| !c.is_empty())
        })
        .await;
        bb.startup = t0.elapsed();
        bb
    }

    async fn wait_for(&mut self, what: &str, ready: impl Fn(&serde_json::Value) -> bool) {
        let deadline = Instant::now() + READY_WITHIN;
        let workers = format!("{}/api/v2/workers", self.url);
        loop {
            let exited = [("master", &mut self.master), ("worker", &mut self.worker)]
                .into_iter()
                .find_map(|(name, child)| match child.as_mut().map(|c| c.try_wait()) {
                    Some(Ok(Some(status))) => Some(format!("{name} exited ({status})")),
                    _ => None,
                });
            if let Some(why) = exited {
                panic!(
                    "the buildbot {why} while waiting for {what}:\n{}",
                    self.log()
                );
            }
            if let Ok(r) = self
                .http
                .get(&workers)
                .timeout(Duration::from_secs(2))
                .send()
                .await
            {
                if let Ok(v) = r.json::<serde_json::Value>().await {
                    if ready(&v) {
                        return;
                    }
                }
            }
            assert!(
                Instant::now() < deadline,
                "buildbot at {}: no {what} within {READY_WITHIN:?}:\n{}",
                self.url,
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The builds of one build request (`GET /api/v2/builds?buildrequestid=…`).
    pub async fn builds_of(&self, brid: &str) -> Vec<serde_json::Value> {
        let v = self
            .get(&format!("/api/v2/builds?buildrequestid={brid}"))
            .await;
        v["builds"].as_array().cloned().unwrap_or_default()
    }

    /// `GET /api/v2/buildrequests/{brid}`'s one request.
    pub async fn build_request(&self, brid: &str) -> serde_json::Value {
        self.get(&format!("/api/v2/buildrequests/{brid}")).await["buildrequests"][0].clone()
    }

    /// Every build request so far.
    pub async fn build_requests(&self) -> Vec<serde_json::Value> {
        let v = self.get("/api/v2/buildrequests").await;
        v["buildrequests"].as_array().cloned().unwrap_or_default()
    }

    /// Wait until `brid` has a build with `complete: true`; returns it.
    pub async fn wait_complete(&self, brid: &str, within: Duration) -> serde_json::Value {
        let deadline = Instant::now() + within;
        loop {
            if let Some(b) = self
                .builds_of(brid)
                .await
                .into_iter()
                .find(|b| b["complete"] == true)
            {
                return b;
            }
            assert!(
                Instant::now() < deadline,
                "build request {brid} did not complete within {within:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn get(&self, path: &str) -> serde_json::Value {
        let resp = self
            .http
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        let status = resp.status();
        assert!(status.is_success(), "GET {path} answered {status}");
        resp.json()
            .await
            .unwrap_or_else(|e| panic!("GET {path} is not JSON: {e}"))
    }

    /// The master's and the worker's logs so far, for assertion messages.
    pub fn log(&self) -> String {
        let read = |f: &str| std::fs::read_to_string(self.dir.path().join(f)).unwrap_or_default();
        let tail = |s: String| {
            s.lines()
                .rev()
                .take(40)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect::<Vec<_>>()
                .join("\n")
        };
        format!(
            "--- master ---\n{}\n--- worker ---\n{}",
            tail(read("master.log")),
            tail(read("worker.log"))
        )
    }

    /// PIDs of processes still alive whose working directory is inside this Buildbot's
    /// temp dir: the master, the worker, and any build step they left behind.
    pub fn processes(&self) -> Vec<u32> {
        let root =
            std::fs::canonicalize(self.dir.path()).unwrap_or_else(|_| self.dir.path().into());
        let mut pids = Vec::new();
        for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            if std::fs::read_link(entry.path().join("cwd")).is_ok_and(|cwd| cwd.starts_with(&root))
            {
                pids.push(pid);
            }
        }
        pids
    }
}

impl Buildbot {
    /// Stop both and return the PIDs still alive inside the temp dir after 5 s (none, if
    /// nothing escaped).
    pub async fn stop(mut self) -> Vec<u32> {
        self.kill_all();
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let left = self.processes();
            if left.is_empty() || Instant::now() >= deadline {
                return left;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn kill_all(&mut self) {
        // Each was started in a process group of its own: kill the group (twistd and anything
        // it spawned), reap the child, then any build step that escaped into another group.
        for child in [self.worker.take(), self.master.take()]
            .into_iter()
            .flatten()
        {
            kill(child);
        }
        for pid in self.processes() {
            // SAFETY: kill(2) with a PID we found running inside our own temp dir.
            unsafe { libc_kill(pid as i32, 9) };
        }
    }
}

impl Drop for Buildbot {
    fn drop(&mut self) {
        self.kill_all();
    }
}

fn kill(mut child: Child) {
    crate::kill_group(&mut child);
}

extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 temp path")
}

/// `bin args…` in `cwd`, output captured (the create-* commands).
fn run(bin: &Path, args: &[&str], cwd: &Path) -> Child {
    Command::new(bin)
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("could not run {}: {e}", bin.display()))
}

/// `bin start --nodaemon DIR` in its own process group, logging into the temp dir.
fn spawn(bin: &Path, dir: &Path, log: &str) -> Child {
    use std::os::unix::process::CommandExt;
    let root = dir.parent().expect("inside the temp dir");
    let out = std::fs::File::create(root.join(log)).expect("buildbot log file");
    let err = out.try_clone().expect("clone the log file handle");
    Command::new(bin)
        .args(["start", "--nodaemon", path_str(dir)])
        .current_dir(dir)
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .unwrap_or_else(|e| panic!("could not start {}: {e}", bin.display()))
}

/// A port nobody listens on right now.
fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local addr").port()
}

fn master_cfg(www: u16, pb: u16) -> String {
    let q = |s: &str| serde_json::to_string(s).expect("a string serialises");
    let envs = ENVS.iter().map(|e| q(e)).collect::<Vec<_>>().join(", ");
    format!(
        r#"from buildbot.plugins import schedulers, steps, util, worker

c = BuildmasterConfig = {{}}
c['buildbotNetUsageData'] = None
c['title'] = 'chatops deploy test'
c['buildbotURL'] = 'http://127.0.0.1:{www}/'
c['workers'] = [worker.Worker({worker}, {worker_password})]
c['protocols'] = {{'pb': {{'port': 'tcp:{pb}:interface=127.0.0.1'}}}}
c['db'] = {{'db_url': 'sqlite:///state.sqlite'}}
c['schedulers'] = [schedulers.ForceScheduler(
    name='deploy', builderNames=['deploy'],
    properties=[
        util.StringParameter(name='service', required=True),
        util.StringParameter(name='version', required=True),
        util.ChoiceStringParameter(name='env', choices=[{envs}], default='staging'),
    ])]
script = '''
case "$VERSION" in
  fail-*) echo "deploy of $SERVICE $VERSION failed"; exit 1;;
  slow-*) sleep 30;;
esac
echo "deployed $SERVICE $VERSION to $ENV"
'''
f = util.BuildFactory()
f.addStep(steps.ShellCommand(
    name='deploy',
    command=['sh', '-c', script],
    env={{'SERVICE': util.Property('service'), 'VERSION': util.Property('version'), 'ENV': util.Property('env')}},
))
c['builders'] = [util.BuilderConfig(name='deploy', workernames=[{worker}], factory=f)]
c['www'] = {{
    'port': 'tcp:{www}:interface=127.0.0.1',
    'auth': util.UserPasswordAuth({{{user}: {password}}}),
    'authz': util.Authz(
        allowRules=[util.AnyControlEndpointMatcher(role='deployers')],
        roleMatchers=[util.RolesFromUsername(roles=['deployers'], usernames=[{user}])],
    ),
}}
"#,
        worker = q(WORKER),
        worker_password = q(WORKER_PASSWORD),
        user = q(USER),
        password = q(PASSWORD),
    )
}
