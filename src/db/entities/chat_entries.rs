use sea_orm::entity::prelude::*;

/// One entry of a chat's timeline: a received message, a queued one, or a
/// private note of the team (`sender` `note`, its text in `note`).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "chat_entries")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub chat_id: i64,
    /// One of [`crate::model::Origin`], as text.
    pub sender: crate::model::Origin,
    pub inbound_id: Option<i64>,
    pub message_id: Option<String>,
    pub agent_id: Option<i64>,
    pub at: i64,
    /// A note's text (its author: `agent_id`).
    pub note: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
