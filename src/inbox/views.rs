//! What the API shows of chats and timelines (seed 004's shapes, with more fields).

use crate::config::Zone;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::{ChatMode, Origin};
use crate::db::entities::{chat_entries as entries, chats, inbound_messages as inbound, messages};
use crate::model::ChatKind;

fn time(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// A chat in the list (seed 004: `id, name, channel, online, unread, mode, last_message_at`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ChatView {
    pub id: i64,
    /// `direct` (one contact) or `group`.
    pub kind: ChatKind,
    /// The customer's name when a customer has this number, else the contact's
    /// push name; a group's subject.
    pub name: String,
    /// Always `WhatsApp`.
    pub channel: &'static str,
    pub online: bool,
    pub unread: i32,
    pub mode: ChatMode,
    /// Since when the chat has its mode.
    pub mode_since: DateTime<Utc>,
    pub assigned_agent_id: Option<i64>,
    /// The customer's satisfaction rating, 1–5, once given.
    pub csat_rating: Option<i32>,
    /// The bot asked for a rating and waits for it.
    pub csat_pending: bool,
    pub last_message_at: DateTime<Utc>,
    pub session: String,
    /// The contact's number, digits with country code; a group chat's: the group's JID.
    pub phone: String,
    pub customer_id: Option<i64>,
    /// The account's labels on the chat (left out of events that do not change them).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub labels: Option<Vec<super::labels::LabelView>>,
    pub last_message: Option<Preview>,
    /// Pass as `before` to get the chats after this one.
    pub cursor: String,
}

/// The newest message of a chat.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Preview {
    pub text: Option<String>,
    #[serde(rename = "type")]
    pub kind: String,
    pub sender: Origin,
    pub at: DateTime<Utc>,
}

/// `GET /chats/{id}` (seed 004): the chat, the contact's profile and the latest messages, oldest first.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ChatDetail {
    #[serde(flatten)]
    pub chat: ChatView,
    pub profile: Profile,
    pub messages: Vec<EntryView>,
    /// Pass as `before` to `GET /chats/{id}/messages` for older ones; `null` when there are none.
    pub before: Option<i64>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    pub phone: String,
    pub email: Option<String>,
    pub address: Option<String>,
    /// The customer's ODP, when the number is a customer's.
    pub odp: Option<String>,
    /// `Online`, or when the contact last wrote (RFC 3339), or `null`.
    pub last_active: Option<String>,
}

/// One timeline entry (seed 004: `id, text, sender, status, time`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EntryView {
    pub id: i64,
    /// The text, or a media message's caption.
    pub text: Option<String>,
    pub sender: Origin,
    /// Sent messages: `queued`, `sending`, `sent`, `delivered`, `read`, `failed`
    /// (from the send queue); received ones: `received` or `read`; a private note: `note`.
    pub status: String,
    /// Why a sent message failed.
    pub reason: Option<String>,
    /// `HH:MM` in `[server] timezone`.
    pub time: String,
    pub at: DateTime<Utc>,
    /// `text`, `image`, `video`, `audio`, `voice`, `document`, `sticker`,
    /// `location`, `contact`, `reaction`, `poll`, `call`, `group_update`,
    /// `note` (a private note of the team, never sent) or `unsupported`.
    #[serde(rename = "type")]
    pub kind: String,
    /// WhatsApp's name for an unsupported message.
    pub wa_type: Option<String>,
    pub caption: Option<String>,
    pub media: Option<MediaInfo>,
    pub agent_id: Option<i64>,
    pub agent_name: Option<String>,
    /// The WhatsApp message id (for sent messages also their `/message/{id}`).
    pub message_id: String,
    /// The message this one answers or reacts to.
    pub quoted_id: Option<String>,
    pub push_name: Option<String>,
    /// In a group chat, who wrote a received message (or made a change): their
    /// number, digits with country code (`push_name`: the name they gave themselves).
    pub participant: Option<String>,
    /// Location, contact card or reaction details; a group change's `action` and what it changed.
    #[schema(value_type = Option<Object>)]
    pub extra: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MediaInfo {
    pub mimetype: Option<String>,
    pub filename: Option<String>,
    pub size: Option<i64>,
    /// Received media: `pending`, `done`, `failed` (download) or `expired`; sent
    /// media: `done` (kept for the chat: `GET /chats/{id}/messages/{entry}/media`) or `expired`.
    pub state: String,
    pub error: Option<String>,
}

