//! `/auth/*`: registration, login, the caller's profile and API keys.

use std::net::SocketAddr;

use axum::{
    Json,
    extract::{ConnectInfo, State},
    http::{HeaderMap, StatusCode, header},
    response::IntoResponse,
};
use serde::{Deserialize, Serialize};
use serde_valid::Validate;
use utoipa::ToSchema;

use super::{
    Data, Message,
    client_addr::client_ip,
    extract::{ApiJson, ApiPath},
};
use crate::{
    auth::{
        Principal,
        accounts::{self, NewUser, UserView},
        api_keys, web_login,
    },
    db::entities::{api_keys as api_key_rows, users},
    error::{ApiError, ErrorBody, retry_seconds},
    http::state::AppState,
    model::{Language, Role},
    net::Cidr,
    validation,
};

#[derive(Serialize, ToSchema)]
pub struct RegisterResponse {
    #[schema(example = "Register success")]
    pub message: &'static str,
    pub data: UserView,
}

/// Create an account. Open while no user exists (the first one becomes admin) or
/// when `auth.open_registration` is on; new accounts get the `user` role.
#[utoipa::path(
    post, path = "/auth/register", tag = "auth",
    request_body = NewUser,
    responses(
        (status = 201, body = RegisterResponse),
        (status = 403, description = "registration is closed", body = ErrorBody),
        (status = 409, description = "email or username taken", body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
pub async fn register(
    State(state): State<AppState>,
    ApiJson(new): ApiJson<NewUser>,
) -> Result<(StatusCode, Json<RegisterResponse>), ApiError> {
    let existing = accounts::count(&state.db).await?;
    if existing > 0 && !state.config.auth.open_registration {
        return Err(
            ApiError::forbidden("registration is closed; ask an admin for an account").with_code("registration_closed")
        );
    }
    let role = if existing == 0 { Role::Admin } else { Role::User };
    let user = accounts::create(&state.db, &state.passwords, new, role).await?;
    Ok((StatusCode::CREATED, Json(RegisterResponse { message: "Register success", data: UserView::from(&user) })))
}

/// Either `{email, password}` or `{identifier, password}` (identifier: username or email).
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[validate(custom = |r| r.has_identifier())]
pub struct LoginRequest {
    #[serde(default)]
    #[validate(max_length = 254)]
    pub email: Option<String>,
    #[serde(default)]
    #[validate(max_length = 254)]
    pub identifier: Option<String>,
    #[validate(max_length = 1024)]
    pub password: String,
}

impl LoginRequest {
    fn has_identifier(&self) -> Result<(), serde_valid::validation::Error> {
        if self.login_name().is_none() {
            return Err(serde_valid::validation::Error::Custom("send email or identifier".into()));
        }
        Ok(())
    }

    fn login_name(&self) -> Option<&str> {
        self.identifier.as_deref().or(self.email.as_deref()).map(str::trim).filter(|s| !s.is_empty())
    }
}

#[derive(Serialize, ToSchema)]
pub struct LoginResponse {
    #[schema(example = "Login success")]
    pub message: &'static str,
    pub token: String,
    /// The same token, as seed clients read it.
    pub access_token: String,
    #[schema(example = "bearer")]
    pub token_type: &'static str,
    /// Seconds until the token expires.
    pub expires_in: u64,
    pub user: UserView,
    /// The same user, as seed clients read it.
    pub data: UserView,
}

/// What a login with a password that no account can have is checked as.
const IMPLAUSIBLE: &str = "not-a-password-of-anyone";

/// Exchange credentials for a JWT.
#[utoipa::path(
    post, path = "/auth/login", tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, body = LoginResponse), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 429, description = "Too many attempts for this account from this address; see Retry-After", body = ErrorBody)
    )
)]
pub async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<LoginRequest>,
) -> Result<Json<LoginResponse>, ApiError> {
    let user = check_credentials(&state, peer, &headers, &req).await?;
    let role = accounts::role_of(&user);
    let token = state.jwt.issue(user.id, role, user.token_version)?;
    let view = UserView::from(&user);
    Ok(Json(LoginResponse {
        message: "Login success",
        access_token: token.clone(),
        token,
        token_type: "bearer",
        expires_in: state.jwt.expires_in().as_secs(),
        user: view.clone(),
        data: view,
    }))
}

