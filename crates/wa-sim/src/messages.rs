//! Messages between linked devices and contacts: what a device sends is
//! decrypted by each recipient's phone and recorded; contacts write back,
//! and send delivered/read receipts.

use std::time::Duration;

use anyhow::Context;
use tracing::{debug, warn};
use wacore_binary::{Jid, Node, NodeContent, builder::NodeBuilder};
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
/// contacts record what they got, and the server acks.
pub async fn from_client(sim: &Sim, conn: &Conn, peer: &Peer, node: Node) -> anyhow::Result<()> {
    let Peer::Device { phone, device } = peer else { return Ok(()) };
    let mut attrs = node.attrs();
    let id = attrs.optional_string("id").map(|s| s.into_owned()).unwrap_or_default();
    let to = attrs.optional_jid("to").context("message without 'to'")?;
    let sender = Jid::pn_device(phone.as_str(), *device);
    for envelope in envelopes(&node) {
        if envelope.target.device != 0 {
            continue; // other linked devices are not simulated endpoints
        }
        let recipient = envelope.target.user.to_string();
        let Some(party) = sim.world().accounts.get(&recipient).map(|a| a.party.clone()) else { continue };
        let plaintext =
            match party.lock().await.decrypt(&protocol_address(&sender), &envelope.kind, &envelope.bytes).await {
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
        let received = describe(sim, &id, phone, &recipient, &message).await;
        let mut world = sim.world();
        let seen = world.received.iter().any(|r| r.id == received.id && r.from == received.from && r.to == received.to);
        if seen {
            debug!(id = %received.id, to = %recipient, "contact dropped a copy of a message it has");
            world.duplicates.push(received);
        } else {
            debug!(id = %received.id, to = %recipient, kind = %received.kind, "contact received a message");
            world.received.push(received);
        }
    }
    let faults = sim.world().faults.get(phone).cloned().unwrap_or_default();
    if faults.withhold_acks_until.is_some_and(|t| t > std::time::Instant::now()) {
        return Ok(());
    }
    let ack = NodeBuilder::new("ack")
        .attr("class", "message")
        .attr("id", id)
        .attr("from", to)
        .attr("t", now_secs().to_string())
        .build();
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
        timestamp: now_secs(),
        at_ms: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or_default(),
    };
    if let Some(text) = &message.conversation {
        received.kind = "text".into();
        received.text = Some(text.clone());
    } else if let Some(extended) = message.extended_text_message.as_option() {
        received.kind = "text".into();
        received.text = extended.text.clone();
    } else if let Some(image) = message.image_message.as_option() {
        received.kind = "image".into();
        received.caption = image.caption.clone();
        received.mimetype = image.mimetype.clone();
        received.sha256 =
            crate::media::download_sha256(sim, image.direct_path.as_deref(), image.media_key.as_deref(), "image");
    } else if let Some(document) = message.document_message.as_option() {
        received.kind = "document".into();
        received.caption = document.caption.clone();
        received.filename = document.file_name.clone();
        received.mimetype = document.mimetype.clone();
        received.sha256 = crate::media::download_sha256(
            sim,
            document.direct_path.as_deref(),
            document.media_key.as_deref(),
            "document",
        );
    }
    received
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

/// Contact `from` writes `text` to every connected device of `to`.
pub async fn inbound(sim: &Sim, from: &str, to: &str, text: &str, push_name: &str) -> anyhow::Result<String> {
    let (party, targets) = {
        let mut world = sim.world();
        let party = world.account_mut(from).party.clone();
        let account = world.accounts.get(to).context("that number has no linked device")?;
        let targets: Vec<(u16, Option<crate::state::UploadedKeys>, Option<Conn>)> =
            account.devices.values().map(|d| (d.id, d.keys.clone(), d.conn.clone())).collect();
        (party, targets)
    };
    anyhow::ensure!(targets.iter().any(|(_, _, c)| c.is_some()), "no linked device of {to} is connected");
    let id = sim.next_message_id();
    let message = wa::Message { conversation: Some(text.to_owned()), ..Default::default() };
    for (device, keys, conn) in targets {
        let (Some(mut keys), Some(conn)) = (keys, conn) else { continue };
        let stanza = sealed_message(&party, from, to, device, &mut keys, id.clone(), &message).await?;
        conn.send(stanza.attr("notify", push_name.to_owned()).build());
    }
    Ok(id)
}

/// `message` from `from`'s phone, encrypted by `party` for linked device
/// `device` of `to` (a session is opened from its uploaded keys the first
/// time): a `<message>` stanza to which callers may add attributes.
pub async fn sealed_message(
    party: &tokio::sync::Mutex<crate::signal::Party>,
    from: &str,
    to: &str,
    device: u16,
    keys: &mut crate::state::UploadedKeys,
    id: String,
    message: &wa::Message,
) -> anyhow::Result<NodeBuilder> {
    let plaintext = wacore::messages::MessageUtils::encode_and_pad(message);
    let address = protocol_address(&Jid::pn_device(to, device));
    let (kind, sealed) = {
        let mut party = party.lock().await;
        if !party.has_session(&address) {
            party.start_session(&address, &bundle_from_upload(keys, device)?).await?;
        }
        party.encrypt(&address, &plaintext).await?
    };
    Ok(NodeBuilder::new("message")
        .attr("from", Jid::pn(from))
        .attr("id", id)
        .attr("type", "text")
        .attr("t", now_secs().to_string())
        .children([NodeBuilder::new("enc").attr("v", "2").attr("type", kind).bytes(sealed).build()]))
}

/// The contact that received `message_id` sends a `delivered` or `read` receipt.
pub fn receipt(sim: &Sim, message_id: &str, kind: &str) -> anyhow::Result<()> {
    let world = sim.world();
    let received =
        world.received.iter().rev().find(|r| r.id == message_id).context("no contact received that message")?;
    let account = world.accounts.get(&received.from).context("the sender is gone")?;
    let mut node = NodeBuilder::new("receipt")
        .attr("from", Jid::pn(received.to.as_str()))
        .attr("id", message_id.to_owned())
        .attr("t", now_secs().to_string());
    if kind == "read" {
        node = node.attr("type", "read");
    }
    let node = node.build();
    for device in account.devices.values() {
        if let Some(conn) = &device.conn {
            conn.send(node.clone());
        }
    }
    Ok(())
}
