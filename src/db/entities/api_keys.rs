use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "api_keys")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub user_id: i64,
    pub name: String,
    /// Public id part of the key (`wag_xxxxxxxxxxxx`).
    #[sea_orm(unique)]
    pub prefix: String,
    /// SHA-256 hex of the whole key.
    pub key_hash: String,
    /// JSON array of session ids this key is limited to; `None`: all of the user's.
    #[sea_orm(column_type = "Text", nullable)]
    pub sessions: Option<String>,
    pub created_at: DateTime,
    pub last_used_at: Option<DateTime>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::users::Entity",
        from = "Column::UserId",
        to = "super::users::Column::Id",
        on_delete = "Cascade"
    )]
    User,
}

impl Related<super::users::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::User.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
