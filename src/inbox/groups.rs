//! Changes to the groups a session is in (participants, subject, description,
//! settings, the invite link), as the inbox keeps them: a received message of
//! kind `group_update` in the group's chat, told as `group.participants`
//! (added, removed or left, promoted, demoted) or `group.updated` (the rest),
//! in the same commit as any message. With `inbox.groups` on, a group's chat
//! is named after its subject: from a change that tells it, else asked of
//! WhatsApp once the chat is made.

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};

use super::Inbox;
use crate::{
    db::entities::chats as chat_rows,
    engine::{GroupChange, GroupChangeKind, Inbound, Place},
    model::SessionKey,
};

/// The kind of a kept group change.
pub const KIND: &str = "group_update";

/// The event a kept change is told as: `group.participants` for a change of
/// participants, `group.updated` for the rest.
pub fn event_of(extra: Option<&str>) -> &'static str {
    let extra: Option<serde_json::Value> = extra.and_then(|e| serde_json::from_str(e).ok());
    let action = extra.as_ref().and_then(|e| e.get("action")).and_then(|a| a.as_str()).unwrap_or_default();
    if matches!(action, "add" | "remove" | "promote" | "demote") { "group.participants" } else { "group.updated" }
}

/// A group change as a received message of kind [`KIND`]: its `extra` says
/// what changed (`action`: `add`, `remove`, `promote`, `demote`, `create`,
/// `subject`, `description`, `announce`, `locked`, `invite_reset`; with
/// `participants`, `reason`, `subject`, `description` or `on`).
pub fn as_inbound(change: &GroupChange) -> Inbound {
    use serde_json::json;
    let extra = match &change.what {
        GroupChangeKind::Members { action, phones, reason } => {
            json!({"action": action.as_str(), "participants": phones, "reason": reason})
        }
        GroupChangeKind::Created { subject } => json!({"action": "create", "subject": subject}),
        GroupChangeKind::Subject(subject) => json!({"action": "subject", "subject": subject}),
        GroupChangeKind::Description(text) => json!({"action": "description", "description": text}),
        GroupChangeKind::Announce(on) => json!({"action": "announce", "on": on}),
        GroupChangeKind::Locked(on) => json!({"action": "locked", "on": on}),
        GroupChangeKind::InviteReset => json!({"action": "invite_reset"}),
    };
    let sender = match &change.by {
        Some(phone) => format!("{phone}@s.whatsapp.net"),
        None => change.group.clone(),
    };
    // One notification may carry several changes: each is its own entry.
    let id = match &change.notification {
        Some(id) => format!("{id}:{}", change.index),
        None => format!("{}:{}", change.at_ms, change.index),
    };
    Inbound {
        push_name: change.by_name.clone(),
        extra: Some(extra),
        ..Inbound::bare(id, change.group.clone(), sender, Place::Group, KIND, change.at_ms)
    }
}

/// The group's subject, when `message` is a kept change that tells it (the
/// group was made, or renamed).
pub fn subject_of(message: &Inbound) -> Option<&str> {
    let extra = message.extra.as_ref().filter(|_| message.kind == KIND)?;
    matches!(extra.get("action")?.as_str()?, "create" | "subject").then(|| extra.get("subject")?.as_str())?
}

impl Inbox {
    /// Asks WhatsApp, through the session's device, the subject of the group
    /// of chat `chat` (still named by its JID) and names the chat after it,
    /// in the background: one question per chat at a time. Offline, or asked
    /// in vain, the chat keeps its JID until its next message asks again.
    pub(super) fn name_group(&self, session: SessionKey, chat: i64, jid: String) {
        let Some(sender) = self.sender_of(&session) else { return };
        if !self.0.naming.lock().expect("naming lock").insert(chat) {
            return;
        }
        let inbox = self.clone();
        tokio::spawn(async move {
            let named = async {
                let info = sender.group(&jid).await.map_err(|e| anyhow::anyhow!("{e}"))?;
                inbox.rename_group(chat, &jid, &info.subject).await
            }
            .await;
            if let Err(e) = named {
                tracing::info!(session_id = %session, chat_id = chat, error = %format!("{e:#}"), "cannot name a group chat yet");
            }
            inbox.0.naming.lock().expect("naming lock").remove(&chat);
        });
    }

    /// Names group chat `chat` `subject` if it is still named by its JID, with its `chat.updated`.
    async fn rename_group(&self, chat: i64, jid: &str, subject: &str) -> anyhow::Result<()> {
        let subject: String = subject.chars().take(255).collect();
        if subject.trim().is_empty() {
            return Ok(());
        }
        let mut write = self.writer().begin().await?;
        let renamed = chat_rows::Entity::update_many()
            .col_expr(chat_rows::Column::Name, Expr::value(subject))
            .filter(chat_rows::Column::Id.eq(chat))
            .filter(chat_rows::Column::Name.eq(jid))
            .exec(&write.tx)
            .await?;
        if renamed.rows_affected == 0 {
            return Ok(()); // named meanwhile (a subject change), or gone
        }
        if self.writer().heard()
            && let Some(row) = chat_rows::Entity::find_by_id(chat).one(&write.tx).await?
        {
            write.emit(vec![self.chat_event(row).await?]).await?;
        }
        write.commit().await?;
        Ok(())
    }
}
