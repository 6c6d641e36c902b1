//! Discord faults, with the real serenity client against the fake Discord: a token or an
//! intent the gateway refuses, a Discord that answers 5xx at start, invalid sessions and
//! reconnect storms, rate limits met by serenity's real limiter (the fake serving as
//! https://discord.com), and interactions that are over before the command finishes.

use chatops::adapters::discord::{self, Connect, Running, Settings};
use chatops::capabilities::Grants;
use chatops_tests::discord_fake::{FakeDiscord, Recorded};
use chatops_tests::*;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);
const ALICE: u64 = 4242;

fn logs() -> Arc<Mutex<Vec<u8>>> {
    capture_logs("warn,chatops=info")
}

fn log_text() -> String {
    String::from_utf8_lossy(&logs().lock().unwrap()).to_string()
}

fn settings(fake: &FakeDiscord, through_proxy: bool) -> Settings {
    Settings {
        token: FakeDiscord::TOKEN.into(),
        api_url: through_proxy.then(|| fake.url()),
        guilds: vec![FakeDiscord::GUILD_ID],
        prefix_commands: true,
        defer_after: Duration::from_millis(300),
        watch_every: Duration::from_millis(200),
    }
}

fn quick() -> Connect {
    Connect {
        retry_first: Duration::from_millis(50),
        ..Connect::default()
    }
}

struct Bot {
    fake: FakeDiscord,
    _chat: Chat,
    running: Option<Running>,
}

impl Bot {
    /// The bot through the fake as a proxy (`api_url`, limiter off), as discord.rs does.
    async fn start(plugins: &[&str]) -> Bot {
        let fake = FakeDiscord::start().await;
        let s = settings(&fake, true);
        Self::start_on(fake, plugins, s, quick()).await
    }

    /// The bot as in production: no `api_url`, serenity's rate limiter on, REST calls to
    /// https://discord.com, which resolves to the fake.
    async fn start_as_discord_com(plugins: &[&str]) -> Bot {
        let fake = FakeDiscord::start().await;
        let connect = Connect {
            http_client: Some(fake.discord_com_client().await),
            ..quick()
        };
        let s = settings(&fake, false);
        Self::start_on(fake, plugins, s, connect).await
    }

    async fn start_on(fake: FakeDiscord, plugins: &[&str], s: Settings, c: Connect) -> Bot {
        logs();
        let chat = Chat::dev(plugins, Grants::default(), &[]).await;
        let running = tokio::time::timeout(WAIT, discord::start_with(chat.bot.clone(), s, c))
            .await
            .expect("start within the limit")
            .expect("client starts");
        fake.wait_ready(WAIT)
            .await
            .expect("the bot identifies and gets READY");
        Bot {
            fake,
            _chat: chat,
            running: Some(running),
        }
    }

    async fn slash(&self, name: &str, options: Value) -> (String, String) {
        let ev = self.fake.slash_command(name, options, ALICE, &[]);
        let ids = (
            ev["id"].as_str().unwrap().to_string(),
            ev["token"].as_str().unwrap().to_string(),
        );
        self.fake.dispatch("INTERACTION_CREATE", ev).await;
        ids
    }

    async fn callback(&self, id: &str, token: &str) -> Recorded {
        let path = format!("/api/v10/interactions/{id}/{token}/callback");
        self.fake
            .wait_request(
                &format!("the callback of interaction {id}"),
                |r| r.method == "POST" && r.path == path,
                WAIT,
            )
            .await
            .unwrap()
    }

    /// `/echo TEXT` answered (the bot is connected and serving).
    async fn echoes(&self, text: &str) {
        let (id, token) = self
            .slash(
                "echo",
                json!([{ "name": "text", "type": 3, "value": text }]),
            )
            .await;
        let cb = self.callback(&id, &token).await;
        assert_eq!(cb.body["data"]["content"], text, "{cb:?}");
    }

    /// Channel messages the bot sent successfully, in the order they arrived.
    fn channel_posts(&self) -> Vec<Recorded> {
        let path = format!("/api/v10/channels/{}/messages", FakeDiscord::CHANNEL_ID);
        self.fake
            .requests()
            .into_iter()
            .filter(|r| r.method == "POST" && r.path == path)
            .collect()
    }

