//! `Idempotency-Key` at the edge: reading the header, the hash of what a
//! request asks (a retry with the same key must ask the same), and the 202
//! that says when it gave back what an earlier request made. The stores keep
//! the key with what it made; these are the HTTP halves, one for every send.

use axum::{
    Json,
    http::{HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use serde::Serialize;
use sha2::Digest;

use crate::error::ApiError;

/// The `Idempotency-Key` header, if sent.
pub fn key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get("idempotency-key") else { return Ok(None) };
    let bad = || ApiError::invalid_field("Idempotency-Key", "must be 1-255 visible ASCII characters");
    let key = value.to_str().map_err(|_| bad())?.trim();
    if key.is_empty() || key.len() > 255 || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(bad());
    }
    Ok(Some(key.to_owned()))
}

/// What a request asks, as the hash stored with its key.
pub fn hash_of(value: serde_json::Value) -> String {
    hex::encode(sha2::Sha256::digest(value.to_string().as_bytes()))
}

/// 202 with `body`; a replay (what an earlier request with the same key made)
/// says so in `Idempotent-Replayed: true`.
pub struct Accepted<T> {
    pub body: T,
    pub replayed: bool,
}

impl<T: Serialize> IntoResponse for Accepted<T> {
    fn into_response(self) -> Response {
        let mut response = (StatusCode::ACCEPTED, Json(self.body)).into_response();
        if self.replayed {
            response.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
        }
        response
    }
}
