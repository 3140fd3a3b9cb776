//! `/chats/*` (seed 004): the shared inbox. Agents see and answer only the
//! chats assigned to them (anything else is 404); users the chats of their own
//! sessions (an API key limited to sessions, only those); admins all.
//! `/message/received`: every received message, groups included, for API clients.

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
    common::{chat_scope, phone_field, scope_of},
    extract::{ApiJson, ApiPath, ApiQuery},
};
use crate::{
    auth::Principal,
    db::entities::{chat_entries as entries, inbound_messages as inbound},
    error::{ApiError, ErrorBody},
    http::state::AppState,
    inbox::{ChatChange, ChatCounts, ChatDetail, ChatFilter, ChatView, Cursor, EntryView, InboxError, ReceivedView},
    model::{ChatMode, Role, SessionKey},
    sessions::Scope,
    validation,
};

impl From<InboxError> for ApiError {
    fn from(err: InboxError) -> Self {
        match err {
            InboxError::NotFound => ApiError::not_found("chat"),
            InboxError::Invalid(field, message) => ApiError::invalid_field(field, message),
            InboxError::Forbidden(message) => ApiError::forbidden(message),
            InboxError::Db(e) => e.into(),
            InboxError::Other(e) => e.into(),
        }
    }
}

fn limit_rule(limit: &u64) -> Result<(), serde_valid::validation::Error> {
    if (1..=200).contains(limit) { Ok(()) } else { Err(serde_valid::validation::Error::Custom("must be 1-200".into())) }
}

#[derive(Debug, Deserialize, Validate, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Only chats in this mode.
    #[serde(default)]
    pub mode: Option<ChatMode>,
    /// `me`, `unassigned`, `all` (default), or an agent's user id.
    #[serde(default)]
    pub assignee: Option<String>,
    /// Only this session's chats.
    #[serde(default)]
    #[validate(custom = validation::optional_session_id)]
    pub session: Option<String>,
    /// `true`: only chats with unread messages.
    #[serde(default)]
    pub unread: Option<bool>,
    /// A part of the name or the number.
    #[serde(default)]
    #[validate(max_length = 100)]
    pub q: Option<String>,
    /// Only chats with this label (its id).
    #[serde(default)]
    pub label: Option<i64>,
    /// The `cursor` of the last chat of the previous page.
    #[serde(default)]
    pub before: Option<String>,
    /// 1–200, default 50.
    #[serde(default = "super::common::default_limit")]
    #[validate(custom = limit_rule)]
    pub limit: u64,
}

/// The chats the caller may see, most recent first (seed 004's array), a page at a time.
#[utoipa::path(
    get, path = "/chats/", tag = "inbox",
    security(("bearer" = []), ("api_key" = [])),
    params(ListQuery),
    responses((status = 200, body = Vec<ChatView>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody))
)]
pub async fn list_chats(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<Vec<ChatView>>, ApiError> {
    let before = query
        .before
        .as_deref()
        .map(|c| Cursor::parse(c).ok_or_else(|| ApiError::invalid_field("before", "must be a chat's cursor")))
        .transpose()?;
    let params = FilterParams {
        mode: query.mode,
        assignee: query.assignee.as_deref(),
        session: query.session.as_deref(),
        unread: query.unread,
        q: query.q.as_deref(),
        label: query.label,
    };
    let filter = chat_filter(&state, &principal, params).await?;
    Ok(Json(state.inbox.list(&chat_scope(&state, &principal).await?, &filter, before, query.limit).await?))
}

/// The chat list's filters as asked (`GET /chats/`, `GET /chats/export`).
pub struct FilterParams<'a> {
    pub mode: Option<ChatMode>,
    pub assignee: Option<&'a str>,
    pub session: Option<&'a str>,
    pub unread: Option<bool>,
    pub q: Option<&'a str>,
    pub label: Option<i64>,
}

