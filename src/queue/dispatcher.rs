//! One task per running session: while its device is connected, claims the
//! next due message, checks the recipient is on WhatsApp (cached), waits for
//! the session's limits to allow a send, and sends it with its own id. Acks and
//! receipts arrive through the session supervisor ([`Queue::acked`]); a send
//! that is never acked is claimed again when its lease runs out and sent again
//! under the same id (unless its ack was heard and only waits to be written).

use std::{sync::atomic::Ordering, time::Duration};

use rand::Rng;
use tokio::sync::watch;
use tracing::{debug, info, warn};

use super::{
    MessageStatus, Queue,
    content::{self, ContactsDetails, Location, Mentions, Poll, VideoDetails, VoiceDetails, has_caption},
    limits::Pacer,
};
use crate::model::{SessionKey, is_group, now_ms};
use crate::{
    db::entities::messages,
    engine::{GroupFailure, GroupInfo, MediaKind, Outgoing, OutgoingMedia, Quote, Sender, Typing},
};

/// How long "typing…" shows before a text: per character, at least, at most
/// (and never longer than the pause before the send).
const TYPING_MS_PER_CHAR: i64 = 100;
const TYPING_MIN_MS: i64 = 1_000;
const TYPING_MAX_MS: i64 = 6_000;
/// While messages wait, the dispatcher looks at its queue at least this often.
const POLL: Duration = Duration::from_secs(30);
/// While none waits it sleeps until one is queued (every way into the queue
/// wakes its lane), looking anyway this often: 10,000 idle sessions polling
/// every 30 s were most of an idle gateway's database work.
const IDLE_POLL: Duration = Duration::from_secs(600);

struct Dispatcher {
    queue: Queue,
    session: SessionKey,
    link: watch::Receiver<Option<Sender>>,
    lane: std::sync::Arc<super::Lane>,
    pacer: Pacer,
    /// Who is being shown "typing…" now (with `typing` on).
    typing: Option<String>,
}

/// When a step says to look at the queue again.
enum Next {
    /// At once.
    Now,
    /// Nothing can go before this time (epoch ms).
    At(i64),
    /// Nothing waits.
    Idle,
}

/// Why a wait ended.
enum Woke {
    Ready,
    Closed,
}

pub(super) async fn run(queue: Queue, session: SessionKey, link: watch::Receiver<Option<Sender>>) {
    let lane = queue.lane(&session);
    let mut me = Dispatcher { queue, session, link, lane, pacer: Pacer::default(), typing: None };
    // Sends of the last hour count against this run's windows too.
    match me.seed().await {
        Ok(pacer) => me.pacer = pacer,
        Err(e) => warn!(session_id = %me.session, error = %e, "cannot read recent sends; limits start empty"),
    }
    loop {
        let Some(sender) = me.online().await else { break };
        me.lane.online.store(true, Ordering::Relaxed);
        let pause = match me.step(&sender).await {
            Ok(Next::Now) => continue,
            Ok(Next::At(until)) => Duration::from_millis((until - now_ms()).clamp(0, POLL.as_millis() as i64) as u64),
            Ok(Next::Idle) => IDLE_POLL,
            Err(e) => {
                warn!(session_id = %me.session, error = %e, "dispatcher step failed; retrying");
                Duration::from_secs(1)
            }
        };
        if let Woke::Closed = me.wait(pause).await {
            break;
        }
    }
    me.lane.online.store(false, Ordering::Relaxed);
    debug!(session_id = %me.session, "dispatcher stopped");
}

impl Dispatcher {
    async fn seed(&self) -> Result<Pacer, sea_orm::DbErr> {
        let limits = self.queue.limits(&self.session).await.map_err(|e| sea_orm::DbErr::Custom(e.to_string()))?;
        let now = now_ms();
        let since = now - limits.hour_window_ms.max(limits.minute_window_ms).max(limits.group_interval_ms) as i64;
        let history = self.queue.0.store.sends_since(&self.session, since).await?;
        Ok(Pacer::with_history(&limits, history, now))
    }

