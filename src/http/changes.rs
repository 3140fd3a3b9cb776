//! What an API client does to messages already in a chat: react to one
//! (`POST /message/react`), edit one it sent (`POST /message/{id}/edit`),
//! delete one it sent for everyone (`DELETE /message/{id}`; one still waiting
//! in the queue is taken out instead). Reactions, edits and deletions are
//! messages too: queued, paced by the session's limits, sent under their own
//! ids (202 once durable).

use axum::{
    Json,
    extract::State,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use serde_valid::Validate;
use utoipa::ToSchema;

use super::{
    Data,
    common::scope_of,
    extract::{ApiJson, ApiPath},
    idempotency::{self, Accepted, hash_of},
    messages::{Sent, in_chat, recipient},
};
use crate::{
    auth::Principal,
    db::entities::messages,
    error::{ApiError, ErrorBody},
    http::state::AppState,
    model::{MessageStatus, Origin, now_ms},
    queue::{
        Content, MAX_TEXT_CHARS, MessageView, Submit,
        attachment::MAX_CAPTION_CHARS,
        content::{Reaction, has_caption, is_one_emoji},
    },
    validation,
};

/// How long after sending WhatsApp lets a message be edited.
pub const EDIT_WINDOW_MS: i64 = 15 * 60 * 1000;
/// How long after sending WhatsApp lets a message be deleted for everyone.
pub const REVOKE_WINDOW_MS: i64 = 60 * 60 * 60 * 1000;

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ReactRequest {
    #[validate(custom = validation::session_id)]
    pub session: String,
    /// The chat: the contact's number.
    pub to: String,
    /// The message reacted to: one the session sent to or received from `to`.
    pub message_id: String,
    /// One emoji; empty takes the session's reaction off.
    pub emoji: String,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EditRequest {
    /// The new text (a text message) or caption (an image, video or document).
    pub text: String,
}

/// What `DELETE /message/{id}` did.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Deleted {
    /// `cancelled`: it was still waiting and will never be sent; `revoking`: a
    /// deletion for everyone is queued (`revoke`).
    pub action: &'static str,
    /// The message, as it is now.
    pub message: MessageView,
    /// The queued deletion.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoke: Option<MessageView>,
}

/// React to a message of a chat (or take the reaction off).
#[utoipa::path(
    post, path = "/message/react", tag = "messages",
    security(("bearer" = []), ("api_key" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "the same key gives back the same reaction")),
    request_body = ReactRequest,
    responses(
        (status = 202, description = "the reaction is durably queued", body = Data<MessageView>),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, description = "no such session, or no such message in that chat", body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody),
    )
)]
pub async fn react(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    ApiJson(req): ApiJson<ReactRequest>,
) -> Result<Sent, ApiError> {
    let to = recipient(&state, &req.to)?;
    let key = idempotency::key(&headers)?;
    if !req.emoji.is_empty() && !is_one_emoji(&req.emoji) {
        return Err(ApiError::invalid_field("emoji", "must be one emoji (or empty to take the reaction off)"));
    }
    let row = state.sessions.get(&scope_of(&principal), &req.session).await?;
    let hash = hash_of(serde_json::json!({"kind": "reaction", "session": req.session, "to": to,
        "messageId": req.message_id, "emoji": req.emoji}));
    if let Some(key) = &key
        && let Some(existing) = state.queue.replay(principal.user_id, key, &hash).await?
    {
        return Ok(Accepted { body: Data { data: existing }, replayed: true });
    }
    crate::sessions::sendable(&row)?;
    let Some((_, from_me)) = in_chat(&state, &row, &to, &req.message_id).await? else {
        return Err(ApiError::not_found("message"));
    };
    let reaction = Reaction { message_id: req.message_id, from_me, emoji: req.emoji };
    submit(&state, &Actor::api(&principal), row.id, to, Content::Reaction(reaction), key, hash).await
}

