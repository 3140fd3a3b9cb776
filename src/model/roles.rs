//! An account's role (what each may do is `auth`'s table, `Role::can`).

use sea_orm::{DeriveActiveEnum, EnumIter, sea_query::StringLen};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Stored as its name in `users.role`: a value this type does not know makes
/// reading the row an error, never a guessed role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, EnumIter, DeriveActiveEnum)]
#[serde(rename_all = "lowercase")]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum Role {
    /// Everything, including user management.
    #[sea_orm(string_value = "admin")]
    Admin,
    /// Own sessions, sending, broadcasts, own API keys.
    #[sea_orm(string_value = "user")]
    User,
    /// The inbox: chats assigned to them.
    #[sea_orm(string_value = "agent")]
    Agent,
    /// Reads what a user may read; never changes anything.
    #[sea_orm(string_value = "readonly")]
    Readonly,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Admin, Role::User, Role::Agent, Role::Readonly];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::User => "user",
            Role::Agent => "agent",
            Role::Readonly => "readonly",
        }
    }

    pub fn parse(value: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == value)
    }
}
