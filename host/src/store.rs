//! The embedded database (one SQLite file): plugin key-value data and the audit trail.

use rusqlite::{params, Connection, OptionalExtension};
use std::path::Path;
use std::sync::Mutex;

pub struct Store {
    conn: Mutex<Connection>,
}

#[derive(Debug, Clone, serde::Serialize, PartialEq)]
pub struct AuditEntry {
    pub at: String,
    pub actor: String,
    pub channel: String,
    pub plugin: String,
    pub command: String,
    pub args: String,
    pub outcome: String,
    pub detail: String,
}

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

impl Store {
    pub fn open(path: &Path) -> rusqlite::Result<Self> {
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        Self::init(conn)
    }

    pub fn in_memory() -> rusqlite::Result<Self> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(conn: Connection) -> rusqlite::Result<Self> {
        conn.execute_batch(SCHEMA)?;
        Ok(Store {
            conn: Mutex::new(conn),
        })
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
            "INSERT INTO audit (at, actor, channel, plugin, command, args, outcome, detail)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![e.at, e.actor, e.channel, e.plugin, e.command, e.args, e.outcome, e.detail],
        )?;
        Ok(())
    }

    /// The most recent `limit` entries, oldest first.
    pub fn audit_recent(&self, limit: usize) -> rusqlite::Result<Vec<AuditEntry>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT at, actor, channel, plugin, command, args, outcome, detail FROM
             (SELECT * FROM audit ORDER BY id DESC LIMIT ?1) ORDER BY id",
        )?;
        let rows = stmt
            .query_map(params![limit as i64], |r| {
                Ok(AuditEntry {
                    at: r.get(0)?,
                    actor: r.get(1)?,
                    channel: r.get(2)?,
                    plugin: r.get(3)?,
                    command: r.get(4)?,
                    args: r.get(5)?,
                    outcome: r.get(6)?,
                    detail: r.get(7)?,
                })
            })?
            .collect();
        rows
    }
}
