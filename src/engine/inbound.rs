//! Incoming messages: whatsapp-rust's decrypted messages reduced to what the
//! gateway keeps ([`Inbound`]), the durability hook that hands them to the
//! gateway's store before WhatsApp is told they arrived, and the references
//! the media downloader fetches with.

use std::{sync::Arc, time::Duration};

use base64::{Engine as _, engine::general_purpose::STANDARD};
use serde::{Deserialize, Serialize};
use whatsapp_rust::{
    InboundDurabilityHook, Jid,
    download::{Downloadable, MediaType},
    prelude::Client,
    wacore::{proto_helpers::MessageExt, types::events::InboundMessage},
    wacore_binary::JidExt,
    waproto::whatsapp as wa,
};

use crate::model::SessionKey;

/// Where a message was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Place {
    /// A 1:1 chat.
    Direct,
    Group,
    /// A status update.
    Status,
    /// A broadcast list.
    Broadcast,
    Newsletter,
}

impl Place {
    pub fn as_str(self) -> &'static str {
        match self {
            Place::Direct => "direct",
            Place::Group => "group",
            Place::Status => "status",
            Place::Broadcast => "broadcast",
            Place::Newsletter => "newsletter",
        }
    }
}

/// A message WhatsApp delivered, as the gateway keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inbound {
    /// WhatsApp's message id: unique per chat and sender only.
    pub wa_id: String,
    pub chat: String,
    pub sender: String,
    pub place: Place,
    /// For a 1:1 chat: the contact's number (digits with country code).
    pub contact: Option<String>,
    /// Typed on the linked phone or another device of the same number.
    pub from_me: bool,
    pub push_name: Option<String>,
    /// When the sender sent it (epoch ms).
    pub sent_at: i64,
    /// It waited in WhatsApp's offline queue while the device was away.
    pub offline: bool,
    /// `text`, `image`, `video`, `audio`, `voice`, `document`, `sticker`,
    /// `location`, `contact`, `poll`, `reaction`, `poll_vote` (on the poll
    /// `quoted_id`), `edit` (new `text` for `quoted_id`), `revoke` (deletes
    /// `quoted_id`) or `unsupported`.
    pub kind: &'static str,
    /// WhatsApp's name for an unsupported message.
    pub wa_type: Option<String>,
    /// The text, or the media's caption.
    pub text: Option<String>,
    pub filename: Option<String>,
    pub mimetype: Option<String>,
    pub size: Option<i64>,
    pub media: Option<MediaRef>,
    /// The message this one answers.
    pub quoted_id: Option<String>,
    /// Location, contact card or reaction details.
    pub extra: Option<serde_json::Value>,
}

/// What is needed to download and decrypt a message's media later.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaRef {
    /// `image`, `video`, `audio`, `document` or `sticker`.
    pub kind: String,
    pub direct_path: String,
    /// Base64.
    pub media_key: String,
    pub file_sha256: Option<String>,
    pub file_enc_sha256: Option<String>,
    pub file_length: Option<u64>,
}

/// Decoded bytes of a [`MediaRef`], for whatsapp-rust's downloader.
pub(super) struct Download {
    direct_path: String,
    media_key: Vec<u8>,
    file_sha256: Option<Vec<u8>>,
    file_enc_sha256: Option<Vec<u8>>,
    file_length: Option<u64>,
    media_type: MediaType,
}

/// Whether `path`, a received media's `directPath`, is a path on WhatsApp's
/// media host and nothing else. The downloader fetches
/// `https://{media host}{path}?auth=…` with the session's media credential, and
/// the path comes from whoever wrote the message: `@host`, a second slash, a
/// backslash, a fragment or an encoded separator could move that request (and
/// the credential) elsewhere, so any of them refuses the download.
pub fn check_direct_path(path: &str) -> Result<(), &'static str> {
    const HOST: &str = "mmg.whatsapp.net";
    if path.len() > 2048 {
        return Err("the media path is too long");
    }
    if !path.starts_with('/') || path.starts_with("//") {
        return Err("the media path does not start with a single /");
    }
    if !path.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("the media path has spaces, control or non-ASCII characters");
    }
    if path.contains(['@', '\\', '#']) || path.contains("//") {
        return Err("the media path names something other than a path (@, \\, # or //)");
    }
    let lower = path.to_ascii_lowercase();
    if ["%2f", "%5c", "%40", "%23", "%25", "%2e"].iter().any(|encoded| lower.contains(encoded)) {
        return Err("the media path has an encoded separator");
    }
    let route = path.split(['?', '&']).next().unwrap_or_default();
    if route.split('/').any(|segment| segment == "." || segment == "..") {
        return Err("the media path has a . or .. segment");
    }
    // What the downloader builds must still name the media host.
    match url::Url::parse(&format!("https://{HOST}{path}")) {
        Ok(url) if url.host_str() == Some(HOST) && url.username().is_empty() && url.port().is_none() => Ok(()),
        _ => Err("the media path does not stay on the media host"),
    }
}

