//! `/session/*` (seed 003): create and link sessions, their QR and pairing codes,
//! logout, restart, delete, and the phone checks. A caller sees only the sessions
//! in its [`Scope`]; others are answered 404, as if they did not exist.

use axum::{
    Json,
    extract::State,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use serde_valid::Validate;
use utoipa::{IntoParams, ToSchema};

use super::{
    Data, Message,
    common::{phone_field, scope_of},
    extract::{ApiJson, ApiPath, ApiQuery},
    qr,
};
use crate::{
    auth::Principal,
    error::{ApiError, ErrorBody},
    http::state::AppState,
    sessions::{Code, SessionError, SessionView},
    validation,
};

impl From<SessionError> for ApiError {
    fn from(err: SessionError) -> Self {
        let message = err.to_string();
        match err {
            SessionError::NotFound => ApiError::not_found("session"),
            SessionError::Exists => ApiError::conflict("session_exists", message).with_field("sessionId"),
            SessionError::Ambiguous => ApiError::conflict("session_ambiguous", message).with_field("sessionId"),
            SessionError::PhoneTaken { .. } => ApiError::conflict("phone_in_use", message).with_field("phoneNumber"),
            SessionError::AlreadyLinked => ApiError::conflict("already_linked", message),
            SessionError::NotRunning => ApiError::conflict("session_not_running", message),
            SessionError::NotLinked => ApiError::conflict("session_not_linked", message).with_field("session"),
            SessionError::Unnamed { field, message } => ApiError::invalid_field(field, message),
            SessionError::NoneLinked => ApiError::conflict("session_not_linked", message).with_field("sessions"),
            SessionError::Busy(_) => ApiError::conflict("session_busy", message),
            SessionError::PairingOutstanding => ApiError::conflict("pairing_outstanding", message),
            SessionError::Timeout => ApiError::new(StatusCode::GATEWAY_TIMEOUT, "timeout", message),
            SessionError::Refused(_) => ApiError::new(StatusCode::BAD_GATEWAY, "whatsapp_refused", message),
            SessionError::Capacity(_) => ApiError::conflict("capacity", message),
            SessionError::Db(e) => e.into(),
            SessionError::Other(e) => e.into(),
        }
    }
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateSessionRequest {
    /// 1–64 of `A-Z a-z 0-9 _ -`.
    // Named per field: serde_valid reports field-level renames, not `rename_all`.
    #[serde(rename = "sessionId")]
    #[validate(custom = validation::session_id)]
    pub session_id: String,
    /// With a number, a pairing code is offered besides the QR codes.
    #[serde(default)]
    pub phone_number: Option<String>,
}

/// Create a session and start linking it (QR codes; a pairing code too with `phoneNumber`).
#[utoipa::path(
    post, path = "/session/create", tag = "sessions",
    security(("bearer" = []), ("api_key" = [])),
    request_body = CreateSessionRequest,
    responses(
        (status = 201, body = Data<SessionView>),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, description = "the account already has a session with this id, or the number is linked in another of the account's sessions, or (`capacity`) the gateway has no room for another session under its open-files limit", body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
pub async fn create_session(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(req): ApiJson<CreateSessionRequest>,
) -> Result<(StatusCode, Json<Data<SessionView>>), ApiError> {
    let phone = req.phone_number.as_deref().map(|raw| phone_field(&state, "phoneNumber", raw)).transpose()?;
    if !scope_of(&principal).admits_name(&req.session_id) {
        return Err(ApiError::forbidden("this API key is limited to other sessions"));
    }
    let view = state.sessions.create(principal.user_id, &req.session_id, phone).await?;
    Ok((StatusCode::CREATED, Json(Data { data: view })))
}

/// The caller's sessions (all of them for an admin).
#[utoipa::path(
    get, path = "/session/list", tag = "sessions",
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = Data<Vec<SessionView>>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody))
)]
pub async fn list_sessions(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Data<Vec<SessionView>>>, ApiError> {
    Ok(Json(Data { data: state.sessions.list(&scope_of(&principal)).await? }))
}

#[derive(Debug, Deserialize, Validate, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SessionQuery {
    /// The session id.
    #[validate(custom = validation::session_id)]
    pub session: String,
}

