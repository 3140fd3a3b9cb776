//! Who is calling, read from the request: `Authorization: Bearer <jwt>`,
//! `x-api-key: <key>` (an API key is also accepted as a Bearer token) or the
//! dashboard's login cookie; and the middleware that admits a request to a
//! route group.

use axum::{
    extract::{FromRequestParts, Request, State},
    http::{HeaderMap, Method, header, request::Parts},
    middleware::Next,
    response::Response,
};
use sea_orm::{ActiveModelTrait, ActiveValue::Set};

use crate::{
    auth::{Access, Area, AuthMethod, Principal, api_keys, web_login},
    db::{self, entities::api_keys as api_key_rows},
    error::ApiError,
    http::state::AppState,
};

/// Identifies the caller. A deleted user or a changed role takes effect at once
/// (see [`crate::auth::principal::Credentials`] for changes made by another process).
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
