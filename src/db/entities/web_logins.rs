use sea_orm::entity::prelude::*;

/// A dashboard login (see `crate::auth::web_login`).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "web_logins")]
pub struct Model {
    /// SHA-256 (hex) of the cookie's token.
    #[sea_orm(primary_key, auto_increment = false)]
    pub token_hash: String,
    pub user_id: i64,
    /// The user's `token_version` at login: a password change ends the login.
    pub token_version: i64,
    /// Epoch milliseconds.
    pub created_at: i64,
    /// Epoch milliseconds.
    pub expires_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
