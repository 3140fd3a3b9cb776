//! The inbox: what customers write to the linked numbers, and the agents'
//! answers. Owns the tables `inbound_messages` (every message WhatsApp
//! delivered, groups and status updates included), `chats` (one per session and
//! contact, for 1:1 conversations) and `chat_entries` (each chat's timeline:
//! received messages and queued ones, whose status lives in the queue only).
//!
//! Received messages are committed by whatsapp-rust's durability hook through
//! [`Inbox::sink`] before WhatsApp gets its receipt, once per (session, chat,
//! sender, WhatsApp id); a commit that fails leaves them to be delivered again.
//! Every change is published as an event: `message.received` (`call.received`
//! for a call), `chat.message` (a new timeline entry or a status change of
//! one) and `chat.updated`; a contact's typing in an opened chat is the live
//! `presence.update`.

pub mod analytics;
pub mod assign;
pub mod calls;
pub mod canned;
mod chats;
pub mod conversations;
pub mod export;
pub mod groups;
pub mod labels;
pub mod media;
pub mod pictures;
mod presence;
pub mod search;
pub mod store;
mod views;

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use futures_util::future::BoxFuture;
use sea_orm::{DatabaseConnection, DatabaseTransaction, DbErr};
use tokio::sync::{mpsc, oneshot};

use crate::{
    config::Config,
    db::{
        entities::{chats as chat_rows, messages},
        write::Writer,
    },
    engine::{Inbound, InboundSink},
    events::{Events, GatewayEvent},
    model::{ChatMode, Origin, SessionKey},
    queue::Queue,
};
pub use calls::{CallPolicy, CallsOverride};
pub use chats::{ChatChange, Reply};
pub use store::QueuedInChats;
pub use store::{ChatFilter, Cursor};
pub use views::{ChatCounts, ChatDetail, ChatView, EntryView, MessageInChat, Profile, ReceivedView};

/// Who answers a chat's new messages inside the inbox's commit that stores
/// them (the menu bot), a port the bot implements: it may change `chat`
/// (mode, menu, reply counters; the inbox writes it) and gives back the
/// replies to queue, in order.
pub trait Answerer: Send + Sync {
    fn answer<'a>(
        &'a self,
        tx: &'a DatabaseTransaction,
        chat: &'a mut chat_rows::Model,
        messages: &'a [&'a Inbound],
        now: i64,
    ) -> BoxFuture<'a, Result<Vec<messages::Model>, DbErr>>;

    /// `chat` was just closed, in transaction `tx`: what to say to the
    /// customer (the satisfaction question, when the account asks it); it may
    /// change `chat`'s `csat_*` fields (the inbox writes them).
    fn closed<'a>(
        &'a self,
        tx: &'a DatabaseTransaction,
        chat: &'a mut chat_rows::Model,
        now: i64,
    ) -> BoxFuture<'a, Result<Vec<messages::Model>, DbErr>>;
}

/// Which chats a caller may see.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ChatScope {
    /// Only chats of this owner's sessions (`None`: every owner's).
    pub owner: Option<i64>,
    /// Only chats of these sessions (an API key limited to them).
    pub sessions: Option<Vec<SessionKey>>,
    /// Only chats assigned to this agent.
    pub agent: Option<i64>,
}

