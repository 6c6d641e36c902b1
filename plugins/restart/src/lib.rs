//! `restart` — restart Docker containers from chat, through the Docker Engine API. Only
//! containers carrying the configured label can be listed, inspected or restarted, whatever
//! the user types: every name is looked up first, its labels checked, and the restart is
//! sent to the container's full ID. A restart is confirmed first, then followed until the
//! container runs again (and is healthy, where it has a health check).
use chatops_sdk::*;
use std::time::{Duration, Instant, SystemTime};

mod docker;
mod text;

use docker::{Container, Engine};
use text::{clip, parse_time, show_duration, show_time, Action, Label};

struct Restart;

/// How long to wait for the container to run (and be healthy) again, by default.
const DEFAULT_TIMEOUT: u64 = 30;
/// What Docker waits for the container to stop before killing it, by default (Docker's own).
const DEFAULT_STOP_TIMEOUT: u64 = 10;

impl Plugin for Restart {
    fn describe() -> PluginInfo {
        PluginInfo::new(
            "restart",
            env!("CARGO_PKG_VERSION"),
            "Restart labelled Docker containers and wait until they are back",
        )
        .command(
            Command::new(
                "restart",
                "Restart a container (asks first), list the restartable ones, or show one's status",
            )
            .option(
                CommandOption::string(
                    "target",
                    "`list`, `status`, or the container to restart (a container named list is /list)",
                )
                .required(),
            )
            .option(CommandOption::string(
                "name",
                "With `status`: the container to show",
            )),
        )
        .http(
            "http://DOCKER-HOST:2375/v1.41/containers",
            "inspects, lists and restarts containers through the Docker Engine API at setting `docker_url` (grant that URL + /v1.41/containers)",
        )
        .secret(
            docker::TOKEN,
            "sent as a Bearer token, only if a proxy in front of Docker asks for one",
        )
    }

    fn settings() -> Vec<Setting> {
        vec![
            Setting::new(
                "docker_url",
                "The Docker Engine's HTTP API, e.g. http://127.0.0.1:2375 (the plugin adds /v1.41/…)",
            )
            .required(),
            Setting::new(
                "label",
                "Only containers with this label can be touched: key=value or key (default chatops.restartable=true)",
            ),
            Setting::new(
                "timeout",
                "Seconds to wait for a restarted container to run (and be healthy) again (default 30)",
            ),
            Setting::new(
                "stop_timeout",
                "Seconds Docker gives a container to stop before killing it (default 10)",
            ),
        ]
    }

    /// `restart NAME` asks first; `list` and `status` do not. A container that is certainly
    /// not restartable (unknown, or without the label) is not worth a question: `run` refuses
    /// it at once. When Docker cannot be asked, the question is asked anyway.
    fn confirm(inv: &Invocation) -> Option<String> {
        let Ok(Action::Restart(name)) = action(inv) else {
            return None;
        };
        let (Ok(engine), Ok(label)) = (Engine::from_settings(), label()) else {
            return Some(format!("Restart container `{name}`?"));
        };
        match engine.inspect(&name) {
            Ok(Some(c)) if c.carries(&label) => Some(format!(
                "Restart container `{}` ({})? Docker stops it, giving it up to {} s, and starts it again.",
                c.short_name(),
                describe_state(&c),
                stop_timeout().unwrap_or(DEFAULT_STOP_TIMEOUT),
            )),
            Ok(_) => None,
            Err(_) => Some(format!("Restart container `{name}`?")),
        }
    }

    fn run(inv: Invocation) -> Result<Reply, CommandError> {
        match action(&inv).map_err(CommandError::usage)? {
            Action::List => list(),
            Action::Status(name) => status(&name),
            Action::Restart(name) => restart(&inv, &name),
        }
    }
}

fn action(inv: &Invocation) -> Result<Action, String> {
    text::parse_action(
        &inv.str("target").unwrap_or_default(),
        inv.str("name").as_deref(),
    )
}

/// A setting, or an error that tells the user what to ask an admin for.
pub(crate) fn setting(key: &str) -> Result<String, CommandError> {
    config::get(key)
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .ok_or_else(|| {
            CommandError::failed(format!(
                "the restart plugin needs the setting `{key}`; ask an admin to run `chatops config restart {key} VALUE`"
            ))
        })
}

