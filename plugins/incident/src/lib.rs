//! `incident` — incidents in chat. `incident open TITLE SEVERITY`, `ack`, `note`,
//! `resolve`, `list`, `show` (the timeline) and `sync`; kept in the plugin's kv, every
//! change announced in the incident channel, and forwarded to PagerDuty's Events API v2
//! when an admin set it up.
use chatops_sdk::*;

mod model;
mod pagerduty;
mod store;
mod text;

use model::{parse_id, Action, Entry, Incident, Status};

struct Incidents;

impl Plugin for Incidents {
    fn describe() -> PluginInfo {
        PluginInfo::new(
            "incident",
            env!("CARGO_PKG_VERSION"),
            "Incidents in chat: open, acknowledge, note, resolve, a timeline; optionally forwarded to PagerDuty",
        )
        .command(
            Command::new("incident", "Open, acknowledge, note, resolve, list or show incidents")
                .option(
                    CommandOption::string("action", "What to do (default: list)")
                        .choice("open TITLE SEVERITY", "open")
                        .choice("ack ID", "ack")
                        .choice("note ID TEXT", "note")
                        .choice("resolve ID", "resolve")
                        .choice("list (the open ones)", "list")
                        .choice("show ID (the timeline)", "show")
                        .choice("sync ID (resend to PagerDuty)", "sync"),
                )
                .option(CommandOption::string(
                    "target",
                    "open: the title; the others: the incident id, INC-12 or 12",
                ))
                .option(CommandOption::string(
                    "detail",
                    "open: sev1 (critical), sev2 (error), sev3 (warning), sev4 (info); note: the text",
                )),
        )
        .request(
            Capability::Kv,
            "keeps the incidents, their timelines and the id counter",
        )
        .request(
            Capability::Post("the incident channel (setting `channel`)".into()),
            "announces every opened, acknowledged, noted and resolved incident",
        )
        .http(
            pagerduty::DEFAULT_URL,
            "forwards incidents to PagerDuty's Events API v2 (optional; the URL in setting `pagerduty_url`)",
        )
        .secret(
            pagerduty::ROUTING_KEY,
            "the Integration Key of a PagerDuty Events API v2 integration (optional: without it nothing goes to PagerDuty)",
        )
    }

    fn settings() -> Vec<Setting> {
        vec![
            Setting::new("channel", "The incident channel's id: every change is announced there").required(),
            Setting::new(
                "pagerduty_url",
                "PagerDuty's Events API, https://events.pagerduty.com (EU: https://events.eu.pagerduty.com); unset: nothing goes to PagerDuty",
            ),
            Setting::new("source", "PagerDuty `payload.source`: what is affected, e.g. the team or system (default: chatops)"),
            Setting::new("link_url", "A link PagerDuty shows with each incident, e.g. https://status.example.com/{id} ({id} becomes INC-12); never put a secret in it"),
        ]
    }

    fn on_component(p: ComponentPress) -> Result<PressResult, CommandError> {
        press(p)
    }

    fn run(inv: Invocation) -> Result<Reply, CommandError> {
        let action = inv.str("action").unwrap_or_else(|| "list".into());
        match action.trim() {
            "list" => list(),
            "show" => show(&inv),
            "open" => open(&inv),
            "ack" => ack(&inv),
            "note" => note(&inv),
            "resolve" => resolve(&inv),
            "sync" => sync(&inv),
            other => Err(CommandError::usage(format!(
                "`{}` is not an action: open, ack, note, resolve, list, show or sync",
                model::clip(other, 40)
            ))),
        }
    }
}

fn entry(inv: &Invocation, action: Action, text: Option<String>) -> Entry {
    Entry {
        at: text::now(),
        who: inv.user.name.clone(),
        who_id: inv.user.id.clone(),
        action,
        text,
    }
}

/// The incident the `target` option names.
fn target(inv: &Invocation, example: &str) -> Result<Incident, CommandError> {
    let Some(raw) = inv.str("target").filter(|t| !t.trim().is_empty()) else {
        return Err(CommandError::usage(format!(
            "which incident? e.g. `{example}` (`incident list` shows the open ones)"
        )));
    };
    let n = parse_id(&raw).map_err(CommandError::usage)?;
    store::find(n)
}

