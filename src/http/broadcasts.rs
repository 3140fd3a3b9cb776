//! `/api/send/*` (seed 002) and `/api/broadcasts`: outage notices and custom
//! texts to many customers. A send answers 202 with the broadcast's id and its
//! queued and skipped counts once every message is durably queued;
//! `GET /api/broadcasts/{id}` follows it to the report.

use axum::{Json, extract::State, http::HeaderMap};
use sea_orm::SqlErr;
use serde::{Deserialize, Serialize};
use serde_valid::Validate;
use utoipa::{IntoParams, ToSchema};

use super::{
    Page,
    common::{phone_field, scope_of},
    extract::{ApiJson, ApiPath, ApiQuery, OptionalApiJson},
    idempotency::{self, Accepted, hash_of},
};
use crate::{
    auth::Principal,
    error::{ApiError, ErrorBody},
    http::state::AppState,
    model::SessionKey,
    notify::{
        NotifyError,
        broadcasts::{self, Audience, BroadcastPreview, BroadcastReport, GroupPost, Kind, Plan},
        customers as customer_rows, notices,
    },
    queue::MAX_TEXT_CHARS,
    validation,
};

/// Most customers a broadcast may name by id.
const MAX_CUSTOMER_IDS: usize = 100_000;

#[derive(Debug, Deserialize, Serialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendNotificationRequest {
    /// The notice to send; default the caller's newest active notice.
    #[serde(default)]
    pub notice_id: Option<i64>,
    /// Only these customers (active or not); default every active customer.
    #[serde(default)]
    pub customer_ids: Option<Vec<i64>>,
    #[serde(default)]
    #[validate(custom = validation::optional_session_ids)]
    pub sessions: Option<Vec<String>>,
    #[serde(default)]
    #[validate(custom = validation::optional_session_id)]
    pub session: Option<String>,
    /// Answer what would be sent (count, skipped recipients, the first message
    /// rendered) and send nothing.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dry_run: bool,
}

#[derive(Debug, Deserialize, Serialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendCustomRequest {
    /// The text; `{nama}` becomes each customer's name, `{odp}` their ODP.
    pub message: String,
    /// Only these customers (active or not); default every active customer.
    #[serde(default)]
    pub customer_ids: Option<Vec<i64>>,
    #[serde(default)]
    #[validate(custom = validation::optional_session_ids)]
    pub sessions: Option<Vec<String>>,
    #[serde(default)]
    #[validate(custom = validation::optional_session_id)]
    pub session: Option<String>,
    /// Answer what would be sent (count, skipped recipients, the first message
    /// rendered) and send nothing.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dry_run: bool,
}

#[derive(Debug, Deserialize, Serialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendPhoneRequest {
    /// Any common spelling: `08…`, `+62 …`, `62…`.
    pub phone: String,
    pub message: String,
    #[serde(default)]
    #[validate(custom = validation::optional_session_ids)]
    pub sessions: Option<Vec<String>>,
    #[serde(default)]
    #[validate(custom = validation::optional_session_id)]
    pub session: Option<String>,
}

#[derive(Debug, Default, Deserialize, Serialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendByOdpRequest {
    /// The notice to send; default the caller's newest active notice.
    #[serde(default)]
    pub notice_id: Option<i64>,
    /// A text of its own instead of a notice (`{nama}`, `{odp}` filled in).
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    #[validate(custom = validation::optional_session_ids)]
    pub sessions: Option<Vec<String>>,
    #[serde(default)]
    #[validate(custom = validation::optional_session_id)]
    pub session: Option<String>,
    /// Answer what would be sent (count, skipped recipients, the first message
    /// rendered) and send nothing.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dry_run: bool,
}

fn check_message(message: &str) -> Result<String, ApiError> {
    validation::check_text(message, MAX_TEXT_CHARS).map_err(|e| ApiError::invalid_field("message", e))?;
    Ok(message.to_owned())
}

/// The keys of the sessions a broadcast sends from (see `Sessions::senders`).
async fn senders(
    state: &AppState,
    principal: &Principal,
    sessions: Option<Vec<String>>,
    session: Option<String>,
) -> Result<Vec<SessionKey>, ApiError> {
    let preferred = &state.config.notify.default_session;
    Ok(state.sessions.senders(&scope_of(principal), sessions, session, preferred).await?)
}

/// The notice a notification sends: the one named, else the newest active one.
async fn notice(
    state: &AppState,
    owner: i64,
    id: Option<i64>,
) -> Result<crate::db::entities::notices::Model, ApiError> {
    match id {
        Some(id) => notices::find(&state.db, owner, id).await?.ok_or_else(|| ApiError::not_found("notice")),
        None => notices::latest_active(&state.db, owner).await?.ok_or_else(|| {
            ApiError::invalid_field("notice_id", "there is no active notice; create one or name it with notice_id")
        }),
    }
}

