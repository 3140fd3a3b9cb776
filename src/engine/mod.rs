//! Everything that touches whatsapp-rust, and nothing else does.
//!
//! An [`Engine`] starts one [`Device`] (a whatsapp-rust `Bot` on its device's
//! rows in the shared [`store`]) per session and turns the client's events into
//! [`EngineEvent`]s on a channel, in the order they happen. What to do about
//! them is the session manager's business.

pub mod groups;
pub mod http;
pub mod inbound;
mod retention;
mod runtime;
pub mod store;
pub mod version;

use std::{
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use anyhow::Context;
use tokio::sync::mpsc;
use whatsapp_rust::buffa;
use whatsapp_rust::{
    Jid, SendOptions,
    download::MediaType,
    media::{
        AudioOptions, DocumentOptions, ImageOptions, VideoOptions, audio_message, document_message, image_message,
        video_message,
    },
    pair_code::PairCodeOptions,
    prelude::{Bot, BotHandle, Client, Event, EventHandler, EventInterest, EventKind},
    transport::TokioWebSocketTransportFactory,
    types::presence::ReceiptType,
    upload::UploadResponse,
    wacore::upload::{EncryptedMediaInfo, UploadSource, encrypt_media_streaming},
    waproto::{self, whatsapp as wa},
};

use crate::{config::Config, model::SessionKey};
pub use groups::{GroupChange, GroupChangeKind, GroupFailure, GroupInfo, GroupSetting, Member, MemberAction, Role};
pub use inbound::{Inbound, InboundSink, MediaRef, Place, check_direct_path};

/// What a device reports, reduced to what the gateway acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EngineEvent {
    /// A QR code to show, valid for `valid_for`.
    Qr {
        code: String,
        valid_for: Duration,
    },
    /// The server sent no more QR codes; a new device must be started for more.
    QrExhausted,
    /// A pairing code to type on the phone.
    PairingCode {
        code: String,
        valid_for: Duration,
    },
    PairingCodeFailed {
        error: String,
    },
    /// The phone linked this device to `phone` (digits with country code).
    Paired {
        phone: String,
    },
    PairFailed {
        error: String,
    },
    Connected,
    /// The connection dropped (`reason`: how); the client reconnects by itself.
    Disconnected {
        reason: String,
    },
    /// A connection could not be opened (`error`: why); the client tries again.
    Unreachable {
        error: String,
    },
    /// The device was unlinked (from the phone, by us, or refused at login).
    LoggedOut {
        reason: String,
    },
    /// WhatsApp banned the number for `duration`.
    Banned {
        duration: Duration,
        reason: String,
    },
    /// Another client took over this device's connection.
    Replaced,
    /// WhatsApp refused this client version.
    Outdated,
    /// Login failed for a reason that is neither a logout nor a ban.
    ConnectFailure {
        reason: String,
    },
    /// The server accepted (or, with `error`, refused) the message `id` we sent.
    Acked {
        id: String,
        error: Option<String>,
    },
    /// A recipient's phone received (or read) messages we sent.
    Receipt {
        ids: Vec<String>,
        kind: ReceiptKind,
    },
    /// Messages that bypass the durability hook (newsletters): keep them as they come.
    Received(Vec<Inbound>),
    /// A contact calls (or, `offline`, called while the device was away).
    Call(Call),
    /// A contact (whose presence this device subscribed to) types in its 1:1 chat.
    Typing {
        phone: String,
        state: Typing,
    },
    /// A group this number is (or was) in changed.
    Group(GroupChange),
}

/// The number of the account `lid` names: from the client's LID-number store
/// (learned from messages and usync), else asked of WhatsApp (usync by LID
/// answers with the number beside it when this account may know it).
async fn number_of(client: &Client, lid: &Jid) -> Option<String> {
    if let Ok(Some(entry)) = client.get_lid_pn_entry(lid).await {
        return Some(entry.phone_number.to_string());
    }
    let contacts = client.contacts();
    let asked = contacts.is_on_whatsapp(std::slice::from_ref(lid));
    let found = tokio::time::timeout(Duration::from_secs(10), asked).await.ok()?.ok()?;
    found.into_iter().find_map(|r| r.pn_jid).map(|pn| pn.user.to_string())
}

/// What WhatsApp tells of an account (see [`Sender::profile`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    /// LID digits.
    pub lid: Option<String>,
    /// Its "about" text.
    pub about: Option<String>,
    /// The id of its current profile picture (when this number may see it).
    pub picture_id: Option<String>,
    pub business: bool,
    /// A business account's verified name.
    pub business_name: Option<String>,
}

/// A call to the linked number. The gateway never answers one: it may decline
/// it ([`Sender::reject_call`]) and shows it in the inbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub id: String,
    /// Whom the call's signalling names (by number or by LID).
    pub from: Jid,
    /// Who made the call.
    pub creator: Jid,
    /// The caller's number (digits with country code) when WhatsApp told it.
    pub phone: Option<String>,
    pub video: bool,
    /// It rang while the device was away: long over, told from the offline queue.
    pub offline: bool,
    /// When it was made, epoch ms.
    pub at_ms: i64,
    pub push_name: Option<String>,
}

