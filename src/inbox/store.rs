//! The inbox's tables: committing received messages (with their chats and
//! timeline entries) in one transaction, putting queued messages into their
//! chats' timelines, and the keyset-paged reads of chats and timelines.

use std::collections::{HashMap, HashSet};

use futures_util::future::BoxFuture;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection,
    DatabaseTransaction, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect, sea_query::Expr,
};

use super::{ChatScope, views};
use crate::{
    db::entities::{chat_entries as entries, chats, inbound_messages as inbound, messages, sessions, users},
    db::write::Writer,
    engine::{Inbound, Place},
    events::GatewayEvent,
    model::{ChatMode, Origin, now_ms},
    queue::Queue,
};

/// What a commit wrote, for its events.
#[derive(Default)]
pub struct Written {
    /// The new received messages.
    pub received: Vec<inbound::Model>,
    /// Chats created or changed (as they are now), with their new timeline entries.
    pub entries: Vec<(chats::Model, Vec<entries::Model>)>,
    /// Session owners.
    pub owners: HashMap<String, i64>,
    /// Some media waits to be downloaded.
    pub media_pending: bool,
    /// The bot's replies, queued.
    pub replies: Vec<messages::Model>,
}

/// Bounded text for a `VARCHAR(n)` column.
pub fn clip(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

/// Commits received messages of several sessions in one transaction: each
/// message once per (session, chat, sender, WhatsApp id), 1:1 messages into
/// their chat (made on the first message), unread counts and modes updated.
/// The bot answers the chats' new messages in the same transaction.
/// `events` tells the events of what was written: they go into the same
/// transaction (webhooks), and to the live stream after it commits.
pub async fn commit(
    writer: &Writer,
    queue: &Queue,
    bot: &dyn super::Answerer,
    batches: &[(String, Vec<Inbound>)],
    events: impl FnOnce(&Written) -> Vec<GatewayEvent>,
) -> Result<Written, DbErr> {
    let mut write = writer.begin().await?;
    let tx = &write.tx;
    let now = now_ms();
    let mut written = Written::default();
    for (session, batch) in batches {
        let Some(owner) = sessions::Entity::find_by_id(session.clone())
            .select_only()
            .column(sessions::Column::UserId)
            .into_tuple::<i64>()
            .one(tx)
            .await?
        else {
            continue; // the session was deleted meanwhile: nothing to keep it for
        };
        written.owners.insert(session.clone(), owner);
        // What is stored already (a redelivery), and repeats within the batch.
        let ids: Vec<String> = batch.iter().map(|m| clip(&m.wa_id, 128)).collect();
        let known: HashSet<(String, String, String)> = inbound::Entity::find()
            .select_only()
            .columns([inbound::Column::ChatJid, inbound::Column::SenderJid, inbound::Column::WaId])
            .filter(inbound::Column::SessionId.eq(session))
            .filter(inbound::Column::WaId.is_in(ids))
            .into_tuple::<(String, String, String)>()
            .all(tx)
            .await?
            .into_iter()
            .collect();
        let mut seen = known;
        let mut fresh: Vec<&Inbound> = Vec::new();
        for message in batch {
            let key = (clip(&message.chat, 128), clip(&message.sender, 128), clip(&message.wa_id, 128));
            if seen.insert(key) {
                fresh.push(message);
            }
        }
        if fresh.is_empty() {
            continue;
        }
        let chats_of = chats_for(tx, session, owner, &fresh, now).await?;
        let mut by_chat: HashMap<i64, (chats::Model, Vec<entries::Model>, Vec<&Inbound>)> = HashMap::new();
        for message in fresh {
            let chat =
                message.contact.as_ref().filter(|_| message.place == Place::Direct).and_then(|c| chats_of.get(c));
            let row = inbound_row(session, chat.map(|c| c.id), message, now);
            written.media_pending |= message.media.is_some();
            let row = row.insert(tx).await?;
            if let Some(chat) = chat {
                let sender = if message.from_me { Origin::Phone } else { Origin::Customer };
                let entry = entries::ActiveModel {
                    chat_id: Set(chat.id),
                    sender: Set(sender),
                    inbound_id: Set(Some(row.id)),
                    message_id: Set(None),
                    agent_id: Set(None),
                    at: Set(now),
                    ..Default::default()
                }
                .insert(tx)
                .await?;
                let slot = by_chat.entry(chat.id).or_insert_with(|| (chat.clone(), Vec::new(), Vec::new()));
                slot.1.push(entry);
                slot.2.push(message);
            }
            written.received.push(row);
        }
        for (_, (mut chat, new_entries, messages)) in by_chat {
            let before = chat.clone();
            let customer_count = new_entries.iter().filter(|e| e.sender == Origin::Customer).count() as i32;
            chat.unread += customer_count;
            chat.last_message_at = now;
            chat.updated_at = now;
            if messages.iter().any(|m| !m.from_me) && chat.mode == ChatMode::Closed {
                chat.mode = ChatMode::Bot;
                chat.mode_at = now;
                chat.bot_menu = None;
            }
            written.replies.extend(bot.answer(tx, &mut chat, &messages, now).await?);
            // Only what changed: a mode an agent set meanwhile (MySQL reads
            // without locking the row) is not written back over.
            let mut update = chats::ActiveModel {
                id: Set(chat.id),
                unread: Set(chat.unread),
                last_message_at: Set(now),
                updated_at: Set(now),
                ..Default::default()
            };
            if chat.mode != before.mode {
                update.mode = Set(chat.mode.clone());
                update.mode_at = Set(chat.mode_at);
            }
            if chat.bot_menu != before.bot_menu {
                update.bot_menu = Set(chat.bot_menu.clone());
            }
            if chat.bot_window_at != before.bot_window_at || chat.bot_window_count != before.bot_window_count {
                update.bot_replied_at = Set(chat.bot_replied_at);
                update.bot_window_at = Set(chat.bot_window_at);
                update.bot_window_count = Set(chat.bot_window_count);
            }
            update.update(tx).await?;
            written.entries.push((chat, new_entries));
        }
    }
    if writer.heard() {
        write.emit(events(&written)).await?;
    }
    // The replies come after what they answer, in the timeline and in the events.
    queue.put(&mut write, &written.replies).await?;
    write.commit().await?;
    Ok(written)
}

/// The chats of these 1:1 messages' contacts, made where missing: named after
/// the owner's customer with that number, else the contact's push name.
async fn chats_for(
    tx: &impl ConnectionTrait,
    session: &str,
    owner: i64,
    messages: &[&Inbound],
    now: i64,
) -> Result<HashMap<String, chats::Model>, DbErr> {
    let mut contacts: Vec<&str> =
        messages.iter().filter(|m| m.place == Place::Direct).filter_map(|m| m.contact.as_deref()).collect();
    contacts.sort_unstable();
    contacts.dedup();
    if contacts.is_empty() {
        return Ok(HashMap::new());
    }
    let mut found: HashMap<String, chats::Model> = chats::Entity::find()
        .filter(chats::Column::SessionId.eq(session))
        .filter(chats::Column::Contact.is_in(contacts.iter().copied()))
        .all(tx)
        .await?
        .into_iter()
        .map(|c| (c.contact.clone(), c))
        .collect();
    let missing: Vec<&str> = contacts.iter().copied().filter(|c| !found.contains_key(*c)).collect();
    if missing.is_empty() {
        return Ok(found);
    }
    let known = crate::notify::customers::by_phone(tx, owner, &missing).await?;
    for contact in missing {
        let push_name = messages
            .iter()
            .filter(|m| m.contact.as_deref() == Some(contact) && !m.from_me)
            .find_map(|m| m.push_name.clone());
        let customer = known.get(contact);
        let name = customer.map(|c| c.name.clone()).or(push_name).unwrap_or_else(|| format!("+{contact}"));
        let chat = new_chat(session, owner, contact, &name, customer.map(|c| c.id), None, None, now).insert(tx).await?;
        found.insert(contact.to_owned(), chat);
    }
    Ok(found)
}

#[allow(clippy::too_many_arguments)]
pub fn new_chat(
    session: &str,
    owner: i64,
    contact: &str,
    name: &str,
    customer: Option<i64>,
    email: Option<String>,
    address: Option<String>,
    now: i64,
) -> chats::ActiveModel {
    chats::ActiveModel {
        session_id: Set(session.to_owned()),
        user_id: Set(owner),
        contact: Set(contact.to_owned()),
        name: Set(clip(name, 255)),
        customer_id: Set(customer),
        email: Set(email),
        address: Set(address),
        mode: Set(ChatMode::Bot),
        assigned_agent_id: Set(None),
        unread: Set(0),
        online: Set(false),
        last_message_at: Set(now),
        created_at: Set(now),
        updated_at: Set(now),
        mode_at: Set(now),
        bot_menu: Set(None),
        bot_replied_at: Set(None),
        bot_window_at: Set(None),
        bot_window_count: Set(0),
        ..Default::default()
    }
}

fn inbound_row(session: &str, chat: Option<i64>, m: &Inbound, now: i64) -> inbound::ActiveModel {
    let media = m.media.as_ref().and_then(|r| serde_json::to_string(r).ok());
    let pending = media.is_some();
    inbound::ActiveModel {
        session_id: Set(session.to_owned()),
        chat_id: Set(chat),
        chat_jid: Set(clip(&m.chat, 128)),
        sender_jid: Set(clip(&m.sender, 128)),
        wa_id: Set(clip(&m.wa_id, 128)),
        from_me: Set(m.from_me),
        kind: Set(m.kind.into()),
        wa_type: Set(m.wa_type.as_deref().map(|t| clip(t, 64))),
        body: Set(m.text.clone()),
        filename: Set(m.filename.as_deref().map(|t| clip(t, 255))),
        mimetype: Set(m.mimetype.as_deref().map(|t| clip(t, 127))),
        media_size: Set(m.size),
        media: Set(media),
        media_state: Set(pending.then(|| "pending".to_owned())),
        media_error: Set(None),
        media_attempts: Set(0),
        media_due_at: Set(pending.then_some(now)),
        quoted_id: Set(m.quoted_id.as_deref().map(|t| clip(t, 128))),
        push_name: Set(m.push_name.as_deref().map(|t| clip(t, 255))),
        extra: Set(m.extra.as_ref().map(|v| v.to_string())),
        sent_at: Set(m.sent_at),
        received_at: Set(now),
        read_at: Set(None),
        ..Default::default()
    }
}

/// The queue's [`Timeline`](crate::queue::store::Timeline) port: queued
/// messages in their chats' timelines.
pub struct QueuedInChats;

impl crate::queue::store::Timeline for QueuedInChats {
    fn enter<'a>(
        &'a self,
        tx: &'a DatabaseTransaction,
        rows: &'a [messages::Model],
    ) -> BoxFuture<'a, Result<(), DbErr>> {
        Box::pin(enter_queued(tx, rows))
    }

    fn events<'a>(
        &'a self,
        tx: &'a DatabaseTransaction,
        rows: &'a [&'a messages::Model],
        offset: chrono::FixedOffset,
    ) -> BoxFuture<'a, Result<Vec<crate::db::record::NewEvent>, DbErr>> {
        Box::pin(queued_chat_events(tx, rows, offset))
    }
}

