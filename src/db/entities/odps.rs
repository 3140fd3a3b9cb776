use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "odps")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub user_id: i64,
    pub code: String,
    /// Epoch milliseconds.
    pub created_at: i64,
    /// The group (`<id>@g.us`) a notice sent by this ODP is also posted into, once.
    pub group_jid: Option<String>,
    /// The session that posts it.
    pub group_session: Option<crate::model::SessionKey>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
