//! The device stores of every session in one database: whatsapp-rust's
//! storage [`Backend`] (keys, Signal sessions, pre-keys, app-state sync, the
//! pending-inbound buffer of the durability hook) as rows keyed by a device
//! id, instead of a SQLite file with its own connection per session.
//!
//! On MySQL/MariaDB the tables live in the gateway's database (a cluster's
//! nodes share them). On SQLite they live in `sessions_dir/devices.sqlite`,
//! apart from the gateway's database: a Signal ratchet step is written with
//! `synchronous = NORMAL` (safe against a killed process, as the per-session
//! files were), while the send queue keeps its fsync per commit. Writes to
//! that file take turns, those waiting committed together ([`Stores::write`]);
//! reads run beside them (WAL).
//!
//! A session's descriptors are then its socket alone, and an idle session
//! holds no connection, page cache or prepared statements of its own.
//! A session linked by an earlier version, with a file of its own
//! (`sessions_dir/<id>.db`), moves in at its first start ([`Stores::import`]).

use std::{path::Path, sync::Arc, time::Duration};

use super::retention::Watermark;
use anyhow::Context;
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseBackend, DatabaseConnection, DbErr, QueryResult, Statement,
    TransactionTrait, Value,
    sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous},
};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use whatsapp_rust::{
    async_trait,
    bytes::Bytes,
    wacore::{
        appstate::{hash::HashState, processor::AppStateMutationMAC},
        store::{
            Device as StoredDevice,
            error::{Result, StoreError},
            traits::{
                AppStateSyncKey, AppSyncStore, DeviceListRecord, DeviceStore, LidPnMappingEntry, MsgSecretEntry,
                MsgSecretStore, PendingInboundKey, PendingInboundRow, ProtocolStore, SignalStore, TcTokenEntry,
            },
        },
    },
};

/// The file of the shared store on SQLite, in `sessions_dir` (session ids
/// have no dots, so no session's own `<id>.db` can be named so).
pub const SQLITE_FILE: &str = "devices.sqlite";

/// Connections to the SQLite file: one writes at a time, the others read.
const SQLITE_CONNECTIONS: u32 = 4;

/// How long an operation waits for an unavailable database (see
/// [`Stores::patiently`]) before it fails.
const PATIENCE: Duration = Duration::from_secs(120);

/// The tables, in a notation both databases are written from: `{key}` an
/// identifier column (JIDs, addresses, message ids: ASCII, compared
/// byte-wise), `{bin}` a short binary key, `{blob}` a value, `{int}` a 64-bit
/// integer, `{end}` the table options.
const TABLES: &[&str] = &[
    "wa_devices (id {serial}, session {key} NOT NULL UNIQUE, data {blob}){rowid}",
    "wa_identities (device_id {int} NOT NULL, address {key} NOT NULL, identity_key {blob} NOT NULL, \
     PRIMARY KEY (device_id, address)){end}",
    "wa_signal_sessions (device_id {int} NOT NULL, address {key} NOT NULL, record {blob} NOT NULL, \
     PRIMARY KEY (device_id, address)){end}",
    "wa_prekeys (device_id {int} NOT NULL, id {int} NOT NULL, record {blob} NOT NULL, uploaded {int} NOT NULL, \
     PRIMARY KEY (device_id, id)){end}",
    "wa_signed_prekeys (device_id {int} NOT NULL, id {int} NOT NULL, record {blob} NOT NULL, \
     PRIMARY KEY (device_id, id)){end}",
    "wa_sender_keys (device_id {int} NOT NULL, address {key} NOT NULL, record {blob} NOT NULL, \
     PRIMARY KEY (device_id, address)){end}",
    "wa_app_state_keys (device_id {int} NOT NULL, key_id {bin} NOT NULL, data {blob} NOT NULL, \
     PRIMARY KEY (device_id, key_id)){end}",
    "wa_app_state_versions (device_id {int} NOT NULL, name {key} NOT NULL, state {blob} NOT NULL, \
     PRIMARY KEY (device_id, name)){end}",
    "wa_app_state_macs (device_id {int} NOT NULL, name {key} NOT NULL, index_mac {bin} NOT NULL, \
     version {int} NOT NULL, value_mac {blob} NOT NULL, PRIMARY KEY (device_id, name, index_mac)){end}",
    "wa_sender_key_devices (device_id {int} NOT NULL, group_jid {key} NOT NULL, device_jid {key} NOT NULL, \
     has_key {int} NOT NULL, updated_at {int} NOT NULL, PRIMARY KEY (device_id, group_jid, device_jid)){end}",
    "wa_lid_map (device_id {int} NOT NULL, lid {key} NOT NULL, phone {key} NOT NULL, created_at {int} NOT NULL, \
     updated_at {int} NOT NULL, learning_source {key} NOT NULL, PRIMARY KEY (device_id, lid){phone_index}){end}",
    "wa_base_keys (device_id {int} NOT NULL, address {key} NOT NULL, message_id {key} NOT NULL, \
     base_key {blob} NOT NULL, created_at {int} NOT NULL, PRIMARY KEY (device_id, address, message_id)){end}",
    "wa_device_lists (device_id {int} NOT NULL, user_id {key} NOT NULL, record {blob} NOT NULL, \
     PRIMARY KEY (device_id, user_id)){end}",
    "wa_group_metadata (device_id {int} NOT NULL, group_jid {key} NOT NULL, info {blob} NOT NULL, \
     PRIMARY KEY (device_id, group_jid)){end}",
    "wa_tc_tokens (device_id {int} NOT NULL, jid {key} NOT NULL, token {blob} NOT NULL, token_ts {int} NOT NULL, \
     sender_ts {int}, updated_at {int} NOT NULL, PRIMARY KEY (device_id, jid)){end}",
    "wa_sent_messages (device_id {int} NOT NULL, chat {key} NOT NULL, message_id {key} NOT NULL, \
     payload {blob} NOT NULL, created_at {int} NOT NULL, PRIMARY KEY (device_id, chat, message_id)){end}",
    "wa_pending_inbound (device_id {int} NOT NULL, chat {key} NOT NULL, sender {key} NOT NULL, \
     message_id {key} NOT NULL, message {blob} NOT NULL, inserted_at {int} NOT NULL, \
     PRIMARY KEY (device_id, chat, sender, message_id)){end}",
    "wa_msg_secrets (device_id {int} NOT NULL, chat {key} NOT NULL, sender {key} NOT NULL, \
     message_id {key} NOT NULL, secret {blob} NOT NULL, created_at {int} NOT NULL, expires_at {int} NOT NULL, \
     message_ts {int} NOT NULL, PRIMARY KEY (device_id, chat, sender, message_id)){end}",
];

/// The tables holding a device's rows (all but `wa_devices`).
const DEVICE_TABLES: &[&str] = &[
    "wa_identities",
    "wa_signal_sessions",
    "wa_prekeys",
    "wa_signed_prekeys",
    "wa_sender_keys",
    "wa_app_state_keys",
    "wa_app_state_versions",
    "wa_app_state_macs",
    "wa_sender_key_devices",
    "wa_lid_map",
    "wa_base_keys",
    "wa_device_lists",
    "wa_group_metadata",
    "wa_tc_tokens",
    "wa_sent_messages",
    "wa_pending_inbound",
    "wa_msg_secrets",
];

/// The CREATE statements of [`TABLES`] for `backend`.
fn schema(backend: DatabaseBackend) -> Vec<String> {
    let mysql = backend == DatabaseBackend::MySql;
    let mut statements: Vec<String> = TABLES
        .iter()
        .map(|table| {
            let body = if mysql {
                table
                    .replace("{serial}", "BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY")
                    .replace("{key}", "VARCHAR(190) CHARACTER SET ascii COLLATE ascii_bin")
                    .replace("{bin}", "VARBINARY(64)")
                    .replace("{blob}", "MEDIUMBLOB")
                    .replace("{int}", "BIGINT")
                    .replace("{phone_index}", ", INDEX wa_lid_map_phone (device_id, phone)")
                    .replace("{rowid}", "{end}")
                    .replace("{end}", " ENGINE=InnoDB")
            } else {
                table
                    .replace("{serial}", "INTEGER PRIMARY KEY AUTOINCREMENT")
                    .replace("{key}", "TEXT")
                    .replace("{bin}", "BLOB")
                    .replace("{blob}", "BLOB")
                    .replace("{int}", "INTEGER")
                    .replace("{phone_index}", "")
                    .replace("{rowid}", "")
                    .replace("{end}", " WITHOUT ROWID")
            };
            format!("CREATE TABLE IF NOT EXISTS {body}")
        })
        .collect();
    if !mysql {
        statements.push("CREATE INDEX IF NOT EXISTS wa_lid_map_phone ON wa_lid_map (device_id, phone)".into());
    }
    statements
}

/// Keys one batched read asks for (pre-keys, app-state MACs).
const KEYS_PER_QUERY: usize = 200;

/// Rows one merged statement carries at most (see [`merged`]).
const ROWS_PER_STATEMENT: usize = 100;

/// `statements` with runs of the same one-row `INSERT … VALUES (?, …) …`
/// merged into multi-row ones: linking writes 812 pre-keys, which as one
/// statement each held the SQLite writers' turn for tens of milliseconds.
/// Each row is applied as it would be alone, in order (an upsert's later row
/// for the same key updates the earlier one).
fn merged(statements: Vec<(String, Vec<Value>)>) -> Vec<(String, Vec<Value>)> {
    let mut out = Vec::with_capacity(statements.len());
    let mut rest = statements.into_iter().peekable();
    while let Some((sql, mut values)) = rest.next() {
        let Some((head, row, tail)) = split_row(&sql) else {
            out.push((sql, values));
            continue;
        };
        let mut rows = 1;
        while rows < ROWS_PER_STATEMENT
            && let Some((_, more)) = rest.next_if(|(next, _)| *next == sql)
        {
            values.extend(more);
            rows += 1;
        }
        if rows == 1 {
            out.push((sql, values));
        } else {
            out.push((format!("{head}{}{tail}", vec![row; rows].join(", ")), values));
        }
    }
    out
}

