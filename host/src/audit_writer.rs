//! Group commit for the audit trail: commands that finish together share one durable
//! transaction, written by one thread off the async runtime, and each command's reply
//! waits until its record is on disk (so a record survives `kill -9` once its reply is
//! out, as with one write per command), without a command holding a lock during a write.
//!
//! A command queues its record ([`AuditWriter::submit`], a push under a short lock), and
//! before its reply leaves awaits [`AuditWriter::durable`]: everything queued so far is
//! written. The writer thread takes the whole queue at once and writes it with
//! [`Store::audit_batch`]: while one transaction is being made durable the next commands'
//! records gather, then go in the next one.

use crate::store::{AuditEntry, Store};
use std::sync::{Arc, Condvar, Mutex};

/// Records taken into one transaction at most (a burst larger than this takes several).
const MAX_BATCH: usize = 4096;

#[derive(Default)]
struct Queue {
    entries: Vec<AuditEntry>,
    /// Records ever queued: the number the last queued one has.
    queued: u64,
    closing: bool,
}

struct Shared {
    queue: Mutex<Queue>,
    wake: Condvar,
    /// Records written (or given up on, after the error was logged) so far.
    done: tokio::sync::watch::Sender<u64>,
}

pub struct AuditWriter {
    shared: Arc<Shared>,
}

impl AuditWriter {
    /// Start the writer thread for `store`.
    pub fn start(store: Arc<Store>) -> std::io::Result<AuditWriter> {
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue::default()),
            wake: Condvar::new(),
            done: tokio::sync::watch::Sender::new(0),
        });
        let s = shared.clone();
        std::thread::Builder::new()
            .name("audit-writer".into())
            .spawn(move || write_loop(&s, &store))?;
        Ok(AuditWriter { shared })
    }

    /// Queue one record; it is durable once [`AuditWriter::durable`] returns.
    pub fn submit(&self, entry: AuditEntry) {
        let mut q = lock(&self.shared.queue);
        q.entries.push(entry);
        q.queued += 1;
        drop(q);
        self.shared.wake.notify_one();
    }

    /// Wait until every record queued before this call is written.
    pub async fn durable(&self) {
        let upto = lock(&self.shared.queue).queued;
        let mut done = self.shared.done.subscribe();
        // The sender lives as long as `self`, so this only ends when the records are written.
        let _ = done.wait_for(|n| *n >= upto).await;
    }

    /// Records written so far (for tests and `bench`).
    pub fn written(&self) -> u64 {
        *self.shared.done.borrow()
    }
}

impl Drop for AuditWriter {
    /// The thread writes what is queued, then ends.
    fn drop(&mut self) {
        lock(&self.shared.queue).closing = true;
        self.shared.wake.notify_one();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn write_loop(shared: &Shared, store: &Store) {
    let mut batch = Vec::new();
    let mut written = 0u64;
    loop {
        let mut q = lock(&shared.queue);
        while q.entries.is_empty() && !q.closing {
            q = shared.wake.wait(q).unwrap_or_else(|e| e.into_inner());
        }
        if q.entries.is_empty() {
            return;
        }
        let take = q.entries.len().min(MAX_BATCH);
        batch.extend(q.entries.drain(..take));
        drop(q);
        if let Err(e) = store.audit_batch(&batch) {
            // As with one write per command: the command has answered; the admin sees why
            // its record is missing.
            tracing::error!(
                "could not write the audit trail ({} records lost): {e}",
                batch.len()
            );
        }
        written += batch.len() as u64;
        batch.clear();
        shared.done.send_replace(written);
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
    async fn dropping_the_writer_writes_what_is_queued() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(&dir.path().join("a.db")).unwrap());
        let writer = AuditWriter::start(store.clone()).unwrap();
        for i in 0..10 {
            writer.submit(entry(i));
        }
        let mut done = writer.shared.done.subscribe();
        drop(writer);
        let _ = done.wait_for(|n| *n >= 10).await;
        assert_eq!(store.audit_recent(100).unwrap().len(), 10);
    }
}
