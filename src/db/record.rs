//! Writing webhook events: a producer hands the events of a change to its
//! [`Write`](super::write::Write), which records them here inside the
//! transaction that makes the change, so the event and its deliveries commit
//! (or roll back) with it; after the commit, [`Recorder::committed`] wakes the
//! deliverer (`webhooks`).

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex, RwLock,
        atomic::{AtomicI64, Ordering},
    },
};

use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QuerySelect,
};
use serde_json::Value;
use tokio::sync::Notify;

use super::entities::{sessions, webhook_deliveries as deliveries, webhook_events as events, webhooks};
use crate::model::{DeliveryStatus, SessionKey, now_ms};

/// An event a change causes.
#[derive(Debug, Clone)]
pub struct NewEvent {
    /// `message.status`, `session.status`, ... (the names of the SSE stream).
    pub kind: &'static str,
    /// The account it is about; `None`: the owner of `session`.
    pub owner: Option<i64>,
    /// The session's key, when it is about one.
    pub session: Option<SessionKey>,
    pub data: Value,
}

impl NewEvent {
    /// The webhook event of a live one. An event about several sessions (a
    /// broadcast from several) names none: endpoints narrowed to sessions do
    /// not get it.
    pub fn of(event: &crate::events::GatewayEvent) -> NewEvent {
        NewEvent {
            kind: event.kind,
            owner: Some(event.owner),
            session: event.also.is_empty().then(|| event.session.clone()),
            data: event.data.clone(),
        }
    }
}

/// What the recorder knows of an enabled endpoint, to match events against.
#[derive(Debug, Clone)]
pub struct Target {
    pub id: i64,
    /// `None`: every account's (the config's endpoint).
    pub owner: Option<i64>,
    pub events: Option<Vec<String>>,
    /// Session names; `None`: all.
    pub sessions: Option<Vec<String>>,
}

impl Target {
    pub fn of(row: &webhooks::Model) -> Target {
        let list = |json: &Option<String>| json.as_deref().and_then(|j| serde_json::from_str::<Vec<String>>(j).ok());
        Target { id: row.id, owner: row.user_id, events: list(&row.events), sessions: list(&row.sessions) }
    }

    fn wants(&self, kind: &str, owner: i64, session: Option<&SessionKey>) -> bool {
        let kinds = match &self.events {
            Some(list) => list.iter().any(|k| k == kind),
            // `session.qr` changes every 20 s while linking: only for those who ask for it.
            None => kind != "session.qr",
        };
        let sessions = match (&self.sessions, session) {
            (None, _) => true,
            (Some(names), Some(key)) => names.iter().any(|n| n == key.name()),
            (Some(_), None) => false,
        };
        kinds && sessions && self.owner.is_none_or(|o| o == owner)
    }
}

/// Shared by every producer and the deliverer; cheap to clone.
#[derive(Clone)]
pub struct Recorder(Arc<Inner>);

struct Inner {
    targets: RwLock<Arc<Vec<Target>>>,
    /// Session key -> owner.
    owners: Mutex<HashMap<SessionKey, i64>>,
    next_id: AtomicI64,
    /// The first attempt's delay (the schedule's first entry), ms.
    first_delay: i64,
    wake: Notify,
}

/// Events written per statement.
const CHUNK: usize = 500;

impl Recorder {
    /// The recorder of a database: event ids go on from the last one stored.
    /// `first_delay`: the schedule's first entry, ms.
    pub async fn open(db: &DatabaseConnection, first_delay: i64) -> Result<Recorder, DbErr> {
        let last: Option<i64> = events::Entity::find()
            .select_only()
            .column_as(events::Column::Id.max(), "last")
            .into_tuple::<Option<i64>>()
            .one(db)
            .await?
            .flatten();
        Ok(Recorder::new(last.unwrap_or(0) + 1, first_delay))
    }

    fn new(first_id: i64, first_delay: i64) -> Recorder {
        // Increasing across restarts: never below the clock (in µs), never below what is stored.
        let start = first_id.max(now_ms() * 1000);
        Recorder(Arc::new(Inner {
            targets: RwLock::new(Arc::new(Vec::new())),
            owners: Mutex::new(HashMap::new()),
            next_id: AtomicI64::new(start),
            first_delay,
            wake: Notify::new(),
        }))
    }

    /// A recorder no endpoint listens to (for a process whose writes cause no
    /// events, such as `wagate customers import`, and unit tests).
    pub fn detached() -> Recorder {
        Recorder::new(1, 0)
    }

    pub fn set_targets(&self, targets: Vec<Target>) {
        *self.0.targets.write().expect("targets lock") = Arc::new(targets);
    }

    /// Whether any endpoint is enabled: without one, producers need not build events.
    pub fn listening(&self) -> bool {
        !self.0.targets.read().expect("targets lock").is_empty()
    }

