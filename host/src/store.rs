//! The embedded database (one SQLite file): plugin key-value data and the audit trail.
//! The schema is versioned (`PRAGMA user_version`): a file made by an older build is
//! upgraded in place when it is opened, one migration at a time.

use rusqlite::{params, Connection, OptionalExtension};
use std::path::Path;
use std::sync::Mutex;

pub struct Store {
    conn: Mutex<Connection>,
}

#[derive(Debug, Clone, Default, serde::Serialize, PartialEq)]
pub struct AuditEntry {
    /// Its place in the trail (set by the store; 0 before it is written).
    pub id: i64,
    pub at: String,
    /// `at` as milliseconds since the Unix epoch, for time ranges.
    pub unix_ms: i64,
    pub actor: String,
    pub channel: String,
    pub plugin: String,
    pub command: String,
    pub args: String,
    pub outcome: String,
    pub detail: String,
    pub guild: String,
    /// The plugin build that ran (empty when none did).
    pub version: String,
    pub digest: String,
    pub duration_ms: i64,
    /// What the call used or was refused: `http ORIGIN`, `secret NAME`, `post CHANNEL`,
    /// `kv`, refused ones as `refused …`; `; `-separated.
    pub capabilities: String,
}

/// Which audit records to read. Empty fields match everything.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Part of the actor's name or id.
    pub user: Option<String>,
    pub plugin: Option<String>,
    pub command: Option<String>,
    pub outcome: Option<String>,
    /// Only records at or after this time (ms since the Unix epoch).
    pub since_ms: Option<i64>,
    /// Only records after this one (for following the trail).
    pub after_id: Option<i64>,
    /// The most recent this many (oldest first).
    pub limit: usize,
}

/// The schema as the first release made it; `MIGRATIONS` bring it up to date.
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS kv (
    plugin TEXT NOT NULL,
    key TEXT NOT NULL,
    value BLOB NOT NULL,
    PRIMARY KEY (plugin, key)
);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    channel TEXT NOT NULL,
    plugin TEXT NOT NULL,
    command TEXT NOT NULL,
    args TEXT NOT NULL,
    outcome TEXT NOT NULL,
    detail TEXT NOT NULL
);
";

/// Migration N (index N-1) takes a database from `user_version` N-1 to N.
const MIGRATIONS: &[&str] = &[
    // 1: the schema above, before versions were recorded.
    "",
    // 2: what an admin filters the audit trail by.
    "ALTER TABLE audit ADD COLUMN unix_ms INTEGER NOT NULL DEFAULT 0;
     ALTER TABLE audit ADD COLUMN guild TEXT NOT NULL DEFAULT '';
     ALTER TABLE audit ADD COLUMN version TEXT NOT NULL DEFAULT '';
     ALTER TABLE audit ADD COLUMN digest TEXT NOT NULL DEFAULT '';
     ALTER TABLE audit ADD COLUMN duration_ms INTEGER NOT NULL DEFAULT 0;
     UPDATE audit SET unix_ms = CAST(strftime('%s', at) AS INTEGER) * 1000 WHERE unix_ms = 0;
     CREATE INDEX IF NOT EXISTS audit_time ON audit (unix_ms);
     CREATE INDEX IF NOT EXISTS audit_plugin ON audit (plugin, command);",
    // 3: the capabilities each call used or was refused.
    "ALTER TABLE audit ADD COLUMN capabilities TEXT NOT NULL DEFAULT '';",
];

pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

const AUDIT_COLUMNS: &str = "id, at, unix_ms, actor, channel, plugin, command, args, outcome, detail, guild, version, digest, duration_ms, capabilities";

impl Store {
    pub fn open(path: &Path) -> rusqlite::Result<Self> {
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        // Each write (an audit row, a plugin's kv value) is on disk when it returns, before
        // the answer goes out: a killed host loses nothing it answered, and with FULL (not
        // WAL's usual NORMAL) neither does a power cut. About one fsync per write.
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        Self::init(conn)
    }

