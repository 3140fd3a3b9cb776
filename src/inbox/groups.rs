//! Changes to the groups a session is in (participants, subject, description,
//! settings, the invite link), as the inbox keeps them: a received message of
//! kind `group_update` in the group's chat, told as `group.participants`
//! (added, removed or left, promoted, demoted) or `group.updated` (the rest),
//! in the same commit as any message.

use crate::engine::{GroupChange, GroupChangeKind, Inbound, Place};

/// The kind of a kept group change.
pub const KIND: &str = "group_update";

/// The event a kept change is told as: `group.participants` for a change of
/// participants, `group.updated` for the rest.
pub fn event_of(extra: Option<&str>) -> &'static str {
    let extra: Option<serde_json::Value> = extra.and_then(|e| serde_json::from_str(e).ok());
    let action = extra.as_ref().and_then(|e| e.get("action")).and_then(|a| a.as_str()).unwrap_or_default();
    if matches!(action, "add" | "remove" | "promote" | "demote") { "group.participants" } else { "group.updated" }
}

/// A group change as a received message of kind [`KIND`]: its `extra` says
/// what changed (`action`: `add`, `remove`, `promote`, `demote`, `create`,
/// `subject`, `description`, `announce`, `locked`, `invite_reset`; with
/// `participants`, `reason`, `subject`, `description` or `on`).
pub fn as_inbound(change: &GroupChange) -> Inbound {
    use serde_json::json;
    let extra = match &change.what {
        GroupChangeKind::Members { action, phones, reason } => {
            json!({"action": action.as_str(), "participants": phones, "reason": reason})
        }
        GroupChangeKind::Created { subject } => json!({"action": "create", "subject": subject}),
        GroupChangeKind::Subject(subject) => json!({"action": "subject", "subject": subject}),
        GroupChangeKind::Description(text) => json!({"action": "description", "description": text}),
        GroupChangeKind::Announce(on) => json!({"action": "announce", "on": on}),
        GroupChangeKind::Locked(on) => json!({"action": "locked", "on": on}),
        GroupChangeKind::InviteReset => json!({"action": "invite_reset"}),
    };
    let sender = match &change.by {
        Some(phone) => format!("{phone}@s.whatsapp.net"),
        None => change.group.clone(),
    };
    // One notification may carry several changes: each is its own entry.
    let id = match &change.notification {
        Some(id) => format!("{id}:{}", change.index),
        None => format!("{}:{}", change.at_ms, change.index),
    };
    Inbound {
        push_name: change.by_name.clone(),
        extra: Some(extra),
        ..Inbound::bare(id, change.group.clone(), sender, Place::Group, KIND, change.at_ms)
    }
}
