//! Who is calling: a [`Principal`] (a user, by JWT, API key or the
//! dashboard's login cookie), what it may do, and the cache of credentials
//! that authentication reads (`http::authenticate` reads the request).

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use super::{Access, Area, Role, accounts};
use crate::{
    db::entities::{api_keys as api_key_rows, users},
    error::ApiError,
};

#[derive(Debug, Clone)]
pub struct Principal {
    pub user_id: i64,
    pub role: Role,
    pub via: AuthMethod,
}

#[derive(Debug, Clone)]
pub enum AuthMethod {
    Jwt,
    ApiKey {
        key_id: i64,
        /// Sessions the key is limited to; `None`: all of the user's.
        sessions: Option<Vec<String>>,
    },
    /// The dashboard's login cookie ([`super::web_login`]).
    Cookie,
}

impl Principal {
    /// The single authorisation decision: the role table, plus what a key limited
    /// to some sessions may do ([`Area::open_to_limited_keys`]); within an area,
    /// handlers confine such a key to its sessions' objects.
    pub fn authorize(&self, area: Area, access: Access) -> Result<(), ApiError> {
        let verb = if access == Access::Read { "read" } else { "change" };
        if !self.role.can(area, access) {
            return Err(ApiError::forbidden(format!("role {} may not {verb} {}", self.role.as_str(), area_name(area))));
        }
        if self.limited() && !area.open_to_limited_keys(access) {
            return Err(ApiError::forbidden(format!(
                "an API key limited to sessions may not {verb} {}",
                area_name(area)
            )));
        }
        Ok(())
    }

    /// Whether this is an API key limited to some sessions.
    pub fn limited(&self) -> bool {
        matches!(self.via, AuthMethod::ApiKey { sessions: Some(_), .. })
    }

    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }
}

fn area_name(area: Area) -> &'static str {
    match area {
        Area::Profile => "the profile",
        Area::System => "system information",
        Area::ApiKeys => "API keys",
        Area::Users => "users",
        Area::Sessions => "sessions",
        Area::Notices => "outage notices",
        Area::Customers => "customers",
        Area::Broadcasts => "broadcasts",
        Area::Inbox => "the inbox",
        Area::Bot => "the bot",
        Area::Webhooks => "webhooks",
    }
}

/// Users' roles and API keys as authentication last read them, so a busy
/// client costs no database read per request. A change made through this
/// process (`PUT` or `DELETE /user/{id}`, `DELETE /auth/api-keys/{id}`) takes
/// effect at once ([`Credentials::forget`], [`Credentials::forget_keys`]); one
/// made elsewhere (another gateway on the same database) within [`CREDENTIALS_TTL`].
#[derive(Default)]
pub struct Credentials {
    /// By user id: the role and token version.
    users: std::sync::Mutex<std::collections::HashMap<i64, (Role, i64, std::time::Instant)>>,
    /// By key prefix: the key's row and its owner's role.
    keys: std::sync::Mutex<std::collections::HashMap<String, (api_key_rows::Model, Role, std::time::Instant)>>,
}

/// How long a role or key read from the database is trusted.
pub const CREDENTIALS_TTL: std::time::Duration = std::time::Duration::from_secs(2);

impl Credentials {
    /// The role and token version of user `id`; `None` when there is no such user.
    pub async fn of(&self, db: &sea_orm::DatabaseConnection, id: i64) -> Result<Option<(Role, i64)>, sea_orm::DbErr> {
        if let Some((role, version, read_at)) = self.users.lock().expect("roles lock").get(&id)
            && read_at.elapsed() < CREDENTIALS_TTL
        {
            return Ok(Some((*role, *version)));
        }
        let Some(user) = users::Entity::find_by_id(id).one(db).await? else {
            self.forget(id);
            return Ok(None);
        };
        let role = accounts::role_of(&user);
        self.users.lock().expect("roles lock").insert(id, (role, user.token_version, std::time::Instant::now()));
        Ok(Some((role, user.token_version)))
    }

    /// The API key with this prefix and its owner's role; `None` when there is none.
    pub async fn key(
        &self,
        db: &sea_orm::DatabaseConnection,
        prefix: &str,
    ) -> Result<Option<(api_key_rows::Model, Role)>, sea_orm::DbErr> {
        if let Some((row, role, read_at)) = self.keys.lock().expect("keys lock").get(prefix)
            && read_at.elapsed() < CREDENTIALS_TTL
        {
            return Ok(Some((row.clone(), *role)));
        }
        let found = api_key_rows::Entity::find()
            .filter(api_key_rows::Column::Prefix.eq(prefix))
            .find_also_related(users::Entity)
            .one(db)
            .await?;
        let Some((row, Some(user))) = found else { return Ok(None) };
        let role = accounts::role_of(&user);
        self.keys.lock().expect("keys lock").insert(prefix.to_owned(), (row.clone(), role, std::time::Instant::now()));
        Ok(Some((row, role)))
    }

    /// The key was just used at `at`.
    pub fn used(&self, prefix: &str, at: chrono::NaiveDateTime) {
        if let Some((row, _, _)) = self.keys.lock().expect("keys lock").get_mut(prefix) {
            row.last_used_at = Some(at);
        }
    }

    /// User `id` changed or is gone: read it, and every key, again next time.
    pub fn forget(&self, id: i64) {
        self.users.lock().expect("roles lock").remove(&id);
        self.forget_keys();
    }

    /// An API key was revoked: read keys again next time.
    pub fn forget_keys(&self) {
        self.keys.lock().expect("keys lock").clear();
    }
}
