//! `/api/notices` (seed 002): outage notices, the caller's own.

use axum::{Json, extract::State, http::StatusCode};
use serde::Deserialize;
use serde_valid::Validate;
use utoipa::{IntoParams, ToSchema};

use super::{
    Data, Message, Page,
    extract::{ApiJson, ApiPath, ApiQuery},
};
use crate::{
    auth::Principal,
    error::{ApiError, ErrorBody},
    http::state::AppState,
    notify::{
        NotifyError,
        notices::{self, Fields, NoticeStatus, NoticeView},
    },
};

impl From<NotifyError> for ApiError {
    fn from(err: NotifyError) -> Self {
        let message = err.to_string();
        match err {
            NotifyError::NotFound(what) => ApiError::not_found(what),
            NotifyError::KeyReused => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "idempotency_key_reused", message)
                    .with_field("Idempotency-Key")
            }
            NotifyError::Db(e) => e.into(),
            NotifyError::Queue(e) => e.into(),
        }
    }
}

const MAX_TITLE: usize = 255;
const MAX_MESSAGE: usize = 4_096;
const MAX_ODPS: usize = 1_000;

/// A new notice.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateNoticeRequest {
    /// 1-255 characters (`{judul}`).
    pub title: String,
    /// 1-4,096 characters (`{pesan}`).
    pub message: String,
    /// The affected ODP codes (`{odp}` for customers without one).
    #[serde(default)]
    pub odps: Vec<String>,
    /// RFC 3339, or `YYYY-MM-DD HH:MM` in `[server] timezone` (`{mulai}`).
    #[serde(default)]
    pub starts_at: Option<String>,
    /// Like `starts_at` (`{estimasi}`).
    #[serde(default)]
    pub estimated_end: Option<String>,
    /// Default `active`.
    #[serde(default)]
    pub status: Option<NoticeStatus>,
}

/// Changes to a notice: what is left out stays; `null` clears a time.
#[derive(Debug, Default, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateNoticeRequest {
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub odps: Option<Vec<String>>,
    #[serde(default, deserialize_with = "some")]
    #[schema(value_type = Option<String>)]
    pub starts_at: Option<Option<String>>,
    #[serde(default, deserialize_with = "some")]
    #[schema(value_type = Option<String>)]
    pub estimated_end: Option<Option<String>>,
    #[serde(default)]
    pub status: Option<NoticeStatus>,
}

/// A present field, even `null`, is `Some`.
fn some<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

fn text(field: &str, value: String, max: usize) -> Result<String, ApiError> {
    let value = value.trim().to_owned();
    if value.is_empty() {
        return Err(ApiError::invalid_field(field, "must not be empty"));
    }
    if value.chars().count() > max {
        return Err(ApiError::invalid_field(field, format!("must be at most {max} characters")));
    }
    Ok(value)
}

fn odp_codes(codes: Vec<String>) -> Result<Vec<String>, ApiError> {
    if codes.len() > MAX_ODPS {
        return Err(ApiError::invalid_field("odps", format!("at most {MAX_ODPS} ODPs")));
    }
    let mut out: Vec<String> = Vec::with_capacity(codes.len());
    for code in codes {
        let code = code.trim().to_owned();
        if code.is_empty() || code.chars().count() > 64 || code.chars().any(char::is_control) {
            return Err(ApiError::invalid_field("odps", "each ODP code must be 1-64 characters"));
        }
        if !out.contains(&code) {
            out.push(code);
        }
    }
    Ok(out)
}

fn when(state: &AppState, field: &str, value: Option<String>) -> Result<Option<i64>, ApiError> {
    value
        .map(|v| {
            notices::parse_time(&v, state.config.zone()).ok_or_else(|| {
                ApiError::invalid_field(field, "must be a time like 2026-11-23T14:00:00+07:00 or 2026-11-23 14:00")
            })
        })
        .transpose()
}

fn check_order(starts: Option<i64>, ends: Option<i64>) -> Result<(), ApiError> {
    match (starts, ends) {
        (Some(s), Some(e)) if e < s => Err(ApiError::invalid_field("estimated_end", "must not be before starts_at")),
        _ => Ok(()),
    }
}

