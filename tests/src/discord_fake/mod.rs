//! A fake Discord on 127.0.0.1: enough of the REST API and the gateway websocket for a
//! serenity 0.12 bot to connect, register commands, receive interactions and messages,
//! answer them, and survive reconnects. Every REST call is recorded and its body checked
//! against Discord's OpenAPI description, so a test can assert both what the bot did and
//! that Discord would have accepted it.
//!
//! Point serenity at it with `HttpBuilder::new(token).proxy(fake.url())
//! .ratelimiter_disabled(true)` and a reqwest client built with `no_proxy()`; see
//! `tests/tests/discord_fake_smoke.rs` and `shared/discord-fake.md`.
//!
//! Layout: `rest` reads, checks and records requests; `routes` answers them; `gateway`
//! runs the websocket; `events` builds the events tests dispatch; `payloads` builds the
//! JSON objects; `spec` validates against the OpenAPI description.

mod events;
mod faults;
mod gateway;
mod payloads;
mod rest;
mod routes;
mod spec;

use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use axum::Router;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// One REST call the bot made.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    /// e.g. `/api/v10/interactions/1/tok/callback`, without the query.
    pub path: String,
    /// The raw query string without `?` (serenity writes `&k=v`), empty if none.
    pub query: String,
    /// The JSON body (`Null` if none); for multipart, the parsed `payload_json` part.
    pub body: Value,
    /// Uploaded files of a multipart body: (filename, size in bytes).
    pub files: Vec<(String, usize)>,
    /// The status the fake answered with.
    pub status: u16,
    /// The `Authorization` header, e.g. `Bot <token>`.
    pub authorization: Option<String>,
}

/// Knobs for [`FakeDiscord::start_with`].
#[derive(Clone, Debug)]
pub struct FakeOptions {
    /// Sent in Hello. Discord uses ~41 s; a short one makes the bot heartbeat in a test.
    pub heartbeat_interval: Duration,
    /// Answer a request whose body breaks the OpenAPI description with Discord's 400
    /// "Invalid Form Body" (code 50035) instead of serving it. Off by default: the
    /// violation is recorded either way, and serving it keeps a test's flow going.
    pub reject_invalid_bodies: bool,
}

impl Default for FakeOptions {
    fn default() -> Self {
        FakeOptions {
            heartbeat_interval: Duration::from_millis(45_000),
            reject_invalid_bodies: false,
        }
    }
}

/// A running fake Discord. Dropping it stops the server and closes the bot's websocket.
pub struct FakeDiscord {
    shared: Arc<Shared>,
    server: JoinHandle<()>,
    /// The routes, kept to serve them as `https://discord.com` too (see `faults`).
    app: Router,
    /// That TLS server's port and task, once started.
    tls: Mutex<Option<(u16, JoinHandle<()>)>>,
}

/// How often the `wait_*` helpers look again.
const POLL: Duration = Duration::from_millis(10);

impl FakeDiscord {
    pub const APP_ID: u64 = 1_000_000_000_000_000_001;
    /// Deliberately not equal to `APP_ID` (real bots often share the id), so code that
    /// confuses the two fails here.
    pub const BOT_USER_ID: u64 = 1_000_000_000_000_000_002;
    pub const GUILD_ID: u64 = 1_000_000_000_000_000_003;
    /// The text channel interactions arrive from.
    pub const CHANNEL_ID: u64 = 1_000_000_000_000_000_004;
    /// Any token is accepted; this one is as good as any.
    pub const TOKEN: &'static str = "fake-discord-token";

    pub async fn start() -> FakeDiscord {
        Self::start_with(FakeOptions::default()).await
    }

    pub async fn start_with(options: FakeOptions) -> FakeDiscord {
        // Load the OpenAPI description now, not during the first request, so a broken
        // file fails here with its own message.
        spec::spec();
        // Binding an ephemeral loopback port only fails if the machine has no loopback.
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0 for the fake Discord");
        let port = listener
            .local_addr()
            .expect("a bound socket has an address")
            .port();
        let shared = Arc::new(Shared::new(port, options));
        let app = Router::new()
            .route("/gateway", get(gateway::upgrade))
            .fallback(rest::handle)
            .layer(DefaultBodyLimit::max(rest::BODY_LIMIT))
            .with_state(shared.clone());
        let served = app.clone();
        let server = tokio::spawn(async move {
            // serve only returns on an accept error, which a loopback listener does not hit.
            let _ = axum::serve(listener, served).await;
        });
        FakeDiscord {
            shared,
            server,
            app,
            tls: Mutex::new(None),
        }
    }

