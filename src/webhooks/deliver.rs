//! The deliverer: one task that claims due deliveries and posts each, signed,
//! with at most `webhook.per_endpoint` under way per endpoint, then settles it:
//! done on 2xx; else tried again on the schedule (`Retry-After` honoured on 429
//! and 503) until it fails for good; a 410 disables the endpoint, and so does
//! failing for `webhook.disable_after`.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use rand::Rng;
use tokio::sync::{Semaphore, mpsc};

use super::{DeliveryStatus, Webhooks, store};
use crate::sign;
use crate::{
    db::entities::{webhook_deliveries as deliveries, webhook_events as events, webhooks},
    model::now_ms,
};

/// Deliveries claimed per round.
const ROUND: u64 = 512;
/// How long a round waits at most before looking again (a commit wakes it sooner).
const IDLE: Duration = Duration::from_secs(1);
/// Most of a receiver's answer kept in the delivery log.
const EXCERPT: usize = 1024;
/// The longest `Retry-After` honoured.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 3600);

/// What one attempt got.
enum Answer {
    Status { code: u16, body: String, retry_after: Option<Duration> },
    Error(String),
}

pub async fn run(webhooks: Webhooks) {
    let slots: Arc<Mutex<HashMap<i64, Arc<Semaphore>>>> = Arc::default();
    let (settled, outcomes) = mpsc::unbounded_channel();
    tokio::spawn(settle(webhooks.clone(), outcomes));
    loop {
        if let Err(e) = round(&webhooks, &slots, &settled).await {
            tracing::warn!(error = %e, "webhook deliverer: cannot read deliveries; trying again");
            tokio::time::sleep(IDLE).await;
            continue;
        }
        let endpoints = webhooks.endpoint_ids();
        let wait = match store::next_due(&webhooks.0.db, &endpoints).await {
            Ok(Some(due)) => {
                Duration::from_millis(due.saturating_sub(now_ms()).clamp(0, IDLE.as_millis() as i64) as u64)
            }
            _ => IDLE,
        };
        tokio::select! {
            () = webhooks.0.writer.recorder().woken() => {}
            () = tokio::time::sleep(wait) => {}
        }
    }
}

/// Claims what is due and has a free slot at its endpoint, and starts it.
async fn round(
    webhooks: &Webhooks,
    slots: &Mutex<HashMap<i64, Arc<Semaphore>>>,
    settled: &mpsc::UnboundedSender<Outcome>,
) -> Result<(), sea_orm::DbErr> {
    let endpoints: HashMap<i64, webhooks::Model> = webhooks.endpoints().into_iter().map(|e| (e.id, e)).collect();
    let per_endpoint = webhooks.0.config.webhook.per_endpoint;
    // Only endpoints with a free slot, and no more deliveries than there are free slots.
    let (ids, free): (Vec<i64>, usize) = {
        let slots = slots.lock().expect("slots lock");
        let free_at = |id: &i64| slots.get(id).map_or(per_endpoint, |s| s.available_permits());
        let open: Vec<i64> = endpoints.keys().copied().filter(|id| free_at(id) > 0).collect();
        let free = open.iter().map(free_at).sum();
        (open, free)
    };
    if free == 0 {
        return Ok(());
    }
    let now = now_ms();
    let due = store::due(&webhooks.0.db, &ids, now, (free as u64).min(ROUND)).await?;
    if due.is_empty() {
        return Ok(());
    }
    let mut started = Vec::new();
    for delivery in due {
        let slot = slots
            .lock()
            .expect("slots lock")
            .entry(delivery.webhook_id)
            .or_insert_with(|| Arc::new(Semaphore::new(per_endpoint)))
            .clone();
        let Ok(permit) = slot.try_acquire_owned() else { continue };
        started.push((delivery, permit));
    }
    if started.is_empty() {
        return Ok(());
    }
    // Claimed past the timeout: a crash mid-attempt lets them come due again.
    let lease = now + webhooks.0.config.webhook.timeout.as_millis() as i64 * 2 + 5_000;
    let claimed: Vec<i64> = started.iter().map(|(d, _)| d.id).collect();
    store::claim(&webhooks.0.writer, &claimed, now, lease).await?;
    let events: HashMap<i64, events::Model> =
        store::events_by_id(&webhooks.0.db, started.iter().map(|(d, _)| d.event_id).collect())
            .await?
            .into_iter()
            .map(|e| (e.id, e))
            .collect();
    for (delivery, permit) in started {
        let (Some(endpoint), Some(event)) =
            (endpoints.get(&delivery.webhook_id).cloned(), events.get(&delivery.event_id).cloned())
        else {
            continue;
        };
        let (webhooks, settled) = (webhooks.clone(), settled.clone());
        tokio::spawn(async move {
            let outcome = attempt(&webhooks, &endpoint, &event, &delivery).await;
            // The delivery stays claimed until its outcome is written: the slot is free now.
            drop(permit);
            let _ = settled.send(outcome);
            webhooks.0.writer.recorder().committed();
        });
    }
    Ok(())
}

