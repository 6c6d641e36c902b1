//! The fake GitHub, driven with reqwest the way a plugin drives GitHub: valid Actions and
//! Issues flows produce no spec violations, requests GitHub's OpenAPI description rejects
//! are recorded as violations, injected failures look like GitHub's, and every response
//! the fake sends validates (a bad one would show up in `violations()`).

use chatops_tests::github_fake::FakeGitHub;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const TOKEN: &str = "ghp_fake_token_for_tests";
/// Bound on one HTTP step.
const STEP: Duration = Duration::from_secs(20);

struct Client {
    http: reqwest::Client,
    base: String,
}

struct Answer {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    text: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

impl Client {
    fn new(gh: &FakeGitHub) -> Client {
        Client {
            http: reqwest::Client::builder().no_proxy().build().unwrap(),
            base: gh.url.clone(),
        }
    }

    /// A request as a well-behaved GitHub client sends it.
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Answer {
        self.send(method, path, body, |r| {
            r.bearer_auth(TOKEN)
                .header("Accept", "application/vnd.github+json")
                .header("X-GitHub-Api-Version", "2022-11-28")
                .header("User-Agent", "chatops-test")
        })
        .await
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        headers: impl FnOnce(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
    ) -> Answer {
        let mut r = headers(self.http.request(method, format!("{}{path}", self.base)));
        if let Some(b) = body {
            r = r.json(&b);
        }
        let resp = tokio::time::timeout(STEP, r.send())
            .await
            .expect("the fake answers in time")
            .expect("the fake answers");
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap();
        Answer {
            status,
            headers,
            text,
        }
    }
}

fn no_violations(gh: &FakeGitHub) {
    let v = gh.violations();
    assert!(v.is_empty(), "unexpected violations:\n{}", gh.report());
}

#[tokio::test]
async fn dispatch_poll_and_cancel_workflow_runs_without_violations() {
    let started = Instant::now();
    let gh = FakeGitHub::start(TOKEN).await;
    eprintln!(
        "GitHub's OpenAPI description loaded in {:?} (fake up after {:?})",
        FakeGitHub::spec_load_time(),
        started.elapsed()
    );
    gh.add_workflow("acme", "web", "deploy.yml");
    gh.set_run_outcome("success", 2);
    let c = Client::new(&gh);

    let a = c
        .call(
            Method::POST,
            "/repos/acme/web/actions/workflows/deploy.yml/dispatches",
            Some(json!({"ref": "main", "inputs": {"service": "web", "version": "1.2.3"}})),
        )
        .await;
    assert_eq!(a.status, 204, "{}", a.text);
    assert!(a.text.is_empty());

    // Find the run the way a plugin does: newest workflow_dispatch run of the workflow.
    let a = c
        .call(
            Method::GET,
            "/repos/acme/web/actions/workflows/deploy.yml/runs?event=workflow_dispatch&branch=main&per_page=5&created=%3E%3D2020-01-01T00:00:00Z",
            None,
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    let list = a.json();
    assert_eq!(list["total_count"], 1);
    let run = &list["workflow_runs"][0];
    assert_eq!(run["status"], "queued");
    assert_eq!(run["event"], "workflow_dispatch");
    assert_eq!(run["head_branch"], "main");
    assert_eq!(run["run_number"], 1);
    let id = run["id"].as_u64().unwrap();
    assert_eq!(
        run["html_url"],
        format!("https://github.com/acme/web/actions/runs/{id}")
    );

    let run_path = format!("/repos/acme/web/actions/runs/{id}");
    let first = c.call(Method::GET, &run_path, None).await.json();
    assert_eq!(first["status"], "in_progress");
    assert!(first["conclusion"].is_null());
    let second = c.call(Method::GET, &run_path, None).await.json();
    assert_eq!(second["status"], "completed");
    assert_eq!(second["conclusion"], "success");

    // A completed run cannot be cancelled.
    let a = c
        .call(Method::POST, &format!("{run_path}/cancel"), None)
        .await;
    assert_eq!(a.status, 409, "{}", a.text);
    assert!(a.json()["message"].as_str().unwrap().contains("completed"));

    // A second run, by workflow id and asking for the run details, cancelled while it runs.
    gh.set_run_outcome("failure", 5);
    let wf = c
        .call(
            Method::GET,
            "/repos/acme/web/actions/workflows/deploy.yml",
            None,
        )
        .await
        .json();
    let a = c
        .call(
            Method::POST,
            &format!("/repos/acme/web/actions/workflows/{}/dispatches", wf["id"]),
            Some(json!({"ref": "release", "return_run_details": true})),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    let details = a.json();
    let id2 = details["workflow_run_id"].as_u64().unwrap();
    assert_eq!(
        details["html_url"],
        format!("https://github.com/acme/web/actions/runs/{id2}")
    );
    let run2 = format!("/repos/acme/web/actions/runs/{id2}");
    assert_eq!(
        c.call(Method::GET, &run2, None).await.json()["status"],
        "in_progress"
    );
    let a = c.call(Method::POST, &format!("{run2}/cancel"), None).await;
    assert_eq!(a.status, 202, "{}", a.text);
    let done = c.call(Method::GET, &run2, None).await.json();
    assert_eq!(done["status"], "completed");
    assert_eq!(done["conclusion"], "cancelled");

    // The repository's runs, newest first, filtered by conclusion.
    let all = c
        .call(Method::GET, "/repos/acme/web/actions/runs", None)
        .await
        .json();
    assert_eq!(all["total_count"], 2);
    assert_eq!(all["workflow_runs"][0]["id"], id2);
    let ok = c
        .call(
            Method::GET,
            "/repos/acme/web/actions/runs?status=success",
            None,
        )
        .await
        .json();
    assert_eq!(ok["total_count"], 1);
    assert_eq!(ok["workflow_runs"][0]["id"], id);

    // Unknown workflow and run: 404 with GitHub's body.
    let a = c
        .call(
            Method::POST,
            "/repos/acme/web/actions/workflows/nope.yml/dispatches",
            Some(json!({"ref": "main"})),
        )
        .await;
    assert_eq!(a.status, 404);
    assert_eq!(a.json()["message"], "Not Found");
    let a = c
        .call(Method::GET, "/repos/acme/web/actions/runs/12345", None)
        .await;
    assert_eq!(a.status, 404);

    assert_eq!(gh.runs().len(), 2);
    assert_eq!(gh.runs()[0]["conclusion"], "success");
    let dispatch = &gh.requests()[0];
    assert_eq!(dispatch.header("x-github-api-version"), Some("2022-11-28"));
    assert_eq!(dispatch.body.as_ref().unwrap()["inputs"]["service"], "web");
    no_violations(&gh);
    eprintln!("actions flow took {:?}", started.elapsed());
}

#[tokio::test]
async fn issue_create_comment_and_close_without_violations() {
    let gh = FakeGitHub::start(TOKEN).await;
    gh.add_repo("acme", "ops");
    let c = Client::new(&gh);

    let a = c
        .call(
            Method::POST,
            "/repos/acme/ops/issues",
            Some(json!({"title": "db is down", "body": "since 10:00", "labels": ["incident"]})),
        )
        .await;
    assert_eq!(a.status, 201, "{}", a.text);
    let issue = a.json();
    assert_eq!(issue["number"], 1);
    assert_eq!(issue["state"], "open");
    assert_eq!(issue["html_url"], "https://github.com/acme/ops/issues/1");
    assert_eq!(issue["labels"][0]["name"], "incident");
    assert_eq!(
        a.header("location"),
        Some(format!("{}/repos/acme/ops/issues/1", gh.url).as_str())
    );

    let a = c
        .call(
            Method::POST,
            "/repos/acme/ops/issues/1/comments",
            Some(json!({"body": "restarted the primary"})),
        )
        .await;
    assert_eq!(a.status, 201, "{}", a.text);
    let comment = a.json();
    assert!(comment["html_url"]
        .as_str()
        .unwrap()
        .starts_with("https://github.com/acme/ops/issues/1#issuecomment-"));

    let comments = c
        .call(
            Method::GET,
            "/repos/acme/ops/issues/1/comments?per_page=10",
            None,
        )
        .await
        .json();
    assert_eq!(comments.as_array().unwrap().len(), 1);
    assert_eq!(comments[0]["body"], "restarted the primary");

    let a = c
        .call(
            Method::PATCH,
            "/repos/acme/ops/issues/1",
            Some(json!({"state": "closed", "state_reason": "completed"})),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    let closed = a.json();
    assert_eq!(closed["state"], "closed");
    assert_eq!(closed["state_reason"], "completed");
    assert!(closed["closed_at"].is_string());
    assert_eq!(closed["comments"], 1);

    let got = c.call(Method::GET, "/repos/acme/ops/issues/1", None).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.json()["state"], "closed");
    let open = c
        .call(Method::GET, "/repos/acme/ops/issues?state=open", None)
        .await
        .json();
    assert_eq!(open, json!([]));
    let all = c
        .call(
            Method::GET,
            "/repos/acme/ops/issues?state=all&labels=incident",
            None,
        )
        .await
        .json();
    assert_eq!(all[0]["number"], 1);

    // Reopen; missing issue and repository.
    let reopened = c
        .call(
            Method::PATCH,
            "/repos/acme/ops/issues/1",
            Some(json!({"state": "open"})),
        )
        .await
        .json();
    assert_eq!(reopened["state_reason"], "reopened");
    assert!(reopened["closed_at"].is_null());
    assert_eq!(
        c.call(Method::GET, "/repos/acme/ops/issues/99", None)
            .await
            .status,
        404
    );
    assert_eq!(
        c.call(Method::GET, "/repos/acme/nope/issues/1", None)
            .await
            .status,
        404
    );

    assert_eq!(gh.issue("acme", "ops", 1).unwrap()["state"], "open");
    assert_eq!(gh.comments("acme", "ops", 1).len(), 1);
    let seeded = gh.add_issue("acme", "ops", "seeded", "by the test");
    assert_eq!(seeded, 2);
    no_violations(&gh);
}

#[tokio::test]
async fn requests_the_spec_rejects_are_recorded() {
    let gh = FakeGitHub::start(TOKEN).await;
    gh.add_workflow_with_inputs("acme", "web", "deploy.yml", &["service"]);
    let c = Client::new(&gh);
    let dispatches = "/repos/acme/web/actions/workflows/deploy.yml/dispatches";

    // No `ref`: the description requires it; GitHub answers 422.
    let a = c
        .call(
            Method::POST,
            dispatches,
            Some(json!({"inputs": {"service": "web"}})),
        )
        .await;
    assert_eq!(a.status, 422, "{}", a.text);
    let v = gh.violations();
    assert!(
        v.iter()
            .any(|v| v.contains(dispatches) && v.contains("ref")),
        "{v:#?}"
    );

    // A non-string input: valid for the description, refused by GitHub.
    let a = c
        .call(
            Method::POST,
            dispatches,
            Some(json!({"ref": "main", "inputs": {"service": 5}})),
        )
        .await;
    assert_eq!(a.status, 422, "{}", a.text);
    assert!(a.json()["message"]
        .as_str()
        .unwrap()
        .contains("is not a string"));
    // An input the workflow does not declare.
    let a = c
        .call(
            Method::POST,
            dispatches,
            Some(json!({"ref": "main", "inputs": {"colour": "blue"}})),
        )
        .await;
    assert_eq!(a.status, 422, "{}", a.text);
    assert!(a.json()["message"]
        .as_str()
        .unwrap()
        .contains("Unexpected inputs"));

    // An issue with a boolean title and no title at all.
    gh.add_repo("acme", "ops");
    let before = gh.violations().len();
    let a = c
        .call(
            Method::POST,
            "/repos/acme/ops/issues",
            Some(json!({"title": true})),
        )
        .await;
    assert_eq!(a.status, 422);
    let a = c
        .call(
            Method::POST,
            "/repos/acme/ops/issues",
            Some(json!({"body": "no title"})),
        )
        .await;
    assert_eq!(a.status, 422);
    let body = a.json();
    assert_eq!(body["message"], "Validation Failed");
    assert_eq!(body["errors"][0]["code"], "missing_field");
    assert_eq!(body["errors"][0]["field"], "title");
    let v = gh.violations();
    assert!(v[before..].iter().any(|v| v.contains("/title")), "{v:#?}");
    assert!(
        v[before..]
            .iter()
            .any(|v| v.contains("\"title\" is a required property")),
        "{v:#?}"
    );

    // A bad enum value, a bad query parameter type, an unknown query parameter.
    let before = gh.violations().len();
    gh.add_issue("acme", "ops", "t", "b");
    c.call(
        Method::PATCH,
        "/repos/acme/ops/issues/1",
        Some(json!({"state": "done"})),
    )
    .await;
    c.call(
        Method::GET,
        "/repos/acme/web/actions/runs?per_page=lots",
        None,
    )
    .await;
    c.call(Method::GET, "/repos/acme/web/actions/runs?evnt=push", None)
        .await;
    c.call(
        Method::GET,
        "/repos/acme/web/actions/runs?created=yesterday",
        None,
    )
    .await;
    let v = &gh.violations()[before..];
    assert!(v.iter().any(|v| v.contains("/state")), "{v:#?}");
    assert!(v.iter().any(|v| v.contains("/per_page")), "{v:#?}");
    assert!(v.iter().any(|v| v.contains("`evnt`")), "{v:#?}");
    assert!(v.iter().any(|v| v.contains("created=yesterday")), "{v:#?}");

    // A route GitHub has but the fake does not serve, and one GitHub does not have.
    let before = gh.violations().len();
    assert_eq!(
        c.call(Method::GET, "/repos/acme/web/pulls", None)
            .await
            .status,
        404
    );
    assert_eq!(
        c.call(Method::GET, "/no/such/thing", None).await.status,
        404
    );
    assert_eq!(
        c.call(Method::DELETE, "/repos/acme/ops/issues/1", None)
            .await
            .status,
        404
    );
    let v = &gh.violations()[before..];
    assert_eq!(v.len(), 3, "{v:#?}");
    assert!(v.iter().all(|v| v.contains("unexpected route")), "{v:#?}");
}

#[tokio::test]
async fn credentials_and_headers_are_checked() {
    let gh = FakeGitHub::start(TOKEN).await;
    gh.add_repo("acme", "ops");
    let c = Client::new(&gh);
    let path = "/repos/acme/ops/issues/1";

    let a = c
        .send(Method::GET, path, None, |r| {
            r.bearer_auth("wrong")
                .header("User-Agent", "t")
                .header("Accept", "application/json")
        })
        .await;
    assert_eq!(a.status, 401);
    let body = a.json();
    assert_eq!(body["message"], "Bad credentials");
    assert_eq!(body["status"], "401");
    assert!(body["documentation_url"].is_string());
    // `token TOKEN` works as well as `Bearer TOKEN`.
    let a = c
        .send(Method::GET, path, None, |r| {
            r.header("Authorization", format!("token {TOKEN}"))
                .header("User-Agent", "t")
                .header("Accept", "application/vnd.github+json")
        })
        .await;
    assert_eq!(a.status, 404, "authenticated, but there is no issue 1");
    no_violations(&gh);

    // No User-Agent: 403, and a violation; no Accept: a violation.
    let a = c
        .send(Method::GET, path, None, |r| r.bearer_auth(TOKEN))
        .await;
    assert_eq!(a.status, 403);
    let a = c
        .send(Method::GET, path, None, |r| {
            r.bearer_auth(TOKEN).header("User-Agent", "t")
        })
        .await;
    assert_eq!(a.status, 404);
    // An API version GitHub does not serve: 400.
    let a = c
        .send(Method::GET, path, None, |r| {
            r.bearer_auth(TOKEN)
                .header("User-Agent", "t")
                .header("Accept", "application/vnd.github+json")
                .header("X-GitHub-Api-Version", "2021-01-01")
        })
        .await;
    assert_eq!(a.status, 400);
    let v = gh.violations();
    assert!(
        v.iter().any(|v| v.contains("X-GitHub-Api-Version")),
        "{v:#?}"
    );
    assert!(v.iter().any(|v| v.contains("User-Agent")), "{v:#?}");
    assert!(v.iter().any(|v| v.contains("Accept")), "{v:#?}");
}

#[tokio::test]
async fn injected_failures_look_like_github() {
    let gh = FakeGitHub::start(TOKEN).await;
    gh.add_workflow("acme", "web", "deploy.yml");
    gh.add_repo("acme", "ops");
    let c = Client::new(&gh);
    let dispatches = "/repos/acme/web/actions/workflows/deploy.yml/dispatches";
    let ref_main = || Some(json!({"ref": "main"}));

    gh.fail_next("POST", "/dispatches", 422, 1);
    let a = c.call(Method::POST, dispatches, ref_main()).await;
    assert_eq!(a.status, 422);
    assert_eq!(a.json()["errors"][0]["code"], "missing_field");
    // Only once.
    assert_eq!(
        c.call(Method::POST, dispatches, ref_main()).await.status,
        204
    );

    gh.fail_next("GET", "/actions/runs", 502, 2);
    assert_eq!(
        c.call(Method::GET, "/repos/acme/web/actions/runs", None)
            .await
            .status,
        502
    );
    assert_eq!(
        c.call(Method::GET, "/repos/acme/web/actions/runs", None)
            .await
            .status,
        502
    );
    assert_eq!(
        c.call(Method::GET, "/repos/acme/web/actions/runs", None)
            .await
            .status,
        200
    );

    gh.fail_next("POST", "/issues", 404, 1);
    let a = c
        .call(
            Method::POST,
            "/repos/acme/ops/issues",
            Some(json!({"title": "x"})),
        )
        .await;
    assert_eq!(a.status, 404);
    assert_eq!(a.json()["message"], "Not Found");

    gh.rate_limit_next("POST", "/issues", 7, 1);
    let a = c
        .call(
            Method::POST,
            "/repos/acme/ops/issues",
            Some(json!({"title": "x"})),
        )
        .await;
    assert_eq!(a.status, 429);
    assert_eq!(a.header("retry-after"), Some("7"));
    assert_eq!(a.header("x-ratelimit-remaining"), Some("0"));
    assert!(a.json()["message"].as_str().unwrap().contains("rate limit"));

    gh.fail_next("GET", "/issues/1", 403, 1);
    let a = c.call(Method::GET, "/repos/acme/ops/issues/1", None).await;
    assert_eq!(a.status, 403);
    assert_eq!(a.header("retry-after"), Some("1"));
    assert_eq!(a.header("x-ratelimit-remaining"), Some("0"));

    gh.forbid_next("GET", "/issues/1", 1);
    let a = c.call(Method::GET, "/repos/acme/ops/issues/1", None).await;
    assert_eq!(a.status, 403);
    assert!(a.header("retry-after").is_none());
    assert!(a.json()["message"]
        .as_str()
        .unwrap()
        .contains("not accessible"));

    gh.garble_next("GET", "/actions/runs");
    let a = c
        .call(Method::GET, "/repos/acme/web/actions/runs", None)
        .await;
    assert_eq!(a.status, 200);
    assert!(
        serde_json::from_str::<Value>(&a.text).is_err(),
        "{}",
        a.text
    );

    gh.delay_next("GET", "/actions/runs", Duration::from_millis(1500));
    let quick = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let err = quick
        .get(format!("{}/repos/acme/web/actions/runs", gh.url))
        .bearer_auth(TOKEN)
        .header("User-Agent", "t")
        .header("Accept", "application/vnd.github+json")
        .send()
        .await
        .expect_err("the delayed answer times out");
    assert!(err.is_timeout(), "{err}");
    // The delay was used up; the next one is prompt.
    let t = Instant::now();
    assert_eq!(
        c.call(Method::GET, "/repos/acme/web/actions/runs", None)
            .await
            .status,
        200
    );
    assert!(t.elapsed() < Duration::from_millis(1000));

    // Error bodies validate against GitHub's error schemas too.
    no_violations(&gh);
    let statuses: Vec<u16> = gh.requests().iter().map(|r| r.status).collect();
    assert!(
        statuses.contains(&429) && statuses.contains(&502),
        "{statuses:?}"
    );
}

/// The validation itself: a response missing required fields or with a wrong type is
/// caught, so "no violations" above means something.
#[tokio::test]
async fn the_validator_catches_bad_responses() {
    let gh = FakeGitHub::start(TOKEN).await;
    gh.add_workflow("acme", "web", "deploy.yml");
    gh.set_run_outcome("success", 0);
    let c = Client::new(&gh);
    c.call(
        Method::POST,
        "/repos/acme/web/actions/workflows/deploy.yml/dispatches",
        Some(json!({"ref": "main"})),
    )
    .await;
    let run = gh.runs().remove(0);
    assert_eq!(run["status"], "completed");
    let spec = chatops_tests::github_fake::spec::spec();
    let op = spec
        .find(
            "GET",
            &format!("/repos/acme/web/actions/runs/{}", run["id"]),
        )
        .unwrap();
    assert_eq!(op.id, "actions/get-workflow-run");
    assert_eq!(
        spec.check_response(&op, 200, Some(&run)),
        Vec::<String>::new()
    );

    let mut broken = run.clone();
    broken.as_object_mut().unwrap().remove("head_sha");
    broken["run_number"] = json!("1");
    broken["repository"]["owner"]["login"] = json!(null);
    broken["created_at"] = json!("yesterday");
    let problems = spec.check_response(&op, 200, Some(&broken));
    for expected in [
        "head_sha",
        "/run_number",
        "/repository/owner/login",
        "/created_at",
    ] {
        assert!(
            problems.iter().any(|p| p.contains(expected)),
            "{expected} not reported: {problems:#?}"
        );
    }
    // Nullable fields accept null; a status the operation does not document is reported.
    let mut nulls = run.clone();
    nulls["conclusion"] = Value::Null;
    nulls["head_commit"] = Value::Null;
    assert_eq!(
        spec.check_response(&op, 200, Some(&nulls)),
        Vec::<String>::new()
    );
    assert!(!spec.check_response(&op, 201, Some(&run)).is_empty());
    // Error bodies: GitHub's basic error shape.
    assert!(spec
        .check_response(&op, 404, Some(&json!({"message": 5})))
        .iter()
        .any(|p| p.contains("/message")));
    no_violations(&gh);
}
