//! The `chatops` command line.

use crate::bot::{self, Bot, Dev};
use crate::capabilities::http::HttpGrant;
use crate::capabilities::secrets::{SecretStore, MIN_REDACTED_LEN};
use crate::capabilities::Grants;
use crate::config::edit::{ConfigFile, Grant};
use crate::config::{self, Loaded};
use crate::dispatch::{help, Caller, Request};
use crate::model::{Capability, User};
use crate::runtime::{sha256_hex, Runtime};
use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
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
        /// Grant outbound HTTP to this destination (scheme://host[:port][/path]); repeatable.
        #[arg(long = "http", value_name = "URL")]
        http: Vec<String>,
        /// Grant a secret with this value; repeatable.
        #[arg(long = "secret", value_name = "NAME=VALUE")]
        secrets: Vec<String>,
    },
    /// Manage the plugins in the configuration.
    #[command(subcommand)]
    Plugins(PluginsCmd),
    /// Grant a plugin a capability: `http URL`, `secret NAME`, `post CHANNEL` or `kv`.
    Grant {
        plugin: String,
        kind: String,
        value: Option<String>,
    },
    /// Take a capability back.
    Revoke {
        plugin: String,
        kind: String,
        value: Option<String>,
    },
    /// Validate the configuration and show what each plugin requests versus what it was granted.
    Check,
    /// Show the audit trail: who ran what, where, and how it went.
    Audit {
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// Create a new plugin project from the template.
    New {
        /// The plugin's name (a-z, 0-9, -, _).
        name: String,
        /// Where to create it (default: ./NAME).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Path to the chatops-sdk crate (default: the sdk beside this binary's source).
        #[arg(long)]
        sdk: Option<PathBuf>,
    },
    /// Measure instantiate+run time and memory of plugins inside one process.
    Bench {
        /// Plugin file to measure (default: the bundled echo plugin).
        plugin: Option<PathBuf>,
        /// Command line to run.
        #[arg(long, default_value = "echo hello")]
        line: String,
        #[arg(long, default_value_t = 2000)]
        iterations: u32,
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
}

fn dev_setup(
    plugins: Vec<PathBuf>,
    http: &[String],
    secrets: &[String],
    with_bundled: bool,
) -> Result<Dev> {
    let mut grants = Grants::default();
    for h in http {
        grants.http.push(h.parse::<HttpGrant>()?);
    }
    let mut values = HashMap::new();
    for s in secrets {
        let (k, v) = s
            .split_once('=')
            .with_context(|| format!("--secret `{s}`: write NAME=VALUE"))?;
        grants.secrets.push(k.to_string());
        values.insert(k.to_string(), v.to_string());
    }
    grants.kv = true;
    Ok(Dev {
        plugins,
        grants,
        secrets: values,
        with_bundled,
    })
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
            let bot = if dev.plugins.is_empty() {
                if !dev.http.is_empty() || !dev.secrets.is_empty() {
                    bail!("--http and --secret grant to --plugin files; to grant configured plugins use `chatops grant`");
                }
                Bot::start(config.as_deref()).await?
            } else {
                Bot::start_dev(dev_setup(dev.plugins, &dev.http, &dev.secrets, true)?).await?
            };
            crate::adapters::shell::run(bot, who.caller()).await
        }
        Cmd::Invoke {
            plugin,
            line,
            who,
            http,
            secrets,
        } => invoke(plugin, &line, who, &http, &secrets).await,
        Cmd::Plugins(p) => plugins(config, p).await,
        Cmd::Grant {
            plugin,
            kind,
            value,
        } => grant(config, &plugin, &kind, value.as_deref(), true).await,
        Cmd::Revoke {
            plugin,
            kind,
            value,
        } => grant(config, &plugin, &kind, value.as_deref(), false).await,
        Cmd::Check => check(config).await,
        Cmd::Audit { limit } => audit(config, limit),
        Cmd::New { name, dir, sdk } => crate::cli_new::new_plugin(&name, dir, sdk),
        Cmd::Bench {
            plugin,
            line,
            iterations,
        } => crate::cli_bench::bench(plugin, &line, iterations).await,
    }
}

async fn run(config: Option<PathBuf>, who: As) -> Result<()> {
    let bot = Bot::start(config.as_deref()).await?;
    match crate::adapters::discord::token(&bot, config.as_deref())? {
        Some(token) => crate::adapters::discord::run(bot, config.as_deref(), token).await,
        None => {
            eprintln!("No Discord token (set DISCORD_TOKEN to connect): starting the local shell instead.");
            crate::adapters::shell::run(bot, who.caller()).await
        }
    }
}