/// Puts queued messages into the timelines of their chats (session and
/// recipient), in the transaction that queues them.
pub async fn enter_queued(conn: &impl ConnectionTrait, rows: &[messages::Model]) -> Result<(), DbErr> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut by_session: HashMap<&str, Vec<&str>> = HashMap::new();
    for row in rows {
        by_session.entry(&row.session_id).or_default().push(&row.recipient);
    }
    let mut chat_of: HashMap<(String, String), i64> = HashMap::new();
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
            chat_of.insert((session.to_owned(), contact), id);
        }
    }
    if chat_of.is_empty() {
        return Ok(());
    }
    let mut new_entries = Vec::new();
    let mut touched: HashMap<i64, i64> = HashMap::new();
    for row in rows {
        let Some(chat) = chat_of.get(&(row.session_id.clone(), row.recipient.clone())) else { continue };
        new_entries.push(entries::ActiveModel {
            chat_id: Set(*chat),
            sender: Set(row.origin.clone()),
            inbound_id: Set(None),
            message_id: Set(Some(row.id.clone())),
            agent_id: Set(row.agent_id),
            at: Set(row.created_at),
            ..Default::default()
        });
        let at = touched.entry(*chat).or_insert(row.created_at);
        *at = std::cmp::max(*at, row.created_at);
    }
    entries::Entity::insert_many(new_entries).exec_without_returning(conn).await?;
    for (chat, at) in touched {
        chats::Entity::update_many()
            .col_expr(chats::Column::LastMessageAt, Expr::value(at))
            .col_expr(chats::Column::UpdatedAt, Expr::value(at))
            .filter(chats::Column::Id.eq(chat))
            .exec(conn)
            .await?;
    }
    Ok(())
}

