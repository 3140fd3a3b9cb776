//! The queue's tables: a message and its due row are written in one
//! transaction; a session's dispatcher reads its next due row (one step at a
//! time) and leases it as it sends it ([`Store::sending`]); status changes are written in
//! groups, each a conditional update plus a history row, so a late or repeated
//! event never moves a message backwards ([`changes`]).

mod changes;

use std::sync::Arc;

use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DatabaseBackend, DatabaseConnection,
    DatabaseTransaction, DbErr, EntityTrait, ExprTrait, FromQueryResult, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, Statement, sea_query::Expr,
};

use tokio::sync::{mpsc, oneshot};

use futures_util::future::BoxFuture;

use super::MessageStatus;
use crate::{
    db::{
        entities::{due_messages as due, message_events as events, messages},
        write::{Write, Writer},
    },
    events::GatewayEvent,
    model::{SessionKey, now_ms},
};
pub use changes::{Change, Due, Outcome};

/// The chats' timelines as the queue needs them, a port the inbox implements:
/// a queued message enters its chat's timeline (if the recipient has a chat)
/// in the transaction that queues it, and a written or changed queued message
/// is told as the `chat.message` events of its timeline entries.
pub trait Timeline: Send + Sync {
    fn enter<'a>(
        &'a self,
        tx: &'a DatabaseTransaction,
        rows: &'a [messages::Model],
    ) -> BoxFuture<'a, Result<(), DbErr>>;

    /// The events, read on `tx`, times shown in `offset`.
    fn events<'a>(
        &'a self,
        tx: &'a DatabaseTransaction,
        rows: &'a [&'a messages::Model],
        offset: crate::config::Zone,
    ) -> BoxFuture<'a, Result<Vec<GatewayEvent>, DbErr>>;
}

/// The broadcasts whose messages changed status, until the progress reporter
/// takes them ([`Store::moved_broadcasts`]).
#[derive(Default)]
struct Moved {
    ids: std::sync::Mutex<std::collections::HashSet<i64>>,
    wake: tokio::sync::Notify,
}

impl Moved {
    /// After a commit that changed these messages.
    fn add(&self, broadcasts: Vec<i64>) {
        self.ids.lock().expect("moved lock").extend(broadcasts);
        self.wake.notify_one();
    }
}

/// The queue's database; it writes through the [`Writer`].
#[derive(Clone)]
pub struct Store {
    db: DatabaseConnection,
    writer: Writer,
    /// To the group-commit task for new messages ([`Store::take_in`]).
    intake: Option<mpsc::UnboundedSender<Pending>>,
    /// To the group-commit task for status changes ([`changes`]).
    changes: Option<mpsc::UnboundedSender<changes::Pending>>,
    /// Where queued messages show in chats.
    timeline: Arc<dyn Timeline>,
    /// Times in timeline entries (`chat.message`) are shown in `[server] timezone`.
    offset: crate::config::Zone,
    moved: Arc<Moved>,
}

/// What `GET /message/list` filters by.
#[derive(Debug, Default, Clone)]
pub struct Filter {
    /// `None`: every session (an admin); else these.
    pub sessions: Option<Vec<SessionKey>>,
    /// Only these sessions' (the keys of one name).
    pub session: Option<Vec<SessionKey>>,
    pub status: Option<MessageStatus>,
    pub to: Option<String>,
}

/// Rows per statement (SQLite allows 32,766 bound values; a message has 21 columns).
const CHUNK: usize = 500;

/// Writes messages and their due rows, due at their creation, into `tx`,
/// and puts each into the timeline of its chat, if there is one.
async fn stage(tx: &DatabaseTransaction, timeline: &dyn Timeline, rows: &[messages::Model]) -> Result<(), DbErr> {
    let conn = tx;
    for chunk in rows.chunks(CHUNK) {
        messages::Entity::insert_many(chunk.iter().cloned().map(messages::ActiveModel::from))
            .exec_without_returning(conn)
            .await?;
        due::Entity::insert_many(chunk.iter().map(|m| due::ActiveModel {
            message_id: Set(m.id.clone()),
            session_id: Set(m.session_id.clone()),
            recipient: Set(m.recipient.clone()),
            due_at: Set(m.created_at),
            lease_until: Set(None),
            ..Default::default()
        }))
        .exec_without_returning(conn)
        .await?;
        timeline.enter(tx, chunk).await?;
    }
    amend_targets(tx, rows).await
}

