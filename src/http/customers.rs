//! `/api/customers` and `/api/odps` (seed 002): the caller's customers as its
//! billing system keeps them: a filtered, paged list, bulk upserts (JSON) and
//! CSV imports; and the ODPs they hang off.

use axum::{
    Json,
    extract::{FromRequest, Request, State},
    http::header,
};
use serde::Deserialize;
use serde_valid::Validate;
use utoipa::{IntoParams, ToSchema};

use super::{
    Data, Page,
    extract::{ApiQuery, ImportJson, read_body},
};
use crate::{
    auth::Principal,
    error::{ApiError, ErrorBody},
    http::state::AppState,
    notify::customers::{self, CustomerInput, CustomerView, Filter, OdpView, Position, UpsertReport},
};

/// Most customers in one bulk request or file.
pub const MAX_IMPORT_ROWS: usize = 50_000;

#[derive(Debug, Deserialize, Validate, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct CustomerListQuery {
    /// Only customers of this ODP (404 if there is no such ODP).
    #[serde(default)]
    pub odp: Option<String>,
    /// Only active (`true`) or inactive (`false`) customers.
    #[serde(default)]
    pub active: Option<bool>,
    /// Part of the name, external id or phone number.
    #[serde(default)]
    #[validate(max_length = 100)]
    pub search: Option<String>,
    /// 1–1,000,000.
    #[serde(default = "super::common::first_page")]
    #[validate(minimum = 1)]
    #[validate(maximum = 1000000)]
    pub page: u64,
    /// 1-1000.
    #[serde(default = "super::common::default_limit")]
    #[validate(minimum = 1)]
    #[validate(maximum = 1000)]
    pub limit: u64,
}

/// The caller's customers by id, filtered and paged.
#[utoipa::path(
    get, path = "/api/customers", tag = "customers",
    security(("bearer" = []), ("api_key" = [])),
    params(CustomerListQuery),
    responses(
        (status = 200, body = Page<CustomerView>),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, description = "no such ODP", body = ErrorBody), (status = 422, body = ErrorBody),
    )
)]
pub async fn list_customers(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(query): ApiQuery<CustomerListQuery>,
) -> Result<Json<Page<CustomerView>>, ApiError> {
    let filter = Filter { odp: query.odp, active: query.active, search: query.search };
    let (data, total) = customers::list(&state.db, principal.user_id, &filter, query.page, query.limit)
        .await?
        .ok_or_else(|| ApiError::not_found("ODP"))?;
    Ok(Json(Page { data, page: query.page, limit: query.limit, total }))
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkCustomersRequest {
    /// Inserted, or updated when the caller has a customer with the same
    /// `external_id`. Rows that cannot be imported are reported by index.
    pub customers: Vec<CustomerInput>,
}

/// Insert or update customers by `external_id` (the billing system's id), in
/// one transaction; ODPs they name are created.
#[utoipa::path(
    post, path = "/api/customers/bulk", tag = "customers",
    security(("bearer" = []), ("api_key" = [])),
    request_body = BulkCustomersRequest,
    responses(
        (status = 200, body = Data<UpsertReport>),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 413, body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
pub async fn bulk_customers(
    State(state): State<AppState>,
    principal: Principal,
    ImportJson(req): ImportJson<BulkCustomersRequest>,
) -> Result<Json<Data<UpsertReport>>, ApiError> {
    if req.customers.is_empty() {
        return Err(ApiError::invalid_field("customers", "must not be empty"));
    }
    if req.customers.len() > MAX_IMPORT_ROWS {
        return Err(ApiError::invalid_field("customers", format!("at most {MAX_IMPORT_ROWS} per request")));
    }
    let rows = req.customers.into_iter().enumerate().map(|(i, c)| (Position::Index(i), c)).collect();
    let report =
        customers::upsert(&state.writer, principal.user_id, &state.config.notify.country_code, rows, Vec::new())
            .await?;
    Ok(Json(Data { data: report }))
}

/// Import customers from a CSV file: the body as `text/csv`, or
/// `multipart/form-data` with the file in `file`. A header line names the
/// columns: `external_id` (or `id`), `name` (or `nama`), `phone` (or
/// `telepon`, `no_hp`), and optionally `odp` and `active` (`1`/`0`,
/// `aktif`/`nonaktif`); comma or semicolon separated. Lines that cannot be
/// imported are reported by number; the rest are upserted as by `/bulk`.
#[utoipa::path(
    post, path = "/api/customers/import", tag = "customers",
    security(("bearer" = []), ("api_key" = [])),
    request_body(content = String, content_type = "text/csv", description = "the CSV file, or multipart/form-data with it in `file`"),
    responses(
        (status = 200, body = Data<UpsertReport>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody), (status = 422, body = ErrorBody),
    )
)]
pub async fn import_customers(
    State(state): State<AppState>,
    principal: Principal,
    req: Request,
) -> Result<Json<Data<UpsertReport>>, ApiError> {
    let bytes = csv_body(req, &state).await?;
    let (rows, errors) = customers::parse_csv(&bytes).map_err(|e| ApiError::invalid_field("file", e))?;
    if rows.len() + errors.len() > MAX_IMPORT_ROWS {
        return Err(ApiError::invalid_field("file", format!("at most {MAX_IMPORT_ROWS} customers per file")));
    }
    let report =
        customers::upsert(&state.writer, principal.user_id, &state.config.notify.country_code, rows, errors).await?;
    Ok(Json(Data { data: report }))
}