/// The timeline entry of a queued message, with its chat.
pub async fn entry_of_message(
    db: &DatabaseConnection,
    message_id: &str,
) -> Result<Option<(chats::Model, entries::Model)>, DbErr> {
    let Some(entry) = entries::Entity::find().filter(entries::Column::MessageId.eq(message_id)).one(db).await? else {
        return Ok(None);
    };
    let chat = chats::Entity::find_by_id(entry.chat_id).one(db).await?;
    Ok(chat.map(|c| (c, entry)))
}

/// The `chat.message` webhook events of these queued messages' timeline
/// entries (those in a chat), read on `conn`: the transaction that changed them.
pub async fn queued_chat_events(
    conn: &impl ConnectionTrait,
    rows: &[&messages::Model],
    offset: chrono::FixedOffset,
) -> Result<Vec<crate::db::record::NewEvent>, DbErr> {
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
        events.push(crate::db::record::NewEvent {
            kind: "chat.message",
            owner: Some(chat.user_id),
            session: Some(chat.session_id.clone()),
            data: serde_json::json!({"chat_id": chat.id, "message": view}),
        });
    }
    Ok(events)
}

/// Users' display names.
pub async fn user_names(db: &impl ConnectionTrait, ids: &[i64]) -> Result<HashMap<i64, String>, DbErr> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(i64, String)> = users::Entity::find()
        .select_only()
        .columns([users::Column::Id, users::Column::Name])
        .filter(users::Column::Id.is_in(ids.iter().copied()))
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows.into_iter().collect())
}

