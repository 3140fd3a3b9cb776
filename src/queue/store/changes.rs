//! Status changes, written in groups: the attempts, acks, receipts and retries
//! that arrive while one transaction is being written go together in the next,
//! as new messages do ([`super::Store::insert`]). Each caller is answered once
//! the transaction holding its change is committed. Changes to one message
//! apply in the order they came, each only from the statuses its target is
//! reachable from, so a late or repeated event never moves a message backwards.

use std::collections::{BTreeMap, HashMap};

use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseBackend, DbErr, EntityTrait, ExprTrait, QueryFilter,
    QueryOrder, QuerySelect, Statement, sea_query::Expr,
};
use tokio::sync::oneshot;

use super::{CHUNK, Store};
use crate::{
    db::entities::{due_messages as due, message_events as events, messages},
    model::{MessageStatus, now_ms},
};

/// What a change does to the message's due row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    /// Written to WhatsApp: claimed until then (epoch ms), when its ack is due.
    Lease(i64),
    /// Back in line, unclaimed, due then.
    At(i64),
    /// Out of the queue.
    Remove,
}

/// One status change of one message.
#[derive(Debug, Clone)]
pub struct Change {
    pub id: String,
    pub status: MessageStatus,
    pub reason: Option<String>,
    /// Added to the message's attempts.
    pub attempts: i32,
    /// When it happened (epoch ms): the time of its history entry.
    pub at: i64,
    pub due: Due,
    /// Only from this status (not from every status the target is reachable from).
    pub only_from: Option<MessageStatus>,
}

/// The row a change left, or `None` when it did not apply.
pub type Outcome = Option<messages::Model>;

/// A change waiting for the writer's next transaction.
pub(super) type Pending = (Change, oneshot::Sender<Result<Outcome, DbErr>>);

/// Most changes written by one transaction.
pub(super) const BATCH: usize = 256;

/// Writes `changes` in one transaction; what each left, in their order.
pub(super) async fn write(store: &Store, changes: &[Change]) -> Result<Vec<Outcome>, DbErr> {
    let mut write = store.writer.begin().await?;
    let tx = &write.tx;
    let mut ids: Vec<&str> = changes.iter().map(|c| c.id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    let mut rows: HashMap<String, messages::Model> = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(CHUNK) {
        let mut query = messages::Entity::find()
            .filter(messages::Column::Id.is_in(chunk.iter().copied()))
            .order_by_asc(messages::Column::Id);
        if tx.get_database_backend() == DatabaseBackend::MySql {
            // On SQLite the store's write turn keeps them as read.
            query = query.lock_exclusive();
        }
        rows.extend(query.all(tx).await?.into_iter().map(|m| (m.id.clone(), m)));
    }
    let before: HashMap<String, MessageStatus> = rows.iter().map(|(id, m)| (id.clone(), m.status)).collect();

    let now = now_ms();
    let mut outcomes = Vec::with_capacity(changes.len());
    let mut history = Vec::new();
    // Per message changed: attempts added, and what its last change does to its due row.
    let mut touched: HashMap<&str, (i32, Due)> = HashMap::new();
    for change in changes {
        let Some(row) = rows.get_mut(&change.id) else {
            outcomes.push(None);
            continue;
        };
        if !change.status.reachable_from().contains(&row.status) || change.only_from.is_some_and(|s| s != row.status) {
            outcomes.push(None);
            continue;
        }
        row.status = change.status;
        row.reason = change.reason.clone();
        row.attempts += change.attempts;
        row.updated_at = now;
        let entry = touched.entry(&change.id).or_insert((0, change.due));
        entry.0 += change.attempts;
        entry.1 = change.due;
        history.push(events::ActiveModel {
            message_id: Set(row.id.clone()),
            session_id: Set(row.session_id.clone()),
            status: Set(row.status),
            reason: Set(row.reason.clone()),
            at: Set(change.at),
            ..Default::default()
        });
        outcomes.push(Some(row.clone()));
    }

    // One UPDATE per (status before, status after, reason, attempts added).
    let mut groups: BTreeMap<(&str, &str, Option<&str>, i32), Vec<&str>> = BTreeMap::new();
    let mut leases = Vec::new();
    let mut dues = Vec::new();
    let mut removed = Vec::new();
    for (id, (added, effect)) in &touched {
        let row = &rows[*id];
        groups.entry((before[*id].as_str(), row.status.as_str(), row.reason.as_deref(), *added)).or_default().push(id);
        match *effect {
            Due::Lease(at) => leases.push((*id, at)),
            Due::At(at) => dues.push((*id, at)),
            Due::Remove => removed.push(*id),
        }
    }
    for ((from, to, reason, added), ids) in groups {
        for chunk in ids.chunks(CHUNK) {
            let mut update = messages::Entity::update_many()
                .col_expr(messages::Column::Status, Expr::value(to))
                .col_expr(messages::Column::Reason, Expr::value(reason.map(str::to_owned)))
                .col_expr(messages::Column::UpdatedAt, Expr::value(now))
                .filter(messages::Column::Id.is_in(chunk.iter().copied()))
                .filter(messages::Column::Status.eq(from));
            if added != 0 {
                update = update.col_expr(messages::Column::Attempts, Expr::col(messages::Column::Attempts).add(added));
            }
            let done = update.exec(tx).await?.rows_affected;
            if done != chunk.len() as u64 {
                // Moved by someone else since it was read: the caller retries change by change.
                return Err(DbErr::Custom(format!(
                    "{} of {} messages changed meanwhile",
                    chunk.len() as u64 - done,
                    chunk.len()
                )));
            }
        }
    }
    for chunk in leases.chunks(CHUNK) {
        set_each(tx, "lease_until = ", chunk).await?;
    }
    for chunk in dues.chunks(CHUNK) {
        set_each(tx, "lease_until = NULL, due_at = ", chunk).await?;
    }
    for chunk in removed.chunks(CHUNK) {
        due::Entity::delete_many().filter(due::Column::MessageId.is_in(chunk.iter().copied())).exec(tx).await?;
    }
    for chunk in history.chunks(CHUNK) {
        events::Entity::insert_many(chunk.to_vec()).exec_without_returning(tx).await?;
    }
    let changed: Vec<(&messages::Model, i64)> =
        changes.iter().zip(&outcomes).filter_map(|(change, row)| Some((row.as_ref()?, change.at))).collect();
    store.emit(&mut write, &changed).await?;
    write.commit().await?;
    Ok(outcomes)
}

/// `UPDATE due_messages SET {set}<its value>` for each `(message id, value)`, in one statement.
async fn set_each(tx: &impl ConnectionTrait, set: &str, rows: &[(&str, i64)]) -> Result<(), DbErr> {
    let mut sql = format!("UPDATE due_messages SET {set}CASE message_id");
    let mut values: Vec<sea_orm::Value> = Vec::with_capacity(rows.len() * 3);
    for (id, value) in rows {
        sql.push_str(" WHEN ? THEN ?");
        values.push((*id).into());
        values.push((*value).into());
    }
    sql.push_str(" END WHERE message_id IN (");
    sql.push_str(&vec!["?"; rows.len()].join(","));
    sql.push(')');
    values.extend(rows.iter().map(|(id, _)| sea_orm::Value::from(*id)));
    tx.execute_raw(Statement::from_sql_and_values(tx.get_database_backend(), sql, values)).await?;
    Ok(())
}
