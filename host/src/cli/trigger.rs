//! `chatops trigger` (fire a plugin's event handler by hand and show what it posts),
//! `chatops schedules` and `chatops webhook send`.

use super::{config_or_default, load_config};
use crate::bot::Bot;
use crate::triggers::manual::Manual;
use crate::triggers::{schedule, webhook::auth::HookAuth};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
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

pub(super) async fn trigger(bot: Arc<Bot>, plugin: &str, what: Manual) -> Result<()> {
    bot.dispatcher
        .set_poster(Arc::new(crate::adapters::shell::PrintPost));
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

/// `chatops schedules`.
pub(super) async fn schedules(config: Option<PathBuf>) -> Result<()> {
    let path = config_or_default(config);
    let loaded = load_config(Some(path.clone()))?;
    let tz =
        schedule::timezone(loaded.config.host.timezone.as_deref()).map_err(anyhow::Error::msg)?;
    let bot = Bot::start(Some(&path)).await?;
    let entries = schedule::entries(&bot.dispatcher);
    if entries.is_empty() {
        println!("No plugin declares a schedule.");
    }
    let now = chrono::Utc::now();
    for e in entries {
        let whose = if e.overridden {
            "the admin's time"
        } else {
            "its own time"
        };
        let state = match (&e.off, schedule::next_after(&e.cron, now, tz)) {
            (Some(why), _) => format!("off — {why}"),
            (None, Ok(next)) => format!(
                "next {} ({})",
                next.with_timezone(&tz).format("%Y-%m-%d %H:%M:%S %Z"),
                tz.name()
            ),
            (None, Err(why)) => format!("broken — {why}"),
        };
        println!("{}/{}  `{}` ({whose})  {state}", e.plugin, e.name, e.cron);
    }
    Ok(())
}

/// `chatops webhook send PLUGIN NAME FILE`.
pub(super) async fn send(
    config: Option<PathBuf>,
    plugin: &str,
    name: &str,
    file: &Path,
    headers: &[String],
    to: Option<String>,
) -> Result<()> {
    let loaded = load_config(config)?;
    let grant = loaded
        .config
        .plugins
        .get(plugin)
        .and_then(|p| p.grants.webhooks.get(name))
        .with_context(|| format!("plugin `{plugin}` has no webhook `{name}` granted; grant it with `chatops grant {plugin} webhook {name}`"))?;
    let auth = HookAuth::from_grant(grant)
        .context("the grant names no way to authenticate (bearer or hmac_sha256)")?;
    let secrets = crate::capabilities::secrets::SecretStore::from_config(&loaded)?;
    let key = secrets.lookup(auth.secret()).with_context(|| {
        format!(
            "secret `{}` has no value: {}",
            auth.secret(),
            secrets.how_to_set(auth.secret())
        )
    })?;
    let addr = to
        .or_else(|| loaded.config.webhooks.listen.clone())
        .context("[webhooks] listen is not set; set it, or pass --to HOST:PORT")?;
    let body = read_body(Some(file))?;
    let url = format!("http://{addr}/hooks/{plugin}/{name}");
    let mut req = reqwest::Client::builder().no_proxy().build()?.post(&url);
    for h in headers {
        let (k, v) = h
            .split_once(':')
            .with_context(|| format!("--header `{h}`: write `Name: value`"))?;
        req = req.header(k.trim(), v.trim());
    }
    req = match &auth {
        HookAuth::Bearer(_) => req.bearer_auth(&key),
        HookAuth::Hmac(_) => req.header(
            crate::triggers::webhook::auth::SIGNATURE_HEADER,
            crate::triggers::webhook::auth::sign(&key, &body),
        ),
    };
    let resp = req.body(body).send().await.with_context(|| {
        format!("cannot reach {url}; is the host running with [webhooks] listen = \"{addr}\"?")
    })?;
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    println!("{} {}", status.as_u16(), text.trim());
    if !status.is_success() {
        bail!("the hook answered {status}");
    }
    Ok(())
}