/// The messages that queued edits, deletions and reactions change, changed
/// with them: an edit's target gets its new text (the old one kept in its
/// `extra`'s `edits`), a deletion's target is marked `deleted` (its content is
/// kept: the gateway's own record of what it sent), and a reaction on a
/// message the session sent goes into its `extra.reactions` under the
/// session's number (one on a received message is the timeline's to apply).
async fn amend_targets(tx: &DatabaseTransaction, rows: &[messages::Model]) -> Result<(), DbErr> {
    for row in rows.iter().filter(|r| r.kind == "reaction") {
        let Some(reaction) =
            row.extra.as_deref().and_then(|e| serde_json::from_str::<super::content::Reaction>(e).ok())
        else {
            continue;
        };
        if reaction.from_me
            && let Some(own) = crate::db::entities::sessions::Entity::find_by_id(row.session_id.clone())
                .one(tx)
                .await?
                .and_then(|s| s.phone_number)
        {
            super::addons::react(tx, &row.session_id, &row.recipient, &reaction.message_id, &own, &reaction.emoji)
                .await?;
        }
    }
    for row in rows.iter().filter(|r| matches!(r.kind.as_str(), "edit" | "revoke")) {
        let Some(target) = row.extra.as_deref().and_then(|e| serde_json::from_str::<super::content::Target>(e).ok())
        else {
            continue;
        };
        let Some(original) = messages::Entity::find_by_id(target.message_id).one(tx).await? else { continue };
        let mut extra = original
            .extra
            .as_deref()
            .and_then(|e| serde_json::from_str::<serde_json::Value>(e).ok())
            .filter(serde_json::Value::is_object)
            .unwrap_or_else(|| serde_json::json!({}));
        let mut body = original.body.clone();
        if row.kind == "edit" {
            let edit =
                serde_json::json!({"text": original.body, "by": row.id, "at": super::views::time(row.created_at)});
            match extra["edits"].as_array_mut() {
                Some(edits) => edits.push(edit),
                None => extra["edits"] = serde_json::json!([edit]),
            }
            body = row.body.clone();
        } else {
            extra["deleted"] = serde_json::json!({"by": row.id, "at": super::views::time(row.created_at)});
        }
        messages::Entity::update_many()
            .col_expr(messages::Column::Body, Expr::value(body))
            .col_expr(messages::Column::Extra, Expr::value(Some(extra.to_string())))
            .filter(messages::Column::Id.eq(original.id))
            .exec(tx)
            .await?;
    }
    Ok(())
}

/// What waits in `pending`, up to `max` items, once there is at least one;
/// `None` when every sender is gone.
async fn next_batch<T>(pending: &mut mpsc::UnboundedReceiver<T>, max: usize) -> Option<Vec<T>> {
    let mut batch = vec![pending.recv().await?];
    while batch.len() < max
        && let Ok(next) = pending.try_recv()
    {
        batch.push(next);
    }
    Some(batch)
}

/// A claimed due row and its message.
pub struct Claim {
    pub attempts: u32,
    pub message: messages::Model,
}

/// A message waiting for the intake's next transaction.
type Pending = (messages::Model, oneshot::Sender<Result<(), DbErr>>);

/// Most messages written by one intake transaction.
const INTAKE_BATCH: usize = 256;

impl Store {
    pub fn new(writer: Writer, timeline: Arc<dyn Timeline>, offset: crate::config::Zone) -> Store {
        let db = writer.db().clone();
        let moved = Arc::new(Moved::default());
        // The writers' own copies hold no sender, so dropping the queue ends them.
        let own = Store {
            db: db.clone(),
            writer: writer.clone(),
            intake: None,
            changes: None,
            timeline: timeline.clone(),
            offset,
            moved: moved.clone(),
        };
        let (intake, pending) = mpsc::unbounded_channel();
        tokio::spawn(own.clone().take_in(pending));
        let (changes, pending) = mpsc::unbounded_channel();
        tokio::spawn(own.take_changes(pending));
        Store { db, writer, intake: Some(intake), changes: Some(changes), timeline, offset, moved }
    }

