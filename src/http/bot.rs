//! `/bot/config`: the account's menu bot, one document (menus, commands,
//! replies, office hours, per-session overrides and switches). A key limited to
//! sessions has no say over it: the document is the whole account's.

use axum::{Json, extract::State};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::{Data, extract::ConfigJson};
use crate::{
    auth::{Principal, principal::AuthMethod},
    bot::{BotConfig, BotError, SessionAnswering, Stored},
    error::{ApiError, ErrorBody},
    http::state::AppState,
};

impl From<BotError> for ApiError {
    fn from(err: BotError) -> Self {
        match err {
            BotError::Invalid(path, message) => ApiError::invalid_field(path, message),
            BotError::Db(e) => e.into(),
        }
    }
}

/// The account's bot.
#[derive(Serialize, ToSchema)]
pub struct BotView {
    /// The document; `PUT /bot/config` takes it back as it is.
    pub config: BotConfig,
    /// When it was saved; `null`: never (the default, off).
    pub updated_at: Option<DateTime<Utc>>,
    /// Whether the bot answers each of the account's sessions.
    pub sessions: Vec<SessionAnswering>,
}

fn whole_account(principal: &Principal) -> Result<(), ApiError> {
    match &principal.via {
        AuthMethod::ApiKey { sessions: Some(_), .. } => {
            Err(ApiError::forbidden("a key limited to sessions cannot use the bot, which is the whole account's"))
        }
        _ => Ok(()),
    }
}

async fn view(state: &AppState, owner: i64, stored: Stored) -> Result<BotView, ApiError> {
    let sessions = state.bot.answering(owner, &stored.config).await?;
    Ok(BotView {
        config: stored.config,
        updated_at: stored.updated_at.and_then(DateTime::from_timestamp_millis),
        sessions,
    })
}

/// The account's bot document (the default, off, until one is saved).
#[utoipa::path(
    get, path = "/bot/config", tag = "bot",
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, body = Data<BotView>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody))
)]
pub async fn get_bot_config(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Data<BotView>>, ApiError> {
    whole_account(&principal)?;
    let stored = state.bot.get(principal.user_id).await?;
    Ok(Json(Data { data: view(&state, principal.user_id, stored).await? }))
}

/// Replace the account's bot document; the next message is answered by it.
/// Fields left out take their defaults. What `GET /bot/config` answered is
/// taken back unchanged too (the document under `config`, or under
/// `data.config`). An invalid document (unknown menu or
/// session, a loop between menus, an empty text, …) is refused with the path
/// of the error.
#[utoipa::path(
    put, path = "/bot/config", tag = "bot",
    security(("bearer" = []), ("api_key" = [])),
    request_body = BotConfig,
    responses(
        (status = 200, body = Data<BotView>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
pub async fn put_bot_config(
    State(state): State<AppState>,
    principal: Principal,
    ConfigJson(config): ConfigJson<BotConfig>,
) -> Result<Json<Data<BotView>>, ApiError> {
    whole_account(&principal)?;
    let stored = state.bot.put(principal.user_id, config).await?;
    Ok(Json(Data { data: view(&state, principal.user_id, stored).await? }))
}
