//! Schedules: a plugin declares named schedules with a cron expression (`schedule NAME
//! CRON` in `describe()`); the admin enables each under `[plugins.NAME.schedules]`, with the
//! declared time (`"default"`), a cron of their own, or `"off"`. Times are read in
//! `[host] timezone` (UTC if unset). A run still going when the next is due is skipped and
//! logged, never stacked; a failing run is logged and the next fires as usual; runs missed
//! while the host was down are not replayed.
//!
//! Several host processes on one store fire each occurrence once: a process takes the
//! schedule's lease in the store as it fires (one atomic statement, see
//! [`crate::store::Store::lease_fire`]), keeps it while it renews it, and a process that
//! stops gives its leases up; one that dies loses them when they expire
//! (`[host] lease_seconds`), and another fires the schedule from its next time on.

use crate::dispatch::{Dispatcher, LoadedPlugin};
use crate::model::Capability;
use crate::runtime::validate::parse_cron;
use crate::store::{ProcessInfo, Store};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How often the clock looks for due schedules (cron has one-second resolution).
const TICK: Duration = Duration::from_millis(250);

/// One schedule of one plugin, as the admin would see it.
#[derive(Debug, Clone)]
pub struct Entry {
    pub plugin: String,
    pub name: String,
    /// The cron expression that applies, and whether the admin's or the plugin's.
    pub cron: String,
    pub overridden: bool,
    /// Why it does not run, if it does not.
    pub off: Option<String>,
}

/// Every schedule the running plugins declare or the config names.
pub fn entries(dispatcher: &Dispatcher) -> Vec<Entry> {
    let mut out = Vec::new();
    for p in dispatcher.plugins() {
        out.extend(plugin_entries(&p));
    }
    out
}

fn plugin_entries(p: &LoadedPlugin) -> Vec<Entry> {
    let declared: Vec<(String, String)> = p
        .info()
        .capabilities
        .iter()
        .filter_map(|r| match &r.capability {
            Capability::Schedule(s) => Some((s.name.clone(), s.cron.clone())),
            _ => None,
        })
        .collect();
    let mut out: Vec<Entry> = declared
        .iter()
        .map(|(name, cron)| {
            let (cron, overridden, off) = match p.grants.schedules.get(name).map(String::as_str) {
                None => (
                    cron.clone(),
                    false,
                    Some(format!(
                        "not enabled: chatops grant {} schedule {name}",
                        p.name
                    )),
                ),
                Some("off") => (
                    cron.clone(),
                    false,
                    Some("turned off in the config".to_string()),
                ),
                Some("default") => (cron.clone(), false, None),
                Some(own) => (own.to_string(), true, None),
            };
            Entry {
                plugin: p.name.clone(),
                name: name.clone(),
                cron,
                overridden,
                off,
            }
        })
        .collect();
    for (name, value) in &p.grants.schedules {
        if !declared.iter().any(|(n, _)| n == name) {
            out.push(Entry {
                plugin: p.name.clone(),
                name: name.clone(),
                cron: value.clone(),
                overridden: true,
                off: Some("the plugin does not declare this schedule".into()),
            });
        }
    }
    out
}

/// When `cron` fires next after `after`, read in `tz`.
pub fn next_after(cron: &str, after: DateTime<Utc>, tz: Tz) -> Result<DateTime<Utc>, String> {
    let cron = parse_cron(cron)?;
    cron.find_next_occurrence(&after.with_timezone(&tz), false)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("`{}` never fires ({e})", cron.as_str()))
}

/// `[host] timezone`, UTC if unset.
pub fn timezone(name: Option<&str>) -> Result<Tz, String> {
    match name {
        None => Ok(Tz::UTC),
        Some(n) => n.parse::<Tz>().map_err(|_| {
            format!("`{n}` is not a time zone; use an IANA name like \"Europe/Paris\" or \"UTC\"")
        }),
    }
}