/// Tell the incident channel; a sentence for the reply when that did not happen.
fn announce(id: &str, text: &str) -> Option<String> {
    let Some(channel) = config::get("channel")
        .map(|c| c.trim().to_string())
        .filter(|c| !c.is_empty())
    else {
        log(
            Level::Warn,
            format!("{id} was not announced: the setting `channel` is not set (chatops config incident channel CHANNEL_ID)"),
        );
        return Some(
            "It was not announced: no incident channel is set (an admin can set `channel`).".into(),
        );
    };
    match post(&channel, text) {
        Ok(()) => None,
        Err(e) => {
            log(
                Level::Warn,
                format!(
                    "{id} was not announced in channel {channel}: {}",
                    e.message()
                ),
            );
            Some(match e {
                ChatError::NotGranted(_) => "The incident channel was not told: posting there is not granted (the admin has been told).".into(),
                ChatError::Failed(_) => "The incident channel was not told: posting failed (the admin log has details).".into(),
            })
        }
    }
}

/// After a change: save, announce, catch PagerDuty up, save what it was told; the reply.
fn finish(
    inc: &mut Incident,
    announcement: &str,
    reply: String,
    forward: bool,
) -> Result<Reply, CommandError> {
    store::save(inc)?;
    let mut parts = vec![reply];
    parts.extend(announce(&inc.id(), announcement));
    if forward {
        if let Some(f) = pagerduty::current() {
            if !inc.pending_events().is_empty() {
                progress(format!("Telling PagerDuty about {}…", inc.id()));
            }
            let outcome = pagerduty::catch_up(&f, inc);
            if !outcome.sent.is_empty() {
                store::save(inc)?;
            }
            parts.push(outcome.sentence(&inc.id()));
        }
    }
    parts.retain(|p| !p.is_empty());
    Ok(Reply::text(parts.join(" ")))
}

fn open(inv: &Invocation) -> Result<Reply, CommandError> {
    let (title, severity) =
        model::parse_open(inv.str("target").as_deref(), inv.str("detail").as_deref())
            .map_err(CommandError::usage)?;
    let number = store::next_number()?;
    let mut inc = Incident {
        number,
        title,
        severity,
        status: Status::Open,
        timeline: vec![entry(inv, Action::Opened, None)],
        pagerduty: Default::default(),
    };
    let id = inc.id();
    let who = &inv.user.name;
    let announcement = format!(
        "🚨 **{id}** opened by {who} · {}: {}",
        severity.show(),
        inc.title
    );
    let reply = format!("🚨 Opened **{id}** · {}: {}.", severity.show(), inc.title);
    let color = match severity {
        model::Severity::Critical => colors::RED,
        model::Severity::Error => colors::ORANGE,
        model::Severity::Warning => colors::YELLOW,
        model::Severity::Info => colors::BLUE,
    };
    let card = Embed::new()
        .title(format!("{id}: {}", inc.title))
        .color(color)
        .inline_field("Severity", severity.show())
        .inline_field("Opened by", who.clone());
    let r = finish(&mut inc, &announcement, reply, true)?;
    // A card coloured by severity, and an Ack button for whoever takes it.
    Ok(r.embed(card)
        .button(Button::new("Ack", "incident", &format!("ack:{id}")).primary()))
}

/// The Ack button on an opened incident: acknowledge it as the person who pressed, and
/// turn the message into the acknowledgement (the button goes away).
fn press(press: ComponentPress) -> Result<PressResult, CommandError> {
    let Some(id) = press.custom_id.strip_prefix("ack:") else {
        return Err(CommandError::failed(format!(
            "unknown button `{}`",
            model::clip(&press.custom_id, 60)
        )));
    };
    let inv = Invocation {
        id: press.id.clone(),
        command: "incident".into(),
        subcommand: vec![],
        args: vec![
            Argument {
                name: "action".into(),
                value: ArgValue::String("ack".into()),
            },
            Argument {
                name: "target".into(),
                value: ArgValue::String(id.into()),
            },
        ],
        user: press.user,
        channel: press.channel,
        guild: press.guild,
    };
    let reply = ack(&inv)?;
    Ok(PressResult::Edit(
        Message::text(reply.text).embed(
            Embed::new()
                .title(format!("{id} acknowledged"))
                .color(colors::GREEN),
        ),
    ))
}

