use sea_orm::entity::prelude::*;

/// One stretch of a chat, from a customer's message to its close, for the
/// inbox's analytics (see `crate::inbox::conversations`).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "conversations")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub chat_id: i64,
    /// The session's owner.
    pub user_id: i64,
    pub session_id: crate::model::SessionKey,
    /// The agent answering: the first to reply, then the one it was closed by.
    pub agent_id: Option<i64>,
    /// Epoch milliseconds: the customer's first message.
    pub opened_at: i64,
    /// A person's first answer (an agent's, or from the phone).
    pub first_response_at: Option<i64>,
    /// When the chat moved to `agent` mode.
    pub handed_at: Option<i64>,
    pub closed_at: Option<i64>,
    /// The customer's 1–5 rating after the close.
    pub rating: Option<i32>,
    /// The customer's messages.
    pub messages_in: i32,
    /// Messages to the customer (the bot's too).
    pub messages_out: i32,
    /// The bot's.
    pub bot_replies: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