/// The receipts the queue records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReceiptKind {
    Delivered,
    Read,
}

/// How devices reach WhatsApp (or a simulator), shared by all sessions.
pub struct Engine {
    sessions_dir: PathBuf,
    stores: Arc<store::Stores>,
    server_url: Option<String>,
    http: http::Http,
    version: (u32, u32, u32),
}

impl Engine {
    /// Prepares the sessions directory and settles the WhatsApp Web version.
    /// `resolver` is the address guard every host name WhatsApp's media and
    /// version requests name goes through.
    pub async fn new(
        config: &Config,
        db: &sea_orm::DatabaseConnection,
        resolver: Arc<dyn reqwest::dns::Resolve>,
    ) -> anyhow::Result<Engine> {
        let dir = &config.storage.sessions_dir;
        crate::files::private_dir(dir).with_context(|| format!("creating sessions dir {}", dir.display()))?;
        let stores = store::Stores::open(db, dir).await?;
        let server_url = Some(config.whatsapp.server_url.clone()).filter(|u| !u.is_empty());
        let simulator = match &server_url {
            Some(url) => Some(simulator_http_base(url)?),
            None => None,
        };
        let http = http::Http::new(simulator, resolver)?;
        let pinned = crate::config::parse_version(&config.whatsapp.version).map_err(anyhow::Error::msg)?;
        let version = version::resolve(pinned, Arc::new(http.clone()), &config.storage.data_dir).await;
        Ok(Engine { sessions_dir: dir.clone(), stores, server_url, http, version })
    }

    /// The file of a session linked by an earlier version (see [`store::Stores::import`]).
    pub fn store_path(&self, session: &SessionKey) -> PathBuf {
        self.sessions_dir.join(format!("{session}.db"))
    }

    /// Removes a session's store (the device's keys): it will have to link anew.
    pub async fn wipe(&self, session: &SessionKey) -> anyhow::Result<()> {
        let path = self.store_path(session);
        for suffix in ["", "-wal", "-shm", "-journal", ".imported", ".imported-wal", ".imported-shm"] {
            let mut file = path.clone().into_os_string();
            file.push(suffix);
            match std::fs::remove_file(Path::new(&file)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(anyhow::Error::from(e).context(format!("removing {}", Path::new(&file).display())));
                }
                _ => {}
            }
        }
        self.stores.wipe(session.as_str()).await.context("wiping the device store")
    }

    /// Opens the session's store and connects: a linked store logs in, a new one
    /// starts linking (QR codes). Session events go to `events` in order (see
    /// [`Forward`] for its bound); acks and receipts to `statuses`. What
    /// arrives is committed to `sink` before WhatsApp gets its receipt.
    pub async fn start(
        &self,
        session: &SessionKey,
        events: mpsc::Sender<EngineEvent>,
        statuses: Arc<dyn StatusSink>,
        sink: Arc<dyn InboundSink>,
    ) -> anyhow::Result<Device> {
        // A session linked by an earlier version moves its file's device in.
        let path = self.store_path(session);
        let store = if path.exists() {
            self.stores.import(session.as_str(), &path).await.context("moving the device into the shared store")?
        } else {
            self.stores.device(session.as_str()).await.context("opening the device store")?
        };
        let mut transport = TokioWebSocketTransportFactory::new();
        if let Some(url) = &self.server_url {
            transport = transport.with_url(url.clone());
        }
        let transport = Reporting { inner: transport, events: events.clone() };
        let bot = Bot::builder()
            .with_backend(store)
            .with_transport_factory(transport)
            .with_http_client(self.http.clone())
            .with_runtime(runtime::Coalescing)
            .with_version(self.version)
            .skip_history_sync()
            .with_event_handler(Forward { session: session.clone(), events, statuses, sink: sink.clone() })
            .with_inbound_durability_hook(inbound::Hook { session: session.clone(), sink })
            .build()
            .await
            .context("building the WhatsApp client")?;
        let client = bot.client();
        Ok(Device { client, handle: Some(bot.spawn()) })
    }
}

/// The WebSocket transport, telling the session why a connection could not be
/// opened: whatsapp-rust only logs that and tries again, so without this a
/// session that never reaches WhatsApp would just say `connecting`.
struct Reporting {
    inner: TokioWebSocketTransportFactory,
    events: mpsc::Sender<EngineEvent>,
}

#[async_trait::async_trait]
impl whatsapp_rust::transport::TransportFactory for Reporting {
    async fn create_transport(
        &self,
    ) -> Result<
        (
            Arc<dyn whatsapp_rust::transport::Transport>,
            async_channel::Receiver<whatsapp_rust::transport::TransportEvent>,
        ),
        anyhow::Error,
    > {
        let created = self.inner.create_transport().await;
        if let Err(e) = &created {
            // Dropped when the session's events are backed up: the next attempt reports again.
            let _ = self.events.try_send(EngineEvent::Unreachable { error: format!("{e:#}") });
        }
        created
    }
}

