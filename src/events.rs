//! The gateway's live events (session status and QR changes, later messages and
//! broadcasts), fanned out to `GET /events` subscribers and, later, webhooks.
//! Each event names the user who owns it so a subscriber sees only its own.

use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;
use tokio::sync::{
    broadcast::{self, error::RecvError},
    watch,
};

#[derive(Debug, Clone, Serialize)]
pub struct GatewayEvent {
    /// `session.status`, `session.qr`, ...
    pub kind: &'static str,
    /// The user whose resource this is about.
    #[serde(skip)]
    pub owner: i64,
    /// The session it is about.
    #[serde(skip)]
    pub session: crate::model::SessionKey,
    /// Further sessions it is about (a broadcast from several): a subscriber
    /// limited to some sessions sees it only when it may see all of them.
    #[serde(skip)]
    pub also: Vec<crate::model::SessionKey>,
    /// The agent a chat is assigned to: agents see only their chats' events.
    #[serde(skip)]
    pub agent: Option<i64>,
    pub data: Value,
}

#[derive(Clone)]
pub struct Events {
    tx: broadcast::Sender<Arc<GatewayEvent>>,
    closed: watch::Sender<bool>,
}

impl Default for Events {
    fn default() -> Self {
        // A subscriber more than this many events behind is told it lagged.
        Self { tx: broadcast::channel(4096).0, closed: watch::channel(false).0 }
    }
}

/// What a subscriber gets next.
pub enum Next {
    Event(Arc<GatewayEvent>),
    /// The subscriber fell behind and missed this many events.
    Lagged(u64),
}

impl Events {
    pub fn publish(&self, event: GatewayEvent) {
        // No subscriber is not an error: events are live, not stored.
        let _ = self.tx.send(Arc::new(event));
    }

    /// Whether anyone listens: events nobody would see need not be built.
    pub fn has_subscribers(&self) -> bool {
        self.tx.receiver_count() > 0
    }

    /// Resolves once the events are closed (the gateway is stopping).
    pub async fn closed(&self) {
        let mut closed = self.closed.subscribe();
        let _ = closed.wait_for(|closed| *closed).await;
    }

    pub fn subscribe(&self) -> Subscription {
        Subscription { rx: self.tx.subscribe(), closed: self.closed.subscribe() }
    }

    /// Ends every subscription (at shutdown, so open streams let the server stop).
    pub fn close(&self) {
        self.closed.send_replace(true);
    }
}

pub struct Subscription {
    rx: broadcast::Receiver<Arc<GatewayEvent>>,
    closed: watch::Receiver<bool>,
}

impl Subscription {
    /// The next event; `None` once the gateway is shutting down.
    pub async fn next(&mut self) -> Option<Next> {
        if *self.closed.borrow() {
            return None;
        }
        tokio::select! {
            received = self.rx.recv() => match received {
                Ok(event) => Some(Next::Event(event)),
                Err(RecvError::Lagged(missed)) => Some(Next::Lagged(missed)),
                Err(RecvError::Closed) => None,
            },
            _ = self.closed.wait_for(|closed| *closed) => None,
        }
    }
}
