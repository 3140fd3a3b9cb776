//! `/contacts/*`: which numbers are on WhatsApp, asked through a session's
//! device (up to 500 in one query; answers shared with the send queue's own
//! check and trusted for a while: `queue::registry`), and one contact's
//! profile with its picture (kept on disk: `inbox::pictures`).

use axum::{
    Json,
    body::Body,
    extract::State,
    http::{HeaderValue, StatusCode, header},
    response::Response,
};
use serde::{Deserialize, Serialize};
use serde_valid::Validate;
use utoipa::{IntoParams, ToSchema};

use super::{
    Data,
    common::{connected, phone_field, scope_of, unavailable},
    extract::{ApiJson, ApiPath, ApiQuery},
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
    let (_, sender) = connected(&state, &principal, &req.session).await?;
    let results = state.queue.check(&sender, &phones).await.map_err(unavailable)?;
    let registered = results.iter().filter(|r| r.registered).count();
    let answer = CheckAnswer { session: req.session, registered, unregistered: results.len() - registered, results };
    Ok(Json(Data { data: answer }))
}

#[derive(Debug, Deserialize, Validate, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ContactQuery {
    /// The session whose device asks (it must be connected).
    #[validate(custom = validation::session_id)]
    pub session: String,
}

/// A contact as a session sees it on WhatsApp.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContactView {
    pub session: String,
    pub phone: String,
    pub registered: bool,
    pub jid: Option<String>,
    pub lid: Option<String>,
    /// The name the contact gave itself, from its latest message to this session.
    pub push_name: Option<String>,
    /// Its "about" text, when this number may see it.
    pub about: Option<String>,
    pub business: bool,
    /// A business account's verified name.
    pub business_name: Option<String>,
    /// Its profile picture, when it has one this number may see.
    pub picture: Option<PictureView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PictureView {
    /// WhatsApp's id of the picture: it changes when the contact changes it.
    pub id: String,
    /// Where the gateway serves it (fetched once, then from disk for `inbox.picture_retention`).
    pub url: String,
}

/// A contact's WhatsApp profile: push name, about, business name and profile
/// picture, asked through the session's device. The picture is fetched once
/// and served from disk until it changes or `inbox.picture_retention` passes.
#[utoipa::path(
    get, path = "/contacts/{phone}", tag = "contacts",
    security(("bearer" = []), ("api_key" = [])),
    params(("phone" = String, Path, description = "the contact's number, in any common spelling"), ContactQuery),
    responses(
        (status = 200, body = Data<ContactView>),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, description = "no such session", body = ErrorBody),
        (status = 409, description = "the session is not linked or not connected", body = ErrorBody),
        (status = 422, body = ErrorBody),
        (status = 503, description = "WhatsApp did not answer in time", body = ErrorBody),
    )
)]
pub async fn profile(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(raw): ApiPath<String>,
    ApiQuery(q): ApiQuery<ContactQuery>,
) -> Result<Json<Data<ContactView>>, ApiError> {
    let phone = phone_field(&state, "phone", &raw)?;
    let (row, sender) = connected(&state, &principal, &q.session).await?;
    // Whether it is on WhatsApp: the send queue's shared, cached answer.
    let checked = state.queue.check(&sender, std::slice::from_ref(&phone)).await.map_err(unavailable)?;
    let checked = checked.into_iter().next().filter(|c| c.registered);
    let found = match &checked {
        Some(_) => sender.profile(&phone).await.map_err(unavailable)?,
        None => None,
    };
    let push_name = state.inbox.push_name(&row.id, &phone).await?;
    let mut view = ContactView {
        session: q.session.clone(),
        phone: phone.clone(),
        registered: checked.is_some(),
        jid: checked.as_ref().and_then(|c| c.jid.clone()),
        lid: checked.as_ref().and_then(|c| c.lid.clone()),
        push_name,
        about: None,
        business: false,
        business_name: None,
        picture: None,
    };
    if let Some(found) = found {
        view.lid = view.lid.or(found.lid.map(|l| format!("{l}@lid")));
        view.about = found.about;
        view.business = found.business;
        view.business_name = found.business_name;
        if let Some(id) = found.picture_id {
            let kept = state.inbox.contact_picture(&row.id, &sender, &phone, &id).await.map_err(unavailable)?;
            view.picture =
                kept.map(|k| PictureView { id: k.id, url: format!("/contacts/{phone}/picture?session={}", q.session) });
        }
    }
    Ok(Json(Data { data: view }))
}

/// A contact's profile picture (JPEG), as `GET /contacts/{phone}` fetched it
/// (fetched now when none is kept).
#[utoipa::path(
    get, path = "/contacts/{phone}/picture", tag = "contacts",
    security(("bearer" = []), ("api_key" = [])),
    params(("phone" = String, Path, description = "the contact's number, in any common spelling"), ContactQuery),
    responses(
        (status = 200, description = "the picture", content_type = "image/jpeg", body = Vec<u8>),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, description = "no such session, or the contact shows this number no picture", body = ErrorBody),
        (status = 409, description = "none is kept and the session is not connected", body = ErrorBody),
        (status = 422, body = ErrorBody),
        (status = 503, description = "WhatsApp did not answer in time", body = ErrorBody),
    )
)]
pub async fn picture(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(raw): ApiPath<String>,
    ApiQuery(q): ApiQuery<ContactQuery>,
) -> Result<Response, ApiError> {
    let phone = phone_field(&state, "phone", &raw)?;
    let row = state.sessions.get(&scope_of(&principal), &q.session).await?;
    let kept = match state.inbox.kept_picture(&row.id, &phone).await {
        Some(kept) => Some(kept),
        None => {
            let (row, sender) = connected(&state, &principal, &q.session).await?;
            match sender.profile(&phone).await.map_err(unavailable)?.and_then(|p| p.picture_id) {
                Some(id) => state.inbox.contact_picture(&row.id, &sender, &phone, &id).await.map_err(unavailable)?,
                None => None,
            }
        }
    };
    let Some(kept) = kept else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "this contact shows the session no profile picture",
        ));
    };
    let bytes = tokio::fs::read(&kept.path).await.map_err(|e| ApiError::from(anyhow::Error::from(e)))?;
    let mut response = Response::new(Body::from(bytes));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("image/jpeg"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("sandbox; default-src 'none'"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, max-age=3600"));
    Ok(response)
}
