//! `chatops status`: the host processes sharing this config's store (their shards and last
//! heartbeat) and the schedule leases, read from the store itself, so it answers the same
//! from any machine that can reach the database.

use crate::store::{now_ms, Lease, ProcessInfo, Store};
use anyhow::Result;
use std::path::PathBuf;

/// A running process whose heartbeat is older than two leases is shown as silent: processes
/// beat every third of `[host] lease_seconds` (30 s by default, so silent after a minute),
/// and one that missed six beats was killed or cannot reach the store.
fn silent_after_ms(lease_seconds: Option<u32>) -> i64 {
    let lease = lease_seconds
        .map(|s| i64::from(s) * 1000)
        .unwrap_or(crate::triggers::schedule::DEFAULT_LEASE.as_millis() as i64);
    2 * lease
}

pub(super) async fn status(config: Option<PathBuf>, json: bool) -> Result<()> {
    let loaded = super::load_config(config)?;
    let store = Store::from_config(&loaded).await?;
    let processes = store.processes().await?;
    let leases = store.leases().await?;
    let now = now_ms();
    let silent_after = silent_after_ms(loaded.config.host.lease_seconds);
    if json {
        // Each process as stored, and whether it is a `running` one gone silent.
        let processes: Vec<serde_json::Value> = processes
            .iter()
            .map(|p| {
                let mut v = serde_json::to_value(p).unwrap_or_default();
                v["silent"] = (p.state == "running" && now - p.heartbeat_ms > silent_after).into();
                v
            })
            .collect();
        println!(
            "{}",
            serde_json::json!({
                "store": store.backend_name(),
                "now_ms": now,
                "processes": processes,
                "leases": leases,
            })
        );
        return Ok(());
    }
    print!(
        "{}",
        render(store.backend_name(), &processes, &leases, now, silent_after)
    );
    Ok(())
}

fn ago(ms: i64) -> String {
    let s = (ms.max(0) + 500) / 1000;
    match s {
        0..=119 => format!("{s}s ago"),
        120..=7199 => format!("{}m ago", s / 60),
        _ => format!("{}h ago", s / 3600),
    }
}

fn render(
    backend: &str,
    processes: &[ProcessInfo],
    leases: &[Lease],
    now: i64,
    silent_after: i64,
) -> String {
    let mut out = format!("Store: {backend}\n");
    if processes.is_empty() {
        out.push_str("No host process has reported to this store yet.\n");
    } else {
        out.push_str("Processes:\n");
        for p in processes {
            let state = match p.state.as_str() {
                "running" if now - p.heartbeat_ms > silent_after => {
                    "silent (killed or unreachable?)"
                }
                other => other,
            };
            let shards = if p.shards.is_empty() {
                "no Discord shards".to_string()
            } else {
                format!("shards {}", p.shards)
            };
            out.push_str(&format!(
                "  {}  {state}  {shards}  heartbeat {}  started {}\n",
                p.id,
                ago(now - p.heartbeat_ms),
                ago(now - p.started_ms)
            ));
        }
    }
    if leases.is_empty() {
        out.push_str("No schedule has fired on this store yet.\n");
    } else {
        out.push_str("Schedule leases:\n");
        for l in leases {
            let held = if l.holder.is_empty() {
                "free (released)".to_string()
            } else if l.expires_ms < now {
                format!("free (expired; was {})", l.holder)
            } else {
                format!(
                    "held by {} for {}s more",
                    l.holder,
                    (l.expires_ms - now + 999) / 1000
                )
            };
            let fired = if l.fired_ms == 0 {
                "never fired".to_string()
            } else {
                format!("last fired {}", ago(now - l.fired_ms))
            };
            out.push_str(&format!("  {}  {held}  {fired}\n", l.name));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_process_is_silent_after_two_leases() {
        assert_eq!(silent_after_ms(None), 60_000);
        assert_eq!(silent_after_ms(Some(2)), 4_000);
    }

    #[test]
    fn processes_and_leases_read_plainly() {
        let now = 10_000_000;
        let p = |id: &str, beat: i64, state: &str, shards: &str| ProcessInfo {
            id: id.into(),
            host: "h".into(),
            pid: 1,
            shards: shards.into(),
            started_ms: now - 3_600_000,
            heartbeat_ms: beat,
            state: state.into(),
        };
        let l = |name: &str, holder: &str, expires: i64| Lease {
            name: name.into(),
            holder: holder.into(),
            expires_ms: expires,
            fired_ms: now - 2_000,
        };
        let text = render(
            "postgres",
            &[
                p("h:1", now - 3_000, "running", "0..2 of 4"),
                p("h:2", now - 300_000, "running", ""),
                p("h:3", now - 5_000, "stopped", "2..4 of 4"),
            ],
            &[
                l("schedule a/x", "h:1", now + 20_000),
                l("schedule b/y", "h:2", now - 1),
                l("schedule c/z", "", 0),
            ],
            now,
            silent_after_ms(None),
        );
        assert_eq!(
            text,
            "Store: postgres
Processes:
  h:1  running  shards 0..2 of 4  heartbeat 3s ago  started 60m ago
  h:2  silent (killed or unreachable?)  no Discord shards  heartbeat 5m ago  started 60m ago
  h:3  stopped  shards 2..4 of 4  heartbeat 5s ago  started 60m ago
Schedule leases:
  schedule a/x  held by h:1 for 20s more  last fired 2s ago
  schedule b/y  free (expired; was h:2)  last fired 2s ago
  schedule c/z  free (released)  last fired 2s ago
"
        );
    }
}
