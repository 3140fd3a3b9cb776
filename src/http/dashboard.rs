//! The dashboard: the files of `assets/`, embedded in the binary when it is
//! built (no Node build, nothing from a CDN), compressed once at start-up and
//! served with validators. Every file but the page is served under one
//! prefix named after the content of them all (`/assets/{version}/…`), which
//! `index.html` links to; the ES modules import each other by relative paths,
//! so they stay under it, and browsers keep them all for a year and fetch
//! them again only when a new binary changes one. The page is a client of the
//! public API: everything it shows or does goes through the routes in the
//! OpenAPI document, authenticated by the login cookie, and it stays live
//! through `GET /events`.

use std::{io::Write as _, sync::LazyLock};

use axum::{
    body::Body,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use sha2::{Digest, Sha256};

use crate::error::ApiError;

/// Where the dashboard lives.
pub const PATH: &str = "/app";

/// Embeds files of `assets/` by their path there.
macro_rules! embed {
    ($($path:literal),* $(,)?) => { [$(($path, include_bytes!(concat!("../../assets/", $path)) as &[u8])),*] };
}

/// Every file of `assets/` (a test fails when one is missing here).
const FILES: &[(&str, &[u8])] = &embed![
    "index.html",
    "app.css",
    "app.js",
    "lang/en.js",
    "lang/id.js",
    "lib/api.js",
    "lib/dom.js",
    "lib/events.js",
    "lib/i18n.js",
    "lib/mentions.js",
    "lib/state.js",
    "pages/analytics.js",
    "pages/bot.js",
    "pages/broadcasts.js",
    "pages/customers.js",
    "pages/groups.js",
    "pages/inbox/composer.js",
    "pages/inbox/index.js",
    "pages/inbox/list.js",
    "pages/inbox/panel.js",
    "pages/inbox/timeline.js",
    "pages/keys.js",
    "pages/messages.js",
    "pages/profile.js",
    "pages/sessions.js",
    "pages/users.js",
    "pages/webhooks.js",
];

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next() {
        Some("html") => "text/html; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        _ => "application/octet-stream",
    }
}

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

struct Assets {
    /// Names every file's content: the prefix the page links them under.
    version: String,
    files: Vec<(&'static str, Asset)>,
}

static ASSETS: LazyLock<Assets> = LazyLock::new(|| {
    let hash = |bytes: &[u8]| hex::encode(&Sha256::digest(bytes)[..8]);
    let mut all = Sha256::new();
    for (path, bytes) in FILES.iter().filter(|(path, _)| *path != "index.html") {
        all.update((path.len() as u64).to_le_bytes());
        all.update(path.as_bytes());
        all.update((bytes.len() as u64).to_le_bytes());
        all.update(bytes);
    }
    let version = hex::encode(&all.finalize()[..8]);
    let files = FILES
        .iter()
        .map(|(path, bytes)| {
            let mut body = bytes.to_vec();
            if *path == "index.html" {
                // The page links the others under the prefix of this version.
                let page = String::from_utf8_lossy(&body).replace("\"/assets/", &format!("\"/assets/{version}/"));
                body = page.into_bytes();
            }
            let asset = Asset { content_type: content_type(path), gzip: gzip(&body), version: hash(&body), body };
            (*path, asset)
        })
        .collect();
    Assets { version, files }
});

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(bytes).expect("writing to memory");
    encoder.finish().expect("writing to memory")
}

fn asset(name: &str) -> Option<&'static Asset> {
    ASSETS.files.iter().find(|(n, _)| *n == name).map(|(_, a)| a)
}

/// The sizes of the dashboard's files: `(bytes, gzip-compressed bytes)`, all together.
pub fn total_size() -> (usize, usize) {
    ASSETS.files.iter().fold((0, 0), |(plain, packed), (_, a)| (plain + a.body.len(), packed + a.gzip.len()))
}

/// `GET /app`: the dashboard's page.
pub async fn page(headers: HeaderMap) -> Response {
    serve(asset("index.html").expect("index.html is embedded"), &headers, false)
}

