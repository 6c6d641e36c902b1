//! Rich messages (contract 0.2) independent of any adapter: Discord's limits on a message,
//! checked before anything is sent; the custom id a component carries through the chat;
//! the plain-text rendering the shell, logs and the audit use; and the exit's redaction
//! applied to every text a rich message holds.

use crate::exit::Exit;
use crate::model::{ActionRow, Attachment, Component, Embed, Message};

pub const MAX_EMBEDS: usize = 10;
pub const MAX_EMBED_CHARS: usize = 6000;
pub const MAX_EMBED_TITLE: usize = 256;
pub const MAX_EMBED_DESCRIPTION: usize = 4096;
pub const MAX_EMBED_FIELDS: usize = 25;
pub const MAX_FIELD_NAME: usize = 256;
pub const MAX_FIELD_VALUE: usize = 1024;
pub const MAX_FOOTER: usize = 2048;
pub const MAX_ROWS: usize = 5;
pub const MAX_BUTTONS_PER_ROW: usize = 5;
pub const MAX_LABEL: usize = 80;
pub const MAX_SELECT_OPTIONS: usize = 25;
pub const MAX_ATTACHMENTS: usize = 10;
/// Per file, and all files of one message together.
pub const MAX_ATTACHMENT_BYTES: usize = 8 << 20;
pub const MAX_ATTACHMENTS_BYTES: usize = 25 << 20;
/// The plugin's part of a component's custom id (Discord allows 100 for all of it).
pub const MAX_CUSTOM_ID: usize = 60;
pub const MAX_DISCORD_CUSTOM_ID: usize = 100;

/// The rich parts of an answer, beside its text.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Rich {
    pub embeds: Vec<Embed>,
    pub attachments: Vec<Attachment>,
    pub components: Vec<ActionRow>,
}

impl Rich {
    pub fn is_empty(&self) -> bool {
        self.embeds.is_empty() && self.attachments.is_empty() && self.components.is_empty()
    }
    pub fn of_message(m: &Message) -> Rich {
        Rich {
            embeds: m.embeds.clone(),
            attachments: m.attachments.clone(),
            components: m.components.clone(),
        }
    }
}

fn chars(s: &str) -> usize {
    s.chars().count()
}

fn at_most(what: &str, s: &str, max: usize) -> Result<usize, String> {
    let n = chars(s);
    if n > max {
        return Err(format!(
            "{what} has {n} characters; Discord allows at most {max}"
        ));
    }
    Ok(n)
}

