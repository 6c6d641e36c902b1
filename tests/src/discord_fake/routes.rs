//! What each REST route answers, and the little state the answers need: messages the bot
//! created, interactions the fake sent, commands the bot registered.
//!
//! Answers follow Discord's behaviour where an adapter could trip over it: an interaction
//! can be acknowledged once, its token only reaches its own messages, and unknown
//! messages are 404 with Discord's error codes.

use super::payloads::{self, sf, NewMessage};
use super::rest::{Incoming, Reply};
use super::spec::API_PREFIX;
use super::{FakeDiscord, Shared};
use serde_json::{json, Value};
use std::collections::HashMap;

/// Discord's JSON error codes the fake uses.
const UNKNOWN_APPLICATION: u32 = 10002;
const UNKNOWN_MESSAGE: u32 = 10008;
const UNKNOWN_WEBHOOK: u32 = 10015;
const UNKNOWN_INTERACTION: u32 = 10062;
const MISSING_ACCESS: u32 = 50001;
const ALREADY_ACKNOWLEDGED: u32 = 40060;

/// Message flag Discord sets on a deferred answer until it is edited.
const FLAG_LOADING: u64 = 128;

#[derive(Default)]
pub(crate) struct Store {
    /// Every message the fake knows, by id.
    pub messages: HashMap<u64, Value>,
    /// Interactions the fake sent, by token.
    pub interactions: HashMap<String, InteractionRec>,
    /// Registered commands, as answered (guild commands carry `guild_id`).
    pub commands: Vec<Value>,
}

pub(crate) struct InteractionRec {
    pub id: u64,
    pub channel_id: u64,
    /// The message a component interaction came from.
    pub message_id: Option<u64>,
    pub acknowledged: bool,
    /// The message that `@original` names once the interaction has been answered.
    pub original: Option<u64>,
}

pub(crate) fn route(s: &Shared, r: &Incoming) -> Reply {
    let Some(rest) = r.path.strip_prefix(API_PREFIX) else {
        return Reply::not_found();
    };
    let segs: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    // Interaction and webhook routes are authorised by their token; everything else needs
    // the bot token.
    let token_route = matches!(segs.first(), Some(&"interactions" | &"webhooks"));
    if !token_route
        && !r
            .authorization
            .as_deref()
            .is_some_and(|a| a.starts_with("Bot "))
    {
        return Reply::error(401, 0, "401: Unauthorized");
    }
    let m = r.method.as_str();
    match (m, segs.as_slice()) {
        ("GET", ["gateway"]) => Reply::json(200, json!({"url": s.ws_url})),
        ("GET", ["gateway", "bot"]) => Reply::json(
            200,
            json!({
                "url": s.ws_url,
                "shards": 1,
                "session_start_limit": {"total": 1000, "remaining": 999, "reset_after": 14_400_000, "max_concurrency": 1},
            }),
        ),
        ("GET", ["users", "@me"]) => Reply::json(200, payloads::bot_user(FakeDiscord::BOT_USER_ID)),
        ("GET", ["oauth2", "applications", "@me"] | ["applications", "@me"]) => Reply::json(
            200,
            payloads::application(FakeDiscord::APP_ID, FakeDiscord::BOT_USER_ID),
        ),
        (_, ["applications", app, "commands"]) => commands(s, r, app, None),
        (_, ["applications", app, "guilds", guild, "commands"]) => commands(s, r, app, Some(guild)),
        ("POST", ["interactions", id, token, "callback"]) => callback(s, r, id, token),
        ("POST", ["webhooks", app, token]) => followup(s, r, app, token),
        (_, ["webhooks", app, token, "messages", msg]) => webhook_message(s, r, app, token, msg),
        ("POST", ["channels", channel, "messages"]) => create_channel_message(s, r, channel),
        ("GET", ["channels", channel, "messages"]) => {
            let Some(channel) = snowflake(channel) else {
                return Reply::not_found();
            };
            let store = s.store();
            let mut list: Vec<&Value> = store
                .messages
                .values()
                .filter(|m| m["channel_id"] == sf(channel))
                .collect();
            // Newest first, as Discord lists them.
            list.sort_by_key(|m| {
                std::cmp::Reverse(m["id"].as_str().and_then(|i| i.parse::<u64>().ok()))
            });
            Reply::json(200, json!(list))
        }
        (_, ["channels", channel, "messages", msg]) => channel_message(s, r, channel, msg),
        ("GET", ["channels", channel]) => match snowflake(channel) {
            Some(c) => Reply::json(200, payloads::text_channel(c, s.guild_of(c))),
            None => Reply::not_found(),
        },
        ("POST", ["channels", _, "typing"]) => Reply::no_content(),
        _ => Reply::not_found(),
    }
}

fn snowflake(seg: &str) -> Option<u64> {
    seg.parse().ok()
}

