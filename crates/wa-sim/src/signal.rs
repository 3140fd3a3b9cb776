//! A Signal protocol party held in memory: the phone of a linked account, or a
//! contact. It hands out pre-key bundles, opens sessions from bundles,
//! encrypts and decrypts 1:1 messages, and keeps sender keys for groups (its
//! own, which it hands out in sender-key distribution messages, and those of
//! the other participants, which open their group messages), all with the
//! real libsignal code the client itself uses.

use std::collections::HashMap;

use anyhow::{Context, anyhow};
use async_trait::async_trait;
use wacore::libsignal::protocol::{
    CiphertextMessage, Direction, GenericSignedPreKey, IdentityChange, IdentityKey, IdentityKeyPair, IdentityKeyStore,
    KeyPair, PreKeyBundle, PreKeyId, PreKeyRecord, PreKeySignalMessage, PreKeyStore, ProtocolAddress,
    SenderKeyDistributionMessage, SenderKeyName, SenderKeyRecord, SenderKeyStore, SessionRecord, SessionStore,
    SignalMessage, SignalProtocolError, SignedPreKeyId, SignedPreKeyRecord, SignedPreKeyStore, Timestamp, UsePQRatchet,
    create_sender_key_distribution_message, group_decrypt, group_encrypt, message_decrypt_prekey,
    message_decrypt_signal, message_encrypt, process_prekey_bundle, process_sender_key_distribution_message,
};

type SignalResult<T> = Result<T, SignalProtocolError>;

const SIGNED_PRE_KEY_ID: u32 = 1;

/// One party's keys and sessions, split into the stores libsignal takes
/// separately (disjoint borrows, one per store).
pub struct Party {
    ids: Identities,
    sessions: Sessions,
    pre_keys: PreKeys,
    signed: SignedPreKeys,
    sender_keys: SenderKeys,
    next_pre_key: u32,
}

struct Identities {
    own: IdentityKeyPair,
    registration_id: u32,
    known: HashMap<String, IdentityKey>,
}

struct Sessions(HashMap<String, SessionRecord>);

struct PreKeys(HashMap<u32, PreKeyRecord>);

struct SignedPreKeys(SignedPreKeyRecord);

/// Sender-key records by name (`group:sender`).
struct SenderKeys(HashMap<String, SenderKeyRecord>);

impl Party {
    pub fn new() -> Self {
        let mut rng = rand::make_rng::<rand::rngs::StdRng>();
        let own = IdentityKeyPair::generate(&mut rng);
        let signed = KeyPair::generate(&mut rng);
        let signature = own
            .private_key()
            .calculate_signature(&signed.public_key.serialize(), &mut rng)
            .expect("signing with a fresh key");
        let record = SignedPreKeyRecord::new(
            SignedPreKeyId::from(SIGNED_PRE_KEY_ID),
            Timestamp::from_epoch_millis(0),
            &signed,
            &signature,
        );
        Self {
            ids: Identities { own, registration_id: (rand::random::<u32>() & 0x3fff) | 1, known: HashMap::new() },
            sessions: Sessions(HashMap::new()),
            pre_keys: PreKeys(HashMap::new()),
            signed: SignedPreKeys(record),
            sender_keys: SenderKeys(HashMap::new()),
            next_pre_key: 1,
        }
    }

    pub fn identity_key_pair(&self) -> &IdentityKeyPair {
        &self.ids.own
    }

    /// The account key as a plain key pair (for ADV signatures).
    pub fn identity_as_key_pair(&self) -> KeyPair {
        KeyPair::new(*self.ids.own.public_key(), self.ids.own.private_key().clone())
    }

    /// A bundle for this party's device `device_id`, spending a fresh one-time pre-key.
    pub fn bundle(&mut self, device_id: u32) -> anyhow::Result<PreKeyBundle> {
        let id = self.next_pre_key;
        self.next_pre_key += 1;
        let pair = KeyPair::generate(&mut rand::rng());
        self.pre_keys.0.insert(id, PreKeyRecord::new(PreKeyId::from(id), &pair));
        Ok(PreKeyBundle::new(
            self.ids.registration_id,
            device_id.into(),
            Some((PreKeyId::from(id), pair.public_key)),
            SignedPreKeyId::from(SIGNED_PRE_KEY_ID),
            self.signed.0.public_key()?,
            self.signed.0.signature()?,
            *self.ids.own.identity_key(),
        )?)
    }

    pub fn has_session(&self, remote: &ProtocolAddress) -> bool {
        self.sessions.0.contains_key(&remote.to_string())
    }

    /// Drops the session with `remote`: the next message opens a new one.
    pub fn forget_session(&mut self, remote: &ProtocolAddress) {
        self.sessions.0.remove(&remote.to_string());
    }