/// The account these credentials log in to; throttled per account and address.
async fn check_credentials(
    state: &AppState,
    peer: SocketAddr,
    headers: &HeaderMap,
    req: &LoginRequest,
) -> Result<users::Model, ApiError> {
    let wrong = || ApiError::unauthorized("wrong email, username or password");
    let name = req.login_name().unwrap_or_default();
    let user = accounts::find_by_identifier(&state.db, name).await?;
    // Counted per account (by username and email alike), before bcrypt: past the
    // limit a guesser costs one lookup. Unknown names are counted as typed.
    let account = user.as_ref().map_or_else(|| format!("name:{name}"), |u| format!("id:{}", u.id));
    let trusted: Vec<Cidr> =
        state.config.server.trusted_proxies.iter().filter_map(|proxy| Cidr::parse(proxy).ok()).collect();
    if let Err(wait) = state.logins.attempt(client_ip(peer.ip(), headers, &trusted), &account) {
        let message = format!("too many login attempts for this account; try again in {} s", retry_seconds(wait));
        return Err(ApiError::new(StatusCode::TOO_MANY_REQUESTS, "too_many_attempts", message).with_retry_after(wait));
    }
    // Exactly one bcrypt whatever comes in, so timing tells nothing: a password
    // no account can have (bcrypt reads only 72 bytes) is checked as a stand-in,
    // and an unknown account against a decoy hash.
    let plausible = validation::password(&req.password).is_ok();
    let candidate = if plausible { req.password.as_str() } else { IMPLAUSIBLE };
    let user = match user {
        Some(user) => (state.passwords.verify(candidate, &user.password_hash).await? && plausible).then_some(user),
        None => {
            state.passwords.verify_decoy(candidate).await?;
            None
        }
    };
    user.ok_or_else(wrong)
}

#[derive(Serialize, ToSchema)]
pub struct WebLoginResponse {
    #[schema(example = "Login success")]
    pub message: &'static str,
    /// Seconds until the login expires.
    pub expires_in: u64,
    pub data: UserView,
}

/// Log in a browser: the same credentials as `/auth/login`, answered with an
/// HttpOnly, SameSite=Strict cookie instead of a token, for the dashboard.
/// Only the gateway's own pages may call it (their `Origin`), and every
/// change made with the cookie must carry that `Origin` too.
#[utoipa::path(
    post, path = "/auth/session", tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "logged in; the cookie `wagate_session` is set", body = WebLoginResponse),
        (status = 401, body = ErrorBody),
        (status = 403, description = "not sent from the gateway's own page", body = ErrorBody),
        (status = 422, body = ErrorBody),
        (status = 429, description = "Too many attempts for this account from this address; see Retry-After", body = ErrorBody)
    )
)]
pub async fn open_web_login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<LoginRequest>,
) -> Result<impl IntoResponse, ApiError> {
    if !web_login::same_origin(&headers) {
        return Err(cross_origin());
    }
    let user = check_credentials(&state, peer, &headers, &req).await?;
    let ttl = state.jwt.expires_in();
    let token = web_login::open(&state.db, &user, ttl).await?;
    let body = WebLoginResponse { message: "Login success", expires_in: ttl.as_secs(), data: UserView::from(&user) };
    Ok(([(header::SET_COOKIE, web_login::set_cookie(&token, ttl, &headers))], Json(body)))
}

/// Log the browser out: its login ends on the server (the old cookie no
/// longer works anywhere) and the cookie is removed.
#[utoipa::path(
    delete, path = "/auth/session", tag = "auth",
    responses(
        (status = 200, body = Message),
        (status = 403, description = "not sent from the gateway's own page", body = ErrorBody),
    )
)]
pub async fn close_web_login(State(state): State<AppState>, headers: HeaderMap) -> Result<impl IntoResponse, ApiError> {
    if let Some(token) = web_login::token(&headers) {
        if !web_login::same_origin(&headers) {
            return Err(cross_origin());
        }
        web_login::close(&state.db, token).await?;
    }
    Ok(([(header::SET_COOKIE, web_login::clear_cookie())], Json(Message { message: "Logged out".into() })))
}

fn cross_origin() -> ApiError {
    ApiError::forbidden("only the gateway's own pages may log in or out with a cookie (their Origin header)")
        .with_code("cross_origin")
}

/// The caller's own account.
#[utoipa::path(
    get, path = "/auth/me", tag = "auth",
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = Data<MeView>), (status = 401, body = ErrorBody))
)]
pub async fn me(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
) -> Result<Json<Data<MeView>>, ApiError> {
    let user = accounts::find(&state.db, principal.user_id).await?;
    let accepted = headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok());
    Ok(Json(Data {
        data: MeView {
            ui_language: user.language.unwrap_or_else(|| Language::from_accept(accepted)),
            timezone: state.config.zone().name().to_owned(),
            user: UserView::from(&user),
        },
    }))
}

