//! The HTTP side of what a send attaches (`queue::attachment`): reading a
//! multipart send, fetching checked media in the caller's media slots, and
//! the errors a refusal answers with. Used by `/message/send-*` and
//! `/chats/messages`.

use axum::http::StatusCode;

use super::{extract::Form, state::AppState};
use crate::{
    error::ApiError,
    queue::{
        Content,
        attachment::{CheckedMedia, Kind, MediaRequest, Refusal, Source},
    },
};

/// A multipart send as [`form_media`] reads it: the required fields' values in
/// order, the optional fields given, and the media.
pub type FormSend = (Vec<String>, std::collections::BTreeMap<String, String>, MediaRequest);

/// Reads a multipart send: the `required` fields (in order; the first missing
/// one is named), the `optional` ones, and the media, whose file must come in
/// `kind`'s field (or its URL in that field instead); anything else is refused.
pub fn form_media(
    mut form: Form,
    kind: Kind,
    required: &[&'static str],
    optional: &[&'static str],
) -> Result<FormSend, ApiError> {
    let field = kind.field();
    let mut allowed: Vec<&str> = [required, optional].concat();
    allowed.push(field);
    if kind.has_caption() {
        allowed.push("caption");
    }
    if kind == Kind::Document {
        allowed.extend(["filename", "mimetype"]);
    }
    if kind == Kind::Video {
        allowed.push("gif");
    }
    if let Some(unknown) = form.fields.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(ApiError::invalid_field(unknown.clone(), "unknown field"));
    }
    let mut values = Vec::with_capacity(required.len());
    for name in required {
        values.push(form.fields.remove(*name).ok_or_else(|| ApiError::invalid_field(*name, "is required"))?);
    }
    let mut take = |name: &str| form.fields.remove(name);
    let (caption, filename, mimetype, url) = (take("caption"), take("filename"), take("mimetype"), take(field));
    let gif = match take("gif").as_deref().map(str::trim) {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => return Err(ApiError::invalid_field("gif", "must be true or false")),
    };
    let source = match (form.file, url) {
        (Some(file), None) if file.field == field => {
            Source::Upload { file: file.file, filename: file.filename, content_type: file.content_type }
        }
        (Some(file), _) if file.field != field => {
            return Err(ApiError::invalid_field(file.field, format!("unknown file part; send the file as {field}")));
        }
        (None, Some(url)) => Source::Url(url),
        (Some(_), Some(_)) => return Err(ApiError::invalid_field(field, "give a URL or a file, not both")),
        _ => return Err(ApiError::invalid_field(field, "is required (a URL, or a file part)")),
    };
    Ok((values, form.fields, MediaRequest { caption, filename, mimetype, gif, source }))
}

/// The content of checked media: a URL is fetched in one of `account`'s media slots.
pub async fn content(state: &AppState, media: CheckedMedia, account: i64) -> Result<Content, ApiError> {
    let _slot = match media.fetches() {
        true => Some(state.media_slots.acquire(account).await),
        false => None,
    };
    Ok(media.content(&state.media, state.queue.media()).await?)
}

impl From<Refusal> for ApiError {
    fn from(refusal: Refusal) -> Self {
        let message = refusal.to_string();
        match refusal {
            Refusal::Invalid { field, message } => ApiError::invalid_field(field, message),
            Refusal::TooLarge { field, .. } => {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "media_too_large", message).with_field(field)
            }
            Refusal::UrlRefused { field, .. } => ApiError::invalid_field(field, message).with_code("media_url_refused"),
            Refusal::Unreachable { field, .. } => {
                ApiError::invalid_field(field, message).with_code("media_unreachable")
            }
            Refusal::Store(e) => ApiError::internal(e),
        }
    }
}
