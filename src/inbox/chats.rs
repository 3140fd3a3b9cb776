//! What the API asks of the inbox: chat lists and counts, a chat with its
//! timeline, opening a chat, changing its mode or assignment, agents' replies
//! (through the send queue) and marking a chat read.

use std::collections::HashMap;

use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QuerySelect};

use super::{
    ChatCounts, ChatDetail, ChatFilter, ChatMode, ChatScope, ChatView, Cursor, EntryView, Inbox, InboxError, Origin,
    Profile, ReceivedView, store, views,
};
use crate::{
    db::entities::{chat_entries as entries, chats, customers, inbound_messages as inbound, odps, users},
    events::GatewayEvent,
    model::{ChatKind, Role, SessionKey, now_ms},
    queue::{
        Content, MessageView, Submit,
        content::{Mentions, Quote},
    },
};

/// What `PATCH /chats/{id}` changes.
#[derive(Debug, Default)]
pub struct ChatChange {
    pub mode: Option<ChatMode>,
    /// `Some(None)`: unassign.
    pub assigned_agent_id: Option<Option<i64>>,
    pub online: Option<bool>,
    /// A private note `(author, text)` written with the change (a transfer's).
    pub note: Option<(i64, String)>,
}

/// An agent's reply.
pub struct Reply {
    pub agent: i64,
    pub content: Content,
    pub idempotency_key: Option<String>,
    pub request_hash: String,
    /// The message of the chat it answers.
    pub quoted: Option<Quote>,
    /// A text to a group chat: who it mentions.
    pub mentions: Option<Mentions>,
}

impl Inbox {
    /// Chat views with their newest message.
    pub async fn views(&self, list: Vec<chats::Model>) -> Result<Vec<ChatView>, InboxError> {
        let ids: Vec<i64> = list.iter().map(|c| c.id).collect();
        let latest = store::latest_entries(self.db(), &ids).await?;
        let entries = self.entry_views(&latest).await?;
        let by_chat: HashMap<i64, &EntryView> =
            latest.iter().zip(entries.iter()).map(|(e, v)| (e.chat_id, v)).collect();
        let mut labels = self.labels_of(&ids).await?;
        Ok(list
            .iter()
            .map(|c| ChatView {
                labels: Some(labels.remove(&c.id).unwrap_or_default()),
                ..views::chat_view(c, by_chat.get(&c.id).map(|v| views::preview(v)))
            })
            .collect())
    }

    /// The views of timeline entries, in their order.
    pub(super) async fn entry_views(&self, list: &[entries::Model]) -> Result<Vec<EntryView>, InboxError> {
        let (received, queued) = store::contents(self.db(), list).await?;
        let agents: Vec<i64> = list.iter().filter_map(|e| e.agent_id).collect();
        let names = store::user_names(self.db(), &agents).await?;
        let offset = self.config().zone();
        // A sent file is kept for its chat until `inbox.media_retention`.
        let kept = |id: &str| self.0.media.sent(id).is_some_and(|path| path.exists());
        Ok(list
            .iter()
            .map(|entry| match (&entry.message_id, entry.inbound_id) {
                _ if entry.sender == Origin::Note => {
                    views::entry_of_note(entry, entry.agent_id.and_then(|a| names.get(&a).cloned()), offset)
                }
                (Some(id), _) if queued.contains_key(id) => {
                    let mut view = views::entry_of_queued(
                        entry,
                        &queued[id],
                        entry.agent_id.and_then(|a| names.get(&a).cloned()),
                        offset,
                    );
                    if let Some(media) = &mut view.media {
                        media.state = if kept(id) { "done" } else { "expired" }.into();
                    }
                    view
                }
                (_, inbound) => views::entry_of_inbound(entry, inbound.and_then(|i| received.get(&i)), offset),
            })
            .collect())
    }

    pub async fn list(
        &self,
        scope: &ChatScope,
        filter: &ChatFilter,
        before: Option<Cursor>,
        limit: u64,
    ) -> Result<Vec<ChatView>, InboxError> {
        let list = store::list(self.db(), scope, filter, before, limit).await?;
        self.views(list).await
    }

