//! Who is calling: a [`Principal`] from `Authorization: Bearer <jwt>` or
//! `x-api-key: <key>` (an API key is also accepted as a Bearer token), and the
//! middleware that admits a request to a route group.

use axum::{
    extract::{FromRequestParts, Request, State},
    http::{HeaderMap, header, request::Parts},
    middleware::Next,
    response::Response,
};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};

use super::{Access, Area, Role, accounts, api_keys};
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
}

impl Principal {
    /// The single authorisation decision: the role table, plus the rule that a key
    /// limited to some sessions cannot mint or revoke keys (that would widen it).
    pub fn authorize(&self, area: Area, access: Access) -> Result<(), ApiError> {
        if !self.role.can(area, access) {
            let verb = if access == Access::Read { "read" } else { "change" };
            return Err(ApiError::forbidden(format!("role {} may not {verb} {}", self.role.as_str(), area_name(area))));
        }
        if area == Area::ApiKeys
            && access == Access::Write
            && matches!(self.via, AuthMethod::ApiKey { sessions: Some(_), .. })
        {
            return Err(ApiError::forbidden("an API key limited to sessions cannot manage API keys"));
        }
        Ok(())
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
    }
}

/// Users' roles as authentication last read them, so a busy client costs no
/// database read per request. A change made through this process (`PUT` or
/// `DELETE /user/{id}`) takes effect at once ([`Roles::forget`]); one made
/// elsewhere (another gateway on the same database) within [`ROLE_TTL`].
#[derive(Default)]
pub struct Roles(std::sync::Mutex<std::collections::HashMap<i64, (Role, std::time::Instant)>>);

/// How long a role read from the database is trusted.
pub const ROLE_TTL: std::time::Duration = std::time::Duration::from_secs(2);

impl Roles {
    /// The role of user `id`; `None` when there is no such user.
    async fn of(&self, db: &sea_orm::DatabaseConnection, id: i64) -> Result<Option<Role>, sea_orm::DbErr> {
        if let Some((role, read_at)) = self.0.lock().expect("roles lock").get(&id)
            && read_at.elapsed() < ROLE_TTL
        {
            return Ok(Some(*role));
        }
        let Some(user) = users::Entity::find_by_id(id).one(db).await? else {
            self.forget(id);
            return Ok(None);
        };
        let role = accounts::role_of(&user);
        self.0.lock().expect("roles lock").insert(id, (role, std::time::Instant::now()));
        Ok(Some(role))
    }

    /// User `id` changed or is gone: read it again next time.
    pub fn forget(&self, id: i64) {
        self.0.lock().expect("roles lock").remove(&id);
    }
}

/// Identifies the caller. A deleted user or a changed role takes effect at once
/// (see [`Roles`] for changes made by another process).
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
        (None, None) => Err(ApiError::unauthorized("send Authorization: Bearer <token> or x-api-key: <key>")),
    }
}

async fn by_jwt(state: &AppState, token: &str) -> Result<Principal, ApiError> {
    let claims = state.jwt.verify(token).ok_or_else(|| ApiError::unauthorized("invalid or expired token"))?;
    let id: i64 = claims.sub.parse().map_err(|_| ApiError::unauthorized("invalid or expired token"))?;
    let role = state
        .roles
        .of(&state.db, id)
        .await?
        .ok_or_else(|| ApiError::unauthorized("the token's user no longer exists"))?;
    Ok(Principal { user_id: id, role, via: AuthMethod::Jwt })
}

async fn by_api_key(state: &AppState, key: &str) -> Result<Principal, ApiError> {
    let invalid = || ApiError::unauthorized("invalid API key");
    let prefix = api_keys::prefix_of(key).ok_or_else(invalid)?;
    let (row, user) = api_key_rows::Entity::find()
        .filter(api_key_rows::Column::Prefix.eq(prefix))
        .find_also_related(users::Entity)
        .one(&state.db)
        .await?
        .ok_or_else(invalid)?;
    let user = user.ok_or_else(invalid)?;
    if !api_keys::matches(key, &row.key_hash) {
        return Err(invalid());
    }
    let sessions = api_keys::sessions_of(&row);
    touch(state, &row).await;
    Ok(Principal {
        user_id: user.id,
        role: accounts::role_of(&user),
        via: AuthMethod::ApiKey { key_id: row.id, sessions },
    })
}

/// Records use of a key, at most once a minute so busy keys cost no write per request.
async fn touch(state: &AppState, row: &api_key_rows::Model) {
    let now = db::now();
    if row.last_used_at.is_some_and(|t| (now - t).num_seconds() < 60) {
        return;
    }
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
    let principal = authenticate(&state, req.headers()).await?;
    principal.authorize(area, Access::of(req.method()))?;
    req.extensions_mut().insert(principal);
    Ok(next.run(req).await)
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        match parts.extensions.get::<Principal>() {
            Some(p) => Ok(p.clone()),
            None => authenticate(state, &parts.headers).await,
        }
    }
}