/// What an attempt came to, for the settle writer.
struct Outcome {
    delivery: i64,
    endpoint: webhooks::Model,
    settled: store::Settled,
    health: Health,
}

/// What an attempt says of its endpoint.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Health {
    Answering,
    Failing,
    /// It answered 410 Gone.
    Gone,
}

async fn attempt(
    webhooks: &Webhooks,
    endpoint: &webhooks::Model,
    event: &events::Model,
    delivery: &deliveries::Model,
) -> Outcome {
    let started = std::time::Instant::now();
    let answer = post(webhooks, endpoint, event).await;
    let now = now_ms();
    let config = &webhooks.0.config.webhook;
    let attempts = delivery.attempts as usize + 1;
    let (settled, label, health) = match &answer {
        Answer::Status { code, body, .. } if (200..300).contains(code) => (
            store::Settled {
                status: DeliveryStatus::Succeeded,
                next_attempt_at: now,
                code: Some(i32::from(*code)),
                response: Some(excerpt(body)),
            },
            "succeeded",
            Health::Answering,
        ),
        Answer::Status { code: 410, body, .. } => (
            store::Settled {
                status: DeliveryStatus::Failed,
                next_attempt_at: now,
                code: Some(410),
                response: Some(excerpt(body)),
            },
            "gone",
            Health::Gone,
        ),
        other => {
            let (code, response, retry_after) = match other {
                Answer::Status { code, body, retry_after } => (Some(i32::from(*code)), excerpt(body), *retry_after),
                Answer::Error(why) => (None, excerpt(why), None),
            };
            let last = attempts >= config.schedule.len();
            let wait = config.schedule.get(attempts).copied().unwrap_or_default();
            let wait = jitter(wait).max(retry_after.unwrap_or_default().min(MAX_RETRY_AFTER));
            (
                store::Settled {
                    status: if last { DeliveryStatus::Failed } else { DeliveryStatus::Pending },
                    next_attempt_at: now + wait.as_millis() as i64,
                    code,
                    response: Some(response),
                },
                if last { "failed" } else { "retrying" },
                Health::Failing,
            )
        }
    };
    webhooks.0.metrics.observe(label, started.elapsed());
    Outcome { delivery: delivery.id, endpoint: endpoint.clone(), settled, health }
}

/// Most outcomes written in one transaction.
const SETTLE_BATCH: usize = 256;

/// Writes outcomes as they come, those that arrive while a transaction is
/// written together in the next (one commit for many deliveries), then says
/// what they tell of their endpoints. A write that fails is tried again: the
/// deliveries stay claimed meanwhile, and are attempted again if it never lands
/// (at least once).
async fn settle(webhooks: Webhooks, mut outcomes: mpsc::UnboundedReceiver<Outcome>) {
    while let Some(first) = outcomes.recv().await {
        let mut batch = vec![first];
        while batch.len() < SETTLE_BATCH
            && let Ok(next) = outcomes.try_recv()
        {
            batch.push(next);
        }
        let now = now_ms();
        let rows: Vec<(i64, &store::Settled)> = batch.iter().map(|o| (o.delivery, &o.settled)).collect();
        let mut wait = Duration::from_millis(100);
        while let Err(e) = store::settle_all(&webhooks.0.writer, &rows, now).await {
            tracing::warn!(error = %e, deliveries = rows.len(), "cannot record webhook attempts; trying again");
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(Duration::from_secs(10));
        }
        webhooks.0.writer.recorder().committed();
        health(&webhooks, &batch, now).await;
    }
}

