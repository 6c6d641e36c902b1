//! The `chatops` command line: `mod.rs` holds the commands and the author's loop (`run`,
//! `shell`, `invoke`, `trigger`); `plugins` the plugin lifecycle; `admin` grants,
//! settings, `check` and `audit`.

mod admin;
mod dev;
mod plugins;
mod status;
mod trigger;

use crate::bot::{self, Bot};
use crate::config::{self, Loaded};
use crate::dispatch::Caller;
use crate::model::User;
use crate::triggers::manual::Manual;
use anyhow::{bail, Result};
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Parser, Debug)]
#[command(
    name = "chatops",
    version,
    about = "A ChatOps bot host for Discord whose commands are sandboxed WebAssembly plugins"
)]
pub struct Cli {
    /// The configuration file (default: $CHATOPS_CONFIG, or ./chatops.toml if it exists).
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Cmd>,
}

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Connect to Discord (token from $DISCORD_TOKEN or the secrets provider); with no token, start the local shell.
    Run(As),
    /// Chat with the bot on the terminal, through the same dispatcher as Discord.
    Shell {
        #[command(flatten)]
        who: As,
        #[command(flatten)]
        dev: DevArgs,
    },
    /// Run one command against a plugin file and print the reply.
    Invoke {
        /// The plugin component (.wasm).
        plugin: PathBuf,
        /// The command line, e.g. 'roll 2d6 show=each'.
        line: String,
        #[command(flatten)]
        who: As,
        #[command(flatten)]
        grants: GrantArgs,
    },
    /// Fire a plugin's event handler by hand: `schedule NAME`, or `webhook PATH` with
    /// --header and --body. Uses the configured plugins, or --plugin files with --http,
    /// --secret and --setting like the shell.
    Trigger {
        /// The plugin's name.
        plugin: String,
        /// `schedule` or `webhook`.
        kind: String,
        /// The schedule's name, or the webhook path below /hooks/PLUGIN.
        target: String,
        /// The webhook's HTTP method.
        #[arg(long, default_value = "POST")]
        method: String,
        /// A webhook header, `Name: value`; repeatable.
        #[arg(long = "header", value_name = "NAME: VALUE")]
        headers: Vec<String>,
        /// The webhook body: a file, or `-` for standard input.
        #[arg(long, value_name = "FILE")]
        body: Option<PathBuf>,
        #[command(flatten)]
        dev: DevArgs,
    },
    /// Manage the plugins in the configuration.
    #[command(subcommand)]
    Plugins(PluginsCmd),
    /// Grant a plugin a capability: `http URL`, `secret NAME`, `post CHANNEL`, `kv`,
    /// `webhook NAME` (senders authenticate with --bearer or --hmac SECRET; default: bearer
    /// with secret NAME-token) or `schedule NAME` (at its own time, or --cron).
    Grant {
        plugin: String,
        kind: String,
        value: Option<String>,
        /// webhook: senders send `Authorization: Bearer <this secret>`.
        #[arg(long, value_name = "SECRET")]
        bearer: Option<String>,
        /// webhook: senders sign the body, `X-Hub-Signature-256: sha256=<HMAC with this secret>`.
        #[arg(long, value_name = "SECRET")]
        hmac: Option<String>,
        /// schedule: run at this cron time instead of the plugin's own.
        #[arg(long, value_name = "CRON")]
        cron: Option<String>,
    },
    /// Take a capability back.
    Revoke {
        plugin: String,
        kind: String,
        value: Option<String>,
    },
    /// Show a plugin's settings (what it declares it reads, and what is set), or set one:
    /// `chatops config deploy url https://ci.example.com`. Settings are not secrets.
    Config {
        plugin: String,
        key: Option<String>,
        value: Option<String>,
        /// Remove the setting KEY.
        #[arg(long)]
        unset: bool,
    },
    /// Validate the configuration and show what each plugin requests versus what it was granted.
    Check,
    /// List every schedule: its plugin, time, whether it runs, and when it fires next.
    Schedules,
    /// Send a file to a plugin's webhook on the running host, authenticated the way its
    /// grant says (`chatops webhook send alerts alertmanager alert.json`).
    #[command(subcommand)]
    Webhook(WebhookCmd),
    /// Show the audit trail: who ran what, where, and how it went.
    Audit(AuditArgs),
    /// The host processes on this config's store: their shards, last heartbeat, and who
    /// holds each schedule's lease.
    Status {
        /// One JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Create a new plugin project from the template.
    New {
        /// The plugin's name (a-z, 0-9, -, _).
        name: String,
        /// Where to create it (default: ./NAME).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Use this chatops-sdk checkout instead of writing the SDK this binary carries
        /// into the project (for working on the SDK itself).
        #[arg(long)]
        sdk: Option<PathBuf>,
        /// The plugin's language.
        #[arg(long, default_value = "rust")]
        lang: String,
    },
    /// Run a plugin's scenario files (conversation tests; default: ./tests/*.toml) and
    /// print `N passed, N failed`; exits non-zero if any failed.
    Test {
        /// Scenario files, or directories of them.
        paths: Vec<PathBuf>,
        /// The plugin file to test (default: each scenario's `plugin`).
        #[arg(long, value_name = "PATH")]
        plugin: Option<PathBuf>,
    },
    /// Measure a chat command's real path in one process (latency, throughput, cold start,
    /// memory, a fast command among slow ones) and print a table, or JSON.
    Bench {
        /// Plugin file to measure beside the bundled ones (default: the bundled echo).
        plugin: Option<PathBuf>,
        #[command(flatten)]
        grants: GrantArgs,
        #[command(flatten)]
        opts: crate::cli_bench::BenchArgs,
    },
}

