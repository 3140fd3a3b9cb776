use sea_orm::entity::prelude::*;

/// A canned reply (see `crate::inbox::canned`).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "canned_replies")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// `a:<account id>` (the account's) or `p:<user id>` (one person's own).
    pub scope: String,
    pub author_id: i64,
    /// Lower-case letters, digits, `_` and `-`, without the `/`.
    pub shortcut: String,
    pub text: String,
    /// Epoch milliseconds.
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
