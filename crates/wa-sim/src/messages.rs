//! Messages between linked devices and contacts: what a device sends is
//! decrypted by each recipient's phone and recorded; contacts write back,
//! and send delivered/read receipts.

use std::time::Duration;

use anyhow::Context;
use tracing::{debug, warn};
use wacore::libsignal::protocol::SenderKeyName;
use wacore_binary::{Jid, JidExt as _, Node, NodeContent, builder::NodeBuilder};
use waproto::whatsapp as wa;

use crate::{
    Sim,
    conn::Peer,
    session::{bundle_from_upload, now_secs, protocol_address},
    state::{Conn, Received},
};

struct Envelope {
    target: Jid,
    kind: String,
    version: u8,
    bytes: Vec<u8>,
}

fn envelopes(node: &Node) -> Vec<Envelope> {
    let mut out = Vec::new();
    let mut push = |target: Jid, enc: &Node| {
        let mut attrs = enc.attrs();
        let kind = attrs.optional_string("type").map(|s| s.into_owned()).unwrap_or_default();
        let version = attrs.optional_string("v").and_then(|v| v.parse().ok()).unwrap_or(2);
        if let Some(NodeContent::Bytes(bytes)) = &enc.content {
            out.push(Envelope { target, kind, version, bytes: bytes.clone() });
        }
    };
    let to = node.attrs().optional_jid("to");
    for child in node.children().into_iter().flatten() {
        match child.tag.as_ref() {
            "enc" => {
                if let Some(to) = &to {
                    push(to.clone(), child);
                }
            }
            "participants" => {
                for participant in child.children().into_iter().flatten() {
                    let Some(target) = participant.attrs().optional_jid("jid") else { continue };
                    for enc in participant.children().into_iter().flatten().filter(|c| c.tag == "enc") {
                        push(target.clone(), enc);
                    }
                }
            }
            _ => {}
        }
    }
    out
}

/// A linked device sends a message: every addressed phone decrypts its copy,
/// contacts record what they got, and the server acks. A message to a group
/// is opened with the sender key its participants got (see [`to_group`]).
pub async fn from_client(sim: &Sim, conn: &Conn, peer: &Peer, node: Node) -> anyhow::Result<()> {
    let Peer::Device { phone, device } = peer else { return Ok(()) };
    let mut attrs = node.attrs();
    let id = attrs.optional_string("id").map(|s| s.into_owned()).unwrap_or_default();
    let to = attrs.optional_jid("to").context("message without 'to'")?;
    let sender = Jid::pn_device(phone.as_str(), *device);
    // A resend of an id the server already has is answered with an error ack
    // (409); a message to a group its sender may not write in, with 403 (404:
    // no such group).
    let error = if to.is_group() {
        to_group(sim, phone, &sender, &id, &to, &node).await?
    } else {
        let mut duplicate = false;
        for envelope in envelopes(&node) {
            if envelope.target.device != 0 {
                continue; // other linked devices are not simulated endpoints
            }
            let recipient = sim.world().phone_of(&envelope.target);
            let Some(party) = sim.world().accounts.get(&recipient).map(|a| a.party.clone()) else { continue };
            let decrypted =
                party.lock().await.decrypt(&protocol_address(&sender), &envelope.kind, &envelope.bytes).await;
            let plaintext = match decrypted {
                Ok(p) => p,
                Err(e) => {
                    warn!(%recipient, "cannot decrypt a message from {sender}: {e:#}");
                    continue;
                }
            };
            if recipient == *phone {
                continue; // the sender's own phone gets a copy of what it sent
            }
            let message = wacore::messages::decode_plaintext(&plaintext, envelope.version)?;
            duplicate |= record(sim, &id, phone, &recipient, &message, None).await;
        }
        duplicate.then_some(DUPLICATE_ACK_ERROR)
    };
    let faults = sim.world().faults.get(phone).cloned().unwrap_or_default();
    if faults.withhold_acks_until.is_some_and(|t| t > std::time::Instant::now()) {
        return Ok(());
    }
    let mut ack = NodeBuilder::new("ack")
        .attr("class", "message")
        .attr("id", id)
        .attr("from", to)
        .attr("t", now_secs().to_string());
    if let Some(error) = error {
        ack = ack.attr("error", error);
    }
    let ack = ack.build();
    match faults.ack_delay {
        Some(delay) if delay > Duration::ZERO => {
            let conn = conn.clone();
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                conn.send(ack);
            });
        }
        _ => conn.send(ack),
    }
    Ok(())
}

/// `recipient`'s phone records `message` from `from` (in `group`, if given),
/// and applies what it changes. Whether it was a copy the phone already had.
async fn record(sim: &Sim, id: &str, from: &str, recipient: &str, message: &wa::Message, group: Option<&str>) -> bool {
    let mut received = describe(sim, id, from, recipient, message).await;
    received.group = group.map(str::to_owned);
    let mut world = sim.world();
    if let Some(secret) = message.message_context_info.as_option().and_then(|c| c.message_secret.clone())
        && received.kind == "poll"
    {
        world.poll_secrets.insert(id.to_owned(), secret);
    }
    let copies =
        world.received.iter().filter(|r| r.id == received.id && r.from == received.from && r.to == received.to);
    received.copy = copies.count() as u32 + 1;
    let duplicate = received.copy > 1;
    if duplicate {
        debug!(id = %received.id, to = %recipient, "contact dropped a copy of a message it has");
    } else {
        debug!(id = %received.id, to = %recipient, kind = %received.kind, "contact received a message");
        apply(&mut world, &received);
    }
    world.received.push(received);
    duplicate
}