    /// Opens a session to `remote` from its bundle.
    pub async fn start_session(&mut self, remote: &ProtocolAddress, bundle: &PreKeyBundle) -> anyhow::Result<()> {
        process_prekey_bundle(
            remote,
            &mut self.sessions,
            &mut self.ids,
            bundle,
            &mut rand::make_rng::<rand::rngs::StdRng>(),
            UsePQRatchet::No,
        )
        .await?;
        Ok(())
    }

    /// Encrypts for `remote`: `("pkmsg" | "msg", bytes)`.
    pub async fn encrypt(
        &mut self,
        remote: &ProtocolAddress,
        plaintext: &[u8],
    ) -> anyhow::Result<(&'static str, Vec<u8>)> {
        let message = message_encrypt(plaintext, remote, &mut self.sessions, &mut self.ids).await?;
        Ok(match message {
            CiphertextMessage::PreKeySignalMessage(m) => ("pkmsg", m.serialized().to_vec()),
            CiphertextMessage::SignalMessage(m) => ("msg", m.serialized().to_vec()),
            other => return Err(anyhow!("unexpected ciphertext kind {:?}", other.message_type())),
        })
    }

    /// Decrypts an `<enc type="pkmsg|msg">` payload from `remote`.
    pub async fn decrypt(&mut self, remote: &ProtocolAddress, kind: &str, bytes: &[u8]) -> anyhow::Result<Vec<u8>> {
        let mut rng = rand::make_rng::<rand::rngs::StdRng>();
        let result = match kind {
            "pkmsg" => {
                let message = PreKeySignalMessage::try_from(bytes).context("parsing pkmsg")?;
                message_decrypt_prekey(
                    &message,
                    remote,
                    &mut self.sessions,
                    &mut self.ids,
                    &mut self.pre_keys,
                    &self.signed,
                    &mut rng,
                    UsePQRatchet::No,
                )
                .await?
            }
            "msg" => {
                let message = SignalMessage::try_from(bytes).context("parsing msg")?;
                message_decrypt_signal(&message, remote, &mut self.sessions, &mut self.ids, &mut rng).await?
            }
            other => return Err(anyhow!("unsupported enc type {other}")),
        };
        if let Some(id) = result.consumed_prekey_id {
            self.pre_keys.0.remove(&u32::from(id));
        }
        Ok(result.plaintext)
    }
}

impl Party {
    /// This party's sender key named `name` as a distribution message for the
    /// others (the key is made the first time).
    pub async fn sender_key_distribution(&mut self, name: &SenderKeyName) -> anyhow::Result<Vec<u8>> {
        let mut rng = rand::make_rng::<rand::rngs::StdRng>();
        let skdm = create_sender_key_distribution_message(name, &mut self.sender_keys, &mut rng).await?;
        Ok(skdm.serialized().to_vec())
    }

    /// Encrypts a group message with this party's sender key `name`: the `skmsg` bytes.
    pub async fn group_encrypt(&mut self, name: &SenderKeyName, plaintext: &[u8]) -> anyhow::Result<Vec<u8>> {
        let mut rng = rand::make_rng::<rand::rngs::StdRng>();
        let message = group_encrypt(&mut self.sender_keys, name, plaintext, &mut rng).await?;
        Ok(message.serialized().to_vec())
    }

    /// Keeps another participant's sender key from its distribution message.
    pub async fn accept_sender_key(&mut self, name: &SenderKeyName, skdm: &[u8]) -> anyhow::Result<()> {
        let skdm = SenderKeyDistributionMessage::try_from(skdm).context("parsing a sender-key distribution")?;
        process_sender_key_distribution_message(name, &skdm, &mut self.sender_keys).await?;
        Ok(())
    }

    /// Whether this party holds a sender key named `name`.
    pub fn has_sender_key(&self, name: &SenderKeyName) -> bool {
        self.sender_keys.0.contains_key(name.cache_key())
    }

    /// Opens a group message (`skmsg`) with the sender key `name`.
    pub async fn group_decrypt(&mut self, name: &SenderKeyName, bytes: &[u8]) -> anyhow::Result<Vec<u8>> {
        Ok(group_decrypt(bytes, &mut self.sender_keys, name).await?)
    }
}

impl Default for Party {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl IdentityKeyStore for Identities {
    async fn get_identity_key_pair(&self) -> SignalResult<IdentityKeyPair> {
        Ok(self.own.clone())
    }

    async fn get_local_registration_id(&self) -> SignalResult<u32> {
        Ok(self.registration_id)
    }

    async fn save_identity(
        &mut self,
        address: &ProtocolAddress,
        identity: &IdentityKey,
    ) -> SignalResult<IdentityChange> {
        Ok(match self.known.insert(address.to_string(), *identity) {
            Some(old) if old != *identity => IdentityChange::ReplacedExisting,
            _ => IdentityChange::NewOrUnchanged,
        })
    }

