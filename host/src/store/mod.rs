//! The store: plugin key-value data, the audit trail, and what several host processes share
//! (schedule leases, the processes' heartbeats, pending confirmations, cooldowns and webhook
//! rate budgets). Two backends behind
//! one API: an embedded SQLite file (the default, for one process) and PostgreSQL
//! (`[host] store = "postgres://…"`, for several processes on one database), with the same
//! versioned migrations (`migrations.rs`). PostgreSQL is reached through a connection pool
//! on a small runtime of the store's own: async code awaits the `*_async` calls and the
//! shared-state calls (no tokio worker waits on the network); the plain key-value and audit
//! calls block, for the audit writer's thread and admin commands.

mod migrations;
mod postgres;
mod sqlite;
#[doc(hidden)]
pub mod suite;

pub use migrations::SCHEMA_VERSION;
use std::future::Future;
use std::path::Path;

/// Why the store failed, in words for the admin's log.
#[derive(Debug, Clone, PartialEq)]
pub struct StoreError(pub String);

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StoreError {}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError(e.to_string())
    }
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> Self {
        match e.as_db_error() {
            Some(db) => StoreError(format!("PostgreSQL: {db}")),
            None => {
                let mut text = format!("PostgreSQL: {e}");
                let mut source = std::error::Error::source(&e);
                while let Some(s) = source {
                    text.push_str(&format!(": {s}"));
                    source = s.source();
                }
                StoreError(text)
            }
        }
    }
}

impl From<deadpool_postgres::PoolError> for StoreError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        match e {
            deadpool_postgres::PoolError::Backend(e) => e.into(),
            other => StoreError(format!("PostgreSQL pool: {other}")),
        }
    }
}

pub type Result<T> = std::result::Result<T, StoreError>;

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
    /// Part of the actor's name or id (any case).
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

/// A lease on a named job (a schedule), held by one process until it expires.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Lease {
    pub name: String,
    /// The process holding it; empty once released.
    pub holder: String,
    pub expires_ms: i64,
    /// The last occurrence fired under it (ms since the Unix epoch).
    pub fired_ms: i64,
}

/// One host process, as it reports itself.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ProcessInfo {
    pub id: String,
    pub host: String,
    pub pid: i64,
    /// Its Discord shards, like `0..2 of 4`; empty when it runs none.
    pub shards: String,
    pub started_ms: i64,
    pub heartbeat_ms: i64,
    /// `running` or `stopped`.
    pub state: String,
}

/// What taking a pending confirmation gave.
#[derive(Debug, Clone, PartialEq)]
pub enum Taken {
    /// The pending command (its serialized form); it is gone from the store now.
    Body(String),
    /// Someone else asked: only they may answer.
    NotYours,
    /// Expired, answered already, or never existed.
    Gone,
}

enum Backend {
    Sqlite(sqlite::Sqlite),
    Postgres(postgres::Postgres),
}

pub struct Store {
    backend: Backend,
    /// Calls of `cooldown_take` and `rate_take`, for pruning old rows now and then.
    limiter_calls: std::sync::atomic::AtomicU64,
}

/// The longest cooldown the config allows (7 days): a run older than that holds nothing
/// back, so its row may go.
pub const MAX_COOLDOWN_MS: i64 = 7 * 86_400_000;

/// Every this many cooldown or rate takes, one also deletes the rows that no longer matter.
const PRUNE_EVERY: u64 = 256;

/// A cooldown to check: its key (plugin, command, and a user or a channel) and its span.
#[derive(Debug, Clone, PartialEq)]
pub struct CooldownKey {
    pub key: String,
    pub span_ms: i64,
}

/// Why a cooldown refused: which key (its index) and how long until it passes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cooling {
    pub index: usize,
    pub wait_ms: i64,
}

/// Whether `[host] store` names a PostgreSQL database rather than a SQLite file.
pub fn is_postgres_url(s: &str) -> bool {
    s.starts_with("postgres://") || s.starts_with("postgresql://")
}