    /// [`stage`], and the events of the new messages (see [`Store::emit`]).
    pub async fn stage(&self, write: &mut Write<'_>, rows: &[messages::Model]) -> Result<(), DbErr> {
        stage(&write.tx, self.timeline.as_ref(), rows).await?;
        let queued: Vec<(&messages::Model, i64)> = rows.iter().map(|row| (row, row.created_at)).collect();
        self.emit(write, &queued).await
    }

    /// The events of messages written or changed in `write`, each with the
    /// time of its status: `message.status`, and `chat.message` for those in
    /// a chat's timeline. Recorded for webhooks in the transaction, published
    /// live after its commit; after the commit, the broadcasts among them are
    /// marked moved.
    async fn emit(&self, write: &mut Write<'_>, rows: &[(&messages::Model, i64)]) -> Result<(), DbErr> {
        let mut broadcasts: Vec<i64> = rows.iter().filter_map(|(row, _)| row.broadcast_id).collect();
        if !broadcasts.is_empty() {
            broadcasts.sort_unstable();
            broadcasts.dedup();
            let moved = self.moved.clone();
            write.on_commit(move || moved.add(broadcasts));
        }
        if !write.heard() {
            return Ok(());
        }
        let mut events = Vec::with_capacity(rows.len());
        for (row, at) in rows {
            let owner = write.owner_of(&row.session_id).await?.unwrap_or(row.user_id);
            events.push(super::views::status_event(row, *at, owner));
        }
        let changed: Vec<&messages::Model> = rows.iter().map(|(row, _)| *row).collect();
        events.extend(self.timeline.events(&write.tx, &changed, self.offset).await?);
        write.emit(events).await
    }

    /// Broadcast `id` changed: its progress is told ([`Store::moved_broadcasts`]).
    pub fn moved(&self, id: i64) {
        self.moved.add(vec![id]);
    }

    /// The broadcasts whose messages changed status since the last call; waits
    /// for one when there is none.
    pub async fn moved_broadcasts(&self) -> Vec<i64> {
        loop {
            let ids: Vec<i64> = self.moved.ids.lock().expect("moved lock").drain().collect();
            if !ids.is_empty() {
                return ids;
            }
            self.moved.wake.notified().await;
        }
    }

    /// Group commit: the messages that arrive while a transaction is being
    /// written go together in the next one; each request is answered once the
    /// transaction holding its message is committed.
    async fn take_in(self, mut pending: mpsc::UnboundedReceiver<Pending>) {
        while let Some(batch) = next_batch(&mut pending, INTAKE_BATCH).await {
            let rows: Vec<messages::Model> = batch.iter().map(|(row, _)| row.clone()).collect();
            match self.write_batch(&rows).await {
                Ok(()) => {
                    for (_, reply) in batch {
                        let _ = reply.send(Ok(()));
                    }
                }
                // One bad row (a reused idempotency key) must not fail the others: one by one.
                Err(_) => {
                    for (row, reply) in batch {
                        let _ = reply.send(self.write_batch(std::slice::from_ref(&row)).await);
                    }
                }
            }
        }
    }

    /// Group commit of status changes (see [`changes`]).
    async fn take_changes(self, mut pending: mpsc::UnboundedReceiver<changes::Pending>) {
        while let Some(batch) = next_batch(&mut pending, changes::BATCH).await {
            let (all, replies): (Vec<Change>, Vec<_>) = batch.into_iter().unzip();
            match changes::write(&self, &all).await {
                Ok(outcomes) => {
                    for (outcome, reply) in outcomes.into_iter().zip(replies) {
                        let _ = reply.send(Ok(outcome));
                    }
                }
                // A message moved meanwhile (or one change cannot be written): one by one.
                Err(_) => {
                    for (change, reply) in all.into_iter().zip(replies) {
                        let outcome = changes::write(&self, std::slice::from_ref(&change)).await;
                        let _ = reply.send(outcome.map(|mut o| o.pop().flatten()));
                    }
                }
            }
        }
    }