/// The name a phone keeps another participant's sender key under: the group
/// and the sending device. (A phone's own key for a group is named apart, per
/// [`crate::groups::Group::key_epoch`]: see [`own_sender_key_name`].)
pub fn sender_key_name(group: &crate::groups::Group, sender: &Jid) -> SenderKeyName {
    SenderKeyName::from_parts(&group.jid().to_string(), &protocol_address(sender).to_string())
}

/// The name of `phone`'s own sender key in `group`: a new one each time
/// someone leaves the group or is removed.
pub fn own_sender_key_name(group: &crate::groups::Group, phone: &str) -> SenderKeyName {
    SenderKeyName::new(
        format!("{}#{}", group.jid(), group.key_epoch),
        protocol_address(&Jid::pn_device(phone, 0)).to_string(),
    )
}

/// A linked device writes in a group: the server fans it out to every
/// participant. Each phone first opens what was sealed for it alone (the
/// sender's key, a sender-key distribution message), then the group message
/// (`skmsg`) with that key. Numbers that were in the group and still hold an
/// older key of the sender try it too ([`Overheard`]): a key replaced after
/// they left must not open it. The ack's error, if any.
async fn to_group(
    sim: &Sim,
    phone: &str,
    sender: &Jid,
    id: &str,
    to: &Jid,
    node: &Node,
) -> anyhow::Result<Option<&'static str>> {
    let Some(group) = sim.world().groups.get(to.user.as_str()).cloned() else { return Ok(Some("404")) };
    if !group.may_write(phone) {
        return Ok(Some("403"));
    }
    let address = protocol_address(sender);
    let name = sender_key_name(&group, sender);
    let mut skmsg = None;
    for envelope in envelopes(node) {
        if envelope.kind == "skmsg" {
            skmsg = Some(envelope);
            continue;
        }
        if envelope.target.device != 0 || envelope.target.is_group() {
            continue;
        }
        let recipient = sim.world().phone_of(&envelope.target);
        let Some(party) = sim.world().accounts.get(&recipient).map(|a| a.party.clone()) else { continue };
        let mut party = party.lock().await;
        let plaintext = match party.decrypt(&address, &envelope.kind, &envelope.bytes).await {
            Ok(p) => p,
            Err(e) => {
                warn!(%recipient, "cannot decrypt a sender key from {sender}: {e:#}");
                continue;
            }
        };
        let message = wacore::messages::decode_plaintext(&plaintext, envelope.version)?;
        if let Some(skdm) = message.sender_key_distribution_message.as_option()
            && let Some(bytes) = &skdm.axolotl_sender_key_distribution_message
            && let Err(e) = party.accept_sender_key(&name, bytes).await
        {
            warn!(%recipient, "a sender key from {sender} does not open: {e:#}");
        }
    }
    let Some(skmsg) = skmsg else { return Ok(None) };
    let mut duplicate = false;
    for member in group.participants.keys().filter(|m| m.as_str() != phone) {
        let Some(party) = sim.world().accounts.get(member).map(|a| a.party.clone()) else { continue };
        let opened = party.lock().await.group_decrypt(&name, &skmsg.bytes).await;
        match opened {
            Ok(plaintext) => {
                let message = wacore::messages::decode_plaintext(&plaintext, skmsg.version)?;
                duplicate |= record(sim, id, phone, member, &message, Some(&group.id)).await;
            }
            Err(e) => warn!(%member, "cannot open a group message from {sender}: {e:#}"),
        }
    }
    for former in &group.former {
        let Some(party) = sim.world().accounts.get(former).map(|a| a.party.clone()) else { continue };
        let mut party = party.lock().await;
        // The key of this sender it kept from before it left, if any.
        let kept = party.has_sender_key(&name);
        let opened = kept && party.group_decrypt(&name, &skmsg.bytes).await.is_ok();
        if kept {
            sim.world().overheard.push(Overheard {
                id: id.to_owned(),
                group: group.id.clone(),
                phone: former.clone(),
                opened,
            });
        }
    }
    Ok(duplicate.then_some(DUPLICATE_ACK_ERROR))
}

/// A group message a former participant tried with the sender keys it kept:
/// whether one opened it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Overheard {
    pub id: String,
    pub group: String,
    pub phone: String,
    pub opened: bool,
}

/// The error code of the ack for a message id the server already has.
pub const DUPLICATE_ACK_ERROR: &str = "409";

