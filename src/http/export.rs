//! `GET /chats/export`: the messages of one chat, or of every chat the list's
//! filters keep, in a time range, as CSV or JSON, streamed (see
//! `crate::inbox::export`). Agents export only the chats assigned to them.

use crate::config::Zone;
use axum::{
    body::Body,
    extract::State,
    http::{HeaderValue, header},
    response::Response,
};
use chrono::{Days, NaiveDate};
use futures_util::StreamExt;
use serde::Deserialize;
use serde_valid::Validate;
use utoipa::{IntoParams, ToSchema};

use super::{
    chats::{FilterParams, chat_filter},
    common::chat_scope,
    extract::ApiQuery,
};
use crate::{
    auth::Principal,
    error::{ApiError, ErrorBody},
    http::state::AppState,
    inbox::export::{ExportFormat, ExportQuery},
    model::ChatMode,
    validation,
};

/// `csv` (default) or `json`.
#[derive(Debug, Clone, Copy, Default, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    #[default]
    Csv,
    Json,
}

#[derive(Debug, Deserialize, Validate, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ExportParams {
    /// `csv` (default) or `json`.
    #[serde(default)]
    #[param(inline)]
    pub format: Format,
    /// Only this chat.
    #[serde(default)]
    pub chat_id: Option<i64>,
    /// From this time on: RFC 3339, or a day (`2026-12-01`, from its start) in
    /// the gateway's time zone.
    #[serde(default)]
    pub from: Option<String>,
    /// Up to this time (before it): RFC 3339, or a day (`2026-12-07`, to its
    /// end) in the gateway's time zone.
    #[serde(default)]
    pub to: Option<String>,
    /// The list's filters (`GET /chats/`): only chats in this mode.
    #[serde(default)]
    pub mode: Option<ChatMode>,
    /// `me`, `unassigned`, `all` (default), or an agent's user id.
    #[serde(default)]
    pub assignee: Option<String>,
    /// Only this session's chats.
    #[serde(default)]
    #[validate(custom = validation::optional_session_id)]
    pub session: Option<String>,
    /// `true`: only chats with unread messages.
    #[serde(default)]
    pub unread: Option<bool>,
    /// A part of the chat's name or number.
    #[serde(default)]
    #[validate(max_length = 100)]
    pub q: Option<String>,
    /// Only chats with this label (its id).
    #[serde(default)]
    pub label: Option<i64>,
}

/// A time bound: RFC 3339, a local `YYYY-MM-DD HH:MM[:SS]`, or a day (its
/// start; with `end`, the next day's start). Epoch ms.
fn bound(field: &'static str, text: &str, offset: Zone, end: bool) -> Result<i64, ApiError> {
    if let Ok(day) = NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d") {
        let day = if end { day.checked_add_days(Days::new(1)) } else { Some(day) };
        if let Some(t) = day.and_then(|d| d.and_hms_opt(0, 0, 0)).and_then(|t| t.and_local_timezone(offset).earliest())
        {
            return Ok(t.timestamp_millis());
        }
    }
    crate::notify::notices::parse_time(text, offset)
        .ok_or_else(|| ApiError::invalid_field(field, "must be a day (2026-12-01) or a time (RFC 3339)"))
}

/// Every message (received, sent, notes) of the chats the caller may see that
/// the filters keep, oldest first, streamed as it is read: CSV (columns
/// `time, chat_id, chat_name, phone, session, entry_id, message_id, sender,
/// agent, type, text, filename, status, reason`; times in the gateway's time
/// zone) or a JSON array of `{chat_id, chat_name, phone, session, message}`.
#[utoipa::path(
    get, path = "/chats/export", tag = "inbox",
    security(("bearer" = []), ("api_key" = [])),
    params(ExportParams),
    responses(
        (status = 200, description = "the messages, as a file", content((String = "text/csv"), (Vec<crate::inbox::MessageInChat> = "application/json"))),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)
    )
)]
pub async fn export_chats(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(params): ApiQuery<ExportParams>,
) -> Result<Response, ApiError> {
    let offset = state.config.zone();
    let from = params.from.as_deref().map(|t| bound("from", t, offset, false)).transpose()?;
    let to = params.to.as_deref().map(|t| bound("to", t, offset, true)).transpose()?;
    if let (Some(from), Some(to)) = (from, to)
        && to <= from
    {
        return Err(ApiError::invalid_field("to", "must be after from"));
    }
    let scope = chat_scope(&state, &principal).await?;
    if let Some(chat) = params.chat_id {
        // Another caller's chat is not there.
        state.inbox.chat(&scope, chat).await?;
    }
    let filter = FilterParams {
        mode: params.mode,
        assignee: params.assignee.as_deref(),
        session: params.session.as_deref(),
        unread: params.unread,
        q: params.q.as_deref(),
        label: params.label,
    };
    let query = ExportQuery { filter: chat_filter(&state, &principal, filter).await?, chat: params.chat_id, from, to };
    let (format, kind, extension) = match params.format {
        Format::Csv => (ExportFormat::Csv, "text/csv; charset=utf-8", "csv"),
        Format::Json => (ExportFormat::Json, "application/json", "json"),
    };
    let chunks = state.inbox.export(scope, query, format).map(|chunk| {
        chunk.map(bytes::Bytes::from).map_err(|e| {
            tracing::warn!(error = %e, "an export stopped: the database read failed");
            std::io::Error::other(e.to_string())
        })
    });
    let mut response = Response::new(Body::from_stream(chunks));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    let name = match params.chat_id {
        Some(chat) => format!("wagate-chat-{chat}.{extension}"),
        None => format!("wagate-chats-{}.{extension}", chrono::Utc::now().with_timezone(&offset).format("%Y%m%d-%H%M")),
    };
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}
