//! The server side of WhatsApp's transport: the connection header, 3-byte
//! length-prefixed frames, the Noise XX / IK / XXfallback handshake as the
//! responder, and the encrypted frames that follow it.
//!
//! A connection is a byte pipe (`Pipe`): WebSocket binary messages or the
//! in-process transport both feed it the same bytes.

use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use buffa::Message as _;
use bytes::{Bytes, BytesMut};
use tokio::sync::mpsc;
use wacore::libsignal::protocol::KeyPair;
use wacore::noise::{NoiseCipher, NoiseHandshake};
use wacore_binary::consts::{NOISE_PATTERN_IK, NOISE_PATTERN_XX, NOISE_PATTERN_XXFALLBACK, WA_CONN_HEADER};
use waproto::whatsapp::{self as wa, HandshakeMessage};

/// How long a client may take for each handshake step.
const STEP_TIMEOUT: Duration = Duration::from_secs(20);

/// Bytes in from the client, bytes out to it. Closing `tx` closes the connection.
pub struct Pipe {
    pub rx: mpsc::Receiver<Bytes>,
    pub tx: mpsc::Sender<Bytes>,
}

/// The server's long-lived Noise identity: its static key and a certificate
/// chain whose leaf is that key.
pub struct ServerIdentity {
    pub static_kp: KeyPair,
    pub cert_chain: Vec<u8>,
}

impl ServerIdentity {
    pub fn new(static_kp: KeyPair) -> Self {
        let public: [u8; 32] = static_kp.public_key.public_key_bytes().try_into().expect("X25519 keys are 32 bytes");
        let cert_chain = wacore_noise::test_util::build_cert_chain_bytes(&public);
        Self { static_kp, cert_chain }
    }

    fn static_public(&self) -> [u8; 32] {
        self.static_kp.public_key.public_key_bytes().try_into().expect("X25519 keys are 32 bytes")
    }
}

/// Reads frames off a pipe, after the connection header.
pub struct FrameReader {
    rx: mpsc::Receiver<Bytes>,
    buf: BytesMut,
    header_done: bool,
}

impl FrameReader {
    pub fn new(rx: mpsc::Receiver<Bytes>) -> Self {
        Self { rx, buf: BytesMut::new(), header_done: false }
    }

    /// The next whole frame; `None` when the client went away.
    pub async fn next(&mut self) -> anyhow::Result<Option<BytesMut>> {
        loop {
            if !self.header_done {
                if let Some(consumed) = parse_header(&self.buf)? {
                    let _ = self.buf.split_to(consumed);
                    self.header_done = true;
                    continue;
                }
            } else if self.buf.len() >= 3 {
                let len = (usize::from(self.buf[0]) << 16) | (usize::from(self.buf[1]) << 8) | usize::from(self.buf[2]);
                if self.buf.len() >= 3 + len {
                    let _ = self.buf.split_to(3);
                    return Ok(Some(self.buf.split_to(len)));
                }
            }
            match self.rx.recv().await {
                Some(chunk) => self.buf.extend_from_slice(&chunk),
                None => return Ok(None),
            }
        }
    }
}

/// Length of the connection header at the start of `buf`, once it is all there:
/// an optional edge-routing pre-intro (`ED\0\x01` + 3-byte length + data) and
/// then `WA_CONN_HEADER`.
fn parse_header(buf: &[u8]) -> anyhow::Result<Option<usize>> {
    let mut at = 0;
    if buf.len() < 2 {
        return Ok(None);
    }
    if &buf[..2] == b"ED" {
        if buf.len() < 7 {
            return Ok(None);
        }
        let len = (usize::from(buf[4]) << 16) | (usize::from(buf[5]) << 8) | usize::from(buf[6]);
        at = 7 + len;
    }
    if buf.len() < at + WA_CONN_HEADER.len() {
        return Ok(None);
    }
    if buf[at..at + 2] != WA_CONN_HEADER[..2] {
        bail!("connection does not start with the WhatsApp header");
    }
    Ok(Some(at + WA_CONN_HEADER.len()))
}

