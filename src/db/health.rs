//! Whether the database answers, as one watcher sees it: a `SELECT 1` every
//! second (every half second while it is away), each given a second. While
//! it is away, requests that need it are answered 503 at once instead of
//! waiting out the pool's timeouts, and `/health` says so without asking it.
//! ([`is_unavailable`] tells such failures from faults in a request.)

use std::{sync::Arc, time::Duration};

use sea_orm::{DatabaseConnection, DbErr, RuntimeErr};
use tokio::sync::watch;

/// How long a ping may take before the database counts as away.
const PING_TIMEOUT: Duration = Duration::from_secs(1);

#[derive(Clone)]
pub struct DbHealth(Arc<watch::Sender<bool>>, Arc<std::sync::atomic::AtomicBool>);

impl DbHealth {
    /// Starts watching `db` (taken as up until a ping says otherwise).
    pub fn watch(db: DatabaseConnection) -> DbHealth {
        let health = DbHealth(Arc::new(watch::Sender::new(true)), Arc::default());
        let watcher = health.clone();
        tokio::spawn(async move {
            loop {
                if watcher.1.load(std::sync::atomic::Ordering::Relaxed) {
                    return;
                }
                let up = tokio::time::timeout(PING_TIMEOUT, super::ping(&db)).await.unwrap_or(false);
                if watcher.1.load(std::sync::atomic::Ordering::Relaxed) {
                    return;
                }
                watcher.set(up);
                let pause = if up { Duration::from_secs(1) } else { Duration::from_millis(500) };
                tokio::time::sleep(pause).await;
                // Ends with the last handle outside this task.
                if Arc::strong_count(&watcher.0) == 1 {
                    return;
                }
            }
        });
        health
    }

    /// Stops watching (the database is being closed: no more pings, no
    /// "does not answer" for a pool closed on purpose).
    pub fn stop(&self) {
        self.1.store(true, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn is_up(&self) -> bool {
        *self.0.borrow()
    }

    fn set(&self, up: bool) {
        let was = self.0.send_replace(up);
        match (was, up) {
            (true, false) => tracing::warn!("the database does not answer: requests that need it get 503 meanwhile"),
            (false, true) => tracing::info!("the database answers again"),
            _ => {}
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
