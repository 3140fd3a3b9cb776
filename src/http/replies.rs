//! What an agent does in a chat (`/chats/messages`, `/chats/{id}/messages/{entry}/*`):
//! reply with any kind of message (text, image, video, audio, voice note,
//! sticker, document, location, contact cards), quoting one of the chat's
//! messages; react to a message; edit or delete one the session sent. All go
//! through the send queue as the agent's, like the API's sends and changes.

use axum::{
    extract::State,
    http::HeaderMap,
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use serde_valid::Validate;
use utoipa::ToSchema;

use super::{
    Data,
    changes::{self, Actor, EditRequest},
    common::chat_scope,
    extract::{ApiJson, ApiPath, JsonOrForm},
    idempotency::{self, Accepted, hash_of},
    media::{self, form_media},
    messages::{Sent, in_chat, mentions_of, with_quoted},
    sends::{ContactInput, card},
};
use crate::{
    auth::Principal,
    db::entities::{chat_entries as entries, chats, inbound_messages as inbound},
    error::{ApiError, ErrorBody},
    http::state::AppState,
    inbox::{EntryView, Reply},
    queue::{
        Content, MAX_TEXT_CHARS,
        attachment::{CheckedMedia, Kind, MediaRequest, Source},
        content::{Card, Location, MAX_CARDS, Reaction, is_one_emoji},
    },
    validation,
};

/// The kinds of media a reply may carry, by the field that holds them.
const MEDIA: [Kind; 6] = [Kind::Image, Kind::Video, Kind::Audio, Kind::Voice, Kind::Sticker, Kind::Document];

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChatMessageRequest {
    pub chat_id: i64,
    /// 1–65,536 characters. Or one of the kinds below instead.
    #[serde(default)]
    pub text: Option<String>,
    /// An http(s) URL of a JPEG or PNG image (or, as `multipart/form-data`, the file in `image`).
    #[serde(default)]
    pub image: Option<String>,
    /// An http(s) URL of an MP4 video (or the file in `video`).
    #[serde(default)]
    pub video: Option<String>,
    /// An http(s) URL of an audio file, played as a file (or the file in `audio`).
    #[serde(default)]
    pub audio: Option<String>,
    /// An http(s) URL of an Ogg/Opus voice note (or the file in `voice`).
    #[serde(default)]
    pub voice: Option<String>,
    /// An http(s) URL of a WebP sticker (or the file in `sticker`).
    #[serde(default)]
    pub sticker: Option<String>,
    /// An http(s) URL of a file (or the file in `document`).
    #[serde(default)]
    pub document: Option<String>,
    /// A place on the map.
    #[serde(default)]
    pub location: Option<Location>,
    /// 1–20 contact cards.
    #[serde(default)]
    pub contacts: Option<Vec<ContactInput>>,
    /// An image's, video's or document's caption.
    #[serde(default)]
    pub caption: Option<String>,
    #[serde(default)]
    pub filename: Option<String>,
    #[serde(default)]
    pub mimetype: Option<String>,
    /// The WhatsApp id (`message_id`) of a message of this chat the reply answers.
    #[serde(default)]
    pub quoted: Option<String>,
    /// `agent` (the default): a person answering from the inbox.
    #[serde(default)]
    pub sender: Option<String>,
    /// A text to a group chat: the participants (numbers) it mentions.
    #[serde(default)]
    pub mentions: Option<Vec<String>>,
    /// A text to a group chat: mention every participant.
    #[serde(default, rename = "mentionAll")]
    pub mention_all: Option<bool>,
}

/// The reply as a timeline entry.
#[derive(Serialize, ToSchema)]
pub struct ReplyView {
    #[serde(flatten)]
    pub entry: EntryView,
    pub chat_id: i64,
}

/// What a reply carries, checked.
enum ReplyContent {
    Text(String),
    Media(Box<CheckedMedia>, Kind),
    Location(Location),
    Contacts(Vec<Card>),
}

impl ReplyContent {
    /// What identifies the request (for `Idempotency-Key`); a text, image or
    /// document is identified as before the other kinds existed.
    fn identity(&self) -> serde_json::Value {
        match self {
            ReplyContent::Text(text) => serde_json::json!({"text": text}),
            ReplyContent::Media(media, kind) => serde_json::json!({"kind": kind.field(), "media": media.identity}),
            ReplyContent::Location(place) => serde_json::json!({"kind": "location", "location": place}),
            ReplyContent::Contacts(cards) => serde_json::json!({"kind": "contact", "contacts": cards}),
        }
    }
}

/// A reply as read from JSON or a form.
struct Parsed {
    chat_id: i64,
    sender: Option<String>,
    quoted: Option<String>,
    content: ReplyContent,
    /// Who a text mentions (checked against the chat once it is known).
    mentions: Option<Vec<String>>,
    mention_all: Option<bool>,
}

/// The chat, sender, quote and content of a reply, from JSON or a form.
fn reply_of(state: &AppState, body: JsonOrForm<ChatMessageRequest>) -> Result<Parsed, ApiError> {
    match body {
        JsonOrForm::Json(r) => {
            let urls = [&r.image, &r.video, &r.audio, &r.voice, &r.sticker, &r.document];
            let mut given: Vec<&str> =
                MEDIA.iter().zip(urls).filter(|(_, url)| url.is_some()).map(|(kind, _)| kind.field()).collect();
            for (name, set) in
                [("text", r.text.is_some()), ("location", r.location.is_some()), ("contacts", r.contacts.is_some())]
            {
                if set {
                    given.push(name);
                }
            }
            let field = match given.as_slice() {
                [] => return Err(ApiError::invalid_field("text", "is required (or one of the other kinds)")),
                [one] => *one,
                [_, second, ..] => {
                    let message =
                        "give one of text, image, video, audio, voice, sticker, document, location and contacts";
                    return Err(ApiError::invalid_field(*second, message));
                }
            };
            let media = MEDIA.iter().copied().find(|k| k.field() == field);
            if r.caption.is_some() && !media.is_some_and(Kind::has_caption) {
                return Err(ApiError::invalid_field("caption", "only images, videos and documents have a caption"));
            }
            if (r.filename.is_some() || r.mimetype.is_some()) && media != Some(Kind::Document) {
                return Err(ApiError::invalid_field("filename", "only documents have a file name and type"));
            }
            if field != "text" {
                for (name, set) in [("mentions", r.mentions.is_some()), ("mentionAll", r.mention_all.is_some())] {
                    if set {
                        return Err(ApiError::invalid_field(name, "only a text mentions participants"));
                    }
                }
            }
            let content = match (field, media) {
                ("text", _) => {
                    let text = r.text.unwrap_or_default();
                    validation::check_text(&text, MAX_TEXT_CHARS).map_err(|e| ApiError::invalid_field("text", e))?;
                    ReplyContent::Text(text)
                }
                ("location", _) => {
                    let place = r.location.expect("given");
                    place.check().map_err(|(f, message)| ApiError::invalid_field(format!("location.{f}"), message))?;
                    ReplyContent::Location(place)
                }
                ("contacts", _) => {
                    let inputs = r.contacts.unwrap_or_default();
                    if inputs.is_empty() || inputs.len() > MAX_CARDS {
                        return Err(ApiError::invalid_field("contacts", format!("must hold 1 to {MAX_CARDS} cards")));
                    }
                    let cards = inputs.iter().enumerate().map(|(i, c)| card(state, i, c)).collect::<Result<_, _>>()?;
                    ReplyContent::Contacts(cards)
                }
                (_, Some(kind)) => {
                    let url = [r.image, r.video, r.audio, r.voice, r.sticker, r.document]
                        .into_iter()
                        .flatten()
                        .next()
                        .expect("one URL given");
                    let req = MediaRequest {
                        caption: r.caption,
                        filename: r.filename,
                        mimetype: r.mimetype,
                        ..MediaRequest::of(Source::Url(url))
                    };
                    ReplyContent::Media(Box::new(CheckedMedia::check(req, kind, &state.config.media)?), kind)
                }
                _ => unreachable!("every field is a kind"),
            };
            let (mentions, mention_all) = (r.mentions, r.mention_all);
            Ok(Parsed { chat_id: r.chat_id, sender: r.sender, quoted: r.quoted, content, mentions, mention_all })
        }
        JsonOrForm::Form(form) => {
            let named = |kind: &Kind| {
                form.file.as_ref().map_or(form.fields.contains_key(kind.field()), |f| f.field == kind.field())
            };
            let kind = MEDIA.iter().copied().find(named).unwrap_or(Kind::Document);
            let (values, mut optional, req) = form_media(form, kind, &["chat_id"], &["sender", "quoted"])?;
            let chat_id =
                values[0].trim().parse().map_err(|_| ApiError::invalid_field("chat_id", "must be a chat id"))?;
            let media = CheckedMedia::check(req, kind, &state.config.media)?;
            let (sender, quoted) = (optional.remove("sender"), optional.remove("quoted"));
            let content = ReplyContent::Media(Box::new(media), kind);
            Ok(Parsed { chat_id, sender, quoted, content, mentions: None, mention_all: None })
        }
    }
}

/// An agent's reply: text, any kind of media by URL or upload
/// (`multipart/form-data` with `chat_id` and the file in `image`, `video`,
/// `audio`, `voice`, `sticker` or `document`), a location or contact cards;
/// `quoted` answers one of the chat's messages. Queued from the chat's
/// session (limits, retries and `Idempotency-Key` apply); answers 202 with its
/// timeline entry. Replying to a chat in mode `bot` hands it to the replier
/// (mode `agent`).
#[utoipa::path(
    post, path = "/chats/messages", tag = "inbox",
    security(("bearer" = []), ("api_key" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "the same key gives back the same message")),
    request_body(content = ChatMessageRequest, description = "JSON, or multipart/form-data with `chat_id` (and `quoted`) and the file in `image`, `video`, `audio`, `voice`, `sticker` or `document`"),
    responses(
        (status = 202, description = "durably queued", body = ReplyView),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "the chat's session is not linked", body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 422, body = ErrorBody),
    )
)]
pub async fn send_chat_message(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    body: JsonOrForm<ChatMessageRequest>,
) -> Result<Response, ApiError> {
    let Parsed { chat_id, sender, quoted, content, mentions, mention_all } = reply_of(&state, body)?;
    if sender.as_deref().is_some_and(|s| s != "agent") {
        return Err(ApiError::invalid_field("sender", "must be agent (the bot writes by itself)"));
    }
    let key = idempotency::key(&headers)?;
    let chat = state.inbox.chat(&chat_scope(&state, &principal).await?, chat_id).await?;
    let session = state.sessions.by_key(&chat.session_id).await?;
    let mentions = mentions_of(&state, &chat.contact, mentions.as_deref(), mention_all)?;
    let mut request = content.identity();
    request["chat"] = chat.id.into();
    with_quoted(&mut request, &quoted);
    if let Some(mentions) = &mentions {
        request["mentions"] = serde_json::to_value(mentions).unwrap_or_default();
    }
    let hash = hash_of(request);
    // A retry gets its reply back even if the session went offline since.
    let replayed = match &key {
        Some(key) => state.queue.replay(principal.user_id, key, &hash).await?.is_some(),
        None => false,
    };
    if !replayed {
        crate::sessions::sendable(&session)?;
    }
    let quoted = match quoted {
        Some(id) if !replayed => match in_chat(&state, &session, &chat.contact, &id).await? {
            Some((quote, _)) => Some(quote),
            None => return Err(ApiError::invalid_field("quoted", "no message with this id in this chat")),
        },
        _ => None,
    };
    let content = match content {
        ReplyContent::Text(text) => Content::Text(text),
        ReplyContent::Location(place) => Content::Location(place),
        ReplyContent::Contacts(cards) => Content::Contacts(cards),
        // A replay fetches nothing: the queue gives back the message stored
        // under the key before it looks at the content.
        ReplyContent::Media(_, _) if replayed => Content::Text(String::new()),
        ReplyContent::Media(media, _) => media::content(&state, *media, principal.user_id).await?,
    };
    let reply = Reply { agent: principal.user_id, content, idempotency_key: key, request_hash: hash, quoted, mentions };
    let chat_id = chat.id;
    let (entry, _, created) = state.inbox.reply(chat, reply).await?;
    Ok(Accepted { body: ReplyView { entry, chat_id }, replayed: !created }.into_response())
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChatReactRequest {
    /// One emoji; empty takes the session's reaction off.
    pub emoji: String,
}

/// The chat (as the caller may see it) and one of its timeline entries.
async fn entry_of(
    state: &AppState,
    principal: &Principal,
    chat_id: i64,
    entry_id: i64,
) -> Result<(chats::Model, entries::Model), ApiError> {
    use sea_orm::EntityTrait;
    let chat = state.inbox.chat(&chat_scope(state, principal).await?, chat_id).await?;
    let entry = entries::Entity::find_by_id(entry_id)
        .one(&state.db)
        .await?
        .filter(|e| e.chat_id == chat.id)
        .ok_or_else(|| ApiError::not_found("message"))?;
    Ok((chat, entry))
}

/// The message the session sent that `entry` shows; 422 for a received one.
async fn sent_of(
    state: &AppState,
    entry: &entries::Model,
    done: &str,
) -> Result<crate::db::entities::messages::Model, ApiError> {
    let id = entry.message_id.as_deref().ok_or_else(|| {
        ApiError::invalid_field(
            "message_id",
            format!("a received message cannot be {done}; only ones this gateway sent"),
        )
    })?;
    state.queue.row(id).await?.ok_or_else(|| ApiError::not_found("message"))
}

/// React to a message of the chat as the agent (or take the reaction off).
#[utoipa::path(
    post, path = "/chats/{id}/messages/{message_id}/react", tag = "inbox",
    security(("bearer" = []), ("api_key" = [])),
    params(("id" = i64, Path), ("message_id" = i64, Path, description = "the timeline entry's id"),
        ("Idempotency-Key" = Option<String>, Header, description = "the same key gives back the same reaction")),
    request_body = ChatReactRequest,
    responses(
        (status = 202, description = "the reaction is durably queued", body = Data<crate::queue::MessageView>),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody),
    )
)]
pub async fn react_in_chat(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    ApiPath((id, entry_id)): ApiPath<(i64, i64)>,
    ApiJson(req): ApiJson<ChatReactRequest>,
) -> Result<Sent, ApiError> {
    use sea_orm::EntityTrait;
    let key = idempotency::key(&headers)?;
    if !req.emoji.is_empty() && !is_one_emoji(&req.emoji) {
        return Err(ApiError::invalid_field("emoji", "must be one emoji (or empty to take the reaction off)"));
    }
    let (chat, entry) = entry_of(&state, &principal, id, entry_id).await?;
    let hash = hash_of(serde_json::json!({"kind": "reaction", "chat": chat.id, "entry": entry.id, "emoji": req.emoji}));
    if let Some(key) = &key
        && let Some(existing) = state.queue.replay(principal.user_id, key, &hash).await?
    {
        return Ok(Accepted { body: Data { data: existing }, replayed: true });
    }
    let session = state.sessions.by_key(&chat.session_id).await?;
    crate::sessions::sendable(&session)?;
    let (message_id, from_me) = match (&entry.message_id, entry.inbound_id) {
        (Some(id), _) => (id.clone(), true),
        (None, Some(row)) => {
            let row =
                inbound::Entity::find_by_id(row).one(&state.db).await?.ok_or_else(|| ApiError::not_found("message"))?;
            (row.wa_id, row.from_me)
        }
        (None, None) => return Err(ApiError::not_found("message")),
    };
    let reaction = Reaction { message_id, from_me, emoji: req.emoji };
    let actor = Actor::agent(&principal);
    changes::submit(&state, &actor, session.id, chat.contact, Content::Reaction(reaction), key, hash).await
}