impl Download {
    pub(super) fn new(media: &MediaRef) -> anyhow::Result<Download> {
        check_direct_path(&media.direct_path).map_err(anyhow::Error::msg)?;
        let decode = |v: &Option<String>| v.as_deref().map(|s| STANDARD.decode(s)).transpose();
        let media_type = match media.kind.as_str() {
            "image" => MediaType::Image,
            "video" => MediaType::Video,
            "audio" | "voice" => MediaType::Audio,
            "sticker" => MediaType::Sticker,
            _ => MediaType::Document,
        };
        Ok(Download {
            direct_path: media.direct_path.clone(),
            media_key: STANDARD.decode(&media.media_key)?,
            file_sha256: decode(&media.file_sha256)?,
            file_enc_sha256: decode(&media.file_enc_sha256)?,
            file_length: media.file_length,
            media_type,
        })
    }
}

impl Downloadable for Download {
    fn direct_path(&self) -> Option<&str> {
        Some(&self.direct_path)
    }
    fn media_key(&self) -> Option<&[u8]> {
        Some(&self.media_key)
    }
    fn file_enc_sha256(&self) -> Option<&[u8]> {
        self.file_enc_sha256.as_deref()
    }
    fn file_sha256(&self) -> Option<&[u8]> {
        self.file_sha256.as_deref()
    }
    fn file_length(&self) -> Option<u64> {
        self.file_length
    }
    fn app_info(&self) -> MediaType {
        self.media_type
    }
}

/// Where the gateway keeps what arrives: `commit` returns once the batch is
/// durable (then WhatsApp gets its receipts) or fails (then it redelivers).
pub trait InboundSink: Send + Sync {
    fn commit(
        &self,
        session: &SessionKey,
        batch: Vec<Inbound>,
    ) -> futures_util::future::BoxFuture<'static, anyhow::Result<()>>;
}

/// The longest pause between tries of a failed inbound commit.
const COMMIT_RETRY_MAX: Duration = Duration::from_secs(2);

/// whatsapp-rust's durability hook for one session.
pub(super) struct Hook {
    pub session: SessionKey,
    pub sink: Arc<dyn InboundSink>,
}

#[whatsapp_rust::async_trait]
impl InboundDurabilityHook for Hook {
    /// Commits the batch; a commit that fails (the database away, a deadlock
    /// under load) is tried again, backing off to every 2 s, for as long as the
    /// connection lasts: WhatsApp redelivers an unacknowledged message only on
    /// a new connection, so giving up on a live one would leave it waiting.
    /// Waiting here holds back only this chat's messages (the client awaits
    /// the hook in the chat's lane), not the connection's keepalives.
    async fn on_messages(&self, client: Arc<Client>, batch: &[InboundMessage]) -> anyhow::Result<()> {
        let mut kept: Vec<Inbound> = batch.iter().filter_map(reduce).collect();
        if kept.is_empty() {
            return Ok(());
        }
        name_by_numbers(&client, &mut kept).await;
        let mut pause = Duration::from_millis(100);
        let mut failures = 0u32;
        loop {
            match self.sink.commit(&self.session, kept.clone()).await {
                Ok(()) => {
                    if failures > 0 {
                        tracing::info!(session_id = %self.session, tries = failures + 1, "received messages stored after all");
                    }
                    return Ok(());
                }
                Err(e) if client.is_connected() => {
                    if failures == 0 {
                        tracing::warn!(session_id = %self.session, error = %format!("{e:#}"), "cannot store received messages yet; trying again");
                    }
                    failures += 1;
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(COMMIT_RETRY_MAX);
                }
                Err(e) => {
                    tracing::warn!(session_id = %self.session, error = %format!("{e:#}"), "cannot store received messages; WhatsApp will deliver them again");
                    return Err(e);
                }
            }
        }
    }
}

