//! `/api/whatsapp/*` (seed 002): the single-number endpoints of the outage-notice
//! service. They act on `?session=ID`, else `notify.default_session`, else the
//! caller's only session.

use axum::{Json, extract::State};
use serde::{Deserialize, Serialize};
use serde_valid::Validate;
use utoipa::{IntoParams, ToSchema};

use super::{
    common::scope_of,
    extract::{ApiQuery, OptionalApiJson},
    qr,
};
use crate::{
    auth::Principal,
    error::{ApiError, ErrorBody},
    http::state::AppState,
    model::SessionStatus,
    sessions::{Scope, SessionView},
    validation,
};

#[derive(Debug, Default, Deserialize, Validate, IntoParams, ToSchema)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct WhichSession {
    /// The session to act on (as `?session=` or, on POST, in an optional body);
    /// default `notify.default_session`, else the caller's only session.
    #[serde(default)]
    #[validate(custom = validation::optional_session_id)]
    pub session: Option<String>,
}

/// The seed's status shape.
#[derive(Debug, Serialize, ToSchema)]
pub struct WhatsappStatus {
    pub session: String,
    pub status: SessionStatus,
    pub connected: bool,
    pub phone_number: Option<String>,
    pub reason: Option<String>,
}

impl From<SessionView> for WhatsappStatus {
    fn from(view: SessionView) -> Self {
        WhatsappStatus {
            connected: view.status == SessionStatus::Connected,
            session: view.session_id,
            status: view.status,
            phone_number: view.phone_number,
            reason: view.reason,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WhatsappQr {
    pub session: String,
    pub qr: Option<String>,
    /// `data:image/png;base64,...`
    pub image: Option<String>,
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
}

async fn pick(state: &AppState, scope: &Scope, asked: Option<String>) -> Result<String, ApiError> {
    if let Some(id) = asked {
        return Ok(id);
    }
    if !state.config.notify.default_session.is_empty() {
        return Ok(state.config.notify.default_session.clone());
    }
    let mut visible = state.sessions.list(scope).await?;
    match visible.len() {
        1 => Ok(visible.remove(0).session_id),
        _ => {
            Err(ApiError::invalid_field("session", "name the session with ?session=ID (or set notify.default_session)"))
        }
    }
}

/// Connection status of the notice sender's number.
#[utoipa::path(
    get, path = "/api/whatsapp/status", tag = "whatsapp",
    security(("bearer" = []), ("api_key" = [])),
    params(WhichSession),
    responses(
        (status = 200, body = WhatsappStatus),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
pub async fn whatsapp_status(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(which): ApiQuery<WhichSession>,
) -> Result<Json<WhatsappStatus>, ApiError> {
    let scope = scope_of(&principal);
    let id = pick(&state, &scope, which.session).await?;
    let row = state.sessions.get(&scope, &id).await?;
    Ok(Json(SessionView::from(&row).into()))
}

/// The QR code to scan (base64 PNG), while the number is not linked.
#[utoipa::path(
    get, path = "/api/whatsapp/qr", tag = "whatsapp",
    security(("bearer" = []), ("api_key" = [])),
    params(WhichSession),
    responses(
        (status = 200, body = WhatsappQr),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody), (status = 504, body = ErrorBody),
    )
)]
pub async fn whatsapp_qr(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(which): ApiQuery<WhichSession>,
) -> Result<Json<WhatsappQr>, ApiError> {
    let scope = scope_of(&principal);
    let id = pick(&state, &scope, which.session).await?;
    let live = state.sessions.codes(&scope, &id).await?;
    let image = live.qr.as_ref().map(|c| qr::data_url(&c.value)).transpose()?;
    Ok(Json(WhatsappQr {
        session: id,
        expires_at: live.qr.as_ref().map(|c| c.expires_at),
        qr: live.qr.map(|c| c.value),
        image,
    }))
}

/// Checks the connection; a session that is not running (stopped, logged out) is started.
#[utoipa::path(
    post, path = "/api/whatsapp/connect", tag = "whatsapp",
    security(("bearer" = []), ("api_key" = [])),
    params(WhichSession),
    request_body(content = WhichSession, description = "optional; or ?session=ID"),
    responses(
        (status = 200, body = WhatsappStatus),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "(`capacity`) no room for the session under the open-files limit", body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
pub async fn whatsapp_connect(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(which): ApiQuery<WhichSession>,
    OptionalApiJson(body): OptionalApiJson<WhichSession>,
) -> Result<Json<WhatsappStatus>, ApiError> {
    let scope = scope_of(&principal);
    let id = pick(&state, &scope, which.session.or(body.session)).await?;
    let row = state.sessions.get(&scope, &id).await?;
    let view = match row.status {
        SessionStatus::Stopped | SessionStatus::LoggedOut | SessionStatus::DuplicatePhone => {
            state.sessions.restart(&scope, &id).await?
        }
        _ => SessionView::from(&row),
    };
    Ok(Json(view.into()))
}

/// Restarts the number's connection.
#[utoipa::path(
    post, path = "/api/whatsapp/restart", tag = "whatsapp",
    security(("bearer" = []), ("api_key" = [])),
    params(WhichSession),
    request_body(content = WhichSession, description = "optional; or ?session=ID"),
    responses(
        (status = 200, body = WhatsappStatus),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "(`capacity`) no room for the session under the open-files limit", body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
pub async fn whatsapp_restart(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(which): ApiQuery<WhichSession>,
    OptionalApiJson(body): OptionalApiJson<WhichSession>,
) -> Result<Json<WhatsappStatus>, ApiError> {
    let scope = scope_of(&principal);
    let id = pick(&state, &scope, which.session.or(body.session)).await?;
    Ok(Json(state.sessions.restart(&scope, &id).await?.into()))
}

/// Unlinks the number (a new QR scan is needed afterwards).
#[utoipa::path(
    post, path = "/api/whatsapp/logout", tag = "whatsapp",
    security(("bearer" = []), ("api_key" = [])),
    params(WhichSession),
    request_body(content = WhichSession, description = "optional; or ?session=ID"),
    responses(
        (status = 200, body = WhatsappStatus),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
pub async fn whatsapp_logout(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(which): ApiQuery<WhichSession>,
    OptionalApiJson(body): OptionalApiJson<WhichSession>,
) -> Result<Json<WhatsappStatus>, ApiError> {
    let scope = scope_of(&principal);
    let id = pick(&state, &scope, which.session.or(body.session)).await?;
    Ok(Json(state.sessions.logout(&scope, &id).await?.into()))
}
