//! One module per capability a plugin can be granted. Each enforces its grant at the call,
//! inside the sandbox's `Host` implementation; nothing here trusts the plugin.

pub mod chat;
pub mod http;
pub mod kv;
pub mod log;
pub mod secrets;

use crate::config::Limits;
use std::sync::{Arc, Mutex};

/// What a plugin was granted (for the digest it was loaded with).
#[derive(Debug, Clone, Default)]
pub struct Grants {
    pub http: Vec<http::HttpGrant>,
    pub secrets: Vec<String>,
    pub post: Vec<String>,
    pub kv: bool,
}

/// Where progress updates of a running command go (the adapter decides how to show them).
pub trait ProgressSink: Send + Sync {
    fn progress(&self, text: &str);
}

/// Posting to a channel outside the running command.
#[async_trait::async_trait]
pub trait Poster: Send + Sync {
    async fn post(&self, channel: &str, text: &str) -> Result<(), String>;
}

/// Progress that goes nowhere (describe, and tests).
pub struct NoProgress;
impl ProgressSink for NoProgress {
    fn progress(&self, _text: &str) {}
}

/// Everything a sandbox knows about who is running and what it may do.
#[derive(Clone)]
pub struct CallContext {
    pub plugin: String,
    pub command: String,
    pub grants: Arc<Grants>,
    pub limits: Limits,
    pub secrets: Arc<secrets::SecretStore>,
    pub kv: Option<Arc<kv::KvStore>>,
    pub progress: Arc<dyn ProgressSink>,
    pub poster: Option<Arc<dyn Poster>>,
    /// Refusals and redactions, for the admin: what happened and which grant would allow it.
    pub notices: Arc<Mutex<Vec<String>>>,
}

impl CallContext {
    /// A context with nothing granted: what a plugin gets when it is only described.
    pub fn ungranted(plugin: &str, limits: Limits) -> Self {
        CallContext {
            plugin: plugin.to_string(),
            command: String::new(),
            grants: Arc::new(Grants::default()),
            limits,
            secrets: Arc::new(secrets::SecretStore::empty()),
            kv: None,
            progress: Arc::new(NoProgress),
            poster: None,
            notices: Arc::new(Mutex::new(Vec::new())),
        }
    }

    pub(crate) fn notice(&self, text: String) {
        tracing::warn!(plugin = %self.plugin, command = %self.command, "{text}");
        self.notices
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(text);
    }

    pub fn take_notices(&self) -> Vec<String> {
        std::mem::take(&mut *self.notices.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Replace every granted secret value in `text`; says whether anything was replaced.
    pub fn redact(&self, text: &str) -> (String, bool) {
        self.secrets.redact(&self.grants.secrets, text)
    }
}

/// The contract's shared types carry no functions.
impl crate::runtime::bindings::chatops::plugin::types::Host for crate::runtime::HostState {}