/// The secret holding the PostgreSQL password (from the secrets providers, never the file).
pub const PASSWORD_SECRET: &str = "store-password";

enum Configured {
    Postgres(String, Option<String>),
    Sqlite(std::path::PathBuf),
}

fn explain(
    url: &str,
    had_password: bool,
    loaded: &crate::config::Loaded,
    e: StoreError,
) -> anyhow::Error {
    let shown = postgres::without_password(url);
    let hint = match crate::capabilities::secrets::SecretStore::from_config(loaded) {
        Ok(secrets) if !had_password => format!(
            " (no password was given: {})",
            secrets.how_to_set(PASSWORD_SECRET)
        ),
        _ => String::new(),
    };
    anyhow::anyhow!("cannot open the store {shown}: {e}{hint}")
}

macro_rules! both {
    ($self:ident, $b:ident => $e:expr) => {
        match &$self.backend {
            Backend::Sqlite($b) => sqlite_call($b, || $e),
            Backend::Postgres($b) => $e.await,
        }
    };
}

/// A SQLite call. With `store_sync = "normal"` a commit is a write into the kernel's page
/// cache and runs in place; with `"full"` it waits for an fsync, so it runs
/// [`crate::off_the_workers`]: the worker's other tasks move to another thread instead of
/// waiting behind the disk (a plugin's `kv::set`, a cooldown, a lease).
fn sqlite_call<T>(b: &sqlite::Sqlite, f: impl FnOnce() -> T) -> T {
    if b.commits_wait() {
        crate::off_the_workers(f)
    } else {
        f()
    }
}

impl Store {
    fn with(backend: Backend) -> Self {
        Store {
            backend,
            limiter_calls: Default::default(),
        }
    }

    /// Whether this limiter call should also prune (the first, then every `PRUNE_EVERY`th).
    fn prune_now(&self) -> bool {
        use std::sync::atomic::Ordering;
        self.limiter_calls.fetch_add(1, Ordering::Relaxed) % PRUNE_EVERY == 0
    }

    /// The SQLite file at `path`, made or upgraded to this build's schema.
    pub fn open(path: &Path) -> Result<Self> {
        Self::open_with(path, crate::config::StoreSync::default())
    }

    /// The SQLite file at `path`, its commits as durable as `sync` says (`[host] store_sync`).
    pub fn open_with(path: &Path, sync: crate::config::StoreSync) -> Result<Self> {
        Ok(Self::with(Backend::Sqlite(sqlite::Sqlite::open_with(
            path, sync,
        )?)))
    }

    pub fn in_memory() -> Result<Self> {
        Ok(Self::with(Backend::Sqlite(sqlite::Sqlite::in_memory()?)))
    }

    /// The PostgreSQL database at `url` (`postgres://user@host:port/db`), through a pool
    /// of connections, brought up to this build's schema (one process at a time).
    pub async fn connect(url: &str, password: Option<&str>) -> Result<Self> {
        Ok(Self::with(Backend::Postgres(
            postgres::Postgres::connect(url, password).await?,
        )))
    }

    /// The store `[host] store` names: a PostgreSQL URL (its password the secret
    /// `store-password` from the secrets providers) or a SQLite file relative to the config.
    pub async fn from_config(loaded: &crate::config::Loaded) -> anyhow::Result<Self> {
        match Self::configured(loaded)? {
            Configured::Postgres(url, password) => Self::connect(&url, password.as_deref())
                .await
                .map_err(|e| explain(&url, password.is_some(), loaded, e)),
            Configured::Sqlite(db) => Self::open_with(&db, loaded.config.host.store_sync)
                .map_err(|e| anyhow::anyhow!("cannot open the store {}: {e}", db.display())),
        }
    }