    async fn stop(mut self) {
        if let Some(r) = self.running.take() {
            r.shutdown().await;
        }
        let violations = self.fake.spec_violations();
        assert!(
            violations.is_empty(),
            "the bot sent what Discord would reject:\n{}",
            violations.join("\n")
        );
    }
}

/// Starts against a gateway that closes the Identify with `code`; the error it ends with.
async fn ended_by_close_code(code: u16) -> String {
    logs();
    let fake = FakeDiscord::start().await;
    fake.close_next_identify(code);
    let chat = Chat::dev(&["echo"], Grants::default(), &[]).await;
    let connect = Connect {
        token_source: "the CHATOPS_TEST_TOKEN environment variable".into(),
        config_path: "/etc/chatops/chatops.toml".into(),
        ..quick()
    };
    let running = discord::start_with(chat.bot.clone(), settings(&fake, true), connect)
        .await
        .expect("the token check passes; the gateway refuses later");
    let ended = tokio::time::timeout(WAIT, running.wait())
        .await
        .unwrap_or_else(|_| panic!("close code {code} did not end the connection"));
    format!("{:#}", ended.expect_err("a refused connection is an error"))
}

#[tokio::test]
async fn a_token_the_gateway_rejects_ends_the_connection_with_the_fix() {
    let e = ended_by_close_code(4004).await;
    assert!(
        e.contains("Discord's gateway rejected the bot token (close code 4004")
            && e.contains("Reset Token")
            && e.contains("CHATOPS_TEST_TOKEN environment variable"),
        "{e}"
    );
}

#[tokio::test]
async fn a_refused_privileged_intent_ends_the_connection_with_the_fix() {
    let e = ended_by_close_code(4014).await;
    assert!(
        e.contains("close code 4014")
            && e.contains("Message Content Intent")
            && e.contains("`prefix_commands = false` under [discord] in /etc/chatops/chatops.toml"),
        "{e}"
    );
}

#[tokio::test]
async fn a_token_rejected_at_start_is_an_error_and_the_gateway_never_starts() {
    logs();
    let fake = FakeDiscord::start().await;
    fake.fail_next("/users/@me", 401, 1);
    let chat = Chat::dev(&["echo"], Grants::default(), &[]).await;
    let started = tokio::time::timeout(
        WAIT,
        discord::start_with(chat.bot.clone(), settings(&fake, true), quick()),
    )
    .await
    .expect("a rejected token is not retried");
    let e = format!("{:#}", started.err().expect("a rejected token is an error"));
    assert!(
        e.contains("Discord rejected the bot token (401 Unauthorized") && e.contains("Reset Token"),
        "{e}"
    );
    assert_eq!(fake.identify_count(), 0);
    let tries = fake
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/users/@me"))
        .count();
    assert_eq!(tries, 1);
}

#[tokio::test]
async fn a_discord_failing_at_start_is_tried_again_until_it_answers() {
    let fake = FakeDiscord::start().await;
    fake.fail_next("/users/@me", 502, 2);
    fake.fail_next("/users/@me", 503, 1);
    let s = settings(&fake, true);
    let bot = Bot::start_on(fake, &["echo"], s, quick()).await;
    let tries: Vec<u16> = bot
        .fake
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/users/@me"))
        .map(|r| r.status)
        .collect();
    assert_eq!(tries, [502, 502, 503, 200]);
    let log = log_text();
    assert!(
        log.contains("cannot reach Discord at http://127.0.0.1")
            && log.contains("(503: 503: Service Unavailable); trying again in 0.2s (try 3"),
        "{log}"
    );
    assert!(log.contains("after 4 tries"), "{log}");
    bot.echoes("up at last").await;
    bot.stop().await;
}