/// The [`ChatFilter`] of `params`, for `principal`.
pub async fn chat_filter(
    state: &AppState,
    principal: &Principal,
    params: FilterParams<'_>,
) -> Result<ChatFilter, ApiError> {
    let assignee = match params.assignee {
        None | Some("all") => None,
        Some("me") => Some(Some(principal.user_id)),
        Some("unassigned") => Some(None),
        Some(id) => Some(Some(
            id.parse::<i64>()
                .map_err(|_| ApiError::invalid_field("assignee", "must be me, unassigned, all or a user id"))?,
        )),
    };
    Ok(ChatFilter {
        mode: params.mode,
        assignee,
        session: match params.session {
            // An admin's (or an agent's) name may be several accounts' sessions.
            Some(name) => {
                let mut scope = scope_of(principal);
                if principal.role == Role::Agent {
                    scope.owner = None;
                }
                Some(state.sessions.keys_named(&scope, name).await?)
            }
            None => None,
        },
        unread: params.unread.unwrap_or(false),
        q: params.q.map(|q| q.trim().to_owned()),
        label: params.label,
    })
}

#[derive(Debug, Deserialize, Validate, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct CountsQuery {
    /// Only chats with this label (its id).
    #[serde(default)]
    pub label: Option<i64>,
}

/// How many chats the caller sees: assigned to them, unassigned, all, with
/// unread messages, and by mode (with `label`: only those with it, as the
/// list with the same `label` shows them).
#[utoipa::path(
    get, path = "/chats/counts", tag = "inbox",
    security(("bearer" = []), ("api_key" = [])),
    params(CountsQuery),
    responses((status = 200, body = ChatCounts), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody))
)]
pub async fn chat_counts(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(query): ApiQuery<CountsQuery>,
) -> Result<Json<ChatCounts>, ApiError> {
    Ok(Json(state.inbox.counts(&chat_scope(&state, &principal).await?, principal.user_id, query.label).await?))
}

#[derive(Debug, Deserialize, Validate, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DetailQuery {
    /// Latest messages to include, 1–200 (default 50).
    #[serde(default = "super::common::default_limit")]
    #[validate(custom = limit_rule)]
    pub limit: u64,
}

/// A chat with the contact's profile and its latest messages, oldest first
/// (seed 004). Opening a chat subscribes the session to the contact's typing:
/// `presence.update` events on `/events` from then on.
#[utoipa::path(
    get, path = "/chats/{id}", tag = "inbox",
    security(("bearer" = []), ("api_key" = [])),
    params(("id" = i64, Path), DetailQuery),
    responses((status = 200, body = ChatDetail), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody))
)]
pub async fn get_chat(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(query): ApiQuery<DetailQuery>,
) -> Result<Json<ChatDetail>, ApiError> {
    let scope = chat_scope(&state, &principal).await?;
    let detail = state.inbox.detail(&scope, id, query.limit).await?;
    // Opened: the contact's typing is told from now on (`presence.update`).
    state.inbox.watch_presence(&state.inbox.chat(&scope, id).await?);
    Ok(Json(detail))
}

#[derive(Debug, Deserialize, Validate, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TimelineQuery {
    /// The `before` of the previous page (an entry id): messages older than it.
    #[serde(default)]
    pub before: Option<i64>,
    /// An entry id: the messages newer than it, oldest first (a chat opened at
    /// a search hit reads on with the page's `after`). Not with `before`.
    #[serde(default)]
    pub after: Option<i64>,
    #[serde(default = "super::common::default_limit")]
    #[validate(custom = limit_rule)]
    pub limit: u64,
}

/// A page of a chat's timeline, oldest first.
#[derive(Serialize, ToSchema)]
pub struct TimelinePage {
    pub data: Vec<EntryView>,
    /// Pass as `before` for the page older than this one; `null` at the start.
    pub before: Option<i64>,
    /// Asked with `after`: pass as `after` for the page newer than this one;
    /// `null` when it reaches the newest message (and when asked without `after`).
    pub after: Option<i64>,
}

