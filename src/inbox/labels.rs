//! Labels: an account's names and colours (made by its owner), put on the
//! account's chats by whoever may see them; the chat list and its counts
//! filter by one.

use std::collections::HashMap;

use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde::Serialize;
use utoipa::ToSchema;

use super::{Inbox, InboxError};
use crate::{
    db::entities::{chat_labels, chats, labels},
    model::now_ms,
};

/// The longest label name, in characters.
pub const MAX_NAME: usize = 32;
/// Most labels on one chat.
pub const MAX_PER_CHAT: usize = 20;

/// A label as chats and lists show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct LabelView {
    pub id: i64,
    pub name: String,
    /// `#rrggbb`.
    pub colour: String,
}

impl From<&labels::Model> for LabelView {
    fn from(m: &labels::Model) -> Self {
        LabelView { id: m.id, name: m.name.clone(), colour: m.colour.clone() }
    }
}

/// A label's name: trimmed, 1-32 characters, no control characters.
pub fn name_of(raw: &str) -> Result<String, String> {
    let name = raw.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME || name.chars().any(char::is_control) {
        return Err(format!("must be 1-{MAX_NAME} characters, without control characters"));
    }
    Ok(name.to_owned())
}

/// A colour as `#rrggbb` (lower-case).
pub fn colour_of(raw: &str) -> Result<String, String> {
    let colour = raw.trim().to_ascii_lowercase();
    let ok = colour.len() == 7 && colour.starts_with('#') && colour[1..].bytes().all(|b| b.is_ascii_hexdigit());
    if ok { Ok(colour) } else { Err("must be #rrggbb".into()) }
}

impl Inbox {
    /// `account`'s labels, by name.
    pub async fn labels(&self, account: i64) -> Result<Vec<labels::Model>, InboxError> {
        Ok(labels::Entity::find()
            .filter(labels::Column::AccountId.eq(account))
            .order_by_asc(labels::Column::Name)
            .all(self.db())
            .await?)
    }

    /// Saves `account`'s new label (or label `id`'s new name and colour); a
    /// name the account has already (in any case) is refused naming `name`.
    pub async fn save_label(
        &self,
        account: i64,
        id: Option<i64>,
        name: String,
        colour: String,
    ) -> Result<labels::Model, InboxError> {
        let taken = || InboxError::Invalid("name", format!("the account has a label {name:?} already"));
        // Whatever their case (as MySQL compares them).
        let same = name.to_lowercase();
        let clash = labels::Entity::find().filter(labels::Column::AccountId.eq(account)).all(self.db()).await?;
        if clash.iter().any(|l| Some(l.id) != id && l.name.to_lowercase() == same) {
            return Err(taken());
        }
        let write = self.writer().begin().await?;
        let saved = match id {
            Some(id) => {
                labels::ActiveModel { id: Set(id), name: Set(name.clone()), colour: Set(colour), ..Default::default() }
                    .update(&write.tx)
                    .await
            }
            None => {
                labels::ActiveModel {
                    account_id: Set(account),
                    name: Set(name.clone()),
                    colour: Set(colour),
                    created_at: Set(now_ms()),
                    ..Default::default()
                }
                .insert(&write.tx)
                .await
            }
        };
        match saved {
            Ok(row) => {
                write.commit().await?;
                Ok(row)
            }
            Err(e) if matches!(e.sql_err(), Some(sea_orm::SqlErr::UniqueConstraintViolation(_))) => Err(taken()),
            Err(e) => Err(e.into()),
        }
    }

    /// Removes a label (from every chat too).
    pub async fn delete_label(&self, id: i64) -> Result<(), InboxError> {
        let write = self.writer().begin().await?;
        chat_labels::Entity::delete_many().filter(chat_labels::Column::LabelId.eq(id)).exec(&write.tx).await?;
        labels::Entity::delete_by_id(id).exec(&write.tx).await?;
        write.commit().await?;
        Ok(())
    }

    /// Puts exactly `on` (labels of the chat's account, checked by the
    /// caller) on `chat`, with its `chat.updated`; the chat as it is now.
    pub async fn set_labels(&self, chat: chats::Model, mut on: Vec<LabelView>) -> Result<super::ChatView, InboxError> {
        on.sort_by(|a, b| a.name.cmp(&b.name));
        on.dedup_by_key(|l| l.id);
        let mut view = self.views(vec![chat.clone()]).await?.remove(0);
        view.labels = Some(on.clone());
        let mut write = self.writer().begin().await?;
        chat_labels::Entity::delete_many().filter(chat_labels::Column::ChatId.eq(chat.id)).exec(&write.tx).await?;
        if !on.is_empty() {
            let rows = on.iter().map(|l| chat_labels::ActiveModel { chat_id: Set(chat.id), label_id: Set(l.id) });
            chat_labels::Entity::insert_many(rows).exec_without_returning(&write.tx).await?;
        }
        if self.writer().heard() {
            let event = crate::events::GatewayEvent {
                kind: "chat.updated",
                owner: chat.user_id,
                session: chat.session_id.clone(),
                also: Vec::new(),
                agent: chat.assigned_agent_id,
                data: serde_json::to_value(&view).unwrap_or_default(),
            };
            write.emit(vec![event]).await?;
        }
        write.commit().await?;
        Ok(view)
    }

    /// The labels of each of these chats.
    pub async fn labels_of(&self, chats: &[i64]) -> Result<HashMap<i64, Vec<LabelView>>, InboxError> {
        let mut out: HashMap<i64, Vec<LabelView>> = HashMap::new();
        if chats.is_empty() {
            return Ok(out);
        }
        let on: Vec<chat_labels::Model> = chat_labels::Entity::find()
            .filter(chat_labels::Column::ChatId.is_in(chats.iter().copied()))
            .all(self.db())
            .await?;
        if on.is_empty() {
            return Ok(out);
        }
        let ids: Vec<i64> = on.iter().map(|c| c.label_id).collect();
        let found: HashMap<i64, labels::Model> = labels::Entity::find()
            .filter(labels::Column::Id.is_in(ids))
            .all(self.db())
            .await?
            .into_iter()
            .map(|l| (l.id, l))
            .collect();
        for row in on {
            if let Some(label) = found.get(&row.label_id) {
                out.entry(row.chat_id).or_default().push(LabelView::from(label));
            }
        }
        for list in out.values_mut() {
            list.sort_by(|a, b| a.name.cmp(&b.name));
        }
        Ok(out)
    }
}
