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

use sea_orm::DbErr;

use crate::{
    db::write::Writer,
    events::GatewayEvent,
    model::SessionKey,
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
pub async fn publish_progress(writer: Writer, queue: Queue) {
    let events = writer.live().clone();
    loop {
        let ids = tokio::select! {
            ids = queue.moved_broadcasts() => ids,
            () = events.closed() => return,
        };
        if writer.heard() {
            match broadcasts::progress_of(writer.db(), &queue, &ids).await {
                Ok(reports) => {
                    for (row, report) in &reports {
                        events.publish(progress_event(row.user_id, broadcasts::keys_in(&row.sessions), report));
                    }
                    if writer.recording()
                        && let Err(e) = record_progress(&writer, &reports).await
                    {
                        tracing::warn!(error = %e, "cannot write broadcast webhook events");
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

/// Writes `broadcast.progress` webhook events for these reports, and
/// `broadcast.completed` for each broadcast seen complete for the first time
/// (marked in the same transaction, so it goes out once).
async fn record_progress(
    writer: &Writer,
    reports: &[(crate::db::entities::broadcasts::Model, broadcasts::BroadcastReport)],
) -> Result<(), DbErr> {
    use crate::db::entities::broadcasts as rows;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};
    let mut write = writer.begin().await?;
    let mut list = Vec::new();
    for (row, report) in reports {
        let data = serde_json::to_value(report).unwrap_or_default();
        // A broadcast from several sessions names none: endpoints narrowed to sessions do not get it.
        let session = match report.sessions.as_slice() {
            [_] => broadcasts::keys_in(&row.sessions).pop(),
            _ => None,
        };
        let event = |kind| crate::db::record::NewEvent {
            kind,
            owner: Some(row.user_id),
            session: session.clone(),
            data: data.clone(),
        };
        list.push(event("broadcast.progress"));
        if report.status != broadcasts::BroadcastStatus::Running && row.completed_at.is_none() {
            let marked = rows::Entity::update_many()
                .col_expr(rows::Column::CompletedAt, Expr::value(crate::model::now_ms()))
                .filter(rows::Column::Id.eq(row.id))
                .filter(rows::Column::CompletedAt.is_null())
                .exec(&write.tx)
                .await?;
            if marked.rows_affected == 1 {
                list.push(event("broadcast.completed"));
            }
        }
    }
    write.record(list).await?;
    write.commit().await
}

/// The `broadcast.progress` event of `owner`'s broadcast from the sessions `keys`.
pub fn progress_event(owner: i64, mut keys: Vec<SessionKey>, report: &broadcasts::BroadcastReport) -> GatewayEvent {
    let session = if keys.is_empty() { SessionKey::named("") } else { keys.remove(0) };
    GatewayEvent {
        kind: "broadcast.progress",
        owner,
        session,
        also: keys,
        agent: None,
        data: serde_json::to_value(report).unwrap_or_default(),
    }
}
