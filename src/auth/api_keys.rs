//! API keys: `wag_<12-char id>_<40-char secret>`. Only the id part (`prefix`, used
//! to find the row) and the SHA-256 of the whole key are stored; the key is shown
//! once at creation. Comparison of hashes is constant-time.

use rand::{Rng, distr::Alphanumeric};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder,
};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::db::{self, entities::api_keys};

const SCHEME: &str = "wag_";
const ID_LEN: usize = 12;
const SECRET_LEN: usize = 40;

pub fn random_alphanumeric(len: usize) -> String {
    rand::rng().sample_iter(&Alphanumeric).take(len).map(char::from).collect()
}

/// A freshly generated key: `(full key, prefix, hash)`.
pub fn generate() -> (String, String, String) {
    let id: String = random_alphanumeric(ID_LEN).to_ascii_lowercase();
    let prefix = format!("{SCHEME}{id}");
    let key = format!("{prefix}_{}", random_alphanumeric(SECRET_LEN));
    let hash = hash(&key);
    (key, prefix, hash)
}

pub fn hash(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// Whether a presented credential has the shape of one of our keys.
pub fn looks_like_key(value: &str) -> bool {
    value.starts_with(SCHEME)
}

/// The stored prefix of a well-formed key, `None` for anything else.
pub fn prefix_of(key: &str) -> Option<&str> {
    let rest = key.strip_prefix(SCHEME)?;
    let (id, secret) = rest.split_once('_')?;
    let well_formed = id.len() == ID_LEN
        && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && secret.len() == SECRET_LEN
        && secret.bytes().all(|b| b.is_ascii_alphanumeric());
    well_formed.then(|| &key[..SCHEME.len() + ID_LEN])
}

pub fn matches(key: &str, stored_hash: &str) -> bool {
    hash(key).as_bytes().ct_eq(stored_hash.as_bytes()).into()
}

/// Stores a new key for `user_id` and returns its row and the key, which is not
/// kept anywhere and so can be shown only now.
pub async fn create(
    db: &DatabaseConnection,
    user_id: i64,
    name: &str,
    sessions: Option<&[String]>,
) -> Result<(api_keys::Model, String), DbErr> {
    let (key, prefix, hash) = generate();
    let sessions = sessions.map(|s| serde_json::to_string(s).expect("a list of strings serialises"));
    let row = api_keys::ActiveModel {
        user_id: Set(user_id),
        name: Set(name.trim().to_owned()),
        prefix: Set(prefix),
        key_hash: Set(hash),
        sessions: Set(sessions),
        created_at: Set(db::now()),
        last_used_at: Set(None),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok((row, key))
}

pub async fn list_for(db: &DatabaseConnection, user_id: i64) -> Result<Vec<api_keys::Model>, DbErr> {
    api_keys::Entity::find()
        .filter(api_keys::Column::UserId.eq(user_id))
        .order_by_asc(api_keys::Column::Id)
        .all(db)
        .await
}

/// Deletes key `id` if it belongs to `owner` (any key when `owner` is `None`);
/// `false` when there was no such key.
pub async fn delete(db: &DatabaseConnection, id: i64, owner: Option<i64>) -> Result<bool, DbErr> {
    let mut query = api_keys::Entity::delete_many().filter(api_keys::Column::Id.eq(id));
    if let Some(owner) = owner {
        query = query.filter(api_keys::Column::UserId.eq(owner));
    }
    Ok(query.exec(db).await?.rows_affected > 0)
}

/// The session list a key is limited to, as stored. An unreadable list limits the
/// key to no session at all rather than widening it to every session.
pub fn sessions_of(row: &api_keys::Model) -> Option<Vec<String>> {
    row.sessions.as_deref().map(|json| serde_json::from_str(json).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_parse_and_match_only_themselves() {
        let (key, prefix, hash) = generate();
        assert!(key.starts_with("wag_"));
        assert_eq!(prefix_of(&key), Some(prefix.as_str()));
        assert!(matches(&key, &hash));
        let (other, _, _) = generate();
        assert!(!matches(&other, &hash));
        assert_ne!(key, other);
        assert!(!hash.contains(&key[prefix.len() + 1..]));
    }

    #[test]
    fn malformed_keys_have_no_prefix() {
        for bad in ["", "wag_", "wag_abc_def", "xyz_abcdefghijkl_0123456789012345678901234567890123456789"] {
            assert_eq!(prefix_of(bad), None, "{bad}");
        }
    }
}
