//! A queued message waiting to be sent: when it is due, and the lease of a
//! send on the wire (the send queue's due list; see `queue::store`).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "due_messages")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub message_id: String,
    pub session_id: crate::model::SessionKey,
    pub recipient: String,
    /// Epoch milliseconds.
    pub due_at: i64,
    pub lease_until: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
