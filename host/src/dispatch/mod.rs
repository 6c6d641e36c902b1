//! Adapter-free command routing. An adapter turns a chat event into a [`Request`] and shows
//! the [`Response`]; everything else happens here, once, for every adapter, in small parts:
//! `registry` (what serves which command), `access` (who may), `confirm` (pending
//! dangerous commands), `invoke` (a sandboxed run and its answer through the exit),
//! `events` (webhooks and schedules, for `triggers`), `parse` and `help`.

mod access;
mod admin;
mod confirm;
mod events;
pub mod help;
mod invoke;
pub mod parse;
mod press;
mod registry;

pub use confirm::CONFIRM_TTL;
pub use events::{EventError, EventOutcome};
pub use press::AUTOCOMPLETE_LIMIT;

use crate::capabilities::secrets::SecretStore;
use crate::capabilities::{Grants, Poster, ProgressSink};
use crate::config::{Access, Limits};
use crate::model::{command_line, Argument, Command, Invocation, PluginInfo, User};
use crate::runtime::{CompiledPlugin, Runtime};
use crate::store::Store;
pub use access::Policy;
pub use admin::{AdminAnswer, ChatAdmin, ADMIN_COMMAND};
use confirm::{Confirmations, Pending};
use registry::Registry;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

/// Replies past this are cut (adapters split or attach what they can show).
pub const MAX_REPLY_BYTES: usize = crate::exit::MAX_TEXT_BYTES;

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
    /// A text line without the prefix: `deploy api prod` (see [`Dispatcher::request`]).
    Text(String),
    /// A command with typed arguments (a slash command); they stay typed to the plugin.
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
    /// Embeds, files and components beside the text (contract 0.2), through the exit.
    pub rich: crate::render::Rich,
    /// After a button press: replace the message the button is on instead of answering.
    pub edit: bool,
}

