//! `/message/*` (seed 003): queue text, image and document messages (the
//! other kinds: [`super::sends`]), follow their status, see and clear a
//! session's queue; and a session's send limits.
//! A send answers 202 once the message is durably queued; the same
//! `Idempotency-Key` gives back the same message.

use axum::{
    Json,
    extract::State,
    http::{HeaderMap, StatusCode},
};
use serde::{Deserialize, Serialize};
use serde_valid::Validate;
use utoipa::{IntoParams, ToSchema};

use super::{
    Data, Page,
    common::{phone_field, scope_of},
    extract::{ApiJson, ApiPath, ApiQuery, Form, JsonOrForm},
    idempotency::{self, Accepted, hash_of},
    media::{content, form_media},
};
use crate::{
    auth::Principal,
    db::entities::sessions,
    error::{ApiError, ErrorBody},
    http::state::AppState,
    model::MessageStatus,
    queue::{
        Content, Limits, LimitsOverride, MAX_TEXT_CHARS, MessageView, QueueError, QueueStatus, Submit,
        attachment::{CheckedMedia, Kind, MediaRequest, Source},
        content::{Mentions, Quote},
        store::Filter,
    },
    validation,
};

impl From<QueueError> for ApiError {
    fn from(err: QueueError) -> Self {
        let message = err.to_string();
        match err {
            QueueError::KeyReused => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "idempotency_key_reused", message)
                .with_field("Idempotency-Key"),
            QueueError::NotFound => ApiError::not_found("message"),
            QueueError::Db(e) => e.into(),
            QueueError::Other(e) => e.into(),
        }
    }
}

