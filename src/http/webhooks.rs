//! `/webhooks`: an account's outgoing webhook endpoints, their delivery log,
//! retries, replays and test pings. An account sees only its own endpoints; a
//! key limited to sessions, only endpoints that hear nothing but those sessions
//! (one it makes without `sessions` hears exactly its sessions).

use axum::{Json, extract::State, http::StatusCode};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_valid::Validate;
use utoipa::{IntoParams, ToSchema};

use super::{
    Data, Message, Page,
    common::{default_limit, first_page},
    extract::{ApiJson, ApiPath, ApiQuery},
};
use crate::{
    auth::{Principal, principal::AuthMethod},
    error::{ApiError, ErrorBody},
    http::state::AppState,
    model::DeliveryStatus,
    webhooks::{DeliveryView, EndpointSpec, WebhookError, WebhookView},
};

impl From<WebhookError> for ApiError {
    fn from(err: WebhookError) -> Self {
        match err {
            WebhookError::NotFound => ApiError::not_found("webhook"),
            WebhookError::DeliveryNotFound => ApiError::not_found("delivery"),
            WebhookError::Invalid(field, message) => ApiError::invalid_field(field, message),
            WebhookError::Db(e) => e.into(),
        }
    }
}

/// The sessions a limited key is confined to (`None`: the whole account).
fn within(principal: &Principal) -> Option<Vec<String>> {
    match &principal.via {
        AuthMethod::ApiKey { sessions, .. } => sessions.clone(),
        AuthMethod::Jwt | AuthMethod::Cookie => None,
    }
}

/// A new endpoint.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhookRequest {
    /// Where events are posted: http(s), reaching a public address (or one in
    /// `webhook.allow_ranges`).
    pub url: String,
    /// The events to send (`message.received`, `message.status`,
    /// `message.reaction`, `message.edited`, `message.revoked`, `poll.vote`,
    /// `call.received`, `session.status`, `session.qr`, `chat.message`, `chat.updated`,
    /// `broadcast.progress`, `broadcast.completed`); left out or `null`: all
    /// but `session.qr`.
    #[serde(default)]
    pub events: Option<Vec<String>>,
    /// Only these sessions' events; left out or `null`: all of the account's.
    #[serde(default)]
    pub sessions: Option<Vec<String>>,
    /// Default `true`.
    #[serde(default)]
    pub enabled: Option<bool>,
    /// Up to 255 characters.
    #[serde(default)]
    pub description: Option<String>,
}

/// An endpoint just made: its secret is shown this once.
#[derive(Serialize, ToSchema)]
pub struct CreatedWebhook {
    #[serde(flatten)]
    pub webhook: WebhookView,
    /// `whsec_…`: verify the `webhook-signature` header with it (Standard Webhooks).
    pub secret: String,
}

/// Make an endpoint; events start reaching it at once.
#[utoipa::path(
    post, path = "/webhooks", tag = "webhooks",
    security(("bearer" = []), ("api_key" = [])),
    request_body = CreateWebhookRequest,
    responses(
        (status = 201, body = Data<CreatedWebhook>),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody),
    )
)]
pub async fn create_webhook(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(req): ApiJson<CreateWebhookRequest>,
) -> Result<(StatusCode, Json<Data<CreatedWebhook>>), ApiError> {
    let limited = within(&principal);
    let sessions = match (req.sessions, &limited) {
        (None, Some(own)) => Some(own.clone()),
        (Some(named), Some(own)) if named.iter().any(|s| !own.contains(s)) => {
            return Err(ApiError::forbidden("this API key is limited to other sessions").with_field("sessions"));
        }
        (named, _) => named,
    };
    let spec = EndpointSpec {
        url: Some(req.url),
        events: Some(req.events),
        sessions: Some(sessions),
        enabled: req.enabled,
        description: req.description,
    };
    let (webhook, secret) = state.webhooks.create(principal.user_id, spec).await?;
    Ok((StatusCode::CREATED, Json(Data { data: CreatedWebhook { webhook, secret } })))
}