    /// Waits until the device is connected; `None` when the session stopped.
    async fn online(&mut self) -> Option<Sender> {
        loop {
            if let Some(sender) = self.link.borrow_and_update().clone() {
                return Some(sender);
            }
            self.lane.online.store(false, Ordering::Relaxed);
            self.link.changed().await.ok()?;
        }
    }

    /// Sleeps for `pause`, until a new message, or until the link changes.
    async fn wait(&mut self, pause: Duration) -> Woke {
        tokio::select! {
            () = tokio::time::sleep(pause) => Woke::Ready,
            () = self.lane.wake.notified() => Woke::Ready,
            changed = self.link.changed() => if changed.is_ok() { Woke::Ready } else { Woke::Closed },
        }
    }

    /// Sends at most one message; says when to look again. One step of the
    /// session's at a time, even while a stopped dispatcher finishes its last:
    /// what a step claims is leased only once it is about to go.
    async fn step(&mut self, sender: &Sender) -> anyhow::Result<Next> {
        let lane = self.lane.clone();
        let _one_step = lane.stepping.lock().await;
        let queue = self.queue.clone();
        let store = &queue.0.store;
        let config = &queue.0.config.limits;
        let limits = self.queue.limits(&self.session).await?;
        let now = now_ms();
        let ready = self.pacer.ready_at(&limits, now);
        let blocked = self.pacer.blocked(&limits, now);
        let skip: Vec<String> = blocked.iter().map(|(to, _)| to.clone()).collect();
        if ready > now {
            if limits.typing
                && let Some(start) = self.start_typing(sender, ready, now, &skip).await?
            {
                return Ok(Next::At(start.min(ready)));
            }
            return Ok(Next::At(ready));
        }
        let Some(claim) = store.claim(&self.session, now, &skip).await? else {
            let next = store.next_due(&self.session, &skip).await?;
            let unblocked = blocked.iter().map(|(_, at)| *at).min();
            // Idle when nothing waits at all: a new message wakes the lane.
            return Ok([next, unblocked].into_iter().flatten().min().map_or(Next::Idle, Next::At));
        };
        let message = claim.message;
        // Still `sending`: it went out and its lease ran out with no ack recorded.
        let lease_ran_out = message.status == MessageStatus::Sending;
        if lease_ran_out && queue.0.statuses.heard(&message.id) {
            // But WhatsApp did answer, and the answer waits to be written (this
            // claim leased the message again meanwhile). Sent again, it would
            // only be refused as a copy.
            debug!(session_id = %self.session, message_id = %message.id, "acknowledged, not recorded yet; not sent again");
            return Ok(Next::Now);
        }
        if lease_ran_out {
            info!(
                session_id = %self.session,
                message_id = %message.id,
                attempts = claim.attempts,
                "no acknowledgement within the lease; sending again under the same id"
            );
        }
        if claim.attempts >= limits.max_attempts {
            // Its last attempt was written but never acknowledged.
            let reason = format!("no acknowledgement from WhatsApp after {} attempts", claim.attempts);
            self.queue.finish(&message.id, MessageStatus::Failed, Some(&reason)).await?;
            return Ok(Next::Now);
        }
        let mut mentions = Vec::new();
        if is_group(&message.recipient) {
            // A group it is not in (any more), or where only admins may write
            // now, fails at once: sent again, it would only be refused again.
            let refusal = match sender.group(&message.recipient).await {
                Ok(info) => {
                    let own = sender.phone().unwrap_or_default();
                    match info.role_of(&own) {
                        None => Some(NOT_IN_GROUP),
                        Some(role) if info.announce && !role.is_admin() => Some(ADMINS_ONLY),
                        Some(_) => {
                            mentions = mentions_of(&message, &info, &own);
                            None
                        }
                    }
                }
                Err(GroupFailure::NotIn) => Some(NOT_IN_GROUP),
                Err(e) => {
                    if !sender.is_connected() {
                        return Ok(Next::Now);
                    }
                    let reason = format!("cannot read the group on WhatsApp: {e}");
                    self.retry_or_fail(&message, claim.attempts + 1, &reason, true).await?;
                    return Ok(Next::Now);
                }
            };
            if let Some(reason) = refusal {
                self.queue.finish(&message.id, MessageStatus::Failed, Some(reason)).await?;
                return Ok(Next::Now);
            }
        } else {
            match self.is_registered(sender, &message.recipient).await {
                Ok(true) => {}
                Ok(false) => {
                    self.queue.finish(&message.id, MessageStatus::Failed, Some("not registered on WhatsApp")).await?;
                    return Ok(Next::Now);
                }
                Err(e) => {
                    if !sender.is_connected() {
                        return Ok(Next::Now);
                    }
                    let reason = format!("cannot check the number on WhatsApp: {e:#}");
                    self.retry_or_fail(&message, claim.attempts + 1, &reason, true).await?;
                    return Ok(Next::Now);
                }
            }
        }
        let now = now_ms();
        let spent = self.pacer.try_spend(&limits, &message.recipient, now, &mut rand::rng());
        if let Err(at) = spent {
            // The check above took time; the windows moved on.
            return Ok(Next::At(at));
        }
        // Media is uploaded first: it gets as long for that as a fetch may take.
        let mut send_timeout = config.ack_timeout;
        if message.media_size.is_some() {
            send_timeout += queue.0.config.media.fetch_timeout;
        }
        if !store.sending(&message.id, now, now + send_timeout.as_millis() as i64).await? {
            return Ok(Next::Now); // cleared meanwhile
        }
        let content = match self.content(&message).await {
            Ok(content) => content,
            Err(reason) => {
                self.queue.finish(&message.id, MessageStatus::Failed, Some(&reason)).await?;
                return Ok(Next::Now);
            }
        };
        if limits.typing && message.kind == "text" && !is_group(&message.recipient) {
            self.stop_typing(sender, &message.recipient).await;
        }
        let sent = tokio::time::timeout(
            send_timeout,
            sender.send(&message.id, &message.recipient, content, quote_of(&message), &mentions),
        )
        .await;
        let error = match sent {
            Ok(Ok(())) => return Ok(Next::Now), // the ack moves it on
            Ok(Err(e)) => format!("{e:#}"),
            Err(_) => "sending took too long".to_owned(),
        };
        if !sender.is_connected() {
            // The connection dropped: whether or not it left, it goes again
            // (same id) once the device is back, and this try does not count.
            info!(session_id = %self.session, message_id = %message.id, "connection lost while sending; will resend");
            let now = now_ms();
            store.requeue(&message.id, now, Some("connection lost; waiting to resend"), -1, now).await?;
            return Ok(Next::Now);
        }
        warn!(session_id = %self.session, message_id = %message.id, %error, "sending failed; will retry");
        self.retry_or_fail(&message, claim.attempts + 1, &format!("sending failed: {error}"), false).await?;
        Ok(Next::Now)
    }

