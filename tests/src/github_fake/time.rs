//! UTC timestamps as GitHub writes them (`2024-05-01T12:00:00Z`), without a date crate.

use std::time::{SystemTime, UNIX_EPOCH};

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `secs` since the epoch as RFC 3339 in UTC.
pub fn rfc3339(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// `2024-05-01`, `2024-05-01T12:00:00Z` or `2024-05-01T12:00:00+02:00` (fractions of a
/// second ignored) as seconds since the epoch.
pub fn parse(s: &str) -> Option<u64> {
    let s = s.trim();
    let (date, rest) = match s.split_once(['T', ' ']) {
        Some((d, r)) => (d, Some(r)),
        None => (s, None),
    };
    let mut parts = date.splitn(3, '-');
    let y: i64 = parts.next()?.parse().ok()?;
    let m: i64 = parts.next()?.parse().ok()?;
    let d: i64 = parts.next()?.parse().ok()?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let mut secs = days_from_civil(y, m, d) * 86_400;
    if let Some(rest) = rest {
        let (clock, offset) = match rest.find(['Z', 'z', '+', '-']) {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        let clock = clock.split('.').next()?;
        let mut hms = clock.split(':');
        let h: i64 = hms.next()?.parse().ok()?;
        let mi: i64 = hms.next().unwrap_or("0").parse().ok()?;
        let se: i64 = hms.next().unwrap_or("0").parse().ok()?;
        secs += h * 3600 + mi * 60 + se;
        if let Some(sign) = offset.chars().next().filter(|c| *c == '+' || *c == '-') {
            let (oh, om) = offset[1..].split_once(':').unwrap_or((&offset[1..], "0"));
            let off = oh.parse::<i64>().ok()? * 3600 + om.parse::<i64>().ok()? * 60;
            secs += if sign == '+' { -off } else { off };
        }
    }
    u64::try_from(secs).ok()
}

fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_714_564_800), "2024-05-01T12:00:00Z");
        assert_eq!(parse("2024-05-01T12:00:00Z"), Some(1_714_564_800));
        assert_eq!(parse("2024-05-01T14:00:00+02:00"), Some(1_714_564_800));
        assert_eq!(parse("2024-05-01"), Some(1_714_521_600));
        assert_eq!(parse("nope"), None);
    }
}