impl Response {
    fn new(kind: Kind, text: impl Into<String>) -> Self {
        let ephemeral = matches!(kind, Kind::Help | Kind::Usage | Kind::Denied | Kind::Failed);
        Response {
            kind,
            text: text.into(),
            ephemeral,
            notices: Vec::new(),
            rich: Default::default(),
            edit: false,
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

/// A plugin ready to serve, with what was granted to its digest and its settings.
pub struct LoadedPlugin {
    pub name: String,
    pub source: Source,
    pub compiled: Arc<CompiledPlugin>,
    pub grants: Arc<Grants>,
    pub limits: Limits,
    pub access: Access,
    /// Rules per command and argument, and cooldowns (`access::Policy`).
    pub policy: Arc<Policy>,
    pub settings: Arc<crate::capabilities::config::Settings>,
}

impl LoadedPlugin {
    pub fn info(&self) -> &PluginInfo {
        &self.compiled.info
    }
}

/// Whether a message must start with the chat prefix to be a command.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Prefix {
    /// Chat messages: only `!cmd …` is a command.
    Required,
    /// The shell and `invoke`: `!cmd`, `/cmd` and `cmd` all are.
    Optional,
}

pub struct Dispatcher {
    runtime: Arc<Runtime>,
    registry: RwLock<Arc<Registry>>,
    secrets: RwLock<Arc<SecretStore>>,
    store: Option<Arc<Store>>,
    /// Group commit of the audit rows (see `audit_writer`); `None` without a store.
    audit: Option<crate::audit_writer::AuditWriter>,
    poster: RwLock<Option<Arc<dyn Poster>>>,
    admins: RwLock<Access>,
    confirmations: Confirmations,
    cooldowns: access::Cooldowns,
    /// What `chatops …` does, when the bot runs from a config file.
    admin: RwLock<Option<Arc<dyn ChatAdmin>>>,
    /// Commands running per plugin, against `max_concurrent`.
    running: Arc<Mutex<HashMap<String, u32>>>,
    /// Commands in flight, and whether the host is shutting down (see `bot::drain`).
    pub drain: crate::bot::drain::Drain,
    prefix: String,
    counter: AtomicU64,
}

impl Dispatcher {
    pub fn new(runtime: Arc<Runtime>, store: Option<Arc<Store>>, prefix: &str) -> Self {
        Dispatcher {
            runtime,
            registry: RwLock::new(Arc::default()),
            secrets: RwLock::new(Arc::new(SecretStore::empty())),
            audit: store.clone().and_then(|s| {
                crate::audit_writer::AuditWriter::start(s)
                    .map_err(|e| tracing::warn!("audit rows written one by one: {e}"))
                    .ok()
            }),
            store,
            poster: RwLock::new(None),
            admins: RwLock::new(Access::default()),
            confirmations: Confirmations::default(),
            cooldowns: access::Cooldowns::default(),
            admin: RwLock::new(None),
            running: Arc::default(),
            drain: Default::default(),
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

    /// Replace every plugin at once. Of two plugins declaring one command, the second is
    /// disabled with a reason naming both (see [`Dispatcher::disabled`]).
    pub fn install(&self, plugins: Vec<LoadedPlugin>, disabled: BTreeMap<String, String>) {
        *write(&self.registry) = Arc::new(Registry::build(plugins, disabled));
    }

    fn registry(&self) -> Arc<Registry> {
        read(&self.registry).clone()
    }

    /// The running plugin called `name`.
    pub fn plugin(&self, name: &str) -> Option<Arc<LoadedPlugin>> {
        self.registry().plugins.get(name).cloned()
    }

    /// A secret's value from the configured providers, for triggers that authenticate
    /// senders (never handed to a plugin that was not granted it).
    pub fn secret(&self, name: &str) -> Option<String> {
        read(&self.secrets).lookup(name)
    }

    pub fn plugins(&self) -> Vec<Arc<LoadedPlugin>> {
        self.registry().plugins.values().cloned().collect()
    }

    pub fn disabled(&self) -> Vec<(String, String)> {
        let reg = self.registry();
        reg.disabled
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// Every command, with the plugin that serves it (for slash-command registration).
    pub fn commands(&self) -> Vec<(String, Command)> {
        self.registry()
            .plugins
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
        access::is_admin(&read(&self.admins), caller)
    }

    /// Whether `caller` may run `plugin`'s commands here; the error says who may.
    pub fn may_run(&self, caller: &Caller, plugin: &LoadedPlugin) -> Result<(), String> {
        access::may_run(&read(&self.admins), caller, plugin)
    }

    /// Whether `caller` may run this invocation (access, then the rules on its command and
    /// arguments); the error names the rule that refused.
    pub fn may_invoke(
        &self,
        caller: &Caller,
        plugin: &LoadedPlugin,
        invocation: &Invocation,
    ) -> Result<(), String> {
        access::may_invoke(&read(&self.admins), caller, plugin, invocation)
    }

    /// The request in a chat message, if it is one. The prefix is handled here and only
    /// here: `!deploy api prod` → `deploy api prod`.
    pub fn request(&self, message: &str, prefix: Prefix) -> Option<Request> {
        let text = message.trim_start();
        let rest = match text.strip_prefix(self.prefix.as_str()) {
            Some(rest) => rest,
            None if prefix == Prefix::Optional => text.strip_prefix('/').unwrap_or(text),
            None => return None,
        };
        if rest.trim().is_empty() || rest.starts_with(char::is_whitespace) {
            return None;
        }
        Some(Request::Text(rest.trim_end().to_string()))
    }

    /// Answer one request. Commands flagged `confirm` answer [`Kind::Confirm`] and run only
    /// when [`Dispatcher::confirm`] is called with the token by the same user.
    pub async fn dispatch(
        &self,
        caller: &Caller,
        request: Request,
        progress: Arc<dyn ProgressSink>,
    ) -> Response {
        let Some(_in_flight) = self.drain.enter() else {
            return self.answer(Response::new(Kind::Failed, crate::bot::drain::REFUSED));
        };
        let r = tokio::select! {
            r = self.dispatch_unsynced(caller, request, progress) => r,
            _ = self.drain.cut() => self.answer(Response::new(Kind::Failed, crate::bot::drain::CUT)),
        };
        self.audit_durable().await;
        r
    }

    /// Its audit row is on disk when the reply leaves: every answer waits for this.
    async fn audit_durable(&self) {
        if let Some(audit) = &self.audit {
            audit.durable().await;
        }
    }

    async fn dispatch_unsynced(
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
        let (name, path, args, line) = match request {
            Request::Text(line) => {
                let words = match parse::tokenize(&line) {
                    Ok(w) => w,
                    Err(e) => {
                        let r = Response::new(Kind::Usage, format!("I could not read that: {e}."));
                        return self.answer(r);
                    }
                };
                let Some((first, rest)) = words.split_first() else {
                    return self.help_as(&shown, caller, None);
                };
                let name = first.to_ascii_lowercase();
                if name == "help" {
                    return self.help_as(&shown, caller, rest.first().map(String::as_str));
                }
                if name == ADMIN_COMMAND {
                    return self.admin_command(caller, &shown, rest.to_vec()).await;
                }
                let Some((_, cmd)) = self.registry().command(&name) else {
                    return self.unknown_as(&shown, &name);
                };
                // `incident open …`: the first words name the subcommand.
                let (path, used) = match cmd.resolve(rest) {
                    Ok(r) => r,
                    Err(e) => return self.answer(self.usage_error_as(&shown, &cmd, &e)),
                };
                let sub = cmd.sub(&path).unwrap_or(cmd);
                match parse::arguments(&sub, &rest[used..]) {
                    Ok(args) => (name, path, args, line),
                    Err(e) => return self.answer(self.usage_error_as(&shown, &sub, &e)),
                }
            }
            Request::Command { name, args } => {
                if name == "help" {
                    let topic = args.first().map(|a| a.value.to_string());
                    let topic = topic.as_deref().map(str::trim).filter(|t| !t.is_empty());
                    return self.help_as(&shown, caller, topic);
                }
                if name == ADMIN_COMMAND {
                    // Discord sends the admin command's words as one text option.
                    let text: Vec<String> = args.iter().map(|a| a.value.to_string()).collect();
                    return match parse::tokenize(&text.join(" ")) {
                        Ok(words) => self.admin_command(caller, &shown, words).await,
                        Err(e) => self.answer(Response::new(
                            Kind::Usage,
                            format!("I could not read that: {e}."),
                        )),
                    };
                }
                // A subcommand comes as `incident open` (adapters join the path).
                let mut words = name.split_whitespace().map(str::to_string);
                let name = words.next().unwrap_or_default();
                let path: Vec<String> = words.collect();
                let mut full = name.clone();
                for p in &path {
                    full.push(' ');
                    full.push_str(p);
                }
                let line = command_line(&full, &args);
                (name, path, args, line)
            }
        };
        let Some((plugin, cmd)) = self.registry().command(&name) else {
            return self.unknown_as(&shown, &name);
        };
        let Some(cmd) = cmd.sub(&path) else {
            let e = cmd
                .resolve(&path)
                .err()
                .unwrap_or_else(|| format!("`{}` needs a subcommand", cmd.name));
            return self.answer(self.usage_error_as(&shown, &cmd, &e));
        };
        if let Err(e) = parse::check(&cmd, &args) {
            return self.answer(self.usage_error_as(&shown, &cmd, &e));
        }
        let invocation = Invocation {
            id: self.next_id(),
            command: name.clone(),
            subcommand: path,
            args,
            user: caller.user.clone(),
            channel: caller.channel.clone(),
            guild: caller.guild.clone(),
        };
        if let Err(why) = self.may_invoke(caller, &plugin, &invocation) {
            let r = Response::new(Kind::Denied, format!("You may not run `{name}`: {why}."));
            return self.refuse(caller, &plugin, &line, r);
        }
        // Said before asking for a confirmation; counted only when the command runs (a
        // command that asks nothing is checked once, as it runs: one store round trip).
        if cmd.confirm || plugin.compiled.asks_confirmation() {
            if let Err(why) = self
                .cooldowns
                .check(self.store.as_deref(), caller, &plugin, &name, false)
                .await
            {
                let r = Response::new(why.kind, format!("{}.", why.text));
                return self.refuse(caller, &plugin, &line, r);
            }
        }
        let question = if cmd.confirm {
            Some(format!("`{shown}{line}` is marked dangerous."))
        } else if plugin.compiled.asks_confirmation() {
            if !plugin.policy.cooldowns.contains_key(&name) {
                // One sandbox asks and, when no confirmation is needed, runs at once. (With
                // a cooldown the run must be counted between the two, so they stay apart.)
                return self
                    .run_call(&shown, caller, plugin, invocation, &line, progress, true)
                    .await;
            }
            match self
                .ask_confirmation(caller, &plugin, &invocation, &line)
                .await
            {
                Ok(question) => question,
                Err(refused) => return refused,
            }
        } else {
            None
        };
        if let Some(question) = question {
            return self
                .ask_to_confirm(&shown, caller, &plugin, invocation, &line, question)
                .await;
        }
        self.run(&shown, caller, plugin, invocation, &line, progress)
            .await
    }

    /// Pend `invocation` and answer with `question` and a confirm button only the caller
    /// may press.
    pub(super) async fn ask_to_confirm(
        &self,
        shown: &str,
        caller: &Caller,
        plugin: &Arc<LoadedPlugin>,
        invocation: Invocation,
        line: &str,
        question: String,
    ) -> Response {
        let name = invocation.command.clone();
        let token = invocation.id.clone();
        let text = format!(
            "{question} Confirm to run it (only {} can).",
            caller.user.name
        );
        self.pend(
            token.clone(),
            Pending {
                user_id: caller.user.id.clone(),
                plugin: plugin.name.clone(),
                digest: plugin.compiled.digest.clone(),
                invocation,
                line: line.to_string(),
                shown: shown.to_string(),
                expires: Instant::now() + CONFIRM_TTL,
            },
        )
        .await;
        // The question may be the plugin's own text: it leaves through the plugin's exit.
        let exit = self.exit_for(plugin, &name, Arc::new(crate::exit::NoProgress));
        let r = Response::new(Kind::Confirm { token }, text);
        self.finish(caller, &plugin.name, line, &exit, r, false, None)
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

fn read<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|e| e.into_inner())
}
fn write<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|e| e.into_inner())
}
fn lock<T>(l: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    l.lock().unwrap_or_else(|e| e.into_inner())
}
