//! The Discord adapter, and the only code that knows serenity. Slash commands are
//! registered from the plugins' `describe()`; interactions, buttons and `!cmd` messages go
//! through the same dispatcher as the shell.

mod answer;
mod commands;
mod connect;
pub mod reply;
mod rich;
mod serve;

use crate::bot::Bot;
use crate::config::DiscordConfig;
use crate::dispatch::{Caller, Prefix, Request};
use crate::model::User;
use answer::Target;
pub use connect::Connect;
use serenity::all::{
    ChannelId, Command as SlashCommand, CommandInteraction, ComponentInteraction, Context,
    CreateInteractionResponse, CreateInteractionResponseMessage, EventHandler, GatewayIntents,
    GuildId, Http, HttpBuilder, Interaction, Message, Ready, ResumedEvent, RoleId,
};
use serenity::async_trait;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How the adapter connects. Built from `[discord]` in the config, or by tests.
#[derive(Debug, Clone)]
pub struct Settings {
    pub token: String,
    /// Talk to this server instead of discord.com (tests' fake Discord), rate limiter off.
    pub api_url: Option<String>,
    /// Register commands in these guilds; empty: globally.
    pub guilds: Vec<u64>,
    pub prefix_commands: bool,
    /// Defer an interaction still running after this long (Discord allows 3 s).
    pub defer_after: Duration,
    /// How often to look for changed plugins and re-register.
    pub watch_every: Duration,
}

impl Settings {
    pub fn from_config(d: &DiscordConfig, token: String) -> anyhow::Result<Settings> {
        let guilds = d
            .guilds
            .iter()
            .map(|g| g.parse::<u64>().map_err(|_| anyhow::anyhow!("[discord] guilds: `{g}` is not a guild id (a number; enable developer mode and copy the server id)")))
            .collect::<anyhow::Result<_>>()?;
        Ok(Settings {
            token,
            api_url: d.api_url.clone(),
            guilds,
            prefix_commands: d.prefix_commands,
            defer_after: Duration::from_millis(2000),
            watch_every: Duration::from_secs(1),
        })
    }
}

/// The bot token, from the environment variable or the secret `[discord]` names; never
/// from the config file itself.
pub fn token(_bot: &Arc<Bot>, config: Option<&Path>) -> anyhow::Result<Option<String>> {
    let (d, secrets) = match config {
        Some(path) => {
            let loaded = crate::bot::load_config_or_explain(path)?;
            let store = crate::capabilities::secrets::SecretStore::from_config(&loaded)?;
            (loaded.config.discord.clone(), Some(store))
        }
        None => (DiscordConfig::default(), None),
    };
    if let (Some(name), Some(store)) = (&d.token_secret, &secrets) {
        return match store.lookup(name) {
            Some(t) => Ok(Some(t)),
            None => anyhow::bail!(
                "[discord] token_secret = \"{name}\" has no value: {}",
                store.how_to_set(name)
            ),
        };
    }
    Ok(std::env::var(&d.token_env)
        .ok()
        .filter(|t| !t.trim().is_empty()))
}

/// Connect with the config's settings and serve until Ctrl-C or a fatal gateway error.
pub async fn run(bot: Arc<Bot>, config: Option<&Path>, token: String) -> anyhow::Result<()> {
    let d = match config {
        Some(p) => crate::bot::load_config(p)
            .map(|l| l.config.discord)
            .unwrap_or_default(),
        None => DiscordConfig::default(),
    };
    let connect = Connect {
        token_source: match &d.token_secret {
            Some(name) => format!("the secret `{name}` ([discord] token_secret)"),
            None => format!("the {} environment variable", d.token_env),
        },
        config_path: config
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| crate::config::DEFAULT_PATH.into()),
        shards: match &d.shards {
            Some(s) => Some((s.range().map_err(anyhow::Error::msg)?, s.total)),
            None => None,
        },
        ..Connect::default()
    };
    let settings = Settings::from_config(&d, token)?;
    let dispatcher = bot.dispatcher.clone();
    let mut running = tokio::select! {
        r = start_with(bot, settings, connect) => r?,
        _ = crate::bot::drain::shutdown_signal() => return Ok(()),
    };
    let manager = running.shard_manager.clone();
    tokio::select! {
        r = &mut running.task => running.outcome(r),
        signal = crate::bot::drain::shutdown_signal() => {
            // Running commands finish (or are answered that the bot is restarting) while
            // the gateway is still up to deliver their replies.
            tracing::info!("{signal}: shutting down");
            dispatcher.drain.drain(crate::bot::drain::DEFAULT_DEADLINE).await;
            manager.shutdown_all().await;
            Ok(())
        }
    }
}