#[tokio::test]
async fn an_invalid_session_that_cannot_resume_is_identified_afresh() {
    let bot = Bot::start(&["echo"]).await;
    bot.fake.invalidate_session(false).await;
    // serenity waits 5 s between identifies.
    let deadline = tokio::time::Instant::now() + WAIT;
    while bot.fake.identify_count() < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no second identify after op 9 false"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    bot.echoes("after a new session").await;
    assert_eq!(bot.fake.resume_count(), 0);
    let puts = |bot: &Bot, with: &str| {
        bot.fake
            .requests()
            .iter()
            .filter(|r| r.method == "PUT" && r.body.to_string().contains(with))
            .count()
    };
    // Registered again on the new READY, and only once.
    while puts(&bot, "\"echo\"") < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "commands not registered again after the new READY"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(puts(&bot, "\"echo\""), 2);
    bot.stop().await;
}

#[tokio::test]
async fn an_invalid_session_that_can_resume_is_resumed() {
    let bot = Bot::start(&["echo"]).await;
    bot.fake.invalidate_session(true).await;
    bot.fake.wait_resumed(1, WAIT).await.unwrap();
    bot.echoes("after resuming").await;
    assert_eq!(bot.fake.identify_count(), 1);
    bot.stop().await;
}

#[tokio::test]
async fn a_storm_of_closes_is_ridden_out_and_no_command_is_lost() {
    let bot = Bot::start(&["echo"]).await;
    // Codes after which Discord lets a session resume: unknown error, going away,
    // decode error, rate limited, and a plain network drop.
    for (i, code) in [4000, 1001, 4002, 4008, 4000, 4000].into_iter().enumerate() {
        bot.fake.close_live(code).await;
        // A command sent while the bot is away arrives once it is back.
        let (id, token) = bot
            .slash(
                "echo",
                json!([{ "name": "text", "type": 3, "value": format!("during close {i}") }]),
            )
            .await;
        bot.fake.wait_resumed(i + 1, WAIT).await.unwrap();
        let cb = bot.callback(&id, &token).await;
        assert_eq!(cb.body["data"]["content"], format!("during close {i}"));
    }
    assert_eq!(bot.fake.identify_count(), 1, "every close was resumed");
    bot.echoes("after the storm").await;
    bot.stop().await;
}

/// `!echo` of a text that takes three messages; the parts, in order.
async fn long_echo(bot: &Bot) -> (String, Vec<String>) {
    // One line of single spaces: `!cmd` arguments are split at whitespace and joined
    // again with one space.
    let long: String = "0123456789 ".repeat(450).trim_end().to_string();
    assert!(long.chars().count() > 4000 && long.chars().count() < 6000);
    bot.fake
        .dispatch(
            "MESSAGE_CREATE",
            bot.fake
                .message(FakeDiscord::CHANNEL_ID, &format!("!echo {long}"), ALICE),
        )
        .await;
    let path = format!("/api/v10/channels/{}/messages", FakeDiscord::CHANNEL_ID);
    let tail = long[long.len() - 40..].to_string();
    bot.fake
        .wait_request(
            "the last part",
            |r| {
                r.method == "POST"
                    && r.path == path
                    && r.status == 200
                    && r.body["content"].as_str().unwrap_or("").ends_with(&tail)
            },
            WAIT,
        )
        .await
        .unwrap();
    let parts = bot
        .channel_posts()
        .into_iter()
        .filter(|r| r.status == 200)
        .map(|r| r.body["content"].as_str().unwrap_or("").to_string())
        .collect();
    (long, parts)
}

#[tokio::test]
async fn the_real_rate_limiter_waits_out_a_429_and_keeps_the_order() {
    let bot = Bot::start_as_discord_com(&["echo"]).await;
    bot.echoes("through https://discord.com").await;
    let path = format!("/channels/{}/messages", FakeDiscord::CHANNEL_ID);
    bot.fake
        .rate_limit_next(&path, Duration::from_millis(300), false, 1);
    let (long, parts) = long_echo(&bot).await;
    assert_eq!(parts.len(), 3, "{parts:?}");
    assert!(
        parts.concat() == long,
        "every part arrived, in order: {} parts, {} of {} characters",
        parts.len(),
        parts.concat().len(),
        long.len()
    );
    let statuses: Vec<u16> = bot.channel_posts().iter().map(|r| r.status).collect();
    assert_eq!(
        statuses,
        [429, 200, 200, 200],
        "the 429 was waited out and retried"
    );
    bot.stop().await;
}

