//! What a plugin's `describe()` (and `settings()`) must satisfy: Discord's rules for commands and options,
//! checked at load so a bad plugin is refused with a reason instead of failing at Discord.

use crate::config::is_valid_name;
use crate::model::{Capability, Command, OptionKind, PluginInfo, Setting};

pub const RESERVED: &[&str] = &["help", "chatops"];

pub fn plugin_info(info: &PluginInfo) -> Result<(), String> {
    if !is_valid_name(&info.name) {
        return Err(format!(
            "its name `{}` is not 1-32 characters of a-z, 0-9, - and _",
            info.name
        ));
    }
    if info.version.trim().is_empty() {
        return Err("its version is empty (use env!(\"CARGO_PKG_VERSION\"))".into());
    }
    for r in &info.capabilities {
        if let Capability::Schedule(s) = &r.capability {
            if !is_valid_name(&s.name) {
                return Err(format!(
                    "schedule `{}`: the name must be 1-32 characters of a-z, 0-9, - and _",
                    s.name
                ));
            }
            parse_cron(&s.cron).map_err(|e| format!("schedule `{}`: {e}", s.name))?;
        }
        if let Capability::Webhook(name) = &r.capability {
            if !is_valid_name(name) {
                return Err(format!(
                    "webhook `{name}`: the name must be 1-32 characters of a-z, 0-9, - and _"
                ));
            }
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    for c in &info.commands {
        command(c).map_err(|e| format!("command `{}`: {e}", c.name))?;
        if !seen.insert(c.name.as_str()) {
            return Err(format!("command `{}` is declared twice", c.name));
        }
    }
    Ok(())
}

/// A cron expression: five fields (minute hour day-of-month month day-of-week), or six
/// with seconds first. `@hourly`, `@daily` and friends work too.
pub fn parse_cron(text: &str) -> Result<croner::Cron, String> {
    let bad = |why: &str| {
        format!("`{text}` is not a cron expression ({why}); write five fields like \"0 9 * * 1-5\" (09:00 on weekdays), or six with seconds first")
    };
    // croner reads a field of bare commas as no value at all: such an expression never
    // fires, and each search for its next time took seconds (found by fuzzing).
    if let Some(i) = text
        .split_whitespace()
        .position(|f| f.split(',').all(str::is_empty))
    {
        return Err(bad(&format!("field {} has no value", i + 1)));
    }
    let cron = croner::Cron::new(text.trim())
        .with_seconds_optional()
        .parse()
        .map_err(|e| bad(&e.to_string()))?;
    // Dates that never come (30 February) are refused here rather than warned about at
    // every tick of the clock. From 2024-01-01, so 29 February is found.
    let from = chrono::DateTime::from_timestamp(1_704_067_200, 0).expect("a valid time");
    if cron.find_next_occurrence(&from, false).is_err() {
        return Err(format!("`{text}` is a cron expression that never fires: no date matches all its fields; check the day of the month against the month"));
    }
    Ok(cron)
}

/// The settings a plugin declares: named like config keys, each once, each described.
pub fn settings(settings: &[Setting]) -> Result<(), String> {
    let max = crate::capabilities::config::MAX_KEY_BYTES;
    let mut seen = std::collections::BTreeSet::new();
    for s in settings {
        if s.key.is_empty() || s.key.len() > max || s.key.chars().any(char::is_control) {
            return Err(format!(
                "setting `{}`: a key is 1 to {max} printable characters",
                s.key
            ));
        }
        if !seen.insert(s.key.as_str()) {
            return Err(format!("setting `{}` is declared twice", s.key));
        }
        text_len(
            &format!("setting `{}`: the description", s.key),
            &s.description,
            200,
        )?;
    }
    Ok(())
}

fn text_len(what: &str, s: &str, max: usize) -> Result<(), String> {
    let n = s.chars().count();
    if n == 0 || n > max {
        return Err(format!("{what} must be 1 to {max} characters, not {n}"));
    }
    Ok(())
}

fn command(c: &Command) -> Result<(), String> {
    if !is_valid_name(&c.name) {
        return Err("the name must be 1-32 characters of a-z, 0-9, - and _".into());
    }
    if RESERVED.contains(&c.name.as_str()) {
        return Err(format!("`{}` is reserved by the host", c.name));
    }
    text_len("the description", &c.description, 100)?;
    if c.options.len() > 25 {
        return Err("a command has at most 25 options".into());
    }
    let mut optional_seen = false;
    let mut names = std::collections::BTreeSet::new();
    for o in &c.options {
        if !is_valid_name(&o.name) {
            return Err(format!(
                "option `{}`: the name must be 1-32 characters of a-z, 0-9, - and _",
                o.name
            ));
        }
        if !names.insert(o.name.as_str()) {
            return Err(format!("option `{}` is declared twice", o.name));
        }
        text_len(
            &format!("option `{}`: the description", o.name),
            &o.description,
            100,
        )?;
        if o.required && optional_seen {
            return Err(format!(
                "required option `{}` comes after an optional one; list required options first",
                o.name
            ));
        }
        optional_seen |= !o.required;
        if o.choices.len() > 25 {
            return Err(format!("option `{}` has more than 25 choices", o.name));
        }
        if !o.choices.is_empty()
            && !matches!(
                o.kind,
                OptionKind::String | OptionKind::Integer | OptionKind::Number
            )
        {
            return Err(format!(
                "option `{}`: only text and number options can have choices",
                o.name
            ));
        }
        for ch in &o.choices {
            text_len(&format!("option `{}`: choice name", o.name), &ch.name, 100)?;
            text_len(
                &format!("option `{}`: choice value", o.name),
                &ch.value,
                100,
            )?;
            let ok = match o.kind {
                OptionKind::Integer => ch.value.parse::<i64>().is_ok(),
                OptionKind::Number => ch.value.parse::<f64>().is_ok(),
                _ => true,
            };
            if !ok {
                return Err(format!(
                    "option `{}`: choice `{}` is not a {}",
                    o.name,
                    ch.value,
                    o.kind.label()
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_cron;

    #[test]
    fn cron_expressions_that_never_fire_are_refused_at_once() {
        // Found by fuzzing: an empty field parsed, and every search for its next time
        // took seconds.
        for (expr, why) in [
            (", * * * *", "field 1 has no value"),
            ("0 0 ,, * *", "field 3 has no value"),
            ("* * * * * ,", "field 6 has no value"),
            ("0 0 30 2 *", "never fires"),
            ("0 0 31 4,6,9,11 *", "never fires"),
        ] {
            let e = parse_cron(expr).unwrap_err();
            assert!(e.contains(why), "{expr}: {e}");
            assert!(e.contains("cron expression"), "{e}");
        }
        for ok in [
            "0 9 * * 1-5",
            "0 0 29 2 *",
            "1, * * * *",
            "@hourly",
            "0 0 L 2 *",
        ] {
            assert!(parse_cron(ok).is_ok(), "{ok}");
        }
    }
}
