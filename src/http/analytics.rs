//! `GET /analytics/inbox`: the inbox's figures for a period (see
//! `crate::inbox::analytics`). Agents see the conversations they answered.

use axum::{Json, extract::State};
use chrono::NaiveDate;
use serde::Deserialize;
use serde_valid::Validate;
use utoipa::IntoParams;

use super::{Data, common::chat_scope, extract::ApiQuery};
use crate::{
    auth::Principal,
    error::{ApiError, ErrorBody},
    http::state::AppState,
    inbox::analytics::{GroupBy, InboxAnalytics, Period},
};

/// The longest period, in days.
const MAX_DAYS: i64 = 366;

#[derive(Debug, Deserialize, Validate, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AnalyticsQuery {
    /// The first day (`2026-12-01`) in the gateway's time zone; default: six
    /// days before `to`.
    #[serde(default)]
    pub from: Option<String>,
    /// The last day, included; default: today.
    #[serde(default)]
    pub to: Option<String>,
    /// `day` (default), `agent` or `session`.
    #[serde(default)]
    #[param(inline)]
    pub group_by: GroupBy,
}

fn day(field: &'static str, text: &str) -> Result<NaiveDate, ApiError> {
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
        .map_err(|_| ApiError::invalid_field(field, "must be a day as YYYY-MM-DD (2026-12-01)"))
}

/// Conversations opened in the period (a customer wrote while none of the
/// chat's was open; it lasts to the close), per day, agent or session:
/// chats opened, first response and resolution times (p50/p90), messages in
/// and out, chats the bot answered alone, the customers' ratings; and the
/// whole period's.
#[utoipa::path(
    get, path = "/analytics/inbox", tag = "inbox",
    security(("bearer" = []), ("api_key" = [])),
    params(AnalyticsQuery),
    responses((status = 200, body = Data<InboxAnalytics>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody))
)]
pub async fn inbox_analytics(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(query): ApiQuery<AnalyticsQuery>,
) -> Result<Json<Data<InboxAnalytics>>, ApiError> {
    let offset = state.config.zone();
    let to = match query.to.as_deref() {
        Some(text) => day("to", text)?,
        None => chrono::Utc::now().with_timezone(&offset).date_naive(),
    };
    let from = match query.from.as_deref() {
        Some(text) => day("from", text)?,
        None => to - chrono::Days::new(6),
    };
    if to < from {
        return Err(ApiError::invalid_field("to", "must not be before from"));
    }
    if (to - from).num_days() >= MAX_DAYS {
        return Err(ApiError::invalid_field("to", format!("must be at most {MAX_DAYS} days from from")));
    }
    let scope = chat_scope(&state, &principal).await?;
    let figures = state.inbox.analytics(&scope, Period { from, to, offset }, query.group_by).await?;
    Ok(Json(Data { data: figures }))
}