fn seconds(key: &str, default: u64, max: u64) -> Result<u64, CommandError> {
    match config::get(key).filter(|v| !v.trim().is_empty()) {
        None => Ok(default),
        Some(v) => text::parse_seconds(key, &v, 1, max)
            .map_err(|e| CommandError::failed(format!("{e}; ask an admin to fix it"))),
    }
}

fn stop_timeout() -> Result<u64, CommandError> {
    seconds("stop_timeout", DEFAULT_STOP_TIMEOUT, 300)
}

fn label() -> Result<Label, CommandError> {
    let raw = config::get("label").filter(|v| !v.trim().is_empty());
    Label::parse(raw.as_deref().unwrap_or(text::DEFAULT_LABEL))
        .map_err(|e| CommandError::failed(format!("{e}; ask an admin to fix it")))
}

/// The container, if it exists and carries the label; otherwise why not, for chat.
fn restartable(engine: &Engine, name: &str, label: &Label) -> Result<Container, CommandError> {
    match engine.inspect(name)? {
        None => Err(CommandError::failed(format!(
            "there is no container `{name}`; `restart list` shows the ones you can restart."
        ))),
        Some(c) if !c.carries(label) => {
            log(
                Level::Info,
                format!("refused `{name}`: it does not carry the label {label}"),
            );
            Err(CommandError::denied(format!(
                "`{}` is not restartable from chat: it does not carry the label `{label}`. `restart list` shows the ones that are.",
                c.short_name()
            )))
        }
        Some(c) => Ok(c),
    }
}

/// `running, healthy, up since …` for people.
fn describe_state(c: &Container) -> String {
    let s = &c.state;
    let mut out = if s.running {
        format!("running since {}", show_time(&s.started_at))
    } else if s.restarting {
        "restarting".to_string()
    } else if s.status == "exited" {
        format!(
            "exited with code {} at {}",
            s.exit_code,
            show_time(&s.finished_at)
        )
    } else {
        clip(&s.status, 40)
    };
    match c.health() {
        Some("healthy") => out.push_str(", healthy"),
        Some(h) => out.push_str(&format!(", health check: {}", clip(h, 20))),
        None => {}
    }
    out
}

fn list() -> Result<Reply, CommandError> {
    let engine = Engine::from_settings()?;
    let label = label()?;
    let mut all = engine.list(&label)?;
    all.sort_by(|a, b| a.names.cmp(&b.names));
    if all.is_empty() {
        return Ok(Reply::text(format!(
            "No container carries the label `{label}`, so there is nothing to restart from chat; an admin labels the ones that may be."
        )));
    }
    let mut lines = vec![format!(
        "🔁 **{} restartable container{}** (`restart NAME` restarts one, `restart status NAME` shows one):",
        all.len(),
        if all.len() == 1 { "" } else { "s" }
    )];
    for (shown, s) in all.iter().enumerate() {
        let line = format!(
            "• `{}` — {} ({})",
            clip(
                s.names
                    .first()
                    .map(|n| n.trim_start_matches('/'))
                    .unwrap_or("?"),
                80
            ),
            clip(&s.status, 80),
            clip(&s.image, 80),
        );
        // Keep the answer within one Discord message.
        if lines.iter().map(|l| l.len() + 1).sum::<usize>() + line.len() > 1800 {
            lines.push(format!("… and {} more", all.len() - shown));
            break;
        }
        lines.push(line);
    }
    Ok(Reply::text(lines.join("\n")))
}

fn status(name: &str) -> Result<Reply, CommandError> {
    let engine = Engine::from_settings()?;
    let c = restartable(&engine, name, &label()?)?;
    let mut out = format!("`{}` is {}", c.short_name(), describe_state(&c));
    if let Some(started) = parse_time(&c.state.started_at).filter(|_| c.state.running) {
        if let Ok(up) = SystemTime::now().duration_since(started) {
            out.push_str(&format!(" (up {})", show_duration(up)));
        }
    }
    out.push_str(&format!(
        "; image `{}`, restarted {} time{} by Docker's restart policy.",
        clip(&c.config.image, 80),
        c.restart_count,
        if c.restart_count == 1 { "" } else { "s" }
    ));
    if !c.state.error.is_empty() {
        log(
            Level::Info,
            format!("{} last error: {}", c.short_name(), c.state.error),
        );
    }
    Ok(Reply::text(out))
}