/// `ws://host:port/...` -> `http://host:port`: where a simulator serves media.
fn simulator_http_base(server_url: &str) -> anyhow::Result<String> {
    let url = url::Url::parse(server_url).context("whatsapp.server_url")?;
    let scheme = if url.scheme() == "wss" { "https" } else { "http" };
    let host = url.host_str().context("whatsapp.server_url has no host")?;
    Ok(match url.port() {
        Some(port) => format!("{scheme}://{host}:{port}"),
        None => format!("{scheme}://{host}"),
    })
}

/// One running device.
pub struct Device {
    client: Arc<Client>,
    handle: Option<BotHandle>,
}

impl Device {
    /// Asks for a pairing code for `phone` (digits with country code). Works once
    /// the device is connected and waiting to be linked.
    pub async fn pairing_code(&self, phone: &str) -> anyhow::Result<String> {
        let options = PairCodeOptions { phone_number: phone.to_owned(), ..Default::default() };
        self.client.pair_with_code(options).await.map_err(|e| anyhow::anyhow!("{e}"))
    }

    /// Unlinks the device from the phone (best effort when offline) and stops it.
    pub async fn logout(&self) {
        self.client.logout().await;
    }

    /// A handle the send queue sends through while this device runs.
    pub fn sender(&self) -> Sender {
        Sender { client: self.client.clone() }
    }

    /// The number this device is linked to, once it is.
    pub fn phone(&self) -> Option<String> {
        self.client.pn().as_ref().map(phone_of)
    }

    /// Resolves when the client's run loop has ended (logout, ban, outdated,
    /// or stopped); pending forever once [`stop`](Self::stop) took the handle.
    pub async fn ended(&mut self) {
        match self.handle.as_mut() {
            Some(handle) => {
                handle.await;
                self.handle = None;
            }
            None => std::future::pending().await,
        }
    }

    /// Flushes the store and stops the client.
    pub async fn stop(mut self) {
        if let Some(handle) = self.handle.take() {
            handle.shutdown().await;
        }
    }
}

/// What to send: a media file is encrypted into a file beside it and
/// uploaded from there, a chunk at a time, first.
#[derive(Debug, Clone)]
pub enum Outgoing {
    Text(String),
    Media(OutgoingMedia),
    Location {
        latitude: f64,
        longitude: f64,
        name: Option<String>,
        address: Option<String>,
    },
    /// Contact cards: `(display name, vCard)` each.
    Contacts(Vec<(String, String)>),
    Poll {
        question: String,
        options: Vec<String>,
        /// How many options a voter may pick.
        selectable: u32,
        /// The poll's message secret (32 bytes): votes are encrypted with it.
        secret: Vec<u8>,
    },
    /// A reaction to the message `target` of the chat (an empty emoji takes it off).
    Reaction {
        target: String,
        /// Whether `target` is a message this number sent.
        from_me: bool,
        emoji: String,
    },
    /// New text (or caption, for `caption_of` a media type) for this number's message `target`.
    Edit {
        target: String,
        text: String,
        caption_of: Option<MediaKind>,
    },
    /// Deletes this number's message `target` for everyone.
    Revoke {
        target: String,
    },
}

/// Which media message a file goes as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaKind {
    Image,
    Video,
    Audio,
    /// A voice note (push-to-talk audio).
    Voice,
    Sticker,
    Document,
}

#[derive(Debug, Clone)]
pub struct OutgoingMedia {
    pub kind: MediaKind,
    pub file: PathBuf,
    pub mimetype: String,
    /// Documents: the name the recipient sees.
    pub filename: Option<String>,
    pub caption: Option<String>,
    /// Voice notes: how long it plays and the waveform shown.
    pub seconds: Option<u32>,
    pub waveform: Option<Vec<u8>>,
    /// Videos: play as a looping GIF.
    pub gif: bool,
}

/// What a contact sees this number doing in their chat (or this number sees a contact do).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Typing {
    Composing,
    /// Recording a voice note.
    Recording,
    /// Stopped.
    Paused,
}

/// The message a reply answers: its id, its author and a copy of it.
#[derive(Debug, Clone)]
pub struct Quote {
    pub id: String,
    /// The author's JID (`…@s.whatsapp.net`; the linked number's own for our messages).
    pub author: String,
    pub message: waproto::whatsapp::Message,
}

impl Quote {
    /// A quote of a message of type `kind` (as the gateway names types) with
    /// `text` (its text or caption): what WhatsApp shows above the reply.
    pub fn of(id: String, author: String, kind: &str, text: Option<String>) -> Quote {
        let mut message = wa::Message::default();
        match kind {
            "image" => {
                message.image_message =
                    buffa::MessageField::some(wa::message::ImageMessage { caption: text, ..Default::default() })
            }
            "video" => {
                message.video_message =
                    buffa::MessageField::some(wa::message::VideoMessage { caption: text, ..Default::default() })
            }
            "audio" | "voice" => {
                message.audio_message = buffa::MessageField::some(wa::message::AudioMessage {
                    ptt: Some(kind == "voice"),
                    ..Default::default()
                })
            }
            "sticker" => message.sticker_message = buffa::MessageField::some(Default::default()),
            "document" => {
                message.document_message =
                    buffa::MessageField::some(wa::message::DocumentMessage { caption: text, ..Default::default() })
            }
            "location" => {
                message.location_message =
                    buffa::MessageField::some(wa::message::LocationMessage { name: text, ..Default::default() })
            }
            "contact" => {
                message.contact_message =
                    buffa::MessageField::some(wa::message::ContactMessage { display_name: text, ..Default::default() })
            }
            "poll" => {
                message.poll_creation_message =
                    buffa::MessageField::some(wa::message::PollCreationMessage { name: text, ..Default::default() })
            }
            _ => message.conversation = Some(text.unwrap_or_default()),
        }
        Quote { id, author, message }
    }
}

