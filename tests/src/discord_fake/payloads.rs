//! JSON objects the fake hands out: users, members, messages, commands, channels, and the
//! gateway's READY. Each carries the fields serenity 0.12 needs to deserialize it (see the
//! minimal-fields table in shared/discord-fake.md; unit tests below check every builder
//! against serenity's own types) plus the ones a real Discord sends that an adapter is
//! likely to read.

use serde_json::{json, Map, Value};

/// Snowflakes travel as strings in Discord's JSON.
pub fn sf(id: u64) -> Value {
    Value::String(id.to_string())
}

/// RFC 3339 "now", as Discord formats timestamps.
pub fn now() -> String {
    serenity::model::Timestamp::now().to_string()
}

pub fn user(id: u64) -> Value {
    json!({
        "id": sf(id),
        "username": format!("user{id}"),
        "discriminator": "0",
        "global_name": format!("User {id}"),
        "avatar": null,
        "bot": false,
    })
}

pub fn bot_user(id: u64) -> Value {
    json!({
        "id": sf(id),
        "username": "chatops-fake",
        "discriminator": "0",
        "global_name": null,
        "avatar": null,
        "bot": true,
        "verified": true,
        "mfa_enabled": false,
        "flags": 0,
    })
}

/// A guild member as interactions carry it: with `user`, roles as snowflake strings.
pub fn member(user_id: u64, roles: &[u64]) -> Value {
    json!({
        "user": user(user_id),
        "roles": roles.iter().map(|r| sf(*r)).collect::<Vec<_>>(),
        "joined_at": now(),
        "premium_since": null,
        "nick": null,
        "avatar": null,
        "deaf": false,
        "mute": false,
        "pending": false,
        "flags": 0,
        // Everything but Administrator: interactions carry the caller's permissions.
        "permissions": "2147483639",
    })
}

pub fn application(app_id: u64, bot_id: u64) -> Value {
    json!({
        "id": sf(app_id),
        "name": "chatops-fake",
        "icon": null,
        "description": "Fake application served by the test Discord",
        "bot_public": false,
        "bot_require_code_grant": false,
        "verify_key": "00".repeat(32),
        "flags": 0,
        "owner": user(bot_id.wrapping_add(1000)),
        "team": null,
        "bot": bot_user(bot_id),
    })
}

/// A guild text channel.
pub fn text_channel(channel_id: u64, guild_id: u64) -> Value {
    json!({
        "id": sf(channel_id),
        "type": 0,
        "guild_id": sf(guild_id),
        "name": format!("channel-{channel_id}"),
        "position": 0,
        "permission_overwrites": [],
        "nsfw": false,
        "topic": null,
        "last_message_id": null,
        "parent_id": null,
        "rate_limit_per_user": 0,
        "flags": 0,
    })
}

/// Fields of a message a client may set in a create or edit whose request form is also
/// their answer form; an edit replaces exactly the fields its body names. (`poll` and
/// `sticker_ids` are answered in another shape, which the fake does not build.)
const EDITABLE: &[&str] = &["content", "embeds", "components", "flags", "tts"];

pub struct NewMessage<'a> {
    pub id: u64,
    pub channel_id: u64,
    pub guild_id: Option<u64>,
    pub author: Value,
    /// The client's request body (or `{}`), whose editable fields are copied in.
    pub body: &'a Value,
    /// Attachments as (filename, size); their ids and URLs are made up.
    pub files: &'a [(String, usize)],
    /// Hands out fresh snowflakes (for attachment ids).
    pub ids: &'a dyn Fn() -> u64,
    /// Set for messages sent through a webhook or an interaction token.
    pub webhook_id: Option<u64>,
    pub application_id: Option<u64>,
    /// Message type: 0 default, 19 reply, 20 chat-input command answer.
    pub kind: u8,
    pub base_url: &'a str,
}

pub fn message(m: NewMessage<'_>) -> Value {
    let mut v = json!({
        "id": sf(m.id),
        "channel_id": sf(m.channel_id),
        "author": m.author,
        "content": "",
        "timestamp": now(),
        "edited_timestamp": null,
        "tts": false,
        "mention_everyone": false,
        "mentions": [],
        "mention_roles": [],
        "attachments": [],
        "embeds": [],
        "components": [],
        "pinned": false,
        "type": m.kind,
        "flags": 0,
    });
    let obj = v.as_object_mut().expect("literal object");
    if let Some(g) = m.guild_id {
        obj.insert("guild_id".into(), sf(g));
    }
    if let Some(w) = m.webhook_id {
        obj.insert("webhook_id".into(), sf(w));
    }
    if let Some(a) = m.application_id {
        obj.insert("application_id".into(), sf(a));
    }
    apply_edit(obj, m.body, m.files, m.ids, m.base_url);
    v
}

/// Applies a create/edit body to a stored message.
pub fn apply_edit(
    msg: &mut Map<String, Value>,
    body: &Value,
    files: &[(String, usize)],
    ids: &dyn Fn() -> u64,
    base: &str,
) {
    for key in EDITABLE {
        match (*key, body.get(*key)) {
            // `null` in an edit clears the text or a list; other fields keep their value.
            ("content", Some(Value::Null)) => {
                msg.insert("content".into(), json!(""));
            }
            ("embeds" | "components", Some(Value::Null)) => {
                msg.insert((*key).into(), json!([]));
            }
            (_, Some(Value::Null) | None) => {}
            (_, Some(v)) => {
                msg.insert((*key).into(), v.clone());
            }
        }
    }
    if !files.is_empty() {
        let atts: Vec<Value> = files
            .iter()
            .map(|(name, size)| {
                let id = ids();
                let url = format!("{base}/attachments/{id}/{name}");
                json!({"id": sf(id), "filename": name, "size": size, "url": url, "proxy_url": url})
            })
            .collect();
        msg.insert("attachments".into(), Value::Array(atts));
    } else if let Some(Value::Array(kept)) = body.get("attachments") {
        // An edit lists the attachments to keep by id; keep those the message has.
        let keep: Vec<&Value> = kept.iter().filter_map(|a| a.get("id")).collect();
        if let Some(Value::Array(current)) = msg.get_mut("attachments") {
            current.retain(|a| {
                a.get("id")
                    .is_some_and(|id| keep.iter().any(|k| id_eq(k, id)))
            });
        }
    }
}

