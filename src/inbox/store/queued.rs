//! Queued messages in their chats' timelines: the queue's `Timeline` port.

use std::collections::HashMap;

use futures_util::future::BoxFuture;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction, DbErr, EntityTrait, QueryFilter, QuerySelect,
    sea_query::Expr,
};

use super::{super::views, user_names};
use crate::{
    db::entities::{chat_entries as entries, chats, messages},
    events::GatewayEvent,
    inbox::{conversations, search},
    model::SessionKey,
    queue::content::Target,
};

/// The queue's [`Timeline`](crate::queue::store::Timeline) port: queued
/// messages in their chats' timelines. The file of a message with media that
/// enters a chat is kept for the chat too (a hard link beside the received
/// media, `sent-<id>`), since the queue forgets it once WhatsApp has it.
pub struct QueuedInChats {
    /// The queue's media files (`data_dir/media`).
    queued: std::path::PathBuf,
    /// The inbox's (`data_dir/inbox-media`).
    kept: std::path::PathBuf,
}

impl QueuedInChats {
    pub fn new(data_dir: &std::path::Path) -> QueuedInChats {
        let kept = data_dir.join("inbox-media");
        // The inbox makes it too; the queue may enter messages before the inbox exists.
        if let Err(e) = std::fs::create_dir_all(&kept) {
            tracing::warn!(dir = %kept.display(), error = %e, "sent files cannot be kept for their chats");
        }
        QueuedInChats { queued: data_dir.join("media"), kept }
    }
}

impl crate::queue::store::Timeline for QueuedInChats {
    fn enter<'a>(
        &'a self,
        tx: &'a DatabaseTransaction,
        rows: &'a [messages::Model],
    ) -> BoxFuture<'a, Result<(), DbErr>> {
        Box::pin(async move {
            for id in enter_queued(tx, rows).await? {
                let Some(kept) = super::super::media::sent_file(&self.kept, id) else { continue };
                // Before the queue's commit, so before the file can be sent and forgotten.
                match std::fs::hard_link(self.queued.join(id), &kept) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                    Err(e) => tracing::warn!(message_id = %id, error = %e, "a sent file is not kept for its chat"),
                }
            }
            Ok(())
        })
    }

    fn events<'a>(
        &'a self,
        tx: &'a DatabaseTransaction,
        rows: &'a [&'a messages::Model],
        offset: crate::config::Zone,
    ) -> BoxFuture<'a, Result<Vec<GatewayEvent>, DbErr>> {
        Box::pin(queued_chat_events(tx, rows, offset))
    }
}

/// Puts queued messages into the timelines of their chats (session and
/// recipient), in the transaction that queues them. The ids of those with a
/// file that entered a chat.
pub async fn enter_queued<'r>(conn: &impl ConnectionTrait, rows: &'r [messages::Model]) -> Result<Vec<&'r str>, DbErr> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let mut by_session: HashMap<&SessionKey, Vec<&str>> = HashMap::new();
    for row in rows {
        by_session.entry(&row.session_id).or_default().push(&row.recipient);
    }
    let mut chat_of: HashMap<(SessionKey, String), i64> = HashMap::new();
    for (session, recipients) in by_session {
        let found: Vec<(i64, String)> = chats::Entity::find()
            .select_only()
            .columns([chats::Column::Id, chats::Column::Contact])
            .filter(chats::Column::SessionId.eq(session))
            .filter(chats::Column::Contact.is_in(recipients))
            .into_tuple()
            .all(conn)
            .await?;
        for (id, contact) in found {
            chat_of.insert((session.clone(), contact), id);
        }
    }
    if chat_of.is_empty() {
        return Ok(Vec::new());
    }
    let mut with_files = Vec::new();
    let mut new_entries = Vec::new();
    let mut counted = Vec::new();
    let mut touched: HashMap<i64, i64> = HashMap::new();
    for row in rows {
        let Some(chat) = chat_of.get(&(row.session_id.clone(), row.recipient.clone())) else { continue };
        if row.media_size.is_some() {
            with_files.push(row.id.as_str());
        }
        new_entries.push(entries::ActiveModel {
            chat_id: Set(*chat),
            sender: Set(row.origin),
            inbound_id: Set(None),
            message_id: Set(Some(row.id.clone())),
            agent_id: Set(row.agent_id),
            at: Set(row.created_at),
            ..Default::default()
        });
        // A reaction, an edit or a deletion changes a message: no message of its own.
        if !matches!(row.kind.as_str(), "reaction" | "edit" | "revoke") {
            let entered = conversations::Entered { sender: row.origin, agent: row.agent_id, at: row.created_at };
            counted.push((*chat, entered));
        }
        let at = touched.entry(*chat).or_insert(row.created_at);
        *at = std::cmp::max(*at, row.created_at);
    }
    entries::Entity::insert_many(new_entries).exec_without_returning(conn).await?;
    conversations::queued(conn, &counted).await?;
    search_queued(conn, rows, &chat_of).await?;
    react_on_received(conn, rows, &chat_of).await?;
    for (chat, at) in touched {
        chats::Entity::update_many()
            .col_expr(chats::Column::LastMessageAt, Expr::value(at))
            .col_expr(chats::Column::UpdatedAt, Expr::value(at))
            .filter(chats::Column::Id.eq(chat))
            .exec(conn)
            .await?;
    }
    Ok(with_files)
}

