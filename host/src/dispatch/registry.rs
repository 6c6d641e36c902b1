//! The plugins that serve commands now, the commands they declare, and the ones disabled
//! with the reason. Replaced whole on every (re)load, so a lookup never sees half a change.

use super::LoadedPlugin;
use crate::model::Command;
use std::collections::BTreeMap;
use std::sync::Arc;

#[derive(Default)]
pub struct Registry {
    pub plugins: BTreeMap<String, Arc<LoadedPlugin>>,
    /// command name → plugin name
    pub commands: BTreeMap<String, String>,
    /// plugin name → why it is not running
    pub disabled: BTreeMap<String, String>,
}

impl Registry {
    /// Build a registry. Two plugins declaring one command, or sharing a name, is refused,
    /// naming both.
    pub fn build(
        plugins: Vec<LoadedPlugin>,
        disabled: BTreeMap<String, String>,
    ) -> Result<Registry, String> {
        let mut reg = Registry {
            disabled,
            ..Registry::default()
        };
        for p in plugins {
            for c in &p.info().commands {
                if let Some(other) = reg.commands.get(&c.name) {
                    let first = &reg.plugins[other];
                    return Err(format!(
                        "command `{}` is declared by both plugin `{other}` ({}) and plugin `{}` ({}). Fix: remove one of them from the config",
                        c.name, first.source, p.name, p.source
                    ));
                }
                reg.commands.insert(c.name.clone(), p.name.clone());
            }
            if let Some(first) = reg.plugins.get(&p.name) {
                return Err(format!(
                    "two plugins are named `{}` ({} and {}). Fix: load only one",
                    p.name, first.source, p.source
                ));
            }
            reg.plugins.insert(p.name.clone(), Arc::new(p));
        }
        Ok(reg)
    }

    /// The plugin serving command `name`, and the command.
    pub fn command(&self, name: &str) -> Option<(Arc<LoadedPlugin>, Command)> {
        let plugin = self.plugins.get(self.commands.get(name)?)?.clone();
        let cmd = plugin.info().commands.iter().find(|c| c.name == name)?.clone();
        Some((plugin, cmd))
    }

    /// Commands whose name is close to `name`, for "did you mean".
    pub fn similar(&self, name: &str) -> Option<&String> {
        self.commands.keys().find(|c| similar(c, name))
    }
}

/// Same length give or take one, and at most one letter different, or a prefix.
fn similar(a: &str, b: &str) -> bool {
    if a.starts_with(b) || b.starts_with(a) {
        return b.len() >= 2;
    }
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    if a.len().abs_diff(b.len()) > 1 {
        return false;
    }
    let same = a.iter().zip(b.iter()).filter(|(x, y)| x == y).count();
    a.len().max(b.len()) - same <= 1
}
