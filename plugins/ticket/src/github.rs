//! GitHub Issues through the REST API (`Authorization: Bearer`, API version 2022-11-28):
//! create an issue, comment, close it as completed, read it.

use crate::api::{self, Service};
use crate::text::{self, clip, one_line, Who};
use crate::{setting, GITHUB_TOKEN};
use chatops_sdk::http::Request;
use chatops_sdk::serde::Deserialize;
use chatops_sdk::serde_json::json;
use chatops_sdk::*;

const SVC: Service = Service {
    name: "GitHub",
    secret: GITHUB_TOKEN,
};
pub const DEFAULT_API: &str = "https://api.github.com";

pub struct GitHub {
    api: String,
    repo: String,
    token: String,
}

#[derive(Debug, Deserialize)]
#[serde(crate = "chatops_sdk::serde")]
struct Issue {
    number: u64,
    #[serde(default)]
    title: String,
    html_url: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    state_reason: Option<String>,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    user: Option<Account>,
    #[serde(default)]
    assignees: Option<Vec<Account>>,
    #[serde(default)]
    labels: Vec<Label>,
    #[serde(default)]
    comments: u64,
    #[serde(default)]
    created_at: String,
    #[serde(default)]
    pull_request: Option<chatops_sdk::serde_json::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(crate = "chatops_sdk::serde")]
struct Account {
    login: String,
}

/// Labels come as objects (or, in old payloads, bare names).
#[derive(Debug, Deserialize)]
#[serde(crate = "chatops_sdk::serde", untagged)]
enum Label {
    Named { name: Option<String> },
    Bare(String),
}

