//! Reads, checks and records every request, applies injected faults, answers the
//! operations the fake serves, and checks every JSON answer against the description.

use super::payloads::{self, Run, LOGIN};
use super::spec::{percent_decode, spec, Operation};
use super::{lock, time, Fault, Recorded, Shared, State};
use axum::body::Body;
use axum::extract::{Request, State as AxumState};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use serde_json::{json, Value};
use std::sync::Arc;

/// GitHub refuses bodies over 25 MB; a little headroom.
const BODY_LIMIT: usize = 32 * 1024 * 1024;

const DOCS: &str = "https://docs.github.com/rest";
const RATE_DOCS: &str = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api";

/// The REST API versions GitHub serves (`X-GitHub-Api-Version`); others get 400.
const API_VERSIONS: &[&str] = &["2022-11-28", "2026-03-10"];

/// What the fake answers.
pub(crate) struct Reply {
    status: u16,
    body: Option<Value>,
    headers: Vec<(String, String)>,
    /// A body sent as is instead of `body` (garbled answers).
    raw: Option<&'static str>,
}

impl Reply {
    fn json(status: u16, body: Value) -> Reply {
        Reply {
            status,
            body: Some(body),
            headers: Vec::new(),
            raw: None,
        }
    }

    fn empty(status: u16) -> Reply {
        Reply {
            status,
            body: None,
            headers: Vec::new(),
            raw: None,
        }
    }

    fn with_header(mut self, name: &str, value: impl Into<String>) -> Reply {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    fn error(status: u16, message: &str, docs: &str) -> Reply {
        Reply::json(status, payloads::error(status, message, docs))
    }

    fn not_found(docs: &str) -> Reply {
        Reply::error(404, "Not Found", docs)
    }

    /// GitHub's "Invalid request" 422 (schema-level problems with a body).
    fn invalid(detail: &str, docs: &str) -> Reply {
        Reply::error(422, &format!("Invalid request.\n\n{detail}"), docs)
    }

    fn field(resource: &str, field: &str, code: &str, docs: &str) -> Reply {
        Reply::json(
            422,
            payloads::validation_failed(resource, field, code, docs),
        )
    }
}

pub(crate) async fn handle(AxumState(shared): AxumState<Arc<Shared>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let method = parts.method.as_str().to_ascii_uppercase();
    let path = parts.uri.path().to_string();
    let query = parts.uri.query().unwrap_or("").to_string();
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_ascii_lowercase(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let bytes = axum::body::to_bytes(body, BODY_LIMIT)
        .await
        .unwrap_or_default();
    let (json, unparsable) = if bytes.iter().all(u8::is_ascii_whitespace) {
        (None, false)
    } else {
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(v) => (Some(v), false),
            Err(_) => (None, true),
        }
    };
    let index = {
        let mut requests = lock(&shared.requests);
        requests.push(Recorded {
            method: method.clone(),
            path: path.clone(),
            query: query.clone(),
            headers: headers.clone(),
            body: json.clone(),
            status: 0,
        });
        requests.len() - 1
    };
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let ctx = format!("{method} {path}");
    let violation = |v: String| shared.violation(format!("{ctx}: {v}"));

    let reply = 'reply: {
        // GitHub refuses a request without a User-Agent before anything else.
        if header("user-agent").is_none_or(|ua| ua.trim().is_empty()) {
            violation("no User-Agent header (GitHub answers 403)".into());
            break 'reply Reply::error(
                403,
                "Request forbidden by administrative rules. Please make sure your request has a User-Agent header (https://docs.github.com/en/rest/overview/resources-in-the-rest-api#user-agent-required). Check https://developer.github.com for other possible causes.",
                DOCS,
            );
        }
        let authorized = header("authorization").is_some_and(|a| {
            let a = a.trim();
            a.strip_prefix("Bearer ")
                .or_else(|| a.strip_prefix("bearer "))
                .or_else(|| a.strip_prefix("token "))
                .is_some_and(|t| t.trim() == shared.token)
        });
        if !authorized {
            break 'reply Reply::error(401, "Bad credentials", DOCS);
        }
        if let Some(v) = header("x-github-api-version") {
            if !API_VERSIONS.contains(&v.trim()) {
                violation(format!(
                    "X-GitHub-Api-Version {v:?} is not a version GitHub serves"
                ));
                break 'reply Reply::error(
                    400,
                    &format!("API version {v} is not supported."),
                    DOCS,
                );
            }
        }
        if !header("accept").is_some_and(|a| a.contains("json")) {
            violation(format!(
                "Accept is {:?}; GitHub asks for `application/vnd.github+json`",
                header("accept").unwrap_or("missing")
            ));
        }
        let op = match spec().find(&method, &path) {
            Ok(op) => op,
            Err(why) => {
                violation(format!("unexpected route: {why}"));
                break 'reply Reply::not_found(DOCS);
            }
        };
        if unparsable {
            violation("the body is not JSON".into());
            break 'reply Reply::error(400, "Problems parsing JSON", op.docs);
        }
        if json.is_some() && !header("content-type").is_some_and(|c| c.contains("json")) {
            violation(format!(
                "a JSON body sent with Content-Type {:?}",
                header("content-type").unwrap_or("missing")
            ));
        }
        let query_pairs = parse_query(&query);
        for problem in spec().check_request(&op, &query_pairs, json.as_ref()) {
            violation(problem);
        }

        let delay = State::take(&mut lock(&shared.state).delays, &method, &path);
        if let Some(Fault::Delay(d)) = delay {
            tokio::time::sleep(d).await;
        }
        let fault = State::take(&mut lock(&shared.state).faults, &method, &path);
        let reply = match fault {
            Some(f) => injected(f, &op),
            None => serve(&shared, &op, &query_pairs, json.as_ref(), &violation),
        };
        if reply.raw.is_none() {
            for problem in spec().check_response(&op, reply.status, reply.body.as_ref()) {
                violation(problem);
            }
        }
        reply
    };

    if let Some(r) = lock(&shared.requests).get_mut(index) {
        r.status = reply.status;
    }
    let used = lock(&shared.requests).len();
    render(reply, used, header("x-github-api-version"))
}

