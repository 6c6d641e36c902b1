//! Reaching Discord at start and saying why not: a token Discord rejects stops the host
//! with the fix, an unreachable Discord is retried with growing waits, and a gateway
//! that ends the connection for good is explained in the host's own words.

use serenity::all::{CurrentUser, Http};
use serenity::gateway::GatewayError;
use serenity::http::HttpError;
use std::time::Duration;

/// How the adapter connects, beyond [`super::Settings`] (kept apart so code that builds
/// `Settings` keeps compiling).
#[derive(Clone, Debug)]
pub struct Connect {
    /// Where the token came from, named in the fix when Discord rejects it.
    pub token_source: String,
    /// Where the config lives, named in fixes that edit it.
    pub config_path: String,
    /// A REST client for discord.com with the rate limiter left on (tests: one that
    /// resolves discord.com to the fake Discord and trusts its certificate).
    pub http_client: Option<reqwest::Client>,
    /// The first wait before trying an unreachable Discord again; it doubles each time.
    pub retry_first: Duration,
    /// The longest wait between tries.
    pub retry_max: Duration,
    /// How long one try may take before it counts as unreachable.
    pub try_timeout: Duration,
    /// The gateway shards this process runs (`start..end` of `total`); all if `None`.
    pub shards: Option<(std::ops::Range<u32>, u32)>,
}

impl Default for Connect {
    fn default() -> Self {
        Connect {
            token_source: "the DISCORD_TOKEN environment variable".into(),
            config_path: crate::config::DEFAULT_PATH.into(),
            http_client: None,
            retry_first: Duration::from_secs(1),
            retry_max: Duration::from_secs(60),
            try_timeout: Duration::from_secs(20),
            shards: None,
        }
    }
}

impl Connect {
    fn token_fix(&self) -> String {
        format!(
            "copy a new token from the Discord Developer Portal (your application → Bot → Reset Token) and set it in {}",
            self.token_source
        )
    }
}

/// What one try at `GET /users/@me` says.
enum Try {
    Ok(CurrentUser),
    /// Retrying cannot help.
    Fatal(String),
    /// Retrying can help: Discord (or the network) is down or overloaded.
    Again(String),
}

/// Checks the token with `GET /users/@me` before the gateway starts. A rejected token is
/// an error naming the fix; an unreachable Discord is tried again with growing waits, one
/// log line a try, so the log says what is wrong instead of the gateway's retry lines.
pub(super) async fn check_token(
    http: &Http,
    base: &str,
    connect: &Connect,
) -> anyhow::Result<CurrentUser> {
    let mut wait = connect.retry_first;
    let mut tries = 0u32;
    loop {
        tries += 1;
        let outcome = match tokio::time::timeout(connect.try_timeout, http.get_current_user()).await
        {
            Err(_) => Try::Again(format!(
                "no answer within {}s",
                connect.try_timeout.as_secs_f64()
            )),
            Ok(r) => classify(r, connect),
        };
        match outcome {
            Try::Ok(user) => {
                if tries > 1 {
                    tracing::info!("reached Discord at {base} after {tries} tries");
                }
                return Ok(user);
            }
            Try::Fatal(why) => anyhow::bail!(why),
            Try::Again(why) => {
                tracing::warn!(
                    "cannot reach Discord at {base} ({why}); trying again in {}s (try {tries}; the wait doubles up to {}s)",
                    wait.as_secs_f64(),
                    connect.retry_max.as_secs_f64()
                );
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(connect.retry_max);
            }
        }
    }
}

fn classify(r: serenity::Result<CurrentUser>, connect: &Connect) -> Try {
    let e = match r {
        Ok(u) => return Try::Ok(u),
        Err(e) => e,
    };
    match &e {
        serenity::Error::Http(HttpError::UnsuccessfulRequest(resp)) => {
            let status = resp.status_code.as_u16();
            let said = &resp.error.message;
            match status {
                401 => Try::Fatal(format!(
                    "Discord rejected the bot token (401 Unauthorized: {said}): {}",
                    connect.token_fix()
                )),
                403 => Try::Fatal(format!(
                    "Discord refused the bot token (403 Forbidden: {said}); the bot may be disabled or quarantined: check its application in the Discord Developer Portal"
                )),
                429 | 500..=599 => Try::Again(format!("{status}: {said}")),
                _ => Try::Fatal(format!(
                    "Discord answered the token check with {status} ({said}); if [discord] api_url is set, check that it points at Discord or a Discord API proxy"
                )),
            }
        }
        // serenity's wrapper says only "Error while sending HTTP request."
        serenity::Error::Http(HttpError::Request(inner)) => Try::Again(chain(inner)),
        _ => Try::Again(chain(&e)),
    }
}

/// An error with its causes: reqwest's own message ("error sending request") hides the
/// part an admin needs ("Connection refused", "dns error").
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let s = c.to_string();
        if !out.contains(&s) {
            out.push_str(": ");
            out.push_str(&s);
        }
        cur = c.source();
    }
    out
}

/// Why the gateway connection ended for good, in the host's words, with the fix.
pub(super) fn explain_end(e: &serenity::Error, connect: &Connect) -> String {
    match e {
        serenity::Error::Gateway(GatewayError::InvalidAuthentication) => format!(
            "Discord's gateway rejected the bot token (close code 4004, authentication failed): {}",
            connect.token_fix()
        ),
        serenity::Error::Gateway(GatewayError::DisallowedGatewayIntents) => format!(
            "Discord refused a privileged intent the bot asked for (close code 4014, disallowed intents): the Message Content intent, which `!cmd` prefix commands need. Enable it in the Discord Developer Portal (your application → Bot → Privileged Gateway Intents → Message Content Intent), or set `prefix_commands = false` under [discord] in {}",
            connect.config_path
        ),
        serenity::Error::Gateway(GatewayError::InvalidGatewayIntents) => "Discord said the gateway intents are invalid (close code 4013); this is a bug in chatops: please report it with this line".to_string(),
        serenity::Error::Gateway(GatewayError::OverloadedShard) => "Discord requires sharding (close code 4011): the bot is in too many servers for one connection, which chatops does not support yet".to_string(),
        other => format!("the Discord connection ended: {}", chain(other)),
    }
}