/// An `INSERT` of one row cut around its row of marks: `INSERT … VALUES `,
/// `(?, …)`, and what follows.
fn split_row(sql: &str) -> Option<(&str, &str, &str)> {
    if !sql.starts_with("INSERT INTO ") {
        return None;
    }
    let start = sql.find(" VALUES (")? + " VALUES ".len();
    let end = start + sql[start..].find(')')? + 1;
    let row = &sql[start..end];
    row[1..row.len() - 1].split(", ").all(|mark| mark == "?").then(|| (&sql[..start], row, &sql[end..]))
}

fn db_error(e: DbErr) -> StoreError {
    StoreError::Database(Box::new(e))
}

fn json_error(e: serde_json::Error) -> StoreError {
    StoreError::Serialization(Box::new(e))
}

fn now_secs() -> i64 {
    whatsapp_rust::wacore::time::now_secs()
}

/// Runs `attempt` until it succeeds, fails for good, or the database has
/// been unavailable for [`PATIENCE`]: a Signal session read or written
/// while the database is away (MySQL restarting, a network cut) waits
/// for it, holding back only the chat it serves, instead of failing a
/// message's decryption. Every statement here is safe to run again.
async fn patiently<T, F, Fut>(attempt: F) -> Result<T>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = std::result::Result<T, DbErr>>,
{
    let since = tokio::time::Instant::now();
    let mut pause = Duration::from_millis(100);
    loop {
        match attempt().await {
            Ok(done) => return Ok(done),
            Err(e) if crate::db::health::is_unavailable(&e) && since.elapsed() < PATIENCE => {
                if pause == Duration::from_millis(100) {
                    tracing::warn!(error = %e, "the device store's database is unavailable; waiting for it");
                }
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(2));
            }
            Err(e) => return Err(db_error(e)),
        }
    }
}

/// The error of a write whose committing task ended without an outcome.
fn gone() -> StoreError {
    StoreError::Database("the device store's writer ended before the write was committed".into())
}

/// The shared store: the database and, on SQLite, the turn writers take.
pub struct Stores {
    db: DatabaseConnection,
    backend: DatabaseBackend,
    /// SQLite: one writer at a time (a second would wait in SQLite's busy
    /// handler, which sleeps in steps). MySQL: none; rows lock themselves.
    writer: Option<Arc<Semaphore>>,
    /// SQLite: the writes waiting for the turn; whoever gets it commits
    /// them all in one transaction (see [`Stores::write`]).
    waiting: Arc<std::sync::Mutex<Vec<Write>>>,
}

/// At most this many writes share a transaction.
const WRITES_PER_COMMIT: usize = 256;

/// A write waiting for the writers' turn: its statements, applied together
/// or not at all, and where its outcome (rows changed) goes.
struct Write {
    statements: Vec<Statement>,
    done: tokio::sync::oneshot::Sender<Result<u64>>,
}

impl Stores {
    /// The shared store: on MySQL/MariaDB the gateway's database `gateway`,
    /// on SQLite the file in `sessions_dir`. Creates the tables it lacks.
    pub async fn open(gateway: &DatabaseConnection, sessions_dir: &Path) -> anyhow::Result<Arc<Stores>> {
        let (db, writer) = match gateway.get_database_backend() {
            DatabaseBackend::Sqlite => {
                let file = sessions_dir.join(SQLITE_FILE);
                crate::files::private_database_file(&file)
                    .with_context(|| format!("making {} the gateway's alone", file.display()))?;
                let mut options = ConnectOptions::new(format!("sqlite://{}?mode=rwc", file.display()));
                options
                    .max_connections(SQLITE_CONNECTIONS)
                    .min_connections(1)
                    .connect_timeout(Duration::from_secs(10))
                    .acquire_timeout(Duration::from_secs(30))
                    .sqlx_logging(false)
                    .map_sqlx_sqlite_opts(|o| {
                        o.journal_mode(SqliteJournalMode::Wal)
                            .synchronous(SqliteSynchronous::Normal)
                            .busy_timeout(Duration::from_secs(30))
                            .pragma("cache_size", "-8192")
                    });
                let db = Database::connect(options)
                    .await
                    .with_context(|| format!("opening the device store {}", file.display()))?;
                (db, Some(Arc::new(Semaphore::new(1))))
            }
            _ => (gateway.clone(), None),
        };
        let backend = db.get_database_backend();
        for statement in schema(backend) {
            db.execute_unprepared(&statement).await.context("creating the device store's tables")?;
        }
        Ok(Arc::new(Stores { db, backend, writer, waiting: Default::default() }))
    }

    /// The store of `session`'s device (its row is made if missing).
    pub async fn device(self: &Arc<Self>, session: &str) -> anyhow::Result<SessionStore> {
        if let Some(id) = self.device_id(session).await? {
            return Ok(SessionStore::new(self.clone(), id, false));
        }
        let insert = match self.backend {
            DatabaseBackend::MySql => "INSERT IGNORE INTO wa_devices (session) VALUES (?)",
            _ => "INSERT INTO wa_devices (session) VALUES (?) ON CONFLICT (session) DO NOTHING",
        };
        let made = self.exec(insert, vec![session.into()]).await? > 0;
        let id = self.device_id(session).await?.context("the device row was not made")?;
        Ok(SessionStore::new(self.clone(), id, made))
    }

    async fn device_id(&self, session: &str) -> Result<Option<i64>> {
        let row = self.one("SELECT id FROM wa_devices WHERE session = ?", vec![session.into()]).await?;
        row.map(|row| row.try_get_by_index::<i64>(0).map_err(db_error)).transpose()
    }

    /// Whether `session` has a device here (linked or linking).
    pub async fn holds(&self, session: &str) -> anyhow::Result<bool> {
        Ok(self.device_id(session).await?.is_some())
    }

    /// Removes `session`'s device and every row of it, in one transaction.
    pub async fn wipe(&self, session: &str) -> anyhow::Result<()> {
        let Some(id) = self.device_id(session).await? else { return Ok(()) };
        let _turn = self.turn().await?;
        let txn = self.db.begin().await?;
        txn.execute_raw(self.statement("DELETE FROM wa_devices WHERE id = ?", vec![id.into()])).await?;
        for table in DEVICE_TABLES {
            txn.execute_raw(self.statement(&format!("DELETE FROM {table} WHERE device_id = ?"), vec![id.into()]))
                .await?;
        }
        txn.commit().await?;
        Ok(())
    }

