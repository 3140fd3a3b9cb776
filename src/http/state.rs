//! The one state object handed to every handler and worker.

use std::{
    ops::Deref,
    sync::{Arc, OnceLock},
    time::Instant,
};

use sea_orm::DatabaseConnection;

use crate::{
    auth::{JwtKeys, LoginThrottle, Passwords, principal::Credentials},
    config::Config,
    inbox::Inbox,
    metrics::Metrics,
    queue::{Queue, media::Fetcher},
    sessions::Sessions,
};

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub config: Arc<Config>,
    pub db: DatabaseConnection,
    /// Every write transaction begins here (`db::write`).
    pub writer: crate::db::write::Writer,
    pub jwt: JwtKeys,
    pub passwords: Passwords,
    /// Login attempts per client address and account.
    pub logins: LoginThrottle,
    /// Users' roles and API keys, as authentication last read them.
    pub credentials: Credentials,
    pub metrics: Metrics,
    pub sessions: Sessions,
    pub queue: Queue,
    pub inbox: Inbox,
    /// The menu bot (answering in the inbox's commits).
    pub bot: crate::bot::Bot,
    pub webhooks: crate::webhooks::Webhooks,
    /// Fetches media URLs for image and document messages (SSRF-guarded).
    pub media: Fetcher,
    /// Media being received at once (uploads read, URLs fetched):
    /// `media.max_concurrent`; more wait their turn.
    pub media_slots: crate::http::slots::MediaSlots,
    /// Whether the database answers (see [`crate::db::health`]).
    pub db_health: crate::db::health::DbHealth,
    pub started_at: Instant,
    /// The OpenAPI document as JSON, set once the router is assembled.
    pub openapi: OnceLock<String>,
    /// The same as a web page (`GET /docs`).
    pub docs: OnceLock<String>,
}

impl AppState {
    pub fn new(inner: Inner) -> Self {
        Self(Arc::new(inner))
    }
}

impl Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}
