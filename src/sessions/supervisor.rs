//! One task per running session: starts its device, turns engine events into
//! status changes, obeys the manager's commands, and decides what happens when
//! the device stops (link again, wait out a ban, back off, or end).

use std::time::Duration;

use tokio::{
    sync::{mpsc, oneshot, watch},
    time::Instant,
};
use tracing::{info, warn};

use super::{Code, Command, LiveState, SessionError, SessionStatus, Sessions, records::Change};
use crate::{db::entities::sessions as rows, engine::EngineEvent, model::SessionKey};

/// How a device's run ended.
enum End {
    /// The manager stopped us (shutdown, restart, delete): leave the status as is.
    Stopped,
    /// `done` is told once the logout is recorded (when the manager asked for it).
    LoggedOut {
        reason: String,
        duplicate_of: Option<SessionKey>,
        done: Option<oneshot::Sender<()>>,
    },
    Banned {
        duration: Duration,
        reason: String,
    },
    Replaced,
    Outdated,
    /// The client gave up offering QR codes, or its run loop ended on its own.
    Ended,
    LinkTimeout,
}

/// Between tries of a device that would not start or ended unexpectedly.
const RETRY_MAX: Duration = Duration::from_secs(60);
/// How long to wait for a pairing code from WhatsApp.
const PAIRING_WAIT: Duration = Duration::from_secs(30);

struct Supervisor {
    sessions: Sessions,
    key: SessionKey,
    owner: i64,
    commands: mpsc::UnboundedReceiver<Command>,
    live: watch::Sender<LiveState>,
    /// Linked to a number (the store holds a device identity).
    linked: bool,
    status: SessionStatus,
    /// The number the outstanding pairing code is for.
    pairing_for: Option<String>,
    /// Whether the current device got connected (then a later failure starts
    /// the backoff afresh).
    connected_this_run: bool,
    /// The last error a connection attempt met, as the session's `reason` says it.
    unreachable: Option<String>,
    /// The session's send queue dispatcher; it ends with this supervisor.
    dispatch: crate::queue::Dispatch,
}

pub(super) async fn run(
    sessions: Sessions,
    row: rows::Model,
    mut pair_phone: Option<String>,
    commands: mpsc::UnboundedReceiver<Command>,
    live: watch::Sender<LiveState>,
) {
    let linked = super::records::linked(&row);
    let dispatch = sessions.0.queue.dispatch(&row.id);
    let mut me = Supervisor {
        sessions,
        key: row.id.clone(),
        owner: row.user_id,
        commands,
        live,
        linked,
        status: row.status,
        pairing_for: None,
        connected_this_run: false,
        unreachable: None,
        dispatch,
    };
    let link_deadline = Instant::now() + me.sessions.0.config.whatsapp.link_timeout;
    let mut retry = Duration::from_secs(1);

    // A ban outlives restarts.
    if let Some(until) = row.banned_until
        && me.status == SessionStatus::Banned
        && let Ok(left) = (until - crate::db::now()).to_std()
        && !me.pause(left).await
    {
        return;
    }
    if !me.linked {
        // A fresh start of linking: whatever was in the store is not a device.
        if let Err(e) = me.sessions.0.engine.wipe(&me.key).await {
            warn!(session_id = %me.key, error = %e, "cannot clear the store before linking");
        }
    }

    loop {
        me.set(Change::status(SessionStatus::Connecting).reason(None)).await;
        me.connected_this_run = false;
        me.unreachable = None;
        let end = me.run_device(&mut pair_phone, link_deadline).await;
        me.dispatch.offline();
        me.sessions.0.inbox.offline(&me.key);
        me.live.send_replace(LiveState::default());
        me.pairing_for = None;
        if me.connected_this_run {
            retry = Duration::from_secs(1);
        }
        match end {
            End::Stopped => return,
            End::LoggedOut { reason, duplicate_of, done } => {
                if let Err(e) = me.sessions.0.engine.wipe(&me.key).await {
                    warn!(session_id = %me.key, error = %e, "cannot wipe the store after logout");
                }
                let change = match duplicate_of {
                    Some(other) => Change::status(SessionStatus::DuplicatePhone).phone(None).reason(Some(format!(
                        "this number is already linked in session {}; the new link was undone",
                        other.name()
                    ))),
                    None => Change::status(SessionStatus::LoggedOut).phone(None).reason(Some(reason)),
                };
                me.set(change).await;
                me.sessions.0.abandon_queue(&me.key).await;
                if let Some(done) = done {
                    let _ = done.send(());
                }
                return;
            }
            End::Banned { duration, reason } => {
                let until = crate::db::now() + chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::zero());
                me.set(
                    Change::status(SessionStatus::Banned)
                        .banned_until(until)
                        .reason(Some(format!("temporarily banned: {reason}"))),
                )
                .await;
                if !me.pause(duration).await {
                    return;
                }
            }
            End::Replaced => {
                me.set(Change::status(SessionStatus::Stopped).reason(Some(
                    "another client took over this device's connection; POST /session/restart takes it back".into(),
                )))
                .await;
                return;
            }
            End::LinkTimeout => {
                me.set(
                    Change::status(SessionStatus::Stopped)
                        .reason(Some("not linked in time; POST /session/restart offers new codes".into())),
                )
                .await;
                return;
            }
            End::Outdated | End::Ended if !me.linked && Instant::now() >= link_deadline => {
                me.set(
                    Change::status(SessionStatus::Stopped)
                        .reason(Some("not linked in time; POST /session/restart offers new codes".into())),
                )
                .await;
                return;
            }
            End::Ended if !me.linked => {} // out of QR codes: a new device offers more
            End::Outdated | End::Ended => {
                let reason = match end {
                    End::Outdated => "WhatsApp refused this client version; retrying",
                    _ => "the connection ended; retrying",
                };
                me.set(Change::status(SessionStatus::Disconnected).reason(Some(reason.into()))).await;
                if !me.pause(retry).await {
                    return;
                }
                retry = (retry * 2).min(RETRY_MAX);
            }
        }
    }
}

