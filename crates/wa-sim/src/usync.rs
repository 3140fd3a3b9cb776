//! `usync` queries: is a number on WhatsApp, and which devices it has.

use wacore_binary::{Jid, Node, NodeContent, builder::NodeBuilder};

use crate::{Sim, conn::iq_result};

/// Digits of a `+62 812-...` style contact query.
fn digits(s: &str) -> String {
    s.chars().filter(char::is_ascii_digit).collect()
}

pub fn answer(sim: &Sim, node: &Node) -> Node {
    let Some(usync) = node.get_optional_child("usync") else {
        return crate::conn::iq_error(node, 400, "bad-request");
    };
    let query = usync.get_optional_child("query");
    let wants = |tag: &str| query.and_then(|q| q.get_optional_child(tag)).is_some();
    let (contact, devices) = (wants("contact"), wants("devices"));
    let world = sim.world();
    let mut users = Vec::new();
    for user in usync.get_optional_child("list").and_then(|l| l.children()).into_iter().flatten() {
        let phone = match user.attrs().optional_jid("jid") {
            Some(jid) => jid.user.to_string(),
            None => match user.get_optional_child("contact").map(|c| &c.content) {
                Some(Some(NodeContent::Bytes(b))) => digits(&String::from_utf8_lossy(b)),
                Some(Some(NodeContent::String(s))) => digits(s),
                _ => continue,
            },
        };
        let account = world.accounts.get(&phone);
        let mut children = Vec::new();
        if contact {
            let kind = if account.is_some() { "in" } else { "out" };
            children.push(NodeBuilder::new("contact").attr("type", kind).build());
        }
        if devices && let Some(account) = account {
            let ids = std::iter::once(0).chain(account.devices.keys().copied());
            children.push(
                NodeBuilder::new("devices")
                    .children([NodeBuilder::new("device-list")
                        .children(ids.map(|id| NodeBuilder::new("device").attr("id", id.to_string()).build()))
                        .build()])
                    .build(),
            );
        }
        users.push(NodeBuilder::new("user").attr("jid", Jid::pn(phone)).children(children).build());
    }
    iq_result(node)
        .children([NodeBuilder::new("usync").children([NodeBuilder::new("list").children(users).build()]).build()])
        .build()
}
