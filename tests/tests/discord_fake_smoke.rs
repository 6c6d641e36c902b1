//! The fake Discord, proven against the real serenity 0.12 client: connect, register
//! commands, answer interactions and messages, resume after a dropped connection or op 7,
//! see injected HTTP failures, and have bad request bodies reported.
//!
//! The bot here is a small serenity EventHandler that reports what happened to the test
//! over a channel; the fake reports what the bot sent.

use chatops_tests::discord_fake::{FakeDiscord, FakeOptions, Recorded};
use serde_json::{json, Value};
use serenity::all::{
    ChannelId, Client, ClientBuilder, CommandDataOptionValue, CommandOptionType, Context,
    CreateActionRow, CreateAttachment, CreateButton, CreateCommand, CreateCommandOption,
    CreateInteractionResponse, CreateInteractionResponseFollowup, CreateInteractionResponseMessage,
    EditInteractionResponse, Event, EventHandler, GatewayIntents, GuildId, HttpBuilder,
    Interaction, Message, RawEventHandler, Ready, ShardManager,
};
use serenity::async_trait;
use serenity::http::Http;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// Bound on a whole test: a hung bot or fake fails the test instead of CI.
const TEST: Duration = Duration::from_secs(60);
/// Bound on one step.
const STEP: Duration = Duration::from_secs(15);

/// What the bot's handlers saw and how their REST calls went.
#[derive(Debug)]
enum Seen {
    /// `ready` ran; the result of registering commands.
    Ready(Result<usize, String>),
    /// A command was answered; the HTTP status if answering failed.
    Answered {
        command: String,
        failed_status: Option<u16>,
        error: Option<String>,
    },
    /// The "panel" command's edit and follow-up returned these message ids.
    Panel { original: u64, followup: u64 },
    /// A button press was answered with an update.
    Pressed {
        custom_id: String,
        error: Option<String>,
    },
    /// A message was echoed with `say`.
    Echoed(Result<u64, String>),
    /// serenity could not read a dispatch.
    Unknown(String),
}

struct Handler {
    tx: mpsc::UnboundedSender<Seen>,
    /// Registered as guild commands in `ready`.
    commands: Vec<CreateCommand>,
}

fn status_of(e: &serenity::Error) -> Option<u16> {
    match e {
        serenity::Error::Http(h) => h.status_code().map(|s| s.as_u16()),
        _ => None,
    }
}

#[async_trait]
impl EventHandler for Handler {
    async fn ready(&self, ctx: Context, _ready: Ready) {
        let guild = GuildId::new(FakeDiscord::GUILD_ID);
        let result = guild.set_commands(&ctx.http, self.commands.clone()).await;
        let _ = self.tx.send(Seen::Ready(
            result.map(|c| c.len()).map_err(|e| e.to_string()),
        ));
    }

    async fn interaction_create(&self, ctx: Context, interaction: Interaction) {
        match interaction {
            Interaction::Command(cmd) if cmd.data.name == "panel" => {
                let button = CreateButton::new("confirm").label("Confirm");
                let first = CreateInteractionResponseMessage::new()
                    .content("panel")
                    .components(vec![CreateActionRow::Buttons(vec![button])]);
                let result = async {
                    cmd.create_response(&ctx.http, CreateInteractionResponse::Message(first))
                        .await?;
                    let edited = cmd
                        .edit_response(
                            &ctx.http,
                            EditInteractionResponse::new().content("panel v2"),
                        )
                        .await?;
                    let followup = CreateInteractionResponseFollowup::new()
                        .content("log attached")
                        .ephemeral(true)
                        .add_file(CreateAttachment::bytes(b"hello".to_vec(), "log.txt"));
                    let followup = cmd.create_followup(&ctx.http, followup).await?;
                    Ok::<_, serenity::Error>((edited.id.get(), followup.id.get()))
                }
                .await;
                let seen = match result {
                    Ok((original, followup)) => Seen::Panel { original, followup },
                    Err(e) => Seen::Answered {
                        command: "panel".into(),
                        failed_status: status_of(&e),
                        error: Some(e.to_string()),
                    },
                };
                let _ = self.tx.send(seen);
            }
            Interaction::Command(cmd) => {
                let service = cmd
                    .data
                    .options
                    .iter()
                    .find_map(|o| match &o.value {
                        CommandDataOptionValue::String(s) if o.name == "service" => Some(s.clone()),
                        _ => None,
                    })
                    .unwrap_or_default();
                let msg =
                    CreateInteractionResponseMessage::new().content(format!("deploying {service}"));
                let result = cmd
                    .create_response(&ctx.http, CreateInteractionResponse::Message(msg))
                    .await;
                let _ = self.tx.send(Seen::Answered {
                    command: cmd.data.name.clone(),
                    failed_status: result.as_ref().err().and_then(status_of),
                    error: result.err().map(|e| e.to_string()),
                });
            }
            Interaction::Component(press) => {
                let update = CreateInteractionResponseMessage::new()
                    .content("confirmed")
                    .components(vec![]);
                let result = press
                    .create_response(&ctx.http, CreateInteractionResponse::UpdateMessage(update))
                    .await;
                let _ = self.tx.send(Seen::Pressed {
                    custom_id: press.data.custom_id.clone(),
                    error: result.err().map(|e| e.to_string()),
                });
            }
            _ => {}
        }
    }