/// Older messages of a chat (keyset paging by `before`).
#[utoipa::path(
    get, path = "/chats/{id}/messages", tag = "inbox",
    security(("bearer" = []), ("api_key" = [])),
    params(("id" = i64, Path), TimelineQuery),
    responses((status = 200, body = TimelinePage), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody))
)]
pub async fn chat_messages(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(query): ApiQuery<TimelineQuery>,
) -> Result<Json<TimelinePage>, ApiError> {
    state.inbox.chat(&chat_scope(&state, &principal).await?, id).await?;
    if let Some(after) = query.after {
        if query.before.is_some() {
            return Err(ApiError::invalid_field("after", "give before or after, not both"));
        }
        let (data, after) = state.inbox.timeline_after(id, after, query.limit).await?;
        let before = data.first().map(|e| e.id);
        return Ok(Json(TimelinePage { data, before, after }));
    }
    let (data, before) = state.inbox.timeline(id, query.before, query.limit).await?;
    Ok(Json(TimelinePage { data, before, after: None }))
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateChatRequest {
    #[validate(min_length = 1)]
    #[validate(max_length = 255)]
    pub customer_name: String,
    /// Any common spelling; normalised like every number.
    pub customer_phone: String,
    #[serde(default)]
    #[validate(max_length = 255)]
    pub customer_email: Option<String>,
    #[serde(default)]
    #[validate(max_length = 255)]
    pub customer_address: Option<String>,
    /// Only `WhatsApp`.
    #[serde(default)]
    pub channel: Option<String>,
    /// The session to write from; by default `notify.default_session`, else the
    /// caller's only session. Agents open chats on `notify.default_session` only.
    #[serde(default)]
    #[validate(custom = validation::optional_session_id)]
    pub session: Option<String>,
}

/// Opens a chat with a number so an agent can write first; the chat there is
/// already (same session and number) comes back as it is, with 200.
#[utoipa::path(
    post, path = "/chats/", tag = "inbox",
    security(("bearer" = []), ("api_key" = [])),
    request_body = CreateChatRequest,
    responses((status = 201, body = ChatView), (status = 200, description = "the chat there was", body = ChatView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody))
)]
pub async fn create_chat(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(req): ApiJson<CreateChatRequest>,
) -> Result<(StatusCode, Json<ChatView>), ApiError> {
    if req.channel.as_deref().is_some_and(|c| !c.eq_ignore_ascii_case("whatsapp")) {
        return Err(ApiError::invalid_field("channel", "only WhatsApp is supported"));
    }
    if req.customer_name.trim().is_empty() {
        return Err(ApiError::invalid_field("customer_name", "must not be empty"));
    }
    let phone = phone_field(&state, "customer_phone", &req.customer_phone)?;
    let row = if principal.role == Role::Agent {
        // Agents own no session: they write first from the gateway's default one.
        let default = &state.config.notify.default_session;
        let session = req.session.as_ref().unwrap_or(default);
        if default.is_empty() || session != default {
            return Err(ApiError::invalid_field("session", "agents open chats on notify.default_session only"));
        }
        state.sessions.get(&Scope::ALL, session).await.map_err(|_| ApiError::not_found("session"))?
    } else {
        let scope = scope_of(&principal);
        let session = match req.session {
            Some(id) => id,
            None => state.sessions.default_for(&scope, &state.config.notify.default_session).await?,
        };
        state.sessions.get(&scope, &session).await.map_err(|_| ApiError::not_found("session"))?
    };
    let session = row.id.clone();
    let (chat, created) = state
        .inbox
        .open(&session, row.user_id, &phone, req.customer_name.trim(), req.customer_email, req.customer_address)
        .await?;
    if !chat_scope(&state, &principal).await?.admits(&chat) {
        if !created {
            // Another agent's chat, or one nobody has: an agent sees neither,
            // and opening it takes nothing over.
            return Err(ApiError::not_found("chat"));
        }
        // An agent opened a new chat: it is theirs.
        let change = ChatChange { assigned_agent_id: Some(Some(principal.user_id)), ..Default::default() };
        let chat = state.inbox.update(chat, change).await?;
        let view = state.inbox.views(vec![chat]).await?.remove(0);
        return Ok((StatusCode::CREATED, Json(view)));
    }
    let view = state.inbox.views(vec![chat]).await?.remove(0);
    Ok((if created { StatusCode::CREATED } else { StatusCode::OK }, Json(view)))
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateChatRequest {
    #[serde(default)]
    pub mode: Option<ChatMode>,
    /// An agent's or admin's user id; `null` unassigns. Admins and the session's owner assign.
    #[serde(default, deserialize_with = "some_value")]
    #[schema(value_type = Option<i64>)]
    pub assigned_agent_id: Option<Option<i64>>,
    #[serde(default)]
    pub online: Option<bool>,
    /// With `assigned_agent_id` (a transfer): a private note for the team,
    /// kept in the timeline as the caller's (`POST /chats/{id}/notes`).
    #[serde(default)]
    pub note: Option<String>,
}

/// `Some(None)` for an explicit `null`, `None` when the field is left out.
fn some_value<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<i64>>, D::Error> {
    Ok(Some(Option::<i64>::deserialize(d)?))
}

/// Changes a chat's mode (`bot`, `agent`, `paused`, `closed`), its agent or its online flag.
#[utoipa::path(
    patch, path = "/chats/{id}", tag = "inbox",
    security(("bearer" = []), ("api_key" = [])),
    params(("id" = i64, Path)),
    request_body = UpdateChatRequest,
    responses((status = 200, body = ChatView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody))
)]
pub async fn update_chat(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<UpdateChatRequest>,
) -> Result<Json<ChatView>, ApiError> {
    let note = match req.note {
        Some(_) if !matches!(req.assigned_agent_id, Some(Some(_))) => {
            return Err(ApiError::invalid_field("note", "goes with a transfer: set assigned_agent_id too"));
        }
        Some(text) => Some(
            validation::check_text(&text, MAX_NOTE_CHARS)
                .map(|()| text)
                .map_err(|m| ApiError::invalid_field("note", m))?,
        ),
        None => None,
    };
    let chat = state.inbox.chat(&chat_scope(&state, &principal).await?, id).await?;
    // The transfer and its note commit together.
    let note = note.map(|text| (principal.user_id, text));
    let change = ChatChange { mode: req.mode, assigned_agent_id: req.assigned_agent_id, online: req.online, note };
    let chat = state.inbox.change_by(principal.role, chat, change).await?;
    Ok(Json(state.inbox.views(vec![chat]).await?.remove(0)))
}

