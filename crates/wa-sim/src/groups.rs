//! Groups, as the server keeps them: a linked device (or, through the admin
//! API, a contact's phone) creates a group (`<iq xmlns="w:g2" type="set"><create
//! subject>` with its participants), reads one (`<query>` to the group), lists
//! those its number is in (`<participating>` to `g.us`), adds, removes,
//! promotes and demotes participants, changes the subject, the description and
//! the settings (announcement-only, locked), gets and resets the invite link,
//! joins by a link's code and leaves. Every change is told to each linked device
//! of every participant (and of those it removed) as a `w:gp2` notification,
//! which waits in the device's offline queue until acknowledged.
//!
//! Who may do what: admins (`admin`, `superadmin`) change participants and
//! settings and read the invite link; anyone in the group changes the subject
//! and description unless the group is locked. A participant's error in a
//! participants change: `404` not on WhatsApp (add) or not in the group,
//! `409` already in it. A group's messages: see [`crate::messages`]; whoever
//! leaves or is removed makes every other participant replace its sender key.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use wacore_binary::{Jid, Node, NodeContent, builder::NodeBuilder};

use crate::{
    Sim,
    conn::{Peer, iq_error, iq_result},
    state::World,
};

/// A group, as the server keeps it.
#[derive(Clone, Debug, Serialize)]
pub struct Group {
    /// Digits: the group's JID is `<id>@g.us`.
    pub id: String,
    pub subject: String,
    pub description: Option<String>,
    /// The id of the current description (what a change names as `prev`).
    #[serde(rename = "descriptionId")]
    pub description_id: Option<String>,
    /// Who made it (a number).
    pub creator: String,
    pub creation: u64,
    /// Numbers and their roles: `superadmin` (the creator), `admin` or `member`.
    pub participants: BTreeMap<String, String>,
    /// Only admins may write.
    pub announce: bool,
    /// Only admins may change its subject and description.
    pub locked: bool,
    /// The code of its invite link (`https://chat.whatsapp.com/<code>`).
    pub invite: String,
    /// Numbers that were in it and are no longer.
    pub former: BTreeSet<String>,
    /// How many times someone left or was removed: each time, every
    /// participant replaces its sender key (the name its key is kept under
    /// carries this number).
    #[serde(rename = "keyEpoch")]
    pub key_epoch: u32,
}

impl Group {
    pub fn jid(&self) -> Jid {
        Jid::group(self.id.as_str())
    }

    pub fn is_admin(&self, phone: &str) -> bool {
        self.participants.get(phone).is_some_and(|role| role != "member")
    }

    /// Whether `phone` may write in it.
    pub fn may_write(&self, phone: &str) -> bool {
        self.participants.contains_key(phone) && (!self.announce || self.is_admin(phone))
    }
}

/// A change to a group, by one of its participants (or someone joining).
#[derive(Clone, Debug)]
pub enum Change {
    Add(Vec<String>),
    Remove(Vec<String>),
    Promote(Vec<String>),
    Demote(Vec<String>),
    Subject(String),
    /// A new description (`None`: deleted); `prev`: the id of the one it replaces.
    Description {
        text: Option<String>,
        prev: Option<String>,
    },
    Announce(bool),
    Locked(bool),
    /// A new invite link; the old one stops working.
    ResetInvite,
    Leave,
}

/// Why a change was refused: an IQ error code and text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Refused(pub u16, pub &'static str);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.0, self.1)
    }
}

impl std::error::Error for Refused {}

const NOT_FOUND: Refused = Refused(404, "item-not-found");
const FORBIDDEN: Refused = Refused(403, "forbidden");
const NOT_AUTHORIZED: Refused = Refused(401, "not-authorized");
const BAD_REQUEST: Refused = Refused(400, "bad-request");
const CONFLICT: Refused = Refused(409, "conflict");

/// WhatsApp's longest group subject, in characters.
pub const MAX_SUBJECT_CHARS: usize = 100;

