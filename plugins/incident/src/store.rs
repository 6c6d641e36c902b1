//! Incidents in the plugin's key-value store: `inc/N` holds one incident as JSON,
//! `counter` the last number given out, `open` the numbers not yet resolved.

use crate::model::{show_id, Incident, Status};
use chatops_sdk::{kv, serde_json, CommandError, KvError};

const COUNTER: &str = "counter";
const OPEN: &str = "open";

fn key(n: u64) -> String {
    format!("inc/{n}")
}

/// A kv failure as the user should read it.
pub fn kv_error(e: KvError) -> CommandError {
    match e {
        KvError::NotGranted => CommandError::failed(
            "incident keeps its incidents in the bot's key-value store, which is not granted to it; ask an admin to run `chatops grant incident kv`",
        ),
        KvError::Quota(why) => CommandError::failed(format!(
            "the incident store is full ({why}); an admin can see the details in the log"
        )),
        KvError::Failed(why) => {
            CommandError::failed(format!("the incident store failed: {why}"))
        }
    }
}

fn read(k: &str) -> Result<Option<Vec<u8>>, CommandError> {
    kv::get(k).map_err(kv_error)
}

fn write(k: &str, v: &[u8]) -> Result<(), CommandError> {
    kv::set(k, v).map_err(kv_error)
}

pub fn load(n: u64) -> Result<Option<Incident>, CommandError> {
    let Some(bytes) = read(&key(n))? else {
        return Ok(None);
    };
    serde_json::from_slice(&bytes).map(Some).map_err(|e| {
        CommandError::failed(format!(
            "{} is stored in a form this version cannot read ({e})",
            show_id(n)
        ))
    })
}

/// The incident, or a message that it does not exist.
pub fn find(n: u64) -> Result<Incident, CommandError> {
    load(n)?.ok_or_else(|| {
        CommandError::failed(format!(
            "there is no incident {}; `incident list` shows the open ones",
            show_id(n)
        ))
    })
}

pub fn save(inc: &Incident) -> Result<(), CommandError> {
    let bytes = serde_json::to_vec(inc)
        .map_err(|e| CommandError::failed(format!("could not encode {}: {e}", inc.id())))?;
    write(&key(inc.number), &bytes).map_err(|e| match e {
        CommandError::Failed(m) if m.contains("store is full") => CommandError::failed(format!(
            "{}'s timeline is too long to keep another entry; open a new incident for what follows",
            inc.id()
        )),
        e => e,
    })?;
    let mut open = open_numbers()?;
    let is_open = inc.status != Status::Resolved;
    if is_open != open.contains(&inc.number) {
        open.retain(|n| *n != inc.number);
        if is_open {
            open.push(inc.number);
            open.sort_unstable();
        }
        write(OPEN, &serde_json::to_vec(&open).unwrap_or_default())?;
    }
    Ok(())
}

/// The next incident number. Skips a number whose key exists, so a lost counter never
/// overwrites an incident.
pub fn next_number() -> Result<u64, CommandError> {
    let last = read(COUNTER)?
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or(0);
    let mut n = last + 1;
    while read(&key(n))?.is_some() {
        n += 1;
    }
    write(COUNTER, n.to_string().as_bytes())?;
    Ok(n)
}

fn open_numbers() -> Result<Vec<u64>, CommandError> {
    Ok(read(OPEN)?
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default())
}

/// Every incident not yet resolved, oldest first.
pub fn open_incidents() -> Result<Vec<Incident>, CommandError> {
    let mut out = Vec::new();
    for n in open_numbers()? {
        if let Some(inc) = load(n)? {
            if inc.status != Status::Resolved {
                out.push(inc);
            }
        }
    }
    Ok(out)
}

/// Remember PagerDuty forwarding's state (`on`, or why it is off); true when it changed
/// since the last command, so the admin log says it once, not on every command.
pub fn pagerduty_state_changed(state: &str) -> bool {
    const KEY: &str = "pagerduty-state";
    let before = kv::get(KEY).ok().flatten();
    if before.as_deref() == Some(state.as_bytes()) {
        return false;
    }
    let _ = kv::set(KEY, state.as_bytes());
    true
}
