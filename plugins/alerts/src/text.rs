//! Times, durations and message sizes: pure helpers shared by the rest of the plugin.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Discord refuses messages over 2000 characters; leave room for a trailing line.
pub const MAX_POST: usize = 1900;

/// The wall clock (WASI's `wall-clock`).
pub fn now() -> SystemTime {
    SystemTime::now()
}

/// An RFC 3339 timestamp as Alertmanager sends it (`Z`, `+02:00`, any fraction), or `None`
/// for Go's zero time (`0001-01-01T00:00:00Z`, "not set") and anything unparseable.
pub fn parse_time(s: &str) -> Option<SystemTime> {
    let s = s.trim();
    let (base, offset_secs) = match s.len().checked_sub(6).map(|i| (i, &s[i..])) {
        Some((i, tail))
            if (tail.starts_with('+') || tail.starts_with('-')) && tail.as_bytes()[3] == b':' =>
        {
            let h: i64 = tail[1..3].parse().ok()?;
            let m: i64 = tail[4..6].parse().ok()?;
            let sign = if tail.starts_with('-') { -1 } else { 1 };
            (&s[..i], sign * (h * 3600 + m * 60))
        }
        _ => (s.strip_suffix('Z').unwrap_or(s), 0),
    };
    let local = humantime::parse_rfc3339_weak(base).ok()?;
    // Local time minus the offset is UTC.
    if offset_secs >= 0 {
        local.checked_sub(Duration::from_secs(offset_secs as u64))
    } else {
        local.checked_add(Duration::from_secs((-offset_secs) as u64))
    }
    .filter(|t| *t > UNIX_EPOCH)
}

/// `2026-11-27T04:19:47Z`, what Alertmanager's API accepts.
pub fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

/// `2026-11-27 04:19 UTC`, for people.
pub fn show_time(t: SystemTime) -> String {
    let s = rfc3339(t);
    format!("{} {} UTC", &s[..10], &s[11..16])
}

/// A timestamp string from Alertmanager for people; as given if it does not parse.
pub fn show_time_str(s: &str) -> String {
    parse_time(s)
        .map(show_time)
        .unwrap_or_else(|| s.to_string())
}

/// `45s`, `12m`, `3h 5m`, `2d 4h`: short and rounded down.
pub fn show_duration(d: Duration) -> String {
    let s = d.as_secs();
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

/// How long ago `t` was, e.g. `3h 5m`; `0s` for the future.
pub fn since(t: SystemTime, now: SystemTime) -> String {
    show_duration(now.duration_since(t).unwrap_or_default())
}

/// `just now`, `12m ago`, `3h 5m ago`.
pub fn ago(t: SystemTime, now: SystemTime) -> String {
    match now.duration_since(t) {
        Ok(d) if d.as_secs() >= 60 => format!("{} ago", show_duration(d)),
        _ => "just now".into(),
    }
}

/// A duration typed by a user: `30m`, `2h`, `1d`, `1h30m`. Not zero.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s.trim())
        .map_err(|_| format!("`{s}` is not a duration: write e.g. 30m, 2h or 1d"))?;
    if d.as_secs() == 0 {
        return Err(format!("`{s}` is too short: write e.g. 30m, 2h or 1d"));
    }
    Ok(d)
}

/// At most `max` characters of `s`, ending with `…` when cut.
pub fn clip(s: &str, max: usize) -> String {
    let s = s.trim();
    if s.chars().count() <= max {
        return s.to_string();
    }
    let cut: String = s.chars().take(max.saturating_sub(1)).collect();
    format!("{}…", cut.trim_end())
}

/// `header` then as many `items` as fit in one post, then `… and N more` for the rest.
pub fn fit(header: &str, items: &[String], hidden_elsewhere: usize) -> String {
    let mut out = header.to_string();
    let mut shown = 0;
    for item in items {
        // Keep room for the "… and N more" line.
        if out.chars().count() + 1 + item.chars().count() > MAX_POST - 40 {
            break;
        }
        out.push('\n');
        out.push_str(item);
        shown += 1;
    }
    let more = items.len() - shown + hidden_elsewhere;
    if more > 0 {
        out.push_str(&format!("\n… and {more} more"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_alertmanager_times() {
        let t = parse_time("2026-11-27T04:19:47.802209505Z").unwrap();
        assert_eq!(rfc3339(t), "2026-11-27T04:19:47Z");
        let t = parse_time("2026-11-27T05:19:47.5+01:00").unwrap();
        assert_eq!(rfc3339(t), "2026-11-27T04:19:47Z");
        let t = parse_time("2026-11-27T03:19:47-01:00").unwrap();
        assert_eq!(show_time(t), "2026-11-27 04:19 UTC");
        assert_eq!(parse_time("0001-01-01T00:00:00Z"), None);
        assert_eq!(parse_time("nonsense"), None);
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30m").unwrap(), Duration::from_secs(1800));
        assert_eq!(parse_duration("1d").unwrap(), Duration::from_secs(86400));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert!(parse_duration("because").is_err());
        assert!(parse_duration("0s").is_err());
        assert_eq!(show_duration(Duration::from_secs(5400)), "1h 30m");
        assert_eq!(
            show_duration(Duration::from_secs(86400 * 2 + 3600)),
            "2d 1h"
        );
        assert_eq!(show_duration(Duration::from_secs(59)), "59s");
        let t = UNIX_EPOCH + Duration::from_secs(1_000_000);
        assert_eq!(ago(t, t + Duration::from_secs(59)), "just now");
        assert_eq!(ago(t, t + Duration::from_secs(600)), "10m ago");
    }

    #[test]
    fn fits_long_lists() {
        let items: Vec<String> = (0..200).map(|i| format!("• item number {i}")).collect();
        let out = fit("header", &items, 0);
        assert!(out.chars().count() < 2000);
        assert!(out.ends_with(" more"), "{out}");
        assert_eq!(fit("h", &["a".into()], 2), "h\na\n… and 2 more");
        assert_eq!(clip("abcdef", 4), "abc…");
    }
}
