//! A fake GitHub REST API on 127.0.0.1: GitHub Actions workflow dispatches and runs, and
//! Issues with comments. Every request's parameters and JSON body, and every JSON body
//! the fake answers with, are validated against GitHub's own OpenAPI description
//! (`@octokit/openapi`, installed by `.ci/run`); what does not validate is recorded in
//! [`FakeGitHub::violations`], as are requests for routes the fake does not serve.
//!
//! ```ignore
//! let gh = FakeGitHub::start("ghp_test").await;
//! gh.add_workflow("acme", "web", "deploy.yml");
//! gh.set_run_outcome("success", 2);
//! // ... point the plugin at gh.url (the API base, like https://api.github.com) ...
//! assert_eq!(gh.runs()[0]["conclusion"], "success");
//! assert!(gh.violations().is_empty(), "{:#?}", gh.violations());
//! ```
//!
//! Layout: `routes` reads, checks and records requests and answers them; `payloads`
//! builds GitHub's objects; `spec` validates against the description; `time` formats
//! timestamps.

mod payloads;
mod routes;
pub mod spec;
mod time;

use axum::Router;
use payloads::Run;
use serde_json::Value;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub use payloads::LOGIN;

/// One request the fake received.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    /// e.g. `/repos/acme/web/actions/runs/7`, without the query.
    pub path: String,
    /// The raw query string without `?`, empty if none.
    pub query: String,
    /// Every header, names in lower case.
    pub headers: Vec<(String, String)>,
    /// The JSON body; `None` if there was none (or it was not JSON).
    pub body: Option<Value>,
    /// The status the fake answered with (0 while the answer is pending, e.g. delayed).
    pub status: u16,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A running fake GitHub; dropping it stops the server.
pub struct FakeGitHub {
    /// `http://127.0.0.1:PORT`: the API base, what `https://api.github.com` is for GitHub.
    pub url: String,
    shared: Arc<Shared>,
    server: JoinHandle<()>,
}