    /// How many chats `scope` sees (with `label`: only those with it).
    pub async fn counts(&self, scope: &ChatScope, me: i64, label: Option<i64>) -> Result<ChatCounts, InboxError> {
        Ok(store::counts(self.db(), scope, me, label).await?)
    }

    /// The chat, if `scope` may see it.
    pub async fn chat(&self, scope: &ChatScope, id: i64) -> Result<chats::Model, InboxError> {
        chats::Entity::find_by_id(id).one(self.db()).await?.filter(|c| scope.admits(c)).ok_or(InboxError::NotFound)
    }

    /// A page of the chat's timeline before entry `before`: oldest first, and
    /// the `before` of the page older than it (if any).
    pub async fn timeline(
        &self,
        chat: i64,
        before: Option<i64>,
        limit: u64,
    ) -> Result<(Vec<EntryView>, Option<i64>), InboxError> {
        let mut page = store::timeline(self.db(), chat, before, limit + 1).await?;
        let more = page.len() as u64 > limit;
        page.truncate(limit as usize);
        page.reverse();
        let next = if more { page.first().map(|e| e.id) } else { None };
        Ok((self.entry_views(&page).await?, next))
    }

    /// A page of the chat's timeline after entry `after`: oldest first, and
    /// the `after` of the page newer than it (if any).
    pub async fn timeline_after(
        &self,
        chat: i64,
        after: i64,
        limit: u64,
    ) -> Result<(Vec<EntryView>, Option<i64>), InboxError> {
        let mut page = store::timeline_after(self.db(), chat, after, limit + 1).await?;
        let more = page.len() as u64 > limit;
        page.truncate(limit as usize);
        let next = if more { page.last().map(|e| e.id) } else { None };
        Ok((self.entry_views(&page).await?, next))
    }

    pub async fn detail(&self, scope: &ChatScope, id: i64, limit: u64) -> Result<ChatDetail, InboxError> {
        // The timeline first, then the chat: an inbound batch writes both in
        // one transaction, so the chat read after it is at least as new as the
        // messages shown (its mode, its unread count).
        let (messages, before) = self.timeline(id, None, limit).await?;
        let chat = self.chat(scope, id).await?;
        let mut view = self.views(vec![chat.clone()]).await?.remove(0);
        view.last_message = messages.last().map(views::preview);
        let customer = match chat.customer_id {
            Some(id) => customers::Entity::find_by_id(id).one(self.db()).await?,
            None => None,
        };
        let odp = match customer.as_ref().and_then(|c| c.odp_id) {
            Some(id) => odps::Entity::find_by_id(id).one(self.db()).await?.map(|o| o.code),
            None => None,
        };
        let last_in: Option<i64> = inbound::Entity::find()
            .select_only()
            .column_as(inbound::Column::ReceivedAt.max(), "last")
            .filter(inbound::Column::ChatId.eq(id))
            .filter(inbound::Column::FromMe.eq(false))
            .into_tuple::<Option<i64>>()
            .one(self.db())
            .await?
            .flatten();
        let last_active = if chat.online {
            Some("Online".to_owned())
        } else {
            last_in.map(|ms| chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default().to_rfc3339())
        };
        let profile = Profile {
            phone: if chat.kind == ChatKind::Group { chat.contact.clone() } else { format!("+{}", chat.contact) },
            email: chat.email.clone(),
            address: chat.address.clone(),
            odp,
            last_active,
        };
        Ok(ChatDetail { chat: view, profile, messages, before })
    }

