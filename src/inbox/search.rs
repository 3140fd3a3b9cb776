//! Search inside messages: owns `chat_search`, one row per timeline entry
//! with a text (a received or sent text or caption, a note), written in the
//! transaction that writes the entry, changed by an edit, dropped by a
//! deletion. SQLite searches it with FTS5, MySQL/MariaDB with a FULLTEXT
//! index (see the migration); a query is words, each matched as the start of a
//! word, so `internet` finds `internetnya` (Indonesian suffixes: -nya, -kan,
//! -lah, …). Hits come newest first, only in chats the caller may see.

use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, DbErr, EntityTrait, QueryFilter, Statement, Value,
    sea_query::{Alias, Expr, ExprTrait, Order, Query},
};
use serde::Serialize;
use utoipa::ToSchema;

use super::{ChatScope, Inbox, InboxError, MessageInChat, store};
use crate::db::entities::{chat_entries as entries, chats};

/// Words shorter than this are left out of a query (MariaDB's FULLTEXT index
/// keeps none shorter: `innodb_ft_min_token_size`, 3 by default).
pub const MIN_WORD: usize = 3;
/// Most words in a query.
pub const MAX_WORDS: usize = 8;
/// The longest query, in characters.
pub const MAX_QUERY: usize = 200;
/// The longest word a query may hold (MariaDB indexes none longer than 84).
const MAX_WORD: usize = 64;

/// A query's words: lower-case runs of letters and digits. Everything else
/// (quotes, `%`, `_`, `*`, `-`, `+`, parentheses) separates words, so no
/// character of `q` is ever an operator of either database; `AND`, `OR`,
/// `NOT` and `NEAR` are words like any other.
pub fn words_of(q: &str) -> Result<Vec<String>, String> {
    if q.chars().count() > MAX_QUERY {
        return Err(format!("must be at most {MAX_QUERY} characters"));
    }
    let mut words: Vec<String> = Vec::new();
    for word in q.split(|c: char| !c.is_alphanumeric()).filter(|w| w.chars().count() >= MIN_WORD) {
        if word.chars().count() > MAX_WORD {
            return Err(format!("has a word longer than {MAX_WORD} characters"));
        }
        let word = word.to_lowercase();
        if !words.contains(&word) {
            words.push(word);
        }
    }
    if words.is_empty() {
        return Err(format!("must hold a word of at least {MIN_WORD} letters or digits"));
    }
    if words.len() > MAX_WORDS {
        return Err(format!("must hold at most {MAX_WORDS} words"));
    }
    Ok(words)
}

/// The database's query for `words`: each one a word's start, all of them.
fn match_query(backend: DatabaseBackend, words: &[String]) -> String {
    let each = words.iter().map(|w| match backend {
        DatabaseBackend::MySql => format!("+{w}*"),
        _ => format!("\"{w}\"*"),
    });
    each.collect::<Vec<_>>().join(" ")
}

/// The column holding the entry's id.
fn id_column(backend: DatabaseBackend) -> &'static str {
    match backend {
        DatabaseBackend::MySql => "chat_search.entry_id",
        _ => "chat_search.rowid",
    }
}

/// What a timeline entry says that search finds: its text or caption, or the
/// note; nothing for what changes another message or was deleted.
pub fn searchable(text: Option<&str>, kind: &str, extra: Option<&str>) -> Option<String> {
    let text = text?.trim();
    let change = matches!(kind, "edit" | "revoke" | "reaction" | "poll_vote");
    let deleted = extra.is_some_and(|e| e.contains("\"deleted\":"));
    (!text.is_empty() && !change && !deleted).then(|| text.to_owned())
}

/// Indexes entries `(entry id, chat id, text)`, in the caller's transaction.
pub async fn index(conn: &impl ConnectionTrait, rows: &[(i64, i64, String)]) -> Result<(), DbErr> {
    let backend = conn.get_database_backend();
    let id = match backend {
        DatabaseBackend::MySql => "entry_id",
        _ => "rowid",
    };
    for chunk in rows.chunks(200) {
        let marks = vec!["(?, ?, ?)"; chunk.len()].join(", ");
        let values: Vec<Value> =
            chunk.iter().flat_map(|(e, c, t)| [Value::from(*e), Value::from(*c), Value::from(t.clone())]).collect();
        let sql = format!("INSERT INTO chat_search ({id}, chat_id, text) VALUES {marks}");
        conn.execute_raw(Statement::from_sql_and_values(backend, sql, values)).await?;
    }
    Ok(())
}

/// The entry's text is now `text` (edited), or nothing (deleted).
pub async fn replace(conn: &impl ConnectionTrait, entry: i64, chat: i64, text: Option<String>) -> Result<(), DbErr> {
    let backend = conn.get_database_backend();
    let sql = format!("DELETE FROM chat_search WHERE {} = ?", id_column(backend).trim_start_matches("chat_search."));
    conn.execute_raw(Statement::from_sql_and_values(backend, sql, [Value::from(entry)])).await?;
    match text.filter(|t| !t.trim().is_empty()) {
        Some(text) => index(conn, &[(entry, chat, text)]).await,
        None => Ok(()),
    }
}

/// The timeline entry of received message `inbound` (edited or deleted): its
/// text is now `text`.
pub async fn replace_received(conn: &impl ConnectionTrait, inbound: i64, text: Option<String>) -> Result<(), DbErr> {
    if let Some(entry) = entries::Entity::find().filter(entries::Column::InboundId.eq(inbound)).one(conn).await? {
        replace(conn, entry.id, entry.chat_id, text).await?;
    }
    Ok(())
}

