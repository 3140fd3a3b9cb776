//! Calls, as far as signalling goes: a contact rings a linked number (an
//! `<offer>` to each of its linked devices; one that is offline gets it from the
//! offline queue, marked `offline`, as a call long over), hangs up
//! (`<terminate>`), and sees what the devices did (a `<reject>`). No media: a
//! device that accepts gets nothing to talk to.

use serde::Serialize;
use wacore_binary::{Jid, Node, builder::NodeBuilder};

use crate::{Sim, conn::Peer};

/// A call a contact made, as the contact's phone saw it go.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Call {
    pub id: String,
    /// The contact who called.
    pub from: String,
    /// The linked number called.
    pub to: String,
    pub video: bool,
    /// `ringing`, `rejected` (a device declined it) or `ended` (the caller hung up).
    pub state: String,
    /// How many `<reject>`s linked devices sent for it.
    pub rejects: u32,
}

fn now_secs() -> String {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
        .to_string()
}

/// `from` calls the linked number `to`; returns the call id.
pub fn ring(sim: &Sim, from: &str, to: &str, video: bool, name: Option<&str>) -> anyhow::Result<String> {
    let call_id = format!("SIMCALL{}", crate::random_token(16).to_uppercase());
    let creator = Jid::pn(from);
    let mut offer = vec![
        NodeBuilder::new("audio").attr("enc", "opus").attr("rate", "16000").build(),
        NodeBuilder::new("audio").attr("enc", "opus").attr("rate", "8000").build(),
    ];
    if video {
        offer.push(NodeBuilder::new("video").attr("enc", "vp8").build());
    }
    let action = NodeBuilder::new("offer")
        .attr("call-id", call_id.as_str())
        .attr("call-creator", creator.clone())
        .attr("caller_pn", creator)
        .children(offer)
        .build();
    let notify = name.map(str::to_owned).unwrap_or_else(|| format!("Contact {from}"));
    let mut world = sim.world();
    let account = world.accounts.get(to).ok_or_else(|| anyhow::anyhow!("{to} has no linked device"))?;
    let targets: Vec<u16> = account.devices.values().filter(|d| d.keys.is_some()).map(|d| d.id).collect();
    anyhow::ensure!(!targets.is_empty(), "no linked device of {to} is ready");
    for device in targets {
        let stanza_id = sim.next_stanza_id();
        let node = stanza(from, &stanza_id, &notify, action.clone());
        world.pending.entry((to.to_owned(), device)).or_default().push((stanza_id, node.clone()));
        if let Some(conn) = world.device_mut(to, device).and_then(|d| d.conn.clone()) {
            conn.send(node);
        }
    }
    world.calls.push(Call {
        id: call_id.clone(),
        from: from.to_owned(),
        to: to.to_owned(),
        video,
        state: "ringing".into(),
        rejects: 0,
    });
    Ok(call_id)
}

fn stanza(from: &str, id: &str, notify: &str, action: Node) -> Node {
    NodeBuilder::new("call")
        .attr("from", Jid::pn(from))
        .attr("id", id)
        .attr("t", now_secs())
        .attr("notify", notify)
        .children([action])
        .build()
}

/// The caller hangs up: devices that are online are told (a terminate is not
/// kept for devices that are away). An unknown id is an error.
pub fn hang_up(sim: &Sim, call_id: &str) -> anyhow::Result<()> {
    let mut world = sim.world();
    let call = world.calls.iter_mut().find(|c| c.id == call_id).ok_or_else(|| anyhow::anyhow!("no call {call_id}"))?;
    if call.state == "ringing" {
        call.state = "ended".into();
    }
    let (from, to) = (call.from.clone(), call.to.clone());
    let action = NodeBuilder::new("terminate")
        .attr("call-id", call_id)
        .attr("call-creator", Jid::pn(from.as_str()))
        .attr("reason", "timeout")
        .build();
    let conns: Vec<_> = world
        .accounts
        .get(&to)
        .map(|a| a.devices.values().filter_map(|d| d.conn.clone()).collect())
        .unwrap_or_default();
    for conn in conns {
        conn.send(stanza(&from, &sim.next_stanza_id(), &format!("Contact {from}"), action.clone()));
    }
    Ok(())
}

/// A linked device sent a `<call>`: a `<reject>` declines the call (every
/// device's reject is counted); other actions are acknowledged and dropped.
pub fn from_client(sim: &Sim, peer: &Peer, node: &Node) {
    let Peer::Device { phone, .. } = peer else { return };
    let Some(action) = node.children().and_then(|c| c.first()) else { return };
    let Some(call_id) = action.attrs().optional_string("call-id").map(|s| s.into_owned()) else { return };
    if action.tag == "reject" {
        let mut world = sim.world();
        if let Some(call) = world.calls.iter_mut().find(|c| c.id == call_id && &c.to == phone) {
            call.rejects += 1;
            if call.state == "ringing" {
                call.state = "rejected".into();
            }
        }
    }
}

/// The `<ack class="call">` the server sends for every `<call>` a client sends.
pub fn ack(node: &Node) -> Option<Node> {
    let id = node.attrs().optional_string("id")?.into_owned();
    let mut ack = NodeBuilder::new("ack").attr("id", id).attr("class", "call");
    if let Some(to) = node.attrs().optional_jid("to") {
        ack = ack.attr("from", to);
    }
    if let Some(action) = node.children().and_then(|c| c.first()) {
        ack = ack.attr("type", action.tag.as_ref());
    }
    Some(ack.build())
}