    /// Opens a chat with `contact` on `session` (owned by `owner`), or gives
    /// back the one there is. `(chat, created)`.
    #[allow(clippy::too_many_arguments)]
    pub async fn open(
        &self,
        session: &SessionKey,
        owner: i64,
        contact: &str,
        name: &str,
        email: Option<String>,
        address: Option<String>,
    ) -> Result<(chats::Model, bool), InboxError> {
        let existing = || {
            chats::Entity::find()
                .filter(chats::Column::SessionId.eq(session))
                .filter(chats::Column::Contact.eq(contact))
                .one(self.db())
        };
        if let Some(chat) = existing().await? {
            return Ok((chat, false));
        }
        let customer = crate::notify::customers::by_phone(self.db(), owner, &[contact]).await?.remove(contact);
        let row = store::new_chat(session, owner, contact, name, customer.map(|c| c.id), email, address, now_ms());
        // The new chat and its event commit together.
        let mut write = self.writer().begin().await?;
        let inserted = async {
            let chat = row.insert(&write.tx).await?;
            if self.writer().heard() {
                write.emit(vec![self.chat_event(chat.clone()).await?]).await?;
            }
            Ok::<_, InboxError>(chat)
        }
        .await;
        let inserted = match inserted {
            Ok(chat) => write.commit().await.map(|()| chat).map_err(InboxError::from),
            Err(e) => {
                drop(write); // rolled back, before the existing chat is read
                Err(e)
            }
        };
        match inserted {
            Ok(chat) => Ok((chat, true)),
            // Made meanwhile (a message arrived, or the same request twice).
            Err(InboxError::Db(e)) if matches!(e.sql_err(), Some(sea_orm::SqlErr::UniqueConstraintViolation(_))) => {
                Ok((existing().await?.ok_or(InboxError::NotFound)?, false))
            }
            Err(e) => Err(e),
        }
    }

    /// The `chat.updated` event of a chat as it is (or is about to be).
    pub(super) async fn chat_event(&self, chat: chats::Model) -> Result<GatewayEvent, InboxError> {
        let (owner, session, agent) = (chat.user_id, chat.session_id.clone(), chat.assigned_agent_id);
        let view = self.views(vec![chat]).await?.remove(0);
        Ok(GatewayEvent {
            kind: "chat.updated",
            owner,
            session,
            also: Vec::new(),
            agent,
            data: serde_json::to_value(view).unwrap_or_default(),
        })
    }

    /// A change asked by a person with `role`: agents cannot (re)assign chats,
    /// and a chat goes only to an agent or an admin.
    pub async fn change_by(
        &self,
        role: Role,
        chat: chats::Model,
        change: ChatChange,
    ) -> Result<chats::Model, InboxError> {
        if change.assigned_agent_id.is_some() && role == Role::Agent {
            return Err(InboxError::Forbidden("agents cannot assign chats; an admin or the session's owner can"));
        }
        if let Some(Some(agent)) = change.assigned_agent_id {
            let user = users::Entity::find_by_id(agent).one(self.db()).await?;
            if !matches!(user.as_ref().map(crate::auth::accounts::role_of), Some(Role::Agent | Role::Admin)) {
                return Err(InboxError::Invalid("assigned_agent_id", "must be the id of an agent or an admin".into()));
            }
        }
        self.update(chat, change).await
    }

