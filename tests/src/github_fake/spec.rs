//! Checks requests and responses against GitHub's own OpenAPI description, as published
//! on npm by Octokit (`@octokit/openapi`, `generated/api.github.com.json`, installed by
//! `.ci/run` under `target/upstreams/npm`).
//!
//! The description is 13 MB of JSON (OpenAPI 3.0). It is parsed once per test process and
//! registered whole as one JSON Schema resource; a validator for one operation's
//! parameters, request body, or one response status is compiled the first time a request
//! needs it, since compiling all ~1000 operations up front would cost seconds.
//!
//! OpenAPI 3.0 schemas are not quite JSON Schema: `nullable: true` is rewritten into the
//! JSON Schema way of allowing `null` before anything is compiled.

use crate::openapi_errors::describe_all;
use jsonschema::{Draft, Registry, Validator};
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

/// The URI the whole description is registered under; every `#/components/...` reference
/// of a compiled schema is rewritten to point into it.
const DOC_URI: &str = "urn:github-rest-api";

/// Where `.ci/run` installs the description, relative to the workspace root.
pub const SPEC_RELATIVE: &str =
    "target/upstreams/npm/node_modules/@octokit/openapi/generated/api.github.com.json";

/// The step of `.ci/run` that installs it, named when it is missing.
pub const INSTALL_STEP: &str =
    "npm install --prefix \"$upstreams/npm\" --no-audit --no-fund @octokit/openapi";

pub fn spec_path() -> PathBuf {
    crate::workspace_root().join(SPEC_RELATIVE)
}

/// One path template of the description, e.g. `/repos/{owner}/{repo}/issues`.
struct Template {
    text: &'static str,
    /// `Some(literal)`, or `None` for a `{param}` segment (its name is in `names`).
    segments: Vec<Option<&'static str>>,
    names: Vec<&'static str>,
}

/// A request matched to an operation of the description.
#[derive(Clone, Debug)]
pub struct Operation {
    pub template: &'static str,
    /// Lower case, as the description keys it.
    pub method: String,
    /// e.g. `actions/create-workflow-dispatch`.
    pub id: &'static str,
    /// The path parameters, by name, as sent (percent-decoded).
    pub params: HashMap<String, String>,
    /// GitHub's documentation page for the operation, used in error bodies.
    pub docs: &'static str,
}

impl Operation {
    pub fn param(&self, name: &str) -> &str {
        self.params.get(name).map_or("", String::as_str)
    }
}

type Compiled = Result<Arc<Validator>, String>;

pub struct Spec {
    doc: &'static Value,
    registry: Registry<'static>,
    templates: Vec<Template>,
    /// Keyed by (template, method, part) where part is `params`, `request` or a status.
    validators: Mutex<HashMap<(String, String, String), Compiled>>,
    /// How long reading, parsing and registering the description took.
    pub load_time: Duration,
}

/// The process-wide description. Panics, naming the `.ci/run` step that installs it, if
/// it is missing: the fake is useless without it.
pub fn spec() -> &'static Spec {
    static SPEC: OnceLock<Spec> = OnceLock::new();
    SPEC.get_or_init(|| load(&spec_path()))
}

fn load(path: &Path) -> Spec {
    let started = Instant::now();
    let text = std::fs::read(path).unwrap_or_else(|e| {
        panic!(
            "GitHub's OpenAPI description is not installed ({}: {e}); install it as .ci/run does: \
             `{INSTALL_STEP}` with upstreams=<workspace>/target/upstreams",
            path.display()
        )
    });
    let mut doc: Value = serde_json::from_slice(&text)
        .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()));
    drop(text);
    openapi_to_json_schema(&mut doc);
    // The registry borrows the document for as long as validators live: the process.
    let doc: &'static Value = Box::leak(Box::new(doc));
    let registry = Registry::new()
        .draft(Draft::Draft7)
        .add(DOC_URI, doc)
        .and_then(|b| b.prepare())
        .unwrap_or_else(|e| panic!("cannot register {}: {e}", path.display()));
    let templates = doc["paths"]
        .as_object()
        .map(|paths| paths.keys().map(|t| Template::new(t)).collect())
        .unwrap_or_default();
    Spec {
        doc,
        registry,
        templates,
        validators: Mutex::new(HashMap::new()),
        load_time: started.elapsed(),
    }
}

impl Template {
    fn new(text: &'static str) -> Template {
        let mut names = Vec::new();
        let segments = split(text)
            .map(
                |s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                    Some(name) => {
                        names.push(name);
                        None
                    }
                    None => Some(s),
                },
            )
            .collect();
        Template {
            text,
            segments,
            names,
        }
    }
}

