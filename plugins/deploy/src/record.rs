//! Recent deploys, remembered in the plugin's key-value store so `deploy status` and
//! `deploy cancel` work from another command, another user, or after a restart.

use crate::text;
use chatops_sdk::serde::{Deserialize, Serialize};
use chatops_sdk::{kv, CommandError, KvError};

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

/// A refused store says which grant fixes it.
fn kv_error(e: KvError) -> CommandError {
    match e {
        KvError::NotGranted => CommandError::denied(
            "deploy remembers deploys in its key-value store, which is not granted; an admin must grant it (`chatops grant deploy kv`)",
        ),
        e => CommandError::failed(e.message()),
    }
}

/// Fails, before anything is started, if deploys could not be remembered.
pub fn usable() -> Result<(), CommandError> {
    kv::list_keys(PREFIX).map(|_| ()).map_err(kv_error)
}

fn key(id: &str) -> String {
    format!("{PREFIX}{id}")
}

pub fn load(id: &str) -> Result<Option<Deploy>, CommandError> {
    let Some(bytes) = kv::get(&key(id)).map_err(kv_error)? else {
        return Ok(None);
    };
    Ok(chatops_sdk::serde_json::from_slice(&bytes).ok())
}

pub fn save(d: &Deploy) -> Result<(), CommandError> {
    let bytes = chatops_sdk::serde_json::to_vec(d)
        .map_err(|e| CommandError::failed(format!("could not record the deploy: {e}")))?;
    kv::set(&key(&d.id), &bytes).map_err(kv_error)?;
    Ok(())
}

/// The remembered deploys, newest first; older ones beyond [`KEEP`] are forgotten.
pub fn recent() -> Result<Vec<Deploy>, CommandError> {
    let mut all = Vec::new();
    for k in kv::list_keys(PREFIX).map_err(kv_error)? {
        if let Some(bytes) = kv::get(&k).map_err(kv_error)? {
            match chatops_sdk::serde_json::from_slice::<Deploy>(&bytes) {
                Ok(d) => all.push(d),
                Err(_) => kv::delete(&k).map_err(kv_error)?,
            }
        }
    }
    let num = |d: &Deploy| d.id.parse::<u64>().unwrap_or(0);
    all.sort_by(|a, b| b.started.cmp(&a.started).then(num(b).cmp(&num(a))));
    for old in all.iter().skip(KEEP) {
        kv::delete(&key(&old.id)).map_err(kv_error)?;
    }
    all.truncate(KEEP);
    Ok(all)
}
