//! The dashboard: the files of `assets/`, embedded in the binary when it is
//! built (no Node build, nothing from a CDN), compressed once at start-up and
//! served with validators. `index.html` names the other files with their
//! content hash (`/assets/app.js?v=…`), so browsers keep those for a year and
//! fetch them again only when a new binary changes them. The page is a client
//! of the public API: everything it shows or does goes through the routes in
//! the OpenAPI document, authenticated by the login cookie, and it stays live
//! through `GET /events`.

use std::{io::Write as _, sync::LazyLock};

use axum::{
    body::Body,
    extract::Query,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use sha2::{Digest, Sha256};

use crate::error::ApiError;

/// Where the dashboard lives.
pub const PATH: &str = "/app";

/// The embedded files: name, content type, content.
const FILES: [(&str, &str, &[u8]); 3] = [
    ("index.html", "text/html; charset=utf-8", include_bytes!("../../assets/index.html")),
    ("app.js", "text/javascript; charset=utf-8", include_bytes!("../../assets/app.js")),
    ("app.css", "text/css; charset=utf-8", include_bytes!("../../assets/app.css")),
];

/// What the page may load and where it may connect: only the gateway itself.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; \
                   media-src 'self' blob:; connect-src 'self'; form-action 'self'; base-uri 'none'; \
                   frame-ancestors 'none'";

struct Asset {
    content_type: &'static str,
    body: Vec<u8>,
    gzip: Vec<u8>,
    /// The content's hash, as the `ETag` and the `v` of versioned links.
    version: String,
}

static ASSETS: LazyLock<Vec<(&'static str, Asset)>> = LazyLock::new(|| {
    let version = |bytes: &[u8]| hex::encode(&Sha256::digest(bytes)[..8]);
    let mut assets: Vec<(&str, Asset)> = Vec::with_capacity(FILES.len());
    for (name, content_type, bytes) in FILES.iter().rev() {
        let mut body = bytes.to_vec();
        if *name == "index.html" {
            // Versioned links to the other files (listed after it, so done by now).
            let mut page = String::from_utf8_lossy(&body).into_owned();
            for (other, asset) in &assets {
                page = page.replace(&format!("/assets/{other}\""), &format!("/assets/{other}?v={}\"", asset.version));
            }
            body = page.into_bytes();
        }
        assets.push((name, Asset { content_type, gzip: gzip(&body), version: version(&body), body }));
    }
    assets
});

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(bytes).expect("writing to memory");
    encoder.finish().expect("writing to memory")
}

fn asset(name: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|(n, _)| *n == name).map(|(_, a)| a)
}

/// The sizes of the dashboard's files: `(bytes, gzip-compressed bytes)`, all together.
pub fn total_size() -> (usize, usize) {
    ASSETS.iter().fold((0, 0), |(plain, packed), (_, a)| (plain + a.body.len(), packed + a.gzip.len()))
}

/// `GET /app`: the dashboard's page.
pub async fn page(headers: HeaderMap) -> Response {
    serve(asset("index.html").expect("index.html is embedded"), &headers, false)
}

#[derive(serde::Deserialize)]
pub struct Version {
    v: Option<String>,
}

/// `GET /assets/{name}`: the page's script and styles.
pub async fn file(
    axum::extract::Path(name): axum::extract::Path<String>,
    Query(version): Query<Version>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let found = asset(&name).filter(|_| name != "index.html").ok_or_else(|| ApiError::not_found("asset"))?;
    let current = version.v.as_deref() == Some(found.version.as_str());
    Ok(serve(found, &headers, current))
}

fn serve(asset: &Asset, headers: &HeaderMap, immutable: bool) -> Response {
    let etag = format!("\"{}\"", asset.version);
    let cache = if immutable { "public, max-age=31536000, immutable" } else { "no-cache" };
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|tag| tag.trim().trim_start_matches("W/") == etag));
    let gzip = headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|e| e.split(';').next().unwrap_or("").trim() == "gzip"));
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else if gzip {
        let mut r = Response::new(Body::from(asset.gzip.clone()));
        r.headers_mut().insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        r
    } else {
        Response::new(Body::from(asset.body.clone()))
    };
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
    h.insert(header::ETAG, HeaderValue::from_str(&etag).expect("hex"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    response
}

/// Whether a request for `/` comes from a browser's address bar (it asks for
/// HTML) rather than from an API client.
pub fn wants_page(headers: &HeaderMap) -> bool {
    headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|v| v.contains("text/html"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_links_its_files_by_version() {
        let page = String::from_utf8(asset("index.html").unwrap().body.clone()).unwrap();
        for name in ["app.js", "app.css"] {
            let link = format!("/assets/{name}?v={}\"", asset(name).unwrap().version);
            assert!(page.contains(&link), "{name} is not linked as {link}");
        }
        let (plain, packed) = total_size();
        assert!(packed < plain / 2, "{packed} of {plain}");
    }

    #[test]
    fn validators_and_compression_are_honoured() {
        let js = asset("app.js").unwrap();
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT_ENCODING, HeaderValue::from_static("br, gzip;q=0.8"));
        let r = serve(js, &h, true);
        assert_eq!(r.headers()[header::CONTENT_ENCODING], "gzip");
        assert_eq!(r.headers()[header::CACHE_CONTROL], "public, max-age=31536000, immutable");
        h.insert(header::IF_NONE_MATCH, HeaderValue::from_str(&format!("\"{}\"", js.version)).unwrap());
        assert_eq!(serve(js, &h, false).status(), StatusCode::NOT_MODIFIED);
        let r = serve(js, &HeaderMap::new(), false);
        assert!(r.headers().get(header::CONTENT_ENCODING).is_none());
        assert_eq!(r.headers()[header::CACHE_CONTROL], "no-cache");
    }
}