impl Spec {
    /// The operation a request is for, or why it is none: the path is not in the
    /// description, or the method is not one of its operations.
    pub fn find(&self, method: &str, path: &str) -> Result<Operation, String> {
        let segs: Vec<String> = split(path).map(percent_decode).collect();
        // Where several templates match, literal segments win over parameters, left to
        // right (`/actions/runs/{run_id}` before `/actions/{x}/{y}`).
        let template = self
            .templates
            .iter()
            .filter(|t| {
                t.segments.len() == segs.len()
                    && t.segments
                        .iter()
                        .zip(&segs)
                        .all(|(t, s)| t.is_none_or(|lit| lit == s))
            })
            .max_by_key(|t| t.segments.iter().map(Option::is_some).collect::<Vec<_>>())
            .ok_or_else(|| format!("{path} is not a path of GitHub's REST API"))?;
        let method = method.to_ascii_lowercase();
        let op = &self.doc["paths"][template.text][&method];
        if !op.is_object() {
            return Err(format!(
                "{} is not an operation of {}",
                method.to_uppercase(),
                template.text
            ));
        }
        let values = template
            .segments
            .iter()
            .zip(segs)
            .filter(|(t, _)| t.is_none())
            .map(|(_, s)| s);
        Ok(Operation {
            template: template.text,
            id: op["operationId"].as_str().unwrap_or(""),
            docs: op["externalDocs"]["url"]
                .as_str()
                .unwrap_or("https://docs.github.com/rest"),
            params: template
                .names
                .iter()
                .map(|n| n.to_string())
                .zip(values)
                .collect(),
            method,
        })
    }