impl FakeGitHub {
    /// Starts the fake, accepting `Authorization: Bearer TOKEN` (or `token TOKEN`).
    /// Loads GitHub's OpenAPI description first (once per process); panics, naming the
    /// `.ci/run` step that installs it, if it is missing.
    pub async fn start(token: &str) -> FakeGitHub {
        // Parsing 13 MB of JSON blocks; keep it off the async worker.
        tokio::task::spawn_blocking(spec::spec)
            .await
            .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0 for the fake GitHub");
        let port = listener
            .local_addr()
            .expect("a bound socket has an address")
            .port();
        let url = format!("http://127.0.0.1:{port}");
        let shared = Arc::new(Shared {
            token: token.to_string(),
            url: url.clone(),
            state: Mutex::new(State::default()),
            requests: Mutex::new(Vec::new()),
            violations: Mutex::new(Vec::new()),
        });
        let app = Router::new()
            .fallback(routes::handle)
            .with_state(shared.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeGitHub {
            url,
            shared,
            server,
        }
    }

    /// How long loading GitHub's OpenAPI description took in this process.
    pub fn spec_load_time() -> Duration {
        spec::spec().load_time
    }

    /// Spec violations of requests and responses, and requests for unknown routes, each
    /// as `METHOD /path: problem`.
    pub fn violations(&self) -> Vec<String> {
        lock(&self.shared.violations).clone()
    }

    pub fn requests(&self) -> Vec<Recorded> {
        lock(&self.shared.requests).clone()
    }

    /// Everything the fake saw, for a failing assertion's message.
    pub fn report(&self) -> String {
        let mut out = String::from("fake GitHub requests:\n");
        for r in self.requests() {
            let q = if r.query.is_empty() {
                String::new()
            } else {
                format!("?{}", r.query)
            };
            out.push_str(&format!("  {} {}{q} -> {}", r.method, r.path, r.status));
            if let Some(b) = &r.body {
                out.push_str(&format!(" {b}"));
            }
            out.push('\n');
        }
        out.push_str("violations:\n");
        for v in self.violations() {
            out.push_str(&format!("  {v}\n"));
        }
        out
    }

    /// The next `times` requests with this method whose path contains `path_contains` are
    /// answered `status` with GitHub's error body: 401 bad credentials, 403 and 429 a rate
    /// limit (`Retry-After: 1`, `x-ratelimit-remaining: 0`), 404 not found, 409 conflict,
    /// 422 validation failed (`missing_field`), 5xx server errors.
    pub fn fail_next(&self, method: &str, path_contains: &str, status: u16, times: usize) {
        let kind = match status {
            403 | 429 => Fault::RateLimit(status, 1),
            s => Fault::Status(s),
        };
        self.add_fault(method, path_contains, kind, times);
    }

    /// A rate limit (429, `Retry-After: retry_after_secs`, `x-ratelimit-remaining: 0`)
    /// for the next `times` matching requests.
    pub fn rate_limit_next(
        &self,
        method: &str,
        path_contains: &str,
        retry_after_secs: u64,
        times: usize,
    ) {
        self.add_fault(
            method,
            path_contains,
            Fault::RateLimit(429, retry_after_secs),
            times,
        );
    }

    /// The same as a primary rate limit answered with 403, as GitHub also does.
    pub fn rate_limit_403_next(
        &self,
        method: &str,
        path_contains: &str,
        retry_after_secs: u64,
        times: usize,
    ) {
        self.add_fault(
            method,
            path_contains,
            Fault::RateLimit(403, retry_after_secs),
            times,
        );
    }

    /// A 403 that is not a rate limit: the token lacks the permission
    /// ("Resource not accessible by personal access token").
    pub fn forbid_next(&self, method: &str, path_contains: &str, times: usize) {
        self.add_fault(method, path_contains, Fault::Forbidden, times);
    }

    /// The next matching request is answered 200 with a body that is not JSON.
    pub fn garble_next(&self, method: &str, path_contains: &str) {
        self.add_fault(method, path_contains, Fault::Garble, 1);
    }

    /// The next matching request is answered only after `delay`.
    pub fn delay_next(&self, method: &str, path_contains: &str, delay: Duration) {
        lock(&self.shared.state).delays.push(Rule {
            method: method.to_ascii_uppercase(),
            path_contains: path_contains.to_string(),
            fault: Fault::Delay(delay),
            times: 1,
        });
    }

    fn add_fault(&self, method: &str, path_contains: &str, fault: Fault, times: usize) {
        if times == 0 {
            return;
        }
        lock(&self.shared.state).faults.push(Rule {
            method: method.to_ascii_uppercase(),
            path_contains: path_contains.to_string(),
            fault,
            times,
        });
    }

    // --- Actions ---

    /// Adds `owner/repo` (if new) with a workflow file, e.g. `deploy.yml`, that accepts
    /// `workflow_dispatch` with any string inputs.
    pub fn add_workflow(&self, owner: &str, repo: &str, workflow_file: &str) -> u64 {
        self.shared.add_workflow(owner, repo, workflow_file, None)
    }

    /// Like [`Self::add_workflow`], but the workflow declares these inputs: dispatching
    /// with any other input is refused with 422 "Unexpected inputs provided", as GitHub does.
    pub fn add_workflow_with_inputs(
        &self,
        owner: &str,
        repo: &str,
        workflow_file: &str,
        inputs: &[&str],
    ) -> u64 {
        let inputs = inputs.iter().map(|s| s.to_string()).collect();
        self.shared
            .add_workflow(owner, repo, workflow_file, Some(inputs))
    }

    /// How runs dispatched from now on end: conclusion `success`, `failure` or
    /// `cancelled`, once `GET .../actions/runs/{id}` has been called `polls` times
    /// (`in_progress` before that; `polls == 0`: completed at once). Default: success
    /// after 2 polls.
    pub fn set_run_outcome(&self, conclusion: &str, polls: usize) {
        lock(&self.shared.state).outcome = (conclusion.to_string(), polls);
    }

    /// Every run, oldest first, as GitHub renders them (reading does not advance them).
    pub fn runs(&self) -> Vec<Value> {
        let state = lock(&self.shared.state);
        let mut runs: Vec<&Run> = state.repos.iter().flat_map(|r| &r.runs).collect();
        runs.sort_by_key(|r| r.id);
        runs.into_iter()
            .map(|r| payloads::workflow_run(&self.url, r))
            .collect()
    }

    /// The inputs a run was dispatched with (`{}` if none).
    pub fn run_inputs(&self, run_id: u64) -> Option<Value> {
        let state = lock(&self.shared.state);
        state
            .repos
            .iter()
            .flat_map(|r| &r.runs)
            .find(|r| r.id == run_id)
            .map(|r| r.inputs.clone())
    }

    // --- Issues ---

    /// Adds a repository (no-op if it exists).
    pub fn add_repo(&self, owner: &str, repo: &str) {
        lock(&self.shared.state).repo_or_add(owner, repo);
    }

    /// Opens an issue directly (not through the API, so not recorded); returns its number.
    pub fn add_issue(&self, owner: &str, repo: &str, title: &str, body: &str) -> u64 {
        let mut state = lock(&self.shared.state);
        state.repo_or_add(owner, repo);
        state.create_issue(&self.url, owner, repo, title, Some(body), &[], &[])
    }

    pub fn issue(&self, owner: &str, repo: &str, number: u64) -> Option<Value> {
        let state = lock(&self.shared.state);
        state
            .repo(owner, repo)?
            .issues
            .iter()
            .find(|i| i.number == number)
            .map(|i| i.json.clone())
    }

    pub fn comments(&self, owner: &str, repo: &str, number: u64) -> Vec<Value> {
        let state = lock(&self.shared.state);
        state
            .repo(owner, repo)
            .and_then(|r| r.issues.iter().find(|i| i.number == number))
            .map(|i| i.comments.clone())
            .unwrap_or_default()
    }
}

impl Drop for FakeGitHub {
    fn drop(&mut self) {
        self.server.abort();
    }
}

pub(crate) struct Shared {
    token: String,
    url: String,
    state: Mutex<State>,
    requests: Mutex<Vec<Recorded>>,
    violations: Mutex<Vec<String>>,
}

impl Shared {
    fn violation(&self, v: String) {
        lock(&self.violations).push(v);
    }