/// A message with the chat it is in (a search hit, an exported message).
#[derive(Debug, Serialize, ToSchema)]
pub struct MessageInChat {
    pub chat_id: i64,
    /// The chat's name (the contact's, or the group's subject).
    pub chat_name: String,
    /// The chat's number (a group's JID).
    pub phone: String,
    /// The session's name.
    pub session: String,
    /// The message, as the chat's timeline shows it.
    pub message: EntryView,
}

impl MessageInChat {
    pub fn of(chat: &chats::Model, message: EntryView) -> MessageInChat {
        MessageInChat {
            chat_id: chat.id,
            chat_name: chat.name.clone(),
            phone: chat.contact.clone(),
            session: chat.session_id.name().to_owned(),
            message,
        }
    }
}

/// `GET /chats/counts`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ChatCounts {
    /// Assigned to the caller.
    pub mine: u64,
    pub unassigned: u64,
    pub all: u64,
    /// With unread messages.
    pub unread: u64,
    pub bot: u64,
    pub agent: u64,
    pub paused: u64,
    pub closed: u64,
    /// Chats whose customer gave a satisfaction rating.
    pub rated: u64,
    /// Their average rating (1–5), `null` with none.
    pub csat_average: Option<f64>,
}

/// A received message as API clients see it (`message.received`, `GET /message/received`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReceivedView {
    /// Its row: pass as `before` for older ones.
    pub id: i64,
    pub session: String,
    /// The inbox chat, for 1:1 messages.
    pub chat_id: Option<i64>,
    /// The WhatsApp chat: a user, a group (`…@g.us`), `status@broadcast`, a newsletter.
    pub chat: String,
    pub sender: String,
    pub from_me: bool,
    /// WhatsApp's message id.
    pub message_id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub wa_type: Option<String>,
    pub text: Option<String>,
    pub filename: Option<String>,
    pub mimetype: Option<String>,
    pub size: Option<i64>,
    pub media_state: Option<String>,
    pub quoted_id: Option<String>,
    pub push_name: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub extra: Option<serde_json::Value>,
    /// When the sender sent it.
    pub sent_at: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
    pub read_at: Option<DateTime<Utc>>,
}

impl ReceivedView {
    pub fn of(row: &inbound::Model) -> ReceivedView {
        ReceivedView {
            id: row.id,
            session: row.session_id.name().to_owned(),
            chat_id: row.chat_id,
            chat: row.chat_jid.clone(),
            sender: row.sender_jid.clone(),
            from_me: row.from_me,
            message_id: row.wa_id.clone(),
            kind: row.kind.clone(),
            wa_type: row.wa_type.clone(),
            text: row.body.clone(),
            filename: row.filename.clone(),
            mimetype: row.mimetype.clone(),
            size: row.media_size,
            media_state: row.media_state.clone(),
            quoted_id: row.quoted_id.clone(),
            push_name: row.push_name.clone(),
            extra: row.extra.as_deref().and_then(|e| serde_json::from_str(e).ok()),
            sent_at: time(row.sent_at),
            received_at: time(row.received_at),
            read_at: row.read_at.map(time),
        }
    }
}

fn clock(ms: i64, offset: Zone) -> String {
    time(ms).with_timezone(&offset).format("%H:%M").to_string()
}

