//! An incident and its timeline, as kept in kv: pure data and the rules for changing it.

use chatops_sdk::serde::{Deserialize, Serialize};

/// Titles longer than this belong in a note.
pub const MAX_TITLE: usize = 200;
/// A note is a chat message, not a post-mortem document.
pub const MAX_NOTE: usize = 1000;

/// What the user may type for a severity, shown in the option's description and errors.
pub const SEVERITIES: &str = "sev1 (critical), sev2 (error), sev3 (warning) or sev4 (info)";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(crate = "chatops_sdk::serde", rename_all = "lowercase")]
pub enum Severity {
    Critical,
    Error,
    Warning,
    Info,
}

impl Severity {
    /// `sev1`, `SEV-1`, `1`, `p1`, `critical` … → the severity; `None` for anything else.
    pub fn parse(word: &str) -> Option<Severity> {
        let w = word.trim().to_ascii_lowercase().replace(['-', '_'], "");
        Some(match w.as_str() {
            "sev1" | "s1" | "p1" | "1" | "critical" | "crit" => Severity::Critical,
            "sev2" | "s2" | "p2" | "2" | "error" | "major" | "high" => Severity::Error,
            "sev3" | "s3" | "p3" | "3" | "warning" | "warn" | "minor" | "medium" => {
                Severity::Warning
            }
            "sev4" | "s4" | "p4" | "4" | "info" | "low" => Severity::Info,
            _ => return None,
        })
    }

    /// The word PagerDuty's Events API v2 takes in `payload.severity`.
    pub fn pagerduty(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }

    pub fn sev(self) -> &'static str {
        match self {
            Severity::Critical => "sev1",
            Severity::Error => "sev2",
            Severity::Warning => "sev3",
            Severity::Info => "sev4",
        }
    }

    /// `sev1 (critical)`.
    pub fn show(self) -> String {
        format!("{} ({})", self.sev(), self.pagerduty())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(crate = "chatops_sdk::serde", rename_all = "lowercase")]
pub enum Status {
    Open,
    Acknowledged,
    Resolved,
}

impl Status {
    pub fn word(self) -> &'static str {
        match self {
            Status::Open => "open",
            Status::Acknowledged => "acknowledged",
            Status::Resolved => "resolved",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(crate = "chatops_sdk::serde", rename_all = "lowercase")]
pub enum Action {
    Opened,
    Acknowledged,
    Note,
    Resolved,
}

/// One line of the timeline: who did what, when (Unix seconds, UTC).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(crate = "chatops_sdk::serde")]
pub struct Entry {
    pub at: u64,
    pub who: String,
    pub who_id: String,
    pub action: Action,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

/// What PagerDuty was last told about this incident (`None`: nothing yet).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(crate = "chatops_sdk::serde")]
pub struct Sync {
    #[serde(default)]
    pub sent: Option<Status>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(crate = "chatops_sdk::serde")]
pub struct Incident {
    pub number: u64,
    pub title: String,
    pub severity: Severity,
    pub status: Status,
    pub timeline: Vec<Entry>,
    #[serde(default)]
    pub pagerduty: Sync,
}

/// `INC-12`.
pub fn show_id(n: u64) -> String {
    format!("INC-{n}")
}

/// `INC-12`, `inc-12`, `INC12`, `#12` or `12` → 12.
pub fn parse_id(raw: &str) -> Result<u64, String> {
    let t = raw.trim();
    let lower = t.to_ascii_lowercase();
    let digits = lower
        .strip_prefix("inc-")
        .or_else(|| lower.strip_prefix("inc"))
        .or_else(|| lower.strip_prefix('#'))
        .unwrap_or(&lower);
    match digits.parse::<u64>() {
        Ok(n) if n > 0 && digits.len() <= 12 && digits.bytes().all(|b| b.is_ascii_digit()) => Ok(n),
        _ => Err(format!(
            "`{}` is not an incident id: write it as INC-12 or 12 (see `incident list`)",
            clip(t, 40)
        )),
    }
}

/// One line of chat text: no line breaks, no surrounding space, no mass mentions.
pub fn clean(text: &str) -> String {
    let one_line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let squeezed = one_line.split_whitespace().collect::<Vec<_>>().join(" ");
    // An incident title typed by anyone must not ping the whole server when announced.
    squeezed
        .replace("@everyone", "@\u{200b}everyone")
        .replace("@here", "@\u{200b}here")
}

/// At most `max` characters, with `…` when cut.
pub fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
        out.push('…');
        out
    }
}

/// `incident open TITLE SEVERITY`: the severity is the last word, the title everything
/// before it, so `incident open db latency high sev2` needs no quotes.
pub fn parse_open(
    target: Option<&str>,
    detail: Option<&str>,
) -> Result<(String, Severity), String> {
    let example = "e.g. `incident open \"db latency\" sev2`";
    let target = target.map(str::trim).unwrap_or_default();
    let detail = detail.map(str::trim).unwrap_or_default();
    if target.is_empty() {
        return Err(format!(
            "an incident needs a title and a severity: {example}"
        ));
    }
    let split = match detail.rsplit_once(char::is_whitespace) {
        Some((b, l)) => Some((b.trim(), l)),
        None if !detail.is_empty() => Some(("", detail)),
        None => None,
    };
    let Some((before, last)) = split else {
        return Err(format!(
            "how bad is it? Give a severity after the title, {SEVERITIES}: {example}"
        ));
    };
    let Some(severity) = Severity::parse(last) else {
        return Err(format!(
            "`{}` is not a severity: end with {SEVERITIES}, {example}",
            clip(last, 40)
        ));
    };
    let title = clean(&format!("{target} {before}"));
    if title.is_empty() {
        return Err(format!("an incident needs a title: {example}"));
    }
    let n = title.chars().count();
    if n > MAX_TITLE {
        return Err(format!(
            "that title is {n} characters; keep it to {MAX_TITLE} and put the details in `incident note`"
        ));
    }
    Ok((title, severity))
}

