//! What the simulated WhatsApp knows: accounts (numbers on WhatsApp), their
//! phones and linked devices, QR refs waiting for a scan, what contacts
//! received, and the faults in force.

use std::{
    collections::{BTreeMap, HashMap},
    sync::Arc,
    time::Instant,
};

use serde::Serialize;
use tokio::sync::{Mutex, mpsc};
use wacore_binary::Node;

use crate::signal::Party;

/// Something to do on one client connection.
#[derive(Debug)]
pub enum Cmd {
    Send(Node),
    /// Send `<stream:error code=...>` (or nothing) and close.
    Close(Option<Node>),
}

/// A live client connection.
#[derive(Clone, Debug)]
pub struct Conn {
    pub id: u64,
    pub tx: mpsc::UnboundedSender<Cmd>,
}

impl Conn {
    pub fn send(&self, node: Node) {
        let _ = self.tx.send(Cmd::Send(node));
    }

    pub fn close(&self, last: Option<Node>) {
        let _ = self.tx.send(Cmd::Close(last));
    }
}

/// The keys a linked device uploaded (`<iq xmlns="encrypt" type="set">`).
#[derive(Clone, Debug)]
pub struct UploadedKeys {
    pub registration_id: u32,
    pub identity: [u8; 32],
    pub signed_id: u32,
    pub signed_public: [u8; 32],
    pub signed_signature: Vec<u8>,
    pub one_time: Vec<(u32, [u8; 32])>,
}

/// A linked (companion) device of an account.
#[derive(Debug)]
pub struct Device {
    pub id: u16,
    /// The device's Noise static key: how it is recognised at login.
    pub noise_public: [u8; 32],
    pub key_index: u32,
    /// The ADVSignedDeviceIdentity the device signed back (`pair-device-sign`).
    pub signed_identity: Option<Vec<u8>>,
    pub keys: Option<UploadedKeys>,
    pub conn: Option<Conn>,
    /// The app-state key share was sent to this device.
    pub key_shared: bool,
    /// The contacts whose presence this device subscribed to on its current connection.
    pub subscribed: std::collections::HashSet<String>,
}

/// A number on WhatsApp: its phone (device 0, a Signal party) and linked devices.
pub struct Account {
    pub phone: String,
    pub party: Arc<Mutex<Party>>,
    /// Held while its phone sends a group message, from encrypting it to
    /// handing it to every device: a phone sends one message at a time, so
    /// a receiver never gets one of its sender-key messages before the one
    /// that carried the key (two writes at once by one author would).
    pub sending: Arc<Mutex<()>>,
    pub devices: BTreeMap<u16, Device>,
    next_device: u16,
    /// Its "about" text.
    pub about: Option<String>,
    /// The id of its profile picture (served on the media host).
    pub picture: Option<String>,
}

impl Account {
    pub fn new(phone: &str) -> Self {
        Self {
            phone: phone.to_owned(),
            party: Arc::new(Mutex::new(Party::new())),
            sending: Arc::new(Mutex::new(())),
            devices: BTreeMap::new(),
            next_device: 1,
            about: None,
            picture: None,
        }
    }

    /// Reserves the id of the next linked device; ids are never reused, so
    /// the id also serves as the device's ADV key index.
    pub fn allocate_device(&mut self) -> u16 {
        let id = self.next_device;
        self.next_device += 1;
        id
    }
}

/// A pair-success sent, waiting for the device's `pair-device-sign`.
#[derive(Debug)]
pub struct PendingSign {
    pub phone: String,
    pub device: Device,
}

/// What a contact received, decrypted.
#[derive(Clone, Debug, Serialize)]
pub struct Received {
    pub id: String,
    pub from: String,
    pub to: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub text: Option<String>,
    pub caption: Option<String>,
    pub filename: Option<String>,
    pub mimetype: Option<String>,
    pub sha256: Option<String>,
    /// What the kind carries besides, as the phone shows it: a location's
    /// `latitude`, `longitude`, `name`, `address`; contact cards' `contacts`
    /// (`name`, `phones`, `vcard`); a poll's `question`, `options`,
    /// `selectable` and whether it has a `secret`; a voice note's `seconds`
    /// and `waveform` (64 values); a video's `gif`; a reply's `quoted`
    /// (`id`, `participant`, `text`).
    #[serde(skip_serializing_if = "serde_json::Value::is_null")]
    pub details: serde_json::Value,
    /// The texts it had before the sender edited it, oldest first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub edits: Vec<String>,
    /// The sender deleted it for everyone: its text and caption are gone.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub deleted: bool,
    pub timestamp: i64,
    /// When it arrived, in epoch milliseconds.
    pub at_ms: i64,
    /// 1 for the first copy of this id from this sender to this contact; more
    /// for resends, which the contact's phone drops.
    pub copy: u32,
    /// The group it was written in (its id, digits), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
}

/// Faults injected per phone number.
#[derive(Clone, Debug, Default)]
pub struct Faults {
    pub refuse_until: Option<Instant>,
    pub banned_until: Option<Instant>,
    pub withhold_acks_until: Option<Instant>,
    pub ack_delay: Option<std::time::Duration>,
}