#[derive(Serialize, ToSchema)]
pub struct ReadView {
    pub chat_id: i64,
    /// Messages marked read now.
    pub read: usize,
    pub unread: i32,
}

/// Marks a chat read: unread to 0, and read receipts to WhatsApp for the
/// messages it covers (unless `inbox.read_receipts` is off).
#[utoipa::path(
    post, path = "/chats/{id}/read", tag = "inbox",
    security(("bearer" = []), ("api_key" = [])),
    params(("id" = i64, Path)),
    responses((status = 200, body = ReadView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody))
)]
pub async fn read_chat(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<ReadView>, ApiError> {
    let chat = state.inbox.chat(&chat_scope(&state, &principal).await?, id).await?;
    let read = state.inbox.mark_read(&chat).await?;
    Ok(Json(ReadView { chat_id: id, read, unread: 0 }))
}

/// The longest private note, in characters.
pub const MAX_NOTE_CHARS: usize = 4096;

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteRequest {
    /// 1-4,096 characters.
    pub text: String,
}

/// The note as a timeline entry.
#[derive(Serialize, ToSchema)]
pub struct NoteView {
    #[serde(flatten)]
    pub entry: EntryView,
    pub chat_id: i64,
}

/// A private note on the chat: a timeline entry (`sender` and `type`
/// `note`, with its author) that the team sees and WhatsApp never does. It
/// changes neither the chat's order nor its unread count.
#[utoipa::path(
    post, path = "/chats/{id}/notes", tag = "inbox",
    security(("bearer" = []), ("api_key" = [])),
    params(("id" = i64, Path)),
    request_body = NoteRequest,
    responses(
        (status = 201, description = "the note, kept", body = NoteView),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
pub async fn add_note(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<NoteRequest>,
) -> Result<(StatusCode, Json<NoteView>), ApiError> {
    validation::check_text(&req.text, MAX_NOTE_CHARS).map_err(|e| ApiError::invalid_field("text", e))?;
    let chat = state.inbox.chat(&chat_scope(&state, &principal).await?, id).await?;
    let entry = state.inbox.add_note(&chat, principal.user_id, req.text).await?;
    Ok((StatusCode::CREATED, Json(NoteView { entry, chat_id: chat.id })))
}

/// What the contact is shown.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TypingState {
    /// "typing…"
    Composing,
    /// "recording audio…"
    Recording,
    /// Nothing any more.
    Paused,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TypingRequest {
    pub state: TypingState,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TypingView {
    pub chat_id: i64,
    pub state: TypingState,
}

/// Shows the contact that someone is typing (or recording a voice note) in
/// the chat, or that they stopped. WhatsApp shows it for a while by itself;
/// send `paused` when the agent stops before sending.
#[utoipa::path(
    post, path = "/chats/{id}/typing", tag = "inbox",
    security(("bearer" = []), ("api_key" = [])),
    params(("id" = i64, Path)),
    request_body = TypingRequest,
    responses(
        (status = 200, body = TypingView),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "the chat's session is not connected", body = ErrorBody),
        (status = 422, body = ErrorBody),
        (status = 503, description = "WhatsApp could not be told", body = ErrorBody),
    )
)]
pub async fn typing(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<TypingRequest>,
) -> Result<Json<TypingView>, ApiError> {
    use crate::engine::Typing;
    let chat = state.inbox.chat(&chat_scope(&state, &principal).await?, id).await?;
    let Some(sender) = state.inbox.sender_of(&chat.session_id) else {
        let message = "the chat's session is not connected";
        return Err(ApiError::new(StatusCode::CONFLICT, "session_offline", message));
    };
    let shown = match req.state {
        TypingState::Composing => Typing::Composing,
        TypingState::Recording => Typing::Recording,
        TypingState::Paused => Typing::Paused,
    };
    sender.typing(&chat.contact, shown).await.map_err(|e| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "whatsapp_unavailable",
            format!("WhatsApp could not be told: {e:#}"),
        )
    })?;
    Ok(Json(TypingView { chat_id: id, state: req.state }))
}