/// Marks endpoints answering again or failing, and disables those that said
/// 410 or have failed for `webhook.disable_after`.
async fn health(webhooks: &Webhooks, batch: &[Outcome], now: i64) {
    let config = &webhooks.0.config.webhook;
    let mut seen: HashMap<i64, (&webhooks::Model, Health)> = HashMap::new();
    for outcome in batch {
        let entry = seen.entry(outcome.endpoint.id).or_insert((&outcome.endpoint, outcome.health));
        // Gone wins; an answer anywhere in the batch means it is up.
        if outcome.health == Health::Gone || (entry.1 == Health::Failing && outcome.health == Health::Answering) {
            entry.1 = outcome.health;
        }
    }
    let mut changed = false;
    for (id, (endpoint, health)) in seen {
        let result = match (health, endpoint.failing_since) {
            (Health::Gone, _) => {
                webhooks.disable(id, "the receiver answered 410 Gone").await;
                Ok(())
            }
            (Health::Answering, None) | (Health::Failing, Some(_)) if !failing_too_long(endpoint, config, now) => {
                Ok(())
            }
            (Health::Answering, _) => {
                changed = true;
                store::set_failing(&webhooks.0.writer, id, false, now).await
            }
            (Health::Failing, None) => {
                changed = true;
                store::set_failing(&webhooks.0.writer, id, true, now).await
            }
            (Health::Failing, Some(_)) => {
                let reason = format!(
                    "every delivery failed for {}",
                    humantime::format_duration(Duration::from_secs(config.disable_after.as_secs()))
                );
                webhooks.disable(id, &reason).await;
                Ok(())
            }
        };
        if let Err(e) = result {
            tracing::warn!(webhook = id, error = %e, "cannot record an endpoint's health");
        }
    }
    // The deliverer reads `failing_since` from the endpoints it knows.
    if changed && let Err(e) = webhooks.reload().await {
        tracing::warn!(error = %e, "cannot read webhook endpoints");
    }
}

fn failing_too_long(endpoint: &webhooks::Model, config: &crate::config::WebhookConfig, now: i64) -> bool {
    endpoint.failing_since.is_some_and(|since| now - since >= config.disable_after.as_millis() as i64)
}

/// Posts the event, signed with the endpoint's secret (and the one before it,
/// while a rotation's grace lasts).
async fn post(webhooks: &Webhooks, endpoint: &webhooks::Model, event: &events::Model) -> Answer {
    let body = super::envelope(event);
    let id = super::message_id(event.id);
    let timestamp = now_ms() / 1000;
    let mut keys = Vec::new();
    for secret in std::iter::once(Some(&endpoint.secret)).chain(std::iter::once(
        endpoint.previous_secret.as_ref().filter(|_| endpoint.previous_until.is_some_and(|t| t > now_ms())),
    )) {
        if let Some(key) = secret.and_then(|s| webhooks.key_of(s)) {
            keys.push(key);
        }
    }
    if keys.is_empty() {
        // Never posted unsigned: a receiver would take it as forged.
        return Answer::Error(super::UNREADABLE_SECRET.into());
    }
    let request = webhooks
        .0
        .client
        .post(&endpoint.url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header("webhook-id", &id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", sign::header(&keys, &id, timestamp, body.as_bytes()))
        .body(body);
    let response = match request.send().await {
        Ok(response) => response,
        Err(e) => return Answer::Error(describe(&e)),
    };
    let code = response.status().as_u16();
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|_| code == 429 || code == 503)
        .map(Duration::from_secs);
    let body = read_some(response).await;
    Answer::Status { code, body, retry_after }
}

/// The start of a receiver's answer: never more than [`EXCERPT`] bytes are read.
async fn read_some(mut response: reqwest::Response) -> String {
    let mut kept = Vec::new();
    while kept.len() < EXCERPT {
        match response.chunk().await {
            Ok(Some(chunk)) => kept.extend_from_slice(&chunk[..chunk.len().min(EXCERPT - kept.len())]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&kept).into_owned()
}

fn describe(err: &reqwest::Error) -> String {
    if let Some(why) = crate::net::refusal(err) {
        return format!("refused: {why}");
    }
    if err.is_timeout() {
        "no answer in time".into()
    } else if err.is_connect() {
        "cannot connect".into()
    } else if err.is_redirect() {
        "answered with a redirect, which is not followed".into()
    } else {
        "the request failed".into()
    }
}

fn excerpt(text: &str) -> String {
    let mut end = text.len().min(EXCERPT);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

/// ±10 %.
fn jitter(wait: Duration) -> Duration {
    if wait.is_zero() {
        return wait;
    }
    wait.mul_f64(rand::rng().random_range(0.9..=1.1))
}