/// Edit a text (or caption) the session sent in this chat, within WhatsApp's 15 minutes.
#[utoipa::path(
    post, path = "/chats/{id}/messages/{message_id}/edit", tag = "inbox",
    security(("bearer" = []), ("api_key" = [])),
    params(("id" = i64, Path), ("message_id" = i64, Path, description = "the timeline entry's id"),
        ("Idempotency-Key" = Option<String>, Header, description = "the same key gives back the same edit")),
    request_body = EditRequest,
    responses(
        (status = 202, description = "the edit is durably queued", body = Data<crate::queue::MessageView>),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "not on WhatsApp (yet), deleted, or the window has passed", body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
pub async fn edit_in_chat(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    ApiPath((id, entry_id)): ApiPath<(i64, i64)>,
    ApiJson(req): ApiJson<EditRequest>,
) -> Result<Sent, ApiError> {
    let key = idempotency::key(&headers)?;
    let (_, entry) = entry_of(&state, &principal, id, entry_id).await?;
    let original = sent_of(&state, &entry, "edited").await?;
    let hash = hash_of(serde_json::json!({"kind": "edit", "id": original.id, "text": req.text}));
    changes::edit_own(&state, &Actor::agent(&principal), original, req.text, key, hash).await
}

/// Delete a message the session sent in this chat, for everyone; one still
/// waiting in the queue is taken out of it instead.
#[utoipa::path(
    delete, path = "/chats/{id}/messages/{message_id}", tag = "inbox",
    security(("bearer" = []), ("api_key" = [])),
    params(("id" = i64, Path), ("message_id" = i64, Path, description = "the timeline entry's id"),
        ("Idempotency-Key" = Option<String>, Header, description = "the same key gives back the same deletion")),
    responses(
        (status = 200, description = "it was still waiting: taken out of the queue", body = Data<changes::Deleted>),
        (status = 202, description = "a deletion for everyone is durably queued", body = Data<changes::Deleted>),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody),
    )
)]
pub async fn delete_in_chat(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    ApiPath((id, entry_id)): ApiPath<(i64, i64)>,
) -> Result<Response, ApiError> {
    let key = idempotency::key(&headers)?;
    let (_, entry) = entry_of(&state, &principal, id, entry_id).await?;
    let original = sent_of(&state, &entry, "deleted").await?;
    let hash = hash_of(serde_json::json!({"kind": "revoke", "id": original.id}));
    changes::delete_own(&state, &Actor::agent(&principal), original, key, hash).await
}