fn commands(s: &Shared, r: &Incoming, app: &str, guild: Option<&str>) -> Reply {
    if snowflake(app) != Some(FakeDiscord::APP_ID) {
        return Reply::error(404, UNKNOWN_APPLICATION, "Unknown Application");
    }
    let guild = match guild.map(snowflake) {
        None => None,
        Some(Some(g)) if s.is_guild(g) => Some(g),
        Some(_) => return Reply::error(403, MISSING_ACCESS, "Missing Access"),
    };
    let same_scope = move |c: &Value| c["guild_id"].as_str().and_then(|g| g.parse().ok()) == guild;
    match r.method.as_str() {
        "GET" => {
            let store = s.store();
            Reply::json(
                200,
                json!(store
                    .commands
                    .iter()
                    .filter(|c| same_scope(c))
                    .collect::<Vec<_>>()),
            )
        }
        // Bulk overwrite: the scope's commands become exactly these.
        "PUT" => {
            let Some(list) = r.body.as_array() else {
                return Reply::error(400, 50035, "Invalid Form Body");
            };
            let answered: Vec<Value> = list.iter().map(|c| register(s, c, guild)).collect();
            let mut store = s.store();
            store.commands.retain(|c| !same_scope(c));
            store.commands.extend(answered.iter().cloned());
            Reply::json(200, json!(answered))
        }
        // Create one, replacing a command of the same name.
        "POST" => {
            let cmd = register(s, &r.body, guild);
            let mut store = s.store();
            store
                .commands
                .retain(|c| !(same_scope(c) && c["name"] == cmd["name"]));
            store.commands.push(cmd.clone());
            Reply::json(201, cmd)
        }
        _ => Reply::not_found(),
    }
}

/// A command's answer; a re-registered name keeps its id, as on Discord.
fn register(s: &Shared, req: &Value, guild: Option<u64>) -> Value {
    let existing = s
        .store()
        .commands
        .iter()
        .find(|c| {
            c["name"] == req["name"] && c["guild_id"].as_str().and_then(|g| g.parse().ok()) == guild
        })
        .and_then(|c| c["id"].as_str()?.parse().ok());
    let id = existing.unwrap_or_else(|| s.next_id());
    payloads::command(req, id, FakeDiscord::APP_ID, guild, s.next_id())
}

fn callback(s: &Shared, r: &Incoming, id: &str, token: &str) -> Reply {
    let kind = r.body["type"].as_u64();
    let data = r.body.get("data").cloned().unwrap_or(json!({}));
    let mut store = s.store();
    let Some(rec) = store
        .interactions
        .get_mut(token)
        .filter(|i| snowflake(id) == Some(i.id))
    else {
        return Reply::error(404, UNKNOWN_INTERACTION, "Unknown interaction");
    };
    if rec.acknowledged {
        return Reply::error(
            400,
            ALREADY_ACKNOWLEDGED,
            "Interaction has already been acknowledged.",
        );
    }
    rec.acknowledged = true;
    let (channel_id, source) = (rec.channel_id, rec.message_id);
    let original = match kind {
        // Message answer, or deferred answer shown as "thinking…" until edited.
        Some(4 | 5) => {
            let body = if kind == Some(4) {
                data
            } else {
                // A deferred answer keeps only its flags (ephemeral) until the edit.
                json!({"flags": data["flags"].as_u64().unwrap_or(0) | FLAG_LOADING})
            };
            let msg_id = s.next_id();
            let msg = app_message(s, msg_id, channel_id, &body, &r.files, 20);
            store.messages.insert(msg_id, msg);
            Some(msg_id)
        }
        // Update the component's message, now or later.
        Some(6 | 7) => {
            if let (Some(7), Some(m)) = (kind, source.and_then(|m| store.messages.get_mut(&m))) {
                if let Some(obj) = m.as_object_mut() {
                    payloads::apply_edit(obj, &data, &r.files, &|| s.next_id(), &s.base_url);
                }
                m["edited_timestamp"] = json!(payloads::now());
            }
            source
        }
        _ => None,
    };
    if let Some(rec) = store.interactions.get_mut(token) {
        rec.original = original;
    }
    if r.query_param("with_response") == Some("true") {
        let message = original.and_then(|m| store.messages.get(&m).cloned());
        return Reply::json(
            200,
            json!({
                "interaction": {"id": id, "type": 2, "activity_instance_id": null, "response_message_id": original.map(sf), "response_message_loading": kind == Some(5), "response_message_ephemeral": false},
                "resource": {"type": kind, "message": message},
            }),
        );
    }
    Reply::no_content()
}

/// A message sent through the application's interaction webhook.
fn app_message(
    s: &Shared,
    id: u64,
    channel_id: u64,
    body: &Value,
    files: &[(String, usize)],
    kind: u8,
) -> Value {
    payloads::message(NewMessage {
        id,
        channel_id,
        guild_id: Some(s.guild_of(channel_id)),
        author: payloads::bot_user(FakeDiscord::BOT_USER_ID),
        body,
        files,
        ids: &|| s.next_id(),
        webhook_id: Some(FakeDiscord::APP_ID),
        application_id: Some(FakeDiscord::APP_ID),
        kind,
        base_url: &s.base_url,
    })
}