    /// Writes a status change durably (see [`changes`]): the row it left, or
    /// `None` when the message was gone or already further.
    pub async fn change(&self, change: Change) -> Result<Outcome, DbErr> {
        let (reply, done) = oneshot::channel();
        let gone = || DbErr::Custom("the queue is shutting down".into());
        self.changes.as_ref().ok_or_else(gone)?.send((change, reply)).map_err(|_| gone())?;
        done.await.map_err(|_| gone())?
    }

    async fn write_batch(&self, rows: &[messages::Model]) -> Result<(), DbErr> {
        let mut write = self.writer.begin().await?;
        self.stage(&mut write, rows).await?;
        write.commit().await
    }

    /// The writer the queue's transactions come from.
    pub fn writer(&self) -> &Writer {
        &self.writer
    }

    /// Writes the message and its due row, due now, durably (see [`Store::take_in`]).
    pub async fn insert(&self, message: messages::Model) -> Result<messages::Model, DbErr> {
        let (reply, done) = oneshot::channel();
        let intake = self.intake.as_ref().ok_or_else(|| DbErr::Custom("no intake".into()))?;
        intake.send((message.clone(), reply)).map_err(|_| DbErr::Custom("the queue is shutting down".into()))?;
        done.await.map_err(|_| DbErr::Custom("the queue is shutting down".into()))??;
        Ok(message)
    }

    pub async fn find(&self, id: &str) -> Result<Option<messages::Model>, DbErr> {
        let db = &self.db;
        messages::Entity::find_by_id(id.to_owned()).one(db).await
    }

    pub async fn find_by_key(&self, user: i64, key: &str) -> Result<Option<messages::Model>, DbErr> {
        let db = &self.db;
        messages::Entity::find()
            .filter(messages::Column::UserId.eq(user))
            .filter(messages::Column::IdempotencyKey.eq(key))
            .one(db)
            .await
    }

    pub async fn history(&self, id: &str) -> Result<Vec<events::Model>, DbErr> {
        let db = &self.db;
        events::Entity::find().filter(events::Column::MessageId.eq(id)).order_by_asc(events::Column::Id).all(db).await
    }

    /// A page of messages, newest first, and how many match in all.
    pub async fn list(&self, filter: &Filter, page: u64, per_page: u64) -> Result<(Vec<messages::Model>, u64), DbErr> {
        let db = &self.db;
        let mut condition = Condition::all();
        if let Some(sessions) = &filter.sessions {
            condition = condition.add(messages::Column::SessionId.is_in(sessions.clone()));
        }
        if let Some(session) = &filter.session {
            condition = condition.add(messages::Column::SessionId.is_in(session.clone()));
        }
        if let Some(status) = filter.status {
            condition = condition.add(messages::Column::Status.eq(status.as_str()));
        }
        if let Some(to) = &filter.to {
            condition = condition.add(messages::Column::Recipient.eq(to.clone()));
        }
        let query = messages::Entity::find().filter(condition);
        let total = query.clone().count(db).await?;
        let rows = query
            .order_by_desc(messages::Column::CreatedAt)
            .order_by_desc(messages::Column::Id)
            .offset((page - 1) * per_page)
            .limit(per_page)
            .all(db)
            .await?;
        Ok((rows, total))
    }

    /// Messages of a session by status.
    pub async fn counts(&self, session: &SessionKey) -> Result<Vec<(MessageStatus, u64)>, DbErr> {
        let db = &self.db;
        #[derive(FromQueryResult)]
        struct Row {
            status: MessageStatus,
            n: i64,
        }
        let rows = messages::Entity::find()
            .select_only()
            .column(messages::Column::Status)
            .column_as(messages::Column::Id.count(), "n")
            .filter(messages::Column::SessionId.eq(session))
            .group_by(messages::Column::Status)
            .into_model::<Row>()
            .all(db)
            .await?;
        Ok(rows.into_iter().map(|r| (r.status, r.n as u64)).collect())
    }

