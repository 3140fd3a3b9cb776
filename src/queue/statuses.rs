//! Acks and receipts, written off the sessions' event loops. A device hands
//! them over without waiting ([`Statuses::acked`], [`Statuses::receipt`]); one
//! writer task records them. They are coalesced per message (a receipt
//! outranks an ack, `read` outranks `delivered`: statuses only move forward),
//! so what waits is bounded by the messages in flight, however slow the
//! database is. A write that fails is put back and retried with backoff, never
//! dropped. A graceful stop writes what waits before the database closes
//! ([`Statuses::flush`]). (A crash loses what waits: unacked messages are sent
//! again and a resend's ack (409) marks them sent; a lost receipt leaves a
//! message `sent`.)

use std::{
    collections::HashMap,
    sync::{Mutex, atomic::Ordering},
    time::{Duration, Instant},
};

use tokio::sync::Notify;

use super::Queue;
use crate::engine::ReceiptKind;

/// What was last heard of a message, by rank.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Report {
    /// The server's ack, with its error code if it refused.
    Acked(Option<String>),
    Delivered,
    Read,
}

impl Report {
    fn rank(&self) -> u8 {
        match self {
            Report::Acked(Some(_)) => 0,
            Report::Acked(None) => 1,
            Report::Delivered => 2,
            Report::Read => 3,
        }
    }
}

const MAX_BACKOFF: Duration = Duration::from_secs(5);

#[derive(Default)]
pub struct Statuses {
    waiting: Mutex<HashMap<String, Report>>,
    wake: Notify,
    /// Held while a batch is taken and written: a flush waits for the writer's.
    writing: tokio::sync::Mutex<()>,
}

impl Statuses {
    /// The server acknowledged message `id` (`error`: it refused it).
    pub fn acked(&self, id: String, error: Option<String>) {
        self.put([(id, Report::Acked(error))]);
    }

    /// Recipients' phones received or read these messages.
    pub fn receipt(&self, ids: Vec<String>, kind: ReceiptKind) {
        let report = match kind {
            ReceiptKind::Delivered => Report::Delivered,
            ReceiptKind::Read => Report::Read,
        };
        self.put(ids.into_iter().map(|id| (id, report.clone())));
    }

    /// How many messages have a status waiting to be written.
    pub fn waiting(&self) -> usize {
        self.waiting.lock().expect("statuses lock").len()
    }

    fn put(&self, reports: impl IntoIterator<Item = (String, Report)>) {
        let mut waiting = self.waiting.lock().expect("statuses lock");
        for (id, report) in reports {
            match waiting.get(&id) {
                Some(known) if known.rank() >= report.rank() => {}
                _ => {
                    waiting.insert(id, report);
                }
            }
        }
        drop(waiting);
        self.wake.notify_one();
    }

    /// The writer: records what waits, in batches, until the process ends.
    pub async fn run(queue: Queue) {
        let statuses = &queue.0.statuses;
        let mut backoff = Duration::from_millis(50);
        loop {
            let failed = {
                let _writing = statuses.writing.lock().await;
                let batch = statuses.take();
                if batch.is_empty() { None } else { Some(write(&queue, batch).await) }
            };
            let Some(failed) = failed else {
                statuses.wake.notified().await;
                continue;
            };
            if failed.is_empty() {
                backoff = Duration::from_millis(50);
                continue;
            }
            tracing::warn!(messages = failed.len(), retry_in = ?backoff, "cannot record acks or receipts yet");
            statuses.put(failed);
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    /// Writes what waits, for a graceful stop once the devices are offline
    /// (nothing more comes): after the batch being written, the rest, retried
    /// for up to `within`. Returns how many messages are left unwritten.
    pub async fn flush(queue: &Queue, within: Duration) -> usize {
        let statuses = &queue.0.statuses;
        let deadline = Instant::now() + within;
        // What a write cut short by the deadline had taken.
        let in_flight = std::sync::atomic::AtomicUsize::new(0);
        let flushed = async {
            loop {
                let writing = statuses.writing.lock().await;
                let batch = statuses.take();
                if batch.is_empty() {
                    return;
                }
                in_flight.store(batch.len(), Ordering::Relaxed);
                let failed = write(queue, batch).await;
                in_flight.store(0, Ordering::Relaxed);
                if !failed.is_empty() {
                    statuses.put(failed);
                    drop(writing);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        };
        let _ = tokio::time::timeout_at(deadline.into(), flushed).await;
        statuses.waiting() + in_flight.load(Ordering::Relaxed)
    }

    fn take(&self) -> HashMap<String, Report> {
        std::mem::take(&mut *self.waiting.lock().expect("statuses lock"))
    }
}

/// Writes one batch; returns what could not be written.
async fn write(queue: &Queue, batch: HashMap<String, Report>) -> Vec<(String, Report)> {
    let mut failed = Vec::new();
    let (mut delivered, mut read) = (Vec::new(), Vec::new());
    for (id, report) in batch {
        match report {
            Report::Acked(error) => {
                if let Err(e) = queue.acked(&id, error.clone()).await {
                    tracing::debug!(message_id = %id, error = %e, "ack not recorded");
                    failed.push((id, Report::Acked(error)));
                }
            }
            Report::Delivered => delivered.push(id),
            Report::Read => read.push(id),
        }
    }
    for (ids, kind, report) in
        [(delivered, ReceiptKind::Delivered, Report::Delivered), (read, ReceiptKind::Read, Report::Read)]
    {
        for chunk in ids.chunks(500) {
            for id in queue.receipt(chunk, kind).await {
                failed.push((id, report.clone()));
            }
        }
    }
    failed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_coalesce_forward_only() {
        let statuses = Statuses::default();
        statuses.receipt(vec!["a".into()], ReceiptKind::Read);
        statuses.acked("a".into(), None);
        statuses.receipt(vec!["a".into(), "b".into()], ReceiptKind::Delivered);
        statuses.acked("c".into(), Some("479".into()));
        statuses.acked("c".into(), None);
        let waiting = statuses.waiting.lock().unwrap().clone();
        assert_eq!(waiting.len(), 3, "one entry per message, however many reports");
        assert_eq!(waiting["a"], Report::Read);
        assert_eq!(waiting["b"], Report::Delivered);
        assert_eq!(waiting["c"], Report::Acked(None));
    }
}
