//! Media for image and document messages: fetched from a URL under an SSRF
//! guard, or uploaded; kept in `data_dir/media/` until the message is sent.
//!
//! The guard: only http(s); every address a host name resolves to, on the
//! first request and on each redirect, must be public (no loopback, private,
//! link-local — cloud metadata lives there —, shared, multicast or reserved
//! ranges), unless `media.allow_private_addresses` (tests) says otherwise. The
//! check sits in the resolver, so the address connected to is the address
//! checked. Size is capped while reading; the whole fetch is timed.

use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use reqwest::{
    dns::{Addrs, Name, Resolve, Resolving},
    redirect,
};

use crate::config::MediaConfig;

const MAX_REDIRECTS: usize = 5;

#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error("{0}")]
    NotAllowed(String),
    #[error("the file is larger than {0} bytes")]
    TooLarge(u64),
    #[error("cannot fetch it: {0}")]
    Fetch(String),
    /// The gateway's own disk failed it (full, read-only): not the caller's fault.
    #[error("cannot store it: {0}")]
    Store(std::io::Error),
}

/// A file fetched from a URL (staged in the media directory), with what the
/// server said about it.
pub struct Fetched {
    pub file: Staged,
    pub content_type: Option<String>,
    /// The last path segment of the URL, when it looks like a file name.
    pub filename: Option<String>,
}

#[derive(Clone)]
pub struct Fetcher {
    client: reqwest::Client,
    policy: Arc<AddressPolicy>,
    timeout: Duration,
}

impl Fetcher {
    pub fn new(config: &MediaConfig) -> anyhow::Result<Fetcher> {
        let policy = Arc::new(AddressPolicy { allow_private: config.allow_private_addresses, allowed: Vec::new() });
        let checked = policy.clone();
        let redirects = redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() >= MAX_REDIRECTS {
                attempt.error(Blocked(format!("more than {MAX_REDIRECTS} redirects")))
            } else if let Err(e) = check_url(attempt.url(), &checked) {
                attempt.error(Blocked(format!("redirected to a refused address: {e}")))
            } else {
                attempt.follow()
            }
        });
        let client = reqwest::Client::builder()
            .redirect(redirects)
            .no_proxy()
            .dns_resolver(Arc::new(GuardedResolver { policy: policy.clone() }))
            .connect_timeout(config.fetch_timeout)
            .user_agent(concat!("wagate/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Fetcher { client, policy, timeout: config.fetch_timeout })
    }

    /// Fetches `url` into `store`'s staging area, refusing more than `max` bytes.
    pub async fn fetch(&self, url: &str, max: u64, store: &MediaStore) -> Result<Fetched, MediaError> {
        let parsed = url::Url::parse(url).map_err(|e| MediaError::NotAllowed(format!("not a URL: {e}")))?;
        check_url(&parsed, &self.policy).map_err(MediaError::NotAllowed)?;
        match tokio::time::timeout(self.timeout, self.read(parsed, max, store)).await {
            Ok(result) => result,
            Err(_) => Err(MediaError::Fetch(format!(
                "no complete answer within {}",
                humantime::format_duration(self.timeout)
            ))),
        }
    }

    async fn read(&self, url: url::Url, max: u64, store: &MediaStore) -> Result<Fetched, MediaError> {
        let mut response = self.client.get(url).send().await.map_err(describe)?;
        let status = response.status();
        if !status.is_success() {
            return Err(MediaError::Fetch(format!("the server answered {status}")));
        }
        if response.content_length().is_some_and(|n| n > max) {
            return Err(MediaError::TooLarge(max));
        }
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
            .filter(|v| !v.is_empty());
        let filename = response
            .url()
            .path_segments()
            .and_then(|mut s| s.next_back().map(str::to_owned))
            .filter(|s| s.contains('.'))
            .map(|s| percent_decode(&s));
        let mut staging = store.stage().map_err(stage_failed)?;
        while let Some(chunk) = response.chunk().await.map_err(describe)? {
            if staging.size() + chunk.len() as u64 > max {
                return Err(MediaError::TooLarge(max));
            }
            staging.write(chunk).await.map_err(stage_failed)?;
        }
        let file = staging.finish().await.map_err(stage_failed)?;
        Ok(Fetched { file, content_type, filename })
    }
}