fn followup(s: &Shared, r: &Incoming, app: &str, token: &str) -> Reply {
    let channel_id = {
        let store = s.store();
        match store.interactions.get(token) {
            Some(i) if snowflake(app) == Some(FakeDiscord::APP_ID) => i.channel_id,
            _ => return Reply::error(404, UNKNOWN_WEBHOOK, "Unknown Webhook"),
        }
    };
    let id = s.next_id();
    let msg = app_message(s, id, channel_id, &r.body, &r.files, 20);
    s.store().messages.insert(id, msg.clone());
    // `wait=false` asks for no body; interaction follow-ups answer with the message.
    if r.query_param("wait") == Some("false") {
        return Reply::no_content();
    }
    Reply::json(200, msg)
}

fn webhook_message(s: &Shared, r: &Incoming, app: &str, token: &str, msg: &str) -> Reply {
    let mut store = s.store();
    let Some(rec) = store
        .interactions
        .get(token)
        .filter(|_| snowflake(app) == Some(FakeDiscord::APP_ID))
    else {
        return Reply::error(404, UNKNOWN_WEBHOOK, "Unknown Webhook");
    };
    // `@original` is whatever answered the interaction (for a component, possibly the
    // message it came from); any other id must be a message of this webhook.
    let id = match msg {
        "@original" => rec.original.filter(|id| store.messages.contains_key(id)),
        other => snowflake(other).filter(|id| {
            store
                .messages
                .get(id)
                .is_some_and(|m| m["webhook_id"] == sf(FakeDiscord::APP_ID))
        }),
    };
    let Some(id) = id else {
        return Reply::error(404, UNKNOWN_MESSAGE, "Unknown Message");
    };
    match r.method.as_str() {
        "GET" => Reply::json(200, store.messages[&id].clone()),
        "PATCH" => Reply::json(200, edit(s, &mut store, id, r)),
        "DELETE" => {
            store.messages.remove(&id);
            Reply::no_content()
        }
        _ => Reply::not_found(),
    }
}

fn edit(s: &Shared, store: &mut Store, id: u64, r: &Incoming) -> Value {
    let Some(m) = store.messages.get_mut(&id) else {
        return Value::Null;
    };
    if let Some(obj) = m.as_object_mut() {
        payloads::apply_edit(obj, &r.body, &r.files, &|| s.next_id(), &s.base_url);
        // An edit ends the "thinking…" state of a deferred answer.
        if let Some(flags) = obj.get("flags").and_then(Value::as_u64) {
            obj.insert("flags".into(), json!(flags & !FLAG_LOADING));
        }
        obj.insert("edited_timestamp".into(), json!(payloads::now()));
    }
    m.clone()
}

fn create_channel_message(s: &Shared, r: &Incoming, channel: &str) -> Reply {
    let Some(channel_id) = snowflake(channel) else {
        return Reply::not_found();
    };
    let id = s.next_id();
    let reference = r.body.get("message_reference").filter(|v| v.is_object());
    let kind = if reference.is_some() { 19 } else { 0 };
    let mut msg = payloads::message(NewMessage {
        id,
        channel_id,
        guild_id: Some(s.guild_of(channel_id)),
        author: payloads::bot_user(FakeDiscord::BOT_USER_ID),
        body: &r.body,
        files: &r.files,
        ids: &|| s.next_id(),
        webhook_id: None,
        application_id: None,
        kind,
        base_url: &s.base_url,
    });
    if let Some(reference) = reference {
        // A reply names what it answers; serenity needs the channel, which the request may
        // leave out.
        let mut reference = reference.clone();
        if reference["channel_id"].is_null() {
            reference["channel_id"] = sf(channel_id);
        }
        msg["message_reference"] = reference;
    }
    s.store().messages.insert(id, msg.clone());
    Reply::json(200, msg)
}

fn channel_message(s: &Shared, r: &Incoming, channel: &str, msg: &str) -> Reply {
    let (Some(channel_id), Some(id)) = (snowflake(channel), snowflake(msg)) else {
        return Reply::not_found();
    };
    let mut store = s.store();
    if !store
        .messages
        .get(&id)
        .is_some_and(|m| m["channel_id"] == sf(channel_id))
    {
        return Reply::error(404, UNKNOWN_MESSAGE, "Unknown Message");
    }
    match r.method.as_str() {
        "GET" => Reply::json(200, store.messages[&id].clone()),
        "PATCH" => Reply::json(200, edit(s, &mut store, id, r)),
        "DELETE" => {
            store.messages.remove(&id);
            Reply::no_content()
        }
        _ => Reply::not_found(),
    }
}