    fn add_workflow(
        &self,
        owner: &str,
        repo: &str,
        file: &str,
        inputs: Option<Vec<String>>,
    ) -> u64 {
        let mut state = lock(&self.state);
        let id = state.next_id();
        let r = state.repo_or_add(owner, repo);
        if let Some(w) = r.workflows.iter_mut().find(|w| w.file == file) {
            w.inputs = inputs;
            return w.id;
        }
        let stem = file.rsplit_once('.').map_or(file, |(s, _)| s);
        let mut name: Vec<char> = stem.chars().collect();
        if let Some(c) = name.first_mut() {
            *c = c.to_ascii_uppercase();
        }
        r.workflows.push(Workflow {
            id,
            file: file.to_string(),
            name: name.into_iter().collect(),
            created: time::now(),
            inputs,
        });
        id
    }
}

pub(crate) enum Fault {
    Status(u16),
    /// Status (403 or 429) and Retry-After seconds.
    RateLimit(u16, u64),
    Forbidden,
    Garble,
    Delay(Duration),
}

pub(crate) struct Rule {
    method: String,
    path_contains: String,
    fault: Fault,
    times: usize,
}

pub(crate) struct Workflow {
    id: u64,
    file: String,
    name: String,
    created: u64,
    inputs: Option<Vec<String>>,
}

pub(crate) struct IssueRec {
    number: u64,
    json: Value,
    comments: Vec<Value>,
}

pub(crate) struct Repo {
    owner: String,
    name: String,
    id: u64,
    workflows: Vec<Workflow>,
    runs: Vec<Run>,
    issues: Vec<IssueRec>,
    labels: Vec<(String, u64)>,
    next_run_number: u64,
}

pub(crate) struct State {
    last_id: u64,
    repos: Vec<Repo>,
    outcome: (String, usize),
    faults: Vec<Rule>,
    delays: Vec<Rule>,
}

impl Default for State {
    fn default() -> Self {
        State {
            last_id: 4_000_000,
            repos: Vec::new(),
            outcome: ("success".into(), 2),
            faults: Vec::new(),
            delays: Vec::new(),
        }
    }
}

impl State {
    fn next_id(&mut self) -> u64 {
        self.last_id += 1 + self.last_id % 7;
        self.last_id
    }

