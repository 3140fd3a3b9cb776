//! The durable send queue: every message is a row with its status history and
//! a due row (`due_messages`: when it is due, and the lease of a send on
//! the wire), written in one transaction before the API answers 202. One
//! [`dispatcher`] per running session sends them, paced by the session's
//! [`limits`], with a gateway-chosen WhatsApp message id so a resend (after a
//! missing ack or a crash) is the same message, never a second one.
//!
//! What happens to a session's queue: while it is disconnected, banned or
//! stopped its messages wait; when it is logged out (or its link undone) they
//! fail ("session logged out"): the number that would send them is gone, and a
//! later link may be another number. Deleting a session fails its unsent
//! messages too, and keeps them all (the session's row stays, marked deleted).

mod acks;
pub mod addons;
pub mod attachment;
pub mod content;
pub mod dispatcher;
mod journal;
pub mod limits;
pub mod media;
pub mod registry;
pub mod statuses;
pub mod store;
mod views;
pub mod voice;

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use anyhow::Context;
use sea_orm::{DatabaseConnection, DbErr, SqlErr};
use tokio::sync::{Notify, watch};

use crate::model::{MessageStatus, SessionKey};
use crate::{
    config::Config,
    db::{
        entities::messages,
        write::{Write, Writer},
    },
    engine::{ReceiptKind, Sender},
};
pub use content::Content;
pub use limits::{Limits, LimitsOverride};
pub use views::{HistoryEntry, MessageView, QueueStatus};
use views::{entry, time};

/// WhatsApp's limit on a text message, in characters.
pub const MAX_TEXT_CHARS: usize = 65_536;

impl MessageStatus {
    /// The statuses a message may move to this one from. Acks and receipts
    /// only move forward; they also overrule a failure (WhatsApp has it after all).
    fn reachable_from(self) -> &'static [MessageStatus] {
        use MessageStatus::*;
        match self {
            Queued | Sending => &[Queued, Sending],
            Failed => &[Queued, Sending],
            Sent => &[Queued, Sending, Failed],
            Delivered => &[Queued, Sending, Sent, Failed],
            Read => &[Queued, Sending, Sent, Delivered, Failed],
        }
    }
}

/// The error code of a message ack that says WhatsApp already has this id.
pub const ALREADY_HAVE_IT: &str = "409";