    fn operation(&self, op: &Operation) -> &'static Value {
        &self.doc["paths"][op.template][&op.method]
    }

    /// Follows a local `$ref` (`#/components/...`) inside the description.
    fn resolve(&self, v: &'static Value) -> &'static Value {
        let mut v = v;
        for _ in 0..8 {
            match v["$ref"].as_str().and_then(|r| r.strip_prefix('#')) {
                Some(pointer) => v = self.doc.pointer(pointer).unwrap_or(&Value::Null),
                None => break,
            }
        }
        v
    }

    /// The operation's parameters (path-item level ones included), resolved.
    fn parameters(&self, op: &Operation) -> Vec<&'static Value> {
        let item = &self.doc["paths"][op.template]["parameters"];
        let own = &self.operation(op)["parameters"];
        [item, own]
            .into_iter()
            .filter_map(Value::as_array)
            .flatten()
            .map(|p| self.resolve(p))
            .collect()
    }

    /// Checks a request's path and query parameters and its JSON body (`None`: no body).
    /// An empty list means GitHub would accept it.
    pub fn check_request(
        &self,
        op: &Operation,
        query: &[(String, String)],
        body: Option<&Value>,
    ) -> Vec<String> {
        let mut problems = Vec::new();
        // Parameters: coerced from text by their schema's type, then validated together
        // as one object, so one validator per operation covers them all.
        let params = self.parameters(op);
        let mut instance = Map::new();
        for p in &params {
            let name = p["name"].as_str().unwrap_or("");
            let value = match p["in"].as_str() {
                Some("path") => op.params.get(name).cloned(),
                Some("query") => query
                    .iter()
                    .find(|(k, _)| k == name || k == &format!("{name}[]"))
                    .map(|(_, v)| v.clone()),
                _ => None,
            };
            if let Some(v) = value {
                instance.insert(name.to_string(), self.coerce(&p["schema"], &v));
            }
        }
        for (k, _) in query {
            let known = params.iter().any(|p| {
                p["in"] == "query"
                    && (p["name"] == k.as_str()
                        || format!("{}[]", p["name"].as_str().unwrap_or("")) == *k)
            });
            if !known {
                problems.push(format!(
                    "query parameter `{k}` is not a parameter of this operation"
                ));
            }
        }
        match self.validator(op, "params") {
            Ok(v) => problems.extend(
                describe_all(v.iter_errors(&Value::Object(instance)), "(root)")
                    .into_iter()
                    .map(|p| format!("parameter {p}")),
            ),
            Err(e) => problems.push(format!("the fake could not compile the parameters: {e}")),
        }
        let request_body = self.resolve(&self.operation(op)["requestBody"]);
        match body {
            None if request_body["required"] == Value::Bool(true) => {
                problems.push("the request has no body, but the operation requires one".into())
            }
            None => {}
            // An empty object is what some clients send for "no body"; GitHub ignores it.
            Some(b) if request_body.is_null() && b.as_object().is_some_and(Map::is_empty) => {}
            Some(_) if request_body.is_null() => {
                problems.push("the request has a body, but the operation takes none".into())
            }
            Some(body) => match self.validator(op, "request") {
                Ok(v) => problems.extend(
                    describe_all(v.iter_errors(body), "(root)")
                        .into_iter()
                        .map(|p| format!("body {p}")),
                ),
                Err(e) => problems.push(format!("the fake could not compile the body schema: {e}")),
            },
        }
        problems
    }

    /// Checks a response the fake is about to send. Error statuses the operation does not
    /// document are checked against GitHub's generic error shapes.
    pub fn check_response(&self, op: &Operation, status: u16, body: Option<&Value>) -> Vec<String> {
        let responses = &self.operation(op)["responses"];
        let documented =
            responses.get(status.to_string()).is_some() || responses.get("default").is_some();
        if !documented && status < 400 {
            return vec![format!("status {status} is not a documented response")];
        }
        let response = self.response(op, status);
        let has_schema = !response["content"]["application/json"]["schema"].is_null();
        match body {
            None if has_schema => vec![format!("status {status} must carry a JSON body")],
            None => Vec::new(),
            Some(_) if documented && !has_schema => {
                vec![format!(
                    "status {status} carries no body in the description"
                )]
            }
            Some(body) => match self.validator(op, &status.to_string()) {
                Ok(v) => describe_all(v.iter_errors(body), "(root)")
                    .into_iter()
                    .map(|p| format!("response {status} {p}"))
                    .collect(),
                Err(e) => vec![format!(
                    "the fake could not compile the {status} schema: {e}"
                )],
            },
        }
    }

    /// The response object for a status: documented, `default`, or the generic error
    /// (`validation_failed` for 422, `basic-error` otherwise).
    fn response(&self, op: &Operation, status: u16) -> &'static Value {
        static BASIC: OnceLock<Value> = OnceLock::new();
        static VALIDATION: OnceLock<Value> = OnceLock::new();
        let responses = &self.operation(op)["responses"];
        if let Some(r) = responses
            .get(status.to_string())
            .or_else(|| responses.get("default"))
        {
            return self.resolve(r);
        }
        let (cell, schema) = if status == 422 {
            (&VALIDATION, "validation-error")
        } else {
            (&BASIC, "basic-error")
        };
        cell.get_or_init(|| {
            json!({"content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}})
        })
    }

    fn validator(&self, op: &Operation, part: &str) -> Compiled {
        let key = (op.template.to_string(), op.method.clone(), part.to_string());
        // Compiling under the lock keeps two requests from compiling the same schema twice.
        let mut cache = self
            .validators
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        cache
            .entry(key)
            .or_insert_with(|| self.compile(op, part))
            .clone()
    }

    fn compile(&self, op: &Operation, part: &str) -> Compiled {
        let (schema, formats) = match part {
            "params" => {
                let mut properties = Map::new();
                let mut required = Vec::new();
                for p in self.parameters(op) {
                    let name = p["name"].as_str().unwrap_or("").to_string();
                    if p["required"] == Value::Bool(true) {
                        required.push(Value::String(name.clone()));
                    }
                    properties.insert(name, p["schema"].clone());
                }
                // Query values are text; `created` takes search syntax (`>=2024-01-01`)
                // although its schema says date-time, so formats are not asserted here.
                (
                    json!({"type": "object", "properties": properties, "required": required}),
                    false,
                )
            }
            "request" => {
                let body = self.resolve(&self.operation(op)["requestBody"]);
                let schema = &body["content"]["application/json"]["schema"];
                if schema.is_null() {
                    return Err("no JSON request schema".into());
                }
                (schema.clone(), true)
            }
            status => {
                let status: u16 = status.parse().map_err(|_| format!("bad part {status}"))?;
                let schema = &self.response(op, status)["content"]["application/json"]["schema"];
                if schema.is_null() {
                    return Err(format!("no JSON schema for status {status}"));
                }
                (schema.clone(), true)
            }
        };
        let mut schema = schema;
        absolute_refs(&mut schema);
        jsonschema::options()
            .with_draft(Draft::Draft7)
            .with_registry(&self.registry)
            .should_validate_formats(formats)
            .build(&schema)
            .map(Arc::new)
            .map_err(|e| e.to_string())
    }

    /// A query or path value as the JSON value its schema asks for, where it parses as one.
    fn coerce(&self, schema: &'static Value, text: &str) -> Value {
        let types = self.types_of(schema, 0);
        let has = |t: &str| types.iter().any(|x| x == t);
        if has("integer") {
            if let Ok(n) = text.parse::<i64>() {
                return json!(n);
            }
        }
        if has("number") {
            if let Ok(n) = text.parse::<f64>() {
                return json!(n);
            }
        }
        if has("boolean") && (text == "true" || text == "false") {
            return json!(text == "true");
        }
        if has("array") && !has("string") {
            return json!(text.split(',').collect::<Vec<_>>());
        }
        Value::String(text.to_string())
    }

    fn types_of(&self, schema: &'static Value, depth: usize) -> Vec<String> {
        let schema = self.resolve(schema);
        let mut out: Vec<String> = match &schema["type"] {
            Value::String(t) => vec![t.clone()],
            Value::Array(ts) => ts
                .iter()
                .filter_map(|t| t.as_str().map(String::from))
                .collect(),
            _ => Vec::new(),
        };
        if depth < 4 {
            for k in ["oneOf", "anyOf", "allOf"] {
                for s in schema[k].as_array().into_iter().flatten() {
                    out.extend(self.types_of(s, depth + 1));
                }
            }
        }
        out
    }
}

