//! JSON Web Tokens (HS256) carrying `sub` (user id), `role`, `iat`, `exp` and
//! `ver`, the user's token version when it was issued: a password change bumps
//! the version, and every token issued before it stops being accepted.
//! The secret comes from `auth.jwt_secret` or is generated once and kept in
//! `data_dir/jwt_secret`, so tokens survive restarts.

use std::{path::Path, time::Duration};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use super::Role;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub role: Role,
    pub iat: i64,
    pub exp: i64,
    /// The user's `token_version` at issue (tokens from before versions existed: 0).
    #[serde(default)]
    pub ver: i64,
}

#[derive(Clone)]
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    expires_in: Duration,
}

impl JwtKeys {
    pub fn new(secret: &[u8], expires_in: Duration) -> Self {
        Self { encoding: EncodingKey::from_secret(secret), decoding: DecodingKey::from_secret(secret), expires_in }
    }

    pub fn expires_in(&self) -> Duration {
        self.expires_in
    }

    pub fn issue(&self, user_id: i64, role: Role, version: i64) -> anyhow::Result<String> {
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            sub: user_id.to_string(),
            role,
            iat: now,
            exp: now + self.expires_in.as_secs() as i64,
            ver: version,
        };
        Ok(jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)?)
    }

    /// The claims of a valid, unexpired token signed with our secret.
    pub fn verify(&self, token: &str) -> Option<Claims> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 5;
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation).ok().map(|d| d.claims)
    }
}

/// The configured secret, or the one kept in `data_dir/jwt_secret` (created on
/// first use, readable by the owner only).
pub fn load_or_create_secret(configured: &str, data_dir: &Path) -> anyhow::Result<Vec<u8>> {
    if !configured.is_empty() {
        return Ok(configured.as_bytes().to_vec());
    }
    let secret = crate::files::kept_secret(&data_dir.join("jwt_secret"), "JWT secret", || {
        super::api_keys::random_alphanumeric(64)
    })?;
    anyhow::ensure!(secret.len() >= 32, "data_dir/jwt_secret holds a secret shorter than 32 characters");
    Ok(secret.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_tokens_verify_and_foreign_ones_do_not() {
        let keys = JwtKeys::new(b"0123456789abcdef0123456789abcdef", Duration::from_secs(3600));
        let token = keys.issue(7, Role::User, 3).unwrap();
        let claims = keys.verify(&token).unwrap();
        assert_eq!((claims.sub.as_str(), claims.role, claims.ver), ("7", Role::User, 3));
        let other = JwtKeys::new(b"fedcba9876543210fedcba9876543210", Duration::from_secs(3600));
        assert!(other.verify(&token).is_none());
        assert!(keys.verify("not.a.token").is_none());
    }

    #[test]
    fn secret_file_is_created_once() {
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_create_secret("", dir.path()).unwrap();
        let second = load_or_create_secret("", dir.path()).unwrap();
        assert_eq!(first, second);
        assert_eq!(first.len(), 64);
    }
}
