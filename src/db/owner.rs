//! One `wagate serve` per database. Until cluster mode shares a database between
//! nodes by leases, a second gateway on the same database would take over the
//! first one's sessions and send their messages twice; it refuses to start
//! instead. SQLite: an exclusive lock on `<database file>.lock`. MySQL/MariaDB:
//! the named lock `wagate:<database>` (`GET_LOCK`), held by a connection of its
//! own for as long as the gateway runs. Both go with the process, however it ends.

use std::{path::PathBuf, time::Duration};

use anyhow::Context;
use sea_orm::sqlx::{self, Connection, mysql::MySqlConnection};
use tokio::task::JoinHandle;

use crate::config::Config;

/// How long a start waits for the previous holder (a restart's old process) to let go.
const WAIT: Duration = Duration::from_secs(5);
/// How often the MySQL lock's connection is checked (and kept from idling out).
const CHECK_EVERY: Duration = Duration::from_secs(30);

/// Held while this process owns the database; dropping it lets go.
pub struct Ownership {
    _held: Held,
}

enum Held {
    File { _locked: std::fs::File },
    MySql(JoinHandle<()>),
}

impl Drop for Held {
    fn drop(&mut self) {
        // The file's lock goes with the file; the named lock with its connection.
        if let Held::MySql(keeper) = self {
            keeper.abort();
        }
    }
}

/// Claims the database of `config` for this process, or says who has it.
pub async fn claim(config: &Config) -> anyhow::Result<Ownership> {
    let url = super::url(config);
    let held = if url.starts_with("mysql://") {
        Held::MySql(claim_mysql(url).await?)
    } else {
        let file = super::sqlite_file(&url).with_context(|| format!("database.url {url:?} names no SQLite file"))?;
        let mut lock = file.into_os_string();
        lock.push(".lock");
        Held::File { _locked: claim_file(lock.into()).await? }
    };
    Ok(Ownership { _held: held })
}

async fn claim_file(path: PathBuf) -> anyhow::Result<std::fs::File> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match file.try_lock() {
            Ok(()) => break,
            Err(std::fs::TryLockError::WouldBlock) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                let holder = std::fs::read_to_string(&path).unwrap_or_default();
                anyhow::bail!(
                    "another wagate serve is running on this database ({}holding {}): one gateway per \
                     database; stop the other one first",
                    holder.trim().parse::<u32>().map_or_else(|_| String::new(), |pid| format!("pid {pid}, ")),
                    path.display()
                );
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("locking {}", path.display()));
            }
        }
    }
    // For the operator who finds the file: which process holds it.
    let _ = file.set_len(0);
    let _ = std::io::Write::write_all(&mut &file, std::process::id().to_string().as_bytes());
    Ok(file)
}

/// The named lock, in SQL: `wagate:` and the database's name (a lock name holds 64 characters).
macro_rules! lock_name {
    () => {
        "CONCAT('wagate:', LEFT(DATABASE(), 57))"
    };
}

async fn claim_mysql(url: String) -> anyhow::Result<JoinHandle<()>> {
    let mut conn = MySqlConnection::connect(&url).await.context("connecting to the database to lock it")?;
    if !get_lock(&mut conn, WAIT).await? {
        let holder: Option<i64> = sqlx::query_scalar(concat!("SELECT IS_USED_LOCK(", lock_name!(), ")"))
            .fetch_one(&mut conn)
            .await
            .unwrap_or(None);
        anyhow::bail!(
            "another wagate serve is running on this database (it holds the lock {}): one gateway per \
             database; stop the other one first",
            holder.map_or_else(|| "wagate:<database>".to_owned(), |id| format!("of MySQL connection {id}"))
        );
    }
    Ok(tokio::spawn(keep(url, conn)))
}

/// Whether this connection got the named lock within `wait`.
async fn get_lock(conn: &mut MySqlConnection, wait: Duration) -> anyhow::Result<bool> {
    let got: Option<i64> = sqlx::query_scalar(concat!("SELECT GET_LOCK(", lock_name!(), ", ?)"))
        .bind(wait.as_secs() as i64)
        .fetch_one(conn)
        .await
        .context("taking the database lock")?;
    Ok(got == Some(1))
}

/// Keeps the lock's connection alive; if it breaks (the server restarted), the
/// lock went with it: connect again and take it back.
async fn keep(url: String, mut conn: MySqlConnection) {
    loop {
        tokio::time::sleep(CHECK_EVERY).await;
        let ours: Result<Option<i64>, _> =
            sqlx::query_scalar(concat!("SELECT IS_USED_LOCK(", lock_name!(), ") = CONNECTION_ID()"))
                .fetch_one(&mut conn)
                .await;
        match ours {
            Ok(Some(1)) => continue,
            Ok(_) => tracing::error!("the database lock is not held; taking it again"),
            Err(e) => tracing::warn!(error = %e, "the database lock's connection broke; connecting again"),
        }
        match MySqlConnection::connect(&url).await {
            Ok(mut fresh) => match get_lock(&mut fresh, Duration::ZERO).await {
                Ok(true) => conn = fresh,
                Ok(false) => tracing::error!(
                    "another wagate serve took this database's lock: two gateways on one database send twice; \
                     stop one of them"
                ),
                Err(e) => tracing::warn!(error = %e, "could not take the database lock again"),
            },
            Err(e) => tracing::warn!(error = %e, "could not reconnect to keep the database lock"),
        }
    }
}