/// Create a notice.
#[utoipa::path(
    post, path = "/api/notices", tag = "notices",
    security(("bearer" = []), ("api_key" = [])),
    request_body = CreateNoticeRequest,
    responses(
        (status = 201, body = Data<NoticeView>),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody),
    )
)]
pub async fn create_notice(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(req): ApiJson<CreateNoticeRequest>,
) -> Result<(StatusCode, Json<Data<NoticeView>>), ApiError> {
    let fields = Fields {
        title: Some(text("title", req.title, MAX_TITLE)?),
        message: Some(text("message", req.message, MAX_MESSAGE)?),
        odps: Some(odp_codes(req.odps)?),
        starts_at: Some(when(&state, "starts_at", req.starts_at)?),
        estimated_end: Some(when(&state, "estimated_end", req.estimated_end)?),
        status: req.status,
    };
    check_order(fields.starts_at.flatten(), fields.estimated_end.flatten())?;
    let row = notices::create(&state.db, principal.user_id, fields).await?;
    Ok((StatusCode::CREATED, Json(Data { data: NoticeView::from(&row) })))
}

#[derive(Debug, Deserialize, Validate, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct NoticeListQuery {
    /// Only notices in this state.
    #[serde(default)]
    pub status: Option<NoticeStatus>,
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

/// The caller's notices, newest first.
#[utoipa::path(
    get, path = "/api/notices", tag = "notices",
    security(("bearer" = []), ("api_key" = [])),
    params(NoticeListQuery),
    responses((status = 200, body = Page<NoticeView>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody))
)]
pub async fn list_notices(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(query): ApiQuery<NoticeListQuery>,
) -> Result<Json<Page<NoticeView>>, ApiError> {
    let (rows, total) = notices::list(&state.db, principal.user_id, query.status, query.page, query.limit).await?;
    Ok(Json(Page { data: rows.iter().map(NoticeView::from).collect(), page: query.page, limit: query.limit, total }))
}

async fn owned(
    state: &AppState,
    principal: &Principal,
    id: i64,
) -> Result<crate::db::entities::notices::Model, ApiError> {
    notices::find(&state.db, principal.user_id, id).await?.ok_or_else(|| ApiError::not_found("notice"))
}

/// A notice.
#[utoipa::path(
    get, path = "/api/notices/{id}", tag = "notices",
    security(("bearer" = []), ("api_key" = [])),
    params(("id" = i64, Path)),
    responses((status = 200, body = Data<NoticeView>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody))
)]
pub async fn get_notice(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Data<NoticeView>>, ApiError> {
    Ok(Json(Data { data: NoticeView::from(&owned(&state, &principal, id).await?) }))
}

/// Change a notice (e.g. `{"status":"resolved"}` once fixed).
#[utoipa::path(
    put, path = "/api/notices/{id}", tag = "notices",
    security(("bearer" = []), ("api_key" = [])),
    params(("id" = i64, Path)),
    request_body = UpdateNoticeRequest,
    responses(
        (status = 200, body = Data<NoticeView>),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
pub async fn update_notice(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<UpdateNoticeRequest>,
) -> Result<Json<Data<NoticeView>>, ApiError> {
    let row = owned(&state, &principal, id).await?;
    let fields = Fields {
        title: req.title.map(|t| text("title", t, MAX_TITLE)).transpose()?,
        message: req.message.map(|m| text("message", m, MAX_MESSAGE)).transpose()?,
        odps: req.odps.map(odp_codes).transpose()?,
        starts_at: req.starts_at.map(|v| when(&state, "starts_at", v)).transpose()?,
        estimated_end: req.estimated_end.map(|v| when(&state, "estimated_end", v)).transpose()?,
        status: req.status,
    };
    check_order(fields.starts_at.unwrap_or(row.starts_at), fields.estimated_end.unwrap_or(row.estimated_end))?;
    let row = notices::update(&state.db, row, fields).await?;
    Ok(Json(Data { data: NoticeView::from(&row) }))
}

/// Delete a notice (broadcasts made from it keep their reports).
#[utoipa::path(
    delete, path = "/api/notices/{id}", tag = "notices",
    security(("bearer" = []), ("api_key" = [])),
    params(("id" = i64, Path)),
    responses((status = 200, body = Message), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody))
)]
pub async fn delete_notice(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Message>, ApiError> {
    let row = owned(&state, &principal, id).await?;
    notices::delete(&state.db, row).await?;
    Ok(Json(Message { message: format!("notice {id} deleted") }))
}