/// Discord's limits on one message's embeds, files and components; the error names the
/// limit.
pub fn check(rich: &Rich) -> Result<(), String> {
    if rich.embeds.len() > MAX_EMBEDS {
        return Err(format!(
            "it has {} embeds; Discord allows at most {MAX_EMBEDS} per message",
            rich.embeds.len()
        ));
    }
    let mut total = 0;
    for (i, e) in rich.embeds.iter().enumerate() {
        let what = format!("embed {}", i + 1);
        total += at_most(
            &format!("{what}'s title"),
            e.title.as_deref().unwrap_or(""),
            MAX_EMBED_TITLE,
        )?;
        total += at_most(
            &format!("{what}'s description"),
            e.description.as_deref().unwrap_or(""),
            MAX_EMBED_DESCRIPTION,
        )?;
        total += at_most(
            &format!("{what}'s footer"),
            e.footer.as_deref().unwrap_or(""),
            MAX_FOOTER,
        )?;
        if e.fields.len() > MAX_EMBED_FIELDS {
            return Err(format!(
                "{what} has {} fields; Discord allows at most {MAX_EMBED_FIELDS}",
                e.fields.len()
            ));
        }
        for f in &e.fields {
            if f.name.trim().is_empty() || f.value.trim().is_empty() {
                return Err(format!("{what} has a field with an empty name or value"));
            }
            total += at_most(&format!("{what}'s field name"), &f.name, MAX_FIELD_NAME)?;
            total += at_most(&format!("{what}'s field value"), &f.value, MAX_FIELD_VALUE)?;
        }
        if let Some(url) = &e.url {
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                return Err(format!("{what}'s URL `{url}` is not http(s)"));
            }
        }
        if let Some(c) = e.color {
            if c > 0xFF_FFFF {
                return Err(format!("{what}'s colour {c:#x} is not 0xRRGGBB"));
            }
        }
        if let Some(t) = &e.timestamp {
            if humantime::parse_rfc3339_weak(t).is_err() {
                return Err(format!(
                    "{what}'s timestamp `{t}` is not RFC 3339 (2026-11-27T12:00:00Z)"
                ));
            }
        }
    }
    if total > MAX_EMBED_CHARS {
        return Err(format!(
            "its embeds total {total} characters; Discord allows at most {MAX_EMBED_CHARS} per message"
        ));
    }
    if rich.attachments.len() > MAX_ATTACHMENTS {
        return Err(format!(
            "it has {} attachments; Discord allows at most {MAX_ATTACHMENTS} per message",
            rich.attachments.len()
        ));
    }
    let mut bytes = 0;
    for a in &rich.attachments {
        let name_ok = !a.name.is_empty()
            && a.name.len() <= 100
            && !a.name.contains(['/', '\\'])
            && !a.name.starts_with('.')
            && !a.name.chars().any(char::is_control);
        if !name_ok {
            return Err(format!(
                "attachment `{}`: a file name is 1-100 characters, without / or \\, not starting with a dot",
                a.name.chars().take(100).collect::<String>()
            ));
        }
        if a.data.len() > MAX_ATTACHMENT_BYTES {
            return Err(format!(
                "attachment `{}` is {} bytes; Discord allows at most 8 MiB per file",
                a.name,
                a.data.len()
            ));
        }
        bytes += a.data.len();
    }
    if bytes > MAX_ATTACHMENTS_BYTES {
        return Err(format!(
            "its attachments total {bytes} bytes; Discord allows at most 25 MiB per message"
        ));
    }
    if rich.components.len() > MAX_ROWS {
        return Err(format!(
            "it has {} rows of components; Discord allows at most {MAX_ROWS}",
            rich.components.len()
        ));
    }
    for (i, row) in rich.components.iter().enumerate() {
        let what = format!("component row {}", i + 1);
        let selects = row
            .iter()
            .filter(|c| matches!(c, Component::Select(_)))
            .count();
        if row.is_empty() {
            return Err(format!("{what} is empty"));
        }
        if selects > 0 && row.len() > 1 {
            return Err(format!(
                "{what} mixes a select menu with other components; a select menu fills a row"
            ));
        }
        if row.len() > MAX_BUTTONS_PER_ROW {
            return Err(format!(
                "{what} has {} buttons; Discord allows at most {MAX_BUTTONS_PER_ROW} per row",
                row.len()
            ));
        }
        for c in row {
            match c {
                Component::Button(b) => {
                    label(&b.label)?;
                    custom_id(&b.action.custom_id)?;
                }
                Component::Link(l) => {
                    label(&l.label)?;
                    if !(l.url.starts_with("https://") || l.url.starts_with("http://")) {
                        return Err(format!(
                            "link button `{}`: `{}` is not http(s)",
                            l.label, l.url
                        ));
                    }
                }
                Component::Select(s) => {
                    custom_id(&s.action.custom_id)?;
                    if s.options.is_empty() || s.options.len() > MAX_SELECT_OPTIONS {
                        return Err(format!(
                            "a select menu has {} options; Discord allows 1 to {MAX_SELECT_OPTIONS}",
                            s.options.len()
                        ));
                    }
                    if s.min_values > s.max_values || s.max_values as usize > s.options.len() {
                        return Err(format!(
                            "a select menu's min/max values ({}..{}) do not fit its {} options",
                            s.min_values,
                            s.max_values,
                            s.options.len()
                        ));
                    }
                    for o in &s.options {
                        at_most("a select option's label", &o.label, 100)?;
                        at_most("a select option's value", &o.value, 100)?;
                    }
                }
            }
        }
    }
    Ok(())
}

fn label(l: &str) -> Result<(), String> {
    if l.trim().is_empty() {
        return Err("a button has no label".into());
    }
    at_most(&format!("button `{l}`'s label"), l, MAX_LABEL).map(drop)
}

