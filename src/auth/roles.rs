//! Roles and the one table that says what each may do. Every protected route group
//! names its [`Area`]; the HTTP method decides [`Access`]; [`Role::can`] decides.

use axum::http::Method;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything, including user management.
    Admin,
    /// Own sessions, sending, broadcasts, own API keys.
    User,
    /// The inbox: chats assigned to them.
    Agent,
    /// Reads what a user may read; never changes anything.
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

    /// The permission table.
    pub fn can(self, area: Area, access: Access) -> bool {
        match (self, area) {
            (Role::Admin, _) => true,
            (_, Area::Users) => false,
            (Role::Readonly, _) => access == Access::Read,
            (Role::User | Role::Agent, Area::Profile | Area::System) => true,
            (Role::User, Area::ApiKeys | Area::Sessions | Area::Notices | Area::Inbox) => true,
            (Role::Agent, Area::Inbox) => true,
            (Role::Agent, Area::ApiKeys | Area::Sessions | Area::Notices) => false,
        }
    }
}

/// What a route group is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Area {
    /// The caller's own account (`/auth/me`) and its live events (`/events`).
    Profile,
    /// Operational reads: `/db-connect`, `/metrics`, `/openapi.json`.
    System,
    /// The caller's API keys.
    ApiKeys,
    /// Managing other users' accounts.
    Users,
    /// WhatsApp sessions (the caller's own; all for admins).
    Sessions,
    /// Outage notices: customers, ODPs, notices and broadcasts (the caller's own).
    Notices,
    /// The shared inbox: chats (agents: those assigned to them).
    Inbox,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

impl Access {
    pub fn of(method: &Method) -> Access {
        if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) { Access::Read } else { Access::Write }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readonly_never_writes_and_only_admin_manages_users() {
        for area in
            [Area::Profile, Area::System, Area::ApiKeys, Area::Users, Area::Sessions, Area::Notices, Area::Inbox]
        {
            assert!(!Role::Readonly.can(area, Access::Write));
            assert!(Role::Admin.can(area, Access::Write));
        }
        for role in [Role::User, Role::Agent, Role::Readonly] {
            assert!(!role.can(Area::Users, Access::Read));
        }
    }
}
