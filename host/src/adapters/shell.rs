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
    let text = match r.kind {
        Kind::Usage | Kind::Denied | Kind::Failed => format!("✗ {}", r.text),
        _ => r.text.clone(),
    };
    let private = if r.ephemeral && !matches!(r.kind, Kind::Help) {
        "  (only you can see this)"
    } else {
        ""
    };
    println!("{text}{private}");
    for n in &r.notices {
        eprintln!("[admin] {n}");
    }
    let _ = std::io::stdout().flush();
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
        let Some(request) = bot.dispatcher.request(line, Prefix::Optional) else {
            continue;
        };
        let progress: Arc<dyn ProgressSink> = Arc::new(PrintProgress);
        let response = bot
            .dispatcher
            .dispatch(&caller, request, progress.clone())
            .await;
        show(&response);
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