/// A note's text, checked.
pub fn parse_note(text: Option<&str>) -> Result<String, String> {
    let text = clean(text.unwrap_or_default());
    if text.is_empty() {
        return Err("what is the note? e.g. `incident note INC-12 failover done, watching`".into());
    }
    let n = text.chars().count();
    if n > MAX_NOTE {
        return Err(format!(
            "that note is {n} characters; keep each note to {MAX_NOTE} (split it into several)"
        ));
    }
    Ok(text)
}

impl Incident {
    pub fn id(&self) -> String {
        show_id(self.number)
    }

    pub fn opened(&self) -> Option<&Entry> {
        self.timeline.iter().find(|e| e.action == Action::Opened)
    }

    /// Who acknowledged it last, if anyone.
    pub fn acked_by(&self) -> Option<&Entry> {
        self.timeline
            .iter()
            .rev()
            .find(|e| e.action == Action::Acknowledged)
    }

    pub fn resolved(&self) -> Option<&Entry> {
        self.timeline
            .iter()
            .rev()
            .find(|e| e.action == Action::Resolved)
    }

    /// The PagerDuty events (`event_action`s) that bring PagerDuty to this incident's
    /// state, in order. A resolve goes out even if no trigger is known to have arrived:
    /// an unreadable answer may hide one that did, and PagerDuty drops a resolve it
    /// cannot match.
    pub fn pending_events(&self) -> Vec<&'static str> {
        match (self.status, self.pagerduty.sent) {
            (s, Some(sent)) if s == sent => vec![],
            (Status::Open, _) => vec!["trigger"],
            (Status::Acknowledged, None) => vec!["trigger", "acknowledge"],
            (Status::Acknowledged, Some(_)) => vec!["acknowledge"],
            (Status::Resolved, _) => vec!["resolve"],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severities_from_friendly_words() {
        for (w, s) in [
            ("sev1", Severity::Critical),
            ("SEV-2", Severity::Error),
            ("critical", Severity::Critical),
            ("warning", Severity::Warning),
            ("sev4", Severity::Info),
            ("3", Severity::Warning),
        ] {
            assert_eq!(Severity::parse(w), Some(s), "{w}");
        }
        assert_eq!(Severity::parse("urgent"), None);
        assert_eq!(Severity::Critical.show(), "sev1 (critical)");
    }

    #[test]
    fn ids() {
        assert_eq!(parse_id("INC-12"), Ok(12));
        assert_eq!(parse_id("inc12"), Ok(12));
        assert_eq!(parse_id("#7"), Ok(7));
        assert_eq!(parse_id(" 3 "), Ok(3));
        assert!(parse_id("0").is_err());
        assert!(parse_id("INC-").is_err());
        assert!(parse_id("+5").is_err());
        assert!(parse_id("db").unwrap_err().contains("not an incident id"));
    }

    #[test]
    fn open_takes_the_last_word_as_severity() {
        assert_eq!(
            parse_open(Some("db latency"), Some("sev1")),
            Ok(("db latency".into(), Severity::Critical))
        );
        assert_eq!(
            parse_open(Some("db"), Some("latency high sev2")),
            Ok(("db latency high".into(), Severity::Error))
        );
        assert!(parse_open(Some("db latency"), None)
            .unwrap_err()
            .contains("severity"));
        assert!(parse_open(Some("db"), Some("latency"))
            .unwrap_err()
            .contains("`latency` is not a severity"));
        assert!(parse_open(None, None).unwrap_err().contains("title"));
        assert!(parse_open(Some("  "), Some("sev1"))
            .unwrap_err()
            .contains("title"));
        let long = "x".repeat(MAX_TITLE + 1);
        assert!(parse_open(Some(&long), Some("sev1"))
            .unwrap_err()
            .contains("201 characters"));
    }

    #[test]
    fn titles_do_not_ping_everyone() {
        assert_eq!(clean(" a\nb  @everyone "), "a b @\u{200b}everyone");
    }

    #[test]
    fn pagerduty_catches_up_in_order() {
        let mut inc = Incident {
            number: 1,
            title: "t".into(),
            severity: Severity::Info,
            status: Status::Acknowledged,
            timeline: vec![],
            pagerduty: Sync::default(),
        };
        assert_eq!(inc.pending_events(), ["trigger", "acknowledge"]);
        inc.pagerduty.sent = Some(Status::Open);
        assert_eq!(inc.pending_events(), ["acknowledge"]);
        inc.pagerduty.sent = Some(Status::Acknowledged);
        assert!(inc.pending_events().is_empty());
        inc.status = Status::Resolved;
        assert_eq!(inc.pending_events(), ["resolve"]);
        inc.pagerduty.sent = None;
        assert_eq!(inc.pending_events(), ["resolve"]);
    }
}