/// One session's status.
#[utoipa::path(
    get, path = "/session/status", tag = "sessions",
    security(("bearer" = []), ("api_key" = [])),
    params(SessionQuery),
    responses(
        (status = 200, body = Data<SessionView>),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
pub async fn session_status(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(query): ApiQuery<SessionQuery>,
) -> Result<Json<Data<SessionView>>, ApiError> {
    let row = state.sessions.get(&scope_of(&principal), &query.session).await?;
    Ok(Json(Data { data: SessionView::from(&row) }))
}

/// The QR code to scan, as text and as a PNG data URL.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct QrView {
    /// The raw QR payload; `null` while only a pairing code is on offer.
    pub qr: Option<String>,
    /// `data:image/png;base64,...`
    pub image: Option<String>,
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
    /// The pairing code, when one was asked for.
    pub pairing_code: Option<String>,
}

/// The current QR code of a session that is linking (waits briefly for the first one).
#[utoipa::path(
    get, path = "/session/qr/{sessionId}", tag = "sessions",
    security(("bearer" = []), ("api_key" = [])),
    params(("sessionId" = String, Path)),
    responses(
        (status = 200, body = Data<QrView>),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "linked already, or not running", body = ErrorBody),
        (status = 504, description = "no code came in time", body = ErrorBody),
    )
)]
pub async fn session_qr(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Data<QrView>>, ApiError> {
    let live = state.sessions.codes(&scope_of(&principal), &id).await?;
    let image = live.qr.as_ref().map(|c| qr::data_url(&c.value)).transpose()?;
    Ok(Json(Data {
        data: QrView {
            qr: live.qr.as_ref().map(|c| c.value.clone()),
            image,
            expires_at: live.qr.as_ref().map(|c| c.expires_at),
            pairing_code: live.pairing.map(|c| c.value),
        },
    }))
}

/// The current QR code as a PNG image.
#[utoipa::path(
    get, path = "/session/qr-image/{sessionId}", tag = "sessions",
    security(("bearer" = []), ("api_key" = [])),
    params(("sessionId" = String, Path)),
    responses(
        (status = 200, content_type = "image/png", body = [u8]),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 504, body = ErrorBody),
    )
)]
pub async fn session_qr_image(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let live = state.sessions.codes(&scope_of(&principal), &id).await?;
    let code =
        live.qr.ok_or_else(|| ApiError::conflict("no_qr", "the session offers a pairing code, not a QR code"))?;
    let png = qr::png(&code.value)?;
    Ok(([(header::CONTENT_TYPE, "image/png"), (header::CACHE_CONTROL, "no-store")], png).into_response())
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PairingCodeRequest {
    #[serde(rename = "sessionId")]
    #[validate(custom = validation::session_id)]
    pub session_id: String,
    /// The number to link, in any common spelling.
    pub phone_number: String,
}

/// A pairing code to type on the phone (WhatsApp > Linked devices > Link with phone number).
#[utoipa::path(
    post, path = "/session/pairing-code", tag = "sessions",
    security(("bearer" = []), ("api_key" = [])),
    request_body = PairingCodeRequest,
    responses(
        (status = 200, body = Data<Code>),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 502, body = ErrorBody), (status = 504, body = ErrorBody),
    )
)]
pub async fn pairing_code(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(req): ApiJson<PairingCodeRequest>,
) -> Result<Json<Data<Code>>, ApiError> {
    let phone = phone_field(&state, "phoneNumber", &req.phone_number)?;
    let code = state.sessions.pairing_code(&scope_of(&principal), &req.session_id, phone).await?;
    Ok(Json(Data { data: code }))
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SessionRequest {
    #[serde(rename = "sessionId")]
    #[validate(custom = validation::session_id)]
    pub session_id: String,
}

/// Unlink the device from the phone and wipe its keys; `restart` links again.
#[utoipa::path(
    post, path = "/session/logout", tag = "sessions",
    security(("bearer" = []), ("api_key" = [])),
    request_body = SessionRequest,
    responses(
        (status = 200, body = Data<SessionView>),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
pub async fn logout_session(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(req): ApiJson<SessionRequest>,
) -> Result<Json<Data<SessionView>>, ApiError> {
    Ok(Json(Data { data: state.sessions.logout(&scope_of(&principal), &req.session_id).await? }))
}

/// Stop and start the session: a linked one reconnects, an unlinked one offers new codes.
#[utoipa::path(
    post, path = "/session/restart", tag = "sessions",
    security(("bearer" = []), ("api_key" = [])),
    request_body = SessionRequest,
    responses(
        (status = 200, body = Data<SessionView>),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "(`capacity`) no room for the session under the open-files limit", body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
pub async fn restart_session(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(req): ApiJson<SessionRequest>,
) -> Result<Json<Data<SessionView>>, ApiError> {
    Ok(Json(Data { data: state.sessions.restart(&scope_of(&principal), &req.session_id).await? }))
}

/// Unlink (when linked), wipe and forget a session. The messages it accepted
/// stay readable; those not sent end `failed`.
#[utoipa::path(
    delete, path = "/session/{sessionId}", tag = "sessions",
    security(("bearer" = []), ("api_key" = [])),
    params(("sessionId" = String, Path)),
    responses(
        (status = 200, body = Message),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    )
)]
pub async fn delete_session(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Message>, ApiError> {
    state.sessions.delete(&scope_of(&principal), &id).await?;
    Ok(Json(Message { message: "Session deleted".into() }))
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CheckPhoneRequest {
    pub phone_number: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CheckPhoneResponse {
    pub has_active_session: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
}

/// Whether a number is linked in one of the caller's sessions.
#[utoipa::path(
    post, path = "/session/check-phone", tag = "sessions",
    security(("bearer" = []), ("api_key" = [])),
    request_body = CheckPhoneRequest,
    responses(
        (status = 200, body = CheckPhoneResponse),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody),
    )
)]
pub async fn check_phone(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(req): ApiJson<CheckPhoneRequest>,
) -> Result<Json<CheckPhoneResponse>, ApiError> {
    let phone = phone_field(&state, "phoneNumber", &req.phone_number)?;
    let holder = state.sessions.holder_of(&scope_of(&principal), &phone).await?;
    Ok(Json(CheckPhoneResponse { has_active_session: holder.is_some(), session_id: holder }))
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CleanupRequest {
    /// Sessions not connected for this many hours (1–87600) are removed.
    #[validate(minimum = 1)]
    #[validate(maximum = 87600)]
    pub hours: u32,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CleanupReport {
    /// Ids of the sessions removed.
    pub removed: Vec<String>,
    pub count: usize,
}

/// Remove the caller's sessions that have not been connected for `hours`.
#[utoipa::path(
    post, path = "/session/cleanup", tag = "sessions",
    security(("bearer" = []), ("api_key" = [])),
    request_body = CleanupRequest,
    responses(
        (status = 200, body = Data<CleanupReport>),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody),
    )
)]
pub async fn cleanup_sessions(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(req): ApiJson<CleanupRequest>,
) -> Result<Json<Data<CleanupReport>>, ApiError> {
    let removed = state.sessions.cleanup(&scope_of(&principal), req.hours).await?;
    Ok(Json(Data { data: CleanupReport { count: removed.len(), removed } }))
}

