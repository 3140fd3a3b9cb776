//! Conversations, what the inbox's analytics count: a chat's stretch from a
//! customer's message (while no conversation of the chat is open, and unless
//! the chat stays closed: a rating's answer) to its close. Kept in the
//! transactions that write the timeline and the chat's mode: messages in and
//! out of an open conversation, a person's first answer (an agent's or the
//! phone's), the hand-over to the agents, the close and the rating.

use std::collections::HashMap;

use sea_orm::{
    ActiveModelTrait,
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, ExprTrait, QueryFilter, QueryOrder, QuerySelect,
    sea_query::{Expr, Func},
};

use crate::{
    db::entities::{chats, conversations},
    model::{ChatMode, Origin},
};

/// A new timeline entry, as the conversation counts it.
#[derive(Debug, Clone, Copy)]
pub struct Entered {
    pub sender: Origin,
    /// The agent who sent it.
    pub agent: Option<i64>,
    pub at: i64,
}

/// The latest conversation of each of `chats`.
async fn latest(conn: &impl ConnectionTrait, chats: &[i64]) -> Result<HashMap<i64, conversations::Model>, DbErr> {
    match chats {
        [] => return Ok(HashMap::new()),
        [chat] => {
            let last = conversations::Entity::find()
                .filter(conversations::Column::ChatId.eq(*chat))
                .order_by_desc(conversations::Column::Id)
                .one(conn)
                .await?;
            return Ok(last.into_iter().map(|c| (c.chat_id, c)).collect());
        }
        _ => {}
    }
    let ids: Vec<i64> = conversations::Entity::find()
        .select_only()
        .column_as(conversations::Column::Id.max(), "id")
        .filter(conversations::Column::ChatId.is_in(chats.iter().copied()))
        .group_by(conversations::Column::ChatId)
        .into_tuple()
        .all(conn)
        .await?;
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    Ok(conversations::Entity::find()
        .filter(conversations::Column::Id.is_in(ids))
        .all(conn)
        .await?
        .into_iter()
        .map(|c| (c.chat_id, c))
        .collect())
}

/// What new entries add to a conversation: counts, and a person's first answer.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Hash)]
struct Delta {
    messages_in: i32,
    messages_out: i32,
    bot_replies: i32,
    /// When, and by which agent (`None`: from the phone).
    first_response: Option<(i64, Option<i64>)>,
}

impl Delta {
    /// One entry into conversation `c`'s figures.
    fn count(&mut self, c: &conversations::Model, entry: &Entered) {
        match entry.sender {
            Origin::Customer => self.messages_in += 1,
            Origin::Note => {}
            sender => {
                self.messages_out += 1;
                if sender == Origin::Bot {
                    self.bot_replies += 1;
                }
                if matches!(sender, Origin::Agent | Origin::Phone)
                    && c.first_response_at.is_none()
                    && self.first_response.is_none()
                {
                    self.first_response = Some((entry.at, entry.agent));
                }
            }
        }
    }

    /// Added in the database (increments: another transaction may count too).
    async fn apply(&self, conn: &impl ConnectionTrait, ids: Vec<i64>) -> Result<(), DbErr> {
        use conversations::Column as C;
        if *self == Delta::default() {
            return Ok(());
        }
        let mut update = conversations::Entity::update_many()
            .col_expr(C::MessagesIn, Expr::col(C::MessagesIn).add(self.messages_in))
            .col_expr(C::MessagesOut, Expr::col(C::MessagesOut).add(self.messages_out))
            .col_expr(C::BotReplies, Expr::col(C::BotReplies).add(self.bot_replies));
        if let Some((at, agent)) = self.first_response {
            update = update
                .col_expr(C::FirstResponseAt, Func::coalesce([Expr::col(C::FirstResponseAt), Expr::val(at)]).into())
                .col_expr(C::AgentId, Func::coalesce([Expr::col(C::AgentId), Expr::val(agent)]).into());
        }
        update.filter(C::Id.is_in(ids)).exec(conn).await?;
        Ok(())
    }
}

