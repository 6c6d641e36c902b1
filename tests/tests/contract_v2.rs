//! Contract 0.2 beside 0.1: a plugin built from the 0.1 SDK (tests/plugins/sdk-0.1) still
//! loads and answers next to 0.2 plugins; subcommands, embeds, attachments, buttons that
//! edit their message, presses the rules refuse and autocomplete, through the real
//! serenity client against the fake Discord (every payload checked against Discord's
//! OpenAPI description); Discord's limits checked at load; the shell's rendering.

use chatops::adapters::discord::{self, Running, Settings};
use chatops::capabilities::Grants;
use chatops::dispatch::Kind;
use chatops_tests::discord_fake::{FakeDiscord, Recorded};
use chatops_tests::*;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(30);
const ALICE: u64 = 4242;
const BOB: u64 = 4343;

struct Bot {
    fake: FakeDiscord,
    _chat: Chat,
    running: Option<Running>,
}

impl Bot {
    async fn start(chat: Chat) -> Bot {
        capture_logs("warn,chatops=info");
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
        fake.wait_ready(WAIT).await.expect("READY");
        Bot {
            fake,
            _chat: chat,
            running: Some(running),
        }
    }

    async fn send(&self, ev: Value) -> (String, String) {
        let ids = (
            ev["id"].as_str().unwrap().to_string(),
            ev["token"].as_str().unwrap().to_string(),
        );
        self.fake.dispatch("INTERACTION_CREATE", ev).await;
        ids
    }