/// The digits of a user JID.
fn user_of(jid: &Jid) -> String {
    jid.user.to_string()
}

/// The gateway's view of a decrypted message; `None` for what is no message to
/// a person (protocol messages: key shares, revocations, history sync).
pub fn reduce(item: &InboundMessage) -> Option<Inbound> {
    let info = &item.info;
    let message = item.message.get_base_message();
    // Edits and deletions are kept (they change the message they name); other
    // protocol messages (key shares, history sync) are nothing to keep.
    let change = message.protocol_message.as_option().and_then(|p| {
        use wa::message::protocol_message::Type;
        let target = p.key.as_option().and_then(|k| k.id.clone()).filter(|id| !id.is_empty())?;
        match p.r#type {
            Some(Type::Revoke) => Some(("revoke", target, None)),
            Some(Type::MessageEdit) => Some(("edit", target, p.edited_message.as_option().and_then(text_of))),
            _ => None,
        }
    });
    // A sender key distribution alone is nothing to keep either; one that comes
    // with a message (a group message sent again after a retry receipt: the
    // author's phone re-encrypts it for this device alone, with its key) is the message.
    let key_only = message.sender_key_distribution_message.is_set()
        && whatsapp_rust::wacore::messages::is_sender_key_distribution_only(&mut message.clone());
    if change.is_none() && (message.protocol_message.is_set() || key_only) {
        return None;
    }
    let source = &info.source;
    let chat = &source.chat;
    let place = if chat.is_group() {
        Place::Group
    } else if chat.is_status_broadcast() {
        Place::Status
    } else if chat.is_newsletter() {
        Place::Newsletter
    } else if chat.is_broadcast_list() {
        Place::Broadcast
    } else {
        Place::Direct
    };
    // A chat addressed by LID may name the number in the alternate JID.
    let alternate = if source.is_from_me { source.recipient_alt.as_ref() } else { source.sender_alt.as_ref() };
    let number = alternate.filter(|alt| place == Place::Direct && chat.is_lid() && alt.is_pn()).map(user_of);
    let contact = (place == Place::Direct).then(|| user_of(chat));
    let mut inbound = Inbound {
        contact,
        from_me: source.is_from_me,
        push_name: Some(info.push_name.clone()).filter(|n| !n.is_empty()),
        offline: info.is_offline,
        ..Inbound::bare(
            info.id.clone(),
            chat.to_non_ad_string(),
            source.sender.to_non_ad_string(),
            place,
            "unsupported",
            info.timestamp.timestamp_millis(),
        )
    };
    match change {
        Some((kind, target, text)) => {
            inbound.kind = kind;
            inbound.text = text;
            inbound.quoted_id = Some(target);
        }
        None => describe(message, &mut inbound),
    }
    if let Some(number) = number {
        inbound.name_by_number(&number);
    }
    Some(inbound)
}

impl Inbound {
    /// What happened in `chat`, of `kind`, with nothing else known yet: no
    /// text, no media, no details (callers add what they have).
    pub fn bare(
        wa_id: String,
        chat: String,
        sender: String,
        place: Place,
        kind: &'static str,
        sent_at: i64,
    ) -> Inbound {
        Inbound {
            wa_id,
            chat,
            sender,
            place,
            contact: None,
            from_me: false,
            push_name: None,
            sent_at,
            offline: false,
            kind,
            wa_type: None,
            text: None,
            filename: None,
            mimetype: None,
            size: None,
            media: None,
            quoted_id: None,
            extra: None,
        }
    }

    /// A 1:1 message of a chat WhatsApp addressed by LID, named by the
    /// contact's number instead: its chat, its contact and (when the contact
    /// wrote it) its sender. Chats, events and webhooks name contacts by number.
    pub fn name_by_number(&mut self, phone: &str) {
        if self.place != Place::Direct || !self.chat.ends_with("@lid") {
            return;
        }
        let jid = format!("{phone}@s.whatsapp.net");
        if !self.from_me && self.sender == self.chat {
            self.sender = jid.clone();
        }
        self.chat = jid;
        self.contact = Some(phone.to_owned());
    }
}

