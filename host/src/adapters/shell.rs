//! `chatops shell`: an interactive chat on the terminal through the same dispatcher, acting
//! as a chosen user with chosen roles. Line editing and history on a terminal; plain lines
//! from a pipe, so it can be scripted.

use crate::bot::Bot;
use crate::capabilities::ProgressSink;
use crate::dispatch::{Caller, Kind, Prefix, Response};
use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::AsyncBufReadExt;

/// Progress updates, shown as they arrive.
struct PrintProgress;
impl ProgressSink for PrintProgress {
    fn progress(&self, text: &str) {
        println!("… {text}");
        let _ = std::io::stdout().flush();
    }
}

/// Posts to other channels (granted with `post`), shown inline with their channel.
pub struct PrintPost;
#[async_trait::async_trait]
impl crate::capabilities::Poster for PrintPost {
    async fn post(&self, channel: &str, text: &str) -> Result<(), String> {
        println!("[#{channel}] {text}");
        Ok(())
    }
}

enum Lines {
    Tty(
        Arc<Mutex<rustyline::DefaultEditor>>,
        Option<std::path::PathBuf>,
    ),
    Piped(tokio::io::BufReader<tokio::io::Stdin>),
}

/// A line longer than this is refused (and skipped), not parsed.
const MAX_LINE_BYTES: usize = 64 * 1024;

/// What the shell read: a line, or why the line cannot be used.
enum Line {
    Text(String),
    Bad(String),
}

impl Lines {
    fn open() -> Self {
        if std::io::stdin().is_terminal() {
            if let Ok(mut ed) = rustyline::DefaultEditor::new() {
                let history = std::env::var_os("HOME")
                    .map(|h| std::path::PathBuf::from(h).join(".chatops_history"));
                if let Some(h) = &history {
                    let _ = ed.load_history(h);
                }
                return Lines::Tty(Arc::new(Mutex::new(ed)), history);
            }
        }
        Lines::Piped(tokio::io::BufReader::new(tokio::io::stdin()))
    }

    async fn next(&mut self, prompt: &str) -> Option<Line> {
        match self {
            Lines::Tty(ed, _) => {
                let ed = ed.clone();
                let prompt = prompt.to_string();
                let line = tokio::task::spawn_blocking(move || {
                    let mut ed = ed.lock().unwrap_or_else(|e| e.into_inner());
                    match ed.readline(&prompt) {
                        Ok(line) => {
                            let _ = ed.add_history_entry(line.as_str());
                            Some(line)
                        }
                        Err(rustyline::error::ReadlineError::Interrupted) => Some(String::new()),
                        Err(_) => None,
                    }
                })
                .await
                .ok()
                .flatten();
                line.map(Line::Text)
            }
            Lines::Piped(input) => {
                let mut buf = Vec::new();
                let n = input.read_until(b'\n', &mut buf).await.ok()?;
                if n == 0 {
                    return None;
                }
                while buf.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
                    buf.pop();
                }
                Some(check_line(buf))
            }
        }
    }

    fn save(&self) {
        if let Lines::Tty(ed, Some(h)) = self {
            let _ = ed.lock().unwrap_or_else(|e| e.into_inner()).save_history(h);
        }
    }
}

/// A piped line the dispatcher can take, or what is wrong with it.
fn check_line(buf: Vec<u8>) -> Line {
    if buf.len() > MAX_LINE_BYTES {
        return Line::Bad(format!(
            "that line is {} bytes; a command is at most {MAX_LINE_BYTES}. Skipped it.",
            buf.len()
        ));
    }
    match String::from_utf8(buf) {
        Err(e) => Line::Bad(format!(
            "that line is not valid UTF-8 (at byte {}). Skipped it.",
            e.utf8_error().valid_up_to()
        )),
        Ok(s) if s.contains('\0') => {
            Line::Bad("that line contains a NUL character. Skipped it.".into())
        }
        Ok(s) => Line::Text(s),
    }
}