    /// `from_config` for code that is not async (admin commands).
    pub fn from_config_blocking(loaded: &crate::config::Loaded) -> anyhow::Result<Self> {
        match Self::configured(loaded)? {
            Configured::Postgres(url, password) => {
                postgres::Postgres::connect_blocking(&url, password.as_deref())
                    .map(|pg| Self::with(Backend::Postgres(pg)))
                    .map_err(|e| explain(&url, password.is_some(), loaded, e))
            }
            Configured::Sqlite(db) => Self::open_with(&db, loaded.config.host.store_sync)
                .map_err(|e| anyhow::anyhow!("cannot open the store {}: {e}", db.display())),
        }
    }

    fn configured(loaded: &crate::config::Loaded) -> anyhow::Result<Configured> {
        let configured = loaded.config.host.store.to_string_lossy().to_string();
        if is_postgres_url(&configured) {
            let secrets = crate::capabilities::secrets::SecretStore::from_config(loaded)?;
            return Ok(Configured::Postgres(
                configured,
                secrets.lookup(PASSWORD_SECRET),
            ));
        }
        Ok(Configured::Sqlite(
            loaded.resolve(&loaded.config.host.store),
        ))
    }

    /// `postgres` or `sqlite`.
    pub fn backend_name(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }

    /// Wait for one store call from code that is not async (the audit writer's thread,
    /// admin commands). SQLite answers at once; PostgreSQL runs it on the store's own
    /// runtime (a tokio worker calling this hands its other tasks on first).
    pub fn blocking<T: Send>(&self, fut: impl Future<Output = T> + Send) -> T {
        match &self.backend {
            Backend::Sqlite(_) => {
                let mut fut = std::pin::pin!(fut);
                let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
                match fut.as_mut().poll(&mut cx) {
                    std::task::Poll::Ready(v) => v,
                    std::task::Poll::Pending => unreachable!("SQLite store calls never wait"),
                }
            }
            Backend::Postgres(pg) => pg.block_on(fut),
        }
    }

    pub fn schema_version(&self) -> Result<i64> {
        self.blocking(self.schema_version_async())
    }

    pub async fn schema_version_async(&self) -> Result<i64> {
        both!(self, b => b.schema_version())
    }

    pub fn kv_get(&self, plugin: &str, key: &str) -> Result<Option<Vec<u8>>> {
        self.blocking(self.kv_get_async(plugin, key))
    }

    pub fn kv_set(&self, plugin: &str, key: &str, value: &[u8]) -> Result<()> {
        self.blocking(self.kv_set_async(plugin, key, value))
    }

    pub async fn kv_get_async(&self, plugin: &str, key: &str) -> Result<Option<Vec<u8>>> {
        both!(self, b => b.kv_get(plugin, key))
    }

    pub async fn kv_set_async(&self, plugin: &str, key: &str, value: &[u8]) -> Result<()> {
        both!(self, b => b.kv_set(plugin, key, value))
    }

    pub async fn kv_delete_async(&self, plugin: &str, key: &str) -> Result<()> {
        both!(self, b => b.kv_delete(plugin, key))
    }

    pub async fn kv_keys_async(&self, plugin: &str, prefix: &str) -> Result<Vec<String>> {
        both!(self, b => b.kv_keys(plugin, prefix))
    }

    pub async fn kv_count_async(&self, plugin: &str) -> Result<usize> {
        both!(self, b => b.kv_count(plugin))
    }

    pub fn audit(&self, e: &AuditEntry) -> Result<()> {
        self.audit_batch(std::slice::from_ref(e))
    }

    /// Many audit records in one transaction (one fsync, or one commit): the group-commit
    /// writer's call. Every row is durable when this returns, or none is.
    pub fn audit_batch(&self, entries: &[AuditEntry]) -> Result<()> {
        self.blocking(self.audit_batch_async(entries))
    }

    /// `audit_batch` done at once if it will not wait (a SQLite commit with
    /// `synchronous = NORMAL` on a free connection); `None`, nothing written, otherwise.
    pub fn audit_batch_now(&self, entries: &[AuditEntry]) -> Option<Result<()>> {
        match &self.backend {
            Backend::Sqlite(b) => b.audit_batch_now(entries),
            Backend::Postgres(_) => None,
        }
    }