/// 1:1 messages still named by a LID (WhatsApp told no number beside it):
/// the number is looked up (the client's LID-number store, else WhatsApp),
/// and each is named by it. One the lookup cannot name stays by LID.
async fn name_by_numbers(client: &Client, kept: &mut [Inbound]) {
    for message in kept.iter_mut().filter(|m| m.place == Place::Direct && m.chat.ends_with("@lid")) {
        let Ok(lid) = message.chat.parse::<Jid>() else { continue };
        if let Some(phone) = super::number_of(client, &lid).await {
            message.name_by_number(&phone);
        }
    }
}

/// The text or caption of a message: what an edit replaces.
fn text_of(m: &wa::Message) -> Option<String> {
    m.conversation
        .clone()
        .or_else(|| m.extended_text_message.as_option().and_then(|e| e.text.clone()))
        .or_else(|| m.image_message.as_option().and_then(|e| e.caption.clone()))
        .or_else(|| m.video_message.as_option().and_then(|e| e.caption.clone()))
        .or_else(|| m.document_message.as_option().and_then(|e| e.caption.clone()))
}

fn b64(bytes: &Option<Vec<u8>>) -> Option<String> {
    bytes.as_ref().map(|b| STANDARD.encode(b))
}

fn quoted(context: &wa::ContextInfo) -> Option<String> {
    context.stanza_id.clone().filter(|id| !id.is_empty())
}

/// Fills kind, text and media from the message body.
fn describe(m: &wa::Message, out: &mut Inbound) {
    macro_rules! media {
        ($msg:expr, $kind:expr, $caption:expr, $filename:expr) => {{
            let msg = $msg;
            out.kind = $kind;
            out.text = $caption;
            out.filename = $filename;
            out.mimetype = msg.mimetype.clone();
            out.size = msg.file_length.map(|n| n as i64);
            out.quoted_id = msg.context_info.as_option().and_then(quoted);
            out.media = match (&msg.direct_path, &msg.media_key) {
                (Some(path), Some(key)) => Some(MediaRef {
                    kind: $kind.to_owned(),
                    direct_path: path.clone(),
                    media_key: STANDARD.encode(key),
                    file_sha256: b64(&msg.file_sha256),
                    file_enc_sha256: b64(&msg.file_enc_sha256),
                    file_length: msg.file_length,
                }),
                _ => None,
            };
        }};
    }
    if let Some(text) = m.conversation.as_ref().filter(|t| !t.is_empty()) {
        out.kind = "text";
        out.text = Some(text.clone());
    } else if let Some(ext) = m.extended_text_message.as_option() {
        out.kind = "text";
        out.text = ext.text.clone();
        out.quoted_id = ext.context_info.as_option().and_then(quoted);
    } else if let Some(image) = m.image_message.as_option() {
        media!(image, "image", image.caption.clone(), None);
    } else if let Some(video) = m.video_message.as_option() {
        media!(video, "video", video.caption.clone(), None);
    } else if let Some(audio) = m.audio_message.as_option() {
        let kind = if audio.ptt == Some(true) { "voice" } else { "audio" };
        media!(audio, kind, None, None);
    } else if let Some(document) = m.document_message.as_option() {
        media!(document, "document", document.caption.clone(), document.file_name.clone());
    } else if let Some(sticker) = m.sticker_message.as_option() {
        media!(sticker, "sticker", None, None);
    } else if let Some(location) = m.location_message.as_option() {
        out.kind = "location";
        out.text = location.name.clone().or_else(|| location.address.clone());
        out.extra = Some(serde_json::json!({
            "latitude": location.degrees_latitude,
            "longitude": location.degrees_longitude,
            "name": location.name,
            "address": location.address,
            "url": location.url,
        }));
    } else if let Some(contact) = m.contact_message.as_option() {
        out.kind = "contact";
        out.text = contact.display_name.clone();
        out.extra = Some(serde_json::json!({"display_name": contact.display_name, "vcard": contact.vcard}));
    } else if let Some(vote) = m.poll_update_message.as_option() {
        // A vote, encrypted with the poll's secret: the poll's sender decrypts it.
        out.kind = "poll_vote";
        out.quoted_id = vote.poll_creation_message_key.as_option().and_then(|k| k.id.clone());
        let enc = vote.vote.as_option();
        out.extra = Some(serde_json::json!({
            "enc_payload": enc.and_then(|v| b64(&v.enc_payload)),
            "enc_iv": enc.and_then(|v| b64(&v.enc_iv)),
        }));
    } else if let Some(poll) = m.poll_creation_message_v3.as_option().or_else(|| m.poll_creation_message.as_option()) {
        out.kind = "poll";
        out.text = poll.name.clone();
        let options: Vec<Option<String>> = poll.options.iter().map(|o| o.option_name.clone()).collect();
        out.extra = Some(serde_json::json!({
            "question": poll.name, "options": options, "selectable": poll.selectable_options_count,
        }));
    } else if let Some(reaction) = m.reaction_message.as_option() {
        out.kind = "reaction";
        out.text = reaction.text.clone();
        let target = reaction.key.as_option().and_then(|k| k.id.clone());
        out.quoted_id = target.clone();
        out.extra = Some(serde_json::json!({"emoji": reaction.text, "message_id": target}));
    } else {
        out.wa_type = Some(type_name(m).to_owned());
    }
}

