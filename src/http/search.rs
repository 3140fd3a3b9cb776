//! `GET /chats/search`: search inside messages (received and sent texts and
//! captions, notes) of the chats the caller may see (see `crate::inbox::search`).

use axum::{Json, extract::State};
use serde::Deserialize;
use serde_valid::Validate;
use utoipa::IntoParams;

use super::{common::chat_scope, extract::ApiQuery};
use crate::{
    auth::Principal,
    error::{ApiError, ErrorBody},
    http::state::AppState,
    inbox::search::{SearchIn, SearchPage, words_of},
};

#[derive(Debug, Deserialize, Validate, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SearchQuery {
    /// Words (at least one of 3 or more letters or digits; shorter ones are
    /// left out), compared by their stems (Indonesian affixes taken off:
    /// `bayar` finds `dibayar`), all of them in one message. Any other
    /// character separates words: it is never an operator.
    pub q: String,
    /// Only this chat's messages.
    #[serde(default)]
    pub chat_id: Option<i64>,
    /// The `before` of the previous page: older hits.
    #[serde(default)]
    pub before: Option<i64>,
    /// Hits per page, 1–50 (default 20).
    #[serde(default = "default_limit")]
    #[validate(minimum = 1)]
    #[validate(maximum = 50)]
    pub limit: u64,
}

fn default_limit() -> u64 {
    20
}

/// Messages holding every word of `q`, newest first, in the chats the caller
/// may see (an agent: the chats assigned to them).
#[utoipa::path(
    get, path = "/chats/search", tag = "inbox",
    security(("bearer" = []), ("api_key" = [])),
    params(SearchQuery),
    responses((status = 200, body = SearchPage), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody))
)]
pub async fn search_messages(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(query): ApiQuery<SearchQuery>,
) -> Result<Json<SearchPage>, ApiError> {
    let words = words_of(&query.q).map_err(|message| ApiError::invalid_field("q", message))?;
    let scope = chat_scope(&state, &principal).await?;
    if let Some(chat) = query.chat_id {
        // Another caller's chat is not there.
        state.inbox.chat(&scope, chat).await?;
    }
    let within = SearchIn { chat: query.chat_id, before: query.before };
    Ok(Json(state.inbox.search(&scope, words, within, query.limit).await?))
}