    pub async fn audit_batch_async(&self, entries: &[AuditEntry]) -> Result<()> {
        both!(self, b => b.audit_batch(entries))
    }

    /// The most recent `limit` entries, oldest first.
    pub fn audit_recent(&self, limit: usize) -> Result<Vec<AuditEntry>> {
        self.audit_query(&AuditFilter {
            limit,
            ..AuditFilter::default()
        })
    }

    /// The most recent entries matching `f`, oldest first.
    pub fn audit_query(&self, f: &AuditFilter) -> Result<Vec<AuditEntry>> {
        self.blocking(self.audit_query_async(f))
    }

    pub async fn audit_query_async(&self, f: &AuditFilter) -> Result<Vec<AuditEntry>> {
        both!(self, b => b.audit_query(f))
    }

    /// Delete audit records older than `before_ms`; returns how many.
    pub fn audit_prune(&self, before_ms: i64) -> Result<usize> {
        self.blocking(self.audit_prune_async(before_ms))
    }

    pub async fn audit_prune_async(&self, before_ms: i64) -> Result<usize> {
        both!(self, b => b.audit_prune(before_ms))
    }

    /// Fire occurrence `fired_ms` of job `name` as `holder`, in one atomic step: true only
    /// for the one process that gets it. The lease is taken if it is free, expired or
    /// already `holder`'s, and only if this occurrence was not fired yet; it then lasts
    /// until `expires_ms`.
    pub async fn lease_fire(
        &self,
        name: &str,
        holder: &str,
        fired_ms: i64,
        expires_ms: i64,
        now_ms: i64,
    ) -> Result<bool> {
        both!(self, b => b.lease_fire(name, holder, fired_ms, expires_ms, now_ms))
    }

    /// Extend every lease `holder` has to `expires_ms`.
    pub async fn lease_renew(&self, holder: &str, expires_ms: i64) -> Result<()> {
        both!(self, b => b.lease_renew(holder, expires_ms))
    }

    /// Give up every lease of `holder` (a process that stops); what was fired stays
    /// recorded, so no occurrence fires twice.
    pub async fn lease_release(&self, holder: &str) -> Result<()> {
        both!(self, b => b.lease_release(holder))
    }

    pub async fn leases(&self) -> Result<Vec<Lease>> {
        both!(self, b => b.leases())
    }

    /// Record that process `p` is alive (its `heartbeat_ms` and `state`).
    pub async fn heartbeat(&self, p: &ProcessInfo) -> Result<()> {
        both!(self, b => b.heartbeat(p))
    }

    pub async fn processes(&self) -> Result<Vec<ProcessInfo>> {
        both!(self, b => b.processes())
    }

    /// Keep a pending confirmation until `expires_ms` (and forget expired ones).
    pub async fn confirmation_put(
        &self,
        token: &str,
        user_id: &str,
        body: &str,
        expires_ms: i64,
        now_ms: i64,
    ) -> Result<()> {
        both!(self, b => b.confirmation_put(token, user_id, body, expires_ms, now_ms))
    }

    /// Who may answer `token` (`None` if it expired or was answered).
    pub async fn confirmation_owner(&self, token: &str, now_ms: i64) -> Result<Option<String>> {
        both!(self, b => b.confirmation_owner(token, now_ms))
    }

    /// Take the pending confirmation `token` for `user_id`'s answer; it can be taken once,
    /// by one process.
    pub async fn confirmation_take(
        &self,
        token: &str,
        user_id: &str,
        now_ms: i64,
    ) -> Result<Taken> {
        both!(self, b => b.confirmation_take(token, user_id, now_ms))
    }

    /// Make `token` expire (a test hook).
    pub async fn confirmation_expire(&self, token: &str) -> Result<()> {
        both!(self, b => b.confirmation_expire(token))
    }