/// WhatsApp's name for a message the gateway does not take apart.
fn type_name(m: &wa::Message) -> &'static str {
    let known: [(&'static str, bool); 16] = [
        ("liveLocationMessage", m.live_location_message.is_set()),
        ("contactsArrayMessage", m.contacts_array_message.is_set()),
        ("pollCreationMessage", m.poll_creation_message.is_set()),
        ("pollCreationMessageV2", m.poll_creation_message_v2.is_set()),
        ("pollCreationMessageV3", m.poll_creation_message_v3.is_set()),
        ("pollUpdateMessage", m.poll_update_message.is_set()),
        ("eventMessage", m.event_message.is_set()),
        ("listMessage", m.list_message.is_set()),
        ("listResponseMessage", m.list_response_message.is_set()),
        ("buttonsMessage", m.buttons_message.is_set()),
        ("buttonsResponseMessage", m.buttons_response_message.is_set()),
        ("templateMessage", m.template_message.is_set()),
        ("productMessage", m.product_message.is_set()),
        ("orderMessage", m.order_message.is_set()),
        ("groupInviteMessage", m.group_invite_message.is_set()),
        ("callLogMesssage", m.call_log_messsage.is_set()),
    ];
    known.iter().find(|(_, set)| *set).map_or("unknown", |(name, _)| name)
}

#[cfg(test)]
mod tests {
    use whatsapp_rust::wacore::types::message::{MessageInfo, MessageSource};

    use super::*;

    #[test]
    fn media_paths_stay_on_the_media_host() {
        // What WhatsApp sends: a path, often with a query of its own.
        for good in
            ["/v/t62.7118-24/12345_67890_n.enc?ccb=11-4&oh=01_Q5A&oe=68C1&_nc_sid=5e03e0&mms3=true", "/v/t62/x.enc"]
        {
            assert_eq!(check_direct_path(good), Ok(()), "{good}");
        }
        for bad in [
            "@attacker.example/x",
            "/@attacker.example/x",
            "//attacker.example/x",
            "/v//attacker.example/x",
            "\\\\attacker.example\\x",
            "/v\\x",
            "/v/x#frag",
            "https://attacker.example/x",
            "/%2F%2Fattacker.example/x",
            "/v/%2f%2fattacker.example",
            "/v/%40attacker.example",
            "/v/%252F",
            "/v/../../x",
            "/v/x y",
            "/v/x\ty",
            "/v/ünïcode",
            "v/t62/x.enc",
            "",
        ] {
            assert!(check_direct_path(bad).is_err(), "{bad:?} was accepted");
        }
        let long = format!("/{}", "a".repeat(3000));
        assert!(check_direct_path(&long).is_err());
    }

