//! Prometheus metrics, one registry per running app (tests run many apps in one
//! process). Served at `/metrics` in the OpenMetrics text format.

use std::time::Duration;

use prometheus_client::{
    encoding::{EncodeLabelSet, text::encode},
    metrics::{
        counter::Counter,
        family::Family,
        gauge::Gauge,
        histogram::{Histogram, exponential_buckets},
    },
    registry::Registry,
};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub method: String,
    pub route: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub method: String,
    pub route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StatusLabels {
    pub status: String,
}

fn latency_histogram() -> Histogram {
    // 0.5 ms .. ~16 s
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub outcome: String,
}

pub struct Metrics {
    registry: Registry,
    http_requests: Family<RequestLabels, Counter>,
    http_latency: Family<RouteLabels, Histogram, fn() -> Histogram>,
    sessions: Family<StatusLabels, Gauge>,
    password_verifications: Counter,
    webhooks: WebhookMetrics,
    inbound_commit: Histogram,
}

/// What the webhook deliverer counts; cheap to clone.
#[derive(Clone)]
pub struct WebhookMetrics {
    attempts: Family<OutcomeLabels, Counter>,
    latency: Histogram,
    pending: Gauge,
    oldest_pending_seconds: Gauge,
}

impl WebhookMetrics {
    /// One attempt: `succeeded`, `retrying`, `failed` or `gone`, and how long it took.
    pub fn observe(&self, outcome: &'static str, elapsed: Duration) {
        self.attempts.get_or_create(&OutcomeLabels { outcome: outcome.to_owned() }).inc();
        self.latency.observe(elapsed.as_secs_f64());
    }
}

pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("wagate");
        let http_requests = Family::<RequestLabels, Counter>::default();
        let http_latency = Family::<RouteLabels, Histogram, fn() -> Histogram>::new_with_constructor(latency_histogram);
        registry.register("http_requests", "HTTP requests answered, by route and status", http_requests.clone());
        registry.register(
            "http_request_duration_seconds",
            "Time to answer an HTTP request, by route",
            http_latency.clone(),
        );
        let sessions = Family::<StatusLabels, Gauge>::default();
        registry.register("sessions", "WhatsApp sessions, by status", sessions.clone());
        let password_verifications = Counter::default();
        registry.register(
            "password_verifications",
            "bcrypt verifications (one per login attempt that was not throttled)",
            password_verifications.clone(),
        );
        let webhooks = WebhookMetrics {
            attempts: Family::default(),
            latency: latency_histogram(),
            pending: Gauge::default(),
            oldest_pending_seconds: Gauge::default(),
        };
        registry.register("webhook_attempts", "Webhook delivery attempts, by outcome", webhooks.attempts.clone());
        registry.register(
            "webhook_attempt_duration_seconds",
            "Time from a webhook request to its answer",
            webhooks.latency.clone(),
        );
        registry.register("webhook_pending", "Webhook deliveries waiting to be made", webhooks.pending.clone());
        registry.register(
            "webhook_oldest_pending_seconds",
            "Age of the oldest webhook delivery still waiting",
            webhooks.oldest_pending_seconds.clone(),
        );
        // 0.25 ms .. ~1 s, finer than the others: the bot's answer waits on it.
        let inbound_commit = Histogram::new(exponential_buckets(0.00025, 1.5, 21));
        registry.register(
            "inbound_commit_seconds",
            "From a received batch reaching the inbox to its commit (with the bot's replies queued): \
             WhatsApp's receipt waits on it",
            inbound_commit.clone(),
        );
        Self { registry, http_requests, http_latency, sessions, password_verifications, webhooks, inbound_commit }
    }
}

impl Metrics {
    /// What the inbox's writer observes each commit's wait in.
    pub fn inbound_commit(&self) -> Histogram {
        self.inbound_commit.clone()
    }

    /// The counter [`crate::auth::Passwords`] adds each verification to.
    pub fn password_verifications(&self) -> Counter {
        self.password_verifications.clone()
    }

    /// `route` must be a route template (or one word for what matched none):
    /// callers cannot grow the series, and methods outside HTTP's own fold into `other`.
    pub fn observe_request(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        let (method, route) = (method_label(method).to_owned(), route.to_owned());
        self.http_latency
            .get_or_create(&RouteLabels { method: method.clone(), route: route.clone() })
            .observe(elapsed.as_secs_f64());
        self.http_requests.get_or_create(&RequestLabels { method, route, status }).inc();
    }

    /// Sets the sessions-by-status gauges (read from the database at scrape time).
    pub fn set_sessions(&self, counts: &[(&str, u64)]) {
        for (status, n) in counts {
            let n = i64::try_from(*n).unwrap_or(i64::MAX);
            self.sessions.get_or_create(&StatusLabels { status: (*status).to_owned() }).set(n);
        }
    }

    /// The handles the webhook deliverer counts with.
    pub fn webhooks(&self) -> WebhookMetrics {
        self.webhooks.clone()
    }

    /// Sets the webhook backlog gauges (read from the database at scrape time).
    pub fn set_webhook_backlog(&self, pending: u64, oldest_age: Duration) {
        self.webhooks.pending.set(i64::try_from(pending).unwrap_or(i64::MAX));
        self.webhooks.oldest_pending_seconds.set(i64::try_from(oldest_age.as_secs()).unwrap_or(i64::MAX));
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        encode(&mut out, &self.registry).expect("writing to a String cannot fail");
        out
    }
}

/// HTTP's own methods by name; anything a client invents is `other`.
fn method_label(method: &str) -> &'static str {
    match method {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "OPTIONS" => "OPTIONS",
        "CONNECT" => "CONNECT",
        "TRACE" => "TRACE",
        _ => "other",
    }
}
