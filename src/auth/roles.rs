//! Roles and the one table that says what each may do. Every protected route group
//! names its [`Area`]; the HTTP method decides [`Access`]; [`Role::can`] decides.

use axum::http::Method;

use crate::model::Role;

impl Role {
    /// The permission table.
    pub fn can(self, area: Area, access: Access) -> bool {
        match (self, area) {
            (Role::Admin, _) => true,
            (_, Area::Users) => false,
            (Role::Readonly, _) => access == Access::Read,
            (Role::User | Role::Agent, Area::Profile | Area::System) => true,
            (Role::User, Area::ApiKeys | Area::Sessions | Area::Notices | Area::Customers | Area::Broadcasts) => true,
            (Role::User, Area::Inbox | Area::Webhooks | Area::Bot) => true,
            (Role::Agent, Area::Inbox) => true,
            (
                Role::Agent,
                Area::ApiKeys
                | Area::Sessions
                | Area::Notices
                | Area::Customers
                | Area::Broadcasts
                | Area::Webhooks
                | Area::Bot,
            ) => false,
        }
    }
}

/// What a route group is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Area {
    /// The caller's own account (`/auth/me`) and its live events (`/events`).
    Profile,
    /// Operational reads: `/metrics`.
    System,
    /// The caller's API keys.
    ApiKeys,
    /// Managing other users' accounts.
    Users,
    /// WhatsApp sessions (the caller's own; all for admins).
    Sessions,
    /// Outage notices and the ODP list (the caller's own).
    Notices,
    /// Customers as the billing system keeps them (the caller's own).
    Customers,
    /// Broadcasts of notices and texts to customers (the caller's own).
    Broadcasts,
    /// The shared inbox: chats (agents: those assigned to them).
    Inbox,
    /// Outgoing webhook endpoints (the caller's own).
    Webhooks,
    /// The account's menu bot and inbox settings.
    Bot,
}

impl Area {
    pub const ALL: [Area; 11] = [
        Area::Profile,
        Area::System,
        Area::ApiKeys,
        Area::Users,
        Area::Sessions,
        Area::Notices,
        Area::Customers,
        Area::Broadcasts,
        Area::Inbox,
        Area::Webhooks,
        Area::Bot,
    ];

    /// What an API key limited to some sessions may do here: only what concerns
    /// those sessions. Notices (templates) and the ODP list may be read, since
    /// broadcasting by ODP needs them; customers' personal data, account-wide
    /// changes, users, keys and system information are closed to it.
    pub fn open_to_limited_keys(self, access: Access) -> bool {
        match self {
            // Webhooks: only endpoints that hear nothing but its sessions (see `http::webhooks`).
            Area::Sessions | Area::Inbox | Area::Broadcasts | Area::Webhooks => true,
            Area::Profile | Area::Notices => access == Access::Read,
            // The bot's document is the whole account's.
            Area::System | Area::ApiKeys | Area::Users | Area::Customers | Area::Bot => false,
        }
    }
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
        for area in Area::ALL {
            assert!(!Role::Readonly.can(area, Access::Write));
            assert!(Role::Admin.can(area, Access::Write));
        }
        for role in [Role::User, Role::Agent, Role::Readonly] {
            assert!(!role.can(Area::Users, Access::Read));
        }
    }
}