    async fn slash(&self, name: &str, options: Value, user: u64) -> (String, String) {
        self.send(self.fake.slash_command(name, options, user, &[]))
            .await
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

fn opt(name: &str, kind: u8, value: Value) -> Value {
    json!({"name": name, "type": kind, "value": value})
}

/// `/ticket open title:… severity:…` as Discord sends it: a SUB_COMMAND option.
fn open_ticket(title: &str, severity: i64) -> Value {
    json!([{"name": "open", "type": 1, "options": [
        opt("title", 3, json!(title)),
        opt("severity", 4, json!(severity)),
    ]}])
}

/// The host's custom id of the first button of a message body.
fn first_button(body: &Value) -> String {
    body["components"][0]["components"][0]["custom_id"]
        .as_str()
        .unwrap_or_else(|| panic!("no button in {body}"))
        .to_string()
}

#[tokio::test]
async fn a_plugin_built_from_the_0_1_sdk_loads_and_answers_beside_0_2_plugins() {
    let chat = Chat::dev(&["v01-echo", "rich", "echo"], Grants::default(), &[]).await;
    let old = chat.bot.dispatcher.plugin("v01-echo").unwrap();
    assert_eq!(old.compiled.version(), chatops::runtime::Version::V0_1);
    let new = chat.bot.dispatcher.plugin("rich").unwrap();
    assert_eq!(new.compiled.version(), chatops::runtime::Version::V0_2);
    assert!(new.compiled.answers_components() && new.compiled.completes());

    assert_eq!(
        chat.ok("oldecho hello there").await,
        "0.1 says: hello there"
    );
    assert_eq!(chat.progress.0.lock().unwrap().as_slice(), ["echoing"]);
    let r = chat.say("oldprivate 7").await;
    assert!(r.ephemeral && r.text == "n = 7", "{r:?}");
    // the bundled echo, rebuilt from the 0.2 SDK, in the same host
    assert_eq!(chat.ok("echo side by side").await, "side by side");
    // a 0.2 subcommand by text: `!ticket open …`
    let r = chat.say("ticket open \"db down\" 1").await;
    assert_eq!(r.kind, Kind::Reply, "{}", r.text);
    assert_eq!(r.text, "Opened T-1: db down");
    assert_eq!(r.rich.embeds[0].color, Some(0xE0_3B_3B));
    assert_eq!(
        chat.ok("ticket note add remember the milk").await,
        "Noted: remember the milk"
    );
    let r = chat.say("ticket close T-1").await;
    assert_eq!(r.kind, Kind::Usage);
    assert!(
        r.text.contains("`close` is not a subcommand") && r.text.contains("open, ack, note add"),
        "{}",
        r.text
    );
    let r = chat.say("ticket open ab").await;
    assert!(
        r.text
            .contains("`title` must be at least 3 characters, not 2"),
        "{}",
        r.text
    );
    let r = chat.say("ticket open abc 9").await;
    assert!(
        r.text.contains("`severity` must be at most 4, not 9"),
        "{}",
        r.text
    );
    let help = chat.say("help").await.text;
    assert!(help.contains("`!ticket open <title> [severity]`"), "{help}");
    assert!(help.contains("`!oldecho <text>`"), "{help}");
}

#[tokio::test]
async fn subcommands_embeds_and_attachments_on_discord() {
    let chat = Chat::dev(&["rich", "v01-echo"], Grants::default(), &[]).await;
    let bot = Bot::start(chat).await;
    let put = bot
        .fake
        .wait_request(
            "command registration",
            |r| r.method == "PUT" && r.path.ends_with("/commands"),
            WAIT,
        )
        .await
        .unwrap();
    let ticket = put
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "ticket")
        .unwrap()
        .clone();
    let kinds: Vec<(String, u64)> = ticket["options"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["name"].as_str().unwrap().into(),
                o["type"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [("open".into(), 1), ("ack".into(), 1), ("note".into(), 2)],
        "SUB_COMMAND and SUB_COMMAND_GROUP: {ticket}"
    );
    let open = &ticket["options"][0];
    assert_eq!(open["options"][0]["min_length"], 3);
    assert_eq!(open["options"][0]["max_length"], 80);
    assert_eq!(open["options"][1]["min_value"], 1);
    assert_eq!(open["options"][1]["max_value"], 4);
    assert_eq!(ticket["options"][2]["options"][0]["type"], 1);
    assert_eq!(ticket["options"][2]["options"][0]["name"], "add");

    // a subcommand with options, answered with an embed: colour, fields, link, buttons
    let (id, token) = bot.slash("ticket", open_ticket("db down", 1), ALICE).await;
    let cb = bot.callback(&id, &token).await;
    assert_eq!(cb.body["type"], 4);
    let data = &cb.body["data"];
    assert_eq!(data["content"], "Opened T-1: db down");
    let embed = &data["embeds"][0];
    assert_eq!(embed["title"], "T-1 db down");
    assert_eq!(embed["color"], 0xE0_3B_3B);
    assert_eq!(embed["url"], "https://tickets.example.com/T-1");
    assert_eq!(
        embed["fields"][0],
        json!({"name": "Severity", "value": "1", "inline": true})
    );
    assert_eq!(embed["footer"]["text"], "rich plugin");
    assert_eq!(first_button(data), "cx|ticket ack|-|ack:T-1");
    assert_eq!(data["components"][0]["components"][1]["style"], 4);
    assert_eq!(
        data["components"][0]["components"][2]["url"],
        "https://tickets.example.com/T-1"
    );

    // an attachment is uploaded as a file
    let (id, token) = bot.slash("logs", json!([]), ALICE).await;
    let cb = bot.callback(&id, &token).await;
    assert_eq!(cb.files, [("app.log".to_string(), 14)], "{cb:?}");
    assert_eq!(cb.body["data"]["content"], "The last lines are attached.");

    // a prefix command with a subcommand
    let m = bot
        .fake
        .message(FakeDiscord::CHANNEL_ID, "!ticket ack T-9", ALICE);
    bot.fake.dispatch("MESSAGE_CREATE", m).await;
    let path = format!("/api/v10/channels/{}/messages", FakeDiscord::CHANNEL_ID);
    bot.fake
        .wait_request(
            "the answer to !ticket ack",
            |r| {
                r.method == "POST"
                    && r.path == path
                    && r.body["content"]
                        .as_str()
                        .is_some_and(|c| c.ends_with("acked T-9"))
            },
            WAIT,
        )
        .await
        .unwrap();

    // the 0.1 plugin answers on Discord too
    let (id, token) = bot
        .slash(
            "oldecho",
            json!([opt("text", 3, json!("still here"))]),
            ALICE,
        )
        .await;
    // its progress may show first; its answer ends in the same message
    let first = bot.callback(&id, &token).await.body["data"]["content"].clone();
    if first != "0.1 says: still here" {
        assert_eq!(first, "⏳ echoing");
        let original = format!(
            "/api/v10/webhooks/{}/{token}/messages/@original",
            FakeDiscord::APP_ID
        );
        bot.fake
            .wait_request(
                "the 0.1 plugin's answer",
                |r| {
                    r.method == "PATCH"
                        && r.path == original
                        && r.body["content"] == "0.1 says: still here"
                },
                WAIT,
            )
            .await
            .unwrap();
    }
    bot.stop().await;
}

#[tokio::test]
async fn a_button_press_runs_the_plugin_and_edits_its_message() {
    let chat = Chat::dev(&["rich"], Grants::default(), &[]).await;
    let bot = Bot::start(chat).await;
    let (id, token) = bot.slash("ticket", open_ticket("db down", 2), ALICE).await;
    let cb = bot.callback(&id, &token).await;
    let ack = first_button(&cb.body["data"]);

    let ev = bot.fake.button_press(&ack, BOB, 1);
    let (pid, ptoken) = bot.send(ev).await;
    assert_eq!(bot.callback(&pid, &ptoken).await.body["type"], 6);
    let original = format!(
        "/api/v10/webhooks/{}/{ptoken}/messages/@original",
        FakeDiscord::APP_ID
    );
    let edit = bot
        .fake
        .wait_request(
            "the edit of the pressed message",
            |r| r.method == "PATCH" && r.path == original,
            WAIT,
        )
        .await
        .unwrap();
    assert_eq!(
        edit.body["content"], "T-1 acked by User 4343",
        "{}",
        edit.body
    );
    assert_eq!(edit.body["embeds"][0]["title"], "T-1 acknowledged");
    assert_eq!(edit.body["components"], json!([]), "the buttons are gone");

    // a select menu: the chosen values reach the plugin; it answers privately
    let (id, token) = bot
        .slash("status", json!([opt("service", 3, json!("api"))]), ALICE)
        .await;
    let cb = bot.callback(&id, &token).await;
    let menu = &cb.body["data"]["components"][0]["components"][0];
    assert_eq!(menu["type"], 3, "{menu}");
    let mut ev = bot
        .fake
        .button_press(menu["custom_id"].as_str().unwrap(), ALICE, 2);
    ev["data"] = json!({"custom_id": menu["custom_id"], "component_type": 3, "values": ["web"]});
    let (pid, ptoken) = bot.send(ev).await;
    assert_eq!(bot.callback(&pid, &ptoken).await.body["type"], 6);
    let follow = format!("/api/v10/webhooks/{}/{ptoken}", FakeDiscord::APP_ID);
    let f = bot
        .fake
        .wait_request(
            "the answer to the choice",
            |r| r.method == "POST" && r.path == follow,
            WAIT,
        )
        .await
        .unwrap();
    assert_eq!(f.body["content"], "web is up");
    assert_eq!(f.body["flags"], 64);

    // a dangerous button asks the presser to confirm first
    let close = cb_button(&bot, 1).await;
    let (pid, ptoken) = bot.send(bot.fake.button_press(&close, ALICE, 3)).await;
    assert_eq!(bot.callback(&pid, &ptoken).await.body["type"], 6);
    let follow = format!("/api/v10/webhooks/{}/{ptoken}", FakeDiscord::APP_ID);
    let q = bot
        .fake
        .wait_request(
            "the confirmation question",
            |r| r.method == "POST" && r.path == follow,
            WAIT,
        )
        .await
        .unwrap();
    assert!(
        q.body["content"]
            .as_str()
            .unwrap()
            .contains("is marked dangerous"),
        "{}",
        q.body
    );
    let confirm = first_button(&q.body);
    assert!(confirm.starts_with("chatops:confirm:"), "{confirm}");
    let (cid, ctoken) = bot.send(bot.fake.button_press(&confirm, ALICE, 4)).await;
    assert_eq!(bot.callback(&cid, &ctoken).await.body["type"], 7);
    let original = format!(
        "/api/v10/webhooks/{}/{ctoken}/messages/@original",
        FakeDiscord::APP_ID
    );
    bot.fake
        .wait_request(
            "the confirmed press's answer",
            |r| {
                r.method == "PATCH"
                    && r.path == original
                    && r.body["content"] == "T-1 closed by User 4242"
            },
            WAIT,
        )
        .await
        .unwrap();
    bot.stop().await;
}

/// The custom id of button `n` on a fresh `/ticket open` answer.
async fn cb_button(bot: &Bot, n: usize) -> String {
    let (id, token) = bot
        .slash("ticket", open_ticket("disk full", 3), ALICE)
        .await;
    let cb = bot.callback(&id, &token).await;
    cb.body["data"]["components"][0]["components"][n]["custom_id"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn a_press_by_a_user_the_rules_refuse_runs_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let paths = write_plugins(dir.path(), &["rich"]);
    let cfg = dir.path().join("chatops.toml");
    std::fs::write(
        &cfg,
        format!(
            "[plugins.rich]\npath = \"rich.wasm\"\nsha256 = \"{}\"\n\n[[plugins.rich.rules]]\nname = \"tickets are for alice\"\ncommand = \"ticket\"\nusers = [\"{ALICE}\"]\n",
            chatops::runtime::sha256_hex(&std::fs::read(&paths[0]).unwrap()),
        ),
    )
    .unwrap();
    let bot = Bot::start(Chat::from_config(&cfg).await.with_dir(dir)).await;
    let (id, token) = bot.slash("ticket", open_ticket("db down", 2), ALICE).await;
    let ack = first_button(&bot.callback(&id, &token).await.body["data"]);

    let (pid, ptoken) = bot.send(bot.fake.button_press(&ack, BOB, 1)).await;
    assert_eq!(bot.callback(&pid, &ptoken).await.body["type"], 6);
    let follow = format!("/api/v10/webhooks/{}/{ptoken}", FakeDiscord::APP_ID);
    let f = bot
        .fake
        .wait_request(
            "the refusal",
            |r| r.method == "POST" && r.path == follow,
            WAIT,
        )
        .await
        .unwrap();
    let text = f.body["content"].as_str().unwrap();
    assert!(
        text.contains("You may not press this (`ticket ack`)")
            && text.contains("tickets are for alice"),
        "{text}"
    );
    assert_eq!(f.body["flags"], 64, "only the presser sees why");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let original = format!(
        "/api/v10/webhooks/{}/{ptoken}/messages/@original",
        FakeDiscord::APP_ID
    );
    assert!(
        !bot.fake.requests().iter().any(|r| r.path == original),
        "the message with the button is left as it was"
    );
    bot.stop().await;
}

#[tokio::test]
async fn autocomplete_is_answered_within_its_limit() {
    let chat = Chat::dev(&["rich"], Grants::default(), &[]).await;
    let bot = Bot::start(chat).await;
    let mut ev = bot.fake.slash_command(
        "status",
        json!([{"name": "service", "type": 3, "value": "a", "focused": true}]),
        ALICE,
        &[],
    );
    ev["type"] = json!(4);
    let started = Instant::now();
    let (id, token) = bot.send(ev).await;
    let cb = bot.callback(&id, &token).await;
    let took = started.elapsed();
    assert_eq!(cb.body["type"], 8, "{}", cb.body);
    assert_eq!(
        cb.body["data"]["choices"],
        json!([{"name": "api", "value": "api"}, {"name": "auth", "value": "auth"}])
    );
    assert!(
        took < chatops::dispatch::AUTOCOMPLETE_LIMIT,
        "answered in {took:?}"
    );
    bot.stop().await;
}

#[tokio::test]
async fn a_plugin_over_a_discord_limit_is_refused_at_load_naming_it() {
    let runtime = chatops::runtime::Runtime::new().unwrap();
    let err = runtime
        .load(
            &plugin_bytes("overlimit"),
            "overlimit.wasm",
            &chatops::config::Limits::default(),
        )
        .await
        .err()
        .expect("refused");
    assert_eq!(
        err.to_string(),
        "overlimit.wasm describes itself wrongly: command `pick`: option `region` has 26 choices; Discord allows at most 25"
    );
}

#[tokio::test]
async fn the_shell_shows_embeds_attachments_and_buttons_and_presses_one() {
    use chatops::adapters::shell;
    let chat = Chat::dev(&["rich"], Grants::default(), &[]).await;
    let mut buttons = shell::Pressable::default();
    let r = chat.say("ticket open \"db down\" 1").await;
    let shown = shell::render(&r);
    assert!(shown.contains("Opened T-1: db down"), "{shown}");
    assert!(
        shown.contains("┃ #e03b3b T-1 db down <https://tickets.example.com/T-1>"),
        "{shown}"
    );
    assert!(shown.contains("┃ Severity: 1"), "{shown}");
    assert!(
        shown.contains("[1] Ack  [2] Close  [link] Open <https://tickets.example.com/T-1>"),
        "{shown}"
    );
    buttons.update(&r);

    let progress: std::sync::Arc<dyn chatops::capabilities::ProgressSink> = chat.progress.clone();
    let pressed = buttons
        .press(&chat.bot.dispatcher, &chat.who, "1", progress.clone())
        .await
        .unwrap();
    let shown = shell::render(&pressed);
    assert!(
        shown.contains("(the message with the button now reads:)"),
        "{shown}"
    );
    assert!(shown.contains("T-1 acked by alice"), "{shown}");
    let err = buttons
        .press(&chat.bot.dispatcher, &chat.who, "9", progress)
        .await
        .err()
        .unwrap();
    assert_eq!(err, "there is no button 9 on the last answer (3 button(s))");

    let r = chat.say("logs").await;
    let shown = shell::render(&r);
    let saved = shown
        .split("saved to ")
        .nth(1)
        .map(str::trim)
        .unwrap_or_else(|| panic!("{shown}"));
    assert!(
        shown.contains("📎 app.log (text/plain, 14 bytes)"),
        "{shown}"
    );
    assert_eq!(std::fs::read_to_string(saved).unwrap(), "line 1\nline 2\n");
    std::fs::remove_file(saved).unwrap();
}

#[tokio::test]
async fn a_posted_message_carries_its_embed_and_a_button_that_works() {
    let grants = Grants {
        post: vec![FakeDiscord::CHANNEL_ID.to_string()],
        ..Grants::default()
    };
    let chat = Chat::dev(&["rich"], grants, &[]).await;
    let bot = Bot::start(chat).await;
    let (id, token) = bot.slash("announce", json!([]), ALICE).await;
    assert_eq!(
        bot.callback(&id, &token).await.body["data"]["content"],
        "Announced."
    );
    let path = format!("/api/v10/channels/{}/messages", FakeDiscord::CHANNEL_ID);
    let post = bot
        .fake
        .requests()
        .into_iter()
        .find(|r| r.method == "POST" && r.path == path)
        .expect("the card was posted before the answer");
    assert_eq!(post.body["content"], "Alert A-1");
    assert_eq!(post.body["embeds"][0]["title"], "disk full on db-1");
    assert_eq!(post.body["embeds"][0]["color"], 0xE0_3B_3B);
    let ack = first_button(&post.body);
    assert_eq!(ack, "cx|ticket ack|-|ack:A-1");
    let (pid, ptoken) = bot.send(bot.fake.button_press(&ack, BOB, 77)).await;
    assert_eq!(bot.callback(&pid, &ptoken).await.body["type"], 6);
    let original = format!(
        "/api/v10/webhooks/{}/{ptoken}/messages/@original",
        FakeDiscord::APP_ID
    );
    bot.fake
        .wait_request(
            "the card, edited by the press",
            |r| {
                r.method == "PATCH"
                    && r.path == original
                    && r.body["content"] == "A-1 acked by User 4343"
            },
            WAIT,
        )
        .await
        .unwrap();
    bot.stop().await;
}

#[tokio::test]
async fn an_opened_incident_has_a_severity_card_and_an_ack_button_that_acks_it() {
    use chatops::adapters::shell;
    let grants = Grants {
        kv: true,
        ..Grants::default()
    };
    let chat = Chat::dev(&["incident"], grants, &[]).await;
    let r = chat.say("incident open \"db down\" sev1").await;
    assert_eq!(r.kind, Kind::Reply, "{}", r.text);
    assert_eq!(r.rich.embeds[0].color, Some(0xE0_3B_3B), "sev1 is red");
    let mut buttons = shell::Pressable::default();
    buttons.update(&r);
    let progress: std::sync::Arc<dyn chatops::capabilities::ProgressSink> = chat.progress.clone();
    let acked = buttons
        .press(&chat.bot.dispatcher, &chat.who, "1", progress)
        .await
        .unwrap();
    assert!(acked.edit, "{acked:?}");
    assert!(
        acked.text.contains("You acknowledged **INC-1**"),
        "{}",
        acked.text
    );
    assert!(chat
        .ok("incident show INC-1")
        .await
        .contains("acknowledged"));
}
