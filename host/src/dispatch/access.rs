//! Who may run what: every permission check in one place, failing closed. Admins may run
//! everything; otherwise a plugin's `access` lists users, roles and channels.

use super::{Caller, LoadedPlugin};
use crate::config::Access;

pub fn is_admin(admins: &Access, caller: &Caller) -> bool {
    admins.users.contains(&caller.user.id)
        || caller.user.roles.iter().any(|r| admins.roles.contains(r))
}

/// Whether `caller` may run `plugin`'s commands here; the error says who may.
pub fn may_run(admins: &Access, caller: &Caller, plugin: &LoadedPlugin) -> Result<(), String> {
    if is_admin(admins, caller) {
        return Ok(());
    }
    let a = &plugin.access;
    if !a.channels.is_empty() && !a.channels.contains(&caller.channel) {
        return Err(format!(
            "`{}` commands can only be run in these channels: {}",
            plugin.name,
            a.channels.join(", ")
        ));
    }
    let restricted = !a.users.is_empty() || !a.roles.is_empty();
    let allowed =
        a.users.contains(&caller.user.id) || caller.user.roles.iter().any(|r| a.roles.contains(r));
    if restricted && !allowed {
        let mut who = Vec::new();
        if !a.roles.is_empty() {
            who.push(format!("roles {}", a.roles.join(", ")));
        }
        if !a.users.is_empty() {
            who.push(format!("{} named user(s)", a.users.len()));
        }
        return Err(format!(
            "`{}` commands are limited to {}. Ask an admin for access",
            plugin.name,
            who.join(" and ")
        ));
    }
    Ok(())
}