fn restart(inv: &Invocation, name: &str) -> Result<Reply, CommandError> {
    let engine = Engine::from_settings()?;
    let label = label()?;
    let timeout = seconds("timeout", DEFAULT_TIMEOUT, 3600)?;
    let stop = stop_timeout()?;
    let before = restartable(&engine, name, &label)?;
    let name = before.short_name().to_string();
    progress(format!(
        "⏳ Restarting `{name}` (Docker gives it up to {stop} s to stop)…"
    ));
    let asked = Instant::now();
    engine.restart(&before, stop)?;
    log(
        Level::Info,
        format!(
            "{} restarted {name} ({})",
            inv.user.name,
            &before.id[..before.id.len().min(12)]
        ),
    );
    let after = wait_until_up(&engine, &before, asked, Duration::from_secs(timeout))?;
    let old = &before.state.started_at;
    let new = &after.state.started_at;
    let mut reply = format!(
        "🔁 Restarted `{name}`: started {} → now {}, running{}",
        if before.state.running {
            show_time(old)
        } else {
            format!("{} (it was not running)", show_time(old))
        },
        show_time(new),
        if after.health().is_some() {
            " and healthy"
        } else {
            ""
        },
    );
    reply.push_str(&format!(
        " ({} after asking).",
        show_duration(asked.elapsed())
    ));
    Ok(Reply::text(reply))
}

/// Follow the container until it runs with a new start time (and is healthy, if it has a
/// health check), with progress while waiting. Polls gently: each poll is one HTTP request
/// of the command's budget.
fn wait_until_up(
    engine: &Engine,
    before: &Container,
    asked: Instant,
    timeout: Duration,
) -> Result<Container, CommandError> {
    let name = before.short_name().to_string();
    let deadline = asked + timeout;
    let mut last_said = String::new();
    let mut poll = 0u32;
    loop {
        let now = match engine.inspect(&before.id) {
            Ok(Some(c)) => c,
            Ok(None) => {
                return Err(CommandError::failed(format!(
                    "`{name}` disappeared while it was restarting"
                )))
            }
            // The same requests were allowed a moment ago: this is the command's budget.
            Err(CommandError::Denied(_)) => {
                return Err(CommandError::failed(format!(
                    "`{name}` was restarted, but the bot stopped watching it: this command used up its HTTP requests (an admin can raise `http_requests` under [plugins.restart.limits]). See `restart status {name}`."
                )))
            }
            Err(e) => return Err(e),
        };
        let s = &now.state;
        let new_start = s.started_at != before.state.started_at;
        let waited = show_duration(asked.elapsed());
        let said = if s.running && new_start {
            match now.health() {
                None | Some("healthy") => return Ok(now),
                Some("unhealthy") => {
                    return Err(CommandError::failed(format!(
                        "`{name}` was restarted (started {}) but its health check fails ({} times in a row); look at it with `restart status {name}`.",
                        show_time(&s.started_at),
                        s.health.as_ref().map_or(0, |h| h.failing_streak)
                    )))
                }
                Some(h) => format!(
                    "⏳ `{name}` is running again (started {}); its health check says {h}…",
                    show_time(&s.started_at)
                ),
            }
        } else if new_start && !s.running && !s.restarting {
            return Err(CommandError::failed(format!(
                "`{name}` started again at {} but stopped ({}, exit code {}); look at it with `restart status {name}`.",
                show_time(&s.started_at),
                clip(&s.status, 20),
                s.exit_code
            )));
        } else if s.restarting {
            format!("⏳ Docker is restarting `{name}`…")
        } else {
            format!("⏳ Waiting for `{name}` to start again…")
        };
        if Instant::now() >= deadline {
            return Err(CommandError::failed(format!(
                "`{name}` did not come back up within {} s (it is {}); look at it with `restart status {name}`.",
                timeout.as_secs(),
                describe_state(&now)
            )));
        }
        // Say what changed, and otherwise how long it has been every few polls.
        if said != last_said || poll % 4 == 3 {
            progress(format!("{said} ({waited})"));
            last_said = said;
        }
        // 0.5 s, 1 s, then a twelfth of the wait (2 s at least): quick for the common case,
        // and at most ~16 polls however long the wait, within the default 20 requests.
        let pause = match poll {
            0 => Duration::from_millis(500),
            1 => Duration::from_secs(1),
            _ => (timeout / 12).max(Duration::from_secs(2)),
        };
        std::thread::sleep(pause.min(deadline.saturating_duration_since(Instant::now())));
        poll = poll.saturating_add(1);
    }
}

plugin!(Restart);
