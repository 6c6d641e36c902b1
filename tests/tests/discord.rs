//! The Discord adapter end to end: the real serenity client against the fake Discord, with
//! real plugins. Every request the bot sends is checked against Discord's OpenAPI spec.

use chatops::adapters::discord::{self, Running, Settings};
use chatops::capabilities::Grants;
use chatops_tests::discord_fake::{FakeDiscord, Recorded};
use chatops_tests::*;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);
const ALICE: u64 = 4242;
const BOB: u64 = 4343;

/// Warnings the host logs, captured so tests can see that failures were reported.
fn logs() -> Arc<Mutex<Vec<u8>>> {
    capture_logs("warn,chatops=info")
}

struct Bot {
    fake: FakeDiscord,
    chat: Chat,
    running: Option<Running>,
}

impl Bot {
    async fn start(plugins: &[&str]) -> Bot {
        Self::start_with(plugins, Grants::default()).await
    }

    async fn start_with(plugins: &[&str], grants: Grants) -> Bot {
        Self::start_chat(Chat::dev(plugins, grants, &[]).await).await
    }

    async fn start_chat(chat: Chat) -> Bot {
        logs();
        let fake = FakeDiscord::start().await;
        let settings = Settings {
            token: FakeDiscord::TOKEN.into(),
            api_url: Some(fake.url()),
            guilds: vec![FakeDiscord::GUILD_ID],
            prefix_commands: true,
            defer_after: Duration::from_millis(1500),
            watch_every: Duration::from_millis(200),
        };
        let running = discord::start(chat.bot.clone(), settings)
            .await
            .expect("client starts");
        fake.wait_ready(WAIT)
            .await
            .expect("the bot identifies and gets READY");
        Bot {
            fake,
            chat,
            running: Some(running),
        }
    }

    /// Send a slash command; returns the interaction's (id, token).
    async fn slash(&self, name: &str, options: Value, user: u64) -> (String, String) {
        let ev = self.fake.slash_command(name, options, user, &[]);
        let ids = (
            ev["id"].as_str().unwrap().to_string(),
            ev["token"].as_str().unwrap().to_string(),
        );
        self.fake.dispatch("INTERACTION_CREATE", ev).await;
        ids
    }

    /// Send a slash command from a member with these roles; returns its (id, token).
    async fn slash_with_roles(
        &self,
        name: &str,
        options: Value,
        user: u64,
        roles: &[u64],
    ) -> (String, String) {
        let ev = self.fake.slash_command(name, options, user, roles);
        let ids = (
            ev["id"].as_str().unwrap().to_string(),
            ev["token"].as_str().unwrap().to_string(),
        );
        self.fake.dispatch("INTERACTION_CREATE", ev).await;
        ids
    }