async fn describe(sim: &Sim, id: &str, from: &str, to: &str, message: &wa::Message) -> Received {
    let mut received = Received {
        id: id.to_owned(),
        from: from.to_owned(),
        to: to.to_owned(),
        kind: "other".into(),
        text: None,
        caption: None,
        filename: None,
        mimetype: None,
        sha256: None,
        details: serde_json::Value::Null,
        edits: Vec::new(),
        deleted: false,
        timestamp: now_secs(),
        at_ms: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or_default(),
        copy: 1,
        group: None,
    };
    let download = |path: &Option<String>, key: &Option<Vec<u8>>, kind: &str| {
        crate::media::download_sha256(sim, path.as_deref(), key.as_deref(), kind)
    };
    let mut details = serde_json::Map::new();
    let mut context = None;
    if let Some(text) = &message.conversation {
        received.kind = "text".into();
        received.text = Some(text.clone());
    } else if let Some(extended) = message.extended_text_message.as_option() {
        received.kind = "text".into();
        received.text = extended.text.clone();
        context = extended.context_info.as_option();
    } else if let Some(image) = message.image_message.as_option() {
        received.kind = "image".into();
        received.caption = image.caption.clone();
        received.mimetype = image.mimetype.clone();
        received.sha256 = download(&image.direct_path, &image.media_key, "image");
        context = image.context_info.as_option();
    } else if let Some(video) = message.video_message.as_option() {
        received.kind = "video".into();
        received.caption = video.caption.clone();
        received.mimetype = video.mimetype.clone();
        received.sha256 = download(&video.direct_path, &video.media_key, "video");
        details.insert("gif".into(), video.gif_playback.unwrap_or(false).into());
        context = video.context_info.as_option();
    } else if let Some(audio) = message.audio_message.as_option() {
        let voice = audio.ptt == Some(true);
        received.kind = if voice { "voice" } else { "audio" }.into();
        received.mimetype = audio.mimetype.clone();
        received.sha256 = download(&audio.direct_path, &audio.media_key, "audio");
        if let Some(seconds) = audio.seconds {
            details.insert("seconds".into(), seconds.into());
        }
        if let Some(waveform) = &audio.waveform {
            details.insert("waveform".into(), waveform.clone().into());
        }
        context = audio.context_info.as_option();
    } else if let Some(sticker) = message.sticker_message.as_option() {
        received.kind = "sticker".into();
        received.mimetype = sticker.mimetype.clone();
        received.sha256 = download(&sticker.direct_path, &sticker.media_key, "sticker");
        context = sticker.context_info.as_option();
    } else if let Some(document) = message.document_message.as_option() {
        received.kind = "document".into();
        received.caption = document.caption.clone();
        received.filename = document.file_name.clone();
        received.mimetype = document.mimetype.clone();
        received.sha256 = download(&document.direct_path, &document.media_key, "document");
        context = document.context_info.as_option();
    } else if let Some(location) = message.location_message.as_option() {
        received.kind = "location".into();
        received.text = location.name.clone();
        details.insert("latitude".into(), location.degrees_latitude.into());
        details.insert("longitude".into(), location.degrees_longitude.into());
        details.insert("name".into(), location.name.clone().into());
        details.insert("address".into(), location.address.clone().into());
        context = location.context_info.as_option();
    } else if let Some(contact) = message.contact_message.as_option() {
        received.kind = "contact".into();
        received.text = contact.display_name.clone();
        details.insert("contacts".into(), vec![card(contact)].into());
        context = contact.context_info.as_option();
    } else if let Some(array) = message.contacts_array_message.as_option() {
        received.kind = "contact".into();
        received.text = array.display_name.clone();
        details.insert("contacts".into(), array.contacts.iter().map(card).collect::<Vec<_>>().into());
        context = array.context_info.as_option();
    } else if let Some(poll) =
        message.poll_creation_message_v3.as_option().or_else(|| message.poll_creation_message.as_option())
    {
        received.kind = "poll".into();
        received.text = poll.name.clone();
        let options: Vec<Option<String>> = poll.options.iter().map(|o| o.option_name.clone()).collect();
        details.insert("question".into(), poll.name.clone().into());
        details.insert("options".into(), options.into());
        details.insert("selectable".into(), poll.selectable_options_count.into());
        let secret = message.message_context_info.as_option().and_then(|c| c.message_secret.as_ref());
        details.insert("secret".into(), secret.is_some_and(|s| s.len() == 32).into());
        context = poll.context_info.as_option();
    } else if let Some(reaction) = message.reaction_message.as_option() {
        received.kind = "reaction".into();
        received.text = reaction.text.clone();
        details.insert("target".into(), reaction.key.as_option().and_then(|k| k.id.clone()).into());
    } else if let Some(protocol) = message.protocol_message.as_option() {
        use wa::message::protocol_message::Type;
        let target = protocol.key.as_option().and_then(|k| k.id.clone());
        match protocol.r#type {
            Some(Type::Revoke) => received.kind = "revoke".into(),
            Some(Type::MessageEdit) => {
                received.kind = "edit".into();
                received.text = protocol.edited_message.as_option().and_then(text_of);
            }
            _ => {}
        }
        details.insert("target".into(), target.into());
    }
    if let Some(context) = context.filter(|c| !c.mentioned_jid.is_empty()) {
        // Mentions show as the mentioned numbers.
        let mentions: Vec<String> =
            context.mentioned_jid.iter().map(|j| j.split('@').next().unwrap_or_default().to_owned()).collect();
        details.insert("mentions".into(), mentions.into());
    }
    if let Some(context) = context.filter(|c| c.stanza_id.is_some()) {
        let quoted = context.quoted_message.as_option();
        let text = quoted.and_then(|q| {
            q.conversation.clone().or_else(|| q.extended_text_message.as_option().and_then(|e| e.text.clone()))
        });
        details.insert(
            "quoted".into(),
            serde_json::json!({"id": context.stanza_id, "participant": context.participant, "text": text}),
        );
    }
    if !details.is_empty() {
        received.details = serde_json::Value::Object(details);
    }
    received
}

/// The text or caption of a message (what an edit replaces).
fn text_of(message: &wa::Message) -> Option<String> {
    message
        .conversation
        .clone()
        .or_else(|| message.extended_text_message.as_option().and_then(|m| m.text.clone()))
        .or_else(|| message.image_message.as_option().and_then(|m| m.caption.clone()))
        .or_else(|| message.video_message.as_option().and_then(|m| m.caption.clone()))
        .or_else(|| message.document_message.as_option().and_then(|m| m.caption.clone()))
}

/// What a reaction, an edit or a deletion does to what the contact's phone
/// shows: a reaction is put on (or, empty, taken off) its message; an edit
/// replaces the text or caption of the sender's message, keeping the old one;
/// a deletion empties it.
fn apply(world: &mut crate::state::World, got: &Received) {
    let Some(target) = got.details.get("target").and_then(|t| t.as_str()).map(str::to_owned) else { return };
    if got.kind == "reaction" {
        let shown = world.reactions.entry((got.to.clone(), target)).or_default();
        match got.text.as_deref() {
            None | Some("") => shown.remove(&got.from),
            Some(emoji) => shown.insert(got.from.clone(), emoji.to_owned()),
        };
        return;
    }
    let Some(message) =
        world.received.iter_mut().find(|r| r.id == target && r.from == got.from && r.to == got.to && r.copy == 1)
    else {
        return;
    };
    match got.kind.as_str() {
        "edit" => {
            let slot = if message.kind == "text" { &mut message.text } else { &mut message.caption };
            message.edits.push(slot.clone().unwrap_or_default());
            *slot = got.text.clone();
        }
        "revoke" => {
            message.deleted = true;
            message.text = None;
            message.caption = None;
        }
        _ => {}
    }
}

