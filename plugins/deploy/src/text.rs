//! Small formatting helpers.

use std::time::{SystemTime, UNIX_EPOCH};

pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// `45 s`, `3 min 05 s`, `2 h 10 min`
pub fn duration(secs: u64) -> String {
    match secs {
        0..=59 => format!("{secs} s"),
        60..=3599 => format!("{} min {:02} s", secs / 60, secs % 60),
        _ => format!("{} h {:02} min", secs / 3600, secs % 3600 / 60),
    }
}

pub fn icon(state: &str) -> &'static str {
    match state {
        "succeeded" => "✅",
        "failed" => "❌",
        "cancelled" => "🛑",
        "queued" => "🕒",
        _ => "⏳",
    }
}

/// Seconds since 1970 of an RFC 3339 time (`2026-11-27T08:00:00Z`).
pub fn parse_rfc3339(s: &str) -> Option<u64> {
    humantime::parse_rfc3339(s)
        .or_else(|_| humantime::parse_rfc3339_weak(s))
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_secs())
}

pub fn rfc3339(secs: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + std::time::Duration::from_secs(secs)).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(duration(5), "5 s");
        assert_eq!(duration(65), "1 min 05 s");
        assert_eq!(duration(7800), "2 h 10 min");
        assert_eq!(parse_rfc3339("2026-11-27T08:00:00Z"), Some(1795766400));
        assert_eq!(rfc3339(1795766400), "2026-11-27T08:00:00Z");
    }
}
