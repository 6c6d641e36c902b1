//! Pending confirmations of dangerous commands. A pending entry keeps what is needed to run
//! the command again — the plugin's name and the digest the user was asked about, the
//! invocation — never the plugin itself: on confirm the dispatcher looks the plugin up and
//! checks access, approval and grants again, so a change in between is respected.

use super::{parse, Caller, Dispatcher, Kind, Response};
use crate::capabilities::ProgressSink;
use crate::model::Invocation;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a confirmation button stays valid.
pub const CONFIRM_TTL: Duration = Duration::from_secs(300);

pub struct Pending {
    pub user_id: String,
    pub plugin: String,
    /// The build the user was asked to confirm.
    pub digest: String,
    pub invocation: Invocation,
    /// The command as shown and audited.
    pub line: String,
    /// How the command was shown (`/` or the prefix).
    pub shown: String,
    pub expires: Instant,
}

/// Why a press could not be taken.
#[derive(Debug, PartialEq)]
pub enum Refused {
    /// Expired, answered already, or never existed.
    Gone,
    /// Someone else pressed it.
    NotYours,
}

#[derive(Default)]
pub struct Confirmations {
    pending: Mutex<HashMap<String, Pending>>,
}

impl Confirmations {
    pub fn insert(&self, token: String, p: Pending) {
        let mut map = self.lock();
        map.retain(|_, p| p.expires > Instant::now());
        map.insert(token, p);
    }

    /// Who may answer `token` (`None` if it expired or was answered).
    pub fn owner(&self, token: &str) -> Option<String> {
        self.lock()
            .get(token)
            .filter(|p| p.expires > Instant::now())
            .map(|p| p.user_id.clone())
    }

    /// Take the pending command for `user_id`'s answer; it can be answered once.
    pub fn take(&self, token: &str, user_id: &str) -> Result<Pending, Refused> {
        let mut map = self.lock();
        match map.get(token) {
            None => return Err(Refused::Gone),
            Some(p) if p.user_id != user_id => return Err(Refused::NotYours),
            Some(_) => {}
        }
        match map.remove(token) {
            Some(p) if p.expires > Instant::now() => Ok(p),
            _ => Err(Refused::Gone),
        }
    }

    /// Test hook: make `token` expire now.
    pub fn expire(&self, token: &str) {
        if let Some(p) = self.lock().get_mut(token) {
            p.expires = Instant::now();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Pending>> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Dispatcher {
    /// Who may answer a pending confirmation (`None` if it expired or was answered).
    pub fn confirmation_owner(&self, token: &str) -> Option<String> {
        self.confirmations.owner(token)
    }

    /// Make a pending confirmation expire now (for tests of expiry).
    pub fn expire_confirmation(&self, token: &str) {
        self.confirmations.expire(token)
    }

    /// The answer to a Confirm/Cancel press. Only the user who asked can answer, and the
    /// command runs only if it still may: the plugin is looked up again and access, the
    /// approved build and the grants are those in force at the press.
    pub async fn confirm(
        &self,
        caller: &Caller,
        token: &str,
        accept: bool,
        progress: Arc<dyn ProgressSink>,
    ) -> Response {
        let r = self.confirm_unsynced(caller, token, accept, progress).await;
        self.audit_durable().await;
        r
    }

    async fn confirm_unsynced(
        &self,
        caller: &Caller,
        token: &str,
        accept: bool,
        progress: Arc<dyn ProgressSink>,
    ) -> Response {
        let p =
            match self.confirmations.take(token, &caller.user.id) {
                Ok(p) => p,
                Err(Refused::NotYours) => {
                    return self.answer(Response::new(
                        Kind::Denied,
                        "Only the person who asked can confirm or cancel this command.",
                    ))
                }
                Err(Refused::Gone) => return self.answer(Response::new(
                    Kind::Failed,
                    "This confirmation has expired or was already answered; run the command again.",
                )),
            };
        if !accept {
            let r = Response::new(
                Kind::Cancelled,
                format!("Cancelled `{}{}`; nothing ran.", p.shown, p.line),
            );
            return self.audit_only(caller, &p.plugin, &p.line, r);
        }
        if p.plugin == super::admin::ADMIN_COMMAND {
            return self.admin_confirmed(caller, p).await;
        }
        let reg = self.registry();
        let Some(plugin) = reg.plugins.get(&p.plugin).cloned() else {
            let why = match reg.disabled.get(&p.plugin) {
                Some(why) => format!(
                    "plugin `{}` has been disabled since you were asked: {why}",
                    p.plugin
                ),
                None => format!(
                    "plugin `{}` has been removed since you were asked",
                    p.plugin
                ),
            };
            let r = Response::new(
                Kind::Denied,
                format!("`{}{}` did not run: {why}.", p.shown, p.line),
            );
            return self.audit_only(caller, &p.plugin, &p.line, r);
        };
        if plugin.compiled.digest != p.digest {
            let r = Response::new(Kind::Denied, format!(
                "`{}{}` did not run: plugin `{}` was replaced by another build (sha256 {}…) after you were asked. Run the command again to confirm what would run now.",
                p.shown, p.line, plugin.name, &plugin.compiled.digest[..12]
            ));
            return self.refuse(caller, &plugin, &p.line, r);
        }
        let cmd = plugin
            .info()
            .commands
            .iter()
            .find(|c| c.name == p.invocation.command)
            .cloned();
        let Some(cmd) = cmd.filter(|c| parse::check(c, &p.invocation.args).is_ok()) else {
            let r = Response::new(
                Kind::Failed,
                format!(
                    "`{}{}` did not run: the command changed after you were asked. Run it again.",
                    p.shown, p.line
                ),
            );
            return self.refuse(caller, &plugin, &p.line, r);
        };
        if let Err(why) = self.may_invoke(caller, &plugin, &p.invocation) {
            let r = Response::new(
                Kind::Denied,
                format!("You may no longer run `{}`: {why}. Nothing ran.", cmd.name),
            );
            return self.refuse(caller, &plugin, &p.line, r);
        }
        self.run(&p.shown, caller, plugin, p.invocation, &p.line, progress)
            .await
    }
}
