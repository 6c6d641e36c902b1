//! Text commands: `deploy api prod`, `roll dice=2d6 show=each`, `echo "quoted text"`,
//! parsed against the command's typed options.

use crate::model::{ArgValue, Argument, Command, CommandOption, OptionKind};

pub use crate::model::quote_word as quote;

/// Split a line into words, honouring "double" and 'single' quotes (at the start of a
/// word, or right after `name=`, so `note="db is down"` is one word) and `\` escapes.
/// [`quote`] writes a word so that this gives it back.
pub fn tokenize(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            // A quote opens a quoted part only at the start of a word, so "it's down" is
            // two words, not an unclosed quote.
            '"' | '\'' if !in_word || is_option_prefix(&cur) => {
                in_word = true;
                let quote = c;
                loop {
                    match chars.next() {
                        None => return Err(format!("a {quote} quote is not closed")),
                        Some(q) if q == quote => break,
                        Some('\\') if quote == '"' => match chars.next() {
                            Some(e) => cur.push(e),
                            None => return Err("the line ends with a lone \\".into()),
                        },
                        Some(o) => cur.push(o),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some(e) => cur.push(e),
                    None => return Err("the line ends with a lone \\".into()),
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    Ok(words)
}

/// `name=` with nothing after it yet: a quote here opens the option's value.
fn is_option_prefix(cur: &str) -> bool {
    cur.strip_suffix('=').is_some_and(|name| {
        !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_alphanumeric() || c == '-' || c == '_')
    })
}

/// Parse the words after the command name against its options.
///
/// Words of the form `name=value` set that option; the rest fill the remaining options in
/// order, and the last text option takes whatever words are left, so `echo hello world`
/// needs no quotes.
pub fn arguments(cmd: &Command, words: &[String]) -> Result<Vec<Argument>, String> {
    let mut given: Vec<(usize, String)> = Vec::new();
    let mut positional: Vec<&String> = Vec::new();
    for w in words {
        if let Some((k, v)) = w.split_once('=') {
            if let Some(i) = cmd.options.iter().position(|o| o.name == k) {
                if given.iter().any(|(j, _)| *j == i) {
                    return Err(format!("option `{k}` is given twice"));
                }
                given.push((i, v.to_string()));
                continue;
            }
        }
        positional.push(w);
    }
    let free: Vec<usize> = (0..cmd.options.len())
        .filter(|i| !given.iter().any(|(j, _)| j == i))
        .collect();
    let mut rest = positional.into_iter();
    for (n, &i) in free.iter().enumerate() {
        let last = n + 1 == free.len();
        let value = if last && cmd.options[i].kind == OptionKind::String {
            let all: Vec<&str> = rest.by_ref().map(String::as_str).collect();
            (!all.is_empty()).then(|| all.join(" "))
        } else {
            rest.next().cloned()
        };
        if let Some(v) = value {
            given.push((i, v));
        }
    }
    let extra: Vec<&str> = rest.map(String::as_str).collect();
    if !extra.is_empty() {
        return Err(format!("unexpected extra words: {}", extra.join(" ")));
    }
    given.sort_by_key(|(i, _)| *i);
    let mut args = Vec::new();
    for (i, raw) in given {
        let opt = &cmd.options[i];
        args.push(Argument {
            name: opt.name.clone(),
            value: convert(opt, &raw)?,
        });
    }
    check(cmd, &args)?;
    Ok(args)
}

/// Required options present, choices respected: for typed arguments from any adapter.
pub fn check(cmd: &Command, args: &[Argument]) -> Result<(), String> {
    for a in args {
        let Some(opt) = cmd.options.iter().find(|o| o.name == a.name) else {
            return Err(format!("`{}` has no option `{}`", cmd.name, a.name));
        };
        limits(opt, &a.value)?;
        if !opt.choices.is_empty() {
            let v = a.value.to_string();
            if !opt.choices.iter().any(|c| c.value == v) {
                return Err(format!(
                    "`{}` must be one of: {}",
                    opt.name,
                    choice_list(opt)
                ));
            }
        }
    }
    for opt in cmd.options.iter().filter(|o| o.required) {
        if !args.iter().any(|a| a.name == opt.name) {
            return Err(format!("`{}` is required ({})", opt.name, opt.description));
        }
    }
    Ok(())
}

/// The option's constraints: min/max value, min/max length.
fn limits(opt: &CommandOption, value: &ArgValue) -> Result<(), String> {
    let n = match value {
        ArgValue::Integer(i) => Some(*i as f64),
        ArgValue::Number(n) => Some(*n),
        _ => None,
    };
    if let Some(n) = n {
        if let Some(lo) = opt.min_value.filter(|lo| n < *lo) {
            return Err(format!("`{}` must be at least {lo}, not {n}", opt.name));
        }
        if let Some(hi) = opt.max_value.filter(|hi| n > *hi) {
            return Err(format!("`{}` must be at most {hi}, not {n}", opt.name));
        }
    }
    if let ArgValue::String(s) = value {
        let len = s.chars().count() as u32;
        if let Some(lo) = opt.min_length.filter(|lo| len < *lo) {
            return Err(format!(
                "`{}` must be at least {lo} characters, not {len}",
                opt.name
            ));
        }
        if let Some(hi) = opt.max_length.filter(|hi| len > *hi) {
            return Err(format!(
                "`{}` must be at most {hi} characters, not {len}",
                opt.name
            ));
        }
    }
    Ok(())
}

pub fn choice_list(opt: &CommandOption) -> String {
    opt.choices
        .iter()
        .map(|c| c.value.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn convert(opt: &CommandOption, raw: &str) -> Result<ArgValue, String> {
    // A choice may be typed by its shown name as well as by its value.
    let raw = opt
        .choices
        .iter()
        .find(|c| c.name.eq_ignore_ascii_case(raw) || c.value.eq_ignore_ascii_case(raw))
        .map(|c| c.value.as_str())
        .unwrap_or(raw);
    let bad = |what: &str| format!("`{}` must be {what}, not `{raw}`", opt.name);
    Ok(match opt.kind {
        OptionKind::String => ArgValue::String(raw.to_string()),
        OptionKind::Integer => ArgValue::Integer(raw.parse().map_err(|_| bad("a whole number"))?),
        OptionKind::Number => ArgValue::Number(
            raw.parse::<f64>()
                .ok()
                .filter(|n| n.is_finite())
                .ok_or_else(|| bad("a number"))?,
        ),
        OptionKind::Boolean => ArgValue::Boolean(match raw.to_ascii_lowercase().as_str() {
            "true" | "yes" | "y" | "on" | "1" => true,
            "false" | "no" | "n" | "off" | "0" => false,
            _ => return Err(bad("true or false")),
        }),
        OptionKind::User => ArgValue::User(mention(raw, &["<@!", "<@"]).to_string()),
        OptionKind::Channel => ArgValue::Channel(mention(raw, &["<#"]).to_string()),
        OptionKind::Role => ArgValue::Role(mention(raw, &["<@&"]).to_string()),
    })
}

/// `<@123>` → `123`; anything else as typed (`<@<@1>>` too, so that the line the host
/// shows for it parses back to the same value).
fn mention<'a>(raw: &'a str, prefixes: &[&str]) -> &'a str {
    for p in prefixes {
        if let Some(id) = raw.strip_prefix(p).and_then(|r| r.strip_suffix('>')) {
            if !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) {
                return id;
            }
        }
    }
    raw
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::OptionChoice;

    fn opt(name: &str, kind: OptionKind, required: bool) -> CommandOption {
        CommandOption {
            name: name.into(),
            description: format!("the {name}"),
            kind,
            required,
            choices: vec![],
            min_value: None,
            max_value: None,
            min_length: None,
            max_length: None,
            channel_kinds: vec![],
            autocomplete: false,
        }
    }

    fn deploy() -> Command {
        let mut env = opt("env", OptionKind::String, true);
        env.choices = vec![
            OptionChoice {
                name: "Production".into(),
                value: "prod".into(),
            },
            OptionChoice {
                name: "Staging".into(),
                value: "staging".into(),
            },
        ];
        Command {
            name: "deploy".into(),
            description: "Deploy".into(),
            options: vec![
                opt("service", OptionKind::String, true),
                env,
                opt("canary", OptionKind::Boolean, false),
                opt("replicas", OptionKind::Integer, false),
            ],
            subcommands: vec![],
            groups: vec![],
            confirm: true,
        }
    }

    fn words(s: &str) -> Vec<String> {
        tokenize(s).unwrap()
    }

    #[test]
    fn tokenizes_quotes_and_escapes() {
        assert_eq!(
            words(r#"open "db down" it's\ ok 'a b'"#),
            ["open", "db down", "it's ok", "a b"]
        );
        assert_eq!(
            words(r#"say "she said \"hi\"""#),
            ["say", "she said \"hi\""]
        );
        assert_eq!(words(r#""""#), [""]);
        assert_eq!(
            words("it's down, don't panic"),
            ["it's", "down,", "don't", "panic"]
        );
        assert!(tokenize("oops \"unclosed")
            .unwrap_err()
            .contains("not closed"));
    }

    #[test]
    fn a_quote_may_open_an_options_value() {
        assert_eq!(
            words(r#"deploy note="db is down" x='a b' a=b="c d""#),
            ["deploy", "note=db is down", "x=a b", "a=b=\"c", "d\""]
        );
        assert_eq!(words(r#"echo it's=fine"#), ["echo", "it's=fine"]);
    }

    #[test]
    fn the_line_the_host_shows_parses_back_to_the_same_arguments() {
        // Found by fuzzing: `note="a b"` came back as two words, and `\` and control
        // characters were written as Rust escapes the parser does not read.
        let cmd = deploy();
        let cmd = Command {
            options: [
                cmd.options.clone(),
                vec![opt("note", OptionKind::String, false)],
            ]
            .concat(),
            ..cmd
        };
        for value in [
            "db is down",
            "a\\b",
            "say \"hi\"",
            "it's",
            "",
            "line\nbreak",
            "tab\there",
        ] {
            let args = vec![
                Argument {
                    name: "service".into(),
                    value: ArgValue::String("api".into()),
                },
                Argument {
                    name: "env".into(),
                    value: ArgValue::String("prod".into()),
                },
                Argument {
                    name: "note".into(),
                    value: ArgValue::String(value.into()),
                },
            ];
            let line = crate::model::command_line("deploy", &args);
            let back = arguments(&cmd, &words(&line)[1..]).unwrap();
            assert_eq!(back, args, "{line}");
        }
        for w in ["", "a b", "\"", "'", "\\", "x\ny", "\"a\\\" b'"] {
            assert_eq!(words(&quote(w)), [w], "{}", quote(w));
        }
    }

    #[test]
    fn positional_named_and_typed() {
        let args = arguments(&deploy(), &words("api prod replicas=3 canary=yes")).unwrap();
        let shown: Vec<String> = args
            .iter()
            .map(|a| format!("{}={}", a.name, a.value))
            .collect();
        assert_eq!(
            shown,
            ["service=api", "env=prod", "canary=true", "replicas=3"]
        );
        let args = arguments(&deploy(), &words("env=Staging api")).unwrap();
        assert_eq!(args[1].value, ArgValue::String("staging".into()));
    }

    #[test]
    fn usage_errors_say_what_is_wrong() {
        assert!(arguments(&deploy(), &words("api"))
            .unwrap_err()
            .contains("`env` is required"));
        assert!(arguments(&deploy(), &words("api qa"))
            .unwrap_err()
            .contains("one of: prod, staging"));
        assert!(arguments(&deploy(), &words("api prod maybe"))
            .unwrap_err()
            .contains("true or false"));
        assert!(arguments(&deploy(), &words("api prod replicas=many"))
            .unwrap_err()
            .contains("whole number"));
        assert!(arguments(&deploy(), &words("api prod yes 3 extra"))
            .unwrap_err()
            .contains("extra words: extra"));
    }

    #[test]
    fn the_last_text_option_takes_the_rest() {
        let echo = Command {
            name: "echo".into(),
            description: "Echo".into(),
            options: vec![opt("text", OptionKind::String, true)],
            subcommands: vec![],
            groups: vec![],
            confirm: false,
        };
        let args = arguments(&echo, &words("hello there world")).unwrap();
        assert_eq!(args[0].value, ArgValue::String("hello there world".into()));
        let args = arguments(&echo, &words("a=b")).unwrap();
        assert_eq!(args[0].value, ArgValue::String("a=b".into()));
    }

    #[test]
    fn mentions_become_ids() {
        let c = Command {
            name: "page".into(),
            description: "Page".into(),
            options: vec![
                opt("who", OptionKind::User, true),
                opt("where", OptionKind::Channel, false),
            ],
            subcommands: vec![],
            groups: vec![],
            confirm: false,
        };
        let args = arguments(&c, &words("<@!42> <#7>")).unwrap();
        assert_eq!(args[0].value, ArgValue::User("42".into()));
        assert_eq!(args[1].value, ArgValue::Channel("7".into()));
        let args = arguments(&c, &words("<@<@1>>")).unwrap();
        assert_eq!(args[0].value, ArgValue::User("<@<@1>>".into()));
    }
}
