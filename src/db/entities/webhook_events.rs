use sea_orm::entity::prelude::*;

/// An event as sent to webhooks: its payload never changes once written.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_events")]
pub struct Model {
    /// Chosen by the gateway, increasing: the event's sequence number too.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: i64,
    /// The account it is about.
    pub user_id: i64,
    /// The session's key, when it is about one.
    pub session_id: Option<crate::model::SessionKey>,
    pub kind: String,
    /// The event's `data`, JSON.
    pub data: String,
    pub created_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