/// The account's endpoints.
#[utoipa::path(
    get, path = "/webhooks", tag = "webhooks",
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = Data<Vec<WebhookView>>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody))
)]
pub async fn list_webhooks(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Data<Vec<WebhookView>>>, ApiError> {
    Ok(Json(Data { data: state.webhooks.list(principal.user_id, within(&principal).as_deref()).await? }))
}

/// One endpoint.
#[utoipa::path(
    get, path = "/webhooks/{id}", tag = "webhooks",
    security(("bearer" = []), ("api_key" = [])),
    params(("id" = i64, Path)),
    responses((status = 200, body = Data<WebhookView>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody))
)]
pub async fn get_webhook(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Data<WebhookView>>, ApiError> {
    let row = state.webhooks.get(principal.user_id, id, within(&principal).as_deref()).await?;
    Ok(Json(Data { data: WebhookView::from(&row) }))
}

/// Changes to an endpoint: what is left out stays; `events` or `sessions`
/// `null` means all.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateWebhookRequest {
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub events: Option<Option<Vec<String>>>,
    #[serde(default, deserialize_with = "present")]
    pub sessions: Option<Option<Vec<String>>>,
    /// `true` turns a disabled endpoint on again (its failing streak forgotten).
    #[serde(default)]
    pub enabled: Option<bool>,
    #[serde(default)]
    pub description: Option<String>,
}

/// A field that is present (even as `null`) is `Some`.
fn present<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// Change an endpoint.
#[utoipa::path(
    patch, path = "/webhooks/{id}", tag = "webhooks",
    security(("bearer" = []), ("api_key" = [])),
    params(("id" = i64, Path)),
    request_body = UpdateWebhookRequest,
    responses(
        (status = 200, body = Data<WebhookView>),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
pub async fn update_webhook(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<UpdateWebhookRequest>,
) -> Result<Json<Data<WebhookView>>, ApiError> {
    let limited = within(&principal);
    if let Some(own) = &limited {
        match &req.sessions {
            Some(None) => {
                return Err(ApiError::forbidden("this API key is limited to some sessions").with_field("sessions"));
            }
            Some(Some(named)) if named.iter().any(|s| !own.contains(s)) => {
                return Err(ApiError::forbidden("this API key is limited to other sessions").with_field("sessions"));
            }
            _ => {}
        }
    }
    let spec = EndpointSpec {
        url: req.url,
        events: req.events,
        sessions: req.sessions,
        enabled: req.enabled,
        description: req.description,
    };
    let view = state.webhooks.update(principal.user_id, id, limited.as_deref(), spec).await?;
    Ok(Json(Data { data: view }))
}

/// Remove an endpoint and its delivery log.
#[utoipa::path(
    delete, path = "/webhooks/{id}", tag = "webhooks",
    security(("bearer" = []), ("api_key" = [])),
    params(("id" = i64, Path)),
    responses((status = 200, body = Message), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody))
)]
pub async fn delete_webhook(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Message>, ApiError> {
    state.webhooks.delete(principal.user_id, id, within(&principal).as_deref()).await?;
    Ok(Json(Message { message: "webhook deleted".into() }))
}

#[derive(Serialize, ToSchema)]
pub struct RotatedSecret {
    /// The new `whsec_…` secret, shown this once. The old one keeps signing
    /// beside it (space-separated signatures) for `webhook.rotation_grace`.
    pub secret: String,
}

/// Make a new secret for an endpoint.
#[utoipa::path(
    post, path = "/webhooks/{id}/rotate-secret", tag = "webhooks",
    security(("bearer" = []), ("api_key" = [])),
    params(("id" = i64, Path)),
    responses((status = 200, body = Data<RotatedSecret>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody))
)]
pub async fn rotate_secret(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Data<RotatedSecret>>, ApiError> {
    let secret = state.webhooks.rotate(principal.user_id, id, within(&principal).as_deref()).await?;
    Ok(Json(Data { data: RotatedSecret { secret } }))
}

#[derive(Debug, Deserialize, Validate, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DeliveriesQuery {
    /// Only deliveries in this status.
    #[serde(default)]
    pub status: Option<DeliveryStatus>,
    /// 1-based; default 1.
    #[serde(default = "first_page")]
    #[validate(minimum = 1)]
    #[validate(maximum = 1000000)]
    pub page: u64,
    /// 1–200, default 50.
    #[serde(default = "default_limit")]
    #[validate(minimum = 1)]
    #[validate(maximum = 200)]
    pub limit: u64,
}