/// The texts of queued messages just entered into timelines, for search; an
/// edit or a deletion of a sent message changes its entry's text.
async fn search_queued(
    conn: &impl ConnectionTrait,
    rows: &[messages::Model],
    chat_of: &HashMap<(SessionKey, String), i64>,
) -> Result<(), DbErr> {
    let texts: HashMap<&str, String> = rows
        .iter()
        .filter(|r| chat_of.contains_key(&(r.session_id.clone(), r.recipient.clone())))
        .filter_map(|r| Some((r.id.as_str(), search::searchable(r.body.as_deref(), &r.kind, r.extra.as_deref())?)))
        .collect();
    if !texts.is_empty() {
        // Entry ids are the database's: read back (MySQL returns none from a multi-row insert).
        let made: Vec<(i64, i64, Option<String>)> = entries::Entity::find()
            .select_only()
            .columns([entries::Column::Id, entries::Column::ChatId, entries::Column::MessageId])
            .filter(entries::Column::MessageId.is_in(texts.keys().copied()))
            .into_tuple()
            .all(conn)
            .await?;
        let indexed: Vec<(i64, i64, String)> = made
            .into_iter()
            .filter_map(|(id, chat, message)| Some((id, chat, texts.get(message?.as_str())?.clone())))
            .collect();
        search::index(conn, &indexed).await?;
    }
    for row in rows.iter().filter(|r| matches!(r.kind.as_str(), "edit" | "revoke")) {
        let Some(target) = row.extra.as_deref().and_then(|e| serde_json::from_str::<Target>(e).ok()) else {
            continue;
        };
        let text = if row.kind == "edit" { row.body.clone() } else { None };
        search::replace_queued(conn, &target.message_id, text).await?;
    }
    Ok(())
}

/// The session's own reactions on messages it received: in the received
/// message's `extra.reactions`, under the session's number, as a contact's are.
async fn react_on_received(
    conn: &impl ConnectionTrait,
    rows: &[messages::Model],
    chat_of: &HashMap<(SessionKey, String), i64>,
) -> Result<(), DbErr> {
    use crate::db::entities::{inbound_messages as inbound, sessions};
    for row in rows.iter().filter(|r| r.kind == "reaction") {
        let Some(reaction) =
            row.extra.as_deref().and_then(|e| serde_json::from_str::<crate::queue::content::Reaction>(e).ok())
        else {
            continue;
        };
        let Some(chat) = chat_of.get(&(row.session_id.clone(), row.recipient.clone())) else { continue };
        if reaction.from_me {
            continue; // on a message the session sent: the queue's to apply
        }
        let own: Option<Option<String>> = sessions::Entity::find_by_id(row.session_id.clone())
            .select_only()
            .column(sessions::Column::PhoneNumber)
            .into_tuple()
            .one(conn)
            .await?;
        let (Some(own), Some(target)) = (
            own.flatten(),
            inbound::Entity::find()
                .filter(inbound::Column::SessionId.eq(row.session_id.clone()))
                .filter(inbound::Column::ChatId.eq(*chat))
                .filter(inbound::Column::WaId.eq(reaction.message_id.clone()))
                .one(conn)
                .await?,
        ) else {
            continue;
        };
        let mut extra = target
            .extra
            .as_deref()
            .and_then(|e| serde_json::from_str::<serde_json::Value>(e).ok())
            .filter(serde_json::Value::is_object)
            .unwrap_or_else(|| serde_json::json!({}));
        crate::queue::addons::set_reaction(&mut extra, &own, &reaction.emoji);
        inbound::Entity::update_many()
            .col_expr(inbound::Column::Extra, Expr::value(Some(extra.to_string())))
            .filter(inbound::Column::Id.eq(target.id))
            .exec(conn)
            .await?;
    }
    Ok(())
}

/// The `chat.message` events of these queued messages' timeline entries
/// (those in a chat), read on `conn`: the transaction that changed them.
async fn queued_chat_events(
    conn: &impl ConnectionTrait,
    rows: &[&messages::Model],
    offset: crate::config::Zone,
) -> Result<Vec<GatewayEvent>, DbErr> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    let found: Vec<entries::Model> =
        entries::Entity::find().filter(entries::Column::MessageId.is_in(ids)).all(conn).await?;
    if found.is_empty() {
        return Ok(Vec::new());
    }
    let chats: HashMap<i64, chats::Model> = chats::Entity::find()
        .filter(chats::Column::Id.is_in(found.iter().map(|e| e.chat_id)))
        .all(conn)
        .await?
        .into_iter()
        .map(|c| (c.id, c))
        .collect();
    let agents: Vec<i64> = found.iter().filter_map(|e| e.agent_id).collect();
    let names = user_names(conn, &agents).await?;
    let by_id: HashMap<&str, &messages::Model> = rows.iter().map(|r| (r.id.as_str(), *r)).collect();
    let mut events = Vec::new();
    for entry in &found {
        let (Some(chat), Some(row)) =
            (chats.get(&entry.chat_id), entry.message_id.as_deref().and_then(|id| by_id.get(id)))
        else {
            continue;
        };
        let name = entry.agent_id.and_then(|a| names.get(&a).cloned());
        let view = views::entry_of_queued(entry, row, name, offset);
        events.push(GatewayEvent {
            kind: "chat.message",
            owner: chat.user_id,
            session: chat.session_id.clone(),
            also: Vec::new(),
            agent: chat.assigned_agent_id,
            data: serde_json::json!({"chat_id": chat.id, "message": view}),
        });
    }
    Ok(events)
}