/// Customers named by id: at most [`MAX_CUSTOMER_IDS`], all the caller's.
async fn customer_ids(state: &AppState, owner: i64, ids: Option<Vec<i64>>) -> Result<Audience, ApiError> {
    let Some(mut ids) = ids else { return Ok(Audience::Active) };
    if ids.is_empty() {
        return Err(ApiError::invalid_field(
            "customer_ids",
            "must not be empty (leave it out for every active customer)",
        ));
    }
    if ids.len() > MAX_CUSTOMER_IDS {
        return Err(ApiError::invalid_field("customer_ids", format!("at most {MAX_CUSTOMER_IDS} ids")));
    }
    ids.sort_unstable();
    ids.dedup();
    let unknown = broadcasts::unknown_customers(&state.db, owner, &ids).await?;
    if !unknown.is_empty() {
        let shown: Vec<String> = unknown.iter().take(20).map(i64::to_string).collect();
        return Err(ApiError::invalid_field("customer_ids", format!("no such customers: {}", shown.join(", "))));
    }
    Ok(Audience::Customers(ids))
}

/// What a send answers: the accepted broadcast, or with `dry_run` its preview (200).
pub enum Sent {
    Accepted(Accepted<BroadcastReport>),
    Preview(BroadcastPreview),
}

impl axum::response::IntoResponse for Sent {
    fn into_response(self) -> axum::response::Response {
        match self {
            Sent::Accepted(accepted) => accepted.into_response(),
            Sent::Preview(preview) => Json(preview).into_response(),
        }
    }
}

/// The request's `Idempotency-Key` with a hash of what it asks.
fn idempotency(headers: &HeaderMap, request: serde_json::Value) -> Result<Option<(String, String)>, ApiError> {
    Ok(idempotency::key(headers)?.map(|key| (key, hash_of(request))))
}

/// What every send shares: a retry with the same `Idempotency-Key` gets its
/// broadcast back (even if, say, its session went offline since); otherwise
/// the plan is made and the broadcast started.
async fn accept(
    state: &AppState,
    principal: &Principal,
    idempotency: Option<(String, String)>,
    dry_run: bool,
    plan: impl AsyncFnOnce() -> Result<Plan, ApiError>,
) -> Result<Sent, ApiError> {
    let owner = principal.user_id;
    if dry_run {
        let plan = plan().await?;
        return Ok(Sent::Preview(broadcasts::preview(&state.db, state.config.zone(), owner, &plan).await?));
    }
    let replay = async |key: &str, hash: &str| -> Result<Option<Accepted<BroadcastReport>>, ApiError> {
        match broadcasts::replay(&state.db, owner, key, hash).await? {
            Some(row) => Ok(Some(Accepted { body: broadcasts::summary(&state.queue, &row).await?, replayed: true })),
            None => Ok(None),
        }
    };
    if let Some((key, hash)) = &idempotency
        && let Some(replayed) = replay(key, hash).await?
    {
        return Ok(Sent::Accepted(replayed));
    }
    let mut plan = plan().await?;
    plan.idempotency = idempotency.clone();
    match broadcasts::start(&state.writer, &state.queue, state.config.zone(), owner, plan).await {
        Ok(report) => Ok(Sent::Accepted(Accepted { body: report, replayed: false })),
        // Two requests with one key at once: the other one won.
        Err(NotifyError::Db(e)) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
            match &idempotency {
                Some((key, hash)) => replay(key, hash).await?.map(Sent::Accepted).ok_or_else(|| e.into()),
                None => Err(e.into()),
            }
        }
        Err(e) => Err(e.into()),
    }
}

/// Send the outage notice to every active customer, or to some by id.
#[utoipa::path(
    post, path = "/api/send/notification", tag = "broadcasts",
    security(("bearer" = []), ("api_key" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "a retry with the same key gets the same broadcast")),
    request_body = SendNotificationRequest,
    responses(
        (status = 200, description = "`dry_run`: what would be sent; nothing is queued", body = BroadcastPreview),
        (status = 202, description = "every message is durably queued", body = BroadcastReport),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, description = "no such notice or session", body = ErrorBody),
        (status = 409, description = "a session is not linked", body = ErrorBody), (status = 422, body = ErrorBody),
    )
)]
pub async fn send_notification(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    ApiJson(req): ApiJson<SendNotificationRequest>,
) -> Result<Sent, ApiError> {
    let idempotency = idempotency(&headers, serde_json::json!({"notification": &req}))?;
    accept(&state, &principal, idempotency, req.dry_run, async || {
        let owner = principal.user_id;
        let notice = notice(&state, owner, req.notice_id).await?;
        let audience = customer_ids(&state, owner, req.customer_ids).await?;
        let sessions = senders(&state, &principal, req.sessions, req.session).await?;
        let template = state.config.notify.template.clone();
        Ok(Plan { notice: Some(notice), ..Plan::new(Kind::Notification, audience, template, sessions) })
    })
    .await
}

