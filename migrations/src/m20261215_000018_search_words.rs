//! Search inside messages, by our own index: `chat_words`, one row per
//! (stem, timeline entry) for each distinct word stem of the entry's text (the
//! `words` crate), replacing migration 17's `chat_search`.
//!
//! The databases' own full-text indexes cost time in proportion to how many
//! messages hold a word (MariaDB's FULLTEXT ranks every match before it can
//! sort, ~2.6 s for a frequent word at a million messages), and neither knows
//! Indonesian affixes. Here a word's newest hits are the end of one primary-key
//! range, `(word, entry_id)`, read backwards and stopped at the page; a chat's
//! hits are a range of `(chat_id, word, entry_id)`. The same table, the same
//! queries, on SQLite and MySQL/MariaDB. Rows go with their chat (foreign key).

use sea_orm::{ConnectionTrait, DatabaseBackend, Statement, Value};
use sea_orm_migration::prelude::*;

use crate::m20261214_000017_search::BACKFILL;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Entries indexed per round of the backfill.
const PAGE: u64 = 2_000;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let backend = manager.get_database_backend();
        match backend {
            DatabaseBackend::MySql => {
                db.execute_unprepared(
                    "CREATE TABLE IF NOT EXISTS chat_words ( \
                       word VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL, \
                       entry_id BIGINT NOT NULL, \
                       chat_id BIGINT NOT NULL, \
                       PRIMARY KEY (word, entry_id), \
                       KEY idx_chat_words_chat (chat_id, word, entry_id), \
                       CONSTRAINT fk_chat_words_chat FOREIGN KEY (chat_id) REFERENCES chats (id) ON DELETE CASCADE \
                     ) ENGINE = InnoDB",
                )
                .await?;
            }
            _ => {
                db.execute_unprepared(
                    "CREATE TABLE IF NOT EXISTS chat_words ( \
                       word TEXT NOT NULL, \
                       entry_id INTEGER NOT NULL, \
                       chat_id INTEGER NOT NULL REFERENCES chats (id) ON DELETE CASCADE, \
                       PRIMARY KEY (word, entry_id) \
                     ) WITHOUT ROWID",
                )
                .await?;
                db.execute_unprepared(
                    "CREATE INDEX IF NOT EXISTS idx_chat_words_chat ON chat_words (chat_id, word, entry_id)",
                )
                .await?;
                db.execute_unprepared("DROP TRIGGER IF EXISTS chat_entries_unsearch").await?;
            }
        }
        db.execute_unprepared("DROP TABLE IF EXISTS chat_search").await?;

        // The texts already in timelines, a page at a time.
        let mut last = 0i64;
        loop {
            let sql = format!("{BACKFILL} AND e.id > ? ORDER BY e.id LIMIT {PAGE}");
            let rows = db.query_all_raw(Statement::from_sql_and_values(backend, sql, [Value::from(last)])).await?;
            let Some(row) = rows.last() else { break };
            last = row.try_get_by_index(0)?;
            let mut values: Vec<Value> = Vec::new();
            for row in &rows {
                let (entry, chat): (i64, i64) = (row.try_get_by_index(0)?, row.try_get_by_index(1)?);
                let text: String = row.try_get_by_index(2)?;
                for stem in words::stems(&text) {
                    values.extend([Value::from(stem), Value::from(entry), Value::from(chat)]);
                }
            }
            for chunk in values.chunks(3 * 300) {
                let marks = vec!["(?, ?, ?)"; chunk.len() / 3].join(", ");
                let sql = format!("INSERT INTO chat_words (word, entry_id, chat_id) VALUES {marks}");
                db.execute_raw(Statement::from_sql_and_values(backend, sql, chunk.to_vec())).await?;
            }
            if (rows.len() as u64) < PAGE {
                break;
            }
        }
        Ok(())
    }

    /// Back to migration 17's tables, indexed again.
    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.get_connection().execute_unprepared("DROP TABLE IF EXISTS chat_words").await?;
        crate::m20261214_000017_search::Migration.up(manager).await
    }
}