    /// Check the cooldowns `keys` at `now_ms`, all in one transaction: the first (in the
    /// order given) whose last run is less than its span ago refuses, with the wait. When
    /// none refuses and `take`, this run is recorded under every key, so of two processes
    /// racing exactly one passes; without `take` (a peek) nothing is recorded. Keys are
    /// locked in the order given: give them in one fixed order (user before channel).
    /// Spans up to `MAX_COOLDOWN_MS`.
    pub async fn cooldown_take(
        &self,
        keys: &[CooldownKey],
        now_ms: i64,
        take: bool,
    ) -> Result<Option<Cooling>> {
        if keys.is_empty() {
            return Ok(None);
        }
        let prune_before = (take && self.prune_now()).then_some(now_ms - MAX_COOLDOWN_MS);
        both!(self, b => b.cooldown_take(keys, now_ms, take, prune_before))
    }

    /// One request against the budget `key`: at most `limit` in each window of `window_ms`
    /// (fixed windows, starting at the first request after the last one ended). True if this
    /// one is within it; counted in one atomic statement, so processes share one budget.
    pub async fn rate_take(
        &self,
        key: &str,
        window_ms: i64,
        limit: u32,
        now_ms: i64,
    ) -> Result<bool> {
        let prune = self.prune_now();
        let used = both!(self, b => b.rate_take(key, now_ms + window_ms, now_ms, prune))?;
        Ok(used <= i64::from(limit))
    }

    /// How many cooldown and rate rows the store keeps (a test hook for pruning).
    #[doc(hidden)]
    pub async fn limiter_rows(&self) -> Result<(i64, i64)> {
        both!(self, b => b.limiter_rows())
    }
}

/// This host process as leases and `chatops status` name it: `HOST:PID`.
pub fn process_id() -> &'static str {
    static ID: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ID.get_or_init(|| format!("{}:{}", hostname(), std::process::id()))
}

/// The machine's name (`localhost` if it cannot be read).
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

static SHARDS: std::sync::RwLock<String> = std::sync::RwLock::new(String::new());

/// What this process reports as its Discord shards (set by the Discord adapter).
pub fn set_shards(shards: String) {
    *SHARDS.write().unwrap_or_else(|e| e.into_inner()) = shards;
}

pub fn shards() -> String {
    SHARDS.read().unwrap_or_else(|e| e.into_inner()).clone()
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn the_store_suite_passes_on_sqlite() {
        let dir = tempfile::tempdir().unwrap();
        let store = super::Store::open(&dir.path().join("suite.db")).unwrap();
        super::suite::run(&store).await;
        let shared = super::Store::open(&dir.path().join("suite.db")).unwrap();
        super::suite::run_two(&store, &shared).await;
    }

    /// With `store_sync = "full"` the suite passes too, on a multi-thread runtime (where
    /// each call leaves the worker with `block_in_place`) and on a current-thread one
    /// (where it cannot, and runs in place).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_store_suite_passes_on_sqlite_with_full_sync_off_the_workers() {
        let dir = tempfile::tempdir().unwrap();
        let full = crate::config::StoreSync::Full;
        let store = std::sync::Arc::new(
            super::Store::open_with(&dir.path().join("full.db"), full).unwrap(),
        );
        super::suite::run(&store).await;
        let tasks: Vec<_> = (0..8u8)
            .map(|i| {
                let store = store.clone();
                tokio::spawn(async move {
                    let key = format!("k{i}");
                    store.kv_set_async("p", &key, &[i]).await.unwrap();
                    store.kv_get_async("p", &key).await.unwrap()
                })
            })
            .collect();
        for (i, t) in tasks.into_iter().enumerate() {
            assert_eq!(t.await.unwrap(), Some(vec![i as u8]));
        }
    }

    #[tokio::test]
    async fn full_sync_works_on_a_current_thread_runtime() {
        let dir = tempfile::tempdir().unwrap();
        let full = crate::config::StoreSync::Full;
        let store = super::Store::open_with(&dir.path().join("full.db"), full).unwrap();
        store.kv_set_async("p", "k", b"v").await.unwrap();
        assert_eq!(store.kv_get("p", "k").unwrap(), Some(b"v".to_vec()));
    }
}
