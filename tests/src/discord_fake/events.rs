//! Gateway events a test sends to the bot (INTERACTION_CREATE, MESSAGE_CREATE), and the
//! check that serenity would recognise a dispatch at all.

use super::payloads::{self, sf, NewMessage};
use super::routes::InteractionRec;
use super::{FakeDiscord, Shared};
use serde_json::{json, Value};

/// Where an event happens: a channel of a guild.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Place {
    pub guild_id: u64,
    pub channel_id: u64,
}

/// Fields every interaction in a guild carries.
fn interaction_base(
    s: &Shared,
    kind: u8,
    user_id: u64,
    roles: &[u64],
    at: Place,
) -> (u64, String, Value) {
    let Place {
        guild_id,
        channel_id,
    } = at;
    let id = s.next_id();
    let token = format!("fake-interaction-token-{id}");
    let v = json!({
        "id": sf(id),
        "application_id": sf(FakeDiscord::APP_ID),
        "type": kind,
        "token": token,
        "version": 1,
        "guild_id": sf(guild_id),
        "channel_id": sf(channel_id),
        "channel": {"id": sf(channel_id), "type": 0, "name": format!("channel-{channel_id}"), "guild_id": sf(guild_id), "permissions": "2147483639"},
        "member": payloads::member(user_id, roles),
        "locale": "en-US",
        "guild_locale": "en-US",
        "app_permissions": "2147483639",
        "entitlements": [],
        "authorizing_integration_owners": {"0": sf(guild_id)},
        "context": 0,
        "attachment_size_limit": 26_214_400,
    });
    (id, token, v)
}

pub(crate) fn slash_command(
    s: &Shared,
    at: Place,
    name: &str,
    options: Value,
    user_id: u64,
    roles: &[u64],
) -> Value {
    // The id of the command the bot registered under this name, as Discord would send;
    // a made-up one if the bot registered none.
    let command_id = s
        .store()
        .commands
        .iter()
        .find(|c| c["name"] == name && c["type"].as_u64().is_none_or(|t| t == 1))
        .and_then(|c| c["id"].as_str()?.parse().ok())
        .unwrap_or_else(|| s.next_id());
    let channel_id = at.channel_id;
    let (id, token, mut v) = interaction_base(s, 2, user_id, roles, at);
    v["data"] = json!({
        "id": sf(command_id),
        "name": name,
        "type": 1,
        "options": if options.is_null() { json!([]) } else { options },
        "guild_id": sf(at.guild_id),
    });
    s.store().interactions.insert(
        token,
        InteractionRec {
            id,
            channel_id,
            message_id: None,
            acknowledged: false,
            original: None,
        },
    );
    v
}

pub(crate) fn button_press(
    s: &Shared,
    custom_id: &str,
    user_id: u64,
    roles: &[u64],
    message_id: u64,
) -> Value {
    let mut store = s.store();
    // The message as the fake knows it (the bot most likely sent it); otherwise a bot
    // message with this id, kept so the bot can edit it.
    let message = store
        .messages
        .entry(message_id)
        .or_insert_with(|| {
            payloads::message(NewMessage {
                id: message_id,
                channel_id: FakeDiscord::CHANNEL_ID,
                guild_id: Some(FakeDiscord::GUILD_ID),
                author: payloads::bot_user(FakeDiscord::BOT_USER_ID),
                body: &json!({"content": "", "components": [{"type": 1, "components": [{"type": 2, "style": 1, "label": custom_id, "custom_id": custom_id}]}]}),
                files: &[],
                ids: &|| s.next_id(),
                webhook_id: None,
                application_id: None,
                kind: 0,
                base_url: &s.base_url,
            })
        })
        .clone();
    drop(store);
    let channel_id = message["channel_id"]
        .as_str()
        .and_then(|c| c.parse().ok())
        .unwrap_or(FakeDiscord::CHANNEL_ID);
    // Pressed where the message is: its guild, or the channel's.
    let guild_id = message["guild_id"]
        .as_str()
        .and_then(|g| g.parse().ok())
        .unwrap_or_else(|| s.guild_of(channel_id));
    let at = Place {
        guild_id,
        channel_id,
    };
    let (id, token, mut v) = interaction_base(s, 3, user_id, roles, at);
    v["data"] = json!({"custom_id": custom_id, "component_type": 2});
    v["message"] = message;
    s.store().interactions.insert(
        token,
        InteractionRec {
            id,
            channel_id,
            message_id: Some(message_id),
            acknowledged: false,
            original: None,
        },
    );
    v
}