/// A position in the chat list: `<last_message_at ms>_<id>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub at: i64,
    pub id: i64,
}

impl Cursor {
    pub fn parse(text: &str) -> Option<Cursor> {
        let (at, id) = text.split_once('_')?;
        Some(Cursor { at: at.parse().ok()?, id: id.parse().ok()? })
    }

    pub fn of(chat: &chats::Model) -> String {
        format!("{}_{}", chat.last_message_at, chat.id)
    }
}

/// What the chat list is filtered by.
#[derive(Debug, Clone, Default)]
pub struct ChatFilter {
    pub mode: Option<ChatMode>,
    /// `Some(None)`: unassigned; `Some(Some(id))`: assigned to `id`.
    pub assignee: Option<Option<i64>>,
    /// Only the chats of the sessions with these keys.
    pub session: Option<Vec<String>>,
    pub unread: bool,
    /// A part of the name or the number.
    pub q: Option<String>,
}

fn scope_condition(scope: &ChatScope) -> Condition {
    let mut condition = Condition::all();
    if let Some(owner) = scope.owner {
        condition = condition.add(chats::Column::UserId.eq(owner));
    }
    if let Some(sessions) = &scope.sessions {
        condition = condition.add(chats::Column::SessionId.is_in(sessions.clone()));
    }
    if let Some(agent) = scope.agent {
        condition = condition.add(chats::Column::AssignedAgentId.eq(agent));
    }
    condition
}