/// The caller's account, with what the dashboard shows it in.
#[derive(Serialize, ToSchema)]
pub struct MeView {
    #[serde(flatten)]
    pub user: UserView,
    /// The language to show: the one they chose, else the one their
    /// `Accept-Language` prefers (`id` or `en`), else `en`.
    pub ui_language: Language,
    /// The gateway's time zone (`[server] timezone`), every time is shown in.
    pub timezone: String,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LanguageRequest {
    /// `en`, `id`, or `null`: the browser's (`Accept-Language`).
    pub language: Option<Language>,
}

/// The language the dashboard speaks to the caller.
#[utoipa::path(
    put, path = "/auth/me/language", tag = "auth",
    security(("bearer" = []), ("api_key" = [])),
    request_body = LanguageRequest,
    responses((status = 200, body = Data<UserView>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody))
)]
pub async fn set_language(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(req): ApiJson<LanguageRequest>,
) -> Result<Json<Data<UserView>>, ApiError> {
    let user = accounts::set_language(&state.db, principal.user_id, req.language).await?;
    Ok(Json(Data { data: UserView::from(&user) }))
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AvailabilityRequest {
    /// `true`: there to answer chats (auto-assignment gives them chats);
    /// `false`: away.
    pub available: bool,
}

/// The caller is available to answer chats, or away. Auto-assignment gives
/// chats only to available agents; chats already theirs stay theirs.
#[utoipa::path(
    put, path = "/auth/me/availability", tag = "auth",
    security(("bearer" = []), ("api_key" = [])),
    request_body = AvailabilityRequest,
    responses((status = 200, body = Data<UserView>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody))
)]
pub async fn set_availability(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(req): ApiJson<AvailabilityRequest>,
) -> Result<Json<Data<UserView>>, ApiError> {
    let user = accounts::set_available(&state.db, principal.user_id, req.available).await?;
    Ok(Json(Data { data: UserView::from(&user) }))
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
pub struct CreateApiKeyRequest {
    /// What the key is for, e.g. `billing-system`.
    #[validate(custom = validation::display_name)]
    #[validate(max_length = 100)]
    pub name: String,
    /// Limit the key to these session ids; omit for all of the owner's sessions.
    #[serde(default)]
    #[validate(custom = validation::optional_session_ids)]
    pub sessions: Option<Vec<String>>,
}

/// An API key as listed: never the key itself.
#[derive(Serialize, ToSchema)]
pub struct ApiKeyView {
    pub id: i64,
    pub name: String,
    /// The key's public first part, to tell keys apart.
    #[schema(example = "wag_3k9x0q2m7c1z")]
    pub prefix: String,
    pub sessions: Option<Vec<String>>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub last_used_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl From<&api_key_rows::Model> for ApiKeyView {
    fn from(row: &api_key_rows::Model) -> Self {
        Self {
            id: row.id,
            name: row.name.clone(),
            prefix: row.prefix.clone(),
            sessions: api_keys::sessions_of(row),
            created_at: row.created_at.and_utc(),
            last_used_at: row.last_used_at.map(|t| t.and_utc()),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct CreatedApiKey {
    /// The key. It is shown only in this response: only its hash is stored.
    #[schema(example = "wag_3k9x0q2m7c1z_6Qe0...")]
    pub key: String,
    #[serde(flatten)]
    pub info: ApiKeyView,
}

/// Create an API key for the caller; send it as `x-api-key`.
#[utoipa::path(
    post, path = "/auth/api-keys", tag = "auth",
    security(("bearer" = []), ("api_key" = [])),
    request_body = CreateApiKeyRequest,
    responses(
        (status = 201, body = Data<CreatedApiKey>),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody),
    )
)]
pub async fn create_api_key(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(req): ApiJson<CreateApiKeyRequest>,
) -> Result<(StatusCode, Json<Data<CreatedApiKey>>), ApiError> {
    let (row, key) = api_keys::create(&state.db, principal.user_id, &req.name, req.sessions.as_deref()).await?;
    Ok((StatusCode::CREATED, Json(Data { data: CreatedApiKey { key, info: ApiKeyView::from(&row) } })))
}

/// The caller's API keys.
#[utoipa::path(
    get, path = "/auth/api-keys", tag = "auth",
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = Data<Vec<ApiKeyView>>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody))
)]
pub async fn list_api_keys(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Data<Vec<ApiKeyView>>>, ApiError> {
    let rows = api_keys::list_for(&state.db, principal.user_id).await?;
    Ok(Json(Data { data: rows.iter().map(ApiKeyView::from).collect() }))
}

/// Revoke an API key: the caller's own, or any key for an admin.
#[utoipa::path(
    delete, path = "/auth/api-keys/{id}", tag = "auth",
    security(("bearer" = []), ("api_key" = [])),
    params(("id" = i64, Path, description = "API key id")),
    responses(
        (status = 200, body = Message),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    )
)]
pub async fn delete_api_key(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Message>, ApiError> {
    let owner = (!principal.is_admin()).then_some(principal.user_id);
    let deleted = api_keys::delete(&state.db, id, owner).await?;
    state.credentials.forget_keys();
    if !deleted {
        return Err(ApiError::not_found("API key"));
    }
    Ok(Json(Message { message: "API key deleted".into() }))
}
