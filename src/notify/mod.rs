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

use std::{collections::HashSet, time::Duration};

use sea_orm::{DatabaseConnection, DbErr};

use crate::{
    events::{Events, GatewayEvent, Next},
    queue::{Queue, QueueError},
};

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error(transparent)]
    Db(#[from] DbErr),
    #[error(transparent)]
    Queue(#[from] QueueError),
}

/// How often `broadcast.progress` events go out for a broadcast whose messages move.
const PROGRESS_EVERY: Duration = Duration::from_millis(250);

/// Publishes `broadcast.progress` for broadcasts whose messages changed status,
/// at most every [`PROGRESS_EVERY`] each, until the gateway's events close.
pub async fn publish_progress(db: DatabaseConnection, queue: Queue, events: Events) {
    let mut subscription = events.subscribe();
    // Broadcasts seen moving and not yet seen done: a subscriber that lagged re-reads them all.
    let mut running: HashSet<i64> = HashSet::new();
    let mut dirty: HashSet<i64> = HashSet::new();
    let mut tick = tokio::time::interval(PROGRESS_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            next = subscription.next() => match next {
                None => return,
                Some(Next::Event(event)) => {
                    let broadcast = (event.kind == "message.status").then(|| event.data["broadcast"].as_i64()).flatten();
                    if let Some(id) = broadcast {
                        dirty.insert(id);
                        running.insert(id);
                    }
                }
                Some(Next::Lagged(_)) => dirty.extend(running.iter().copied()),
            },
            _ = tick.tick(), if !dirty.is_empty() => {
                let ids: Vec<i64> = dirty.drain().collect();
                match broadcasts::progress_of(&db, &queue, &ids).await {
                    Ok(reports) => {
                        for (row, report) in reports {
                            if report.status != broadcasts::BroadcastStatus::Running {
                                running.remove(&row.id);
                            }
                            events.publish(progress_event(row.user_id, &report));
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot read broadcast progress");
                        dirty.extend(ids);
                    }
                }
            }
        }
    }
}

/// The `broadcast.progress` event of `owner`'s broadcast.
pub fn progress_event(owner: i64, report: &broadcasts::BroadcastReport) -> GatewayEvent {
    GatewayEvent {
        kind: "broadcast.progress",
        owner,
        session: report.sessions.first().cloned().unwrap_or_default(),
        data: serde_json::to_value(report).unwrap_or_default(),
    }
}
