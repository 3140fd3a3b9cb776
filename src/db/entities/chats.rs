use sea_orm::entity::prelude::*;

/// A conversation of a session: with one contact, or a group's (see `crate::inbox`).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "chats")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub session_id: crate::model::SessionKey,
    /// The session's owner.
    pub user_id: i64,
    /// Digits with country code; a group chat's: the group's JID (`<id>@g.us`).
    pub contact: String,
    pub name: String,
    pub customer_id: Option<i64>,
    pub email: Option<String>,
    pub address: Option<String>,
    /// One of [`crate::model::ChatMode`], as text.
    pub mode: crate::model::ChatMode,
    pub assigned_agent_id: Option<i64>,
    pub unread: i32,
    pub online: bool,
    /// Epoch milliseconds, like the other times.
    pub last_message_at: i64,
    pub created_at: i64,
    pub updated_at: i64,
    /// When the chat got its mode.
    pub mode_at: i64,
    /// The bot menu the customer is in (`None`: the main menu).
    pub bot_menu: Option<String>,
    /// The bot's last reply to this chat.
    pub bot_replied_at: Option<i64>,
    /// The bot's replies since `bot_window_at` (its per-minute cap).
    pub bot_window_at: Option<i64>,
    pub bot_window_count: i32,
    pub kind: crate::model::ChatKind,
    /// The satisfaction question after a close: `asked`, `retried` (the
    /// fallback was said once), `None` (none pending).
    pub csat_state: Option<String>,
    /// The customer's rating, 1–5.
    pub csat_rating: Option<i32>,
    /// When the question was asked, or answered.
    pub csat_at: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