    /// `http://127.0.0.1:PORT`: what serenity's `HttpBuilder::proxy` takes.
    pub fn url(&self) -> String {
        self.shared.base_url.clone()
    }

    /// Resolves once the bot has identified and READY was sent to it.
    pub async fn wait_ready(&self, timeout: Duration) -> anyhow::Result<()> {
        let s = &self.shared;
        self.wait_until(timeout, || s.identify_count.load(Ordering::SeqCst) > 0)
            .await
            .map_err(|()| {
                anyhow::anyhow!(
                    "the bot did not identify within {timeout:?}\n{}",
                    self.report()
                )
            })
    }

    /// Resolves once the bot has resumed `n` times in all.
    pub async fn wait_resumed(&self, n: usize, timeout: Duration) -> anyhow::Result<()> {
        let s = &self.shared;
        self.wait_until(timeout, || s.resume_count.load(Ordering::SeqCst) >= n)
            .await
            .map_err(|()| {
                anyhow::anyhow!(
                    "the bot did not resume {n} time(s) within {timeout:?}\n{}",
                    self.report()
                )
            })
    }

    /// Sends a dispatch (op 0, next sequence number) to the connected bot; while no
    /// connection is live it is kept and sent after the next READY or RESUMED.
    /// A payload serenity cannot read is reported in [`Self::spec_violations`].
    pub async fn dispatch(&self, event: &str, data: Value) {
        if let Some(why) = events::serenity_problem(event, &data) {
            self.shared.violation(format!(
                "GATEWAY {event}: serenity would not run a handler: {why}"
            ));
        }
        self.shared.gateway().dispatch(event, data);
    }

    /// Sends a dispatch to the connection that identified as gateway shard `shard` (hosts
    /// running a range of shards each); false if no open connection did.
    pub async fn dispatch_to_shard(&self, shard: u64, event: &str, data: Value) -> bool {
        if let Some(why) = events::serenity_problem(event, &data) {
            self.shared.violation(format!(
                "GATEWAY {event}: serenity would not run a handler: {why}"
            ));
        }
        self.shared.gateway().dispatch_to_shard(shard, event, data)
    }

    /// The guilds the bot is in (GUILD_ID unless [`Self::set_guilds`] changed them).
    pub fn guilds(&self) -> Vec<u64> {
        lock(&self.shared.guilds).clone()
    }

    /// Puts the bot in these guilds (before it identifies): each shard's READY lists the
    /// ones that belong to it, and commands may be registered in any of them.
    pub fn set_guilds(&self, guilds: &[u64]) {
        *lock(&self.shared.guilds) = guilds.to_vec();
    }

    /// The shard a guild's events arrive on, as Discord computes it:
    /// `(guild_id >> 22) % num_shards`.
    pub fn shard_of(guild_id: u64, num_shards: u64) -> u64 {
        (guild_id >> 22) % num_shards.max(1)
    }

    /// Sends a dispatch for `guild_id` the way Discord does: to the connection of the
    /// guild's shard when the bot identified with several shards, otherwise as
    /// [`Self::dispatch`] (kept until a connection is live). Returns the shard it went to,
    /// or `None` if no open connection runs that shard.
    pub async fn dispatch_in_guild(&self, guild_id: u64, event: &str, data: Value) -> Option<u64> {
        let total = self.shared.gateway().total_shards();
        if total <= 1 {
            self.dispatch(event, data).await;
            return Some(0);
        }
        let shard = Self::shard_of(guild_id, total);
        self.dispatch_to_shard(shard, event, data)
            .await
            .then_some(shard)
    }

