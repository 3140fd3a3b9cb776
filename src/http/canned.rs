//! `/canned-replies`: the texts an agent picks by shortcut in a chat's
//! composer (see `crate::inbox::canned`). Everyone who answers chats has their
//! own; an account's owner (an admin or user, not by a key limited to
//! sessions) also makes the account's, which everyone answering its chats uses.

use axum::{Json, extract::State, http::StatusCode};
use serde::{Deserialize, Serialize};
use serde_valid::Validate;
use utoipa::{IntoParams, ToSchema};

use super::{
    Data,
    common::chat_scope,
    extract::{ApiJson, ApiPath, ApiQuery},
};
use crate::{
    auth::Principal,
    db::entities::canned_replies as canned,
    error::{ApiError, ErrorBody},
    http::state::AppState,
    inbox::canned::{Owner, check_text, shortcut_of},
    model::Role,
};

/// A canned reply.
#[derive(Debug, Serialize, ToSchema)]
pub struct CannedReplyView {
    pub id: i64,
    /// Typed as `/shortcut` in the composer.
    pub shortcut: String,
    /// With its placeholders: `{nama}`, `{odp}`, `{agen}`, `{waktu}`.
    pub text: String,
    /// The caller's own (else the account's).
    pub personal: bool,
    pub author_id: i64,
    /// With `chat_id`: the text as it would go to that chat, from the caller.
    pub filled: Option<String>,
}

fn view(row: canned::Model, filled: Option<String>) -> CannedReplyView {
    CannedReplyView {
        id: row.id,
        personal: row.scope.starts_with("p:"),
        shortcut: row.shortcut,
        text: row.text,
        author_id: row.author_id,
        filled,
    }
}

/// The account whose replies the caller makes and changes: its own, unless
/// it is an agent or a key limited to sessions.
fn own_account(principal: &Principal) -> Option<Owner> {
    (matches!(principal.role, Role::Admin | Role::User) && !principal.limited())
        .then_some(Owner::Account(principal.user_id))
}

/// What the caller may change: its own replies, and its account's.
fn writable(principal: &Principal) -> Vec<Owner> {
    let mut owners = vec![Owner::Person(principal.user_id)];
    owners.extend(own_account(principal));
    owners
}

#[derive(Debug, Deserialize, Validate, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct CannedQuery {
    /// The chat they are for: its account's replies (with the caller's own),
    /// each `filled` for it.
    #[serde(default)]
    pub chat_id: Option<i64>,
}