fn frame(payload: &[u8]) -> anyhow::Result<Bytes> {
    Ok(Bytes::from(wacore::framing::encode_frame(payload, None)?))
}

/// A finished handshake: the ciphers for each direction and what the client said.
pub struct Established {
    pub read: NoiseCipher,
    pub write: NoiseCipher,
    /// The client's static Noise public key: the device's identity on the wire.
    pub client_static: [u8; 32],
    pub payload: wa::ClientPayload,
    pub resumed_with_ik: bool,
}

async fn next_frame(reader: &mut FrameReader) -> anyhow::Result<BytesMut> {
    tokio::time::timeout(STEP_TIMEOUT, reader.next())
        .await
        .map_err(|_| anyhow!("handshake timed out"))??
        .ok_or_else(|| anyhow!("client left during the handshake"))
}

fn server_hello(ephemeral: &[u8; 32], r#static: Option<Vec<u8>>, payload: Vec<u8>) -> Vec<u8> {
    HandshakeMessage {
        server_hello: buffa::MessageField::some(wa::handshake_message::ServerHello {
            ephemeral: Some(ephemeral.to_vec()),
            r#static,
            payload: Some(payload),
            ..Default::default()
        }),
        ..Default::default()
    }
    .encode_to_vec()
}

fn key32(bytes: Vec<u8>, what: &str) -> anyhow::Result<[u8; 32]> {
    bytes.try_into().map_err(|_| anyhow!("{what} is not 32 bytes"))
}

