//! Checks request bodies against Discord's OpenAPI description
//! (`tests/discord-api-spec/openapi.json`), plus a few rules Discord enforces that the
//! description does not encode (command naming).
//!
//! The description is parsed once per test process; a route's validator is compiled the
//! first time a request for it arrives, because compiling all ~200 operations up front
//! would cost every test seconds for routes it never calls.

use crate::openapi_errors::describe_all;
use jsonschema::Validator;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// Where the vendored description lives; read at run time so editing it needs no rebuild.
const SPEC_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/discord-api-spec/openapi.json");

/// The API prefix every REST path carries; the description's paths are relative to it.
pub const API_PREFIX: &str = "/api/v10";

/// One path template of the description, e.g. `/channels/{channel_id}/messages`.
struct Template {
    text: String,
    /// `Some(literal)` or `None` for a `{param}` segment.
    segments: Vec<Option<String>>,
}

type Compiled = Result<Arc<Validator>, String>;

pub struct Spec {
    doc: Value,
    templates: Vec<Template>,
    /// Keyed by (template, lower-case method).
    validators: Mutex<HashMap<(String, String), Compiled>>,
}

/// The process-wide description; panics if the vendored file is missing or broken,
/// since every fake would be useless without it.
pub fn spec() -> &'static Spec {
    static SPEC: OnceLock<Spec> = OnceLock::new();
    SPEC.get_or_init(|| {
        let text = std::fs::read_to_string(SPEC_PATH).unwrap_or_else(|e| {
            panic!("cannot read Discord's OpenAPI description {SPEC_PATH}: {e}")
        });
        let doc: Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{SPEC_PATH} is not JSON: {e}"));
        Spec::new(doc)
    })
}