/// An encrypted copy of a media file, removed once uploaded (or not).
struct Encrypted(PathBuf);

impl Drop for Encrypted {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_file(&self.0)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(path = %self.0.display(), error = %e, "cannot remove an encrypted media file");
        }
    }
}

/// Where [`Client::upload_stream`] reads the ciphertext from, per attempt.
struct EncryptedFile {
    path: PathBuf,
    len: u64,
}

impl UploadSource for EncryptedFile {
    fn len(&self) -> u64 {
        self.len
    }

    fn reader_from(&self, offset: u64) -> std::io::Result<Box<dyn std::io::Read + Send>> {
        use std::io::Seek;
        let mut file = std::fs::File::open(&self.path)?;
        file.seek(std::io::SeekFrom::Start(offset))?;
        Ok(Box::new(std::io::BufReader::new(file)))
    }
}

/// Sends through one device; cheap to clone.
#[derive(Clone)]
pub struct Sender {
    client: Arc<Client>,
}

impl Sender {
    pub fn is_connected(&self) -> bool {
        self.client.is_connected()
    }

    /// The number this device is linked to.
    pub fn phone(&self) -> Option<String> {
        self.client.pn().as_ref().map(phone_of)
    }

    /// Shows `phone` (or a group, `<id>@g.us`) this number typing (or
    /// recording a voice note), or stops.
    pub async fn typing(&self, phone: &str, state: Typing) -> anyhow::Result<()> {
        use whatsapp_rust::ChatStateType;
        let state = match state {
            Typing::Composing => ChatStateType::Composing,
            Typing::Recording => ChatStateType::Recording,
            Typing::Paused => ChatStateType::Paused,
        };
        self.client.chatstate().send(&recipient_jid(phone)?, state).await.map_err(|e| anyhow::anyhow!("{e}"))
    }

    /// The number of the account `lid` names, when this account may know it.
    pub async fn number_of(&self, lid: &Jid) -> Option<String> {
        number_of(&self.client, lid).await
    }

    /// Asks WhatsApp for `phone`'s presence and typing (kept across reconnects).
    pub async fn subscribe(&self, phone: &str) -> anyhow::Result<()> {
        self.client.presence().subscribe(Jid::pn(phone)).await.map_err(|e| anyhow::anyhow!("{e}"))
    }

    /// Declines a call that is ringing (the caller sees it declined).
    pub async fn reject_call(&self, call: &Call) -> anyhow::Result<()> {
        self.client.voip().reject_call(&call.id, &call.from, &call.creator).await.map_err(|e| anyhow::anyhow!("{e}"))
    }

    /// What WhatsApp tells of the account of `phone`: `None` when it has none.
    pub async fn profile(&self, phone: &str) -> anyhow::Result<Option<Profile>> {
        let jid = Jid::pn(phone);
        let found = self
            .client
            .contacts()
            .get_user_info(std::slice::from_ref(&jid))
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let Some(info) = found.into_values().next() else { return Ok(None) };
        Ok(Some(Profile {
            lid: info.lid.map(|l| l.user.to_string()),
            about: info.status.filter(|s| !s.is_empty()),
            picture_id: info.picture_id.filter(|p| !p.is_empty()),
            business: info.is_business,
            business_name: info.verified_name.and_then(|v| v.name),
        }))
    }

    /// The profile picture of `phone` (full size) when it has one that this
    /// number may see: its id and bytes (at most `max` of them).
    pub async fn picture(&self, phone: &str, max: usize) -> anyhow::Result<Option<(String, Vec<u8>)>> {
        let jid = Jid::pn(phone);
        let picture =
            self.client.contacts().get_profile_picture(&jid, false).await.map_err(|e| anyhow::anyhow!("{e}"))?;
        let Some(picture) = picture else { return Ok(None) };
        let url = url::Url::parse(&picture.url).context("the picture URL")?;
        anyhow::ensure!(url.scheme() == "https", "the picture URL is not https");
        let request = whatsapp_rust::http::HttpRequest::get(picture.url.clone());
        let response = self.client.http_client.execute(request).await?;
        anyhow::ensure!(response.status_code == 200, "the picture host answered {}", response.status_code);
        anyhow::ensure!(response.body.len() <= max, "the picture is larger than {max} bytes");
        Ok(Some((picture.id, response.body)))
    }

