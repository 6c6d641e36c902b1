//! GitHub Actions: `workflow_dispatch`, then find the run it created in the workflow's runs,
//! follow it with `actions/runs/{id}`, cancel it with the run's cancel endpoint.

use crate::record::{self, Deploy};
use crate::settings::Settings;
use crate::text;
use crate::upstream::{clip, GITHUB as UP};
use chatops_sdk::http::Request;
use chatops_sdk::serde_json::{json, Value};
use chatops_sdk::{log, progress, secret, CommandError, Level, SecretError};
use std::time::Duration;

pub const TOKEN: &str = "github-token";
/// How many times to look for the run a dispatch created: GitHub lists it after a moment.
const FIND_ATTEMPTS: usize = 6;

pub struct GitHub {
    api: String,
    repo: String,
    workflow: String,
    token: String,
}

impl GitHub {
    pub fn connect(s: &Settings) -> Result<GitHub, CommandError> {
        let token = secret(TOKEN).map_err(|e| match e {
            SecretError::NotGranted(_) => CommandError::denied(format!(
                "deploy may not read the secret `{TOKEN}` it calls GitHub with; an admin must grant it (`chatops grant deploy secret {TOKEN}`)"
            )),
            e => CommandError::failed(e.message()),
        })?;
        Ok(GitHub {
            api: s.url.clone(),
            repo: s.repo.clone().unwrap_or_default(),
            workflow: s.workflow.clone(),
            token,
        })
    }

    fn request(&self, method: &str, path: &str) -> Request {
        Request::new(method, &format!("{}/repos/{}{path}", self.api, self.repo))
            .header("accept", "application/vnd.github+json")
            .header("x-github-api-version", "2022-11-28")
            .header("user-agent", "chatops-deploy")
            .bearer(&self.token)
    }

    pub fn start(
        &self,
        s: &Settings,
        service: &str,
        version: &str,
        env: &str,
        user: &str,
    ) -> Result<Deploy, CommandError> {
        // Runs created from one second before the dispatch on are candidates.
        let since = text::unix_now().saturating_sub(1);
        let what = "starting the workflow";
        // GitHub answers 200 with the run's id when asked to; a server that does not know
        // `return_run_details` answers 204, and the run is found in the workflow's runs.
        let body = json!({
            "ref": s.git_ref,
            "inputs": {"service": service, "version": version, "env": env},
            "return_run_details": true,
        });
        let path = format!("/actions/workflows/{}/dispatches", self.workflow);
        let resp = UP.send(self.request("POST", &path).json(&body)?, what)?;
        let run = match resp.status {
            200 => {
                let details: Value = UP.json(&resp, what)?;
                let Some(id) = details["workflow_run_id"].as_u64() else {
                    log(
                        Level::Warn,
                        format!(
                            "GitHub's dispatch answered without a run id: {}",
                            clip(&resp.text(), 300)
                        ),
                    );
                    return Err(CommandError::failed(
                        "GitHub gave an answer deploy could not read while starting the workflow; ask an admin to check the `url` setting.",
                    ));
                };
                json!({"id": id, "html_url": details["html_url"], "status": "queued"})
            }
            204 => {
                progress(format!(
                    "🕒 Deploy of {service} {version} → {env} dispatched; looking for its run…"
                ));
                self.find_run(since, version, env)?
            }
            404 => {
                log(
                    Level::Warn,
                    format!("GitHub 404 on {path}: {}", clip(&resp.text(), 300)),
                );
                return Err(CommandError::failed(format!(
                    "GitHub has no workflow `{}` in {} (or the token cannot see it); ask an admin to check the `repo` and `workflow` settings.",
                    self.workflow, self.repo
                )));
            }
            _ => return Err(UP.refused(&resp, what)),
        };
        let mut d = Deploy {
            id: run["id"]
                .as_u64()
                .map(|i| i.to_string())
                .unwrap_or_default(),
            backend: "github".into(),
            service: service.into(),
            version: version.into(),
            env: env.into(),
            user: user.into(),
            state: "queued".into(),
            link: String::new(),
            started: text::unix_now(),
            finished: None,
            build: run["id"].as_u64(),
            detail: String::new(),
        };
        apply(&mut d, &run);
        Ok(d)
    }

    /// The run the dispatch created: a `workflow_dispatch` run of this workflow created
    /// since just before it that no other deploy claimed, preferring one whose title names
    /// the version and environment (a `run-name` using the inputs).
    fn find_run(&self, since: u64, version: &str, env: &str) -> Result<Value, CommandError> {
        let what = "looking for the workflow run";
        let path = format!(
            "/actions/workflows/{}/runs?event=workflow_dispatch&created=%3E%3D{}&per_page=20",
            self.workflow,
            text::rfc3339(since).replace(':', "%3A")
        );
        for attempt in 0..FIND_ATTEMPTS {
            if attempt > 0 {
                std::thread::sleep(Duration::from_secs(1));
            }
            let resp = UP.send(self.request("GET", &path), what)?;
            if resp.status != 200 {
                return Err(UP.refused(&resp, what));
            }
            let v: Value = UP.json(&resp, what)?;
            let Some(runs) = v["workflow_runs"].as_array() else {
                log(
                    Level::Warn,
                    format!(
                        "GitHub's list of runs has no workflow_runs: {}",
                        clip(&resp.text(), 300)
                    ),
                );
                return Err(CommandError::failed(
                    "GitHub gave an answer deploy could not read while looking for the workflow run; ask an admin to check the `url` setting.",
                ));
            };
            if let Some(run) = pick_run(runs, since, version, env, claimed) {
                return Ok(run.clone());
            }
        }
        Err(CommandError::failed(format!(
            "GitHub accepted the deploy but no run of `{}` appeared within {FIND_ATTEMPTS} s; look at the repository's Actions tab.",
            self.workflow
        )))
    }

