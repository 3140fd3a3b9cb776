//! Where a message is, and where it (or a timeline entry) comes from.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Where a message is.
/// Stored as its name in `messages.status` and `message_events.status`: an
/// unknown value makes reading the row an error, never a guessed status.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    ToSchema,
    sea_orm::EnumIter,
    sea_orm::DeriveActiveEnum,
)]
#[serde(rename_all = "snake_case")]
#[sea_orm(rs_type = "String", db_type = "String(sea_orm::sea_query::StringLen::N(16))")]
pub enum MessageStatus {
    /// Accepted and waiting for its turn.
    #[sea_orm(string_value = "queued")]
    Queued,
    /// Written to WhatsApp; waiting for the server's ack.
    #[sea_orm(string_value = "sending")]
    Sending,
    /// Accepted by WhatsApp's server.
    #[sea_orm(string_value = "sent")]
    Sent,
    /// On the recipient's phone.
    #[sea_orm(string_value = "delivered")]
    Delivered,
    #[sea_orm(string_value = "read")]
    Read,
    /// Given up on; `reason` says why.
    #[sea_orm(string_value = "failed")]
    Failed,
}

impl MessageStatus {
    pub const ALL: [MessageStatus; 6] = [
        MessageStatus::Queued,
        MessageStatus::Sending,
        MessageStatus::Sent,
        MessageStatus::Delivered,
        MessageStatus::Read,
        MessageStatus::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MessageStatus::Queued => "queued",
            MessageStatus::Sending => "sending",
            MessageStatus::Sent => "sent",
            MessageStatus::Delivered => "delivered",
            MessageStatus::Read => "read",
            MessageStatus::Failed => "failed",
        }
    }
}

/// Where a timeline entry (or a message) comes from: who wrote it. Stored as
/// its name in `chat_entries.sender` and `messages.origin`: an unknown value
/// makes reading the row an error, never a guessed origin.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    ToSchema,
    sea_orm::EnumIter,
    sea_orm::DeriveActiveEnum,
)]
#[schema(as = Sender)]
#[serde(rename_all = "snake_case")]
#[sea_orm(rs_type = "String", db_type = "String(sea_orm::sea_query::StringLen::N(16))")]
pub enum Origin {
    /// The contact.
    #[sea_orm(string_value = "customer")]
    Customer,
    /// Someone on the linked phone (or another device of the number).
    #[sea_orm(string_value = "phone")]
    Phone,
    /// A person answering from the inbox.
    #[sea_orm(string_value = "agent")]
    Agent,
    /// The menu bot.
    #[sea_orm(string_value = "bot")]
    Bot,
    /// An API client (`/message/send-*`).
    #[sea_orm(string_value = "api")]
    Api,
    /// An outage-notice broadcast.
    #[sea_orm(string_value = "broadcast")]
    Broadcast,
    /// The automatic reply to a call (`[calls] reply`).
    #[sea_orm(string_value = "call")]
    Call,
    /// A private note of the team on a chat (a timeline entry only, never sent).
    #[sea_orm(string_value = "note")]
    Note,
}

impl Origin {
    pub const ALL: [Origin; 8] = [
        Origin::Customer,
        Origin::Phone,
        Origin::Agent,
        Origin::Bot,
        Origin::Api,
        Origin::Broadcast,
        Origin::Call,
        Origin::Note,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Customer => "customer",
            Origin::Phone => "phone",
            Origin::Agent => "agent",
            Origin::Bot => "bot",
            Origin::Api => "api",
            Origin::Broadcast => "broadcast",
            Origin::Call => "call",
            Origin::Note => "note",
        }
    }
}
