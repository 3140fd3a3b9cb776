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

/// Tells `broadcast.progress` of the broadcasts whose messages changed
/// status, that were started or cancelled (the queue collects them, so none
/// is missed), at most every [`PROGRESS_EVERY`], until the gateway's events
/// close; `broadcast.completed` of those seen complete for the first time.
pub async fn publish_progress(writer: Writer, queue: Queue) {
    let events = writer.live().clone();
    loop {
        let ids = tokio::select! {
            ids = queue.moved_broadcasts() => ids,
            () = events.closed() => return,
        };
        if writer.heard() {
            let told = async {
                let reports = broadcasts::progress_of(writer.db(), &queue, &ids).await?;
                emit_progress(&writer, &reports).await.map_err(NotifyError::from)
            };
            if let Err(e) = told.await {
                tracing::warn!(error = %e, "cannot tell broadcast progress");
            }
        }
        tokio::select! {
            () = tokio::time::sleep(PROGRESS_EVERY) => {}
            () = events.closed() => return,
        }
    }
}

/// Emits `broadcast.progress` events for these reports, and
/// `broadcast.completed` for each broadcast seen complete for the first time
/// (marked in the same transaction, so it goes out once).
async fn emit_progress(
    writer: &Writer,
    reports: &[(crate::db::entities::broadcasts::Model, broadcasts::BroadcastReport)],
) -> Result<(), DbErr> {
    use crate::db::entities::broadcasts as rows;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};
    let mut write = writer.begin().await?;
    let mut list = Vec::new();
    for (row, report) in reports {
        let progress = progress_event(row.user_id, broadcasts::keys_in(&row.sessions), report);
        if report.status != broadcasts::BroadcastStatus::Running && row.completed_at.is_none() {
            let marked = rows::Entity::update_many()
                .col_expr(rows::Column::CompletedAt, Expr::value(crate::model::now_ms()))
                .filter(rows::Column::Id.eq(row.id))
                .filter(rows::Column::CompletedAt.is_null())
                .exec(&write.tx)
                .await?;
            if marked.rows_affected == 1 {
                let completed = GatewayEvent { kind: "broadcast.completed", ..progress.clone() };
                list.extend([progress, completed]);
                continue;
            }
        }
        list.push(progress);
    }
    write.emit(list).await?;
    write.commit().await
}

/// The `broadcast.progress` event of `owner`'s broadcast from the sessions
/// `keys`. A broadcast from several sessions is about all of them: webhook
/// endpoints narrowed to sessions do not get it (see `NewEvent::of`).
fn progress_event(owner: i64, mut keys: Vec<SessionKey>, report: &broadcasts::BroadcastReport) -> GatewayEvent {
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