/// Send a text of your own to every active customer, or to some by id;
/// `{nama}` becomes each one's name.
#[utoipa::path(
    post, path = "/api/send/custom", tag = "broadcasts",
    security(("bearer" = []), ("api_key" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "a retry with the same key gets the same broadcast")),
    request_body = SendCustomRequest,
    responses(
        (status = 200, description = "`dry_run`: what would be sent; nothing is queued", body = BroadcastPreview),
        (status = 202, description = "every message is durably queued", body = BroadcastReport),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody),
    )
)]
pub async fn send_custom(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    ApiJson(req): ApiJson<SendCustomRequest>,
) -> Result<Sent, ApiError> {
    let idempotency = idempotency(&headers, serde_json::json!({"custom": &req}))?;
    accept(&state, &principal, idempotency, req.dry_run, async || {
        let template = check_message(&req.message)?;
        let audience = customer_ids(&state, principal.user_id, req.customer_ids).await?;
        let sessions = senders(&state, &principal, req.sessions, req.session).await?;
        Ok(Plan::new(Kind::Custom, audience, template, sessions))
    })
    .await
}

/// Send a text to one number (a broadcast of one, with the same report).
#[utoipa::path(
    post, path = "/api/send/phone", tag = "broadcasts",
    security(("bearer" = []), ("api_key" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "a retry with the same key gets the same broadcast")),
    request_body = SendPhoneRequest,
    responses(
        (status = 202, description = "durably queued", body = BroadcastReport),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody),
    )
)]
pub async fn send_phone(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    ApiJson(req): ApiJson<SendPhoneRequest>,
) -> Result<Sent, ApiError> {
    let phone = phone_field(&state, "phone", &req.phone)?;
    let idempotency = idempotency(
        &headers,
        serde_json::json!({"phone": {"to": &phone, "message": &req.message, "sessions": &req.sessions, "session": &req.session}}),
    )?;
    accept(&state, &principal, idempotency, false, async || {
        let template = check_message(&req.message)?;
        let sessions = senders(&state, &principal, req.sessions, req.session).await?;
        let audience = Audience::Phone(phone);
        Ok(Plan::new(Kind::Phone, audience, template, sessions))
    })
    .await
}

/// Send the outage notice (or a text) to the active customers of one ODP.
#[utoipa::path(
    post, path = "/api/send/by-odp/{odp}", tag = "broadcasts",
    security(("bearer" = []), ("api_key" = [])),
    params(
        ("odp" = String, Path, description = "the ODP code"),
        ("Idempotency-Key" = Option<String>, Header, description = "a retry with the same key gets the same broadcast"),
    ),
    request_body = SendByOdpRequest,
    responses(
        (status = 200, description = "`dry_run`: what would be sent; nothing is queued", body = BroadcastPreview),
        (status = 202, description = "every message is durably queued", body = BroadcastReport),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, description = "no such ODP, notice or session", body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody),
    )
)]
pub async fn send_by_odp(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    ApiPath(code): ApiPath<String>,
    ApiJson(req): ApiJson<SendByOdpRequest>,
) -> Result<Sent, ApiError> {
    let idempotency = idempotency(&headers, serde_json::json!({"odp": &code, "request": &req}))?;
    let dry_run = req.dry_run;
    accept(&state, &principal, idempotency, dry_run, async || {
        let owner = principal.user_id;
        let odp = customer_rows::find_odp(&state.db, owner, &code).await?.ok_or_else(|| ApiError::not_found("ODP"))?;
        let (template, notice) = match (req.message, req.notice_id) {
            (Some(_), Some(_)) => {
                return Err(ApiError::invalid_field("message", "give notice_id or message, not both"));
            }
            (Some(message), None) => (check_message(&message)?, None),
            (None, id) => (state.config.notify.template.clone(), Some(notice(&state, owner, id).await?)),
        };
        let sessions = senders(&state, &principal, req.sessions, req.session).await?;
        let audience = Audience::Odp(odp.id);
        let group = match (odp.group_jid, odp.group_session) {
            (Some(jid), Some(key)) => {
                let session = match state.sessions.get(&scope_of(&principal), key.name()).await {
                    Ok(row) if row.id == key => Ok(key),
                    _ => Err(format!("this caller may not send from the group's session {}", key.name())),
                };
                Some(GroupPost { jid, session })
            }
            _ => None,
        };
        let odp = Some(odp.code);
        Ok(Plan { notice, odp, group, ..Plan::new(Kind::Odp, audience, template, sessions) })
    })
    .await
}

