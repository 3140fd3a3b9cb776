//! Acks and receipts, written off the sessions' event loops. A device hands
//! them over without waiting ([`Statuses::acked`], [`Statuses::receipt`]); one
//! writer task records them. They are coalesced per message (a receipt
//! outranks an ack, `read` outranks `delivered`: statuses only move forward),
//! so what waits is bounded by the messages in flight, however slow the
//! database is. A write that fails is put back and retried with backoff, never
//! dropped. Everything handed over is first appended to the [`journal`]
//! (before the client answers WhatsApp for it), so a killed process loses
//! nothing: the next start reads the journal back ([`Statuses::open`]). A
//! graceful stop writes what waits before the database closes
//! ([`Statuses::flush`]). What was heard but is not written yet still counts
//! as heard ([`Statuses::heard`]): a send whose lease runs out while its ack
//! waits here (a writer behind a busy database) is not sent again.
//!
//! [`journal`]: super::journal

use std::{
    collections::{HashMap, HashSet},
    sync::{Mutex, atomic::Ordering},
    time::{Duration, Instant},
};

use tokio::sync::Notify;

use super::{
    Queue,
    journal::{Entry, Journal, Retired},
};
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
    /// `None` only in unit tests of the coalescing.
    journal: Option<Journal>,
    waiting: Mutex<HashMap<String, Report>>,
    /// The ids of the batch being written: heard, not recorded yet.
    in_flight: Mutex<HashSet<String>>,
    wake: Notify,
    /// Held while a batch is taken and written: a flush waits for the writer's.
    writing: tokio::sync::Mutex<()>,
}

impl Statuses {
    /// Statuses journaled in `dir`, with what an earlier process left there
    /// waiting to be written (and journaled again, so its files can go).
    pub fn open(dir: &std::path::Path) -> std::io::Result<Statuses> {
        let (journal, left, retired) = Journal::open(dir)?;
        let statuses = Statuses { journal: Some(journal), ..Default::default() };
        if !left.is_empty() {
            tracing::info!(statuses = left.len(), "acks and receipts heard before the last stop are written now");
        }
        statuses.put(left.into_iter().map(|entry| match entry {
            Entry::Acked { id, error } => (id, Report::Acked(error)),
            Entry::Delivered { id } => (id, Report::Delivered),
            Entry::Read { id } => (id, Report::Read),
        }));
        let journal = statuses.journal.as_ref().expect("opened with a journal");
        for old in retired {
            journal.retire(old);
        }
        Ok(statuses)
    }

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

    /// Whether WhatsApp answered message `id` (an ack or a receipt) and that
    /// is still on its way to the database.
    pub fn heard(&self, id: &str) -> bool {
        self.waiting.lock().expect("statuses lock").contains_key(id)
            || self.in_flight.lock().expect("statuses lock").contains(id)
    }

    /// Journals `reports`, then keeps each that moves its message forward.
    /// Both under the waiting lock, so a batch taken holds exactly what the
    /// generation it retires holds.
    fn put(&self, reports: impl IntoIterator<Item = (String, Report)>) {
        let reports: Vec<(String, Report)> = reports.into_iter().collect();
        let mut waiting = self.waiting.lock().expect("statuses lock");
        if let Some(journal) = &self.journal {
            let entries: Vec<Entry> = reports
                .iter()
                .map(|(id, report)| match report {
                    Report::Acked(error) => Entry::Acked { id: id.clone(), error: error.clone() },
                    Report::Delivered => Entry::Delivered { id: id.clone() },
                    Report::Read => Entry::Read { id: id.clone() },
                })
                .collect();
            if let Err(e) = journal.append(&entries) {
                tracing::warn!(error = %e, "cannot journal acks or receipts: a crash now would lose them");
            }
        }
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
                let (batch, retired) = statuses.take();
                if batch.is_empty() {
                    statuses.retire(retired);
                    None
                } else {
                    Some(statuses.write(&queue, batch, retired).await)
                }
            };
            let Some(failed) = failed else {
                statuses.wake.notified().await;
                continue;
            };
            if failed == 0 {
                backoff = Duration::from_millis(50);
                continue;
            }
            tracing::warn!(messages = failed, retry_in = ?backoff, "cannot record acks or receipts yet");
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
                let (batch, retired) = statuses.take();
                if batch.is_empty() {
                    statuses.retire(retired);
                    return;
                }
                in_flight.store(batch.len(), Ordering::Relaxed);
                let failed = statuses.write(queue, batch, retired).await;
                in_flight.store(0, Ordering::Relaxed);
                if failed > 0 {
                    drop(writing);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        };
        let _ = tokio::time::timeout_at(deadline.into(), flushed).await;
        statuses.waiting() + in_flight.load(Ordering::Relaxed)
    }

    /// Takes what waits, and the journal generation that holds it; its ids
    /// stay [`heard`](Self::heard) while it is written.
    fn take(&self) -> (HashMap<String, Report>, Option<Retired>) {
        let mut waiting = self.waiting.lock().expect("statuses lock");
        let retired = self.journal.as_ref().map(Journal::rotate);
        let batch = std::mem::take(&mut *waiting);
        drop(waiting);
        self.in_flight.lock().expect("statuses lock").extend(batch.keys().cloned());
        (batch, retired)
    }

    fn retire(&self, retired: Option<Retired>) {
        if let (Some(journal), Some(retired)) = (&self.journal, retired) {
            journal.retire(retired);
        }
    }

    /// Writes a batch [`take`](Self::take) took; what could not be written
    /// waits again (before the batch stops being in flight, so it stays heard).
    /// Returns how many could not be written.
    async fn write(&self, queue: &Queue, batch: HashMap<String, Report>, retired: Option<Retired>) -> usize {
        let failed = write(queue, batch).await;
        let count = failed.len();
        if count > 0 {
            self.put(failed);
        }
        // Written, or journaled again in the new generation.
        self.retire(retired);
        self.in_flight.lock().expect("statuses lock").clear();
        count
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

    #[test]
    fn what_was_heard_stays_heard_until_written() {
        let statuses = Statuses::default();
        assert!(!statuses.heard("a"));
        statuses.acked("a".into(), None);
        statuses.receipt(vec!["b".into()], ReceiptKind::Delivered);
        assert!(statuses.heard("a") && statuses.heard("b"));
        let (batch, _) = statuses.take();
        assert_eq!(batch.len(), 2);
        assert!(statuses.heard("a") && statuses.heard("b"), "taken for writing is still heard");
        assert!(!statuses.heard("c"));
        // What failed waits again and is heard; the rest was written.
        statuses.put([("b".to_owned(), Report::Delivered)]);
        statuses.in_flight.lock().unwrap().clear();
        assert!(!statuses.heard("a"), "written");
        assert!(statuses.heard("b"), "to be written again");
    }
}