/// A connected client, running in the background.
pub struct Running {
    pub shard_manager: Arc<serenity::gateway::ShardManager>,
    pub http: Arc<Http>,
    pub task: tokio::task::JoinHandle<serenity::Result<()>>,
    connect: Arc<Connect>,
}

impl Running {
    /// Waits until the connection ends for good, and says why in the host's words (a
    /// rejected token, a refused intent) with the fix.
    pub async fn wait(mut self) -> anyhow::Result<()> {
        let r = (&mut self.task).await;
        self.outcome(r)
    }

    fn outcome(
        &self,
        r: Result<serenity::Result<()>, tokio::task::JoinError>,
    ) -> anyhow::Result<()> {
        match r {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(anyhow::anyhow!(connect::explain_end(&e, &self.connect))),
            Err(e) => Err(anyhow::anyhow!("the Discord task failed: {e}")),
        }
    }

    pub async fn shutdown(self) {
        self.shard_manager.shutdown_all().await;
        let _ = tokio::time::timeout(Duration::from_secs(5), self.task).await;
    }
}

/// Checks the token, then connects in the background. A token Discord rejects is an
/// error naming the fix; an unreachable Discord is tried again with growing waits.
pub async fn start(bot: Arc<Bot>, settings: Settings) -> anyhow::Result<Running> {
    start_with(bot, settings, Connect::default()).await
}

pub async fn start_with(
    bot: Arc<Bot>,
    settings: Settings,
    connect: Connect,
) -> anyhow::Result<Running> {
    let mut http = HttpBuilder::new(&settings.token);
    if let Some(client) = &connect.http_client {
        http = http.client(client.clone());
    }
    if let Some(url) = &settings.api_url {
        // A local fake: no proxy from the environment, and no client-side rate limiter
        // (serenity only honours a proxy URL with the limiter off).
        let client = reqwest::Client::builder().no_proxy().build()?;
        http = http
            .proxy(url.clone())
            .ratelimiter_disabled(true)
            .client(client);
    }
    let mut intents =
        GatewayIntents::GUILDS | GatewayIntents::GUILD_MESSAGES | GatewayIntents::DIRECT_MESSAGES;
    if settings.prefix_commands {
        intents |= GatewayIntents::MESSAGE_CONTENT;
    }
    let http = http.build();
    let base = settings.api_url.as_deref().unwrap_or("https://discord.com");
    let me = connect::check_token(&http, base, &connect).await?;
    let handler = Handler {
        bot,
        settings: Arc::new(settings),
        watching: AtomicBool::new(false),
        registers: connect.shards.as_ref().is_none_or(|(r, _)| r.start == 0),
    };
    tracing::info!(user = %me.name, "Discord accepted the bot token; connecting to the gateway");
    let mut client = serenity::client::ClientBuilder::new_with_http(http, intents)
        .event_handler(handler)
        .await?;
    let shard_manager = client.shard_manager.clone();
    let http = client.http.clone();
    let task = match connect.shards.clone() {
        Some((range, total)) => {
            crate::store::set_shards(format!("{}..{} of {total}", range.start, range.end));
            tracing::info!("running shards {}..{} of {total}", range.start, range.end);
            // serenity counts the range's end as included.
            let last = range.end - 1;
            tokio::spawn(async move { client.start_shard_range(range.start..last, total).await })
        }
        None => tokio::spawn(async move { client.start().await }),
    };
    Ok(Running {
        shard_manager,
        http,
        task,
        connect: Arc::new(connect),
    })
}