/// How long a lease lasts unless `[host] lease_seconds` says otherwise.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(30);

/// The running clock; dropping it stops the schedules and gives up this process's leases.
pub struct Clock {
    task: tokio::task::JoinHandle<()>,
    holder: String,
    started_ms: i64,
    store: Option<Arc<Store>>,
}

/// This process as `chatops status` shows it.
fn process(holder: &str, started_ms: i64, now_ms: i64, state: &str) -> ProcessInfo {
    ProcessInfo {
        id: holder.to_string(),
        host: crate::store::hostname(),
        pid: std::process::id() as i64,
        shards: crate::store::shards(),
        started_ms,
        heartbeat_ms: now_ms,
        state: state.to_string(),
    }
}

impl Clock {
    /// The name this clock holds leases under.
    pub fn holder(&self) -> &str {
        &self.holder
    }
}

impl Drop for Clock {
    fn drop(&mut self) {
        self.task.abort();
        if let Some(store) = self.store.take() {
            let holder = self.holder.clone();
            if let Err(e) = store.blocking(store.lease_release(&holder)) {
                tracing::warn!("could not give up the schedule leases of {holder}: {e}");
            }
            let now = crate::store::now_ms();
            let stopped = process(&holder, self.started_ms, now, "stopped");
            if let Err(e) = store.blocking(store.heartbeat(&stopped)) {
                tracing::warn!("could not record that {holder} stopped: {e}");
            }
        }
    }
}

/// A name for each clock: this process (`HOST:PID`), and a number after the first.
fn holder_name() -> String {
    static CLOCKS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = CLOCKS.fetch_add(1, Ordering::SeqCst);
    let me = crate::store::process_id();
    if n == 0 {
        me.to_string()
    } else {
        format!("{me}/{n}")
    }
}

/// Fire every enabled schedule of the running plugins when it is due. The set is read at
/// each tick, so reloads, grants and revocations apply at once.
pub fn start(dispatcher: Arc<Dispatcher>, tz: Tz) -> Clock {
    start_with_lease(dispatcher, tz, DEFAULT_LEASE)
}

