//! `/message/send-*` for the kinds beyond text, images and documents:
//! video, audio files, voice notes, stickers (JSON with a URL, or multipart
//! with the file), locations, contact cards and polls. Each is queued like a
//! text ([`super::messages`]): 202 once durable, `Idempotency-Key` honoured.

use axum::{extract::State, http::HeaderMap};
use serde::Deserialize;
use serde_valid::Validate;
use utoipa::ToSchema;

use super::{
    Data,
    common::phone_field,
    extract::{ApiJson, JsonOrForm},
    idempotency::{self, hash_of},
    messages::{MediaSend, Sent, from_form, queue, recipient, send_media},
};
use crate::{
    auth::Principal,
    error::{ApiError, ErrorBody},
    http::state::AppState,
    queue::{
        Content, MessageView,
        attachment::{Kind, MediaRequest, Source},
        content::{Card, Location, MAX_CARD_PHONES, MAX_CARDS, Poll},
    },
    validation,
};

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendVideoRequest {
    #[validate(custom = validation::session_id)]
    pub session: String,
    pub to: String,
    /// An http(s) URL of an MP4 video. Or send the request as
    /// `multipart/form-data` with the file in the `video` part.
    pub video: String,
    #[serde(default)]
    pub caption: Option<String>,
    /// Play it as a looping GIF (a short clip without sound).
    #[serde(default)]
    pub gif: bool,
    /// The id of a message in the same chat (sent or received) this one answers.
    #[serde(default)]
    pub quoted: Option<String>,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendAudioRequest {
    #[validate(custom = validation::session_id)]
    pub session: String,
    pub to: String,
    /// An http(s) URL of an audio file (MP3, AAC, M4A, Ogg, WAV, AMR or
    /// FLAC), shown as a file to play. Or multipart with the file in `audio`.
    pub audio: String,
    /// The id of a message in the same chat (sent or received) this one answers.
    #[serde(default)]
    pub quoted: Option<String>,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendVoiceRequest {
    #[validate(custom = validation::session_id)]
    pub session: String,
    pub to: String,
    /// An http(s) URL of an Ogg/Opus file, sent as a voice note (its length
    /// read from the file, its waveform from its Opus packets). Or multipart
    /// with the file in `voice`.
    pub voice: String,
    /// The id of a message in the same chat (sent or received) this one answers.
    #[serde(default)]
    pub quoted: Option<String>,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendStickerRequest {
    #[validate(custom = validation::session_id)]
    pub session: String,
    pub to: String,
    /// An http(s) URL of a WebP image. Or multipart with the file in `sticker`.
    pub sticker: String,
    /// The id of a message in the same chat (sent or received) this one answers.
    #[serde(default)]
    pub quoted: Option<String>,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendLocationRequest {
    #[validate(custom = validation::session_id)]
    pub session: String,
    pub to: String,
    /// −90 to 90.
    pub latitude: f64,
    /// −180 to 180.
    pub longitude: f64,
    /// The place's name, up to 256 characters.
    #[serde(default)]
    pub name: Option<String>,
    /// Up to 512 characters.
    #[serde(default)]
    pub address: Option<String>,
    /// The id of a message in the same chat (sent or received) this one answers.
    #[serde(default)]
    pub quoted: Option<String>,
}

/// One contact card: a name with phone numbers, or a whole vCard.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactInput {
    /// The name shown (1–256 characters); written into the vCard escaped.
    #[serde(default)]
    pub name: Option<String>,
    /// 1–10 numbers, in any common spelling.
    #[serde(default)]
    pub phones: Option<Vec<String>>,
    /// A vCard (BEGIN:VCARD … END:VCARD, at most 10,000 bytes) instead of name and phones.
    #[serde(default)]
    pub vcard: Option<String>,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendContactRequest {
    #[validate(custom = validation::session_id)]
    pub session: String,
    pub to: String,
    /// 1–20 cards; more than one arrive as one message of several contacts.
    pub contacts: Vec<ContactInput>,
    /// The id of a message in the same chat (sent or received) this one answers.
    #[serde(default)]
    pub quoted: Option<String>,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendPollRequest {
    #[validate(custom = validation::session_id)]
    pub session: String,
    pub to: String,
    /// 1–255 characters.
    pub question: String,
    /// 2–12 distinct options of 1–100 characters.
    pub options: Vec<String>,
    /// How many options a voter may pick: 1 (the default) up to all of them.
    #[serde(default = "one")]
    pub selectable: u32,
    /// The id of a message in the same chat (sent or received) this one answers.
    #[serde(default)]
    pub quoted: Option<String>,
}

fn one() -> u32 {
    1
}

/// The answers every media send shares.
macro_rules! media_route {
    ($name:ident, $path:literal, $request:ty, $kind:expr, $what:literal, $split:expr) => {
        #[doc = concat!("Queue ", $what, " by URL or upload.")]
        #[utoipa::path(
            post, path = $path, tag = "messages",
            security(("bearer" = []), ("api_key" = [])),
            params(("Idempotency-Key" = Option<String>, Header, description = "the same key gives back the same message")),
            request_body(content = $request, description = "JSON with a URL, or multipart/form-data with the file in the part the URL field names"),
            responses(
                (status = 202, description = "durably queued", body = Data<MessageView>),
                (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
                (status = 409, body = ErrorBody), (status = 413, body = ErrorBody), (status = 422, body = ErrorBody),
            )
        )]
        pub async fn $name(
            State(state): State<AppState>,
            principal: Principal,
            headers: HeaderMap,
            body: JsonOrForm<$request>,
        ) -> Result<Sent, ApiError> {
            let send = match body {
                JsonOrForm::Json(r) => ($split)(r),
                JsonOrForm::Form(form) => from_form(form, $kind)?,
            };
            send_media(state, principal, headers, send, $kind).await
        }
    };
}

media_route!(
    send_video,
    "/message/send-video",
    SendVideoRequest,
    Kind::Video,
    "an MP4 video (optionally as a GIF)",
    |r: SendVideoRequest| MediaSend {
        session: r.session,
        to: r.to,
        quoted: r.quoted,
        req: MediaRequest { caption: r.caption, gif: r.gif, ..MediaRequest::of(Source::Url(r.video)) }
    }
);
media_route!(
    send_audio,
    "/message/send-audio",
    SendAudioRequest,
    Kind::Audio,
    "an audio file",
    |r: SendAudioRequest| MediaSend {
        session: r.session,
        to: r.to,
        quoted: r.quoted,
        req: MediaRequest::of(Source::Url(r.audio))
    }
);
media_route!(
    send_voice,
    "/message/send-voice",
    SendVoiceRequest,
    Kind::Voice,
    "a voice note (Ogg/Opus only; 422 names the codec of anything else)",
    |r: SendVoiceRequest| MediaSend {
        session: r.session,
        to: r.to,
        quoted: r.quoted,
        req: MediaRequest::of(Source::Url(r.voice))
    }
);
media_route!(
    send_sticker,
    "/message/send-sticker",
    SendStickerRequest,
    Kind::Sticker,
    "a sticker (WebP)",
    |r: SendStickerRequest| MediaSend {
        session: r.session,
        to: r.to,
        quoted: r.quoted,
        req: MediaRequest::of(Source::Url(r.sticker))
    }
);

/// Queue a location.
#[utoipa::path(
    post, path = "/message/send-location", tag = "messages",
    security(("bearer" = []), ("api_key" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "the same key gives back the same message")),
    request_body = SendLocationRequest,
    responses(
        (status = 202, description = "durably queued", body = Data<MessageView>),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody),
    )
)]
pub async fn send_location(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    ApiJson(req): ApiJson<SendLocationRequest>,
) -> Result<Sent, ApiError> {
    let to = recipient(&state, &req.to)?;
    let key = idempotency::key(&headers)?;
    let place = Location { latitude: req.latitude, longitude: req.longitude, name: req.name, address: req.address };
    place.check().map_err(|(field, message)| ApiError::invalid_field(field, message))?;
    let (session, quoted) = (req.session, req.quoted);
    let hash = hash_of(
        serde_json::json!({"kind": "location", "session": session, "to": to, "location": place, "quoted": quoted}),
    );
    queue(&state, &principal, &session, to, quoted, key, hash, async || Ok(Content::Location(place))).await
}

/// Queue one or more contact cards.
#[utoipa::path(
    post, path = "/message/send-contact", tag = "messages",
    security(("bearer" = []), ("api_key" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "the same key gives back the same message")),
    request_body = SendContactRequest,
    responses(
        (status = 202, description = "durably queued", body = Data<MessageView>),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody),
    )
)]
pub async fn send_contact(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    ApiJson(req): ApiJson<SendContactRequest>,
) -> Result<Sent, ApiError> {
    let to = recipient(&state, &req.to)?;
    let key = idempotency::key(&headers)?;
    if req.contacts.is_empty() || req.contacts.len() > MAX_CARDS {
        return Err(ApiError::invalid_field("contacts", format!("must hold 1 to {MAX_CARDS} cards")));
    }
    let cards = req.contacts.iter().enumerate().map(|(i, c)| card(&state, i, c)).collect::<Result<Vec<_>, _>>()?;
    let (session, quoted) = (req.session, req.quoted);
    let hash = hash_of(
        serde_json::json!({"kind": "contact", "session": session, "to": to, "contacts": cards, "quoted": quoted}),
    );
    queue(&state, &principal, &session, to, quoted, key, hash, async || Ok(Content::Contacts(cards))).await
}

