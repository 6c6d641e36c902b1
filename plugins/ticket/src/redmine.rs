//! Redmine's REST API (`X-Redmine-API-Key`): create an issue, add notes, close it with a
//! status whose `is_closed` is true, read it back with its journals.

use crate::api::{self, Service};
use crate::text::{self, clip, one_line, Who};
use crate::{setting, REDMINE_KEY};
use chatops_sdk::http::Request;
use chatops_sdk::serde::Deserialize;
use chatops_sdk::serde_json::json;
use chatops_sdk::*;

const SVC: Service = Service {
    name: "Redmine",
    secret: REDMINE_KEY,
};

pub struct Redmine {
    base: String,
    web: String,
    key: String,
}

#[derive(Debug, Deserialize)]
#[serde(crate = "chatops_sdk::serde")]
struct One {
    issue: Issue,
}

#[derive(Debug, Deserialize)]
#[serde(crate = "chatops_sdk::serde")]
pub struct Issue {
    pub id: u64,
    #[serde(default)]
    pub subject: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub status: Option<Named>,
    #[serde(default)]
    pub tracker: Option<Named>,
    #[serde(default)]
    pub priority: Option<Named>,
    #[serde(default)]
    pub author: Option<Named>,
    #[serde(default)]
    pub assigned_to: Option<Named>,
    #[serde(default)]
    pub project: Option<Named>,
    #[serde(default)]
    pub created_on: Option<String>,
    #[serde(default)]
    pub updated_on: Option<String>,
    #[serde(default)]
    pub journals: Vec<Journal>,
}

#[derive(Debug, Deserialize)]
#[serde(crate = "chatops_sdk::serde")]
pub struct Named {
    #[serde(default)]
    pub id: u64,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub is_closed: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(crate = "chatops_sdk::serde")]
pub struct Journal {
    #[serde(default)]
    pub user: Option<Named>,
    #[serde(default)]
    pub notes: Option<String>,
    #[serde(default)]
    pub created_on: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(crate = "chatops_sdk::serde")]
struct Statuses {
    issue_statuses: Vec<Named>,
}

impl Redmine {
    pub fn from_config() -> Result<Redmine, CommandError> {
        let base = setting("url")?.trim_end_matches('/').to_string();
        let web = crate::optional("web_url")
            .map(|w| w.trim_end_matches('/').to_string())
            .unwrap_or_else(|| base.clone());
        let key = crate::secret_or_explain(REDMINE_KEY)?;
        Ok(Redmine { base, web, key })
    }

    fn req(&self, method: &str, path: &str) -> Request {
        Request::new(method, &format!("{}{path}", self.base))
            .header("x-redmine-api-key", &self.key)
            .header("accept", "application/json")
            .header("user-agent", "chatops-ticket")
    }

    fn link(&self, id: u64) -> String {
        format!("{}/issues/{id}", self.web)
    }

    fn no_such(&self, id: u64) -> String {
        format!("Redmine has no ticket #{id} (or the bot's account may not see it).")
    }

    pub fn new_ticket(&self, title: &str, body: &str, who: &Who) -> Result<String, CommandError> {
        let project = setting("project")?;
        let mut issue = json!({
            "project_id": project,
            "subject": title,
            "description": text::new_body(body, who),
        });
        if let Some(t) = crate::optional("tracker_id") {
            let t: u64 = t.parse().map_err(|_| {
                CommandError::failed(
                    "The setting `tracker_id` must be a number (see Administration → Trackers in Redmine).",
                )
            })?;
            issue["tracker_id"] = t.into();
        }
        let what = "open the ticket";
        progress("Opening a ticket in Redmine…");
        let resp = api::exchange(
            SVC,
            api::with_json(self.req("POST", "/issues.json"), &json!({ "issue": issue })),
            what,
        )?;
        if resp.status != 201 && resp.status != 200 {
            let none = format!(
                "Redmine has no project `{project}`: ask an admin to check the setting `project`."
            );
            return Err(api::refused(SVC, what, &resp, &none));
        }
        let created: One = api::json(SVC, what, &resp)?;
        let id = created.issue.id;
        log(
            Level::Info,
            format!("{} opened Redmine issue #{id} in {project}", who.describe()),
        );
        Ok(format!(
            "🎫 Opened #{id} **{}** in Redmine: {}",
            clip(&one_line(title), 200),
            self.link(id)
        ))
    }

    pub fn comment(&self, id: u64, body: &str, who: &Who) -> Result<String, CommandError> {
        let what = format!("comment on #{id}");
        progress(format!("Adding your comment to #{id}…"));
        let notes = json!({ "issue": { "notes": text::comment_body(body, who) } });
        let resp = api::exchange(
            SVC,
            api::with_json(self.req("PUT", &format!("/issues/{id}.json")), &notes),
            &what,
        )?;
        if !resp.is_success() {
            return Err(api::refused(SVC, &what, &resp, &self.no_such(id)));
        }
        Ok(format!("💬 Commented on #{id}: {}", self.link(id)))
    }