fn ack(inv: &Invocation) -> Result<Reply, CommandError> {
    let mut inc = target(inv, "incident ack INC-12")?;
    let id = inc.id();
    let who = inv.user.name.clone();
    if let Some(r) = inc.resolved().filter(|_| inc.status == Status::Resolved) {
        return Err(CommandError::failed(format!(
            "{id} is already resolved (by {} at {}); there is nothing to acknowledge",
            r.who,
            text::show_time(r.at)
        )));
    }
    let before = inc.acked_by().map(|e| (e.who.clone(), e.who_id.clone()));
    if inc.status == Status::Acknowledged
        && before.as_ref().is_some_and(|(_, uid)| *uid == inv.user.id)
    {
        return Ok(Reply::text(format!("You already acknowledged **{id}**.")));
    }
    let taking_over = before
        .filter(|_| inc.status == Status::Acknowledged)
        .map(|(name, _)| format!("taking over from {name}"));
    inc.status = Status::Acknowledged;
    inc.timeline
        .push(entry(inv, Action::Acknowledged, taking_over.clone()));
    let over = taking_over.map(|t| format!(" ({t})")).unwrap_or_default();
    let announcement = format!("👀 **{id}** acknowledged by {who}{over}: {}", inc.title);
    let reply = format!("👀 You acknowledged **{id}**{over}: {}.", inc.title);
    finish(&mut inc, &announcement, reply, true)
}

fn note(inv: &Invocation) -> Result<Reply, CommandError> {
    let mut inc = target(inv, "incident note INC-12 failover done")?;
    let text = model::parse_note(inv.str("detail").as_deref()).map_err(CommandError::usage)?;
    let id = inc.id();
    let who = inv.user.name.clone();
    inc.timeline
        .push(entry(inv, Action::Note, Some(text.clone())));
    // Notes on resolved incidents are allowed: the follow-up belongs on the record.
    let after = if inc.status == Status::Resolved {
        " (it is resolved; the note is kept on its timeline)"
    } else {
        ""
    };
    let announcement = format!("📝 **{id}** note from {who}: {text}");
    let reply = format!("📝 Noted on **{id}**{after}.");
    // PagerDuty's Events API has no notes; nothing to forward.
    finish(&mut inc, &announcement, reply, false)
}

fn resolve(inv: &Invocation) -> Result<Reply, CommandError> {
    let mut inc = target(inv, "incident resolve INC-12")?;
    let id = inc.id();
    if inc.status == Status::Resolved {
        let by = inc
            .resolved()
            .map(|r| format!(" by {} at {}", r.who, text::show_time(r.at)))
            .unwrap_or_default();
        return Err(CommandError::failed(format!(
            "{id} was already resolved{by}; `incident show {id}` has its timeline"
        )));
    }
    let who = inv.user.name.clone();
    inc.status = Status::Resolved;
    let e = entry(inv, Action::Resolved, None);
    let took = text::duration(e.at.saturating_sub(inc.opened().map(|o| o.at).unwrap_or(e.at)));
    inc.timeline.push(e);
    let announcement = format!("✅ **{id}** resolved by {who} after {took}: {}", inc.title);
    let reply = format!("✅ You resolved **{id}** after {took}: {}.", inc.title);
    finish(&mut inc, &announcement, reply, true)
}

fn list() -> Result<Reply, CommandError> {
    let open = store::open_incidents()?;
    Ok(Reply::text(text::list(&open, text::now())))
}

fn show(inv: &Invocation) -> Result<Reply, CommandError> {
    let inc = target(inv, "incident show INC-12")?;
    let pd = pagerduty::configured().then(|| {
        if inc.pending_events().is_empty() {
            "PagerDuty: up to date.".to_string()
        } else {
            format!(
                "PagerDuty: not up to date; `incident sync {}` sends what it is missing.",
                inc.id()
            )
        }
    });
    Ok(Reply::text(text::show(&inc, pd)))
}

fn sync(inv: &Invocation) -> Result<Reply, CommandError> {
    let mut inc = target(inv, "incident sync INC-12")?;
    let id = inc.id();
    let Some(f) = pagerduty::current() else {
        return Err(CommandError::failed(
            "PagerDuty forwarding is off here; the admin log says why",
        ));
    };
    if inc.pending_events().is_empty() {
        return Ok(Reply::text(format!(
            "PagerDuty already knows **{id}** is {}.",
            inc.status.word()
        )));
    }
    progress(format!("Telling PagerDuty about {id}…"));
    let outcome = pagerduty::catch_up(&f, &mut inc);
    if !outcome.sent.is_empty() {
        store::save(&inc)?;
    }
    match outcome.failure {
        Some(_) => Err(CommandError::failed(outcome.sentence(&id))),
        None => Ok(Reply::text(format!(
            "PagerDuty now knows **{id}** is {} (sent: {}).",
            inc.status.word(),
            outcome.sent.join(", ")
        ))),
    }
}

plugin!(Incidents);
