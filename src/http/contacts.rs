//! `/contacts/*`: which numbers are on WhatsApp, asked through a session's
//! device (up to 500 in one query; answers shared with the send queue's own
//! check and trusted for a while: `queue::registry`).

use axum::{Json, extract::State, http::StatusCode};
use serde::{Deserialize, Serialize};
use serde_valid::Validate;
use utoipa::ToSchema;

use super::{
    Data,
    common::{phone_field, scope_of},
    extract::ApiJson,
};
use crate::{
    auth::Principal,
    error::{ApiError, ErrorBody},
    http::state::AppState,
    queue::registry::{Checked, MAX_CHECK},
    validation,
};

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckRequest {
    /// The session whose device asks (it must be connected).
    #[validate(custom = validation::session_id)]
    pub session: String,
    /// 1–500 numbers, in any common spelling.
    pub phones: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CheckAnswer {
    pub session: String,
    pub registered: usize,
    pub unregistered: usize,
    /// One per distinct number asked, in the order asked.
    pub results: Vec<Checked>,
}

/// Which numbers are on WhatsApp, with their JIDs and LIDs.
#[utoipa::path(
    post, path = "/contacts/check", tag = "contacts",
    security(("bearer" = []), ("api_key" = [])),
    request_body = CheckRequest,
    responses(
        (status = 200, body = Data<CheckAnswer>),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, description = "no such session", body = ErrorBody),
        (status = 409, description = "the session is not linked or not connected", body = ErrorBody),
        (status = 422, body = ErrorBody),
        (status = 503, description = "WhatsApp did not answer in time", body = ErrorBody),
    )
)]
pub async fn check(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(req): ApiJson<CheckRequest>,
) -> Result<Json<Data<CheckAnswer>>, ApiError> {
    if req.phones.is_empty() || req.phones.len() > MAX_CHECK {
        return Err(ApiError::invalid_field("phones", format!("must hold 1 to {MAX_CHECK} numbers")));
    }
    let mut phones: Vec<String> = Vec::with_capacity(req.phones.len());
    for (i, raw) in req.phones.iter().enumerate() {
        let phone = phone_field(&state, &format!("phones[{i}]"), raw)?;
        if !phones.contains(&phone) {
            phones.push(phone);
        }
    }
    let row = state.sessions.get(&scope_of(&principal), &req.session).await?;
    crate::sessions::sendable(&row)?;
    let Some(sender) = state.inbox.sender_of(&row.id) else {
        let message = "the session is not connected; try again once it is";
        return Err(ApiError::new(StatusCode::CONFLICT, "session_offline", message));
    };
    let results = state.queue.check(&sender, &phones).await.map_err(|e| {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "whatsapp_unavailable", format!("WhatsApp did not answer: {e}"))
    })?;
    let registered = results.iter().filter(|r| r.registered).count();
    let answer = CheckAnswer { session: req.session, registered, unregistered: results.len() - registered, results };
    Ok(Json(Data { data: answer }))
}
