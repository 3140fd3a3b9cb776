//! Export of chats' messages: every timeline entry (received, sent, notes) of
//! one chat or of the chats a list filter keeps, in a time range, oldest
//! first, as CSV or JSON, read and written a page at a time so memory stays
//! bounded however many messages there are.

use crate::config::Zone;
use futures_util::Stream;
use sea_orm::{ColumnTrait, EntityTrait, JoinType, QueryFilter, QueryOrder, QuerySelect, RelationDef};

use super::{ChatFilter, ChatScope, Inbox, InboxError, MessageInChat, store};
use crate::db::entities::{chat_entries as entries, chats};

/// Entries read per page.
const PAGE: u64 = 500;

/// How the export is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// RFC 4180 with a header row, UTF-8 with a byte order mark (spreadsheets
    /// read it as UTF-8).
    Csv,
    /// One JSON array of `{chat_id, chat_name, phone, session, message}`.
    Json,
}

/// What is exported.
#[derive(Debug, Clone, Default)]
pub struct ExportQuery {
    /// The chats the list's filter keeps (`chat` narrows to one).
    pub filter: ChatFilter,
    pub chat: Option<i64>,
    /// Entries at or after this time (epoch ms).
    pub from: Option<i64>,
    /// Entries before this time (epoch ms).
    pub to: Option<i64>,
}

/// The CSV's columns.
pub const CSV_COLUMNS: [&str; 14] = [
    "time",
    "chat_id",
    "chat_name",
    "phone",
    "session",
    "entry_id",
    "message_id",
    "sender",
    "agent",
    "type",
    "text",
    "filename",
    "status",
    "reason",
];

/// A CSV field: quoted when it must be; a text a spreadsheet would run as a
/// formula (`=`, `+`, `-`, `@`, tab, carriage return first) starts with `'`.
fn csv_field(out: &mut String, value: &str, text: bool) {
    let formula = text && value.starts_with(['=', '+', '-', '@', '\t', '\r']);
    let value = if formula { format!("'{value}") } else { value.to_owned() };
    if value.contains([',', '"', '\n', '\r']) {
        out.push('"');
        out.push_str(&value.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(&value);
    }
}

/// One CSV row (with its line end).
pub fn csv_row(out: &mut String, m: &MessageInChat, offset: Zone) {
    let e = &m.message;
    let fields: [(String, bool); 14] = [
        (e.at.with_timezone(&offset).to_rfc3339_opts(chrono::SecondsFormat::Secs, false), false),
        (m.chat_id.to_string(), false),
        (m.chat_name.clone(), true),
        (m.phone.clone(), false),
        (m.session.clone(), true),
        (e.id.to_string(), false),
        (e.message_id.clone(), false),
        (e.sender.as_str().to_owned(), false),
        (e.agent_name.clone().unwrap_or_default(), true),
        (e.kind.clone(), false),
        (e.text.clone().or_else(|| e.caption.clone()).unwrap_or_default(), true),
        (e.media.as_ref().and_then(|m| m.filename.clone()).unwrap_or_default(), true),
        (e.status.clone(), false),
        (e.reason.clone().unwrap_or_default(), true),
    ];
    for (i, (value, text)) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        csv_field(out, value, *text);
    }
    out.push_str("\r\n");
}

impl Inbox {
    /// Up to `limit` entries after entry `after`, oldest first, of the chats
    /// `scope` sees that `query` keeps.
    pub async fn export_page(
        &self,
        scope: &ChatScope,
        query: &ExportQuery,
        after: i64,
        limit: u64,
    ) -> Result<Vec<MessageInChat>, InboxError> {
        let db = self.db();
        let to_chat: RelationDef =
            entries::Entity::belongs_to(chats::Entity).from(entries::Column::ChatId).to(chats::Column::Id).into();
        let mut condition = store::filter_condition(scope, &query.filter).add(entries::Column::Id.gt(after));
        if let Some(chat) = query.chat {
            condition = condition.add(entries::Column::ChatId.eq(chat));
        }
        if let Some(from) = query.from {
            condition = condition.add(entries::Column::At.gte(from));
        }
        if let Some(to) = query.to {
            condition = condition.add(entries::Column::At.lt(to));
        }
        let page = entries::Entity::find()
            .join(JoinType::InnerJoin, to_chat)
            .filter(condition)
            .order_by_asc(entries::Column::Id)
            .limit(limit)
            .all(db)
            .await?;
        let chat_ids: Vec<i64> = page.iter().map(|e| e.chat_id).collect();
        let chat_rows = store::chats_by_id(db, chat_ids).await?;
        let views = self.entry_views(&page).await?;
        Ok(page
            .iter()
            .zip(views)
            .filter_map(|(entry, message)| Some(MessageInChat::of(chat_rows.get(&entry.chat_id)?, message)))
            .collect())
    }

    /// The export, as chunks of text (one per page read): ends early with the
    /// error when a read fails (the answer's status has gone out by then).
    pub fn export(
        &self,
        scope: ChatScope,
        query: ExportQuery,
        format: ExportFormat,
    ) -> impl Stream<Item = Result<String, InboxError>> + Send + 'static {
        let inbox = self.clone();
        let offset = self.config().zone();
        // (last entry id written, rows written, finished)
        futures_util::stream::unfold((0i64, 0u64, false), move |(after, written, done)| {
            let (inbox, scope, query) = (inbox.clone(), scope.clone(), query.clone());
            async move {
                if done {
                    return None;
                }
                let page = match inbox.export_page(&scope, &query, after, PAGE).await {
                    Ok(page) => page,
                    Err(e) => return Some((Err(e), (after, written, true))),
                };
                let last = page.len() < PAGE as usize;
                let mut out = String::new();
                if written == 0 {
                    match format {
                        ExportFormat::Csv => {
                            out.push('\u{feff}');
                            out.push_str(&CSV_COLUMNS.join(","));
                            out.push_str("\r\n");
                        }
                        ExportFormat::Json => out.push('['),
                    }
                }
                for (i, m) in page.iter().enumerate() {
                    match format {
                        ExportFormat::Csv => csv_row(&mut out, m, offset),
                        ExportFormat::Json => {
                            if written > 0 || i > 0 {
                                out.push(',');
                            }
                            out.push_str(&serde_json::to_string(m).unwrap_or_else(|_| "null".into()));
                        }
                    }
                }
                if last && format == ExportFormat::Json {
                    out.push(']');
                }
                let next = page.last().map_or(after, |m| m.message.id);
                // `written` only tells the first page from the others.
                Some((Ok(out), (next, written + page.len() as u64 + 1, last)))
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_quoted_and_formulas_defused() {
        let mut out = String::new();
        csv_field(&mut out, "halo, \"kak\"\nbaris dua", true);
        assert_eq!(out, "\"halo, \"\"kak\"\"\nbaris dua\"");
        for (raw, want) in [("=1+1", "'=1+1"), ("+62", "'+62"), ("@x", "'@x"), ("-", "'-"), ("biasa", "biasa")] {
            let mut out = String::new();
            csv_field(&mut out, raw, true);
            assert_eq!(out, want);
        }
        let mut out = String::new();
        csv_field(&mut out, "-5", false);
        assert_eq!(out, "-5", "numbers and times are not texts");
    }
}
