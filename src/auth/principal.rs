//! Who is calling: a [`Principal`] from `Authorization: Bearer <jwt>`,
//! `x-api-key: <key>` (an API key is also accepted as a Bearer token) or the
//! dashboard's login cookie, and the middleware that admits a request to a
//! route group.

use axum::{
    extract::{FromRequestParts, Request, State},
    http::{HeaderMap, Method, header, request::Parts},
    middleware::Next,
    response::Response,
};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};

use super::{Access, Area, Role, accounts, api_keys, web_login};
use crate::{
    db::{
        self,
        entities::{api_keys as api_key_rows, users},
    },
    error::ApiError,
    state::AppState,
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
    /// The dashboard's login cookie ([`web_login`]).
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
    async fn of(&self, db: &sea_orm::DatabaseConnection, id: i64) -> Result<Option<(Role, i64)>, sea_orm::DbErr> {
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
    async fn key(
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
    fn used(&self, prefix: &str, at: chrono::NaiveDateTime) {
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

/// Identifies the caller. A deleted user or a changed role takes effect at once
/// (see [`Credentials`] for changes made by another process).
pub async fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<Principal, ApiError> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim);
    let api_key = headers.get("x-api-key").and_then(|v| v.to_str().ok()).map(str::trim);
    match (bearer, api_key) {
        (_, Some(key)) => by_api_key(state, key).await,
        (Some(token), None) if api_keys::looks_like_key(token) => by_api_key(state, token).await,
        (Some(token), None) => by_jwt(state, token).await,
        (None, None) => match web_login::token(headers) {
            Some(token) => by_cookie(state, token).await,
            None => Err(ApiError::unauthorized("send Authorization: Bearer <token> or x-api-key: <key>")),
        },
    }
}

/// [`authenticate`], and a write made with the login cookie must come from the
/// gateway's own pages ([`web_login::same_origin`]): no other site can act
/// for a logged-in user.
pub async fn authenticate_request(
    state: &AppState,
    method: &Method,
    headers: &HeaderMap,
) -> Result<Principal, ApiError> {
    let principal = authenticate(state, headers).await?;
    if matches!(principal.via, AuthMethod::Cookie)
        && Access::of(method) == Access::Write
        && !web_login::same_origin(headers)
    {
        return Err(ApiError::forbidden(
            "a change made with the dashboard's login cookie must come from the dashboard (its Origin header)",
        )
        .with_code("cross_origin"));
    }
    Ok(principal)
}

async fn by_cookie(state: &AppState, token: &str) -> Result<Principal, ApiError> {
    let expired = || ApiError::unauthorized("the login expired or was ended: log in again");
    let login = web_login::find(&state.db, token).await?.ok_or_else(expired)?;
    let (role, version) = state.credentials.of(&state.db, login.user_id).await?.ok_or_else(expired)?;
    if login.token_version != version {
        return Err(ApiError::unauthorized("the password changed since this login: log in again"));
    }
    Ok(Principal { user_id: login.user_id, role, via: AuthMethod::Cookie })
}

async fn by_jwt(state: &AppState, token: &str) -> Result<Principal, ApiError> {
    let claims = state.jwt.verify(token).ok_or_else(|| ApiError::unauthorized("invalid or expired token"))?;
    let id: i64 = claims.sub.parse().map_err(|_| ApiError::unauthorized("invalid or expired token"))?;
    let (role, version) = state
        .credentials
        .of(&state.db, id)
        .await?
        .ok_or_else(|| ApiError::unauthorized("the token's user no longer exists"))?;
    if claims.ver != version {
        return Err(ApiError::unauthorized("the password changed since this token was issued: log in again"));
    }
    Ok(Principal { user_id: id, role, via: AuthMethod::Jwt })
}

async fn by_api_key(state: &AppState, key: &str) -> Result<Principal, ApiError> {
    let invalid = || ApiError::unauthorized("invalid API key");
    let prefix = api_keys::prefix_of(key).ok_or_else(invalid)?;
    let (row, role) = state.credentials.key(&state.db, prefix).await?.ok_or_else(invalid)?;
    if !api_keys::matches(key, &row.key_hash) {
        return Err(invalid());
    }
    let sessions = api_keys::sessions_of(&row);
    touch(state, prefix, &row).await;
    Ok(Principal { user_id: row.user_id, role, via: AuthMethod::ApiKey { key_id: row.id, sessions } })
}

/// Records use of a key, at most once a minute so busy keys cost no write per request.
async fn touch(state: &AppState, prefix: &str, row: &api_key_rows::Model) {
    let now = db::now();
    if row.last_used_at.is_some_and(|t| (now - t).num_seconds() < 60) {
        return;
    }
    state.credentials.used(prefix, now);
    let update = api_key_rows::ActiveModel { id: Set(row.id), last_used_at: Set(Some(now)), ..Default::default() };
    if let Err(e) = update.update(&state.db).await {
        tracing::warn!(error = %e, key_id = row.id, "could not record API key use");
    }
}

/// Middleware for a route group: authenticates, applies [`Principal::authorize`]
/// for the group's area and the request's method, and hands the principal on.
pub async fn require(
    area: Area,
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let principal = authenticate_request(&state, req.method(), req.headers()).await?;
    principal.authorize(area, Access::of(req.method()))?;
    req.extensions_mut().insert(principal);
    Ok(next.run(req).await)
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        match parts.extensions.get::<Principal>() {
            Some(p) => Ok(p.clone()),
            None => authenticate_request(state, &parts.method, &parts.headers).await,
        }
    }
}