    #[test]
    fn a_download_of_a_foreign_path_is_refused_before_any_request() {
        let media = |direct_path: &str| MediaRef {
            kind: "image".into(),
            direct_path: direct_path.into(),
            media_key: STANDARD.encode([7u8; 32]),
            file_sha256: None,
            file_enc_sha256: None,
            file_length: Some(10),
        };
        assert!(Download::new(&media("/v/t62/x.enc")).is_ok());
        let refused = Download::new(&media("@attacker.example/x")).err().expect("refused");
        assert!(refused.to_string().contains("media path"), "{refused}");
    }

    fn item(chat: &str, sender: &str, from_me: bool, message: wa::Message) -> InboundMessage {
        let info = MessageInfo {
            source: MessageSource {
                chat: chat.parse().unwrap(),
                sender: sender.parse().unwrap(),
                is_from_me: from_me,
                is_group: chat.ends_with("@g.us"),
                ..Default::default()
            },
            id: "3EB0ABC".into(),
            push_name: "Budi".into(),
            ..Default::default()
        };
        InboundMessage::builder().message(Arc::new(message)).info(Arc::new(info)).build()
    }

    fn text(t: &str) -> wa::Message {
        wa::Message { conversation: Some(t.into()), ..Default::default() }
    }

    #[test]
    fn places_and_contacts() {
        let direct =
            reduce(&item("628222000001@s.whatsapp.net", "628222000001@s.whatsapp.net", false, text("halo"))).unwrap();
        assert_eq!(
            (direct.place, direct.contact.as_deref(), direct.kind),
            (Place::Direct, Some("628222000001"), "text")
        );
        assert_eq!(direct.push_name.as_deref(), Some("Budi"));

        let group =
            reduce(&item("120363000000000001@g.us", "628222000001@s.whatsapp.net", false, text("rapat"))).unwrap();
        assert_eq!((group.place, group.contact), (Place::Group, None));
        assert_eq!(group.chat, "120363000000000001@g.us");
        assert_eq!(group.sender, "628222000001@s.whatsapp.net");

        let status = reduce(&item("status@broadcast", "628222000001@s.whatsapp.net", false, text("story"))).unwrap();
        assert_eq!((status.place, status.contact), (Place::Status, None));

        let newsletter =
            reduce(&item("120363000000000002@newsletter", "120363000000000002@newsletter", false, text("berita")))
                .unwrap();
        assert_eq!((newsletter.place, newsletter.contact), (Place::Newsletter, None));

        let mine = reduce(&item("628222000001@s.whatsapp.net", "628111000001:0@s.whatsapp.net", true, text("dari HP")))
            .unwrap();
        assert_eq!((mine.place, mine.contact.as_deref(), mine.from_me), (Place::Direct, Some("628222000001"), true));
        assert_eq!(mine.sender, "628111000001@s.whatsapp.net", "device suffixes are dropped");
    }

    /// A chat WhatsApp addressed by LID alone is named by the number once it is known.
    #[test]
    fn a_lid_chat_is_named_by_its_number() {
        let mut theirs = reduce(&item("100000000000042@lid", "100000000000042@lid", false, text("halo"))).unwrap();
        assert_eq!(theirs.contact.as_deref(), Some("100000000000042"), "by LID until the number is known");
        theirs.name_by_number("628222000042");
        assert_eq!(
            (theirs.chat.as_str(), theirs.sender.as_str(), theirs.contact.as_deref()),
            ("628222000042@s.whatsapp.net", "628222000042@s.whatsapp.net", Some("628222000042"))
        );
        let mut mine = reduce(&item("100000000000042@lid", "628111000001:0@s.whatsapp.net", true, text("ok"))).unwrap();
        mine.name_by_number("628222000042");
        assert_eq!(
            (mine.chat.as_str(), mine.sender.as_str()),
            ("628222000042@s.whatsapp.net", "628111000001@s.whatsapp.net")
        );
        let mut group = reduce(&item("120363000000000001@g.us", "100000000000042@lid", false, text("x"))).unwrap();
        group.name_by_number("628222000042");
        assert_eq!(group.chat, "120363000000000001@g.us", "only 1:1 chats");
    }

