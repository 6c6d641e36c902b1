//! Silences through Alertmanager's API v2: matcher parsing, the request bodies, and what the
//! replies say. The HTTP calls themselves are in `lib.rs`.

use crate::text::{clip, fit, parse_time, rfc3339, show_time, show_time_str};
use chatops_sdk::serde::{Deserialize, Serialize};
use std::time::{Duration, SystemTime};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(crate = "chatops_sdk::serde")]
pub struct Matcher {
    pub name: String,
    pub value: String,
    #[serde(rename = "isRegex")]
    pub is_regex: bool,
    /// Absent in silences made by Alertmanager before 0.22: those only matched equality.
    #[serde(rename = "isEqual", default = "yes")]
    pub is_equal: bool,
}

fn yes() -> bool {
    true
}

impl Matcher {
    pub fn op(&self) -> &'static str {
        match (self.is_equal, self.is_regex) {
            (true, false) => "=",
            (false, false) => "!=",
            (true, true) => "=~",
            (false, true) => "!~",
        }
    }
}

/// `a="1", b=~"x|y"`, as Alertmanager writes matchers.
pub fn show_matchers(ms: &[Matcher]) -> String {
    ms.iter()
        .map(|m| format!("{}{}{:?}", m.name, m.op(), m.value))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `alertname=HighLatency,service=~"api|web",env!=dev` (optionally inside `{…}`). Values may
/// be "double-quoted", with `\` escapes, to hold commas.
pub fn parse_matchers(s: &str) -> Result<Vec<Matcher>, String> {
    let s = s.trim();
    let s = s
        .strip_prefix('{')
        .and_then(|r| r.strip_suffix('}'))
        .unwrap_or(s);
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace() || *c == ',') {
            chars.next();
        }
        if chars.peek().is_none() {
            break;
        }
        let mut name = String::new();
        while let Some(&c) = chars.peek() {
            if c.is_ascii_alphanumeric() || c == '_' {
                name.push(c);
                chars.next();
            } else {
                break;
            }
        }
        if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
            return Err(format!(
                "`{s}` is not a list of matchers: write e.g. alertname=HighLatency,service=api"
            ));
        }
        let mut op = String::new();
        while let Some(&c) = chars.peek() {
            if matches!(c, '=' | '!' | '~') && op.len() < 2 {
                op.push(c);
                chars.next();
            } else {
                break;
            }
        }
        let (is_equal, is_regex) = match op.as_str() {
            "=" => (true, false),
            "!=" => (false, false),
            "=~" => (true, true),
            "!~" => (false, true),
            _ => {
                return Err(format!(
                    "matcher `{name}` needs one of =, !=, =~ or !~ and a value, e.g. {name}=api"
                ))
            }
        };
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    None => return Err(format!("the quoted value of `{name}` is not closed")),
                    Some('"') => break,
                    Some('\\') => match chars.next() {
                        Some(c) => value.push(c),
                        None => return Err(format!("the quoted value of `{name}` is not closed")),
                    },
                    Some(c) => value.push(c),
                }
            }
            while chars.peek().is_some_and(|c| c.is_whitespace()) {
                chars.next();
            }
            if chars.peek().is_some_and(|c| *c != ',') {
                return Err(format!("put a comma after the quoted value of `{name}`"));
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ',' {
                    break;
                }
                value.push(c);
                chars.next();
            }
            value = value.trim().to_string();
        }
        out.push(Matcher {
            name,
            value,
            is_regex,
            is_equal,
        });
    }
    if out.is_empty() {
        return Err("give at least one matcher, e.g. alertname=HighLatency".into());
    }
    Ok(out)
}

/// The body of `POST /api/v2/silences`.
#[derive(Debug, Serialize)]
#[serde(crate = "chatops_sdk::serde")]
pub struct NewSilence {
    pub matchers: Vec<Matcher>,
    #[serde(rename = "startsAt")]
    pub starts_at: String,
    #[serde(rename = "endsAt")]
    pub ends_at: String,
    #[serde(rename = "createdBy")]
    pub created_by: String,
    pub comment: String,
}

pub fn new_silence(
    matchers: Vec<Matcher>,
    now: SystemTime,
    duration: Duration,
    by: &str,
    comment: &str,
) -> NewSilence {
    NewSilence {
        matchers,
        starts_at: rfc3339(now),
        ends_at: rfc3339(now + duration),
        created_by: by.to_string(),
        comment: comment.to_string(),
    }
}

#[derive(Debug, Deserialize)]
#[serde(crate = "chatops_sdk::serde")]
pub struct Created {
    #[serde(rename = "silenceID")]
    pub silence_id: String,
}

/// A silence as `GET /api/v2/silences` lists it.
#[derive(Debug, Deserialize)]
#[serde(crate = "chatops_sdk::serde")]
pub struct Silence {
    pub id: String,
    #[serde(default)]
    pub status: Status,
    #[serde(default)]
    pub matchers: Vec<Matcher>,
    #[serde(default, rename = "startsAt")]
    pub starts_at: String,
    #[serde(default, rename = "endsAt")]
    pub ends_at: String,
    #[serde(default, rename = "createdBy")]
    pub created_by: String,
    #[serde(default)]
    pub comment: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(crate = "chatops_sdk::serde")]