impl Spec {
    fn new(mut doc: Value) -> Spec {
        relax(&mut doc);
        let templates = doc["paths"]
            .as_object()
            .map(|paths| {
                paths
                    .keys()
                    .map(|t| Template {
                        text: t.clone(),
                        segments: split(t)
                            .map(|s| {
                                (!(s.starts_with('{') && s.ends_with('}'))).then(|| s.to_string())
                            })
                            .collect(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        Spec {
            doc,
            templates,
            validators: Mutex::new(HashMap::new()),
        }
    }

    /// The description's template for a concrete path (with or without the `/api/v10`
    /// prefix). Where several match, literal segments win over parameters, left to right,
    /// so `/messages/@original` beats `/messages/{message_id}`.
    pub fn template_for(&self, path: &str) -> Option<&str> {
        let path = path.strip_prefix(API_PREFIX).unwrap_or(path);
        let segs: Vec<&str> = split(path).collect();
        self.templates
            .iter()
            .filter(|t| {
                t.segments.len() == segs.len()
                    && t.segments
                        .iter()
                        .zip(&segs)
                        .all(|(t, s)| t.as_deref().is_none_or(|lit| lit == *s))
            })
            .max_by_key(|t| {
                t.segments
                    .iter()
                    .map(Option::is_some)
                    .collect::<Vec<bool>>()
            })
            .map(|t| t.text.as_str())
    }

    /// Checks one request. `body` is `None` when the request carried no body.
    /// Returns the problems found; an empty list means the request is fine (or the route
    /// is not in the description, which the fake reports separately as a 404).
    pub fn check(&self, method: &str, path: &str, body: Option<&Value>) -> Vec<String> {
        let Some(template) = self.template_for(path) else {
            return Vec::new();
        };
        let method = method.to_ascii_lowercase();
        let operation = &self.doc["paths"][template][&method];
        if operation.is_null() {
            return vec![format!(
                "{} is not an operation of {template}",
                method.to_uppercase()
            )];
        }
        let request_body = &operation["requestBody"];
        let Some(body) = body else {
            return if request_body["required"] == Value::Bool(true) {
                vec!["the request has no body, but the route requires one".into()]
            } else {
                Vec::new()
            };
        };
        if request_body.is_null() {
            // Discord ignores bodies on routes that take none; so does the fake.
            return Vec::new();
        }
        let mut problems = match self.validator(template, &method) {
            Ok(v) => describe_all(v.iter_errors(body), "(body)"),
            Err(e) => vec![format!("the fake could not compile the schema: {e}")],
        };
        problems.extend(naming_rules(template, &method, body));
        problems
    }

    fn validator(&self, template: &str, method: &str) -> Compiled {
        let key = (template.to_string(), method.to_string());
        // Compiling under the lock keeps two requests from compiling the same schema twice;
        // the fake serves one bot, so contention is not a concern.
        let mut cache = self.validators.lock().unwrap_or_else(|p| p.into_inner());
        cache
            .entry(key)
            .or_insert_with(|| self.compile(template, method))
            .clone()
    }

    fn compile(&self, template: &str, method: &str) -> Compiled {
        let content = &self.doc["paths"][template][method]["requestBody"]["content"];
        // Multipart bodies are checked through their payload_json part, which carries the
        // same object as the JSON form.
        let schema = content["application/json"]["schema"]
            .as_object()
            .or_else(|| content["multipart/form-data"]["schema"].as_object())
            .ok_or_else(|| format!("no JSON request schema for {method} {template}"))?;
        // The schema's `$ref`s point at `#/components/schemas/...` of the whole document;
        // carrying `components` along makes them resolve inside this one schema.
        let mut schema = schema.clone();
        schema.insert("components".into(), self.doc["components"].clone());
        jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .build(&Value::Object(schema))
            .map(Arc::new)
            .map_err(|e| e.to_string())
    }
}

/// Where the description is stricter than Discord, loosened so real clients' accepted
/// requests do not show up as violations:
/// - snowflakes: Discord reads a JSON number as well as a string, and serenity (like
///   Discord's own docs) sends attachment ids as numbers (`"attachments": [{"id": 0}]`).
fn relax(doc: &mut Value) {
    let snowflake = &mut doc["components"]["schemas"]["SnowflakeType"];
    if snowflake.is_object() {
        let as_string = snowflake.take();
        *snowflake = serde_json::json!({"anyOf": [as_string, {"type": "integer", "minimum": 0}]});
    }
}

fn split(path: &str) -> impl Iterator<Item = &str> {
    path.split('/').filter(|s| !s.is_empty())
}

/// Discord's documented naming rule for application commands and their options
/// (`^[-_\p{L}\p{N}\p{sc=Deva}\p{sc=Thai}]{1,32}$`, lower case where a lower-case form
/// exists, for chat-input commands), which the OpenAPI description leaves out. Letters and
/// digits are approximated by `char::is_alphanumeric`.
fn naming_rules(template: &str, method: &str, body: &Value) -> Vec<String> {
    if !template.ends_with("/commands") && !template.ends_with("/commands/{command_id}") {
        return Vec::new();
    }
    if !matches!(method, "put" | "post" | "patch") {
        return Vec::new();
    }
    let mut out = Vec::new();
    match body {
        Value::Array(commands) => {
            for (i, c) in commands.iter().enumerate() {
                check_command(c, &format!("/{i}"), &mut out);
            }
        }
        c => check_command(c, "", &mut out),
    }
    out
}

fn check_command(cmd: &Value, at: &str, out: &mut Vec<String>) {
    // Only chat-input commands (type 1, the default) have the strict rule; user and message
    // commands may use spaces and capitals.
    let chat_input = cmd["type"].as_u64().is_none_or(|t| t == 1);
    if chat_input {
        check_name(&cmd["name"], &format!("{at}/name"), out);
        check_options(&cmd["options"], &format!("{at}/options"), out);
    }
}

fn check_options(options: &Value, at: &str, out: &mut Vec<String>) {
    for (i, o) in options.as_array().into_iter().flatten().enumerate() {
        check_name(&o["name"], &format!("{at}/{i}/name"), out);
        check_options(&o["options"], &format!("{at}/{i}/options"), out);
    }
}

fn check_name(name: &Value, at: &str, out: &mut Vec<String>) {
    let Some(name) = name.as_str() else { return };
    let allowed = |c: char| c.is_alphanumeric() || c == '-' || c == '_';
    let len = name.chars().count();
    if !(1..=32).contains(&len) || !name.chars().all(allowed) {
        out.push(format!(
            "{at}: {name:?} breaks Discord's command-name rule [-_letters digits]{{1,32}}"
        ));
    } else if name
        .chars()
        .any(|c| c.to_lowercase().ne(std::iter::once(c)))
    {
        out.push(format!("{at}: {name:?} must be lower case"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn literal_segments_beat_parameters() {
        let s = spec();
        assert_eq!(
            s.template_for("/api/v10/webhooks/1/tok/messages/@original"),
            Some("/webhooks/{webhook_id}/{webhook_token}/messages/@original")
        );
        assert_eq!(
            s.template_for("/api/v10/webhooks/1/tok/messages/5"),
            Some("/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}")
        );
        assert_eq!(s.template_for("/api/v10/nope/1"), None);
    }

    #[test]
    fn finds_schema_and_naming_problems() {
        let s = spec();
        let path = "/api/v10/applications/1/guilds/2/commands";
        let ok = json!([{"name": "deploy", "description": "Deploy a service", "type": 1}]);
        assert_eq!(s.check("PUT", path, Some(&ok)), Vec::<String>::new());
        let long = json!([{"name": "deploy", "description": "x".repeat(101)}]);
        let p = s.check("PUT", path, Some(&long));
        assert!(p.iter().any(|p| p.starts_with("/0/description")), "{p:?}");
        let bad = json!([{"name": "Bad Name!", "description": "d"}]);
        let p = s.check("PUT", path, Some(&bad));
        assert!(p.iter().any(|p| p.contains("Bad Name!")), "{p:?}");
        let upper = json!([{"name": "Deploy", "description": "d"}]);
        assert!(s
            .check("PUT", path, Some(&upper))
            .iter()
            .any(|p| p.contains("lower case")));
    }

    #[test]
    fn any_of_reports_the_closest_branch() {
        let s = spec();
        let path = "/api/v10/interactions/1/tok/callback";
        let ok = json!({"type": 4, "data": {"content": "hi"}});
        assert_eq!(s.check("POST", path, Some(&ok)), Vec::<String>::new());
        let long = json!({"type": 4, "data": {"content": "x".repeat(2001)}});
        let p = s.check("POST", path, Some(&long));
        assert!(
            p.iter()
                .any(|p| p.starts_with("/data/content") && p.contains("longer than 2000")),
            "{p:?}"
        );
        assert!(
            !s.check("POST", path, None).is_empty(),
            "a callback needs a body"
        );
        let numeric_attachment = json!({"type": 4, "data": {"content": "hi", "attachments": [{"id": 0, "filename": "a.txt"}]}});
        assert_eq!(
            s.check("POST", path, Some(&numeric_attachment)),
            Vec::<String>::new()
        );
        let bad_id = json!({"type": 4, "data": {"attachments": [{"id": "x"}]}});
        assert!(!s.check("POST", path, Some(&bad_id)).is_empty());
    }
}
