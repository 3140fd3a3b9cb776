//! wa-sim: a local WhatsApp Web server, the user's phone and contacts, speaking
//! the real protocol (Noise, binary stanzas, Signal) to the real `whatsapp-rust`
//! client. Tests and benches of wagate run against it; see README.md for what it
//! fakes and what it does not.

pub mod admin;
pub mod calls;
pub mod conn;
pub mod faults;
pub mod groups;
pub mod media;
pub mod messages;
pub mod phone;
pub mod presence;
pub mod profiles;
pub mod retries;
pub mod session;
pub mod signal;
pub mod state;
pub mod transport;
pub mod usync;
pub mod wire;

use std::{
    path::Path,
    sync::{
        Arc, Mutex, MutexGuard,
        atomic::{AtomicU64, Ordering},
    },
};

use bytes::Bytes;
use rand::{RngExt, distr::Alphanumeric};
use tokio::sync::mpsc;
use wacore::libsignal::protocol::{KeyPair, PrivateKey};

pub use faults::Fault;
pub use state::{Login, Received};
pub use transport::{InProcessTransportFactory, RemoteHttpClient, SimHttpClient};

/// A running simulator. Cheap to clone; all clones share one world.
#[derive(Clone)]
pub struct Sim {
    inner: Arc<Inner>,
}

struct Inner {
    identity: wire::ServerIdentity,
    world: Mutex<state::World>,
    media: Mutex<media::MediaStore>,
    media_auth: String,
    next_conn: AtomicU64,
    next_id: AtomicU64,
    /// The longest a logged-in client went without sending a frame, in ms.
    longest_silence_ms: AtomicU64,
}

pub(crate) fn random_token(len: usize) -> String {
    rand::rng().sample_iter(&Alphanumeric).take(len).map(char::from).collect()
}

impl Sim {
    /// A simulator with a fresh server key.
    pub fn new() -> Self {
        Self::with_static_key(KeyPair::generate(&mut rand::rng()))
    }

    /// A simulator whose server key is kept in `dir/server_key`, so clients
    /// that connected before a restart resume with Noise IK.
    pub fn with_state_dir(dir: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join("server_key");
        let key = match std::fs::read(&path) {
            Ok(bytes) => KeyPair::try_from(PrivateKey::deserialize(&bytes)?)?,
            Err(_) => {
                let key = KeyPair::generate(&mut rand::rng());
                std::fs::write(&path, key.private_key.serialize())?;
                key
            }
        };
        Ok(Self::with_static_key(key))
    }

    fn with_static_key(key: KeyPair) -> Self {
        Self {
            inner: Arc::new(Inner {
                identity: wire::ServerIdentity::new(key),
                world: Mutex::new(state::World::default()),
                media: Mutex::new(media::MediaStore::default()),
                media_auth: random_token(32),
                next_conn: AtomicU64::new(1),
                next_id: AtomicU64::new(1),
                longest_silence_ms: AtomicU64::new(0),
            }),
        }
    }

    /// Serves a new client connection: returns the sender for the client's
    /// bytes and the receiver of the server's.
    pub fn accept(&self) -> (mpsc::Sender<Bytes>, mpsc::Receiver<Bytes>) {
        let (client_tx, server_rx) = mpsc::channel(64);
        let (server_tx, client_rx) = mpsc::channel(64);
        tokio::spawn(conn::serve(self.clone(), wire::Pipe { rx: server_rx, tx: server_tx }));
        (client_tx, client_rx)
    }

    pub fn transport_factory(&self) -> InProcessTransportFactory {
        InProcessTransportFactory::new(self.clone())
    }

    pub fn http_client(&self) -> SimHttpClient {
        SimHttpClient::new(self.clone())
    }

    pub(crate) fn identity(&self) -> &wire::ServerIdentity {
        &self.inner.identity
    }

    pub(crate) fn world(&self) -> MutexGuard<'_, state::World> {
        self.inner.world.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn media(&self) -> MutexGuard<'_, media::MediaStore> {
        self.inner.media.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn media_auth(&self) -> &str {
        &self.inner.media_auth
    }

    pub(crate) fn next_conn_id(&self) -> u64 {
        self.inner.next_conn.fetch_add(1, Ordering::Relaxed)
    }