    /// The session's next due message that is not leased (sent, its ack
    /// awaited) or whose lease ran out (sent but never acknowledged), and is
    /// not to one of `skip`. Nothing is written: a session's dispatcher takes
    /// one step at a time (its lane's lock) and leases durably what it sends
    /// before it goes ([`Store::sending`]); a lease of its own here cost a
    /// commit and an fsync per message, under the one writer's turn.
    pub async fn claim(&self, session: &SessionKey, now: i64, skip: &[String]) -> Result<Option<Claim>, DbErr> {
        let backend = self.db.get_database_backend();
        let mut values: Vec<sea_orm::Value> = vec![session.into(), now.into(), now.into()];
        let mut skip_sql = String::new();
        if !skip.is_empty() {
            skip_sql = format!(" AND d.recipient NOT IN ({})", vec!["?"; skip.len()].join(","));
            values.extend(skip.iter().map(|s| sea_orm::Value::from(s.clone())));
        }
        let sql = format!(
            "SELECT m.* FROM due_messages d JOIN messages m ON m.id = d.message_id \
             WHERE d.session_id = ? AND d.due_at <= ? AND (d.lease_until IS NULL OR d.lease_until <= ?){skip_sql} \
             ORDER BY d.due_at, d.id LIMIT 1"
        );
        let next = messages::Entity::find()
            .from_raw_sql(Statement::from_sql_and_values(backend, sql, values))
            .one(&self.db)
            .await?;
        Ok(next.map(|message| Claim { attempts: u32::try_from(message.attempts).unwrap_or(0), message }))
    }

    /// The message that will be claimed next if nothing else comes first: due
    /// by `by`, not leased, not to one of `skip`. Nothing is claimed.
    pub async fn peek(&self, session: &SessionKey, by: i64, skip: &[String]) -> Result<Option<messages::Model>, DbErr> {
        let mut query = due::Entity::find()
            .select_only()
            .column(due::Column::MessageId)
            .filter(due::Column::SessionId.eq(session))
            .filter(due::Column::DueAt.lte(by))
            .filter(due::Column::LeaseUntil.is_null())
            .order_by_asc(due::Column::DueAt)
            .order_by_asc(due::Column::Id);
        if !skip.is_empty() {
            query = query.filter(due::Column::Recipient.is_not_in(skip.to_vec()));
        }
        let next: Option<String> = query.into_tuple().one(&self.db).await?;
        match next {
            Some(id) => self.find(&id).await,
            None => Ok(None),
        }
    }

    /// When the session's next message not to one of `skip` falls due (leases included).
    pub async fn next_due(&self, session: &SessionKey, skip: &[String]) -> Result<Option<i64>, DbErr> {
        let db = &self.db;
        #[derive(FromQueryResult)]
        struct Row {
            at: Option<i64>,
        }
        let due = Expr::cust("CASE WHEN lease_until IS NULL OR lease_until < due_at THEN due_at ELSE lease_until END");
        let mut query =
            due::Entity::find().select_only().expr_as(due.min(), "at").filter(due::Column::SessionId.eq(session));
        if !skip.is_empty() {
            query = query.filter(due::Column::Recipient.is_not_in(skip.to_vec()));
        }
        Ok(query.into_model::<Row>().one(db).await?.and_then(|r| r.at))
    }

    /// About to write the message to WhatsApp: counts an attempt and leases the
    /// row until an ack is due. `false` when the message left the queue meanwhile
    /// (cleared).
    pub async fn sending(&self, id: &str, now: i64, lease_until: i64) -> Result<bool, DbErr> {
        let change = Change {
            id: id.to_owned(),
            status: MessageStatus::Sending,
            reason: None,
            attempts: 1,
            at: now,
            due: Due::Lease(lease_until),
            only_from: None,
        };
        Ok(self.change(change).await?.is_some())
    }

    /// Gives a claimed message back: due at `due_at`, its claim dropped, its
    /// attempts changed by `attempts_delta` (+1: a failed try that wrote nothing;
    /// -1: the try just counted never reached WhatsApp). The row it left, if
    /// it was still in the queue.
    pub async fn requeue(
        &self,
        id: &str,
        due_at: i64,
        reason: Option<&str>,
        attempts_delta: i32,
        now: i64,
    ) -> Result<Outcome, DbErr> {
        let change = Change {
            id: id.to_owned(),
            status: MessageStatus::Queued,
            reason: reason.map(str::to_owned),
            attempts: attempts_delta,
            at: now,
            due: Due::At(due_at),
            only_from: None,
        };
        self.change(change).await
    }