fn now_secs() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default()
}

fn participant_node(phone: &str, role: &str) -> Node {
    let mut p = NodeBuilder::new("participant").attr("jid", Jid::pn(phone));
    if role != "member" {
        p = p.attr("type", role);
    }
    p.build()
}

/// The `<group>` node of `group`.
pub fn node(group: &Group) -> Node {
    let mut children: Vec<Node> =
        group.participants.iter().map(|(phone, role)| participant_node(phone, role)).collect();
    if let Some(text) = &group.description {
        children.push(
            NodeBuilder::new("description")
                .attr("id", group.description_id.clone().unwrap_or_default())
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

fn phones_in(world: &World, node: &Node) -> Vec<String> {
    node.children()
        .into_iter()
        .flatten()
        .filter(|c| c.tag == "participant")
        .filter_map(|p| p.attrs().optional_jid("jid"))
        .map(|jid| world.phone_of(&jid))
        .collect()
}

/// Answers a `w:g2` IQ from a linked device of `peer`'s number.
pub fn iq(sim: &Sim, peer: &Peer, node: &Node, kind: &str, child: &str) -> Node {
    let Peer::Device { phone, .. } = peer else { return iq_error(node, 401, "not-authorized") };
    let to = node.attrs().optional_jid("to");
    let group_id = to.as_ref().filter(|j| !j.user.is_empty()).map(|j| j.user.to_string());
    let Some(body) = node.children().and_then(|c| c.first().cloned()) else {
        return iq_error(node, 400, "bad-request");
    };
    let refused = |r: Refused| iq_error(node, r.0, r.1);
    match (kind, child, group_id) {
        ("set", "create", _) => {
            let subject = body.attrs().optional_string("subject").map(|s| s.into_owned()).unwrap_or_default();
            let participants = phones_in(&sim.world(), &body);
            let description =
                body.get_optional_child("description").and_then(|d| d.get_optional_child("body")).and_then(text_of);
            match create(sim, phone, &subject, &participants, description) {
                Ok(group) => iq_result(node).children([self::node(&group)]).build(),
                Err(r) => refused(r),
            }
        }
        ("get", "query", Some(id)) => {
            let world = sim.world();
            match world.groups.get(&id) {
                Some(group) if group.participants.contains_key(phone) => {
                    iq_result(node).children([self::node(group)]).build()
                }
                Some(_) => refused(FORBIDDEN),
                None => refused(NOT_FOUND),
            }
        }
        ("get", "participating", _) => {
            let world = sim.world();
            let groups: Vec<Node> =
                world.groups.values().filter(|g| g.participants.contains_key(phone)).map(self::node).collect();
            iq_result(node).children([NodeBuilder::new("groups").children(groups).build()]).build()
        }
        ("set", "add" | "remove" | "promote" | "demote", Some(id)) => {
            let phones = phones_in(&sim.world(), &body);
            let (action, change) = match child {
                "add" => ("add", Change::Add(phones)),
                "remove" => ("remove", Change::Remove(phones)),
                "promote" => ("promote", Change::Promote(phones)),
                _ => ("demote", Change::Demote(phones)),
            };
            match apply(sim, &id, phone, change) {
                Ok(results) => {
                    let answers: Vec<Node> = results
                        .into_iter()
                        .map(|(who, error)| {
                            let p = NodeBuilder::new("participant").attr("jid", Jid::pn(who.as_str()));
                            match error {
                                Some(code) => p.attr("error", code.to_string()).build(),
                                None => p.build(),
                            }
                        })
                        .collect();
                    iq_result(node).children([NodeBuilder::new(action).children(answers).build()]).build()
                }
                Err(r) => refused(r),
            }
        }
        ("set", "subject", Some(id)) => {
            let subject = text_of(&body).unwrap_or_default();
            answer(node, apply(sim, &id, phone, Change::Subject(subject)))
        }
        ("set", "description", Some(id)) => {
            let mut attrs = body.attrs();
            let prev = attrs.optional_string("prev").map(|s| s.into_owned());
            let delete = attrs.optional_string("delete").is_some_and(|d| d == "true");
            let text = if delete { None } else { body.get_optional_child("body").and_then(text_of) };
            answer(node, apply(sim, &id, phone, Change::Description { text, prev }))
        }
        ("set", setting @ ("announcement" | "not_announcement" | "locked" | "unlocked"), Some(id)) => {
            let change = match setting {
                "announcement" => Change::Announce(true),
                "not_announcement" => Change::Announce(false),
                "locked" => Change::Locked(true),
                _ => Change::Locked(false),
            };
            answer(node, apply(sim, &id, phone, change))
        }
        // The invite link of a group: read it, or (set) replace it.
        (_, "invite", Some(id)) => {
            let code = if kind == "set" {
                apply(sim, &id, phone, Change::ResetInvite).map(|_| ())
            } else {
                let world = sim.world();
                match world.groups.get(&id) {
                    Some(g) if g.is_admin(phone) => Ok(()),
                    Some(g) if g.participants.contains_key(phone) => Err(NOT_AUTHORIZED),
                    Some(_) => Err(FORBIDDEN),
                    None => Err(NOT_FOUND),
                }
            }
            .map(|()| sim.world().groups.get(&id).map(|g| g.invite.clone()).unwrap_or_default());
            match code {
                Ok(code) => iq_result(node).children([NodeBuilder::new("invite").attr("code", code).build()]).build(),
                Err(r) => refused(r),
            }
        }
        // A link's code, to `g.us`: what group it opens (get), or join it (set).
        (_, "invite", None) => {
            let code = body.attrs().optional_string("code").map(|s| s.into_owned()).unwrap_or_default();
            if kind == "set" {
                match join(sim, phone, &code) {
                    Ok(id) => iq_result(node)
                        .children([NodeBuilder::new("group").attr("jid", Jid::group(id.as_str())).build()])
                        .build(),
                    Err(r) => refused(r),
                }
            } else {
                let world = sim.world();
                match world.groups.values().find(|g| g.invite == code) {
                    Some(group) => iq_result(node).children([self::node(group)]).build(),
                    None => refused(NOT_FOUND),
                }
            }
        }
        ("set", "leave", _) => {
            let ids: Vec<String> = body
                .children()
                .into_iter()
                .flatten()
                .filter(|c| c.tag == "group")
                .filter_map(|g| g.attrs().optional_jid("id"))
                .map(|j| j.user.to_string())
                .collect();
            for id in &ids {
                if let Err(r) = apply(sim, id, phone, Change::Leave) {
                    return refused(r);
                }
            }
            iq_result(node).build()
        }
        _ => iq_error(node, 501, "feature-not-implemented"),
    }
}

fn answer(node: &Node, outcome: Result<Vec<(String, Option<u16>)>, Refused>) -> Node {
    match outcome {
        Ok(_) => iq_result(node).build(),
        Err(r) => iq_error(node, r.0, r.1),
    }
}

/// `creator` makes a group of `participants` (numbers not on WhatsApp are left
/// out); the added numbers' linked devices are told.
pub fn create(
    sim: &Sim,
    creator: &str,
    subject: &str,
    participants: &[String],
    description: Option<String>,
) -> Result<Group, Refused> {
    if subject.trim().is_empty() || subject.chars().count() > MAX_SUBJECT_CHARS {
        return Err(BAD_REQUEST);
    }
    let mut world = sim.world();
    let mut members = BTreeMap::from([(creator.to_owned(), "superadmin".to_owned())]);
    for number in participants {
        // Only numbers on WhatsApp can be added.
        if world.accounts.contains_key(number) {
            members.entry(number.clone()).or_insert_with(|| "member".to_owned());
        }
    }
    let creation = now_secs();
    let id = format!("1203630{:011}", world.groups.len() as u64 + 1 + (creation % 1_000_000) * 1000);
    let group = Group {
        id: id.clone(),
        subject: subject.to_owned(),
        description_id: description.as_ref().map(|_| crate::random_token(8)),
        description,
        creator: creator.to_owned(),
        creation,
        participants: members,
        announce: false,
        locked: false,
        invite: crate::random_token(22),
        former: BTreeSet::new(),
        key_epoch: 0,
    };
    world.groups.insert(id, group.clone());
    let created = NodeBuilder::new("create").attr("reason", "create").children([node(&group)]).build();
    notify(&mut world, &group, creator, vec![created], &[]);
    Ok(group)
}

/// `phone` joins the group whose invite link has `code`; its id.
pub fn join(sim: &Sim, phone: &str, code: &str) -> Result<String, Refused> {
    let mut world = sim.world();
    let Some(id) = world.groups.values().find(|g| !code.is_empty() && g.invite == code).map(|g| g.id.clone()) else {
        return Err(NOT_FOUND);
    };
    let group = world.groups.get_mut(&id).expect("found above");
    if group.participants.contains_key(phone) {
        return Ok(id);
    }
    group.participants.insert(phone.to_owned(), "member".to_owned());
    group.former.remove(phone);
    let group = group.clone();
    let action = NodeBuilder::new("add").attr("reason", "invite").children([participant_node(phone, "member")]).build();
    notify(&mut world, &group, phone, vec![action], &[]);
    Ok(id)
}

/// `actor` changes group `id`; for a participants change, each number with
/// the error WhatsApp answers for it (none: done). Every linked device of the
/// group's participants (and of those who left it by this change) is told.
pub fn apply(sim: &Sim, id: &str, actor: &str, change: Change) -> Result<Vec<(String, Option<u16>)>, Refused> {
    let mut world = sim.world();
    let known: BTreeSet<String> = world.accounts.keys().cloned().collect();
    let group = world.groups.get_mut(id).ok_or(NOT_FOUND)?;
    if !group.participants.contains_key(actor) {
        return Err(FORBIDDEN);
    }
    let admin = group.is_admin(actor);
    let mut results = Vec::new();
    let mut gone = Vec::new();
    let action = match change {
        Change::Add(_) | Change::Remove(_) | Change::Promote(_) | Change::Demote(_) if !admin => {
            return Err(NOT_AUTHORIZED);
        }
        Change::Add(phones) => {
            let mut done = Vec::new();
            for phone in phones {
                let error = if !known.contains(&phone) {
                    Some(404)
                } else if group.participants.contains_key(&phone) {
                    Some(409)
                } else {
                    group.participants.insert(phone.clone(), "member".to_owned());
                    group.former.remove(&phone);
                    done.push(participant_node(&phone, "member"));
                    None
                };
                results.push((phone, error));
            }
            (!done.is_empty()).then(|| NodeBuilder::new("add").children(done).build())
        }
        Change::Remove(phones) => {
            let mut done = Vec::new();
            for phone in phones {
                let error = if group.participants.remove(&phone).is_some() {
                    group.former.insert(phone.clone());
                    done.push(participant_node(&phone, "member"));
                    gone.push(phone.clone());
                    None
                } else {
                    Some(404)
                };
                results.push((phone, error));
            }
            if !done.is_empty() {
                group.key_epoch += 1;
            }
            (!done.is_empty()).then(|| NodeBuilder::new("remove").children(done).build())
        }
        Change::Promote(phones) => set_roles(group, &phones, "promote", "admin", &mut results),
        Change::Demote(phones) => set_roles(group, &phones, "demote", "member", &mut results),
        Change::Subject(subject) => {
            if group.locked && !admin {
                return Err(NOT_AUTHORIZED);
            }
            if subject.trim().is_empty() || subject.chars().count() > MAX_SUBJECT_CHARS {
                return Err(BAD_REQUEST);
            }
            group.subject = subject.clone();
            Some(
                NodeBuilder::new("subject")
                    .attr("subject", subject)
                    .attr("s_o", Jid::pn(actor))
                    .attr("s_t", now_secs().to_string())
                    .build(),
            )
        }
        Change::Description { text, prev } => {
            if group.locked && !admin {
                return Err(NOT_AUTHORIZED);
            }
            if group.description_id.is_some() && prev != group.description_id {
                return Err(CONFLICT);
            }
            let new_id = crate::random_token(8);
            group.description = text.clone();
            group.description_id = text.as_ref().map(|_| new_id.clone());
            let node = NodeBuilder::new("description").attr("id", new_id);
            Some(match text {
                Some(text) => node.children([NodeBuilder::new("body").string_content(text).build()]).build(),
                None => node.children([NodeBuilder::new("delete").build()]).build(),
            })
        }
        Change::Announce(_) | Change::Locked(_) | Change::ResetInvite if !admin => return Err(NOT_AUTHORIZED),
        Change::Announce(on) => {
            group.announce = on;
            Some(NodeBuilder::new(if on { "announcement" } else { "not_announcement" }).build())
        }
        Change::Locked(on) => {
            group.locked = on;
            Some(NodeBuilder::new(if on { "locked" } else { "unlocked" }).build())
        }
        Change::ResetInvite => {
            group.invite = crate::random_token(22);
            Some(NodeBuilder::new("revoke").build())
        }
        Change::Leave => {
            let role = group.participants.remove(actor).unwrap_or_default();
            group.former.insert(actor.to_owned());
            group.key_epoch += 1;
            gone.push(actor.to_owned());
            Some(NodeBuilder::new("remove").attr("reason", "leave").children([participant_node(actor, &role)]).build())
        }
    };
    let group = group.clone();
    if let Some(action) = action {
        notify(&mut world, &group, actor, vec![action], &gone);
    }
    Ok(results)
}

/// Gives `phones` the role `role` (the creator stays the super admin): the
/// notification's `tag` node, if anyone's role changed.
fn set_roles(
    group: &mut Group,
    phones: &[String],
    tag: &'static str,
    role: &str,
    results: &mut Vec<(String, Option<u16>)>,
) -> Option<Node> {
    let mut done = Vec::new();
    for phone in phones {
        let error = match group.participants.get_mut(phone) {
            Some(current) if current != "superadmin" => {
                *current = role.to_owned();
                done.push(participant_node(phone, role));
                None
            }
            Some(_) => Some(403),
            None => Some(404),
        };
        results.push((phone.clone(), error));
    }
    (!done.is_empty()).then(|| NodeBuilder::new(tag).children(done).build())
}

/// Tells every linked device of `group`'s participants and of `also` (who just
/// left it) what `actor` did: a `w:gp2` notification, kept in each device's
/// offline queue until it acknowledges it.
fn notify(world: &mut World, group: &Group, actor: &str, actions: Vec<Node>, also: &[String]) {
    let id = format!("gp2-{}", crate::random_token(12));
    let notification = NodeBuilder::new("notification")
        .attr("from", group.jid())
        .attr("type", "w:gp2")
        .attr("id", id.clone())
        .attr("participant", Jid::pn(actor))
        .attr("t", now_secs().to_string())
        .attr("addressing_mode", "pn")
        .children(actions)
        .build();
    let numbers: BTreeSet<&String> = group.participants.keys().chain(also.iter()).collect();
    for number in numbers {
        let Some(account) = world.accounts.get(number.as_str()) else { continue };
        let devices: Vec<(u16, Option<crate::state::Conn>)> =
            account.devices.values().map(|d| (d.id, d.conn.clone())).collect();
        for (device, conn) in devices {
            world.pending.entry((number.to_string(), device)).or_default().push((id.clone(), notification.clone()));
            if let Some(conn) = conn {
                conn.send(notification.clone());
            }
        }
    }
}