/// What a session does about calls: the settings in force and its own.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CallsView {
    pub session_id: String,
    pub calls: crate::inbox::CallPolicy,
    /// The session's own settings; the rest follows `[calls]` in the config.
    pub overrides: crate::inbox::CallsOverride,
}

/// What the session does when a contact calls.
#[utoipa::path(
    get, path = "/session/{sessionId}/calls", tag = "sessions",
    security(("bearer" = []), ("api_key" = [])),
    params(("sessionId" = String, Path)),
    responses(
        (status = 200, body = Data<CallsView>),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    )
)]
pub async fn get_calls(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Data<CallsView>>, ApiError> {
    let row = state.sessions.get(&scope_of(&principal), &id).await?;
    let overrides = crate::inbox::calls::overrides(&state.db, &row.id).await?;
    let calls = crate::inbox::CallPolicy::resolve(&state.config.calls, &overrides);
    Ok(Json(Data { data: CallsView { session_id: id, calls, overrides } }))
}

/// Sets what the session does when a contact calls (each setting left out
/// follows `[calls]` in the config; `{}` goes back to it entirely). The next
/// call follows it.
#[utoipa::path(
    put, path = "/session/{sessionId}/calls", tag = "sessions",
    security(("bearer" = []), ("api_key" = [])),
    params(("sessionId" = String, Path)),
    request_body = crate::inbox::CallsOverride,
    responses(
        (status = 200, body = Data<CallsView>),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
pub async fn set_calls(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
    ApiJson(overrides): ApiJson<crate::inbox::CallsOverride>,
) -> Result<Json<Data<CallsView>>, ApiError> {
    let row = state.sessions.get(&scope_of(&principal), &id).await?;
    let write = state.writer.begin().await?;
    crate::inbox::calls::set_overrides(&write.tx, &row.id, &overrides).await?;
    write.commit().await?;
    let calls = crate::inbox::CallPolicy::resolve(&state.config.calls, &overrides);
    Ok(Json(Data { data: CallsView { session_id: id, calls, overrides } }))
}