fn custom_id(id: &str) -> Result<(), String> {
    if id.is_empty() {
        return Err("a component has an empty custom id".into());
    }
    at_most(&format!("custom id `{id}`"), id, MAX_CUSTOM_ID).map(drop)
}

/// What a component carries through the chat: the command path it acts as, whether it
/// asks for confirmation, and the plugin's own id. `cx|incident ack|-|ack:INC-42`.
pub fn encode_custom_id(command: &str, confirm: bool, custom: &str) -> Result<String, String> {
    let flag = if confirm { "c" } else { "-" };
    let id = format!("cx|{command}|{flag}|{custom}");
    if chars(&id) > MAX_DISCORD_CUSTOM_ID {
        return Err(format!(
            "the component `{custom}` of `{command}` needs {} characters of custom id; Discord allows at most {MAX_DISCORD_CUSTOM_ID} (shorten the custom id)",
            chars(&id)
        ));
    }
    Ok(id)
}

/// The parts of a custom id made by [`encode_custom_id`]: (command path, confirm, custom).
pub fn decode_custom_id(id: &str) -> Option<(String, bool, String)> {
    let rest = id.strip_prefix("cx|")?;
    let (command, rest) = rest.split_once('|')?;
    let (flag, custom) = rest.split_once('|')?;
    Some((command.to_string(), flag == "c", custom.to_string()))
}

/// Every text of the rich parts through the exit (redacted); `true` if a secret was hit.
pub fn redact(exit: &Exit, rich: &mut Rich) -> bool {
    let mut hit = false;
    let mut pass = |s: &mut String| {
        let (t, h) = exit.chat_checked(s, crate::exit::MAX_TEXT_BYTES);
        hit |= h;
        *s = t;
    };
    for e in &mut rich.embeds {
        for s in [&mut e.title, &mut e.description, &mut e.url, &mut e.footer]
            .into_iter()
            .flatten()
        {
            pass(s);
        }
        for f in &mut e.fields {
            pass(&mut f.name);
            pass(&mut f.value);
        }
    }
    for a in &mut rich.attachments {
        pass(&mut a.name);
        if let Ok(text) = std::str::from_utf8(&a.data) {
            let mut t = text.to_string();
            pass(&mut t);
            a.data = t.into_bytes();
        }
    }
    for row in &mut rich.components {
        for c in row {
            match c {
                Component::Button(b) => pass(&mut b.label),
                Component::Link(l) => {
                    pass(&mut l.label);
                    pass(&mut l.url);
                }
                Component::Select(s) => {
                    if let Some(p) = &mut s.placeholder {
                        pass(p);
                    }
                    for o in &mut s.options {
                        pass(&mut o.label);
                        if let Some(d) = &mut o.description {
                            pass(d);
                        }
                    }
                }
            }
        }
    }
    hit
}

/// An embed as a titled block of text: what the shell shows.
pub fn embed_text(e: &Embed) -> String {
    let mut out = String::new();
    let bar = match e.color {
        Some(c) => format!("┃ #{c:06x} "),
        None => "┃ ".to_string(),
    };
    if let Some(t) = &e.title {
        out.push_str(&format!("{bar}{t}"));
        if let Some(u) = &e.url {
            out.push_str(&format!(" <{u}>"));
        }
        out.push('\n');
    }
    if let Some(d) = &e.description {
        for l in d.lines() {
            out.push_str(&format!("┃ {l}\n"));
        }
    }
    for f in &e.fields {
        out.push_str(&format!("┃ {}: {}\n", f.name, f.value.replace('\n', " ")));
    }
    let mut foot = Vec::new();
    if let Some(f) = &e.footer {
        foot.push(f.clone());
    }
    if let Some(t) = &e.timestamp {
        foot.push(t.clone());
    }
    if !foot.is_empty() {
        out.push_str(&format!("┃ — {}\n", foot.join(" · ")));
    }
    out
}