    /// After a failed attempt (the `attempts`th): back off and retry, or fail
    /// once attempts are used up. `count`: the attempt wrote nothing, so it was
    /// not counted yet.
    async fn retry_or_fail(
        &mut self,
        message: &messages::Model,
        attempts: u32,
        reason: &str,
        count: bool,
    ) -> anyhow::Result<()> {
        let limits = self.queue.limits(&self.session).await?;
        if attempts >= limits.max_attempts {
            let reason = format!("{reason} (after {attempts} attempts)");
            self.queue.finish(&message.id, MessageStatus::Failed, Some(&reason)).await?;
            return Ok(());
        }
        let due = now_ms() + backoff(self.queue.0.config.limits.retry_backoff, attempts);
        let now = now_ms();
        self.queue.0.store.requeue(&message.id, due, Some(reason), i32::from(count), now).await?;
        Ok(())
    }

    /// With `typing` on, in the pause before a send at `ready`: shows the
    /// recipient of the next text "typing…" from a human-looking time before
    /// it goes (never before the pause began). `Some(t)`: start at `t`.
    async fn start_typing(
        &mut self,
        sender: &Sender,
        ready: i64,
        now: i64,
        skip: &[String],
    ) -> anyhow::Result<Option<i64>> {
        if self.typing.is_some() {
            return Ok(None);
        }
        let Some(next) = self.queue.0.store.peek(&self.session, ready, skip).await? else { return Ok(None) };
        if next.kind != "text" || next.status != MessageStatus::Queued || is_group(&next.recipient) {
            return Ok(None);
        }
        let chars = next.body.as_deref().map_or(0, |b| b.chars().count()) as i64;
        let shown_for = (chars * TYPING_MS_PER_CHAR).clamp(TYPING_MIN_MS, TYPING_MAX_MS);
        if ready - now > shown_for {
            return Ok(Some(ready - shown_for));
        }
        if let Err(e) = sender.typing(&next.recipient, Typing::Composing).await {
            debug!(session_id = %self.session, error = %e, "cannot show typing");
        }
        self.typing = Some(next.recipient);
        Ok(None)
    }