#[derive(Subcommand, Debug)]
pub enum WebhookCmd {
    /// POST FILE (or `-` for standard input) to /hooks/PLUGIN/NAME.
    Send {
        plugin: String,
        name: String,
        file: PathBuf,
        /// A header, `Name: value`; repeatable.
        #[arg(long = "header", value_name = "NAME: VALUE")]
        headers: Vec<String>,
        /// The host's address (default: `[webhooks] listen` of the config).
        #[arg(long)]
        to: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum PluginsCmd {
    /// Print a plugin's metadata, commands and requested capabilities.
    Inspect {
        plugin: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Add a plugin to the config: shows what it requests and pins its sha256.
    Add { plugin: PathBuf },
    /// List configured plugins, their digests, status and grants.
    List,
    /// Pin the current build of a plugin after an update, showing what changed in its requests.
    Approve { name: String },
    /// Remove a plugin and its grants from the config.
    Remove { name: String },
}

/// `chatops audit` filters: each narrows the records shown.
#[derive(Args, Debug, Clone)]
pub struct AuditArgs {
    /// The most recent this many records.
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
    /// Part of the actor's name or id.
    #[arg(long)]
    pub user: Option<String>,
    #[arg(long)]
    pub plugin: Option<String>,
    #[arg(long)]
    pub command: Option<String>,
    /// ok, usage, denied, failed, cancelled, busy, or an HTTP status for webhook refusals.
    #[arg(long)]
    pub outcome: Option<String>,
    /// Only records this recent: 30m, 2h, 7d.
    #[arg(long, value_name = "DURATION")]
    pub since: Option<String>,
    /// One JSON object per line (NDJSON).
    #[arg(long)]
    pub json: bool,
    /// Keep printing new records as they are written (Ctrl-C to stop).
    #[arg(long)]
    pub follow: bool,
}

/// Who the shell and `invoke` act as.
#[derive(Args, Debug, Clone)]
pub struct As {
    /// User name.
    #[arg(long, default_value = "you")]
    pub user: String,
    /// User id (default: the user name).
    #[arg(long)]
    pub user_id: Option<String>,
    /// A role the user has; repeatable.
    #[arg(long = "role")]
    pub roles: Vec<String>,
    /// The channel the commands are typed in.
    #[arg(long, default_value = "shell")]
    pub channel: String,
}

impl As {
    pub fn caller(&self) -> Caller {
        Caller {
            user: User {
                id: self.user_id.clone().unwrap_or_else(|| self.user.clone()),
                name: self.user.clone(),
                roles: self.roles.clone(),
            },
            channel: self.channel.clone(),
            guild: None,
        }
    }
}

/// What `invoke` and `bench` grant the plugin file they run.
#[derive(Args, Debug, Clone, Default)]
pub struct GrantArgs {
    /// Grant outbound HTTP to this destination (scheme://host[:port][/path]); repeatable.
    #[arg(long = "http", value_name = "URL")]
    pub http: Vec<String>,
    /// Grant a secret with this value; repeatable.
    #[arg(long = "secret", value_name = "NAME=VALUE")]
    pub secrets: Vec<String>,
    /// A setting the plugin reads through wasi:config; repeatable.
    #[arg(long = "setting", value_name = "KEY=VALUE")]
    pub settings: Vec<String>,
}

impl GrantArgs {
    /// The plugin files with these grants, and the bundled plugins if `with_bundled`.
    pub fn dev(&self, plugins: Vec<PathBuf>, with_bundled: bool) -> Result<bot::Dev> {
        dev::dev_setup(
            plugins,
            &self.http,
            &self.secrets,
            &self.settings,
            with_bundled,
        )
    }
}

/// A plugin author's loop: try plugin files with fake grants, without a config.
#[derive(Args, Debug, Clone, Default)]
pub struct DevArgs {
    /// Load this plugin file (not pinned; reloaded when rebuilt); repeatable.
    #[arg(long = "plugin", value_name = "PATH")]
    pub plugins: Vec<PathBuf>,
    /// Grant the --plugin files outbound HTTP to this destination; repeatable.
    #[arg(long = "http", value_name = "URL")]
    pub http: Vec<String>,
    /// Grant the --plugin files a secret with this value; repeatable.
    #[arg(long = "secret", value_name = "NAME=VALUE")]
    pub secrets: Vec<String>,
    /// Give the --plugin files a setting (read through wasi:config); repeatable.
    #[arg(long = "setting", value_name = "KEY=VALUE")]
    pub settings: Vec<String>,
}

pub async fn main(cli: Cli) -> Result<()> {
    let config = bot::config_path(cli.config.as_deref());
    match cli.command.unwrap_or(Cmd::Run(As {
        user: "you".into(),
        user_id: None,
        roles: vec![],
        channel: "shell".into(),
    })) {
        Cmd::Run(who) => run(config, who).await,
        Cmd::Shell { who, dev } => {
            let bot = dev::start(config, dev, true).await?;
            let _triggers = start_triggers(&bot).await?;
            crate::adapters::shell::run(bot, who.caller()).await
        }
        Cmd::Invoke {
            plugin,
            line,
            who,
            grants,
        } => dev::invoke(grants.dev(vec![plugin], false)?, &line, who).await,
        Cmd::Trigger {
            plugin,
            kind,
            target,
            method,
            headers,
            body,
            dev,
        } => {
            let what = match kind.as_str() {
                "schedule" => Manual::Schedule(target),
                "webhook" => Manual::Webhook {
                    method,
                    path: target,
                    headers,
                    body: trigger::read_body(body.as_deref())?,
                },
                other => {
                    bail!("`{other}` is not an event kind: use `schedule NAME` or `webhook PATH`")
                }
            };
            trigger::trigger(dev::start(config, dev, false).await?, &plugin, what).await
        }
        Cmd::Plugins(p) => plugins::plugins(config, p).await,
        Cmd::Grant {
            plugin,
            kind,
            value,
            bearer,
            hmac,
            cron,
        } => match kind.as_str() {
            "webhook" | "schedule" => {
                let way = admin::TriggerGrant { bearer, hmac, cron };
                admin::grant_trigger(config, &plugin, &kind, value.as_deref(), Some(way))
            }
            _ => admin::grant(config, &plugin, &kind, value.as_deref(), true).await,
        },
        Cmd::Revoke {
            plugin,
            kind,
            value,
        } => match kind.as_str() {
            "webhook" | "schedule" => {
                admin::grant_trigger(config, &plugin, &kind, value.as_deref(), None)
            }
            _ => admin::grant(config, &plugin, &kind, value.as_deref(), false).await,
        },
        Cmd::Schedules => trigger::schedules(config).await,
        Cmd::Webhook(WebhookCmd::Send {
            plugin,
            name,
            file,
            headers,
            to,
        }) => trigger::send(config, &plugin, &name, &file, &headers, to).await,
        Cmd::Config {
            plugin,
            key,
            value,
            unset,
        } => admin::settings(config, &plugin, key.as_deref(), value.as_deref(), unset).await,
        Cmd::Check => admin::check(config).await,
        Cmd::Audit(args) => admin::audit(config, args).await,
        Cmd::Status { json } => status::status(config, json).await,
        Cmd::Test { paths, plugin } => {
            let paths = if paths.is_empty() {
                vec![PathBuf::from("tests")]
            } else {
                paths
            };
            let files = crate::scenario::collect(&paths)?;
            let outcome =
                crate::scenario::run_files(&files, plugin.as_deref(), &mut std::io::stdout())
                    .await?;
            if outcome.failed > 0 {
                std::process::exit(1);
            }
            Ok(())
        }
        Cmd::New {
            name,
            dir,
            sdk,
            lang,
        } => crate::cli_new::new_plugin(&name, dir, sdk, &lang),
        Cmd::Bench {
            plugin,
            grants,
            opts,
        } => {
            let dev = grants.dev(plugin.into_iter().collect(), true)?;
            crate::cli_bench::bench(dev, opts).await
        }
    }
}

/// Webhooks and schedules for a host started from a config (only the clock without one).
async fn start_triggers(bot: &Arc<Bot>) -> Result<crate::triggers::Triggers> {
    let loaded = match &bot.config {
        Some(path) => Some(bot::load_config_or_explain(path)?),
        None => None,
    };
    crate::triggers::start(bot.dispatcher.clone(), loaded.as_ref()).await
}

async fn run(config: Option<PathBuf>, who: As) -> Result<()> {
    let bot = Bot::start(config.as_deref()).await?;
    let token = crate::adapters::discord::token(&bot, config.as_deref())?;
    if token.is_none() {
        // The shell can post before its first line is read: webhooks that arrive as soon
        // as the listener is up (senders retrying after a restart) get their posts out.
        bot.dispatcher
            .set_poster(Arc::new(crate::adapters::shell::PrintPost));
    }
    let triggers = start_triggers(&bot).await?;
    match token {
        Some(token) => crate::adapters::discord::run(bot, config.as_deref(), token).await,
        None => {
            eprintln!("No Discord token (set DISCORD_TOKEN to connect): starting the local shell instead.");
            let mut shell = tokio::spawn(crate::adapters::shell::run(bot.clone(), who.caller()));
            tokio::select! {
                r = &mut shell => r?,
                _ = crate::bot::drain::terminated() => {
                    tracing::info!("SIGTERM: shutting down");
                    bot.dispatcher.drain.drain(crate::bot::drain::DEFAULT_DEADLINE).await;
                    shell.abort();
                    // The leases are given up (and every answered command's audit row is
                    // written) now: a read of stdin still pending would hold the runtime's
                    // shutdown, so the process ends here.
                    drop(triggers);
                    std::process::exit(0)
                }
            }
        }
    }
}

fn config_or_default(config: Option<PathBuf>) -> PathBuf {
    config.unwrap_or_else(|| PathBuf::from(config::DEFAULT_PATH))
}

fn load_config(config: Option<PathBuf>) -> Result<Loaded> {
    bot::load_config_or_explain(&config_or_default(config))
}
