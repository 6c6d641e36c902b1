//! The plugin author's loop: plugin files with fake grants, secrets and settings
//! (`shell --plugin`, `invoke`, `trigger --plugin`), and `invoke` itself.

use super::{As, DevArgs};
use crate::bot::{Bot, Dev};
use crate::capabilities::http::HttpGrant;
use crate::capabilities::Grants;
use crate::dispatch::Prefix;
use anyhow::{bail, Context, Result};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

pub(super) fn dev_setup(
    plugins: Vec<PathBuf>,
    http: &[String],
    secrets: &[String],
    settings: &[String],
    with_bundled: bool,
) -> Result<Dev> {
    let mut settings_map = BTreeMap::new();
    for s in settings {
        let (k, v) = s
            .split_once('=')
            .with_context(|| format!("--setting `{s}`: write KEY=VALUE"))?;
        settings_map.insert(k.to_string(), v.to_string());
    }
    let mut grants = Grants::default();
    for h in http {
        grants.http.push(h.parse::<HttpGrant>()?);
    }
    let mut values = HashMap::new();
    for s in secrets {
        let (k, v) = s
            .split_once('=')
            .with_context(|| format!("--secret `{s}`: write NAME=VALUE"))?;
        grants.secrets.push(k.to_string());
        values.insert(k.to_string(), v.to_string());
    }
    grants.kv = true;
    Ok(Dev {
        plugins,
        grants,
        secrets: values,
        settings: settings_map,
        with_bundled,
        ..Dev::default()
    })
}

/// The configured host, or the --plugin files with their fake grants.
pub(super) async fn start(
    config: Option<PathBuf>,
    dev: DevArgs,
    with_bundled: bool,
) -> Result<Arc<Bot>> {
    if dev.plugins.is_empty() {
        if !dev.http.is_empty() || !dev.secrets.is_empty() || !dev.settings.is_empty() {
            bail!("--http, --secret and --setting apply to --plugin files; for configured plugins use `chatops grant` and `chatops config`");
        }
        return Bot::start(config.as_deref()).await;
    }
    let setup = dev_setup(
        dev.plugins,
        &dev.http,
        &dev.secrets,
        &dev.settings,
        with_bundled,
    )?;
    Bot::start_dev(setup).await
}

pub(super) async fn invoke(dev: Dev, line: &str, who: As) -> Result<()> {
    let bot = Bot::start_dev(dev).await?;
    let progress: Arc<dyn crate::capabilities::ProgressSink> = Arc::new(StderrProgress);
    let caller = who.caller();
    let Some(request) = bot.dispatcher.request(line, Prefix::Optional) else {
        bail!("give a command to run, e.g. 'echo hello'");
    };
    let mut response = bot
        .dispatcher
        .dispatch(&caller, request, progress.clone())
        .await;
    if let crate::dispatch::Kind::Confirm { token } = &response.kind {
        eprintln!("(`invoke` confirms dangerous commands by itself)");
        response = bot.dispatcher.confirm(&caller, token, true, progress).await;
    }
    crate::adapters::shell::show_with(
        &response,
        "(buttons: press them in `chatops shell --plugin …`)",
    );
    if response.is_error() {
        std::process::exit(1);
    }
    Ok(())
}

struct StderrProgress;
impl crate::capabilities::ProgressSink for StderrProgress {
    fn progress(&self, text: &str) {
        eprintln!("… {text}");
    }
}