fn stage_failed(err: std::io::Error) -> MediaError {
    tracing::error!(error = %err, "cannot write a fetched media file");
    MediaError::Store(err)
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(hex) = s.get(i + 1..i + 3)
            && let Ok(b) = u8::from_str_radix(hex, 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A refusal of the guard, found again in reqwest's error chain.
#[derive(Debug)]
struct Blocked(String);

impl std::fmt::Display for Blocked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Blocked {}

fn describe(err: reqwest::Error) -> MediaError {
    if let Some(why) = refusal(&err) {
        return MediaError::NotAllowed(why);
    }
    let what = if err.is_timeout() {
        "timed out".to_owned()
    } else if err.is_connect() {
        "cannot connect".to_owned()
    } else if err.is_redirect() {
        "too many redirects".to_owned()
    } else {
        "the transfer failed".to_owned()
    };
    MediaError::Fetch(what)
}

/// Only http(s), and no literal address that is not public.
pub fn check_url(url: &url::Url, policy: &AddressPolicy) -> Result<(), String> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("only http and https URLs are allowed, not {}:", url.scheme()));
    }
    let ip = match url.host() {
        None => return Err("the URL has no host".into()),
        Some(url::Host::Domain(_)) => return Ok(()), // checked when resolved
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip),
    };
    if policy.permits(ip) { Ok(()) } else { Err("the URL's host is not a public address".into()) }
}

/// Which addresses an outgoing request of the gateway may reach: public ones,
/// those in `allowed` (a LAN a setting opens), or all with `allow_private`.
#[derive(Clone, Default)]
pub struct AddressPolicy {
    pub allow_private: bool,
    pub allowed: Vec<crate::http::client_addr::Cidr>,
}

impl AddressPolicy {
    pub fn permits(&self, ip: IpAddr) -> bool {
        self.allow_private || is_public(ip) || self.allowed.iter().any(|range| range.contains(ip))
    }
}

/// A resolver that refuses a name resolving to any address the policy does
/// not permit, so the address connected to is the address checked.
pub struct GuardedResolver {
    pub policy: Arc<AddressPolicy>,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            // The address itself is not told: that would map the gateway's network for the caller.
            if addrs.iter().any(|a| !policy.permits(a.ip())) {
                return Err(Box::new(Blocked(format!("{host} resolves to an address that is not public")))
                    as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// The guard's refusal inside a reqwest error, if that is what it is.
pub fn refusal(err: &reqwest::Error) -> Option<String> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = source {
        if let Some(blocked) = e.downcast_ref::<Blocked>() {
            return Some(blocked.0.clone());
        }
        source = e.source();
    }
    None
}

/// Whether `ip` is a public unicast address (what a media URL may reach): not
/// in any block of IANA's IPv4 and IPv6 special-purpose address registries
/// (those marked globally reachable too: no media lives there), nor outside
/// IPv6 global unicast; addresses that embed an IPv4 address (mapped, the
/// well-known NAT64 prefix) are judged by that address.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_v4(v4);
            }
            let s = v6.segments();
            // NAT64, well-known prefix 64:ff9b::/96 (RFC 6052): an IPv4 address in the last 32 bits.
            if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
                let v4 = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
                return is_public_v4(v4);
            }
            let in_block = |prefix: [u16; 3], bits: u32| {
                let value = (u64::from(s[0]) << 32) | (u64::from(s[1]) << 16) | u64::from(s[2]);
                let want = (u64::from(prefix[0]) << 32) | (u64::from(prefix[1]) << 16) | u64::from(prefix[2]);
                let mask = !0u64 << (48 - bits) & 0xffff_ffff_ffff;
                value & mask == want & mask
            };
            // Global unicast is 2000::/3; everything else (::/96 IPv4-compatible, 100::/64
            // discard, 64:ff9b:1::/48 local NAT64, 5f00::/16 SRv6, fc00::/7, fe80::/10,
            // ff00::/8, ...) is special or unallocated.
            in_block([0x2000, 0, 0], 3)
                && !(in_block([0x2001, 0, 0], 23) // IETF protocol assignments: Teredo, ORCHID, AMT, ...
                    || in_block([0x2001, 0x0db8, 0], 32) // documentation
                    || in_block([0x2002, 0, 0], 16) // 6to4
                    || in_block([0x2620, 0x004f, 0x8000], 48) // AS112 direct delegation
                    || in_block([0x3fff, 0, 0], 20)) // documentation (RFC 9637)
        }
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local() // 169.254/16: cloud metadata
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 192 && b == 31 && c == 196) // AS112-v4
        || (a == 192 && b == 52 && c == 193) // AMT
        || (a == 192 && b == 88 && c == 99) // 6to4 relay anycast (deprecated)
        || (a == 192 && b == 175 && c == 48) // AS112 direct delegation
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240) // reserved
}