    /// An INTERACTION_CREATE (slash command) from `user_id` with `roles` in GUILD_ID,
    /// channel CHANNEL_ID. `options` is Discord's array form,
    /// `[{"name": "service", "type": 3, "value": "web"}]` (`Null` for none).
    pub fn slash_command(&self, name: &str, options: Value, user_id: u64, roles: &[u64]) -> Value {
        let at = events::Place {
            guild_id: FakeDiscord::GUILD_ID,
            channel_id: FakeDiscord::CHANNEL_ID,
        };
        events::slash_command(&self.shared, at, name, options, user_id, roles)
    }

    /// A slash command in channel `channel_id` of guild `guild_id` (send it with
    /// [`Self::dispatch_in_guild`]); the channel is known to be that guild's from now on.
    pub fn slash_command_in(
        &self,
        guild_id: u64,
        channel_id: u64,
        name: &str,
        options: Value,
        user_id: u64,
        roles: &[u64],
    ) -> Value {
        self.shared.place_channel(channel_id, guild_id);
        let at = events::Place {
            guild_id,
            channel_id,
        };
        events::slash_command(&self.shared, at, name, options, user_id, roles)
    }

    /// An INTERACTION_CREATE for a button press on `message_id`. If the fake knows that
    /// message (the bot sent it) it is embedded as is; otherwise a bot message is made up.
    pub fn button_press(&self, custom_id: &str, user_id: u64, message_id: u64) -> Value {
        events::button_press(&self.shared, custom_id, user_id, &[], message_id)
    }

    /// A button press by a member with these roles (rules are checked again at a press).
    pub fn button_press_with_roles(
        &self,
        custom_id: &str,
        user_id: u64,
        roles: &[u64],
        message_id: u64,
    ) -> Value {
        events::button_press(&self.shared, custom_id, user_id, roles, message_id)
    }

    /// A MESSAGE_CREATE from `author_id` in `channel_id` of GUILD_ID.
    pub fn message(&self, channel_id: u64, content: &str, author_id: u64) -> Value {
        events::message(&self.shared, channel_id, content, author_id)
    }

    /// A MESSAGE_CREATE in channel `channel_id` of guild `guild_id`.
    pub fn message_in(
        &self,
        guild_id: u64,
        channel_id: u64,
        content: &str,
        author_id: u64,
    ) -> Value {
        self.shared.place_channel(channel_id, guild_id);
        events::message(&self.shared, channel_id, content, author_id)
    }

    pub fn requests(&self) -> Vec<Recorded> {
        lock(&self.shared.requests).clone()
    }

