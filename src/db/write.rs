//! The writer floor: every write transaction of the gateway begins here.
//!
//! [`Writer::begin`] opens a transaction holding this process's write turn on
//! SQLite (one writer at a time: a connection that finds SQLite's write lock
//! taken sleeps in the busy handler, so the writers of this process queue on a
//! mutex instead) and SQLite's write lock from its first statement
//! (`BEGIN IMMEDIATE`: a write after a read in it never meets another
//! connection's newer commit). MySQL/MariaDB writers run side by side.
//!
//! A producer writes its change and the events the change causes into the
//! same [`Write`]: [`Write::emit`] records each event for the webhook
//! endpoints that want it in the transaction (so event and change commit or
//! roll back together) and, after the commit, publishes the same event to the
//! live stream (`GET /events`). One change makes one event, produced once.
//! [`Write::commit`] commits, runs what the producers asked to run after the
//! commit (waking a dispatcher), wakes the webhook deliverer when deliveries
//! were written, and publishes.

use std::sync::Arc;

use sea_orm::{
    DatabaseBackend, DatabaseConnection, DatabaseTransaction, DbErr, SqliteTransactionMode, TransactionOptions,
    TransactionTrait,
};
use tokio::sync::{Mutex, MutexGuard};

use super::record::{NewEvent, Recorder};
use crate::{
    events::{Events, GatewayEvent},
    model::SessionKey,
};

/// Opens every write transaction; cheap to clone.
#[derive(Clone)]
pub struct Writer(Arc<Inner>);

struct Inner {
    db: DatabaseConnection,
    /// This process's writers, one at a time (SQLite only).
    turn: Option<Mutex<()>>,
    recorder: Recorder,
    live: Events,
}

/// What runs after a commit.
type AfterCommit = Box<dyn FnOnce() + Send + Sync>;

/// A write transaction of [`Writer::begin`]; [`Write::commit`] finishes it,
/// dropping it rolls it back.
pub struct Write<'a> {
    pub tx: DatabaseTransaction,
    _turn: Option<MutexGuard<'a, ()>>,
    writer: &'a Writer,
    live: Vec<GatewayEvent>,
    after: Vec<AfterCommit>,
    /// Webhook deliveries were written: the deliverer wakes after the commit.
    recorded: bool,
}

impl Writer {
    pub fn new(db: DatabaseConnection, recorder: Recorder, live: Events) -> Writer {
        let turn = (db.get_database_backend() == DatabaseBackend::Sqlite).then(|| Mutex::new(()));
        Writer(Arc::new(Inner { db, turn, recorder, live }))
    }

    pub fn db(&self) -> &DatabaseConnection {
        &self.0.db
    }

    /// The webhook events' recorder (endpoints and the deliverer use it).
    pub fn recorder(&self) -> &Recorder {
        &self.0.recorder
    }

    /// The live stream.
    pub fn live(&self) -> &Events {
        &self.0.live
    }

    /// Whether an event would be heard (by a webhook endpoint or a live
    /// subscriber): events nobody hears need not be built.
    pub fn heard(&self) -> bool {
        self.0.recorder.listening() || self.0.live.has_subscribers()
    }

    /// Whether a webhook endpoint listens.
    pub fn recording(&self) -> bool {
        self.0.recorder.listening()
    }

    /// A write transaction, holding this process's write turn on SQLite.
    pub async fn begin(&self) -> Result<Write<'_>, DbErr> {
        let turn = self.turn().await;
        let options = TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..Default::default()
        };
        let tx = self.0.db.begin_with_options(options).await?;
        Ok(Write { tx, _turn: turn, writer: self, live: Vec::new(), after: Vec::new(), recorded: false })
    }

    /// The write turn for one statement outside a transaction (SQLite only;
    /// `None` elsewhere). Held until dropped.
    pub async fn turn(&self) -> Option<MutexGuard<'_, ()>> {
        match &self.0.turn {
            Some(turn) => Some(turn.lock().await),
            None => None,
        }
    }
}

impl Write<'_> {
    /// Events of this change: recorded for webhooks now, in the transaction;
    /// published to the live stream after the commit.
    pub async fn emit(&mut self, events: Vec<GatewayEvent>) -> Result<(), DbErr> {
        if events.is_empty() {
            return Ok(());
        }
        if self.writer.recording() {
            let hooks = events.iter().map(NewEvent::of).collect();
            self.recorded |= self.writer.0.recorder.record(&self.tx, hooks).await? > 0;
        }
        if self.writer.0.live.has_subscribers() {
            self.live.extend(events);
        }
        Ok(())
    }

    /// Events for webhooks alone: their live counterpart is published by its
    /// producer at once (a linking code, which nothing stores).
    pub async fn record(&mut self, events: Vec<NewEvent>) -> Result<(), DbErr> {
        self.recorded |= self.writer.0.recorder.record(&self.tx, events).await? > 0;
        Ok(())
    }

    /// One event for one endpoint, whatever it subscribes to (a test ping).
    pub async fn record_for(
        &mut self,
        webhook: i64,
        event: NewEvent,
    ) -> Result<crate::db::entities::webhook_deliveries::Model, DbErr> {
        let delivery = self.writer.0.recorder.record_for(&self.tx, webhook, event).await?;
        self.recorded = true;
        Ok(delivery)
    }

    /// Whether an event would be heard: events nobody hears need not be built.
    pub fn heard(&self) -> bool {
        self.writer.heard()
    }

    /// The owner of `session` (who, with admins, sees its events); `None`
    /// when there is no such session.
    pub async fn owner_of(&self, session: &SessionKey) -> Result<Option<i64>, DbErr> {
        self.writer.0.recorder.owner_of(&self.tx, session).await
    }

    /// Runs `then` once the transaction is committed (not when it is not).
    pub fn on_commit(&mut self, then: impl FnOnce() + Send + Sync + 'static) {
        self.after.push(Box::new(then));
    }

    /// Commits; then runs what waits for the commit, wakes the deliverer and
    /// publishes the live events.
    pub async fn commit(self) -> Result<(), DbErr> {
        self.commit_and(|| ()).await
    }

    /// [`Write::commit`], running `first` right after the commit, before
    /// anything else (a cache of what was written, updated before anyone
    /// hears of the change).
    pub async fn commit_and(self, first: impl FnOnce()) -> Result<(), DbErr> {
        let Write { tx, _turn, writer, live, after, recorded } = self;
        tx.commit().await?;
        drop(_turn);
        first();
        for then in after {
            then();
        }
        if recorded {
            writer.0.recorder.committed();
        }
        for event in live {
            writer.0.live.publish(event);
        }
        Ok(())
    }
}
