//! The inbox's tables: committing received messages ([`commit`]), queued
//! messages in their chats' timelines ([`queued`]), and the keyset-paged reads
//! of chats and timelines (here).

pub mod addons;
mod commit;
mod queued;

use std::collections::HashMap;

use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, sea_query::Expr,
};

use super::ChatScope;
use crate::{
    db::{
        entities::{chat_entries as entries, chats, inbound_messages as inbound, messages, users},
        write::Writer,
    },
    events::GatewayEvent,
    model::{ChatMode, SessionKey, now_ms},
};

pub use commit::{Written, clip, commit, new_chat};
pub use queued::QueuedInChats;

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

/// Chats by id.
pub async fn chats_by_id(db: &impl ConnectionTrait, ids: Vec<i64>) -> Result<HashMap<i64, chats::Model>, DbErr> {
    let rows = chats::Entity::find().filter(chats::Column::Id.is_in(ids)).all(db).await?;
    Ok(rows.into_iter().map(|c| (c.id, c)).collect())
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
    pub session: Option<Vec<SessionKey>>,
    pub unread: bool,
    /// A part of the name or the number.
    pub q: Option<String>,
    /// Only chats with this label.
    pub label: Option<i64>,
}

/// The chats with label `label`.
fn labelled(label: i64) -> sea_orm::sea_query::SimpleExpr {
    use crate::db::entities::chat_labels;
    use sea_orm::sea_query::Query;
    chats::Column::Id.in_subquery(
        Query::select()
            .column(chat_labels::Column::ChatId)
            .from(chat_labels::Entity)
            .and_where(chat_labels::Column::LabelId.eq(label))
            .to_owned(),
    )
}

pub(super) fn scope_condition(scope: &ChatScope) -> Condition {
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
    let mut condition = filter_condition(scope, filter);
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

/// The chats `scope` sees that `filter` keeps.
pub(super) fn filter_condition(scope: &ChatScope, filter: &ChatFilter) -> Condition {
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
    if let Some(label) = filter.label {
        condition = condition.add(labelled(label));
    }
    if let Some(q) = filter.q.as_deref().filter(|q| !q.is_empty()) {
        let pattern = format!("%{}%", q.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"));
        let like = || sea_orm::sea_query::LikeExpr::new(&pattern).escape('\\');
        condition = condition
            .add(Condition::any().add(chats::Column::Name.like(like())).add(chats::Column::Contact.like(like())));
    }
    condition
}

/// How many chats the scope sees, as `ChatCounts` wants them.
pub async fn counts(
    db: &DatabaseConnection,
    scope: &ChatScope,
    me: i64,
    label: Option<i64>,
) -> Result<super::ChatCounts, DbErr> {
    use sea_orm::PaginatorTrait;
    let mut condition = scope_condition(scope);
    if let Some(label) = label {
        condition = condition.add(labelled(label));
    }
    let base = || chats::Entity::find().filter(condition.clone());
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
    let ratings: Vec<(Option<i32>, i64)> = base()
        .select_only()
        .column(chats::Column::CsatRating)
        .column_as(chats::Column::Id.count(), "n")
        .filter(chats::Column::CsatRating.is_not_null())
        .group_by(chats::Column::CsatRating)
        .into_tuple()
        .all(db)
        .await?;
    let rated: i64 = ratings.iter().map(|(_, n)| n).sum();
    let total: i64 = ratings.iter().map(|(r, n)| i64::from(r.unwrap_or(0)) * n).sum();
    Ok(super::ChatCounts {
        rated: rated as u64,
        csat_average: (rated > 0).then(|| total as f64 / rated as f64),
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

/// A page of a chat's timeline after entry `after`, oldest first.
pub async fn timeline_after(
    db: &DatabaseConnection,
    chat: i64,
    after: i64,
    limit: u64,
) -> Result<Vec<entries::Model>, DbErr> {
    entries::Entity::find()
        .filter(entries::Column::ChatId.eq(chat))
        .filter(entries::Column::Id.gt(after))
        .order_by_asc(entries::Column::Id)
        .limit(limit)
        .all(db)
        .await
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
    sessions: Option<&[SessionKey]>,
    session: Option<&SessionKey>,
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