#[tokio::test]
async fn the_real_rate_limiter_waits_out_a_global_429() {
    let bot = Bot::start_as_discord_com(&["echo"]).await;
    let path = format!("/channels/{}/messages", FakeDiscord::CHANNEL_ID);
    bot.fake
        .rate_limit_next(&path, Duration::from_millis(300), true, 2);
    let (long, parts) = long_echo(&bot).await;
    assert!(
        parts.concat() == long,
        "every part arrived, in order: {} parts, {} of {} characters",
        parts.len(),
        parts.concat().len(),
        long.len()
    );
    let statuses: Vec<u16> = bot.channel_posts().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [429, 429, 200, 200, 200]);
    bot.stop().await;
}

#[tokio::test]
async fn the_real_rate_limiter_keeps_inside_a_routes_announced_limit() {
    let bot = Bot::start_as_discord_com(&["echo"]).await;
    let path = format!("/channels/{}/messages", FakeDiscord::CHANNEL_ID);
    // One message per 400 ms: each answer says `x-ratelimit-remaining: 0`.
    bot.fake
        .limit_route("POST", &path, 1, Duration::from_millis(400));
    let (long, parts) = long_echo(&bot).await;
    assert!(
        parts.concat() == long,
        "every part arrived, in order: {} parts, {} of {} characters",
        parts.len(),
        parts.concat().len(),
        long.len()
    );
    let statuses: Vec<u16> = bot.channel_posts().iter().map(|r| r.status).collect();
    assert_eq!(
        statuses,
        [200, 200, 200],
        "the limiter waited before each call instead of hitting the limit"
    );
    bot.stop().await;
}

#[tokio::test]
async fn an_interaction_that_expires_during_a_long_command_is_answered_in_its_channel() {
    let bot = Bot::start(&["misbehave"]).await;
    let (id, token) = bot
        .slash(
            "doze",
            json!([{ "name": "seconds", "type": 4, "value": 2 }]),
        )
        .await;
    let cb = bot.callback(&id, &token).await;
    assert_eq!(cb.body["type"], 5, "deferred: {cb:?}");
    bot.fake.expire_interaction(&token);
    let path = format!("/api/v10/channels/{}/messages", FakeDiscord::CHANNEL_ID);
    let sent = bot
        .fake
        .wait_request(
            "the answer in the channel",
            |r| r.method == "POST" && r.path == path,
            WAIT,
        )
        .await
        .unwrap();
    assert_eq!(
        sent.body["content"],
        format!(
            "<@{ALICE}> `/doze` took longer than Discord keeps an interaction open, so its answer is here:\nslept 2s"
        )
    );
    let refused: Vec<u16> = bot
        .fake
        .requests()
        .iter()
        .filter(|r| r.path.contains(&token) && r.method == "PATCH")
        .map(|r| r.status)
        .collect();
    assert_eq!(refused, [401], "the edit was tried once, then the channel");
    let log = log_text();
    assert!(
        log.contains("the interaction of `/doze` is over") && log.contains("answering in channel"),
        "{log}"
    );
    bot.stop().await;
}

#[tokio::test]
async fn an_expired_interaction_never_shows_a_private_error_in_the_channel() {
    let bot = Bot::start(&["dice"]).await;
    let ev = bot.fake.slash_command(
        "roll",
        json!([{ "name": "dice", "type": 3, "value": "banana" }]),
        ALICE,
        &[],
    );
    bot.fake.expire_interaction(ev["token"].as_str().unwrap());
    bot.fake.dispatch("INTERACTION_CREATE", ev).await;
    let path = format!("/api/v10/channels/{}/messages", FakeDiscord::CHANNEL_ID);
    let sent = bot
        .fake
        .wait_request(
            "the note in the channel",
            |r| r.method == "POST" && r.path == path,
            WAIT,
        )
        .await
        .unwrap();
    let content = sent.body["content"].as_str().unwrap();
    assert!(
        content.contains("did not complete") && content.contains("run `/roll` again"),
        "{content}"
    );
    assert!(
        !content.contains("banana"),
        "the error stays private: {content}"
    );
    bot.stop().await;
}
