//! The alerts that are still open, kept in kv as `open/<fingerprint>` → JSON, and what
//! `alerts list`, `alerts ack` and the weekday summary say about them.

use crate::notify::{Alert, Labels};
use crate::text::{ago, clip, fit, parse_time, show_time_str, since};
use chatops_sdk::serde::{Deserialize, Serialize};
use chatops_sdk::{kv, serde_json, KvError};
use std::time::SystemTime;

pub const PREFIX: &str = "open/";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(crate = "chatops_sdk::serde")]
pub struct OpenAlert {
    #[serde(default)]
    pub labels: Labels,
    #[serde(default)]
    pub annotations: Labels,
    #[serde(default, rename = "startsAt")]
    pub starts_at: String,
    #[serde(default, rename = "generatorURL")]
    pub generator_url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acked_by: Option<String>,
    /// RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acked_at: Option<String>,
}

impl OpenAlert {
    pub fn name(&self) -> &str {
        self.labels
            .get("alertname")
            .map(String::as_str)
            .unwrap_or("(unnamed alert)")
    }
}

/// An open alert and its fingerprint.
pub type Entry = (String, OpenAlert);

pub fn key(fingerprint: &str) -> String {
    format!("{PREFIX}{fingerprint}")
}

pub fn load(fingerprint: &str) -> Result<Option<OpenAlert>, KvError> {
    Ok(kv::get(&key(fingerprint))?.and_then(|b| serde_json::from_slice(&b).ok()))
}

pub fn save(fingerprint: &str, alert: &OpenAlert) -> Result<(), KvError> {
    let bytes = serde_json::to_vec(alert).expect("an open alert serialises");
    kv::set(&key(fingerprint), &bytes)
}

/// Every open alert, oldest first.
pub fn all() -> Result<Vec<Entry>, KvError> {
    let mut out = Vec::new();
    for k in kv::list_keys(PREFIX)? {
        let Some(fp) = k.strip_prefix(PREFIX) else {
            continue;
        };
        if let Some(a) = load(fp)? {
            out.push((fp.to_string(), a));
        }
    }
    out.sort_by(|a, b| {
        let t = |e: &Entry| parse_time(&e.1.starts_at);
        t(a).cmp(&t(b)).then_with(|| a.0.cmp(&b.0))
    });
    Ok(out)
}

/// Record what a notification says: keep firing alerts (and their acks), forget resolved
/// ones. Returns who acked the alerts that are still firing, by fingerprint.
pub fn apply(alerts: &[Alert]) -> Result<std::collections::BTreeMap<String, String>, KvError> {
    let mut acks = std::collections::BTreeMap::new();
    for a in alerts.iter().filter(|a| !a.fingerprint.is_empty()) {
        if a.firing() {
            let mut record = a.to_open();
            if let Some(old) = load(&a.fingerprint)? {
                record.acked_by = old.acked_by;
                record.acked_at = old.acked_at;
            }
            if let Some(who) = &record.acked_by {
                acks.insert(a.fingerprint.clone(), who.clone());
            }
            save(&a.fingerprint, &record)?;
        } else {
            kv::delete(&key(&a.fingerprint))?;
        }
    }
    Ok(acks)
}