    /// Press a button; returns the press interaction's (id, token).
    async fn press(&self, custom_id: &str, user: u64) -> (String, String) {
        let ev = self.fake.button_press(custom_id, user, 1);
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

    /// Edits of the original response, in order, once `last` matches.
    async fn edits_until(&self, token: &str, last: impl Fn(&str) -> bool) -> Vec<String> {
        let path = format!(
            "/api/v10/webhooks/{}/{token}/messages/@original",
            FakeDiscord::APP_ID
        );
        self.fake
            .wait_request(
                "the final edit",
                |r| {
                    r.method == "PATCH"
                        && r.path == path
                        && last(r.body["content"].as_str().unwrap_or(""))
                },
                WAIT,
            )
            .await
            .unwrap();
        self.fake
            .requests()
            .into_iter()
            .filter(|r| r.method == "PATCH" && r.path == path)
            .map(|r| r.body["content"].as_str().unwrap_or("").to_string())
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

fn text(value: &str) -> Value {
    json!([{ "name": "text", "type": 3, "value": value }])
}

#[tokio::test]
async fn registers_commands_and_answers_a_slash_command() {
    let bot = Bot::start(&["echo", "dice"]).await;
    let put = bot
        .fake
        .wait_request(
            "command registration",
            |r| {
                r.method == "PUT"
                    && r.path
                        .ends_with(&format!("/guilds/{}/commands", FakeDiscord::GUILD_ID))
            },
            WAIT,
        )
        .await
        .unwrap();
    let names: Vec<&str> = put
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["roll", "flip", "countdown", "echo", "chatops", "help"]
    );
    assert_eq!(put.body[4]["options"][0]["name"], "command");
    let roll = &put.body[0];
    assert_eq!(roll["options"][1]["name"], "show");
    assert_eq!(
        roll["options"][1]["choices"][1],
        json!({"name": "each", "value": "each"})
    );
    assert_eq!(put.body[3]["options"][0]["required"], true);

    let (id, token) = bot.slash("echo", text("hello from discord"), ALICE).await;
    let cb = bot.callback(&id, &token).await;
    assert_eq!(cb.body["type"], 4);
    assert_eq!(cb.body["data"]["content"], "hello from discord");

    let (id, token) = bot.slash("help", json!([]), ALICE).await;
    let cb = bot.callback(&id, &token).await;
    assert!(
        cb.body["data"]["content"]
            .as_str()
            .unwrap()
            .contains("`/roll [dice] [show]`"),
        "{}",
        cb.body
    );
    assert_eq!(cb.body["data"]["flags"], 64, "help is for the asker only");
    bot.stop().await;
}

#[tokio::test]
async fn errors_are_ephemeral_and_long_output_is_split_or_attached() {
    let bot = Bot::start(&["echo", "dice", "misbehave"]).await;
    let (id, token) = bot
        .slash(
            "roll",
            json!([{ "name": "dice", "type": 3, "value": "banana" }]),
            ALICE,
        )
        .await;
    let cb = bot.callback(&id, &token).await;
    assert_eq!(cb.body["data"]["flags"], 64);
    assert!(
        cb.body["data"]["content"]
            .as_str()
            .unwrap()
            .contains("is not dice"),
        "{}",
        cb.body
    );

    let long = "word ".repeat(900);
    let (id, token) = bot.slash("echo", text(long.trim()), ALICE).await;
    let cb = bot.callback(&id, &token).await;
    let mut whole = cb.body["data"]["content"].as_str().unwrap().to_string();
    assert_eq!(whole.chars().count(), 2000);
    let follow = format!("/api/v10/webhooks/{}/{token}", FakeDiscord::APP_ID);
    let is_follow = |r: &Recorded| r.method == "POST" && r.path == follow;
    let last = bot
        .fake
        .wait_request(
            "the follow-ups with the rest",
            |r| is_follow(r) && r.body["content"].as_str().unwrap_or("").ends_with("word"),
            WAIT,
        )
        .await
        .unwrap();
    assert!(last.body["content"].as_str().unwrap().chars().count() <= 2000);
    for f in bot.fake.requests().iter().filter(|r| is_follow(r)) {
        whole.push_str(f.body["content"].as_str().unwrap());
    }
    assert_eq!(whole, long.trim(), "the parts add up to the whole reply");

    let (id, token) = bot.slash("flood", json!([]), ALICE).await;
    let cb = bot.callback(&id, &token).await;
    assert_eq!(cb.files.len(), 1, "a huge reply is attached: {cb:?}");
    assert_eq!(cb.files[0].0, "reply.txt");
    assert!(cb.body["data"]["content"]
        .as_str()
        .unwrap()
        .contains("is attached"));
    bot.stop().await;
}

#[tokio::test]
async fn a_slow_command_is_deferred_and_then_edited() {
    let bot = Bot::start(&["misbehave"]).await;
    let (id, token) = bot
        .slash(
            "doze",
            json!([{ "name": "seconds", "type": 4, "value": 3 }]),
            ALICE,
        )
        .await;
    let cb = bot.callback(&id, &token).await;
    assert_eq!(cb.body["type"], 5, "deferred: {}", cb.body);
    let edits = bot.edits_until(&token, |c| c == "slept 3s").await;
    assert_eq!(edits.last().unwrap(), "slept 3s");
    bot.stop().await;
}

#[tokio::test]
async fn progress_appears_as_edits_of_the_answer() {
    let bot = Bot::start(&["dice"]).await;
    let (id, token) = bot
        .slash(
            "countdown",
            json!([{ "name": "seconds", "type": 4, "value": 3 }]),
            ALICE,
        )
        .await;
    let cb = bot.callback(&id, &token).await;
    assert_eq!(cb.body["type"], 4);
    assert_eq!(cb.body["data"]["content"], "⏳ 3…");
    let edits = bot.edits_until(&token, |c| c == "Liftoff!").await;
    assert_eq!(edits, ["⏳ 2…", "⏳ 1…", "Liftoff!"]);
    bot.stop().await;
}

#[tokio::test]
async fn a_confirm_command_runs_only_after_its_user_confirms() {
    let bot = Bot::start(&["misbehave"]).await;
    let ran = |bot: &Bot| {
        bot.fake
            .requests()
            .iter()
            .any(|r| r.body.to_string().contains("wiped everything"))
    };

    let (id, token) = bot.slash("wipe", json!([]), ALICE).await;
    let cb = bot.callback(&id, &token).await;
    let buttons = &cb.body["data"]["components"][0]["components"];
    let confirm = buttons[0]["custom_id"].as_str().unwrap().to_string();
    let cancel = buttons[1]["custom_id"].as_str().unwrap().to_string();
    assert!(
        confirm.starts_with("chatops:confirm:") && cancel.starts_with("chatops:cancel:"),
        "{}",
        cb.body
    );
    assert!(cb.body["data"]["content"]
        .as_str()
        .unwrap()
        .contains("marked dangerous"));

    // Bob's press is refused, privately, and runs nothing.
    let (pid, ptoken) = bot.press(&confirm, BOB).await;
    let r = bot.callback(&pid, &ptoken).await;
    assert_eq!(r.body["data"]["flags"], 64);
    assert!(r.body["data"]["content"]
        .as_str()
        .unwrap()
        .contains("Only the person who asked"));
    assert!(!ran(&bot));

    // Alice cancels: nothing runs.
    let (pid, ptoken) = bot.press(&cancel, ALICE).await;
    assert_eq!(bot.callback(&pid, &ptoken).await.body["type"], 7);
    bot.edits_until(&ptoken, |c| c.starts_with("Cancelled"))
        .await;
    assert!(!ran(&bot));

    // Asked again and confirmed by Alice: it runs.
    let (id, token) = bot.slash("wipe", json!([]), ALICE).await;
    let cb = bot.callback(&id, &token).await;
    let confirm = cb.body["data"]["components"][0]["components"][0]["custom_id"]
        .as_str()
        .unwrap()
        .to_string();
    let (pid, ptoken) = bot.press(&confirm, ALICE).await;
    assert_eq!(bot.callback(&pid, &ptoken).await.body["type"], 7);
    let edits = bot
        .edits_until(&ptoken, |c| c.starts_with("wiped everything"))
        .await;
    assert!(edits.last().unwrap().contains("as "), "{edits:?}");
    bot.stop().await;
}

#[tokio::test]
async fn a_prefix_command_is_answered_in_its_channel() {
    let bot = Bot::start(&["echo"]).await;
    bot.fake
        .dispatch(
            "MESSAGE_CREATE",
            bot.fake
                .message(FakeDiscord::CHANNEL_ID, "!echo hi there", ALICE),
        )
        .await;
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
    assert_eq!(sent.body["content"], "hi there");
    // Messages without the prefix are conversation, not commands.
    bot.fake
        .dispatch(
            "MESSAGE_CREATE",
            bot.fake
                .message(FakeDiscord::CHANNEL_ID, "echo is a nice plugin", ALICE),
        )
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        bot.fake
            .requests()
            .iter()
            .filter(|r| r.path == path)
            .count(),
        1
    );
    bot.stop().await;
}

#[tokio::test]
async fn the_bot_resumes_after_a_dropped_connection_and_survives_rest_errors() {
    let bot = Bot::start(&["echo"]).await;
    bot.fake.drop_connection().await;
    bot.fake
        .wait_resumed(1, WAIT)
        .await
        .expect("the bot resumes");
    let (id, token) = bot.slash("echo", text("after resume"), ALICE).await;
    assert_eq!(
        bot.callback(&id, &token).await.body["data"]["content"],
        "after resume"
    );

    for status in [429, 500] {
        bot.fake.fail_next("/callback", status, 1);
        let (id, token) = bot
            .slash("echo", text(&format!("hits {status}")), ALICE)
            .await;
        let failed = bot.callback(&id, &token).await;
        assert_eq!(failed.status, status);
        let (id, token) = bot.slash("echo", text("still answering"), ALICE).await;
        assert_eq!(
            bot.callback(&id, &token).await.body["data"]["content"],
            "still answering"
        );
    }
    let log = String::from_utf8_lossy(&logs().lock().unwrap()).to_string();
    assert!(
        log.contains("Discord refused answering `/echo`")
            && log.contains("status=429")
            && log.contains("status=500"),
        "{log}"
    );
    bot.stop().await;
}

#[tokio::test]
async fn commands_are_registered_again_when_plugins_change() {
    let bot = Bot::start(&["echo"]).await;
    let puts = |bot: &Bot| {
        bot.fake
            .requests()
            .into_iter()
            .filter(|r| r.method == "PUT")
            .collect::<Vec<_>>()
    };
    bot.fake
        .wait_request("first registration", |r| r.method == "PUT", WAIT)
        .await
        .unwrap();
    // The author rebuilds: the file now holds another plugin.
    let path = bot.chat.bot.dispatcher.plugins()[0].source.to_string();
    std::fs::write(&path, plugin_bytes("probe")).unwrap();
    bot.fake
        .wait_request(
            "registration of the new commands",
            |r| r.method == "PUT" && r.body.to_string().contains("\"fetch\""),
            WAIT,
        )
        .await
        .unwrap();
    assert!(puts(&bot).len() >= 2);
    bot.stop().await;
}

#[tokio::test]
async fn a_plugin_posts_only_to_granted_channels() {
    let channel = FakeDiscord::CHANNEL_ID.to_string();
    let grants = Grants {
        post: vec![channel.clone()],
        ..Grants::default()
    };
    let bot = Bot::start_with(&["probe"], grants).await;
    bot.fake
        .wait_request("registration", |r| r.method == "PUT", WAIT)
        .await
        .unwrap();

    let (id, token) = bot
        .slash(
            "announce",
            json!([{ "name": "channel", "type": 3, "value": channel }]),
            ALICE,
        )
        .await;
    assert_eq!(
        bot.callback(&id, &token).await.body["data"]["content"],
        "posted"
    );
    let path = format!("/api/v10/channels/{}/messages", FakeDiscord::CHANNEL_ID);
    let post = bot
        .fake
        .wait_request("the post", |r| r.method == "POST" && r.path == path, WAIT)
        .await
        .unwrap();
    assert_eq!(post.body["content"], "announcement from probe");

    let (id, token) = bot
        .slash(
            "announce",
            json!([{ "name": "channel", "type": 3, "value": "999" }]),
            ALICE,
        )
        .await;
    let cb = bot.callback(&id, &token).await;
    assert!(
        cb.body["data"]["content"]
            .as_str()
            .unwrap()
            .contains("not granted"),
        "{}",
        cb.body
    );
    bot.stop().await;
}

#[tokio::test]
async fn rules_on_arguments_hold_in_discord_and_name_the_rule() {
    const DEPLOYERS: u64 = 777;
    let dir = tempfile::tempdir().unwrap();
    let paths = write_plugins(dir.path(), &["misbehave"]);
    let cfg = dir.path().join("chatops.toml");
    std::fs::write(
        &cfg,
        format!(
            "[plugins.misbehave]\npath = \"misbehave.wasm\"\nsha256 = \"{}\"\n\n[[plugins.misbehave.rules]]\nname = \"prod is for deployers\"\ncommand = \"launch\"\nwhen = {{ target = \"prod\" }}\nroles = [\"{DEPLOYERS}\"]\nchannels = [\"{}\"]\n\n[[plugins.misbehave.rules]]\ncommand = \"wipe\"\nusers = [\"1\"]\n",
            chatops::runtime::sha256_hex(&std::fs::read(&paths[0]).unwrap()),
            FakeDiscord::CHANNEL_ID
        ),
    )
    .unwrap();
    let bot = Bot::start_chat(Chat::from_config(&cfg).await.with_dir(dir)).await;
    let target = |t: &str| json!([{"name": "target", "type": 3, "value": t}]);

    // staging runs for anyone
    let (id, token) = bot.slash("launch", target("staging"), ALICE).await;
    let cb = bot.callback(&id, &token).await;
    assert_eq!(
        cb.body["data"]["content"], "launched to staging",
        "{}",
        cb.body
    );

    // prod is refused for Alice, privately, with the rule named
    let (id, token) = bot.slash("launch", target("prod"), ALICE).await;
    let cb = bot.callback(&id, &token).await;
    assert_eq!(cb.body["data"]["flags"], 64, "{}", cb.body);
    let text = cb.body["data"]["content"].as_str().unwrap();
    assert!(
        text.contains("rule `prod is for deployers` of plugin `misbehave` allows `launch` with target = prod only to roles 777"),
        "{text}"
    );

    // Bob, a deployer, is asked to confirm (the plugin's own question), and it runs
    let (id, token) = bot
        .slash_with_roles("launch", target("prod"), BOB, &[DEPLOYERS])
        .await;
    let cb = bot.callback(&id, &token).await;
    assert!(
        cb.body["data"]["content"]
            .as_str()
            .unwrap()
            .starts_with("Launch to prod for"),
        "{}",
        cb.body
    );
    let confirm = cb.body["data"]["components"][0]["components"][0]["custom_id"]
        .as_str()
        .unwrap()
        .to_string();
    let ev = bot
        .fake
        .button_press_with_roles(&confirm, BOB, &[DEPLOYERS], 1);
    let (pid, ptoken) = (
        ev["id"].as_str().unwrap().to_string(),
        ev["token"].as_str().unwrap().to_string(),
    );
    bot.fake.dispatch("INTERACTION_CREATE", ev).await;
    assert_eq!(bot.callback(&pid, &ptoken).await.body["type"], 7);
    bot.edits_until(&ptoken, |c| c == "launched to prod").await;

    // help differs: wipe is only for user 1
    let (id, token) = bot.slash("help", json!([]), ALICE).await;
    let help = bot.callback(&id, &token).await.body["data"]["content"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(help.contains("launch") && !help.contains("wipe"), "{help}");
    bot.stop().await;
}
