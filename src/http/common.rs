//! What the handlers of several areas share: who may see what (the scopes
//! of a caller), phone number fields, and the paging defaults.

use crate::{
    auth::{AuthMethod, Principal},
    error::ApiError,
    http::state::AppState,
    inbox::ChatScope,
    model::Role,
    notify::phone,
    sessions::Scope,
};

/// The sessions `principal` may see and act on.
pub fn scope_of(principal: &Principal) -> Scope {
    let sessions = match &principal.via {
        AuthMethod::ApiKey { sessions, .. } => sessions.clone(),
        AuthMethod::Jwt | AuthMethod::Cookie => None,
    };
    // A key limited to sessions names its own account's: never another's, even an admin's key.
    let everyone = principal.is_admin() && sessions.is_none();
    Scope { owner: (!everyone).then_some(principal.user_id), sessions, account: Some(principal.user_id) }
}

/// The chats `principal` may see. A key limited to sessions (by name) sees
/// the chats of those sessions: its account's, or for an agent's key, those
/// of any account whose chats are assigned to the agent.
pub async fn chat_scope(state: &AppState, principal: &Principal) -> Result<ChatScope, ApiError> {
    let sessions = match &principal.via {
        AuthMethod::ApiKey { sessions: Some(_), .. } => {
            let mut scope = scope_of(principal);
            if principal.role == Role::Agent {
                scope.owner = None;
            }
            Some(state.sessions.keys_with_deleted(&scope).await?)
        }
        _ => None,
    };
    Ok(match principal.role {
        Role::Admin if sessions.is_some() => ChatScope { owner: Some(principal.user_id), sessions, agent: None },
        Role::Admin => ChatScope { owner: None, sessions, agent: None },
        Role::Agent => ChatScope { owner: None, sessions, agent: Some(principal.user_id) },
        Role::User | Role::Readonly => ChatScope { owner: Some(principal.user_id), sessions, agent: None },
    })
}

/// A phone number in any common spelling, to digits with the country code.
pub fn phone_field(state: &AppState, field: &str, raw: &str) -> Result<String, ApiError> {
    phone::normalize(raw, &state.config.notify.country_code).map_err(|e| ApiError::invalid_field(field, e.to_string()))
}

/// WhatsApp did not answer (in time) through the session's device.
pub fn unavailable(e: impl std::fmt::Display) -> ApiError {
    ApiError::new(
        axum::http::StatusCode::SERVICE_UNAVAILABLE,
        "whatsapp_unavailable",
        format!("WhatsApp did not answer: {e}"),
    )
}

/// The caller's session `name` and its connected device (409 when it has none).
pub async fn connected(
    state: &AppState,
    principal: &Principal,
    name: &str,
) -> Result<(crate::db::entities::sessions::Model, crate::engine::Sender), ApiError> {
    let row = state.sessions.get(&scope_of(principal), name).await?;
    crate::sessions::sendable(&row)?;
    let Some(sender) = state.inbox.sender_of(&row.id) else {
        let message = "the session is not connected; try again once it is";
        return Err(ApiError::new(axum::http::StatusCode::CONFLICT, "session_offline", message));
    };
    Ok((row, sender))
}

/// `page` when a list request names none.
pub fn first_page() -> u64 {
    1
}

/// `limit` when a list request names none.
pub fn default_limit() -> u64 {
    50
}