/// The timeline entries of queued message `id` (edited or deleted).
pub async fn replace_queued(conn: &impl ConnectionTrait, id: &str, text: Option<String>) -> Result<(), DbErr> {
    for entry in entries::Entity::find().filter(entries::Column::MessageId.eq(id)).all(conn).await? {
        replace(conn, entry.id, entry.chat_id, text.clone()).await?;
    }
    Ok(())
}

/// A page of hits, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct SearchPage {
    /// Open a hit's chat at its message (`message.id`): `GET
    /// /chats/{chat_id}/messages?before={id + 1}`, then `?after={id}`.
    pub data: Vec<MessageInChat>,
    /// The words searched for (each as a word's start), to mark in the texts.
    pub words: Vec<String>,
    /// Pass as `before` for older hits; `null` when there are none.
    pub before: Option<i64>,
}

/// Where to search.
#[derive(Debug, Default, Clone)]
pub struct SearchIn {
    /// Only this chat.
    pub chat: Option<i64>,
    /// Only entries older than this one.
    pub before: Option<i64>,
}

impl Inbox {
    /// The entries whose text holds every word of `words` (as a word's start),
    /// in chats `scope` sees, newest first.
    pub async fn search(
        &self,
        scope: &ChatScope,
        words: Vec<String>,
        within: SearchIn,
        limit: u64,
    ) -> Result<SearchPage, InboxError> {
        let db = self.db();
        let backend = db.get_database_backend();
        let id = id_column(backend);
        let search = Alias::new("chat_search");
        let matching = match backend {
            DatabaseBackend::MySql => "MATCH (chat_search.text) AGAINST (? IN BOOLEAN MODE)",
            _ => "chat_search MATCH ?",
        };
        let mut query = Query::select();
        query
            .expr(Expr::cust(id))
            .from(search.clone())
            .inner_join(
                chats::Entity,
                Expr::col((chats::Entity, chats::Column::Id)).equals((search.clone(), Alias::new("chat_id"))),
            )
            .and_where(Expr::cust_with_values(matching, [match_query(backend, &words)]))
            .cond_where(store::scope_condition(scope))
            .order_by_expr(Expr::cust(id), Order::Desc)
            .limit(limit + 1);
        if let Some(chat) = within.chat {
            query.and_where(Expr::col((search.clone(), Alias::new("chat_id"))).eq(chat));
        }
        if let Some(before) = within.before {
            query.and_where(Expr::cust_with_values(format!("{id} < ?"), [before]));
        }
        let rows = db.query_all_raw(backend.build(&query)).await?;
        let mut ids: Vec<i64> = rows.iter().map(|r| r.try_get_by_index::<i64>(0)).collect::<Result<_, _>>()?;
        let more = ids.len() as u64 > limit;
        ids.truncate(limit as usize);
        let mut found = entries::Entity::find().filter(entries::Column::Id.is_in(ids.clone())).all(db).await?;
        found.sort_by_key(|e| std::cmp::Reverse(e.id));
        let chat_ids: Vec<i64> = found.iter().map(|e| e.chat_id).collect();
        let chat_rows = store::chats_by_id(db, chat_ids).await?;
        let views = self.entry_views(&found).await?;
        let data = found
            .iter()
            .zip(views)
            .filter_map(|(entry, message)| Some(MessageInChat::of(chat_rows.get(&entry.chat_id)?, message)))
            .collect();
        Ok(SearchPage { data, words, before: if more { ids.last().copied() } else { None } })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operators_and_wildcards_are_separators() {
        assert_eq!(words_of("internet MATI").unwrap(), ["internet", "mati"]);
        assert_eq!(words_of("\"modem\" -lampu +merah*").unwrap(), ["modem", "lampu", "merah"]);
        assert_eq!(words_of("100% tagihan_bulan").unwrap(), ["100", "tagihan", "bulan"]);
        assert_eq!(words_of("a OR b AND NEAR(x)").unwrap(), ["and", "near"]);
        assert_eq!(words_of("Sudah bayar, Pak? sudah").unwrap(), ["sudah", "bayar", "pak"]);
        assert!(words_of("%_\"*").is_err());
        assert!(words_of("di ke ya").is_err());
        assert!(words_of(&"x".repeat(65)).is_err());
        assert!(words_of(&"abc ".repeat(60)).is_err());
        assert!(words_of("satu dua tiga empat lima enam tujuh delapan sembilan").is_err());
    }

    #[test]
    fn the_queries_are_each_databases_words() {
        let words = vec!["internet".to_owned(), "mati".to_owned()];
        assert_eq!(match_query(DatabaseBackend::Sqlite, &words), "\"internet\"* \"mati\"*");
        assert_eq!(match_query(DatabaseBackend::MySql, &words), "+internet* +mati*");
    }

    #[test]
    fn changes_and_deleted_messages_are_not_searched() {
        assert_eq!(searchable(Some(" halo "), "text", None).as_deref(), Some("halo"));
        assert_eq!(searchable(Some("halo"), "edit", None), None);
        assert_eq!(searchable(Some("halo"), "text", Some(r#"{"deleted":{"at":1}}"#)), None);
        assert_eq!(searchable(Some("  "), "text", None), None);
        assert_eq!(searchable(None, "image", None), None);
    }
}