impl Supervisor {
    async fn set(&mut self, change: Change) {
        self.status = change.new_status();
        if let Err(e) = self.sessions.0.record(&self.key, change).await {
            warn!(session_id = %self.key, error = %e, "cannot record session status");
        }
    }

    /// Waits `duration` while still obeying commands; `false` when told to stop.
    async fn pause(&mut self, duration: Duration) -> bool {
        let deadline = Instant::now() + duration;
        loop {
            tokio::select! {
                () = tokio::time::sleep_until(deadline) => return true,
                command = self.commands.recv() => match command {
                    None => return false,
                    Some(Command::Stop { reply }) => {
                        let _ = reply.send(());
                        return false;
                    }
                    Some(Command::Logout { reply }) => {
                        if let Err(e) = self.sessions.0.forget_device(&self.key).await {
                            warn!(session_id = %self.key, error = %e, "cannot log the session out");
                        }
                        let _ = reply.send(());
                        return false;
                    }
                    Some(Command::PairingCode { reply, .. }) => {
                        let _ = reply.send(Err(SessionError::Busy(self.status.as_str())));
                    }
                },
            }
        }
    }

    /// Runs one device until it ends; see [`End`].
    async fn run_device(&mut self, pair_phone: &mut Option<String>, link_deadline: Instant) -> End {
        let (tx, mut events) = mpsc::channel(crate::engine::EVENTS_BOUND);
        let sink = self.sessions.0.inbox.sink();
        let statuses = self.sessions.0.queue.status_sink();
        let mut device = match self.sessions.0.engine.start(&self.key, tx, statuses, sink).await {
            Ok(device) => device,
            Err(e) => {
                warn!(session_id = %self.key, error = %format!("{e:#}"), "cannot start the device");
                return End::Ended;
            }
        };
        let mut duplicate_of: Option<SessionKey> = None;
        let mut paired = self.linked;
        let end = loop {
            tokio::select! {
                biased;
                command = self.commands.recv() => match command {
                    None | Some(Command::Stop { .. }) => {
                        device.stop().await;
                        if let Some(Command::Stop { reply }) = command {
                            let _ = reply.send(());
                        }
                        return End::Stopped;
                    }
                    Some(Command::Logout { reply }) => {
                        device.logout().await;
                        device.stop().await;
                        // The device's own LoggedOut event is moot now.
                        return End::LoggedOut { reason: "logged out".into(), duplicate_of: None, done: Some(reply) };
                    }
                    Some(Command::PairingCode { phone, reply }) => {
                        let result = self.request_pairing_code(&device, &phone).await;
                        let _ = reply.send(result);
                    }
                },
                event = events.recv() => {
                    let Some(event) = event else { break End::Ended };
                    match self.on_event(event, &mut duplicate_of, &mut paired, pair_phone, &device).await {
                        Some(end) => break end,
                        None => continue,
                    }
                }
                () = device.ended() => {
                    // The events of the run's last moments are already queued.
                    let mut end = End::Ended;
                    while let Ok(event) = events.try_recv() {
                        if let Some(found) = self.on_event(event, &mut duplicate_of, &mut paired, pair_phone, &device).await {
                            end = found;
                            break;
                        }
                    }
                    break end;
                }
                () = tokio::time::sleep_until(link_deadline), if !paired => break End::LinkTimeout,
            }
        };
        device.stop().await;
        end
    }