/// Runs the responder side of the handshake. An IK attempt that does not
/// decrypt with our key (the client kept another server's key) is answered
/// with XXfallback.
pub async fn accept(
    identity: &ServerIdentity,
    reader: &mut FrameReader,
    tx: &mpsc::Sender<Bytes>,
) -> anyhow::Result<Established> {
    let hello_bytes = next_frame(reader).await?;
    let hello = HandshakeMessage::decode_from_slice(&hello_bytes).context("decoding ClientHello")?;
    let hello = hello.client_hello.into_option().context("no ClientHello")?;
    let client_eph = key32(hello.ephemeral.context("ClientHello without ephemeral")?, "client ephemeral")?;
    let prologue = WA_CONN_HEADER;

    if let (Some(enc_static), Some(enc_payload)) = (hello.r#static.as_ref(), hello.payload.as_ref())
        && let Ok(done) = accept_ik_hello(identity, &client_eph, enc_static, enc_payload, tx).await
    {
        return Ok(done);
    }
    // XX, or XXfallback after an IK we could not (or would not) complete.
    let pattern = if hello.r#static.is_some() { NOISE_PATTERN_XXFALLBACK } else { NOISE_PATTERN_XX };
    let mut noise = NoiseHandshake::new(pattern, &prologue)?;
    noise.authenticate(&client_eph);
    let eph = KeyPair::generate(&mut rand::rng());
    let eph_pub: [u8; 32] = key32(eph.public_key.public_key_bytes().to_vec(), "ephemeral")?;
    noise.authenticate(&eph_pub);
    noise.mix_shared_secret(eph.private_key.serialize(), &client_eph)?;
    let enc_static = noise.encrypt(&identity.static_public())?;
    noise.mix_shared_secret(identity.static_kp.private_key.serialize(), &client_eph)?;
    let enc_cert = noise.encrypt(&identity.cert_chain)?;
    tx.send(frame(&server_hello(&eph_pub, Some(enc_static), enc_cert))?).await.context("client left")?;

    let finish_bytes = next_frame(reader).await?;
    let finish = HandshakeMessage::decode_from_slice(&finish_bytes).context("decoding ClientFinish")?;
    let finish = finish.client_finish.into_option().context("no ClientFinish")?;
    let client_static =
        key32(noise.decrypt(&finish.r#static.context("ClientFinish without static")?)?, "client static")?;
    noise.mix_shared_secret(eph.private_key.serialize(), &client_static)?;
    let payload = noise.decrypt(&finish.payload.context("ClientFinish without payload")?)?;
    let payload = wa::ClientPayload::decode_from_slice(&payload).context("decoding ClientPayload")?;
    let (first, second) = noise.finish()?;
    // The split is (initiator -> responder, responder -> initiator).
    Ok(Established { read: first, write: second, client_static, payload, resumed_with_ik: false })
}

async fn accept_ik_hello(
    identity: &ServerIdentity,
    client_eph: &[u8; 32],
    enc_static: &[u8],
    enc_payload: &[u8],
    tx: &mpsc::Sender<Bytes>,
) -> anyhow::Result<Established> {
    let mut noise = NoiseHandshake::new(NOISE_PATTERN_IK, &WA_CONN_HEADER)?;
    noise.authenticate(&identity.static_public());
    noise.authenticate(client_eph);
    noise.mix_shared_secret(identity.static_kp.private_key.serialize(), client_eph)?;
    let client_static = key32(noise.decrypt(enc_static)?, "client static")?;
    noise.mix_shared_secret(identity.static_kp.private_key.serialize(), &client_static)?;
    let payload = noise.decrypt(enc_payload)?;
    let payload = wa::ClientPayload::decode_from_slice(&payload).context("decoding ClientPayload")?;

    let eph = KeyPair::generate(&mut rand::rng());
    let eph_pub: [u8; 32] = key32(eph.public_key.public_key_bytes().to_vec(), "ephemeral")?;
    noise.authenticate(&eph_pub);
    noise.mix_shared_secret(eph.private_key.serialize(), client_eph)?;
    noise.mix_shared_secret(eph.private_key.serialize(), &client_static)?;
    let enc_cert = noise.encrypt(&identity.cert_chain)?;
    tx.send(frame(&server_hello(&eph_pub, None, enc_cert))?).await.context("client left")?;
    let (first, second) = noise.finish()?;
    Ok(Established { read: first, write: second, client_static, payload, resumed_with_ik: true })
}

/// Decrypts the client's transport frames in order.
pub struct Decryptor {
    cipher: NoiseCipher,
    counter: u32,
}

impl Decryptor {
    pub fn new(cipher: NoiseCipher) -> Self {
        Self { cipher, counter: 0 }
    }

    /// The decrypted, unpacked binary node bytes of one frame.
    pub fn open(&mut self, mut frame: BytesMut) -> anyhow::Result<Vec<u8>> {
        self.cipher.decrypt_in_place_with_counter(self.counter, &mut frame).map_err(|e| anyhow!("decrypt: {e}"))?;
        self.counter = self.counter.checked_add(1).context("read counter exhausted")?;
        Ok(wacore_binary::util::unpack(&frame)?.into_owned())
    }
}

/// Encrypts the server's frames in order.
pub struct Encryptor {
    cipher: NoiseCipher,
    counter: u32,
}

impl Encryptor {
    pub fn new(cipher: NoiseCipher) -> Self {
        Self { cipher, counter: 0 }
    }

    pub fn seal(&mut self, node: &wacore_binary::Node) -> anyhow::Result<Bytes> {
        let plain = wacore_binary::marshal::marshal(node)?;
        let sealed = self.cipher.encrypt_with_counter(self.counter, &plain).map_err(|e| anyhow!("encrypt: {e}"))?;
        self.counter = self.counter.checked_add(1).context("write counter exhausted")?;
        frame(&sealed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_with_and_without_edge_routing() {
        assert_eq!(parse_header(b"W").unwrap(), None);
        assert_eq!(parse_header(&WA_CONN_HEADER).unwrap(), Some(4));
        let mut ed = b"ED\0\x01\0\0\x02xy".to_vec();
        ed.extend_from_slice(&WA_CONN_HEADER);
        assert_eq!(parse_header(&ed).unwrap(), Some(13));
        assert!(parse_header(b"GET / HTTP/1.1").is_err());
    }
}
