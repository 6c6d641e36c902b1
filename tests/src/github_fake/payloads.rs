//! The JSON objects GitHub answers with, every required field of the description filled
//! realistically. `api` is the fake's base URL: API links point back at the fake, web
//! links (`html_url`) at github.com as GitHub's do.

use super::time::rfc3339;
use serde_json::{json, Value};

pub const WEB: &str = "https://github.com";

/// The login the token belongs to.
pub const LOGIN: &str = "chatops-bot";
pub const USER_ID: u64 = 1001;

/// A stable id for a login (owners of repositories added to the fake).
pub fn user_id(login: &str) -> u64 {
    if login == LOGIN {
        return USER_ID;
    }
    // FNV-1a, folded into a plausible range.
    let h = login
        .to_ascii_lowercase()
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
    10_000 + h % 90_000_000
}

/// A base64-ish global node id, e.g. `WFR_kwDOAAAB`.
pub fn node_id(prefix: &str, id: u64) -> String {
    format!("{prefix}_kwDO{id:08X}")
}

/// `simple-user`.
pub fn user(api: &str, login: &str) -> Value {
    let id = user_id(login);
    json!({
        "login": login,
        "id": id,
        "node_id": node_id("U", id),
        "avatar_url": format!("https://avatars.githubusercontent.com/u/{id}?v=4"),
        "gravatar_id": "",
        "url": format!("{api}/users/{login}"),
        "html_url": format!("{WEB}/{login}"),
        "followers_url": format!("{api}/users/{login}/followers"),
        "following_url": format!("{api}/users/{login}/following{{/other_user}}"),
        "gists_url": format!("{api}/users/{login}/gists{{/gist_id}}"),
        "starred_url": format!("{api}/users/{login}/starred{{/owner}}{{/repo}}"),
        "subscriptions_url": format!("{api}/users/{login}/subscriptions"),
        "organizations_url": format!("{api}/users/{login}/orgs"),
        "repos_url": format!("{api}/users/{login}/repos"),
        "events_url": format!("{api}/users/{login}/events{{/privacy}}"),
        "received_events_url": format!("{api}/users/{login}/received_events"),
        "type": "User",
        "user_view_type": "public",
        "site_admin": false,
    })
}

/// `minimal-repository`.
pub fn repository(api: &str, owner: &str, name: &str, id: u64) -> Value {
    let full = format!("{owner}/{name}");
    let r = format!("{api}/repos/{full}");
    let mut repo = json!({
        "id": id,
        "node_id": node_id("R", id),
        "name": name,
        "full_name": full,
        "owner": user(api, owner),
        "private": true,
        "html_url": format!("{WEB}/{full}"),
        "description": null,
        "fork": false,
        "url": r,
    });
    // Split from the object above: one json! this size exceeds the macro recursion limit.
    let links = [
        ("archive_url", "/{archive_format}{/ref}"),
        ("assignees_url", "/assignees{/user}"),
        ("blobs_url", "/git/blobs{/sha}"),
        ("branches_url", "/branches{/branch}"),
        ("collaborators_url", "/collaborators{/collaborator}"),
        ("comments_url", "/comments{/number}"),
        ("commits_url", "/commits{/sha}"),
        ("compare_url", "/compare/{base}...{head}"),
        ("contents_url", "/contents/{+path}"),
        ("contributors_url", "/contributors"),
        ("deployments_url", "/deployments"),
        ("downloads_url", "/downloads"),
        ("events_url", "/events"),
        ("forks_url", "/forks"),
        ("git_commits_url", "/git/commits{/sha}"),
        ("git_refs_url", "/git/refs{/sha}"),
        ("git_tags_url", "/git/tags{/sha}"),
        ("hooks_url", "/hooks"),
        ("issue_comment_url", "/issues/comments{/number}"),
        ("issue_events_url", "/issues/events{/number}"),
        ("issues_url", "/issues{/number}"),
        ("keys_url", "/keys{/key_id}"),
        ("labels_url", "/labels{/name}"),
        ("languages_url", "/languages"),
        ("merges_url", "/merges"),
        ("milestones_url", "/milestones{/number}"),
        (
            "notifications_url",
            "/notifications{?since,all,participating}",
        ),
        ("pulls_url", "/pulls{/number}"),
        ("releases_url", "/releases{/id}"),
        ("stargazers_url", "/stargazers"),
        ("statuses_url", "/statuses/{sha}"),
        ("subscribers_url", "/subscribers"),
        ("subscription_url", "/subscription"),
        ("tags_url", "/tags"),
        ("teams_url", "/teams"),
        ("trees_url", "/git/trees{/sha}"),
    ];
    for (k, suffix) in links {
        repo[k] = Value::String(format!("{r}{suffix}"));
    }
    repo
}

