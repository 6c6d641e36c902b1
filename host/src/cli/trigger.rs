//! `chatops trigger`: fire a plugin's event handler by hand and show what it posts.

use crate::bot::Bot;
use crate::triggers::manual::Manual;
use anyhow::{bail, Context, Result};
use std::sync::Arc;

pub(super) fn read_body(body: Option<&std::path::Path>) -> Result<Vec<u8>> {
    use std::io::Read;
    match body {
        None => Ok(Vec::new()),
        Some(p) if p.as_os_str() == "-" => {
            let mut buf = Vec::new();
            std::io::stdin().read_to_end(&mut buf)?;
            Ok(buf)
        }
        Some(p) => std::fs::read(p).with_context(|| format!("cannot read --body {}", p.display())),
    }
}

/// Posts made while firing an event by hand, printed with their channel.
struct PrintPost;
#[async_trait::async_trait]
impl crate::capabilities::Poster for PrintPost {
    async fn post(&self, channel: &str, text: &str) -> Result<(), String> {
        println!("[#{channel}] {text}");
        Ok(())
    }
}

pub(super) async fn trigger(bot: Arc<Bot>, plugin: &str, what: Manual) -> Result<()> {
    bot.dispatcher.set_poster(Arc::new(PrintPost));
    let outcome = crate::triggers::manual::fire(&bot.dispatcher, plugin, what)
        .await
        .map_err(anyhow::Error::msg)?;
    for n in &outcome.notices {
        eprintln!("[admin] {n}");
    }
    match outcome.error {
        Some(e) => bail!("{e}"),
        None => {
            eprintln!("`{plugin}` handled the event: {} post(s).", outcome.posted);
            Ok(())
        }
    }
}

