//! What a chat of the inbox is in.

use sea_orm::DbErr;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Who has a chat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[schema(as = Mode)]
#[serde(rename_all = "snake_case")]
pub enum ChatMode {
    /// No human has it (the menu bot answers, once it exists).
    Bot,
    /// An agent answers; the bot is silent.
    Agent,
    /// Nobody answers until someone resumes it.
    Paused,
    /// Done; the customer's next message reopens it in `bot`.
    Closed,
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

impl TryFrom<&str> for ChatMode {
    type Error = DbErr;
    fn try_from(text: &str) -> Result<ChatMode, DbErr> {
        ChatMode::ALL
            .into_iter()
            .find(|m| m.as_str() == text)
            .ok_or_else(|| DbErr::Custom(format!("unknown chat mode {text:?}")))
    }
}
