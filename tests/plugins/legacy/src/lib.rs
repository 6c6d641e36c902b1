//! A plugin built against `chatops:plugin@0.1.0` as first shipped (no `wasi:config`
//! import, no `settings` export), with wit-bindgen directly rather than the SDK.
wit_bindgen::generate!({ path: "wit", world: "chatops:plugin/plugin@0.1.0", generate_all });

use chatops::plugin::types::*;
use exports::chatops::plugin::guest::Guest;

struct Legacy;

impl Guest for Legacy {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "legacy".into(),
            version: "0.1.0".into(),
            description: "Built against the first contract".into(),
            commands: vec![Command {
                name: "legacy-ping".into(),
                description: "Answer pong".into(),
                options: vec![],
                confirm: false,
            }],
            capabilities: vec![],
        }
    }
    fn run(_inv: Invocation) -> Result<Reply, CommandError> {
        Ok(Reply {
            text: "pong from the first contract".into(),
            ephemeral: false,
        })
    }
    fn on_event(_e: Event) -> Result<Vec<Post>, CommandError> {
        Ok(vec![])
    }
}

export!(Legacy);