/// Counts `entries`, new in `chat`'s timeline, into its open conversation; a
/// customer's message opens one when none is (and `chat`, as the commit
/// leaves it, is not closed).
pub async fn entered(conn: &impl ConnectionTrait, chat: &chats::Model, entries: &[Entered]) -> Result<(), DbErr> {
    let mut open = latest(conn, &[chat.id]).await?.remove(&chat.id).filter(|c| c.closed_at.is_none());
    let mut delta = Delta::default();
    for entry in entries {
        if let Some(c) = &open {
            delta.count(c, entry);
            continue;
        }
        if entry.sender != Origin::Customer || chat.mode == ChatMode::Closed {
            continue;
        }
        // Opened by this message: it and those after it are counted in the new row.
        let mut new = conversations::Model {
            id: 0,
            chat_id: chat.id,
            user_id: chat.user_id,
            session_id: chat.session_id.clone(),
            agent_id: None,
            opened_at: entry.at,
            first_response_at: None,
            handed_at: (chat.mode == ChatMode::Agent).then_some(entry.at),
            closed_at: None,
            rating: None,
            messages_in: 0,
            messages_out: 0,
            bot_replies: 0,
        };
        let rest = entries.iter().skip_while(|e| !std::ptr::eq(*e, entry));
        let mut counted = Delta::default();
        for e in rest {
            counted.count(&new, e);
        }
        new.messages_in = counted.messages_in;
        new.messages_out = counted.messages_out;
        new.bot_replies = counted.bot_replies;
        if let Some((at, agent)) = counted.first_response {
            new.first_response_at = Some(at);
            new.agent_id = agent;
        }
        let mut row: conversations::ActiveModel = new.into();
        row.id = sea_orm::ActiveValue::NotSet;
        row.insert(conn).await?;
        return Ok(());
    }
    if let Some(c) = open.take() {
        delta.apply(conn, vec![c.id]).await?;
    }
    Ok(())
}

/// Counts queued messages entering timelines (`(chat, entry)`), chats with
/// no open conversation left out: a broadcast's many messages cost one read
/// and one update per distinct change.
pub async fn queued(conn: &impl ConnectionTrait, entries: &[(i64, Entered)]) -> Result<(), DbErr> {
    let mut chats: Vec<i64> = entries.iter().map(|(chat, _)| *chat).collect();
    chats.sort_unstable();
    chats.dedup();
    let open: HashMap<i64, conversations::Model> =
        latest(conn, &chats).await?.into_iter().filter(|(_, c)| c.closed_at.is_none()).collect();
    if open.is_empty() {
        return Ok(());
    }
    let mut deltas: HashMap<i64, Delta> = HashMap::new();
    for (chat, entry) in entries {
        if let Some(c) = open.get(chat) {
            deltas.entry(c.id).or_default().count(c, entry);
        }
    }
    let mut same: HashMap<Delta, Vec<i64>> = HashMap::new();
    for (id, delta) in deltas {
        same.entry(delta).or_default().push(id);
    }
    for (delta, ids) in same {
        delta.apply(conn, ids).await?;
    }
    Ok(())
}

/// `chat` moved from mode `from` to its mode at `at`: to the agents (the
/// hand-over), closed (by `chat`'s assigned agent, when it has one), or
/// reopened by a person (`reopened`: its last conversation is open again).
pub async fn moved(
    conn: &impl ConnectionTrait,
    chat: &chats::Model,
    from: ChatMode,
    reopened: bool,
) -> Result<(), DbErr> {
    if chat.mode == from {
        return Ok(());
    }
    let Some(last) = latest(conn, &[chat.id]).await?.remove(&chat.id) else { return Ok(()) };
    let mut row = conversations::ActiveModel { id: Set(last.id), ..Default::default() };
    match chat.mode {
        ChatMode::Closed if last.closed_at.is_none() => {
            row.closed_at = Set(Some(chat.mode_at));
            row.agent_id = Set(chat.assigned_agent_id.or(last.agent_id));
        }
        _ if from == ChatMode::Closed && reopened && last.closed_at.is_some() => {
            row.closed_at = Set(None);
            if chat.mode == ChatMode::Agent && last.handed_at.is_none() {
                row.handed_at = Set(Some(chat.mode_at));
            }
        }
        ChatMode::Agent if last.closed_at.is_none() && last.handed_at.is_none() => {
            row.handed_at = Set(Some(chat.mode_at));
        }
        _ => return Ok(()),
    }
    row.update(conn).await?;
    Ok(())
}

/// The customer rated `chat`: its last conversation keeps the rating.
pub async fn rated(conn: &impl ConnectionTrait, chat: i64, rating: i32) -> Result<(), DbErr> {
    if let Some(last) = latest(conn, &[chat]).await?.remove(&chat) {
        conversations::ActiveModel { id: Set(last.id), rating: Set(Some(rating)), ..Default::default() }
            .update(conn)
            .await?;
    }
    Ok(())
}