async fn invoke(
    plugin: PathBuf,
    line: &str,
    who: As,
    http: &[String],
    secrets: &[String],
) -> Result<()> {
    let bot = Bot::start_dev(dev_setup(vec![plugin], http, secrets, false)?).await?;
    let progress: Arc<dyn crate::capabilities::ProgressSink> = Arc::new(StderrProgress);
    let caller = who.caller();
    let text = line.trim().trim_start_matches(['!', '/']).to_string();
    let mut response = bot
        .dispatcher
        .dispatch(&caller, Request::Text(text), progress.clone())
        .await;
    if let crate::dispatch::Kind::Confirm { token } = &response.kind {
        eprintln!("(`invoke` confirms dangerous commands by itself)");
        response = bot.dispatcher.confirm(&caller, token, true, progress).await;
    }
    crate::adapters::shell::show(&response);
    if response.is_error() {
        std::process::exit(1);
    }
    Ok(())
}

struct StderrProgress;
impl crate::capabilities::ProgressSink for StderrProgress {
    fn progress(&self, text: &str) {
        eprintln!("… {text}");
    }
}

fn config_or_default(config: Option<PathBuf>) -> PathBuf {
    config.unwrap_or_else(|| PathBuf::from(config::DEFAULT_PATH))
}

fn load_config(config: Option<PathBuf>) -> Result<Loaded> {
    let path = config_or_default(config);
    config::load(&path).map_err(|errors| {
        anyhow::anyhow!(errors
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n"))
    })
}

/// Describe a plugin file in a throwaway sandbox with nothing granted.
async fn describe(path: &Path) -> Result<(crate::model::PluginInfo, String)> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let runtime = Runtime::new()?;
    let compiled = runtime
        .load(
            &bytes,
            &path.display().to_string(),
            &config::Limits::default(),
        )
        .await?;
    Ok((compiled.info.clone(), compiled.digest.clone()))
}

fn print_requests(name: &str, info: &crate::model::PluginInfo) {
    if info.capabilities.is_empty() {
        println!("It requests no capabilities.");
        return;
    }
    println!("It requests:");
    for r in &info.capabilities {
        println!("  {} — {}", r.capability.describe(), r.reason);
    }
    println!("Nothing is granted until you grant it, e.g.:");
    for r in &info.capabilities {
        let cmd = match &r.capability {
            Capability::Http(u) if u.contains("://") => format!("chatops grant {name} http {u}"),
            Capability::Http(_) => format!("chatops grant {name} http https://SITE"),
            Capability::Secret(s) => format!("chatops grant {name} secret {s}"),
            Capability::Kv => format!("chatops grant {name} kv"),
            Capability::Post(c) => format!("chatops grant {name} post {c}"),
            Capability::Webhook(_) | Capability::Schedule(_) => continue,
        };
        println!("  {cmd}");
    }
}