/// Posts for plugins granted `post CHANNEL_ID` (the grant was checked before this runs).
struct Poster(Arc<Http>);

#[async_trait]
impl crate::capabilities::Poster for Poster {
    async fn post(&self, channel: &str, text: &str) -> Result<(), String> {
        let id: u64 = channel
            .parse()
            .map_err(|_| format!("`{channel}` is not a Discord channel id"))?;
        let mut last = Ok(());
        for part in reply::split(text, reply::LIMIT)
            .into_iter()
            .take(reply::MAX_PARTS)
        {
            let sent = ChannelId::new(id).say(&self.0, part).await;
            if let Err(e) = sent {
                let _ = report(
                    &format!("posting to channel {channel} for a plugin"),
                    Err::<(), _>(e),
                );
                last = Err("Discord refused the message; the admin's log has details".to_string());
            }
        }
        last
    }

    async fn post_message(
        &self,
        channel: &str,
        message: &crate::model::Message,
    ) -> Result<(), String> {
        let id: u64 = channel
            .parse()
            .map_err(|_| format!("`{channel}` is not a Discord channel id"))?;
        let parts = rich::parts(&crate::render::Rich::of_message(message));
        let mut m = serenity::all::CreateMessage::new()
            .embeds(parts.embeds)
            .components(parts.components)
            .add_files(parts.files);
        let text: String = message.text.chars().take(reply::LIMIT).collect();
        if !text.is_empty() {
            m = m.content(text);
        }
        let sent = ChannelId::new(id).send_message(&self.0, m).await;
        report(&format!("posting to channel {channel} for a plugin"), sent)
            .map(drop)
            .ok_or_else(|| "Discord refused the message; the admin's log has details".to_string())
    }
}

struct Handler {
    bot: Arc<Bot>,
    settings: Arc<Settings>,
    watching: AtomicBool,
    /// This process runs shard 0 (or all shards): it registers the slash commands.
    registers: bool,
}

/// Log a failed REST call with what was being done; never propagate it.
pub(crate) fn report<T>(what: &str, r: serenity::Result<T>) -> Option<T> {
    match r {
        Ok(v) => Some(v),
        Err(serenity::Error::Http(serenity::http::HttpError::UnsuccessfulRequest(e))) => {
            tracing::warn!(
                status = e.status_code.as_u16(),
                "Discord refused {what}: {} ({} {})",
                e.error.message,
                e.method.as_str(),
                e.url
            );
            None
        }
        Err(e) => {
            tracing::warn!("Discord call failed while {what}: {e}");
            None
        }
    }
}

fn caller(
    user: &serenity::all::User,
    roles: &[RoleId],
    channel: ChannelId,
    guild: Option<GuildId>,
) -> Caller {
    Caller {
        user: User {
            id: user.id.to_string(),
            name: user
                .global_name
                .clone()
                .unwrap_or_else(|| user.name.clone()),
            roles: roles.iter().map(|r| r.to_string()).collect(),
        },
        channel: channel.to_string(),
        guild: guild.map(|g| g.to_string()),
    }
}

async fn register(http: &Http, bot: &Bot, settings: &Settings) {
    let cmds = commands::slash_commands(&bot.dispatcher.commands());
    let n = cmds.len();
    if settings.guilds.is_empty() {
        if report(
            "registering global slash commands",
            SlashCommand::set_global_commands(http, cmds).await,
        )
        .is_some()
        {
            tracing::info!("registered {n} global slash commands (Discord may take up to an hour to show changes)");
        }
    } else {
        for g in &settings.guilds {
            let what = format!("registering slash commands in guild {g}");
            if report(
                &what,
                GuildId::new(*g).set_commands(http, cmds.clone()).await,
            )
            .is_some()
            {
                tracing::info!("registered {n} slash commands in guild {g}");
            }
        }
    }
}