fn render(reply: Reply, used: usize, version: Option<&str>) -> Response {
    let rate_limited = reply
        .headers
        .iter()
        .any(|(k, _)| k == "x-ratelimit-remaining");
    let body = match (reply.raw, &reply.body) {
        (Some(raw), _) => Body::from(raw),
        (None, Some(v)) => Body::from(serde_json::to_vec(v).unwrap_or_default()),
        (None, None) => Body::empty(),
    };
    let mut response = Response::new(body);
    *response.status_mut() =
        StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut headers: Vec<(String, String)> = Vec::new();
    if reply.body.is_some() || reply.raw.is_some() {
        headers.push((
            "content-type".into(),
            "application/json; charset=utf-8".into(),
        ));
    }
    headers.push((
        "x-github-api-version-selected".into(),
        version.unwrap_or("2022-11-28").to_string(),
    ));
    headers.push((
        "x-github-media-type".into(),
        "github.v3; format=json".into(),
    ));
    headers.push(("x-github-request-id".into(), format!("FAKE:{used:06X}")));
    if !rate_limited {
        let used = used.min(4999);
        headers.push(("x-ratelimit-limit".into(), "5000".into()));
        headers.push(("x-ratelimit-remaining".into(), (5000 - used).to_string()));
        headers.push(("x-ratelimit-reset".into(), (time::now() + 3600).to_string()));
        headers.push(("x-ratelimit-used".into(), used.to_string()));
        headers.push(("x-ratelimit-resource".into(), "core".into()));
    }
    headers.extend(reply.headers);
    for (k, v) in headers {
        if let (Ok(k), Ok(v)) = (HeaderName::try_from(k), HeaderValue::try_from(v)) {
            response.headers_mut().insert(k, v);
        }
    }
    response
}

/// `a=1&b=x+y` as decoded pairs.
fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (
                percent_decode(&k.replace('+', " ")),
                percent_decode(&v.replace('+', " ")),
            )
        })
        .collect()
}