fn text_rule(value: &str) -> Result<(), serde_valid::validation::Error> {
    validation::check_text(value, MAX_TEXT_CHARS).map_err(serde_valid::validation::Error::Custom)
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendTextRequest {
    /// The session to send from.
    #[validate(custom = validation::session_id)]
    pub session: String,
    /// The recipient's number, in any common spelling (`08…`, `+62 …`, `62…`),
    /// or a group the session is in (`<id>@g.us`).
    pub to: String,
    /// 1–65,536 characters.
    #[validate(custom = text_rule)]
    pub text: String,
    /// The id of a message in the same chat (sent or received) this one answers.
    #[serde(default)]
    pub quoted: Option<String>,
    /// In a group: the participants it mentions (numbers; write `@<number>`
    /// in the text where each should show).
    #[serde(default)]
    pub mentions: Option<Vec<String>>,
    /// In a group: mention everyone in it (as it is when the message goes out).
    #[serde(default, rename = "mentionAll")]
    pub mention_all: Option<bool>,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendImageRequest {
    #[validate(custom = validation::session_id)]
    pub session: String,
    pub to: String,
    /// An http(s) URL of a JPEG or PNG image. Or send the request as
    /// `multipart/form-data` with the file in the `image` part.
    pub image: String,
    #[serde(default)]
    pub caption: Option<String>,
    /// The id of a message in the same chat (sent or received) this one answers.
    #[serde(default)]
    pub quoted: Option<String>,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendDocumentRequest {
    #[validate(custom = validation::session_id)]
    pub session: String,
    pub to: String,
    /// An http(s) URL of the file. Or send the request as
    /// `multipart/form-data` with the file in the `document` part.
    pub document: String,
    /// The name the recipient sees; by default the URL's or upload's file name.
    #[serde(default)]
    pub filename: Option<String>,
    /// By default the server's or upload's type, else guessed from the file name.
    #[serde(default)]
    pub mimetype: Option<String>,
    #[serde(default)]
    pub caption: Option<String>,
    /// The id of a message in the same chat (sent or received) this one answers.
    #[serde(default)]
    pub quoted: Option<String>,
}

/// A recipient: a phone number, a user JID `…@s.whatsapp.net`, or a group JID `<id>@g.us`.
pub(super) fn recipient(state: &AppState, raw: &str) -> Result<String, ApiError> {
    let raw = raw.trim();
    if raw.ends_with("@g.us") {
        return validation::group_jid(raw)
            .ok_or_else(|| ApiError::invalid_field("to", "not a group JID (<digits>@g.us)"));
    }
    let number = raw.strip_suffix("@s.whatsapp.net").unwrap_or(raw);
    if number.contains('@') {
        return Err(ApiError::invalid_field(
            "to",
            "only phone numbers, user JIDs (…@s.whatsapp.net) and group JIDs (…@g.us) are supported",
        ));
    }
    phone_field(state, "to", number)
}

/// A text's mentions: numbers (each once, at most 1,024) or everyone, only
/// in a group.
pub(super) fn mentions_of(
    state: &AppState,
    to: &str,
    listed: Option<&[String]>,
    all: Option<bool>,
) -> Result<Option<Mentions>, ApiError> {
    let all = all.unwrap_or(false);
    let listed = listed.unwrap_or_default();
    if listed.is_empty() && !all {
        return Ok(None);
    }
    let field = if all { "mentionAll" } else { "mentions" };
    if !crate::model::is_group(to) {
        return Err(ApiError::invalid_field(field, "mentions are for messages to a group (to: <id>@g.us)"));
    }
    if listed.len() > super::groups::MAX_PARTICIPANTS {
        let most = super::groups::MAX_PARTICIPANTS;
        return Err(ApiError::invalid_field("mentions", format!("must hold at most {most} numbers")));
    }
    let mut mentions: Vec<String> = Vec::with_capacity(listed.len());
    for (i, raw) in listed.iter().enumerate() {
        let phone = phone_field(state, &format!("mentions[{i}]"), raw)?;
        if !mentions.contains(&phone) {
            mentions.push(phone);
        }
    }
    Ok(Some(Mentions { mentions, all }))
}

/// A queued message (202).
pub(super) type Sent = Accepted<Data<MessageView>>;

/// What a send may carry besides its content: the message it answers, and
/// (a text to a group) who it mentions.
#[derive(Default)]
pub(super) struct Extras {
    pub quoted: Option<String>,
    pub mentions: Option<Mentions>,
}

/// What every send shares: scope, idempotency, then queueing.
#[allow(clippy::too_many_arguments)]
pub(super) async fn queue(
    state: &AppState,
    principal: &Principal,
    session: &str,
    to: String,
    quoted: Option<String>,
    key: Option<String>,
    request_hash: String,
    content: impl AsyncFnOnce() -> Result<Content, ApiError>,
) -> Result<Sent, ApiError> {
    let extras = Extras { quoted, mentions: None };
    queue_with(state, principal, session, to, extras, key, request_hash, content).await
}

/// [`queue`], with mentions.
#[allow(clippy::too_many_arguments)]
pub(super) async fn queue_with(
    state: &AppState,
    principal: &Principal,
    session: &str,
    to: String,
    extras: Extras,
    key: Option<String>,
    request_hash: String,
    content: impl AsyncFnOnce() -> Result<Content, ApiError>,
) -> Result<Sent, ApiError> {
    let Extras { quoted, mentions } = extras;
    let scope = scope_of(principal);
    let row = state.sessions.get(&scope, session).await?;
    // A retry gets its message back even if the session went offline since.
    if let Some(key) = &key
        && let Some(existing) = state.queue.replay(principal.user_id, key, &request_hash).await?
    {
        return Ok(Accepted { body: Data { data: existing }, replayed: true });
    }
    crate::sessions::sendable(&row)?;
    let quoted = match quoted {
        Some(id) => Some(quote(state, &row, &to, &id).await?),
        None => None,
    };
    let content = content().await?;
    let submit = Submit {
        user_id: principal.user_id,
        session: row.id.clone(),
        to,
        content,
        idempotency_key: key,
        request_hash,
        origin: crate::model::Origin::Api,
        agent_id: None,
        quoted,
        mentions,
    };
    let (view, created) = state.queue.submit(submit).await?;
    Ok(Accepted { body: Data { data: view }, replayed: !created })
}

/// The message `id` in `row`'s chat with `to`, as a reply to it shows it,
/// and whether the session sent it (else it received it).
pub(super) async fn in_chat(
    state: &AppState,
    row: &sessions::Model,
    to: &str,
    id: &str,
) -> Result<Option<(Quote, bool)>, ApiError> {
    let own = format!("{}@s.whatsapp.net", row.phone_number.as_deref().unwrap_or_default());
    if let Some(quote) = state.queue.quote(&row.id, to, id, &own).await? {
        return Ok(Some((quote, true)));
    }
    Ok(state.inbox.quote(&row.id, to, id).await?.map(|quote| (quote, false)))
}

/// Adds a reply's `quoted` id to what identifies a request (for
/// `Idempotency-Key`); a request without one is identified as before replies existed.
pub(super) fn with_quoted(request: &mut serde_json::Value, quoted: &Option<String>) {
    if let Some(id) = quoted {
        request["quoted"] = id.clone().into();
    }
}

/// The message a reply quotes; 422 naming `quoted` when the chat has none of that id.
async fn quote(state: &AppState, row: &sessions::Model, to: &str, id: &str) -> Result<Quote, ApiError> {
    match in_chat(state, row, to, id).await? {
        Some((quote, _)) => Ok(quote),
        None => Err(ApiError::invalid_field("quoted", "no message with this id in this chat")),
    }
}

/// Queue a text message.
#[utoipa::path(
    post, path = "/message/send-text", tag = "messages",
    security(("bearer" = []), ("api_key" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "the same key gives back the same message")),
    request_body = SendTextRequest,
    responses(
        (status = 202, description = "durably queued", body = Data<MessageView>),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, description = "no such session", body = ErrorBody),
        (status = 409, description = "the session is not linked", body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
pub async fn send_text(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    ApiJson(req): ApiJson<SendTextRequest>,
) -> Result<Sent, ApiError> {
    let to = recipient(&state, &req.to)?;
    let mentions = mentions_of(&state, &to, req.mentions.as_deref(), req.mention_all)?;
    let key = idempotency::key(&headers)?;
    let mut request = serde_json::json!({"kind": "text", "session": req.session, "to": to, "text": req.text});
    with_quoted(&mut request, &req.quoted);
    // A request without mentions is identified as before groups existed.
    if let Some(m) = &mentions {
        request["mentions"] = serde_json::json!(m);
    }
    let hash = hash_of(request);
    let text = req.text;
    let extras = Extras { quoted: req.quoted, mentions };
    queue_with(&state, &principal, &req.session, to, extras, key, hash, async || Ok(Content::Text(text))).await
}

/// Queue an image (JPEG or PNG) by URL or upload, with an optional caption.
#[utoipa::path(
    post, path = "/message/send-image", tag = "messages",
    security(("bearer" = []), ("api_key" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "the same key gives back the same message")),
    request_body(content = SendImageRequest, description = "JSON with an image URL, or multipart/form-data with the file in `image`"),
    responses(
        (status = 202, description = "durably queued", body = Data<MessageView>),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 413, body = ErrorBody), (status = 422, body = ErrorBody),
    )
)]
pub async fn send_image(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    body: JsonOrForm<SendImageRequest>,
) -> Result<Sent, ApiError> {
    let send = match body {
        JsonOrForm::Json(r) => {
            let req = MediaRequest { caption: r.caption, ..MediaRequest::of(Source::Url(r.image)) };
            MediaSend { session: r.session, to: r.to, quoted: r.quoted, req }
        }
        JsonOrForm::Form(form) => from_form(form, Kind::Image)?,
    };
    send_media(state, principal, headers, send, Kind::Image).await
}

/// Queue a document by URL or upload, with its file name.
#[utoipa::path(
    post, path = "/message/send-document", tag = "messages",
    security(("bearer" = []), ("api_key" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "the same key gives back the same message")),
    request_body(content = SendDocumentRequest, description = "JSON with a document URL, or multipart/form-data with the file in `document`"),
    responses(
        (status = 202, description = "durably queued", body = Data<MessageView>),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 413, body = ErrorBody), (status = 422, body = ErrorBody),
    )
)]
pub async fn send_document(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    body: JsonOrForm<SendDocumentRequest>,
) -> Result<Sent, ApiError> {
    let send = match body {
        JsonOrForm::Json(r) => {
            let req = MediaRequest {
                caption: r.caption,
                filename: r.filename,
                mimetype: r.mimetype,
                ..MediaRequest::of(Source::Url(r.document))
            };
            MediaSend { session: r.session, to: r.to, quoted: r.quoted, req }
        }
        JsonOrForm::Form(form) => from_form(form, Kind::Document)?,
    };
    send_media(state, principal, headers, send, Kind::Document).await
}

