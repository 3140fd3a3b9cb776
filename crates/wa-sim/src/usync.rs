//! `usync` queries: is a number on WhatsApp, which devices it has, and its LID.

use buffa::Message as _;
use wacore_binary::{Jid, Node, NodeContent, builder::NodeBuilder};
use waproto::whatsapp as wa;

use crate::{Sim, conn::iq_result};

/// Digits of a `+62 812-...` style contact query.
fn digits(s: &str) -> String {
    s.chars().filter(char::is_ascii_digit).collect()
}

/// The account's list of valid companion key indexes (`ADVSignedKeyIndexList`).
/// The client reads, but does not verify, its signature, so none is attached.
fn key_index_list(account: &crate::state::Account) -> Node {
    let valid: Vec<u32> = account.devices.values().map(|d| d.key_index).collect();
    let details = wa::ADVKeyIndexList {
        raw_id: Some(1),
        timestamp: Some(crate::session::now_secs() as u64),
        current_index: valid.iter().copied().max(),
        valid_indexes: valid,
        ..Default::default()
    }
    .encode_to_vec();
    let signed = wa::ADVSignedKeyIndexList { details: Some(details), ..Default::default() }.encode_to_vec();
    NodeBuilder::new("key-index-list").attr("ts", crate::session::now_secs().to_string()).bytes(signed).build()
}

pub fn answer(sim: &Sim, node: &Node) -> Node {
    let Some(usync) = node.get_optional_child("usync") else {
        return crate::conn::iq_error(node, 400, "bad-request");
    };
    let query = usync.get_optional_child("query");
    let wants = |tag: &str| query.and_then(|q| q.get_optional_child(tag)).is_some();
    let (contact, devices, lid) = (wants("contact"), wants("devices"), wants("lid"));
    let (status, picture) = (wants("status"), wants("picture"));
    let world = sim.world();
    let mut users = Vec::new();
    for user in usync.get_optional_child("list").and_then(|l| l.children()).into_iter().flatten() {
        let asked = user.attrs().optional_jid("jid");
        let phone = match &asked {
            Some(jid) => world.phone_of(jid),
            None => match user.get_optional_child("contact").map(|c| &c.content) {
                Some(Some(NodeContent::Bytes(b))) => digits(&String::from_utf8_lossy(b)),
                Some(Some(NodeContent::String(s))) => digits(s),
                _ => continue,
            },
        };
        if phone.is_empty() {
            continue;
        }
        let account = world.accounts.get(&phone);
        let mut children = Vec::new();
        if contact {
            let kind = if account.is_some() { "in" } else { "out" };
            children.push(NodeBuilder::new("contact").attr("type", kind).build());
        }
        if devices && let Some(account) = account {
            let mut list = vec![NodeBuilder::new("device").attr("id", "0").build()];
            list.extend(account.devices.values().map(|d| {
                NodeBuilder::new("device")
                    .attr("id", d.id.to_string())
                    .attr("key-index", d.key_index.to_string())
                    .build()
            }));
            let mut devices_children = vec![NodeBuilder::new("device-list").children(list).build()];
            if !account.devices.is_empty() {
                devices_children.push(key_index_list(account));
            }
            children.push(NodeBuilder::new("devices").children(devices_children).build());
        }
        if status && let Some(about) = account.and_then(|a| a.about.clone()) {
            children.push(NodeBuilder::new("status").string_content(about).build());
        }
        if picture && let Some(id) = account.and_then(|a| a.picture.clone()) {
            children.push(NodeBuilder::new("picture").attr("id", id).build());
        }
        if lid && account.is_some() {
            children.push(NodeBuilder::new("lid").attr("val", Jid::lid(crate::state::lid_of(&phone))).build());
        }
        // The user as asked for: by number, or by LID (then with its number beside it).
        let by_lid = asked.as_ref().is_some_and(|j| j.is_lid()) && account.is_some();
        let jid = asked.map(|j| j.to_non_ad()).unwrap_or_else(|| Jid::pn(phone.as_str()));
        let mut node = NodeBuilder::new("user").attr("jid", jid);
        if by_lid {
            node = node.attr("pn_jid", Jid::pn(phone.as_str()));
        }
        users.push(node.children(children).build());
    }
    iq_result(node)
        .children([NodeBuilder::new("usync").children([NodeBuilder::new("list").children(users).build()]).build()])
        .build()
}