impl ChatScope {
    pub fn admits(&self, chat: &chat_rows::Model) -> bool {
        self.owner.is_none_or(|o| o == chat.user_id)
            && self.sessions.as_ref().is_none_or(|ids| ids.contains(&chat.session_id))
            && self.agent.is_none_or(|a| chat.assigned_agent_id == Some(a))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum InboxError {
    #[error("chat not found")]
    NotFound,
    #[error("{0}")]
    Invalid(&'static str, String),
    /// Not for this caller's role.
    #[error("{0}")]
    Forbidden(&'static str),
    #[error(transparent)]
    Db(#[from] DbErr),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

/// A batch of received messages waiting for the writer's next transaction,
/// and since when.
type Pending = (SessionKey, Vec<Inbound>, oneshot::Sender<Result<(), DbErr>>, std::time::Instant);

struct Inner {
    db: DatabaseConnection,
    config: Arc<Config>,
    events: Events,
    /// Every change of the inbox is written through it, with its events.
    writer: Writer,
    queue: Queue,
    bot: Arc<dyn Answerer>,
    intake: mpsc::UnboundedSender<Pending>,
    /// Connected devices, by session: read receipts and media downloads go through them.
    online: Mutex<HashMap<SessionKey, crate::engine::Sender>>,
    media: media::Files,
    pictures: pictures::Pictures,
    /// (session, contact) whose presence the session's device subscribed to.
    watched: Mutex<std::collections::HashSet<(SessionKey, String)>>,
    /// Group chats whose subject is being asked of WhatsApp.
    naming: Mutex<std::collections::HashSet<i64>>,
    media_wake: tokio::sync::Notify,
    /// How long batches wait for their commit.
    committed: prometheus_client::metrics::histogram::Histogram,
}

#[derive(Clone)]
pub struct Inbox(Arc<Inner>);

impl Inbox {
    /// The inbox and its writer; [`Inbox::run_media`] downloads media.
    pub fn new(
        writer: Writer,
        config: Arc<Config>,
        queue: Queue,
        bot: Arc<dyn Answerer>,
        metrics: &crate::metrics::Metrics,
    ) -> anyhow::Result<Inbox> {
        let (intake, pending) = mpsc::unbounded_channel();
        let files = media::Files::new(&config.storage.data_dir)?;
        let pictures = pictures::Pictures::new(&config.storage.data_dir)?;
        let (db, events) = (writer.db().clone(), writer.live().clone());
        let inbox = Inbox(Arc::new(Inner {
            db,
            config,
            events,
            writer,
            queue,
            bot,
            intake,
            online: Mutex::new(HashMap::new()),
            media: files,
            pictures,
            watched: Mutex::new(Default::default()),
            naming: Mutex::new(Default::default()),
            media_wake: tokio::sync::Notify::new(),
            committed: metrics.inbound_commit(),
        }));
        tokio::spawn(inbox.clone().write(pending));
        Ok(inbox)
    }

    /// What whatsapp-rust's durability hook commits received messages through.
    pub fn sink(&self) -> Arc<dyn InboundSink> {
        Arc::new(Sink(self.0.intake.clone()))
    }

    /// Stores messages that came without the durability hook (newsletters).
    pub async fn keep(&self, session: &SessionKey, batch: Vec<Inbound>) {
        if let Err(e) = Sink(self.0.intake.clone()).commit(session, batch).await {
            tracing::warn!(session_id = %session, error = %e, "cannot store received messages");
        }
    }

    /// A contact calls: declined at once when the session's policy says so
    /// (a call that rang while the device was away is long over), then kept
    /// as a `call` entry of the caller's chat with its `call.received` event,
    /// and the policy's reply queued (see [`calls`]).
    pub async fn called(&self, session: &SessionKey, sender: &crate::engine::Sender, mut call: crate::engine::Call) {
        if call.phone.is_none() && call.creator.is_lid() {
            call.phone = sender.number_of(&call.creator).await;
        }
        let policy = match calls::overrides(&self.0.db, session).await {
            Ok(o) => CallPolicy::resolve(&self.0.config.calls, &o),
            Err(e) => {
                tracing::warn!(session_id = %session, error = %e, "cannot read the call settings; the call rings");
                CallPolicy::resolve(&self.0.config.calls, &CallsOverride::default())
            }
        };
        let mut rejected = false;
        if policy.reject && !call.offline {
            match sender.reject_call(&call).await {
                Ok(()) => rejected = true,
                Err(e) => tracing::warn!(session_id = %session, error = %e, "cannot decline a call"),
            }
        }
        self.keep(session, vec![calls::as_inbound(&call, rejected)]).await;
    }

    /// A group the session is (or was) in changed: kept like a received message.
    pub async fn group_changed(&self, session: &SessionKey, change: crate::engine::GroupChange) {
        self.keep(session, vec![groups::as_inbound(&change)]).await;
    }

    /// The session's device is connected: receipts and downloads go through it.
    pub fn online(&self, session: &SessionKey, sender: crate::engine::Sender) {
        self.0.online.lock().expect("online lock").insert(session.to_owned(), sender);
        self.0.media_wake.notify_one();
    }

    pub fn offline(&self, session: &SessionKey) {
        self.0.online.lock().expect("online lock").remove(session);
        self.forget_presence(session);
    }

    /// The device of a connected session (kept for read receipts and media
    /// downloads; the API asks WhatsApp through it too).
    pub fn sender_of(&self, session: &SessionKey) -> Option<crate::engine::Sender> {
        self.0.online.lock().expect("online lock").get(session).cloned()
    }

    /// Group commit: batches that arrive while a transaction is written go
    /// together in the next one. Ends when the gateway stops: what comes after
    /// is refused, so WhatsApp delivers it again next time.
    async fn write(self, mut pending: mpsc::UnboundedReceiver<Pending>) {
        loop {
            let first = tokio::select! {
                first = pending.recv() => first,
                () = self.0.events.closed() => None,
            };
            let Some(first) = first else { return };
            let mut batch = vec![first];
            while batch.len() < 64
                && let Ok(next) = pending.try_recv()
            {
                batch.push(next);
            }
            let items: Vec<(SessionKey, Vec<Inbound>)> =
                batch.iter().map(|(s, m, _, _)| (s.clone(), m.clone())).collect();
            let config = &self.0.config;
            let bot = self.0.bot.as_ref();
            match store::commit(&self.0.writer, &self.0.queue, bot, &items, config, |w| self.events_of(w)).await {
                Ok(written) => {
                    for (_, _, reply, since) in batch {
                        self.0.committed.observe(since.elapsed().as_secs_f64());
                        let _ = reply.send(Ok(()));
                    }
                    self.published(written);
                }
                // One bad batch must not fail the others: one by one.
                Err(_) => {
                    for (session, messages, reply, since) in batch {
                        let one = [(session, messages)];
                        match store::commit(&self.0.writer, &self.0.queue, bot, &one, config, |w| self.events_of(w))
                            .await
                        {
                            Ok(written) => {
                                self.0.committed.observe(since.elapsed().as_secs_f64());
                                let _ = reply.send(Ok(()));
                                self.published(written);
                            }
                            Err(e) => {
                                let _ = reply.send(Err(e));
                            }
                        }
                    }
                }
            }
        }
    }

    /// After a commit (whose events its write published, the replies' among
    /// them): the media downloader wakes.
    fn published(&self, written: store::Written) {
        if written.media_pending {
            self.0.media_wake.notify_one();
        }
        for (session, chat, jid) in written.unnamed_groups {
            self.name_group(session, chat, jid);
        }
        if !written.dropped_media.is_empty() {
            let inbox = self.clone();
            tokio::spawn(async move {
                for id in written.dropped_media {
                    inbox.0.media.remove(id).await;
                }
            });
        }
    }

    /// The events of what a commit wrote: `message.received` for each message,
    /// `chat.message` for each timeline entry, `chat.updated` for each chat.
    fn events_of(&self, written: &store::Written) -> Vec<GatewayEvent> {
        let offset = self.0.config.zone();
        let event =
            |kind: &'static str, owner: i64, session: &SessionKey, agent: Option<i64>, data: serde_json::Value| {
                GatewayEvent { kind, owner, session: session.to_owned(), also: Vec::new(), agent, data }
            };
        let mut events = Vec::new();
        for row in &written.received {
            let owner = written.owners.get(&row.session_id).copied().unwrap_or_default();
            let data = serde_json::to_value(ReceivedView::of(row)).unwrap_or_default();
            let kind = match row.kind.as_str() {
                "call" => "call.received",
                groups::KIND => groups::event_of(row.extra.as_deref()),
                _ => "message.received",
            };
            events.push(event(kind, owner, &row.session_id, None, data));
        }
        let rows: HashMap<i64, &crate::db::entities::inbound_messages::Model> =
            written.received.iter().map(|r| (r.id, r)).collect();
        for (chat, entries) in &written.entries {
            let views: Vec<EntryView> = entries
                .iter()
                .map(|e| views::entry_of_inbound(e, e.inbound_id.and_then(|id| rows.get(&id).copied()), offset))
                .collect();
            for view in &views {
                let data = serde_json::json!({"chat_id": chat.id, "message": view});
                events.push(event("chat.message", chat.user_id, &chat.session_id, chat.assigned_agent_id, data));
            }
            // The chat's newest message is the last one just written: no need to read it back.
            let view = views::chat_view(chat, views.last().map(views::preview));
            let data = serde_json::to_value(view).unwrap_or_default();
            events.push(event("chat.updated", chat.user_id, &chat.session_id, chat.assigned_agent_id, data));
        }
        for (session, owner, agent, kind, data) in &written.changes {
            events.push(event(kind, *owner, session, *agent, data.clone()));
        }
        events
    }

    fn publish(
        &self,
        kind: &'static str,
        owner: i64,
        session: &SessionKey,
        agent: Option<i64>,
        data: serde_json::Value,
    ) {
        self.0.events.publish(GatewayEvent { kind, owner, session: session.to_owned(), also: Vec::new(), agent, data });
    }

    fn publish_entry(&self, chat: &chat_rows::Model, entry: &EntryView) {
        let data = serde_json::json!({"chat_id": chat.id, "message": entry});
        self.publish("chat.message", chat.user_id, &chat.session_id, chat.assigned_agent_id, data);
    }

    pub fn db(&self) -> &DatabaseConnection {
        &self.0.db
    }

    fn writer(&self) -> &Writer {
        &self.0.writer
    }

    pub fn config(&self) -> &Config {
        &self.0.config
    }

    pub fn queue(&self) -> &Queue {
        &self.0.queue
    }
}

/// Hands received messages to the inbox's writer and waits for the commit.
struct Sink(mpsc::UnboundedSender<Pending>);

impl InboundSink for Sink {
    fn commit(
        &self,
        session: &SessionKey,
        batch: Vec<Inbound>,
    ) -> futures_util::future::BoxFuture<'static, anyhow::Result<()>> {
        let (reply, done) = oneshot::channel();
        let sent = self.0.send((session.to_owned(), batch, reply, std::time::Instant::now()));
        Box::pin(async move {
            sent.map_err(|_| anyhow::anyhow!("the inbox is shutting down"))?;
            done.await.map_err(|_| anyhow::anyhow!("the inbox is shutting down"))??;
            Ok(())
        })
    }
}
