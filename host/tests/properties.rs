//! Property tests of the parsers an attacker or a careless admin feeds: the HTTP grant
//! matcher, the command tokenizer (and the command line the host shows), and the cron
//! parser. A few hundred cases each, so they stay quick in the normal test run; the fuzz
//! targets in `fuzz/` run the same invariants on arbitrary input.

use chatops::capabilities::http::{Destination, HttpGrant};
use chatops::dispatch::parse::{arguments, quote, tokenize};
use chatops::model::{command_line, ArgValue, Argument, Command, CommandOption, OptionKind};
use chatops::triggers::schedule::next_after;
use chrono::{DateTime, Datelike, Duration, Timelike, Utc};
use chrono_tz::Tz;
use proptest::prelude::*;

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// The path's segments as the most lenient server would read them: `;params` dropped,
/// `%XX` decoded, `\` read as `/`, dot segments resolved, empty segments merged; and
/// whether it had any `.` or `..` segment at all.
fn server_view(path: &str) -> (Vec<String>, bool) {
    let stripped: Vec<&str> = path
        .split('/')
        .map(|s| s.split(';').next().unwrap_or(""))
        .collect();
    let raw = stripped.join("/");
    let b = raw.as_bytes();
    let mut decoded = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                decoded.push(h * 16 + l);
                i += 3;
                continue;
            }
        }
        decoded.push(b[i]);
        i += 1;
    }
    let text = String::from_utf8_lossy(&decoded).replace('\\', "/");
    let mut dots = false;
    let mut out: Vec<String> = Vec::new();
    for seg in text.split('/') {
        match seg.split(';').next().unwrap_or("") {
            "" => {}
            "." => dots = true,
            ".." => {
                dots = true;
                out.pop();
            }
            s => out.push(s.to_string()),
        }
    }
    (out, dots)
}

fn dest(url: &str) -> Option<Destination> {
    Destination::from_uri(&url.parse().ok()?)
}

/// Every byte of `s` as `%XX`, in upper or lower case hex.
fn encode_all(s: &str, upper: bool) -> String {
    s.bytes()
        .map(|b| {
            if upper {
                format!("%{b:02X}")
            } else {
                format!("%{b:02x}")
            }
        })
        .collect()
}

/// One piece of a hostile path: a plain or look-alike segment, a dot segment in some
/// encoding, an encoded separator, a parameter.
fn piece(prefix: Vec<String>) -> impl Strategy<Value = String> {
    let near = prefix.clone();
    prop_oneof![
        "[a-z0-9]{1,4}",
        proptest::sample::select(prefix),
        proptest::sample::select(near).prop_map(|s| format!("{s}x")),
        proptest::sample::select(vec![
            "..",
            ".",
            "",
            "%2e%2e",
            "%2E%2e",
            ".%2e",
            "%2e.",
            "%2e",
            "..;",
            ".;",
            "..;x=1",
            "..%3b",
            "%2f",
            "%2F",
            "%5c",
            "%5C",
            "\\",
            "..\\..",
            "\\..",
            "..%5c..",
            "admin",
            ";x",
            "%252e%252e",
        ])
        .prop_map(String::from),
        ("[a-z0-9.]{1,4}", any::<bool>()).prop_map(|(s, up)| encode_all(&s, up)),
    ]
}

fn prefix() -> impl Strategy<Value = Vec<String>> {
    proptest::collection::vec("[a-z0-9]{1,3}", 1..=3)
}

/// The host in mixed case, with or without the default port written out.
fn host(upper: Vec<bool>, port: bool) -> String {
    let h: String = "api.example.com"
        .chars()
        .zip(upper.iter().cycle())
        .map(|(c, up)| if *up { c.to_ascii_uppercase() } else { c })
        .collect();
    if port {
        format!("{h}:443")
    } else {
        h
    }
}

proptest! {
    #![proptest_config(config(512))]

    /// A path outside a granted prefix is never allowed, whatever its encoding.
    #[test]
    fn a_path_outside_the_prefix_is_never_allowed(
        (prefix, pieces) in prefix().prop_flat_map(|p| {
            let pieces = proptest::collection::vec((piece(p.clone()), any::<bool>()), 0..7);
            (Just(p), pieces)
        }),
        upper in proptest::collection::vec(any::<bool>(), 1..4),
        port in any::<bool>(),
        slash in any::<bool>(),
    ) {
        let grant: HttpGrant = format!("https://api.example.com/{}{}", prefix.join("/"), if slash { "/" } else { "" })
            .parse()
            .unwrap();
        let mut path = String::new();
        for (p, backslash) in &pieces {
            path.push(if *backslash { '\\' } else { '/' });
            path.push_str(p);
        }
        let url = format!("https://{}/{}", host(upper, port), path.trim_start_matches(['/', '\\']));
        let Some(d) = dest(&url) else {
            return Ok(());
        };
        if grant.allows(&d) {
            let (seen, dots) = server_view(&d.path);
            prop_assert!(!dots, "{grant} allows {url}, which has dot segments");
            prop_assert!(
                seen.starts_with(&prefix),
                "{grant} allows {url}, which a server reads as /{}",
                seen.join("/")
            );
        }
    }

    /// And the matcher is not trivially safe: a plain path under the prefix is allowed,
    /// whatever the host's case and whether the default port is written.
    #[test]
    fn a_plain_path_under_the_prefix_is_allowed(
        prefix in prefix(),
        rest in proptest::collection::vec("[a-zA-Z0-9_~-]{0,5}", 0..4),
        upper in proptest::collection::vec(any::<bool>(), 1..4),
        port in any::<bool>(),
        query in "(\\?[a-z=&.]{0,8})?",
    ) {
        let grant: HttpGrant = format!("HTTPS://Api.Example.Com/{}", prefix.join("/")).parse().unwrap();
        let mut url = format!("https://{}/{}", host(upper, port), prefix.join("/"));
        for r in &rest {
            url.push('/');
            url.push_str(r);
        }
        url.push_str(&query);
        let d = dest(&url).unwrap();
        prop_assert!(grant.allows(&d), "{grant} refuses {url}");
        let other = dest(&url.replacen("://", "://x", 1)).unwrap();
        prop_assert!(!grant.allows(&other));
    }
}