    async fn on_event(
        &mut self,
        event: EngineEvent,
        duplicate_of: &mut Option<SessionKey>,
        paired: &mut bool,
        pair_phone: &mut Option<String>,
        device: &crate::engine::Device,
    ) -> Option<End> {
        match event {
            EngineEvent::Qr { code, valid_for } => {
                let code = Code::new(code, valid_for);
                self.live.send_modify(|live| live.qr = Some(code.clone()));
                self.publish_codes();
                if !matches!(self.status, SessionStatus::Qr | SessionStatus::Pairing) {
                    self.set(Change::status(SessionStatus::Qr)).await;
                }
                // The connection is ready for linking: a pairing code asked for at creation.
                if let Some(phone) = pair_phone.take()
                    && let Err(e) = self.request_pairing_code(device, &phone).await
                {
                    warn!(session_id = %self.key, error = %e, "no pairing code");
                }
            }
            EngineEvent::QrExhausted => return Some(End::Ended),
            EngineEvent::PairingCode { .. } => {} // recorded where it was asked for
            EngineEvent::PairingCodeFailed { error } => {
                self.live.send_modify(|live| live.pairing = None);
                info!(session_id = %self.key, %error, "pairing code failed");
            }
            EngineEvent::Paired { phone } => {
                *paired = true;
                self.live.send_replace(LiveState::default());
                match super::records::holder_of(&self.sessions.0.db, &phone, Some(self.owner), Some(&self.key)).await {
                    Ok(Some(other)) => {
                        info!(session_id = %self.key, other = %other.id, "number already linked elsewhere; undoing this link");
                        *duplicate_of = Some(other.id);
                    }
                    Ok(None) => {}
                    Err(e) => warn!(session_id = %self.key, error = %e, "cannot check for a duplicate number"),
                }
                if duplicate_of.is_none() {
                    self.linked = true;
                    self.set(Change::status(SessionStatus::Connecting).phone(Some(phone))).await;
                }
            }
            EngineEvent::PairFailed { error } => {
                self.set(Change::status(self.status).reason(Some(format!("linking failed: {error}")))).await;
            }
            EngineEvent::Connected => {
                self.unreachable = None;
                if duplicate_of.is_some() {
                    device.logout().await;
                    return Some(End::LoggedOut {
                        reason: String::new(),
                        duplicate_of: duplicate_of.take(),
                        done: None,
                    });
                }
                self.linked = true;
                self.connected_this_run = true;
                let mut change = Change::status(SessionStatus::Connected);
                if let Some(phone) = device.phone() {
                    change = change.phone(Some(phone));
                }
                // Usable before it is told connected: an API call right after sees the device.
                self.dispatch.online(device.sender());
                self.sessions.0.inbox.online(&self.key, device.sender());
                self.set(change).await;
            }
            EngineEvent::Disconnected { reason } => {
                self.dispatch.offline();
                self.sessions.0.inbox.offline(&self.key);
                if self.status == SessionStatus::Connected {
                    let reason = format!("connection lost ({reason}); reconnecting");
                    self.set(Change::status(SessionStatus::Disconnected).reason(Some(reason))).await;
                }
            }
            EngineEvent::Unreachable { error } => {
                // Said once per distinct error, not at every retry.
                if self.unreachable.as_deref() != Some(error.as_str()) {
                    let reason = format!("cannot reach WhatsApp: {error}; retrying");
                    self.unreachable = Some(error);
                    self.set(Change::status(SessionStatus::Disconnected).reason(Some(reason))).await;
                }
            }
            EngineEvent::LoggedOut { reason } => {
                let reason = format!("unlinked ({reason})");
                return Some(End::LoggedOut { reason, duplicate_of: duplicate_of.take(), done: None });
            }
            EngineEvent::Banned { duration, reason } => return Some(End::Banned { duration, reason }),
            EngineEvent::Replaced => return Some(End::Replaced),
            EngineEvent::Outdated => return Some(End::Outdated),
            EngineEvent::ConnectFailure { reason } => {
                self.set(Change::status(SessionStatus::Disconnected).reason(Some(format!("login failed: {reason}"))))
                    .await;
            }
            // Not sent here by the engine (see `engine::Forward`); handled as they would be.
            EngineEvent::Acked { id, error } => self.sessions.0.queue.status_sink().acked(id, error),
            EngineEvent::Receipt { ids, kind } => self.sessions.0.queue.status_sink().receipt(ids, kind),
            EngineEvent::Received(batch) => self.sessions.0.inbox.keep(&self.key, batch).await,
            EngineEvent::Typing { phone, state } => self.sessions.0.inbox.contact_typing(&self.key, &phone, state),
            EngineEvent::Group(change) => self.sessions.0.inbox.group_changed(&self.key, change).await,
            EngineEvent::Call(call) => {
                // Off the event loop: declining and keeping it wait on WhatsApp and the database.
                let (inbox, key, sender) = (self.sessions.0.inbox.clone(), self.key.clone(), device.sender());
                tokio::spawn(async move { inbox.called(&key, &sender, call).await });
            }
        }
        None
    }

