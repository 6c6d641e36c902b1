//! `deploy` — deploys from chat. `deploy SERVICE VERSION ENV` starts one on the configured
//! CI (Buildbot's force scheduler, or a GitHub Actions `workflow_dispatch`), follows it
//! with progress and reports the result with a link; `deploy status [ID]` and
//! `deploy cancel ID` work on the recent deploys remembered in kv.
use chatops_sdk::*;
use std::time::Duration;

mod buildbot;
mod github;
mod record;
mod settings;
mod text;
mod upstream;

use record::Deploy;
use settings::{Backend, Settings};

struct DeployPlugin;

const USAGE: &str = "`deploy SERVICE VERSION ENV` (e.g. `deploy api 1.4.2 staging`), `deploy status [ID]` or `deploy cancel ID`";
/// How long `deploy cancel` waits to see the deploy stop.
const CANCEL_WAIT: u64 = 10;
/// How many unfinished deploys `deploy status` asks the CI about.
const REFRESH_AT_MOST: usize = 5;

impl Plugin for DeployPlugin {
    fn describe() -> PluginInfo {
        PluginInfo::new(
            "deploy",
            env!("CARGO_PKG_VERSION"),
            "Deploys through Buildbot or GitHub Actions: start, follow, status, cancel",
        )
        .command(
            Command::new(
                "deploy",
                "Deploy a service version to an environment; or `status [ID]`, `cancel ID`",
            )
            .option(
                CommandOption::string("service", "The service to deploy, or `status` / `cancel`")
                    .required(),
            )
            .option(CommandOption::string(
                "version",
                "The version to deploy, or the deploy ID for status/cancel",
            ))
            .option(CommandOption::string(
                "env",
                "The environment to deploy to (production asks to confirm)",
            )),
        )
        .http(
            "the CI in setting `url` (Buildbot's base URL, or https://api.github.com)",
            "starts deploys, follows them and cancels them",
        )
        .secret(
            buildbot::PASSWORD,
            "Buildbot: the password of the `user` setting, to log in and force builds",
        )
        .secret(
            github::TOKEN,
            "GitHub: a token with actions:write on `repo`, to dispatch and cancel runs",
        )
        .request(
            Capability::Kv,
            "remembers the recent deploys for `deploy status` and `deploy cancel`",
        )
    }

    fn settings() -> Vec<Setting> {
        settings::describe()
    }

    fn confirm(inv: &Invocation) -> Option<String> {
        let service = inv.str("service")?;
        if matches!(service.as_str(), "status" | "cancel") {
            return None;
        }
        let version = inv.str("version").unwrap_or_default();
        let env = inv.str("env")?;
        let confirm_envs = settings::list(config::get("confirm_envs"));
        settings::needs_confirmation(&env, &confirm_envs)
            .then(|| format!("Deploy {service} {version} to {env}?"))
    }

    fn run(inv: Invocation) -> Result<Reply, CommandError> {
        if inv.command != "deploy" {
            return Err(CommandError::failed(format!(
                "deploy has no command `{}`",
                inv.command
            )));
        }
        let first = inv.str("service").unwrap_or_default();
        let id = inv.str("version").unwrap_or_default();
        match first.trim() {
            "status" if inv.str("env").is_none() => status(id.trim()),
            "cancel" if inv.str("env").is_none() => cancel(id.trim(), &inv.user.name),
            _ => deploy(&inv),
        }
    }
}

/// A connection to the configured CI for one command.
enum Ci {
    Buildbot(buildbot::Buildbot),
    GitHub(github::GitHub),
}

impl Ci {
    fn connect(s: &Settings) -> Result<Ci, CommandError> {
        Ok(match s.backend {
            Backend::Buildbot => Ci::Buildbot(buildbot::Buildbot::connect(s)?),
            Backend::GitHub => Ci::GitHub(github::GitHub::connect(s)?),
        })
    }
    fn refresh(&self, d: &mut Deploy) -> Result<(), CommandError> {
        match self {
            Ci::Buildbot(b) => b.refresh(d),
            Ci::GitHub(g) => g.refresh(d),
        }
    }
}