    /// Changes a chat's mode, assignment or online flag.
    pub async fn update(&self, chat: chats::Model, change: ChatChange) -> Result<chats::Model, InboxError> {
        let mut row: chats::ActiveModel = chat.clone().into();
        if let Some(mode) = change.mode
            && mode != chat.mode
        {
            row.mode = Set(mode);
            row.mode_at = Set(now_ms());
            // Back in `bot`, the customer starts at the main menu.
            row.bot_menu = Set(None);
            // Reopened: a satisfaction question still waiting lapses.
            if chat.mode == ChatMode::Closed {
                row.csat_state = Set(None);
            }
        }
        if let Some(agent) = change.assigned_agent_id {
            row.assigned_agent_id = Set(agent);
        }
        if let Some(online) = change.online {
            row.online = Set(online);
        }
        row.updated_at = Set(now_ms());
        // The change and its event commit together.
        let mut write = self.writer().begin().await?;
        let mut updated = row.update(&write.tx).await?;
        super::conversations::moved(&write.tx, &updated, chat.mode, true).await?;
        // Moved to `agent` with nobody named: the account may assign it.
        if change.assigned_agent_id.is_none() && updated.mode != chat.mode {
            let mut assigned = updated.clone();
            if super::assign::auto_assign(&write.tx, &mut assigned, now_ms()).await? {
                let row = chats::ActiveModel {
                    id: Set(assigned.id),
                    assigned_agent_id: Set(assigned.assigned_agent_id),
                    ..Default::default()
                };
                updated = row.update(&write.tx).await?;
            }
        }
        // Closed: the customer may be asked how it went (the bot says it).
        if updated.mode == ChatMode::Closed && chat.mode != ChatMode::Closed {
            let mut closing = updated.clone();
            let said = self.0.bot.closed(&write.tx, &mut closing, now_ms()).await?;
            if !said.is_empty() {
                let row = chats::ActiveModel {
                    id: Set(closing.id),
                    csat_state: Set(closing.csat_state.clone()),
                    csat_at: Set(closing.csat_at),
                    ..Default::default()
                };
                updated = row.update(&write.tx).await?;
                self.0.queue.put(&mut write, &said).await?;
            }
        }
        if self.writer().heard() {
            write.emit(vec![self.chat_event(updated.clone()).await?]).await?;
        }
        if let Some((author, text)) = change.note {
            self.write_note(&mut write, &updated, author, text).await?;
        }
        write.commit().await?;
        if updated.assigned_agent_id != chat.assigned_agent_id && chat.assigned_agent_id.is_some() {
            // The agent it was taken from hears it is gone.
            let data =
                serde_json::json!({"id": chat.id, "assigned_agent_id": updated.assigned_agent_id, "removed": true});
            self.publish("chat.updated", chat.user_id, &chat.session_id, chat.assigned_agent_id, data);
        }
        Ok(updated)
    }

    /// A message `session` received in its 1:1 chat with `contact` (digits),
    /// as a reply to it shows it.
    pub async fn quote(&self, session: &SessionKey, contact: &str, id: &str) -> Result<Option<Quote>, InboxError> {
        let rows = inbound::Entity::find()
            .filter(inbound::Column::SessionId.eq(session.clone()))
            .filter(inbound::Column::WaId.eq(id))
            .all(self.db())
            .await?;
        for row in rows {
            let chat = match row.chat_id {
                Some(chat) => chats::Entity::find_by_id(chat).one(self.db()).await?,
                None => None,
            };
            if chat.is_some_and(|c| c.contact == contact) && row.kind != "reaction" {
                return Ok(Some(Quote { id: row.wa_id, author: row.sender_jid, kind: row.kind, text: row.body }));
            }
        }
        Ok(None)
    }

    /// Whether `id` is a message one of `sessions` received (to tell "not
    /// yours to change" from "no such message").
    pub async fn received_in(&self, sessions: Option<&[SessionKey]>, id: &str) -> Result<bool, InboxError> {
        let mut query = inbound::Entity::find().filter(inbound::Column::WaId.eq(id));
        if let Some(sessions) = sessions {
            query = query.filter(inbound::Column::SessionId.is_in(sessions.iter().cloned()));
        }
        Ok(query.one(self.db()).await?.is_some())
    }

    /// Queues an agent's reply from the chat's session. A human reply to a chat
    /// in mode `bot` takes it over: mode `agent`, assigned to them if nobody has it.
    pub async fn reply(&self, chat: chats::Model, reply: Reply) -> Result<(EntryView, MessageView, bool), InboxError> {
        let submit = Submit {
            user_id: reply.agent,
            session: chat.session_id.clone(),
            to: chat.contact.clone(),
            content: reply.content,
            idempotency_key: reply.idempotency_key,
            request_hash: reply.request_hash,
            origin: Origin::Agent,
            agent_id: Some(reply.agent),
            quoted: reply.quoted,
            mentions: reply.mentions,
        };
        let (message, created) = self.queue().submit(submit).await.map_err(|e| anyhow::anyhow!("{e}"))?;
        if created && chat.mode == ChatMode::Bot {
            let change = ChatChange {
                mode: Some(ChatMode::Agent),
                assigned_agent_id: chat.assigned_agent_id.is_none().then_some(Some(reply.agent)),
                ..Default::default()
            };
            self.update(chat.clone(), change).await?;
        }
        let entry = entries::Entity::find()
            .filter(entries::Column::MessageId.eq(message.id.clone()))
            .one(self.db())
            .await?
            .ok_or_else(|| anyhow::anyhow!("the reply has no timeline entry"))?;
        let mut view = self.entry_views(std::slice::from_ref(&entry)).await?.remove(0);
        // The answer tells the reply as it was accepted, whatever the dispatcher did since.
        view.status = message.status.as_str().to_owned();
        Ok((view, message, created))
    }

