use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Lower-case.
    #[sea_orm(unique)]
    pub email: String,
    /// Lower-case; optional second login identifier.
    #[sea_orm(unique)]
    pub username: Option<String>,
    pub name: String,
    pub password_hash: String,
    pub role: crate::model::Role,
    /// Bumped when the password changes: tokens carrying an older one are refused.
    pub token_version: i64,
    /// The person says they are there to answer chats (auto-assignment gives
    /// chats only to available agents).
    pub available: bool,
    /// When a chat was last given them by auto-assignment (epoch ms, strictly
    /// growing across agents: the round-robin's turn; `crate::inbox::assign`).
    pub last_assigned_at: Option<i64>,
    /// The dashboard's language they chose (`None`: their browser's).
    pub language: Option<crate::model::Language>,
    pub created_at: DateTime,
    pub updated_at: DateTime,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::api_keys::Entity")]
    ApiKeys,
}

impl Related<super::api_keys::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::ApiKeys.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