/// A contact card as the phone shows it: the name, and the numbers of its
/// `TEL` lines (their `waid`, else their digits).
fn card(contact: &wa::message::ContactMessage) -> serde_json::Value {
    let vcard = contact.vcard.clone().unwrap_or_default();
    let phones: Vec<String> = vcard
        .lines()
        .filter(|l| l.to_ascii_uppercase().starts_with("TEL"))
        .filter_map(|l| {
            let waid = l.split(';').find_map(|p| p.strip_prefix("waid=")).map(|w| w.split(':').next().unwrap_or(w));
            let number = waid.map(str::to_owned).or_else(|| l.split_once(':').map(|(_, v)| v.to_owned()))?;
            Some(number.chars().filter(char::is_ascii_digit).collect())
        })
        .collect();
    let fns = vcard.lines().filter(|l| l.to_ascii_uppercase().starts_with("FN")).count();
    serde_json::json!({"name": contact.display_name, "phones": phones, "vcard": vcard, "fnLines": fns})
}

/// Receipts a device sends for what it received: acknowledged.
pub fn receipt_from_client(conn: &Conn, node: &Node) {
    let mut attrs = node.attrs();
    let mut ack = NodeBuilder::new("ack").attr("class", "receipt");
    if let Some(id) = attrs.optional_string("id") {
        ack = ack.attr("id", id.into_owned());
    }
    if let Some(to) = attrs.optional_jid("to") {
        ack = ack.attr("from", to);
    }
    if let Some(kind) = attrs.optional_string("type") {
        ack = ack.attr("type", kind.into_owned());
    }
    conn.send(ack.build());
}

/// What a contact (or the linked number's own phone) writes, as the admin API takes it.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Write {
    /// The contact that writes (with `fromPhone`: the contact the phone writes to).
    pub from: String,
    /// The linked number (not needed for a message in a group).
    #[serde(default)]
    pub to: String,
    /// `text` (default), `image`, `video`, `audio`, `voice`, `document`,
    /// `sticker`, `location`, `contact`, `reaction`, `poll`, `edit` (new
    /// `text` for `quoted`), `revoke` (deletes `quoted` for everyone) or `vote`
    /// (`options` chosen in the poll `quoted`).
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    /// The text; a location's or contact's name; a reaction's emoji; a poll's question.
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub push_name: Option<String>,
    #[serde(default)]
    pub caption: Option<String>,
    #[serde(default)]
    pub filename: Option<String>,
    #[serde(default)]
    pub mimetype: Option<String>,
    /// The media file, base64.
    #[serde(default)]
    pub data: Option<String>,
    #[serde(default)]
    pub latitude: Option<f64>,
    #[serde(default)]
    pub longitude: Option<f64>,
    /// The message a reaction is about, a text answers, an edit or deletion
    /// changes (one `from` wrote), or a vote is in (a poll the linked number sent).
    #[serde(default)]
    pub quoted: Option<String>,
    /// A vote's choices, by the options' names (none: the vote is taken back).
    #[serde(default)]
    pub options: Option<Vec<String>>,
    /// Send under this id: a repeat of a message the device may have.
    #[serde(default)]
    pub id: Option<String>,
    /// The linked number's own phone writes to `from` (the devices get a copy).
    #[serde(default)]
    pub from_phone: bool,
    /// `from` writes in this group (its id, digits) instead of to `to` alone.
    #[serde(default)]
    pub group: Option<String>,
    /// `from` posts a status update, which `to` sees.
    #[serde(default)]
    pub status: bool,
    /// The media's `directPath` as the message names it, instead of where
    /// wa-sim put the file: what a hostile contact may write.
    #[serde(default)]
    pub direct_path: Option<String>,
    /// The message names its author by LID alone (`from` is `<lid>@lid`, no
    /// phone number beside it), as WhatsApp addresses a contact it knows only by LID.
    #[serde(default)]
    pub by_lid: bool,
    /// In a group: the distribution of `from`'s sender key to the devices that
    /// have not had it is lost on the way (their copy carries only the group
    /// message), as when a distribution never arrives; a device asks for the
    /// message again (see `retries`).
    #[serde(default)]
    pub sender_key_lost: bool,
}

/// Contact `from` writes `text` to every linked device of `to`.
pub async fn inbound(sim: &Sim, from: &str, to: &str, text: &str, push_name: &str) -> anyhow::Result<String> {
    let write = Write {
        from: from.to_owned(),
        to: to.to_owned(),
        text: Some(text.to_owned()),
        push_name: Some(push_name.to_owned()),
        ..Default::default()
    };
    deliver(sim, &write).await
}

/// Media on the media host: `(direct path, media key, file sha256, file enc sha256, length)`.
type Uploaded = (String, Vec<u8>, Vec<u8>, Vec<u8>, u64);