/// A message's media, with its type and file name: a received one once
/// downloaded, a sent one as it was sent; each kept for `inbox.media_retention`.
#[utoipa::path(
    get, path = "/chats/{id}/messages/{message_id}/media", tag = "inbox",
    security(("bearer" = []), ("api_key" = [])),
    params(("id" = i64, Path), ("message_id" = i64, Path, description = "the timeline entry's id")),
    responses(
        (status = 200, description = "the file", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "not downloaded (yet), failed or expired", body = ErrorBody),
    )
)]
pub async fn chat_media(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath((id, entry_id)): ApiPath<(i64, i64)>,
) -> Result<Response, ApiError> {
    use sea_orm::EntityTrait;
    state.inbox.chat(&chat_scope(&state, &principal).await?, id).await?;
    let entry = entries::Entity::find_by_id(entry_id)
        .one(&state.db)
        .await?
        .filter(|e| e.chat_id == id)
        .ok_or_else(|| ApiError::not_found("message"))?;
    let unavailable = |why| ApiError::conflict("media_unavailable", why);
    let (file, length, mimetype, name) = match (entry.inbound_id, entry.message_id.as_deref()) {
        (Some(inbound_id), _) => {
            let row = inbound::Entity::find_by_id(inbound_id)
                .one(&state.db)
                .await?
                .ok_or_else(|| ApiError::not_found("message"))?;
            let (file, length) = state.inbox.media_file(&row).await.map_err(unavailable)?;
            let name = row.filename.clone().unwrap_or_else(|| format!("{}-{}", row.kind, row.id));
            (file, length, row.mimetype, name)
        }
        // Sent: kept for the chat until `inbox.media_retention`.
        (None, Some(id)) => {
            use crate::db::entities::messages;
            let row = messages::Entity::find_by_id(id.to_owned())
                .one(&state.db)
                .await?
                .filter(|m| m.media_size.is_some())
                .ok_or_else(|| unavailable("this message has no media".into()))?;
            let (file, length) = state.inbox.sent_media_file(id).await.map_err(unavailable)?;
            let name = row.filename.clone().unwrap_or_else(|| format!("{}-{}", row.kind, row.id));
            (file, length, row.mimetype, name)
        }
        (None, None) => return Err(unavailable("this message has no media".into())),
    };
    let mimetype = mimetype.unwrap_or_else(|| "application/octet-stream".into());
    let mut response = Response::new(Body::from_stream(file_chunks(file)));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(&mimetype).unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    // The type is the sender's word: a browser must not guess another, nor run what it opens.
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("sandbox; default-src 'none'"));
    let ascii: String =
        name.chars().map(|c| if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' { c } else { '_' }).collect();
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{ascii}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}

