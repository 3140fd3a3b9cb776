//! What the API and the events show of queued messages: a message with its
//! history, a session's queue, and a `message.status` event.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::{
    db::entities::{message_events, messages},
    events::GatewayEvent,
    model::MessageStatus,
};

/// One entry of a message's history.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HistoryEntry {
    pub status: MessageStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub at: DateTime<Utc>,
}

/// A message as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageView {
    pub id: String,
    pub session: String,
    pub to: String,
    /// `text`, `image`, `video`, `audio`, `voice`, `sticker`, `document`,
    /// `location`, `contact` or `poll`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The text; a location's name, contact cards' names, a poll's question.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub caption: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mimetype: Option<String>,
    /// Media size in bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<i64>,
    /// What the type carries besides: a location's `latitude`, `longitude`,
    /// `name`, `address`; contact cards' `contacts` (`name`, `phones`, `vcard`);
    /// a poll's `question`, `options`, `selectable`; a voice note's `seconds`
    /// and `waveform` (64 values of 0–100, base64); a video's `gif`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub extra: Option<serde_json::Value>,
    /// The message it answers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quoted_id: Option<String>,
    pub status: MessageStatus,
    pub reason: Option<String>,
    pub attempts: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Every status it went through, oldest first (`GET /message/{id}` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub history: Option<Vec<HistoryEntry>>,
}

/// The `message.status` event of a message that got its status at `at`, for
/// `owner` (its session's owner).
pub(super) fn status_event(row: &messages::Model, at: i64, owner: i64) -> GatewayEvent {
    let data = serde_json::json!({
        "id": row.id,
        "session": row.session_id.name(),
        "to": row.recipient,
        "status": row.status,
        "reason": row.reason,
        "attempts": row.attempts,
        "broadcast": row.broadcast_id,
        "at": time(at),
    });
    GatewayEvent { kind: "message.status", owner, session: row.session_id.clone(), also: Vec::new(), agent: None, data }
}

pub(super) fn time(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

impl From<&messages::Model> for MessageView {
    fn from(row: &messages::Model) -> Self {
        let caption = super::content::has_caption(&row.kind);
        MessageView {
            id: row.id.clone(),
            session: row.session_id.name().to_owned(),
            to: row.recipient.clone(),
            kind: row.kind.clone(),
            text: row.body.clone().filter(|_| !caption),
            caption: row.body.clone().filter(|_| caption),
            filename: row.filename.clone(),
            mimetype: row.mimetype.clone(),
            size: row.media_size,
            extra: row.extra.as_deref().and_then(|e| serde_json::from_str(e).ok()),
            quoted_id: row.quoted_id.clone(),
            status: row.status,
            reason: row.reason.clone(),
            attempts: row.attempts,
            created_at: time(row.created_at),
            updated_at: time(row.updated_at),
            history: None,
        }
    }
}

/// `GET /message/queue-status`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct QueueStatus {
    pub session: String,
    /// Waiting to be sent.
    pub pending: u64,
    /// Written to WhatsApp, waiting for its ack.
    pub processing: u64,
    /// Sent, delivered or read.
    pub completed: u64,
    pub failed: u64,
    /// The session is connected and its dispatcher has work.
    pub is_processing: bool,
}

pub(super) fn entry(event: &message_events::Model) -> HistoryEntry {
    HistoryEntry { status: event.status, reason: event.reason.clone(), at: time(event.at) }
}
