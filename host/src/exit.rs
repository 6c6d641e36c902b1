//! The one exit. Everything a plugin says that leaves the host for a person or a file —
//! replies, progress, posts, errors of every kind, refusal notices, log lines, audit rows —
//! passes an [`Exit`] at the point where it leaves, and the exit's [`Redactor`] takes out
//! every granted secret value. Producers (capabilities, the sandbox, the dispatcher) hand
//! raw text to the exit and never redact for themselves, so a new path cannot forget to.

use crate::store::{AuditEntry, Store};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// Secret values shorter than this are not redacted: replacing every "a" in a reply hides
/// nothing. `chatops check` warns about them.
pub const MIN_REDACTED_LEN: usize = 4;
/// Replies, and error texts in chat and in the audit trail, are cut past this.
pub const MAX_TEXT_BYTES: usize = 256 * 1024;
/// Progress text is short by nature; anything longer is cut rather than flooding the chat.
pub const MAX_PROGRESS_BYTES: usize = 1800;
/// One log line or refusal notice carrying plugin text.
pub const MAX_LOG_BYTES: usize = 4096;
const REDACTED: &str = "[redacted]";

/// Takes secret values out of text. Built per command from the values of the secrets
/// granted to the plugin, so it knows exactly what the plugin could have read.
#[derive(Debug, Default, Clone)]
pub struct Redactor {
    /// Each value and its percent-encoded form, longest first (so a value containing
    /// another is replaced whole).
    needles: Vec<String>,
}

impl Redactor {
    pub fn new<I: IntoIterator<Item = String>>(values: I) -> Self {
        let mut needles: Vec<String> = Vec::new();
        for v in values.into_iter().filter(|v| v.len() >= MIN_REDACTED_LEN) {
            let encoded = percent_encode(&v);
            if encoded != v {
                needles.push(encoded);
            }
            needles.push(v);
        }
        needles.sort_by_key(|n| std::cmp::Reverse(n.len()));
        needles.dedup();
        Redactor { needles }
    }

    /// Text for the chat: every secret value replaced. Says whether anything was.
    pub fn chat(&self, text: &str) -> (String, bool) {
        let mut out = text.to_string();
        let mut hit = false;
        for n in &self.needles {
            if out.contains(n.as_str()) {
                out = out.replace(n.as_str(), REDACTED);
                hit = true;
            }
        }
        (out, hit)
    }

    /// Text for the admin (logs, notices, audit): secret values replaced, and in every URL
    /// the user name, password and query values masked, since a plugin may put a token
    /// there that the host never granted (one it was given by an upstream, say).
    pub fn admin(&self, text: &str) -> String {
        mask_urls(&self.chat(text).0)
    }
}

/// `%XX` for every byte outside the URL-safe set, as a plugin would put a value in a query.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Mask userinfo and query values of every `scheme://…` in `text`.
fn mask_urls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        // The scheme: letters right before `://`.
        let scheme_start = rest[..i]
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '+' || c == '-' || c == '.'))
            .map(|j| j + 1)
            .unwrap_or(0);
        if scheme_start == i {
            out.push_str(&rest[..i + 3]);
            rest = &rest[i + 3..];
            continue;
        }
        out.push_str(&rest[..i + 3]);
        let after = &rest[i + 3..];
        let end = after
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>' | '`'))
            .unwrap_or(after.len());
        out.push_str(&mask_url_tail(&after[..end]));
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

/// `user:pass@host/path?a=1&b=2#frag` → `***@host/path?a=…&b=…#…`
fn mask_url_tail(tail: &str) -> String {
    let path_at = tail.find(['/', '?', '#']).unwrap_or(tail.len());
    let (authority, rest) = tail.split_at(path_at);
    let mut out = match authority.rfind('@') {
        Some(at) => format!("***{}", &authority[at..]),
        None => authority.to_string(),
    };
    let (before_frag, frag) = match rest.find('#') {
        Some(h) => (&rest[..h], Some(&rest[h + 1..])),
        None => (rest, None),
    };
    match before_frag.split_once('?') {
        Some((path, query)) => {
            out.push_str(path);
            out.push('?');
            let masked: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((k, _)) => format!("{k}=…"),
                    None if pair.is_empty() => String::new(),
                    None => "…".to_string(),
                })
                .collect();
            out.push_str(&masked.join("&"));
        }
        None => out.push_str(before_frag),
    }
    if let Some(f) = frag {
        out.push_str(if f.is_empty() { "#" } else { "#…" });
    }
    out
}

