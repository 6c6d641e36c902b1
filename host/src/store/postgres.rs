//! The shared backend: a PostgreSQL database several host processes use at once, through
//! a pool of connections (tokio-postgres + deadpool). Migrations run under an advisory lock,
//! so two processes starting together upgrade the schema once.

use super::migrations::{MIGRATIONS, SCHEMA_VERSION};
use super::{
    AuditEntry, AuditFilter, CooldownKey, Cooling, Lease, ProcessInfo, Result, StoreError, Taken,
};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::NoTls;

/// The key of the advisory lock migrations take (any constant of our own).
const MIGRATION_LOCK: i64 = 0x6368_6174_6f70_73;

/// Connections per process: commands, the audit writer, schedules and heartbeats at once.
const POOL_SIZE: usize = 16;

/// The pool's connections live on a small runtime of the store's own, so the store can be
/// called from any thread: async code awaits a task on it, the audit writer's thread and
/// admin commands block on it, and neither can starve the connections.
pub struct Postgres {
    pool: Pool,
    runtime: Option<tokio::runtime::Runtime>,
    handle: tokio::runtime::Handle,
}

impl Drop for Postgres {
    fn drop(&mut self) {
        // Dropping a runtime may not block inside async code; its connections just close.
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// `url` with any password in it replaced, for messages.
pub fn without_password(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let userinfo = &url[s + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

fn audit_row(r: &tokio_postgres::Row) -> AuditEntry {
    AuditEntry {
        id: r.get(0),
        at: r.get(1),
        unix_ms: r.get(2),
        actor: r.get(3),
        channel: r.get(4),
        plugin: r.get(5),
        command: r.get(6),
        args: r.get(7),
        outcome: r.get(8),
        detail: r.get(9),
        guild: r.get(10),
        version: r.get(11),
        digest: r.get(12),
        duration_ms: r.get(13),
        capabilities: r.get(14),
    }
}

impl Postgres {
    pub async fn connect(url: &str, password: Option<&str>) -> Result<Self> {
        let store = Self::new(url, password)?;
        store.run(migrate).await?;
        Ok(store)
    }

    /// `connect` for code that is not async.
    pub fn connect_blocking(url: &str, password: Option<&str>) -> Result<Self> {
        let store = Self::new(url, password)?;
        store.block_on(migrate(store.pool.clone()))?;
        Ok(store)
    }

    fn new(url: &str, password: Option<&str>) -> Result<Self> {
        let mut config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| StoreError(format!("`{}` is not a PostgreSQL URL ({e}); write it like postgres://chatops@db.example.com:5432/chatops", without_password(url))))?;
        if config.get_password().is_some() {
            return Err(StoreError(format!(
                "the store URL carries a password; remove it from the config and set the secret `{}` instead",
                super::PASSWORD_SECRET
            )));
        }
        if let Some(p) = password {
            config.password(p);
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(std::time::Duration::from_secs(10));
        }
        config.application_name("chatops");
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .build()
            .map_err(|e| StoreError(format!("PostgreSQL pool: {e}")))?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("store")
            .enable_all()
            .build()
            .map_err(|e| StoreError(format!("cannot start the store's threads: {e}")))?;
        Ok(Postgres {
            pool,
            handle: runtime.handle().clone(),
            runtime: Some(runtime),
        })
    }

    /// Run `f` with the pool on the store's runtime, and wait for it without blocking.
    async fn run<T, F, Fut>(&self, f: F) -> Result<T>
    where
        F: FnOnce(Pool) -> Fut,
        Fut: std::future::Future<Output = Result<T>> + Send + 'static,
        T: Send + 'static,
    {
        self.handle
            .spawn(f(self.pool.clone()))
            .await
            .map_err(|e| StoreError(format!("a store task failed: {e}")))?
    }

    /// Block this thread until `fut` is done on the store's runtime (for callers that are
    /// not async). Inside a multi-threaded runtime the worker hands its other tasks on first.
    pub fn block_on<T: Send>(&self, fut: impl std::future::Future<Output = T> + Send) -> T {
        use tokio::runtime::{Handle, RuntimeFlavor};
        match Handle::try_current() {
            Err(_) => self.handle.block_on(fut),
            Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(|| self.handle.block_on(fut))
            }
            Ok(_) => std::thread::scope(|s| {
                s.spawn(|| self.handle.block_on(fut))
                    .join()
                    .expect("a store call panicked")
            }),
        }
    }

    pub async fn schema_version(&self) -> Result<i64> {
        self.run(|pool| async move {
            let c = pool.get().await?;
            Ok(c.query_one("SELECT version FROM chatops_schema", &[])
                .await?
                .get(0))
        })
        .await
    }

    pub async fn kv_get(&self, plugin: &str, key: &str) -> Result<Option<Vec<u8>>> {
        let (plugin, key) = (plugin.to_owned(), key.to_owned());
        self.run(|pool| async move {
            let c = pool.get().await?;
            let st = c
                .prepare_cached("SELECT value FROM kv WHERE plugin = $1 AND key = $2")
                .await?;
            Ok(c.query_opt(&st, &[&plugin, &key]).await?.map(|r| r.get(0)))
        })
        .await
    }

    pub async fn kv_set(&self, plugin: &str, key: &str, value: &[u8]) -> Result<()> {
        let (plugin, key, value) = (plugin.to_owned(), key.to_owned(), value.to_vec());
        self.run(|pool| async move {
            let c = pool.get().await?;
            let st = c
                .prepare_cached(
                    "INSERT INTO kv (plugin, key, value) VALUES ($1, $2, $3)
                     ON CONFLICT (plugin, key) DO UPDATE SET value = excluded.value",
                )
                .await?;
            c.execute(&st, &[&plugin, &key, &value]).await?;
            Ok(())
        })
        .await
    }

    pub async fn kv_delete(&self, plugin: &str, key: &str) -> Result<()> {
        let (plugin, key) = (plugin.to_owned(), key.to_owned());
        self.run(|pool| async move {
            let c = pool.get().await?;
            c.execute(
                "DELETE FROM kv WHERE plugin = $1 AND key = $2",
                &[&plugin, &key],
            )
            .await?;
            Ok(())
        })
        .await
    }

    pub async fn kv_keys(&self, plugin: &str, prefix: &str) -> Result<Vec<String>> {
        let (plugin, prefix) = (plugin.to_owned(), prefix.to_owned());
        self.run(|pool| async move {
            let c = pool.get().await?;
            // Byte order (COLLATE "C"), as SQLite sorts.
            let rows = c
                .query(
                    "SELECT key FROM kv WHERE plugin = $1 AND substr(key, 1, length($2::TEXT)) = $2::TEXT
                     ORDER BY key COLLATE \"C\"",
                    &[&plugin, &prefix],
                )
                .await?;
            Ok(rows.iter().map(|r| r.get(0)).collect())
        })
        .await
    }

    pub async fn kv_count(&self, plugin: &str) -> Result<usize> {
        let plugin = plugin.to_owned();
        self.run(|pool| async move {
            let c = pool.get().await?;
            let n: i64 = c
                .query_one("SELECT COUNT(*) FROM kv WHERE plugin = $1", &[&plugin])
                .await?
                .get(0);
            Ok(n as usize)
        })
        .await
    }

    pub async fn audit_batch(&self, entries: &[AuditEntry]) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let entries = entries.to_vec();
        self.run(|pool| async move {
            let mut c = pool.get().await?;
            let tx = c.transaction().await?;
            let st = tx
                .prepare_cached(
                    "INSERT INTO audit (at, unix_ms, actor, channel, plugin, command, args, outcome, detail, guild, version, digest, duration_ms, capabilities)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
                )
                .await?;
            for e in &entries {
                tx.execute(
                    &st,
                    &[
                        &e.at,
                        &e.unix_ms,
                        &e.actor,
                        &e.channel,
                        &e.plugin,
                        &e.command,
                        &e.args,
                        &e.outcome,
                        &e.detail,
                        &e.guild,
                        &e.version,
                        &e.digest,
                        &e.duration_ms,
                        &e.capabilities,
                    ],
                )
                .await?;
            }
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    pub async fn audit_query(&self, f: &AuditFilter) -> Result<Vec<AuditEntry>> {
        let f = f.clone();
        self.run(|pool| async move {
            let c = pool.get().await?;
            // ILIKE: the user filter matches any case, as SQLite's LIKE does.
            let rows = c
                .query(
                    "SELECT id, at, unix_ms, actor, channel, plugin, command, args, outcome, detail, guild, version, digest, duration_ms, capabilities
                     FROM (SELECT * FROM audit WHERE
                       ($1::TEXT IS NULL OR actor ILIKE '%' || $1::TEXT || '%')
                       AND ($2::TEXT IS NULL OR plugin = $2::TEXT)
                       AND ($3::TEXT IS NULL OR command = $3::TEXT)
                       AND ($4::TEXT IS NULL OR outcome = $4::TEXT)
                       AND ($5::BIGINT IS NULL OR unix_ms >= $5::BIGINT)
                       AND ($6::BIGINT IS NULL OR id > $6::BIGINT)
                     ORDER BY id DESC LIMIT $7::BIGINT) recent ORDER BY id",
                    &[
                        &f.user,
                        &f.plugin,
                        &f.command,
                        &f.outcome,
                        &f.since_ms,
                        &f.after_id,
                        &(f.limit as i64),
                    ],
                )
                .await?;
            Ok(rows.iter().map(audit_row).collect())
        })
        .await
    }

    pub async fn audit_prune(&self, before_ms: i64) -> Result<usize> {
        self.run(|pool| async move {
            let c = pool.get().await?;
            Ok(
                c.execute("DELETE FROM audit WHERE unix_ms < $1", &[&before_ms])
                    .await? as usize,
            )
        })
        .await
    }

    pub async fn lease_fire(
        &self,
        name: &str,
        holder: &str,
        fired_ms: i64,
        expires_ms: i64,
        now_ms: i64,
    ) -> Result<bool> {
        let (name, holder) = (name.to_owned(), holder.to_owned());
        self.run(|pool| async move {
            let c = pool.get().await?;
            // The conflicting row is locked and the WHERE read again on its latest version,
            // so of two processes firing the same occurrence at once exactly one gets a row.
            let n = c
                .execute(
                    "INSERT INTO leases (name, holder, expires_ms, fired_ms) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (name) DO UPDATE SET holder = excluded.holder,
                         expires_ms = excluded.expires_ms, fired_ms = excluded.fired_ms
                     WHERE leases.fired_ms < excluded.fired_ms
                       AND (leases.holder = excluded.holder OR leases.expires_ms < $5)",
                    &[&name, &holder, &expires_ms, &fired_ms, &now_ms],
                )
                .await?;
            Ok(n == 1)
        })
        .await
    }

    pub async fn lease_renew(&self, holder: &str, expires_ms: i64) -> Result<()> {
        let holder = holder.to_owned();
        self.run(|pool| async move {
            let c = pool.get().await?;
            c.execute(
                "UPDATE leases SET expires_ms = $2 WHERE holder = $1",
                &[&holder, &expires_ms],
            )
            .await?;
            Ok(())
        })
        .await
    }

    pub async fn lease_release(&self, holder: &str) -> Result<()> {
        let holder = holder.to_owned();
        self.run(|pool| async move {
            let c = pool.get().await?;
            c.execute(
                "UPDATE leases SET holder = '', expires_ms = 0 WHERE holder = $1",
                &[&holder],
            )
            .await?;
            Ok(())
        })
        .await
    }

    pub async fn leases(&self) -> Result<Vec<Lease>> {
        self.run(|pool| async move {
            let c = pool.get().await?;
            let rows = c
                .query(
                    "SELECT name, holder, expires_ms, fired_ms FROM leases ORDER BY name COLLATE \"C\"",
                    &[],
                )
                .await?;
            Ok(rows
                .iter()
                .map(|r| Lease {
                    name: r.get(0),
                    holder: r.get(1),
                    expires_ms: r.get(2),
                    fired_ms: r.get(3),
                })
                .collect())
        })
        .await
    }

    pub async fn heartbeat(&self, p: &ProcessInfo) -> Result<()> {
        let p = p.clone();
        self.run(|pool| async move {
            let c = pool.get().await?;
            c.execute(
                "INSERT INTO processes (id, host, pid, shards, started_ms, heartbeat_ms, state)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT (id) DO UPDATE SET shards = excluded.shards,
                     heartbeat_ms = excluded.heartbeat_ms, state = excluded.state",
                &[
                    &p.id,
                    &p.host,
                    &p.pid,
                    &p.shards,
                    &p.started_ms,
                    &p.heartbeat_ms,
                    &p.state,
                ],
            )
            .await?;
            Ok(())
        })
        .await
    }

    pub async fn processes(&self) -> Result<Vec<ProcessInfo>> {
        self.run(|pool| async move {
            let c = pool.get().await?;
            let rows = c
                .query(
                    "SELECT id, host, pid, shards, started_ms, heartbeat_ms, state FROM processes
                     ORDER BY started_ms, id COLLATE \"C\"",
                    &[],
                )
                .await?;
            Ok(rows
                .iter()
                .map(|r| ProcessInfo {
                    id: r.get(0),
                    host: r.get(1),
                    pid: r.get(2),
                    shards: r.get(3),
                    started_ms: r.get(4),
                    heartbeat_ms: r.get(5),
                    state: r.get(6),
                })
                .collect())
        })
        .await
    }

    pub async fn confirmation_put(
        &self,
        token: &str,
        user_id: &str,
        body: &str,
        expires_ms: i64,
        now_ms: i64,
    ) -> Result<()> {
        let (token, user_id, body) = (token.to_owned(), user_id.to_owned(), body.to_owned());
        self.run(|pool| async move {
            let mut c = pool.get().await?;
            let tx = c.transaction().await?;
            tx.execute(
                "DELETE FROM confirmations WHERE expires_ms <= $1",
                &[&now_ms],
            )
            .await?;
            tx.execute(
                "INSERT INTO confirmations (token, user_id, body, expires_ms) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (token) DO UPDATE SET user_id = excluded.user_id, body = excluded.body,
                     expires_ms = excluded.expires_ms",
                &[&token, &user_id, &body, &expires_ms],
            )
            .await?;
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    pub async fn confirmation_owner(&self, token: &str, now_ms: i64) -> Result<Option<String>> {
        let token = token.to_owned();
        self.run(|pool| async move {
            let c = pool.get().await?;
            Ok(c.query_opt(
                "SELECT user_id FROM confirmations WHERE token = $1 AND expires_ms > $2",
                &[&token, &now_ms],
            )
            .await?
            .map(|r| r.get(0)))
        })
        .await
    }

    pub async fn confirmation_take(
        &self,
        token: &str,
        user_id: &str,
        now_ms: i64,
    ) -> Result<Taken> {
        let (token, user_id) = (token.to_owned(), user_id.to_owned());
        self.run(|pool| async move {
            let c = pool.get().await?;
            let taken = c
                .query_opt(
                    "DELETE FROM confirmations WHERE token = $1 AND user_id = $2 RETURNING body, expires_ms",
                    &[&token, &user_id],
                )
                .await?;
            Ok(match taken {
                Some(r) if r.get::<_, i64>(1) > now_ms => Taken::Body(r.get(0)),
                Some(_) => Taken::Gone,
                None => {
                    let other = c
                        .query_opt("SELECT 1 FROM confirmations WHERE token = $1", &[&token])
                        .await?;
                    if other.is_some() {
                        Taken::NotYours
                    } else {
                        Taken::Gone
                    }
                }
            })
        })
        .await
    }

    pub async fn confirmation_expire(&self, token: &str) -> Result<()> {
        let token = token.to_owned();
        self.run(|pool| async move {
            let c = pool.get().await?;
            c.execute(
                "UPDATE confirmations SET expires_ms = 0 WHERE token = $1",
                &[&token],
            )
            .await?;
            Ok(())
        })
        .await
    }
}

impl Postgres {
    /// See `Store::cooldown_take`. A take records the run under each key with an upsert
    /// that only writes if the last run is at least the span ago: the conflicting row is
    /// locked and the condition read again on its latest version, so of two processes
    /// racing one passes. If a later key refuses, the transaction rolls the earlier back.
    pub async fn cooldown_take(
        &self,
        keys: &[CooldownKey],
        now_ms: i64,
        take: bool,
        prune_before: Option<i64>,
    ) -> Result<Option<Cooling>> {
        let keys = keys.to_vec();
        self.run(move |pool| async move {
            let mut c = pool.get().await?;
            let last = "SELECT at_ms FROM cooldowns WHERE key = $1";
            if !take {
                let st = c.prepare_cached(last).await?;
                for (index, k) in keys.iter().enumerate() {
                    let at: Option<i64> = c.query_opt(&st, &[&k.key]).await?.map(|r| r.get(0));
                    if let Some(at) = at.filter(|at| now_ms - at < k.span_ms) {
                        return Ok(Some(Cooling {
                            index,
                            wait_ms: at + k.span_ms - now_ms,
                        }));
                    }
                }
                return Ok(None);
            }
            let tx = c.transaction().await?;
            let record = tx
                .prepare_cached(
                    "INSERT INTO cooldowns (key, at_ms) VALUES ($1, $2)
                     ON CONFLICT (key) DO UPDATE SET at_ms = excluded.at_ms
                     WHERE cooldowns.at_ms <= $2 - $3::BIGINT",
                )
                .await?;
            for (index, k) in keys.iter().enumerate() {
                if tx.execute(&record, &[&k.key, &now_ms, &k.span_ms]).await? == 1 {
                    continue;
                }
                // Refused: the row is ours (locked) until the rollback, so this reads the
                // run that holds us back.
                let at: i64 = tx.query_one(last, &[&k.key]).await?.get(0);
                tx.rollback().await?;
                return Ok(Some(Cooling {
                    index,
                    wait_ms: (at + k.span_ms - now_ms).max(1),
                }));
            }
            if let Some(before) = prune_before {
                tx.execute("DELETE FROM cooldowns WHERE at_ms < $1", &[&before])
                    .await?;
            }
            tx.commit().await?;
            Ok(None)
        })
        .await
    }

    /// See `Store::rate_take`: the requests counted in `key`'s window, this one included.
    pub async fn rate_take(
        &self,
        key: &str,
        until_ms: i64,
        now_ms: i64,
        prune: bool,
    ) -> Result<i64> {
        let key = key.to_owned();
        self.run(move |pool| async move {
            let c = pool.get().await?;
            if prune {
                c.execute("DELETE FROM rates WHERE until_ms <= $1", &[&now_ms])
                    .await?;
            }
            // One statement: the conflicting row is locked, so concurrent takes count one
            // after the other.
            let st = c
                .prepare_cached(
                    "INSERT INTO rates (key, until_ms, used) VALUES ($1, $2, 1)
                     ON CONFLICT (key) DO UPDATE SET
                         used = CASE WHEN rates.until_ms <= $3 THEN 1 ELSE rates.used + 1 END,
                         until_ms = CASE WHEN rates.until_ms <= $3 THEN excluded.until_ms
                                         ELSE rates.until_ms END
                     RETURNING used",
                )
                .await?;
            Ok(c.query_one(&st, &[&key, &until_ms, &now_ms]).await?.get(0))
        })
        .await
    }

    pub async fn limiter_rows(&self) -> Result<(i64, i64)> {
        self.run(|pool| async move {
            let c = pool.get().await?;
            let r = c
                .query_one(
                    "SELECT (SELECT COUNT(*) FROM cooldowns), (SELECT COUNT(*) FROM rates)",
                    &[],
                )
                .await?;
            Ok((r.get(0), r.get(1)))
        })
        .await
    }
}

/// Bring the schema up to date, one process at a time (an advisory lock held by the
/// transaction), each migration and its version in that one transaction.
async fn migrate(pool: Pool) -> Result<()> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS chatops_schema (version BIGINT NOT NULL)")
        .await?;
    let version: i64 = match tx
        .query_opt("SELECT version FROM chatops_schema", &[])
        .await?
    {
        Some(r) => r.get(0),
        None => {
            tx.execute("INSERT INTO chatops_schema (version) VALUES (0)", &[])
                .await?;
            0
        }
    };
    if version > SCHEMA_VERSION {
        return Err(StoreError(format!("the database has schema version {version}, newer than this build's {SCHEMA_VERSION}; run a newer chatops")));
    }
    for (i, m) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        tx.batch_execute(m.postgres).await?;
        tx.execute(
            "UPDATE chatops_schema SET version = $1",
            &[&((i + 1) as i64)],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_are_not_shown() {
        assert_eq!(
            super::without_password("postgres://chatops:hunter2@db:5432/ops"),
            "postgres://chatops:***@db:5432/ops"
        );
        assert_eq!(
            super::without_password("postgres://chatops@db/ops"),
            "postgres://chatops@db/ops"
        );
    }
}
