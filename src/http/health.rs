//! Liveness and operations: `/`, `/health`, `/db-connect`, `/metrics`, `/openapi.json`.

use axum::{
    Json,
    extract::State,
    http::{StatusCode, header},
    response::IntoResponse,
};
use serde::Serialize;
use utoipa::ToSchema;

use crate::{
    db::{self, health::DbState},
    error::{ApiError, ErrorBody},
    http::state::AppState,
    metrics,
};

#[derive(Serialize, ToSchema)]
pub struct StatusBody {
    #[schema(example = "ok")]
    pub status: &'static str,
}

/// Is the process up? A browser asking for a page is sent to the dashboard.
#[utoipa::path(
    get, path = "/", tag = "health",
    responses(
        (status = 200, body = StatusBody),
        (status = 303, description = "to the dashboard (`/app`), when the request accepts `text/html`"),
    )
)]
pub async fn root(headers: axum::http::HeaderMap) -> axum::response::Response {
    if super::dashboard::wants_page(&headers) {
        return axum::response::Redirect::to(super::dashboard::PATH).into_response();
    }
    Json(StatusBody { status: "ok" }).into_response()
}

#[derive(Serialize, ToSchema)]
pub struct DbStatus {
    /// `sqlite` or `mysql`.
    #[schema(example = "sqlite")]
    pub database: &'static str,
    /// `connected` or `unreachable`; in `/health` also `locked`: reads work,
    /// but another process holds the SQLite file's write lock.
    #[schema(example = "connected")]
    pub status: &'static str,
    /// With `locked`: the process holding the lock (0 when it cannot be
    /// named, e.g. in another container).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locked_by_pid: Option<u32>,
}

/// Asks the database, for a second at most.
async fn db_status(state: &AppState) -> DbStatus {
    let answered = tokio::time::timeout(std::time::Duration::from_secs(1), db::ping(&state.db)).await;
    let status = if answered.unwrap_or(false) { "connected" } else { "unreachable" };
    DbStatus { database: db::backend_name(&state.db), status, locked_by_pid: None }
}

/// Can the gateway reach its database? (Seed 000's check; no credentials needed, like `/health`.)
#[utoipa::path(
    get, path = "/db-connect", tag = "health",
    responses(
        (status = 200, body = DbStatus),
        (status = 503, description = "database unreachable", body = DbStatus),
    )
)]
pub async fn db_connect(State(state): State<AppState>) -> impl IntoResponse {
    let status = db_status(&state).await;
    let code = if status.status == "connected" { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (code, Json(status))
}

#[derive(Serialize, ToSchema)]
pub struct HealthBody {
    /// `ok`, or `degraded` when a dependency is down.
    pub status: &'static str,
    pub version: &'static str,
    pub uptime_seconds: u64,
    pub database: DbStatus,
    pub sessions: SessionSummary,
    /// Descriptors, and the sessions that may still start under the
    /// open-files limit (`null` where it cannot be told).
    pub capacity: Option<crate::sessions::capacity::Room>,
}

/// How many sessions are in each status.
#[derive(Serialize, ToSchema)]
pub struct SessionSummary {
    pub total: u64,
    /// Status -> count, every status listed.
    pub by_status: std::collections::BTreeMap<&'static str, u64>,
}

async fn session_summary(state: &AppState) -> Option<SessionSummary> {
    let counts = state.sessions.counts().await.ok()?;
    Some(SessionSummary {
        total: counts.iter().map(|(_, n)| n).sum(),
        by_status: counts.iter().map(|(s, n)| (s.as_str(), *n)).collect(),
    })
}

/// Health summary for load balancers and monitoring.
#[utoipa::path(
    get, path = "/health", tag = "health",
    responses((status = 200, body = HealthBody), (status = 503, description = "degraded", body = HealthBody))
)]
pub async fn health(State(state): State<AppState>) -> impl IntoResponse {
    // What the database watcher last saw: answered at once, even while the
    // database does not answer.
    let seen = state.db_health.state();
    let sessions = if seen == DbState::Away { None } else { session_summary(&state).await };
    // Counting sessions asks the database too: if that fails, it is away
    // (whether or not the watcher has seen it yet).
    let locked_by_pid = match seen {
        DbState::Locked { by } => Some(by),
        _ => None,
    };
    let status = match (&sessions, locked_by_pid) {
        (None, _) => "unreachable",
        (Some(_), Some(_)) => "locked",
        (Some(_), None) => "connected",
    };
    let healthy = status == "connected";
    let database = DbStatus { database: db::backend_name(&state.db), status, locked_by_pid };
    let body = HealthBody {
        status: if healthy { "ok" } else { "degraded" },
        version: env!("CARGO_PKG_VERSION"),
        uptime_seconds: state.started_at.elapsed().as_secs(),
        database,
        sessions: sessions.unwrap_or(SessionSummary { total: 0, by_status: Default::default() }),
        capacity: state.sessions.room(),
    };
    (if healthy { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE }, Json(body))
}

/// Prometheus metrics (OpenMetrics text).
#[utoipa::path(
    get, path = "/metrics", tag = "health",
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, content_type = "application/openmetrics-text", body = String), (status = 401, body = ErrorBody))
)]
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    if let Some(summary) = session_summary(&state).await {
        let counts: Vec<_> = summary.by_status.into_iter().collect();
        state.metrics.set_sessions(&counts);
    }
    if let Ok((pending, oldest)) = state.webhooks.backlog().await {
        state.metrics.set_webhook_backlog(pending, oldest);
    }
    ([(header::CONTENT_TYPE, metrics::CONTENT_TYPE)], state.metrics.render())
}

/// This API, described as OpenAPI 3.1 (no credentials needed: client generators fetch it).
#[utoipa::path(
    get, path = "/openapi.json", tag = "health",
    responses((status = 200, content_type = "application/json", body = Object))
)]
pub async fn openapi_json(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    let doc = state.openapi.get().ok_or_else(|| ApiError::internal("OpenAPI document not built"))?;
    Ok(([(header::CONTENT_TYPE, "application/json")], doc.clone()))
}
