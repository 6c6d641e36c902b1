//! Group commit for the audit trail: commands that finish together share one durable
//! transaction, and each command's reply waits until its record is written (so a record
//! survives `kill -9` once its reply is out, as with one write per command), without a
//! command holding a lock during a write.
//!
//! A command queues its record ([`AuditWriter::submit`], a push under a short lock), and
//! before its reply leaves awaits [`AuditWriter::durable`]. There, if no write is under
//! way, it becomes the writer: it takes everything queued so far and writes it in one
//! transaction ([`Store::audit_batch`]); the commands whose records were queued meanwhile
//! wait, and the first of them to wake writes the next batch. With one command in flight
//! nothing changes threads: a SQLite commit in WAL mode with `synchronous = NORMAL` is a
//! write into the operating system's page cache, done in place. A write that must wait
//! (an fsync with `store_sync = "full"`, a connection another query holds, PostgreSQL's
//! round trip) runs on the blocking pool or as its own task, so no runtime thread waits on
//! the disk, and a command dropped mid-wait cannot leave a batch half-claimed.
//!
//! A record queued by a path that does not wait (none should) is still written: a
//! background thread writes whatever has been queued with no writer for a while.

use crate::store::{AuditEntry, Store};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// Records taken into one transaction at most (a burst larger than this takes several).
const MAX_BATCH: usize = 4096;

/// How often the background thread looks for records nobody is writing.
const SWEEP: Duration = Duration::from_millis(20);

#[derive(Default)]
struct Queue {
    entries: Vec<AuditEntry>,
    /// Records ever queued: the number the last queued one has.
    queued: u64,
    /// Records written (or given up on, after the error was logged) so far. Records are
    /// taken in order by one writer at a time, so `written >= n` means record n is done.
    written: u64,
    /// A batch is being written.
    writing: bool,
    /// Commands waiting in `durable` for a batch to be written.
    waiting: usize,
    /// Records were queued while nobody wrote: the sweeper's mark, cleared by any write.
    idle_since_sweep: bool,
    closing: bool,
}

struct Shared {
    store: Arc<Store>,
    queue: Mutex<Queue>,
    /// Wakes the commands waiting in `durable` when a batch is written.
    written: tokio::sync::Notify,
    /// Wakes the sweeper when the writer is dropped.
    sweeper: Condvar,
}

pub struct AuditWriter {
    shared: Arc<Shared>,
}

impl AuditWriter {
    /// The writer for `store`, with its background sweeper thread.
    pub fn start(store: Arc<Store>) -> std::io::Result<AuditWriter> {
        let shared = Arc::new(Shared {
            store,
            queue: Mutex::new(Queue::default()),
            written: tokio::sync::Notify::new(),
            sweeper: Condvar::new(),
        });
        let s = shared.clone();
        std::thread::Builder::new()
            .name("audit-sweeper".into())
            .spawn(move || sweep_loop(&s))?;
        Ok(AuditWriter { shared })
    }

    /// Queue one record; it is durable once [`AuditWriter::durable`] returns.
    pub fn submit(&self, entry: AuditEntry) {
        let mut q = lock(&self.shared.queue);
        q.entries.push(entry);
        q.queued += 1;
    }

    /// Wait until every record queued before this call is written, writing them if no
    /// one else is.
    pub async fn durable(&self) {
        let upto = lock(&self.shared.queue).queued;
        loop {
            let notified = self.shared.written.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let batch = {
                let mut q = lock(&self.shared.queue);
                if q.written >= upto {
                    return;
                }
                take_batch(&mut q)
            };
            match batch {
                Some(batch) => {
                    if write(&self.shared, batch).await {
                        // The commands just woken sit in this worker's next-task slot,
                        // which no other worker may take: let them run before this task
                        // goes on to its next command (a busy task could otherwise keep
                        // them waiting for milliseconds).
                        tokio::task::yield_now().await;
                    }
                }
                None => {
                    let _waiting = Waiting::new(&self.shared);
                    notified.await;
                }
            }
        }
    }

    /// Records written so far (for tests and `bench`).
    pub fn written(&self) -> u64 {
        lock(&self.shared.queue).written
    }
}

impl Drop for AuditWriter {
    /// The sweeper writes what is queued, then ends.
    fn drop(&mut self) {
        lock(&self.shared.queue).closing = true;
        self.shared.sweeper.notify_one();
    }
}

/// A command counted in `Queue::waiting` while it waits (also if it is dropped waiting).
struct Waiting<'a>(&'a Shared);