    pub(crate) fn next_stanza_id(&self) -> String {
        format!("sim-{}", self.inner.next_id.fetch_add(1, Ordering::Relaxed))
    }

    pub(crate) fn next_message_id(&self) -> String {
        format!("3EB0SIM{:012X}", self.inner.next_id.fetch_add(1, Ordering::Relaxed))
    }

    // ---- what the admin API does -------------------------------------------------

    /// The phone of `phone` scans `qr` (and that number is on WhatsApp from now on).
    pub async fn scan(&self, qr: &str, phone: &str) -> anyhow::Result<()> {
        phone::scan(self, qr, phone).await
    }

    /// The phone of `phone` enters the pairing `code` a device displays.
    pub async fn enter_pair_code(&self, phone: &str, code: &str) -> anyhow::Result<()> {
        phone::enter_pair_code(self, phone, code).await
    }

    /// These numbers are on WhatsApp.
    pub fn add_contacts(&self, phones: &[String]) {
        let mut world = self.world();
        for phone in phones {
            world.account_mut(phone);
        }
    }

    /// Every copy that reached contacts, oldest first, resends of an id included
    /// (`copy` > 1); only what was sent to `to` when given. Counting these shows
    /// every time a sender sent.
    pub fn received(&self, to: Option<&str>) -> Vec<Received> {
        self.world().received.iter().filter(|r| to.is_none_or(|t| r.to == t)).cloned().collect()
    }

    /// What contacts' phones show: the first copy of each message.
    pub fn shown(&self, to: Option<&str>) -> Vec<Received> {
        self.received(to).into_iter().filter(|r| r.copy == 1).collect()
    }

    /// The reactions `contact`'s phone shows: `(message id, reactor, emoji)`.
    pub fn reactions(&self, contact: &str) -> Vec<(String, String, String)> {
        let world = self.world();
        let mut out = Vec::new();
        for ((to, id), by) in &world.reactions {
            if to == contact {
                out.extend(by.iter().map(|(who, emoji)| (id.clone(), who.clone(), emoji.clone())));
            }
        }
        out
    }

    /// What `contact`'s phone showed of linked numbers typing, oldest first.
    pub fn chatstates(&self, contact: &str) -> Vec<messages::ChatState> {
        self.world().chatstates.iter().filter(|c| c.to == contact).cloned().collect()
    }

    /// Copies of messages contacts already had (resends of the same id), dropped.
    /// The retry receipts linked devices sent, oldest first.
    pub fn retries(&self) -> Vec<retries::Retry> {
        self.world().retries.clone()
    }

    pub fn duplicates(&self) -> Vec<Received> {
        self.world().received.iter().filter(|r| r.copy > 1).cloned().collect()
    }

    /// Contact `from` writes `text` to the linked number `to`; returns the message id.
    pub async fn inbound(&self, from: &str, to: &str, text: &str, push_name: &str) -> anyhow::Result<String> {
        messages::inbound(self, from, to, text, push_name).await
    }

    /// A contact (or the linked number's own phone) writes; see [`messages::Write`].
    pub async fn deliver(&self, write: &messages::Write) -> anyhow::Result<String> {
        messages::deliver(self, write).await
    }

    /// What `phone` shows others: its "about" text and a profile picture (the
    /// image's bytes; a new one gets a new id). `None` leaves either as it is.
    pub fn set_profile(&self, phone: &str, about: Option<String>, picture: Option<Vec<u8>>) {
        profiles::set(self, phone, about, picture)
    }

    /// How many times linked devices asked for `phone`'s profile picture.
    pub fn picture_asks(&self, phone: &str) -> u32 {
        self.world().picture_asks.get(phone).copied().unwrap_or_default()
    }

    /// Contact `from` types to the linked number `to` (`composing`,
    /// `recording`, `paused`); shown to the devices subscribed to `from`: how many.
    pub fn contact_types(&self, from: &str, to: &str, state: &str) -> anyhow::Result<usize> {
        presence::typing(self, from, to, state)
    }

    /// The contacts whose presence `phone`'s connected devices subscribed to.
    pub fn subscriptions(&self, phone: &str) -> Vec<String> {
        presence::subscriptions(self, phone)
    }

    /// The groups, by id.
    pub fn groups(&self) -> Vec<groups::Group> {
        self.world().groups.values().cloned().collect()
    }