/// `file`, 64 KiB at a time, read only as the client takes them.
fn file_chunks(
    mut file: tokio::fs::File,
) -> impl futures_util::Stream<Item = Result<bytes::Bytes, std::io::Error>> + Send + 'static {
    use std::task::Poll;
    let mut buf = vec![0u8; 64 * 1024];
    futures_util::stream::poll_fn(move |cx| {
        let mut read = tokio::io::ReadBuf::new(&mut buf);
        match tokio::io::AsyncRead::poll_read(std::pin::Pin::new(&mut file), cx, &mut read) {
            Poll::Ready(Ok(())) if read.filled().is_empty() => Poll::Ready(None),
            Poll::Ready(Ok(())) => Poll::Ready(Some(Ok(bytes::Bytes::copy_from_slice(read.filled())))),
            Poll::Ready(Err(e)) => Poll::Ready(Some(Err(e))),
            Poll::Pending => Poll::Pending,
        }
    })
}

#[derive(Debug, Deserialize, Validate, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ReceivedQuery {
    /// Only this session's.
    #[serde(default)]
    #[validate(custom = validation::optional_session_id)]
    pub session: Option<String>,
    /// Only this WhatsApp chat, e.g. `628123456789@s.whatsapp.net` or `1203…@g.us`.
    #[serde(default)]
    #[validate(max_length = 128)]
    pub chat: Option<String>,
    /// The `id` of the last message of the previous page.
    #[serde(default)]
    pub before: Option<i64>,
    #[serde(default = "super::common::default_limit")]
    #[validate(custom = limit_rule)]
    pub limit: u64,
}

/// Messages WhatsApp delivered to the caller's sessions, newest first: 1:1
/// chats, groups, status updates and newsletters alike.
#[utoipa::path(
    get, path = "/message/received", tag = "messages",
    security(("bearer" = []), ("api_key" = [])),
    params(ReceivedQuery),
    responses((status = 200, body = Data<Vec<ReceivedView>>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody))
)]
pub async fn list_received(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(query): ApiQuery<ReceivedQuery>,
) -> Result<Json<Data<Vec<ReceivedView>>>, ApiError> {
    let scope = scope_of(&principal);
    let sessions: Option<Vec<SessionKey>> =
        if scope.is_everyone() { None } else { Some(state.sessions.keys_with_deleted(&scope).await?) };
    let session = match query.session.as_deref() {
        Some(name) => Some(state.sessions.get(&scope, name).await?.id),
        None => None,
    };
    let data = state
        .inbox
        .received(sessions.as_deref(), session.as_ref(), query.chat.as_deref(), query.before, query.limit)
        .await?;
    Ok(Json(Data { data }))
}
