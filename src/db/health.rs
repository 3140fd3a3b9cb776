//! Whether the database answers, as one watcher sees it: a `SELECT 1` every
//! second (every half second while it is away), each given a second, and on
//! SQLite whether another process holds the file's write lock. While it is
//! away, requests that need it are answered 503 at once instead of waiting out
//! the pool's timeouts, and `/health` says so without asking it; while it is
//! locked, so are requests that would write (reads still work).
//! ([`is_unavailable`] tells such failures from faults in a request.)

use std::{sync::Arc, time::Duration};

use sea_orm::{DatabaseConnection, DbErr, RuntimeErr, SqlErr};
use tokio::sync::watch;

use super::sqlite_lock::WriteLock;
use crate::error::ApiError;

/// How long a ping may take before the database counts as away.
const PING_TIMEOUT: Duration = Duration::from_secs(1);
/// A foreign write lock seen once is looked at again after this long: a
/// moment's write by another program is no lock to turn writes away for.
const LOCK_RECHECK: Duration = Duration::from_millis(250);

/// What the watcher last saw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DbState {
    Up,
    /// Reads work; another process (this pid, 0 if it cannot be named) holds
    /// the SQLite file's write lock.
    Locked {
        by: u32,
    },
    /// It does not answer.
    Away,
}

#[derive(Clone)]
pub struct DbHealth(Arc<watch::Sender<DbState>>, Arc<std::sync::atomic::AtomicBool>);

impl DbHealth {
    /// Starts watching `db` (taken as up until a ping says otherwise) and, on
    /// SQLite, the write lock of its file.
    pub fn watch(db: DatabaseConnection, lock: Option<WriteLock>) -> DbHealth {
        let health = DbHealth(Arc::new(watch::Sender::new(DbState::Up)), Arc::default());
        let watcher = health.clone();
        tokio::spawn(async move {
            loop {
                if watcher.1.load(std::sync::atomic::Ordering::Relaxed) {
                    return;
                }
                let up = tokio::time::timeout(PING_TIMEOUT, super::ping(&db)).await.unwrap_or(false);
                let state = match (up, lock.as_ref().and_then(WriteLock::foreign_holder)) {
                    (false, _) => DbState::Away,
                    (true, None) => DbState::Up,
                    (true, Some(_)) if watcher.state() == DbState::Up => {
                        tokio::time::sleep(LOCK_RECHECK).await;
                        match lock.as_ref().and_then(WriteLock::foreign_holder) {
                            Some(by) => DbState::Locked { by },
                            None => DbState::Up,
                        }
                    }
                    (true, Some(by)) => DbState::Locked { by },
                };
                if watcher.1.load(std::sync::atomic::Ordering::Relaxed) {
                    return;
                }
                watcher.set(state);
                let pause = if state == DbState::Up { Duration::from_secs(1) } else { Duration::from_millis(500) };
                tokio::time::sleep(pause).await;
                // Ends with the last handle outside this task.
                if Arc::strong_count(&watcher.0) == 1 {
                    return;
                }
            }
        });
        health
    }

    /// Stops watching once HTTP serving has ended: no request is left to
    /// turn away, and no "does not answer" is logged while the sessions
    /// stop or the pool closes on purpose.
    pub fn stop(&self) {
        self.1.store(true, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn state(&self) -> DbState {
        *self.0.borrow()
    }

    fn set(&self, state: DbState) {
        let was = self.0.send_replace(state);
        if was == state {
            return;
        }
        match state {
            DbState::Away => tracing::warn!("the database does not answer: requests that need it get 503 meanwhile"),
            DbState::Locked { by } => tracing::warn!(
                holder_pid = by,
                "another process holds the database file's write lock: writes get 503 until it lets go"
            ),
            DbState::Up if matches!(was, DbState::Locked { .. }) => {
                tracing::info!("the database file's write lock was let go")
            }
            DbState::Up => tracing::info!("the database answers again"),
        }
    }
}

/// Whether `err` says the database cannot be reached or used right now (gone,
/// refusing, out of connections, locked, read-only, out of space, a deadlock
/// or lock wait), as opposed to a fault in the request: worth trying again.
pub fn is_unavailable(err: &DbErr) -> bool {
    let runtime = match err {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => return true,
        DbErr::Exec(runtime) | DbErr::Query(runtime) => runtime,
        _ => return false,
    };
    let RuntimeErr::SqlxError(sqlx) = runtime else { return false };
    use sea_orm::sqlx::Error;
    match sqlx.as_ref() {
        Error::Io(_) | Error::PoolTimedOut | Error::PoolClosed | Error::WorkerCrashed | Error::Tls(_) => true,
        Error::Database(db) => {
            let code = db.code().unwrap_or_default();
            // SQLite (primary codes, and extended ones by their low byte):
            // BUSY 5, LOCKED 6, READONLY 8, IOERR 10, FULL 13, CANTOPEN 14.
            // MySQL/MariaDB: lock wait timeout 1205, deadlock 1213, and the
            // server going away (2006, 2013).
            let sqlite = code.parse::<u32>().ok().is_some_and(|c| [5, 6, 8, 10, 13, 14].contains(&(c & 0xff)));
            let mysql = db
                .try_downcast_ref::<sea_orm::sqlx::mysql::MySqlDatabaseError>()
                .is_some_and(|e| [1205, 1213, 2006, 2013].contains(&e.number()));
            sqlite || mysql
        }
        _ => false,
    }
}

/// How a database error is answered: 409 for a duplicate, 503 while the
/// database is unavailable, else an opaque 500.
impl From<DbErr> for ApiError {
    fn from(err: DbErr) -> Self {
        match err.sql_err() {
            Some(SqlErr::UniqueConstraintViolation(_)) => {
                Self::conflict("conflict", "a record with the same unique value already exists")
            }
            _ if is_unavailable(&err) => {
                tracing::warn!(error = %err, "a request found the database unavailable");
                Self::database_unavailable()
            }
            _ => Self::internal(err),
        }
    }
}