/// One card of a send-contact request, checked; fields named `contacts[i].…`.
pub(super) fn card(state: &AppState, i: usize, input: &ContactInput) -> Result<Card, ApiError> {
    let field = |name: &str| format!("contacts[{i}].{name}");
    match (&input.name, &input.phones, &input.vcard) {
        (None, None, Some(vcard)) => Card::from_vcard(vcard).map_err(|e| ApiError::invalid_field(field("vcard"), e)),
        (Some(name), Some(phones), None) => {
            validation::check_text(name, 256).map_err(|e| ApiError::invalid_field(field("name"), e))?;
            if phones.is_empty() || phones.len() > MAX_CARD_PHONES {
                let message = format!("must hold 1 to {MAX_CARD_PHONES} numbers");
                return Err(ApiError::invalid_field(field("phones"), message));
            }
            let phones = phones
                .iter()
                .enumerate()
                .map(|(j, raw)| phone_field(state, &field(&format!("phones[{j}]")), raw))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Card::new(name.trim(), phones))
        }
        (_, _, Some(_)) => Err(ApiError::invalid_field(field("vcard"), "give a vCard or a name with phones, not both")),
        (None, _, None) => Err(ApiError::invalid_field(field("name"), "is required (or a vcard)")),
        (Some(_), None, None) => Err(ApiError::invalid_field(field("phones"), "is required with a name")),
    }
}

/// Queue a poll; votes are encrypted with a secret kept with the message.
#[utoipa::path(
    post, path = "/message/send-poll", tag = "messages",
    security(("bearer" = []), ("api_key" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "the same key gives back the same message")),
    request_body = SendPollRequest,
    responses(
        (status = 202, description = "durably queued", body = Data<MessageView>),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody),
    )
)]
pub async fn send_poll(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    ApiJson(req): ApiJson<SendPollRequest>,
) -> Result<Sent, ApiError> {
    let to = recipient(&state, &req.to)?;
    let key = idempotency::key(&headers)?;
    let poll = Poll { question: req.question, options: req.options, selectable: req.selectable };
    poll.check().map_err(|(field, message)| ApiError::invalid_field(field, message))?;
    let (session, quoted) = (req.session, req.quoted);
    let hash =
        hash_of(serde_json::json!({"kind": "poll", "session": session, "to": to, "poll": poll, "quoted": quoted}));
    queue(&state, &principal, &session, to, quoted, key, hash, async || Ok(Content::Poll(poll))).await
}
