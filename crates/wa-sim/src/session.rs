//! What happens on a connection after the handshake: registration or login,
//! and the answer to every stanza a logged-in device sends.

use std::time::Instant;

use anyhow::Context;
use tracing::{debug, warn};
use wacore::libsignal::protocol::{IdentityKey, PreKeyBundle, PreKeyId, ProtocolAddress, PublicKey, SignedPreKeyId};
use wacore::protocol::ProtocolNode;
use wacore_binary::{Jid, Node, NodeContent, Server, builder::NodeBuilder};
use waproto::whatsapp as wa;

use crate::{
    Sim,
    conn::{Peer, iq_error, iq_result},
    state::{Conn, UploadedKeys},
};

pub fn now_secs() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

fn server_jid() -> Jid {
    Jid::new("", Server::Pn)
}

/// `<stream:error code=..>`, as WhatsApp closes a stream (515: log in again).
pub fn stream_error(code: &str) -> Node {
    NodeBuilder::new("stream:error").attr("code", code.to_owned()).build()
}

/// `<stream:error><conflict type=../></stream:error>`: `replaced` by another
/// login, or `device_removed` by the phone.
pub fn conflict(kind: &'static str) -> Node {
    NodeBuilder::new("stream:error").children([NodeBuilder::new("conflict").attr("type", kind).build()]).build()
}

/// Registration or login. `None` when the connection was turned away.
pub fn start(sim: &Sim, conn: &Conn, payload: &wa::ClientPayload, client_static: &[u8; 32], ik: bool) -> Option<Peer> {
    if payload.device_pairing_data.is_set() {
        let refs: Vec<String> = (0..6).map(|_| crate::random_token(24)).collect();
        {
            let mut world = sim.world();
            for r in &refs {
                world.pending_links.insert(r.clone(), conn.clone());
            }
        }
        let id = sim.next_stanza_id();
        conn.send(
            NodeBuilder::new("iq")
                .attr("from", server_jid())
                .attr("type", "set")
                .attr("id", id)
                .attr("xmlns", "md")
                .children([NodeBuilder::new("pair-device")
                    .children(refs.into_iter().map(|r| NodeBuilder::new("ref").bytes(r.into_bytes()).build()))
                    .build()])
                .build(),
        );
        return Some(Peer::Unlinked);
    }

    let phone = payload.username.map(|u| u.to_string()).unwrap_or_default();
    let device = payload.device.unwrap_or(0) as u16;
    let failure = |reason: &'static str| NodeBuilder::new("failure").attr("reason", reason).attr("location", "sim");
    let mut world = sim.world();
    let faults = world.faults.get(&phone).cloned().unwrap_or_default();
    if faults.refuse_until.is_some_and(|t| t > Instant::now()) {
        conn.close(None);
        return None;
    }
    if let Some(until) = faults.banned_until.filter(|t| *t > Instant::now()) {
        let expire = until.saturating_duration_since(Instant::now()).as_secs().max(1);
        conn.close(Some(failure("402").attr("code", "101").attr("expire", expire.to_string()).build()));
        return None;
    }
    let Some(known) = world.device_mut(&phone, device).filter(|d| d.noise_public == *client_static) else {
        conn.close(Some(failure("401").build()));
        return None;
    };
    if let Some(old) = known.conn.replace(conn.clone()) {
        old.close(Some(conflict("replaced")));
    }
    world.logins.push(crate::state::Login { phone: phone.clone(), device, ik });
    drop(world);
    conn.send(
        NodeBuilder::new("success")
            .attr("t", now_secs().to_string())
            // The account's LID, as WhatsApp names it at every login.
            .attr("lid", Jid::lid(crate::state::lid_of(&phone)))
            .attr("props", "1")
            .attr("location", "sim")
            .attr("creation", now_secs().to_string())
            .build(),
    );
    Some(Peer::Device { phone, device })
}

