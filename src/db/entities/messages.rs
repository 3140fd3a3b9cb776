use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "messages")]
pub struct Model {
    /// The WhatsApp message id, chosen by the gateway.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub session_id: crate::model::SessionKey,
    pub user_id: i64,
    pub recipient: String,
    /// `text`, `image`, `video`, `audio`, `voice`, `sticker`, `document`,
    /// `location`, `contact` or `poll`.
    pub kind: String,
    pub body: Option<String>,
    pub filename: Option<String>,
    pub mimetype: Option<String>,
    pub media_size: Option<i64>,
    pub media_sha256: Option<String>,
    pub status: crate::model::MessageStatus,
    pub reason: Option<String>,
    pub attempts: i32,
    pub idempotency_key: Option<String>,
    pub request_hash: Option<String>,
    /// Epoch milliseconds.
    pub created_at: i64,
    pub updated_at: i64,
    /// The broadcast (outage notice) it is part of, if any.
    pub broadcast_id: Option<i64>,
    /// Who sent it: `api`, `broadcast`, `agent` or `bot` ([`crate::model::Origin`]).
    pub origin: crate::model::Origin,
    /// The agent who wrote it (origin `agent`).
    pub agent_id: Option<i64>,
    /// What a text column cannot hold, JSON ([`crate::queue::Details`]).
    pub extra: Option<String>,
    /// The message it answers, in the same chat.
    pub quoted_id: Option<String>,
    /// What the reply shows of it, JSON ([`crate::queue::content::Quote`]).
    pub quote: Option<String>,
    /// A poll's message secret (base64): its votes are encrypted with it.
    pub secret: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