    async fn request_pairing_code(
        &mut self,
        device: &crate::engine::Device,
        phone: &str,
    ) -> Result<Code, SessionError> {
        if self.linked {
            return Err(SessionError::AlreadyLinked);
        }
        if self.live.borrow().qr.is_none() {
            // Not connected for linking yet (the first QR code marks that).
            return Err(SessionError::Busy(self.status.as_str()));
        }
        // WhatsApp allows one outstanding code per device: the same number gets
        // it again; another number needs a fresh device (a restart).
        let outstanding = self.live.borrow().pairing.clone().filter(|c| c.expires_at > chrono::Utc::now());
        if let Some(code) = outstanding {
            return match self.pairing_for.as_deref() {
                Some(for_phone) if for_phone == phone => Ok(code),
                _ => Err(SessionError::PairingOutstanding),
            };
        }
        let code = match tokio::time::timeout(PAIRING_WAIT, device.pairing_code(phone)).await {
            Ok(Ok(code)) => code,
            Ok(Err(e)) => return Err(SessionError::Refused(format!("{e:#}"))),
            Err(_) => return Err(SessionError::Timeout),
        };
        // WhatsApp keeps a pairing code for about three minutes.
        let code = Code::new(code, Duration::from_secs(180));
        self.live.send_modify(|live| live.pairing = Some(code.clone()));
        self.pairing_for = Some(phone.to_owned());
        self.publish_codes();
        self.set(Change::status(SessionStatus::Pairing)).await;
        Ok(code)
    }

    /// Tells subscribers (and webhooks that asked for `session.qr`) the session's codes changed.
    fn publish_codes(&self) {
        let live = self.live.borrow().clone();
        let owner = self.owner;
        let data = serde_json::json!({
            "sessionId": self.key.name(),
            "qr": live.qr.as_ref().map(|c| &c.value),
            "expiresAt": live.qr.as_ref().map(|c| c.expires_at),
            "pairingCode": live.pairing.as_ref().map(|c| &c.value),
        });
        let writer = self.sessions.0.writer.clone();
        if writer.recording() {
            // Nothing in the database changes with a code: the event is written
            // on its own, without holding the supervisor up.
            let event = crate::db::record::NewEvent {
                kind: "session.qr",
                owner: Some(owner),
                session: Some(self.key.clone()),
                data: data.clone(),
            };
            tokio::spawn(async move {
                let written = async {
                    let mut write = writer.begin().await?;
                    write.record(vec![event]).await?;
                    write.commit().await
                };
                if let Err(e) = written.await {
                    warn!(error = %e, "cannot write a session.qr webhook event");
                }
            });
        }
        self.sessions.0.events.publish(crate::events::GatewayEvent {
            kind: "session.qr",
            owner,
            session: self.key.clone(),
            also: Vec::new(),
            agent: None,
            data,
        });
    }
}
