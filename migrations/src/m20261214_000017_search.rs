//! Search inside messages: `chat_search`, one row per timeline entry with a
//! text (a received or sent text or caption, a note), keyed by the entry's id.
//!
//! SQLite: an FTS5 table (rowid = the entry's id; `unicode61` folds case and
//! diacritics), its rows dropped with their entries by a trigger. MySQL/MariaDB:
//! an InnoDB table with a FULLTEXT index built without the English stopword list
//! (the words people write here are Indonesian), dropped with their entries by a
//! foreign key. The texts already in the timelines are indexed here, once.

use sea_orm::{ConnectionTrait, DatabaseBackend};
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The text of each entry that has one (what `inbox::search` indexes as it writes).
pub(crate) const BACKFILL: &str = "SELECT e.id, e.chat_id, COALESCE(i.body, m.body, e.note) \
     FROM chat_entries e \
     LEFT JOIN inbound_messages i ON i.id = e.inbound_id \
     LEFT JOIN messages m ON m.id = e.message_id \
     WHERE COALESCE(i.body, m.body, e.note) <> '' \
     AND (m.kind IS NULL OR m.kind NOT IN ('edit', 'revoke', 'reaction')) \
     AND COALESCE(i.extra, m.extra, '') NOT LIKE '%\"deleted\":%'";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        match manager.get_database_backend() {
            DatabaseBackend::MySql => {
                // The stopword setting is read when the index is built, on this
                // connection: one statement text keeps them together.
                db.execute_unprepared(
                    "SET SESSION innodb_ft_enable_stopword = 0; \
                     CREATE TABLE IF NOT EXISTS chat_search ( \
                       entry_id BIGINT NOT NULL PRIMARY KEY, \
                       chat_id BIGINT NOT NULL, \
                       text TEXT NOT NULL, \
                       KEY idx_chat_search_chat (chat_id), \
                       FULLTEXT KEY ft_chat_search_text (text), \
                       CONSTRAINT fk_chat_search_entry FOREIGN KEY (entry_id) REFERENCES chat_entries (id) ON DELETE CASCADE \
                     ) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci; \
                     SET SESSION innodb_ft_enable_stopword = 1",
                )
                .await?;
                db.execute_unprepared(&format!("INSERT INTO chat_search (entry_id, chat_id, text) {BACKFILL}")).await?;
            }
            _ => {
                db.execute_unprepared(
                    "CREATE VIRTUAL TABLE IF NOT EXISTS chat_search USING fts5(\
                       text, chat_id UNINDEXED, tokenize = 'unicode61 remove_diacritics 2')",
                )
                .await?;
                db.execute_unprepared(
                    "CREATE TRIGGER IF NOT EXISTS chat_entries_unsearch AFTER DELETE ON chat_entries \
                     BEGIN DELETE FROM chat_search WHERE rowid = old.id; END",
                )
                .await?;
                db.execute_unprepared(&format!(
                    "INSERT INTO chat_search (rowid, chat_id, text) SELECT * FROM ({BACKFILL})"
                ))
                .await?;
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if manager.get_database_backend() == DatabaseBackend::Sqlite {
            db.execute_unprepared("DROP TRIGGER IF EXISTS chat_entries_unsearch").await?;
        }
        db.execute_unprepared("DROP TABLE IF EXISTS chat_search").await?;
        Ok(())
    }
}