pub async fn handle(sim: &Sim, conn: &Conn, peer: &Peer, node: Node) -> anyhow::Result<()> {
    match node.tag.as_ref() {
        "iq" => iq(sim, conn, peer, node).await,
        "message" => crate::messages::from_client(sim, conn, peer, node).await,
        "receipt" => {
            crate::messages::acknowledged(sim, peer, &node);
            crate::messages::receipt_from_client(conn, &node);
            if node.attrs().optional_string("type").as_deref() == Some("retry") {
                // The sender's phone answers; a request it cannot answer closes nothing.
                if let Err(e) = crate::retries::requested(sim, peer, &node).await {
                    warn!(error = %e, "cannot answer a retry receipt");
                }
            }
            Ok(())
        }
        "ack" => {
            crate::messages::acknowledged(sim, peer, &node);
            Ok(())
        }
        "chatstate" => {
            crate::messages::chatstate_from_client(sim, peer, &node);
            Ok(())
        }
        "call" => {
            crate::calls::from_client(sim, peer, &node);
            if let Some(ack) = crate::calls::ack(&node) {
                conn.send(ack);
            }
            Ok(())
        }
        "presence" => {
            crate::presence::from_client(sim, peer, &node);
            Ok(())
        }
        "ib" => Ok(()),
        other => {
            debug!("ignoring <{other}>");
            Ok(())
        }
    }
}

fn child_tag(node: &Node) -> Option<&str> {
    node.children().and_then(|c| c.first()).map(|c| c.tag.as_ref())
}

async fn iq(sim: &Sim, conn: &Conn, peer: &Peer, node: Node) -> anyhow::Result<()> {
    let mut attrs = node.attrs();
    let kind = attrs.optional_string("type").map(|s| s.into_owned()).unwrap_or_default();
    let xmlns = attrs.optional_string("xmlns").map(|s| s.into_owned()).unwrap_or_default();
    let id = attrs.optional_string("id").map(|s| s.into_owned()).unwrap_or_default();
    if kind == "result" || kind == "error" {
        if let Some(sign) = node.get_optional_child("pair-device-sign") {
            crate::phone::finish_link(sim, conn, &id, sign);
        }
        return Ok(());
    }
    let child = child_tag(&node).unwrap_or_default().to_owned();
    debug!(%xmlns, %kind, %child, "iq");
    let reply = match (xmlns.as_str(), kind.as_str(), child.as_str()) {
        // Keepalive (`w:p`) and XMPP pings.
        ("urn:xmpp:ping" | "w:p", _, _) | (_, "get", "ping") => iq_result(&node).build(),
        ("passive", "set", _) => {
            conn.send(iq_result(&node).build());
            if child == "active" {
                // WhatsApp's offline queue: what came while the device was away.
                let count = match peer {
                    Peer::Device { phone, device } => crate::messages::drain(sim, conn, phone, *device),
                    Peer::Unlinked => 0,
                };
                conn.send(
                    NodeBuilder::new("ib")
                        .attr("from", server_jid())
                        .children([NodeBuilder::new("offline").attr("count", count.to_string()).build()])
                        .build(),
                );
            }
            return Ok(());
        }
        ("encrypt", "set", _) => {
            let keys = parse_uploaded_keys(&node).context("reading uploaded pre-keys")?;
            conn.send(iq_result(&node).build());
            if let Peer::Device { phone, device } = peer {
                crate::phone::keys_uploaded(sim, phone, *device, keys).await;
            }
            return Ok(());
        }
        ("encrypt", "get", "key") => prekey_bundles(sim, &node).await?,
        // How many one-time pre-keys the server holds for this device: a
        // client uploads more when it runs low (none before its first upload).
        ("encrypt", "get", "count") => {
            let count = match peer {
                Peer::Device { phone, device } => sim
                    .world()
                    .device_mut(phone, *device)
                    .and_then(|d| d.keys.as_ref().map(|k| k.one_time.len()))
                    .unwrap_or(0),
                Peer::Unlinked => 0,
            };
            iq_result(&node).children([NodeBuilder::new("count").attr("value", count.to_string()).build()]).build()
        }
        // What the server holds of this device's keys, for the client to
        // check against its own; 404 when it holds none (the client uploads).
        ("encrypt", "get", "digest") => {
            let keys = match peer {
                Peer::Device { phone, device } => sim.world().device_mut(phone, *device).and_then(|d| d.keys.clone()),
                Peer::Unlinked => None,
            };
            match keys {
                Some(keys) => key_digest(&node, &keys),
                None => iq_error(&node, 404, "item-not-found"),
            }
        }
        ("usync", _, _) => crate::usync::answer(sim, &node),
        ("w:profile:picture", "get", _) => crate::profiles::picture_iq(sim, &node),
        ("w:g2", _, _) => crate::groups::iq(sim, peer, &node, &kind, &child),
        ("w:sync:app:state", "set", _) => app_state(&node),
        ("w:m", "set", "media_conn") => crate::media::media_conn(sim, &node),
        ("md", "set", "link_code_companion_reg") => crate::phone::companion_hello(sim, conn, &node)?,
        ("privacy", "get", _) => iq_result(&node).children([NodeBuilder::new("privacy").build()]).build(),
        // A sender issues its trusted-contact token after a first message; accepted.
        ("privacy", "set", "tokens") => iq_result(&node).build(),
        ("blocklist", "get", _) => iq_result(&node).children([NodeBuilder::new("list").build()]).build(),
        ("abt", "get", _) | ("w", "get", "props") => {
            iq_result(&node).children([NodeBuilder::new("props").attr("protocol", "1").build()]).build()
        }
        ("md", "set", "remove-companion-device") => {
            conn.send(iq_result(&node).build());
            if let Peer::Device { phone, device } = peer {
                crate::phone::unlink(sim, phone, *device, false);
            }
            return Ok(());
        }
        _ => {
            debug!(%xmlns, %kind, %child, "answering 501");
            iq_error(&node, 501, "feature-not-implemented")
        }
    };
    conn.send(reply);
    Ok(())
}

