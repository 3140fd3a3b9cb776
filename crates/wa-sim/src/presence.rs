//! Presence, as far as typing goes: a linked device subscribes to a contact's
//! presence (`<presence type="subscribe" to=…>`, per connection: a device that
//! reconnects subscribes again), and a contact's typing (`<chatstate>`) reaches
//! the connected devices that subscribed to it, as WhatsApp does.

use wacore_binary::{Jid, Node, builder::NodeBuilder};

use crate::{Sim, conn::Peer};

/// A device subscribes to (or unsubscribes from) a contact's presence.
pub fn from_client(sim: &Sim, peer: &Peer, node: &Node) {
    let Peer::Device { phone, device } = peer else { return };
    let mut attrs = node.attrs();
    let kind = attrs.optional_string("type").map(|s| s.into_owned()).unwrap_or_default();
    let Some(to) = attrs.optional_jid("to") else { return };
    let mut world = sim.world();
    let contact = world.phone_of(&to);
    let Some(device) = world.device_mut(phone, *device) else { return };
    match kind.as_str() {
        "subscribe" => {
            device.subscribed.insert(contact);
        }
        "unsubscribe" => {
            device.subscribed.remove(&contact);
        }
        _ => {}
    }
}

/// Contact `from` types to the linked number `to` (`composing`, `recording`
/// or `paused`): the connected devices of `to` that subscribed to `from` are
/// shown it. How many were.
pub fn typing(sim: &Sim, from: &str, to: &str, state: &str) -> anyhow::Result<usize> {
    let child = match state {
        "composing" => NodeBuilder::new("composing").build(),
        "recording" => NodeBuilder::new("composing").attr("media", "audio").build(),
        "paused" => NodeBuilder::new("paused").build(),
        other => anyhow::bail!("state must be composing, recording or paused, not {other:?}"),
    };
    let world = sim.world();
    let account = world.accounts.get(to).ok_or_else(|| anyhow::anyhow!("{to} has no linked device"))?;
    let mut shown = 0;
    for device in account.devices.values().filter(|d| d.subscribed.contains(from)) {
        if let Some(conn) = &device.conn {
            conn.send(NodeBuilder::new("chatstate").attr("from", Jid::pn(from)).children([child.clone()]).build());
            shown += 1;
        }
    }
    Ok(shown)
}

/// Which contacts `phone`'s connected devices subscribed to.
pub fn subscriptions(sim: &Sim, phone: &str) -> Vec<String> {
    let world = sim.world();
    let mut out: Vec<String> = world
        .accounts
        .get(phone)
        .map(|a| a.devices.values().filter(|d| d.conn.is_some()).flat_map(|d| d.subscribed.iter().cloned()).collect())
        .unwrap_or_default();
    out.sort();
    out.dedup();
    out
}