/// A page of chats, most recent first.
pub async fn list(
    db: &DatabaseConnection,
    scope: &ChatScope,
    filter: &ChatFilter,
    before: Option<Cursor>,
    limit: u64,
) -> Result<Vec<chats::Model>, DbErr> {
    let mut condition = scope_condition(scope);
    if let Some(mode) = filter.mode {
        condition = condition.add(chats::Column::Mode.eq(mode.as_str()));
    }
    match filter.assignee {
        Some(Some(agent)) => condition = condition.add(chats::Column::AssignedAgentId.eq(agent)),
        Some(None) => condition = condition.add(chats::Column::AssignedAgentId.is_null()),
        None => {}
    }
    if let Some(sessions) = &filter.session {
        condition = condition.add(chats::Column::SessionId.is_in(sessions.clone()));
    }
    if filter.unread {
        condition = condition.add(chats::Column::Unread.gt(0));
    }
    if let Some(q) = filter.q.as_deref().filter(|q| !q.is_empty()) {
        let pattern = format!("%{}%", q.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"));
        let like = || sea_orm::sea_query::LikeExpr::new(&pattern).escape('\\');
        condition = condition
            .add(Condition::any().add(chats::Column::Name.like(like())).add(chats::Column::Contact.like(like())));
    }
    if let Some(c) = before {
        condition = condition.add(
            Condition::any()
                .add(chats::Column::LastMessageAt.lt(c.at))
                .add(Condition::all().add(chats::Column::LastMessageAt.eq(c.at)).add(chats::Column::Id.lt(c.id))),
        );
    }
    chats::Entity::find()
        .filter(condition)
        .order_by_desc(chats::Column::LastMessageAt)
        .order_by_desc(chats::Column::Id)
        .limit(limit)
        .all(db)
        .await
}

/// How many chats the scope sees, as `ChatCounts` wants them.
pub async fn counts(db: &DatabaseConnection, scope: &ChatScope, me: i64) -> Result<super::ChatCounts, DbErr> {
    use sea_orm::PaginatorTrait;
    let base = || chats::Entity::find().filter(scope_condition(scope));
    let by_mode: Vec<(String, i64)> = base()
        .select_only()
        .column(chats::Column::Mode)
        .column_as(chats::Column::Id.count(), "n")
        .group_by(chats::Column::Mode)
        .into_tuple()
        .all(db)
        .await?;
    let modes: HashMap<String, u64> = by_mode.into_iter().map(|(m, n)| (m, n as u64)).collect();
    let mode = |m: ChatMode| modes.get(m.as_str()).copied().unwrap_or(0);
    Ok(super::ChatCounts {
        all: modes.values().sum(),
        mine: base().filter(chats::Column::AssignedAgentId.eq(me)).count(db).await?,
        unassigned: base().filter(chats::Column::AssignedAgentId.is_null()).count(db).await?,
        unread: base().filter(chats::Column::Unread.gt(0)).count(db).await?,
        bot: mode(ChatMode::Bot),
        agent: mode(ChatMode::Agent),
        paused: mode(ChatMode::Paused),
        closed: mode(ChatMode::Closed),
    })
}

/// A page of a chat's timeline before entry `before`, newest first.
pub async fn timeline(
    db: &DatabaseConnection,
    chat: i64,
    before: Option<i64>,
    limit: u64,
) -> Result<Vec<entries::Model>, DbErr> {
    let mut query = entries::Entity::find().filter(entries::Column::ChatId.eq(chat));
    if let Some(before) = before {
        query = query.filter(entries::Column::Id.lt(before));
    }
    query.order_by_desc(entries::Column::Id).limit(limit).all(db).await
}

/// The received and queued messages these entries point at.
pub async fn contents(
    db: &DatabaseConnection,
    list: &[entries::Model],
) -> Result<(HashMap<i64, inbound::Model>, HashMap<String, messages::Model>), DbErr> {
    let inbound_ids: Vec<i64> = list.iter().filter_map(|e| e.inbound_id).collect();
    let message_ids: Vec<String> = list.iter().filter_map(|e| e.message_id.clone()).collect();
    let received = if inbound_ids.is_empty() {
        HashMap::new()
    } else {
        inbound::Entity::find()
            .filter(inbound::Column::Id.is_in(inbound_ids))
            .all(db)
            .await?
            .into_iter()
            .map(|r| (r.id, r))
            .collect()
    };
    let queued = if message_ids.is_empty() {
        HashMap::new()
    } else {
        messages::Entity::find()
            .filter(messages::Column::Id.is_in(message_ids))
            .all(db)
            .await?
            .into_iter()
            .map(|m| (m.id.clone(), m))
            .collect()
    };
    Ok((received, queued))
}

/// The newest entry of each chat.
pub async fn latest_entries(db: &DatabaseConnection, chats: &[i64]) -> Result<Vec<entries::Model>, DbErr> {
    if chats.is_empty() {
        return Ok(Vec::new());
    }
    let newest: Vec<Option<i64>> = entries::Entity::find()
        .select_only()
        .column_as(entries::Column::Id.max(), "id")
        .filter(entries::Column::ChatId.is_in(chats.iter().copied()))
        .group_by(entries::Column::ChatId)
        .into_tuple()
        .all(db)
        .await?;
    let ids: Vec<i64> = newest.into_iter().flatten().collect();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    entries::Entity::find().filter(entries::Column::Id.is_in(ids)).all(db).await
}

/// Marks the chat's unread received messages read; returns them, for receipts.
/// `event`: the chat's `chat.updated` webhook event, written with the change.
pub async fn mark_read(writer: &Writer, chat: i64, event: Option<GatewayEvent>) -> Result<Vec<inbound::Model>, DbErr> {
    let mut write = writer.begin().await?;
    let unread = inbound::Entity::find()
        .filter(inbound::Column::ChatId.eq(chat))
        .filter(inbound::Column::ReadAt.is_null())
        .filter(inbound::Column::FromMe.eq(false))
        .all(&write.tx)
        .await?;
    let now = now_ms();
    if !unread.is_empty() {
        inbound::Entity::update_many()
            .col_expr(inbound::Column::ReadAt, Expr::value(now))
            .filter(inbound::Column::Id.is_in(unread.iter().map(|r| r.id)))
            .exec(&write.tx)
            .await?;
    }
    chats::Entity::update_many()
        .col_expr(chats::Column::Unread, Expr::value(0))
        .col_expr(chats::Column::UpdatedAt, Expr::value(now))
        .filter(chats::Column::Id.eq(chat))
        .exec(&write.tx)
        .await?;
    if let Some(event) = event {
        write.emit(vec![event]).await?;
    }
    write.commit().await?;
    Ok(unread)
}

/// Received messages of these sessions, newest first, before row `before`.
pub async fn received(
    db: &DatabaseConnection,
    sessions: Option<&[String]>,
    session: Option<&str>,
    chat: Option<&str>,
    before: Option<i64>,
    limit: u64,
) -> Result<Vec<inbound::Model>, DbErr> {
    let mut query = inbound::Entity::find();
    if let Some(sessions) = sessions {
        query = query.filter(inbound::Column::SessionId.is_in(sessions.iter().cloned()));
    }
    if let Some(session) = session {
        query = query.filter(inbound::Column::SessionId.eq(session));
    }
    if let Some(chat) = chat {
        query = query.filter(inbound::Column::ChatJid.eq(chat));
    }
    if let Some(before) = before {
        query = query.filter(inbound::Column::Id.lt(before));
    }
    query.order_by_desc(inbound::Column::Id).limit(limit).all(db).await
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use sea_orm::{ActiveModelTrait, ActiveValue::Set, EntityTrait};

    use super::*;
    use crate::{
        auth::{Passwords, accounts},
        config::Config,
        engine::MediaRef,
        model::Role,
    };

    /// No bot: these commits are about what is kept.
    struct Silent;

    impl super::super::Answerer for Silent {
        fn answer<'a>(
            &'a self,
            _: &'a DatabaseTransaction,
            _: &'a mut chats::Model,
            _: &'a [&'a Inbound],
            _: i64,
        ) -> BoxFuture<'a, Result<Vec<messages::Model>, DbErr>> {
            Box::pin(async { Ok(Vec::new()) })
        }
    }

    fn inbound(chat: &str, sender: &str, place: Place, contact: Option<&str>, wa_id: &str) -> Inbound {
        Inbound {
            wa_id: wa_id.into(),
            chat: chat.into(),
            sender: sender.into(),
            place,
            contact: contact.map(str::to_owned),
            from_me: false,
            push_name: Some("Budi".into()),
            sent_at: 1,
            offline: false,
            kind: "text",
            wa_type: None,
            text: Some("halo".into()),
            filename: None,
            mimetype: None,
            size: None,
            media: None,
            quoted_id: None,
            extra: None,
        }
    }

    /// Groups, status updates and newsletters are kept but make no chat; a
    /// repeat of one is not stored twice, within a batch or across batches.
    #[tokio::test]
    async fn only_direct_messages_make_chats() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::default();
        config.storage.data_dir = dir.path().to_owned();
        let config = Arc::new(config);
        let db = crate::db::connect(&config).await.unwrap();
        crate::db::migrate(&db).await.unwrap();
        let new = accounts::NewUser {
            email: "a@b.co".into(),
            password: "secret-pw".into(),
            name: "A".into(),
            username: None,
        };
        let owner = accounts::create(&db, &Passwords::new(4), new, Role::User).await.unwrap();
        let now = crate::db::now();
        sessions::ActiveModel {
            id: Set("s1".into()),
            user_id: Set(owner.id),
            status: Set(crate::model::SessionStatus::Connected),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        }
        .insert(&db)
        .await
        .unwrap();
        let recorder = crate::db::record::Recorder::detached();
        let writer = Writer::new(db.clone(), recorder, crate::events::Events::default());
        let timeline = std::sync::Arc::new(QueuedInChats);
        let queue = Queue::new(writer.clone(), config.clone(), timeline).await.unwrap();
        let bot = Silent;

        let group = inbound("1203@g.us", "628222000001@s.whatsapp.net", Place::Group, None, "G1");
        let status = inbound("status@broadcast", "628222000001@s.whatsapp.net", Place::Status, None, "S1");
        let news = inbound("1204@newsletter", "1204@newsletter", Place::Newsletter, None, "N1");
        let mut direct = inbound(
            "628222000001@s.whatsapp.net",
            "628222000001@s.whatsapp.net",
            Place::Direct,
            Some("628222000001"),
            "D1",
        );
        direct.media = Some(MediaRef {
            kind: "image".into(),
            direct_path: "/v/x".into(),
            media_key: "AAAA".into(),
            file_sha256: None,
            file_enc_sha256: None,
            file_length: Some(3),
        });
        let batch = vec![group.clone(), status, news, direct.clone(), group.clone()];
        let written = commit(&writer, &queue, &bot, &[("s1".into(), batch)], |_| Vec::new()).await.unwrap();
        assert_eq!(written.received.len(), 4, "the repeat within the batch is dropped");
        assert!(written.media_pending);
        assert_eq!(written.entries.len(), 1);
        assert_eq!(written.entries[0].0.contact, "628222000001");
        let rows = inbound::Entity::find().all(&db).await.unwrap();
        assert_eq!(rows.iter().filter(|r| r.chat_id.is_some()).count(), 1, "only the 1:1 message is in a chat");
        assert_eq!(rows.iter().find(|r| r.wa_id == "D1").unwrap().media_state.as_deref(), Some("pending"));
        assert_eq!(chats::Entity::find().all(&db).await.unwrap().len(), 1);
        assert_eq!(entries::Entity::find().all(&db).await.unwrap().len(), 1);

        // Delivered again: nothing new.
        let again = commit(&writer, &queue, &bot, &[("s1".into(), vec![group, direct])], |_| Vec::new()).await.unwrap();
        assert!(again.received.is_empty() && again.entries.is_empty());
        assert_eq!(inbound::Entity::find().all(&db).await.unwrap().len(), 4);
        // A session that is gone keeps nothing, and fails nothing.
        let gone = commit(
            &writer,
            &queue,
            &bot,
            &[("gone".into(), vec![inbound("x@s.whatsapp.net", "x@s.whatsapp.net", Place::Direct, Some("1"), "X")])],
            |_| Vec::new(),
        )
        .await
        .unwrap();
        assert!(gone.received.is_empty());
    }
}
