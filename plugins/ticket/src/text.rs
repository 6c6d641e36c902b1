//! Pure helpers: who asked, ticket numbers, and text cut to fit a chat line.

use chatops_sdk::Invocation;

/// The chat user behind a command, as written into the ticket.
#[derive(Debug, Clone, PartialEq)]
pub struct Who {
    pub name: String,
    pub id: String,
    pub channel: String,
}

impl Who {
    pub fn of(inv: &Invocation) -> Who {
        Who {
            name: inv.user.name.clone(),
            id: inv.user.id.clone(),
            channel: inv.channel.clone(),
        }
    }

    /// `alice (id 1234) in #ops`
    pub fn describe(&self) -> String {
        let mut s = format!("{} (id {})", one_line(&self.name), one_line(&self.id));
        if !self.channel.is_empty() {
            s.push_str(&format!(" in #{}", one_line(&self.channel)));
        }
        s
    }
}

/// The body of a new ticket: what the user wrote, then who opened it.
pub fn new_body(description: &str, who: &Who) -> String {
    let footer = format!("Opened from chat by {}.", who.describe());
    if description.trim().is_empty() {
        footer
    } else {
        format!("{}\n\n---\n{footer}", description.trim())
    }
}

/// A comment: what the user wrote, then who wrote it.
pub fn comment_body(text: &str, who: &Who) -> String {
    format!("{}\n\n— {}, from chat", text.trim(), who.describe())
}

/// The note left when a ticket is closed, with the user's reason if they gave one.
pub fn close_body(text: &str, who: &Who) -> String {
    let head = format!("Closed from chat by {}", who.describe());
    if text.trim().is_empty() {
        format!("{head}.")
    } else {
        format!("{head}: {}", text.trim())
    }
}

/// `12`, `#12`, or a link ending in `/issues/12`: the ticket number.
pub fn ticket_id(raw: &str) -> Result<u64, String> {
    let s = raw.trim().trim_end_matches('/');
    let s = s.rsplit('/').next().unwrap_or(s);
    let s = s.trim_start_matches('#');
    match s.parse::<u64>() {
        Ok(n) if n > 0 && n < 1 << 31 => Ok(n),
        _ => Err(format!(
            "`{}` is not a ticket number: write e.g. `ticket show 12`",
            clip(raw.trim(), 40)
        )),
    }
}

/// Newlines and runs of spaces folded to one space.
pub fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
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

/// The date part of an ISO 8601 timestamp (`2026-11-27T08:33:28Z` → `2026-11-27`).
pub fn day(ts: &str) -> &str {
    ts.get(..10).unwrap_or(ts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> Who {
        Who {
            name: "alice".into(),
            id: "42".into(),
            channel: "ops".into(),
        }
    }

    #[test]
    fn names_the_chat_user() {
        assert_eq!(
            new_body("db is slow", &alice()),
            "db is slow\n\n---\nOpened from chat by alice (id 42) in #ops."
        );
        assert_eq!(
            new_body("  ", &alice()),
            "Opened from chat by alice (id 42) in #ops."
        );
        assert_eq!(
            comment_body("restarted it\n", &alice()),
            "restarted it\n\n— alice (id 42) in #ops, from chat"
        );
        assert_eq!(
            close_body("", &alice()),
            "Closed from chat by alice (id 42) in #ops."
        );
        assert_eq!(
            close_body("fixed", &alice()),
            "Closed from chat by alice (id 42) in #ops: fixed"
        );
        let odd = Who {
            name: "eve\nmallory".into(),
            id: "1".into(),
            channel: String::new(),
        };
        assert_eq!(odd.describe(), "eve mallory (id 1)");
    }

    #[test]
    fn reads_ticket_numbers() {
        assert_eq!(ticket_id("12"), Ok(12));
        assert_eq!(ticket_id(" #7 "), Ok(7));
        assert_eq!(ticket_id("https://redmine.example.com/issues/31"), Ok(31));
        assert_eq!(ticket_id("https://github.com/o/r/issues/5/"), Ok(5));
        assert!(ticket_id("0").is_err());
        assert!(ticket_id("abc").is_err());
        assert!(ticket_id("-3").is_err());
        assert!(ticket_id("99999999999").is_err());
        assert!(ticket_id("").is_err());
    }

    #[test]
    fn clips() {
        assert_eq!(clip("hello", 5), "hello");
        assert_eq!(clip("hello world", 6), "hello…");
        assert_eq!(one_line("a\n b  c"), "a b c");
        assert_eq!(day("2026-11-27T08:33:28Z"), "2026-11-27");
        assert_eq!(day("x"), "x");
    }
}