#[derive(Debug, Deserialize, Validate, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct BroadcastListQuery {
    /// 1–1,000,000.
    #[serde(default = "super::common::first_page")]
    #[validate(minimum = 1)]
    #[validate(maximum = 1000000)]
    pub page: u64,
    /// 1-200.
    #[serde(default = "super::common::default_limit")]
    #[validate(minimum = 1)]
    #[validate(maximum = 200)]
    pub limit: u64,
}

/// The caller's broadcasts, newest first, with their progress (no results).
#[utoipa::path(
    get, path = "/api/broadcasts", tag = "broadcasts",
    security(("bearer" = []), ("api_key" = [])),
    params(BroadcastListQuery),
    responses((status = 200, body = Page<BroadcastReport>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody))
)]
pub async fn list_broadcasts(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(query): ApiQuery<BroadcastListQuery>,
) -> Result<Json<Page<BroadcastReport>>, ApiError> {
    let within = scope_of(&principal).sessions;
    let (data, total) =
        broadcasts::list(&state.db, &state.queue, principal.user_id, within.as_deref(), query.page, query.limit)
            .await?;
    Ok(Json(Page { data, page: query.page, limit: query.limit, total }))
}

#[derive(Debug, Deserialize, Validate, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ResultsQuery {
    /// Page of the recipients' results, from 1.
    #[serde(default = "super::common::first_page")]
    #[validate(minimum = 1)]
    #[validate(maximum = 1000000)]
    pub page: u64,
    /// Results per page, 1-10,000 (default 10,000).
    #[serde(default = "max_results")]
    #[validate(minimum = 1)]
    #[validate(maximum = 10000)]
    pub limit: u64,
}

fn max_results() -> u64 {
    10_000
}

/// A broadcast's live progress, and each recipient's result (seed 002's report).
#[utoipa::path(
    get, path = "/api/broadcasts/{id}", tag = "broadcasts",
    security(("bearer" = []), ("api_key" = [])),
    params(("id" = i64, Path), ResultsQuery),
    responses((status = 200, body = BroadcastReport), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody))
)]
pub async fn get_broadcast(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(query): ApiQuery<ResultsQuery>,
) -> Result<Json<BroadcastReport>, ApiError> {
    let within = scope_of(&principal).sessions;
    let row = broadcasts::find(&state.db, principal.user_id, within.as_deref(), id).await?;
    Ok(Json(broadcasts::detail(&state.db, &state.queue, &row, query.page, query.limit).await?))
}

#[derive(Debug, Default, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelRequest {
    /// Recorded on each message that is not sent (default "the broadcast was cancelled").
    #[serde(default)]
    #[validate(max_length = 200)]
    pub reason: Option<String>,
}

/// Cancel a broadcast: its messages still waiting fail ("the broadcast was
/// cancelled", or the reason given); those already sent to WhatsApp finish.
#[utoipa::path(
    post, path = "/api/broadcasts/{id}/cancel", tag = "broadcasts",
    security(("bearer" = []), ("api_key" = [])),
    params(("id" = i64, Path)),
    request_body(content = CancelRequest, description = "optional"),
    responses(
        (status = 200, body = BroadcastReport),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
pub async fn cancel_broadcast(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
    OptionalApiJson(req): OptionalApiJson<CancelRequest>,
) -> Result<Json<BroadcastReport>, ApiError> {
    let reason = match req.reason.as_deref().map(str::trim) {
        Some("") => return Err(ApiError::invalid_field("reason", "must not be blank")),
        Some(reason) if reason.chars().any(char::is_control) => {
            return Err(ApiError::invalid_field("reason", "must not contain control characters"));
        }
        Some(reason) => format!("the broadcast was cancelled: {reason}"),
        None => "the broadcast was cancelled".to_owned(),
    };
    let within = scope_of(&principal).sessions;
    let row = broadcasts::find(&state.db, principal.user_id, within.as_deref(), id).await?;
    Ok(Json(broadcasts::cancel(&state.writer, &state.queue, row, &reason).await?))
}