    /// The group with this id (digits), if any.
    pub fn group(&self, id: &str) -> Option<groups::Group> {
        self.world().groups.get(id).cloned()
    }

    /// `creator`'s phone makes a group of `participants` (those on WhatsApp).
    pub fn create_group(&self, creator: &str, subject: &str, participants: &[String]) -> anyhow::Result<groups::Group> {
        Ok(groups::create(self, creator, subject, participants, None)?)
    }

    /// `by`'s phone changes group `id`; for a participants change, each number
    /// with the error WhatsApp answers for it (none: done). See [`groups`].
    pub fn change_group(
        &self,
        id: &str,
        by: &str,
        change: groups::Change,
    ) -> anyhow::Result<Vec<(String, Option<u16>)>> {
        Ok(groups::apply(self, id, by, change)?)
    }

    /// `phone` joins a group by its invite link's code (or the whole link); the group's id.
    pub fn join_group(&self, phone: &str, code: &str) -> anyhow::Result<String> {
        let code = code.rsplit('/').next().unwrap_or(code);
        Ok(groups::join(self, phone, code)?)
    }

    /// Group messages former participants tried with the sender keys they kept.
    pub fn overheard(&self) -> Vec<messages::Overheard> {
        self.world().overheard.clone()
    }

    /// Contact `from` calls the linked number `to` (`name`: the caller's push
    /// name); returns the call id. See [`calls`].
    pub fn call(&self, from: &str, to: &str, video: bool, name: Option<&str>) -> anyhow::Result<String> {
        calls::ring(self, from, to, video, name)
    }

    /// The caller of `call_id` hangs up.
    pub fn hang_up(&self, call_id: &str) -> anyhow::Result<()> {
        calls::hang_up(self, call_id)
    }

    /// The calls contacts made to `to` (every call when `None`), oldest first.
    pub fn calls(&self, to: Option<&str>) -> Vec<calls::Call> {
        self.world().calls.iter().filter(|c| to.is_none_or(|t| c.to == t)).cloned().collect()
    }

    /// Read receipts the linked devices sent, oldest first.
    pub fn read_receipts(&self) -> Vec<messages::ReadReceipt> {
        self.world().read_receipts.clone()
    }

    /// Messages waiting for `phone`'s device `device` to acknowledge them.
    pub fn pending_for(&self, phone: &str, device: u16) -> usize {
        self.world().pending.get(&(phone.to_owned(), device)).map_or(0, Vec::len)
    }

    /// The contact that received `message_id` sends a `delivered` or `read` receipt.
    pub fn receipt(&self, message_id: &str, kind: &str) -> anyhow::Result<()> {
        anyhow::ensure!(kind == "delivered" || kind == "read", "receipt type must be delivered or read");
        messages::receipt(self, message_id, kind)
    }

    /// Injects a fault for `phone` (see [`Fault`]).
    pub fn fault(&self, phone: &str, fault: Fault) {
        faults::apply(self, phone, fault)
    }

    /// Every successful login so far.
    /// The longest any logged-in client went without sending a frame since
    /// the last [`reset_silence`](Self::reset_silence). Under steady traffic a
    /// client acknowledges what it gets; a long silence is a client whose
    /// read loop stalled (its keepalive declares the socket dead at 20 s).
    pub fn longest_silence(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.inner.longest_silence_ms.load(std::sync::atomic::Ordering::Relaxed))
    }

    pub fn reset_silence(&self) {
        self.inner.longest_silence_ms.store(0, std::sync::atomic::Ordering::Relaxed);
    }

    pub(crate) fn heard_after(&self, silence: std::time::Duration) {
        self.inner.longest_silence_ms.fetch_max(silence.as_millis() as u64, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn logins(&self) -> Vec<state::Login> {
        self.world().logins.clone()
    }

    /// Linked devices: `(phone, device id, connected)`.
    pub fn devices(&self) -> Vec<(String, u16, bool)> {
        let world = self.world();
        let mut out: Vec<_> = world
            .accounts
            .values()
            .flat_map(|a| a.devices.values().map(move |d| (a.phone.clone(), d.id, d.conn.is_some())))
            .collect();
        out.sort();
        out
    }
}

impl Default for Sim {
    fn default() -> Self {
        Self::new()
    }
}
