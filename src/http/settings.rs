//! `/inbox/settings`: an account's inbox settings (auto-assignment; see
//! `crate::inbox::assign`). The whole account's: its owner (or an admin, for
//! their own account) changes them; agents and keys limited to sessions have no say.

use axum::{Json, extract::State};

use super::{Data, extract::ApiJson};
use crate::{
    auth::Principal,
    error::{ApiError, ErrorBody},
    http::state::AppState,
    inbox::assign::InboxSettings,
};

/// The account's inbox settings (the defaults until saved).
#[utoipa::path(
    get, path = "/inbox/settings", tag = "inbox",
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = Data<InboxSettings>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody))
)]
pub async fn get_inbox_settings(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Data<InboxSettings>>, ApiError> {
    Ok(Json(Data { data: state.inbox.settings(principal.user_id).await? }))
}

/// Replace the account's inbox settings; the next chat they concern follows them.
#[utoipa::path(
    put, path = "/inbox/settings", tag = "inbox",
    security(("bearer" = []), ("api_key" = [])),
    request_body = InboxSettings,
    responses(
        (status = 200, body = Data<InboxSettings>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
pub async fn put_inbox_settings(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(settings): ApiJson<InboxSettings>,
) -> Result<Json<Data<InboxSettings>>, ApiError> {
    Ok(Json(Data { data: state.inbox.set_settings(principal.user_id, settings).await? }))
}