/// Snowflakes may arrive as strings or numbers.
fn id_eq(a: &Value, b: &Value) -> bool {
    let s = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    s(a) == s(b)
}

/// An application command as Discord answers a registration: the request's fields plus
/// the ones Discord fills in.
pub fn command(req: &Value, id: u64, app_id: u64, guild_id: Option<u64>, version: u64) -> Value {
    let mut cmd = json!({
        "id": sf(id),
        "application_id": sf(app_id),
        "version": sf(version),
        "type": req.get("type").and_then(Value::as_u64).unwrap_or(1),
        "name": req.get("name").cloned().unwrap_or(json!("")),
        "description": req.get("description").cloned().filter(|d| !d.is_null()).unwrap_or(json!("")),
        "options": req.get("options").cloned().filter(|o| !o.is_null()).unwrap_or(json!([])),
        "default_member_permissions": null,
        "nsfw": req.get("nsfw").cloned().unwrap_or(json!(false)),
        "dm_permission": true,
    });
    let obj = cmd.as_object_mut().expect("literal object");
    if let Some(g) = guild_id {
        obj.insert("guild_id".into(), sf(g));
    }
    // Discord echoes permissions as a string whatever form the request used.
    match req.get("default_member_permissions") {
        Some(Value::Number(n)) => {
            obj.insert("default_member_permissions".into(), json!(n.to_string()));
        }
        Some(Value::String(s)) => {
            obj.insert("default_member_permissions".into(), json!(s));
        }
        _ => {}
    }
    for key in [
        "name_localizations",
        "description_localizations",
        "contexts",
        "integration_types",
        "dm_permission",
    ] {
        if let Some(v) = req.get(key).filter(|v| !v.is_null()) {
            obj.insert(key.into(), v.clone());
        }
    }
    cmd
}

pub struct ReadyInfo<'a> {
    pub session_id: &'a str,
    pub resume_url: &'a str,
    pub bot_id: u64,
    pub app_id: u64,
    /// The guilds of the shard identifying (Discord lists them unavailable, then sends a
    /// GUILD_CREATE for each).
    pub guilds: &'a [u64],
    /// The `shard` array the bot identified with, echoed back.
    pub shard: Value,
}

pub fn ready(r: ReadyInfo<'_>) -> Value {
    json!({
        "v": 10,
        "user": bot_user(r.bot_id),
        "guilds": r.guilds.iter().map(|g| json!({"id": sf(*g), "unavailable": true})).collect::<Vec<_>>(),
        "session_id": r.session_id,
        "resume_gateway_url": r.resume_url,
        "shard": r.shard,
        "application": {"id": sf(r.app_id), "flags": 0},
        "private_channels": [],
        "relationships": [],
        "presences": [],
        "geo_ordered_rtc_regions": [],
        "guild_join_requests": [],
        "user_settings": {},
        "_trace": ["fake-discord"],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serenity::model::prelude::*;

    fn de<T: serde::de::DeserializeOwned>(v: Value) -> T {
        serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("{e}: {v:#}"))
    }

    #[test]
    fn serenity_reads_every_builder() {
        let body = json!({
            "content": "hi",
            "embeds": [{"title": "t", "description": "d", "color": 3447003, "fields": [{"name": "a", "value": "b", "inline": true}]}],
            "components": [{"type": 1, "components": [{"type": 2, "style": 1, "label": "Go", "custom_id": "go"}]}],
        });
        let files = [("a.txt".to_string(), 3)];
        let msg = message(NewMessage {
            id: 10,
            channel_id: 11,
            guild_id: Some(12),
            author: bot_user(13),
            body: &body,
            files: &files,
            ids: &|| 99,
            webhook_id: Some(14),
            application_id: Some(14),
            kind: 20,
            base_url: "http://127.0.0.1:1",
        });
        let m: Message = de(msg);
        assert_eq!(m.content, "hi");
        assert_eq!(m.components.len(), 1);
        assert_eq!(m.attachments[0].filename, "a.txt");
        let _: CurrentUser = de(bot_user(1));
        let _: Member = de({
            let mut m = member(2, &[3]);
            m["guild_id"] = sf(4);
            m
        });
        let _: CurrentApplicationInfo = de(application(1, 2));
        let _: GuildChannel = de(text_channel(1, 2));
        let req = json!({"name": "x", "description": "y", "options": [{"type": 3, "name": "o", "description": "d", "required": true}], "default_member_permissions": "8"});
        let c: Command = de(command(&req, 1, 2, Some(3), 4));
        assert_eq!(c.options.len(), 1);
        let _: Ready = de(ready(ReadyInfo {
            session_id: "s",
            resume_url: "ws://127.0.0.1:1/gateway",
            bot_id: 1,
            app_id: 2,
            guilds: &[3],
            shard: json!([0, 1]),
        }));
    }
}