    /// GitHub's owner and repository names are not case sensitive.
    fn repo(&self, owner: &str, name: &str) -> Option<&Repo> {
        self.repos
            .iter()
            .find(|r| r.owner.eq_ignore_ascii_case(owner) && r.name.eq_ignore_ascii_case(name))
    }

    fn repo_mut(&mut self, owner: &str, name: &str) -> Option<&mut Repo> {
        self.repos
            .iter_mut()
            .find(|r| r.owner.eq_ignore_ascii_case(owner) && r.name.eq_ignore_ascii_case(name))
    }

    fn repo_or_add(&mut self, owner: &str, name: &str) -> &mut Repo {
        if self.repo(owner, name).is_none() {
            let id = self.next_id();
            self.repos.push(Repo {
                owner: owner.to_string(),
                name: name.to_string(),
                id,
                workflows: Vec::new(),
                runs: Vec::new(),
                issues: Vec::new(),
                labels: Vec::new(),
                next_run_number: 1,
            });
        }
        self.repo_mut(owner, name).expect("just added")
    }

    /// Takes one use of the first rule matching the request, if any.
    fn take(rules: &mut Vec<Rule>, method: &str, path: &str) -> Option<Fault> {
        let i = rules
            .iter()
            .position(|r| r.method == method && path.contains(&r.path_contains))?;
        rules[i].times -= 1;
        if rules[i].times == 0 {
            Some(rules.remove(i).fault)
        } else {
            Some(match &rules[i].fault {
                Fault::Status(s) => Fault::Status(*s),
                Fault::RateLimit(s, n) => Fault::RateLimit(*s, *n),
                Fault::Forbidden => Fault::Forbidden,
                Fault::Garble => Fault::Garble,
                Fault::Delay(d) => Fault::Delay(*d),
            })
        }
    }

    /// Opens an issue in an existing repository; returns its number.
    #[allow(clippy::too_many_arguments)]
    fn create_issue(
        &mut self,
        api: &str,
        owner: &str,
        repo: &str,
        title: &str,
        body: Option<&str>,
        labels: &[String],
        assignees: &[String],
    ) -> u64 {
        let id = self.next_id();
        let label_json = self.labels(api, owner, repo, labels);
        let r = self.repo_mut(owner, repo).expect("the repository exists");
        let number = r.issues.len() as u64 + 1;
        let assignees = assignees.iter().map(|a| payloads::user(api, a)).collect();
        let json = payloads::issue(
            api,
            &r.owner,
            &r.name,
            id,
            number,
            title,
            body,
            label_json,
            assignees,
            time::now(),
        );
        r.issues.push(IssueRec {
            number,
            json,
            comments: Vec::new(),
        });
        number
    }

    /// Label objects for names, creating labels the repository does not have yet.
    fn labels(&mut self, api: &str, owner: &str, repo: &str, names: &[String]) -> Vec<Value> {
        let mut out = Vec::new();
        for name in names {
            let known = self
                .repo(owner, repo)
                .and_then(|r| r.labels.iter().find(|(n, _)| n == name).map(|(_, id)| *id));
            let id = match known {
                Some(id) => id,
                None => {
                    let id = self.next_id();
                    if let Some(r) = self.repo_mut(owner, repo) {
                        r.labels.push((name.clone(), id));
                    }
                    id
                }
            };
            let r = self.repo(owner, repo).expect("the repository exists");
            out.push(payloads::label(api, &r.owner, &r.name, id, name));
        }
        out
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