/// Encrypts `bytes` as WhatsApp media of `kind` and puts it on the media host.
fn upload(sim: &Sim, kind: &str, bytes: &[u8]) -> anyhow::Result<Uploaded> {
    use wacore::download::MediaType;
    let media_type = match kind {
        "image" => MediaType::Image,
        "video" => MediaType::Video,
        "audio" | "voice" => MediaType::Audio,
        "sticker" => MediaType::Sticker,
        _ => MediaType::Document,
    };
    let encrypted = wacore::upload::encrypt_media(bytes, media_type)?;
    let path = format!("/v/t62/{}.enc", crate::random_token(24));
    sim.media().put(&path, encrypted.data_to_upload);
    Ok((
        path,
        encrypted.media_key.to_vec(),
        encrypted.file_sha256.to_vec(),
        encrypted.file_enc_sha256.to_vec(),
        bytes.len() as u64,
    ))
}

/// The message body a [`Write`] describes.
fn body_of(sim: &Sim, write: &Write) -> anyhow::Result<wa::Message> {
    use base64::Engine as _;
    let kind = write.kind.as_deref().unwrap_or("text");
    let context =
        || write.quoted.as_ref().map(|id| wa::ContextInfo { stanza_id: Some(id.clone()), ..Default::default() });
    let media = || -> anyhow::Result<Uploaded> {
        let data = write.data.as_deref().context("media needs data (base64)")?;
        let bytes = base64::engine::general_purpose::STANDARD.decode(data).context("data is not base64")?;
        let (path, key, sha, enc, len) = upload(sim, kind, &bytes)?;
        Ok((write.direct_path.clone().unwrap_or(path), key, sha, enc, len))
    };
    let url = |path: &str| format!("https://{}{path}", crate::media::MEDIA_HOST);
    let mut message = wa::Message::default();
    match kind {
        "text" => match context() {
            None => message.conversation = Some(write.text.clone().unwrap_or_default()),
            Some(context) => {
                message.extended_text_message = buffa::MessageField::some(wa::message::ExtendedTextMessage {
                    text: write.text.clone(),
                    context_info: buffa::MessageField::some(context),
                    ..Default::default()
                })
            }
        },
        "image" | "sticker" | "video" => {
            let (path, key, sha, enc, len) = media()?;
            match kind {
                "image" => {
                    message.image_message = buffa::MessageField::some(wa::message::ImageMessage {
                        url: Some(url(&path)),
                        direct_path: Some(path),
                        media_key: Some(key),
                        file_sha256: Some(sha),
                        file_enc_sha256: Some(enc),
                        file_length: Some(len),
                        mimetype: Some(write.mimetype.clone().unwrap_or_else(|| "image/jpeg".into())),
                        caption: write.caption.clone(),
                        ..Default::default()
                    })
                }
                "video" => {
                    message.video_message = buffa::MessageField::some(wa::message::VideoMessage {
                        url: Some(url(&path)),
                        direct_path: Some(path),
                        media_key: Some(key),
                        file_sha256: Some(sha),
                        file_enc_sha256: Some(enc),
                        file_length: Some(len),
                        mimetype: Some(write.mimetype.clone().unwrap_or_else(|| "video/mp4".into())),
                        caption: write.caption.clone(),
                        ..Default::default()
                    })
                }
                _ => {
                    message.sticker_message = buffa::MessageField::some(wa::message::StickerMessage {
                        url: Some(url(&path)),
                        direct_path: Some(path),
                        media_key: Some(key),
                        file_sha256: Some(sha),
                        file_enc_sha256: Some(enc),
                        file_length: Some(len),
                        mimetype: Some(write.mimetype.clone().unwrap_or_else(|| "image/webp".into())),
                        ..Default::default()
                    })
                }
            }
        }
        "audio" | "voice" => {
            let (path, key, sha, enc, len) = media()?;
            message.audio_message = buffa::MessageField::some(wa::message::AudioMessage {
                url: Some(url(&path)),
                direct_path: Some(path),
                media_key: Some(key),
                file_sha256: Some(sha),
                file_enc_sha256: Some(enc),
                file_length: Some(len),
                mimetype: Some(write.mimetype.clone().unwrap_or_else(|| "audio/ogg; codecs=opus".into())),
                ptt: Some(kind == "voice"),
                ..Default::default()
            })
        }
        "document" => {
            let (path, key, sha, enc, len) = media()?;
            message.document_message = buffa::MessageField::some(wa::message::DocumentMessage {
                url: Some(url(&path)),
                direct_path: Some(path),
                media_key: Some(key),
                file_sha256: Some(sha),
                file_enc_sha256: Some(enc),
                file_length: Some(len),
                mimetype: Some(write.mimetype.clone().unwrap_or_else(|| "application/octet-stream".into())),
                file_name: write.filename.clone(),
                title: write.filename.clone(),
                caption: write.caption.clone(),
                ..Default::default()
            })
        }
        "location" => {
            message.location_message = buffa::MessageField::some(wa::message::LocationMessage {
                degrees_latitude: write.latitude,
                degrees_longitude: write.longitude,
                name: write.text.clone(),
                ..Default::default()
            })
        }
        "contact" => {
            let name = write.text.clone().unwrap_or_else(|| "Contact".into());
            message.contact_message = buffa::MessageField::some(wa::message::ContactMessage {
                vcard: Some(format!("BEGIN:VCARD\nVERSION:3.0\nFN:{name}\nEND:VCARD")),
                display_name: Some(name),
                ..Default::default()
            })
        }
        "reaction" => {
            // From the reactor's side: its own message, or one the linked number sent it.
            let target = write.quoted.clone().unwrap_or_default();
            let theirs = sim.world().received.iter().any(|r| r.id == target && r.to == write.from);
            message.reaction_message = buffa::MessageField::some(wa::message::ReactionMessage {
                key: buffa::MessageField::some(wa::MessageKey {
                    remote_jid: Some(Jid::pn(write.to.as_str()).to_string()),
                    from_me: Some(!theirs),
                    id: Some(target),
                    ..Default::default()
                }),
                text: write.text.clone(),
                sender_timestamp_ms: Some(now_secs() * 1000),
                ..Default::default()
            })
        }
        "edit" | "revoke" => {
            use wa::message::protocol_message::Type;
            let edited = (kind == "edit").then(|| wa::Message {
                conversation: Some(write.text.clone().unwrap_or_default()),
                ..Default::default()
            });
            message.protocol_message = buffa::MessageField::some(wa::message::ProtocolMessage {
                key: buffa::MessageField::some(wa::MessageKey {
                    remote_jid: Some(Jid::pn(write.to.as_str()).to_string()),
                    from_me: Some(true),
                    id: Some(write.quoted.clone().context("an edit or deletion names its message in quoted")?),
                    participant: None,
                }),
                r#type: Some(if kind == "edit" { Type::MessageEdit } else { Type::Revoke }),
                timestamp_ms: edited.is_some().then(|| now_secs() * 1000),
                edited_message: edited.map(buffa::MessageField::some).unwrap_or_default(),
                ..Default::default()
            })
        }
        "vote" => {
            // Encrypted with the poll's secret, as a contact's phone votes.
            let poll = write.quoted.clone().context("a vote names its poll in quoted")?;
            let secret =
                sim.world().poll_secrets.get(&poll).cloned().context("no poll of that id reached a contact")?;
            let hashes: Vec<Vec<u8>> =
                write.options.iter().flatten().map(|name| wacore::poll::compute_option_hash(name).to_vec()).collect();
            let creator = Jid::pn(write.to.as_str()).to_string();
            let voter = Jid::pn(write.from.as_str()).to_string();
            let (payload, iv) = wacore::poll::encrypt_poll_vote_with_secret(&hashes, &secret, &poll, &creator, &voter)?;
            message.poll_update_message = buffa::MessageField::some(wa::message::PollUpdateMessage {
                poll_creation_message_key: buffa::MessageField::some(wa::MessageKey {
                    remote_jid: Some(creator),
                    from_me: Some(false),
                    id: Some(poll),
                    participant: None,
                }),
                vote: buffa::MessageField::some(wa::message::PollEncValue {
                    enc_payload: Some(payload),
                    enc_iv: Some(iv.to_vec()),
                }),
                metadata: buffa::MessageField::none(),
                sender_timestamp_ms: Some(now_secs() * 1000),
            })
        }
        "poll" => {
            message.poll_creation_message = buffa::MessageField::some(wa::message::PollCreationMessage {
                name: write.text.clone(),
                ..Default::default()
            })
        }
        other => anyhow::bail!("unknown message type {other:?}"),
    }
    Ok(message)
}