/// Every app-state collection asked for, at version 0 with nothing in it.
fn app_state(node: &Node) -> Node {
    let names: Vec<String> = node
        .get_optional_child("sync")
        .and_then(|s| s.children())
        .into_iter()
        .flatten()
        .filter(|c| c.tag == "collection")
        .filter_map(|c| c.attrs().optional_string("name").map(|s| s.into_owned()))
        .collect();
    iq_result(node)
        .children([NodeBuilder::new("sync")
            .children(
                names.into_iter().map(|n| NodeBuilder::new("collection").attr("name", n).attr("version", "0").build()),
            )
            .build()])
        .build()
}

fn bytes_of<'a>(node: &'a Node, tag: &str) -> Option<&'a [u8]> {
    match &node.get_optional_child(tag)?.content {
        Some(NodeContent::Bytes(b)) => Some(b.as_slice()),
        _ => None,
    }
}

fn be_uint(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0u32, |acc, b| (acc << 8) | u32::from(*b))
}

fn key32(bytes: Option<&[u8]>) -> anyhow::Result<[u8; 32]> {
    bytes.context("missing key")?.try_into().map_err(|_| anyhow::anyhow!("key is not 32 bytes"))
}

fn parse_uploaded_keys(node: &Node) -> anyhow::Result<UploadedKeys> {
    let skey = node.get_optional_child("skey").context("no <skey>")?;
    let one_time = node
        .get_optional_child("list")
        .and_then(|l| l.children())
        .into_iter()
        .flatten()
        .filter_map(|k| Some((be_uint(bytes_of(k, "id")?), key32(bytes_of(k, "value")).ok()?)))
        .collect();
    Ok(UploadedKeys {
        registration_id: be_uint(bytes_of(node, "registration").context("no <registration>")?),
        identity: key32(bytes_of(node, "identity"))?,
        signed_id: be_uint(bytes_of(skey, "id").context("no skey id")?),
        signed_public: key32(bytes_of(skey, "value"))?,
        signed_signature: bytes_of(skey, "signature").context("no skey signature")?.to_vec(),
        one_time,
    })
}

/// The bundle a linked device uploaded, spending one of its one-time keys.
pub fn bundle_from_upload(keys: &mut UploadedKeys, device: u16) -> anyhow::Result<PreKeyBundle> {
    let one_time = (!keys.one_time.is_empty()).then(|| keys.one_time.remove(0));
    let pre_key = match one_time {
        Some((id, public)) => Some((PreKeyId::from(id), PublicKey::from_djb_public_key_bytes(&public)?)),
        None => None,
    };
    Ok(PreKeyBundle::new(
        keys.registration_id,
        u32::from(device).into(),
        pre_key,
        SignedPreKeyId::from(keys.signed_id),
        PublicKey::from_djb_public_key_bytes(&keys.signed_public)?,
        keys.signed_signature.clone(),
        IdentityKey::new(PublicKey::from_djb_public_key_bytes(&keys.identity)?),
    )?)
}