/// The CSV file of an import request.
async fn csv_body(req: Request, state: &AppState) -> Result<Vec<u8>, ApiError> {
    let limit = state.config.notify.max_import_bytes;
    let mime = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
        .unwrap_or_default();
    match mime.as_str() {
        "text/csv" | "application/csv" => Ok(read_body(req, limit).await?.to_vec()),
        "multipart/form-data" => {
            let malformed = |e: axum::extract::multipart::MultipartError| {
                ApiError::bad_request("malformed_multipart", format!("malformed multipart body: {}", e.body_text()))
            };
            let mut form = axum::extract::Multipart::from_request(req, state).await.map_err(|e| {
                ApiError::bad_request("malformed_multipart", format!("malformed multipart body: {}", e.body_text()))
            })?;
            let too_large = || {
                ApiError::new(
                    axum::http::StatusCode::PAYLOAD_TOO_LARGE,
                    "payload_too_large",
                    format!("the file exceeds notify.max_import_bytes ({limit} bytes)"),
                )
                .with_field("file")
            };
            while let Some(mut field) = form.next_field().await.map_err(malformed)? {
                if field.name() == Some("file") {
                    let mut bytes = Vec::new();
                    while let Some(chunk) = field.chunk().await.map_err(malformed)? {
                        if bytes.len() + chunk.len() > limit {
                            return Err(too_large());
                        }
                        bytes.extend_from_slice(&chunk);
                    }
                    return Ok(bytes);
                }
            }
            Err(ApiError::invalid_field("file", "is required: send the CSV file in the form part `file`"))
        }
        _ => {
            // Read (and drop) what the client is still sending, so it gets this answer
            // rather than a reset connection.
            let _ = read_body(req, limit).await;
            Err(ApiError::new(
                axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the CSV file as text/csv, or as multipart/form-data in the part `file`",
            ))
        }
    }
}

/// The caller's ODPs with their customer counts.
#[utoipa::path(
    get, path = "/api/odps", tag = "customers",
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = Data<Vec<OdpView>>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody))
)]
pub async fn list_odps(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Data<Vec<OdpView>>>, ApiError> {
    Ok(Json(Data { data: customers::list_odps(&state.db, principal.user_id).await? }))
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OdpGroupRequest {
    /// The group (`<id>@g.us`, or its id) that a notice sent by this ODP is
    /// also posted into, once; `null` posts into none.
    pub group_jid: Option<String>,
    /// The caller's session that posts it (needed with `group_jid`).
    #[serde(default)]
    pub session: Option<String>,
}

/// Name the group an ODP's outage notices are also posted into (or none):
/// `POST /api/send/by-odp/{odp}` then queues one message into the group,
/// from `session`, and reports it as its own line. Makes the ODP if it is
/// new. When the session is connected, WhatsApp is asked whether it is in
/// the group.
#[utoipa::path(
    put, path = "/api/odps/{odp}", tag = "customers",
    security(("bearer" = []), ("api_key" = [])),
    params(("odp" = String, Path, description = "the ODP code")),
    request_body = OdpGroupRequest,
    responses(
        (status = 200, body = Data<OdpView>),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, description = "no such session", body = ErrorBody),
        (status = 422, body = ErrorBody),
        (status = 503, description = "WhatsApp did not answer whether the session is in the group", body = ErrorBody),
    )
)]
pub async fn set_odp_group(
    State(state): State<AppState>,
    principal: Principal,
    super::extract::ApiPath(code): super::extract::ApiPath<String>,
    super::extract::ApiJson(req): super::extract::ApiJson<OdpGroupRequest>,
) -> Result<Json<Data<OdpView>>, ApiError> {
    customers::check_odp_code(&code).map_err(|e| ApiError::invalid_field("odp", e))?;
    let group = match (req.group_jid, req.session) {
        (None, None) => None,
        (None, Some(_)) => return Err(ApiError::invalid_field("session", "is only for a group_jid")),
        (Some(_), None) => return Err(ApiError::invalid_field("session", "is required with a group_jid")),
        (Some(raw), Some(name)) => {
            let jid = crate::validation::group_jid(&raw)
                .ok_or_else(|| ApiError::invalid_field("group_jid", "not a group JID (<digits>@g.us)"))?;
            let row = state.sessions.get(&super::common::scope_of(&principal), &name).await?;
            if let Some(sender) = state.inbox.sender_of(&row.id) {
                use crate::engine::GroupFailure;
                match sender.group(&jid).await {
                    Ok(_) => {}
                    Err(GroupFailure::NotIn) => {
                        return Err(ApiError::invalid_field("group_jid", "the session is not in this group"));
                    }
                    Err(e) => return Err(super::common::unavailable(e)),
                }
            }
            Some((jid, row.id))
        }
    };
    Ok(Json(Data { data: customers::set_odp_group(&state.writer, principal.user_id, &code, group).await? }))
}
