use sea_orm::entity::prelude::*;

/// One event's delivery to one endpoint.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_deliveries")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub webhook_id: i64,
    pub event_id: i64,
    pub status: crate::model::DeliveryStatus,
    pub attempts: i32,
    /// Epoch milliseconds.
    pub next_attempt_at: i64,
    pub last_status: Option<i32>,
    pub last_response: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