    /// Moves the device of `session` from `file`, the whatsapp-rust SQLite
    /// store an earlier version kept per session, into this store in one
    /// transaction, then renames the file (and its WAL) `<key>.db.imported`:
    /// kept until the operator removes it, never read again. A crash before
    /// the rename imports nothing twice: a device already here is kept.
    pub async fn import(self: &Arc<Self>, session: &str, file: &Path) -> anyhow::Result<SessionStore> {
        let mut target = self.device(session).await?;
        if !DeviceStore::exists(&target).await? {
            let url = file.to_str().context("store path is not UTF-8")?;
            let legacy = whatsapp_rust::store::SqliteStore::with_config(url, Default::default())
                .await
                .with_context(|| format!("opening {}", file.display()))?;
            let statements = legacy_rows(&target, &legacy, url).await?;
            self.exec_all(statements).await.context("copying the device")?;
            drop(legacy);
            // Rows came in beside its writes: what expires is not known.
            target = SessionStore::new(self.clone(), target.id, false);
            tracing::info!(session_id = session, file = %file.display(), "moved the device into the shared store");
        }
        for suffix in ["", "-wal", "-shm"] {
            let mut from = file.as_os_str().to_owned();
            from.push(suffix);
            let mut to = file.as_os_str().to_owned();
            to.push(".imported");
            to.push(suffix);
            match std::fs::rename(&from, &to) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(anyhow::Error::from(e).context(format!("renaming {}", Path::new(&from).display())));
                }
                _ => {}
            }
        }
        Ok(target)
    }

    fn statement(&self, sql: &str, values: Vec<Value>) -> Statement {
        Statement::from_sql_and_values(self.backend, sql, values)
    }

    /// The writers' turn (SQLite), held until dropped.
    async fn turn(&self) -> Result<Option<OwnedSemaphorePermit>> {
        match &self.writer {
            Some(writer) => {
                Ok(Some(writer.clone().acquire_owned().await.map_err(|e| StoreError::Database(Box::new(e)))?))
            }
            None => Ok(None),
        }
    }

    /// Runs one statement; the rows it changed.
    async fn exec(&self, sql: &str, values: Vec<Value>) -> Result<u64> {
        self.write(vec![self.statement(sql, values)]).await
    }

    /// Runs every statement in one transaction.
    async fn exec_all(&self, statements: Vec<(String, Vec<Value>)>) -> Result<()> {
        if statements.is_empty() {
            return Ok(());
        }
        let statements = merged(statements).into_iter().map(|(sql, values)| self.statement(&sql, values)).collect();
        self.write(statements).await.map(drop)
    }

    /// Applies `statements` together, returning the rows they changed. On
    /// SQLite the write joins those waiting for the writers' turn, and
    /// whichever of them gets the turn commits all that wait (up to
    /// [`WRITES_PER_COMMIT`]) in one transaction: a commit (its WAL append
    /// and locks) per turn rather than per Signal session or pre-key
    /// written, while each caller still returns only once its write is
    /// committed. The commit runs in a task of its own, so a caller that
    /// gives up waiting loses no one else's write (its own is still
    /// committed, in its turn, before any it makes later).
    async fn write(&self, statements: Vec<Statement>) -> Result<u64> {
        let Some(writer) = &self.writer else {
            return Self::apply(&self.db, &statements).await;
        };
        let (done, mut outcome) = tokio::sync::oneshot::channel();
        self.waiting.lock().unwrap_or_else(|e| e.into_inner()).push(Write { statements, done });
        loop {
            let turn = tokio::select! {
                biased;
                outcome = &mut outcome => return outcome.unwrap_or_else(|_| Err(gone())),
                turn = writer.clone().acquire_owned() => turn.map_err(|e| StoreError::Database(Box::new(e)))?,
            };
            let writes = {
                let mut waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
                let first = waiting.len().min(WRITES_PER_COMMIT);
                let rest = waiting.split_off(first);
                std::mem::replace(&mut *waiting, rest)
            };
            if writes.is_empty() {
                continue; // ours was committed by an earlier turn: its outcome is there
            }
            let db = self.db.clone();
            // The turn goes with the task: released once the commit is done.
            let _ = tokio::spawn(async move {
                Self::commit(&db, writes).await;
                drop(turn);
            })
            .await;
        }
    }

    /// Commits `writes` in one transaction and tells each its outcome. When
    /// a write fails, each is tried alone, so one bad write fails no other;
    /// when the database stayed away past [`PATIENCE`], all fail at once.
    async fn commit(db: &DatabaseConnection, writes: Vec<Write>) {
        if writes.len() > 1 {
            let away = std::sync::atomic::AtomicBool::new(false);
            let together = patiently(|| async {
                let attempt = async {
                    let txn = db.begin().await?;
                    let mut rows = Vec::with_capacity(writes.len());
                    for write in &writes {
                        let mut changed = 0;
                        for statement in &write.statements {
                            changed += txn.execute_raw(statement.clone()).await?.rows_affected();
                        }
                        rows.push(changed);
                    }
                    txn.commit().await?;
                    Ok(rows)
                };
                let outcome = attempt.await;
                if let Err(e) = &outcome {
                    away.store(crate::db::health::is_unavailable(e), std::sync::atomic::Ordering::Relaxed);
                }
                outcome
            })
            .await;
            match together {
                Ok(rows) => {
                    for (write, rows) in writes.into_iter().zip(rows) {
                        let _ = write.done.send(Ok(rows));
                    }
                    return;
                }
                Err(e) if away.load(std::sync::atomic::Ordering::Relaxed) => {
                    let error = e.to_string();
                    for write in writes {
                        let _ = write.done.send(Err(StoreError::Database(error.clone().into())));
                    }
                    return;
                }
                Err(_) => {}
            }
        }
        for write in writes {
            let outcome = Self::apply(db, &write.statements).await;
            let _ = write.done.send(outcome);
        }
    }

    /// Runs `statements` in a transaction of their own (one alone needs none).
    async fn apply(db: &DatabaseConnection, statements: &[Statement]) -> Result<u64> {
        if let [statement] = statements {
            return patiently(|| db.execute_raw(statement.clone())).await.map(|done| done.rows_affected());
        }
        patiently(|| async {
            let txn = db.begin().await?;
            let mut changed = 0;
            for statement in statements {
                changed += txn.execute_raw(statement.clone()).await?.rows_affected();
            }
            txn.commit().await?;
            Ok(changed)
        })
        .await
    }

    async fn one(&self, sql: &str, values: Vec<Value>) -> Result<Option<QueryResult>> {
        let statement = self.statement(sql, values);
        patiently(|| self.db.query_one_raw(statement.clone())).await
    }

    async fn all(&self, sql: &str, values: Vec<Value>) -> Result<Vec<QueryResult>> {
        let statement = self.statement(sql, values);
        patiently(|| self.db.query_all_raw(statement.clone())).await
    }

    /// `INSERT … ` of `columns` into `table`, replacing `update` on a
    /// conflict on `keys` with the new row's values.
    fn upsert(&self, table: &str, columns: &[&str], keys: &[&str], update: &[&str]) -> String {
        let sets: Vec<String> = update.iter().map(|c| format!("{c} = {}", self.new_value(c))).collect();
        self.upsert_with(table, columns, keys, &sets.join(", "))
    }

    /// [`upsert`](Self::upsert) with the assignments written out (see
    /// [`new_value`](Self::new_value) and [`greatest`](Self::greatest)).
    fn upsert_with(&self, table: &str, columns: &[&str], keys: &[&str], sets: &str) -> String {
        let marks = vec!["?"; columns.len()].join(", ");
        let columns = columns.join(", ");
        match self.backend {
            DatabaseBackend::MySql => {
                format!("INSERT INTO {table} ({columns}) VALUES ({marks}) ON DUPLICATE KEY UPDATE {sets}")
            }
            _ => format!(
                "INSERT INTO {table} ({columns}) VALUES ({marks}) ON CONFLICT ({}) DO UPDATE SET {sets}",
                keys.join(", ")
            ),
        }
    }

    /// The inserted row's `column` in an upsert's assignments.
    fn new_value(&self, column: &str) -> String {
        match self.backend {
            DatabaseBackend::MySql => format!("VALUES({column})"),
            _ => format!("excluded.{column}"),
        }
    }

    /// The larger of two values.
    fn greatest(&self) -> &'static str {
        match self.backend {
            DatabaseBackend::MySql => "GREATEST",
            _ => "MAX",
        }
    }
}

/// One session's device in the shared store: whatsapp-rust's [`Backend`](whatsapp_rust::wacore::store::traits::Backend).
pub struct SessionStore {
    stores: Arc<Stores>,
    id: i64,
    /// What expires when, in the tables whatsapp-rust sweeps.
    sent: Watermark,
    pending: Watermark,
    secrets: Watermark,
}

fn bytes_of(row: &QueryResult, index: usize) -> Result<Vec<u8>> {
    row.try_get_by_index::<Vec<u8>>(index).map_err(db_error)
}

fn int_of(row: &QueryResult, index: usize) -> Result<i64> {
    row.try_get_by_index::<i64>(index).map_err(db_error)
}

fn text_of(row: &QueryResult, index: usize) -> Result<String> {
    row.try_get_by_index::<String>(index).map_err(db_error)
}

impl SessionStore {
    /// The store of device `id`; `made`: its row was just made, so it has no
    /// other rows.
    fn new(stores: Arc<Stores>, id: i64, made: bool) -> SessionStore {
        let mark = if made { Watermark::empty } else { Watermark::unknown };
        SessionStore { stores, id, sent: mark(), pending: mark(), secrets: mark() }
    }

    fn d(&self) -> Value {
        self.id.into()
    }

    /// The blob in the first column of the row `sql` finds, if any.
    async fn blob(&self, sql: &str, values: Vec<Value>) -> Result<Option<Vec<u8>>> {
        self.stores.one(sql, values).await?.map(|row| bytes_of(&row, 0)).transpose()
    }

    async fn found(&self, sql: &str, values: Vec<Value>) -> Result<bool> {
        Ok(self.stores.one(sql, values).await?.is_some())
    }

    /// Deletes this device's rows of `table` whose `column` is before
    /// `cutoff` (`strictly`) or at it, among those `expiring` selects (an SQL
    /// condition or `TRUE`), unless `mark` shows there are none; then learns
    /// what is left (see [`Watermark`]).
    async fn expire(
        &self,
        mark: &Watermark,
        table: &str,
        column: &str,
        expiring: &str,
        cutoff: i64,
        strictly: bool,
    ) -> Result<u32> {
        if !mark.may_expire(cutoff, strictly) {
            return Ok(0);
        }
        mark.sweeping();
        let op = if strictly { "<" } else { "<=" };
        let swept = async {
            let delete = format!("DELETE FROM {table} WHERE device_id = ? AND {expiring} AND {column} {op} ?");
            let deleted = self.stores.exec(&delete, vec![self.d(), cutoff.into()]).await?;
            let least = format!("SELECT MIN({column}) FROM {table} WHERE device_id = ? AND {expiring}");
            let least = match self.stores.one(&least, vec![self.d()]).await? {
                Some(row) => row.try_get_by_index::<Option<i64>>(0).map_err(db_error)?,
                None => None,
            };
            Ok((deleted, least))
        };
        match swept.await {
            Ok((deleted, least)) => {
                mark.swept(least);
                Ok(u32::try_from(deleted).unwrap_or(u32::MAX))
            }
            Err(e) => {
                mark.failed();
                Err(e)
            }
        }
    }

    fn put_identity_statement(&self, address: &str, key: &[u8]) -> (String, Vec<Value>) {
        let sql = self.stores.upsert(
            "wa_identities",
            &["device_id", "address", "identity_key"],
            &["device_id", "address"],
            &["identity_key"],
        );
        (sql, vec![self.d(), address.into(), key.to_vec().into()])
    }

    fn put_session_statement(&self, address: &str, record: &[u8]) -> (String, Vec<Value>) {
        let sql = self.stores.upsert(
            "wa_signal_sessions",
            &["device_id", "address", "record"],
            &["device_id", "address"],
            &["record"],
        );
        (sql, vec![self.d(), address.into(), record.to_vec().into()])
    }