    /// Moves the message forward to `status` (sent, delivered, read, or failed)
    /// and out of the due list. Returns the updated row, or `None` when it was
    /// already there or further.
    pub async fn advance(&self, id: &str, status: MessageStatus, reason: Option<&str>) -> Result<Outcome, DbErr> {
        let change = Change {
            id: id.to_owned(),
            status,
            reason: reason.map(str::to_owned),
            attempts: 0,
            at: now_ms(),
            due: Due::Remove,
            only_from: None,
        };
        self.change(change).await
    }

    /// Takes a message that still waits (queued, not on the wire) out of the
    /// queue: failed with `reason`. `None` when it was no longer waiting.
    pub async fn cancel(&self, id: &str, reason: &str) -> Result<Outcome, DbErr> {
        let change = Change {
            id: id.to_owned(),
            status: MessageStatus::Failed,
            reason: Some(reason.to_owned()),
            attempts: 0,
            at: now_ms(),
            due: Due::Remove,
            only_from: Some(MessageStatus::Queued),
        };
        self.change(change).await
    }

    /// The ids of the session's messages still waiting in the queue (not yet on
    /// the wire), `limit` at a time.
    pub async fn waiting(&self, session: &SessionKey, limit: u64) -> Result<Vec<String>, DbErr> {
        let db = &self.db;
        messages::Entity::find()
            .select_only()
            .column(messages::Column::Id)
            .filter(messages::Column::SessionId.eq(session))
            .filter(messages::Column::Status.eq(MessageStatus::Queued.as_str()))
            .limit(limit)
            .into_tuple()
            .all(db)
            .await
    }

    /// Fails the waiting (queued) messages of a broadcast in one transaction,
    /// with `reason`; those already on the wire finish as they will. How many.
    pub async fn fail_waiting_of_broadcast(&self, broadcast: i64, reason: &str) -> Result<u64, DbErr> {
        let mut write = self.writer.begin().await?;
        let tx = &write.tx;
        let mut waiting = messages::Entity::find()
            .filter(messages::Column::BroadcastId.eq(broadcast))
            .filter(messages::Column::Status.eq(MessageStatus::Queued.as_str()));
        if self.db.get_database_backend() == DatabaseBackend::MySql {
            // Dispatchers moving one to `sending` meanwhile wait for this transaction.
            waiting = waiting.lock_exclusive();
        }
        let mut waiting: Vec<messages::Model> = waiting.all(tx).await?;
        let now = now_ms();
        for row in &mut waiting {
            row.status = MessageStatus::Failed;
            row.reason = Some(reason.to_owned());
            row.updated_at = now;
        }
        for chunk in waiting.chunks(CHUNK) {
            let ids: Vec<&str> = chunk.iter().map(|m| m.id.as_str()).collect();
            messages::Entity::update_many()
                .col_expr(messages::Column::Status, Expr::value(MessageStatus::Failed.as_str()))
                .col_expr(messages::Column::Reason, Expr::value(reason))
                .col_expr(messages::Column::UpdatedAt, Expr::value(now))
                .filter(messages::Column::Id.is_in(ids.clone()))
                .filter(messages::Column::Status.eq(MessageStatus::Queued.as_str()))
                .exec(tx)
                .await?;
            events::Entity::insert_many(chunk.iter().map(|m| events::ActiveModel {
                message_id: Set(m.id.clone()),
                session_id: Set(m.session_id.clone()),
                status: Set(MessageStatus::Failed),
                reason: Set(Some(reason.to_owned())),
                at: Set(now),
                ..Default::default()
            }))
            .exec_without_returning(tx)
            .await?;
            due::Entity::delete_many().filter(due::Column::MessageId.is_in(ids)).exec(tx).await?;
        }
        let failed: Vec<(&messages::Model, i64)> = waiting.iter().map(|row| (row, now)).collect();
        self.emit(&mut write, &failed).await?;
        write.commit().await?;
        Ok(waiting.len() as u64)
    }