    /// Writes `events` and a pending delivery for each endpoint that wants
    /// each, on `conn` (the producer's transaction). How many events were written.
    pub(super) async fn record(&self, conn: &impl ConnectionTrait, list: Vec<NewEvent>) -> Result<usize, DbErr> {
        let targets = self.0.targets.read().expect("targets lock").clone();
        if targets.is_empty() || list.is_empty() {
            return Ok(0);
        }
        self.learn_owners(conn, &list).await?;
        let now = now_ms();
        let owners: Vec<Option<i64>> = {
            let known = self.0.owners.lock().expect("owners lock");
            list.iter().map(|e| e.owner.or_else(|| e.session.as_ref().and_then(|s| known.get(s).copied()))).collect()
        };
        let (mut event_rows, mut delivery_rows) = (Vec::new(), Vec::new());
        for (event, owner) in list.into_iter().zip(owners) {
            let Some(owner) = owner else { continue };
            let wanting: Vec<i64> =
                targets.iter().filter(|t| t.wants(event.kind, owner, event.session.as_ref())).map(|t| t.id).collect();
            if wanting.is_empty() {
                continue;
            }
            let id = self.0.next_id.fetch_add(1, Ordering::Relaxed);
            event_rows.push(events::ActiveModel {
                id: Set(id),
                user_id: Set(owner),
                session_id: Set(event.session),
                kind: Set(event.kind.to_owned()),
                data: Set(event.data.to_string()),
                created_at: Set(now),
            });
            for webhook in wanting {
                delivery_rows.push(new_delivery(webhook, id, now + self.0.first_delay, now));
            }
        }
        let written = event_rows.len();
        for chunk in chunks(event_rows) {
            events::Entity::insert_many(chunk).exec(conn).await?;
        }
        for chunk in chunks(delivery_rows) {
            deliveries::Entity::insert_many(chunk).exec(conn).await?;
        }
        Ok(written)
    }

    /// One event for one endpoint, whatever it subscribes to (a test ping).
    pub(super) async fn record_for(
        &self,
        conn: &impl ConnectionTrait,
        webhook: i64,
        event: NewEvent,
    ) -> Result<deliveries::Model, DbErr> {
        let now = now_ms();
        let id = self.0.next_id.fetch_add(1, Ordering::Relaxed);
        events::Entity::insert(events::ActiveModel {
            id: Set(id),
            user_id: Set(event.owner.unwrap_or_default()),
            session_id: Set(event.session),
            kind: Set(event.kind.to_owned()),
            data: Set(event.data.to_string()),
            created_at: Set(now),
        })
        .exec_without_returning(conn)
        .await?;
        let row = new_delivery(webhook, id, now, now);
        deliveries::Entity::insert(row).exec_with_returning(conn).await
    }

    /// After the producer's commit: the deliverer looks at once.
    pub fn committed(&self) {
        self.0.wake.notify_one();
    }

    pub async fn woken(&self) {
        self.0.wake.notified().await;
    }

    /// The owner of the session `key` (its events are theirs), read on `conn`
    /// the first time it is asked for.
    pub(super) async fn owner_of(&self, conn: &impl ConnectionTrait, key: &SessionKey) -> Result<Option<i64>, DbErr> {
        if let Some(owner) = self.0.owners.lock().expect("owners lock").get(key) {
            return Ok(Some(*owner));
        }
        let found: Option<i64> = sessions::Entity::find_by_id(key.clone())
            .select_only()
            .column(sessions::Column::UserId)
            .into_tuple()
            .one(conn)
            .await?;
        if let Some(owner) = found {
            self.0.owners.lock().expect("owners lock").insert(key.clone(), owner);
        }
        Ok(found)
    }

    /// Reads the owners of sessions not seen yet.
    async fn learn_owners(&self, conn: &impl ConnectionTrait, list: &[NewEvent]) -> Result<(), DbErr> {
        let missing: Vec<SessionKey> = {
            let owners = self.0.owners.lock().expect("owners lock");
            let mut keys: Vec<SessionKey> = list
                .iter()
                .filter(|e| e.owner.is_none())
                .filter_map(|e| e.session.clone())
                .filter(|s| !owners.contains_key(s))
                .collect();
            keys.sort_unstable();
            keys.dedup();
            keys
        };
        if missing.is_empty() {
            return Ok(());
        }
        let found: Vec<(SessionKey, i64)> = sessions::Entity::find()
            .select_only()
            .column(sessions::Column::Id)
            .column(sessions::Column::UserId)
            .filter(sessions::Column::Id.is_in(missing))
            .into_tuple()
            .all(conn)
            .await?;
        self.0.owners.lock().expect("owners lock").extend(found);
        Ok(())
    }
}

fn chunks<T>(rows: Vec<T>) -> Vec<Vec<T>> {
    let mut out = Vec::new();
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        out.push(rows.by_ref().take(CHUNK).collect());
    }
    out
}

/// A pending delivery of `event` to `webhook`, first tried at `due`.
pub fn new_delivery(webhook: i64, event: i64, due: i64, now: i64) -> deliveries::ActiveModel {
    deliveries::ActiveModel {
        webhook_id: Set(webhook),
        event_id: Set(event),
        status: Set(DeliveryStatus::Pending),
        attempts: Set(0),
        next_attempt_at: Set(due),
        last_status: Set(None),
        last_response: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
}
