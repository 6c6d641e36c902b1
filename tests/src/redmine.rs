//! The real Redmine (Debian's `redmine` 5.0 on sqlite, served by `thin`) on 127.0.0.1, on a
//! free port, working on a copy of the package's database in a temp dir; killed (its
//! process group) when dropped.
//!
//! ```text
//! let rm = Redmine::start(&["chatops"]).await;   // ≈ 5–9 s: seeding, then the server
//! rm.url; rm.api_key;                             // the admin's REST key
//! let issue = rm.issue(1).await;                  // GET /issues/1.json?include=journals
//! ```

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where Debian's package puts Redmine (its `bin/rails` runs the app).
const ROOT: &str = "/usr/share/redmine";
/// The package's database configuration, which names its sqlite file.
const DATABASE_YML: &str = "/etc/redmine/default/database.yml";
const INSTALL: &str =
    "Redmine is not installed: .ci/run installs it with `apt-get install -y redmine redmine-sqlite thin`";
/// Seeding with `rails runner` boots the whole app (≈ 5 s here).
const SEED_WITHIN: Duration = Duration::from_secs(120);
/// How long the server may take to answer its API.
const READY_WITHIN: Duration = Duration::from_secs(120);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);
/// The port is picked then released before thin binds it; if someone took it meanwhile,
/// try another.
const ATTEMPTS: usize = 3;

pub struct Redmine {
    /// `http://127.0.0.1:PORT`
    pub url: String,
    /// The admin's REST API key.
    pub api_key: String,
    /// The REST API key of `developer`, a member of every seeded project with Redmine's
    /// default Developer role: its workflow lets it close a new issue (Closed) but not
    /// reject it.
    pub developer_key: String,
    /// How long seeding and starting took, for the report.
    pub seed_time: Duration,
    pub start_time: Duration,
    child: Child,
    /// Set once the server was killed and reaped: its PID may belong to someone else now.
    killed: bool,
    http: reqwest::Client,
    dir: tempfile::TempDir,
}

impl Redmine {
    /// Copy the package's database, seed it in one `rails runner` (REST on, the admin's API
    /// key, default statuses and trackers if missing, one project per identifier with every
    /// tracker and issue tracking on), then serve it with `rails server` (thin).
    pub async fn start(projects: &[&str]) -> Redmine {
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .expect("reqwest client");
        if !Path::new(ROOT).join("bin/rails").exists() {
            panic!("{INSTALL}");
        }
        for p in projects {
            assert!(
                !p.is_empty()
                    && p.chars().all(|c| c.is_ascii_lowercase()
                        || c.is_ascii_digit()
                        || c == '-'
                        || c == '_'),
                "`{p}` is not a Redmine project identifier (a-z, 0-9, - and _)"
            );
        }
        let mut dir = tempfile::tempdir().expect("temp dir for redmine");
        let db = dir.path().join("redmine.sqlite3");
        let source = package_database();
        std::fs::copy(&source, &db).unwrap_or_else(|e| {
            panic!(
                "could not copy Redmine's database {} (run the tests as root, or as a member of www-data): {e}",
                source.display()
            )
        });
        let t0 = Instant::now();
        let (api_key, developer_key) = seed(dir.path(), &db, projects).await;
        let seed_time = t0.elapsed();

        let mut last_failure = String::new();
        for _ in 0..ATTEMPTS {
            let t0 = Instant::now();
            let port = free_port();
            let child = spawn(dir.path(), &db, port);
            let mut rm = Redmine {
                url: format!("http://127.0.0.1:{port}"),
                api_key: api_key.clone(),
                developer_key: developer_key.clone(),
                seed_time,
                start_time: Duration::ZERO,
                child,
                killed: false,
                http: http.clone(),
                dir,
            };
            match rm.wait_ready().await {
                Ok(()) => {
                    rm.start_time = t0.elapsed();
                    return rm;
                }
                Err(Exited(why)) => {
                    last_failure = why;
                    // Keep the seeded database for the next attempt.
                    dir = rm.take_dir();
                }
                Err(TimedOut(why)) => panic!("{why}"),
            }
        }
        panic!("redmine did not start in {ATTEMPTS} attempts; the last: {last_failure}");
    }

    /// `GET /issues/{id}.json?include=journals` through Redmine's own API, as the admin.
    pub async fn issue(&self, id: u64) -> serde_json::Value {
        let path = format!("/issues/{id}.json?include=journals");
        let resp = self
            .http
            .get(format!("{}{path}", self.url))
            .header("X-Redmine-API-Key", &self.api_key)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        let status = resp.status();
        assert!(status.is_success(), "GET {path} answered {status}");
        resp.json::<serde_json::Value>()
            .await
            .unwrap_or_else(|e| panic!("GET {path} is not JSON: {e}"))["issue"]
            .clone()
    }

    /// How many issues the project has, through the API.
    pub async fn issue_count(&self, project: &str) -> u64 {
        let path = format!("/issues.json?project_id={project}&status_id=*&limit=1");
        let resp = self
            .http
            .get(format!("{}{path}", self.url))
            .header("X-Redmine-API-Key", &self.api_key)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        let v: serde_json::Value = resp.json().await.expect("issues JSON");
        v["total_count"].as_u64().expect("total_count")
    }

