use sea_orm::entity::prelude::*;

/// A 1:1 conversation of a session with one contact (see `crate::inbox`).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "chats")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub session_id: String,
    /// The session's owner.
    pub user_id: i64,
    /// Digits with country code.
    pub contact: String,
    pub name: String,
    pub customer_id: Option<i64>,
    pub email: Option<String>,
    pub address: Option<String>,
    /// One of [`crate::inbox::Mode`], as text.
    pub mode: String,
    pub assigned_agent_id: Option<i64>,
    pub unread: i32,
    pub online: bool,
    /// Epoch milliseconds, like the other times.
    pub last_message_at: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
