//! Outgoing webhooks, per Standard Webhooks 1.0: an account's endpoints (and
//! one from `[webhook] url` that hears every account) get the gateway's events
//! as signed JSON posts, at least once, each with an id that stays the same on
//! every retry.
//!
//! Durable: a producer writes an event and a delivery per endpoint that wants
//! it in the transaction of the change it tells of (`db::write`), so no event
//! is lost between the two; the deliverer ([`deliver`]) claims and posts
//! pending deliveries, retrying on `webhook.schedule`, and resumes after a
//! restart from the table. Endpoints are kept in memory (this process is the
//! only writer of them: see `db::owner`).

mod deliver;
mod store;

use std::{
    sync::{Arc, RwLock},
    time::Duration,
};

use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter};
use serde::Serialize;
use utoipa::ToSchema;

use crate::{
    config::Config,
    db::{
        entities::{webhook_deliveries as deliveries, webhook_events as events, webhooks},
        record::{NewEvent, Target},
        write::Writer,
    },
    metrics::WebhookMetrics,
    model::{DeliveryStatus, SessionKey, now_ms},
    net::{AddressPolicy, GuardedResolver, check_url},
    sealed::Sealer,
    sign,
};

/// The events an endpoint may subscribe to: the names of the `/events` stream.
pub const EVENT_TYPES: [&str; 15] = [
    "message.received",
    "message.status",
    "message.reaction",
    "message.edited",
    "message.revoked",
    "poll.vote",
    "call.received",
    "group.updated",
    "group.participants",
    "session.status",
    "session.qr",
    "chat.message",
    "chat.updated",
    "broadcast.progress",
    "broadcast.completed",
];

/// What a sealed `secret` column is bound to (see [`crate::sealed`]).
const SECRET_CONTEXT: &str = "webhooks.secret";

/// Why an endpoint whose secret does not open was disabled.
const UNREADABLE_SECRET: &str =
    "its secret cannot be read with this gateway's secrets_key: rotate the secret, then enable it";

