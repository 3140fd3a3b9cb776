use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "broadcasts")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub user_id: i64,
    /// `notification`, `custom`, `phone` or `odp`.
    pub kind: String,
    pub notice_id: Option<i64>,
    pub odp: Option<String>,
    pub template: String,
    /// The sessions it sends from, as a JSON array.
    pub sessions: String,
    /// Recipients in all, skipped ones included.
    pub total: i32,
    pub skipped: i32,
    pub queued: i32,
    /// Epoch milliseconds.
    pub cancelled_at: Option<i64>,
    /// When it was first seen with nothing left to send (epoch ms):
    /// `broadcast.completed` went out then.
    pub completed_at: Option<i64>,
    pub idempotency_key: Option<String>,
    pub request_hash: Option<String>,
    pub created_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