    async fn message(&self, ctx: Context, msg: Message) {
        if msg.author.bot {
            return;
        }
        let result = match msg.content.strip_prefix("!reply ") {
            Some(rest) => msg.reply(&ctx.http, format!("re: {rest}")).await,
            None => {
                msg.channel_id
                    .say(&ctx.http, format!("echo: {}", msg.content))
                    .await
            }
        };
        let _ = self.tx.send(Seen::Echoed(
            result.map(|m| m.id.get()).map_err(|e| e.to_string()),
        ));
    }
}

/// Reports dispatches serenity could not read: without this such a test just times out.
struct Raw(mpsc::UnboundedSender<Seen>);

#[async_trait]
impl RawEventHandler for Raw {
    async fn raw_event(&self, _ctx: Context, ev: Event) {
        if let Event::Unknown(u) = ev {
            let _ = self
                .0
                .send(Seen::Unknown(format!("{}: {}", u.kind, u.value)));
        }
    }
}

struct Bot {
    http: Arc<Http>,
    shard_manager: Arc<ShardManager>,
    task: tokio::task::JoinHandle<Result<(), serenity::Error>>,
    seen: mpsc::UnboundedReceiver<Seen>,
}

fn deploy_command() -> CreateCommand {
    CreateCommand::new("deploy")
        .description("Deploy a service")
        .add_option(
            CreateCommandOption::new(CommandOptionType::String, "service", "Which service")
                .required(true),
        )
}

/// serenity against the fake: the proxy only takes effect with the rate limiter off, and
/// reqwest must not send loopback traffic to an HTTP_PROXY from the environment.
fn http_for(fake: &FakeDiscord) -> Http {
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("reqwest client");
    HttpBuilder::new(FakeDiscord::TOKEN)
        .client(client)
        .proxy(fake.url())
        .ratelimiter_disabled(true)
        .build()
}

async fn start_bot(fake: &FakeDiscord, commands: Vec<CreateCommand>) -> Bot {
    let (tx, seen) = mpsc::unbounded_channel();
    let intents =
        GatewayIntents::GUILDS | GatewayIntents::GUILD_MESSAGES | GatewayIntents::MESSAGE_CONTENT;
    let mut client: Client = ClientBuilder::new_with_http(http_for(fake), intents)
        .event_handler(Handler {
            tx: tx.clone(),
            commands,
        })
        .raw_event_handler(Raw(tx))
        .await
        .expect("build serenity client");
    let http = client.http.clone();
    let shard_manager = client.shard_manager.clone();
    let task = tokio::spawn(async move { client.start().await });
    Bot {
        http,
        shard_manager,
        task,
        seen,
    }
}