/// The event `POST /webhooks/{id}/test` sends.
pub const TEST_EVENT: &str = "webhook.test";

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("webhook not found")]
    NotFound,
    #[error("delivery not found")]
    DeliveryNotFound,
    #[error("{1}")]
    Invalid(&'static str, String),
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// An endpoint as its account sees it (the secret only when it is made or rotated).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WebhookView {
    pub id: i64,
    pub url: String,
    /// The events it gets; `null`: every one but `session.qr`.
    pub events: Option<Vec<String>>,
    /// The sessions whose events it gets; `null`: all of the account's.
    pub sessions: Option<Vec<String>>,
    pub enabled: bool,
    pub description: String,
    /// Why the gateway disabled it (a 410, or failing too long).
    pub disabled_reason: Option<String>,
    /// Since when every delivery has failed.
    pub failing_since: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A new endpoint, or a changed one: what is left out stays.
#[derive(Debug, Clone, Default)]
pub struct EndpointSpec {
    pub url: Option<String>,
    pub events: Option<Option<Vec<String>>>,
    pub sessions: Option<Option<Vec<String>>>,
    pub enabled: Option<bool>,
    pub description: Option<String>,
}

/// One event's delivery to one endpoint, for the delivery log.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DeliveryView {
    pub id: i64,
    /// The `webhook-id` header: the same on every attempt.
    pub message_id: String,
    pub event_type: Option<String>,
    pub session: Option<String>,
    pub status: DeliveryStatus,
    pub attempts: i32,
    /// The receiver's last HTTP status, if it answered.
    pub last_status: Option<i32>,
    /// The start of its last answer (at most 1 KiB), or why there was none.
    pub last_response: Option<String>,
    /// When a pending delivery is tried next.
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

fn time(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

fn list_of(json: &Option<String>) -> Option<Vec<String>> {
    json.as_deref().and_then(|j| serde_json::from_str(j).ok())
}

impl From<&webhooks::Model> for WebhookView {
    fn from(row: &webhooks::Model) -> Self {
        WebhookView {
            id: row.id,
            url: row.url.clone(),
            events: list_of(&row.events),
            sessions: list_of(&row.sessions),
            enabled: row.enabled,
            description: row.description.clone(),
            disabled_reason: row.disabled_reason.clone(),
            failing_since: row.failing_since.map(time),
            created_at: time(row.created_at),
            updated_at: time(row.updated_at),
        }
    }
}

fn delivery_view(row: &deliveries::Model, event: Option<&events::Model>) -> DeliveryView {
    DeliveryView {
        id: row.id,
        message_id: message_id(row.event_id),
        event_type: event.map(|e| e.kind.clone()),
        session: event.and_then(|e| e.session_id.as_ref()).map(|key| key.name().to_owned()),
        status: row.status,
        attempts: row.attempts,
        last_status: row.last_status,
        last_response: row.last_response.clone(),
        next_attempt_at: (row.status == DeliveryStatus::Pending).then(|| time(row.next_attempt_at)),
        created_at: time(row.created_at),
        updated_at: time(row.updated_at),
    }
}

/// The `webhook-id` of an event.
pub fn message_id(event: i64) -> String {
    format!("msg_{event}")
}

/// The body posted for an event: `{id, type, timestamp, session, sequence,
/// data}`, the same bytes on every attempt.
pub fn envelope(event: &events::Model) -> String {
    let data: serde_json::Value = serde_json::from_str(&event.data).unwrap_or(serde_json::Value::Null);
    serde_json::json!({
        "id": message_id(event.id),
        "type": event.kind,
        "timestamp": time(event.created_at),
        "session": event.session_id.as_ref().map(SessionKey::name),
        "sequence": event.id,
        "data": data,
    })
    .to_string()
}

#[derive(Clone)]
pub struct Webhooks(Arc<Inner>);

struct Inner {
    db: DatabaseConnection,
    config: Arc<Config>,
    /// Writes endpoint removals and test events; its recorder matches events to endpoints.
    writer: Writer,
    client: reqwest::Client,
    policy: Arc<AddressPolicy>,
    metrics: WebhookMetrics,
    /// Seals the endpoints' secrets in the database (see [`crate::sealed`]).
    sealer: Sealer,
    /// The enabled endpoints, as last read.
    endpoints: RwLock<Vec<webhooks::Model>>,
}

/// How long a URL's host name may take to resolve when an endpoint is made.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(3);

impl Webhooks {
    /// Reads the endpoints and brings the config's endpoint (`[webhook] url`)
    /// in line with the config, after sealing any secret an earlier version
    /// kept in plain text. `secret`: the config's, or one kept in `data_dir`.
    pub async fn new(
        writer: Writer,
        config: Arc<Config>,
        metrics: WebhookMetrics,
        secret: &sign::Key,
        sealer: Sealer,
    ) -> anyhow::Result<Webhooks> {
        let db = writer.db().clone();
        let mut allowed = Vec::new();
        for range in &config.webhook.allow_ranges {
            allowed.push(crate::net::Cidr::parse(range).map_err(anyhow::Error::msg)?);
        }
        let policy = Arc::new(AddressPolicy { allow_private: false, allowed });
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .dns_resolver(Arc::new(GuardedResolver { policy: policy.clone() }))
            .timeout(config.webhook.timeout)
            .connect_timeout(config.webhook.timeout)
            .user_agent(concat!("wagate/", env!("CARGO_PKG_VERSION"), " (webhooks)"))
            .build()?;
        let webhooks = Webhooks(Arc::new(Inner {
            db,
            config,
            writer,
            client,
            policy,
            metrics,
            sealer,
            endpoints: RwLock::new(Vec::new()),
        }));
        webhooks.seal_stored_secrets().await?;
        webhooks.configured_endpoint(secret).await?;
        webhooks.reload().await?;
        Ok(webhooks)
    }

    /// Starts the deliverer and the retention sweep.
    pub fn start(&self) {
        tokio::spawn(deliver::run(self.clone()));
        tokio::spawn(sweep(self.clone()));
    }

    /// Pending deliveries, and the age of the oldest.
    pub async fn backlog(&self) -> Result<(u64, Duration), DbErr> {
        let (count, oldest) = store::backlog(&self.0.db).await?;
        let age = oldest.map_or(0, |t| now_ms().saturating_sub(t).max(0));
        Ok((count, Duration::from_millis(age as u64)))
    }

    fn endpoints(&self) -> Vec<webhooks::Model> {
        self.0.endpoints.read().expect("endpoints lock").clone()
    }

    fn endpoint_ids(&self) -> Vec<i64> {
        self.0.endpoints.read().expect("endpoints lock").iter().map(|e| e.id).collect()
    }

    /// Reads the enabled endpoints again (after any change to one).
    async fn reload(&self) -> Result<(), DbErr> {
        let rows = store::enabled(&self.0.db).await?;
        self.0.writer.recorder().set_targets(rows.iter().map(Target::of).collect());
        *self.0.endpoints.write().expect("endpoints lock") = rows;
        self.0.writer.recorder().committed();
        Ok(())
    }

    async fn disable(&self, id: i64, reason: &str) {
        tracing::warn!(webhook = id, reason, "webhook endpoint disabled");
        if let Err(e) = store::disable(&self.0.writer, id, reason, now_ms()).await {
            tracing::warn!(webhook = id, error = %e, "cannot disable a webhook endpoint");
        }
        if let Err(e) = self.reload().await {
            tracing::warn!(error = %e, "cannot read webhook endpoints");
        }
    }

    /// `key`, sealed as the `secret` columns keep it.
    fn seal(&self, key: &sign::Key) -> String {
        self.0.sealer.seal(SECRET_CONTEXT, key.as_bytes())
    }

    /// The key a `secret` column keeps; `None` if it does not open.
    fn key_of(&self, stored: &str) -> Option<sign::Key> {
        self.0.sealer.open(SECRET_CONTEXT, stored).and_then(|bytes| sign::Key::from_bytes(bytes).ok())
    }

    /// Seals the secrets an earlier version stored in plain text. An endpoint
    /// whose secret does not open with this key (the database came without its
    /// `secrets_key`) is disabled, saying so: rotating its secret and enabling
    /// it again brings it back.
    async fn seal_stored_secrets(&self) -> Result<(), DbErr> {
        for row in webhooks::Entity::find().all(&self.0.db).await? {
            let mut change: webhooks::ActiveModel = row.clone().into();
            let mut changed = false;
            for (stored, column) in [(Some(&row.secret), 0), (row.previous_secret.as_ref(), 1)] {
                let Some(stored) = stored.filter(|s| !Sealer::is_sealed(s)) else { continue };
                let sealed = sign::Key::parse(stored).ok().map(|key| self.seal(&key));
                match column {
                    0 => change.secret = Set(sealed.unwrap_or_default()),
                    _ => change.previous_secret = Set(sealed),
                }
                changed = true;
            }
            let unreadable = Sealer::is_sealed(&row.secret) && self.key_of(&row.secret).is_none();
            if unreadable && row.enabled {
                tracing::warn!(webhook = row.id, "a webhook secret does not open with this gateway's secrets_key");
                change.enabled = Set(false);
                change.disabled_reason = Set(Some(UNREADABLE_SECRET.into()));
                changed = true;
            }
            if changed {
                change.updated_at = Set(now_ms());
                store::touch(&self.0.db, change).await?;
            }
        }
        Ok(())
    }

    /// The config's endpoint: made, changed or removed to match `[webhook] url`.
    async fn configured_endpoint(&self, secret: &sign::Key) -> Result<(), DbErr> {
        let url = &self.0.config.webhook.url;
        let existing = store::of_owner(&self.0.db, None).await?;
        let now = now_ms();
        match (existing.first(), url.is_empty()) {
            (Some(row), true) => {
                webhooks::Entity::delete_by_id(row.id).exec(&self.0.db).await?;
            }
            (Some(row), false)
                if row.url != *url
                    || self.key_of(&row.secret).is_none_or(|kept| kept.as_bytes() != secret.as_bytes())
                    || !row.enabled =>
            {
                let mut change: webhooks::ActiveModel = row.clone().into();
                change.url = Set(url.clone());
                change.secret = Set(self.seal(secret));
                change.enabled = Set(true);
                change.disabled_reason = Set(None);
                change.updated_at = Set(now);
                store::touch(&self.0.db, change).await?;
            }
            (Some(_), false) | (None, true) => {}
            (None, false) => {
                new_endpoint(None, url, None, None, true, "[webhook] url in the config", &self.seal(secret), now)
                    .insert(&self.0.db)
                    .await?;
            }
        }
        Ok(())
    }

    /// Checks a URL an endpoint is to post to: http(s), and a host that is
    /// (or resolves to) an address the policy permits. A name that does not
    /// resolve now is checked again at every delivery.
    async fn check_target(&self, url: &str) -> Result<(), WebhookError> {
        let bad = |why: String| WebhookError::Invalid("url", why);
        if url.len() > 2048 {
            return Err(bad("must be at most 2048 characters".into()));
        }
        let parsed = url::Url::parse(url).map_err(|_| bad("must be an http(s) URL".into()))?;
        check_url(&parsed, &self.0.policy).map_err(|e| bad(format!("refused: {e}")))?;
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(bad("must not carry a user name or password".into()));
        }
        if let Some(url::Host::Domain(host)) = parsed.host() {
            let port = parsed.port_or_known_default().unwrap_or(443);
            let lookup = tokio::time::timeout(RESOLVE_TIMEOUT, tokio::net::lookup_host((host, port))).await;
            if let Ok(Ok(addrs)) = lookup
                && addrs.into_iter().any(|a| !self.0.policy.permits(a.ip()))
            {
                return Err(bad(format!("refused: {host} resolves to an address that is not public")));
            }
        }
        Ok(())
    }

    fn check_lists(spec: &EndpointSpec) -> Result<(), WebhookError> {
        if let Some(Some(events)) = &spec.events {
            if events.is_empty() {
                return Err(WebhookError::Invalid("events", "must name at least one event, or be null for all".into()));
            }
            if let Some(unknown) = events.iter().find(|e| !EVENT_TYPES.contains(&e.as_str())) {
                return Err(WebhookError::Invalid(
                    "events",
                    format!("unknown event {unknown:?}; known: {}", EVENT_TYPES.join(", ")),
                ));
            }
        }
        if let Some(Some(sessions)) = &spec.sessions {
            if sessions.is_empty() || sessions.len() > 1000 {
                return Err(WebhookError::Invalid("sessions", "must name 1-1000 sessions, or be null for all".into()));
            }
            if sessions.iter().any(|s| crate::validation::session_id(s).is_err()) {
                return Err(WebhookError::Invalid(
                    "sessions",
                    "each must be 1-64 characters of letters, digits, '_' or '-'".into(),
                ));
            }
        }
        if spec.description.as_ref().is_some_and(|d| d.chars().count() > 255) {
            return Err(WebhookError::Invalid("description", "must be at most 255 characters".into()));
        }
        Ok(())
    }

    /// A new endpoint of `owner`; its secret is returned this once.
    pub async fn create(&self, owner: i64, spec: EndpointSpec) -> Result<(WebhookView, String), WebhookError> {
        Self::check_lists(&spec)?;
        let url = spec.url.clone().ok_or_else(|| WebhookError::Invalid("url", "is required".into()))?;
        self.check_target(&url).await?;
        let secret = sign::Key::generate();
        let sealed = self.seal(&sign::Key::parse(&secret).expect("a generated secret parses"));
        let row = new_endpoint(
            Some(owner),
            &url,
            spec.events.flatten(),
            spec.sessions.flatten(),
            spec.enabled.unwrap_or(true),
            spec.description.as_deref().unwrap_or(""),
            &sealed,
            now_ms(),
        )
        .insert(&self.0.db)
        .await?;
        self.reload().await?;
        Ok((WebhookView::from(&row), secret))
    }

    /// `owner`'s endpoints; `within`: only those that hear no session outside these.
    pub async fn list(&self, owner: i64, within: Option<&[String]>) -> Result<Vec<WebhookView>, WebhookError> {
        let rows = store::of_owner(&self.0.db, Some(owner)).await?;
        Ok(rows.iter().filter(|r| hears_only(r, within)).map(WebhookView::from).collect())
    }

    /// `owner`'s endpoint `id` (see [`Webhooks::list`] for `within`).
    pub async fn get(&self, owner: i64, id: i64, within: Option<&[String]>) -> Result<webhooks::Model, WebhookError> {
        webhooks::Entity::find_by_id(id)
            .filter(webhooks::Column::UserId.eq(owner))
            .one(&self.0.db)
            .await?
            .filter(|r| hears_only(r, within))
            .ok_or(WebhookError::NotFound)
    }

    pub async fn update(
        &self,
        owner: i64,
        id: i64,
        within: Option<&[String]>,
        spec: EndpointSpec,
    ) -> Result<WebhookView, WebhookError> {
        Self::check_lists(&spec)?;
        let row = self.get(owner, id, within).await?;
        let mut change: webhooks::ActiveModel = row.into();
        if let Some(url) = spec.url {
            self.check_target(&url).await?;
            change.url = Set(url);
        }
        if let Some(events) = spec.events {
            change.events = Set(events.map(|e| serde_json::to_string(&e).unwrap_or_default()));
        }
        if let Some(sessions) = spec.sessions {
            change.sessions = Set(sessions.map(|s| serde_json::to_string(&s).unwrap_or_default()));
        }
        if let Some(enabled) = spec.enabled {
            change.enabled = Set(enabled);
            if enabled {
                // Turned on again by hand: a fresh start.
                change.disabled_reason = Set(None);
                change.failing_since = Set(None);
            }
        }
        if let Some(description) = spec.description {
            change.description = Set(description);
        }
        change.updated_at = Set(now_ms());
        let row = store::touch(&self.0.db, change).await?;
        self.reload().await?;
        Ok(WebhookView::from(&row))
    }

    /// Removes an endpoint with its deliveries.
    pub async fn delete(&self, owner: i64, id: i64, within: Option<&[String]>) -> Result<(), WebhookError> {
        let row = self.get(owner, id, within).await?;
        let write = self.0.writer.begin().await?;
        deliveries::Entity::delete_many().filter(deliveries::Column::WebhookId.eq(row.id)).exec(&write.tx).await?;
        webhooks::Entity::delete_by_id(row.id).exec(&write.tx).await?;
        write.commit().await?;
        self.reload().await?;
        Ok(())
    }

    /// Removes an account's endpoints and their deliveries (before the account goes).
    pub async fn forget_owner(&self, owner: i64) -> Result<(), WebhookError> {
        let ids: Vec<i64> = store::of_owner(&self.0.db, Some(owner)).await?.into_iter().map(|r| r.id).collect();
        if ids.is_empty() {
            return Ok(());
        }
        let write = self.0.writer.begin().await?;
        let tx = &write.tx;
        deliveries::Entity::delete_many().filter(deliveries::Column::WebhookId.is_in(ids.clone())).exec(tx).await?;
        webhooks::Entity::delete_many().filter(webhooks::Column::Id.is_in(ids)).exec(tx).await?;
        write.commit().await?;
        self.reload().await?;
        Ok(())
    }

    /// A new secret, returned this once; the old one keeps signing beside it
    /// for `webhook.rotation_grace`.
    pub async fn rotate(&self, owner: i64, id: i64, within: Option<&[String]>) -> Result<String, WebhookError> {
        let row = self.get(owner, id, within).await?;
        let secret = sign::Key::generate();
        let now = now_ms();
        let mut change: webhooks::ActiveModel = row.clone().into();
        change.previous_secret = Set(Some(row.secret));
        change.previous_until = Set(Some(now + self.0.config.webhook.rotation_grace.as_millis() as i64));
        change.secret = Set(self.seal(&sign::Key::parse(&secret).expect("a generated secret parses")));
        change.updated_at = Set(now);
        store::touch(&self.0.db, change).await?;
        self.reload().await?;
        Ok(secret)
    }

    /// A page of an endpoint's deliveries, newest first, and how many there are.
    pub async fn deliveries(
        &self,
        owner: i64,
        id: i64,
        within: Option<&[String]>,
        status: Option<DeliveryStatus>,
        page: u64,
        per_page: u64,
    ) -> Result<(Vec<DeliveryView>, u64), WebhookError> {
        let row = self.get(owner, id, within).await?;
        let (rows, total) = store::deliveries_of(&self.0.db, row.id, status, page, per_page).await?;
        Ok((rows.iter().map(|(d, e)| delivery_view(d, e.as_ref())).collect(), total))
    }

    /// Sends one delivery again now, under the same `webhook-id`.
    pub async fn retry(
        &self,
        owner: i64,
        id: i64,
        within: Option<&[String]>,
        delivery: i64,
    ) -> Result<DeliveryView, WebhookError> {
        let row = self.get(owner, id, within).await?;
        store::delivery(&self.0.db, row.id, delivery).await?.ok_or(WebhookError::DeliveryNotFound)?;
        store::resend(&self.0.writer, row.id, Some(delivery), None, now_ms()).await?;
        self.0.writer.recorder().committed();
        self.delivery(row.id, delivery).await
    }

    /// Sends again every delivery of events since `since`. How many.
    pub async fn replay(
        &self,
        owner: i64,
        id: i64,
        within: Option<&[String]>,
        since: DateTime<Utc>,
    ) -> Result<u64, WebhookError> {
        let row = self.get(owner, id, within).await?;
        let count = store::resend(&self.0.writer, row.id, None, Some(since.timestamp_millis()), now_ms()).await?;
        self.0.writer.recorder().committed();
        Ok(count)
    }

    /// Sends a `webhook.test` event to this endpoint alone.
    pub async fn test(&self, owner: i64, id: i64, within: Option<&[String]>) -> Result<DeliveryView, WebhookError> {
        let row = self.get(owner, id, within).await?;
        let event = NewEvent {
            kind: TEST_EVENT,
            owner: Some(owner),
            session: None,
            data: serde_json::json!({"webhook_id": row.id, "message": "a test event from wagate"}),
        };
        let mut write = self.0.writer.begin().await?;
        let delivery = write.record_for(row.id, event).await?;
        write.commit().await?;
        self.delivery(row.id, delivery.id).await
    }

    async fn delivery(&self, webhook: i64, id: i64) -> Result<DeliveryView, WebhookError> {
        let row = store::delivery(&self.0.db, webhook, id).await?.ok_or(WebhookError::DeliveryNotFound)?;
        let event = events::Entity::find_by_id(row.event_id).one(&self.0.db).await?;
        Ok(delivery_view(&row, event.as_ref()))
    }
}

/// Whether the endpoint hears only sessions within `within` (`None`: any).
fn hears_only(row: &webhooks::Model, within: Option<&[String]>) -> bool {
    let Some(within) = within else { return true };
    list_of(&row.sessions).is_some_and(|names| names.iter().all(|n| within.contains(n)))
}

#[allow(clippy::too_many_arguments)]
fn new_endpoint(
    owner: Option<i64>,
    url: &str,
    events: Option<Vec<String>>,
    sessions: Option<Vec<String>>,
    enabled: bool,
    description: &str,
    secret: &str,
    now: i64,
) -> webhooks::ActiveModel {
    webhooks::ActiveModel {
        user_id: Set(owner),
        url: Set(url.to_owned()),
        events: Set(events.map(|e| serde_json::to_string(&e).unwrap_or_default())),
        sessions: Set(sessions.map(|s| serde_json::to_string(&s).unwrap_or_default())),
        enabled: Set(enabled),
        description: Set(description.to_owned()),
        secret: Set(secret.to_owned()),
        previous_secret: Set(None),
        previous_until: Set(None),
        disabled_reason: Set(None),
        failing_since: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
}

/// Forgets events and deliveries past `webhook.retention`, hourly.
async fn sweep(webhooks: Webhooks) {
    loop {
        let before = now_ms() - webhooks.0.config.webhook.retention.as_millis() as i64;
        loop {
            match store::forget_before(&webhooks.0.db, before).await {
                Ok(0) => break,
                Ok(_) => tokio::task::yield_now().await,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot forget old webhook events");
                    break;
                }
            }
        }
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
}
