//! Media for image and document messages: fetched from a URL under an SSRF
//! guard, or uploaded; kept in `data_dir/media/` until the message is sent.
//!
//! The guard ([`crate::net`]): only http(s); every address a host name
//! resolves to, on the first request and on each redirect, must be public (no
//! loopback, private, link-local — cloud metadata lives there —, shared,
//! multicast or reserved ranges), unless `media.allow_private_addresses`
//! (tests) says otherwise. Size is capped while reading; the whole fetch is timed.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use reqwest::redirect;

use crate::{
    config::MediaConfig,
    net::{AddressPolicy, Blocked, GuardedResolver, check_url, refusal},
};

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

impl Staged {
    /// Where the file is, until it is kept or dropped.
    pub fn path(&self) -> &Path {
        self.path.as_deref().expect("a staged file has its path until dropped")
    }
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

/// An MP4 (or 3GPP) video, by its `ftyp` box; audio-only brands are not video.
pub fn video_type(bytes: &[u8]) -> Option<&'static str> {
    if bytes.get(4..8) != Some(b"ftyp") {
        return None;
    }
    match bytes.get(8..12)? {
        b"M4A " | b"M4B " | b"M4P " => None,
        brand if brand.starts_with(b"3g") => Some("video/3gpp"),
        _ => Some("video/mp4"),
    }
}

/// A WebP image (what WhatsApp's stickers are).
pub fn webp_type(bytes: &[u8]) -> Option<&'static str> {
    (bytes.get(..4) == Some(b"RIFF") && bytes.get(8..12) == Some(b"WEBP")).then_some("image/webp")
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
        assert_eq!(video_type(b"\x00\x00\x00\x18ftypmp42\x00\x00"), Some("video/mp4"));
        assert_eq!(video_type(b"\x00\x00\x00\x18ftypM4A \x00\x00"), None);
        assert_eq!(webp_type(b"RIFF\x10\x00\x00\x00WEBPVP8 "), Some("image/webp"));
        assert_eq!(webp_type(b"RIFF\x10\x00\x00\x00WAVEfmt "), None);
    }
}
