use sea_orm::entity::prelude::*;

/// An account's inbox settings (see `crate::inbox::assign`).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "inbox_settings")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: i64,
    /// Chats that move to `agent` mode unassigned go round-robin to available agents.
    pub auto_assign: bool,
    /// Closing a chat makes the bot ask the customer for a 1–5 rating.
    pub csat: bool,
    /// Epoch milliseconds.
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
