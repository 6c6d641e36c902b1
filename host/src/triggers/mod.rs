//! Inbound events. A trigger turns something that happened outside the chat — an HTTP
//! request to a webhook, a schedule coming due, an admin firing one by hand — into an
//! [`Event`] and hands it to [`crate::dispatch::Dispatcher::deliver`], which runs the
//! plugin's `on-event` with the limits, redaction, posting grants and audit of a command.
//!
//! A new trigger is one module here: it checks its own grant before delivering (a webhook
//! its authentication and `webhook` grant, a schedule its approval), and names itself in
//! the `origin` it passes, which the audit trail records as the actor.

pub mod manual;
pub mod schedule;
pub mod webhook;

use crate::config::{ConfigError, Loaded};
use crate::dispatch::Dispatcher;
use crate::model::{Event, WebhookRequest};
use std::sync::Arc;

/// The running triggers of a host: the webhook listener (if `[webhooks] listen` is set)
/// and the schedule clock. Dropping it stops both.
pub struct Triggers {
    pub webhooks: Option<webhook::Listener>,
    _clock: schedule::Clock,
}

/// Start the triggers a config asks for (none but the clock without a config).
pub async fn start(
    dispatcher: Arc<Dispatcher>,
    loaded: Option<&Loaded>,
) -> anyhow::Result<Triggers> {
    let (webhooks, tz) = match loaded {
        Some(l) => (
            webhook::start(dispatcher.clone(), &l.config.webhooks).await?,
            schedule::timezone(l.config.host.timezone.as_deref()).map_err(anyhow::Error::msg)?,
        ),
        None => (None, chrono_tz::Tz::UTC),
    };
    let lease = loaded
        .and_then(|l| l.config.host.lease_seconds)
        .map(|s| std::time::Duration::from_secs(u64::from(s.max(1))))
        .unwrap_or(schedule::DEFAULT_LEASE);
    Ok(Triggers {
        webhooks,
        _clock: schedule::start_with_lease(dispatcher, tz, lease),
    })
}

/// Config checks of `[webhooks]`, webhook grants, `[plugins.NAME.schedules]` and the time zone.
pub fn validate(loaded: &Loaded) -> Vec<ConfigError> {
    let file = loaded.path.as_path();
    let c = &loaded.config;
    let mut errors = Vec::new();
    let host = |key: &str, message: String, fix: &str| ConfigError {
        file: file.display().to_string(),
        location: format!("key `{key}`: "),
        message,
        fix: fix.to_string(),
        plugin: None,
    };
    if let Err(e) = schedule::timezone(c.host.timezone.as_deref()) {
        errors.push(host(
            "host.timezone",
            e,
            "use an IANA time zone name, or remove the key for UTC",
        ));
    }
    if let Some(listen) = &c.webhooks.listen {
        if listen.parse::<std::net::SocketAddr>().is_err() {
            errors.push(host(
                "webhooks.listen",
                format!("`{listen}` is not an address and port"),
                "write it like \"127.0.0.1:8686\"",
            ));
        }
    }
    if c.webhooks.max_body_bytes == 0 || c.webhooks.per_minute == 0 {
        errors.push(host(
            "webhooks",
            "max_body_bytes and per_minute must be above 0".into(),
            "raise them, or remove them for the defaults",
        ));
    }
    for (name, p) in &c.plugins {
        for (hook, g) in &p.grants.webhooks {
            let key = format!("grants.webhooks.{hook}");
            if !crate::config::is_valid_name(hook) {
                errors.push(ConfigError::plugin(
                    file,
                    name,
                    &key,
                    "a hook's name is 1-32 characters of a-z, 0-9, - and _",
                    "use the name the plugin requests (chatops plugins inspect)",
                ));
            }
            if webhook::auth::HookAuth::from_grant(g).is_none() {
                errors.push(ConfigError::plugin(file, name, &key, "a webhook needs exactly one of `bearer` or `hmac_sha256`, naming a secret", &format!("write bearer = \"{hook}-token\" (Authorization: Bearer) or hmac_sha256 = \"{hook}-secret\" (X-Hub-Signature-256)")));
            }
        }
        for (sched, value) in &p.schedules {
            if !matches!(value.as_str(), "default" | "off") {
                if let Err(e) = crate::runtime::validate::parse_cron(value) {
                    errors.push(ConfigError::plugin(
                        file,
                        name,
                        &format!("schedules.{sched}"),
                        e,
                        "write \"default\" (the plugin's own time), \"off\", or a cron expression",
                    ));
                }
            }
        }
    }
    errors
}

/// A schedule named `name` fired.
pub fn schedule(name: &str) -> Event {
    Event::Schedule(name.to_string())
}

/// An HTTP request to `/hooks/<plugin><path>`.
pub fn webhook(method: &str, path: &str, headers: Vec<(String, String)>, body: Vec<u8>) -> Event {
    Event::Webhook(WebhookRequest {
        method: method.to_ascii_uppercase(),
        path: if path.starts_with('/') {
            path.to_string()
        } else {
            format!("/{path}")
        },
        headers,
        body,
    })
}