/// A send request that passed validation.
pub struct Submit {
    pub user_id: i64,
    pub session: SessionKey,
    /// Digits with country code.
    pub to: String,
    pub content: Content,
    pub idempotency_key: Option<String>,
    /// Identifies what was asked, to tell a retry from a reused key.
    pub request_hash: String,
    /// Who sends it: an API client, an agent from the inbox (with their id) or the bot.
    pub origin: crate::model::Origin,
    pub agent_id: Option<i64>,
    /// The message it answers (a sent or received one in the same chat).
    pub quoted: Option<content::Quote>,
    /// Who a text to a group mentions.
    pub mentions: Option<content::Mentions>,
}

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("this Idempotency-Key was used for a different request")]
    KeyReused,
    #[error("message not found")]
    NotFound,
    #[error(transparent)]
    Db(#[from] DbErr),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

/// Per-session state the dispatcher and the API share.
#[derive(Default)]
struct Lane {
    wake: Notify,
    /// Held through a dispatcher step: the session's steps never overlap.
    stepping: tokio::sync::Mutex<()>,
    online: AtomicBool,
    /// The session's limits, read from its row when first needed.
    limits: Mutex<Option<Limits>>,
}

struct Inner {
    /// For the session rows (limits); the queue's own tables go through `store`.
    db: DatabaseConnection,
    store: store::Store,
    config: Arc<Config>,
    media: media::MediaStore,
    lanes: Mutex<HashMap<SessionKey, Arc<Lane>>>,
    /// Who is on WhatsApp, as last asked.
    registry: registry::Registry,
    /// Acks and receipts waiting to be written.
    statuses: statuses::Statuses,
    /// The dispatchers still running.
    dispatchers: Arc<Running>,
}

/// Counts running tasks; [`Running::none`] waits for the last to end.
#[derive(Default)]
struct Running {
    count: std::sync::atomic::AtomicUsize,
    ended: Notify,
}

/// One running task's place in [`Running`], given back when dropped (also
/// when the task panics).
struct RunningTask(Arc<Running>);

impl Running {
    fn enter(self: &Arc<Self>) -> RunningTask {
        self.count.fetch_add(1, Ordering::SeqCst);
        RunningTask(self.clone())
    }

    async fn none(&self) {
        loop {
            let ended = self.ended.notified();
            if self.count.load(Ordering::SeqCst) == 0 {
                return;
            }
            ended.await;
        }
    }
}

impl Drop for RunningTask {
    fn drop(&mut self) {
        self.0.count.fetch_sub(1, Ordering::SeqCst);
        self.0.ended.notify_waiters();
    }
}

impl crate::engine::StatusSink for Queue {
    fn acked(&self, id: String, error: Option<String>) {
        self.0.statuses.acked(id, error);
    }

    fn receipt(&self, ids: Vec<String>, kind: ReceiptKind) {
        self.0.statuses.receipt(ids, kind);
    }
}

#[derive(Clone)]
pub struct Queue(Arc<Inner>);

/// A value of plain data as the JSON of a row's column.
fn to_json(value: &impl serde::Serialize) -> Option<String> {
    Some(serde_json::to_string(value).expect("plain data serializes"))
}

/// A 22-character WhatsApp-style message id: `3EB0` and 18 hex digits.
pub fn new_message_id() -> String {
    use rand::Rng;
    let bytes: [u8; 9] = rand::rng().random();
    format!("3EB0{}", hex::encode_upper(bytes))
}

/// A text message to queue with [`Queue::put`]: from `session` (owned by
/// `owner`) to `to`, written by `origin`, due at `now`.
pub fn text_message(
    session: SessionKey,
    owner: i64,
    to: String,
    text: String,
    origin: crate::model::Origin,
    now: i64,
) -> messages::Model {
    messages::Model {
        id: new_message_id(),
        session_id: session,
        user_id: owner,
        recipient: to,
        kind: "text".into(),
        body: Some(text),
        filename: None,
        mimetype: None,
        media_size: None,
        media_sha256: None,
        status: MessageStatus::Queued,
        reason: None,
        attempts: 0,
        idempotency_key: None,
        request_hash: None,
        created_at: now,
        updated_at: now,
        broadcast_id: None,
        origin,
        agent_id: None,
        extra: None,
        quoted_id: None,
        quote: None,
        secret: None,
    }
}

impl Queue {
    /// The queue; claims an earlier run left behind are dropped, so what was on
    /// the wire when it stopped goes again (same ids) once its session connects.
    pub async fn new(writer: Writer, config: Arc<Config>, timeline: Arc<dyn store::Timeline>) -> anyhow::Result<Queue> {
        let media = media::MediaStore::new(&config.storage.data_dir)?;
        let db = writer.db().clone();
        let store = store::Store::new(writer, timeline, config.zone());
        let dropped = store.drop_leases().await?;
        if dropped > 0 {
            tracing::info!(messages = dropped, "messages in flight at the last stop will be sent again");
        }
        let swept = sweep_media(&store, &media).await?;
        if swept > 0 {
            tracing::info!(files = swept, "removed media files no waiting message needs");
        }
        let statuses = statuses::Statuses::open(&config.storage.data_dir)
            .with_context(|| format!("reading the statuses journal in {}", config.storage.data_dir.display()))?;
        let queue = Queue(Arc::new(Inner {
            db,
            store,
            config,
            media,
            lanes: Mutex::new(HashMap::new()),
            registry: registry::Registry::default(),
            statuses,
            dispatchers: Arc::default(),
        }));
        tokio::spawn(statuses::Statuses::run(queue.clone()));
        Ok(queue)
    }

    /// Writes the acks and receipts that wait (for up to `within`), for a
    /// graceful stop once the devices are offline; returns how many are left.
    pub async fn flush_statuses(&self, within: Duration) -> usize {
        statuses::Statuses::flush(self, within).await
    }

    /// Where devices hand over acks and receipts without waiting (see [`statuses`]).
    pub fn status_sink(&self) -> Arc<dyn crate::engine::StatusSink> {
        Arc::new(self.clone())
    }

    /// Where media waits for its message; uploads and fetches stage files here.
    pub fn media(&self) -> &media::MediaStore {
        &self.0.media
    }

    fn lane(&self, session: &SessionKey) -> Arc<Lane> {
        self.0.lanes.lock().expect("lanes lock").entry(session.to_owned()).or_default().clone()
    }

    /// Queues a message durably; the same idempotency key gives back the same
    /// message. `(view, created)`.
    pub async fn submit(&self, submit: Submit) -> Result<(MessageView, bool), QueueError> {
        if let Some(key) = &submit.idempotency_key
            && let Some(existing) = self.replay(submit.user_id, key, &submit.request_hash).await?
        {
            return Ok((existing, false));
        }
        let now = crate::model::now_ms();
        let id = new_message_id();
        let kind = submit.content.kind();
        let (mut body, mut filename, mut mimetype, mut media, mut secret) = (None, None, None, None, None);
        // Every kind says what it keeps here.
        let extra: Option<String>;
        match submit.content {
            Content::Text(text) => {
                body = Some(text);
                extra = submit.mentions.as_ref().filter(|m| !m.is_empty()).and_then(to_json);
            }
            Content::Media { file, mimetype: m, filename: f, caption, extra: e, .. } => {
                (body, filename, mimetype, media, extra) = (caption, f, Some(m), Some(file), e.map(|v| v.to_string()));
            }
            Content::Location(location) => (body, extra) = (location.label(), to_json(&location)),
            Content::Contacts(contacts) => {
                let names: Vec<&str> = contacts.iter().map(|c| c.name.as_str()).collect();
                body = Some(names.join(", "));
                extra = to_json(&content::ContactsDetails { contacts });
            }
            Content::Reaction(reaction) => (body, extra) = (Some(reaction.emoji.clone()), to_json(&reaction)),
            Content::Edit { target, text, previous } => {
                (body, extra) = (Some(text), to_json(&content::Target { message_id: target, previous }));
            }
            Content::Revoke { target } => extra = to_json(&content::Target { message_id: target, previous: None }),
            Content::Poll(poll) => {
                use base64::Engine as _;
                body = Some(poll.question.clone());
                extra = to_json(&poll);
                let key: [u8; 32] = rand::Rng::random(&mut rand::rng());
                secret = Some(base64::engine::general_purpose::STANDARD.encode(key));
            }
        }
        let (media_size, media_sha256) = match media {
            Some(file) => {
                let (size, sha256) = (file.size as i64, file.sha256.clone());
                self.0.media.keep(file, &id).await.map_err(anyhow::Error::from)?;
                (Some(size), Some(sha256))
            }
            None => (None, None),
        };
        let row = messages::Model {
            id: id.clone(),
            session_id: submit.session.clone(),
            user_id: submit.user_id,
            recipient: submit.to,
            kind: kind.into(),
            body,
            filename,
            mimetype,
            media_size,
            media_sha256,
            status: MessageStatus::Queued,
            reason: None,
            attempts: 0,
            idempotency_key: submit.idempotency_key.clone(),
            request_hash: Some(submit.request_hash.clone()),
            created_at: now,
            updated_at: now,
            broadcast_id: None,
            origin: submit.origin,
            agent_id: submit.agent_id,
            extra,
            quoted_id: submit.quoted.as_ref().map(|q| q.id.clone()),
            quote: submit.quoted.as_ref().map(|q| to_json(q).expect("some")),
            secret,
        };
        let row = match self.0.store.insert(row).await {
            Ok(row) => row,
            Err(e) => {
                self.0.media.remove(&id).await;
                // Two requests with one key at once: the other one won.
                if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
                    && let Some(key) = &submit.idempotency_key
                    && let Some(existing) = self.replay(submit.user_id, key, &submit.request_hash).await?
                {
                    return Ok((existing, false));
                }
                return Err(e.into());
            }
        };
        self.lane(&submit.session).wake.notify_one();
        Ok((MessageView::from(&row), true))
    }

    /// The message `user` queued earlier with this idempotency key, if any;
    /// an error if that was a different request.
    pub async fn replay(&self, user: i64, key: &str, hash: &str) -> Result<Option<MessageView>, QueueError> {
        let Some(row) = self.0.store.find_by_key(user, key).await? else { return Ok(None) };
        if row.request_hash.as_deref() != Some(hash) {
            return Err(QueueError::KeyReused);
        }
        Ok(Some(MessageView::from(&row)))
    }

    /// A message `session` sent (or queued) to `to`, as a reply to it shows
    /// it; `own` is the session's own JID, its author.
    pub async fn quote(
        &self,
        session: &SessionKey,
        to: &str,
        id: &str,
        own: &str,
    ) -> Result<Option<content::Quote>, DbErr> {
        let Some(row) = self.0.store.find(id).await? else { return Ok(None) };
        // Reactions, edits and deletions change messages; they are none to quote or react to.
        if row.session_id != *session
            || row.recipient != to
            || matches!(row.kind.as_str(), "reaction" | "edit" | "revoke")
        {
            return Ok(None);
        }
        Ok(Some(content::Quote { id: row.id, author: own.to_owned(), kind: row.kind, text: row.body }))
    }

    /// Whether each of `phones` (digits) is on WhatsApp, asked through the
    /// session's `sender` where the shared answers do not hold.
    pub async fn check(&self, sender: &Sender, phones: &[String]) -> anyhow::Result<Vec<registry::Checked>> {
        self.0.registry.check(sender, phones).await
    }

    /// Takes a message that still waits out of the queue (failed with
    /// `reason`): its view then, or `None` when it was no longer waiting.
    pub async fn cancel(&self, id: &str, reason: &str) -> Result<Option<MessageView>, QueueError> {
        let Some(row) = self.0.store.cancel(id, reason).await? else { return Ok(None) };
        if row.media_size.is_some() {
            self.0.media.remove(id).await;
        }
        Ok(Some(MessageView::from(&row)))
    }

    /// When the message went to WhatsApp (its first `sent`, or later, status).
    pub async fn sent_at(&self, id: &str) -> Result<Option<i64>, QueueError> {
        let history = self.0.store.history(id).await?;
        let reached = [MessageStatus::Sent, MessageStatus::Delivered, MessageStatus::Read];
        Ok(history.iter().filter(|e| reached.contains(&e.status)).map(|e| e.at).min())
    }

    /// The row of a message (for checks the API makes before acting on it).
    pub async fn row(&self, id: &str) -> Result<Option<messages::Model>, QueueError> {
        Ok(self.0.store.find(id).await?)
    }

    /// A message with its history, and its session's key.
    pub async fn get(&self, id: &str) -> Result<(MessageView, SessionKey), QueueError> {
        let row = self.0.store.find(id).await?.ok_or(QueueError::NotFound)?;
        let mut view = MessageView::from(&row);
        let mut history = vec![HistoryEntry { status: MessageStatus::Queued, reason: None, at: time(row.created_at) }];
        history.extend(self.0.store.history(id).await?.iter().map(entry));
        view.history = Some(history);
        Ok((view, row.session_id))
    }

    pub async fn list(
        &self,
        filter: &store::Filter,
        page: u64,
        per_page: u64,
    ) -> Result<(Vec<MessageView>, u64), QueueError> {
        let (rows, total) = self.0.store.list(filter, page, per_page).await?;
        Ok((rows.iter().map(MessageView::from).collect(), total))
    }

    pub async fn status(&self, session: &SessionKey) -> Result<QueueStatus, QueueError> {
        let mut status = QueueStatus {
            session: session.name().to_owned(),
            pending: 0,
            processing: 0,
            completed: 0,
            failed: 0,
            is_processing: false,
        };
        for (s, n) in self.0.store.counts(session).await? {
            match s {
                MessageStatus::Queued => status.pending += n,
                MessageStatus::Sending => status.processing += n,
                MessageStatus::Sent | MessageStatus::Delivered | MessageStatus::Read => status.completed += n,
                MessageStatus::Failed => status.failed += n,
            }
        }
        status.is_processing =
            self.lane(session).online.load(Ordering::Relaxed) && status.pending + status.processing > 0;
        Ok(status)
    }

    /// Takes the session's waiting messages out of the queue (they fail as
    /// cleared); those already on the wire finish. Returns how many.
    pub async fn clear(&self, session: &SessionKey) -> Result<u64, QueueError> {
        self.fail_all(session, "removed from the queue by clear-queue", false).await
    }

    /// The session was logged out: nothing of its queue will be sent.
    pub async fn abandon(&self, session: &SessionKey) -> Result<u64, QueueError> {
        self.fail_all(session, "the session was logged out before the message was sent", true).await
    }

    /// The session was deleted: its unsent messages fail, and stay to be read.
    pub async fn abandon_deleted(&self, session: &SessionKey) -> Result<u64, QueueError> {
        self.fail_all(session, "the session was deleted before the message was sent", true).await
    }

    async fn fail_all(&self, session: &SessionKey, reason: &str, in_flight_too: bool) -> Result<u64, QueueError> {
        let mut count = 0;
        loop {
            let ids = if in_flight_too {
                self.0.store.unfinished(session, 500).await?
            } else {
                self.0.store.waiting(session, 500).await?
            };
            if ids.is_empty() {
                return Ok(count);
            }
            let finished = futures_util::future::join_all(
                ids.iter().map(|id| self.finish(id, MessageStatus::Failed, Some(reason))),
            )
            .await;
            let mut progressed = false;
            for finished in finished {
                if finished? {
                    count += 1;
                    progressed = true;
                }
            }
            if !progressed {
                return Ok(count);
            }
        }
    }

    /// Queues text messages (due now) in `write`, the transaction of a change
    /// of the caller's (a broadcast, the bot's answers): they are durable once
    /// it commits, and their sessions' dispatchers wake then.
    pub async fn put(&self, write: &mut Write<'_>, rows: &[messages::Model]) -> Result<(), DbErr> {
        if rows.is_empty() {
            return Ok(());
        }
        self.0.store.stage(write, rows).await?;
        let mut sessions: Vec<SessionKey> = rows.iter().map(|r| r.session_id.clone()).collect();
        sessions.sort_unstable();
        sessions.dedup();
        let queue = self.clone();
        write.on_commit(move || {
            for session in sessions {
                queue.lane(&session).wake.notify_one();
            }
        });
        Ok(())
    }

    /// The broadcasts whose messages changed status since the last call; waits
    /// for one when there is none.
    pub async fn moved_broadcasts(&self) -> Vec<i64> {
        self.0.store.moved_broadcasts().await
    }

    /// Fails a broadcast's messages that are still waiting, with `reason`
    /// (the broadcast moved, whether or not any was waiting). How many.
    pub async fn cancel_broadcast(&self, broadcast: i64, reason: &str) -> Result<u64, QueueError> {
        let failed = self.0.store.fail_waiting_of_broadcast(broadcast, reason).await?;
        self.0.store.moved(broadcast);
        Ok(failed)
    }

    /// A broadcast changed on its own (it started): its progress is told.
    pub fn broadcast_moved(&self, broadcast: i64) {
        self.0.store.moved(broadcast);
    }

    /// Messages of these broadcasts by status.
    pub async fn broadcast_counts(&self, broadcasts: &[i64]) -> Result<Vec<(i64, MessageStatus, u64)>, QueueError> {
        Ok(self.0.store.broadcast_counts(broadcasts).await?)
    }

    /// Status and reason of these messages (those that still exist).
    pub async fn statuses(&self, ids: &[String]) -> Result<Vec<(String, MessageStatus, Option<String>)>, QueueError> {
        Ok(self.0.store.statuses(ids).await?)
    }

    /// Forgets a deleted session (its id may be taken again, by anyone).
    pub fn forget(&self, session: &SessionKey) {
        self.0.lanes.lock().expect("lanes lock").remove(session);
    }

    /// Starts the dispatcher of a running session; it sends while the link is
    /// online and ends when the returned [`Dispatch`] is dropped.
    pub fn dispatch(&self, session: &SessionKey) -> Dispatch {
        let (link, online) = watch::channel(None);
        let running = self.0.dispatchers.enter();
        let run = dispatcher::run(self.clone(), session.to_owned(), online);
        tokio::spawn(async move {
            run.await;
            drop(running);
        });
        Dispatch { link }
    }

    /// Waits (up to `within`) for the dispatchers of stopped sessions to end,
    /// so that none is still at the database when it closes; how many are left.
    pub async fn dispatchers_ended(&self, within: Duration) -> usize {
        let _ = tokio::time::timeout(within, self.0.dispatchers.none()).await;
        self.0.dispatchers.count.load(Ordering::SeqCst)
    }
}

/// Removes media files that no waiting message names: those of a write or a
/// request that a crash cut short, and those of messages deleted with their
/// session. How many.
async fn sweep_media(store: &store::Store, media: &media::MediaStore) -> Result<usize, anyhow::Error> {
    let names = media.names().await?;
    let ids: Vec<String> = names.iter().filter(|n| !n.ends_with(".part")).cloned().collect();
    let needed = store.unfinished_among(&ids).await?;
    let mut removed = 0;
    for name in names.iter().filter(|n| !needed.contains(*n)) {
        media.remove(name).await;
        removed += 1;
    }
    Ok(removed)
}

/// The session supervisor's side of its dispatcher.
pub struct Dispatch {
    link: watch::Sender<Option<Sender>>,
}

impl Dispatch {
    /// The device is connected: send through it.
    pub fn online(&self, sender: Sender) {
        self.link.send_replace(Some(sender));
    }

    /// The device is gone or reconnecting: hold on.
    pub fn offline(&self) {
        self.link.send_replace(None);
    }
}