#[async_trait]
impl EventHandler for Handler {
    async fn ready(&self, ctx: Context, ready: Ready) {
        tracing::info!(user = %ready.user.name, guilds = ready.guilds.len(), "connected to Discord");
        self.bot
            .dispatcher
            .set_poster(Arc::new(Poster(ctx.http.clone())));
        // Commands are registered once for the bot, by the process that runs shard 0 (its
        // other shards and processes only answer).
        let registers = self.registers;
        if registers && ready.shard.is_none_or(|s| s.id.0 == 0) {
            register(&ctx.http, &self.bot, &self.settings).await;
        }
        if self.watching.swap(true, Ordering::SeqCst) {
            return;
        }
        // Plugins that change are re-registered, so Discord always offers what runs.
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let _watcher = self.bot.watch(self.settings.watch_every, tx);
        let (http, bot, settings) = (ctx.http.clone(), self.bot.clone(), self.settings.clone());
        tokio::spawn(async move {
            while let Some(change) = rx.recv().await {
                tracing::info!("{change}");
                while rx.try_recv().is_ok() {}
                if registers {
                    register(&http, &bot, &settings).await;
                }
            }
        });
    }

    async fn resume(&self, _ctx: Context, _: ResumedEvent) {
        tracing::info!("Discord session resumed");
    }

    async fn interaction_create(&self, ctx: Context, interaction: Interaction) {
        match interaction {
            Interaction::Command(c) => self.on_command(ctx, c).await,
            Interaction::Component(c) => self.on_button(ctx, c).await,
            Interaction::Autocomplete(c) => self.on_autocomplete(ctx, c).await,
            _ => {}
        }
    }

    async fn message(&self, ctx: Context, msg: Message) {
        if !self.settings.prefix_commands || msg.author.bot {
            return;
        }
        let Some(request) = self.bot.dispatcher.request(&msg.content, Prefix::Required) else {
            return;
        };
        let roles = msg
            .member
            .as_ref()
            .map(|m| m.roles.clone())
            .unwrap_or_default();
        let who = caller(&msg.author, &roles, msg.channel_id, msg.guild_id);
        let target = Target::Channel {
            http: ctx.http.clone(),
            channel: msg.channel_id,
            reply_to: Some(msg.id),
        };
        serve::serve(
            self.bot.clone(),
            who,
            request,
            target,
            self.settings.defer_after,
        )
        .await;
    }
}

/// Who ran a slash command (or is completing one), and which: a subcommand is named as
/// `incident open` (see `Dispatcher::dispatch`), with its own options.
fn invoked(c: &CommandInteraction) -> (Caller, String, &[serenity::all::CommandDataOption]) {
    let roles = c
        .member
        .as_ref()
        .map(|m| m.roles.clone())
        .unwrap_or_default();
    let who = caller(&c.user, &roles, c.channel_id, c.guild_id);
    let (path, options) = commands::path(&c.data.options);
    let name = std::iter::once(c.data.name.clone())
        .chain(path)
        .collect::<Vec<_>>()
        .join(" ");
    (who, name, options)
}

impl Handler {
    async fn on_command(&self, ctx: Context, c: CommandInteraction) {
        let (who, name, options) = invoked(&c);
        let request = Request::Command {
            name,
            args: commands::arguments(options),
        };
        let target = Target::Interaction {
            http: ctx.http.clone(),
            interaction: Box::new(answer::AnyInteraction::Command(c)),
        };
        serve::serve(
            self.bot.clone(),
            who,
            request,
            target,
            self.settings.defer_after,
        )
        .await;
    }

