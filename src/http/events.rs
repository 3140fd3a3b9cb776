//! `GET /events`: the gateway's live events as Server-Sent Events, only those
//! about sessions the caller may see.

use std::convert::Infallible;

use axum::{
    extract::State,
    response::sse::{Event, KeepAlive, Sse},
};
use futures_util::{Stream, stream};

use super::sessions::scope_of;
use crate::{auth::Principal, error::ErrorBody, events::Next, state::AppState};

/// Live events: `event:` is the kind (`session.status`, `session.qr`,
/// `message.status`, `broadcast.progress`, `message.received`, `chat.message`,
/// `chat.updated`), `data:` its JSON. A subscriber that falls
/// too far behind gets a `lagged` event with the number of events it missed.
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
    principal: Principal,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let scope = scope_of(&principal);
    // Agents hear only of the chats assigned to them.
    let agent = (principal.role == crate::auth::Role::Agent).then_some(principal.user_id);
    let subscription = state.sessions.events().subscribe();
    let stream = stream::unfold((subscription, scope), move |(mut subscription, scope)| async move {
        loop {
            let event = match subscription.next().await? {
                Next::Event(event)
                    if match agent {
                        Some(me) => event.agent == Some(me) && scope.admits_id(&event.session),
                        None => scope.admits_session(event.owner, &event.session),
                    } =>
                {
                    Event::default().event(event.kind).data(event.data.to_string())
                }
                Next::Event(_) => continue,
                Next::Lagged(missed) => Event::default().event("lagged").data(missed.to_string()),
            };
            return Some((Ok(event), (subscription, scope)));
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}