    fn put_prekey_statement(&self, id: u32, record: &[u8], uploaded: bool) -> (String, Vec<Value>) {
        let sql = self.stores.upsert(
            "wa_prekeys",
            &["device_id", "id", "record", "uploaded"],
            &["device_id", "id"],
            &["record", "uploaded"],
        );
        (sql, vec![self.d(), i64::from(id).into(), record.to_vec().into(), i64::from(uploaded).into()])
    }

    fn put_sender_key_statement(&self, address: &str, record: &[u8]) -> (String, Vec<Value>) {
        let sql = self.stores.upsert(
            "wa_sender_keys",
            &["device_id", "address", "record"],
            &["device_id", "address"],
            &["record"],
        );
        (sql, vec![self.d(), address.into(), record.to_vec().into()])
    }

    fn put_lid_statement(&self, entry: &LidPnMappingEntry) -> (String, Vec<Value>) {
        let sql = self.stores.upsert(
            "wa_lid_map",
            &["device_id", "lid", "phone", "created_at", "updated_at", "learning_source"],
            &["device_id", "lid"],
            &["phone", "updated_at", "learning_source"],
        );
        (
            sql,
            vec![
                self.d(),
                entry.lid.as_str().into(),
                entry.phone_number.as_str().into(),
                entry.created_at.into(),
                entry.updated_at.into(),
                entry.learning_source.as_str().into(),
            ],
        )
    }

    fn put_device_list_statement(&self, record: &DeviceListRecord) -> Result<(String, Vec<Value>)> {
        let sql = self.stores.upsert(
            "wa_device_lists",
            &["device_id", "user_id", "record"],
            &["device_id", "user_id"],
            &["record"],
        );
        let json = serde_json::to_vec(record).map_err(json_error)?;
        Ok((sql, vec![self.d(), record.user.as_str().into(), json.into()]))
    }

    fn pending_statement(&self, chat: &str, sender: &str, id: &str, message: &[u8]) -> (String, Vec<Value>) {
        let sql = self.stores.upsert(
            "wa_pending_inbound",
            &["device_id", "chat", "sender", "message_id", "message", "inserted_at"],
            &["device_id", "chat", "sender", "message_id"],
            &["message", "inserted_at"],
        );
        (sql, vec![self.d(), chat.into(), sender.into(), id.into(), message.to_vec().into(), now_secs().into()])
    }

    fn delete_pending_statement(&self, chat: &str, sender: &str, id: &str) -> (String, Vec<Value>) {
        (
            "DELETE FROM wa_pending_inbound WHERE device_id = ? AND chat = ? AND sender = ? AND message_id = ?".into(),
            vec![self.d(), chat.into(), sender.into(), id.into()],
        )
    }

    fn put_tc_token_statement(&self, jid: &str, entry: &TcTokenEntry) -> (String, Vec<Value>) {
        let sql = self.stores.upsert(
            "wa_tc_tokens",
            &["device_id", "jid", "token", "token_ts", "sender_ts", "updated_at"],
            &["device_id", "jid"],
            &["token", "token_ts", "sender_ts", "updated_at"],
        );
        (
            sql,
            vec![
                self.d(),
                jid.into(),
                entry.token.clone().into(),
                entry.token_timestamp.into(),
                entry.sender_timestamp.into(),
                now_secs().into(),
            ],
        )
    }
}

#[async_trait]
impl SignalStore for SessionStore {
    async fn put_identity(&self, address: &str, key: [u8; 32]) -> Result<()> {
        let (sql, values) = self.put_identity_statement(address, &key);
        self.stores.exec(&sql, values).await.map(drop)
    }

    async fn put_identities_batch(&self, identities: &[(Arc<str>, [u8; 32])]) -> Result<()> {
        let statements = identities.iter().map(|(address, key)| self.put_identity_statement(address, key)).collect();
        self.stores.exec_all(statements).await
    }

    async fn load_identity(&self, address: &str) -> Result<Option<[u8; 32]>> {
        let key = self
            .blob(
                "SELECT identity_key FROM wa_identities WHERE device_id = ? AND address = ?",
                vec![self.d(), address.into()],
            )
            .await?;
        key.map(|key| {
            key.try_into()
                .map_err(|key: Vec<u8>| StoreError::Validation(format!("identity key of {} bytes", key.len())))
        })
        .transpose()
    }

    async fn delete_identity(&self, address: &str) -> Result<()> {
        let sql = "DELETE FROM wa_identities WHERE device_id = ? AND address = ?";
        self.stores.exec(sql, vec![self.d(), address.into()]).await.map(drop)
    }

    async fn get_session(&self, address: &str) -> Result<Option<Bytes>> {
        let sql = "SELECT record FROM wa_signal_sessions WHERE device_id = ? AND address = ?";
        Ok(self.blob(sql, vec![self.d(), address.into()]).await?.map(Bytes::from))
    }

    async fn put_session(&self, address: &str, session: &[u8]) -> Result<()> {
        let (sql, values) = self.put_session_statement(address, session);
        self.stores.exec(&sql, values).await.map(drop)
    }

    async fn put_sessions_batch(&self, sessions: &[(Arc<str>, Bytes)]) -> Result<()> {
        let statements = sessions.iter().map(|(address, record)| self.put_session_statement(address, record)).collect();
        self.stores.exec_all(statements).await
    }

    async fn delete_session(&self, address: &str) -> Result<()> {
        let sql = "DELETE FROM wa_signal_sessions WHERE device_id = ? AND address = ?";
        self.stores.exec(sql, vec![self.d(), address.into()]).await.map(drop)
    }

    async fn has_session(&self, address: &str) -> Result<bool> {
        let sql = "SELECT 1 FROM wa_signal_sessions WHERE device_id = ? AND address = ?";
        self.found(sql, vec![self.d(), address.into()]).await
    }

