//! Pending confirmations of dangerous commands. A pending entry keeps what is needed to run
//! the command again — the plugin's name and the digest the user was asked about, the
//! invocation — never the plugin itself: on confirm the dispatcher looks the plugin up and
//! checks access, approval and grants again, so a change in between is respected.
//!
//! With a store, pending confirmations live in it (as JSON), so a button shown by one host
//! process can be answered through any other, or after a restart; each is taken once.

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

/// A pending command as the store keeps it.
fn encode(p: &Pending) -> String {
    use crate::model::ArgValue;
    use serde_json::json;
    let inv = &p.invocation;
    let args: Vec<_> = inv
        .args
        .iter()
        .map(|a| {
            let (kind, value) = match &a.value {
                ArgValue::String(s) => ("string", json!(s)),
                ArgValue::Integer(i) => ("integer", json!(i)),
                ArgValue::Number(n) => ("number", json!(n)),
                ArgValue::Boolean(b) => ("boolean", json!(b)),
                ArgValue::User(s) => ("user", json!(s)),
                ArgValue::Channel(s) => ("channel", json!(s)),
                ArgValue::Role(s) => ("role", json!(s)),
            };
            json!({"name": a.name, "kind": kind, "value": value})
        })
        .collect();
    json!({
        "plugin": p.plugin, "digest": p.digest, "line": p.line, "shown": p.shown,
        "id": inv.id, "command": inv.command, "subcommand": inv.subcommand, "args": args,
        "user": {"id": inv.user.id, "name": inv.user.name, "roles": inv.user.roles},
        "channel": inv.channel, "guild": inv.guild,
    })
    .to_string()
}

/// The pending command back from the store (`None` if it is not one this build wrote).
fn decode(user_id: &str, body: &str) -> Option<Pending> {
    use crate::model::{ArgValue, Argument, User};
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    let s = |v: &serde_json::Value| v.as_str().map(str::to_string);
    let strings = |v: &serde_json::Value| -> Option<Vec<String>> {
        v.as_array()?
            .iter()
            .map(|x| x.as_str().map(str::to_string))
            .collect()
    };
    let mut args = Vec::new();
    for a in v["args"].as_array()? {
        let x = &a["value"];
        let value = match a["kind"].as_str()? {
            "string" => ArgValue::String(s(x)?),
            "integer" => ArgValue::Integer(x.as_i64()?),
            "number" => ArgValue::Number(x.as_f64()?),
            "boolean" => ArgValue::Boolean(x.as_bool()?),
            "user" => ArgValue::User(s(x)?),
            "channel" => ArgValue::Channel(s(x)?),
            "role" => ArgValue::Role(s(x)?),
            _ => return None,
        };
        args.push(Argument {
            name: s(&a["name"])?,
            value,
        });
    }
    Some(Pending {
        user_id: user_id.to_string(),
        plugin: s(&v["plugin"])?,
        digest: s(&v["digest"])?,
        line: s(&v["line"])?,
        shown: s(&v["shown"])?,
        invocation: Invocation {
            id: s(&v["id"])?,
            command: s(&v["command"])?,
            subcommand: strings(&v["subcommand"])?,
            args,
            user: User {
                id: s(&v["user"]["id"])?,
                name: s(&v["user"]["name"])?,
                roles: strings(&v["user"]["roles"])?,
            },
            channel: s(&v["channel"])?,
            guild: s(&v["guild"]),
        },
        // The store checked it had not expired.
        expires: Instant::now() + CONFIRM_TTL,
    })
}

impl Dispatcher {
    /// Keep `p` until it is answered or expires: in the store when there is one, so any
    /// host process on it can take the answer.
    pub(super) async fn pend(&self, token: String, p: Pending) {
        if let Some(store) = self.store() {
            let now = crate::store::now_ms();
            let left = p.expires.saturating_duration_since(Instant::now());
            let expires = now + left.as_millis() as i64;
            match store
                .confirmation_put(&token, &p.user_id, &encode(&p), expires, now)
                .await
            {
                Ok(()) => return,
                // Kept here instead: this process can still take the answer.
                Err(e) => {
                    tracing::error!("could not keep a pending confirmation in the store: {e}")
                }
            }
        }
        self.confirmations.insert(token, p);
    }

    /// Who may answer a pending confirmation (`None` if it expired or was answered).
    pub async fn confirmation_owner(&self, token: &str) -> Option<String> {
        if let Some(owner) = self.confirmations.owner(token) {
            return Some(owner);
        }
        let store = self.store()?;
        match store
            .confirmation_owner(token, crate::store::now_ms())
            .await
        {
            Ok(owner) => owner,
            Err(e) => {
                tracing::error!("could not read a pending confirmation from the store: {e}");
                None
            }
        }
    }

    /// Make a pending confirmation expire now (for tests of expiry).
    pub fn expire_confirmation(&self, token: &str) {
        self.confirmations.expire(token);
        if let Some(store) = self.store() {
            if let Err(e) = store.blocking(store.confirmation_expire(token)) {
                tracing::error!("could not expire a pending confirmation: {e}");
            }
        }
    }

    async fn take_confirmation(&self, token: &str, user_id: &str) -> Result<Pending, Refused> {
        match self.confirmations.take(token, user_id) {
            Err(Refused::Gone) => {}
            other => return other,
        }
        let Some(store) = self.store() else {
            return Err(Refused::Gone);
        };
        match store
            .confirmation_take(token, user_id, crate::store::now_ms())
            .await
        {
            Ok(crate::store::Taken::Body(body)) => decode(user_id, &body).ok_or_else(|| {
                tracing::error!("a pending confirmation in the store could not be read back");
                Refused::Gone
            }),
            Ok(crate::store::Taken::NotYours) => Err(Refused::NotYours),
            Ok(crate::store::Taken::Gone) => Err(Refused::Gone),
            Err(e) => {
                tracing::error!("could not take a pending confirmation from the store: {e}");
                Err(Refused::Gone)
            }
        }
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
        let Some(_in_flight) = self.drain.enter() else {
            // The confirmation stays pending: it can be answered once the bot is back.
            return self.answer(Response::new(Kind::Failed, crate::bot::drain::REFUSED));
        };
        let r = tokio::select! {
            r = self.confirm_unsynced(caller, token, accept, progress) => r,
            _ = self.drain.cut() => self.answer(Response::new(Kind::Failed, crate::bot::drain::CUT)),
        };
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
            match self.take_confirmation(token, &caller.user.id).await {
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
        if let Some(r) = self
            .confirmed_press(
                caller,
                plugin.clone(),
                &p.invocation,
                &p.line,
                progress.clone(),
            )
            .await
        {
            return r;
        }
        let cmd = plugin
            .info()
            .commands
            .iter()
            .find(|c| c.name == p.invocation.command)
            .and_then(|c| c.sub(&p.invocation.subcommand));
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
