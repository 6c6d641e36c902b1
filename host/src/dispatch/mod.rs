//! Adapter-free command routing: parse, access check, confirmation, invoke, audit. An
//! adapter turns a chat event into a [`Request`] and shows the [`Response`]; everything
//! else happens here, once, for every adapter.

pub mod help;
pub mod parse;
pub mod validate;

use crate::capabilities::kv::KvStore;
use crate::capabilities::secrets::SecretStore;
use crate::capabilities::{CallContext, Grants, Poster, ProgressSink};
use crate::config::{Access, Limits};
use crate::model::{Argument, Command, CommandError, Invocation, PluginInfo, User};
use crate::runtime::{Call, CallResult, CompiledPlugin, Runtime};
use crate::store::{AuditEntry, Store};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use tracing::Instrument;

/// How long a confirmation button stays valid.
pub const CONFIRM_TTL: Duration = Duration::from_secs(300);
/// Replies past this are cut (adapters split or attach what they can show).
pub const MAX_REPLY_BYTES: usize = 256 * 1024;

/// Who is asking, and where.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user: User,
    pub channel: String,
    pub guild: Option<String>,
}

/// What the user asked for.
#[derive(Debug, Clone)]
pub enum Request {
    /// A text line without the prefix: `deploy api prod`.
    Text(String),
    /// A command with typed arguments (a slash command).
    Command { name: String, args: Vec<Argument> },
}

#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    Reply,
    Help,
    Usage,
    Denied,
    Failed,
    /// Nothing ran yet: the user must confirm with this token (or cancel).
    Confirm {
        token: String,
    },
    Cancelled,
}

#[derive(Debug, Clone)]
pub struct Response {
    pub kind: Kind,
    pub text: String,
    /// Shown only to the user who asked.
    pub ephemeral: bool,
    /// For the admin: refusals and redactions during the command, each with its fix.
    pub notices: Vec<String>,
}

impl Response {
    fn new(kind: Kind, text: impl Into<String>) -> Self {
        let ephemeral = matches!(kind, Kind::Help | Kind::Usage | Kind::Denied | Kind::Failed);
        Response {
            kind,
            text: text.into(),
            ephemeral,
            notices: Vec::new(),
        }
    }
    pub fn is_error(&self) -> bool {
        matches!(self.kind, Kind::Usage | Kind::Denied | Kind::Failed)
    }
}

/// Where a plugin came from.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    Bundled,
    File(PathBuf),
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Bundled => write!(f, "bundled"),
            Source::File(p) => write!(f, "{}", p.display()),
        }
    }
}

/// A plugin ready to serve, with what was granted to its digest.
pub struct LoadedPlugin {
    pub name: String,
    pub source: Source,
    pub compiled: Arc<CompiledPlugin>,
    pub grants: Arc<Grants>,
    pub limits: Limits,
    pub access: Access,
}

impl LoadedPlugin {
    pub fn info(&self) -> &PluginInfo {
        &self.compiled.info
    }
}

#[derive(Default)]
struct Registry {
    plugins: BTreeMap<String, Arc<LoadedPlugin>>,
    /// command name → plugin name
    commands: BTreeMap<String, String>,
    /// plugin name → why it is not running
    disabled: BTreeMap<String, String>,
}

struct Pending {
    user_id: String,
    plugin: Arc<LoadedPlugin>,
    invocation: Invocation,
    line: String,
    /// How the command was shown (`/` or the prefix).
    shown: String,
    expires: Instant,
}

pub struct Dispatcher {
    runtime: Arc<Runtime>,
    registry: RwLock<Registry>,
    secrets: RwLock<Arc<SecretStore>>,
    store: Option<Arc<Store>>,
    poster: RwLock<Option<Arc<dyn Poster>>>,
    admins: RwLock<Access>,
    pending: Mutex<HashMap<String, Pending>>,
    /// Commands running per plugin, against `max_concurrent`.
    running: Arc<Mutex<HashMap<String, u32>>>,
    prefix: String,
    counter: AtomicU64,
}

impl Dispatcher {
    pub fn new(runtime: Arc<Runtime>, store: Option<Arc<Store>>, prefix: &str) -> Self {
        Dispatcher {
            runtime,
            registry: RwLock::new(Registry::default()),
            secrets: RwLock::new(Arc::new(SecretStore::empty())),
            store,
            poster: RwLock::new(None),
            admins: RwLock::new(Access::default()),
            pending: Mutex::new(HashMap::new()),
            running: Arc::default(),
            prefix: prefix.to_string(),
            counter: AtomicU64::new(0),
        }
    }