/// Edit a text (or a caption) the session sent, within WhatsApp's 15 minutes.
#[utoipa::path(
    post, path = "/message/{id}/edit", tag = "messages",
    security(("bearer" = []), ("api_key" = [])),
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header, description = "the same key gives back the same edit")),
    request_body = EditRequest,
    responses(
        (status = 202, description = "the edit is durably queued; the message shows the new text", body = Data<MessageView>),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "not on WhatsApp (yet), deleted, or the window has passed", body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
pub async fn edit(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<EditRequest>,
) -> Result<Sent, ApiError> {
    let key = idempotency::key(&headers)?;
    let hash = hash_of(serde_json::json!({"kind": "edit", "id": id, "text": req.text}));
    let original = own_message(&state, &principal, &id, "edited").await?;
    edit_own(&state, &Actor::api(&principal), original, req.text, key, hash).await
}

/// Queues an edit of `original` (a message the actor may change) to `text`.
pub(super) async fn edit_own(
    state: &AppState,
    actor: &Actor,
    original: messages::Model,
    text: String,
    key: Option<String>,
    hash: String,
) -> Result<Sent, ApiError> {
    if let Some(key) = &key
        && let Some(existing) = state.queue.replay(actor.user_id, key, &hash).await?
    {
        return Ok(Accepted { body: Data { data: existing }, replayed: true });
    }
    let caption = has_caption(&original.kind);
    if original.kind != "text" && !caption {
        return Err(ApiError::invalid_field(
            "id",
            "only texts and the captions of images, videos and documents can be edited",
        ));
    }
    let max = if caption { MAX_CAPTION_CHARS } else { MAX_TEXT_CHARS };
    validation::check_text(&text, max).map_err(|e| ApiError::invalid_field("text", e))?;
    on_whatsapp_within(state, &original, EDIT_WINDOW_MS, "edited").await?;
    let row = session_of(state, &original).await?;
    let content = Content::Edit { target: original.id.clone(), text, previous: original.body.clone() };
    submit(state, actor, row, original.recipient, content, key, hash).await
}

/// Delete a message the session sent, for everyone; one still waiting in the
/// queue is taken out of it instead (it never reaches WhatsApp).
#[utoipa::path(
    delete, path = "/message/{id}", tag = "messages",
    security(("bearer" = []), ("api_key" = [])),
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header, description = "the same key gives back the same deletion")),
    responses(
        (status = 200, description = "it was still waiting: taken out of the queue", body = Data<Deleted>),
        (status = 202, description = "a deletion for everyone is durably queued", body = Data<Deleted>),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "being sent right now, never sent, already deleted, or the window has passed", body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
pub async fn delete(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let key = idempotency::key(&headers)?;
    let hash = hash_of(serde_json::json!({"kind": "revoke", "id": id}));
    let original = own_message(&state, &principal, &id, "deleted").await?;
    delete_own(&state, &Actor::api(&principal), original, key, hash).await
}

/// Takes `original` (a message the actor may change) out of the queue, or
/// queues its deletion for everyone.
pub(super) async fn delete_own(
    state: &AppState,
    actor: &Actor,
    original: messages::Model,
    key: Option<String>,
    hash: String,
) -> Result<Response, ApiError> {
    let id = original.id.clone();
    if let Some(key) = &key
        && let Some(revoke) = state.queue.replay(actor.user_id, key, &hash).await?
    {
        let message = state.queue.get(&id).await?.0;
        let body = Data { data: Deleted { action: "revoking", message, revoke: Some(revoke) } };
        return Ok(Accepted { body, replayed: true }.into_response());
    }
    if matches!(original.kind.as_str(), "reaction" | "edit" | "revoke") {
        let message = "reactions are taken off by reacting with an empty emoji; edits and deletions cannot be deleted";
        return Err(ApiError::invalid_field("id", message));
    }
    if original.status == MessageStatus::Queued
        && let Some(message) = state.queue.cancel(&id, "deleted before it was sent").await?
    {
        let body = Data { data: Deleted { action: "cancelled", message, revoke: None } };
        return Ok((StatusCode::OK, Json(body)).into_response());
    }
    // No longer waiting: re-read, it may have gone out meanwhile.
    let original = state.queue.row(&id).await?.ok_or_else(|| ApiError::not_found("message"))?;
    on_whatsapp_within(state, &original, REVOKE_WINDOW_MS, "deleted").await?;
    let row = session_of(state, &original).await?;
    let recipient = original.recipient.clone();
    let sent = submit(state, actor, row, recipient, Content::Revoke { target: id.clone() }, key, hash).await?;
    let message = state.queue.get(&id).await?.0;
    let body = Data { data: Deleted { action: "revoking", message, revoke: Some(sent.body.data) } };
    Ok(Accepted { body, replayed: sent.replayed }.into_response())
}

/// The message `id` the caller's sessions sent: 404 when there is none the
/// caller may see; 422 naming `id` when it is a message they received.
async fn own_message(
    state: &AppState,
    principal: &Principal,
    id: &str,
    done: &str,
) -> Result<messages::Model, ApiError> {
    let scope = scope_of(principal);
    if let Some(row) = state.queue.row(id).await? {
        let owner = state.sessions.owner_of(&row.session_id).await?;
        if owner.is_some_and(|owner| scope.admits_session(owner, &row.session_id)) {
            return Ok(row);
        }
        return Err(ApiError::not_found("message"));
    }
    let sessions = if scope.is_everyone() { None } else { Some(state.sessions.keys_with_deleted(&scope).await?) };
    if state.inbox.received_in(sessions.as_deref(), id).await? {
        return Err(ApiError::invalid_field(
            "id",
            format!("a received message cannot be {done}; only ones this gateway sent"),
        ));
    }
    Err(ApiError::not_found("message"))
}

/// 409 unless `message` is on WhatsApp, not deleted, and was sent less than
/// `window` ago.
async fn on_whatsapp_within(
    state: &AppState,
    message: &messages::Model,
    window: i64,
    done: &str,
) -> Result<(), ApiError> {
    let conflict = |code: &'static str, why: String| ApiError::new(StatusCode::CONFLICT, code, why);
    match message.status {
        MessageStatus::Queued | MessageStatus::Sending => {
            return Err(conflict(
                "not_sent_yet",
                format!("the message is being sent; it can be {done} once it is on WhatsApp"),
            ));
        }
        MessageStatus::Failed => {
            return Err(conflict("never_sent", "the message never reached WhatsApp".into()));
        }
        MessageStatus::Sent | MessageStatus::Delivered | MessageStatus::Read => {}
    }
    let deleted = message
        .extra
        .as_deref()
        .and_then(|e| serde_json::from_str::<serde_json::Value>(e).ok())
        .is_some_and(|e| e.get("deleted").is_some());
    if deleted {
        return Err(conflict("deleted", "the message was deleted for everyone".into()));
    }
    let sent_at = state.queue.sent_at(&message.id).await?.unwrap_or(message.updated_at);
    if now_ms() - sent_at > window {
        let minutes = window / 60_000;
        return Err(conflict(
            "window_passed",
            format!("WhatsApp lets a message be {done} for {minutes} minutes after it is sent"),
        ));
    }
    Ok(())
}

/// The session a message was sent from, which must still be able to send.
async fn session_of(state: &AppState, message: &messages::Model) -> Result<crate::model::SessionKey, ApiError> {
    let row = state.sessions.by_key(&message.session_id).await?;
    crate::sessions::sendable(&row)?;
    Ok(row.id)
}

/// Who changes a message: an API client, or an agent answering from the inbox.
pub(super) struct Actor {
    pub user_id: i64,
    pub origin: Origin,
    pub agent_id: Option<i64>,
}

impl Actor {
    pub fn api(principal: &Principal) -> Actor {
        Actor { user_id: principal.user_id, origin: Origin::Api, agent_id: None }
    }

    pub fn agent(principal: &Principal) -> Actor {
        Actor { user_id: principal.user_id, origin: Origin::Agent, agent_id: Some(principal.user_id) }
    }
}

/// Queues a reaction, edit or deletion as the actor's.
pub(super) async fn submit(
    state: &AppState,
    actor: &Actor,
    session: crate::model::SessionKey,
    to: String,
    content: Content,
    key: Option<String>,
    request_hash: String,
) -> Result<Sent, ApiError> {
    let submit = Submit {
        user_id: actor.user_id,
        session,
        to,
        content,
        idempotency_key: key,
        request_hash,
        origin: actor.origin,
        agent_id: actor.agent_id,
        quoted: None,
        mentions: None,
    };
    let (view, created) = state.queue.submit(submit).await?;
    Ok(Accepted { body: Data { data: view }, replayed: !created })
}