/// Cut `text` to at most `max` bytes at a character boundary, saying so.
pub fn cut(mut text: String, max: usize) -> String {
    if text.len() <= max {
        return text;
    }
    let total = text.len();
    let mut at = max;
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    text.truncate(at);
    text.push_str(&format!("\n… (cut at {max} of {total} bytes)"));
    text
}

/// Where progress updates of a running command go (the adapter decides how to show them).
pub trait ProgressSink: Send + Sync {
    fn progress(&self, text: &str);
}

/// Posting to a channel outside the running command.
#[async_trait::async_trait]
pub trait Poster: Send + Sync {
    async fn post(&self, channel: &str, text: &str) -> Result<(), String>;
    /// A rich message (contract 0.2), already redacted and checked against Discord's
    /// limits; an adapter that shows only text gets its plain form.
    async fn post_message(
        &self,
        channel: &str,
        message: &crate::model::Message,
    ) -> Result<(), String> {
        self.post(channel, &crate::render::plain(message)).await
    }
}

/// Progress that goes nowhere (describe, events, and tests).
pub struct NoProgress;
impl ProgressSink for NoProgress {
    fn progress(&self, _text: &str) {}
}

/// The way out for one call of one plugin.
pub struct Exit {
    plugin: String,
    command: String,
    redactor: Redactor,
    progress: Arc<dyn ProgressSink>,
    poster: Option<Arc<dyn Poster>>,
    /// Refusals and redactions, for the admin: what happened and what would allow it.
    notices: Mutex<Vec<String>>,
    /// The capabilities the call used or was refused (`http ORIGIN`, `secret NAME`,
    /// `post CHANNEL`, `kv`; refused ones as `refused …`), for its audit record.
    capabilities: Mutex<std::collections::BTreeSet<String>>,
    /// Whether a secret was taken out of something shown in chat.
    redacted: AtomicBool,
}

impl Exit {
    pub fn new(
        plugin: &str,
        command: &str,
        redactor: Redactor,
        progress: Arc<dyn ProgressSink>,
        poster: Option<Arc<dyn Poster>>,
    ) -> Self {
        Exit {
            plugin: plugin.to_string(),
            command: command.to_string(),
            redactor,
            progress,
            poster,
            notices: Mutex::new(Vec::new()),
            capabilities: Mutex::default(),
            redacted: AtomicBool::new(false),
        }
    }

    /// An exit with no secrets to hide and nowhere to post (describing a plugin).
    pub fn quiet(plugin: &str) -> Self {
        Exit::new(plugin, "", Redactor::default(), Arc::new(NoProgress), None)
    }

    pub fn plugin(&self) -> &str {
        &self.plugin
    }

    /// Text bound for the chat, redacted and cut to `max` bytes.
    pub fn chat(&self, text: &str, max: usize) -> String {
        self.chat_checked(text, max).0
    }

    /// [`Exit::chat`], also saying whether a secret was taken out of this text.
    pub fn chat_checked(&self, text: &str, max: usize) -> (String, bool) {
        let (text, hit) = self.redactor.chat(text);
        if hit && !self.redacted.swap(true, Ordering::Relaxed) {
            self.notice(format!(
                "redacted a secret value from what plugin `{}` showed in chat (command `{}`)",
                self.plugin, self.command
            ));
        }
        (cut(text, max), hit)
    }

    /// Whether anything shown in chat so far had a secret taken out.
    pub fn redacted(&self) -> bool {
        self.redacted.load(Ordering::Relaxed)
    }

    /// Text bound for the admin or a file: redacted, URLs masked, cut to `max` bytes.
    pub fn admin(&self, text: &str, max: usize) -> String {
        cut(self.redactor.admin(text), max)
    }

    /// Replace the progress text of the running command.
    pub fn progress(&self, text: &str) {
        let text = self.chat(text, MAX_PROGRESS_BYTES);
        self.progress.progress(&text);
    }

    /// Post to a channel (the caller has checked the `post` grant).
    pub async fn post(&self, channel: &str, text: &str) -> Result<(), String> {
        let Some(poster) = self.poster.clone() else {
            return Err("this adapter cannot post to channels".into());
        };
        let text = self.chat(text, MAX_TEXT_BYTES);
        let channel = self.chat(channel, 200);
        poster.post(&channel, &text).await
    }