/// A device that asked to link by pairing code (`companion_hello`), waiting
/// for the phone's user to enter the code.
pub struct PendingCode {
    pub conn: Conn,
    pub wrapped_companion_ephemeral: Vec<u8>,
    pub noise_public: [u8; 32],
    pub reference: Vec<u8>,
    /// Once the code was entered: the phone's ephemeral key, the companion's
    /// ephemeral key as the entered code unwraps it, and who waits for the outcome.
    pub entered: Option<EnteredCode>,
}

pub struct EnteredCode {
    pub primary_ephemeral: wacore::libsignal::protocol::KeyPair,
    pub primary_identity: wacore::libsignal::protocol::KeyPair,
    pub companion_ephemeral: [u8; 32],
    pub done: tokio::sync::oneshot::Sender<anyhow::Result<()>>,
}

#[derive(Default)]
pub struct World {
    /// By phone number.
    pub pending_codes: HashMap<String, PendingCode>,
    pub accounts: HashMap<String, Account>,
    /// QR refs pushed to connections waiting to be linked.
    pub pending_links: HashMap<String, Conn>,
    /// By the request id of the pair-success IQ.
    pub pending_signs: HashMap<String, PendingSign>,
    /// Every copy that reached a contact, resends included (`copy` > 1): the
    /// phone shows the first and drops the others, as WhatsApp's do, so a sender
    /// may resend an unacknowledged message safely.
    pub received: Vec<Received>,
    pub faults: HashMap<String, Faults>,
    pub logins: Vec<Login>,
    /// Messages and receipts for linked devices, by (number, device), until the device acknowledges them.
    pub pending: HashMap<(String, u16), Vec<(String, Node)>>,
    /// Read receipts devices sent.
    pub read_receipts: Vec<crate::messages::ReadReceipt>,
    /// Phone numbers by LID.
    pub lids: HashMap<String, String>,
    /// The reactions each contact's phone shows: by (contact, message id),
    /// each reactor's emoji.
    pub reactions: std::collections::BTreeMap<(String, String), std::collections::BTreeMap<String, String>>,
    /// The vote secrets of polls linked devices sent, by poll id: what a
    /// contact's phone encrypts its votes with.
    pub poll_secrets: HashMap<String, Vec<u8>>,
    /// Typing shown to contacts, oldest first.
    pub chatstates: Vec<crate::messages::ChatState>,
    /// Calls contacts made, oldest first.
    pub calls: Vec<crate::calls::Call>,
    /// How many times devices asked for each number's profile picture.
    pub picture_asks: HashMap<String, u32>,
    /// Groups, by id (digits).
    pub groups: BTreeMap<String, crate::groups::Group>,
    /// Which linked devices got which of a contact's sender keys: `<key name>|<number>:<device>`.
    pub sender_keys_sent: std::collections::HashSet<String>,
    /// Group messages former participants tried with the sender keys they kept.
    pub overheard: Vec<crate::messages::Overheard>,
    /// What contacts wrote, kept to send again when a device asks.
    pub kept: crate::retries::Keep,
    /// Retry receipts devices sent, oldest first.
    pub retries: Vec<crate::retries::Retry>,
}

/// The LID of `phone`: WhatsApp's second, number-free name for an account
/// (`<lid>@lid`), which clients learn from usync's `lid` protocol and may
/// address devices and fetch keys by. Here a fixed 15-digit function of the number.
pub fn lid_of(phone: &str) -> String {
    use sha2::Digest as _;
    let hash = sha2::Sha256::digest(format!("wa-sim lid {phone}").as_bytes());
    let n = u64::from_be_bytes(hash[..8].try_into().expect("8 bytes"));
    (100_000_000_000_000 + n % 900_000_000_000_000).to_string()
}

/// A successful login, for tests to see how a device came back.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Login {
    pub phone: String,
    pub device: u16,
    /// Resumed with Noise IK (the device kept the server key from last time).
    pub ik: bool,
}

impl World {
    pub fn account_mut(&mut self, phone: &str) -> &mut Account {
        if !self.accounts.contains_key(phone) {
            self.lids.insert(lid_of(phone), phone.to_owned());
        }
        self.accounts.entry(phone.to_owned()).or_insert_with(|| Account::new(phone))
    }

    /// The phone number a JID names, by number (`…@s.whatsapp.net`) or by LID (`…@lid`).
    pub fn phone_of(&self, jid: &wacore_binary::Jid) -> String {
        if jid.is_lid()
            && let Some(phone) = self.lids.get(jid.user.as_str())
        {
            return phone.clone();
        }
        jid.user.to_string()
    }

    /// The account and device a login names, if that device is linked.
    pub fn device_mut(&mut self, phone: &str, device: u16) -> Option<&mut Device> {
        self.accounts.get_mut(phone)?.devices.get_mut(&device)
    }

    /// Forgets a connection wherever it is registered.
    pub fn drop_conn(&mut self, conn_id: u64) {
        self.pending_links.retain(|_, c| c.id != conn_id);
        self.pending_codes.retain(|_, p| p.conn.id != conn_id);
        for account in self.accounts.values_mut() {
            for device in account.devices.values_mut() {
                if device.conn.as_ref().is_some_and(|c| c.id == conn_id) {
                    device.conn = None;
                    device.subscribed.clear();
                }
            }
        }
    }
}
