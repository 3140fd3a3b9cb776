use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "broadcast_recipients")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub broadcast_id: i64,
    pub customer_id: Option<i64>,
    pub customer_name: String,
    /// Normalised when valid, else as given.
    pub phone: String,
    /// The queued message; `None` when skipped.
    pub message_id: Option<String>,
    /// Why it was skipped.
    pub skipped: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