    /// What the server printed so far (its log goes to stdout), for assertion messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// The server's process id (its process group has the same id).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    fn take_dir(&mut self) -> tempfile::TempDir {
        let _ = self.kill();
        std::mem::replace(&mut self.dir, tempfile::tempdir().expect("temp dir"))
    }

    fn kill(&mut self) -> std::io::Result<()> {
        if std::mem::replace(&mut self.killed, true) {
            return Ok(());
        }
        // The server runs in its own process group: signal the whole group (while it is
        // unreaped, so the id is still its own), so nothing it started survives; reap it.
        crate::kill_group(&mut self.child);
        Ok(())
    }

    async fn wait_ready(&mut self) -> Result<(), NotReady> {
        let deadline = Instant::now() + READY_WITHIN;
        let probe_url = format!("{}/issue_statuses.json", self.url);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(Exited(format!(
                    "redmine exited ({status}) before it was ready:\n{}",
                    tail(&self.log())
                )));
            }
            let probe = self
                .http
                .get(&probe_url)
                .header("X-Redmine-API-Key", &self.api_key)
                .timeout(Duration::from_secs(5))
                .send()
                .await;
            if probe.is_ok_and(|r| r.status().is_success()) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(TimedOut(format!(
                    "redmine at {} was not ready within {READY_WITHIN:?}:\n{}",
                    self.url,
                    tail(&self.log())
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

enum NotReady {
    Exited(String),
    TimedOut(String),
}
use NotReady::{Exited, TimedOut};

impl Drop for Redmine {
    fn drop(&mut self) {
        let _ = self.kill();
    }
}

/// The sqlite file named in Debian's database.yml.
fn package_database() -> PathBuf {
    let yml = std::fs::read_to_string(DATABASE_YML)
        .unwrap_or_else(|e| panic!("{INSTALL} (reading {DATABASE_YML}: {e})"));
    let line = yml
        .lines()
        .find_map(|l| l.trim().strip_prefix("database:"))
        .unwrap_or_else(|| panic!("{DATABASE_YML} names no database"));
    PathBuf::from(line.trim().trim_matches('"'))
}

/// The seeding script: everything in one runner, since each boots the whole app.
fn seed_script(projects: &[&str]) -> String {
    // Identifiers are checked to be [a-z0-9_-] before they get here.
    let list: Vec<String> = projects.iter().map(|p| format!("'{p}'")).collect();
    let list = list.join(", ");
    format!(
        r#"require "json"
if IssueStatus.count == 0 || Tracker.count == 0 || IssuePriority.count == 0
  Redmine::DefaultData::Loader.load("en")
end
Setting.rest_api_enabled = "1"
admin = User.find_by_login("admin")
key = admin.api_key # creates the token if the admin has none
[{list}].each do |ident|
  next if Project.find_by_identifier(ident)
  p = Project.new(name: "Project #{{ident}}", identifier: ident)
  p.tracker_ids = Tracker.pluck(:id)
  p.enabled_module_names = ["issue_tracking"]
  p.save!
end
developer = User.find_by_login("developer") || User.new(firstname: "Chat", lastname: "Developer", mail: "developer@example.invalid").tap do |u|
  u.login = "developer"
  u.password = u.password_confirmation = "chatops-developer-1"
  u.save!
end
role = Role.find_by_name("Developer")
[{list}].each do |ident|
  p = Project.find_by_identifier(ident)
  next if Member.where(project_id: p.id, user_id: developer.id).exists?
  m = Member.new(project: p, principal: developer)
  m.role_ids = [role.id]
  m.save!
end
puts "CHATOPS-API-KEY=#{{key}}"
puts "CHATOPS-DEVELOPER-KEY=#{{developer.api_key}}"
"#
    )
}

/// Seeds, and returns the admin's and the developer's API keys.
async fn seed(dir: &Path, db: &Path, projects: &[&str]) -> (String, String) {
    let script = dir.join("seed.rb");
    std::fs::write(&script, seed_script(projects)).expect("write seed.rb");
    let mut cmd = tokio::process::Command::new("bin/rails");
    cmd.arg("runner")
        .arg(&script)
        .current_dir(ROOT)
        .env("RAILS_ENV", "production")
        .env("DATABASE_URL", format!("sqlite3:{}", db.display()))
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let out = tokio::time::timeout(SEED_WITHIN, cmd.output())
        .await
        .unwrap_or_else(|_| panic!("seeding Redmine took longer than {SEED_WITHIN:?}"))
        .unwrap_or_else(|e| panic!("could not run Redmine's bin/rails runner: {e} ({INSTALL})"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = |prefix: &str| {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(prefix))
            .map(|k| k.trim().to_string())
            .filter(|k| !k.is_empty())
            .unwrap_or_else(|| {
                panic!(
                    "seeding Redmine failed ({}):\n{stdout}\n{}",
                    out.status,
                    tail(&String::from_utf8_lossy(&out.stderr))
                )
            })
    };
    (line("CHATOPS-API-KEY="), line("CHATOPS-DEVELOPER-KEY="))
}

fn spawn(dir: &Path, db: &Path, port: u16) -> Child {
    let log = std::fs::File::create(dir.join("server.log")).expect("redmine log file");
    let log2 = log.try_clone().expect("clone the log file handle");
    Command::new("bin/rails")
        .args(["server", "-b", "127.0.0.1", "-p", &port.to_string(), "-P"])
        .arg(dir.join("server.pid"))
        .current_dir(ROOT)
        .env("RAILS_ENV", "production")
        .env("DATABASE_URL", format!("sqlite3:{}", db.display()))
        .env("RAILS_LOG_TO_STDOUT", "1")
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2)
        .spawn()
        .unwrap_or_else(|e| panic!("could not start Redmine's bin/rails server: {e} ({INSTALL})"))
}

/// A port nobody listens on right now.
fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local addr").port()
}

/// The last 40 lines: enough to see why Rails stopped.
fn tail(s: &str) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_script_lists_projects() {
        let s = seed_script(&["chatops", "other"]);
        assert!(s.contains("['chatops', 'other'].each do |ident|"), "{s}");
        assert!(s.contains("Setting.rest_api_enabled = \"1\""));
    }
}
