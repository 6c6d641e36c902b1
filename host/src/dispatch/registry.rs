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
    /// Build a registry. A plugin that declares a command another already serves, or takes
    /// a name already taken, is disabled with a reason naming both; the others serve.
    pub fn build(plugins: Vec<LoadedPlugin>, disabled: BTreeMap<String, String>) -> Registry {
        let mut reg = Registry {
            disabled,
            ..Registry::default()
        };
        for p in plugins {
            if let Some(why) = reg.clash(&p) {
                tracing::warn!(plugin = %p.name, "disabled: {why}");
                reg.disabled.insert(p.name.clone(), why);
                continue;
            }
            for c in &p.info().commands {
                reg.commands.insert(c.name.clone(), p.name.clone());
            }
            reg.plugins.insert(p.name.clone(), Arc::new(p));
        }
        reg
    }

    /// Why `p` cannot join the plugins already here, if it cannot.
    fn clash(&self, p: &LoadedPlugin) -> Option<String> {
        for c in &p.info().commands {
            if let Some(other) = self.commands.get(&c.name) {
                let first = &self.plugins[other];
                return Some(format!(
                    "command `{}` is declared by both plugin `{other}` ({}) and plugin `{}` ({}); `{}` is disabled. Fix: remove one of them from the config",
                    c.name, first.source, p.name, p.source, p.name
                ));
            }
        }
        let first = self.plugins.get(&p.name)?;
        Some(format!(
            "two plugins are named `{}` ({} and {}); the second is disabled. Fix: load only one",
            p.name, first.source, p.source
        ))
    }

    /// The plugin serving command `name`, and the command.
    pub fn command(&self, name: &str) -> Option<(Arc<LoadedPlugin>, Command)> {
        let plugin = self.plugins.get(self.commands.get(name)?)?.clone();
        let cmd = plugin
            .info()
            .commands
            .iter()
            .find(|c| c.name == name)?
            .clone();
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
