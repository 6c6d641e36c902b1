//! Buildbot: log in at `/auth/login` (the session cookie carries the user to the control
//! endpoints), force the scheduler over JSON-RPC, follow the build request and its build,
//! stop the build (or cancel the request while it waits) on `deploy cancel`.

use crate::record::Deploy;
use crate::settings::Settings;
use crate::text;
use crate::upstream::{clip, BUILDBOT as UP};
use chatops_sdk::http::Request;
use chatops_sdk::serde_json::{json, Value};
use chatops_sdk::{log, secret, CommandError, Level, SecretError};

pub const PASSWORD: &str = "buildbot-password";

pub struct Buildbot {
    base: String,
    cookie: Option<String>,
}

impl Buildbot {
    /// Log in as the configured user (no `user` setting: anonymous).
    pub fn connect(s: &Settings) -> Result<Buildbot, CommandError> {
        let mut bb = Buildbot {
            base: s.url.clone(),
            cookie: None,
        };
        if let Some(user) = &s.user {
            bb.cookie = Some(bb.login(user)?);
        }
        Ok(bb)
    }

    fn login(&self, user: &str) -> Result<String, CommandError> {
        let password = secret(PASSWORD).map_err(|e| match e {
            SecretError::NotGranted(_) => CommandError::denied(format!(
                "deploy may not read the secret `{PASSWORD}` it logs in to Buildbot with; an admin must grant it (`chatops grant deploy secret {PASSWORD}`)"
            )),
            e => CommandError::failed(e.message()),
        })?;
        let basic = format!("Basic {}", base64(format!("{user}:{password}").as_bytes()));
        let what = "logging in";
        // Not followed: Buildbot answers a good login with a redirect whose Set-Cookie
        // carries the session.
        let resp = Request::get(&format!("{}/auth/login", self.base))
            .header("authorization", &basic)
            .header("user-agent", "chatops-deploy")
            .send_once()
            .map_err(|e| UP.transport(e, what))?;
        if !(200..400).contains(&resp.status) {
            return Err(UP.refused(&resp, what));
        }
        // Buildbot sets an anonymous session first, then the logged-in one: the last wins.
        let cookie = resp
            .headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
            .filter_map(|(_, v)| v.split(';').next())
            .map(str::trim)
            .filter(|c| c.starts_with("TWISTED_SESSION="))
            .next_back()
            .map(str::to_string);
        cookie.ok_or_else(|| {
            log(Level::Warn, format!("Buildbot's login answered {} without a session cookie", resp.status));
            CommandError::failed("Buildbot did not start a session when deploy logged in; ask an admin to check the `url` setting.")
        })
    }

    fn request(&self, method: &str, path: &str) -> Request {
        let mut r = Request::new(method, &format!("{}/api/v2{path}", self.base))
            .header("accept", "application/json")
            .header("user-agent", "chatops-deploy");
        if let Some(c) = &self.cookie {
            r = r.header("cookie", c);
        }
        r
    }

    fn get(&self, path: &str, what: &str) -> Result<Option<Value>, CommandError> {
        let resp = UP.send(self.request("GET", path), what)?;
        match resp.status {
            200 => Ok(Some(UP.json(&resp, what)?)),
            404 => Ok(None),
            _ => Err(UP.refused(&resp, what)),
        }
    }

    /// A JSON-RPC call to a control endpoint; its error comes back as the user's sentence.
    fn rpc(
        &self,
        path: &str,
        method: &str,
        params: Value,
        what: &str,
    ) -> Result<Value, CommandError> {
        let body = json!({"jsonrpc": "2.0", "method": method, "id": 1, "params": params});
        let resp = UP.send(self.request("POST", path).json(&body)?, what)?;
        if resp.status >= 500 || resp.status == 401 || resp.status == 404 {
            return Err(UP.refused(&resp, what));
        }
        let v: Value = UP.json(&resp, what)?;
        if let Some(err) = v.get("error").filter(|e| !e.is_null()) {
            log(
                Level::Warn,
                format!(
                    "Buildbot JSON-RPC error while {what}: {}",
                    clip(&err.to_string(), 500)
                ),
            );
            return Err(rpc_error(err, what));
        }
        if !(200..300).contains(&resp.status) {
            return Err(UP.refused(&resp, what));
        }
        Ok(v.get("result").cloned().unwrap_or(Value::Null))
    }

    fn builder_id(&self, s: &Settings) -> Result<u64, CommandError> {
        if let Ok(id) = s.builder.parse::<u64>() {
            return Ok(id);
        }
        let what = "looking up the builder";
        let v = self
            .get(&format!("/builders/{}", s.builder), what)?
            .and_then(|v| v["builders"][0]["builderid"].as_u64());
        v.ok_or_else(|| {
            CommandError::failed(format!(
                "Buildbot has no builder `{}`; ask an admin to check the `builder` setting.",
                s.builder
            ))
        })
    }