/// Delivers a [`Write`] to every linked device of the number it is for; a
/// device that is offline gets it when it next connects (WhatsApp's offline
/// queue), and each keeps getting it on every connection until it acknowledges it.
pub async fn deliver(sim: &Sim, write: &Write) -> anyhow::Result<String> {
    let message = body_of(sim, write)?;
    if let Some(group) = &write.group {
        return deliver_in_group(sim, write, group, &message).await;
    }
    let (party, targets) = {
        let mut world = sim.world();
        // The phone of the linked number writes as itself; a contact as the contact.
        let author = if write.from_phone { write.to.as_str() } else { write.from.as_str() };
        let party = world.account_mut(author).party.clone();
        let account = world.accounts.get(&write.to).context("that number has no linked device")?;
        // The devices that uploaded their keys.
        let targets: Vec<u16> = account.devices.values().filter(|d| d.keys.is_some()).map(|d| d.id).collect();
        (party, targets)
    };
    anyhow::ensure!(!targets.is_empty(), "no linked device of {} is ready", write.to);
    let id = write.id.clone().unwrap_or_else(|| sim.next_message_id());
    let message = if write.from_phone {
        wa::Message {
            device_sent_message: buffa::MessageField::some(wa::message::DeviceSentMessage {
                destination_jid: Some(Jid::pn(write.from.as_str()).to_string()),
                message: buffa::MessageField::some(message),
                ..Default::default()
            }),
            ..Default::default()
        }
    } else {
        message
    };
    let author = if write.from_phone { write.to.as_str() } else { write.from.as_str() };
    // Kept before it goes: a device may ask for it again at once.
    crate::retries::remember(sim, &id, write, &message, None);
    for device in targets {
        let enc = seal(sim, &party, &write.to, device, &message).await?;
        let node = direct_stanza(write, author, &id, enc);
        queue_for_device(sim, &write.to, device, &id, node);
    }
    Ok(id)
}

/// The stanza a linked device of `write.to` gets for a direct message
/// (`enc`: the message sealed for that device).
pub(crate) fn direct_stanza(write: &Write, author: &str, id: &str, enc: Node) -> Node {
    let mut stanza = NodeBuilder::new("message")
        .attr("from", Jid::pn(author))
        .attr("id", id.to_owned())
        .attr("type", "text")
        .attr("t", now_secs().to_string())
        .children([enc]);
    if write.from_phone {
        stanza = stanza.attr("recipient", Jid::pn(write.from.as_str()));
    } else if write.status {
        // A status update: the chat is the status list, the author a participant.
        let name = write.push_name.clone().unwrap_or_else(|| format!("Contact {}", write.from));
        stanza = stanza
            .attr("from", Jid::status_broadcast())
            .attr("participant", Jid::pn(write.from.as_str()))
            .attr("participant_lid", Jid::lid(crate::state::lid_of(&write.from)))
            .attr("notify", name);
    } else {
        // WhatsApp names the author of a phone-number-addressed message by
        // LID too, so a client knows whose Signal session it is before decrypting.
        let name = write.push_name.clone().unwrap_or_else(|| format!("Contact {}", write.from));
        let lid = Jid::lid(crate::state::lid_of(&write.from));
        stanza = if write.by_lid { stanza.attr("from", lid) } else { stanza.attr("sender_lid", lid) };
        stanza = stanza.attr("notify", name);
    }
    stanza.build()
}

