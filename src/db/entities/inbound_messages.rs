use sea_orm::entity::prelude::*;

/// A message WhatsApp delivered to a session (see `crate::inbox`).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "inbound_messages")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub session_id: crate::model::SessionKey,
    /// The inbox chat (1:1 conversations only).
    pub chat_id: Option<i64>,
    pub chat_jid: String,
    pub sender_jid: String,
    pub wa_id: String,
    pub from_me: bool,
    pub kind: String,
    pub wa_type: Option<String>,
    pub body: Option<String>,
    pub filename: Option<String>,
    pub mimetype: Option<String>,
    pub media_size: Option<i64>,
    /// How to download the media, as JSON.
    pub media: Option<String>,
    /// `pending`, `done` or `failed`.
    pub media_state: Option<String>,
    pub media_error: Option<String>,
    pub media_attempts: i32,
    pub media_due_at: Option<i64>,
    pub quoted_id: Option<String>,
    pub push_name: Option<String>,
    /// Location, contact card or reaction, as JSON.
    pub extra: Option<String>,
    pub sent_at: i64,
    pub received_at: i64,
    pub read_at: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