    /// Force the scheduler; the deploy is its build request.
    pub fn start(
        &self,
        s: &Settings,
        service: &str,
        version: &str,
        env: &str,
        user: &str,
    ) -> Result<Deploy, CommandError> {
        let builderid = self.builder_id(s)?;
        let params = json!({
            "builderid": builderid.to_string(),
            "reason": format!("chatops: {user} deploys {service} {version} to {env}"),
            "service": service,
            "version": version,
            "env": env,
        });
        let result = self.rpc(
            &format!("/forceschedulers/{}", s.scheduler),
            "force",
            params,
            "starting the deploy",
        )?;
        // `[bsid, {"builderid": brid}]`
        let brid = result[1]
            .as_object()
            .and_then(|m| m.values().next())
            .and_then(Value::as_u64)
            .ok_or_else(|| {
                log(Level::Warn, format!("Buildbot's force answered {}", clip(&result.to_string(), 300)));
                CommandError::failed("Buildbot started something but did not say which build request; ask an admin to check the scheduler.")
            })?;
        Ok(Deploy {
            id: brid.to_string(),
            backend: "buildbot".into(),
            service: service.into(),
            version: version.into(),
            env: env.into(),
            user: user.into(),
            state: "queued".into(),
            link: format!("{}/#/buildrequests/{brid}", self.base),
            started: text::unix_now(),
            finished: None,
            build: None,
            detail: "waiting for a worker".into(),
        })
    }

    /// Bring `d` up to date: its build, once there is one, else its build request.
    pub fn refresh(&self, d: &mut Deploy) -> Result<(), CommandError> {
        let what = "checking on the deploy";
        let builds = self
            .get(&format!("/builds?buildrequestid={}", d.id), what)?
            .unwrap_or(Value::Null);
        let latest = builds["builds"]
            .as_array()
            .and_then(|b| b.iter().max_by_key(|b| b["buildid"].as_u64().unwrap_or(0)));
        if let Some(b) = latest {
            d.build = b["buildid"].as_u64();
            if let (Some(builder), Some(number)) = (b["builderid"].as_u64(), b["number"].as_u64()) {
                d.link = format!("{}/#/builders/{builder}/builds/{number}", self.base);
            }
            d.detail = b["state_string"].as_str().unwrap_or_default().to_string();
            if b["complete"].as_bool() == Some(true) {
                d.state = outcome(b["results"].as_i64()).into();
                d.finished = b["complete_at"].as_u64().or(Some(text::unix_now()));
            } else {
                d.state = "running".into();
            }
            return Ok(());
        }
        let Some(req) = self.get(&format!("/buildrequests/{}", d.id), what)? else {
            return Err(CommandError::failed(format!(
                "Buildbot has no build request {}.",
                d.id
            )));
        };
        let r = &req["buildrequests"][0];
        if r["complete"].as_bool() == Some(true) {
            d.state = outcome(r["results"].as_i64()).into();
            d.finished = r["complete_at"].as_u64().or(Some(text::unix_now()));
            d.detail = format!("{} before it started", d.state);
        } else {
            d.state = "queued".into();
            d.detail = "waiting for a worker".into();
        }
        Ok(())
    }

    /// Stop the build, or cancel the request if no build has started yet.
    pub fn cancel(&self, d: &mut Deploy, by: &str) -> Result<(), CommandError> {
        self.refresh(d)?;
        if d.done() {
            return Ok(());
        }
        let reason = json!({"reason": format!("cancelled from chat by {by}")});
        match d.build {
            Some(build) => self.rpc(
                &format!("/builds/{build}"),
                "stop",
                reason,
                "stopping the build",
            )?,
            None => self.rpc(
                &format!("/buildrequests/{}", d.id),
                "cancel",
                reason,
                "cancelling the build request",
            )?,
        };
        Ok(())
    }
}

/// Buildbot's results codes.
fn outcome(results: Option<i64>) -> &'static str {
    match results {
        Some(0) | Some(1) => "succeeded", // SUCCESS, WARNINGS
        Some(6) => "cancelled",
        Some(5) => "running", // RETRY: another build follows
        _ => "failed",        // FAILURE, SKIPPED, EXCEPTION
    }
}

/// A JSON-RPC error as one sentence: a bad parameter reads like a usage error.
fn rpc_error(err: &Value, what: &str) -> CommandError {
    let code = err["code"].as_i64().unwrap_or(0);
    let message = match &err["message"] {
        Value::String(s) => s.clone(),
        Value::Object(m) => m
            .iter()
            .map(|(k, v)| {
                format!(
                    "{k}: {}",
                    v.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| v.to_string())
                )
            })
            .collect::<Vec<_>>()
            .join("; "),
        other => other.to_string(),
    };
    let message = clip(&message.replace(['\n', '\r'], " "), 300);
    match code {
        -32602 => CommandError::usage(format!("Buildbot refused the parameters: {message}")),
        -32600 => CommandError::failed(format!(
            "Buildbot does not let deploy's account do that ({message}); ask an admin to check the `user` setting and Buildbot's authz."
        )),
        _ if message.contains("has no attribute 'force'") => CommandError::failed(
            "Buildbot has no such force scheduler; ask an admin to check the `scheduler` setting.",
        ),
        _ => CommandError::failed(format!("Buildbot failed while {what}; try again in a moment.")),
    }
}

fn base64(bytes: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_basic_auth() {
        assert_eq!(base64(b"deployer:bbpass"), "ZGVwbG95ZXI6YmJwYXNz");
        assert_eq!(base64(b"a"), "YQ==");
        assert_eq!(base64(b"ab"), "YWI=");
    }

    #[test]
    fn a_bad_choice_reads_like_usage() {
        let err = json!({"code": -32602, "message": {"env": "'nope' does not belong to list of available choices"}});
        match rpc_error(&err, "starting the deploy") {
            CommandError::Usage(m) => assert_eq!(
                m,
                "Buildbot refused the parameters: env: 'nope' does not belong to list of available choices"
            ),
            other => panic!("{other:?}"),
        }
    }
}
