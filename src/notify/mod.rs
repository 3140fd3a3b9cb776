//! Outage notices for internet providers (seed 002): phone numbers, customers
//! and their ODPs, notices, message templates, and broadcasts of a notice to
//! many customers through the send queue. Every customer, ODP, notice and
//! broadcast belongs to the account that made it (an admin's too): a billing
//! system works with its own.

pub mod broadcasts;
pub mod customers;
pub mod notices;
pub mod phone;
pub mod template;

use std::time::Duration;

use sea_orm::{DatabaseConnection, DbErr};

use crate::{
    events::{Events, GatewayEvent},
    queue::{Queue, QueueError},
};

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("this Idempotency-Key was used for a different request")]
    KeyReused,
    #[error(transparent)]
    Db(#[from] DbErr),
    #[error(transparent)]
    Queue(#[from] QueueError),
}

/// How often `broadcast.progress` events go out, at most, while messages move.
const PROGRESS_EVERY: Duration = Duration::from_millis(250);

/// Publishes `broadcast.progress` for the broadcasts whose messages changed
/// status (the queue collects them, so none is missed), at most every
/// [`PROGRESS_EVERY`], until the gateway's events close.
pub async fn publish_progress(db: DatabaseConnection, queue: Queue, events: Events) {
    loop {
        let ids = tokio::select! {
            ids = queue.moved_broadcasts() => ids,
            () = events.closed() => return,
        };
        if events.has_subscribers() {
            match broadcasts::progress_of(&db, &queue, &ids).await {
                Ok(reports) => {
                    for (row, report) in reports {
                        events.publish(progress_event(row.user_id, &report));
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot read broadcast progress"),
            }
        }
        tokio::select! {
            () = tokio::time::sleep(PROGRESS_EVERY) => {}
            () = events.closed() => return,
        }
    }
}

/// The `broadcast.progress` event of `owner`'s broadcast.
pub fn progress_event(owner: i64, report: &broadcasts::BroadcastReport) -> GatewayEvent {
    GatewayEvent {
        kind: "broadcast.progress",
        owner,
        session: report.sessions.first().cloned().unwrap_or_default(),
        also: report.sessions.iter().skip(1).cloned().collect(),
        agent: None,
        data: serde_json::to_value(report).unwrap_or_default(),
    }
}