/// The view of an entry that points at a received message (`row`, when found).
pub fn entry_of_inbound(entry: &entries::Model, row: Option<&inbound::Model>, offset: Zone) -> EntryView {
    let text_like = row.is_some_and(|r| matches!(r.kind.as_str(), "text" | "location" | "contact" | "reaction"));
    EntryView {
        id: entry.id,
        text: row.and_then(|r| r.body.clone()),
        sender: entry.sender,
        status: if row.is_some_and(|r| r.read_at.is_some()) { "read" } else { "received" }.into(),
        reason: None,
        time: clock(entry.at, offset),
        at: time(entry.at),
        kind: row.map_or_else(|| "unsupported".into(), |r| r.kind.clone()),
        wa_type: row.and_then(|r| r.wa_type.clone()),
        caption: row.filter(|_| !text_like).and_then(|r| r.body.clone()),
        media: row.filter(|r| r.media_state.is_some() || r.mimetype.is_some()).map(|r| MediaInfo {
            mimetype: r.mimetype.clone(),
            filename: r.filename.clone(),
            size: r.media_size,
            state: r.media_state.clone().unwrap_or_else(|| "failed".into()),
            error: r.media_error.clone(),
        }),
        agent_id: None,
        agent_name: None,
        message_id: row.map(|r| r.wa_id.clone()).unwrap_or_default(),
        quoted_id: row.and_then(|r| r.quoted_id.clone()),
        push_name: row.and_then(|r| r.push_name.clone()),
        participant: row.filter(|r| crate::model::is_group(&r.chat_jid)).and_then(|r| participant_of(&r.sender_jid)),
        extra: row.and_then(|r| r.extra.as_deref()).and_then(|e| serde_json::from_str(e).ok()),
    }
}

/// The number of a group participant's JID (`<digits>@s.whatsapp.net`, or a
/// LID's digits when the group names participants by LID); none for the group itself.
fn participant_of(jid: &str) -> Option<String> {
    let (user, server) = jid.split_once('@')?;
    let user = user.split([':', '.']).next().unwrap_or(user);
    (matches!(server, "s.whatsapp.net" | "lid") && !user.is_empty()).then(|| user.to_owned())
}

/// The view of a private note (`author`: its writer's name).
pub fn entry_of_note(entry: &entries::Model, author: Option<String>, offset: Zone) -> EntryView {
    EntryView {
        id: entry.id,
        text: entry.note.clone(),
        sender: entry.sender,
        status: "note".into(),
        reason: None,
        time: clock(entry.at, offset),
        at: time(entry.at),
        kind: "note".into(),
        wa_type: None,
        caption: None,
        media: None,
        agent_id: entry.agent_id,
        agent_name: author,
        message_id: String::new(),
        quoted_id: None,
        push_name: None,
        participant: None,
        extra: None,
    }
}

/// The view of an entry that points at a queued message.
pub fn entry_of_queued(
    entry: &entries::Model,
    row: &messages::Model,
    agent_name: Option<String>,
    offset: Zone,
) -> EntryView {
    let caption = crate::queue::content::has_caption(&row.kind);
    let status = row.status;
    EntryView {
        id: entry.id,
        text: row.body.clone(),
        sender: entry.sender,
        status: status.as_str().into(),
        reason: row.reason.clone(),
        time: clock(entry.at, offset),
        at: time(entry.at),
        kind: row.kind.clone(),
        wa_type: None,
        caption: row.body.clone().filter(|_| caption),
        media: row.media_size.map(|size| MediaInfo {
            mimetype: row.mimetype.clone(),
            filename: row.filename.clone(),
            size: Some(size),
            // Kept for the chat as it is queued (`Inbox::entry_views` looks again).
            state: "done".into(),
            error: None,
        }),
        agent_id: entry.agent_id,
        agent_name,
        message_id: row.id.clone(),
        quoted_id: row.quoted_id.clone(),
        push_name: None,
        participant: None,
        extra: row.extra.as_deref().and_then(|e| serde_json::from_str(e).ok()),
    }
}

pub fn chat_view(chat: &chats::Model, last: Option<Preview>) -> ChatView {
    ChatView {
        id: chat.id,
        kind: chat.kind,
        name: chat.name.clone(),
        channel: "WhatsApp",
        online: chat.online,
        unread: chat.unread,
        mode: chat.mode,
        mode_since: time(chat.mode_at),
        assigned_agent_id: chat.assigned_agent_id,
        csat_rating: chat.csat_rating,
        csat_pending: chat.csat_state.is_some(),
        last_message_at: time(chat.last_message_at),
        session: chat.session_id.name().to_owned(),
        phone: chat.contact.clone(),
        customer_id: chat.customer_id,
        labels: None,
        last_message: last,
        cursor: super::Cursor::of(chat),
    }
}

pub fn preview(entry: &EntryView) -> Preview {
    Preview {
        text: entry.text.clone().map(|t| t.chars().take(120).collect()),
        kind: entry.kind.clone(),
        sender: entry.sender,
        at: entry.at,
    }
}
