use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sessions")]
pub struct Model {
    /// The internal key every other table and the device store use: the name,
    /// or `name~suffix` when another account had the name first ([`crate::model::SessionKey`]).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: crate::model::SessionKey,
    pub user_id: i64,
    /// What the owner calls it (seed 003's `sessionId`): unique per owner.
    pub name: String,
    /// Digits with country code, detected when the device links.
    pub phone_number: Option<String>,
    pub status: crate::model::SessionStatus,
    pub reason: Option<String>,
    pub banned_until: Option<DateTime>,
    pub last_connected_at: Option<DateTime>,
    /// Per-session overrides of `[limits]`, as JSON ([`crate::queue::LimitsOverride`]).
    pub limits: Option<String>,
    pub created_at: DateTime,
    pub updated_at: DateTime,
    /// Set when the session was deleted: the row stays for its messages' sake,
    /// and nothing else sees it.
    pub deleted_at: Option<DateTime>,
    /// Per-session overrides of `[calls]`, as JSON ([`crate::inbox::CallsOverride`]).
    pub calls: Option<String>,
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