/// A media send, from JSON or a form.
pub(super) struct MediaSend {
    pub session: String,
    pub to: String,
    pub quoted: Option<String>,
    pub req: MediaRequest,
}

/// `/message/send-*`'s form: session, to, quoted, and the media.
pub(super) fn from_form(form: Form, kind: Kind) -> Result<MediaSend, ApiError> {
    let (values, mut optional, req) = form_media(form, kind, &["session", "to"], &["quoted"])?;
    let [session, to]: [String; 2] = values.try_into().expect("two required fields");
    validation::session_id(&session).map_err(|e| ApiError::invalid_field("session", e.to_string()))?;
    Ok(MediaSend { session, to, quoted: optional.remove("quoted"), req })
}

pub(super) async fn send_media(
    state: AppState,
    principal: Principal,
    headers: HeaderMap,
    send: MediaSend,
    kind: Kind,
) -> Result<Sent, ApiError> {
    let MediaSend { session, to, quoted, req } = send;
    let to = recipient(&state, &to)?;
    let key = idempotency::key(&headers)?;
    let media = CheckedMedia::check(req, kind, &state.config.media)?;
    let mut request = media.identity.clone();
    request["kind"] = kind.field().into();
    request["session"] = session.clone().into();
    request["to"] = to.clone().into();
    with_quoted(&mut request, &quoted);
    let hash = hash_of(request);
    let (slots, account) = (state.clone(), principal.user_id);
    let content = async move || content(&slots, media, account).await;
    queue(&state, &principal, &session, to, quoted, key, hash, content).await
}

