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

/// Identifies the caller, re-reading the user so a deleted user or a changed role
/// takes effect at once.
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
    let user = users::Entity::find_by_id(id)
        .one(&state.db)
        .await?
        .ok_or_else(|| ApiError::unauthorized("the token's user no longer exists"))?;
    Ok(Principal { user_id: user.id, role: accounts::role_of(&user), via: AuthMethod::Jwt })
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
