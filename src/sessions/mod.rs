//! The multi-session manager: the registry of running sessions (one
//! [`supervisor`] task each), what the HTTP API asks of them, and restoring the
//! linked ones when the gateway starts.
//!
//! A session's row in the database is the truth about it (owner, phone number,
//! status); its supervisor is the only writer of its status. Live things that
//! are not worth storing (the current QR or pairing code) sit in the registry.

pub mod capacity;
mod records;
mod supervisor;

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use chrono::{DateTime, Utc};
use sea_orm::{DatabaseConnection, DbErr};
use serde::Serialize;
use tokio::{
    sync::{mpsc, oneshot, watch},
    task::JoinHandle,
};
use utoipa::ToSchema;

use crate::model::{SessionKey, SessionStatus};
use crate::{
    config::Config,
    db::{entities::sessions as rows, write::Writer},
    engine::Engine,
    events::Events,
    inbox::Inbox,
    queue::Queue,
};
pub use records::Scope;

/// A session as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionView {
    pub session_id: String,
    pub phone_number: Option<String>,
    pub status: SessionStatus,
    /// Why the session is in its status, when that needs saying.
    pub reason: Option<String>,
    pub banned_until: Option<DateTime<Utc>>,
    pub user_id: i64,
    pub last_connected_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&rows::Model> for SessionView {
    fn from(row: &rows::Model) -> Self {
        SessionView {
            session_id: row.name.clone(),
            phone_number: row.phone_number.clone(),
            status: row.status,
            reason: row.reason.clone(),
            banned_until: row.banned_until.map(|t| t.and_utc()),
            user_id: row.user_id,
            last_connected_at: row.last_connected_at.map(|t| t.and_utc()),
            created_at: row.created_at.and_utc(),
            updated_at: row.updated_at.and_utc(),
        }
    }
}

/// Whether messages may be queued for the session: it is linked to a number
/// (they wait while it is offline).
pub fn sendable(row: &rows::Model) -> Result<(), SessionError> {
    if records::linked(row) { Ok(()) } else { Err(SessionError::NotLinked) }
}

/// A QR or pairing code and when it stops being valid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Code {
    pub value: String,
    pub expires_at: DateTime<Utc>,
}

impl Code {
    fn new(value: String, valid_for: Duration) -> Code {
        let expires_at = Utc::now() + chrono::Duration::from_std(valid_for).unwrap_or(chrono::Duration::zero());
        Code { value, expires_at }
    }
}