    async fn has_signal_state_for_user(&self, user: &str) -> Result<bool> {
        // Addresses are `user@server` (device 0) or `user:device@server`; a
        // user is a phone number or LID, digits, so no LIKE wildcards.
        let (at, colon) = (format!("{user}@%"), format!("{user}:%"));
        for table in ["wa_signal_sessions", "wa_identities"] {
            let sql =
                format!("SELECT 1 FROM {table} WHERE device_id = ? AND (address LIKE ? OR address LIKE ?) LIMIT 1");
            if self.found(&sql, vec![self.d(), at.as_str().into(), colon.as_str().into()]).await? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    async fn store_prekey(&self, id: u32, record: &[u8], uploaded: bool) -> Result<()> {
        let (sql, values) = self.put_prekey_statement(id, record, uploaded);
        self.stores.exec(&sql, values).await.map(drop)
    }

    async fn store_prekeys_batch(&self, keys: &[(u32, Bytes)], uploaded: bool) -> Result<()> {
        let statements = keys.iter().map(|(id, record)| self.put_prekey_statement(*id, record, uploaded)).collect();
        self.stores.exec_all(statements).await
    }

    async fn load_prekey(&self, id: u32) -> Result<Option<Bytes>> {
        let sql = "SELECT record FROM wa_prekeys WHERE device_id = ? AND id = ?";
        Ok(self.blob(sql, vec![self.d(), i64::from(id).into()]).await?.map(Bytes::from))
    }

    async fn load_prekeys_batch(&self, ids: &[u32]) -> Result<Vec<(u32, Bytes)>> {
        // Whole chunks (the last padded with its last id), so that every
        // query has one of a few shapes and its prepared statement is reused.
        let mut found = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(KEYS_PER_QUERY) {
            let marks = vec!["?"; KEYS_PER_QUERY].join(", ");
            let sql = format!("SELECT id, record FROM wa_prekeys WHERE device_id = ? AND id IN ({marks})");
            let mut values = vec![self.d()];
            let last = *chunk.last().expect("chunks are not empty");
            values.extend((0..KEYS_PER_QUERY).map(|i| i64::from(*chunk.get(i).unwrap_or(&last)).into()));
            for row in self.stores.all(&sql, values).await? {
                found.push((int_of(&row, 0)? as u32, Bytes::from(bytes_of(&row, 1)?)));
            }
        }
        Ok(found)
    }

    async fn mark_prekeys_uploaded(&self, ids: &[u32]) -> Result<()> {
        // An update only: a key consumed (removed) meanwhile stays removed.
        let statements = ids
            .iter()
            .map(|id| {
                (
                    "UPDATE wa_prekeys SET uploaded = 1 WHERE device_id = ? AND id = ?".to_owned(),
                    vec![self.d(), i64::from(*id).into()],
                )
            })
            .collect();
        self.stores.exec_all(statements).await
    }

    async fn remove_prekey(&self, id: u32) -> Result<()> {
        let sql = "DELETE FROM wa_prekeys WHERE device_id = ? AND id = ?";
        self.stores.exec(sql, vec![self.d(), i64::from(id).into()]).await.map(drop)
    }

    async fn get_max_prekey_id(&self) -> Result<u32> {
        let row = self.stores.one("SELECT MAX(id) FROM wa_prekeys WHERE device_id = ?", vec![self.d()]).await?;
        let max = match row {
            Some(row) => row.try_get_by_index::<Option<i64>>(0).map_err(db_error)?,
            None => None,
        };
        Ok(max.unwrap_or(0).clamp(0, i64::from(u32::MAX)) as u32)
    }

    async fn store_signed_prekey(&self, id: u32, record: &[u8]) -> Result<()> {
        let sql =
            self.stores.upsert("wa_signed_prekeys", &["device_id", "id", "record"], &["device_id", "id"], &["record"]);
        self.stores.exec(&sql, vec![self.d(), i64::from(id).into(), record.to_vec().into()]).await.map(drop)
    }

    async fn load_signed_prekey(&self, id: u32) -> Result<Option<Vec<u8>>> {
        let sql = "SELECT record FROM wa_signed_prekeys WHERE device_id = ? AND id = ?";
        self.blob(sql, vec![self.d(), i64::from(id).into()]).await
    }

    async fn load_all_signed_prekeys(&self) -> Result<Vec<(u32, Vec<u8>)>> {
        let sql = "SELECT id, record FROM wa_signed_prekeys WHERE device_id = ? ORDER BY id";
        let rows = self.stores.all(sql, vec![self.d()]).await?;
        rows.iter().map(|row| Ok((int_of(row, 0)? as u32, bytes_of(row, 1)?))).collect()
    }

    async fn remove_signed_prekey(&self, id: u32) -> Result<()> {
        let sql = "DELETE FROM wa_signed_prekeys WHERE device_id = ? AND id = ?";
        self.stores.exec(sql, vec![self.d(), i64::from(id).into()]).await.map(drop)
    }

    async fn put_sender_key(&self, address: &str, record: &[u8]) -> Result<()> {
        let (sql, values) = self.put_sender_key_statement(address, record);
        self.stores.exec(&sql, values).await.map(drop)
    }

    async fn put_sender_keys_batch(&self, sender_keys: &[(Arc<str>, Bytes)]) -> Result<()> {
        let statements =
            sender_keys.iter().map(|(address, record)| self.put_sender_key_statement(address, record)).collect();
        self.stores.exec_all(statements).await
    }

    async fn get_sender_key(&self, address: &str) -> Result<Option<Vec<u8>>> {
        let sql = "SELECT record FROM wa_sender_keys WHERE device_id = ? AND address = ?";
        self.blob(sql, vec![self.d(), address.into()]).await
    }

    async fn delete_sender_key(&self, address: &str) -> Result<()> {
        let sql = "DELETE FROM wa_sender_keys WHERE device_id = ? AND address = ?";
        self.stores.exec(sql, vec![self.d(), address.into()]).await.map(drop)
    }
}

#[async_trait]
impl AppSyncStore for SessionStore {
    async fn get_sync_key(&self, key_id: &[u8]) -> Result<Option<AppStateSyncKey>> {
        let sql = "SELECT data FROM wa_app_state_keys WHERE device_id = ? AND key_id = ?";
        let data = self.blob(sql, vec![self.d(), key_id.to_vec().into()]).await?;
        data.map(|data| serde_json::from_slice(&data).map_err(json_error)).transpose()
    }

    async fn set_sync_key(&self, key_id: &[u8], key: AppStateSyncKey) -> Result<()> {
        let sql = self.stores.upsert(
            "wa_app_state_keys",
            &["device_id", "key_id", "data"],
            &["device_id", "key_id"],
            &["data"],
        );
        let data = serde_json::to_vec(&key).map_err(json_error)?;
        self.stores.exec(&sql, vec![self.d(), key_id.to_vec().into(), data.into()]).await.map(drop)
    }

    async fn get_version(&self, name: &str) -> Result<HashState> {
        let sql = "SELECT state FROM wa_app_state_versions WHERE device_id = ? AND name = ?";
        match self.blob(sql, vec![self.d(), name.into()]).await? {
            Some(state) => serde_json::from_slice(&state).map_err(json_error),
            None => Ok(HashState::default()),
        }
    }

    async fn set_version(&self, name: &str, state: HashState) -> Result<()> {
        let sql = self.stores.upsert(
            "wa_app_state_versions",
            &["device_id", "name", "state"],
            &["device_id", "name"],
            &["state"],
        );
        let state = serde_json::to_vec(&state).map_err(json_error)?;
        self.stores.exec(&sql, vec![self.d(), name.into(), state.into()]).await.map(drop)
    }

    async fn put_mutation_macs(&self, name: &str, version: u64, mutations: &[AppStateMutationMAC]) -> Result<()> {
        let sql = self.stores.upsert(
            "wa_app_state_macs",
            &["device_id", "name", "index_mac", "version", "value_mac"],
            &["device_id", "name", "index_mac"],
            &["version", "value_mac"],
        );
        let version = i64::try_from(version).unwrap_or(i64::MAX);
        let statements = mutations
            .iter()
            .map(|m| {
                (
                    sql.clone(),
                    vec![self.d(), name.into(), m.index_mac.clone().into(), version.into(), m.value_mac.clone().into()],
                )
            })
            .collect();
        self.stores.exec_all(statements).await
    }

    async fn get_mutation_mac(&self, name: &str, index_mac: &[u8]) -> Result<Option<Vec<u8>>> {
        let sql = "SELECT value_mac FROM wa_app_state_macs WHERE device_id = ? AND name = ? AND index_mac = ?";
        self.blob(sql, vec![self.d(), name.into(), index_mac.to_vec().into()]).await
    }

    async fn get_mutation_macs(
        &self,
        name: &str,
        index_macs: &[[u8; 32]],
    ) -> Result<std::collections::HashMap<[u8; 32], Vec<u8>>> {
        let mut found = std::collections::HashMap::with_capacity(index_macs.len());
        for chunk in index_macs.chunks(KEYS_PER_QUERY) {
            let marks = vec!["?"; KEYS_PER_QUERY].join(", ");
            let sql = format!(
                "SELECT index_mac, value_mac FROM wa_app_state_macs WHERE device_id = ? AND name = ? AND index_mac IN ({marks})"
            );
            let mut values = vec![self.d(), name.into()];
            let last = chunk.last().expect("chunks are not empty");
            values.extend((0..KEYS_PER_QUERY).map(|i| chunk.get(i).unwrap_or(last).to_vec().into()));
            for row in self.stores.all(&sql, values).await? {
                if let Ok(index) = <[u8; 32]>::try_from(bytes_of(&row, 0)?) {
                    found.insert(index, bytes_of(&row, 1)?);
                }
            }
        }
        Ok(found)
    }

    async fn delete_mutation_macs(&self, name: &str, index_macs: &[Vec<u8>]) -> Result<()> {
        let sql = "DELETE FROM wa_app_state_macs WHERE device_id = ? AND name = ? AND index_mac = ?";
        let statements =
            index_macs.iter().map(|mac| (sql.to_owned(), vec![self.d(), name.into(), mac.clone().into()])).collect();
        self.stores.exec_all(statements).await
    }

    async fn clear_mutation_macs(&self, name: &str) -> Result<()> {
        let sql = "DELETE FROM wa_app_state_macs WHERE device_id = ? AND name = ?";
        self.stores.exec(sql, vec![self.d(), name.into()]).await.map(drop)
    }

    async fn get_latest_sync_key_id(&self) -> Result<Option<Vec<u8>>> {
        // The newest key that can be read (as the SQLite store: by key id).
        let sql = "SELECT key_id, data FROM wa_app_state_keys WHERE device_id = ? ORDER BY key_id DESC";
        for row in self.stores.all(sql, vec![self.d()]).await? {
            if serde_json::from_slice::<AppStateSyncKey>(&bytes_of(&row, 1)?).is_ok() {
                return Ok(Some(bytes_of(&row, 0)?));
            }
        }
        Ok(None)
    }
}

#[async_trait]
impl ProtocolStore for SessionStore {
    async fn get_sender_key_devices(&self, group_jid: &str) -> Result<Vec<(String, bool)>> {
        let sql = "SELECT device_jid, has_key FROM wa_sender_key_devices WHERE device_id = ? AND group_jid = ?";
        let rows = self.stores.all(sql, vec![self.d(), group_jid.into()]).await?;
        rows.iter().map(|row| Ok((text_of(row, 0)?, int_of(row, 1)? != 0))).collect()
    }

    async fn set_sender_key_status(&self, group_jid: &str, entries: &[(&str, bool)]) -> Result<()> {
        let sql = self.stores.upsert(
            "wa_sender_key_devices",
            &["device_id", "group_jid", "device_jid", "has_key", "updated_at"],
            &["device_id", "group_jid", "device_jid"],
            &["has_key", "updated_at"],
        );
        let now = now_secs();
        let statements = entries
            .iter()
            .map(|(device, has_key)| {
                (
                    sql.clone(),
                    vec![self.d(), group_jid.into(), (*device).into(), i64::from(*has_key).into(), now.into()],
                )
            })
            .collect();
        self.stores.exec_all(statements).await
    }

    async fn clear_sender_key_devices(&self, group_jid: &str) -> Result<()> {
        let sql = "DELETE FROM wa_sender_key_devices WHERE device_id = ? AND group_jid = ?";
        self.stores.exec(sql, vec![self.d(), group_jid.into()]).await.map(drop)
    }

    async fn delete_sender_key_device_rows(&self, device_jids: &[&str]) -> Result<()> {
        let sql = "DELETE FROM wa_sender_key_devices WHERE device_id = ? AND device_jid = ?";
        let statements = device_jids.iter().map(|jid| (sql.to_owned(), vec![self.d(), (*jid).into()])).collect();
        self.stores.exec_all(statements).await
    }

    async fn clear_all_sender_key_devices(&self) -> Result<()> {
        self.stores.exec("DELETE FROM wa_sender_key_devices WHERE device_id = ?", vec![self.d()]).await.map(drop)
    }

    async fn get_lid_mapping(&self, lid: &str) -> Result<Option<LidPnMappingEntry>> {
        let sql = "SELECT lid, phone, created_at, updated_at, learning_source FROM wa_lid_map \
                   WHERE device_id = ? AND lid = ?";
        self.stores.one(sql, vec![self.d(), lid.into()]).await?.map(|row| lid_entry(&row)).transpose()
    }

    async fn get_pn_mapping(&self, phone: &str) -> Result<Option<LidPnMappingEntry>> {
        let sql = "SELECT lid, phone, created_at, updated_at, learning_source FROM wa_lid_map \
                   WHERE device_id = ? AND phone = ? ORDER BY updated_at DESC LIMIT 1";
        self.stores.one(sql, vec![self.d(), phone.into()]).await?.map(|row| lid_entry(&row)).transpose()
    }

    async fn put_lid_mapping(&self, entry: &LidPnMappingEntry) -> Result<()> {
        let (sql, values) = self.put_lid_statement(entry);
        self.stores.exec(&sql, values).await.map(drop)
    }

    async fn put_lid_mappings(&self, entries: &[LidPnMappingEntry]) -> Result<()> {
        let statements = entries.iter().map(|entry| self.put_lid_statement(entry)).collect();
        self.stores.exec_all(statements).await
    }

    async fn get_all_lid_mappings(&self) -> Result<Vec<LidPnMappingEntry>> {
        let sql = "SELECT lid, phone, created_at, updated_at, learning_source FROM wa_lid_map WHERE device_id = ?";
        self.stores.all(sql, vec![self.d()]).await?.iter().map(lid_entry).collect()
    }

    async fn save_base_key(&self, address: &str, message_id: &str, base_key: &[u8]) -> Result<()> {
        let sql = self.stores.upsert(
            "wa_base_keys",
            &["device_id", "address", "message_id", "base_key", "created_at"],
            &["device_id", "address", "message_id"],
            &["base_key"],
        );
        let values = vec![self.d(), address.into(), message_id.into(), base_key.to_vec().into(), now_secs().into()];
        self.stores.exec(&sql, values).await.map(drop)
    }

    async fn has_same_base_key(&self, address: &str, message_id: &str, current_base_key: &[u8]) -> Result<bool> {
        let sql = "SELECT base_key FROM wa_base_keys WHERE device_id = ? AND address = ? AND message_id = ?";
        let stored = self.blob(sql, vec![self.d(), address.into(), message_id.into()]).await?;
        Ok(stored.as_deref() == Some(current_base_key))
    }

    async fn delete_base_key(&self, address: &str, message_id: &str) -> Result<()> {
        let sql = "DELETE FROM wa_base_keys WHERE device_id = ? AND address = ? AND message_id = ?";
        self.stores.exec(sql, vec![self.d(), address.into(), message_id.into()]).await.map(drop)
    }

    async fn update_device_list(&self, record: DeviceListRecord) -> Result<()> {
        let (sql, values) = self.put_device_list_statement(&record)?;
        self.stores.exec(&sql, values).await.map(drop)
    }

    async fn update_device_lists(&self, records: Vec<DeviceListRecord>) -> Result<()> {
        let statements = records.iter().map(|record| self.put_device_list_statement(record)).collect::<Result<_>>()?;
        self.stores.exec_all(statements).await
    }

    async fn get_devices(&self, user: &str) -> Result<Option<DeviceListRecord>> {
        let sql = "SELECT record FROM wa_device_lists WHERE device_id = ? AND user_id = ?";
        let record = self.blob(sql, vec![self.d(), user.into()]).await?;
        record.map(|record| serde_json::from_slice(&record).map_err(json_error)).transpose()
    }

    async fn delete_devices(&self, user: &str) -> Result<()> {
        let sql = "DELETE FROM wa_device_lists WHERE device_id = ? AND user_id = ?";
        self.stores.exec(sql, vec![self.d(), user.into()]).await.map(drop)
    }

    async fn get_group_metadata(&self, group_jid: &str) -> Result<Option<Vec<u8>>> {
        let sql = "SELECT info FROM wa_group_metadata WHERE device_id = ? AND group_jid = ?";
        self.blob(sql, vec![self.d(), group_jid.into()]).await
    }

    async fn put_group_metadata(&self, group_jid: &str, blob: &[u8]) -> Result<()> {
        let sql = self.stores.upsert(
            "wa_group_metadata",
            &["device_id", "group_jid", "info"],
            &["device_id", "group_jid"],
            &["info"],
        );
        self.stores.exec(&sql, vec![self.d(), group_jid.into(), blob.to_vec().into()]).await.map(drop)
    }

    async fn delete_group_metadata(&self, group_jid: &str) -> Result<()> {
        let sql = "DELETE FROM wa_group_metadata WHERE device_id = ? AND group_jid = ?";
        self.stores.exec(sql, vec![self.d(), group_jid.into()]).await.map(drop)
    }

    async fn get_tc_token(&self, jid: &str) -> Result<Option<TcTokenEntry>> {
        let sql = "SELECT token, token_ts, sender_ts FROM wa_tc_tokens WHERE device_id = ? AND jid = ?";
        let Some(row) = self.stores.one(sql, vec![self.d(), jid.into()]).await? else { return Ok(None) };
        Ok(Some(TcTokenEntry {
            token: bytes_of(&row, 0)?,
            token_timestamp: int_of(&row, 1)?,
            sender_timestamp: row.try_get_by_index::<Option<i64>>(2).map_err(db_error)?,
        }))
    }

    async fn put_tc_token(&self, jid: &str, entry: &TcTokenEntry) -> Result<()> {
        let (sql, values) = self.put_tc_token_statement(jid, entry);
        self.stores.exec(&sql, values).await.map(drop)
    }

    async fn delete_tc_token(&self, jid: &str) -> Result<()> {
        let sql = "DELETE FROM wa_tc_tokens WHERE device_id = ? AND jid = ?";
        self.stores.exec(sql, vec![self.d(), jid.into()]).await.map(drop)
    }

    async fn get_all_tc_token_jids(&self) -> Result<Vec<String>> {
        let rows = self.stores.all("SELECT jid FROM wa_tc_tokens WHERE device_id = ?", vec![self.d()]).await?;
        rows.iter().map(|row| text_of(row, 0)).collect()
    }

    async fn delete_expired_tc_tokens(&self, token_cutoff: i64, sender_cutoff: i64) -> Result<u32> {
        // Gone only when both the received token and the sender's bucket are
        // stale or absent.
        let sql = "DELETE FROM wa_tc_tokens WHERE device_id = ? \
                   AND (LENGTH(token) = 0 OR token_ts < ?) AND (sender_ts IS NULL OR sender_ts < ?)";
        let deleted = self.stores.exec(sql, vec![self.d(), token_cutoff.into(), sender_cutoff.into()]).await?;
        Ok(u32::try_from(deleted).unwrap_or(u32::MAX))
    }

    async fn touch_tc_token_sender_timestamp(&self, jid: &str, sender_timestamp: i64) -> Result<()> {
        let stores = &self.stores;
        let sets = format!(
            "sender_ts = {}(COALESCE(sender_ts, {}), {}), updated_at = {}",
            stores.greatest(),
            stores.new_value("sender_ts"),
            stores.new_value("sender_ts"),
            stores.new_value("updated_at"),
        );
        let sql = stores.upsert_with(
            "wa_tc_tokens",
            &["device_id", "jid", "token", "token_ts", "sender_ts", "updated_at"],
            &["device_id", "jid"],
            &sets,
        );
        let values = vec![
            self.d(),
            jid.into(),
            Vec::<u8>::new().into(),
            sender_timestamp.into(),
            Some(sender_timestamp).into(),
            now_secs().into(),
        ];
        stores.exec(&sql, values).await.map(drop)
    }

    async fn store_received_tc_token(&self, jid: &str, token: &[u8], token_timestamp: i64) -> Result<()> {
        // A fresher real token is kept; a placeholder never blocks the first
        // real one; the sender's bucket is left as it is.
        let stores = &self.stores;
        let (new_token, new_ts, new_at) =
            (stores.new_value("token"), stores.new_value("token_ts"), stores.new_value("updated_at"));
        let keep = format!("LENGTH(token) > 0 AND {new_ts} < token_ts");
        let sets = match stores.backend {
            // Each assignment sees the old row.
            DatabaseBackend::Sqlite => format!(
                "token = CASE WHEN {keep} THEN token ELSE {new_token} END, \
                 token_ts = CASE WHEN {keep} THEN token_ts ELSE {new_ts} END, updated_at = {new_at}"
            ),
            // Assignments run left to right, each seeing the ones before: the
            // token follows its time.
            _ => format!(
                "token_ts = CASE WHEN {keep} THEN token_ts ELSE {new_ts} END, \
                 token = CASE WHEN token_ts = {new_ts} THEN {new_token} ELSE token END, updated_at = {new_at}"
            ),
        };
        let sql = stores.upsert_with(
            "wa_tc_tokens",
            &["device_id", "jid", "token", "token_ts", "sender_ts", "updated_at"],
            &["device_id", "jid"],
            &sets,
        );
        let values = vec![
            self.d(),
            jid.into(),
            token.to_vec().into(),
            token_timestamp.into(),
            Option::<i64>::None.into(),
            now_secs().into(),
        ];
        stores.exec(&sql, values).await.map(drop)
    }

    async fn store_sent_message(&self, chat_jid: &str, message_id: &str, payload: &[u8]) -> Result<()> {
        let sql = self.stores.upsert(
            "wa_sent_messages",
            &["device_id", "chat", "message_id", "payload", "created_at"],
            &["device_id", "chat", "message_id"],
            &["payload", "created_at"],
        );
        let now = now_secs();
        let values = vec![self.d(), chat_jid.into(), message_id.into(), payload.to_vec().into(), now.into()];
        self.stores.exec(&sql, values).await?;
        self.sent.wrote(now);
        Ok(())
    }

    async fn take_sent_message(&self, chat_jid: &str, message_id: &str) -> Result<Option<Vec<u8>>> {
        let select = "SELECT payload FROM wa_sent_messages WHERE device_id = ? AND chat = ? AND message_id = ?";
        let Some(payload) = self.blob(select, vec![self.d(), chat_jid.into(), message_id.into()]).await? else {
            return Ok(None);
        };
        let delete = "DELETE FROM wa_sent_messages WHERE device_id = ? AND chat = ? AND message_id = ?";
        // Taken once: a retry racing this one finds it gone.
        let taken = self.stores.exec(delete, vec![self.d(), chat_jid.into(), message_id.into()]).await?;
        Ok((taken > 0).then_some(payload))
    }

    async fn delete_expired_sent_messages(&self, cutoff_timestamp: i64) -> Result<u32> {
        self.expire(&self.sent, "wa_sent_messages", "created_at", "TRUE", cutoff_timestamp, true).await
    }

    async fn store_pending_inbound(&self, chat: &str, sender: &str, id: &str, message: &[u8]) -> Result<()> {
        let now = now_secs();
        let (sql, values) = self.pending_statement(chat, sender, id, message);
        self.stores.exec(&sql, values).await?;
        self.pending.wrote(now);
        Ok(())
    }

    async fn get_pending_inbound(&self, chat: &str, sender: &str, id: &str) -> Result<Option<Vec<u8>>> {
        let sql = "SELECT message FROM wa_pending_inbound \
                   WHERE device_id = ? AND chat = ? AND sender = ? AND message_id = ?";
        self.blob(sql, vec![self.d(), chat.into(), sender.into(), id.into()]).await
    }

    async fn delete_pending_inbound(&self, chat: &str, sender: &str, id: &str) -> Result<()> {
        let (sql, values) = self.delete_pending_statement(chat, sender, id);
        self.stores.exec(&sql, values).await.map(drop)
    }

    async fn delete_expired_pending_inbound(&self, cutoff_timestamp: i64) -> Result<u32> {
        self.expire(&self.pending, "wa_pending_inbound", "inserted_at", "TRUE", cutoff_timestamp, true).await
    }

    async fn store_pending_inbound_batch(&self, rows: &[PendingInboundRow<'_>]) -> Result<()> {
        let now = now_secs();
        let statements =
            rows.iter().map(|row| self.pending_statement(row.chat, row.sender, row.id, row.message)).collect();
        self.stores.exec_all(statements).await?;
        if !rows.is_empty() {
            self.pending.wrote(now);
        }
        Ok(())
    }

    async fn delete_pending_inbound_batch(&self, keys: &[PendingInboundKey<'_>]) -> Result<()> {
        let statements = keys.iter().map(|key| self.delete_pending_statement(key.chat, key.sender, key.id)).collect();
        self.stores.exec_all(statements).await
    }
}

fn lid_entry(row: &QueryResult) -> Result<LidPnMappingEntry> {
    Ok(LidPnMappingEntry {
        lid: text_of(row, 0)?,
        phone_number: text_of(row, 1)?,
        created_at: int_of(row, 2)?,
        updated_at: int_of(row, 3)?,
        learning_source: text_of(row, 4)?,
    })
}

#[async_trait]
impl MsgSecretStore for SessionStore {
    async fn put_msg_secrets(&self, entries: Vec<MsgSecretEntry>) -> Result<usize> {
        let stores = &self.stores;
        let (new_expiry, new_ts) = (stores.new_value("expires_at"), stores.new_value("message_ts"));
        // The later deadline is kept, 0 (never) winning; the message's time
        // is kept once known.
        let sets = format!(
            "secret = {}, created_at = {}, \
             expires_at = CASE WHEN expires_at = 0 OR {new_expiry} = 0 THEN 0 ELSE {g}(expires_at, {new_expiry}) END, \
             message_ts = {g}(message_ts, {new_ts})",
            stores.new_value("secret"),
            stores.new_value("created_at"),
            g = stores.greatest(),
        );
        let sql = stores.upsert_with(
            "wa_msg_secrets",
            &["device_id", "chat", "sender", "message_id", "secret", "created_at", "expires_at", "message_ts"],
            &["device_id", "chat", "sender", "message_id"],
            &sets,
        );
        let now = now_secs();
        let count = entries.len();
        let statements = entries
            .iter()
            .map(|e| {
                (
                    sql.clone(),
                    vec![
                        self.d(),
                        (&*e.chat).into(),
                        (&*e.sender).into(),
                        (&*e.msg_id).into(),
                        e.secret.to_vec().into(),
                        now.into(),
                        e.expires_at.into(),
                        e.message_ts.into(),
                    ],
                )
            })
            .collect();
        stores.exec_all(statements).await?;
        if let Some(first) = entries.iter().map(|e| e.expires_at).filter(|&at| at != 0).min() {
            self.secrets.wrote(first);
        }
        Ok(count)
    }

    async fn get_msg_secret(&self, chat: &str, sender: &str, msg_id: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.get_msg_secret_with_ts(chat, sender, msg_id).await?.map(|(secret, _)| secret))
    }

    async fn get_msg_secret_with_ts(&self, chat: &str, sender: &str, msg_id: &str) -> Result<Option<(Vec<u8>, i64)>> {
        let sql = "SELECT secret, message_ts FROM wa_msg_secrets \
                   WHERE device_id = ? AND chat = ? AND sender = ? AND message_id = ?";
        let row = self.stores.one(sql, vec![self.d(), chat.into(), sender.into(), msg_id.into()]).await?;
        row.map(|row| Ok((bytes_of(&row, 0)?, int_of(&row, 1)?))).transpose()
    }

    async fn delete_expired_msg_secrets(&self, cutoff_timestamp: i64) -> Result<u32> {
        self.expire(&self.secrets, "wa_msg_secrets", "expires_at", "expires_at <> 0", cutoff_timestamp, false).await
    }
}

#[async_trait]
impl DeviceStore for SessionStore {
    async fn save(&self, device: &StoredDevice) -> Result<()> {
        let data = serde_json::to_vec(device).map_err(json_error)?;
        self.stores.exec("UPDATE wa_devices SET data = ? WHERE id = ?", vec![data.into(), self.d()]).await.map(drop)
    }

    async fn load(&self) -> Result<Option<StoredDevice>> {
        let row = self.stores.one("SELECT data FROM wa_devices WHERE id = ?", vec![self.d()]).await?;
        let data = match row {
            Some(row) => row.try_get_by_index::<Option<Vec<u8>>>(0).map_err(db_error)?,
            None => None,
        };
        data.map(|data| serde_json::from_slice(&data).map_err(json_error)).transpose()
    }

    async fn exists(&self) -> Result<bool> {
        let sql = "SELECT 1 FROM wa_devices WHERE id = ? AND data IS NOT NULL";
        self.found(sql, vec![self.d()]).await
    }

    async fn create(&self) -> Result<i32> {
        self.save(&StoredDevice::new()).await?;
        Ok(i32::try_from(self.id).unwrap_or(i32::MAX))
    }
}

/// What a column of an earlier version's file holds.
#[derive(Clone, Copy)]
enum Kind {
    Text,
    Blob,
    Int,
    OptionalInt,
}

/// The rows copied as they are: the file's table and columns, this store's
/// table and columns (after `device_id`), and what each holds.
const COPIED: &[(&str, &str, &str, &str, &[Kind])] = {
    use Kind::*;
    &[
        ("identities", "address, key", "wa_identities", "address, identity_key", &[Text, Blob]),
        ("sessions", "address, record", "wa_signal_sessions", "address, record", &[Text, Blob]),
        ("prekeys", "id, key, uploaded", "wa_prekeys", "id, record, uploaded", &[Int, Blob, Int]),
        ("signed_prekeys", "id, record", "wa_signed_prekeys", "id, record", &[Int, Blob]),
        ("sender_keys", "address, record", "wa_sender_keys", "address, record", &[Text, Blob]),
        (
            "app_state_mutation_macs",
            "name, index_mac, version, value_mac",
            "wa_app_state_macs",
            "name, index_mac, version, value_mac",
            &[Text, Blob, Int, Blob],
        ),
        (
            "sender_key_devices",
            "group_jid, device_jid, has_key, updated_at",
            "wa_sender_key_devices",
            "group_jid, device_jid, has_key, updated_at",
            &[Text, Text, Int, Int],
        ),
        (
            "lid_pn_mapping",
            "lid, phone_number, created_at, updated_at, learning_source",
            "wa_lid_map",
            "lid, phone, created_at, updated_at, learning_source",
            &[Text, Text, Int, Int, Text],
        ),
        (
            "base_keys",
            "address, message_id, base_key, created_at",
            "wa_base_keys",
            "address, message_id, base_key, created_at",
            &[Text, Text, Blob, Int],
        ),
        ("group_metadata", "group_jid, info", "wa_group_metadata", "group_jid, info", &[Text, Blob]),
        (
            "tc_tokens",
            "jid, token, token_timestamp, sender_timestamp, updated_at",
            "wa_tc_tokens",
            "jid, token, token_ts, sender_ts, updated_at",
            &[Text, Blob, Int, OptionalInt, Int],
        ),
        (
            "sent_messages",
            "chat_jid, message_id, payload, created_at",
            "wa_sent_messages",
            "chat, message_id, payload, created_at",
            &[Text, Text, Blob, Int],
        ),
        (
            "pending_inbound_messages",
            "chat, sender, id, message, inserted_at",
            "wa_pending_inbound",
            "chat, sender, message_id, message, inserted_at",
            &[Text, Text, Text, Blob, Int],
        ),
        (
            "msg_secrets",
            "chat, sender, msg_id, secret, created_at, expires_at, message_ts",
            "wa_msg_secrets",
            "chat, sender, message_id, secret, created_at, expires_at, message_ts",
            &[Text, Text, Text, Blob, Int, Int, Int],
        ),
    ]
};

/// The statements that put the device in the earlier version's file at
/// `url` (open as `legacy`) into `target`'s rows. Rows whose encoding is the
/// SQLite store's own (the device, app-state keys and versions, device lists)
/// are read through it; the rest are copied.
async fn legacy_rows(
    target: &SessionStore,
    legacy: &whatsapp_rust::store::SqliteStore,
    url: &str,
) -> anyhow::Result<Vec<(String, Vec<Value>)>> {
    let file = Database::connect(format!("sqlite://{url}?mode=ro")).await.context("reading the file")?;
    let rows = |sql: String| {
        let file = &file;
        async move { file.query_all_raw(Statement::from_string(DatabaseBackend::Sqlite, sql)).await }
    };
    let mut statements = Vec::new();
    let device = legacy.load().await?.context("the file has no device")?;
    statements.push((
        "UPDATE wa_devices SET data = ? WHERE id = ?".to_owned(),
        vec![serde_json::to_vec(&device)?.into(), target.d()],
    ));
    for (table, columns, into, into_columns, kinds) in COPIED {
        let marks = vec!["?"; kinds.len() + 1].join(", ");
        let insert = format!("INSERT INTO {into} (device_id, {into_columns}) VALUES ({marks})");
        for row in rows(format!("SELECT {columns} FROM {table}")).await? {
            let mut values = vec![target.d()];
            for (i, kind) in kinds.iter().enumerate() {
                values.push(match kind {
                    Kind::Text => row.try_get_by_index::<String>(i)?.into(),
                    Kind::Blob => row.try_get_by_index::<Vec<u8>>(i)?.into(),
                    Kind::Int => row.try_get_by_index::<i64>(i)?.into(),
                    Kind::OptionalInt => row.try_get_by_index::<Option<i64>>(i)?.into(),
                });
            }
            statements.push((insert.clone(), values));
        }
    }
    for row in rows("SELECT key_id FROM app_state_keys".into()).await? {
        let id = row.try_get_by_index::<Vec<u8>>(0)?;
        if let Some(key) = legacy.get_sync_key(&id).await? {
            let insert = "INSERT INTO wa_app_state_keys (device_id, key_id, data) VALUES (?, ?, ?)";
            statements.push((insert.to_owned(), vec![target.d(), id.into(), serde_json::to_vec(&key)?.into()]));
        }
    }
    for row in rows("SELECT name FROM app_state_versions".into()).await? {
        let name = row.try_get_by_index::<String>(0)?;
        let state = serde_json::to_vec(&legacy.get_version(&name).await?)?;
        let insert = "INSERT INTO wa_app_state_versions (device_id, name, state) VALUES (?, ?, ?)";
        statements.push((insert.to_owned(), vec![target.d(), name.into(), state.into()]));
    }
    for row in rows("SELECT user_id FROM device_registry".into()).await? {
        let user = row.try_get_by_index::<String>(0)?;
        if let Some(record) = legacy.get_devices(&user).await? {
            statements.push(target.put_device_list_statement(&record)?);
        }
    }
    file.close().await?;
    Ok(statements)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::{ROWS_PER_STATEMENT, Stores, merged};
    use sea_orm::{ConnectionTrait, Database, Value};

    fn row(id: i64) -> Vec<Value> {
        vec![1i64.into(), id.into()]
    }

    #[test]
    fn runs_of_one_row_inserts_merge_and_the_rest_stays() {
        let insert = "INSERT INTO t (a, b) VALUES (?, ?) ON CONFLICT (a) DO UPDATE SET b = excluded.b".to_owned();
        let delete = "DELETE FROM t WHERE a = ?".to_owned();
        let mut statements: Vec<(String, Vec<Value>)> =
            (0..ROWS_PER_STATEMENT as i64 + 2).map(|i| (insert.clone(), row(i))).collect();
        statements.push((delete.clone(), vec![1i64.into()]));
        statements.push((insert.clone(), row(7)));
        let merged = merged(statements);
        let shapes: Vec<(usize, usize)> =
            merged.iter().map(|(sql, values)| (sql.matches("(?, ?)").count(), values.len())).collect();
        assert_eq!(shapes, vec![(ROWS_PER_STATEMENT, 2 * ROWS_PER_STATEMENT), (2, 4), (0, 1), (1, 2)]);
        assert!(merged[1].0.ends_with("VALUES (?, ?), (?, ?) ON CONFLICT (a) DO UPDATE SET b = excluded.b"));
        assert_eq!(merged[1].1[3], Value::from(ROWS_PER_STATEMENT as i64 + 1), "rows keep their order");
        assert_eq!(merged[2].0, delete);
        let update = "UPDATE t SET b = 1 WHERE a = ?".to_owned();
        assert_eq!(super::merged(vec![(update.clone(), vec![]), (update.clone(), vec![])]).len(), 2);
    }

    /// Writes waiting for the SQLite writers' turn share commits, each
    /// caller learns its own outcome (rows changed, or its error), and a
    /// bad write fails no other.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn writes_share_commits_and_a_bad_one_fails_alone() {
        let dir = tempfile::tempdir().unwrap();
        let gateway = Database::connect("sqlite::memory:").await.unwrap();
        let stores = Stores::open(&gateway, dir.path()).await.unwrap();
        let insert = "INSERT INTO wa_devices (session) VALUES (?)";
        let writes = (0..200).map(|i| {
            let stores: Arc<Stores> = stores.clone();
            // Every 50th names a session already there: UNIQUE refuses it.
            let session = if i % 50 == 49 { "s0".to_owned() } else { format!("s{i}") };
            tokio::spawn(async move { stores.exec(insert, vec![session.into()]).await })
        });
        let outcomes: Vec<_> = futures_util::future::join_all(writes).await.into_iter().map(Result::unwrap).collect();
        let failed = outcomes.iter().filter(|o| o.is_err()).count();
        assert_eq!(failed, 4, "the four duplicates, and only they, fail");
        assert!(outcomes.iter().filter_map(|o| o.as_ref().ok()).all(|rows| *rows == 1));
        let row = stores.db.query_one_raw(stores.statement("SELECT COUNT(*) FROM wa_devices", vec![])).await;
        let count: i64 = row.unwrap().unwrap().try_get_by_index(0).unwrap();
        assert_eq!(count, 196);
        // A write of several statements is all or nothing.
        let both = vec![
            (insert.to_owned(), vec!["t1".into()]),
            (insert.to_owned(), vec!["s1".into()]), // already there
        ];
        assert!(stores.exec_all(both).await.is_err());
        assert!(!stores.holds("t1").await.unwrap());
    }

    /// whatsapp-rust's retention sweeps delete what expired, including rows
    /// an earlier run left; a device known to have none is not asked for them.
    #[tokio::test]
    async fn expired_rows_are_swept_and_a_device_without_any_is_not_asked() {
        use whatsapp_rust::wacore::store::traits::ProtocolStore;
        let dir = tempfile::tempdir().unwrap();
        let gateway = Database::connect("sqlite::memory:").await.unwrap();
        let stores = Stores::open(&gateway, dir.path()).await.unwrap();
        let count = |stores: Arc<Stores>| async move {
            let row = stores.db.query_one_raw(stores.statement("SELECT COUNT(*) FROM wa_sent_messages", vec![])).await;
            row.unwrap().unwrap().try_get_by_index::<i64>(0).unwrap()
        };
        // A row written behind the store's back, as by an earlier run.
        let behind = |stores: Arc<Stores>, id: i64, at: i64| async move {
            let sql = "INSERT INTO wa_sent_messages (device_id, chat, message_id, payload, created_at) \
                       VALUES (?, 'c', ?, x'00', ?)";
            stores.exec(sql, vec![id.into(), format!("m{at}").into(), at.into()]).await.unwrap();
        };

        let fresh = stores.device("fresh").await.unwrap();
        behind(stores.clone(), fresh.id, 10).await;
        assert_eq!(fresh.delete_expired_sent_messages(1_000).await.unwrap(), 0, "a new device has no rows to ask for");
        assert_eq!(count(stores.clone()).await, 1);

        fresh.store_sent_message("c", "own", b"p").await.unwrap();
        let now = super::now_secs();
        assert_eq!(fresh.delete_expired_sent_messages(now).await.unwrap(), 0, "its own row is not expired");
        assert_eq!(fresh.delete_expired_sent_messages(now + 1).await.unwrap(), 2, "a row written lowers the mark");
        assert_eq!(fresh.delete_expired_sent_messages(now + 100).await.unwrap(), 0);

        // Opened again (a restart): what is there is not known, so swept once.
        behind(stores.clone(), fresh.id, 20).await;
        behind(stores.clone(), fresh.id, 2_000).await;
        let again = stores.device("fresh").await.unwrap();
        assert_eq!(again.delete_expired_sent_messages(1_000).await.unwrap(), 1);
        assert_eq!(again.delete_expired_sent_messages(1_500).await.unwrap(), 0);
        assert_eq!(again.delete_expired_sent_messages(2_001).await.unwrap(), 1, "the row left was learned");
        assert_eq!(count(stores.clone()).await, 0);
    }
}
