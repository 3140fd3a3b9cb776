//! Secrets the gateway must read back (webhook signing keys) are kept in the
//! database sealed: AES-256-GCM under a key that lives outside it
//! (`storage.secrets_key`, or `data_dir/secrets_key`, made once, 0600), so a
//! dump of the database alone gives none of them away.
//!
//! A sealed value is `s1.` and the unpadded base64url of a random 12-byte
//! nonce, the ciphertext and its 16-byte tag. Each use has its own context,
//! bound as associated data: a value sealed for one use does not open as
//! another.

use std::path::Path;

use anyhow::Context;
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};

const PREFIX: &str = "s1.";
const TAG_LEN: usize = 16;

/// The key that seals and opens stored secrets.
pub struct Sealer(LessSafeKey);

impl Sealer {
    /// The configured key (base64 of 32 bytes), or the one kept in
    /// `data_dir/secrets_key` (made on first use, readable by the owner only).
    pub fn load_or_create(configured: &str, data_dir: &Path) -> anyhow::Result<Sealer> {
        let (encoded, origin) = match configured {
            "" => {
                let path = data_dir.join("secrets_key");
                let kept = crate::files::kept_secret(&path, "key for stored secrets", || {
                    use rand::Rng;
                    URL_SAFE_NO_PAD.encode(rand::rng().random::<[u8; 32]>())
                })?;
                (kept, "data_dir/secrets_key")
            }
            configured => (configured.trim().to_owned(), "storage.secrets_key"),
        };
        Sealer::from_base64(&encoded).with_context(|| format!("{origin} is not usable"))
    }

    /// A key from the base64 (standard or URL-safe, padded or not) of 32 bytes.
    pub fn from_base64(encoded: &str) -> anyhow::Result<Sealer> {
        let trimmed = encoded.trim().trim_end_matches('=');
        let bytes = URL_SAFE_NO_PAD
            .decode(trimmed.replace('+', "-").replace('/', "_"))
            .map_err(|_| anyhow::anyhow!("a key is the base64 of 32 random bytes"))?;
        anyhow::ensure!(bytes.len() == 32, "a key is the base64 of 32 random bytes, not {}", bytes.len());
        let key = UnboundKey::new(&AES_256_GCM, &bytes).map_err(|_| anyhow::anyhow!("not an AES-256 key"))?;
        Ok(Sealer(LessSafeKey::new(key)))
    }

    /// `plain`, sealed for `context`.
    pub fn seal(&self, context: &str, plain: &[u8]) -> String {
        use rand::Rng;
        let nonce: [u8; NONCE_LEN] = rand::rng().random();
        let mut body = plain.to_vec();
        self.0
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(context.as_bytes()), &mut body)
            .expect("sealing fits in memory");
        let mut sealed = nonce.to_vec();
        sealed.extend_from_slice(&body);
        format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(sealed))
    }

    /// What [`seal`](Self::seal) sealed for `context` with this key; `None` for
    /// anything else (another key, another context, a changed or plain value).
    pub fn open(&self, context: &str, sealed: &str) -> Option<Vec<u8>> {
        let bytes = URL_SAFE_NO_PAD.decode(sealed.strip_prefix(PREFIX)?).ok()?;
        if bytes.len() < NONCE_LEN + TAG_LEN {
            return None;
        }
        let (nonce, body) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut body = body.to_vec();
        let plain = self.0.open_in_place(nonce, Aad::from(context.as_bytes()), &mut body).ok()?;
        Some(plain.to_vec())
    }

    /// Whether `value` is in the sealed form (opened or not).
    pub fn is_sealed(value: &str) -> bool {
        value.starts_with(PREFIX)
    }
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_with_their_key_and_context() {
        let dir = tempfile::tempdir().unwrap();
        let sealer = Sealer::load_or_create("", dir.path()).unwrap();
        let again = Sealer::load_or_create("", dir.path()).unwrap();
        let plain = b"a webhook signing key of 32 byte";
        let sealed = sealer.seal("webhook", plain);
        assert!(Sealer::is_sealed(&sealed));
        assert!(!sealed.contains("signing"), "{sealed}");
        assert_ne!(sealed, sealer.seal("webhook", plain), "every seal has its own nonce");
        assert_eq!(again.open("webhook", &sealed).as_deref(), Some(&plain[..]), "the kept key is read back");
        assert_eq!(sealer.open("other", &sealed), None);
        let other = Sealer::from_base64(&URL_SAFE_NO_PAD.encode([7u8; 32])).unwrap();
        assert_eq!(other.open("webhook", &sealed), None);
        let mut changed = sealed.clone().into_bytes();
        let last = changed.len() - 1;
        changed[last] = if changed[last] == b'A' { b'B' } else { b'A' };
        assert_eq!(sealer.open("webhook", std::str::from_utf8(&changed).unwrap()), None);
        assert_eq!(sealer.open("webhook", "whsec_plain"), None);
        assert_eq!(sealer.open("webhook", "s1."), None);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("secrets_key")).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn configured_keys_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        assert!(Sealer::load_or_create("c2hvcnQ", dir.path()).is_err());
        let standard = base64::engine::general_purpose::STANDARD.encode([9u8; 32]);
        let sealer = Sealer::load_or_create(&standard, dir.path()).unwrap();
        let url_safe = Sealer::from_base64(&URL_SAFE_NO_PAD.encode([9u8; 32])).unwrap();
        assert_eq!(url_safe.open("x", &sealer.seal("x", b"same key")).as_deref(), Some(&b"same key"[..]));
        assert!(!dir.path().join("secrets_key").exists(), "a configured key writes no file");
    }
}