/// Where accepted media waits for its message to be sent.
#[derive(Clone)]
pub struct MediaStore {
    dir: PathBuf,
}

impl MediaStore {
    pub fn new(data_dir: &Path) -> std::io::Result<MediaStore> {
        let dir = data_dir.join("media");
        std::fs::create_dir_all(&dir)?;
        Ok(MediaStore { dir })
    }

    /// Where message `id`'s media file is (the sender streams it from there).
    pub fn file(&self, id: &str) -> PathBuf {
        self.dir.join(id)
    }

    /// Starts receiving a file: see [`Staging`].
    pub fn stage(&self) -> std::io::Result<Staging> {
        use rand::Rng;
        let name: [u8; 12] = rand::rng().random();
        let path = self.dir.join(format!("{}.part", hex::encode(name)));
        Staging::start(path)
    }

    /// Moves a staged file into place as message `id`'s media, durably (the
    /// file was synced when staged; the rename is synced here), before the
    /// message row that names it is committed.
    pub async fn keep(&self, mut staged: Staged, id: &str) -> std::io::Result<()> {
        let path = self.file(id);
        let dir = self.dir.clone();
        let from = staged.path.take().ok_or_else(|| std::io::Error::other("the staged file was already kept"))?;
        let moved = from.clone();
        let result = tokio::task::spawn_blocking(move || {
            std::fs::rename(&moved, &path)?;
            std::fs::File::open(&dir)?.sync_all()
        })
        .await
        .map_err(std::io::Error::other)
        .and_then(|r| r);
        if result.is_err() {
            staged.path = Some(from); // removed when dropped
        }
        result
    }

    /// Names of the files kept: message ids, and `.part` files of writes that never finished.
    pub async fn names(&self) -> std::io::Result<Vec<String>> {
        let mut names = Vec::new();
        let mut entries = tokio::fs::read_dir(&self.dir).await?;
        while let Some(entry) = entries.next_entry().await? {
            if let Ok(name) = entry.file_name().into_string() {
                names.push(name);
            }
        }
        Ok(names)
    }

    /// Forgets the bytes of a message that no longer needs them.
    pub async fn remove(&self, id: &str) {
        match tokio::fs::remove_file(self.file(id)).await {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                tracing::warn!(message_id = %id, error = %e, "cannot remove media file");
            }
            _ => {}
        }
    }
}

/// How many chunks may wait for the disk per file being received.
const STAGING_CHUNKS: usize = 8;

/// A file being received into the media directory (`<random>.part`). Chunks
/// go through a short channel to a blocking thread that writes and hashes
/// them, so neither memory nor an async worker carries the file. Dropped
/// before [`finish`](Staging::finish) (the client went away, a limit was
/// hit), the file is removed.
pub struct Staging {
    chunks: tokio::sync::mpsc::Sender<Option<bytes::Bytes>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<Staged>>>,
    size: u64,
}

impl Staging {
    fn start(path: PathBuf) -> std::io::Result<Staging> {
        let (chunks, mut rx) = tokio::sync::mpsc::channel::<Option<bytes::Bytes>>(STAGING_CHUNKS);
        let file = std::fs::OpenOptions::new().write(true).create_new(true).open(&path)?;
        let task = tokio::task::spawn_blocking(move || {
            use sha2::Digest;
            use std::io::Write;
            let mut file = file;
            let written = (|| {
                let mut hasher = sha2::Sha256::new();
                let mut head = Vec::with_capacity(HEAD_BYTES);
                let mut size = 0u64;
                loop {
                    match rx.blocking_recv() {
                        Some(Some(chunk)) => {
                            file.write_all(&chunk)?;
                            hasher.update(&chunk);
                            let wanted = HEAD_BYTES.saturating_sub(head.len()).min(chunk.len());
                            head.extend_from_slice(&chunk[..wanted]);
                            size += chunk.len() as u64;
                        }
                        Some(None) => break,
                        None => return Err(std::io::Error::other("the transfer was abandoned")),
                    }
                }
                file.sync_all()?;
                Ok((size, hex::encode(hasher.finalize()), head))
            })();
            match written {
                Ok((size, sha256, head)) => Ok(Staged { path: Some(path), size, sha256, head }),
                Err(e) => {
                    let _ = std::fs::remove_file(&path);
                    Err(e)
                }
            }
        });
        Ok(Staging { chunks, task: Some(task), size: 0 })
    }

