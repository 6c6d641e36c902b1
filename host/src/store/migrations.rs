//! The versioned schema, one list for both backends. Migration N (index N-1) takes a store
//! from version N-1 to N; each is written once per SQL dialect, and both dialects make the
//! same tables and columns. SQLite records the version in `PRAGMA user_version`,
//! PostgreSQL in the one-row table `chatops_schema`.

pub struct Migration {
    pub sqlite: &'static str,
    pub postgres: &'static str,
}

/// The SQLite schema as the first release made it (before versions were recorded): a file
/// of that release is brought up to date by the migrations from 1 on.
pub const SQLITE_BASE: &str = "
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

/// Tables several host processes share: schedule leases, the processes themselves (for
/// `chatops status`) and pending confirmations. The same SQL in both dialects.
const SHARED: &str = "
CREATE TABLE IF NOT EXISTS leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    expires_ms BIGINT NOT NULL,
    fired_ms BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS processes (
    id TEXT PRIMARY KEY,
    host TEXT NOT NULL,
    pid BIGINT NOT NULL,
    shards TEXT NOT NULL,
    started_ms BIGINT NOT NULL,
    heartbeat_ms BIGINT NOT NULL,
    state TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS confirmations (
    token TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    body TEXT NOT NULL,
    expires_ms BIGINT NOT NULL
);
";

/// Cooldowns and webhook rate budgets, so every process on one database enforces one of
/// each: when each (plugin, command, user or channel) last ran, and per hook the end of
/// its current window and the requests counted in it. The same SQL in both dialects.
const LIMITS: &str = "
CREATE TABLE IF NOT EXISTS cooldowns (
    key TEXT PRIMARY KEY,
    at_ms BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS cooldowns_at ON cooldowns (at_ms);
CREATE TABLE IF NOT EXISTS rates (
    key TEXT PRIMARY KEY,
    until_ms BIGINT NOT NULL,
    used BIGINT NOT NULL
);
";

pub const MIGRATIONS: &[Migration] = &[
    // 1: the first schema.
    Migration {
        sqlite: "",
        postgres: "
CREATE TABLE IF NOT EXISTS kv (
    plugin TEXT NOT NULL,
    key TEXT NOT NULL,
    value BYTEA NOT NULL,
    PRIMARY KEY (plugin, key)
);
CREATE TABLE IF NOT EXISTS audit (
    id BIGSERIAL PRIMARY KEY,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    channel TEXT NOT NULL,
    plugin TEXT NOT NULL,
    command TEXT NOT NULL,
    args TEXT NOT NULL,
    outcome TEXT NOT NULL,
    detail TEXT NOT NULL
);",
    },
    // 2: what an admin filters the audit trail by.
    Migration {
        sqlite: "ALTER TABLE audit ADD COLUMN unix_ms INTEGER NOT NULL DEFAULT 0;
     ALTER TABLE audit ADD COLUMN guild TEXT NOT NULL DEFAULT '';
     ALTER TABLE audit ADD COLUMN version TEXT NOT NULL DEFAULT '';
     ALTER TABLE audit ADD COLUMN digest TEXT NOT NULL DEFAULT '';
     ALTER TABLE audit ADD COLUMN duration_ms INTEGER NOT NULL DEFAULT 0;
     UPDATE audit SET unix_ms = CAST(strftime('%s', at) AS INTEGER) * 1000 WHERE unix_ms = 0;
     CREATE INDEX IF NOT EXISTS audit_time ON audit (unix_ms);
     CREATE INDEX IF NOT EXISTS audit_plugin ON audit (plugin, command);",
        postgres: "ALTER TABLE audit ADD COLUMN unix_ms BIGINT NOT NULL DEFAULT 0,
       ADD COLUMN guild TEXT NOT NULL DEFAULT '',
       ADD COLUMN version TEXT NOT NULL DEFAULT '',
       ADD COLUMN digest TEXT NOT NULL DEFAULT '',
       ADD COLUMN duration_ms BIGINT NOT NULL DEFAULT 0;
     CREATE INDEX IF NOT EXISTS audit_time ON audit (unix_ms);
     CREATE INDEX IF NOT EXISTS audit_plugin ON audit (plugin, command);",
    },
    // 3: the capabilities each call used or was refused.
    Migration {
        sqlite: "ALTER TABLE audit ADD COLUMN capabilities TEXT NOT NULL DEFAULT '';",
        postgres: "ALTER TABLE audit ADD COLUMN capabilities TEXT NOT NULL DEFAULT '';",
    },
    // 4: what several processes share.
    Migration {
        sqlite: SHARED,
        postgres: SHARED,
    },
    // 5: cooldowns and webhook rates, shared by the processes.
    Migration {
        sqlite: LIMITS,
        postgres: LIMITS,
    },
];

pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;
