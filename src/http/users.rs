//! `/user/*`: account management, admin only (the route group enforces it).

use axum::{Json, extract::State, http::StatusCode};
use serde::Deserialize;
use serde_valid::Validate;
use utoipa::ToSchema;

use super::{
    Data, Message,
    extract::{ApiJson, ApiPath},
};
use crate::{
    auth::{
        Principal,
        accounts::{self, AccountError, NewUser, UserUpdate, UserView},
    },
    error::{ApiError, ErrorBody},
    http::state::AppState,
    model::Role,
    validation,
};

/// A new account with a role of the admin's choosing (default `user`).
#[derive(Debug, Deserialize, Validate, ToSchema)]
pub struct CreateUserRequest {
    #[validate(custom = validation::email)]
    pub email: String,
    /// 6–72 bytes.
    #[validate(custom = validation::password)]
    pub password: String,
    #[validate(custom = validation::display_name)]
    pub name: String,
    #[serde(default)]
    #[validate(custom = validation::username)]
    pub username: Option<String>,
    #[serde(default)]
    pub role: Option<Role>,
}

/// All accounts.
#[utoipa::path(
    get, path = "/user/list", tag = "users",
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = Data<Vec<UserView>>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody))
)]
pub async fn list_users(State(state): State<AppState>) -> Result<Json<Data<Vec<UserView>>>, ApiError> {
    let users = accounts::list(&state.db).await?;
    Ok(Json(Data { data: users.iter().map(UserView::from).collect() }))
}

/// Create an account.
#[utoipa::path(
    post, path = "/user/create", tag = "users",
    security(("bearer" = []), ("api_key" = [])),
    request_body = CreateUserRequest,
    responses(
        (status = 201, body = Data<UserView>),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody),
    )
)]
pub async fn create_user(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<CreateUserRequest>,
) -> Result<(StatusCode, Json<Data<UserView>>), ApiError> {
    let role = req.role.unwrap_or(Role::User);
    let new = NewUser { email: req.email, password: req.password, name: req.name, username: req.username };
    let user = accounts::create(&state.db, &state.passwords, new, role).await?;
    Ok((StatusCode::CREATED, Json(Data { data: UserView::from(&user) })))
}

/// Change an account; absent fields stay as they are.
#[utoipa::path(
    put, path = "/user/{id}", tag = "users",
    security(("bearer" = []), ("api_key" = [])),
    params(("id" = i64, Path, description = "user id")),
    request_body = UserUpdate,
    responses(
        (status = 200, body = Data<UserView>),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "taken, or the last admin would be demoted", body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
pub async fn update_user(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(change): ApiJson<UserUpdate>,
) -> Result<Json<Data<UserView>>, ApiError> {
    let user = accounts::update(&state.db, &state.passwords, id, change).await?;
    state.credentials.forget(id);
    Ok(Json(Data { data: UserView::from(&user) }))
}

/// Delete an account, its API keys and its sessions (unlinked and wiped). An admin cannot delete itself, nor the last admin.
#[utoipa::path(
    delete, path = "/user/{id}", tag = "users",
    security(("bearer" = []), ("api_key" = [])),
    params(("id" = i64, Path, description = "user id")),
    responses(
        (status = 200, body = Message),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody),
    )
)]
pub async fn delete_user(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Message>, ApiError> {
    if id == principal.user_id {
        return Err(ApiError::conflict("cannot_delete_self", "an admin cannot delete its own account"));
    }
    let sessions = state.sessions.keys_of(id).await?;
    state.webhooks.forget_owner(id).await?;
    accounts::delete(&state.db, id).await?;
    state.credentials.forget(id);
    // The rows went with the account; its devices are unlinked and wiped, not left running.
    state.sessions.discard(&sessions).await?;
    Ok(Json(Message { message: "User deleted".into() }))
}

impl From<AccountError> for ApiError {
    fn from(err: AccountError) -> Self {
        match err {
            AccountError::Taken { field } => {
                Self::conflict("conflict", format!("{field} is already taken")).with_field(field)
            }
            AccountError::NotFound => Self::not_found("user"),
            AccountError::LastAdmin => Self::conflict("last_admin", err.to_string()),
            AccountError::Db(e) => e.into(),
            AccountError::Other(e) => e.into(),
        }
    }
}
