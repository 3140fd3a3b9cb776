//! The user's phone: scans a QR code (or takes a pairing code) to link a new
//! device, signs its identity the way the primary device does (ADV), shares the
//! app-state key with it once it has uploaded its keys, and unlinks devices.

use anyhow::{Context, anyhow};
use base64::{Engine, engine::general_purpose::STANDARD};
use buffa::Message as _;
use hmac::{KeyInit, Mac};
use tracing::{info, warn};
use wacore_binary::{Jid, Node, NodeContent, builder::NodeBuilder};
use waproto::whatsapp as wa;

use crate::{
    Sim,
    conn::iq_error,
    session::{now_secs, stream_error},
    state::{Conn, Device, PendingSign, UploadedKeys},
};

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// `[6, 0]`: the ADV prefix of an account signature.
const ADV_ACCOUNT_SIGNATURE_PREFIX: &[u8] = &[6, 0];

/// The phone of `phone` scans `qr`: the waiting connection gets `<pair-success>`.
pub async fn scan(sim: &Sim, qr: &str, phone: &str) -> anyhow::Result<()> {
    let body = qr.strip_prefix("https://wa.me/settings/linked_devices#").unwrap_or(qr);
    let parts: Vec<&str> = body.split(',').collect();
    anyhow::ensure!(parts.len() >= 4, "not a WhatsApp QR code");
    let (reference, noise, identity, adv_secret) = (parts[0], parts[1], parts[2], parts[3]);
    let noise_public: [u8; 32] = decode32(noise).context("QR noise key")?;
    let identity_public: [u8; 32] = decode32(identity).context("QR identity key")?;
    let adv_secret = STANDARD.decode(adv_secret).context("QR ADV secret")?;
    let conn =
        sim.world().pending_links.get(reference).cloned().ok_or_else(|| anyhow!("no device shows this QR code"))?;
    send_pair_success(sim, &conn, phone, noise_public, identity_public, &adv_secret).await
}

fn decode32(b64: &str) -> anyhow::Result<[u8; 32]> {
    STANDARD.decode(b64)?.try_into().map_err(|_| anyhow!("not 32 bytes"))
}

/// Signs a new device into `phone`'s account and tells the device so.
pub async fn send_pair_success(
    sim: &Sim,
    conn: &Conn,
    phone: &str,
    noise_public: [u8; 32],
    identity_public: [u8; 32],
    adv_secret: &[u8],
) -> anyhow::Result<()> {
    let (party, device_id, key_index) = {
        let mut world = sim.world();
        let account = world.account_mut(phone);
        let device_id = account.allocate_device();
        (account.party.clone(), device_id, u32::from(device_id))
    };
    let account_key = party.lock().await.identity_as_key_pair();
    let details = wa::ADVDeviceIdentity {
        raw_id: Some(rand::random()),
        timestamp: Some(now_secs() as u64),
        key_index: Some(key_index),
        ..Default::default()
    }
    .encode_to_vec();
    let signed_message = [ADV_ACCOUNT_SIGNATURE_PREFIX, &details, &identity_public].concat();
    let signature = account_key.calculate_signature(&signed_message, &mut rand::rng())?;
    let signed = wa::ADVSignedDeviceIdentity {
        details: Some(details),
        account_signature_key: Some(account_key.public_key.public_key_bytes().to_vec()),
        account_signature: Some(signature.to_vec()),
        device_signature: None,
    }
    .encode_to_vec();
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(adv_secret).map_err(|_| anyhow!("bad ADV secret"))?;
    mac.update(&signed);
    let container = wa::ADVSignedDeviceIdentityHMAC {
        details: Some(signed),
        hmac: Some(mac.finalize().into_bytes().to_vec()),
        account_type: None,
    }
    .encode_to_vec();

    let id = sim.next_stanza_id();
    sim.world().pending_signs.insert(
        id.clone(),
        PendingSign {
            phone: phone.to_owned(),
            device: Device {
                id: device_id,
                noise_public,
                key_index,
                signed_identity: None,
                keys: None,
                conn: None,
                key_shared: false,
                subscribed: Default::default(),
            },
        },
    );
    conn.send(
        NodeBuilder::new("iq")
            .attr("from", Jid::new("", wacore_binary::Server::Pn))
            .attr("type", "set")
            .attr("id", id)
            .attr("xmlns", "md")
            .children([NodeBuilder::new("pair-success")
                .children([
                    NodeBuilder::new("device-identity").bytes(container).build(),
                    NodeBuilder::new("platform").attr("name", "android").build(),
                    // The account's name, as a business account's phone sends it; the
                    // device keeps it as its push name.
                    NodeBuilder::new("biz").attr("name", format!("wa-sim {phone}")).build(),
                    NodeBuilder::new("device")
                        .attr("jid", Jid::pn_device(phone, device_id))
                        .attr("lid", Jid::lid(crate::state::lid_of(phone)))
                        .build(),
                ])
                .build()])
            .build(),
    );
    Ok(())
}

