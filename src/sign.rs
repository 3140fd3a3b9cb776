//! Standard Webhooks 1.0 signatures: `webhook-signature: v1,<base64 of
//! HMAC-SHA256(key, "{id}.{timestamp}.{body}")>`, several space-separated
//! while a rotated secret still signs.

use base64::{Engine, engine::general_purpose::STANDARD};
use hmac::{KeyInit, Mac};

const PREFIX: &str = "whsec_";

/// A signing key, from its `whsec_…` form.
#[derive(Clone)]
pub struct Key(Vec<u8>);

impl Key {
    /// `whsec_` and the base64 of 24 to 64 bytes.
    pub fn parse(secret: &str) -> Result<Key, String> {
        let encoded = secret.strip_prefix(PREFIX).ok_or("a secret starts with whsec_")?;
        let bytes = STANDARD.decode(encoded).map_err(|_| "a secret is whsec_ and base64")?;
        Key::from_bytes(bytes)
    }

    /// A key from its bytes, as [`as_bytes`](Self::as_bytes) gave them.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Key, String> {
        if !(24..=64).contains(&bytes.len()) {
            return Err("a secret holds 24 to 64 bytes".into());
        }
        Ok(Key(bytes))
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// A new random secret, in its `whsec_…` form.
    pub fn generate() -> String {
        use rand::Rng;
        let bytes: [u8; 32] = rand::rng().random();
        format!("{PREFIX}{}", STANDARD.encode(bytes))
    }

    /// `v1,<signature>` of one message.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&self.0).expect("HMAC takes a key of any length");
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key(***)")
    }
}

/// The `webhook-signature` header: one signature per key, space-separated.
pub fn header(keys: &[Key], id: &str, timestamp: i64, body: &[u8]) -> String {
    keys.iter().map(|k| k.sign(id, timestamp, body)).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The test vector Standard Webhooks publishes with its specification.
    #[test]
    fn signs_the_published_test_vector() {
        let key = Key::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let signature = key.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, br#"{"test": 2432232314}"#);
        assert_eq!(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn secrets_are_checked_and_generated_well_formed() {
        assert!(Key::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").is_err(), "no prefix");
        assert!(Key::parse("whsec_not base64!").is_err());
        assert!(Key::parse("whsec_c2hvcnQ=").is_err(), "5 bytes");
        let generated = Key::generate();
        assert!(generated.starts_with("whsec_"));
        assert!(Key::parse(&generated).is_ok());
        assert_ne!(generated, Key::generate());
    }

    #[test]
    fn a_rotation_signs_with_both() {
        let (old, new) = (Key::parse(&Key::generate()).unwrap(), Key::parse(&Key::generate()).unwrap());
        let both = header(&[new.clone(), old.clone()], "msg_1", 1, b"{}");
        let parts: Vec<&str> = both.split(' ').collect();
        assert_eq!(parts, [new.sign("msg_1", 1, b"{}"), old.sign("msg_1", 1, b"{}")]);
    }
}