    /// Which of `phones` (digits with country code) have a WhatsApp account,
    /// in one query: `(phone, registered, LID digits)` for each, in order.
    pub async fn check(&self, phones: &[String]) -> anyhow::Result<Vec<(String, bool, Option<String>)>> {
        let jids: Vec<Jid> = phones.iter().map(|p| Jid::pn(p.as_str())).collect();
        let results = self.client.contacts().is_on_whatsapp(&jids).await.map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(phones
            .iter()
            .map(|phone| {
                let found = results
                    .iter()
                    .find(|r| r.jid.user == *phone || r.pn_jid.as_ref().is_some_and(|pn| pn.user == *phone));
                let registered = found.is_some_and(|r| r.is_registered);
                let lid =
                    found.and_then(|r| r.lid.as_ref().or(r.jid.is_lid().then_some(&r.jid))).map(|l| l.user.to_string());
                (phone.clone(), registered, lid.filter(|_| registered))
            })
            .collect())
    }

    /// Sends `content` to `to` (a number, or a group's `<id>@g.us`) as the
    /// message `id`, mentioning `mentions` (numbers; a text's mentions show
    /// only in a group). Sending the same id again is the same message to
    /// WhatsApp (a resend, not a second message). Done means written to the
    /// connection; the server's acceptance comes as [`EngineEvent::Acked`].
    pub async fn send(
        &self,
        id: &str,
        to: &str,
        content: Outgoing,
        quote: Option<Quote>,
        mentions: &[String],
    ) -> anyhow::Result<()> {
        let jid = recipient_jid(to)?;
        let context = (quote.is_some() || !mentions.is_empty()).then(|| {
            let mut context = waproto::whatsapp::ContextInfo {
                mentioned_jid: mentions.iter().map(|p| Jid::pn(p.as_str()).to_string()).collect(),
                ..Default::default()
            };
            if let Some(q) = quote {
                context.stanza_id = Some(q.id);
                context.participant = Some(q.author);
                context.quoted_message = buffa::MessageField::some(q.message);
            }
            Box::new(context)
        });
        let message = match content {
            Outgoing::Text(text) => match context {
                None => waproto::whatsapp::Message { conversation: Some(text), ..Default::default() },
                Some(context) => waproto::whatsapp::Message {
                    extended_text_message: buffa::MessageField::some(wa::message::ExtendedTextMessage {
                        text: Some(text),
                        context_info: buffa::MessageField::some(*context),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
            },
            Outgoing::Media(media) => self.media_message(media, context).await?,
            Outgoing::Location { latitude, longitude, name, address } => waproto::whatsapp::Message {
                location_message: buffa::MessageField::some(wa::message::LocationMessage {
                    degrees_latitude: Some(latitude),
                    degrees_longitude: Some(longitude),
                    name,
                    address,
                    context_info: context.map(|c| buffa::MessageField::some(*c)).unwrap_or_default(),
                    ..Default::default()
                }),
                ..Default::default()
            },
            Outgoing::Contacts(cards) => contacts_message(cards, context),
            Outgoing::Reaction { target, from_me, emoji } => wa::Message {
                reaction_message: buffa::MessageField::some(wa::message::ReactionMessage {
                    key: buffa::MessageField::some(wa::MessageKey {
                        remote_jid: Some(jid.to_string()),
                        from_me: Some(from_me),
                        id: Some(target),
                        participant: None,
                    }),
                    text: Some(emoji),
                    sender_timestamp_ms: Some(crate::model::now_ms()),
                    ..Default::default()
                }),
                ..Default::default()
            },
            Outgoing::Edit { target, text, caption_of } => {
                let mut edited = wa::Message::default();
                match caption_of {
                    Some(MediaKind::Image) => {
                        edited.image_message = buffa::MessageField::some(wa::message::ImageMessage {
                            caption: Some(text),
                            ..Default::default()
                        })
                    }
                    Some(MediaKind::Video) => {
                        edited.video_message = buffa::MessageField::some(wa::message::VideoMessage {
                            caption: Some(text),
                            ..Default::default()
                        })
                    }
                    Some(_) => {
                        edited.document_message = buffa::MessageField::some(wa::message::DocumentMessage {
                            caption: Some(text),
                            ..Default::default()
                        })
                    }
                    None => edited.conversation = Some(text),
                }
                protocol_message(&jid, target, wa::message::protocol_message::Type::MessageEdit, Some(edited))
            }
            Outgoing::Revoke { target } => {
                protocol_message(&jid, target, wa::message::protocol_message::Type::Revoke, None)
            }
            Outgoing::Poll { question, options, selectable, secret } => {
                let poll = wa::message::PollCreationMessage {
                    name: Some(question),
                    options: options
                        .into_iter()
                        .map(|o| wa::message::poll_creation_message::Option { option_name: Some(o), option_hash: None })
                        .collect(),
                    selectable_options_count: Some(selectable),
                    poll_content_type: Some(wa::message::PollContentType::TEXT),
                    context_info: context.map(|c| buffa::MessageField::some(*c)).unwrap_or_default(),
                    ..Default::default()
                };
                // As WhatsApp Web: v3 for a single choice, v1 for several.
                let mut message = if selectable == 1 {
                    wa::Message { poll_creation_message_v3: buffa::MessageField::some(poll), ..Default::default() }
                } else {
                    wa::Message { poll_creation_message: buffa::MessageField::some(poll), ..Default::default() }
                };
                message.message_context_info = buffa::MessageField::some(wa::MessageContextInfo {
                    message_secret: Some(secret),
                    ..Default::default()
                });
                message
            }
        };
        let options = SendOptions::default().with_message_id(id);
        self.client.send_message_with_options(jid, message, options).await?;
        Ok(())
    }

    /// Uploads a media file and builds its message.
    async fn media_message(
        &self,
        media: OutgoingMedia,
        context: Option<Box<wa::ContextInfo>>,
    ) -> anyhow::Result<wa::Message> {
        let OutgoingMedia { kind, file, mimetype, filename, caption, seconds, waveform, gif } = media;
        let media_type = match kind {
            MediaKind::Image => MediaType::Image,
            MediaKind::Video => MediaType::Video,
            MediaKind::Audio | MediaKind::Voice => MediaType::Audio,
            MediaKind::Sticker => MediaType::Sticker,
            MediaKind::Document => MediaType::Document,
        };
        let upload = self.upload(file, media_type).await?;
        let mimetype = Some(mimetype);
        let context_info = context;
        Ok(match kind {
            MediaKind::Image => {
                image_message(upload, ImageOptions { caption, mimetype, context_info, ..Default::default() })
            }
            MediaKind::Video => video_message(
                upload,
                VideoOptions {
                    caption,
                    mimetype,
                    gif_playback: gif.then_some(true),
                    context_info,
                    ..Default::default()
                },
            ),
            MediaKind::Audio | MediaKind::Voice => audio_message(
                upload,
                AudioOptions {
                    mimetype,
                    duration_seconds: seconds,
                    ptt: Some(kind == MediaKind::Voice),
                    waveform,
                    context_info,
                },
            ),
            MediaKind::Sticker => wa::Message {
                sticker_message: buffa::MessageField::some(wa::message::StickerMessage {
                    url: Some(upload.url),
                    direct_path: Some(upload.direct_path),
                    media_key: Some(upload.media_key.to_vec()),
                    file_sha256: Some(upload.file_sha256.to_vec()),
                    file_enc_sha256: Some(upload.file_enc_sha256.to_vec()),
                    file_length: Some(upload.file_length),
                    media_key_timestamp: Some(upload.media_key_timestamp),
                    mimetype,
                    context_info: context_info.map(|c| buffa::MessageField::some(*c)).unwrap_or_default(),
                    ..Default::default()
                }),
                ..Default::default()
            },
            MediaKind::Document => {
                let filename = filename.unwrap_or_else(|| "document".into());
                document_message(
                    upload,
                    DocumentOptions {
                        mimetype,
                        title: Some(filename.clone()),
                        file_name: Some(filename),
                        caption,
                        context_info,
                        ..Default::default()
                    },
                )
            }
        })
    }

    /// Encrypts `file` into `<file>.enc` on the blocking pool and uploads that,
    /// streamed: memory stays a few chunks whatever the file's size.
    async fn upload(&self, file: PathBuf, kind: MediaType) -> anyhow::Result<UploadResponse> {
        let encrypted = Encrypted(file.with_extension("enc"));
        let target = encrypted.0.clone();
        let info = tokio::task::spawn_blocking(move || -> anyhow::Result<EncryptedMediaInfo> {
            use std::io::Write;
            let plain = std::fs::File::open(&file).with_context(|| format!("opening {}", file.display()))?;
            let mut out = std::io::BufWriter::new(std::fs::File::create(&target)?);
            let info = encrypt_media_streaming(std::io::BufReader::new(plain), &mut out, kind)?;
            out.flush()?;
            Ok(info)
        })
        .await??;
        let len = std::fs::metadata(&encrypted.0)?.len();
        let source = EncryptedFile { path: encrypted.0.clone(), len };
        let upload = self.client.upload_stream(source, info, kind).await;
        drop(encrypted);
        upload
    }

    /// Tells the sender of these received messages (in `chat`) that they were read.
    pub async fn mark_read(&self, chat: &str, sender: &str, ids: &[String]) -> anyhow::Result<()> {
        let chat: Jid = chat.parse()?;
        let sender: Jid = sender.parse()?;
        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        // A 1:1 chat's receipt names no participant.
        let participant = (sender.user != chat.user).then_some(&sender);
        self.client.mark_as_read(&chat, participant, &ids).await
    }

    /// Downloads and decrypts a received message's media, refusing more than `max` bytes.
    pub async fn download(&self, media: &MediaRef, max: u64) -> anyhow::Result<Vec<u8>> {
        if media.file_length.is_some_and(|n| n > max) {
            anyhow::bail!("the file is larger than {max} bytes");
        }
        let download = inbound::Download::new(media)?;
        let bytes = self.client.download(&download).await?;
        anyhow::ensure!(bytes.len() as u64 <= max, "the file is larger than {max} bytes");
        Ok(bytes)
    }
}

/// The JID of a recipient: a group's `<id>@g.us`, else a number.
fn recipient_jid(to: &str) -> anyhow::Result<Jid> {
    if crate::model::is_group(to) {
        return to.parse().map_err(|e| anyhow::anyhow!("{to} is not a group: {e}"));
    }
    Ok(Jid::pn(to))
}

/// An edit or a deletion of this number's message `target` in its chat
/// `chat`, as WhatsApp Web builds them (the send path marks the stanza).
fn protocol_message(
    chat: &Jid,
    target: String,
    kind: wa::message::protocol_message::Type,
    edited: Option<wa::Message>,
) -> wa::Message {
    let edit = edited.is_some();
    wa::Message {
        protocol_message: buffa::MessageField::some(wa::message::ProtocolMessage {
            key: buffa::MessageField::some(wa::MessageKey {
                remote_jid: Some(chat.to_string()),
                from_me: Some(true),
                id: Some(target),
                participant: None,
            }),
            r#type: Some(kind),
            edited_message: edited.map(buffa::MessageField::some).unwrap_or_default(),
            timestamp_ms: edit.then(crate::model::now_ms),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The options (of `options`) a vote in the poll `poll` chose: the vote
/// decrypted with the poll's secret as WhatsApp encrypts it (the poll's
/// creator and the voter as JIDs). `None` when it does not open.
pub fn open_vote(
    options: &[String],
    secret: &[u8],
    poll: &str,
    creator: &str,
    voter: &str,
    payload: &[u8],
    iv: &[u8],
) -> Option<Vec<String>> {
    use whatsapp_rust::wacore::poll;
    let ciphertext = poll::PollVoteCiphertext { enc_payload: payload, enc_iv: iv };
    let hashes = poll::decrypt_poll_vote_with_secret(ciphertext, secret, poll, creator, voter).ok()?;
    let chosen = |name: &String| hashes.iter().any(|h| h.as_slice() == poll::compute_option_hash(name));
    Some(options.iter().filter(|name| chosen(name)).cloned().collect())
}

/// One contact card as a contact message, several as a contacts array.
fn contacts_message(mut cards: Vec<(String, String)>, context: Option<Box<wa::ContextInfo>>) -> wa::Message {
    let context_info = || context.clone().map(|c| buffa::MessageField::some(*c)).unwrap_or_default();
    let card = |(name, vcard): (String, String)| wa::message::ContactMessage {
        display_name: Some(name),
        vcard: Some(vcard),
        ..Default::default()
    };
    if cards.len() == 1 {
        let mut one = card(cards.remove(0));
        one.context_info = context_info();
        return wa::Message { contact_message: buffa::MessageField::some(one), ..Default::default() };
    }
    wa::Message {
        contacts_array_message: buffa::MessageField::some(wa::message::ContactsArrayMessage {
            display_name: Some(format!("{} contacts", cards.len())),
            contacts: cards.into_iter().map(card).collect(),
            context_info: context_info(),
        }),
        ..Default::default()
    }
}

/// How many session events may wait for the session's supervisor.
pub const EVENTS_BOUND: usize = 256;

/// Where the queue takes acks and receipts, without making the device wait.
pub trait StatusSink: Send + Sync {
    fn acked(&self, id: String, error: Option<String>);
    fn receipt(&self, ids: Vec<String>, kind: ReceiptKind);
}

/// Forwards the client's events, inline on its dispatch path so their order
/// holds. Acks and receipts (the many) go to the queue's [`StatusSink`], and
/// messages that bypass the durability hook straight to the inbox, so neither
/// waits on the supervisor. The rest (connection, linking, logout: a few per
/// connection) go to the supervisor over a channel of [`EVENTS_BOUND`]; should
/// it be full (a supervisor stuck on its database), a QR code is dropped (the
/// next comes within seconds) and any other event waits in a task of its own,
/// with a warning: nothing that matters is dropped.
struct Forward {
    session: SessionKey,
    events: mpsc::Sender<EngineEvent>,
    statuses: Arc<dyn StatusSink>,
    sink: Arc<dyn InboundSink>,
}

impl EventHandler for Forward {
    fn handle_event(&self, event: Arc<Event>) {
        match map(&event) {
            None => {}
            Some(EngineEvent::Acked { id, error }) => self.statuses.acked(id, error),
            Some(EngineEvent::Receipt { ids, kind }) => self.statuses.receipt(ids, kind),
            Some(EngineEvent::Received(batch)) => {
                let (session, commit) = (self.session.clone(), self.sink.commit(&self.session, batch));
                tokio::spawn(async move {
                    if let Err(e) = commit.await {
                        tracing::warn!(session_id = %session, error = %e, "cannot store received messages");
                    }
                });
            }
            Some(event) => match self.events.try_send(event) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(EngineEvent::Qr { .. })) => {
                    tracing::warn!(session_id = %self.session, "session events are backed up: a QR code was dropped");
                }
                Err(mpsc::error::TrySendError::Full(event)) => {
                    tracing::warn!(session_id = %self.session, "session events are backed up");
                    let events = self.events.clone();
                    tokio::spawn(async move {
                        let _ = events.send(event).await;
                    });
                }
                Err(mpsc::error::TrySendError::Closed(_)) => {}
            },
        }
    }

    fn interest(&self) -> EventInterest {
        EventInterest::of(&[
            EventKind::PairingQrCode,
            EventKind::PairingQrCodesExhausted,
            EventKind::PairingCode,
            EventKind::PairingCodeError,
            EventKind::PairSuccess,
            EventKind::PairError,
            EventKind::Connected,
            EventKind::Disconnected,
            EventKind::LoggedOut,
            EventKind::TemporaryBan,
            EventKind::StreamReplaced,
            EventKind::ClientOutdated,
            EventKind::ConnectFailure,
            EventKind::ServerAck,
            EventKind::Receipt,
            EventKind::Messages,
            EventKind::IncomingCall,
            EventKind::MissedCall,
            EventKind::ChatPresence,
            EventKind::GroupUpdate,
        ])
    }
}

fn map(event: &Event) -> Option<EngineEvent> {
    Some(match event {
        Event::PairingQrCode(q) => EngineEvent::Qr { code: q.code.clone(), valid_for: q.timeout },
        Event::PairingQrCodesExhausted(_) => EngineEvent::QrExhausted,
        Event::PairingCode(c) => EngineEvent::PairingCode { code: c.code.clone(), valid_for: c.timeout },
        Event::PairingCodeError(e) => EngineEvent::PairingCodeFailed { error: e.error.clone() },
        Event::PairSuccess(p) => EngineEvent::Paired { phone: phone_of(&p.id) },
        Event::PairError(e) => EngineEvent::PairFailed { error: e.error.clone() },
        Event::Connected(_) => EngineEvent::Connected,
        Event::Disconnected(d) => EngineEvent::Disconnected { reason: d.reason.to_string() },
        Event::LoggedOut(l) => EngineEvent::LoggedOut { reason: format!("{:?}", l.reason) },
        Event::TemporaryBan(b) => {
            EngineEvent::Banned { duration: b.expire.to_std().unwrap_or_default(), reason: format!("{:?}", b.code) }
        }
        Event::StreamReplaced(_) => EngineEvent::Replaced,
        Event::ClientOutdated(_) => EngineEvent::Outdated,
        Event::ConnectFailure(f) => EngineEvent::ConnectFailure { reason: format!("{:?}", f.reason) },
        Event::ServerAck(ack) if ack.class.as_deref() == Some("message") => {
            EngineEvent::Acked { id: ack.id.clone(), error: ack.error.clone() }
        }
        Event::Receipt(r) => {
            let kind = match r.r#type {
                ReceiptType::Delivered => ReceiptKind::Delivered,
                ReceiptType::Read | ReceiptType::Played => ReceiptKind::Read,
                _ => return None,
            };
            EngineEvent::Receipt { ids: r.message_ids.clone(), kind }
        }
        Event::ChatPresence(update) if !update.source.is_group && update.source.chat.is_pn() => {
            use whatsapp_rust::wacore::types::presence::{ChatPresence, ChatPresenceMedia};
            let state = match (&update.state, &update.media) {
                (ChatPresence::Composing, ChatPresenceMedia::Audio) => Typing::Recording,
                (ChatPresence::Composing, _) => Typing::Composing,
                _ => Typing::Paused,
            };
            EngineEvent::Typing { phone: phone_of(&update.source.chat), state }
        }
        Event::IncomingCall(call) if !call.offline => {
            use whatsapp_rust::wacore::types::call::CallAction;
            // Only a 1:1 call's offer: the rest of its signalling (and group calls) needs no answer.
            let CallAction::Offer { call_id, call_creator, caller_pn, is_video, group_jid: None, .. } = &call.action
            else {
                return None;
            };
            let pn =
                [Some(&call.from), Some(call_creator), caller_pn.as_ref()].into_iter().flatten().find(|j| j.is_pn());
            EngineEvent::Call(Call {
                id: call_id.clone(),
                from: call.from.clone(),
                creator: call_creator.clone(),
                phone: pn.map(phone_of),
                video: *is_video,
                offline: false,
                at_ms: call.timestamp.timestamp_millis(),
                push_name: call.notify.clone(),
            })
        }
        Event::MissedCall(missed)
            if matches!(missed.reason, whatsapp_rust::wacore::types::call::MissedReason::Offline) =>
        {
            EngineEvent::Call(Call {
                id: missed.call_id.clone(),
                from: missed.from.clone(),
                creator: missed.from.clone(),
                phone: missed.from.is_pn().then(|| phone_of(&missed.from)),
                video: false,
                offline: true,
                at_ms: missed.timestamp.timestamp_millis(),
                push_name: None,
            })
        }
        Event::GroupUpdate(update) => EngineEvent::Group(groups::change_of(update)?),
        // What the durability hook committed is already stored.
        Event::Messages(batch) if !batch.hook_committed => {
            let kept: Vec<Inbound> = batch.iter().filter_map(inbound::reduce).collect();
            if kept.is_empty() {
                return None;
            }
            EngineEvent::Received(kept)
        }
        _ => return None,
    })
}

fn phone_of(jid: &Jid) -> String {
    jid.user.to_string()
}
