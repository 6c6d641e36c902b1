//! Pure helpers: what the user typed, the label setting, times and sizes. No I/O here, so
//! all of it is unit-tested natively.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// What `restart …` asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    List,
    Status(String),
    Restart(String),
}

/// `restart list`, `restart status NAME`, `restart NAME`. A container literally named `list`
/// or `status` is written with Docker's leading slash: `restart /list`, `restart status /status`.
pub fn parse_action(target: &str, name: Option<&str>) -> Result<Action, String> {
    let name = name.map(str::trim).filter(|n| !n.is_empty());
    match (target.trim(), name) {
        ("list", None) => Ok(Action::List),
        ("list", Some(extra)) => Err(format!(
            "`restart list` takes nothing more (got `{}`)",
            clip(extra, 60)
        )),
        ("status", Some(n)) => Ok(Action::Status(container(n)?)),
        ("status", None) => Err(
            "which container? `restart status NAME` (`restart list` shows them; a container named `status` is `restart /status`)"
                .into(),
        ),
        ("", _) => Err("which container? `restart NAME`, or `restart list`".into()),
        (t, None) => Ok(Action::Restart(container(t)?)),
        (t, Some(extra)) => Err(format!(
            "`restart {}` restarts one container; `{}` is one word too many (or did you mean `restart status {}`?)",
            clip(t, 60),
            clip(extra, 60),
            clip(extra, 60)
        )),
    }
}

/// A container name or ID as Docker accepts them (`[a-zA-Z0-9][a-zA-Z0-9_.-]*`), with one
/// optional leading `/`. Anything else never reaches a URL.
pub fn container(s: &str) -> Result<String, String> {
    let n = s.trim();
    let n = n.strip_prefix('/').unwrap_or(n);
    let ok = !n.is_empty()
        && n.len() <= 128
        && n.starts_with(|c: char| c.is_ascii_alphanumeric())
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if ok {
        Ok(n.to_string())
    } else {
        Err(format!(
            "`{}` is not a container name (letters, digits, `_`, `.` and `-`)",
            clip(s.trim(), 60)
        ))
    }
}

/// The `label` setting: `key=value` (that exact value) or `key` (any value).
#[derive(Debug, Clone, PartialEq)]
pub struct Label {
    pub key: String,
    pub value: Option<String>,
}

pub const DEFAULT_LABEL: &str = "chatops.restartable=true";

impl Label {
    pub fn parse(s: &str) -> Result<Label, String> {
        let s = s.trim();
        let (key, value) = match s.split_once('=') {
            Some((k, v)) => (k.trim(), Some(v.trim().to_string())),
            None => (s, None),
        };
        if key.is_empty() || key.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(format!(
                "the setting `label` must be `key=value` or `key`, e.g. {DEFAULT_LABEL}"
            ));
        }
        Ok(Label {
            key: key.to_string(),
            value,
        })
    }

    /// Whether a container with these labels carries this one.
    pub fn matches<'a>(&self, mut labels: impl Iterator<Item = (&'a str, &'a str)>) -> bool {
        labels.any(|(k, v)| k == self.key && self.value.as_deref().is_none_or(|want| want == v))
    }

    /// `{"label":["key=value"]}`, Docker's list filter, percent-encoded for a query.
    pub fn filter_query(&self) -> String {
        let filter = chatops_sdk::serde_json::json!({ "label": [self.to_string()] });
        percent_encode(&filter.to_string())
    }
}

impl std::fmt::Display for Label {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.value {
            Some(v) => write!(f, "{}={v}", self.key),
            None => write!(f, "{}", self.key),
        }
    }
}

/// Everything but unreserved characters as `%XX`.
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A Docker timestamp (`2026-11-27T08:32:52.172358289Z`), or `None` for Go's zero time
/// (`0001-01-01T00:00:00Z`, "never") and anything unparseable.
pub fn parse_time(s: &str) -> Option<SystemTime> {
    let base = s.trim().strip_suffix('Z')?;
    humantime::parse_rfc3339_weak(base)
        .ok()
        .filter(|t| *t > UNIX_EPOCH)
}

/// `2026-11-27 08:32:52.172 UTC`: milliseconds, so two starts in the same second differ.
pub fn show_time(s: &str) -> String {
    match parse_time(s) {
        Some(t) => {
            let f = humantime::format_rfc3339_millis(t).to_string();
            format!("{} {} UTC", &f[..10], &f[11..23])
        }
        None if s.starts_with("0001-") => "never".into(),
        None => clip(s, 40),
    }
}