/// The labels of a message's components, numbered from 1 in reading order, with each
/// one's custom id (None for a link).
pub fn numbered_components(rows: &[ActionRow]) -> Vec<(String, Option<Component>)> {
    let mut out = Vec::new();
    for row in rows {
        for c in row {
            match c {
                Component::Button(b) => out.push((b.label.clone(), Some(c.clone()))),
                Component::Link(l) => out.push((format!("{} <{}>", l.label, l.url), None)),
                Component::Select(s) => {
                    for o in &s.options {
                        let mut one = s.clone();
                        one.options = vec![o.clone()];
                        let what = s.placeholder.clone().unwrap_or_else(|| "choose".into());
                        out.push((format!("{what}: {}", o.label), Some(Component::Select(one))));
                    }
                }
            }
        }
    }
    out
}

/// A whole message as plain text (progress and posts where the adapter shows text, logs).
pub fn plain(m: &Message) -> String {
    let mut out = m.text.clone();
    for e in &m.embeds {
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(&embed_text(e));
    }
    for a in &m.attachments {
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(&format!("[file {} ({} bytes)]", a.name, a.data.len()));
    }
    let buttons = numbered_components(&m.components);
    if !buttons.is_empty() {
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        let labels: Vec<String> = buttons.iter().map(|(l, _)| format!("[{l}]")).collect();
        out.push_str(&labels.join(" "));
    }
    out.trim_end().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Action, Button, ButtonStyle, EmbedField};

    fn embed(description: &str) -> Embed {
        Embed {
            title: Some("t".into()),
            description: Some(description.into()),
            url: None,
            color: None,
            fields: vec![],
            footer: None,
            timestamp: None,
        }
    }

    fn button(id: &str) -> Component {
        Component::Button(Button {
            label: "Go".into(),
            style: ButtonStyle::Primary,
            action: Action {
                command: "deploy".into(),
                custom_id: id.into(),
                confirm: false,
            },
            disabled: false,
        })
    }

    #[test]
    fn each_message_limit_is_named() {
        let r = |rich: Rich| check(&rich).unwrap_err();
        assert_eq!(
            r(Rich {
                embeds: vec![embed("x"); 11],
                ..Rich::default()
            }),
            "it has 11 embeds; Discord allows at most 10 per message"
        );
        assert_eq!(
            r(Rich {
                embeds: vec![embed(&"x".repeat(4000)), embed(&"x".repeat(2500))],
                ..Rich::default()
            }),
            "its embeds total 6502 characters; Discord allows at most 6000 per message"
        );
        let mut e = embed("x");
        e.fields = vec![
            EmbedField {
                name: "n".into(),
                value: "v".into(),
                inline: true
            };
            26
        ];
        assert_eq!(
            r(Rich {
                embeds: vec![e],
                ..Rich::default()
            }),
            "embed 1 has 26 fields; Discord allows at most 25"
        );
        assert_eq!(
            r(Rich {
                components: vec![vec![button("a")]; 6],
                ..Rich::default()
            }),
            "it has 6 rows of components; Discord allows at most 5"
        );
        assert_eq!(
            r(Rich {
                components: vec![vec![button("a"); 6]],
                ..Rich::default()
            }),
            "component row 1 has 6 buttons; Discord allows at most 5 per row"
        );
        let big = crate::model::Attachment {
            name: "big.log".into(),
            content_type: "text/plain".into(),
            data: vec![b'x'; MAX_ATTACHMENT_BYTES + 1],
        };
        assert_eq!(
            r(Rich {
                attachments: vec![big],
                ..Rich::default()
            }),
            format!(
                "attachment `big.log` is {} bytes; Discord allows at most 8 MiB per file",
                MAX_ATTACHMENT_BYTES + 1
            )
        );
        assert_eq!(
            r(Rich {
                components: vec![vec![button(&"x".repeat(61))]],
                ..Rich::default()
            }),
            format!(
                "custom id `{}` has 61 characters; Discord allows at most 60",
                "x".repeat(61)
            )
        );
    }

    #[test]
    fn custom_ids_round_trip() {
        let id = encode_custom_id("incident ack", true, "ack:INC-42|x").unwrap();
        assert_eq!(id, "cx|incident ack|c|ack:INC-42|x");
        assert_eq!(
            decode_custom_id(&id),
            Some(("incident ack".into(), true, "ack:INC-42|x".into()))
        );
        assert_eq!(decode_custom_id("chatops:confirm:1"), None);
    }
}
