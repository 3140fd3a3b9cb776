//! `/labels` and `PUT /chats/{id}/labels`: an account's labels (made by its
//! owner: an admin or user, not by a key limited to sessions), put on its
//! chats by whoever may see them (see `crate::inbox::labels`).

use axum::{Json, extract::State, http::StatusCode};
use serde::Deserialize;
use serde_valid::Validate;
use utoipa::{IntoParams, ToSchema};

use super::{
    Data,
    common::chat_scope,
    extract::{ApiJson, ApiPath, ApiQuery},
};
use crate::{
    auth::Principal,
    error::{ApiError, ErrorBody},
    http::state::AppState,
    inbox::{
        ChatView,
        labels::{LabelView, MAX_PER_CHAT, colour_of, name_of},
    },
    model::Role,
};

/// The account the caller makes labels for.
fn own_account(principal: &Principal) -> Result<i64, ApiError> {
    if matches!(principal.role, Role::Admin | Role::User) && !principal.limited() {
        Ok(principal.user_id)
    } else {
        Err(ApiError::forbidden(
            "only the account's owner makes its labels (not an agent, nor a key limited to sessions)",
        ))
    }
}

/// The caller's account's label `id` (404 for any other, and for a caller
/// that makes no labels).
async fn own_label(
    state: &AppState,
    principal: &Principal,
    id: i64,
) -> Result<crate::db::entities::labels::Model, ApiError> {
    let account = own_account(principal).map_err(|_| ApiError::not_found("label"))?;
    state.inbox.labels(account).await?.into_iter().find(|l| l.id == id).ok_or_else(|| ApiError::not_found("label"))
}

#[derive(Debug, Deserialize, Validate, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct LabelsQuery {
    /// The labels of this chat's account (what may be put on it).
    #[serde(default)]
    pub chat_id: Option<i64>,
}

/// The caller's account's labels (with `chat_id`: the chat's account's), by name.
#[utoipa::path(
    get, path = "/labels", tag = "inbox",
    security(("bearer" = []), ("api_key" = [])),
    params(LabelsQuery),
    responses(
        (status = 200, body = Data<Vec<LabelView>>),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
pub async fn list_labels(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(query): ApiQuery<LabelsQuery>,
) -> Result<Json<Data<Vec<LabelView>>>, ApiError> {
    let account = match query.chat_id {
        Some(id) => Some(state.inbox.chat(&chat_scope(&state, &principal).await?, id).await?.user_id),
        None if principal.role != Role::Agent => Some(principal.user_id),
        None => None,
    };
    let data = match account {
        Some(account) => state.inbox.labels(account).await?.iter().map(LabelView::from).collect(),
        None => Vec::new(),
    };
    Ok(Json(Data { data }))
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LabelRequest {
    /// 1-32 characters, unique in the account.
    pub name: String,
    /// `#rrggbb`.
    pub colour: String,
}

/// Make a label of the caller's account.
#[utoipa::path(
    post, path = "/labels", tag = "inbox",
    security(("bearer" = []), ("api_key" = [])),
    request_body = LabelRequest,
    responses(
        (status = 201, body = Data<LabelView>),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody),
    )
)]
pub async fn create_label(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(req): ApiJson<LabelRequest>,
) -> Result<(StatusCode, Json<Data<LabelView>>), ApiError> {
    let name = name_of(&req.name).map_err(|e| ApiError::invalid_field("name", e))?;
    let colour = colour_of(&req.colour).map_err(|e| ApiError::invalid_field("colour", e))?;
    let account = own_account(&principal)?;
    let label = state.inbox.save_label(account, None, name, colour).await?;
    Ok((StatusCode::CREATED, Json(Data { data: LabelView::from(&label) })))
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LabelChange {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub colour: Option<String>,
}

/// Rename or recolour one of the caller's account's labels.
#[utoipa::path(
    patch, path = "/labels/{id}", tag = "inbox",
    security(("bearer" = []), ("api_key" = [])),
    params(("id" = i64, Path)),
    request_body = LabelChange,
    responses(
        (status = 200, body = Data<LabelView>),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
pub async fn update_label(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<LabelChange>,
) -> Result<Json<Data<LabelView>>, ApiError> {
    let label = own_label(&state, &principal, id).await?;
    let name = req.name.as_deref().map(name_of).transpose().map_err(|e| ApiError::invalid_field("name", e))?;
    let colour = req.colour.as_deref().map(colour_of).transpose().map_err(|e| ApiError::invalid_field("colour", e))?;
    let (name, colour) = (name.unwrap_or(label.name), colour.unwrap_or(label.colour));
    let label = state.inbox.save_label(label.account_id, Some(id), name, colour).await?;
    Ok(Json(Data { data: LabelView::from(&label) }))
}

/// Remove one of the caller's account's labels, from every chat too.
#[utoipa::path(
    delete, path = "/labels/{id}", tag = "inbox",
    security(("bearer" = []), ("api_key" = [])),
    params(("id" = i64, Path)),
    responses(
        (status = 200, body = Data<LabelView>),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    )
)]
pub async fn delete_label(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Data<LabelView>>, ApiError> {
    let label = own_label(&state, &principal, id).await?;
    state.inbox.delete_label(id).await?;
    Ok(Json(Data { data: LabelView::from(&label) }))
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChatLabelsRequest {
    /// The ids of the labels the chat has from now on (its account's; at most 20).
    pub labels: Vec<i64>,
}

/// Put exactly these labels on the chat (an empty list takes them all off).
#[utoipa::path(
    put, path = "/chats/{id}/labels", tag = "inbox",
    security(("bearer" = []), ("api_key" = [])),
    params(("id" = i64, Path)),
    request_body = ChatLabelsRequest,
    responses(
        (status = 200, body = ChatView),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, description = "no such chat, or a label that is not the chat's account's", body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
pub async fn set_chat_labels(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<ChatLabelsRequest>,
) -> Result<Json<ChatView>, ApiError> {
    if req.labels.len() > MAX_PER_CHAT {
        return Err(ApiError::invalid_field("labels", format!("at most {MAX_PER_CHAT} labels on a chat")));
    }
    let chat = state.inbox.chat(&chat_scope(&state, &principal).await?, id).await?;
    let account = state.inbox.labels(chat.user_id).await?;
    let mut on = Vec::with_capacity(req.labels.len());
    for wanted in &req.labels {
        let label = account.iter().find(|l| l.id == *wanted).ok_or_else(|| ApiError::not_found("label"))?;
        on.push(LabelView::from(label));
    }
    Ok(Json(state.inbox.set_labels(chat, on).await?))
}