    /// Completing an option while it is typed: answered within the dispatcher's limit
    /// (Discord waits 3 seconds), with no choices when the plugin is slow or fails.
    async fn on_autocomplete(&self, ctx: Context, c: CommandInteraction) {
        let Some(focused) = c.data.autocomplete() else {
            return;
        };
        let (who, name, options) = invoked(&c);
        let limit = crate::dispatch::AUTOCOMPLETE_LIMIT + std::time::Duration::from_millis(300);
        let choices = tokio::time::timeout(
            limit,
            self.bot.dispatcher.complete(
                &who,
                &name,
                focused.name,
                focused.value,
                commands::arguments(options),
            ),
        )
        .await
        .unwrap_or_default();
        let mut answer = serenity::all::CreateAutocompleteResponse::new();
        for ch in choices {
            answer = match focused.kind {
                serenity::all::CommandOptionType::Integer => match ch.value.parse::<i64>() {
                    Ok(v) => answer.add_int_choice(ch.name, v),
                    Err(_) => answer,
                },
                serenity::all::CommandOptionType::Number => match ch.value.parse::<f64>() {
                    Ok(v) => answer.add_number_choice(ch.name, v),
                    Err(_) => answer,
                },
                _ => answer.add_string_choice(ch.name, ch.value),
            };
        }
        let r = c
            .create_response(&ctx.http, CreateInteractionResponse::Autocomplete(answer))
            .await;
        report("answering autocomplete", r);
    }

    /// A plugin's button or menu (contract 0.2): run as the command its action names.
    async fn on_press(&self, ctx: Context, c: ComponentInteraction) {
        let roles = c
            .member
            .as_ref()
            .map(|m| m.roles.clone())
            .unwrap_or_default();
        let who = caller(&c.user, &roles, c.channel_id, c.guild_id);
        let values = match &c.data.kind {
            serenity::all::ComponentInteractionDataKind::StringSelect { values } => values.clone(),
            _ => Vec::new(),
        };
        let custom_id = c.data.custom_id.clone();
        let message_id = c.message.id.to_string();
        let message_text = c.message.content.clone();
        let target = Target::Interaction {
            http: ctx.http.clone(),
            interaction: Box::new(answer::AnyInteraction::Component(c)),
        };
        serve::serve_press(
            self.bot.clone(),
            who,
            custom_id,
            values,
            message_id,
            message_text,
            target,
        )
        .await;
    }

    async fn on_button(&self, ctx: Context, c: ComponentInteraction) {
        if c.data.custom_id.starts_with("cx|") {
            return self.on_press(ctx, c).await;
        }
        let Some((action, token)) = c
            .data
            .custom_id
            .strip_prefix("chatops:")
            .and_then(|s| s.split_once(':'))
        else {
            return;
        };
        let (action, token) = (action.to_string(), token.to_string());
        let roles = c
            .member
            .as_ref()
            .map(|m| m.roles.clone())
            .unwrap_or_default();
        let who = caller(&c.user, &roles, c.channel_id, c.guild_id);
        let private = |text: &str| {
            CreateInteractionResponse::Message(
                CreateInteractionResponseMessage::new()
                    .content(text)
                    .ephemeral(true),
            )
        };
        match self.bot.dispatcher.confirmation_owner(&token).await {
            None => {
                let r = c.create_response(&ctx.http, private("This confirmation has expired or was already answered; run the command again.")).await;
                report("answering an expired confirmation", r);
                return;
            }
            Some(owner) if owner != who.user.id => {
                let r = c
                    .create_response(
                        &ctx.http,
                        private("Only the person who asked can confirm or cancel this command."),
                    )
                    .await;
                report("refusing another user's button press", r);
                return;
            }
            Some(_) => {}
        }
        let accept = action == "confirm";
        let target = Target::Interaction {
            http: ctx.http.clone(),
            interaction: Box::new(answer::AnyInteraction::Component(c)),
        };
        serve::serve_confirmation(self.bot.clone(), who, token, accept, target).await;
    }
}