fn deploy(inv: &Invocation) -> Result<Reply, CommandError> {
    let (Some(service), Some(version), Some(env)) =
        (inv.str("service"), inv.str("version"), inv.str("env"))
    else {
        return Err(CommandError::usage(format!(
            "deploy what, which version, where? {USAGE}"
        )));
    };
    let (service, version, env) = (service.trim(), version.trim(), env.trim());
    settings::plain("service", service)?;
    settings::plain("version", version)?;
    settings::plain("environment", env)?;
    let s = Settings::load()?;
    if !s.services.is_empty() && !s.services.iter().any(|x| x == service) {
        return Err(CommandError::usage(format!(
            "`{service}` is not a service you can deploy here; these are: {}",
            s.services.join(", ")
        )));
    }
    if !s.envs.is_empty() && !s.envs.iter().any(|x| x == env) {
        return Err(CommandError::usage(format!(
            "`{env}` is not an environment you can deploy to here; these are: {}",
            s.envs.join(", ")
        )));
    }
    progress(format!(
        "🚀 Starting the deploy of {service} {version} → {env} on {}…",
        s.backend.name()
    ));
    record::usable()?;
    let ci = Ci::connect(&s)?;
    let user = inv.user.name.as_str();
    let mut d = match &ci {
        Ci::Buildbot(b) => b.start(&s, service, version, env, user)?,
        Ci::GitHub(g) => g.start(&s, service, version, env, user)?,
    };
    record::save(&d)?;
    log(
        Level::Info,
        format!(
            "{user} started deploy {} ({}) on {}: {}",
            d.id,
            d.what(),
            s.backend.name(),
            d.link
        ),
    );
    follow(&s, &ci, &mut d)
}

/// A button that opens the build in the CI (when its link is a web address).
fn with_link(reply: Reply, d: &Deploy) -> Reply {
    if d.link.starts_with("https://") || d.link.starts_with("http://") {
        reply.link(LinkButton::new("Open the build", &d.link))
    } else {
        reply
    }
}

/// Poll until the deploy finishes or this command's time is up.
fn follow(s: &Settings, ci: &Ci, d: &mut Deploy) -> Result<Reply, CommandError> {
    let deadline = d.started + s.wait_seconds;
    let mut failures = 0;
    loop {
        let now = text::unix_now();
        if d.done() {
            return Ok(with_link(Reply::text(finished(d)), d));
        }
        progress(format!(
            "{} Deploy `{}`: {} — {} for {} (`deploy cancel {}` stops it) — <{}>",
            text::icon(&d.state),
            d.id,
            d.what(),
            if d.detail.is_empty() {
                d.state.clone()
            } else {
                d.detail.clone()
            },
            text::duration(now.saturating_sub(d.started)),
            d.id,
            d.link
        ));
        if now + s.poll_seconds > deadline {
            return Ok(with_link(Reply::text(still_running(d, "")), d));
        }
        std::thread::sleep(Duration::from_secs(s.poll_seconds));
        let before = d.clone();
        match ci.refresh(d) {
            Ok(()) => failures = 0,
            // One bad answer (a 502, a dropped connection) is not the end of the deploy.
            Err(CommandError::Failed(why)) if failures == 0 => {
                failures += 1;
                log(
                    Level::Warn,
                    format!(
                        "checking on deploy {} failed once, trying again: {why}",
                        d.id
                    ),
                );
            }
            Err(CommandError::Denied(why)) => {
                log(
                    Level::Warn,
                    format!(
                        "stopped following deploy {}: {why}; to follow longer raise [plugins.deploy.limits] http_requests / http_ms / wall_ms",
                        d.id
                    ),
                );
                return Ok(Reply::text(still_running(
                    d,
                    " (this command reached its limits)",
                )));
            }
            Err(e) => {
                let why = error_text(&e);
                return Err(CommandError::failed(format!(
                    "Deploy `{}` ({}) was started, but checking on it failed: {why} Follow it with `deploy status {}` or at <{}>.",
                    d.id,
                    d.what(),
                    d.id,
                    d.link
                )));
            }
        }
        if *d != before {
            record::save(d)?;
        }
    }
}

fn error_text(e: &CommandError) -> String {
    match e {
        CommandError::Usage(m) | CommandError::Denied(m) | CommandError::Failed(m) => m.clone(),
    }
}

fn finished(d: &Deploy) -> String {
    let took = text::duration(
        d.finished
            .unwrap_or_else(text::unix_now)
            .saturating_sub(d.started),
    );
    let detail = if d.detail.is_empty() {
        String::new()
    } else {
        format!(" ({})", d.detail)
    };
    match d.state.as_str() {
        "succeeded" => format!(
            "✅ Deploy `{}`: {} succeeded in {took}, asked by {} — <{}>",
            d.id,
            d.what(),
            d.user,
            d.link
        ),
        "cancelled" => format!(
            "🛑 Deploy `{}`: {} was cancelled after {took}{detail} — <{}>",
            d.id,
            d.what(),
            d.link
        ),
        _ => format!(
            "❌ Deploy `{}`: {} failed after {took}{detail} — <{}>",
            d.id,
            d.what(),
            d.link
        ),
    }
}

fn still_running(d: &Deploy, why: &str) -> String {
    format!(
        "⏳ Deploy `{}`: {} is still {} after {}{why}; follow it with `deploy status {}` or at <{}>.",
        d.id,
        d.what(),
        d.state,
        text::duration(text::unix_now().saturating_sub(d.started)),
        d.id,
        d.link
    )
}