    /// A group message sent again after a retry receipt carries the author's
    /// sender key with it: it is kept; the key alone is not.
    #[test]
    fn a_message_that_carries_a_sender_key_is_kept_and_the_key_alone_is_not() {
        let key = || {
            whatsapp_rust::buffa::MessageField::some(wa::message::SenderKeyDistributionMessage {
                group_id: Some("120363000000000001@g.us".into()),
                axolotl_sender_key_distribution_message: Some(vec![1, 2, 3]),
            })
        };
        let group = "120363000000000001@g.us";
        let with_text = wa::Message { sender_key_distribution_message: key(), ..text("lampu mati") };
        let kept = reduce(&item(group, "628222000001@s.whatsapp.net", false, with_text)).expect("kept");
        assert_eq!((kept.kind, kept.text.as_deref()), ("text", Some("lampu mati")));
        let alone = wa::Message { sender_key_distribution_message: key(), ..Default::default() };
        assert!(reduce(&item(group, "628222000001@s.whatsapp.net", false, alone)).is_none());
    }

    #[test]
    fn protocol_messages_but_edits_and_deletions_are_not_kept_and_unknown_ones_are_named() {
        let share = wa::Message {
            protocol_message: whatsapp_rust::buffa::MessageField::some(wa::message::ProtocolMessage::default()),
            ..Default::default()
        };
        assert!(reduce(&item("628222000001@s.whatsapp.net", "628222000001@s.whatsapp.net", false, share)).is_none());
        let list = wa::Message {
            list_message: whatsapp_rust::buffa::MessageField::some(wa::message::ListMessage::default()),
            ..Default::default()
        };
        let kept = reduce(&item("628222000001@s.whatsapp.net", "628222000001@s.whatsapp.net", false, list)).unwrap();
        assert_eq!((kept.kind, kept.wa_type.as_deref()), ("unsupported", Some("listMessage")));
        // An edit and a deletion name the message they change.
        let change = |kind, edited: Option<&str>| wa::Message {
            protocol_message: whatsapp_rust::buffa::MessageField::some(wa::message::ProtocolMessage {
                key: whatsapp_rust::buffa::MessageField::some(wa::MessageKey {
                    id: Some("3EB0AA".into()),
                    ..Default::default()
                }),
                r#type: Some(kind),
                edited_message: edited
                    .map(|t| {
                        whatsapp_rust::buffa::MessageField::some(wa::Message {
                            conversation: Some(t.into()),
                            ..Default::default()
                        })
                    })
                    .unwrap_or_default(),
                ..Default::default()
            }),
            ..Default::default()
        };
        use wa::message::protocol_message::Type;
        let chat = "628222000001@s.whatsapp.net";
        let edit = reduce(&item(chat, chat, false, change(Type::MessageEdit, Some("baru")))).unwrap();
        assert_eq!(
            (edit.kind, edit.text.as_deref(), edit.quoted_id.as_deref()),
            ("edit", Some("baru"), Some("3EB0AA"))
        );
        let revoke = reduce(&item(chat, chat, false, change(Type::Revoke, None))).unwrap();
        assert_eq!((revoke.kind, revoke.quoted_id.as_deref()), ("revoke", Some("3EB0AA")));
    }

    #[test]
    fn media_is_described_for_a_later_download() {
        let image = wa::Message {
            image_message: whatsapp_rust::buffa::MessageField::some(wa::message::ImageMessage {
                direct_path: Some("/v/t62/x.enc".into()),
                media_key: Some(vec![1; 32]),
                file_sha256: Some(vec![2; 32]),
                file_enc_sha256: Some(vec![3; 32]),
                file_length: Some(1234),
                mimetype: Some("image/jpeg".into()),
                caption: Some("foto".into()),
                context_info: whatsapp_rust::buffa::MessageField::some(wa::ContextInfo {
                    stanza_id: Some("3EB0QUOTED".into()),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        let kept = reduce(&item("628222000001@s.whatsapp.net", "628222000001@s.whatsapp.net", false, image)).unwrap();
        assert_eq!((kept.kind, kept.text.as_deref(), kept.size), ("image", Some("foto"), Some(1234)));
        assert_eq!(kept.quoted_id.as_deref(), Some("3EB0QUOTED"));
        let media = kept.media.unwrap();
        let download = Download::new(&media).unwrap();
        assert_eq!(download.media_key().unwrap(), &[1; 32][..]);
        assert_eq!(download.file_length(), Some(1234));
        assert!(matches!(download.app_info(), MediaType::Image));
    }
}