    pub fn runtime(&self) -> &Arc<Runtime> {
        &self.runtime
    }
    pub fn prefix(&self) -> &str {
        &self.prefix
    }
    pub fn store(&self) -> Option<&Arc<Store>> {
        self.store.as_ref()
    }
    pub fn set_secrets(&self, secrets: SecretStore) {
        *write(&self.secrets) = Arc::new(secrets);
    }
    pub fn set_poster(&self, poster: Arc<dyn Poster>) {
        *write(&self.poster) = Some(poster);
    }
    pub fn set_admins(&self, admins: Access) {
        *write(&self.admins) = admins;
    }

    /// Replace every plugin at once. Two plugins declaring one command is refused, naming both.
    pub fn install(
        &self,
        plugins: Vec<LoadedPlugin>,
        disabled: BTreeMap<String, String>,
    ) -> Result<(), String> {
        let mut reg = Registry {
            disabled,
            ..Registry::default()
        };
        for p in plugins {
            for c in &p.info().commands {
                if let Some(other) = reg.commands.get(&c.name) {
                    let first = &reg.plugins[other];
                    return Err(format!(
                        "command `{}` is declared by both plugin `{other}` ({}) and plugin `{}` ({}). Fix: remove one of them from the config",
                        c.name, first.source, p.name, p.source
                    ));
                }
                reg.commands.insert(c.name.clone(), p.name.clone());
            }
            if reg.plugins.contains_key(&p.name) {
                return Err(format!(
                    "two plugins are named `{}` ({} and {}). Fix: load only one",
                    p.name, reg.plugins[&p.name].source, p.source
                ));
            }
            reg.plugins.insert(p.name.clone(), Arc::new(p));
        }
        *write(&self.registry) = reg;
        Ok(())
    }

    pub fn plugins(&self) -> Vec<Arc<LoadedPlugin>> {
        read(&self.registry).plugins.values().cloned().collect()
    }