async fn plugins(config: Option<PathBuf>, cmd: PluginsCmd) -> Result<()> {
    match cmd {
        PluginsCmd::Inspect { plugin, json } => {
            let (info, digest) = describe(&plugin).await?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(
                        &serde_json::json!({"sha256": digest, "info": info})
                    )?
                );
                return Ok(());
            }
            println!("{} {} — {}", info.name, info.version, info.description);
            println!("sha256 {digest}");
            println!("Commands:");
            for c in &info.commands {
                println!(
                    "  {}\n",
                    help::command("!", &info, c).replace('\n', "\n    ")
                );
            }
            print_requests(&info.name, &info);
            Ok(())
        }
        PluginsCmd::Add { plugin } => {
            let (info, digest) = describe(&plugin).await?;
            let path = config_or_default(config);
            let mut file = ConfigFile::open_or_new(&path)?;
            let dir = path
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            let rel = relative_to(&plugin, dir);
            file.add_plugin(&info.name, &rel, &digest)?;
            file.save()?;
            println!(
                "Added plugin `{}` {} from {rel} to {}",
                info.name,
                info.version,
                path.display()
            );
            println!("Pinned sha256 {digest}");
            print_requests(&info.name, &info);
            remember_requests(&path, &info.name, &digest, &info);
            Ok(())
        }
        PluginsCmd::List => {
            let loaded = load_config(config)?;
            if loaded.config.plugins.is_empty() {
                println!(
                    "No plugins configured in {}. Add one with `chatops plugins add PATH`.",
                    loaded.path.display()
                );
            }
            for (name, p) in &loaded.config.plugins {
                let file = loaded.resolve(&p.path);
                let status = match std::fs::read(&file) {
                    Err(_) => "missing file".to_string(),
                    Ok(bytes) if sha256_hex(&bytes) == p.sha256 => "approved".to_string(),
                    Ok(_) => format!("CHANGED: not running until `chatops plugins approve {name}`"),
                };
                println!(
                    "{name}  {}  sha256 {}…  {status}",
                    p.path.display(),
                    &p.sha256.get(..12).unwrap_or(&p.sha256)
                );
                let g = &p.grants;
                let mut grants: Vec<String> = g.http.iter().map(|h| format!("http {h}")).collect();
                grants.extend(g.secrets.iter().map(|s| format!("secret {s}")));
                grants.extend(g.post.iter().map(|s| format!("post {s}")));
                if g.kv {
                    grants.push("kv".into());
                }
                println!(
                    "    grants: {}",
                    if grants.is_empty() {
                        "none".into()
                    } else {
                        grants.join(", ")
                    }
                );
            }
            Ok(())
        }
        PluginsCmd::Approve { name } => {
            let loaded = load_config(config.clone())?;
            let pc = loaded
                .config
                .plugins
                .get(&name)
                .with_context(|| format!("no plugin `{name}` in {}", loaded.path.display()))?;
            let file = loaded.resolve(&pc.path);
            let (info, digest) = describe(&file).await?;
            if info.name != name {
                bail!("{} now describes itself as `{}`, not `{name}`; remove `{name}` and add it again", file.display(), info.name);
            }
            if digest == pc.sha256 {
                println!("`{name}` is already approved at sha256 {digest}.");
                return Ok(());
            }
            println!(
                "Approving `{name}` {}: sha256 {} → {digest}",
                info.version, pc.sha256
            );
            let old = recall_requests(&loaded.path, &name, &pc.sha256);
            let now: Vec<String> = info
                .capabilities
                .iter()
                .map(|r| r.capability.describe())
                .collect();
            match old {
                Some(old) => {
                    let added: Vec<&String> = now.iter().filter(|c| !old.contains(c)).collect();
                    let dropped: Vec<&String> = old.iter().filter(|c| !now.contains(c)).collect();
                    if added.is_empty() && dropped.is_empty() {
                        println!("Its requests did not change.");
                    }
                    for c in added {
                        println!("  + now requests {c}");
                    }
                    for c in dropped {
                        println!("  - no longer requests {c}");
                    }
                }
                None => {
                    println!("(the previous build's requests were not recorded; it requests now:)");
                    for c in &now {
                        println!("  {c}");
                    }
                }
            }
            let mut file = ConfigFile::open(&loaded.path)?;
            file.set_digest(&name, &digest)?;
            file.save()?;
            remember_requests(&loaded.path, &name, &digest, &info);
            println!("Approved. Its grants now apply to this build; a running host reloads it within a second.");
            Ok(())
        }
        PluginsCmd::Remove { name } => {
            let path = config_or_default(config);
            let mut file = ConfigFile::open(&path)?;
            file.remove_plugin(&name)?;
            file.save()?;
            println!("Removed `{name}` and its grants from {}.", path.display());
            Ok(())
        }
    }
}

/// What a digest requested, kept in the store so `approve` can show what changed.
fn remember_requests(config: &Path, name: &str, digest: &str, info: &crate::model::PluginInfo) {
    let caps: Vec<String> = info
        .capabilities
        .iter()
        .map(|r| r.capability.describe())
        .collect();
    if let Some(store) = open_store(config) {
        if let Err(e) = store.kv_set(
            "chatops.approvals",
            &format!("{name}@{digest}"),
            caps.join("\n").as_bytes(),
        ) {
            tracing::warn!("could not record the requests of {name}: {e}");
        }
    }
}

fn recall_requests(config: &Path, name: &str, digest: &str) -> Option<Vec<String>> {
    let bytes = open_store(config)?
        .kv_get("chatops.approvals", &format!("{name}@{digest}"))
        .ok()??;
    Some(
        String::from_utf8_lossy(&bytes)
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect(),
    )
}

fn open_store(config: &Path) -> Option<crate::store::Store> {
    let loaded = Loaded {
        path: config.to_path_buf(),
        config: config::load(config).ok()?.config,
    };
    crate::store::Store::open(&loaded.resolve(&loaded.config.host.store)).ok()
}

fn relative_to(file: &Path, dir: &Path) -> String {
    let abs = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let (f, d) = (abs(file), abs(dir));
    match f.strip_prefix(&d) {
        Ok(rel) => rel.display().to_string(),
        Err(_) => f.display().to_string(),
    }
}

