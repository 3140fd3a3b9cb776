//! Groups, as far as their metadata goes: a linked device creates a group
//! (`<iq xmlns="w:g2" type="set"><create subject>` with its participants),
//! reads one (`<query request="interactive"/>` to the group) or the groups its
//! number is in (`<participating>` to `g.us`). The answer is the `<group>` node
//! WhatsApp sends: id, subject, creator, creation time, participants with
//! their roles, description, announcement-only and locked.

use std::collections::BTreeMap;

use serde::Serialize;
use wacore_binary::{Jid, Node, NodeContent, builder::NodeBuilder};

use crate::{
    Sim,
    conn::{Peer, iq_error, iq_result},
};

/// A group, as the server keeps it.
#[derive(Clone, Debug, Serialize)]
pub struct Group {
    /// Digits: the group's JID is `<id>@g.us`.
    pub id: String,
    pub subject: String,
    pub description: Option<String>,
    /// Who made it (a number).
    pub creator: String,
    pub creation: u64,
    /// Numbers and their roles: `superadmin` (the creator), `admin` or `member`.
    pub participants: BTreeMap<String, String>,
    /// Only admins may write.
    pub announce: bool,
    /// Only admins may change its settings.
    pub locked: bool,
}

fn now_secs() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default()
}

/// The `<group>` node of `group`.
pub fn node(group: &Group) -> Node {
    let mut children: Vec<Node> = group
        .participants
        .iter()
        .map(|(phone, role)| {
            let mut p = NodeBuilder::new("participant").attr("jid", Jid::pn(phone.as_str()));
            if role != "member" {
                p = p.attr("type", role.as_str());
            }
            p.build()
        })
        .collect();
    if let Some(text) = &group.description {
        children.push(
            NodeBuilder::new("description")
                .attr("id", format!("D{}", group.creation))
                .children([NodeBuilder::new("body").string_content(text.as_str()).build()])
                .build(),
        );
    }
    if group.announce {
        children.push(NodeBuilder::new("announcement").build());
    }
    if group.locked {
        children.push(NodeBuilder::new("locked").build());
    }
    NodeBuilder::new("group")
        .attr("id", group.id.as_str())
        .attr("subject", group.subject.as_str())
        .attr("s_t", group.creation.to_string())
        .attr("s_o", Jid::pn(group.creator.as_str()))
        .attr("creator", Jid::pn(group.creator.as_str()))
        .attr("creation", group.creation.to_string())
        .attr("addressing_mode", "pn")
        .children(children)
        .build()
}

fn text_of(node: &Node) -> Option<String> {
    match &node.content {
        Some(NodeContent::String(s)) => Some(s.to_string()),
        Some(NodeContent::Bytes(b)) => Some(String::from_utf8_lossy(b).into_owned()),
        _ => None,
    }
}

/// Answers a `w:g2` IQ from a linked device of `peer`'s number.
pub fn iq(sim: &Sim, peer: &Peer, node: &Node, kind: &str, child: &str) -> Node {
    let Peer::Device { phone, .. } = peer else { return iq_error(node, 401, "not-authorized") };
    match (kind, child) {
        ("set", "create") => create(sim, phone, node),
        ("get", "query") => {
            let Some(to) = node.attrs().optional_jid("to") else { return iq_error(node, 400, "bad-request") };
            let world = sim.world();
            match world.groups.get(to.user.as_str()) {
                Some(group) if group.participants.contains_key(phone) => {
                    iq_result(node).children([self::node(group)]).build()
                }
                Some(_) => iq_error(node, 403, "forbidden"),
                None => iq_error(node, 404, "item-not-found"),
            }
        }
        ("get", "participating") => {
            let world = sim.world();
            let groups: Vec<Node> =
                world.groups.values().filter(|g| g.participants.contains_key(phone)).map(self::node).collect();
            iq_result(node).children([NodeBuilder::new("groups").children(groups).build()]).build()
        }
        _ => iq_error(node, 501, "feature-not-implemented"),
    }
}

fn create(sim: &Sim, phone: &str, node: &Node) -> Node {
    let Some(create) = node.get_optional_child("create") else { return iq_error(node, 400, "bad-request") };
    let subject = create.attrs().optional_string("subject").map(|s| s.into_owned()).unwrap_or_default();
    if subject.trim().is_empty() {
        return iq_error(node, 400, "bad-request");
    }
    let mut world = sim.world();
    let mut participants = BTreeMap::from([(phone.to_owned(), "superadmin".to_owned())]);
    for p in create.children().into_iter().flatten().filter(|c| c.tag == "participant") {
        if let Some(jid) = p.attrs().optional_jid("jid") {
            let number = world.phone_of(&jid);
            // Only numbers on WhatsApp can be added.
            if world.accounts.contains_key(&number) {
                participants.entry(number).or_insert_with(|| "member".to_owned());
            }
        }
    }
    let description =
        create.get_optional_child("description").and_then(|d| d.get_optional_child("body")).and_then(text_of);
    let creation = now_secs();
    let id = format!("1203630{:011}", world.groups.len() as u64 + 1 + (creation % 1_000_000) * 1000);
    let group = Group {
        id: id.clone(),
        subject,
        description,
        creator: phone.to_owned(),
        creation,
        participants,
        announce: false,
        locked: false,
    };
    let answer = iq_result(node).children([self::node(&group)]).build();
    world.groups.insert(id, group);
    answer
}
