//! Retry receipts. A linked device that cannot decrypt a message (no session
//! with its sender, no sender key for the group, a bad MAC) acks it and asks
//! its sender to send it again: `<receipt type="retry">` with
//! `<retry id count>`. The sender's phone does, as WhatsApp's do: the same
//! message under the same id, encrypted again for that device alone over their
//! pairwise session (`<enc count="N">`), carrying the group's sender key
//! distribution for a group message. From the second request on, or with no
//! session to the device, the phone first opens a new session from the
//! device's keys on the server. A phone keeps the last [`KEPT`] messages it
//! wrote for this, and answers at most [`MAX_RETRY_COUNT`] - 1 requests for one.

use std::collections::VecDeque;

use anyhow::Context as _;
use tracing::debug;
use wacore_binary::{Jid, Node};
use waproto::whatsapp as wa;

use crate::{
    Sim,
    conn::Peer,
    messages::{Write, direct_stanza, group_stanza, own_sender_key_name, queue_for_device, seal},
    session::protocol_address,
};

/// How many written messages the phones keep to send again.
pub const KEPT: usize = 20_000;
/// WhatsApp answers a device's requests for one message up to this count (exclusive).
pub const MAX_RETRY_COUNT: u8 = 5;
/// From this request on, the phone opens a new session to the device first.
const NEW_SESSION_FROM: u8 = 2;

/// What a phone keeps of a message it wrote, to send it again.
#[derive(Clone)]
pub struct Kept {
    /// Who wrote it to whom, how it was addressed (the message itself refers to
    /// any upload).
    write: Write,
    message: wa::Message,
    group: Option<String>,
}

/// The kept messages, by id, oldest dropped first.
#[derive(Default)]
pub struct Keep {
    by_id: std::collections::HashMap<String, Kept>,
    order: VecDeque<String>,
}

/// A request a linked device made, and whether it was answered.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Retry {
    pub id: String,
    /// The device that asked: `(number, device)`.
    pub phone: String,
    pub device: u16,
    pub count: u8,
    /// The message went again.
    pub resent: bool,
}

/// Keeps what `write` (message `id`) was, for a device that asks for it again.
pub fn remember(sim: &Sim, id: &str, write: &Write, message: &wa::Message, group: Option<&str>) {
    // What the stanza names (see `direct_stanza`, `group_stanza`); not the media bytes.
    let write = Write {
        from: write.from.clone(),
        to: write.to.clone(),
        push_name: write.push_name.clone(),
        from_phone: write.from_phone,
        status: write.status,
        by_lid: write.by_lid,
        group: write.group.clone(),
        ..Default::default()
    };
    let kept = Kept { write, message: message.clone(), group: group.map(str::to_owned) };
    let mut world = sim.world();
    let keep = &mut world.kept;
    if keep.by_id.insert(id.to_owned(), kept).is_none() {
        keep.order.push_back(id.to_owned());
    }
    while keep.order.len() > KEPT {
        if let Some(old) = keep.order.pop_front() {
            keep.by_id.remove(&old);
        }
    }
}

/// A device's `<receipt type="retry">`: the message goes to it again.
pub async fn requested(sim: &Sim, peer: &Peer, node: &Node) -> anyhow::Result<()> {
    let Peer::Device { phone, device } = peer else { return Ok(()) };
    let retry = node.get_optional_child("retry").context("a retry receipt without <retry>")?;
    let mut attrs = retry.attrs();
    let id = attrs.optional_string("id").map(|s| s.into_owned()).context("<retry> without an id")?;
    let count: u8 = attrs.optional_string("count").and_then(|c| c.parse().ok()).unwrap_or(1);
    let kept = sim.world().kept.by_id.get(&id).cloned();
    let answer = match kept {
        Some(kept) if count < MAX_RETRY_COUNT => resend(sim, phone, *device, &id, count, kept).await?,
        _ => false,
    };
    debug!(%id, %phone, device, count, resent = answer, "retry receipt");
    sim.world().retries.push(Retry { id, phone: phone.clone(), device: *device, count, resent: answer });
    Ok(())
}

/// Sends `kept` (message `id`) again to device `device` of `phone`; `false`
/// when the phone does not resend it (the linked number's own phone, a
/// status, a message that was not for this number).
async fn resend(sim: &Sim, phone: &str, device: u16, id: &str, count: u8, kept: Kept) -> anyhow::Result<bool> {
    let Kept { write, mut message, group } = kept;
    if write.from_phone || write.status {
        return Ok(false);
    }
    let author = write.from.as_str();
    let (party, sending, group) = {
        let mut world = sim.world();
        let group = match &group {
            Some(id) => Some(world.groups.get(id).cloned().with_context(|| format!("no group {id}"))?),
            None => None,
        };
        let account = world.account_mut(author);
        (account.party.clone(), account.sending.clone(), group)
    };
    match &group {
        Some(group) if !group.participants.contains_key(phone) => return Ok(false),
        None if write.to != phone => return Ok(false),
        _ => {}
    }
    // One at a time with what the author writes meanwhile (its sessions and sender keys).
    let _one_at_a_time = sending.lock().await;
    let address = protocol_address(&Jid::pn_device(phone, device));
    if count >= NEW_SESSION_FROM {
        party.lock().await.forget_session(&address);
    }
    let node = match &group {
        Some(group) => {
            let own = own_sender_key_name(group, author);
            let skdm = party.lock().await.sender_key_distribution(&own).await?;
            message.sender_key_distribution_message =
                buffa::MessageField::some(wa::message::SenderKeyDistributionMessage {
                    group_id: Some(group.jid().to_string()),
                    axolotl_sender_key_distribution_message: Some(skdm),
                });
            let mut enc = seal(sim, &party, phone, device, &message).await?;
            enc.attrs.insert("count", count.to_string());
            group_stanza(group, &write, id, vec![enc])
        }
        None => {
            let mut enc = seal(sim, &party, phone, device, &message).await?;
            enc.attrs.insert("count", count.to_string());
            direct_stanza(&write, author, id, enc)
        }
    };
    queue_for_device(sim, phone, device, id, node);
    Ok(true)
}