/// Words with what makes quoting hard: spaces, both quotes, backslashes, `=`, newlines,
/// non-ASCII.
fn word() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z]{0,6}",
        proptest::collection::vec(
            proptest::sample::select(vec![
                "a", "Z", " ", "\t", "\n", "\"", "'", "\\", "=", "é", "🙂", "\u{a0}", "<@", ">",
                "x=", "\r", "\u{1b}",
            ]),
            0..8
        )
        .prop_map(|v| v.concat()),
        any::<String>(),
    ]
}

fn text_command() -> Command {
    let opt = |name: &str, kind| CommandOption {
        name: name.into(),
        description: name.into(),
        kind,
        required: false,
        choices: vec![],
        min_value: None,
        max_value: None,
        min_length: None,
        max_length: None,
        channel_kinds: vec![],
        autocomplete: false,
    };
    Command {
        name: "note".into(),
        description: "Note".into(),
        options: vec![
            opt("title", OptionKind::String),
            opt("count", OptionKind::Integer),
            opt("body", OptionKind::String),
        ],
        subcommands: vec![],
        groups: vec![],
        confirm: false,
    }
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn tokenize_never_panics(line in any::<String>()) {
        let _ = tokenize(&line);
    }

    /// Quoting a word list then tokenizing gives it back.
    #[test]
    fn quoted_words_tokenize_back(words in proptest::collection::vec(word(), 0..6)) {
        let line = words.iter().map(|w| quote(w)).collect::<Vec<_>>().join(" ");
        prop_assert_eq!(tokenize(&line), Ok(words), "{:?}", line);
    }

    /// The command line the host shows (confirmations, audit) parses back to the same
    /// arguments when typed.
    #[test]
    fn the_shown_command_line_parses_back(
        title in word(),
        count in proptest::option::of(any::<i64>()),
        body in proptest::option::of(word()),
    ) {
        let mut args = vec![Argument { name: "title".into(), value: ArgValue::String(title) }];
        if let Some(c) = count {
            args.push(Argument { name: "count".into(), value: ArgValue::Integer(c) });
        }
        if let Some(b) = body {
            args.push(Argument { name: "body".into(), value: ArgValue::String(b) });
        }
        let line = command_line("note", &args);
        let words = tokenize(&line).unwrap();
        prop_assert_eq!(&words[0], "note");
        let back = arguments(&text_command(), &words[1..]);
        prop_assert_eq!(back, Ok(args), "{:?}", line);
    }
}

/// A cron field as a list of values (written as a list, a range or a step) and the set it
/// means.
fn field(lo: u32, hi: u32) -> impl Strategy<Value = (String, Vec<u32>)> {
    prop_oneof![
        Just(("*".to_string(), (lo..=hi).collect())),
        proptest::collection::btree_set(lo..=hi, 1..4).prop_map(|s| {
            let v: Vec<u32> = s.into_iter().collect();
            (
                v.iter().map(u32::to_string).collect::<Vec<_>>().join(","),
                v,
            )
        }),
        (lo..=hi, lo..=hi).prop_map(|(a, b)| {
            let (a, b) = (a.min(b), a.max(b));
            (format!("{a}-{b}"), (a..=b).collect())
        }),
        (1..=(hi - lo + 1)).prop_map(move |s| {
            (
                format!("*/{s}"),
                (lo..=hi).filter(|v| (v - lo) % s == 0).collect(),
            )
        }),
    ]
}

proptest! {
    #![proptest_config(config(256))]

    /// The next time of a five-field expression is the first whole minute after the time
    /// asked about whose minute, hour and weekday the fields allow.
    #[test]
    fn cron_next_is_the_first_matching_minute(
        (m, minutes) in field(0, 59),
        (h, hours) in field(0, 23),
        (d, days) in field(0, 6),
        start in 1_700_000_000i64..1_900_000_000,
    ) {
        let expr = format!("{m} {h} * * {d}");
        let after = DateTime::from_timestamp(start, 0).unwrap();
        let next = next_after(&expr, after, Tz::UTC).unwrap();
        let matches = |t: DateTime<Utc>| {
            minutes.contains(&t.minute())
                && hours.contains(&t.hour())
                && days.contains(&t.weekday().num_days_from_sunday())
        };
        prop_assert!(next > after, "{expr}: {next} after {after}");
        prop_assert_eq!(next.second(), 0);
        prop_assert!(matches(next), "{} does not match {}", next, expr);
        let mut t = after.with_second(0).unwrap() + Duration::minutes(1);
        while t < next {
            prop_assert!(!matches(t), "{expr}: {t} matches but {next} was given");
            t += Duration::minutes(1);
        }
    }
}