    /// Bytes written so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Queues a chunk for the disk; waits while the disk is behind.
    pub async fn write(&mut self, chunk: bytes::Bytes) -> std::io::Result<()> {
        if chunk.is_empty() {
            return Ok(());
        }
        let len = chunk.len() as u64;
        if self.chunks.send(Some(chunk)).await.is_err() {
            // The writer stopped: its error says why.
            return Err(self.join().await.err().unwrap_or_else(|| std::io::Error::other("the media writer stopped")));
        }
        self.size += len;
        Ok(())
    }

    /// The whole file, synced to disk, with its size, SHA-256 and first bytes.
    pub async fn finish(mut self) -> std::io::Result<Staged> {
        let _ = self.chunks.send(None).await;
        self.join().await
    }

    async fn join(&mut self) -> std::io::Result<Staged> {
        let task = self.task.take().ok_or_else(|| std::io::Error::other("the media writer already ended"))?;
        task.await.map_err(std::io::Error::other)?
    }
}

/// How many leading bytes a staged file keeps at hand, to tell its type by.
const HEAD_BYTES: usize = 16;

/// A received file on disk, not yet any message's; removed when dropped
/// unless [`MediaStore::keep`] took it.
pub struct Staged {
    path: Option<PathBuf>,
    pub size: u64,
    /// SHA-256, hex.
    pub sha256: String,
    /// The first bytes, for [`image_type`].
    pub head: Vec<u8>,
}

impl std::fmt::Debug for Staged {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Staged").field("size", &self.size).field("sha256", &self.sha256).finish()
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if let Some(path) = self.path.take()
            && let Err(e) = std::fs::remove_file(&path)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(path = %path.display(), error = %e, "cannot remove a staged media file");
        }
    }
}

/// The image type the bytes are, by their signature: WhatsApp shows JPEG and PNG.
pub fn image_type(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else {
        None
    }
}