async fn grant(
    config: Option<PathBuf>,
    plugin: &str,
    kind: &str,
    value: Option<&str>,
    add: bool,
) -> Result<()> {
    let g = Grant::parse(kind, value).map_err(anyhow::Error::msg)?;
    let path = config_or_default(config);
    let mut file = ConfigFile::open(&path)?;
    let what = match &g {
        Grant::Kv => "kv".to_string(),
        Grant::Http(v) | Grant::Secret(v) | Grant::Post(v) => format!("{kind} {v}"),
    };
    if add {
        if file.grant(plugin, &g)? {
            file.save()?;
            println!("Granted {what} to `{plugin}` (for its pinned build). A running host applies it within a second.");
        } else {
            println!("`{plugin}` already has {what}.");
        }
    } else if file.revoke(plugin, &g)? {
        file.save()?;
        println!("Revoked {what} from `{plugin}`.");
    } else {
        println!("`{plugin}` did not have {what}.");
    }
    Ok(())
}

async fn check(config: Option<PathBuf>) -> Result<()> {
    let path = config_or_default(config);
    let loaded = match config::load(&path) {
        Ok(l) => l,
        Err(errors) => {
            for e in &errors {
                println!("error: {e}");
            }
            bail!("{} has {} problem(s)", path.display(), errors.len());
        }
    };
    let bot = Bot::start(Some(&path)).await?;
    let secrets = SecretStore::new(
        loaded.config.secrets.env_prefix.clone(),
        loaded
            .config
            .secrets
            .file
            .as_ref()
            .map(|f| loaded.resolve(f))
            .as_deref(),
    )?;
    let mut problems = 0;
    for (name, pc) in &loaded.config.plugins {
        let running = bot
            .dispatcher
            .plugins()
            .into_iter()
            .find(|p| &p.name == name);
        let Some(p) = running else {
            let why = bot
                .dispatcher
                .disabled()
                .into_iter()
                .find(|(n, _)| n == name)
                .map(|(_, w)| w)
                .unwrap_or_default();
            println!("✗ {name}: {why}");
            problems += 1;
            continue;
        };
        let info = p.info();
        println!(
            "✓ {name} {} ({} command(s)), sha256 {}…",
            info.version,
            info.commands.len(),
            &p.compiled.digest[..12]
        );
        let granted: Vec<String> = pc
            .grants
            .http
            .iter()
            .map(|h| format!("http {h}"))
            .chain(pc.grants.secrets.iter().map(|s| format!("secret {s}")))
            .chain(pc.grants.post.iter().map(|c| format!("post {c}")))
            .chain(pc.grants.kv.then(|| "kv".to_string()))
            .collect();
        for r in &info.capabilities {
            let want = r.capability.describe();
            let mark = match &r.capability {
                Capability::Http(_) => {
                    if pc.grants.http.is_empty() {
                        "not granted"
                    } else {
                        "see http grants"
                    }
                }
                _ if granted.contains(&want) => "granted",
                _ => "not granted",
            };
            println!("    requests {want} — {} [{mark}]", r.reason);
        }
        for g in &granted {
            println!("    granted  {g}");
        }
        for s in &pc.grants.secrets {
            match secrets.lookup(s) {
                None => println!("    ! secret `{s}` has no value: {}", secrets.how_to_set(s)),
                Some(v) if v.len() < MIN_REDACTED_LEN => {
                    println!("    ! secret `{s}` is shorter than {MIN_REDACTED_LEN} characters, so it cannot be redacted from chat")
                }
                Some(_) => {}
            }
        }
    }
    if problems > 0 {
        bail!("{problems} plugin(s) will not run");
    }
    println!("{} is valid.", path.display());
    Ok(())
}

fn audit(config: Option<PathBuf>, limit: usize) -> Result<()> {
    let loaded = load_config(config)?;
    let db = loaded.resolve(&loaded.config.host.store);
    let store = crate::store::Store::open(&db)
        .with_context(|| format!("cannot open the store {}", db.display()))?;
    let entries = store.audit_recent(limit)?;
    if entries.is_empty() {
        println!("The audit trail is empty.");
    }
    for e in entries {
        let detail = if e.detail.is_empty() {
            String::new()
        } else {
            format!(" — {}", e.detail.lines().next().unwrap_or(""))
        };
        println!(
            "{}  {}  #{}  {}: {}  [{}]{detail}",
            e.at, e.actor, e.channel, e.plugin, e.args, e.outcome
        );
    }
    Ok(())
}