impl<'a> Waiting<'a> {
    fn new(shared: &'a Shared) -> Self {
        lock(&shared.queue).waiting += 1;
        Waiting(shared)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        lock(&self.0.queue).waiting -= 1;
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Claim the queued records for writing, unless a write is under way or none are queued.
fn take_batch(q: &mut Queue) -> Option<Vec<AuditEntry>> {
    if q.writing || q.entries.is_empty() {
        return None;
    }
    q.writing = true;
    q.idle_since_sweep = false;
    let take = q.entries.len().min(MAX_BATCH);
    Some(q.entries.drain(..take).collect())
}

/// Write a claimed batch: in place when the store can commit without waiting, otherwise
/// on the blocking pool (SQLite) or as a task (PostgreSQL). Either way the batch is
/// finished even if the caller is dropped, and the waiters are woken. True if it was
/// written in place and commands were waiting for it.
async fn write(shared: &Arc<Shared>, batch: Vec<AuditEntry>) -> bool {
    if let Some(result) = shared.store.audit_batch_now(&batch) {
        return finished(shared, batch.len(), result) > 0;
    }
    let s = shared.clone();
    if shared.store.backend_name() == "sqlite" {
        let _ = tokio::task::spawn_blocking(move || {
            let result = s.store.audit_batch(&batch);
            finished(&s, batch.len(), result);
        })
        .await;
    } else {
        let _ = tokio::spawn(async move {
            let result = s.store.audit_batch_async(&batch).await;
            finished(&s, batch.len(), result);
        })
        .await;
    }
    false
}

/// Count the batch written and wake the waiters; how many were waiting.
fn finished(shared: &Shared, n: usize, result: crate::store::Result<()>) -> usize {
    if let Err(e) = result {
        // As with one write per command: the command answers; the admin sees why its
        // record is missing.
        tracing::error!("could not write the audit trail ({n} records lost): {e}");
    }
    let mut q = lock(&shared.queue);
    q.written += n as u64;
    q.writing = false;
    let waiting = q.waiting;
    drop(q);
    shared.written.notify_waiters();
    waiting
}

/// Writes records that were queued and left unwritten across a whole sweep period, and
/// everything left when the writer is dropped.
fn sweep_loop(shared: &Shared) {
    let mut q = lock(&shared.queue);
    loop {
        let closing = q.closing;
        let stale = q.idle_since_sweep || closing;
        q.idle_since_sweep = !q.entries.is_empty();
        if stale {
            if let Some(batch) = take_batch(&mut q) {
                drop(q);
                let result = shared.store.audit_batch(&batch);
                finished(shared, batch.len(), result);
                q = lock(&shared.queue);
                continue;
            }
        }
        if closing && q.entries.is_empty() && !q.writing {
            return;
        }
        q = shared
            .sweeper
            .wait_timeout(q, SWEEP)
            .unwrap_or_else(|e| e.into_inner())
            .0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(i: usize) -> AuditEntry {
        AuditEntry {
            actor: format!("user{i}"),
            plugin: "echo".into(),
            command: "echo".into(),
            outcome: "ok".into(),
            ..AuditEntry::default()
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn records_are_written_before_durable_returns_and_batched() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(&dir.path().join("a.db")).unwrap());
        let writer = Arc::new(AuditWriter::start(store.clone()).unwrap());
        let tasks: Vec<_> = (0..200)
            .map(|i| {
                let w = writer.clone();
                tokio::spawn(async move {
                    w.submit(entry(i));
                    w.durable().await;
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(writer.written(), 200);
        // Durable means in the database file: another connection reads every record.
        let reopened = Store::open(&dir.path().join("a.db")).unwrap();
        assert_eq!(reopened.audit_recent(1000).unwrap().len(), 200);
        // Nothing queued: returns at once.
        writer.durable().await;
    }

    #[tokio::test]
    async fn a_record_nobody_waits_for_is_written_by_the_sweeper() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(&dir.path().join("a.db")).unwrap());
        let writer = AuditWriter::start(store.clone()).unwrap();
        writer.submit(entry(1));
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while writer.written() < 1 {
            assert!(std::time::Instant::now() < deadline, "never written");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(store.audit_recent(10).unwrap().len(), 1);
    }

    /// With `store_sync = "full"` (an fsync per commit) the write leaves the runtime's
    /// threads, and a waiter dropped mid-write does not strand the others.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn full_sync_writes_off_the_runtime_and_survives_dropped_waiters() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("full.db");
        let store = Arc::new(Store::open_with(&path, crate::config::StoreSync::Full).unwrap());
        let writer = Arc::new(AuditWriter::start(store.clone()).unwrap());
        for round in 0..20 {
            writer.submit(entry(round));
            // A waiter given up on at once (as a command cut by a shutdown would be).
            let w = writer.clone();
            let dropped = tokio::spawn(async move { w.durable().await });
            dropped.abort();
            writer.submit(entry(round + 100));
            tokio::time::timeout(Duration::from_secs(10), writer.durable())
                .await
                .expect("durable returns");
        }
        assert_eq!(writer.written(), 40);
        assert_eq!(
            Store::open(&path).unwrap().audit_recent(100).unwrap().len(),
            40
        );
    }

    #[tokio::test]
    async fn dropping_the_writer_writes_what_is_queued() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(&dir.path().join("a.db")).unwrap());
        let writer = AuditWriter::start(store.clone()).unwrap();
        for i in 0..10 {
            writer.submit(entry(i));
        }
        let shared = writer.shared.clone();
        drop(writer);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while lock(&shared.queue).written < 10 {
            assert!(std::time::Instant::now() < deadline, "not written");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(store.audit_recent(100).unwrap().len(), 10);
    }
}
