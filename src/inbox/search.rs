//! Search inside messages: owns `chat_words`, one row per (word stem,
//! timeline entry) for each entry with a text (a received or sent text or
//! caption, a note), written in the transaction that writes the entry, changed
//! by an edit, dropped by a deletion (migration 18 says why our own index and
//! not the databases' full-text ones). Words are the `words` crate's stems, so
//! `internet` finds `internetnya` and `bayar` finds `dibayar` (Indonesian
//! affixes). Hits come newest first, only in chats the caller may see, at a
//! cost bounded by the page, not by how many messages hold the word.

use std::collections::{HashMap, HashSet};

use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QuerySelect, Statement, Value,
    sea_query::{Alias, Expr, ExprTrait, Query, SelectStatement},
};
use serde::Serialize;
use utoipa::ToSchema;

use super::{ChatScope, Inbox, InboxError, MessageInChat, store};
use crate::db::entities::{chat_entries as entries, chats};

/// Most words in a query.
pub const MAX_WORDS: usize = 8;
/// The longest query, in characters.
pub const MAX_QUERY: usize = 200;
/// A scope of at most this many chats is searched chat by chat.
const FEW_CHATS: u64 = 2_000;
/// A word's hits are read this many at a time (at first; twice as many each
/// round after).
const BATCH: u64 = 200;
/// At most this many of a word's hits are looked at for one page: a page of a
/// search whose hits the caller mostly may not see ends early, with `before`
/// set to go on.
const MOST_READ: u64 = 100_000;
/// How often a word is counted at most, to pick the rarest of a query's words.
const COUNT_UP_TO: u64 = 1_000;

/// A query's words: lower-case runs of letters and digits, at least
/// `words::MIN` characters. Everything else (quotes, `%`, `_`, `*`, `-`, `+`,
/// parentheses) separates words, so no character of `q` is ever an operator.
pub fn words_of(q: &str) -> Result<Vec<String>, String> {
    if q.chars().count() > MAX_QUERY {
        return Err(format!("must be at most {MAX_QUERY} characters"));
    }
    if let Some(long) = q.split(|c: char| !c.is_alphanumeric()).find(|w| w.chars().count() > words::MAX) {
        return Err(format!(
            "has a word longer than {} characters ({}…)",
            words::MAX,
            long.chars().take(12).collect::<String>()
        ));
    }
    let mut found: Vec<String> = Vec::new();
    for (_, word) in words::words(q) {
        if !found.contains(&word) {
            found.push(word);
        }
    }
    if found.is_empty() {
        return Err(format!("must hold a word of at least {} letters or digits", words::MIN));
    }
    if found.len() > MAX_WORDS {
        return Err(format!("must hold at most {MAX_WORDS} words"));
    }
    Ok(found)
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
    let values: Vec<Value> = rows
        .iter()
        .flat_map(|(entry, chat, text)| {
            words::stems(text).into_iter().flat_map(|stem| [Value::from(stem), Value::from(*entry), Value::from(*chat)])
        })
        .collect();
    let backend = conn.get_database_backend();
    for chunk in values.chunks(3 * 300) {
        let marks = vec!["(?, ?, ?)"; chunk.len() / 3].join(", ");
        let sql = format!("INSERT INTO chat_words (word, entry_id, chat_id) VALUES {marks}");
        conn.execute_raw(Statement::from_sql_and_values(backend, sql, chunk.to_vec())).await?;
    }
    Ok(())
}

