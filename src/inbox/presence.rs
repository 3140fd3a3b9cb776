//! A contact's typing in an open chat: opening a chat subscribes the session's
//! device to the contact's presence (WhatsApp then tells its typing; the
//! subscription is renewed at every reconnect), and what it tells is the live
//! event `presence.update` (not kept, not sent to webhooks).

use std::sync::Arc;

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use super::Inbox;
use crate::{db::entities::chats, engine::Typing, events::GatewayEvent, model::SessionKey};

impl Inbox {
    /// An agent opened `chat`: its contact's typing will be told, while the
    /// session's device is connected (best effort, in the background).
    pub fn watch_presence(&self, chat: &chats::Model) {
        if chat.kind == crate::model::ChatKind::Group {
            return; // a presence is a person's
        }
        let Some(sender) = self.sender_of(&chat.session_id) else { return };
        let key = (chat.session_id.clone(), chat.contact.clone());
        if !self.0.watched.lock().expect("watched lock").insert(key.clone()) {
            return; // subscribed already; the device renews it at every reconnect
        }
        let watched = Arc::clone(&self.0);
        tokio::spawn(async move {
            if let Err(e) = sender.subscribe(&key.1).await {
                tracing::debug!(session_id = %key.0, error = %e, "cannot subscribe to a contact's presence");
                watched.watched.lock().expect("watched lock").remove(&key);
            }
        });
    }

    /// The device went away: what it subscribed to is asked for again when an agent opens the chat.
    pub(super) fn forget_presence(&self, session: &SessionKey) {
        self.0.watched.lock().expect("watched lock").retain(|(s, _)| s != session);
    }

    /// `phone` types (or stopped) in its chat with `session`: `presence.update`
    /// to whoever may see the chat.
    pub fn contact_typing(&self, session: &SessionKey, phone: &str, state: Typing) {
        let inbox = self.clone();
        let (session, phone) = (session.clone(), phone.to_owned());
        tokio::spawn(async move {
            let chat = chats::Entity::find()
                .filter(chats::Column::SessionId.eq(session.clone()))
                .filter(chats::Column::Contact.eq(phone.as_str()))
                .one(inbox.db())
                .await;
            let Ok(Some(chat)) = chat else { return };
            let data = serde_json::json!({"chat_id": chat.id, "contact": phone, "state": state});
            inbox.0.events.publish(GatewayEvent {
                kind: "presence.update",
                owner: chat.user_id,
                session,
                also: Vec::new(),
                agent: chat.assigned_agent_id,
                data,
            });
        });
    }
}