/// `node` waits in the offline queue of device `device` of `phone` until the
/// device acknowledges it, and goes to it now if it is connected.
pub(crate) fn queue_for_device(sim: &Sim, phone: &str, device: u16, id: &str, node: Node) {
    let conn = {
        let mut world = sim.world();
        world.pending.entry((phone.to_owned(), device)).or_default().push((id.to_owned(), node.clone()));
        world.device_mut(phone, device).and_then(|d| d.conn.clone())
    };
    if let Some(conn) = conn {
        conn.send(node);
    }
}

/// Contact `write.from` writes in group `group_id`: one group message
/// (`skmsg`) sealed with its sender key for the group, to every linked device
/// of every other participant; a device that has not had that key yet gets it
/// first, sealed for it alone (a sender-key distribution message). The group
/// names its author by number and LID (`addressing_mode="pn"`).
async fn deliver_in_group(sim: &Sim, write: &Write, group_id: &str, message: &wa::Message) -> anyhow::Result<String> {
    let author = write.from.as_str();
    let (group, party, targets, sending) = {
        let mut world = sim.world();
        let group = world.groups.get(group_id).cloned().with_context(|| format!("no group {group_id}"))?;
        anyhow::ensure!(group.may_write(author), "{author} may not write in group {group_id}");
        let account = world.account_mut(author);
        let (party, sending) = (account.party.clone(), account.sending.clone());
        // The devices of the other participants that uploaded their keys.
        let targets: Vec<(String, u16)> = group
            .participants
            .keys()
            .filter(|p| p.as_str() != author)
            .filter_map(|p| world.accounts.get(p))
            .flat_map(|a| a.devices.values().filter(|d| d.keys.is_some()).map(|d| (a.phone.clone(), d.id)))
            .collect();
        (group, party, targets, sending)
    };
    let _one_at_a_time = sending.lock().await;
    let id = write.id.clone().unwrap_or_else(|| sim.next_message_id());
    let own = own_sender_key_name(&group, author);
    let plaintext = wacore::messages::MessageUtils::encode_and_pad(message);
    let (skdm, skmsg) = {
        let mut party = party.lock().await;
        (party.sender_key_distribution(&own).await?, party.group_encrypt(&own, &plaintext).await?)
    };
    let distribution = wa::Message {
        sender_key_distribution_message: buffa::MessageField::some(wa::message::SenderKeyDistributionMessage {
            group_id: Some(group.jid().to_string()),
            axolotl_sender_key_distribution_message: Some(skdm),
        }),
        ..Default::default()
    };
    // Kept before it goes: a device may ask for it again at once.
    crate::retries::remember(sim, &id, write, message, Some(group_id));
    for (number, device) in targets {
        let mut children = Vec::new();
        let first = sim.world().sender_keys_sent.insert(format!("{}|{number}:{device}", own.cache_key()));
        if first && !write.sender_key_lost {
            children.push(seal(sim, &party, &number, device, &distribution).await?);
        }
        children.push(NodeBuilder::new("enc").attr("v", "2").attr("type", "skmsg").bytes(skmsg.clone()).build());
        let node = group_stanza(&group, write, &id, children);
        queue_for_device(sim, &number, device, &id, node);
    }
    Ok(id)
}

/// The stanza a participant's device gets for `write.from`'s message in
/// `group` (`children`: its `<enc>` nodes).
pub(crate) fn group_stanza(group: &crate::groups::Group, write: &Write, id: &str, children: Vec<Node>) -> Node {
    let author = write.from.as_str();
    let name = write.push_name.clone().unwrap_or_else(|| format!("Contact {author}"));
    NodeBuilder::new("message")
        .attr("from", group.jid())
        .attr("participant", Jid::pn(author))
        .attr("participant_lid", Jid::lid(crate::state::lid_of(author)))
        .attr("addressing_mode", "pn")
        .attr("notify", name)
        .attr("id", id.to_owned())
        .attr("type", "text")
        .attr("t", now_secs().to_string())
        .children(children)
        .build()
}

/// A device connected: what waits for it in the offline queue goes out, then
/// the end-of-offline marker. How many.
pub fn drain(sim: &Sim, conn: &Conn, phone: &str, device: u16) -> usize {
    let waiting: Vec<Node> = sim
        .world()
        .pending
        .get(&(phone.to_owned(), device))
        .map(|p| p.iter().map(|(_, n)| n.clone()).collect())
        .unwrap_or_default();
    let count = waiting.len();
    for mut node in waiting {
        // WhatsApp marks what comes from the offline queue.
        node.attrs.insert("offline", "1");
        conn.send(node);
    }
    count
}

/// The device acknowledged messages (delivery receipt or transport ack): they
/// leave its offline queue. Read receipts are recorded.
pub fn acknowledged(sim: &Sim, peer: &Peer, node: &Node) {
    let Peer::Device { phone, device } = peer else { return };
    let mut attrs = node.attrs();
    let mut ids: Vec<String> = attrs.optional_string("id").map(|s| vec![s.into_owned()]).unwrap_or_default();
    if let Some(list) = node.get_optional_child("list") {
        for item in list.children().into_iter().flatten() {
            if let Some(id) = item.attrs().optional_string("id") {
                ids.push(id.into_owned());
            }
        }
    }
    let kind = attrs.optional_string("type").map(|s| s.into_owned()).unwrap_or_default();
    let chat = attrs.optional_jid("to").map(|j| j.user.to_string()).unwrap_or_default();
    let mut world = sim.world();
    if node.tag == "receipt" && kind == "read" {
        world.read_receipts.push(ReadReceipt { reader: phone.clone(), chat, ids: ids.clone() });
    }
    // The ack of a receipt names the receipt's message and type.
    let class = attrs.optional_string("class").map(|s| s.into_owned()).unwrap_or_default();
    if node.tag == "ack" && class == "receipt" {
        ids = ids.iter().map(|id| receipt_key(id, &kind)).collect();
    }
    if let Some(pending) = world.pending.get_mut(&(phone.clone(), *device)) {
        pending.retain(|(id, _)| !ids.contains(id));
    }
}