    pub fn close(&self, id: u64, body: &str, who: &Who) -> Result<String, CommandError> {
        let what = format!("close #{id}");
        progress(format!("Closing #{id} in Redmine…"));
        let status = self.closed_status(&what)?;
        let change = json!({ "issue": {
            "status_id": status.id,
            "notes": text::close_body(body, who),
        }});
        let resp = api::exchange(
            SVC,
            api::with_json(self.req("PUT", &format!("/issues/{id}.json")), &change),
            &what,
        )?;
        if !resp.is_success() {
            return Err(api::refused(SVC, &what, &resp, &self.no_such(id)));
        }
        // Redmine drops a status change the workflow does not allow for this user without
        // an error (the note is still added), so read the status back.
        let issue = self.get(id, "", &what)?;
        let now = issue.status.as_ref();
        if now.is_some_and(|s| s.is_closed == Some(true) || s.id == status.id) {
            Ok(format!(
                "✅ Closed #{id} **{}** ({}): {}",
                clip(&one_line(&issue.subject), 200),
                status.name,
                self.link(id)
            ))
        } else {
            log(
                Level::Warn,
                format!(
                    "Redmine kept #{id} in status {:?} after a change to {} ({}): check the workflow for the bot's role",
                    now.map(|s| &s.name),
                    status.id,
                    status.name
                ),
            );
            Err(CommandError::failed(format!(
                "Redmine added the note but kept #{id} open: its workflow does not let the bot's account set `{}` ({}).",
                status.name,
                self.link(id)
            )))
        }
    }

    pub fn show(&self, id: u64) -> Result<String, CommandError> {
        let what = format!("read #{id}");
        let i = self.get(id, "?include=journals", &what)?;
        let name = |n: &Option<Named>| n.as_ref().map(|n| n.name.clone()).unwrap_or_default();
        let mut kind: Vec<String> = [name(&i.tracker), name(&i.priority)]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect();
        if let Some(p) = &i.project {
            kind.insert(0, p.name.clone());
        }
        let mut out = format!(
            "🎫 #{} **{}** — {}",
            i.id,
            clip(&one_line(&i.subject), 200),
            if name(&i.status).is_empty() {
                "?".into()
            } else {
                name(&i.status)
            }
        );
        if !kind.is_empty() {
            out.push_str(&format!(" ({})", kind.join(", ")));
        }
        let mut facts = Vec::new();
        if let Some(a) = &i.author {
            let on = i.created_on.as_deref().map(text::day).unwrap_or("");
            facts.push(format!("opened by {} {on}", a.name).trim().to_string());
        }
        if let Some(a) = &i.assigned_to {
            facts.push(format!("assigned to {}", a.name));
        }
        if let Some(u) = &i.updated_on {
            facts.push(format!("updated {}", text::day(u)));
        }
        if !facts.is_empty() {
            out.push_str(&format!("\n{}", facts.join(" · ")));
        }
        if let Some(d) = i.description.as_deref().filter(|d| !d.trim().is_empty()) {
            out.push_str(&format!("\n> {}", clip(&one_line(d), 300)));
        }
        if let Some(j) = i
            .journals
            .iter()
            .rev()
            .find(|j| j.notes.as_deref().is_some_and(|n| !n.trim().is_empty()))
        {
            let by = j
                .user
                .as_ref()
                .map(|u| u.name.as_str())
                .unwrap_or("someone");
            let on = j.created_on.as_deref().map(text::day).unwrap_or("");
            out.push_str(&format!(
                "\nLast note, by {by} {on}: {}",
                clip(&one_line(j.notes.as_deref().unwrap_or("")), 300)
            ));
        }
        out.push_str(&format!("\n{}", self.link(i.id)));
        Ok(out)
    }

    fn get(&self, id: u64, query: &str, what: &str) -> Result<Issue, CommandError> {
        let resp = api::exchange(
            SVC,
            self.req("GET", &format!("/issues/{id}.json{query}")),
            what,
        )?;
        if !resp.is_success() {
            return Err(api::refused(SVC, what, &resp, &self.no_such(id)));
        }
        Ok(api::json::<One>(SVC, what, &resp)?.issue)
    }

    /// The status to close with: the setting `closed_status` (an id, or a status name), or
    /// else the first status Redmine marks `is_closed`.
    fn closed_status(&self, what: &str) -> Result<Named, CommandError> {
        let wanted = crate::optional("closed_status");
        if let Some(Ok(id)) = wanted.as_deref().map(str::parse::<u64>) {
            return Ok(Named {
                id,
                name: format!("status {id}"),
                is_closed: Some(true),
            });
        }
        let resp = api::exchange(SVC, self.req("GET", "/issue_statuses.json"), what)?;
        if !resp.is_success() {
            return Err(api::refused(
                SVC,
                what,
                &resp,
                "Redmine did not list its issue statuses; is the setting `url` the Redmine base URL?",
            ));
        }
        let all: Statuses = api::json(SVC, what, &resp)?;
        let found = match &wanted {
            Some(name) => all
                .issue_statuses
                .into_iter()
                .find(|s| s.name.eq_ignore_ascii_case(name.trim())),
            None => all
                .issue_statuses
                .into_iter()
                .find(|s| s.is_closed == Some(true)),
        };
        found.ok_or_else(|| {
            CommandError::failed(match wanted {
                Some(name) => format!(
                    "Redmine has no status `{}`: ask an admin to fix the setting `closed_status`.",
                    clip(&name, 60)
                ),
                None => "Redmine has no closed status; ask an admin to set `closed_status`.".into(),
            })
        })
    }
}