/// A document's MIME type from its file name, for the common kinds.
pub fn document_type(filename: &str) -> &'static str {
    let ext = filename.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default();
    match ext.as_str() {
        "pdf" => "application/pdf",
        "txt" => "text/plain",
        "csv" => "text/csv",
        "doc" => "application/msword",
        "docx" => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "xls" => "application/vnd.ms-excel",
        "xlsx" => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "ppt" => "application/vnd.ms-powerpoint",
        "pptx" => "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "zip" => "application/zip",
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_addresses_pass() {
        for bad in [
            "127.0.0.1",
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fe80::1",
            "fd00:ec2::254",
            "::ffff:127.0.0.1",
            "::ffff:10.1.2.3",
            "64:ff9b::a9fe:a9fe",
            // IPv4-compatible (deprecated), 6to4, local-use NAT64, Teredo, discard-only, ORCHIDv2,
            // documentation, SRv6, multicast, AS112, and the rest of the IPv4 registry.
            "::127.0.0.1",
            "::8.8.8.8",
            "2002:7f00:1::1",
            "2002:0808:0808::1",
            "64:ff9b:1::a00:1",
            "64:ff9b:1::808:808",
            "2001::1",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "100::1",
            "2001:20::1",
            "2001:db8::1",
            "3fff::1",
            "5f00::1",
            "ff02::1",
            "2620:4f:8000::1",
            "192.0.0.9",
            "192.31.196.1",
            "192.52.193.1",
            "192.88.99.1",
            "192.175.48.1",
            "198.18.0.1",
            "203.0.113.7",
            "240.0.0.1",
        ] {
            assert!(!is_public(bad.parse().unwrap()), "{bad}");
        }
        for good in [
            "93.184.216.34",
            "8.8.8.8",
            "2606:2800:220:1:248:1893:25c8:1946",
            "2a00:1450:4001:80b::200e",
            "64:ff9b::808:808",
            "::ffff:8.8.8.8",
        ] {
            assert!(is_public(good.parse().unwrap()), "{good}");
        }
    }

    #[tokio::test]
    async fn a_refusal_does_not_tell_the_resolved_address() {
        let fetcher = Fetcher::new(&MediaConfig::default()).unwrap();
        let (dir, store) = temp_store();
        let err = fetcher.fetch("http://localhost:9/a.jpg", 1024, &store).await.err().expect("refused");
        let MediaError::NotAllowed(message) = err else { panic!("refused by the guard, got {err}") };
        assert_eq!(message, "localhost resolves to an address that is not public");
        let err = fetcher.fetch("http://[::ffff:10.0.0.1]/a.jpg", 1024, &store).await.err().expect("refused");
        assert!(!err.to_string().contains("10.0.0.1"), "{err}");
        assert!(files_in(&dir).is_empty(), "a refused fetch leaves no file");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn urls_are_checked_before_any_request() {
        let check = |u: &str| check_url(&url::Url::parse(u).unwrap(), &AddressPolicy::default());
        assert!(check("file:///etc/passwd").is_err());
        assert!(check("ftp://example.com/x").is_err());
        assert!(check("http://127.0.0.1/x").is_err());
        assert!(check("http://[::1]:8080/x").is_err());
        assert!(check("http://169.254.169.254/latest/meta-data").is_err());
        assert!(check("http://2130706433/").is_err(), "decimal spelling of 127.0.0.1");
        assert!(check("https://example.com/a.jpg").is_ok());
        let open = AddressPolicy { allow_private: true, allowed: Vec::new() };
        assert!(check_url(&url::Url::parse("http://127.0.0.1/x").unwrap(), &open).is_ok());
        let lan = AddressPolicy {
            allow_private: false,
            allowed: vec![crate::http::client_addr::Cidr::parse("10.20.0.0/16").unwrap()],
        };
        assert!(check_url(&url::Url::parse("http://10.20.3.4/billing").unwrap(), &lan).is_ok());
        assert!(check_url(&url::Url::parse("http://10.21.3.4/billing").unwrap(), &lan).is_err());
    }

    fn temp_store() -> (PathBuf, MediaStore) {
        use rand::Rng;
        let dir = std::env::temp_dir().join(format!("wagate-media-{:x}", rand::rng().random::<u64>()));
        let store = MediaStore::new(&dir).unwrap();
        (dir, store)
    }

    fn files_in(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir.join("media"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    #[tokio::test]
    async fn a_staged_file_is_written_hashed_and_kept() {
        use sha2::Digest;
        let (dir, store) = temp_store();
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let mut staging = store.stage().unwrap();
        for chunk in data.chunks(7_000) {
            staging.write(bytes::Bytes::copy_from_slice(chunk)).await.unwrap();
        }
        assert_eq!(staging.size(), data.len() as u64);
        let staged = staging.finish().await.unwrap();
        assert_eq!(staged.size, data.len() as u64);
        assert_eq!(staged.sha256, hex::encode(sha2::Sha256::digest(&data)));
        assert_eq!(staged.head, data[..HEAD_BYTES]);
        store.keep(staged, "3EB0AA").await.unwrap();
        assert_eq!(files_in(&dir), ["3EB0AA"]);
        assert_eq!(std::fs::read(store.file("3EB0AA")).unwrap(), data);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test]
    async fn an_abandoned_or_unused_staged_file_is_removed() {
        let (dir, store) = temp_store();
        // The client went away mid-upload.
        let mut staging = store.stage().unwrap();
        staging.write(bytes::Bytes::from_static(b"half a file")).await.unwrap();
        assert_eq!(files_in(&dir).len(), 1);
        drop(staging);
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while !files_in(&dir).is_empty() {
            assert!(std::time::Instant::now() < deadline, "the abandoned file stayed: {:?}", files_in(&dir));
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // A whole file that no message took (a replayed request, a refusal).
        let mut staging = store.stage().unwrap();
        staging.write(bytes::Bytes::from_static(b"\x89PNG\r\n\x1a\n")).await.unwrap();
        let staged = staging.finish().await.unwrap();
        assert_eq!(image_type(&staged.head), Some("image/png"));
        assert_eq!(files_in(&dir).len(), 1);
        drop(staged);
        assert!(files_in(&dir).is_empty());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn sniffs_images_and_names_documents() {
        assert_eq!(image_type(&[0xFF, 0xD8, 0xFF, 0xE0]), Some("image/jpeg"));
        assert_eq!(image_type(b"\x89PNG\r\n\x1a\nrest"), Some("image/png"));
        assert_eq!(image_type(b"%PDF-1.4"), None);
        assert_eq!(document_type("Invoice.PDF"), "application/pdf");
        assert_eq!(document_type("noext"), "application/octet-stream");
    }
}