impl Label {
    fn name(&self) -> &str {
        match self {
            Label::Named { name } => name.as_deref().unwrap_or(""),
            Label::Bare(s) => s,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(crate = "chatops_sdk::serde")]
struct Comment {
    html_url: String,
}

impl GitHub {
    pub fn from_config() -> Result<GitHub, CommandError> {
        let api = crate::optional("url")
            .unwrap_or_else(|| DEFAULT_API.into())
            .trim_end_matches('/')
            .to_string();
        let repo = setting("repo")?;
        if !valid_repo(&repo) {
            return Err(CommandError::failed(
                "The setting `repo` must be OWNER/REPO (e.g. acme/api); ask an admin to fix it.",
            ));
        }
        let token = crate::secret_or_explain(GITHUB_TOKEN)?;
        Ok(GitHub { api, repo, token })
    }

    fn req(&self, method: &str, path: &str) -> Request {
        Request::new(method, &format!("{}/repos/{}{path}", self.api, self.repo))
            .bearer(&self.token)
            .header("accept", "application/vnd.github+json")
            .header("x-github-api-version", "2022-11-28")
            .header("user-agent", "chatops-ticket")
    }

    fn no_such(&self, n: u64) -> String {
        format!(
            "{} has no issue #{n} (or the bot's token may not see it).",
            self.repo
        )
    }

    pub fn new_ticket(&self, title: &str, body: &str, who: &Who) -> Result<String, CommandError> {
        let what = "open the issue";
        let mut issue = json!({ "title": title, "body": text::new_body(body, who) });
        let labels: Vec<String> = crate::optional("labels")
            .unwrap_or_default()
            .split(',')
            .map(|l| l.trim().to_string())
            .filter(|l| !l.is_empty())
            .collect();
        if !labels.is_empty() {
            issue["labels"] = json!(labels);
        }
        progress(format!("Opening an issue in {}…", self.repo));
        let resp = api::exchange(
            SVC,
            api::with_json(self.req("POST", "/issues"), &issue),
            what,
        )?;
        if resp.status != 201 {
            let none = format!(
                "GitHub has no repository {} that the bot's token can open issues in; ask an admin to check the setting `repo`.",
                self.repo
            );
            return Err(api::refused(SVC, what, &resp, &none));
        }
        let created: Issue = api::json(SVC, what, &resp)?;
        log(
            Level::Info,
            format!(
                "{} opened GitHub issue {}#{}",
                who.describe(),
                self.repo,
                created.number
            ),
        );
        Ok(format!(
            "🎫 Opened #{} **{}** in {}: {}",
            created.number,
            clip(&one_line(title), 200),
            self.repo,
            created.html_url
        ))
    }

    pub fn comment(&self, n: u64, body: &str, who: &Who) -> Result<String, CommandError> {
        let what = format!("comment on #{n}");
        progress(format!("Adding your comment to #{n}…"));
        let url = self.add_comment(n, &text::comment_body(body, who), &what)?;
        Ok(format!("💬 Commented on #{n}: {url}"))
    }

    fn add_comment(&self, n: u64, body: &str, what: &str) -> Result<String, CommandError> {
        let resp = api::exchange(
            SVC,
            api::with_json(
                self.req("POST", &format!("/issues/{n}/comments")),
                &json!({ "body": body }),
            ),
            what,
        )?;
        if resp.status != 201 {
            return Err(api::refused(SVC, what, &resp, &self.no_such(n)));
        }
        Ok(api::json::<Comment>(SVC, what, &resp)?.html_url)
    }

    pub fn close(&self, n: u64, body: &str, who: &Who) -> Result<String, CommandError> {
        let what = format!("close #{n}");
        progress(format!("Closing #{n} in {}…", self.repo));
        let resp = api::exchange(
            SVC,
            api::with_json(
                self.req("PATCH", &format!("/issues/{n}")),
                &json!({ "state": "closed", "state_reason": "completed" }),
            ),
            &what,
        )?;
        if !resp.is_success() {
            return Err(api::refused(SVC, &what, &resp, &self.no_such(n)));
        }
        let issue: Issue = api::json(SVC, &what, &resp)?;
        let closed = format!(
            "✅ Closed #{n} **{}**: {}",
            clip(&one_line(&issue.title), 200),
            issue.html_url
        );
        // The note names who closed it (GitHub would name only the token's account).
        // The issue is closed either way, so a failed note is said, not an error.
        match self.add_comment(
            n,
            &text::close_body(body, who),
            &format!("add the closing note to #{n}"),
        ) {
            Ok(_) => Ok(closed),
            Err(
                CommandError::Failed(why) | CommandError::Denied(why) | CommandError::Usage(why),
            ) => Ok(format!(
                "{closed}
(The note naming you was not added: {why})"
            )),
        }
    }

    pub fn show(&self, n: u64) -> Result<String, CommandError> {
        let what = format!("read #{n}");
        let resp = api::exchange(SVC, self.req("GET", &format!("/issues/{n}")), &what)?;
        if !resp.is_success() {
            return Err(api::refused(SVC, &what, &resp, &self.no_such(n)));
        }
        let i: Issue = api::json(SVC, &what, &resp)?;
        let mut state = i.state.clone();
        if let Some(r) = i.state_reason.as_deref().filter(|r| !r.is_empty()) {
            if i.state == "closed" {
                state = format!("closed as {}", r.replace('_', " "));
            }
        }
        let kind = if i.pull_request.is_some() {
            " (pull request)"
        } else {
            ""
        };
        let mut out = format!(
            "🎫 #{} **{}**{kind} — {state}",
            i.number,
            clip(&one_line(&i.title), 200)
        );
        let mut facts = Vec::new();
        if let Some(u) = &i.user {
            facts.push(
                format!("opened by {} {}", u.login, text::day(&i.created_at))
                    .trim()
                    .to_string(),
            );
        }
        let assignees: Vec<&str> = i
            .assignees
            .iter()
            .flatten()
            .map(|a| a.login.as_str())
            .collect();
        if !assignees.is_empty() {
            facts.push(format!("assigned to {}", assignees.join(", ")));
        }
        let labels: Vec<&str> = i
            .labels
            .iter()
            .map(Label::name)
            .filter(|l| !l.is_empty())
            .collect();
        if !labels.is_empty() {
            facts.push(format!("labels {}", labels.join(", ")));
        }
        facts.push(format!(
            "{} comment{}",
            i.comments,
            if i.comments == 1 { "" } else { "s" }
        ));
        out.push_str(&format!("\n{}", facts.join(" · ")));
        if let Some(b) = i.body.as_deref().filter(|b| !b.trim().is_empty()) {
            out.push_str(&format!("\n> {}", clip(&one_line(b), 300)));
        }
        out.push_str(&format!("\n{}", i.html_url));
        Ok(out)
    }
}

/// `owner/repo`, with GitHub's characters only: nothing that could change the URL path.
pub fn valid_repo(repo: &str) -> bool {
    let ok = |s: &str| {
        !s.is_empty()
            && s != "."
            && s != ".."
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    matches!(repo.split_once('/'), Some((o, r)) if ok(o) && ok(r))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_repos() {
        assert!(valid_repo("acme/api"));
        assert!(valid_repo("a-b/c.d_e"));
        assert!(!valid_repo("acme"));
        assert!(!valid_repo("acme/api/x"));
        assert!(!valid_repo("../x"));
        assert!(!valid_repo("a/b?c"));
    }
}
