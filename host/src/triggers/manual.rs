//! `chatops trigger`: fire a plugin's event handler by hand — a schedule by name, or a
//! webhook request with headers and a body — through the same entry point as the real
//! triggers. Plugin authors try `on-event` this way; admins replay an event.

use crate::dispatch::{Dispatcher, EventOutcome};
use crate::model::Event;

/// What to fire, as given on the command line.
#[derive(Debug, Clone)]
pub enum Manual {
    Schedule(String),
    Webhook {
        method: String,
        path: String,
        /// `Name: value`
        headers: Vec<String>,
        body: Vec<u8>,
    },
}

impl Manual {
    pub fn event(self) -> Result<Event, String> {
        match self {
            Manual::Schedule(name) => Ok(super::schedule(&name)),
            Manual::Webhook {
                method,
                path,
                headers,
                body,
            } => {
                let headers = headers
                    .iter()
                    .map(|h| {
                        h.split_once(':')
                            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
                            .filter(|(k, _)| !k.is_empty())
                            .ok_or_else(|| format!("--header `{h}`: write `Name: value`"))
                    })
                    .collect::<Result<_, _>>()?;
                Ok(super::webhook(&method, &path, headers, body))
            }
        }
    }
}

/// Fire `what` at `plugin`; the origin in the audit trail is `cli`.
pub async fn fire(
    dispatcher: &Dispatcher,
    plugin: &str,
    what: Manual,
) -> Result<EventOutcome, String> {
    let event = what.event()?;
    Ok(dispatcher.deliver(plugin, event, "cli").await)
}