/// `#/components/...` → `urn:github-rest-api#/components/...`, so a schema copied out of
/// the description resolves its references inside the registered whole.
fn absolute_refs(v: &mut Value) {
    match v {
        Value::Object(map) => {
            for (k, child) in map.iter_mut() {
                match (k.as_str(), child) {
                    ("$ref", Value::String(r)) if r.starts_with('#') => {
                        *r = format!("{DOC_URI}{r}");
                    }
                    ("example" | "examples", _) => {}
                    (_, child) => absolute_refs(child),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(absolute_refs),
        _ => {}
    }
}

/// OpenAPI 3.0's `nullable: true` as JSON Schema: `null` joins the `type` (and the `enum`)
/// where that says it all, otherwise the schema becomes `anyOf: [null, schema]`.
fn openapi_to_json_schema(v: &mut Value) {
    match v {
        Value::Object(map) => {
            for (k, child) in map.iter_mut() {
                if k != "example" && k != "examples" {
                    openapi_to_json_schema(child);
                }
            }
            if map.get("nullable") != Some(&Value::Bool(true)) {
                return;
            }
            map.remove("nullable");
            let composite = ["oneOf", "anyOf", "allOf", "not", "$ref"]
                .iter()
                .any(|k| map.contains_key(*k));
            if !composite {
                match map.get("type").cloned() {
                    Some(Value::String(t)) => {
                        map.insert("type".into(), json!([t, "null"]));
                        if let Some(Value::Array(e)) = map.get_mut("enum") {
                            if !e.contains(&Value::Null) {
                                e.push(Value::Null);
                            }
                        }
                        return;
                    }
                    // No type: anything goes already, null included, unless an enum says
                    // otherwise.
                    None if !map.contains_key("enum") => return,
                    _ => {}
                }
            }
            let inner = Value::Object(std::mem::take(map));
            map.insert("anyOf".into(), json!([{"type": "null"}, inner]));
        }
        Value::Array(items) => items.iter_mut().for_each(openapi_to_json_schema),
        _ => {}
    }
}

fn split(path: &str) -> impl Iterator<Item = &str> {
    path.split('/').filter(|s| !s.is_empty())
}

/// `%XX` escapes decoded (not `+`, which means a space only in a query).
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Some(b) = std::str::from_utf8(&bytes[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nullable_becomes_json_schema() {
        let mut v = json!({"type": "string", "nullable": true, "enum": ["a"]});
        openapi_to_json_schema(&mut v);
        assert_eq!(v, json!({"type": ["string", "null"], "enum": ["a", null]}));
        let mut v = json!({"oneOf": [{"type": "string"}], "nullable": true});
        openapi_to_json_schema(&mut v);
        assert_eq!(
            v,
            json!({"anyOf": [{"type": "null"}, {"oneOf": [{"type": "string"}]}]})
        );
    }

    #[test]
    fn a_missing_description_names_the_install_step() {
        let e = std::panic::catch_unwind(|| load(Path::new("/nonexistent/api.github.com.json")))
            .err()
            .expect("loading a missing file panics");
        let message = e.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(message.contains("npm install"), "{message}");
        assert!(message.contains("@octokit/openapi"), "{message}");
    }

    #[test]
    fn decodes_percent_escapes() {
        assert_eq!(percent_decode("deploy%2Eyml"), "deploy.yml");
        assert_eq!(percent_decode("a%"), "a%");
    }
}