/// The one open alert whose fingerprint starts with `prefix`, or why there is none.
pub fn find<'a>(open: &'a [Entry], prefix: &str) -> Result<&'a Entry, String> {
    let prefix = prefix.trim().trim_matches('`');
    if let Some(exact) = open.iter().find(|(fp, _)| fp == prefix) {
        return Ok(exact);
    }
    let matches: Vec<&Entry> = open
        .iter()
        .filter(|(fp, _)| fp.starts_with(prefix))
        .collect();
    match matches.as_slice() {
        [] => Err(format!(
            "no open alert has a fingerprint starting with `{prefix}` (see `alerts list`)"
        )),
        [one] => Ok(one),
        many => Err(format!(
            "`{prefix}` matches {} open alerts ({}): give more of the fingerprint",
            many.len(),
            many.iter()
                .take(5)
                .map(|(fp, a)| format!("`{fp}` {}", a.name()))
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// One line per open alert.
fn line((fp, a): &Entry, now: SystemTime) -> String {
    let mut out = format!("• 🔥 **{}**", clip(a.name(), 100));
    if let Some(sev) = a.labels.get("severity") {
        out.push_str(&format!(" ({})", clip(sev, 30)));
    }
    out.push_str(&format!(" `{fp}`"));
    if let Some(summary) = a
        .annotations
        .get("summary")
        .filter(|s| !s.trim().is_empty())
    {
        out.push_str(&format!(" — {}", clip(&summary.replace('\n', " "), 150)));
    }
    match parse_time(&a.starts_at) {
        Some(t) => out.push_str(&format!(" · for {}", since(t, now))),
        None if !a.starts_at.is_empty() => {
            out.push_str(&format!(" · since {}", show_time_str(&a.starts_at)))
        }
        None => {}
    }
    match (&a.acked_by, a.acked_at.as_deref().and_then(parse_time)) {
        (Some(who), Some(at)) => out.push_str(&format!(" · 👀 acked by {who} {}", ago(at, now))),
        (Some(who), None) => out.push_str(&format!(" · 👀 acked by {who}")),
        _ => out.push_str(" · not acked"),
    }
    out
}

/// `alerts list`.
pub fn format_list(open: &[Entry], now: SystemTime) -> String {
    if open.is_empty() {
        return "✅ Nothing is firing: no open alerts.".into();
    }
    let header = format!(
        "🔥 **{} firing** (`alerts ack FINGERPRINT` to take one):",
        count(open.len())
    );
    let items: Vec<String> = open.iter().map(|e| line(e, now)).collect();
    fit(&header, &items, 0)
}

/// The weekday summary posted to the on-call channel.
pub fn format_summary(open: &[Entry], now: SystemTime) -> String {
    if open.is_empty() {
        return "☀️ **Alert summary**: ✅ nothing is firing.".into();
    }
    let unacked = open.iter().filter(|(_, a)| a.acked_by.is_none()).count();
    let header = format!(
        "☀️ **Alert summary**: {} still open, {unacked} not acked.",
        count(open.len())
    );
    let items: Vec<String> = open.iter().map(|e| line(e, now)).collect();
    fit(&header, &items, 0)
}

fn count(n: usize) -> String {
    if n == 1 {
        "1 alert".into()
    } else {
        format!("{n} alerts")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn entry(fp: &str, name: &str) -> Entry {
        let mut a = OpenAlert {
            labels: Labels::new(),
            annotations: Labels::new(),
            starts_at: "2026-11-27T04:19:47Z".into(),
            generator_url: String::new(),
            acked_by: None,
            acked_at: None,
        };
        a.labels.insert("alertname".into(), name.into());
        a.labels.insert("severity".into(), "critical".into());
        a.annotations
            .insert("summary".into(), "5xx rate above 5%".into());
        (fp.into(), a)
    }

    #[test]
    fn finds_by_unique_prefix() {
        let open = vec![
            entry("ac36b8d065d4a922", "A"),
            entry("ac99000000000000", "B"),
        ];
        assert_eq!(find(&open, "ac36").unwrap().1.name(), "A");
        assert!(find(&open, "ac")
            .unwrap_err()
            .contains("matches 2 open alerts"));
        assert!(find(&open, "ff").unwrap_err().contains("no open alert"));
    }

    #[test]
    fn lists_and_summarises() {
        let now = parse_time("2026-11-27T06:20:00Z").unwrap();
        let mut e = entry("ac36b8d065d4a922", "HighErrorRate");
        assert_eq!(
            format_list(&[e.clone()], now),
            "🔥 **1 alert firing** (`alerts ack FINGERPRINT` to take one):\n\
             • 🔥 **HighErrorRate** (critical) `ac36b8d065d4a922` — 5xx rate above 5% · for 2h · not acked"
        );
        e.1.acked_by = Some("alice".into());
        e.1.acked_at = Some(crate::text::rfc3339(now - Duration::from_secs(600)));
        let s = format_summary(&[e], now);
        assert!(
            s.starts_with("☀️ **Alert summary**: 1 alert still open, 0 not acked."),
            "{s}"
        );
        assert!(s.contains("👀 acked by alice 10m ago"), "{s}");
        assert_eq!(
            format_summary(&[], now),
            "☀️ **Alert summary**: ✅ nothing is firing."
        );
    }
}