/// A failure a test asked for.
fn injected(fault: Fault, op: &Operation) -> Reply {
    match fault {
        Fault::Garble => Reply {
            status: 200,
            body: None,
            headers: Vec::new(),
            raw: Some("{\"message\": \"<html><body>Unicorn! &middot; GitHub</body></ht"),
        },
        Fault::Forbidden => Reply::error(
            403,
            "Resource not accessible by personal access token",
            op.docs,
        ),
        Fault::RateLimit(status, secs) => {
            let message = if status == 429 {
                "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach out to GitHub Support for help, please include the request ID FAKE:0001."
            } else {
                "API rate limit exceeded for user ID 1001. If you reach out to GitHub Support for help, please include the request ID FAKE:0001 and timestamp."
            };
            Reply::error(status, message, RATE_DOCS)
                .with_header("retry-after", secs.to_string())
                .with_header("x-ratelimit-limit", "5000")
                .with_header("x-ratelimit-remaining", "0")
                .with_header("x-ratelimit-used", "5000")
                .with_header("x-ratelimit-reset", (time::now() + secs).to_string())
                .with_header("x-ratelimit-resource", "core")
        }
        Fault::Status(401) => Reply::error(401, "Bad credentials", DOCS),
        Fault::Status(404) => Reply::not_found(op.docs),
        Fault::Status(422) => {
            let (resource, field) = match op.id {
                "issues/create-comment" => ("IssueComment", "body"),
                "issues/update" => ("Issue", "state"),
                "actions/create-workflow-dispatch" => ("Workflow", "ref"),
                _ => ("Issue", "title"),
            };
            Reply::field(resource, field, "missing_field", op.docs)
        }
        Fault::Status(status) => {
            let message = match status {
                500 => "Server Error",
                502 => "Server Error",
                503 => "Service Unavailable",
                504 => "We couldn't respond to your request in time. Sorry about that. Please try resubmitting your request and contact us if the problem persists.",
                s => StatusCode::from_u16(s)
                    .ok()
                    .and_then(|c| c.canonical_reason())
                    .unwrap_or("Error"),
            };
            Reply::error(status, message, op.docs)
        }
        Fault::Delay(_) => unreachable!("delays are not faults"),
    }
}

/// The operations the fake implements.
fn serve(
    shared: &Shared,
    op: &Operation,
    query: &[(String, String)],
    body: Option<&Value>,
    violation: &dyn Fn(String),
) -> Reply {
    let api = shared.url.as_str();
    let mut state = lock(&shared.state);
    let owner = op.param("owner").to_string();
    let repo = op.param("repo").to_string();
    if !op.template.starts_with("/repos/{owner}/{repo}/") {
        violation(format!(
            "unexpected route: the fake does not serve {}",
            op.id
        ));
        return Reply::not_found(op.docs);
    }
    if state.repo(&owner, &repo).is_none() {
        return Reply::not_found(op.docs);
    }
    let q = Query(query);
    let page = Page::from_query(q);
    let empty = Value::Null;
    let body = body.unwrap_or(&empty);
    match op.id {
        "actions/create-workflow-dispatch" => dispatch(&mut state, api, op, body),
        "actions/list-workflow-runs" | "actions/list-workflow-runs-for-repo" => {
            list_runs(&state, api, op, q, page, violation)
        }
        "actions/get-workflow-run" => {
            let Some(run) = find_run(&mut state, op) else {
                return Reply::not_found(op.docs);
            };
            advance(run);
            Reply::json(200, payloads::workflow_run(api, run))
        }
        "actions/cancel-workflow-run" => {
            let Some(run) = find_run(&mut state, op) else {
                return Reply::not_found(op.docs);
            };
            if run.status == "completed" {
                return Reply::error(
                    409,
                    "Cannot cancel a workflow run that is completed.",
                    op.docs,
                );
            }
            run.cancel_requested = true;
            run.updated = time::now();
            Reply::json(202, json!({}))
        }
        "actions/list-repo-workflows" => {
            let r = state.repo(&owner, &repo).expect("checked above");
            let all: Vec<Value> = r
                .workflows
                .iter()
                .map(|w| {
                    payloads::workflow(api, &r.owner, &r.name, w.id, &w.file, &w.name, w.created)
                })
                .collect();
            Reply::json(
                200,
                json!({"total_count": all.len(), "workflows": page.slice(all)}),
            )
        }
        "actions/get-workflow" => {
            let r = state.repo(&owner, &repo).expect("checked above");
            let wid = op.param("workflow_id");
            match r
                .workflows
                .iter()
                .find(|w| w.file == wid || w.id.to_string() == wid)
            {
                Some(w) => Reply::json(
                    200,
                    payloads::workflow(api, &r.owner, &r.name, w.id, &w.file, &w.name, w.created),
                ),
                None => Reply::not_found(op.docs),
            }
        }
        "issues/create" => create_issue(&mut state, api, op, body),
        "issues/get" => match issue_mut(&mut state, op) {
            Some(i) => Reply::json(200, i.json.clone()),
            None => Reply::not_found(op.docs),
        },
        "issues/update" => update_issue(&mut state, api, op, body),
        "issues/list-for-repo" => list_issues(&state, op, q, page),
        "issues/create-comment" => {
            let text = match &body["body"] {
                Value::String(s) => s.clone(),
                Value::Null => {
                    return Reply::field("IssueComment", "body", "missing_field", op.docs)
                }
                _ => return Reply::field("IssueComment", "body", "invalid", op.docs),
            };
            let id = state.next_id();
            let (o, r) = {
                let r = state.repo(&owner, &repo).expect("checked above");
                (r.owner.clone(), r.name.clone())
            };
            let Some(issue) = issue_mut(&mut state, op) else {
                return Reply::not_found(op.docs);
            };
            let now = time::now();
            let c = payloads::comment(api, &o, &r, issue.number, id, &text, now);
            issue.comments.push(c.clone());
            issue.json["comments"] = json!(issue.comments.len());
            issue.json["updated_at"] = json!(time::rfc3339(now));
            let location = c["url"].as_str().unwrap_or_default().to_string();
            Reply::json(201, c).with_header("location", location)
        }
        "issues/list-comments" => {
            let Some(issue) = issue_mut(&mut state, op) else {
                return Reply::not_found(op.docs);
            };
            let since = q.get("since").and_then(time::parse);
            let all: Vec<Value> = issue
                .comments
                .iter()
                .filter(|c| {
                    since.is_none_or(|s| {
                        c["updated_at"]
                            .as_str()
                            .and_then(time::parse)
                            .is_some_and(|t| t >= s)
                    })
                })
                .cloned()
                .collect();
            Reply::json(200, Value::Array(page.slice(all)))
        }
        other => {
            violation(format!("unexpected route: the fake does not serve {other}"));
            Reply::not_found(op.docs)
        }
    }
}