/// Print a response the way a chat would show it.
pub fn show(r: &Response) {
    show_with(r, PRESS_HINT)
}

/// What follows the numbered buttons in the shell, where typing `press N` presses one.
const PRESS_HINT: &str = "(type `press N` to press one)";

/// `show` for a one-shot command (`chatops invoke`), where nothing can be pressed
/// afterwards: the buttons are listed with `hint` saying where they can be.
pub fn show_with(r: &Response, hint: &str) {
    print!("{}", render_with(r, hint));
    for n in &r.notices {
        eprintln!("[admin] {n}");
    }
    let _ = std::io::stdout().flush();
}

/// A response as the shell shows it: the text, each embed as a titled block with its
/// fields, each attachment saved to a file and named, buttons numbered to `press N`.
pub fn render(r: &Response) -> String {
    render_with(r, PRESS_HINT)
}

fn render_with(r: &Response, hint: &str) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let text = match r.kind {
        Kind::Usage | Kind::Denied | Kind::Failed => format!("✗ {}", r.text),
        _ => r.text.clone(),
    };
    let private = if r.ephemeral && !matches!(r.kind, Kind::Help) {
        "  (only you can see this)"
    } else {
        ""
    };
    if r.edit {
        out.push_str("(the message with the button now reads:)\n");
    }
    if !text.trim().is_empty() || r.rich.is_empty() {
        let _ = writeln!(out, "{text}{private}");
    }
    for e in &r.rich.embeds {
        out.push_str(&crate::render::embed_text(e));
    }
    for a in &r.rich.attachments {
        let _ = match save_attachment(a) {
            Ok(path) => writeln!(
                out,
                "📎 {} ({}, {} bytes) saved to {}",
                a.name,
                a.content_type,
                a.data.len(),
                path.display()
            ),
            Err(e) => writeln!(
                out,
                "📎 {} ({} bytes) could not be saved: {e}",
                a.name,
                a.data.len()
            ),
        };
    }
    let buttons = crate::render::numbered_components(&r.rich.components);
    if !buttons.is_empty() {
        let list: Vec<String> = buttons
            .iter()
            .enumerate()
            .map(|(i, (label, c))| match c {
                Some(_) => format!("[{}] {label}", i + 1),
                None => format!("[link] {label}"),
            })
            .collect();
        let _ = writeln!(out, "{}   {hint}", list.join("  "));
    }
    out
}

