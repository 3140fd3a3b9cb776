//! Shared words: what the domains and the stored rows say alike (the stored
//! enums, session names, time). It knows no domain: what a status allows or
//! who may do what is decided by the domain that owns it, in an `impl` there.

mod chats;
mod messages;
mod roles;
mod sessions;
mod webhooks;

pub use chats::{ChatKind, ChatMode};
pub use messages::{MessageStatus, Origin};
pub use roles::{Language, Role};
pub use sessions::{SessionKey, SessionStatus};
pub use webhooks::DeliveryStatus;

/// Whether a recipient is a group (`<id>@g.us`) rather than a person's number.
pub fn is_group(recipient: &str) -> bool {
    recipient.ends_with("@g.us")
}

/// Epoch milliseconds now.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