impl Bot {
    /// The next report matching `pred`; unknown events fail at once.
    async fn expect(&mut self, what: &str, pred: impl Fn(&Seen) -> bool) -> Seen {
        let wait = async {
            while let Some(s) = self.seen.recv().await {
                if let Seen::Unknown(u) = &s {
                    panic!("serenity could not read a dispatch while waiting for {what}: {u}");
                }
                if pred(&s) {
                    return s;
                }
            }
            panic!("the bot's handlers are gone while waiting for {what}");
        };
        tokio::time::timeout(STEP, wait)
            .await
            .unwrap_or_else(|_| panic!("timed out waiting for the bot: {what}"))
    }

    async fn shutdown(self) {
        self.shard_manager.shutdown_all().await;
        let ended = tokio::time::timeout(STEP, self.task)
            .await
            .expect("client.start() returns after shutdown_all");
        ended
            .expect("client task")
            .expect("client.start() ends cleanly");
    }
}

async fn bounded(test: impl Future<Output = ()>) {
    tokio::time::timeout(TEST, test)
        .await
        .expect("test took too long");
}

/// Sends a `/deploy service:<service>` and returns the callback the bot made for it.
async fn deploy(fake: &FakeDiscord, service: &str) -> Recorded {
    let ev = fake.slash_command(
        "deploy",
        json!([{"name": "service", "type": 3, "value": service}]),
        42,
        &[7],
    );
    let path = format!(
        "/api/v10/interactions/{}/{}/callback",
        ev["id"].as_str().unwrap(),
        ev["token"].as_str().unwrap()
    );
    fake.dispatch("INTERACTION_CREATE", ev).await;
    fake.wait_request(
        &format!("the callback for deploy {service}"),
        |r| r.path == path,
        STEP,
    )
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bot_connects_registers_commands_and_answers() {
    bounded(async {
        let fake = FakeDiscord::start().await;
        let mut bot = start_bot(&fake, vec![deploy_command()]).await;
        fake.wait_ready(STEP).await.unwrap();
        let identify = &fake.gateway_received().into_iter().find(|f| f["op"] == 2).expect("Identify recorded")["d"];
        assert_eq!(identify["token"], format!("Bot {}", FakeDiscord::TOKEN));

        // Registration from `ready`, checked against the OpenAPI description.
        let put_path =
            format!("/api/v10/applications/{}/guilds/{}/commands", FakeDiscord::APP_ID, FakeDiscord::GUILD_ID);
        let put = fake
            .wait_request("guild command registration", |r| r.method == "PUT" && r.path == put_path, STEP)
            .await
            .unwrap();
        assert_eq!(put.status, 200);
        assert_eq!(put.body[0]["name"], "deploy");
        assert!(matches!(bot.expect("ready", |s| matches!(s, Seen::Ready(_))).await, Seen::Ready(Ok(1))));
        assert_eq!(fake.commands().len(), 1);

        // A slash command reaches `interaction_create`; its answer is a recorded callback.
        let callback = deploy(&fake, "web").await;
        assert_eq!(callback.status, 204);
        assert_eq!(callback.body["type"], 4);
        assert_eq!(callback.body["data"]["content"], "deploying web");
        let seen = bot.expect("deploy answered", |s| matches!(s, Seen::Answered { .. })).await;
        assert!(
            matches!(&seen, Seen::Answered { command, failed_status: None, error: None } if command == "deploy"),
            "{seen:?}"
        );

        // A message reaches `message`; `say` is a recorded POST whose answer serenity reads.
        let channel = 555_000_000_000_000_001;
        fake.dispatch("MESSAGE_CREATE", fake.message(channel, "hello", 42)).await;
        let say = fake
            .wait_request(
                "channel_id.say",
                |r| r.method == "POST" && r.path == format!("/api/v10/channels/{channel}/messages"),
                STEP,
            )
            .await
            .unwrap();
        assert_eq!(say.body["content"], "echo: hello");
        assert!(matches!(bot.expect("echo", |s| matches!(s, Seen::Echoed(_))).await, Seen::Echoed(Ok(_))));

        // A reply carries a message_reference, and its answer still deserializes.
        let incoming = fake.message(channel, "!reply hi", 42);
        let incoming_id = incoming["id"].clone();
        fake.dispatch("MESSAGE_CREATE", incoming).await;
        assert!(matches!(bot.expect("reply", |s| matches!(s, Seen::Echoed(_))).await, Seen::Echoed(Ok(_))));
        let reply = fake.wait_request("msg.reply", |r| r.body["content"] == "re: hi", STEP).await.unwrap();
        assert_eq!(reply.body["message_reference"]["message_id"], incoming_id);

        // The read-only routes answer what serenity can deserialize.
        let me = bot.http.get_current_user().await.unwrap();
        assert_eq!(me.id.get(), FakeDiscord::BOT_USER_ID);
        let app = bot.http.get_current_application_info().await.unwrap();
        assert_eq!(app.id.get(), FakeDiscord::APP_ID);
        let ch = ChannelId::new(channel).to_channel(&bot.http).await.unwrap();
        assert_eq!(ch.guild().map(|g| g.guild_id.get()), Some(FakeDiscord::GUILD_ID));

        assert_eq!(fake.spec_violations(), Vec::<String>::new());
        bot.shutdown().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edits_followups_with_files_and_buttons() {
    bounded(async {
        let fake = FakeDiscord::start().await;
        let panel = CreateCommand::new("panel").description("Show a panel");
        let mut bot = start_bot(&fake, vec![panel]).await;
        bot.expect("ready", |s| matches!(s, Seen::Ready(Ok(1))))
            .await;

        fake.dispatch(
            "INTERACTION_CREATE",
            fake.slash_command("panel", Value::Null, 42, &[]),
        )
        .await;
        let Seen::Panel { original, followup } = bot
            .expect("panel", |s| {
                matches!(s, Seen::Panel { .. } | Seen::Answered { .. })
            })
            .await
        else {
            panic!("panel failed: {:#?}", fake.requests());
        };
        let edit = fake
            .wait_request(
                "edit of @original",
                |r| r.method == "PATCH" && r.path.ends_with("/messages/@original"),
                STEP,
            )
            .await
            .unwrap();
        assert_eq!(edit.body["content"], "panel v2");
        let up = fake
            .wait_request(
                "follow-up",
                |r| r.method == "POST" && r.path.starts_with("/api/v10/webhooks/"),
                STEP,
            )
            .await
            .unwrap();
        assert_eq!(up.files, vec![("log.txt".to_string(), 5)]);
        assert_eq!(up.body["content"], "log attached");
        assert_eq!(up.body["flags"], 64, "ephemeral");
        assert_eq!(
            fake.message_by_id(followup).unwrap()["attachments"][0]["filename"],
            "log.txt"
        );

        // The button on the answer, pressed: the bot updates that message (callback type 7).
        fake.dispatch(
            "INTERACTION_CREATE",
            fake.button_press("confirm", 42, original),
        )
        .await;
        let seen = bot
            .expect("button", |s| matches!(s, Seen::Pressed { .. }))
            .await;
        assert!(
            matches!(&seen, Seen::Pressed { custom_id, error: None } if custom_id == "confirm"),
            "{seen:?}"
        );
        let msg = fake.message_by_id(original).unwrap();
        assert_eq!(msg["content"], "confirmed");
        assert_eq!(msg["components"], json!([]));

        assert_eq!(fake.spec_violations(), Vec::<String>::new());
        bot.shutdown().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bot_resumes_after_a_dropped_connection_and_op7() {
    bounded(async {
        let fake = FakeDiscord::start().await;
        let mut bot = start_bot(&fake, vec![deploy_command()]).await;
        bot.expect("ready", |s| matches!(s, Seen::Ready(Ok(1))))
            .await;

        fake.drop_connection().await;
        fake.wait_resumed(1, STEP).await.unwrap();
        let resume = fake
            .gateway_received()
            .into_iter()
            .find(|f| f["op"] == 6)
            .expect("Resume recorded");
        assert_eq!(resume["d"]["session_id"], "fake-session-1");
        assert_eq!(
            resume["d"]["seq"], 1,
            "READY was the only dispatch before the drop"
        );
        assert_eq!(deploy(&fake, "after-drop").await.status, 204);

        fake.request_reconnect().await;
        // Dispatched while the bot reconnects: kept and delivered after RESUMED.
        assert_eq!(deploy(&fake, "after-op7").await.status, 204);
        assert_eq!(fake.resume_count(), 2);
        assert_eq!(
            fake.identify_count(),
            1,
            "the bot resumed instead of identifying again"
        );

        assert_eq!(fake.spec_violations(), Vec::<String>::new());
        bot.shutdown().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_failures_reach_the_handler() {
    bounded(async {
        let fake = FakeDiscord::start().await;
        let mut bot = start_bot(&fake, vec![deploy_command()]).await;
        bot.expect("ready", |s| matches!(s, Seen::Ready(Ok(1))))
            .await;

        for status in [429, 500] {
            fake.fail_next("/callback", status, 1);
            assert_eq!(deploy(&fake, "busy").await.status, status);
            let seen = bot
                .expect("failed answer", |s| matches!(s, Seen::Answered { .. }))
                .await;
            let Seen::Answered {
                failed_status,
                error,
                ..
            } = seen
            else {
                unreachable!()
            };
            assert_eq!(failed_status, Some(status), "{error:?}");
            if status == 429 {
                // The Discord-style body decodes: serenity reports its message.
                assert!(error.unwrap_or_default().contains("rate limited"));
            }
        }

        // The bot carries on.
        assert_eq!(deploy(&fake, "web").await.status, 204);
        bot.expect("answer", |s| {
            matches!(
                s,
                Seen::Answered {
                    failed_status: None,
                    ..
                }
            )
        })
        .await;
        bot.shutdown().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_bodies_are_reported_as_spec_violations() {
    bounded(async {
        let fake = FakeDiscord::start().await;
        let bad = vec![
            CreateCommand::new("Bad Name!").description("fine"),
            CreateCommand::new("long").description("x".repeat(101)),
        ];
        let mut bot = start_bot(&fake, bad).await;
        bot.expect("ready", |s| matches!(s, Seen::Ready(_))).await;

        let violations = fake.spec_violations();
        let put = format!(
            "PUT /api/v10/applications/{}/guilds/{}/commands: ",
            FakeDiscord::APP_ID,
            FakeDiscord::GUILD_ID
        );
        assert_eq!(violations.len(), 1, "{violations:#?}");
        assert!(violations[0].starts_with(&put), "{violations:#?}");
        assert!(
            violations[0].contains("/0/name") && violations[0].contains("Bad Name!"),
            "{violations:#?}"
        );
        assert!(violations[0].contains("/1/description"), "{violations:#?}");
        bot.shutdown().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeats_are_acknowledged() {
    bounded(async {
        let fake = FakeDiscord::start_with(FakeOptions {
            heartbeat_interval: Duration::from_millis(1000),
            ..Default::default()
        })
        .await;
        let mut bot = start_bot(&fake, vec![]).await;
        bot.expect("ready", |s| matches!(s, Seen::Ready(_))).await;
        tokio::time::timeout(STEP, async {
            while fake.heartbeat_count() < 2 {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await
        .expect("two heartbeats");
        // Unacknowledged heartbeats would have made the shard reconnect.
        assert_eq!((fake.identify_count(), fake.resume_count()), (1, 0));
        bot.shutdown().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_token_ends_the_client_with_an_error() {
    bounded(async {
        let fake = FakeDiscord::start().await;
        fake.close_next_identify(4004);
        let bot = start_bot(&fake, vec![]).await;
        let ended = tokio::time::timeout(STEP, bot.task)
            .await
            .expect("client.start() returns")
            .expect("client task");
        let err = ended.expect_err("an authentication error");
        assert!(err.to_string().to_lowercase().contains("auth"), "{err}");
        assert_eq!(fake.identify_count(), 0);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_fake_stops_it() {
    bounded(async {
        let fake = FakeDiscord::start().await;
        let bot = start_bot(&fake, vec![]).await;
        fake.wait_ready(STEP).await.unwrap();
        bot.shutdown().await;
        let addr = fake.url().trim_start_matches("http://").to_string();
        drop(fake);
        // The abort lands when the runtime next polls the server task.
        tokio::time::timeout(STEP, async {
            while tokio::net::TcpStream::connect(&addr).await.is_ok() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .expect("the port closes after the fake is dropped");
    })
    .await;
}