/// [`start`], with leases lasting `lease` (renewed every third of it).
pub fn start_with_lease(dispatcher: Arc<Dispatcher>, tz: Tz, lease: Duration) -> Clock {
    let holder = holder_name();
    let store = dispatcher.store().cloned();
    let me = holder.clone();
    let leases = store.clone();
    let task = tokio::spawn(async move {
        let mut running: HashMap<(String, String), Arc<AtomicBool>> = HashMap::new();
        let mut last = Utc::now();
        let lease_ms = lease.as_millis() as i64;
        let started_ms = last.timestamp_millis();
        let mut renew_at = last;
        loop {
            tokio::time::sleep(TICK).await;
            let now = Utc::now();
            let now_ms = now.timestamp_millis();
            if let (Some(store), true) = (&leases, now >= renew_at) {
                if let Err(e) = store.lease_renew(&me, now_ms + lease_ms).await {
                    tracing::warn!("could not renew the schedule leases: {e}");
                }
                if let Err(e) = store
                    .heartbeat(&process(&me, started_ms, now_ms, "running"))
                    .await
                {
                    tracing::warn!("could not record this process's heartbeat: {e}");
                }
                renew_at = now + lease / 3;
            }
            for e in entries(&dispatcher).into_iter().filter(|e| e.off.is_none()) {
                let occurrence = match next_after(&e.cron, last, tz) {
                    Ok(t) if t <= now => t,
                    Ok(_) => continue,
                    Err(why) => {
                        tracing::warn!(plugin = %e.plugin, "schedule `{}`: {why}", e.name);
                        continue;
                    }
                };
                let busy = running
                    .entry((e.plugin.clone(), e.name.clone()))
                    .or_default()
                    .clone();
                if busy.swap(true, Ordering::SeqCst) {
                    tracing::warn!(plugin = %e.plugin, "schedule `{}` is due but its previous run is still going; skipped this run", e.name);
                    continue;
                }
                if let Some(store) = &leases {
                    let name = format!("schedule {}/{}", e.plugin, e.name);
                    let fired_ms = occurrence.timestamp_millis();
                    match store
                        .lease_fire(&name, &me, fired_ms, now_ms + lease_ms, now_ms)
                        .await
                    {
                        Ok(true) => {}
                        Ok(false) => {
                            // Another process holds it, or fired this occurrence already.
                            busy.store(false, Ordering::SeqCst);
                            continue;
                        }
                        Err(err) => {
                            tracing::warn!(plugin = %e.plugin, "schedule `{}` not fired: the store did not answer ({err}), and without its lease another process might fire it too", e.name);
                            busy.store(false, Ordering::SeqCst);
                            continue;
                        }
                    }
                }
                let d = dispatcher.clone();
                tokio::spawn(async move {
                    let origin = format!("schedule {}", e.name);
                    let out = d
                        .deliver(&e.plugin, super::schedule(&e.name), &origin)
                        .await;
                    if let Some(err) = out.error {
                        tracing::warn!(plugin = %e.plugin, "schedule `{}` failed: {err}; it fires again at its next time", e.name);
                    }
                    busy.store(false, Ordering::SeqCst);
                });
            }
            last = now;
        }
    });
    Clock {
        task,
        holder,
        started_ms: crate::store::now_ms(),
        store,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn five_and_six_field_crons_and_nicknames() {
        let friday_evening = at("2026-11-27T18:00:00Z");
        // 09:00 on weekdays: next is Monday.
        assert_eq!(
            next_after("0 9 * * 1-5", friday_evening, Tz::UTC).unwrap(),
            at("2026-11-30T09:00:00Z")
        );
        // Every second (six fields, seconds first).
        assert_eq!(
            next_after("* * * * * *", friday_evening, Tz::UTC).unwrap(),
            at("2026-11-27T18:00:01Z")
        );
        assert_eq!(
            next_after("*/15 * * * *", at("2026-11-27T18:07:30Z"), Tz::UTC).unwrap(),
            at("2026-11-27T18:15:00Z")
        );
        assert_eq!(
            next_after("@daily", friday_evening, Tz::UTC).unwrap(),
            at("2026-11-28T00:00:00Z")
        );
        // Strictly after: a time that matches is not its own next.
        assert_eq!(
            next_after("0 18 * * *", friday_evening, Tz::UTC).unwrap(),
            at("2026-11-28T18:00:00Z")
        );
    }

    #[test]
    fn time_zones_move_the_wall_clock_and_follow_summer_time() {
        let tz = timezone(Some("Europe/Paris")).unwrap();
        // 09:00 in Paris is 08:00 UTC in winter and 07:00 UTC in summer.
        assert_eq!(
            next_after("0 9 * * *", at("2026-11-27T10:00:00Z"), tz).unwrap(),
            at("2026-11-28T08:00:00Z")
        );
        assert_eq!(
            next_after("0 9 * * *", at("2026-07-01T10:00:00Z"), tz).unwrap(),
            at("2026-07-02T07:00:00Z")
        );
        assert_eq!(timezone(None).unwrap(), Tz::UTC);
        assert!(timezone(Some("Mars/Olympus"))
            .unwrap_err()
            .contains("not a time zone"));
    }

    #[test]
    fn bad_crons_say_how_to_write_one() {
        for bad in [
            "",
            "* * *",
            "61 * * * *",
            "0 25 * * *",
            "0 9 * * 8",
            "every day",
            "* * * * * * * *",
        ] {
            let e = parse_cron(bad).unwrap_err();
            assert!(
                e.contains("is not a cron expression") && e.contains("0 9 * * 1-5"),
                "{bad}: {e}"
            );
        }
        assert!(parse_cron("0 9 * * MON-FRI").is_ok());
    }
}
