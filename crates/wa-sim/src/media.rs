//! Media: `media_conn` hands out this simulator as the upload host; uploads are
//! kept as sent (encrypted), downloads return them, and a contact decrypts what
//! a message points to with the message's media key.

use std::collections::HashMap;

use sha2::{Digest, Sha256};
use wacore::download::{DownloadUtils, MediaType};
use wacore_binary::{Node, builder::NodeBuilder};

use crate::{Sim, conn::iq_result};

/// The host name clients are told to upload to and download from.
pub const MEDIA_HOST: &str = "mmg.wa-sim.local";

#[derive(Default)]
pub struct MediaStore {
    blobs: HashMap<String, Vec<u8>>,
    /// Downloads fail (503) until then.
    pub down_until: Option<std::time::Instant>,
}

pub fn media_conn(sim: &Sim, node: &Node) -> Node {
    iq_result(node)
        .children([NodeBuilder::new("media_conn")
            .attr("auth", sim.media_auth().to_owned())
            .attr("ttl", "3600")
            .attr("auth_ttl", "21600")
            .attr("max_buckets", "12")
            .children([NodeBuilder::new("host").attr("hostname", MEDIA_HOST).build()])
            .build()])
        .build()
}

impl MediaStore {
    /// Serves `blob` at `direct_path`.
    pub fn put(&mut self, direct_path: &str, blob: Vec<u8>) {
        self.blobs.insert(direct_path.to_owned(), blob);
    }
}

/// An HTTP request for the media host: `POST /mms/<type>/<token>` stores,
/// `GET <direct path>` fetches. `(status, body)`.
pub fn http(sim: &Sim, method: &str, path_and_query: &str, body: Option<&[u8]>) -> (u16, Vec<u8>) {
    let (path, query) = path_and_query.split_once('?').unwrap_or((path_and_query, ""));
    match (method, body) {
        ("POST", Some(body)) if path.starts_with("/mms/") => {
            if !query.split('&').any(|kv| kv == format!("auth={}", sim.media_auth())) {
                return (401, br#"{"error":"bad auth"}"#.to_vec());
            }
            if query.split('&').any(|kv| kv == "resume=1") {
                return (200, br#"{"resume":"0"}"#.to_vec());
            }
            let token = path.rsplit('/').next().unwrap_or_default();
            let direct_path = format!("/v/t62/{token}.enc");
            sim.media().blobs.insert(direct_path.clone(), body.to_vec());
            let url = format!("https://{MEDIA_HOST}{direct_path}");
            (200, serde_json::json!({ "url": url, "direct_path": direct_path }).to_string().into_bytes())
        }
        ("GET", _) if sim.media().down_until.is_some_and(|t| t > std::time::Instant::now()) => {
            (503, b"media host unavailable".to_vec())
        }
        ("GET", _) => match sim.media().blobs.get(path) {
            Some(blob) => (200, blob.clone()),
            None => (404, Vec::new()),
        },
        _ => (400, Vec::new()),
    }
}

/// SHA-256 (hex) of the plaintext a message's media points to, if it can be
/// fetched and decrypted.
pub fn download_sha256(sim: &Sim, direct_path: Option<&str>, media_key: Option<&[u8]>, kind: &str) -> Option<String> {
    let path = direct_path?.split('?').next()?;
    let encrypted = sim.media().blobs.get(path)?.clone();
    let media_type = match kind {
        "image" => MediaType::Image,
        "video" => MediaType::Video,
        "audio" => MediaType::Audio,
        "sticker" => MediaType::Sticker,
        _ => MediaType::Document,
    };
    let plain = DownloadUtils::verify_and_decrypt(&encrypted, media_key?, media_type).ok()?;
    Some(hex::encode(Sha256::digest(&plain)))
}