/// What a running session shows besides its row.
#[derive(Debug, Clone, Default)]
pub struct LiveState {
    pub qr: Option<Code>,
    pub pairing: Option<Code>,
}

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("session not found")]
    NotFound,
    #[error("you already have a session with this id")]
    Exists,
    /// An admin named a session that several other accounts have.
    #[error("several accounts have a session with this id; act on it with a credential of its account")]
    Ambiguous,
    #[error("{phone} is already linked in session {session}")]
    PhoneTaken { phone: String, session: String },
    #[error("the session is already linked to a number")]
    AlreadyLinked,
    #[error("the session is not running; POST /session/restart starts it")]
    NotRunning,
    #[error("the session is not linked to a number; link it first")]
    NotLinked,
    /// A request named no session (or named them wrongly), and there is
    /// none to take: `field` says where.
    #[error("{message}")]
    Unnamed { field: &'static str, message: &'static str },
    /// A broadcast named no session, and none is linked.
    #[error("no linked session to send from")]
    NoneLinked,
    #[error("the session is {0}; it cannot do that now")]
    Busy(&'static str),
    #[error("a pairing code for another number is outstanding; POST /session/restart first")]
    PairingOutstanding,
    #[error("no code came in time; try again")]
    Timeout,
    #[error("WhatsApp refused: {0}")]
    Refused(String),
    /// No room for another session under the open-files limit.
    #[error(
        "no room for another session under the open-files limit: {} of {} descriptors are open and {} are kept for \
         clients and the database (each session needs {}); raise the limit (ulimit -n, systemd's LimitNOFILE) or \
         delete sessions no longer used",
        .0.open_files, .0.open_files_limit, .0.reserve, capacity::PER_SESSION
    )]
    Capacity(capacity::Room),
    #[error(transparent)]
    Db(#[from] DbErr),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

enum Command {
    PairingCode { phone: String, reply: oneshot::Sender<Result<Code, SessionError>> },
    Logout { reply: oneshot::Sender<()> },
    Stop { reply: oneshot::Sender<()> },
}

struct Running {
    generation: u64,
    commands: mpsc::UnboundedSender<Command>,
    live: watch::Receiver<LiveState>,
    task: JoinHandle<()>,
}

/// Shared by the HTTP handlers and the supervisors.
struct Manager {
    db: DatabaseConnection,
    /// Status changes are written through it, with their events.
    writer: Writer,
    engine: Engine,
    events: Events,
    queue: Queue,
    inbox: Inbox,
    config: Arc<Config>,
    running: Mutex<HashMap<SessionKey, Running>>,
    generations: AtomicU64,
    /// Session rows as last read or written here, by key (every send looks its
    /// session up): this process is the only writer of them.
    rows: Mutex<HashMap<SessionKey, rows::Model>>,
    /// `(owner, name)` -> key, for the rows above.
    names: Mutex<HashMap<(i64, String), SessionKey>>,
}

#[derive(Clone)]
pub struct Sessions(Arc<Manager>);

/// While restoring, the room is counted again after this many starts (it is
/// counted down in between).
const RECOUNT_EVERY: u32 = 1_000;
/// How long `GET /session/qr` waits for the first code of a starting session.
const FIRST_CODE_WAIT: Duration = Duration::from_secs(15);

impl Sessions {
    pub fn new(writer: Writer, engine: Engine, queue: Queue, inbox: Inbox, config: Arc<Config>) -> Sessions {
        Sessions(Arc::new(Manager {
            db: writer.db().clone(),
            events: writer.live().clone(),
            writer,
            engine,
            queue,
            inbox,
            config,
            running: Mutex::new(HashMap::new()),
            generations: AtomicU64::new(0),
            rows: Mutex::new(HashMap::new()),
            names: Mutex::new(HashMap::new()),
        }))
    }

    pub fn events(&self) -> &Events {
        &self.0.events
    }

    /// A new session owned by `owner` and named `name` there, linking at once:
    /// QR codes, and a pairing code too when `phone` is given (digits with country code).
    pub async fn create(&self, owner: i64, name: &str, phone: Option<String>) -> Result<SessionView, SessionError> {
        if let Some(phone) = &phone {
            self.refuse_taken(phone, owner, None).await?;
        }
        room_for_one()?;
        let row = records::insert(&self.0.db, name, owner).await?;
        self.0.remember(&row);
        self.spawn(row.clone(), phone);
        Ok(SessionView::from(&row))
    }

    /// The session `scope` calls `name`: its account's own session of that
    /// name; for admins, another account's when only one has that name.
    pub async fn get(&self, scope: &Scope, name: &str) -> Result<rows::Model, SessionError> {
        if let Some(account) = scope.account {
            let key = self.0.names.lock().expect("names lock").get(&(account, name.to_owned())).cloned();
            let cached = key.and_then(|key| self.0.rows.lock().expect("rows lock").get(&key).cloned());
            if let Some(row) = cached.filter(|row| scope.admits(row)) {
                return Ok(row);
            }
        }
        let mut found = records::find_named(&self.0.db, scope, name, false).await?;
        let row = match found.iter().position(|row| Some(row.user_id) == scope.account) {
            Some(own) => found.swap_remove(own),
            None if found.len() > 1 => return Err(SessionError::Ambiguous),
            None => found.pop().ok_or(SessionError::NotFound)?,
        };
        self.0.remember(&row);
        Ok(row)
    }

    /// The keys of the sessions named `name` in `scope`, deleted ones included
    /// (for their messages; an admin's name may be several accounts').
    pub async fn keys_named(&self, scope: &Scope, name: &str) -> Result<Vec<SessionKey>, SessionError> {
        Ok(records::find_named(&self.0.db, scope, name, true).await?.into_iter().map(|row| row.id).collect())
    }

    /// The session with internal key `key` (a message's, a chat's), unless deleted.
    pub async fn by_key(&self, key: &SessionKey) -> Result<rows::Model, SessionError> {
        let cached = self.0.rows.lock().expect("rows lock").get(key).cloned();
        if let Some(row) = cached {
            return Ok(row);
        }
        let row = records::find(&self.0.db, key).await?.ok_or(SessionError::NotFound)?;
        self.0.remember(&row);
        Ok(row)
    }

    pub async fn list(&self, scope: &Scope) -> Result<Vec<SessionView>, SessionError> {
        Ok(records::list(&self.0.db, scope).await?.iter().map(SessionView::from).collect())
    }

    /// The session a request that names none writes from: `preferred`
    /// (`notify.default_session`) if the caller may use it, else the caller's
    /// only session.
    pub async fn default_for(&self, scope: &Scope, preferred: &str) -> Result<String, SessionError> {
        if !preferred.is_empty() && self.get(scope, preferred).await.is_ok() {
            return Ok(preferred.to_owned());
        }
        match self.list(scope).await?.as_slice() {
            [only] => Ok(only.session_id.clone()),
            [] => Err(SessionError::Unnamed { field: "session", message: "you have no session to write from" }),
            _ => {
                Err(SessionError::Unnamed { field: "session", message: "is required: you have more than one session" })
            }
        }
    }

    /// The keys of the sessions a broadcast sends from, each visible in
    /// `scope` and linked: those of `names` (or the one `name`), else
    /// `preferred` (`notify.default_session`), else the only linked one.
    pub async fn senders(
        &self,
        scope: &Scope,
        names: Option<Vec<String>>,
        name: Option<String>,
        preferred: &str,
    ) -> Result<Vec<SessionKey>, SessionError> {
        let unnamed = |message| SessionError::Unnamed { field: "sessions", message };
        let named = match (names, name) {
            (Some(_), Some(_)) => return Err(unnamed("give sessions or session, not both")),
            (Some(list), None) => {
                if list.is_empty() {
                    return Err(unnamed("must name at least one session"));
                }
                let mut unique: Vec<String> = Vec::with_capacity(list.len());
                for name in list {
                    if !unique.contains(&name) {
                        unique.push(name);
                    }
                }
                unique
            }
            (None, Some(name)) => vec![name],
            (None, None) if !preferred.is_empty() => vec![preferred.to_owned()],
            (None, None) => {
                let linked: Vec<String> = self
                    .list(scope)
                    .await?
                    .into_iter()
                    .filter(|s| s.phone_number.is_some() && s.status.holds_device())
                    .map(|s| s.session_id)
                    .collect();
                match linked.len() {
                    1 => linked,
                    0 => return Err(SessionError::NoneLinked),
                    _ => return Err(unnamed("name the sessions to send from (or set notify.default_session)")),
                }
            }
        };
        let mut keys = Vec::with_capacity(named.len());
        for name in &named {
            let row = self.get(scope, name).await?;
            sendable(&row)?;
            keys.push(row.id);
        }
        Ok(keys)
    }

    /// The current QR code (and pairing code, if one was asked for), waiting a
    /// little for the first one of a session that is just starting.
    pub async fn codes(&self, scope: &Scope, name: &str) -> Result<LiveState, SessionError> {
        let row = self.get(scope, name).await?;
        if records::linked(&row) {
            return Err(SessionError::AlreadyLinked);
        }
        self.wait_live(&row.id, |s| s.qr.is_some() || s.pairing.is_some()).await
    }

    /// Asks the session for a pairing code for `phone`.
    pub async fn pairing_code(&self, scope: &Scope, name: &str, phone: String) -> Result<Code, SessionError> {
        let row = self.get(scope, name).await?;
        if records::linked(&row) {
            return Err(SessionError::AlreadyLinked);
        }
        self.refuse_taken(&phone, row.user_id, Some(&row.id)).await?;
        // A code can be asked for once the session is connected for linking.
        self.wait_live(&row.id, |s| s.qr.is_some()).await?;
        let (reply, answer) = oneshot::channel();
        self.send(&row.id, Command::PairingCode { phone, reply })?;
        answer.await.map_err(|_| SessionError::NotRunning)?
    }

    /// Unlinks the device from the phone and wipes its store.
    pub async fn logout(&self, scope: &Scope, name: &str) -> Result<SessionView, SessionError> {
        let key = self.get(scope, name).await?.id;
        let (reply, done) = oneshot::channel();
        if self.send(&key, Command::Logout { reply }).is_ok() {
            let _ = done.await;
        } else {
            self.0.forget_device(&key).await?;
        }
        Ok(SessionView::from(&self.by_key(&key).await?))
    }

    /// Stops the session if it runs and starts it again: a linked session
    /// reconnects, an unlinked (or logged-out) one starts linking anew.
    pub async fn restart(&self, scope: &Scope, name: &str) -> Result<SessionView, SessionError> {
        let key = self.get(scope, name).await?.id;
        self.stop(&key).await;
        room_for_one()?;
        // Said before answering, so no one reads the old status after the restart.
        self.0.record(&key, records::Change::status(SessionStatus::Connecting).reason(None)).await?;
        let row = self.by_key(&key).await?;
        let view = SessionView::from(&row);
        self.spawn(row, None);
        Ok(view)
    }

    /// Unlinks (when linked), wipes the store and forgets the session.
    pub async fn delete(&self, scope: &Scope, name: &str) -> Result<(), SessionError> {
        let key = self.get(scope, name).await?.id;
        self.remove(&key).await
    }

    /// The owner of the session with key `key`, deleted or not (its messages stay theirs).
    pub async fn owner_of(&self, key: &SessionKey) -> Result<Option<i64>, SessionError> {
        if let Some(row) = self.0.rows.lock().expect("rows lock").get(key) {
            return Ok(Some(row.user_id));
        }
        Ok(records::owner_of(&self.0.db, key).await?)
    }

    /// The keys of the sessions `scope` may see, deleted ones included (for their messages).
    pub async fn keys_with_deleted(&self, scope: &Scope) -> Result<Vec<SessionKey>, SessionError> {
        Ok(records::keys_with_deleted(&self.0.db, scope).await?)
    }

    /// The keys of `owner`'s sessions.
    pub async fn keys_of(&self, owner: i64) -> Result<Vec<SessionKey>, SessionError> {
        let scope = Scope { owner: Some(owner), sessions: None, account: Some(owner) };
        Ok(records::list(&self.0.db, &scope).await?.into_iter().map(|row| row.id).collect())
    }

    /// Unlinks, stops and wipes sessions whose rows went with their owner's account.
    pub async fn discard(&self, keys: &[SessionKey]) -> Result<(), SessionError> {
        for key in keys {
            self.remove(key).await?;
        }
        Ok(())
    }

    /// The name of the session `scope` may see that has `phone` linked, if any.
    pub async fn holder_of(&self, scope: &Scope, phone: &str) -> Result<Option<String>, SessionError> {
        let holder = records::holder_of(&self.0.db, phone, scope.owner, None).await?;
        Ok(holder.filter(|row| scope.admits(row)).map(|row| row.name))
    }

    /// Deletes the sessions `scope` may see that have not been connected for
    /// `hours` (counting from creation for those never connected). Returns their names.
    pub async fn cleanup(&self, scope: &Scope, hours: u32) -> Result<Vec<String>, SessionError> {
        let cutoff = crate::db::now() - chrono::Duration::hours(i64::from(hours));
        let stale = records::stale(&self.0.db, scope, cutoff).await?;
        let mut removed = Vec::with_capacity(stale.len());
        for row in stale {
            self.remove(&row.id).await?;
            removed.push(row.name);
        }
        Ok(removed)
    }

    /// Sessions per status, for `/health` and `/metrics`.
    pub async fn counts(&self) -> Result<Vec<(SessionStatus, u64)>, SessionError> {
        records::counts(&self.0.db).await.map_err(Into::into)
    }

    /// At start-up: reconnects every linked session, a few per second
    /// (`whatsapp.restore_per_second`); sessions caught mid-link by the restart
    /// are marked stopped, to be restarted by hand.
    pub async fn restore(&self) -> Result<usize, SessionError> {
        // A crash in the middle of a delete left unsent messages or a device behind.
        for key in records::deleted_keys(&self.0.db).await? {
            let failed = self.0.queue.abandon_deleted(&key).await.map_err(|e| anyhow::anyhow!("{e}"))?;
            if failed > 0 {
                tracing::info!(session_id = %key, messages = failed, "failed the unsent messages of a deleted session");
                self.0.engine.wipe(&key).await?;
            }
        }
        let rows = records::list(&self.0.db, &Scope::ALL).await?;
        let gap = Duration::from_secs(1) / self.0.config.whatsapp.restore_per_second.max(1);
        let mut restored = Vec::new();
        for row in rows {
            let status = row.status;
            match status {
                SessionStatus::LoggedOut | SessionStatus::Stopped | SessionStatus::DuplicatePhone => {}
                _ if !records::linked(&row) => {
                    let change = records::Change::status(SessionStatus::Stopped)
                        .reason(Some("the gateway restarted before this session was linked".into()));
                    self.0.record(&row.id, change).await?;
                }
                _ => restored.push(row),
            }
        }
        let count = restored.len();
        let this = self.clone();
        tokio::spawn(async move {
            // Paced from one start, so what each start takes does not slow the pace.
            let began = tokio::time::Instant::now();
            // Counted once and then down (each start takes its descriptors),
            // counted again when it runs out: reading `/proc/self/fd` for each
            // of 10,000 sessions cost more than starting them.
            let mut room = capacity::Room::now();
            for (started, row) in (1u32..).zip(restored) {
                if room.is_some_and(|r| r.sessions_left == 0) || started % RECOUNT_EVERY == 0 {
                    room = capacity::Room::now();
                }
                if let Some(room) = room.filter(|r| r.sessions_left == 0) {
                    // Started, it would fail half way; stopped, it says why.
                    tracing::error!(session_id = %row.id, open_files = room.open_files, limit = room.open_files_limit,
                        "no room for this session under the open-files limit; it stays stopped");
                    let reason = "not started: no room under the gateway's open-files limit; raise it and restart";
                    let change = records::Change::status(SessionStatus::Stopped).reason(Some(reason.into()));
                    if let Err(e) = this.0.record(&row.id, change).await {
                        tracing::warn!(session_id = %row.id, error = %e, "cannot record session status");
                    }
                    continue;
                }
                if let Some(room) = &mut room {
                    room.sessions_left = room.sessions_left.saturating_sub(1);
                }
                this.spawn(row, None);
                tokio::time::sleep_until(began + gap * started).await;
            }
        });
        Ok(count)
    }

    /// Stops every session without changing its stored status, so the next
    /// start restores it.
    pub async fn shutdown(&self) {
        let keys: Vec<SessionKey> = self.0.running.lock().expect("registry lock").keys().cloned().collect();
        let stops = keys.iter().map(|key| self.stop(key));
        futures_util::future::join_all(stops).await;
    }

    /// Refuses a number `owner` has linked in another session (than the one with key `except`).
    async fn refuse_taken(&self, phone: &str, owner: i64, except: Option<&SessionKey>) -> Result<(), SessionError> {
        match records::holder_of(&self.0.db, phone, Some(owner), except).await? {
            Some(row) => Err(SessionError::PhoneTaken { phone: phone.to_owned(), session: row.name }),
            None => Ok(()),
        }
    }

    async fn remove(&self, key: &SessionKey) -> Result<(), SessionError> {
        // Its accepted messages stay; those not sent fail, saying why (before the
        // logout, which would say "logged out"). Then the row is marked deleted
        // (no start-up restores it), then the device goes.
        let abandon = || async { self.0.queue.abandon_deleted(key).await.map_err(|e| anyhow::anyhow!("{e}")) };
        abandon().await?;
        let (reply, done) = oneshot::channel();
        if self.send(key, Command::Logout { reply }).is_ok() {
            let _ = done.await;
        }
        self.stop(key).await;
        records::mark_deleted(&self.0.db, key).await?;
        if let Some(row) = self.0.rows.lock().expect("rows lock").remove(key) {
            self.0.names.lock().expect("names lock").remove(&(row.user_id, row.name));
        }
        // A send that looked the session up just before the mark may have queued since.
        abandon().await?;
        self.0.engine.wipe(key).await?;
        self.0.queue.forget(key);
        Ok(())
    }

    /// Waits (briefly) until the running session's live state satisfies `ready`.
    async fn wait_live(
        &self,
        key: &SessionKey,
        ready: impl FnMut(&LiveState) -> bool,
    ) -> Result<LiveState, SessionError> {
        let live = self.0.running.lock().expect("registry lock").get(key).map(|r| r.live.clone());
        let mut live = live.ok_or(SessionError::NotRunning)?;
        match tokio::time::timeout(FIRST_CODE_WAIT, live.wait_for(ready)).await {
            Ok(Ok(state)) => Ok(state.clone()),
            Ok(Err(_)) => Err(SessionError::NotRunning),
            Err(_) => Err(SessionError::Timeout),
        }
    }

    fn send(&self, key: &SessionKey, command: Command) -> Result<(), SessionError> {
        let running = self.0.running.lock().expect("registry lock");
        let session = running.get(key).ok_or(SessionError::NotRunning)?;
        session.commands.send(command).map_err(|_| SessionError::NotRunning)
    }

    /// Stops the session's supervisor, if any, and waits for it to finish.
    async fn stop(&self, key: &SessionKey) {
        let Some(running) = self.0.running.lock().expect("registry lock").remove(key) else { return };
        let (reply, done) = oneshot::channel();
        if running.commands.send(Command::Stop { reply }).is_ok() {
            let _ = done.await;
        }
        let _ = running.task.await;
    }

    /// Room now for the sessions not started yet.
    pub fn room(&self) -> Option<capacity::Room> {
        capacity::Room::now()
    }

    fn spawn(&self, row: rows::Model, pair_phone: Option<String>) {
        let generation = self.0.generations.fetch_add(1, Ordering::Relaxed);
        let (commands, inbox) = mpsc::unbounded_channel();
        let (live_tx, live) = watch::channel(LiveState::default());
        let key = row.id.clone();
        let manager = self.clone();
        // Held across the spawn so the task cannot forget itself before it is registered.
        let mut running = self.0.running.lock().expect("registry lock");
        let registered = key.clone();
        let task = tokio::spawn(async move {
            let run = tokio::spawn(supervisor::run(manager.clone(), row, pair_phone, inbox, live_tx));
            if let Err(e) = run.await
                && e.is_panic()
            {
                // A bug in one session must not go unseen, nor take others down.
                tracing::error!(session_id = %key, "session supervisor panicked");
                let change = records::Change::status(SessionStatus::Stopped)
                    .reason(Some("internal error; POST /session/restart starts it again".into()));
                if let Err(e) = manager.0.record(&key, change).await {
                    tracing::warn!(session_id = %key, error = %e, "cannot record session status");
                }
            }
            manager.forget(&key, generation);
        });
        running.insert(registered, Running { generation, commands, live, task });
    }

    /// Drops a finished supervisor from the registry, unless a newer one took its place.
    fn forget(&self, key: &SessionKey, generation: u64) {
        let mut running = self.0.running.lock().expect("registry lock");
        if running.get(key).is_some_and(|r| r.generation == generation) {
            running.remove(key);
        }
    }
}

impl Manager {
    /// Caches a session row read or written here.
    fn remember(&self, row: &rows::Model) {
        self.names.lock().expect("names lock").insert((row.user_id, row.name.clone()), row.id.clone());
        self.rows.lock().expect("rows lock").insert(row.id.clone(), row.clone());
    }

    /// Logs out a session that is not connected: there is nothing to tell
    /// WhatsApp now, so its keys are forgotten.
    async fn forget_device(&self, key: &SessionKey) -> Result<(), SessionError> {
        self.engine.wipe(key).await?;
        let change = records::Change::status(SessionStatus::LoggedOut).phone(None).reason(Some("logged out".into()));
        self.record(key, change).await?;
        self.abandon_queue(key).await;
        Ok(())
    }

    /// A logged-out session's queue will never be sent (see [`crate::queue`]).
    async fn abandon_queue(&self, key: &SessionKey) {
        match self.queue.abandon(key).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(session_id = %key, messages = n, "queued messages failed: session logged out"),
            Err(e) => tracing::warn!(session_id = %key, error = %e, "cannot fail the queue of a logged-out session"),
        }
    }

    /// Writes a status change with its `session.status` event.
    async fn record(&self, key: &SessionKey, change: records::Change) -> Result<(), DbErr> {
        let mut write = self.writer.begin().await?;
        let Some(row) = records::apply(&write.tx, key, change).await? else { return Ok(()) };
        let data = serde_json::to_value(SessionView::from(&row)).unwrap_or_default();
        let event = crate::events::GatewayEvent {
            kind: "session.status",
            owner: row.user_id,
            session: row.id.clone(),
            also: Vec::new(),
            agent: None,
            data,
        };
        write.emit(vec![event]).await?;
        write.commit_and(|| self.remember(&row)).await
    }
}

/// There is room under the open-files limit for one more session (or it
/// cannot be told: then the client's own errors say it).
fn room_for_one() -> Result<(), SessionError> {
    match capacity::Room::now() {
        Some(room) if room.sessions_left == 0 => Err(SessionError::Capacity(room)),
        _ => Ok(()),
    }
}
