//! An account's inbox settings (`inbox_settings`, owned here: auto-assignment
//! and the satisfaction question, which the bot asks), and auto-assignment:
//! with an account's `auto_assign` on, a chat of its that is
//! in mode `agent` with nobody assigned (the bot handed it over, someone set
//! the mode, a group's chat was made or reopened) goes to the next available
//! agent, round-robin: the one whose turn (`users.last_assigned_at`) is the
//! oldest, then that turn becomes the newest. Agents belong to no account, so
//! the round is over every available agent of the gateway. Owns the two
//! assignment columns of `users`.

use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use serde::{Deserialize, Serialize};
use serde_valid::Validate;
use utoipa::ToSchema;

use super::{Inbox, InboxError};
use crate::{
    db::entities::{chats, inbox_settings, users},
    model::{ChatMode, Role, now_ms},
};

/// An account's inbox settings (`GET`/`PUT /inbox/settings`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InboxSettings {
    /// Chats that move to mode `agent` with nobody assigned go round-robin to
    /// the available agents (`PUT /auth/me/availability`). Off by default.
    pub auto_assign: bool,
    /// Closing a 1:1 chat makes the bot ask the customer for a rating, 1–5
    /// (its texts: the bot document's `replies.csat_*`). Off by default.
    pub csat: bool,
}

/// `owner`'s settings (the defaults when never set).
pub async fn settings(conn: &impl ConnectionTrait, owner: i64) -> Result<InboxSettings, DbErr> {
    let row = inbox_settings::Entity::find_by_id(owner).one(conn).await?;
    Ok(row.map_or(InboxSettings { auto_assign: false, csat: false }, |r| InboxSettings {
        auto_assign: r.auto_assign,
        csat: r.csat,
    }))
}

/// The next available agent, now given a chat: their turn becomes the newest.
/// The available agents' rows are locked first (MySQL/MariaDB; SQLite writes
/// one at a time), so two commits at once never give the same turn twice.
async fn next_agent(conn: &impl ConnectionTrait, now: i64) -> Result<Option<i64>, DbErr> {
    let pool: Vec<(i64, Option<i64>)> = users::Entity::find()
        .select_only()
        .columns([users::Column::Id, users::Column::LastAssignedAt])
        .filter(users::Column::Role.eq(Role::Agent.as_str()))
        .filter(users::Column::Available.eq(true))
        .order_by_asc(users::Column::Id)
        .lock_exclusive()
        .into_tuple()
        .all(conn)
        .await?;
    let Some(&(next, _)) = pool.iter().min_by_key(|(id, turn)| (turn.unwrap_or(i64::MIN), *id)) else {
        return Ok(None);
    };
    let newest = pool.iter().filter_map(|(_, turn)| *turn).max().map_or(now, |t| now.max(t + 1));
    users::ActiveModel { id: Set(next), last_assigned_at: Set(Some(newest)), ..Default::default() }
        .update(conn)
        .await?;
    Ok(Some(next))
}

/// Gives `chat` to the next available agent when its account assigns
/// automatically and it waits for one (mode `agent`, nobody assigned); the
/// caller writes the chat. Whether it did.
pub async fn auto_assign(conn: &impl ConnectionTrait, chat: &mut chats::Model, now: i64) -> Result<bool, DbErr> {
    if chat.mode != ChatMode::Agent
        || chat.assigned_agent_id.is_some()
        || !settings(conn, chat.user_id).await?.auto_assign
    {
        return Ok(false);
    }
    let Some(agent) = next_agent(conn, now).await? else { return Ok(false) };
    chat.assigned_agent_id = Some(agent);
    Ok(true)
}

impl Inbox {
    pub async fn settings(&self, owner: i64) -> Result<InboxSettings, InboxError> {
        Ok(settings(self.db(), owner).await?)
    }

    pub async fn set_settings(&self, owner: i64, new: InboxSettings) -> Result<InboxSettings, InboxError> {
        let row = inbox_settings::ActiveModel {
            user_id: Set(owner),
            auto_assign: Set(new.auto_assign),
            csat: Set(new.csat),
            updated_at: Set(now_ms()),
        };
        let write = self.writer().begin().await?;
        match inbox_settings::Entity::find_by_id(owner).one(&write.tx).await? {
            Some(_) => row.update(&write.tx).await?,
            None => row.insert(&write.tx).await?,
        };
        write.commit().await?;
        Ok(new)
    }
}
