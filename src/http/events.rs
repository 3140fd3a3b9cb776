//! `GET /events`: the gateway's live events as Server-Sent Events, only those
//! about sessions the caller may see. The stream checks its credential again
//! every [`RECHECK`]: a revoked key, a deleted user or a changed password ends
//! it (after an `unauthorized` event), a changed role narrows or widens it.

use std::{convert::Infallible, sync::Arc, time::Duration};

use axum::{
    extract::State,
    http::HeaderMap,
    response::sse::{Event, KeepAlive, Sse},
};
use futures_util::{Stream, stream};
use tokio::time::{Interval, MissedTickBehavior};

use super::common::scope_of;
use crate::{
    auth::{Access, Area, Principal},
    error::ErrorBody,
    events::{GatewayEvent, Next, Subscription},
    http::state::AppState,
    model::Role,
    sessions::Scope,
};

/// How often an open stream checks that its credential still holds.
pub const RECHECK: Duration = Duration::from_secs(1);

/// Live events: `event:` is the kind (`session.status`, `session.qr`,
/// `message.status`, `broadcast.progress`, `broadcast.completed`, `message.received`,
/// `message.reaction`, `message.edited`, `message.revoked`, `poll.vote`, `call.received`,
/// `chat.message`, `chat.updated`, `presence.update`), `data:` its JSON. `call.received` is a
/// received message of type `call` (`extra`: `video`, `action` `rejected` or
/// `missed`, `offline`, `replied`). `presence.update` (live only, never to
/// webhooks) tells a contact typing in a chat an agent opened (`chat_id`,
/// `contact`, `state`: `composing`, `recording` or `paused`). A contact's reaction, edit, deletion or
/// vote is its own event (with `message_id`, the message it changes), never a
/// timeline entry. `chat.message` carries a timeline entry
/// as it is written, and again when a received file finished downloading (or
/// failed for good): the same `message.id`, with its `media.state`. A subscriber that falls
/// too far behind gets a `lagged` event with the number of events it missed.
/// When the credential is revoked (key deleted, user deleted, password changed)
/// the stream sends `unauthorized` and ends within two seconds.
#[utoipa::path(
    get, path = "/events", tag = "events",
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, content_type = "text/event-stream", body = String),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
    )
)]
pub async fn events(
    State(state): State<AppState>,
    headers: HeaderMap,
    principal: Principal,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let mut recheck = tokio::time::interval(RECHECK);
    recheck.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let open = Open {
        subscription: state.sessions.events().subscribe(),
        filter: Filter::of(&principal),
        state,
        headers: Arc::new(headers),
        recheck,
        ended: false,
    };
    Sse::new(stream::unfold(open, Open::next)).keep_alive(KeepAlive::default())
}

/// Which events a subscriber sees.
struct Filter {
    scope: Scope,
    /// Agents hear only of the chats assigned to them.
    agent: Option<i64>,
}

impl Filter {
    fn of(principal: &Principal) -> Filter {
        Filter { scope: scope_of(principal), agent: (principal.role == Role::Agent).then_some(principal.user_id) }
    }

    fn admits(&self, event: &GatewayEvent) -> bool {
        let sessions = match self.agent {
            Some(me) => event.agent == Some(me) && self.scope.admits_name(event.session.name()),
            None => self.scope.admits_session(event.owner, &event.session),
        };
        sessions && event.also.iter().all(|s| self.scope.admits_name(s.name()))
    }
}

struct Open {
    subscription: Subscription,
    filter: Filter,
    state: AppState,
    headers: Arc<HeaderMap>,
    recheck: Interval,
    ended: bool,
}

impl Open {
    async fn next(mut self) -> Option<(Result<Event, Infallible>, Open)> {
        if self.ended {
            return None;
        }
        loop {
            let event = tokio::select! {
                next = self.subscription.next() => match next? {
                    Next::Event(event) if self.filter.admits(&event) => {
                        Event::default().event(event.kind).data(event.data.to_string())
                    }
                    Next::Event(_) => continue,
                    Next::Lagged(missed) => Event::default().event("lagged").data(missed.to_string()),
                },
                _ = self.recheck.tick() => match self.credential().await {
                    Ok(Some(principal)) => {
                        self.filter = Filter::of(&principal);
                        continue;
                    }
                    // The database did not answer: keep the stream as it is, check again next time.
                    Ok(None) => continue,
                    Err(reason) => {
                        self.ended = true;
                        Event::default().event("unauthorized").data(reason)
                    }
                },
            };
            return Some((Ok(event), self));
        }
    }

    /// The caller as its credential says now: `Err` with the reason when it no
    /// longer admits this stream, `Ok(None)` when that cannot be told now.
    async fn credential(&self) -> Result<Option<Principal>, String> {
        match super::authenticate::authenticate(&self.state, &self.headers).await {
            Ok(principal) => match principal.authorize(Area::Profile, Access::Read) {
                Ok(()) => Ok(Some(principal)),
                Err(e) => Err(e.message().to_owned()),
            },
            Err(e) if e.status().is_client_error() => Err(e.message().to_owned()),
            Err(e) => {
                tracing::warn!(error = %e.message(), "could not check an event stream's credential");
                Ok(None)
            }
        }
    }
}
