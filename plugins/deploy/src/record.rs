//! Recent deploys, remembered in the plugin's key-value store so `deploy status` and
//! `deploy cancel` work from another command, another user, or after a restart.

use crate::text;
use chatops_sdk::serde::{Deserialize, Serialize};
use chatops_sdk::{kv, CommandError};

/// How many deploys `deploy status` remembers.
pub const KEEP: usize = 20;
const PREFIX: &str = "deploy/";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(crate = "chatops_sdk::serde")]
pub struct Deploy {
    /// What the user types: Buildbot's build request id, or GitHub's run id.
    pub id: String,
    pub backend: String,
    pub service: String,
    pub version: String,
    pub env: String,
    /// The chat user who asked.
    pub user: String,
    /// queued, running, succeeded, failed, cancelled
    pub state: String,
    pub link: String,
    pub started: u64,
    #[serde(default)]
    pub finished: Option<u64>,
    /// Buildbot's build id once the build started; GitHub's run id.
    #[serde(default)]
    pub build: Option<u64>,
    /// The server's own words: Buildbot's state_string, GitHub's status/conclusion.
    #[serde(default)]
    pub detail: String,
}

impl Deploy {
    pub fn done(&self) -> bool {
        matches!(self.state.as_str(), "succeeded" | "failed" | "cancelled")
    }

    /// `api 1.4.2 → staging`
    pub fn what(&self) -> String {
        format!("{} {} → {}", self.service, self.version, self.env)
    }

    /// One line for `deploy status`.
    pub fn line(&self, now: u64) -> String {
        let mut s = format!(
            "{} `{}` {} — {}",
            text::icon(&self.state),
            self.id,
            self.what(),
            self.state
        );
        match self.finished {
            Some(f) => s.push_str(&format!(
                " in {}",
                text::duration(f.saturating_sub(self.started))
            )),
            None => s.push_str(&format!(
                " for {}",
                text::duration(now.saturating_sub(self.started))
            )),
        }
        s.push_str(&format!(", by {}", self.user));
        if !self.link.is_empty() {
            s.push_str(&format!(" — <{}>", self.link));
        }
        s
    }
}

fn key(id: &str) -> String {
    format!("{PREFIX}{id}")
}

pub fn load(id: &str) -> Result<Option<Deploy>, CommandError> {
    let Some(bytes) = kv::get(&key(id))? else {
        return Ok(None);
    };
    Ok(chatops_sdk::serde_json::from_slice(&bytes).ok())
}

pub fn save(d: &Deploy) -> Result<(), CommandError> {
    let bytes = chatops_sdk::serde_json::to_vec(d)
        .map_err(|e| CommandError::failed(format!("could not record the deploy: {e}")))?;
    kv::set(&key(&d.id), &bytes)?;
    Ok(())
}

/// The remembered deploys, newest first; older ones beyond [`KEEP`] are forgotten.
pub fn recent() -> Result<Vec<Deploy>, CommandError> {
    let mut all = Vec::new();
    for k in kv::list_keys(PREFIX)? {
        if let Some(bytes) = kv::get(&k)? {
            match chatops_sdk::serde_json::from_slice::<Deploy>(&bytes) {
                Ok(d) => all.push(d),
                Err(_) => kv::delete(&k)?,
            }
        }
    }
    let num = |d: &Deploy| d.id.parse::<u64>().unwrap_or(0);
    all.sort_by(|a, b| b.started.cmp(&a.started).then(num(b).cmp(&num(a))));
    for old in all.iter().skip(KEEP) {
        kv::delete(&key(&old.id))?;
    }
    all.truncate(KEEP);
    Ok(all)
}