/// The entry's text is now `text` (edited), or nothing (deleted).
pub async fn replace(conn: &impl ConnectionTrait, entry: i64, chat: i64, text: Option<String>) -> Result<(), DbErr> {
    let sql = "DELETE FROM chat_words WHERE chat_id = ? AND entry_id = ?";
    let backend = conn.get_database_backend();
    conn.execute_raw(Statement::from_sql_and_values(backend, sql, [Value::from(chat), Value::from(entry)])).await?;
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
    /// The words of these texts that matched (lower-case, as written:
    /// `internetnya` for `internet`), to mark.
    pub words: Vec<String>,
    /// Pass as `before` for older hits; `null` when there are none. A page may
    /// hold fewer hits than asked and still set it: the search stopped after
    /// reading many hits of chats the caller may not see.
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

/// Whose hits a search reads.
enum Reach {
    /// These chats' (few enough to read chat by chat).
    Chats(Vec<i64>),
    /// Every chat's, each hit's chat checked against the scope.
    Checked,
}

impl Inbox {
    /// The entries whose text holds every word of `words` (compared by their
    /// stems), in chats `scope` sees, newest first. The rarest word's hits are
    /// read newest first, in growing batches, and kept when the other words
    /// are in the same entry and the caller may see its chat.
    pub async fn search(
        &self,
        scope: &ChatScope,
        words: Vec<String>,
        within: SearchIn,
        limit: u64,
    ) -> Result<SearchPage, InboxError> {
        let db = self.db();
        let mut stems: Vec<String> = Vec::new();
        for stem in words.iter().map(|w| words::stem(w)) {
            if !stems.contains(&stem) {
                stems.push(stem);
            }
        }
        if stems.len() > 1 {
            let mut counted = Vec::with_capacity(stems.len());
            for stem in stems {
                counted.push((count(db, &stem).await?, stem));
            }
            counted.sort_by_key(|(n, _)| *n);
            stems = counted.into_iter().map(|(_, stem)| stem).collect();
        }
        let reach = self.reach(scope, within.chat).await?;
        let mut hits: Vec<i64> = Vec::new();
        let (mut cursor, mut batch, mut read) = (within.before.unwrap_or(i64::MAX), BATCH, 0);
        let before = loop {
            let rows = postings(db, &stems[0], &reach, cursor, batch).await?;
            let exhausted = (rows.len() as u64) < batch;
            read += rows.len() as u64;
            let Some(&(last, _)) = rows.last() else { break None };
            cursor = last;
            let mut kept = rows;
            for other in &stems[1..] {
                let ids: Vec<i64> = kept.iter().map(|(entry, _)| *entry).collect();
                let with = holding(db, other, ids).await?;
                kept.retain(|(entry, _)| with.contains(entry));
            }
            if let Reach::Checked = reach
                && !kept.is_empty()
            {
                let seen: HashSet<i64> = kept.iter().map(|(_, chat)| *chat).collect();
                let admitted = store::chats_by_id(db, seen.into_iter().collect()).await?;
                kept.retain(|(_, chat)| admitted.get(chat).is_some_and(|c| scope.admits(c)));
            }
            hits.extend(kept.iter().map(|(entry, _)| *entry));
            if hits.len() as u64 > limit {
                hits.truncate(limit as usize);
                break hits.last().copied();
            }
            if exhausted {
                break None;
            }
            if read >= MOST_READ {
                break Some(cursor);
            }
            batch = Ord::min(batch * 2, 5_000);
        };
        let mut found = entries::Entity::find().filter(entries::Column::Id.is_in(hits)).all(db).await?;
        found.sort_by_key(|e| std::cmp::Reverse(e.id));
        let chat_ids: Vec<i64> = found.iter().map(|e| e.chat_id).collect();
        let chat_rows = store::chats_by_id(db, chat_ids).await?;
        let views = self.entry_views(&found).await?;
        let data: Vec<MessageInChat> = found
            .iter()
            .zip(views)
            .filter_map(|(entry, message)| Some(MessageInChat::of(chat_rows.get(&entry.chat_id)?, message)))
            .collect();
        let words = matched(data.iter().flat_map(|hit| [&hit.message.text, &hit.message.caption]).flatten(), &stems);
        Ok(SearchPage { data, words, before })
    }

    /// Which chats' hits to read for `scope` (only `chat`'s, when given).
    async fn reach(&self, scope: &ChatScope, chat: Option<i64>) -> Result<Reach, DbErr> {
        if let Some(chat) = chat {
            let row = store::chats_by_id(self.db(), vec![chat]).await?;
            return Ok(Reach::Chats(row.get(&chat).filter(|c| scope.admits(c)).map(|c| c.id).into_iter().collect()));
        }
        if *scope == ChatScope::default() {
            // Everyone's chats: nothing to narrow by.
            return Ok(Reach::Checked);
        }
        let ids: Vec<i64> = chats::Entity::find()
            .select_only()
            .column(chats::Column::Id)
            .filter(store::scope_condition(scope))
            .limit(FEW_CHATS + 1)
            .into_tuple()
            .all(self.db())
            .await?;
        Ok(if ids.len() as u64 > FEW_CHATS { Reach::Checked } else { Reach::Chats(ids) })
    }
}

/// How many entries hold `stem`, counted up to [`COUNT_UP_TO`].
async fn count(db: &impl ConnectionTrait, stem: &str) -> Result<u64, DbErr> {
    let sql = format!("SELECT COUNT(*) FROM (SELECT 1 FROM chat_words WHERE word = ? LIMIT {COUNT_UP_TO}) t");
    let row = db.query_one_raw(Statement::from_sql_and_values(db.get_database_backend(), sql, [stem.into()])).await?;
    Ok(row.map(|r| r.try_get_by_index::<i64>(0)).transpose()?.unwrap_or(0) as u64)
}

/// Up to `n` entries `(entry id, chat id)` holding `stem`, older than
/// `before`, newest first, in the chats of `reach`.
async fn postings(
    db: &impl ConnectionTrait,
    stem: &str,
    reach: &Reach,
    before: i64,
    n: u64,
) -> Result<Vec<(i64, i64)>, DbErr> {
    let backend = db.get_database_backend();
    let mut values: Vec<Value> = vec![stem.into(), before.into()];
    let (index, chats) = match reach {
        Reach::Chats(ids) if ids.is_empty() => return Ok(Vec::new()),
        Reach::Chats(ids) => {
            values.extend(ids.iter().map(|&id| Value::from(id)));
            // A chat's hits are a range of this index; a frequent word's
            // newest hits in the primary key could be far from these chats.
            let index = match backend {
                sea_orm::DatabaseBackend::MySql => " FORCE INDEX (idx_chat_words_chat)",
                _ => " INDEXED BY idx_chat_words_chat",
            };
            (index, format!(" AND chat_id IN ({})", vec!["?"; ids.len()].join(", ")))
        }
        Reach::Checked => ("", String::new()),
    };
    let sql = format!(
        "SELECT entry_id, chat_id FROM chat_words{index} WHERE word = ? AND entry_id < ?{chats} \
         ORDER BY entry_id DESC LIMIT {n}"
    );
    let rows = db.query_all_raw(Statement::from_sql_and_values(backend, sql, values)).await?;
    rows.iter().map(|r| Ok((r.try_get_by_index(0)?, r.try_get_by_index(1)?))).collect()
}

/// Which of `entries` hold `stem`.
async fn holding(db: &impl ConnectionTrait, stem: &str, entries: Vec<i64>) -> Result<HashSet<i64>, DbErr> {
    if entries.is_empty() {
        return Ok(HashSet::new());
    }
    let query: SelectStatement = Query::select()
        .column(Alias::new("entry_id"))
        .from(Alias::new("chat_words"))
        .and_where(Expr::col(Alias::new("word")).eq(stem))
        .and_where(Expr::col(Alias::new("entry_id")).is_in(entries))
        .to_owned();
    let rows = db.query_all_raw(db.get_database_backend().build(&query)).await?;
    rows.iter().map(|r| r.try_get_by_index(0)).collect()
}

/// The distinct words of `texts` (lower-case) whose stems are `stems`.
fn matched<'a>(texts: impl Iterator<Item = &'a String>, stems: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut known: HashMap<String, bool> = HashMap::new();
    for text in texts {
        for (_, word) in words::words(text) {
            let hit = *known.entry(word.clone()).or_insert_with(|| stems.contains(&words::stem(&word)));
            if hit && !out.contains(&word) {
                out.push(word);
            }
        }
    }
    out
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
    fn the_words_that_matched_are_marked_as_written() {
        let texts = ["Internetnya MATI, internet mati".to_owned(), "Sudah dibayar? Pembayaran lunas".to_owned()];
        let stems = ["internet".to_owned(), "bayar".to_owned()];
        assert_eq!(matched(texts.iter(), &stems), ["internetnya", "internet", "dibayar", "pembayaran"]);
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