    pub fn refresh(&self, d: &mut Deploy) -> Result<(), CommandError> {
        let what = "checking on the workflow run";
        let resp = UP.send(
            self.request("GET", &format!("/actions/runs/{}", d.id)),
            what,
        )?;
        match resp.status {
            200 => {
                let run: Value = UP.json(&resp, what)?;
                apply(d, &run);
                Ok(())
            }
            404 => Err(CommandError::failed(format!(
                "GitHub has no run {} in {}.",
                d.id, self.repo
            ))),
            _ => Err(UP.refused(&resp, what)),
        }
    }

    pub fn cancel(&self, d: &mut Deploy, _by: &str) -> Result<(), CommandError> {
        let what = "cancelling the workflow run";
        let resp = UP.send(
            self.request("POST", &format!("/actions/runs/{}/cancel", d.id)),
            what,
        )?;
        match resp.status {
            202 | 200 | 204 => Ok(()),
            // Already finished: the refresh below says how.
            409 => self.refresh(d),
            _ => Err(UP.refused(&resp, what)),
        }
    }
}

/// Of the runs listed, the one a dispatch at `since` made: created since then, not claimed
/// by another deploy, preferring one whose title names the version and environment (a
/// `run-name` using the inputs), else the oldest.
fn pick_run<'a>(
    runs: &'a [Value],
    since: u64,
    version: &str,
    env: &str,
    claimed: impl Fn(u64) -> bool,
) -> Option<&'a Value> {
    let mut fresh: Vec<&Value> = runs
        .iter()
        .filter(|r| {
            r["created_at"]
                .as_str()
                .and_then(text::parse_rfc3339)
                .is_some_and(|t| t >= since)
                && r["id"].as_u64().is_some_and(|id| !claimed(id))
        })
        .collect();
    fresh.sort_by_key(|r| r["id"].as_u64());
    let titled = fresh.iter().copied().find(|r| {
        let t = r["display_title"].as_str().unwrap_or_default();
        t.contains(version) && t.contains(env)
    });
    titled.or(fresh.first().copied())
}

/// Whether another remembered deploy already is this run.
fn claimed(id: u64) -> bool {
    matches!(record::load(&id.to_string()), Ok(Some(_)))
}

/// A run's status and conclusion onto the deploy.
fn apply(d: &mut Deploy, run: &Value) {
    if let Some(url) = run["html_url"].as_str() {
        d.link = url.to_string();
    }
    let status = run["status"].as_str().unwrap_or_default();
    let conclusion = run["conclusion"].as_str().unwrap_or_default();
    d.state = match (status, conclusion) {
        ("completed", "success") => "succeeded",
        ("completed", "cancelled") => "cancelled",
        ("completed", _) => "failed",
        ("queued" | "requested" | "waiting" | "pending", _) => "queued",
        _ => "running",
    }
    .into();
    d.detail = if conclusion.is_empty() {
        status.replace('_', " ")
    } else {
        format!("conclusion {conclusion}")
    };
    if d.done() && d.finished.is_none() {
        d.finished = run["updated_at"]
            .as_str()
            .and_then(text::parse_rfc3339)
            .or(Some(text::unix_now()));
        if d.finished.is_some_and(|f| f < d.started) {
            d.finished = Some(d.started);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_the_run_a_dispatch_made() {
        let run = |id: u64, created: &str, title: &str| json!({"id": id, "created_at": created, "display_title": title});
        let since = text::parse_rfc3339("2026-11-27T08:00:00Z").unwrap();
        let runs = vec![
            run(9, "2026-11-27T08:00:05Z", "Deploy web 2.0 to prod"),
            run(8, "2026-11-27T08:00:03Z", "Deploy"),
            run(7, "2026-11-27T08:00:02Z", "Deploy api 1.4.2 to staging"),
            run(3, "2026-11-27T07:59:00Z", "Deploy api 1.4.2 to staging"),
        ];
        let none = |_| false;
        // The title names it: that one, even if not the oldest.
        assert_eq!(
            pick_run(&runs, since, "1.4.2", "staging", none).unwrap()["id"],
            7
        );
        assert_eq!(
            pick_run(&runs, since, "2.0", "prod", none).unwrap()["id"],
            9
        );
        // No title says: the oldest unclaimed since the dispatch.
        assert_eq!(pick_run(&runs, since, "3.0", "qa", none).unwrap()["id"], 7);
        assert_eq!(
            pick_run(&runs, since, "3.0", "qa", |id| id == 7).unwrap()["id"],
            8
        );
        // Older than the dispatch, or all claimed: none.
        assert!(pick_run(&runs[3..], since, "1.4.2", "staging", none).is_none());
        assert!(pick_run(&runs, since, "1.4.2", "staging", |_| true).is_none());
    }
}