/// A message, with every status it went through.
#[utoipa::path(
    get, path = "/message/{id}", tag = "messages",
    security(("bearer" = []), ("api_key" = [])),
    params(("id" = String, Path)),
    responses(
        (status = 200, body = Data<MessageView>),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    )
)]
pub async fn get_message(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Data<MessageView>>, ApiError> {
    let (view, session) = state.queue.get(&id).await?;
    // Visible to whoever may see its session, also once that is deleted.
    let owner = state.sessions.owner_of(&session).await?;
    if !owner.is_some_and(|owner| scope_of(&principal).admits_session(owner, &session)) {
        return Err(ApiError::not_found("message"));
    }
    Ok(Json(Data { data: view }))
}

#[derive(Debug, Deserialize, Validate, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Only this session's.
    #[serde(default)]
    #[validate(custom = validation::optional_session_id)]
    pub session: Option<String>,
    /// Only messages in this status.
    #[serde(default)]
    pub status: Option<MessageStatus>,
    /// Only messages to this number.
    #[serde(default)]
    pub to: Option<String>,
    /// 1–1,000,000.
    #[serde(default = "super::common::first_page")]
    #[validate(minimum = 1)]
    #[validate(maximum = 1000000)]
    pub page: u64,
    /// 1–200.
    #[serde(default = "super::common::default_limit")]
    #[validate(minimum = 1)]
    #[validate(maximum = 200)]
    pub limit: u64,
}