    /// Waits for a recorded request matching `pred` (including ones already made).
    pub async fn wait_request(
        &self,
        what: &str,
        pred: impl Fn(&Recorded) -> bool,
        timeout: Duration,
    ) -> anyhow::Result<Recorded> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(r) = lock(&self.shared.requests).iter().find(|r| pred(r)) {
                return Ok(r.clone());
            }
            if tokio::time::Instant::now() >= deadline {
                anyhow::bail!(
                    "no request for {what} within {timeout:?}\n{}",
                    self.report()
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Answers the next `times` REST calls whose path contains `path_contains` with
    /// `status` instead of routing them (they are still recorded and checked).
    pub fn fail_next(&self, path_contains: &str, status: u16, times: usize) {
        lock(&self.shared.failures).push(Failure {
            path_contains: path_contains.to_string(),
            status,
            left: times,
        });
    }

    /// Closes the bot's websocket with no close frame, as a network failure would; the
    /// bot should reconnect and resume (op 6), and gets RESUMED.
    pub async fn drop_connection(&self) {
        self.shared.gateway().drop_live();
    }

    /// Sends op 7 Reconnect; the bot should reconnect and resume.
    pub async fn request_reconnect(&self) {
        self.shared.gateway().request_reconnect();
    }

    /// Answers the next Identify with a close frame of this code instead of READY (4004
    /// makes serenity's `Client::start` fail with an authentication error).
    pub fn close_next_identify(&self, code: u16) {
        self.shared.gateway().set_close_on_identify(Some(code));
    }

    pub fn identify_count(&self) -> usize {
        self.shared.identify_count.load(Ordering::SeqCst)
    }

    pub fn resume_count(&self) -> usize {
        self.shared.resume_count.load(Ordering::SeqCst)
    }

    pub fn heartbeat_count(&self) -> usize {
        self.shared.heartbeat_count.load(Ordering::SeqCst)
    }

    /// Every payload the bot sent on the gateway (Identify, heartbeats, Resume, ...).
    pub fn gateway_received(&self) -> Vec<Value> {
        lock(&self.shared.received).clone()
    }

    /// Commands the bot has registered, as the fake answered them (guild ones carry
    /// `guild_id`).
    pub fn commands(&self) -> Vec<Value> {
        self.shared.store().commands.clone()
    }

    /// The message an interaction's answer created (what `@original` names), once the bot
    /// has answered it; e.g. the message whose buttons a test then presses.
    pub fn original_message(&self, interaction_token: &str) -> Option<u64> {
        self.shared
            .store()
            .interactions
            .get(interaction_token)?
            .original
    }

    /// A message the fake knows (sent by the bot or made up for an event), as it is now.
    pub fn message_by_id(&self, id: u64) -> Option<Value> {
        self.shared.store().messages.get(&id).cloned()
    }

    /// One entry per request whose body breaks Discord's OpenAPI description (or its
    /// command-naming rule), as `"POST /api/v10/...: <problems>"`, plus gateway payloads
    /// serenity could not read (`"GATEWAY ..."`).
    pub fn spec_violations(&self) -> Vec<String> {
        lock(&self.shared.violations).clone()
    }

    async fn wait_until(&self, timeout: Duration, done: impl Fn() -> bool) -> Result<(), ()> {
        let deadline = tokio::time::Instant::now() + timeout;
        while !done() {
            if tokio::time::Instant::now() >= deadline {
                return Err(());
            }
            tokio::time::sleep(POLL).await;
        }
        Ok(())
    }

    /// What the fake has seen, for failure messages.
    fn report(&self) -> String {
        let mut out =
            format!(
            "gateway: {} identify, {} resume, {} heartbeat; ops received: {:?}\nrequests so far:",
            self.identify_count(),
            self.resume_count(),
            self.heartbeat_count(),
            self.gateway_received().iter().map(|f| f["op"].as_u64()).collect::<Vec<_>>(),
        );
        let requests = self.requests();
        if requests.is_empty() {
            out.push_str(" none");
        }
        for r in requests {
            let q = if r.query.is_empty() {
                String::new()
            } else {
                format!("?{}", r.query)
            };
            out.push_str(&format!(
                "\n  {} {}{q} -> {}  {}",
                r.method,
                r.path,
                r.status,
                short(&r.body)
            ));
        }
        let v = self.spec_violations();
        if !v.is_empty() {
            out.push_str(&format!("\nspec violations:\n  {}", v.join("\n  ")));
        }
        out
    }
}

fn short(v: &Value) -> String {
    let s = if v.is_null() {
        String::new()
    } else {
        v.to_string()
    };
    if s.chars().count() > 200 {
        format!("{}…", s.chars().take(200).collect::<String>())
    } else {
        s
    }
}

impl Drop for FakeDiscord {
    fn drop(&mut self) {
        // Aborting the serve task drops the listener and tells every HTTP connection to
        // shut down; websockets are separate tasks and are closed here.
        self.server.abort();
        if let Some((_, tls)) = lock(&self.tls).take() {
            tls.abort();
        }
        self.shared.gateway().shutdown();
    }
}

struct Failure {
    path_contains: String,
    status: u16,
    left: usize,
}

/// State shared by the server tasks and the test's handle.
pub(crate) struct Shared {
    pub base_url: String,
    pub ws_url: String,
    pub heartbeat_interval: Duration,
    pub reject_invalid_bodies: bool,
    ids: AtomicU64,
    requests: Mutex<Vec<Recorded>>,
    violations: Mutex<Vec<String>>,
    failures: Mutex<Vec<Failure>>,
    faults: Mutex<faults::Faults>,
    store: Mutex<routes::Store>,
    gateway: Mutex<gateway::Gateway>,
    /// The guilds the bot is in.
    guilds: Mutex<Vec<u64>>,
    /// The guild of each channel placed in one; any other channel is GUILD_ID's.
    channel_guilds: Mutex<HashMap<u64, u64>>,
    pub received: Mutex<Vec<Value>>,
    pub identify_count: AtomicUsize,
    pub resume_count: AtomicUsize,
    pub heartbeat_count: AtomicUsize,
}

/// Locks ignoring poison: a panicking test thread must not turn every later call on the
/// fake into a second panic that hides the first.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    fn new(port: u16, options: FakeOptions) -> Shared {
        Shared {
            base_url: format!("http://127.0.0.1:{port}"),
            ws_url: format!("ws://127.0.0.1:{port}/gateway"),
            heartbeat_interval: options.heartbeat_interval,
            reject_invalid_bodies: options.reject_invalid_bodies,
            // Fresh snowflakes, well clear of the fixed ids above.
            ids: AtomicU64::new(1_100_000_000_000_000_000),
            requests: Mutex::default(),
            violations: Mutex::default(),
            failures: Mutex::default(),
            faults: Mutex::default(),
            store: Mutex::default(),
            gateway: Mutex::default(),
            guilds: Mutex::new(vec![FakeDiscord::GUILD_ID]),
            channel_guilds: Mutex::default(),
            received: Mutex::default(),
            identify_count: AtomicUsize::new(0),
            resume_count: AtomicUsize::new(0),
            heartbeat_count: AtomicUsize::new(0),
        }
    }