/// `GET /assets/{version}/{path}`: the page's modules and styles. Those of
/// another version (a page loaded before an upgrade) get today's, not to be
/// kept.
pub async fn file(
    axum::extract::Path((version, path)): axum::extract::Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let found = asset(&path).filter(|_| path != "index.html").ok_or_else(|| ApiError::not_found("asset"))?;
    Ok(serve(found, &headers, version == ASSETS.version))
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
    if asset.content_type.starts_with("text/html") {
        h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    }
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
            let link = format!("\"/assets/{}/{name}\"", ASSETS.version);
            assert!(page.contains(&link), "{name} is not linked as {link}");
        }
        assert!(!page.contains("\"/assets/app"), "an unversioned link is left");
        let (plain, packed) = total_size();
        assert!(packed < plain / 2, "{packed} of {plain}");
    }

    #[tokio::test]
    async fn only_the_current_version_is_kept() {
        let get = |version: &str, path: &str| {
            file(axum::extract::Path((version.to_owned(), path.to_owned())), HeaderMap::new())
        };
        let current = get(&ASSETS.version, "pages/inbox/list.js").await.unwrap();
        assert_eq!(current.headers()[header::CACHE_CONTROL], "public, max-age=31536000, immutable");
        assert_eq!(current.headers()[header::CONTENT_TYPE], "text/javascript; charset=utf-8");
        let older = get("0123456789abcdef", "pages/inbox/list.js").await.unwrap();
        assert_eq!(older.headers()[header::CACHE_CONTROL], "no-cache");
        for missing in ["index.html", "nope.js", "../Cargo.toml"] {
            assert!(get(&ASSETS.version, missing).await.is_err(), "{missing} is served");
        }
    }

    /// A JavaScript string literal starting at `text[0]` (its quote): its
    /// value and the rest after it.
    fn literal(text: &str) -> Option<(String, &str)> {
        let quote = text.chars().next().filter(|q| matches!(q, '\'' | '"'))?;
        let mut value = String::new();
        let mut chars = text[1..].char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => value.push(chars.next()?.1),
                c if c == quote => return Some((value, &text[1 + i + 1..])),
                '\n' => return None,
                c => value.push(c),
            }
        }
        None
    }

    /// `lang/<code>.js`: its entries, one `'key': 'text',` a line.
    fn table(code: &str) -> std::collections::BTreeMap<String, String> {
        let source = std::str::from_utf8(asset(&format!("lang/{code}.js")).unwrap().body.as_ref()).unwrap().to_owned();
        let mut entries = std::collections::BTreeMap::new();
        for line in source.lines().filter(|l| l.starts_with("  '")) {
            let (key, rest) = literal(line.trim_start()).unwrap_or_else(|| panic!("lang/{code}.js: {line}"));
            let (text, end) = literal(rest.trim_start_matches(':').trim_start()).unwrap_or_else(|| panic!("{line}"));
            assert_eq!(end, ",", "lang/{code}.js: one entry a line: {line}");
            assert!(entries.insert(key.clone(), text).is_none(), "lang/{code}.js: {key:?} twice");
        }
        entries
    }

    /// Every text the dashboard shows goes through `t('…')` with a literal
    /// key, found in both languages' tables, with the same `{placeholders}`;
    /// neither table keeps a key no page uses.
    #[test]
    fn every_text_is_in_both_languages() {
        let mut used = std::collections::BTreeSet::new();
        for (path, _) in FILES.iter().filter(|(p, _)| p.ends_with(".js") && !p.starts_with("lang/")) {
            let source = std::str::from_utf8(asset(path).unwrap().body.as_ref()).unwrap().to_owned();
            // Comment lines are left out (they may speak of t()).
            let code: String =
                source.lines().filter(|l| !l.trim_start().starts_with("//")).flat_map(|l| [l, "\n"]).collect();
            let mut rest = code.as_str();
            while let Some(at) = rest.find("t(") {
                let before = rest[..at].chars().next_back();
                rest = &rest[at + 2..];
                if before.is_some_and(|c| c.is_alphanumeric() || matches!(c, '_' | '.' | '$')) {
                    continue; // part of another name: split(, at(, .t(
                }
                let call = rest.trim_start();
                if call.starts_with("key, vars)") && *path == "lib/i18n.js" {
                    continue; // its definition
                }
                let (key, _) = literal(call).unwrap_or_else(|| {
                    panic!("{path}: t() takes a literal text, not {:?}", &call[..call.len().min(30)])
                });
                used.insert(key);
            }
        }
        fn placeholders(text: &str) -> Vec<&str> {
            let mut names: Vec<&str> =
                text.split('{').skip(1).filter_map(|p| p.split_once('}').map(|(n, _)| n)).collect();
            names.sort_unstable();
            names
        }
        for code in ["en", "id"] {
            let entries = table(code);
            let keys: std::collections::BTreeSet<String> = entries.keys().cloned().collect();
            let missing: Vec<_> = used.difference(&keys).collect();
            assert!(missing.is_empty(), "lang/{code}.js lacks {missing:?}");
            let unused: Vec<_> = keys.difference(&used).collect();
            assert!(unused.is_empty(), "lang/{code}.js keeps what no page shows: {unused:?}");
            for (key, text) in &entries {
                assert_eq!(placeholders(key), placeholders(text), "lang/{code}.js: {key:?}");
                assert!(!text.trim().is_empty(), "lang/{code}.js: {key:?} is empty");
            }
        }
    }

    /// Every file under `assets/` is embedded and served; and what a module
    /// imports is one of them.
    #[test]
    fn every_asset_is_served() {
        fn walk(dir: &std::path::Path, root: &std::path::Path, found: &mut Vec<String>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    walk(&path, root, found);
                } else {
                    found.push(path.strip_prefix(root).unwrap().to_string_lossy().replace('\\', "/"));
                }
            }
        }
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets");
        let mut on_disk = Vec::new();
        walk(&root, &root, &mut on_disk);
        on_disk.sort();
        let mut embedded: Vec<String> = FILES.iter().map(|(p, _)| p.to_string()).collect();
        embedded.sort();
        assert_eq!(on_disk, embedded, "assets/ and the files dashboard.rs serves differ");
        for (path, bytes) in FILES.iter().filter(|(p, _)| p.ends_with(".js")) {
            let text = std::str::from_utf8(bytes).unwrap();
            // `import … from './x.js';` and `import('./x.js')`.
            let statics =
                text.lines().filter(|l| l.starts_with("import ")).map(|l| l.rsplit(['\'', '"']).nth(1).unwrap());
            let dynamics = text.split("import('").skip(1).map(|rest| rest.split('\'').next().unwrap());
            for target in statics.chain(dynamics) {
                let mut parts: Vec<&str> = path.split('/').collect();
                parts.pop();
                for step in target.split('/') {
                    match step {
                        "." => {}
                        ".." => {
                            parts.pop();
                        }
                        name => parts.push(name),
                    }
                }
                let resolved = parts.join("/");
                assert!(asset(&resolved).is_some(), "{path} imports {target}, which is not served");
            }
        }
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
