//! Times and the text people read: the timeline, the list, announcements.

use crate::model::{clip, Action, Entry, Incident, Status};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Now, in Unix seconds (WASI's wall clock is UTC).
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// `2026-11-27T04:19:47Z`.
pub fn rfc3339(secs: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(secs)).to_string()
}

/// `2026-11-27 04:19:47 UTC`.
pub fn show_time(secs: u64) -> String {
    let s = rfc3339(secs);
    format!("{} {} UTC", &s[..10], &s[11..19])
}

/// `45s`, `12m`, `3h 5m`, `2d 4h`.
pub fn duration(s: u64) -> String {
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m", s / 60),
        3600..=86399 => match (s % 3600) / 60 {
            0 => format!("{}h", s / 3600),
            m => format!("{}h {m}m", s / 3600),
        },
        _ => match (s % 86400) / 3600 {
            0 => format!("{}d", s / 86400),
            h => format!("{}d {h}h", s / 86400),
        },
    }
}

fn line(e: &Entry, opened_at: u64) -> String {
    let what = match e.action {
        Action::Opened => "opened it".to_string(),
        Action::Acknowledged => "acknowledged".to_string(),
        Action::Note => format!("noted: {}", e.text.as_deref().unwrap_or("")),
        Action::Resolved => format!(
            "resolved it (after {})",
            duration(e.at.saturating_sub(opened_at))
        ),
    };
    let extra = match (e.action, &e.text) {
        (Action::Note, _) | (_, None) => String::new(),
        (_, Some(t)) => format!(" ({t})"),
    };
    format!("`{}` **{}** {what}{extra}", show_time(e.at), e.who)
}

/// `incident show`: the header and the whole timeline, oldest first.
pub fn show(inc: &Incident, pagerduty: Option<String>) -> String {
    let opened_at = inc.opened().map(|e| e.at).unwrap_or(0);
    let mut out = format!(
        "**{}** · {} · {}\n> {}\n",
        inc.id(),
        inc.severity.show(),
        inc.status.word(),
        inc.title
    );
    for e in &inc.timeline {
        out.push_str(&line(e, opened_at));
        out.push('\n');
    }
    if let Some(p) = pagerduty {
        out.push_str(&p);
        out.push('\n');
    }
    out.trim_end().to_string()
}

/// `incident list`: the incidents not yet resolved.
pub fn list(open: &[Incident], now: u64) -> String {
    if open.is_empty() {
        return "No open incidents. `incident show ID` shows a resolved one.".into();
    }
    let mut out = format!(
        "{} open incident{}:\n",
        open.len(),
        if open.len() == 1 { "" } else { "s" }
    );
    for inc in open {
        let opened = inc.opened();
        let state = match (inc.status, inc.acked_by()) {
            (Status::Acknowledged, Some(a)) => format!("acknowledged by {}", a.who),
            _ => "not acknowledged".to_string(),
        };
        out.push_str(&format!(
            "• **{}** {} · {} · {} · opened {} ago by {}\n",
            inc.id(),
            inc.severity.sev(),
            clip(&inc.title, 120),
            state,
            duration(now.saturating_sub(opened.map(|e| e.at).unwrap_or(now))),
            opened.map(|e| e.who.as_str()).unwrap_or("?"),
        ));
    }
    out.trim_end().to_string()
}