    /// Right before a text to `to` goes (with `typing` on): "typing…" stops,
    /// shown for a moment first if the pause gave it no time; whoever else was
    /// shown it (the next message changed) is told it stopped.
    async fn stop_typing(&mut self, sender: &Sender, to: &str) {
        let shown = self.typing.take();
        if let Some(other) = shown.as_deref().filter(|o| *o != to) {
            let _ = sender.typing(other, Typing::Paused).await;
        }
        if shown.as_deref() != Some(to) {
            let _ = sender.typing(to, Typing::Composing).await;
        }
        if let Err(e) = sender.typing(to, Typing::Paused).await {
            debug!(session_id = %self.session, error = %e, "cannot show typing");
        }
    }

    /// Whether `phone` is on WhatsApp (see [`super::registry`]).
    async fn is_registered(&self, sender: &Sender, phone: &str) -> anyhow::Result<bool> {
        let answers = self.queue.0.registry.check(sender, &[phone.to_owned()]).await?;
        Ok(answers.first().is_some_and(|a| a.registered))
    }

    /// What to send; `Err(reason)` when it cannot be sent at all.
    async fn content(&self, message: &messages::Model) -> Result<Outgoing, String> {
        let media = || async {
            let path = self.queue.0.media.file(&message.id);
            match tokio::fs::metadata(&path).await {
                Ok(_) => Ok(path),
                Err(e) => Err(format!("the media file is gone: {e}")),
            }
        };
        fn details<T: serde::de::DeserializeOwned>(message: &messages::Model) -> Result<T, String> {
            let extra = message.extra.as_deref().ok_or("the message has lost its details")?;
            serde_json::from_str(extra).map_err(|e| format!("the message's details are unreadable: {e}"))
        }
        let kind = match message.kind.as_str() {
            "text" => return Ok(Outgoing::Text(message.body.clone().unwrap_or_default())),
            "location" => {
                let place: Location = details(message)?;
                return Ok(Outgoing::Location {
                    latitude: place.latitude,
                    longitude: place.longitude,
                    name: place.name,
                    address: place.address,
                });
            }
            "contact" => {
                let cards: ContactsDetails = details(message)?;
                return Ok(Outgoing::Contacts(cards.contacts.into_iter().map(|c| (c.name, c.vcard)).collect()));
            }
            "poll" => {
                use base64::Engine as _;
                let poll: Poll = details(message)?;
                let secret = message.secret.as_deref().ok_or("the poll has lost its secret")?;
                let secret = base64::engine::general_purpose::STANDARD
                    .decode(secret)
                    .map_err(|_| "the poll's secret is unreadable")?;
                return Ok(Outgoing::Poll {
                    question: poll.question,
                    options: poll.options,
                    selectable: poll.selectable,
                    secret,
                });
            }
            "reaction" => {
                let reaction: content::Reaction = details(message)?;
                let (target, from_me, emoji) = (reaction.message_id, reaction.from_me, reaction.emoji);
                return Ok(Outgoing::Reaction { target, from_me, emoji });
            }
            "edit" | "revoke" => {
                let target: content::Target = details(message)?;
                if message.kind == "revoke" {
                    return Ok(Outgoing::Revoke { target: target.message_id });
                }
                let original = self.queue.0.store.find(&target.message_id).await.map_err(|e| e.to_string())?;
                let caption_of = match original.as_ref().map(|o| o.kind.as_str()) {
                    Some("image") => Some(MediaKind::Image),
                    Some("video") => Some(MediaKind::Video),
                    Some("document") => Some(MediaKind::Document),
                    _ => None,
                };
                let text = message.body.clone().unwrap_or_default();
                return Ok(Outgoing::Edit { target: target.message_id, text, caption_of });
            }
            "image" => MediaKind::Image,
            "video" => MediaKind::Video,
            "audio" => MediaKind::Audio,
            "voice" => MediaKind::Voice,
            "sticker" => MediaKind::Sticker,
            "document" => MediaKind::Document,
            other => return Err(format!("unknown message type {other}")),
        };
        let (mut seconds, mut waveform, mut gif) = (None, None, false);
        if kind == MediaKind::Voice {
            use base64::Engine as _;
            let voice: VoiceDetails = details(message)?;
            seconds = Some(voice.seconds);
            waveform = base64::engine::general_purpose::STANDARD.decode(voice.waveform).ok();
        }
        if kind == MediaKind::Video && message.extra.is_some() {
            gif = details::<VideoDetails>(message)?.gif;
        }
        Ok(Outgoing::Media(OutgoingMedia {
            kind,
            file: media().await?,
            mimetype: message.mimetype.clone().unwrap_or_else(|| "application/octet-stream".into()),
            filename: message.filename.clone(),
            caption: message.body.clone().filter(|_| has_caption(&message.kind)),
            seconds,
            waveform,
            gif,
        }))
    }
}