/// The decoded query, looked up by name.
#[derive(Clone, Copy)]
struct Query<'a>(&'a [(String, String)]);

impl<'a> Query<'a> {
    fn get(self, name: &str) -> Option<&'a str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Clone, Copy)]
struct Page {
    per_page: usize,
    page: usize,
}

impl Page {
    fn from_query(q: Query<'_>) -> Page {
        let per_page = q
            .get("per_page")
            .and_then(|v| v.parse().ok())
            .unwrap_or(30usize)
            .clamp(1, 100);
        let page = q
            .get("page")
            .and_then(|v| v.parse().ok())
            .unwrap_or(1usize)
            .max(1);
        Page { per_page, page }
    }

    fn slice(self, all: Vec<Value>) -> Vec<Value> {
        all.into_iter()
            .skip((self.page - 1) * self.per_page)
            .take(self.per_page)
            .collect()
    }
}

fn dispatch(state: &mut State, api: &str, op: &Operation, body: &Value) -> Reply {
    let (owner, repo) = (op.param("owner"), op.param("repo"));
    let wid = op.param("workflow_id");
    let r = state.repo(owner, repo).expect("checked by serve");
    let Some(w) = r
        .workflows
        .iter()
        .find(|w| w.file == wid || w.id.to_string() == wid)
    else {
        return Reply::not_found(op.docs);
    };
    let git_ref = match &body["ref"] {
        Value::String(s) => s.clone(),
        Value::Null => return Reply::invalid("\"ref\" wasn't supplied.", op.docs),
        other => {
            return Reply::invalid(
                &format!("For 'properties/ref', {other} is not a string."),
                op.docs,
            )
        }
    };
    let inputs = match body.get("inputs") {
        None | Some(Value::Null) => serde_json::Map::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(other) => {
            return Reply::invalid(
                &format!("For 'properties/inputs', {other} is not an object."),
                op.docs,
            )
        }
    };
    if inputs.len() > 25 {
        return Reply::invalid(
            "For 'properties/inputs', more than 25 properties were supplied.",
            op.docs,
        );
    }
    for (k, v) in &inputs {
        if !v.is_string() {
            return Reply::invalid(
                &format!("For 'properties/{k}', {v} is not a string."),
                op.docs,
            );
        }
    }
    if let Some(declared) = &w.inputs {
        let unexpected: Vec<&String> = inputs.keys().filter(|k| !declared.contains(k)).collect();
        if !unexpected.is_empty() {
            return Reply::error(
                422,
                &format!("Unexpected inputs provided: {unexpected:?}"),
                op.docs,
            );
        }
    }
    let (workflow_id, workflow_name, workflow_file) = (w.id, w.name.clone(), w.file.clone());
    let (conclusion, polls) = state.outcome.clone();
    let id = state.next_id();
    let now = time::now();
    let r = state.repo_mut(owner, repo).expect("checked by serve");
    let run_number = r.next_run_number;
    r.next_run_number += 1;
    let mut run = Run {
        id,
        owner: r.owner.clone(),
        repo: r.name.clone(),
        repo_id: r.id,
        workflow_id,
        workflow_name,
        workflow_file,
        run_number,
        head_branch: git_ref
            .strip_prefix("refs/heads/")
            .unwrap_or(&git_ref)
            .to_string(),
        head_sha: payloads::sha(id),
        event: "workflow_dispatch".into(),
        actor: LOGIN.into(),
        inputs: Value::Object(inputs),
        created: now,
        updated: now,
        started: now,
        status: "queued".into(),
        conclusion: None,
        outcome: conclusion,
        polls_left: polls,
        cancel_requested: false,
    };
    if polls == 0 {
        run.status = "completed".into();
        run.conclusion = Some(run.outcome.clone());
    }
    let details = json!({
        "workflow_run_id": id,
        "run_url": format!("{api}/repos/{}/{}/actions/runs/{id}", run.owner, run.repo),
        "html_url": format!("{}/{}/{}/actions/runs/{id}", payloads::WEB, run.owner, run.repo),
    });
    r.runs.push(run);
    if body["return_run_details"] == Value::Bool(true) {
        Reply::json(200, details)
    } else {
        Reply::empty(204)
    }
}

/// One poll of a run: it moves toward its outcome.
fn advance(run: &mut Run) {
    if run.status == "completed" {
        return;
    }
    run.updated = time::now();
    if run.cancel_requested {
        run.status = "completed".into();
        run.conclusion = Some("cancelled".into());
        return;
    }
    run.polls_left = run.polls_left.saturating_sub(1);
    if run.polls_left == 0 {
        run.status = "completed".into();
        run.conclusion = Some(run.outcome.clone());
    } else {
        run.status = "in_progress".into();
    }
}

fn find_run<'a>(state: &'a mut State, op: &Operation) -> Option<&'a mut Run> {
    let id: u64 = op.param("run_id").parse().ok()?;
    state
        .repo_mut(op.param("owner"), op.param("repo"))?
        .runs
        .iter_mut()
        .find(|r| r.id == id)
}

