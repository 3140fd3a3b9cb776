//! A session's status and name.

use serde::Serialize;
use utoipa::ToSchema;

/// Where a session is in its life.
/// Stored as its name in `sessions.status`: an unknown value makes reading the
/// row an error, never a guessed status.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, ToSchema, sea_orm::EnumIter, sea_orm::DeriveActiveEnum,
)]
#[schema(as = Status)]
#[serde(rename_all = "snake_case")]
#[sea_orm(rs_type = "String", db_type = "String(sea_orm::sea_query::StringLen::N(32))")]
pub enum SessionStatus {
    /// Waiting for a QR code to be scanned.
    #[sea_orm(string_value = "qr")]
    Qr,
    /// Waiting for a pairing code to be typed on the phone.
    #[sea_orm(string_value = "pairing")]
    Pairing,
    /// Starting, logging in, or finishing a link.
    #[sea_orm(string_value = "connecting")]
    Connecting,
    #[sea_orm(string_value = "connected")]
    Connected,
    /// Lost the connection; reconnecting with backoff.
    #[sea_orm(string_value = "disconnected")]
    Disconnected,
    /// Unlinked; the store is wiped. `/session/restart` links again.
    #[sea_orm(string_value = "logged_out")]
    LoggedOut,
    /// Temporarily banned by WhatsApp until `bannedUntil`; resumes after.
    #[sea_orm(string_value = "banned")]
    Banned,
    /// Not running: linking timed out, another client took over, or an admin stopped it.
    #[sea_orm(string_value = "stopped")]
    Stopped,
    /// The number was already linked in another session; this link was undone.
    #[sea_orm(string_value = "duplicate_phone")]
    DuplicatePhone,
}

impl SessionStatus {
    pub const ALL: [SessionStatus; 9] = [
        SessionStatus::Qr,
        SessionStatus::Pairing,
        SessionStatus::Connecting,
        SessionStatus::Connected,
        SessionStatus::Disconnected,
        SessionStatus::LoggedOut,
        SessionStatus::Banned,
        SessionStatus::Stopped,
        SessionStatus::DuplicatePhone,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SessionStatus::Qr => "qr",
            SessionStatus::Pairing => "pairing",
            SessionStatus::Connecting => "connecting",
            SessionStatus::Connected => "connected",
            SessionStatus::Disconnected => "disconnected",
            SessionStatus::LoggedOut => "logged_out",
            SessionStatus::Banned => "banned",
            SessionStatus::Stopped => "stopped",
            SessionStatus::DuplicatePhone => "duplicate_phone",
        }
    }

    /// Whether a session in this status holds a linked device (so its number is taken).
    pub fn holds_device(self) -> bool {
        !matches!(
            self,
            SessionStatus::LoggedOut | SessionStatus::DuplicatePhone | SessionStatus::Qr | SessionStatus::Pairing
        )
    }
}

/// What an account calls the session with internal key `key`: the key, or
/// what comes before its `~` (names cannot contain one) when another account
/// had the name first. Every response and event shows names, never keys.
pub fn name_of(key: &str) -> &str {
    key.split_once('~').map_or(key, |(name, _)| name)
}
