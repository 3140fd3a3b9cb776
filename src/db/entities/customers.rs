use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "customers")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub user_id: i64,
    /// The billing system's id.
    pub external_id: String,
    pub name: String,
    pub phone_raw: String,
    /// Digits with country code; `None` when `phone_raw` is not a valid number.
    pub phone: Option<String>,
    pub phone_error: Option<String>,
    pub odp_id: Option<i64>,
    pub active: bool,
    /// Epoch milliseconds.
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