fn list_runs(
    state: &State,
    api: &str,
    op: &Operation,
    q: Query<'_>,
    page: Page,
    violation: &dyn Fn(String),
) -> Reply {
    let r = state
        .repo(op.param("owner"), op.param("repo"))
        .expect("checked by serve");
    let workflow = match op.params.get("workflow_id") {
        Some(wid) => match r
            .workflows
            .iter()
            .find(|w| &w.file == wid || &w.id.to_string() == wid)
        {
            Some(w) => Some(w.id),
            None => return Reply::not_found(op.docs),
        },
        None => None,
    };
    let created = q.get("created").map(|c| (c, created_filter(c)));
    if let Some((text, None)) = created {
        violation(format!(
            "`created={text}` is not GitHub's date search syntax (e.g. `>=2024-05-01T12:00:00Z`)"
        ));
    }
    let mut runs: Vec<&Run> = r
        .runs
        .iter()
        .filter(|run| workflow.is_none_or(|w| run.workflow_id == w))
        .filter(|run| q.get("event").is_none_or(|e| run.event == e))
        .filter(|run| q.get("branch").is_none_or(|b| run.head_branch == b))
        .filter(|run| {
            q.get("actor")
                .is_none_or(|a| run.actor.eq_ignore_ascii_case(a))
        })
        .filter(|run| q.get("head_sha").is_none_or(|s| run.head_sha == s))
        .filter(|run| {
            q.get("status")
                .is_none_or(|s| run.status == s || run.conclusion.as_deref() == Some(s))
        })
        .filter(|run| match &created {
            Some((_, Some((from, until)))) => run.created >= *from && run.created < *until,
            _ => true,
        })
        .collect();
    runs.sort_by_key(|run| std::cmp::Reverse((run.created, run.id)));
    let total = runs.len();
    let all: Vec<Value> = runs
        .into_iter()
        .map(|run| payloads::workflow_run(api, run))
        .collect();
    Reply::json(
        200,
        json!({"total_count": total, "workflow_runs": page.slice(all)}),
    )
}

