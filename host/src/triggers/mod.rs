//! Inbound events. A trigger turns something that happened outside the chat — an HTTP
//! request to a webhook, a schedule coming due, an admin firing one by hand — into an
//! [`Event`] and hands it to [`crate::dispatch::Dispatcher::deliver`], which runs the
//! plugin's `on-event` with the limits, redaction, posting grants and audit of a command.
//!
//! A new trigger is one module here: it checks its own grant before delivering (a webhook
//! its authentication and `webhook` grant, a schedule its approval), and names itself in
//! the `origin` it passes, which the audit trail records as the actor.

pub mod manual;

use crate::model::{Event, WebhookRequest};

/// A schedule named `name` fired.
pub fn schedule(name: &str) -> Event {
    Event::Schedule(name.to_string())
}

/// An HTTP request to `/hooks/<plugin><path>`.
pub fn webhook(method: &str, path: &str, headers: Vec<(String, String)>, body: Vec<u8>) -> Event {
    Event::Webhook(WebhookRequest {
        method: method.to_ascii_uppercase(),
        path: if path.starts_with('/') { path.to_string() } else { format!("/{path}") },
        headers,
        body,
    })
}