/// The device signed its identity back: it is linked. Like WhatsApp, close the
/// stream with 515 so it reconnects and logs in.
pub fn finish_link(sim: &Sim, conn: &Conn, request_id: &str, sign: &Node) {
    let Some(mut pending) = sim.world().pending_signs.remove(request_id) else {
        warn!(request_id, "pair-device-sign for no pair-success of ours");
        return;
    };
    pending.device.signed_identity = sign.get_optional_child("device-identity").and_then(|d| match &d.content {
        Some(NodeContent::Bytes(b)) => Some(b.clone()),
        _ => None,
    });
    let device_id = pending.device.id;
    {
        let mut world = sim.world();
        world.pending_links.retain(|_, link| link.id != conn.id);
        world.account_mut(&pending.phone).devices.insert(device_id, pending.device);
    }
    info!(phone = %pending.phone, device = device_id, "device linked");
    conn.close(Some(stream_error("515")));
}

/// A linked device uploaded its pre-keys. The first time, the phone opens a
/// session with it and shares the app-state sync key, as a real primary does
/// right after linking (the client connects without waiting for it otherwise).
/// The share waits in the device's offline queue like any message until the
/// device acknowledges it: a connection that drops before it arrives (the
/// client logging in again right after linking) does not lose it.
pub async fn keys_uploaded(sim: &Sim, phone: &str, device: u16, keys: UploadedKeys) {
    let (party, conn) = {
        let mut world = sim.world();
        let Some(account) = world.accounts.get_mut(phone) else { return };
        let party = account.party.clone();
        let Some(known) = account.devices.get_mut(&device) else { return };
        known.keys = Some(keys);
        if known.key_shared {
            return;
        }
        known.key_shared = true;
        (party, known.conn.clone())
    };
    if let Err(e) = share_app_state_key(sim, &party, phone, device, conn.as_ref()).await {
        warn!(phone, device, "app-state key share failed: {e:#}");
    }
}