/// GitHub's date search syntax as a half-open range of epoch seconds: `>=X`, `>X`,
/// `<=X`, `<X`, `A..B` (either side may be `*`), or `X`. A date alone means its whole day.
fn created_filter(text: &str) -> Option<(u64, u64)> {
    // A bound's [start, end) interval: one day for a date, one second for a time.
    fn bound(s: &str) -> Option<(u64, u64)> {
        let t = time::parse(s)?;
        Some((t, t + if s.contains('T') { 1 } else { 86_400 }))
    }
    let text = text.trim();
    if let Some(s) = text.strip_prefix(">=") {
        return Some((bound(s)?.0, u64::MAX));
    }
    if let Some(s) = text.strip_prefix("<=") {
        return Some((0, bound(s)?.1));
    }
    if let Some(s) = text.strip_prefix('>') {
        return Some((bound(s)?.1, u64::MAX));
    }
    if let Some(s) = text.strip_prefix('<') {
        return Some((0, bound(s)?.0));
    }
    if let Some((a, b)) = text.split_once("..") {
        let from = if a == "*" { 0 } else { bound(a)?.0 };
        let until = if b == "*" { u64::MAX } else { bound(b)?.1 };
        return Some((from, until));
    }
    bound(text)
}

fn issue_mut<'a>(state: &'a mut State, op: &Operation) -> Option<&'a mut super::IssueRec> {
    let number: u64 = op.param("issue_number").parse().ok()?;
    state
        .repo_mut(op.param("owner"), op.param("repo"))?
        .issues
        .iter_mut()
        .find(|i| i.number == number)
}

/// Label names from a request's `labels` (strings or `{name}` objects).
fn label_names(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|l| match l {
            Value::String(s) => Some(s.clone()),
            Value::Object(o) => o.get("name").and_then(Value::as_str).map(String::from),
            _ => None,
        })
        .collect()
}

fn logins(body: &Value) -> Vec<String> {
    let mut out: Vec<String> = body["assignees"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a.as_str().map(String::from))
        .collect();
    if let Some(a) = body["assignee"].as_str() {
        if !out.iter().any(|x| x == a) {
            out.insert(0, a.to_string());
        }
    }
    out
}

fn create_issue(state: &mut State, api: &str, op: &Operation, body: &Value) -> Reply {
    let title = match &body["title"] {
        Value::String(s) if !s.trim().is_empty() => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Null => return Reply::field("Issue", "title", "missing_field", op.docs),
        _ => return Reply::field("Issue", "title", "invalid", op.docs),
    };
    let text = match &body["body"] {
        Value::String(s) => Some(s.as_str()),
        Value::Null => None,
        _ => return Reply::field("Issue", "body", "invalid", op.docs),
    };
    let (owner, repo) = (op.param("owner"), op.param("repo"));
    let number = state.create_issue(
        api,
        owner,
        repo,
        &title,
        text,
        &label_names(&body["labels"]),
        &logins(body),
    );
    let r = state.repo(owner, repo).expect("checked by serve");
    let issue = r.issues[number as usize - 1].json.clone();
    let location = issue["url"].as_str().unwrap_or_default().to_string();
    Reply::json(201, issue).with_header("location", location)
}