pub struct Status {
    /// active, pending or expired
    #[serde(default)]
    pub state: String,
}

/// `silence list`: active and pending silences, soonest to end first.
pub fn format_list(mut all: Vec<Silence>) -> String {
    all.retain(|s| s.status.state == "active" || s.status.state == "pending");
    if all.is_empty() {
        return "🔔 No active silences.".into();
    }
    all.sort_by_key(|s| parse_time(&s.ends_at));
    let header = format!(
        "🔕 **{} silence{}** (`silence expire ID` to end one):",
        all.len(),
        if all.len() == 1 { "" } else { "s" }
    );
    let items: Vec<String> = all
        .iter()
        .map(|s| {
            let mut line = format!(
                "• `{}` {} — until {}",
                s.id,
                clip(&show_matchers(&s.matchers), 300),
                show_time_str(&s.ends_at)
            );
            if s.status.state == "pending" {
                line.push_str(&format!(" (starts {})", show_time_str(&s.starts_at)));
            }
            if !s.created_by.is_empty() {
                line.push_str(&format!(" by {}", clip(&s.created_by, 60)));
            }
            if !s.comment.trim().is_empty() {
                line.push_str(&format!(": {}", clip(&s.comment.replace('\n', " "), 200)));
            }
            line
        })
        .collect();
    fit(&header, &items, 0)
}

/// The reply to a new silence.
pub fn format_created(id: &str, s: &NewSilence, duration: Duration) -> String {
    let until = parse_time(&s.ends_at)
        .map(show_time)
        .unwrap_or_else(|| s.ends_at.clone());
    format!(
        "🔕 Silenced {} until {until} ({}). Silence ID `{id}`; end it early with `silence expire {id}`.",
        show_matchers(&s.matchers),
        crate::text::show_duration(duration),
    )
}

/// Silence IDs are UUIDs; keep anything else out of the URL path.
pub fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(name: &str, op: &str, value: &str) -> Matcher {
        Matcher {
            name: name.into(),
            value: value.into(),
            is_regex: op.contains('~'),
            is_equal: !op.starts_with('!'),
        }
    }

    #[test]
    fn parses_matchers() {
        assert_eq!(
            parse_matchers("alertname=HighLatency,service=api").unwrap(),
            vec![m("alertname", "=", "HighLatency"), m("service", "=", "api")]
        );
        assert_eq!(
            parse_matchers(r#"{env!=dev, service=~"api|web,x", job!~"a\"b"}"#).unwrap(),
            vec![
                m("env", "!=", "dev"),
                m("service", "=~", "api|web,x"),
                m("job", "!~", "a\"b")
            ]
        );
        assert_eq!(
            parse_matchers("instance=web-1:9100").unwrap()[0].value,
            "web-1:9100"
        );
        assert_eq!(parse_matchers("a=").unwrap()[0].value, "");
        assert!(parse_matchers("list").is_err());
        assert!(parse_matchers("a==b").is_err());
        assert!(parse_matchers("=b").is_err());
        assert!(parse_matchers("a=\"b").is_err());
        assert!(parse_matchers("").is_err());
        assert_eq!(
            show_matchers(&parse_matchers("a=1,b!~x.*").unwrap()),
            r#"a="1", b!~"x.*""#
        );
    }

    #[test]
    fn builds_a_silence() {
        let now = parse_time("2026-11-27T04:00:00Z").unwrap();
        let s = new_silence(
            parse_matchers("alertname=X").unwrap(),
            now,
            Duration::from_secs(7200),
            "alice",
            "deploying",
        );
        assert_eq!(s.ends_at, "2026-11-27T06:00:00Z");
        let json = chatops_sdk::serde_json::to_value(&s).unwrap();
        assert_eq!(
            json["matchers"][0],
            chatops_sdk::serde_json::json!({"name":"alertname","value":"X","isRegex":false,"isEqual":true})
        );
        assert_eq!(json["createdBy"], "alice");
        assert_eq!(
            format_created("abc", &s, Duration::from_secs(7200)),
            "🔕 Silenced alertname=\"X\" until 2026-11-27 06:00 UTC (2h). Silence ID `abc`; end it early with `silence expire abc`."
        );
    }

    #[test]
    fn lists_active_silences() {
        let body = r#"[
          {"id":"1","status":{"state":"expired"},"matchers":[],"startsAt":"","endsAt":"","createdBy":"x","comment":"old"},
          {"id":"2","status":{"state":"active"},"matchers":[{"name":"a","value":"b","isRegex":false,"isEqual":true}],
           "startsAt":"2026-11-27T04:00:00Z","endsAt":"2026-11-27T06:00:00Z","createdBy":"alice","comment":"deploy"}]"#;
        let all: Vec<Silence> = chatops_sdk::serde_json::from_str(body).unwrap();
        assert_eq!(
            format_list(all),
            "🔕 **1 silence** (`silence expire ID` to end one):\n• `2` a=\"b\" — until 2026-11-27 06:00 UTC by alice: deploy"
        );
        assert_eq!(format_list(vec![]), "🔔 No active silences.");
    }
}
