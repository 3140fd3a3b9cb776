//! Who hears of status changes: live subscribers (`message.status`), the
//! inbox's watcher (the `chat.message` of a queued entry), and the broadcasts
//! whose progress moved.

use super::{Queue, views::status_data};
use crate::{db::entities::messages, events::GatewayEvent, model::SessionKey};

impl Queue {
    /// The owner of `session`: its events are theirs (and admins').
    async fn owner_of(&self, session: &SessionKey) -> Option<i64> {
        use sea_orm::EntityTrait;
        let lane = self.lane(session);
        if let Some(owner) = lane.owner.get() {
            return Some(*owner);
        }
        let row =
            crate::db::entities::sessions::Entity::find_by_id(session.to_owned()).one(&self.0.db).await.ok()??;
        Some(*lane.owner.get_or_init(|| row.user_id))
    }

    /// Status changes (the rows they left), in order, while events have
    /// subscribers; for one watcher (the inbox), the first to ask.
    pub fn watch(&self) -> Option<tokio::sync::mpsc::UnboundedReceiver<messages::Model>> {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        self.0.watcher.set(tx).ok().map(|()| rx)
    }

    /// The broadcasts whose messages changed status since the last call; waits
    /// for one when there is none.
    pub async fn moved_broadcasts(&self) -> Vec<i64> {
        loop {
            let ids: Vec<i64> = self.0.moved.lock().expect("moved lock").drain().collect();
            if !ids.is_empty() {
                return ids;
            }
            self.0.moved_wake.notified().await;
        }
    }

    /// Tells subscribers of messages queued by others' transactions (the bot's replies).
    pub async fn published(&self, rows: &[messages::Model]) {
        for row in rows {
            self.publish(row, None).await;
        }
    }

    pub(super) async fn publish(&self, row: &messages::Model, at: Option<i64>) {
        if let Some(broadcast) = row.broadcast_id {
            self.0.moved.lock().expect("moved lock").insert(broadcast);
            self.0.moved_wake.notify_one();
        }
        if !self.0.events.has_subscribers() {
            return;
        }
        if let Some(watcher) = self.0.watcher.get() {
            let _ = watcher.send(row.clone());
        }
        let owner = self.owner_of(&row.session_id).await.unwrap_or(row.user_id);
        self.0.events.publish(GatewayEvent {
            kind: "message.status",
            owner,
            session: row.session_id.clone(),
            also: Vec::new(),
            agent: None,
            data: status_data(row, at.unwrap_or(row.updated_at)),
        });
    }
}