/// A made-up but stable 40-hex commit sha.
pub fn sha(seed: u64) -> String {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x5851_f42d_4c95_7f2d;
    let mut out = String::with_capacity(40);
    while out.len() < 40 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.push_str(&format!("{x:016x}"));
    }
    out.truncate(40);
    out
}

/// Everything about a run the fake tracks; [`workflow_run`] renders it.
#[derive(Clone, Debug)]
pub struct Run {
    pub id: u64,
    pub owner: String,
    pub repo: String,
    pub repo_id: u64,
    pub workflow_id: u64,
    pub workflow_name: String,
    pub workflow_file: String,
    pub run_number: u64,
    pub head_branch: String,
    pub head_sha: String,
    pub event: String,
    pub actor: String,
    pub inputs: Value,
    pub created: u64,
    pub updated: u64,
    pub started: u64,
    pub status: String,
    pub conclusion: Option<String>,
    /// How it will end, and after how many more polls.
    pub outcome: String,
    pub polls_left: usize,
    pub cancel_requested: bool,
}

/// `workflow-run`.
pub fn workflow_run(api: &str, run: &Run) -> Value {
    let full = format!("{}/{}", run.owner, run.repo);
    let r = format!("{api}/repos/{full}");
    let u = format!("{r}/actions/runs/{}", run.id);
    let repo = repository(api, &run.owner, &run.repo, run.repo_id);
    let actor = user(api, &run.actor);
    json!({
        "id": run.id,
        "name": run.workflow_name,
        "node_id": node_id("WFR", run.id),
        "check_suite_id": run.id + 1_000_000,
        "check_suite_node_id": node_id("CS", run.id + 1_000_000),
        "head_branch": run.head_branch,
        "head_sha": run.head_sha,
        "path": format!(".github/workflows/{}", run.workflow_file),
        "display_title": run.workflow_name,
        "run_number": run.run_number,
        "run_attempt": 1,
        "referenced_workflows": [],
        "event": run.event,
        "status": run.status,
        "conclusion": run.conclusion,
        "workflow_id": run.workflow_id,
        "url": u,
        "html_url": format!("{WEB}/{full}/actions/runs/{}", run.id),
        "pull_requests": [],
        "created_at": rfc3339(run.created),
        "updated_at": rfc3339(run.updated),
        "actor": actor,
        "triggering_actor": actor,
        "run_started_at": rfc3339(run.started),
        "jobs_url": format!("{u}/jobs"),
        "logs_url": format!("{u}/logs"),
        "check_suite_url": format!("{r}/check-suites/{}", run.id + 1_000_000),
        "artifacts_url": format!("{u}/artifacts"),
        "cancel_url": format!("{u}/cancel"),
        "rerun_url": format!("{u}/rerun"),
        "previous_attempt_url": null,
        "workflow_url": format!("{r}/actions/workflows/{}", run.workflow_id),
        "head_commit": {
            "id": run.head_sha,
            "tree_id": sha(run.id ^ 0xabcd),
            "message": format!("Update {}", run.workflow_file),
            "timestamp": rfc3339(run.created.saturating_sub(600)),
            "author": {"name": "Mona Lisa", "email": "mona@example.com"},
            "committer": {"name": "GitHub", "email": "noreply@github.com"},
        },
        "repository": repo,
        "head_repository": repo,
        "head_repository_id": run.repo_id,
    })
}