    /// Post a rich message (the caller has checked the `post` grant): every text in it
    /// redacted, Discord's limits checked (the error names the limit).
    pub async fn post_message(
        &self,
        channel: &str,
        message: &crate::model::Message,
    ) -> Result<(), String> {
        let Some(poster) = self.poster.clone() else {
            return Err("this adapter cannot post to channels".into());
        };
        let mut rich = crate::render::Rich::of_message(message);
        crate::render::check(&rich)?;
        crate::render::redact(self, &mut rich);
        let message = crate::model::Message {
            text: self.chat(&message.text, MAX_TEXT_BYTES),
            embeds: rich.embeds,
            attachments: rich.attachments,
            components: rich.components,
        };
        let channel = self.chat(channel, 200);
        poster.post_message(&channel, &message).await
    }

    /// A refusal or redaction the admin should know about: logged, and kept for the answer.
    pub fn notice(&self, text: String) {
        let text = self.admin(&text, MAX_LOG_BYTES);
        tracing::warn!(plugin = %self.plugin, command = %self.command, "{text}");
        self.notices
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(text);
    }

    /// Record that the call used (`allowed`) or was refused a capability, e.g.
    /// `http https://ci.example.com:443`, `secret deploy-token`, `post ops`, `kv`.
    pub fn capability(&self, allowed: bool, what: &str) {
        let what: String = what.chars().take(200).collect();
        let mut set = self.capabilities.lock().unwrap_or_else(|e| e.into_inner());
        if set.len() < 64 {
            set.insert(if allowed {
                what
            } else {
                format!("refused {what}")
            });
        }
    }

    pub fn take_notices(&self) -> Vec<String> {
        std::mem::take(&mut *self.notices.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// A log line carrying plugin text (its own log calls, stdout, stderr, trap messages).
    pub fn log(&self, level: tracing::Level, text: &str) {
        let text = self.admin(text, MAX_LOG_BYTES);
        let plugin = &self.plugin;
        match level {
            tracing::Level::TRACE => tracing::trace!(target: "plugin", %plugin, "{text}"),
            tracing::Level::DEBUG => tracing::debug!(target: "plugin", %plugin, "{text}"),
            tracing::Level::INFO => tracing::info!(target: "plugin", %plugin, "{text}"),
            tracing::Level::WARN => tracing::warn!(target: "plugin", %plugin, "{text}"),
            tracing::Level::ERROR => tracing::error!(target: "plugin", %plugin, "{text}"),
        }
    }

    /// Write one audit row, its command line and detail redacted and cut.
    pub fn audit(&self, store: &Store, entry: AuditEntry) {
        if let Err(e) = store.audit(&self.audit_entry(entry)) {
            tracing::error!("could not write the audit trail: {e}");
        }
    }

    /// An audit row as it may be written: command line and detail redacted and cut.
    pub fn audit_entry(&self, mut entry: AuditEntry) -> AuditEntry {
        entry.args = self.admin(&entry.args, MAX_LOG_BYTES);
        entry.command = self.admin(&entry.command, 200);
        entry.detail = self.admin(&entry.detail, MAX_TEXT_BYTES);
        let used = self.capabilities.lock().unwrap_or_else(|e| e.into_inner());
        if entry.capabilities.is_empty() && !used.is_empty() {
            let joined = used.iter().cloned().collect::<Vec<_>>().join("; ");
            entry.capabilities = self.admin(&joined, MAX_LOG_BYTES);
        }
        drop(used);
        entry
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_values_are_replaced_longest_first_and_encoded_forms_too() {
        let r = Redactor::new(["abcd".to_string(), "abcdef!g".to_string(), "ab".into()]);
        assert_eq!(
            r.chat("x abcdef!g y abcd ab").0,
            "x [redacted] y [redacted] ab"
        );
        assert_eq!(r.chat("q=abcdef%21g").0, "q=[redacted]");
        assert!(!r.chat("nothing").1);
    }

    #[test]
    fn urls_lose_userinfo_and_query_values_for_the_admin() {
        let r = Redactor::default();
        assert_eq!(
            r.admin("GET https://u:p@api.example.com/v1/x?token=abc&debug#frag now"),
            "GET https://***@api.example.com/v1/x?token=…&…#… now"
        );
        assert_eq!(
            r.admin("see `http://h:8080/a?b=c`."),
            "see `http://h:8080/a?b=…`."
        );
        assert_eq!(r.admin("no url :// here"), "no url :// here");
    }

    #[test]
    fn cutting_respects_characters() {
        let t = cut("ééé".to_string(), 3);
        assert!(t.starts_with("é\n… (cut at 3 of 6 bytes)"), "{t}");
    }
}