/// `0.4 s`, `12 s`, `3m 5s`, `2h 10m`, `3d 4h`.
pub fn show_duration(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=9 => format!("{:.1} s", d.as_secs_f64()),
        10..=59 => format!("{s} s"),
        60..=3599 => format!("{}m {}s", s / 60, s % 60),
        3600..=86399 => format!("{}h {}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d {}h", s / 86400, (s % 86400) / 3600),
    }
}

/// At most `max` characters, with `…` when cut.
pub fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// A whole number of seconds from a setting, within bounds.
pub fn parse_seconds(key: &str, raw: &str, min: u64, max: u64) -> Result<u64, String> {
    let raw = raw.trim();
    let n: u64 = raw
        .strip_suffix('s')
        .unwrap_or(raw)
        .trim()
        .parse()
        .map_err(|_| {
            format!(
                "the setting `{key}` must be a number of seconds, not `{}`",
                clip(raw, 40)
            )
        })?;
    if !(min..=max).contains(&n) {
        return Err(format!(
            "the setting `{key}` must be {min} to {max} seconds, not {n}"
        ));
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_three_shapes() {
        assert_eq!(parse_action("list", None), Ok(Action::List));
        assert_eq!(parse_action("web", None), Ok(Action::Restart("web".into())));
        assert_eq!(
            parse_action("status", Some("web")),
            Ok(Action::Status("web".into()))
        );
        // A container named like a verb is written with Docker's slash.
        assert_eq!(
            parse_action("/list", None),
            Ok(Action::Restart("list".into()))
        );
        assert_eq!(
            parse_action("status", Some("/status")),
            Ok(Action::Status("status".into()))
        );
        assert!(parse_action("status", None)
            .unwrap_err()
            .contains("restart /status"));
        assert!(parse_action("list", Some("web")).is_err());
        assert!(parse_action("web", Some("db"))
            .unwrap_err()
            .contains("restart status db"));
        assert!(parse_action("", None).is_err());
        assert!(parse_action("web/../../images", None).is_err());
        assert!(parse_action("a?b", None).is_err());
        assert!(parse_action("-rf", None).is_err());
        assert_eq!(
            parse_action("web-1.blue_2", None),
            Ok(Action::Restart("web-1.blue_2".into()))
        );
    }

    #[test]
    fn labels_match_exactly_or_by_key() {
        let l = Label::parse(DEFAULT_LABEL).unwrap();
        assert!(l.matches([("chatops.restartable", "true")].into_iter()));
        assert!(!l.matches([("chatops.restartable", "false")].into_iter()));
        assert!(!l.matches([("other", "true")].into_iter()));
        let any = Label::parse("team.ops").unwrap();
        assert!(any.matches([("team.ops", "")].into_iter()));
        assert_eq!(any.to_string(), "team.ops");
        assert!(Label::parse("").is_err());
        assert!(Label::parse("a b=c").is_err());
        assert_eq!(
            l.filter_query(),
            "%7B%22label%22%3A%5B%22chatops.restartable%3Dtrue%22%5D%7D"
        );
    }

    #[test]
    fn shows_docker_times() {
        assert_eq!(
            show_time("2026-11-27T08:32:52.172358289Z"),
            "2026-11-27 08:32:52.172 UTC"
        );
        assert_eq!(show_time("0001-01-01T00:00:00Z"), "never");
        let a = parse_time("2026-11-27T08:32:52.100Z").unwrap();
        let b = parse_time("2026-11-27T08:32:52.500Z").unwrap();
        assert_eq!(show_duration(b.duration_since(a).unwrap()), "0.4 s");
        assert_eq!(show_duration(Duration::from_secs(185)), "3m 5s");
        assert_eq!(parse_time("garbage"), None);
    }

    #[test]
    fn settings_in_seconds() {
        assert_eq!(parse_seconds("timeout", "45", 1, 600), Ok(45));
        assert_eq!(parse_seconds("timeout", "45s", 1, 600), Ok(45));
        assert!(parse_seconds("timeout", "0", 1, 600).is_err());
        assert!(parse_seconds("timeout", "soon", 1, 600).is_err());
    }
}