    /// A private note of `author` on `chat`: a timeline entry for the team
    /// (`chat.message`, like every entry), never sent; the chat's order and
    /// unread count stay as they are.
    pub async fn add_note(&self, chat: &chats::Model, author: i64, text: String) -> Result<EntryView, InboxError> {
        let mut write = self.writer().begin().await?;
        let view = self.write_note(&mut write, chat, author, text).await?;
        write.commit().await?;
        Ok(view)
    }

    /// The note's entry, search words and event, in `write`.
    async fn write_note(
        &self,
        write: &mut crate::db::write::Write<'_>,
        chat: &chats::Model,
        author: i64,
        text: String,
    ) -> Result<EntryView, InboxError> {
        let entry = entries::ActiveModel {
            chat_id: Set(chat.id),
            sender: Set(Origin::Note),
            inbound_id: Set(None),
            message_id: Set(None),
            agent_id: Set(Some(author)),
            at: Set(now_ms()),
            note: Set(Some(text)),
            ..Default::default()
        }
        .insert(&write.tx)
        .await?;
        if let Some(text) = super::search::searchable(entry.note.as_deref(), "note", None) {
            super::search::index(&write.tx, &[(entry.id, chat.id, text)]).await?;
        }
        let view = self.entry_views(std::slice::from_ref(&entry)).await?.remove(0);
        if self.writer().heard() {
            let data = serde_json::json!({"chat_id": chat.id, "message": view});
            let event = GatewayEvent {
                kind: "chat.message",
                owner: chat.user_id,
                session: chat.session_id.clone(),
                also: Vec::new(),
                agent: chat.assigned_agent_id,
                data,
            };
            write.emit(vec![event]).await?;
        }
        Ok(view)
    }

    /// Unread to 0; read receipts to WhatsApp for the messages it covers
    /// (unless `inbox.read_receipts` is off, or the session is offline). How many.
    pub async fn mark_read(&self, chat: &chats::Model) -> Result<usize, InboxError> {
        let event = if self.writer().heard() {
            let read = chats::Model { unread: 0, ..chat.clone() };
            Some(self.chat_event(read).await?)
        } else {
            None
        };
        let read = store::mark_read(self.writer(), chat.id, event).await?;
        if self.config().inbox.read_receipts && !read.is_empty() {
            match self.sender_of(&chat.session_id) {
                Some(sender) => {
                    let mut by_sender: HashMap<(&str, &str), Vec<String>> = HashMap::new();
                    for row in &read {
                        by_sender.entry((&row.chat_jid, &row.sender_jid)).or_default().push(row.wa_id.clone());
                    }
                    for ((chat_jid, sender_jid), ids) in by_sender {
                        if let Err(e) = sender.mark_read(chat_jid, sender_jid, &ids).await {
                            tracing::warn!(chat_id = chat.id, error = %format!("{e:#}"), "cannot send read receipts");
                        }
                    }
                }
                None => tracing::info!(chat_id = chat.id, "session offline; read receipts not sent"),
            }
        }
        Ok(read.len())
    }

    /// Received messages (groups and status updates too), newest first.
    pub async fn received(
        &self,
        sessions: Option<&[SessionKey]>,
        session: Option<&SessionKey>,
        chat: Option<&str>,
        before: Option<i64>,
        limit: u64,
    ) -> Result<Vec<ReceivedView>, InboxError> {
        let rows = store::received(self.db(), sessions, session, chat, before, limit).await?;
        Ok(rows.iter().map(ReceivedView::of).collect())
    }
}
