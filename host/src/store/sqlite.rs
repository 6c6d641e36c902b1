//! The embedded backend: one SQLite file. The schema version is `PRAGMA user_version`; a
//! file made by an older build is upgraded in place when it is opened, one migration at a
//! time.

use super::migrations::{MIGRATIONS, SCHEMA_VERSION, SQLITE_BASE};
use super::{
    AuditEntry, AuditFilter, CooldownKey, Cooling, Lease, ProcessInfo, Result, StoreError, Taken,
};
use crate::config::StoreSync;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use std::path::Path;
use std::sync::Mutex;

pub struct Sqlite {
    conn: Mutex<Connection>,
    /// A commit does not wait on the disk (`synchronous = NORMAL`, or in memory): the
    /// audit writer may commit in place on a runtime thread.
    commits_without_waiting: bool,
    /// Checkpoints the WAL off the command path (file databases only); stops when dropped.
    _checkpointer: Option<Checkpointer>,
}

/// How often the WAL is copied into the database file (by its own thread and connection,
/// so no command's commit pays for a checkpoint's fsyncs).
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

struct Checkpointer {
    stop: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Checkpointer {
    fn start(path: &Path) -> Result<Checkpointer> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("store-checkpoint".into())
            .spawn(move || loop {
                match stopped.recv_timeout(CHECKPOINT_EVERY) {
                    Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                    _ => return,
                }
                // PASSIVE: copies what it can without waiting for readers or writers.
                if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                    tracing::warn!("store checkpoint: {e}");
                }
            })
            .map_err(|e| StoreError(format!("cannot start the checkpoint thread: {e}")))?;
        Ok(Checkpointer {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Count one request in a rate window, starting a new window if the last one ended; the
/// old row is read under the write lock, so concurrent takes count one after the other.
const RATE_TAKE: &str = "INSERT INTO rates (key, until_ms, used) VALUES (?1, ?2, 1)
     ON CONFLICT (key) DO UPDATE SET
         used = CASE WHEN rates.until_ms <= ?3 THEN 1 ELSE rates.used + 1 END,
         until_ms = CASE WHEN rates.until_ms <= ?3 THEN excluded.until_ms ELSE rates.until_ms END
     RETURNING used";

const AUDIT_COLUMNS: &str = "id, at, unix_ms, actor, channel, plugin, command, args, outcome, detail, guild, version, digest, duration_ms, capabilities";

impl Sqlite {
    #[cfg(test)]
    pub fn open(path: &Path) -> Result<Self> {
        Self::open_with(path, StoreSync::default())
    }

    pub fn open_with(path: &Path, sync: StoreSync) -> Result<Self> {
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        // Each write (an audit row, a plugin's kv value) is in the file when it returns,
        // before the answer goes out: with NORMAL a killed host loses nothing it answered
        // (the WAL is in the kernel's page cache; it is fsynced at checkpoints); with FULL
        // neither does a power cut, for one fsync per commit.
        conn.pragma_update(None, "synchronous", sync.pragma())?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        // Checkpoints run on their own thread, not in whichever commit crosses the limit.
        conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        let mut store = Self::init(conn)?;
        store.commits_without_waiting = sync == StoreSync::Normal;
        store._checkpointer = Some(Checkpointer::start(path)?);
        Ok(store)
    }

    pub fn in_memory() -> Result<Self> {
        Self::init(Connection::open_in_memory()?)
    }

    /// A commit waits for an fsync (`store_sync = "full"`).
    pub fn commits_wait(&self) -> bool {
        !self.commits_without_waiting
    }

    /// Write the audit batch now if a commit will not wait on the disk or on another
    /// query holding the connection; `None` (nothing written) otherwise.
    pub fn audit_batch_now(&self, entries: &[AuditEntry]) -> Option<Result<()>> {
        if !self.commits_without_waiting {
            return None;
        }
        let mut conn = self.conn.try_lock().ok()?;
        Some(Self::audit_batch_on(&mut conn, entries))
    }

    fn init(mut conn: Connection) -> Result<Self> {
        conn.execute_batch(SQLITE_BASE)?;
        let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if version > SCHEMA_VERSION {
            return Err(StoreError(format!("the database has schema version {version}, newer than this build's {SCHEMA_VERSION}; run a newer chatops")));
        }
        for (i, m) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            let tx = conn.transaction()?;
            tx.execute_batch(m.sqlite)?;
            tx.pragma_update(None, "user_version", (i + 1) as i64)?;
            tx.commit()?;
        }
        Ok(Sqlite {
            conn: Mutex::new(conn),
            commits_without_waiting: true,
            _checkpointer: None,
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn schema_version(&self) -> Result<i64> {
        Ok(self
            .conn()
            .query_row("PRAGMA user_version", [], |r| r.get(0))?)
    }

    pub fn kv_get(&self, plugin: &str, key: &str) -> Result<Option<Vec<u8>>> {
        Ok(self
            .conn()
            .query_row(
                "SELECT value FROM kv WHERE plugin = ?1 AND key = ?2",
                params![plugin, key],
                |r| r.get(0),
            )
            .optional()?)
    }

    pub fn kv_set(&self, plugin: &str, key: &str, value: &[u8]) -> Result<()> {
        self.conn().execute(
            "INSERT INTO kv (plugin, key, value) VALUES (?1, ?2, ?3)
             ON CONFLICT (plugin, key) DO UPDATE SET value = excluded.value",
            params![plugin, key, value],
        )?;
        Ok(())
    }

    pub fn kv_delete(&self, plugin: &str, key: &str) -> Result<()> {
        self.conn().execute(
            "DELETE FROM kv WHERE plugin = ?1 AND key = ?2",
            params![plugin, key],
        )?;
        Ok(())
    }

    pub fn kv_keys(&self, plugin: &str, prefix: &str) -> Result<Vec<String>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT key FROM kv WHERE plugin = ?1 AND substr(key, 1, length(?2)) = ?2 ORDER BY key",
        )?;
        let keys = stmt
            .query_map(params![plugin, prefix], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(keys)
    }

    pub fn kv_count(&self, plugin: &str) -> Result<usize> {
        Ok(self.conn().query_row(
            "SELECT COUNT(*) FROM kv WHERE plugin = ?1",
            params![plugin],
            |r| r.get(0),
        )?)
    }

    pub fn audit_batch(&self, entries: &[AuditEntry]) -> Result<()> {
        Self::audit_batch_on(&mut self.conn(), entries)
    }

    fn audit_batch_on(conn: &mut Connection, entries: &[AuditEntry]) -> Result<()> {
        let tx = conn.transaction()?;
        {
            let mut stmt = tx.prepare_cached(
                "INSERT INTO audit (at, unix_ms, actor, channel, plugin, command, args, outcome, detail, guild, version, digest, duration_ms, capabilities)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
            )?;
            for e in entries {
                stmt.execute(params![
                    e.at,
                    e.unix_ms,
                    e.actor,
                    e.channel,
                    e.plugin,
                    e.command,
                    e.args,
                    e.outcome,
                    e.detail,
                    e.guild,
                    e.version,
                    e.digest,
                    e.duration_ms,
                    e.capabilities
                ])?;
            }
        }
        Ok(tx.commit()?)
    }

    pub fn audit_query(&self, f: &AuditFilter) -> Result<Vec<AuditEntry>> {
        let conn = self.conn();
        let sql = format!(
            "SELECT {AUDIT_COLUMNS} FROM (SELECT * FROM audit WHERE
               (?1 IS NULL OR actor LIKE '%' || ?1 || '%')
               AND (?2 IS NULL OR plugin = ?2)
               AND (?3 IS NULL OR command = ?3)
               AND (?4 IS NULL OR outcome = ?4)
               AND (?5 IS NULL OR unix_ms >= ?5)
               AND (?6 IS NULL OR id > ?6)
             ORDER BY id DESC LIMIT ?7) ORDER BY id"
        );
        let mut stmt = conn.prepare(&sql)?;
        let rows = stmt
            .query_map(
                params![
                    f.user,
                    f.plugin,
                    f.command,
                    f.outcome,
                    f.since_ms,
                    f.after_id,
                    f.limit as i64
                ],
                |r| {
                    Ok(AuditEntry {
                        id: r.get(0)?,
                        at: r.get(1)?,
                        unix_ms: r.get(2)?,
                        actor: r.get(3)?,
                        channel: r.get(4)?,
                        plugin: r.get(5)?,
                        command: r.get(6)?,
                        args: r.get(7)?,
                        outcome: r.get(8)?,
                        detail: r.get(9)?,
                        guild: r.get(10)?,
                        version: r.get(11)?,
                        digest: r.get(12)?,
                        duration_ms: r.get(13)?,
                        capabilities: r.get(14)?,
                    })
                },
            )?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    pub fn audit_prune(&self, before_ms: i64) -> Result<usize> {
        Ok(self
            .conn()
            .execute("DELETE FROM audit WHERE unix_ms < ?1", params![before_ms])?)
    }

    pub fn lease_fire(
        &self,
        name: &str,
        holder: &str,
        fired_ms: i64,
        expires_ms: i64,
        now_ms: i64,
    ) -> Result<bool> {
        let n = self.conn().execute(
            "INSERT INTO leases (name, holder, expires_ms, fired_ms) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder,
                 expires_ms = excluded.expires_ms, fired_ms = excluded.fired_ms
             WHERE leases.fired_ms < excluded.fired_ms
               AND (leases.holder = excluded.holder OR leases.expires_ms < ?5)",
            params![name, holder, expires_ms, fired_ms, now_ms],
        )?;
        Ok(n == 1)
    }

    pub fn lease_renew(&self, holder: &str, expires_ms: i64) -> Result<()> {
        self.conn().execute(
            "UPDATE leases SET expires_ms = ?2 WHERE holder = ?1",
            params![holder, expires_ms],
        )?;
        Ok(())
    }

    pub fn lease_release(&self, holder: &str) -> Result<()> {
        self.conn().execute(
            "UPDATE leases SET holder = '', expires_ms = 0 WHERE holder = ?1",
            params![holder],
        )?;
        Ok(())
    }

    pub fn leases(&self) -> Result<Vec<Lease>> {
        let conn = self.conn();
        let mut stmt =
            conn.prepare("SELECT name, holder, expires_ms, fired_ms FROM leases ORDER BY name")?;
        let rows = stmt
            .query_map([], |r| {
                Ok(Lease {
                    name: r.get(0)?,
                    holder: r.get(1)?,
                    expires_ms: r.get(2)?,
                    fired_ms: r.get(3)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    pub fn heartbeat(&self, p: &ProcessInfo) -> Result<()> {
        self.conn().execute(
            "INSERT INTO processes (id, host, pid, shards, started_ms, heartbeat_ms, state)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (id) DO UPDATE SET shards = excluded.shards,
                 heartbeat_ms = excluded.heartbeat_ms, state = excluded.state",
            params![
                p.id,
                p.host,
                p.pid,
                p.shards,
                p.started_ms,
                p.heartbeat_ms,
                p.state
            ],
        )?;
        Ok(())
    }

    pub fn processes(&self) -> Result<Vec<ProcessInfo>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT id, host, pid, shards, started_ms, heartbeat_ms, state FROM processes ORDER BY started_ms, id",
        )?;
        let rows = stmt
            .query_map([], |r| {
                Ok(ProcessInfo {
                    id: r.get(0)?,
                    host: r.get(1)?,
                    pid: r.get(2)?,
                    shards: r.get(3)?,
                    started_ms: r.get(4)?,
                    heartbeat_ms: r.get(5)?,
                    state: r.get(6)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    pub fn confirmation_put(
        &self,
        token: &str,
        user_id: &str,
        body: &str,
        expires_ms: i64,
        now_ms: i64,
    ) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.execute(
            "DELETE FROM confirmations WHERE expires_ms <= ?1",
            params![now_ms],
        )?;
        tx.execute(
            "INSERT INTO confirmations (token, user_id, body, expires_ms) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (token) DO UPDATE SET user_id = excluded.user_id, body = excluded.body,
                 expires_ms = excluded.expires_ms",
            params![token, user_id, body, expires_ms],
        )?;
        Ok(tx.commit()?)
    }

    pub fn confirmation_owner(&self, token: &str, now_ms: i64) -> Result<Option<String>> {
        Ok(self
            .conn()
            .query_row(
                "SELECT user_id FROM confirmations WHERE token = ?1 AND expires_ms > ?2",
                params![token, now_ms],
                |r| r.get(0),
            )
            .optional()?)
    }

    pub fn confirmation_take(&self, token: &str, user_id: &str, now_ms: i64) -> Result<Taken> {
        let conn = self.conn();
        let taken: Option<(String, i64)> = conn
            .query_row(
                "DELETE FROM confirmations WHERE token = ?1 AND user_id = ?2 RETURNING body, expires_ms",
                params![token, user_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        Ok(match taken {
            Some((body, expires)) if expires > now_ms => Taken::Body(body),
            Some(_) => Taken::Gone,
            None => {
                let other: Option<String> = conn
                    .query_row(
                        "SELECT user_id FROM confirmations WHERE token = ?1",
                        params![token],
                        |r| r.get(0),
                    )
                    .optional()?;
                if other.is_some() {
                    Taken::NotYours
                } else {
                    Taken::Gone
                }
            }
        })
    }

    pub fn confirmation_expire(&self, token: &str) -> Result<()> {
        self.conn().execute(
            "UPDATE confirmations SET expires_ms = 0 WHERE token = ?1",
            params![token],
        )?;
        Ok(())
    }

    /// See `Store::cooldown_take`. A take runs in an IMMEDIATE transaction: it holds the
    /// file's write lock from the first read, so another process on the file waits.
    pub fn cooldown_take(
        &self,
        keys: &[CooldownKey],
        now_ms: i64,
        take: bool,
        prune_before: Option<i64>,
    ) -> Result<Option<Cooling>> {
        let mut conn = self.conn();
        let behavior = if take {
            TransactionBehavior::Immediate
        } else {
            TransactionBehavior::Deferred
        };
        let tx = conn.transaction_with_behavior(behavior)?;
        {
            let mut last = tx.prepare_cached("SELECT at_ms FROM cooldowns WHERE key = ?1")?;
            for (index, k) in keys.iter().enumerate() {
                let at: Option<i64> = last.query_row(params![k.key], |r| r.get(0)).optional()?;
                if let Some(at) = at.filter(|at| now_ms - at < k.span_ms) {
                    return Ok(Some(Cooling {
                        index,
                        wait_ms: at + k.span_ms - now_ms,
                    }));
                }
            }
        }
        if !take {
            return Ok(None);
        }
        {
            let mut record = tx.prepare_cached(
                "INSERT INTO cooldowns (key, at_ms) VALUES (?1, ?2)
                 ON CONFLICT (key) DO UPDATE SET at_ms = excluded.at_ms",
            )?;
            for k in keys {
                record.execute(params![k.key, now_ms])?;
            }
        }
        if let Some(before) = prune_before {
            tx.execute("DELETE FROM cooldowns WHERE at_ms < ?1", params![before])?;
        }
        tx.commit()?;
        Ok(None)
    }

    /// See `Store::rate_take`: the requests counted in `key`'s window, this one included.
    pub fn rate_take(&self, key: &str, until_ms: i64, now_ms: i64, prune: bool) -> Result<i64> {
        let conn = self.conn();
        if prune {
            conn.execute("DELETE FROM rates WHERE until_ms <= ?1", params![now_ms])?;
        }
        let used = conn
            .prepare_cached(RATE_TAKE)?
            .query_row(params![key, until_ms, now_ms], |r| r.get(0))?;
        Ok(used)
    }

    pub fn limiter_rows(&self) -> Result<(i64, i64)> {
        Ok(self.conn().query_row(
            "SELECT (SELECT COUNT(*) FROM cooldowns), (SELECT COUNT(*) FROM rates)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?)
    }

    #[cfg(test)]
    pub fn synchronous_mode(&self) -> i64 {
        self.conn()
            .query_row("PRAGMA synchronous", [], |r| r.get(0))
            .unwrap()
    }

    #[cfg(test)]
    pub fn set_synchronous(&self, mode: &str) {
        self.conn()
            .pragma_update(None, "synchronous", mode)
            .unwrap();
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    /// A file as the previous release (schema 2) left it: its records and its plugins'
    /// key-value data survive, and new records carry the capabilities used.
    #[test]
    fn a_database_of_the_previous_schema_is_upgraded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v2.db");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(SQLITE_BASE).unwrap();
            conn.execute_batch(MIGRATIONS[1].sqlite).unwrap();
            conn.pragma_update(None, "user_version", 2).unwrap();
            conn.execute(
                "INSERT INTO audit (at, unix_ms, actor, channel, plugin, command, args, outcome, detail, guild, version, digest, duration_ms)
                 VALUES ('2026-11-20T10:00:00Z', 1795168800000, 'alice (1)', 'ops', 'deploy', 'deploy', 'deploy api', 'ok', '', 'g', '1.0.0', 'ab', 12)",
                [],
            )
            .unwrap();
            conn.execute(
                "INSERT INTO kv (plugin, key, value) VALUES ('incident', 'next', x'07')",
                [],
            )
            .unwrap();
        }
        let store = Sqlite::open(&path).unwrap();
        assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
        let old = store
            .audit_query(&AuditFilter {
                limit: 10,
                ..AuditFilter::default()
            })
            .unwrap();
        assert_eq!(old.len(), 1);
        assert_eq!((old[0].duration_ms, old[0].capabilities.as_str()), (12, ""));
        assert_eq!(store.kv_get("incident", "next").unwrap(), Some(vec![7]));
        store
            .audit_batch(&[AuditEntry {
                actor: "bob (2)".into(),
                capabilities: "http https://ci.example.com; refused secret root-password".into(),
                ..AuditEntry::default()
            }])
            .unwrap();
        let all = store
            .audit_query(&AuditFilter {
                limit: 10,
                ..AuditFilter::default()
            })
            .unwrap();
        assert_eq!(
            all[1].capabilities,
            "http https://ci.example.com; refused secret root-password"
        );
        drop(store);
        // opening it again changes nothing
        let again = Sqlite::open(&path).unwrap();
        assert_eq!(
            again
                .audit_query(&AuditFilter {
                    limit: 10,
                    ..AuditFilter::default()
                })
                .unwrap()
                .len(),
            2
        );
    }

    #[test]
    fn a_database_of_the_first_schema_is_upgraded_and_keeps_its_records() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(SQLITE_BASE).unwrap();
            conn.execute(
                "INSERT INTO audit (at, actor, channel, plugin, command, args, outcome, detail)
                 VALUES ('2026-11-01T10:00:00Z', 'alice (1)', 'ops', 'deploy', 'deploy', 'deploy api', 'ok', '')",
                [],
            )
            .unwrap();
        }
        let store = Sqlite::open(&path).unwrap();
        assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
        let old = store
            .audit_query(&AuditFilter {
                limit: 10,
                ..AuditFilter::default()
            })
            .unwrap();
        assert_eq!(old.len(), 1);
        assert_eq!(
            old[0].unix_ms, 1_793_527_200_000,
            "the time was carried over from `at`"
        );
        let e = AuditEntry {
            at: "2026-11-27T10:00:00Z".into(),
            unix_ms: 1_795_773_600_000,
            actor: "bob (2)".into(),
            plugin: "deploy".into(),
            command: "deploy".into(),
            outcome: "denied".into(),
            digest: "ab".into(),
            ..AuditEntry::default()
        };
        store.audit_batch(std::slice::from_ref(&e)).unwrap();
        let f = |f: AuditFilter| store.audit_query(&AuditFilter { limit: 10, ..f }).unwrap();
        assert_eq!(
            f(AuditFilter {
                outcome: Some("denied".into()),
                ..Default::default()
            })
            .len(),
            1
        );
        assert_eq!(
            f(AuditFilter {
                user: Some("alice".into()),
                ..Default::default()
            })
            .len(),
            1
        );
        assert_eq!(
            f(AuditFilter {
                since_ms: Some(1_795_000_000_000),
                ..Default::default()
            })[0]
                .actor,
            "bob (2)"
        );
        assert_eq!(store.audit_prune(1_795_000_000_000).unwrap(), 1);
        drop(store);
        // Opening again changes nothing.
        assert_eq!(
            Sqlite::open(&path)
                .unwrap()
                .audit_query(&AuditFilter {
                    limit: 10,
                    ..AuditFilter::default()
                })
                .unwrap()
                .len(),
            1
        );
    }

    /// `[host] store_sync` reaches SQLite, and what `synchronous = FULL` costs an audit
    /// write over NORMAL (printed, not asserted: a figure for the README,
    /// `cargo test -p chatops --lib audit_write_cost -- --nocapture`).
    #[test]
    fn audit_write_cost() {
        let dir = tempfile::tempdir().unwrap();
        let full = Sqlite::open_with(&dir.path().join("full.db"), StoreSync::Full).unwrap();
        assert_eq!(full.synchronous_mode(), 2, "FULL");
        drop(full);
        let store = Sqlite::open(&dir.path().join("cost.db")).unwrap();
        assert_eq!(store.synchronous_mode(), 1, "NORMAL by default");
        let e = AuditEntry {
            actor: "alice (1)".into(),
            plugin: "deploy".into(),
            args: "deploy api prod".into(),
            outcome: "ok".into(),
            ..AuditEntry::default()
        };
        for sync in ["FULL", "NORMAL", "FULL"] {
            store.set_synchronous(sync);
            let n = 200;
            let started = std::time::Instant::now();
            for _ in 0..n {
                store.audit_batch(std::slice::from_ref(&e)).unwrap();
            }
            let each = started.elapsed() / n;
            println!("synchronous = {sync}: {each:?} per audit write ({n} writes)");
        }
    }
}