pub(crate) fn message(s: &Shared, channel_id: u64, content: &str, author_id: u64) -> Value {
    let id = s.next_id();
    let mut v = payloads::message(NewMessage {
        id,
        channel_id,
        guild_id: Some(s.guild_of(channel_id)),
        author: payloads::user(author_id),
        body: &json!({"content": content}),
        files: &[],
        ids: &|| s.next_id(),
        webhook_id: None,
        application_id: None,
        kind: 0,
        base_url: &s.base_url,
    });
    let mut member = payloads::member(author_id, &[]);
    // MESSAGE_CREATE carries the member without its user (that is `author`).
    if let Some(m) = member.as_object_mut() {
        m.remove("user");
        m.remove("permissions");
    }
    v["member"] = member;
    s.store().messages.insert(id, v.clone());
    v
}

/// Why serenity would not run a handler for this dispatch, if it would not: its `Event`
/// quietly turns a payload it cannot read into `Event::Unknown`, so a broken payload shows
/// up only as a test that times out. The typed attempt first gives serde's reason.
pub(crate) fn serenity_problem(event: &str, data: &Value) -> Option<String> {
    use serenity::model::event::{
        Event, GuildCreateEvent, InteractionCreateEvent, MessageCreateEvent, MessageUpdateEvent,
        ReadyEvent,
    };
    fn typed<T: serde::de::DeserializeOwned>(d: &Value) -> Option<String> {
        serde_json::from_value::<T>(d.clone())
            .err()
            .map(|e| e.to_string())
    }
    let reason = match event {
        "READY" => typed::<ReadyEvent>(data),
        "RESUMED" => None,
        "MESSAGE_CREATE" => typed::<MessageCreateEvent>(data),
        "MESSAGE_UPDATE" => typed::<MessageUpdateEvent>(data),
        "INTERACTION_CREATE" => typed::<InteractionCreateEvent>(data),
        "GUILD_CREATE" => typed::<GuildCreateEvent>(data),
        _ => None,
    };
    if reason.is_some() {
        return reason;
    }
    match serde_json::from_value::<Event>(json!({"t": event, "d": data})) {
        Ok(Event::Unknown(_)) => Some("serenity does not recognise it and runs no handler".into()),
        Ok(_) => None,
        Err(e) => Some(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discord_fake::FakeOptions;

    #[test]
    fn serenity_reads_every_event() {
        let s = Shared::new(1, FakeOptions::default());
        let options = json!([{"name": "service", "type": 3, "value": "web"}]);
        let here = Place {
            guild_id: FakeDiscord::GUILD_ID,
            channel_id: FakeDiscord::CHANNEL_ID,
        };
        for (name, ev) in [
            (
                "INTERACTION_CREATE",
                slash_command(&s, here, "deploy", options, 42, &[7]),
            ),
            (
                "INTERACTION_CREATE",
                slash_command(&s, here, "deploy", Value::Null, 42, &[]),
            ),
            (
                "INTERACTION_CREATE",
                button_press(&s, "confirm", 42, &[], 99),
            ),
            ("MESSAGE_CREATE", message(&s, 5, "hello", 42)),
        ] {
            assert_eq!(serenity_problem(name, &ev), None, "{ev:#}");
        }
        assert!(serenity_problem("MESSAGE_CREATE", &json!({"id": "1"})).is_some());
        assert!(serenity_problem("NOT_AN_EVENT", &json!({})).is_some());
    }
}