/// `<digest>`: the key bundle held for a device (registration id, identity,
/// signed pre-key, the ids of the one-time pre-keys left) and the SHA-1 over
/// the identity, the signed pre-key, its signature and those pre-keys.
fn key_digest(request: &Node, keys: &UploadedKeys) -> Node {
    use sha1::Digest;
    let mut hash = sha1::Sha1::new();
    hash.update(keys.identity);
    hash.update(keys.signed_public);
    hash.update(&keys.signed_signature);
    for (_, public) in &keys.one_time {
        hash.update(public);
    }
    // Key ids are 3 bytes on the wire.
    let id = |id: u32| id.to_be_bytes()[1..].to_vec();
    let bytes = |tag: &'static str, bytes: Vec<u8>| NodeBuilder::new(tag).bytes(bytes).build();
    let digest = NodeBuilder::new("digest").children([
        bytes("registration", keys.registration_id.to_be_bytes().to_vec()),
        bytes("type", vec![5]),
        bytes("identity", keys.identity.to_vec()),
        NodeBuilder::new("skey")
            .children([
                bytes("id", id(keys.signed_id)),
                bytes("value", keys.signed_public.to_vec()),
                bytes("signature", keys.signed_signature.clone()),
            ])
            .build(),
        NodeBuilder::new("list").children(keys.one_time.iter().map(|(key, _)| bytes("id", id(*key)))).build(),
        bytes("hash", hash.finalize().to_vec()),
    ]);
    iq_result(request).children([digest.build()]).build()
}

/// `<iq xmlns="encrypt" type="get"><key><user jid=../>..</key>`: a bundle per device.
async fn prekey_bundles(sim: &Sim, node: &Node) -> anyhow::Result<Node> {
    let users: Vec<Jid> = node
        .get_optional_child("key")
        .and_then(|k| k.children())
        .into_iter()
        .flatten()
        .filter_map(|u| u.attrs().optional_jid("jid"))
        .collect();
    let mut out = Vec::new();
    for jid in users {
        // Asked for by number or by LID; answered as asked.
        let phone = sim.world().phone_of(&jid);
        let device = jid.device;
        // A phone's bundle comes from its Signal party; a linked device's from
        // its upload, with the identity it signed at linking.
        let bundle = if device == 0 {
            let party = sim.world().accounts.get(&phone).map(|a| a.party.clone());
            match party {
                Some(party) => Some((party.lock().await.bundle(0)?, None)),
                None => None,
            }
        } else {
            let mut world = sim.world();
            match world.device_mut(&phone, device) {
                Some(d) if d.keys.is_some() => {
                    let keys = d.keys.as_mut().expect("checked above");
                    Some((bundle_from_upload(keys, device)?, d.signed_identity.clone()))
                }
                _ => None,
            }
        };
        let user = match bundle {
            Some((bundle, identity)) => {
                wacore::iq::prekeys::PreKeyBundleUserNode::from_bundle(jid.clone(), &bundle, identity)?.into_node()
            }
            None => NodeBuilder::new("user")
                .attr("jid", jid.clone())
                .children([NodeBuilder::new("error").attr("code", "404").attr("text", "item-not-found").build()])
                .build(),
        };
        out.push(user);
    }
    Ok(iq_result(node).children([NodeBuilder::new("list").children(out).build()]).build())
}

pub(crate) fn protocol_address(jid: &Jid) -> ProtocolAddress {
    ProtocolAddress::new(&format!("{}@{}", jid.user, jid.server.as_str()), u32::from(jid.device).into())
}

/// Closes every connection of `phone` with `node`.
pub fn close_all(sim: &Sim, phone: &str, node: impl Fn() -> Option<Node>) {
    let mut world = sim.world();
    if let Some(account) = world.accounts.get_mut(phone) {
        for device in account.devices.values_mut() {
            if let Some(conn) = device.conn.take() {
                conn.close(node());
            }
        }
    }
}
