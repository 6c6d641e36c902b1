//! `alerts` — Prometheus Alertmanager in chat. Alertmanager's webhook posts each
//! notification to the on-call channel and keeps the open alerts in kv; `alerts list` and
//! `alerts ack` work on those; `silence` creates, lists and expires silences through
//! Alertmanager's API v2; a weekday schedule posts what is still open.
use chatops_sdk::http::{HttpError, Request, Response};
use chatops_sdk::*;

mod notify;
mod open;
mod silence;
mod text;

struct Alerts;

const TOKEN: &str = "alertmanager-token";
const SUMMARY: &str = "weekday-summary";

impl Plugin for Alerts {
    fn describe() -> PluginInfo {
        PluginInfo::new(
            "alerts",
            env!("CARGO_PKG_VERSION"),
            "Prometheus Alertmanager alerts in chat: notifications, acks and silences",
        )
        .command(
            Command::new("alerts", "List the alerts that are firing, or ack one")
                .option(
                    CommandOption::string("action", "What to do (default: list)")
                        .choice("list", "list")
                        .choice("ack", "ack"),
                )
                .option(CommandOption::string(
                    "fingerprint",
                    "The alert to ack: its fingerprint, or a unique start of it",
                )),
        )
        .command(
            Command::new(
                "silence",
                "Silence alerts in Alertmanager, list silences or expire one",
            )
            .option(
                CommandOption::string(
                    "what",
                    "`list`, `expire`, or matchers like alertname=HighLatency,service=api",
                )
                .required(),
            )
            .option(CommandOption::string(
                "arg",
                "How long to silence (30m, 2h, 1d), or the silence ID to expire",
            ))
            .option(CommandOption::string(
                "comment",
                "Why (required for a new silence)",
            )),
        )
        .request(
            Capability::Webhook("alertmanager".into()),
            "Alertmanager's webhook receiver posts alert notifications here",
        )
        .request(
            Capability::Kv,
            "remembers the open alerts and who acked them",
        )
        .http(
            "the Alertmanager URL in setting `url`",
            "creates and lists silences",
        )
        .secret(TOKEN, "Alertmanager API token, if it needs one")
        .request(
            Capability::Post("on-call channel (setting `channel`)".into()),
            "posts alert notifications, acks and the weekday summary",
        )
        .request(
            Capability::Schedule(ScheduleSpec {
                name: SUMMARY.into(),
                cron: "0 9 * * 1-5".into(),
            }),
            "posts what is still open at 09:00 on weekdays",
        )
    }

    fn settings() -> Vec<Setting> {
        vec![
            Setting::new(
                "url",
                "Alertmanager's base URL, e.g. http://alertmanager:9093",
            )
            .required(),
            Setting::new("channel", "The channel id that alerts are posted to").required(),
        ]
    }

    fn run(inv: Invocation) -> Result<Reply, CommandError> {
        match inv.command.as_str() {
            "alerts" => match inv.str("action").as_deref() {
                None | Some("list") => {
                    let open = open::all()?;
                    Ok(Reply::text(open::format_list(&open, text::now())))
                }
                Some("ack") => ack(&inv),
                Some(other) => Err(CommandError::usage(format!(
                    "`{other}` is not an action: use `alerts list` or `alerts ack FINGERPRINT`"
                ))),
            },
            "silence" => {
                let what = inv.str("what").unwrap_or_default();
                match what.trim() {
                    "list" => silence_list(),
                    "expire" => silence_expire(inv.str("arg").unwrap_or_default().trim()),
                    _ => silence_create(&inv, &what),
                }
            }
            other => Err(CommandError::failed(format!(
                "alerts has no command `{other}`"
            ))),
        }
    }

    fn on_event(event: Event) -> Result<Vec<Post>, CommandError> {
        match event {
            Event::Webhook(w) => {
                let channel = setting("channel")?;
                let n = notify::parse(&w.body).map_err(CommandError::failed)?;
                // The post matters more than the bookkeeping: a kv failure is logged, and
                // failing here would only make Alertmanager send the same post again.
                let acks = open::apply(&n.alerts).unwrap_or_else(|e| {
                    log(
                        Level::Warn,
                        format!("could not record open alerts: {}", e.message()),
                    );
                    Default::default()
                });
                if n.alerts.is_empty() {
                    return Ok(Vec::new());
                }
                log(
                    Level::Info,
                    format!("{} notification with {} alert(s)", n.status, n.alerts.len()),
                );
                Ok(vec![Post::text(&channel, notify::format(&n, &acks))])
            }
            Event::Schedule(name) if name == SUMMARY => {
                let channel = setting("channel")?;
                let open = open::all()?;
                Ok(vec![Post::text(
                    &channel,
                    open::format_summary(&open, text::now()),
                )])
            }
            Event::Schedule(_) => Ok(Vec::new()),
        }
    }
}

/// A setting, or an error that tells the user what to ask an admin for.
fn setting(key: &str) -> Result<String, CommandError> {
    config::get(key)
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .ok_or_else(|| {
            CommandError::failed(format!(
                "the alerts plugin needs the setting `{key}`; ask an admin to run `chatops config alerts {key} VALUE`"
            ))
        })
}