fn update_issue(state: &mut State, api: &str, op: &Operation, body: &Value) -> Reply {
    // Everything is checked before anything changes, as GitHub does.
    let title = match &body["title"] {
        Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Null => None,
        _ => return Reply::field("Issue", "title", "invalid", op.docs),
    };
    let text = match body.get("body") {
        None => None,
        Some(b @ (Value::String(_) | Value::Null)) => Some(b.clone()),
        Some(_) => return Reply::field("Issue", "body", "invalid", op.docs),
    };
    let new_state = match &body["state"] {
        Value::Null => None,
        Value::String(s) if s == "open" || s == "closed" => Some(s.clone()),
        _ => return Reply::field("Issue", "state", "invalid", op.docs),
    };
    let reason = body["state_reason"].as_str().map(String::from);
    if issue_mut(state, op).is_none() {
        return Reply::not_found(op.docs);
    }
    let labels = body
        .get("labels")
        .filter(|l| !l.is_null())
        .map(|l| state.labels(api, op.param("owner"), op.param("repo"), &label_names(l)));
    let issue = issue_mut(state, op).expect("found above");
    let now = time::now();
    let j = &mut issue.json;
    if let Some(t) = title {
        j["title"] = json!(t);
    }
    if let Some(b) = text {
        j["body"] = b;
    }
    if let Some(l) = labels {
        j["labels"] = Value::Array(l);
    }
    if body.get("assignees").is_some() || body.get("assignee").is_some() {
        let users: Vec<Value> = logins(body)
            .iter()
            .map(|a| payloads::user(api, a))
            .collect();
        j["assignee"] = users.first().cloned().unwrap_or(Value::Null);
        j["assignees"] = Value::Array(users);
    }
    match new_state.as_deref() {
        Some("closed") => {
            if j["state"] != "closed" {
                j["state"] = json!("closed");
                j["closed_at"] = json!(time::rfc3339(now));
                j["closed_by"] = payloads::user(api, LOGIN);
            }
            j["state_reason"] = json!(reason.unwrap_or_else(|| "completed".into()));
        }
        Some(_) if j["state"] != "open" => {
            j["state"] = json!("open");
            j["closed_at"] = Value::Null;
            j["closed_by"] = Value::Null;
            j["state_reason"] = json!("reopened");
        }
        _ => {}
    }
    j["updated_at"] = json!(time::rfc3339(now));
    Reply::json(200, j.clone())
}

fn list_issues(state: &State, op: &Operation, q: Query<'_>, page: Page) -> Reply {
    let r = state
        .repo(op.param("owner"), op.param("repo"))
        .expect("checked by serve");
    let want_state = q.get("state").unwrap_or("open");
    let labels: Vec<&str> = q
        .get("labels")
        .map(|l| {
            l.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let since = q.get("since").and_then(time::parse);
    let mut issues: Vec<&Value> = r
        .issues
        .iter()
        .map(|i| &i.json)
        .filter(|j| want_state == "all" || j["state"] == want_state)
        .filter(|j| {
            labels.iter().all(|l| {
                j["labels"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|x| x["name"] == *l)
            })
        })
        .filter(|j| q.get("creator").is_none_or(|c| j["user"]["login"] == c))
        .filter(|j| match q.get("assignee") {
            None => true,
            Some("none") => j["assignee"].is_null(),
            Some("*") => !j["assignee"].is_null(),
            Some(a) => j["assignees"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|x| x["login"] == a),
        })
        .filter(|j| {
            since.is_none_or(|s| {
                j["updated_at"]
                    .as_str()
                    .and_then(time::parse)
                    .is_some_and(|t| t >= s)
            })
        })
        .collect();
    let key = match q.get("sort").unwrap_or("created") {
        "updated" => "updated_at",
        "comments" => "comments",
        _ => "created_at",
    };
    issues.sort_by(|a, b| {
        let ord = match key {
            "comments" => a[key].as_u64().cmp(&b[key].as_u64()),
            _ => a[key].as_str().cmp(&b[key].as_str()),
        }
        .then(a["number"].as_u64().cmp(&b["number"].as_u64()));
        if q.get("direction") == Some("asc") {
            ord
        } else {
            ord.reverse()
        }
    });
    let all: Vec<Value> = issues.into_iter().cloned().collect();
    Reply::json(200, Value::Array(page.slice(all)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_filters() {
        let t = time::parse("2024-05-01T12:00:00Z").unwrap();
        let (a, b) = created_filter(">=2024-05-01T12:00:00Z").unwrap();
        assert!(a == t && b == u64::MAX);
        let (a, b) = created_filter("2024-05-01").unwrap();
        assert!(a <= t && t < b);
        let (a, b) = created_filter("2024-05-01..*").unwrap();
        assert!(a <= t && b == u64::MAX);
        assert!(created_filter("yesterday").is_none());
    }
}