    pub fn in_memory() -> rusqlite::Result<Self> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(mut conn: Connection) -> rusqlite::Result<Self> {
        conn.execute_batch(SCHEMA)?;
        let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if version > SCHEMA_VERSION {
            return Err(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_MISMATCH),
                Some(format!("the database has schema version {version}, newer than this build's {SCHEMA_VERSION}; run a newer chatops")),
            ));
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            let tx = conn.transaction()?;
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", (i + 1) as i64)?;
            tx.commit()?;
        }
        Ok(Store {
            conn: Mutex::new(conn),
        })
    }

    pub fn schema_version(&self) -> rusqlite::Result<i64> {
        self.conn()
            .query_row("PRAGMA user_version", [], |r| r.get(0))
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn kv_get(&self, plugin: &str, key: &str) -> rusqlite::Result<Option<Vec<u8>>> {
        self.conn()
            .query_row(
                "SELECT value FROM kv WHERE plugin = ?1 AND key = ?2",
                params![plugin, key],
                |r| r.get(0),
            )
            .optional()
    }

    pub fn kv_set(&self, plugin: &str, key: &str, value: &[u8]) -> rusqlite::Result<()> {
        self.conn().execute(
            "INSERT INTO kv (plugin, key, value) VALUES (?1, ?2, ?3)
             ON CONFLICT (plugin, key) DO UPDATE SET value = excluded.value",
            params![plugin, key, value],
        )?;
        Ok(())
    }

    pub fn kv_delete(&self, plugin: &str, key: &str) -> rusqlite::Result<()> {
        self.conn().execute(
            "DELETE FROM kv WHERE plugin = ?1 AND key = ?2",
            params![plugin, key],
        )?;
        Ok(())
    }

    pub fn kv_keys(&self, plugin: &str, prefix: &str) -> rusqlite::Result<Vec<String>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT key FROM kv WHERE plugin = ?1 AND substr(key, 1, length(?2)) = ?2 ORDER BY key",
        )?;
        let keys = stmt
            .query_map(params![plugin, prefix], |r| r.get(0))?
            .collect();
        keys
    }

    pub fn kv_count(&self, plugin: &str) -> rusqlite::Result<usize> {
        self.conn().query_row(
            "SELECT COUNT(*) FROM kv WHERE plugin = ?1",
            params![plugin],
            |r| r.get(0),
        )
    }

    pub fn audit(&self, e: &AuditEntry) -> rusqlite::Result<()> {
        self.conn().execute(
            "INSERT INTO audit (at, unix_ms, actor, channel, plugin, command, args, outcome, detail, guild, version, digest, duration_ms, capabilities)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
            params![e.at, e.unix_ms, e.actor, e.channel, e.plugin, e.command, e.args, e.outcome, e.detail, e.guild, e.version, e.digest, e.duration_ms, e.capabilities],
        )?;
        Ok(())
    }

    /// Many audit records in one transaction (one fsync): the group-commit writer's call.
    /// Every row is durable when this returns, or none is.
    pub fn audit_batch(&self, entries: &[AuditEntry]) -> rusqlite::Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        {
            let mut stmt = tx.prepare_cached(
                "INSERT INTO audit (at, unix_ms, actor, channel, plugin, command, args, outcome, detail, guild, version, digest, duration_ms, capabilities)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
            )?;
            for e in entries {
                stmt.execute(params![e.at, e.unix_ms, e.actor, e.channel, e.plugin, e.command, e.args, e.outcome, e.detail, e.guild, e.version, e.digest, e.duration_ms, e.capabilities])?;
            }
        }
        tx.commit()
    }

    /// The most recent `limit` entries, oldest first.
    pub fn audit_recent(&self, limit: usize) -> rusqlite::Result<Vec<AuditEntry>> {
        self.audit_query(&AuditFilter {
            limit,
            ..AuditFilter::default()
        })
    }

    /// The most recent entries matching `f`, oldest first.
    pub fn audit_query(&self, f: &AuditFilter) -> rusqlite::Result<Vec<AuditEntry>> {
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
            .collect();
        rows
    }

    /// Delete audit records older than `before_ms`; returns how many.
    pub fn audit_prune(&self, before_ms: i64) -> rusqlite::Result<usize> {
        self.conn()
            .execute("DELETE FROM audit WHERE unix_ms < ?1", params![before_ms])
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
            conn.execute_batch(SCHEMA).unwrap();
            conn.execute_batch(MIGRATIONS[1]).unwrap();
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
        let store = Store::open(&path).unwrap();
        assert_eq!(store.schema_version().unwrap(), 3);
        let old = store.audit_recent(10).unwrap();
        assert_eq!(old.len(), 1);
        assert_eq!((old[0].duration_ms, old[0].capabilities.as_str()), (12, ""));
        assert_eq!(store.kv_get("incident", "next").unwrap(), Some(vec![7]));
        store
            .audit(&AuditEntry {
                actor: "bob (2)".into(),
                capabilities: "http https://ci.example.com; refused secret root-password".into(),
                ..AuditEntry::default()
            })
            .unwrap();
        let all = store.audit_recent(10).unwrap();
        assert_eq!(
            all[1].capabilities,
            "http https://ci.example.com; refused secret root-password"
        );
        drop(store);
        // opening it again changes nothing
        let again = Store::open(&path).unwrap();
        assert_eq!(again.audit_recent(10).unwrap().len(), 2);
    }

    #[test]
    fn a_database_of_the_first_schema_is_upgraded_and_keeps_its_records() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(SCHEMA).unwrap();
            conn.execute(
                "INSERT INTO audit (at, actor, channel, plugin, command, args, outcome, detail)
                 VALUES ('2026-11-01T10:00:00Z', 'alice (1)', 'ops', 'deploy', 'deploy', 'deploy api', 'ok', '')",
                [],
            )
            .unwrap();
        }
        let store = Store::open(&path).unwrap();
        assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
        let old = store.audit_recent(10).unwrap();
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
        store.audit(&e).unwrap();
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
            Store::open(&path).unwrap().audit_recent(10).unwrap().len(),
            1
        );
    }

    /// What `synchronous = FULL` costs an audit write (printed, not asserted: a figure for
    /// the README, `cargo test -p chatops --lib audit_write_cost -- --nocapture`).
    #[test]
    fn audit_write_cost() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("cost.db")).unwrap();
        let mode: i64 = store
            .conn()
            .query_row("PRAGMA synchronous", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, 2, "FULL");
        let e = AuditEntry {
            actor: "alice (1)".into(),
            plugin: "deploy".into(),
            args: "deploy api prod".into(),
            outcome: "ok".into(),
            ..AuditEntry::default()
        };
        for sync in ["FULL", "NORMAL", "FULL"] {
            store
                .conn()
                .pragma_update(None, "synchronous", sync)
                .unwrap();
            let n = 200;
            let started = std::time::Instant::now();
            for _ in 0..n {
                store.audit(&e).unwrap();
            }
            let each = started.elapsed() / n;
            println!("synchronous = {sync}: {each:?} per audit write ({n} writes)");
        }
    }
}