/// The caller's messages, newest first, a page at a time.
#[utoipa::path(
    get, path = "/message/list", tag = "messages",
    security(("bearer" = []), ("api_key" = [])),
    params(ListQuery),
    responses((status = 200, body = Page<MessageView>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody))
)]
pub async fn list_messages(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<Page<MessageView>>, ApiError> {
    let scope = scope_of(&principal);
    let sessions = if scope.is_everyone() { None } else { Some(state.sessions.keys_with_deleted(&scope).await?) };
    let to = query.to.as_deref().map(|raw| recipient(&state, raw)).transpose()?;
    let session = match query.session.as_deref() {
        Some(name) => Some(state.sessions.keys_named(&scope, name).await?),
        None => None,
    };
    let filter = Filter { sessions, session, status: query.status, to };
    let (data, total) = state.queue.list(&filter, query.page, query.limit).await?;
    Ok(Json(Page { data, page: query.page, limit: query.limit, total }))
}

#[derive(Debug, Deserialize, Validate, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SessionQuery {
    #[validate(custom = validation::session_id)]
    pub session: String,
}

/// A session's queue: waiting, in flight, done and failed messages.
#[utoipa::path(
    get, path = "/message/queue-status", tag = "messages",
    security(("bearer" = []), ("api_key" = [])),
    params(SessionQuery),
    responses(
        (status = 200, body = QueueStatus),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
pub async fn queue_status(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(query): ApiQuery<SessionQuery>,
) -> Result<Json<QueueStatus>, ApiError> {
    let row = state.sessions.get(&scope_of(&principal), &query.session).await?;
    Ok(Json(state.queue.status(&row.id).await?))
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClearQueueRequest {
    #[validate(custom = validation::session_id)]
    pub session: String,
}

#[derive(Serialize, ToSchema)]
pub struct Cleared {
    pub session: String,
    /// Messages taken out of the queue (they end `failed`, reason "removed from the queue").
    pub cleared: u64,
}

/// Takes a session's waiting messages out of its queue; those already sent to
/// WhatsApp finish as they will.
#[utoipa::path(
    post, path = "/message/clear-queue", tag = "messages",
    security(("bearer" = []), ("api_key" = [])),
    request_body = ClearQueueRequest,
    responses(
        (status = 200, body = Data<Cleared>),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
pub async fn clear_queue(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(req): ApiJson<ClearQueueRequest>,
) -> Result<Json<Data<Cleared>>, ApiError> {
    let row = state.sessions.get(&scope_of(&principal), &req.session).await?;
    let cleared = state.queue.clear(&row.id).await?;
    Ok(Json(Data { data: Cleared { session: req.session, cleared } }))
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LimitsView {
    pub session_id: String,
    /// What the session sends under now.
    pub limits: Limits,
    /// The session's own settings; the rest follows `[limits]` in the config.
    pub overrides: LimitsOverride,
}

/// The send limits of a session.
#[utoipa::path(
    get, path = "/session/{sessionId}/limits", tag = "sessions",
    security(("bearer" = []), ("api_key" = [])),
    params(("sessionId" = String, Path)),
    responses(
        (status = 200, body = Data<LimitsView>),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    )
)]
pub async fn get_limits(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Data<LimitsView>>, ApiError> {
    let row = state.sessions.get(&scope_of(&principal), &id).await?;
    let limits = state.queue.limits(&row.id).await?;
    let overrides = state.queue.overrides(&row.id).await?;
    Ok(Json(Data { data: LimitsView { session_id: id, limits, overrides } }))
}

/// Sets a session's own send limits (every one left out follows the config;
/// `{}` goes back to the config entirely). 0 turns a count limit off.
#[utoipa::path(
    put, path = "/session/{sessionId}/limits", tag = "sessions",
    security(("bearer" = []), ("api_key" = [])),
    params(("sessionId" = String, Path)),
    request_body = LimitsOverride,
    responses(
        (status = 200, body = Data<LimitsView>),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
pub async fn set_limits(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
    ApiJson(overrides): ApiJson<LimitsOverride>,
) -> Result<Json<Data<LimitsView>>, ApiError> {
    let row = state.sessions.get(&scope_of(&principal), &id).await?;
    overrides.check(&state.config.limits).map_err(|(field, message)| ApiError::invalid_field(field, message))?;
    let limits = state.queue.set_overrides(&row.id, &overrides).await?;
    Ok(Json(Data { data: LimitsView { session_id: id, limits, overrides } }))
}