/// An endpoint's deliveries, newest first: status, attempts, the receiver's
/// last answer, the next attempt.
#[utoipa::path(
    get, path = "/webhooks/{id}/deliveries", tag = "webhooks",
    security(("bearer" = []), ("api_key" = [])),
    params(("id" = i64, Path), DeliveriesQuery),
    responses((status = 200, body = Page<DeliveryView>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody))
)]
pub async fn list_deliveries(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(query): ApiQuery<DeliveriesQuery>,
) -> Result<Json<Page<DeliveryView>>, ApiError> {
    let within = within(&principal);
    let (data, total) = state
        .webhooks
        .deliveries(principal.user_id, id, within.as_deref(), query.status, query.page, query.limit)
        .await?;
    Ok(Json(Page { data, page: query.page, limit: query.limit, total }))
}

/// Send one delivery again now (the same `webhook-id`).
#[utoipa::path(
    post, path = "/webhooks/{id}/deliveries/{delivery_id}/retry", tag = "webhooks",
    security(("bearer" = []), ("api_key" = [])),
    params(("id" = i64, Path), ("delivery_id" = i64, Path)),
    responses((status = 202, body = Data<DeliveryView>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody))
)]
pub async fn retry_delivery(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath((id, delivery)): ApiPath<(i64, i64)>,
) -> Result<(StatusCode, Json<Data<DeliveryView>>), ApiError> {
    let view = state.webhooks.retry(principal.user_id, id, within(&principal).as_deref(), delivery).await?;
    Ok((StatusCode::ACCEPTED, Json(Data { data: view })))
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayRequest {
    /// Every event since then (RFC 3339) is sent again.
    pub since: DateTime<Utc>,
}

#[derive(Serialize, ToSchema)]
pub struct Replayed {
    /// Deliveries put back in line.
    pub count: u64,
}

/// Send again everything this endpoint was sent since a time (the same `webhook-id`s).
#[utoipa::path(
    post, path = "/webhooks/{id}/replay", tag = "webhooks",
    security(("bearer" = []), ("api_key" = [])),
    params(("id" = i64, Path)),
    request_body = ReplayRequest,
    responses((status = 202, body = Data<Replayed>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody))
)]
pub async fn replay(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<ReplayRequest>,
) -> Result<(StatusCode, Json<Data<Replayed>>), ApiError> {
    let count = state.webhooks.replay(principal.user_id, id, within(&principal).as_deref(), req.since).await?;
    Ok((StatusCode::ACCEPTED, Json(Data { data: Replayed { count } })))
}

/// Send a `webhook.test` event to this endpoint.
#[utoipa::path(
    post, path = "/webhooks/{id}/test", tag = "webhooks",
    security(("bearer" = []), ("api_key" = [])),
    params(("id" = i64, Path)),
    responses((status = 202, body = Data<DeliveryView>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody))
)]
pub async fn test_webhook(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
) -> Result<(StatusCode, Json<Data<DeliveryView>>), ApiError> {
    let view = state.webhooks.test(principal.user_id, id, within(&principal).as_deref()).await?;
    Ok((StatusCode::ACCEPTED, Json(Data { data: view })))
}