/// `alerts ack FINGERPRINT`: record who took it, tell the on-call channel.
fn ack(inv: &Invocation) -> Result<Reply, CommandError> {
    let Some(prefix) = inv.str("fingerprint").filter(|f| !f.trim().is_empty()) else {
        return Err(CommandError::usage(
            "which alert? `alerts ack FINGERPRINT` (fingerprints are in `alerts list`)",
        ));
    };
    let channel = setting("channel")?;
    let open = open::all()?;
    let (fp, alert) = open::find(&open, &prefix).map_err(CommandError::failed)?;
    let who = inv.user.name.clone();
    let name = alert.name().to_string();
    if alert.acked_by.as_deref() == Some(who.as_str()) {
        return Ok(Reply::text(format!("You already acked **{name}** `{fp}`.")));
    }
    let before = alert.acked_by.clone();
    let mut record = alert.clone();
    record.acked_by = Some(who.clone());
    record.acked_at = Some(text::rfc3339(text::now()));
    open::save(fp, &record)?;

    let mut announcement = format!("👀 **{who}** acked **{name}** `{fp}`");
    if let Some(sev) = record.labels.get("severity") {
        announcement.push_str(&format!(" ({sev})"));
    }
    if let Some(summary) = record
        .annotations
        .get("summary")
        .filter(|s| !s.trim().is_empty())
    {
        announcement.push_str(&format!(": {}", text::clip(summary, 300)));
    }
    if let Some(prev) = before {
        announcement.push_str(&format!(" (taking over from {prev})"));
    }
    let mut reply = format!("👀 You acked **{name}** `{fp}`");
    match post(&channel, &announcement) {
        Ok(()) => reply.push_str("; the on-call channel has been told."),
        Err(e) => {
            log(
                Level::Warn,
                format!("ack announcement not posted: {}", e.message()),
            );
            reply.push_str(&format!(
                ", but the on-call channel was not told: {}",
                e.message()
            ));
        }
    }
    Ok(Reply::text(reply))
}

/// A request to Alertmanager's API, with the token if one is granted.
fn api(method: &str, path: &str) -> Result<Request, CommandError> {
    let base = setting("url")?;
    let mut req = Request::new(method, &format!("{}{path}", base.trim_end_matches('/')))
        .header("accept", "application/json")
        .header("user-agent", "chatops-alerts");
    if let Ok(token) = secret(TOKEN) {
        req = req.bearer(&token);
    }
    Ok(req)
}

fn send(req: Request) -> Result<Response, CommandError> {
    req.send().map_err(|e| match e {
        HttpError::Denied(url) => CommandError::denied(format!(
            "alerts may not reach {url}: an admin must grant it first (chatops grant alerts http URL)"
        )),
        e => CommandError::failed(format!("could not reach Alertmanager: {e}")),
    })
}

/// Alertmanager's error text, short.
fn refused(what: &str, resp: &Response) -> CommandError {
    let body = resp.text().trim().trim_matches('"').replace('\n', " ");
    CommandError::failed(format!(
        "Alertmanager refused to {what} ({}): {}",
        resp.status,
        text::clip(&body, 300)
    ))
}

fn silence_create(inv: &Invocation, what: &str) -> Result<Reply, CommandError> {
    let example = "e.g. `silence alertname=HighLatency,service=api 2h deploying the fix`";
    let matchers = silence::parse_matchers(what)
        .map_err(|e| CommandError::usage(format!("{e}; or `silence list`, `silence expire ID`")))?;
    let Some(arg) = inv.str("arg").filter(|a| !a.trim().is_empty()) else {
        return Err(CommandError::usage(format!("for how long? {example}")));
    };
    let duration = text::parse_duration(&arg).map_err(CommandError::usage)?;
    let Some(comment) = inv.str("comment").filter(|c| !c.trim().is_empty()) else {
        return Err(CommandError::usage(format!(
            "say why in a comment: {example}"
        )));
    };
    let body = silence::new_silence(
        matchers,
        text::now(),
        duration,
        &inv.user.name,
        comment.trim(),
    );
    let resp = send(api("POST", "/api/v2/silences")?.json(&body)?)?;
    if !resp.is_success() {
        return Err(refused("create the silence", &resp));
    }
    let created: silence::Created = resp.json()?;
    log(
        Level::Info,
        format!(
            "{} silenced {} for {}: {}",
            inv.user.name,
            silence::show_matchers(&body.matchers),
            text::show_duration(duration),
            created.silence_id
        ),
    );
    Ok(Reply::text(silence::format_created(
        &created.silence_id,
        &body,
        duration,
    )))
}

fn silence_list() -> Result<Reply, CommandError> {
    let resp = send(api("GET", "/api/v2/silences")?)?;
    if !resp.is_success() {
        return Err(refused("list silences", &resp));
    }
    let all: Vec<silence::Silence> = resp.json()?;
    Ok(Reply::text(silence::format_list(all)))
}

fn silence_expire(id: &str) -> Result<Reply, CommandError> {
    if id.is_empty() {
        return Err(CommandError::usage(
            "which silence? `silence expire ID` (IDs are in `silence list`)",
        ));
    }
    let none = || CommandError::failed(format!("no such silence: `{id}` (see `silence list`)"));
    if !silence::valid_id(id) {
        return Err(none());
    }
    let resp = send(api("DELETE", &format!("/api/v2/silence/{id}"))?)?;
    match resp.status {
        200..=299 => Ok(Reply::text(format!("🔔 Silence `{id}` expired."))),
        // Alertmanager answers an unknown id with 500 (not 404).
        404 | 500 => Err(none()),
        _ => Err(refused("expire the silence", &resp)),
    }
}

plugin!(Alerts);