    pub fn next_id(&self) -> u64 {
        self.ids.fetch_add(1, Ordering::SeqCst)
    }

    pub fn store(&self) -> MutexGuard<'_, routes::Store> {
        lock(&self.store)
    }

    pub fn gateway(&self) -> MutexGuard<'_, gateway::Gateway> {
        lock(&self.gateway)
    }

    /// The guilds that belong to shard `id` of `total` (all of them for one shard).
    pub fn guilds_of_shard(&self, id: u64, total: u64) -> Vec<u64> {
        lock(&self.guilds)
            .iter()
            .copied()
            .filter(|g| FakeDiscord::shard_of(*g, total) == id)
            .collect()
    }

    pub fn is_guild(&self, guild_id: u64) -> bool {
        lock(&self.guilds).contains(&guild_id)
    }

    pub fn place_channel(&self, channel_id: u64, guild_id: u64) {
        lock(&self.channel_guilds).insert(channel_id, guild_id);
    }

    /// The guild a channel belongs to.
    pub fn guild_of(&self, channel_id: u64) -> u64 {
        lock(&self.channel_guilds)
            .get(&channel_id)
            .copied()
            .unwrap_or(FakeDiscord::GUILD_ID)
    }

    pub fn violation(&self, v: String) {
        lock(&self.violations).push(v);
    }

    fn record(&self, r: Recorded) {
        lock(&self.requests).push(r);
    }

    /// The status to fail this call with, if a `fail_next` rule matches it.
    fn take_failure(&self, path: &str) -> Option<u16> {
        let mut failures = lock(&self.failures);
        let f = failures
            .iter_mut()
            .find(|f| f.left > 0 && path.contains(&f.path_contains))?;
        f.left -= 1;
        Some(f.status)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guilds_go_to_the_shard_discord_computes() {
        // Discord's formula on the timestamp part of the id: `(guild_id >> 22) % shards`.
        let guild = |t: u64| (t << 22) | 0x3ff;
        assert_eq!(FakeDiscord::shard_of(guild(41), 4), 1);
        assert_eq!(FakeDiscord::shard_of(guild(43), 4), 3);
        assert_eq!(FakeDiscord::shard_of(guild(43), 1), 0);
        let s = Shared::new(1, FakeOptions::default());
        assert_eq!(s.guilds_of_shard(0, 1), [FakeDiscord::GUILD_ID]);
        *lock(&s.guilds) = (40..48).map(guild).collect();
        assert_eq!(s.guilds_of_shard(2, 4), [guild(42), guild(46)]);
        assert_eq!(s.guilds_of_shard(0, 2).len(), 4);
        // A channel placed in a guild is that guild's; any other is GUILD_ID's.
        s.place_channel(7, guild(42));
        assert_eq!(
            (s.guild_of(7), s.guild_of(8)),
            (guild(42), FakeDiscord::GUILD_ID)
        );
    }
}