fn valid_id(id: &str) -> Result<(), CommandError> {
    if id.is_empty() || id.len() > 20 || !id.chars().all(|c| c.is_ascii_digit()) {
        return Err(CommandError::usage(format!(
            "`{id}` is not a deploy ID; IDs are numbers, listed by `deploy status`"
        )));
    }
    Ok(())
}

fn known(id: &str) -> Result<Deploy, CommandError> {
    record::load(id)?.ok_or_else(|| {
        CommandError::failed(format!(
            "There is no recent deploy `{id}`; `deploy status` lists the recent ones."
        ))
    })
}

/// The configured CI, if the deploy ran on it.
fn ci_for(s: &Settings, d: &Deploy) -> Result<Ci, CommandError> {
    let name = match s.backend {
        Backend::Buildbot => "buildbot",
        Backend::GitHub => "github",
    };
    if d.backend != name {
        return Err(CommandError::failed(format!(
            "Deploy `{}` ran on {}, which is no longer the configured backend.",
            d.id, d.backend
        )));
    }
    Ci::connect(s)
}

fn status(id: &str) -> Result<Reply, CommandError> {
    if !id.is_empty() {
        valid_id(id)?;
        let mut d = known(id)?;
        if !d.done() {
            let s = Settings::load()?;
            let ci = ci_for(&s, &d)?;
            ci.refresh(&mut d)?;
            record::save(&d)?;
        }
        let mut text = d.line(text::unix_now());
        if !d.detail.is_empty() {
            text.push_str(&format!("\n{}", upstream::clip(&d.detail, 300)));
        }
        return Ok(Reply::text(text));
    }
    let mut all = record::recent()?;
    if all.is_empty() {
        return Ok(Reply::text(
            "No deploys yet. Start one with `deploy SERVICE VERSION ENV`.",
        ));
    }
    // Unfinished ones are asked about afresh; if the CI cannot be asked, the list still
    // shows what is remembered, and says so.
    let mut note = String::new();
    if all.iter().any(|d| !d.done()) {
        let s = Settings::load()?;
        let backend = backend_name(s.backend);
        match Ci::connect(&s) {
            Ok(ci) => {
                for d in all
                    .iter_mut()
                    .filter(|d| !d.done() && d.backend == backend)
                    .take(REFRESH_AT_MOST)
                {
                    match ci.refresh(d) {
                        Ok(()) => record::save(d)?,
                        Err(e) => log(
                            Level::Warn,
                            format!("could not refresh deploy {}: {}", d.id, error_text(&e)),
                        ),
                    }
                }
            }
            Err(e) => {
                note = format!(
                    "\n(States as last seen: {} could not be asked: {})",
                    s.backend.name(),
                    error_text(&e)
                )
            }
        }
    }
    let now = text::unix_now();
    let lines: Vec<String> = all.iter().map(|d| d.line(now)).collect();
    Ok(Reply::text(format!(
        "**Recent deploys** (newest first):\n{}{note}",
        lines.join("\n")
    )))
}

fn backend_name(b: Backend) -> &'static str {
    match b {
        Backend::Buildbot => "buildbot",
        Backend::GitHub => "github",
    }
}

fn cancel(id: &str, by: &str) -> Result<Reply, CommandError> {
    if id.is_empty() {
        return Err(CommandError::usage(
            "which deploy? `deploy cancel ID` (IDs are in `deploy status`)",
        ));
    }
    valid_id(id)?;
    let mut d = known(id)?;
    let s = Settings::load()?;
    let ci = ci_for(&s, &d)?;
    if !d.done() {
        match &ci {
            Ci::Buildbot(b) => b.cancel(&mut d, by)?,
            Ci::GitHub(g) => g.cancel(&mut d, by)?,
        }
    } else {
        return Ok(Reply::text(format!(
            "Deploy `{id}` already {}: {}",
            d.state,
            d.line(text::unix_now())
        )));
    }
    log(
        Level::Info,
        format!("{by} cancelled deploy {id} ({})", d.what()),
    );
    let deadline = text::unix_now() + CANCEL_WAIT;
    while !d.done() && text::unix_now() < deadline {
        progress(format!("🛑 Stopping deploy `{id}` ({})…", d.what()));
        std::thread::sleep(Duration::from_secs(1));
        if ci.refresh(&mut d).is_err() {
            break;
        }
    }
    record::save(&d)?;
    Ok(Reply::text(match d.state.as_str() {
        "cancelled" => format!("🛑 Deploy `{id}` ({}) cancelled by {by} — <{}>", d.what(), d.link),
        "succeeded" | "failed" => format!("Deploy `{id}` ({}) finished before it could be stopped: {} — <{}>", d.what(), d.state, d.link),
        _ => format!(
            "🛑 Asked {} to stop deploy `{id}` ({}); it has not stopped yet — `deploy status {id}` — <{}>",
            s.backend.name(),
            d.what(),
            d.link
        ),
    }))
}

plugin!(DeployPlugin);