    pub fn disabled(&self) -> Vec<(String, String)> {
        read(&self.registry)
            .disabled
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// Every command, with the plugin that serves it (for slash-command registration).
    pub fn commands(&self) -> Vec<(String, Command)> {
        let reg = read(&self.registry);
        reg.plugins
            .values()
            .flat_map(|p| {
                p.info()
                    .commands
                    .iter()
                    .map(|c| (p.name.clone(), c.clone()))
            })
            .collect()
    }

    fn is_admin(&self, caller: &Caller) -> bool {
        let admins = read(&self.admins);
        admins.users.contains(&caller.user.id)
            || caller.user.roles.iter().any(|r| admins.roles.contains(r))
    }

    /// Whether `caller` may run `plugin`'s commands here; the error says who may.
    pub fn may_run(&self, caller: &Caller, plugin: &LoadedPlugin) -> Result<(), String> {
        if self.is_admin(caller) {
            return Ok(());
        }
        let a = &plugin.access;
        if !a.channels.is_empty() && !a.channels.contains(&caller.channel) {
            return Err(format!(
                "`{}` commands can only be run in these channels: {}",
                plugin.name,
                a.channels.join(", ")
            ));
        }
        let restricted = !a.users.is_empty() || !a.roles.is_empty();
        let allowed = a.users.contains(&caller.user.id)
            || caller.user.roles.iter().any(|r| a.roles.contains(r));
        if restricted && !allowed {
            let mut who = Vec::new();
            if !a.roles.is_empty() {
                who.push(format!("roles {}", a.roles.join(", ")));
            }
            if !a.users.is_empty() {
                who.push(format!("{} named user(s)", a.users.len()));
            }
            return Err(format!(
                "`{}` commands are limited to {}. Ask an admin for access",
                plugin.name,
                who.join(" and ")
            ));
        }
        Ok(())
    }

    fn lookup(&self, name: &str) -> Option<(Arc<LoadedPlugin>, Command)> {
        let reg = read(&self.registry);
        let plugin = reg.plugins.get(reg.commands.get(name)?)?.clone();
        let cmd = plugin
            .info()
            .commands
            .iter()
            .find(|c| c.name == name)?
            .clone();
        Some((plugin, cmd))
    }

    /// Answer one request. Commands flagged `confirm` answer [`Kind::Confirm`] and run only
    /// when [`Dispatcher::confirm`] is called with the token by the same user.
    pub async fn dispatch(
        &self,
        caller: &Caller,
        request: Request,
        progress: Arc<dyn ProgressSink>,
    ) -> Response {
        // Slash commands are shown as `/name`, text commands with the chat prefix.
        let shown = match &request {
            Request::Text(_) => self.prefix.clone(),
            Request::Command { .. } => "/".to_string(),
        };
        let shown = shown.as_str();
        let (name, args, line) = match request {
            Request::Text(line) => {
                let words = match parse::tokenize(&line) {
                    Ok(w) => w,
                    Err(e) => {
                        return Response::new(Kind::Usage, format!("I could not read that: {e}."))
                    }
                };
                let Some((first, rest)) = words.split_first() else {
                    return self.help_as(shown, caller, None);
                };
                let name = first.trim_start_matches(['/', '!']).to_ascii_lowercase();
                if name == "help" {
                    return self.help_as(
                        shown,
                        caller,
                        rest.first().map(|s| s.trim_start_matches(['/', '!'])),
                    );
                }
                let Some((_, cmd)) = self.lookup(&name) else {
                    return self.unknown_as(shown, &name);
                };
                match parse::arguments(&cmd, rest) {
                    Ok(args) => (name, args, line),
                    Err(e) => return self.usage_error_as(shown, &cmd, &e),
                }
            }
            Request::Command { name, args } => {
                if name == "help" {
                    let topic = args.first().map(|a| a.value.to_string());
                    let topic = topic
                        .as_deref()
                        .map(|t| t.trim().trim_start_matches(['/', '!']));
                    return self.help_as(shown, caller, topic.filter(|t| !t.is_empty()));
                }
                let line = std::iter::once(name.clone())
                    .chain(args.iter().map(|a| format!("{}={}", a.name, a.value)))
                    .collect::<Vec<_>>()
                    .join(" ");
                (name, args, line)
            }
        };
        let Some((plugin, cmd)) = self.lookup(&name) else {
            return self.unknown_as(shown, &name);
        };
        if let Err(e) = parse::check(&cmd, &args) {
            return self.usage_error_as(shown, &cmd, &e);
        }
        if let Err(why) = self.may_run(caller, &plugin) {
            self.audit(caller, &plugin.name, &line, "denied", &why);
            return Response::new(Kind::Denied, format!("You may not run `{name}`: {why}."));
        }
        let invocation = Invocation {
            id: self.next_id(),
            command: name.clone(),
            args,
            user: caller.user.clone(),
            channel: caller.channel.clone(),
            guild: caller.guild.clone(),
        };
        if cmd.confirm {
            let token = invocation.id.clone();
            let text = format!(
                "`{shown}{line}` is marked dangerous. Confirm to run it (only {} can).",
                caller.user.name
            );
            let mut pending = lock(&self.pending);
            pending.retain(|_, p| p.expires > Instant::now());
            pending.insert(
                token.clone(),
                Pending {
                    user_id: caller.user.id.clone(),
                    plugin,
                    invocation,
                    line,
                    shown: shown.to_string(),
                    expires: Instant::now() + CONFIRM_TTL,
                },
            );
            return Response::new(Kind::Confirm { token }, text);
        }
        self.run(shown, caller, plugin, invocation, &line, progress)
            .await
    }

    /// Who may answer a pending confirmation (`None` if it expired or was answered).
    pub fn confirmation_owner(&self, token: &str) -> Option<String> {
        lock(&self.pending)
            .get(token)
            .filter(|p| p.expires > Instant::now())
            .map(|p| p.user_id.clone())
    }

    /// The answer to a Confirm/Cancel press. Only the user who asked can answer.
    pub async fn confirm(
        &self,
        caller: &Caller,
        token: &str,
        accept: bool,
        progress: Arc<dyn ProgressSink>,
    ) -> Response {
        let pending = {
            let mut map = lock(&self.pending);
            match map.get(token) {
                None => None,
                Some(p) if p.user_id != caller.user.id => {
                    return Response::new(
                        Kind::Denied,
                        "Only the person who asked can confirm or cancel this command.",
                    );
                }
                Some(_) => map.remove(token),
            }
        };
        let Some(p) = pending.filter(|p| p.expires > Instant::now()) else {
            return Response::new(
                Kind::Failed,
                "This confirmation has expired or was already answered; run the command again.",
            );
        };
        if !accept {
            self.audit(caller, &p.plugin.name, &p.line, "cancelled", "");
            return Response::new(
                Kind::Cancelled,
                format!("Cancelled `{}{}`; nothing ran.", p.shown, p.line),
            );
        }
        self.run(&p.shown, caller, p.plugin, p.invocation, &p.line, progress)
            .await
    }

    async fn run(
        &self,
        shown: &str,
        caller: &Caller,
        plugin: Arc<LoadedPlugin>,
        invocation: Invocation,
        line: &str,
        progress: Arc<dyn ProgressSink>,
    ) -> Response {
        let command = invocation.command.clone();
        let Some(_slot) = Slot::take(&self.running, &plugin.name, plugin.limits.max_concurrent)
        else {
            let max = plugin.limits.max_concurrent;
            let text = format!("`{command}` is busy: plugin `{}` is already running {max} command(s). Try again in a moment.", plugin.name);
            let ctx = CallContext::ungranted(&plugin.name, plugin.limits.clone());
            ctx.notice(format!("plugin `{}` hit max_concurrent = {max}; raise it under [plugins.{}.limits] if this is normal load", plugin.name, plugin.name));
            return self.finish(
                caller,
                &plugin.name,
                line,
                &ctx,
                Response::new(Kind::Failed, text),
            );
        };
        let span = tracing::info_span!("command", plugin = %plugin.name, command = %command, user = %caller.user.name, id = %invocation.id);
        let ctx = CallContext {
            plugin: plugin.name.clone(),
            command: command.clone(),
            grants: plugin.grants.clone(),
            limits: plugin.limits.clone(),
            secrets: read(&self.secrets).clone(),
            kv: self.store.clone().map(|store| Arc::new(KvStore { store })),
            progress,
            poster: read(&self.poster).clone(),
            notices: Default::default(),
        };
        let started = Instant::now();
        let result = self
            .runtime
            .call(&plugin.compiled, ctx.clone(), Call::Run(invocation))
            .instrument(span.clone())
            .await;
        span.in_scope(|| tracing::info!(elapsed_ms = started.elapsed().as_millis() as u64, "ran"));
        let mut response = match result {
            Ok(CallResult::Run(Ok(reply))) => {
                let (mut text, redacted) = ctx.redact(&reply.text);
                if redacted {
                    ctx.notice(format!(
                        "redacted a secret value from the reply of `{command}` (plugin `{}`)",
                        plugin.name
                    ));
                    text.push_str("\n(a secret value was redacted from this reply)");
                }
                if text.len() > MAX_REPLY_BYTES {
                    let total = text.len();
                    let mut cut = MAX_REPLY_BYTES;
                    while !text.is_char_boundary(cut) {
                        cut -= 1;
                    }
                    text.truncate(cut);
                    text.push_str(&format!(
                        "\n… (reply cut at {MAX_REPLY_BYTES} of {total} bytes)"
                    ));
                }
                let mut r = Response::new(Kind::Reply, text);
                r.ephemeral = reply.ephemeral;
                r
            }
            Ok(CallResult::Run(Err(e))) => {
                let (text, kind) = match e {
                    CommandError::Usage(m) => {
                        let (_, cmd) = self.lookup(&command).unwrap_or((
                            plugin.clone(),
                            Command {
                                name: command.clone(),
                                description: String::new(),
                                options: vec![],
                                confirm: false,
                            },
                        ));
                        return self.finish(
                            caller,
                            &plugin.name,
                            line,
                            &ctx,
                            self.usage_error_as(shown, &cmd, &ctx.redact(&m).0),
                        );
                    }
                    CommandError::Denied(m) => (
                        format!("`{command}` refused: {}", ctx.redact(&m).0),
                        Kind::Denied,
                    ),
                    CommandError::Failed(m) => (
                        format!("`{command}` failed: {}", ctx.redact(&m).0),
                        Kind::Failed,
                    ),
                };
                Response::new(kind, text)
            }
            Ok(_) => Response::new(
                Kind::Failed,
                format!("`{command}` failed: the plugin answered with the wrong kind of result"),
            ),
            Err(e) => Response::new(
                Kind::Failed,
                format!("`{command}` (plugin `{}`) {e}.", plugin.name),
            ),
        };
        response.notices = ctx.take_notices();
        self.finish(caller, &plugin.name, line, &ctx, response)
    }

    fn finish(
        &self,
        caller: &Caller,
        plugin: &str,
        line: &str,
        ctx: &CallContext,
        mut r: Response,
    ) -> Response {
        r.notices.extend(ctx.take_notices());
        let outcome = match r.kind {
            Kind::Reply => "ok",
            Kind::Usage => "usage",
            Kind::Denied => "denied",
            _ => "failed",
        };
        let detail = if r.kind == Kind::Reply {
            String::new()
        } else {
            r.text.clone()
        };
        self.audit(caller, plugin, &ctx.redact(line).0, outcome, &detail);
        r
    }

    fn audit(&self, caller: &Caller, plugin: &str, line: &str, outcome: &str, detail: &str) {
        let Some(store) = &self.store else { return };
        let entry = AuditEntry {
            at: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
            actor: format!("{} ({})", caller.user.name, caller.user.id),
            channel: caller.channel.clone(),
            plugin: plugin.to_string(),
            command: line.split_whitespace().next().unwrap_or("").to_string(),
            args: line.to_string(),
            outcome: outcome.to_string(),
            detail: detail.to_string(),
        };
        if let Err(e) = store.audit(&entry) {
            tracing::error!("could not write the audit trail: {e}");
        }
    }

    fn usage_error_as(&self, prefix: &str, cmd: &Command, message: &str) -> Response {
        Response::new(
            Kind::Usage,
            format!(
                "{message}\nUsage: `{}`  (`{}help {}` for details)",
                help::usage(prefix, cmd),
                prefix,
                cmd.name
            ),
        )
    }

    fn unknown_as(&self, prefix: &str, name: &str) -> Response {
        let reg = read(&self.registry);
        let close: Vec<&String> = reg.commands.keys().filter(|c| similar(c, name)).collect();
        let hint = match close.first() {
            Some(c) => format!(" Did you mean `{}{c}`?", prefix),
            None => String::new(),
        };
        Response::new(
            Kind::Usage,
            format!(
                "There is no command `{name}`.{hint} Type `{}help` to see what you can run.",
                prefix
            ),
        )
    }

    /// Help lists only what the caller may run.
    pub fn help(&self, caller: &Caller, topic: Option<&str>) -> Response {
        self.help_as(&self.prefix, caller, topic)
    }

    fn help_as(&self, prefix: &str, caller: &Caller, topic: Option<&str>) -> Response {
        if let Some(topic) = topic {
            return match self.lookup(topic) {
                Some((p, cmd)) if self.may_run(caller, &p).is_ok() => {
                    Response::new(Kind::Help, help::command(prefix, p.info(), &cmd))
                }
                _ => self.unknown_as(prefix, topic),
            };
        }
        let plugins = self.plugins();
        let visible: Vec<&PluginInfo> = plugins
            .iter()
            .filter(|p| self.may_run(caller, p).is_ok())
            .map(|p| p.info())
            .collect();
        let disabled = if self.is_admin(caller) {
            self.disabled()
        } else {
            Vec::new()
        };
        Response::new(Kind::Help, help::overview(prefix, &visible, &disabled))
    }

    fn next_id(&self) -> String {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_micros();
        format!("{:x}-{n}", t)
    }
}

/// A running command's place in its plugin's `max_concurrent`, given back on drop.
struct Slot {
    running: Arc<Mutex<HashMap<String, u32>>>,
    plugin: String,
}

impl Slot {
    fn take(running: &Arc<Mutex<HashMap<String, u32>>>, plugin: &str, max: u32) -> Option<Slot> {
        let mut map = lock(running);
        let n = map.entry(plugin.to_string()).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(Slot {
            running: running.clone(),
            plugin: plugin.to_string(),
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(n) = lock(&self.running).get_mut(&self.plugin) {
            *n = n.saturating_sub(1);
        }
    }
}

/// Same length give or take one, and at most one letter different, or a prefix.
fn similar(a: &str, b: &str) -> bool {
    if a.starts_with(b) || b.starts_with(a) {
        return b.len() >= 2;
    }
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    if a.len().abs_diff(b.len()) > 1 {
        return false;
    }
    let same = a.iter().zip(b.iter()).filter(|(x, y)| x == y).count();
    a.len().max(b.len()) - same <= 1
}

fn read<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|e| e.into_inner())
}
fn write<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|e| e.into_inner())
}
fn lock<T>(l: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    l.lock().unwrap_or_else(|e| e.into_inner())
}