async fn share_app_state_key(
    sim: &Sim,
    party: &tokio::sync::Mutex<crate::signal::Party>,
    phone: &str,
    device: u16,
    conn: Option<&Conn>,
) -> anyhow::Result<()> {
    let share = wa::Message {
        protocol_message: buffa::MessageField::some(wa::message::ProtocolMessage {
            r#type: Some(wa::message::protocol_message::Type::APP_STATE_SYNC_KEY_SHARE),
            app_state_sync_key_share: buffa::MessageField::some(wa::message::AppStateSyncKeyShare {
                keys: vec![wa::message::AppStateSyncKey {
                    key_id: buffa::MessageField::some(wa::message::AppStateSyncKeyId {
                        key_id: Some(crate::random_token(6).into_bytes()),
                    }),
                    key_data: buffa::MessageField::some(wa::message::AppStateSyncKeyData {
                        key_data: Some(rand::random::<[u8; 32]>().to_vec()),
                        fingerprint: buffa::MessageField::some(wa::message::AppStateSyncKeyFingerprint {
                            raw_id: Some(rand::random()),
                            current_index: Some(0),
                            device_indexes: vec![0],
                        }),
                        timestamp: Some(now_secs() * 1000),
                    }),
                }],
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    let id = sim.next_message_id();
    let stanza = crate::messages::sealed_message(sim, party, phone, phone, device, id.clone(), &share).await?;
    let node = stanza.attr("category", "peer").build();
    sim.world().pending.entry((phone.to_owned(), device)).or_default().push((id, node.clone()));
    if let Some(conn) = conn {
        conn.send(node);
    }
    Ok(())
}

/// Removes a linked device. With `notify`, its connection is told it was removed.
pub fn unlink(sim: &Sim, phone: &str, device: u16, notify: bool) {
    let removed = sim.world().accounts.get_mut(phone).and_then(|a| a.devices.remove(&device));
    if let Some(Device { conn: Some(conn), .. }) = removed {
        conn.close(notify.then(|| crate::session::conflict("device_removed")));
    }
}

fn child_bytes(node: &Node, tag: &str) -> Option<Vec<u8>> {
    match &node.get_optional_child(tag)?.content {
        Some(NodeContent::Bytes(b)) => Some(b.clone()),
        _ => None,
    }
}

/// `<iq xmlns="md"><link_code_companion_reg stage=...>`: a device asks to link
/// by pairing code (`companion_hello`), or finishes after the code was entered
/// (`companion_finish`).
pub fn companion_hello(sim: &Sim, conn: &Conn, node: &Node) -> anyhow::Result<Node> {
    let Some(reg) = node.get_optional_child("link_code_companion_reg") else {
        return Ok(iq_error(node, 400, "bad-request"));
    };
    let mut attrs = reg.attrs();
    let stage = attrs.optional_string("stage").map(|s| s.into_owned()).unwrap_or_default();
    let Some(phone) = attrs.optional_jid("jid").map(|j| j.user.to_string()) else {
        return Ok(iq_error(node, 400, "bad-request"));
    };
    match stage.as_str() {
        "companion_hello" => {
            let (Some(wrapped), Some(noise)) = (
                child_bytes(reg, "link_code_pairing_wrapped_companion_ephemeral_pub"),
                child_bytes(reg, "companion_server_auth_key_pub"),
            ) else {
                return Ok(iq_error(node, 400, "bad-request"));
            };
            let Ok(noise_public) = <[u8; 32]>::try_from(noise) else {
                return Ok(iq_error(node, 400, "bad-request"));
            };
            let reference = crate::random_token(32).into_bytes();
            sim.world().pending_codes.insert(
                phone,
                crate::state::PendingCode {
                    conn: conn.clone(),
                    wrapped_companion_ephemeral: wrapped,
                    noise_public,
                    reference: reference.clone(),
                    entered: None,
                },
            );
            Ok(crate::conn::iq_result(node)
                .children([NodeBuilder::new("link_code_companion_reg")
                    .children([NodeBuilder::new("link_code_pairing_ref").bytes(reference).build()])
                    .build()])
                .build())
        }
        "companion_finish" => {
            let taken = sim
                .world()
                .pending_codes
                .get_mut(&phone)
                .and_then(|p| Some((p.conn.clone(), p.noise_public, p.entered.take()?)));
            let Some((code_conn, noise_public, entered)) = taken else {
                return Ok(iq_error(node, 404, "item-not-found"));
            };
            let outcome = finish_code(reg, &entered);
            let reply = match &outcome {
                Ok(_) => {
                    sim.world().pending_codes.remove(&phone);
                    crate::conn::iq_result(node).build()
                }
                // The device may take another attempt with the same code.
                Err(_) => iq_error(node, 400, "bad-request"),
            };
            let sim = sim.clone();
            tokio::spawn(async move {
                let result = match outcome {
                    Ok((identity_public, adv_secret)) => {
                        send_pair_success(&sim, &code_conn, &phone, noise_public, identity_public, &adv_secret).await
                    }
                    Err(e) => Err(e),
                };
                let _ = entered.done.send(result);
            });
            Ok(reply)
        }
        _ => Ok(iq_error(node, 400, "bad-request")),
    }
}

/// Opens the companion's key bundle: `(companion identity key, ADV secret)`.
/// Fails when the code entered was not the code the device showed.
fn finish_code(reg: &Node, entered: &crate::state::EnteredCode) -> anyhow::Result<([u8; 32], Vec<u8>)> {
    use wacore::libsignal::protocol::PublicKey;
    let wrapped = child_bytes(reg, "link_code_pairing_wrapped_key_bundle").context("no key bundle")?;
    anyhow::ensure!(wrapped.len() > 32 + 12 + 16, "key bundle too short");
    let companion_ephemeral = PublicKey::from_djb_public_key_bytes(&entered.companion_ephemeral)?;
    let ephemeral_shared = entered.primary_ephemeral.private_key.calculate_agreement(&companion_ephemeral)?;
    let mut key = [0u8; 32];
    wacore::crypto::hkdf_sha256_into(
        &ephemeral_shared,
        Some(&wrapped[..32]),
        b"link_code_pairing_key_bundle_encryption_key",
        &mut key,
    )
    .map_err(|_| anyhow!("hkdf"))?;
    let iv: [u8; 12] = wrapped[32..44].try_into()?;
    let mut bundle = Vec::new();
    wacore::libsignal::crypto::aes_256_gcm_decrypt(&key, &iv, b"", &wrapped[44..], &mut bundle)
        .map_err(|_| anyhow!("the code entered is not the code the device shows"))?;
    anyhow::ensure!(bundle.len() == 96, "key bundle of the wrong size");
    let companion_identity: [u8; 32] = bundle[..32].try_into()?;
    anyhow::ensure!(
        child_bytes(reg, "companion_identity_public").as_deref() == Some(&companion_identity[..]),
        "companion identity does not match its key bundle"
    );
    Ok((companion_identity, bundle_adv_secret(entered, &ephemeral_shared, &companion_identity, &bundle[64..])?))
}

fn bundle_adv_secret(
    entered: &crate::state::EnteredCode,
    ephemeral_shared: &[u8],
    companion_identity: &[u8; 32],
    random: &[u8],
) -> anyhow::Result<Vec<u8>> {
    let identity_shared = entered
        .primary_identity
        .private_key
        .calculate_agreement(&wacore::libsignal::protocol::PublicKey::from_djb_public_key_bytes(companion_identity)?)?;
    let combined = [ephemeral_shared, &identity_shared[..], random].concat();
    let mut secret = [0u8; 32];
    wacore::crypto::hkdf_sha256_into(&combined, None, b"adv_secret", &mut secret).map_err(|_| anyhow!("hkdf"))?;
    Ok(secret.to_vec())
}

/// The phone's user types `code` for `phone`: the device that asked gets
/// `primary_hello`, answers with its key bundle, and is linked. Returns once
/// the device is signed in, or with an error for a wrong or stale code.
pub async fn enter_pair_code(sim: &Sim, phone: &str, code: &str) -> anyhow::Result<()> {
    use wacore::pair_code::PairCodeUtils;
    anyhow::ensure!(PairCodeUtils::validate_code(code), "a pairing code is 8 characters of Crockford base32");
    let (conn, wrapped, reference) = {
        let world = sim.world();
        let pending =
            world.pending_codes.get(phone).ok_or_else(|| anyhow!("no device is waiting for a code for {phone}"))?;
        (pending.conn.clone(), pending.wrapped_companion_ephemeral.clone(), pending.reference.clone())
    };
    let party = sim.world().account_mut(phone).party.clone();
    let primary_identity = party.lock().await.identity_as_key_pair();
    let primary_ephemeral = wacore::libsignal::protocol::KeyPair::generate(&mut rand::rng());
    let primary_public: [u8; 32] = primary_ephemeral.public_key.public_key_bytes().try_into()?;
    let code_owned = code.to_uppercase();
    // Two PBKDF2 derivations of 131,072 rounds: off the async threads.
    let (companion_ephemeral, wrapped_primary) = tokio::task::spawn_blocking(move || {
        let companion = PairCodeUtils::decrypt_primary_ephemeral_pub(&wrapped, &code_owned);
        (companion, PairCodeUtils::encrypt_ephemeral_pub(&primary_public, &code_owned))
    })
    .await?;
    let companion_ephemeral = companion_ephemeral.map_err(|e| anyhow!("{e}"))?;
    let (done, outcome) = tokio::sync::oneshot::channel();
    {
        let mut world = sim.world();
        let pending = world.pending_codes.get_mut(phone).ok_or_else(|| anyhow!("the device went away"))?;
        pending.entered = Some(crate::state::EnteredCode {
            primary_ephemeral,
            primary_identity: primary_identity.clone(),
            companion_ephemeral,
            done,
        });
    }
    conn.send(
        NodeBuilder::new("notification")
            .attr("from", Jid::new("", wacore_binary::Server::Pn))
            .attr("type", "link_code_companion_reg")
            .attr("id", sim.next_stanza_id())
            .attr("t", now_secs().to_string())
            .children([NodeBuilder::new("link_code_companion_reg")
                .attr("stage", "primary_hello")
                .children([
                    NodeBuilder::new("link_code_pairing_wrapped_primary_ephemeral_pub")
                        .bytes(wrapped_primary.to_vec())
                        .build(),
                    NodeBuilder::new("primary_identity_pub")
                        .bytes(primary_identity.public_key.public_key_bytes().to_vec())
                        .build(),
                    NodeBuilder::new("link_code_pairing_ref").bytes(reference).build(),
                ])
                .build()])
            .build(),
    );
    match tokio::time::timeout(std::time::Duration::from_secs(30), outcome).await {
        Ok(Ok(result)) => result,
        Ok(Err(_)) => Err(anyhow!("the device went away")),
        Err(_) => Err(anyhow!("the device did not answer the code")),
    }
}