/// A linked device shows its number typing (or recording, or stopping) to a
/// contact: the contact's phone shows it; recorded in order.
pub fn chatstate_from_client(sim: &Sim, peer: &Peer, node: &Node) {
    let Peer::Device { phone, .. } = peer else { return };
    let Some(to) = node.attrs().optional_jid("to") else { return };
    let Some(child) = node.children().and_then(|c| c.first().cloned()) else { return };
    let state = match (child.tag.as_ref(), child.attrs().optional_string("media").as_deref()) {
        ("composing", Some("audio")) => "recording",
        ("composing", _) => "composing",
        ("paused", _) => "paused",
        _ => return,
    };
    let at_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default();
    let chatstate = ChatState { from: phone.clone(), to: sim.world().phone_of(&to), state: state.to_owned(), at_ms };
    sim.world().chatstates.push(chatstate);
}

/// What a contact's phone showed of a linked number's typing.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ChatState {
    /// The linked number.
    pub from: String,
    /// The contact.
    pub to: String,
    /// `composing`, `recording` or `paused`.
    pub state: String,
    pub at_ms: i64,
}

/// Read receipts linked devices sent for messages they received.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ReadReceipt {
    /// The linked number that read.
    pub reader: String,
    /// The contact whose messages were read.
    pub chat: String,
    pub ids: Vec<String>,
}

/// `message` from `from`'s phone, encrypted by `party` for linked device
/// `device` of `to` (the first time, a session is opened from the device's
/// uploaded keys: see [`take_bundle`]): a `<message>` stanza to which callers
/// may add attributes.
pub async fn sealed_message(
    sim: &Sim,
    party: &tokio::sync::Mutex<crate::signal::Party>,
    from: &str,
    to: &str,
    device: u16,
    id: String,
    message: &wa::Message,
) -> anyhow::Result<NodeBuilder> {
    let enc = seal(sim, party, to, device, message).await?;
    Ok(NodeBuilder::new("message")
        .attr("from", Jid::pn(from))
        .attr("id", id)
        .attr("type", "text")
        .attr("t", now_secs().to_string())
        .children([enc]))
}

/// `message` encrypted by `party` for linked device `device` of `to`: an
/// `<enc>` node (`pkmsg` the first time, when a session is opened from the
/// device's uploaded keys: see [`take_bundle`]; `msg` after).
pub(crate) async fn seal(
    sim: &Sim,
    party: &tokio::sync::Mutex<crate::signal::Party>,
    to: &str,
    device: u16,
    message: &wa::Message,
) -> anyhow::Result<Node> {
    let plaintext = wacore::messages::MessageUtils::encode_and_pad(message);
    let address = protocol_address(&Jid::pn_device(to, device));
    let (kind, sealed) = {
        let mut party = party.lock().await;
        if !party.has_session(&address) {
            party.start_session(&address, &take_bundle(sim, to, device)?).await?;
        }
        party.encrypt(&address, &plaintext).await?
    };
    Ok(NodeBuilder::new("enc").attr("v", "2").attr("type", kind).bytes(sealed).build())
}

/// The key bundle of linked device `device` of `phone`, with one of its
/// one-time pre-keys, which the server hands out once: taken under the
/// world's lock, so contacts writing at the same moment never get the same one.
pub fn take_bundle(sim: &Sim, phone: &str, device: u16) -> anyhow::Result<wacore::libsignal::protocol::PreKeyBundle> {
    let mut world = sim.world();
    let keys = world
        .device_mut(phone, device)
        .and_then(|d| d.keys.as_mut())
        .with_context(|| format!("device {device} of {phone} has no keys"))?;
    bundle_from_upload(keys, device)
}

/// The contact that received `message_id` sends a `delivered` or `read`
/// receipt. Like a message, it waits in each linked device's offline queue
/// until the device acknowledges it (`<ack class="receipt">`), and goes again
/// on every connection until then.
pub fn receipt(sim: &Sim, message_id: &str, kind: &str) -> anyhow::Result<()> {
    let mut world = sim.world();
    let received =
        world.received.iter().rev().find(|r| r.id == message_id).context("no contact received that message")?;
    let sender = received.from.clone();
    let mut node = NodeBuilder::new("receipt")
        .attr("from", Jid::pn(received.to.as_str()))
        .attr("id", message_id.to_owned())
        .attr("t", now_secs().to_string());
    if kind == "read" {
        node = node.attr("type", "read");
    }
    let node = node.build();
    let account = world.accounts.get(&sender).context("the sender is gone")?;
    let devices: Vec<(u16, Option<Conn>)> = account.devices.values().map(|d| (d.id, d.conn.clone())).collect();
    let key = receipt_key(message_id, if kind == "read" { "read" } else { "" });
    for (device, conn) in devices {
        world.pending.entry((sender.clone(), device)).or_default().push((key.clone(), node.clone()));
        if let Some(conn) = conn {
            conn.send(node.clone());
        }
    }
    Ok(())
}

/// How a receipt waits in an offline queue: apart from messages, and a
/// delivery receipt apart from a read one of the same message.
fn receipt_key(message_id: &str, kind: &str) -> String {
    format!("receipt {kind} {message_id}")
}