    /// Those of `ids` that are messages still waiting or on the wire.
    pub async fn unfinished_among(&self, ids: &[String]) -> Result<std::collections::HashSet<String>, DbErr> {
        let mut found = std::collections::HashSet::new();
        for chunk in ids.chunks(CHUNK) {
            let rows: Vec<String> = messages::Entity::find()
                .select_only()
                .column(messages::Column::Id)
                .filter(messages::Column::Id.is_in(chunk.to_vec()))
                .filter(
                    messages::Column::Status.is_in([MessageStatus::Queued.as_str(), MessageStatus::Sending.as_str()]),
                )
                .into_tuple()
                .all(&self.db)
                .await?;
            found.extend(rows);
        }
        Ok(found)
    }

    /// Messages of these broadcasts by status: `(broadcast, status, count)`.
    pub async fn broadcast_counts(&self, broadcasts: &[i64]) -> Result<Vec<(i64, MessageStatus, u64)>, DbErr> {
        let rows: Vec<(Option<i64>, MessageStatus, i64)> = messages::Entity::find()
            .select_only()
            .column(messages::Column::BroadcastId)
            .column(messages::Column::Status)
            .column_as(messages::Column::Id.count(), "n")
            .filter(messages::Column::BroadcastId.is_in(broadcasts.to_vec()))
            .group_by(messages::Column::BroadcastId)
            .group_by(messages::Column::Status)
            .into_tuple()
            .all(&self.db)
            .await?;
        Ok(rows.into_iter().filter_map(|(b, status, n)| Some((b?, status, n as u64))).collect())
    }

    /// Status and reason of these messages.
    pub async fn statuses(&self, ids: &[String]) -> Result<Vec<(String, MessageStatus, Option<String>)>, DbErr> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(CHUNK) {
            let rows: Vec<(String, MessageStatus, Option<String>)> = messages::Entity::find()
                .select_only()
                .column(messages::Column::Id)
                .column(messages::Column::Status)
                .column(messages::Column::Reason)
                .filter(messages::Column::Id.is_in(chunk.to_vec()))
                .into_tuple()
                .all(&self.db)
                .await?;
            out.extend(rows);
        }
        Ok(out)
    }

    /// The ids of the session's unfinished messages (queued or sending).
    pub async fn unfinished(&self, session: &SessionKey, limit: u64) -> Result<Vec<String>, DbErr> {
        let db = &self.db;
        messages::Entity::find()
            .select_only()
            .column(messages::Column::Id)
            .filter(messages::Column::SessionId.eq(session))
            .filter(messages::Column::Status.is_in([MessageStatus::Queued.as_str(), MessageStatus::Sending.as_str()]))
            .limit(limit)
            .into_tuple()
            .all(db)
            .await
    }

    /// The session's sends (attempts written to WhatsApp) since `since`, oldest
    /// first, as `(at, recipient)`: what its limits have spent.
    pub async fn sends_since(&self, session: &SessionKey, since: i64) -> Result<Vec<(i64, String)>, DbErr> {
        let db = &self.db;
        let backend = db.get_database_backend();
        let rows = db
            .query_all_raw(Statement::from_sql_and_values(
                backend,
                "SELECT e.at, m.recipient FROM message_events e JOIN messages m ON m.id = e.message_id \
                 WHERE e.session_id = ? AND e.status = ? AND e.at > ? ORDER BY e.at",
                [session.into(), MessageStatus::Sending.as_str().into(), since.into()],
            ))
            .await?;
        rows.iter().map(|r| Ok((r.try_get_by_index::<i64>(0)?, r.try_get_by_index::<String>(1)?))).collect()
    }

    /// At start-up: no dispatcher of an earlier run holds a claim any more. Sends
    /// that were on the wire go again (same ids) as soon as their session connects.
    pub async fn drop_leases(&self) -> Result<u64, DbErr> {
        let db = &self.db;
        let result = due::Entity::update_many()
            .col_expr(due::Column::LeaseUntil, Expr::value(Option::<i64>::None))
            .filter(due::Column::LeaseUntil.is_not_null())
            .exec(db)
            .await?;
        Ok(result.rows_affected)
    }
}