/// Why a message to a group fails at once.
const NOT_IN_GROUP: &str = "the session is not in this group";
const ADMINS_ONLY: &str = "only the group's admins may send in it now";

/// Whom a text to a group mentions: the numbers it names, or everyone in the
/// group now but the session itself.
fn mentions_of(message: &messages::Model, group: &GroupInfo, own: &str) -> Vec<String> {
    if message.kind != "text" {
        return Vec::new();
    }
    let Some(mentions) = message.extra.as_deref().and_then(|e| serde_json::from_str::<Mentions>(e).ok()) else {
        return Vec::new();
    };
    if mentions.all {
        return group.participants.iter().map(|m| m.phone.clone()).filter(|p| p != own).collect();
    }
    mentions.mentions
}

/// What a reply shows of the message it answers (copied when it was queued).
fn quote_of(message: &messages::Model) -> Option<Quote> {
    let quote: content::Quote = serde_json::from_str(message.quote.as_deref()?)
        .inspect_err(|e| warn!(message_id = %message.id, error = %e, "the quote is unreadable; sent without it"))
        .ok()?;
    Some(Quote::of(quote.id, quote.author, &quote.kind, quote.text))
}

/// `base · 2^(attempt-1)`, ±25 % jitter, at most an hour.
fn backoff(base: Duration, attempt: u32) -> i64 {
    let base = base.as_millis() as f64 * 2f64.powi(attempt.saturating_sub(1).min(16) as i32);
    let jitter = rand::rng().random_range(0.75..=1.25);
    (base * jitter).min(3_600_000.0) as i64
}