    async fn is_trusted_identity(&self, _: &ProtocolAddress, _: &IdentityKey, _: Direction) -> SignalResult<bool> {
        // Re-linked devices come with new keys, as on the real service.
        Ok(true)
    }

    async fn get_identity(&self, address: &ProtocolAddress) -> SignalResult<Option<IdentityKey>> {
        Ok(self.known.get(&address.to_string()).copied())
    }
}

#[async_trait]
impl PreKeyStore for PreKeys {
    async fn get_pre_key(&self, id: PreKeyId) -> SignalResult<PreKeyRecord> {
        self.0.get(&u32::from(id)).cloned().ok_or(SignalProtocolError::InvalidPreKeyId)
    }

    async fn save_pre_key(&mut self, id: PreKeyId, record: &PreKeyRecord) -> SignalResult<()> {
        self.0.insert(id.into(), record.clone());
        Ok(())
    }

    async fn remove_pre_key(&mut self, id: PreKeyId) -> SignalResult<()> {
        self.0.remove(&u32::from(id));
        Ok(())
    }
}

#[async_trait]
impl SignedPreKeyStore for SignedPreKeys {
    async fn get_signed_pre_key(&self, id: SignedPreKeyId) -> SignalResult<SignedPreKeyRecord> {
        if u32::from(id) == SIGNED_PRE_KEY_ID {
            Ok(self.0.clone())
        } else {
            Err(SignalProtocolError::InvalidSignedPreKeyId)
        }
    }

    async fn save_signed_pre_key(&mut self, _: SignedPreKeyId, record: &SignedPreKeyRecord) -> SignalResult<()> {
        self.0 = record.clone();
        Ok(())
    }
}

#[async_trait]
impl SessionStore for Sessions {
    async fn load_session(&self, address: &ProtocolAddress) -> SignalResult<Option<SessionRecord>> {
        Ok(self.0.get(&address.to_string()).cloned())
    }

    async fn has_session(&self, address: &ProtocolAddress) -> SignalResult<bool> {
        Ok(self.0.contains_key(&address.to_string()))
    }

    async fn store_session(&mut self, address: &ProtocolAddress, record: SessionRecord) -> SignalResult<()> {
        self.0.insert(address.to_string(), record);
        Ok(())
    }
}

#[async_trait]
impl SenderKeyStore for SenderKeys {
    async fn store_sender_key(&mut self, name: &SenderKeyName, record: SenderKeyRecord) -> SignalResult<()> {
        self.0.insert(name.cache_key().to_owned(), record);
        Ok(())
    }

    async fn load_sender_key(&self, name: &SenderKeyName) -> SignalResult<Option<SenderKeyRecord>> {
        Ok(self.0.get(name.cache_key()).cloned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn two_parties_talk() {
        let mut alice = Party::new();
        let mut bob = Party::new();
        let bob_addr = ProtocolAddress::new("bob", 0.into());
        let alice_addr = ProtocolAddress::new("alice", 0.into());
        let bundle = bob.bundle(0).unwrap();
        alice.start_session(&bob_addr, &bundle).await.unwrap();
        let (kind, sealed) = alice.encrypt(&bob_addr, b"halo").await.unwrap();
        assert_eq!(kind, "pkmsg");
        assert_eq!(bob.decrypt(&alice_addr, kind, &sealed).await.unwrap(), b"halo");
        let (kind, sealed) = bob.encrypt(&alice_addr, b"balas").await.unwrap();
        assert_eq!(kind, "msg");
        assert_eq!(alice.decrypt(&bob_addr, kind, &sealed).await.unwrap(), b"balas");
    }

    #[tokio::test]
    async fn a_sender_key_opens_group_messages_until_it_is_replaced() {
        let mut alice = Party::new();
        let mut bob = Party::new();
        let name = SenderKeyName::from_parts("1203@g.us", "alice.0");
        let skdm = alice.sender_key_distribution(&name).await.unwrap();
        bob.accept_sender_key(&name, &skdm).await.unwrap();
        let sealed = alice.group_encrypt(&name, b"halo grup").await.unwrap();
        assert_eq!(bob.group_decrypt(&name, &sealed).await.unwrap(), b"halo grup");
        // A new key (another name here) that bob never got: he cannot open it.
        let next = SenderKeyName::from_parts("1203@g.us#1", "alice.0");
        alice.sender_key_distribution(&next).await.unwrap();
        let sealed = alice.group_encrypt(&next, b"rahasia").await.unwrap();
        assert!(bob.group_decrypt(&name, &sealed).await.is_err());
    }
}
