//! Shared pieces of the end-to-end tests: test plugins, a bot to talk to, and fake
//! upstream services on 127.0.0.1.

pub mod alertmanager;
pub mod buildbot;
pub mod discord_fake;
pub mod docker;
pub mod github_fake;
pub mod openapi_errors;
pub mod pagerduty_fake;
pub mod postgres;
pub mod redmine;
pub mod upstream;

use chatops::bot::{Bot, Dev};
use chatops::capabilities::{Grants, ProgressSink};
use chatops::dispatch::{Caller, Kind, Request, Response};
use chatops::model::User;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Capture what the host logs, in this test binary, for tests that check what was reported
/// (or that a secret never was). `filter` is an env-filter, e.g. `warn,chatops=info`.
/// The first call in a binary installs the subscriber; later calls share its buffer.
pub fn capture_logs(filter: &str) -> Arc<Mutex<Vec<u8>>> {
    static LOGS: std::sync::OnceLock<Arc<Mutex<Vec<u8>>>> = std::sync::OnceLock::new();
    LOGS.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let writer = buf.clone();
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_ansi(false)
            .with_writer(move || LogWriter(writer.clone()))
            .try_init();
        buf
    })
    .clone()
}

struct LogWriter(Arc<Mutex<Vec<u8>>>);
impl std::io::Write for LogWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Records what plugins post to channels.
#[derive(Default)]
pub struct Posts(pub Mutex<Vec<(String, String)>>);
#[async_trait::async_trait]
impl chatops::capabilities::Poster for Posts {
    async fn post(&self, channel: &str, text: &str) -> Result<(), String> {
        self.0.lock().unwrap().push((channel.into(), text.into()));
        Ok(())
    }
}

/// Kill a server started with `process_group(0)`, and everything in its process group, then
/// reap it. The group is signalled only while the child is not yet reaped: once reaped, its
/// PID (and so the group id) may belong to someone else — with Linux's 32768 PIDs and a
/// busy build that happens within seconds, and `kill(-pid)` would then kill an unrelated
/// process group (a shell, the CI runner).
pub fn kill_group(child: &mut std::process::Child) {
    if let Ok(None) = child.try_wait() {
        // SAFETY: kill(2) on the group this unreaped child leads; nothing can reuse its id.
        unsafe { libc_kill(-(child.id() as i32), 9) };
    }
    let _ = child.kill();
    let _ = child.wait();
}

extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

/// Every test step is bounded: a hung sandbox fails the test instead of hanging CI.
pub const STEP: Duration = Duration::from_secs(60);

/// A test plugin (`misbehave`, `probe`) or a bundled one (`echo`, `dice`, `httpcheck`).
pub fn plugin_bytes(name: &str) -> Vec<u8> {
    if let Some((_, b)) = chatops::bundled::BUNDLED.iter().find(|(n, _)| *n == name) {
        return b.to_vec();
    }
    let p = Path::new(env!("TEST_PLUGIN_DIR")).join(format!("{}.wasm", name.replace('-', "_")));
    std::fs::read(&p).unwrap_or_else(|e| panic!("test plugin {} was not built: {e}", p.display()))
}

pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("WORKSPACE_ROOT"))
}

/// Write plugins into `dir` and return their paths.
pub fn write_plugins(dir: &Path, names: &[&str]) -> Vec<PathBuf> {
    names
        .iter()
        .map(|n| {
            let p = dir.join(format!("{n}.wasm"));
            std::fs::write(&p, plugin_bytes(n)).expect("write plugin");
            p
        })
        .collect()
}

pub fn caller(name: &str, roles: &[&str]) -> Caller {
    Caller {
        user: User {
            id: format!("id-{name}"),
            name: name.into(),
            roles: roles.iter().map(|r| r.to_string()).collect(),
        },
        channel: "ops".into(),
        guild: Some("guild-1".into()),
    }
}

/// Records progress updates.
#[derive(Default)]
pub struct Progress(pub Mutex<Vec<String>>);
impl ProgressSink for Progress {
    fn progress(&self, text: &str) {
        self.0.lock().unwrap().push(text.to_string());
    }
}

/// A bot and a user talking to it.
pub struct Chat {
    pub bot: Arc<Bot>,
    pub who: Caller,
    pub progress: Arc<Progress>,
    _dir: Option<tempfile::TempDir>,
}

impl Chat {
    /// Plugins loaded the way an author tries them: no config, the given grants.
    pub async fn dev(names: &[&str], grants: Grants, secrets: &[(&str, &str)]) -> Chat {
        let dir = tempfile::tempdir().unwrap();
        let plugins = write_plugins(dir.path(), names);
        let dev = Dev {
            plugins,
            grants,
            secrets: secrets
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            settings: Default::default(),
            with_bundled: false,
            store: None,
            store_sync: Default::default(),
            limits: None,
        };
        let bot = tokio::time::timeout(STEP, Bot::start_dev(dev))
            .await
            .expect("start in time")
            .expect("bot starts");
        Chat {
            bot,
            who: caller("alice", &[]),
            progress: Arc::default(),
            _dir: Some(dir),
        }
    }

    pub async fn from_config(path: &Path) -> Chat {
        let bot = tokio::time::timeout(STEP, Bot::start(Some(path)))
            .await
            .expect("start in time")
            .expect("bot starts");
        Chat {
            bot,
            who: caller("alice", &[]),
            progress: Arc::default(),
            _dir: None,
        }
    }

    pub fn with_dir(mut self, dir: tempfile::TempDir) -> Self {
        self._dir = Some(dir);
        self
    }

    pub async fn say(&self, line: &str) -> Response {
        self.say_as(&self.who, line).await
    }

    pub async fn say_as(&self, who: &Caller, line: &str) -> Response {
        let progress: Arc<dyn ProgressSink> = self.progress.clone();
        tokio::time::timeout(
            STEP,
            self.bot
                .dispatcher
                .dispatch(who, Request::Text(line.into()), progress),
        )
        .await
        .unwrap_or_else(|_| panic!("`{line}` did not answer within {STEP:?}"))
    }

    /// Say `line` and expect a normal reply; returns its text.
    pub async fn ok(&self, line: &str) -> String {
        let r = self.say(line).await;
        assert_eq!(
            r.kind,
            Kind::Reply,
            "`{line}` answered {:?}: {}",
            r.kind,
            r.text
        );
        r.text
    }
}
