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
    /// `text`, `image` or `document`.
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
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