/// Where the shell keeps files that answers attach: a directory of this process's own.
fn save_attachment(a: &crate::model::Attachment) -> std::io::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("chatops-shell-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    // The name was checked (no separators, no leading dot) before the answer got here.
    let name: String = a
        .name
        .chars()
        .map(|c| {
            if matches!(c, '/' | '\\') || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect();
    let path = dir.join(name);
    std::fs::write(&path, &a.data)?;
    Ok(path)
}

/// The buttons of the last answer that can be pressed by number, with that answer.
#[derive(Default)]
pub struct Pressable {
    buttons: Vec<(String, Option<crate::model::Component>)>,
    message_id: String,
    message_text: String,
    messages: u64,
}

impl Pressable {
    /// Keep the buttons of `r`, if it has any (or it edited the message they were on).
    pub fn update(&mut self, r: &Response) {
        let buttons = crate::render::numbered_components(&r.rich.components);
        if !buttons.is_empty() || r.edit {
            self.messages += 1;
            self.buttons = buttons;
            self.message_id = format!("shell-{}", self.messages);
            self.message_text = r.text.clone();
        }
    }

    /// `press N`: run the press as a chat would; `Err` says why there is nothing to press.
    pub async fn press(
        &self,
        dispatcher: &crate::dispatch::Dispatcher,
        caller: &Caller,
        n: &str,
        progress: Arc<dyn ProgressSink>,
    ) -> Result<Response, String> {
        let (id, values) = pressed(self, n)?;
        Ok(dispatcher
            .press(
                caller,
                &id,
                values,
                &self.message_id,
                &self.message_text,
                progress,
            )
            .await)
    }
}

/// `press N`: the button's custom id as a chat would send it, and the values chosen.
fn pressed(p: &Pressable, n: &str) -> Result<(String, Vec<String>), String> {
    use crate::model::Component;
    let i: usize = n
        .trim()
        .parse()
        .map_err(|_| format!("`press {n}`: give the number of a button, e.g. `press 1`"))?;
    let Some((label, c)) = i.checked_sub(1).and_then(|i| p.buttons.get(i)) else {
        return Err(format!(
            "there is no button {i} on the last answer ({} button(s))",
            p.buttons.len()
        ));
    };
    let (action, values) = match c {
        Some(Component::Button(b)) if b.disabled => return Err(format!("`{label}` is disabled")),
        Some(Component::Button(b)) => (&b.action, vec![]),
        Some(Component::Select(s)) => (
            &s.action,
            s.options.iter().map(|o| o.value.clone()).collect(),
        ),
        _ => return Err(format!("`{label}` is a link; open it in a browser")),
    };
    let id = crate::render::encode_custom_id(&action.command, action.confirm, &action.custom_id)?;
    Ok((id, values))
}

pub async fn run(bot: Arc<Bot>, caller: Caller) -> anyhow::Result<()> {
    let mut lines = Lines::open();
    let interactive = matches!(lines, Lines::Tty(..));
    let plugins = bot.dispatcher.plugins();
    eprintln!(
        "chatops shell: {} plugin(s), {} command(s); acting as {} (roles: {}) in #{}. Type `help`, or `quit` to leave.",
        plugins.len(),
        bot.dispatcher.commands().len(),
        caller.user.name,
        if caller.user.roles.is_empty() { "none".to_string() } else { caller.user.roles.join(", ") },
        caller.channel
    );
    for (name, why) in bot.dispatcher.disabled() {
        eprintln!("[chatops] plugin `{name}` is disabled: {why}");
    }
    bot.dispatcher.set_poster(Arc::new(PrintPost));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let watcher = bot.watch(Duration::from_millis(500), tx);
    // Reloads are announced as they happen, even while the prompt waits for input.
    let announcer = tokio::spawn(async move {
        while let Some(m) = rx.recv().await {
            eprintln!("[chatops] {m}");
        }
    });
    let prompt = if interactive { "> " } else { "" };
    let mut last = Pressable::default();
    loop {
        let line = match lines.next(prompt).await {
            None => break,
            Some(Line::Bad(why)) => {
                println!("✗ {why}");
                continue;
            }
            Some(Line::Text(line)) => line,
        };
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if matches!(line, "quit" | "exit") {
            break;
        }
        let progress: Arc<dyn ProgressSink> = Arc::new(PrintProgress);
        let response = if let Some(n) = line.strip_prefix("press ") {
            match last
                .press(&bot.dispatcher, &caller, n, progress.clone())
                .await
            {
                Ok(r) => r,
                Err(why) => {
                    println!("✗ {why}");
                    continue;
                }
            }
        } else {
            let Some(request) = bot.dispatcher.request(line, Prefix::Optional) else {
                continue;
            };
            bot.dispatcher
                .dispatch(&caller, request, progress.clone())
                .await
        };
        show(&response);
        last.update(&response);
        if let Kind::Confirm { token } = &response.kind {
            println!("Confirm? [yes/no]");
            let answer = match lines.next(if interactive { "confirm> " } else { "" }).await {
                Some(Line::Text(answer)) => answer,
                _ => String::new(),
            };
            let accept = matches!(
                answer.trim().to_ascii_lowercase().as_str(),
                "y" | "yes" | "confirm"
            );
            show(
                &bot.dispatcher
                    .confirm(&caller, token, accept, progress)
                    .await,
            );
        }
    }
    lines.save();
    watcher.abort();
    announcer.abort();
    Ok(())
}
