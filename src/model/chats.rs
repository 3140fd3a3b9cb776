//! What a chat of the inbox is in.

use sea_orm::{DeriveActiveEnum, EnumIter, sea_query::StringLen};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Who has a chat. Stored as its name in `chats.mode`: an unknown value makes
/// reading the row an error, never a guessed mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema, EnumIter, DeriveActiveEnum)]
#[schema(as = Mode)]
#[serde(rename_all = "snake_case")]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum ChatMode {
    /// No human has it (the menu bot answers, once it exists).
    #[sea_orm(string_value = "bot")]
    Bot,
    /// An agent answers; the bot is silent.
    #[sea_orm(string_value = "agent")]
    Agent,
    /// Nobody answers until someone resumes it.
    #[sea_orm(string_value = "paused")]
    Paused,
    /// Done; the customer's next message reopens it in `bot`.
    #[sea_orm(string_value = "closed")]
    Closed,
}

/// What a chat is. Stored as its name in `chats.kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema, EnumIter, DeriveActiveEnum)]
#[serde(rename_all = "snake_case")]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(8))")]
pub enum ChatKind {
    /// A 1:1 conversation with one contact (`contact`: their number).
    #[sea_orm(string_value = "direct")]
    Direct,
    /// A group the session is in (`contact`: the group's JID), kept with
    /// `inbox.groups` on. The bot never answers it.
    #[sea_orm(string_value = "group")]
    Group,
}

impl ChatMode {
    pub const ALL: [ChatMode; 4] = [ChatMode::Bot, ChatMode::Agent, ChatMode::Paused, ChatMode::Closed];

    pub fn as_str(self) -> &'static str {
        match self {
            ChatMode::Bot => "bot",
            ChatMode::Agent => "agent",
            ChatMode::Paused => "paused",
            ChatMode::Closed => "closed",
        }
    }
}
