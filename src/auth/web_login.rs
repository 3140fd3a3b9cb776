//! The dashboard's login: a random token in an HttpOnly, SameSite=Strict
//! cookie, of which only the SHA-256 is stored (`web_logins`). Page scripts
//! cannot read the cookie, other sites' pages cannot send it, and a write
//! made with it must carry the gateway's own `Origin` ([`same_origin`]), so a
//! page elsewhere cannot act for the user. Logging out deletes the row; a
//! password change or the expiry ends the login too.

use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, header};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter};

use super::api_keys::{hash, random_alphanumeric};
use crate::{
    db::entities::{users, web_logins},
    model::now_ms,
};

/// The cookie's name.
pub const COOKIE: &str = "wagate_session";
const TOKEN_LEN: usize = 43;

/// Starts a login for `user` lasting `ttl`: the token for the cookie. Expired
/// logins of anyone are deleted on the way (the table holds live ones only).
pub async fn open(db: &DatabaseConnection, user: &users::Model, ttl: Duration) -> Result<String, DbErr> {
    let now = now_ms();
    web_logins::Entity::delete_many().filter(web_logins::Column::ExpiresAt.lt(now)).exec(db).await?;
    let token = random_alphanumeric(TOKEN_LEN);
    web_logins::ActiveModel {
        token_hash: Set(hash(&token)),
        user_id: Set(user.id),
        token_version: Set(user.token_version),
        created_at: Set(now),
        expires_at: Set(now.saturating_add(ttl.as_millis() as i64)),
    }
    .insert(db)
    .await?;
    Ok(token)
}

/// The live login this token belongs to.
pub async fn find(db: &DatabaseConnection, token: &str) -> Result<Option<web_logins::Model>, DbErr> {
    if token.len() != TOKEN_LEN || !token.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Ok(None);
    }
    let row = web_logins::Entity::find_by_id(hash(token)).one(db).await?;
    Ok(row.filter(|row| row.expires_at > now_ms()))
}

/// Ends the login this token belongs to (if any).
pub async fn close(db: &DatabaseConnection, token: &str) -> Result<(), DbErr> {
    web_logins::Entity::delete_by_id(hash(token)).exec(db).await?;
    Ok(())
}

/// The login token the request's cookies carry.
pub fn token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.trim())
}

/// Whether the request comes from a page of the gateway itself: its `Origin`
/// names the host the request was sent to. Browsers send `Origin` with every
/// write (`fetch` or form); a request without one is refused.
pub fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else { return false };
    let Some(host) = headers.get(header::HOST).and_then(|v| v.to_str().ok()) else { return false };
    let authority = origin.strip_prefix("https://").or_else(|| origin.strip_prefix("http://"));
    authority.is_some_and(|a| a.eq_ignore_ascii_case(host))
}

/// `Set-Cookie` for a new login: HttpOnly, SameSite=Strict, for the whole
/// site, `Secure` when the page was loaded over HTTPS.
pub fn set_cookie(token: &str, ttl: Duration, headers: &HeaderMap) -> HeaderValue {
    let secure = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()).is_some_and(|o| o.starts_with("https://"));
    let value = format!(
        "{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{}",
        ttl.as_secs(),
        if secure { "; Secure" } else { "" }
    );
    HeaderValue::from_str(&value).expect("a cookie of safe characters")
}

/// `Set-Cookie` that removes the login cookie.
pub fn clear_cookie() -> HeaderValue {
    HeaderValue::from_str(&format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0")).expect("a cookie")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn the_token_is_read_from_any_cookie_header() {
        let h = headers(&[("cookie", "a=1; wagate_session=abc ; b=2")]);
        assert_eq!(token(&h), Some("abc"));
        let h = headers(&[("cookie", "a=1"), ("cookie", "wagate_session=xyz")]);
        assert_eq!(token(&h), Some("xyz"));
        assert_eq!(token(&headers(&[("cookie", "wagate_sessionx=1")])), None);
    }

    #[test]
    fn only_the_gateways_own_origin_is_same_origin() {
        let ok = headers(&[("host", "gw.lan:8080"), ("origin", "http://gw.lan:8080")]);
        assert!(same_origin(&ok));
        assert!(same_origin(&headers(&[("host", "GW.lan"), ("origin", "https://gw.LAN")])));
        for origin in ["http://evil.example", "http://gw.lan:8081", "null", "gw.lan:8080"] {
            assert!(!same_origin(&headers(&[("host", "gw.lan:8080"), ("origin", origin)])), "{origin}");
        }
        assert!(!same_origin(&headers(&[("host", "gw.lan:8080")])));
    }

    #[test]
    fn cookies_are_http_only_and_strict() {
        let c = set_cookie("t", Duration::from_secs(60), &headers(&[("origin", "https://gw")]));
        assert_eq!(c, "wagate_session=t; Path=/; HttpOnly; SameSite=Strict; Max-Age=60; Secure");
        let c = set_cookie("t", Duration::from_secs(60), &HeaderMap::new());
        assert!(!c.to_str().unwrap().contains("Secure"));
    }
}