/// `workflow`.
pub fn workflow(
    api: &str,
    owner: &str,
    repo: &str,
    id: u64,
    file: &str,
    name: &str,
    created: u64,
) -> Value {
    let full = format!("{owner}/{repo}");
    json!({
        "id": id,
        "node_id": node_id("W", id),
        "name": name,
        "path": format!(".github/workflows/{file}"),
        "state": "active",
        "created_at": rfc3339(created),
        "updated_at": rfc3339(created),
        "url": format!("{api}/repos/{full}/actions/workflows/{id}"),
        "html_url": format!("{WEB}/{full}/blob/main/.github/workflows/{file}"),
        "badge_url": format!("{WEB}/{full}/workflows/{name}/badge.svg"),
    })
}

/// `label` as embedded in an issue.
pub fn label(api: &str, owner: &str, repo: &str, id: u64, name: &str) -> Value {
    json!({
        "id": id,
        "node_id": node_id("LA", id),
        "url": format!("{api}/repos/{owner}/{repo}/labels/{}", name.replace(' ', "%20")),
        "name": name,
        "description": null,
        "color": "ededed",
        "default": false,
    })
}

pub fn reactions(url: &str) -> Value {
    json!({
        "url": format!("{url}/reactions"),
        "total_count": 0, "+1": 0, "-1": 0, "laugh": 0, "confused": 0,
        "heart": 0, "hooray": 0, "eyes": 0, "rocket": 0,
    })
}

/// `issue`, freshly opened by the token's user.
#[allow(clippy::too_many_arguments)]
pub fn issue(
    api: &str,
    owner: &str,
    repo: &str,
    id: u64,
    number: u64,
    title: &str,
    body: Option<&str>,
    labels: Vec<Value>,
    assignees: Vec<Value>,
    now: u64,
) -> Value {
    let r = format!("{api}/repos/{owner}/{repo}");
    let u = format!("{r}/issues/{number}");
    json!({
        "id": id,
        "node_id": node_id("I", id),
        "url": u,
        "repository_url": r,
        "labels_url": format!("{u}/labels{{/name}}"),
        "comments_url": format!("{u}/comments"),
        "events_url": format!("{u}/events"),
        "html_url": format!("{WEB}/{owner}/{repo}/issues/{number}"),
        "timeline_url": format!("{u}/timeline"),
        "number": number,
        "state": "open",
        "state_reason": null,
        "title": title,
        "body": body,
        "user": user(api, LOGIN),
        "labels": labels,
        "assignee": assignees.first().cloned(),
        "assignees": assignees,
        "milestone": null,
        "locked": false,
        "active_lock_reason": null,
        "comments": 0,
        "closed_at": null,
        "closed_by": null,
        "created_at": rfc3339(now),
        "updated_at": rfc3339(now),
        "author_association": "MEMBER",
        "reactions": reactions(&u),
    })
}

/// `issue-comment` by the token's user.
pub fn comment(
    api: &str,
    owner: &str,
    repo: &str,
    number: u64,
    id: u64,
    body: &str,
    now: u64,
) -> Value {
    let r = format!("{api}/repos/{owner}/{repo}");
    let u = format!("{r}/issues/comments/{id}");
    json!({
        "id": id,
        "node_id": node_id("IC", id),
        "url": u,
        "html_url": format!("{WEB}/{owner}/{repo}/issues/{number}#issuecomment-{id}"),
        "issue_url": format!("{r}/issues/{number}"),
        "body": body,
        "user": user(api, LOGIN),
        "created_at": rfc3339(now),
        "updated_at": rfc3339(now),
        "author_association": "MEMBER",
        "reactions": reactions(&u),
    })
}

/// GitHub's error body: `{"message", "documentation_url", "status"}`.
pub fn error(status: u16, message: &str, docs: &str) -> Value {
    json!({"message": message, "documentation_url": docs, "status": status.to_string()})
}

/// A 422 with one `errors` entry, as GitHub reports a field problem.
pub fn validation_failed(resource: &str, field: &str, code: &str, docs: &str) -> Value {
    json!({
        "message": "Validation Failed",
        "errors": [{"resource": resource, "field": field, "code": code}],
        "documentation_url": docs,
        "status": "422",
    })
}