/// The caller's canned replies and its account's (with `chat_id`: those of
/// the chat's account, filled for that chat), by shortcut.
#[utoipa::path(
    get, path = "/canned-replies", tag = "inbox",
    security(("bearer" = []), ("api_key" = [])),
    params(CannedQuery),
    responses(
        (status = 200, body = Data<Vec<CannedReplyView>>),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
pub async fn list_canned_replies(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(query): ApiQuery<CannedQuery>,
) -> Result<Json<Data<Vec<CannedReplyView>>>, ApiError> {
    let mut owners = vec![Owner::Person(principal.user_id)];
    let chat = match query.chat_id {
        Some(id) => Some(state.inbox.chat(&chat_scope(&state, &principal).await?, id).await?),
        None => None,
    };
    match &chat {
        Some(chat) => owners.push(Owner::Account(chat.user_id)),
        None if matches!(principal.role, Role::Admin | Role::User | Role::Readonly) => {
            owners.push(Owner::Account(principal.user_id));
        }
        None => {}
    }
    let rows = state.inbox.canned(&owners).await?;
    let me = {
        use sea_orm::EntityTrait;
        let user = crate::db::entities::users::Entity::find_by_id(principal.user_id).one(&state.db).await?;
        user.map(|u| if u.name.trim().is_empty() { u.username.unwrap_or(u.email) } else { u.name }).unwrap_or_default()
    };
    let mut data = Vec::with_capacity(rows.len());
    for row in rows {
        let filled = match &chat {
            Some(chat) => Some(state.inbox.fill_canned(chat, &me, &row.text).await?),
            None => None,
        };
        data.push(view(row, filled));
    }
    Ok(Json(Data { data }))
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CannedRequest {
    /// 1-32 of a-z, 0-9, `_` and `-` (a leading `/` is left out).
    pub shortcut: String,
    /// 1-4,096 characters; placeholders `{nama}`, `{odp}`, `{agen}`, `{waktu}`.
    pub text: String,
    /// The caller's own (default for agents and keys limited to sessions,
    /// who make no other); else the account's.
    #[serde(default)]
    pub personal: Option<bool>,
}

/// Make a canned reply: the caller's own, or (an admin or user) its account's.
/// A shortcut the caller already uses (its own or its account's) is refused.
#[utoipa::path(
    post, path = "/canned-replies", tag = "inbox",
    security(("bearer" = []), ("api_key" = [])),
    request_body = CannedRequest,
    responses(
        (status = 201, body = Data<CannedReplyView>),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody),
    )
)]
pub async fn create_canned_reply(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(req): ApiJson<CannedRequest>,
) -> Result<(StatusCode, Json<Data<CannedReplyView>>), ApiError> {
    let shortcut = shortcut_of(&req.shortcut).map_err(|e| ApiError::invalid_field("shortcut", e))?;
    check_text(&req.text).map_err(|e| ApiError::invalid_field("text", e))?;
    let owner = match (req.personal, own_account(&principal)) {
        (Some(true), _) => Owner::Person(principal.user_id),
        (_, Some(account)) => account,
        (None, None) => Owner::Person(principal.user_id),
        (Some(false), None) => {
            return Err(ApiError::forbidden(
                "only the account's owner makes its replies (not an agent, nor a key limited to sessions)",
            ));
        }
    };
    let visible = writable(&principal);
    let row = state.inbox.save_canned(owner, principal.user_id, &visible, None, shortcut, req.text).await?;
    Ok((StatusCode::CREATED, Json(Data { data: view(row, None) })))
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CannedChange {
    #[serde(default)]
    pub shortcut: Option<String>,
    #[serde(default)]
    pub text: Option<String>,
}

/// Change one of the caller's canned replies (or its account's).
#[utoipa::path(
    patch, path = "/canned-replies/{id}", tag = "inbox",
    security(("bearer" = []), ("api_key" = [])),
    params(("id" = i64, Path)),
    request_body = CannedChange,
    responses(
        (status = 200, body = Data<CannedReplyView>),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
pub async fn update_canned_reply(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<CannedChange>,
) -> Result<Json<Data<CannedReplyView>>, ApiError> {
    let shortcut =
        req.shortcut.as_deref().map(shortcut_of).transpose().map_err(|e| ApiError::invalid_field("shortcut", e))?;
    if let Some(text) = &req.text {
        check_text(text).map_err(|e| ApiError::invalid_field("text", e))?;
    }
    let visible = writable(&principal);
    let row = state.inbox.canned_reply(&visible, id).await.map_err(|_| ApiError::not_found("canned reply"))?;
    let owner =
        if row.scope.starts_with("p:") { Owner::Person(principal.user_id) } else { Owner::Account(principal.user_id) };
    let (shortcut, text) = (shortcut.unwrap_or(row.shortcut), req.text.unwrap_or(row.text));
    let row = state.inbox.save_canned(owner, principal.user_id, &visible, Some(id), shortcut, text).await?;
    Ok(Json(Data { data: view(row, None) }))
}

/// Remove one of the caller's canned replies (or its account's).
#[utoipa::path(
    delete, path = "/canned-replies/{id}", tag = "inbox",
    security(("bearer" = []), ("api_key" = [])),
    params(("id" = i64, Path)),
    responses(
        (status = 200, body = Data<CannedReplyView>),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    )
)]
pub async fn delete_canned_reply(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Data<CannedReplyView>>, ApiError> {
    let row =
        state.inbox.canned_reply(&writable(&principal), id).await.map_err(|_| ApiError::not_found("canned reply"))?;
    state.inbox.delete_canned(id).await?;
    Ok(Json(Data { data: view(row, None) }))
}
