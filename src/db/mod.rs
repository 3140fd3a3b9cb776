//! The database connection (SQLite in WAL mode with foreign keys, or MySQL/MariaDB)
//! and the sea-orm entities. Schema changes live in the `migrations/` crate.

pub mod entities;
pub mod health;
mod nodelay;
pub mod owner;
pub mod record;
pub mod sqlite_lock;
pub mod write;

use std::{path::PathBuf, time::Duration};

use anyhow::Context;
use migration::{Migrator, MigratorTrait};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseBackend, DatabaseConnection,
    sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous},
};

use crate::config::Config;

/// The URL in `database.url`, or the SQLite file in `storage.data_dir`.
pub fn url(config: &Config) -> String {
    let url = config.database.url.expose();
    if url.is_empty() {
        format!("sqlite://{}?mode=rwc", config.storage.data_dir.join("wagate.db").display())
    } else if let Some(rest) = url.strip_prefix("mariadb://") {
        format!("mysql://{rest}")
    } else {
        url.to_owned()
    }
}

/// The file of a `sqlite:` URL (none for MySQL or an in-memory database).
pub fn sqlite_file(url: &str) -> Option<PathBuf> {
    let path = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let path = path.split('?').next().unwrap_or(path);
    (!path.is_empty() && !path.contains(":memory:")).then(|| PathBuf::from(path))
}

pub async fn connect(config: &Config) -> anyhow::Result<DatabaseConnection> {
    if config.database.url.is_empty() {
        crate::files::private_dir(&config.storage.data_dir)
            .with_context(|| format!("creating data dir {}", config.storage.data_dir.display()))?;
        let file = config.storage.data_dir.join("wagate.db");
        crate::files::private_database_file(&file)
            .with_context(|| format!("making {} the gateway's alone", file.display()))?;
    }
    let synchronous = match config.database.sqlite_synchronous {
        crate::config::SqliteSync::Full => SqliteSynchronous::Full,
        crate::config::SqliteSync::Normal => SqliteSynchronous::Normal,
    };
    let mut options = ConnectOptions::new(url(config));
    options
        .max_connections(config.database.max_connections.max(1))
        .min_connections(1)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(10))
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(move |o| {
            o.journal_mode(SqliteJournalMode::Wal)
                .synchronous(synchronous)
                .foreign_keys(true)
                .busy_timeout(sqlite_lock::BUSY_TIMEOUT)
        });
    if let Some(file) = sqlite_file(options.get_url()) {
        // One per pool, for as long as the process runs: SQLite's busy handler points at it.
        let lock: &'static sqlite_lock::WriteLock = Box::leak(Box::new(sqlite_lock::WriteLock::new(&file)));
        options.map_sqlx_sqlite_pool_opts(move |pool| {
            pool.after_connect(move |conn, _| Box::pin(sqlite_lock::install(conn, lock)))
        });
    }
    if let Some(port) = nodelay::mysql_port(options.get_url()) {
        options.map_sqlx_mysql_pool_opts(move |pool| {
            pool.after_connect(move |_, _| {
                Box::pin(async move {
                    nodelay::set_to_port(port);
                    Ok(())
                })
            })
        });
    }
    let db = Database::connect(options).await.context("connecting to the database")?;
    Ok(db)
}

pub async fn migrate(db: &DatabaseConnection) -> anyhow::Result<()> {
    Migrator::up(db, None).await.context("running database migrations")
}

/// `sqlite` or `mysql`, as `/db-connect` reports it.
pub fn backend_name(db: &DatabaseConnection) -> &'static str {
    match db.get_database_backend() {
        DatabaseBackend::Sqlite => "sqlite",
        DatabaseBackend::MySql => "mysql",
        _ => "other",
    }
}

pub async fn ping(db: &DatabaseConnection) -> bool {
    db.execute_unprepared("SELECT 1").await.is_ok()
}

/// Now, in UTC, to the second: what DATETIME columns keep on every backend.
pub fn now() -> chrono::NaiveDateTime {
    let now = chrono::Utc::now().timestamp();
    chrono::DateTime::from_timestamp(now, 0).expect("current time is representable").naive_utc()
}
