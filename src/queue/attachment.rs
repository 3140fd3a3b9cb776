//! What a send attaches (an image or a document, by URL or upload): its
//! fields checked before anything is fetched or queued, then made into a
//! message's content, the URL fetched through the address guard and the file
//! sniffed. The HTTP handlers (`/message/send-*`, `/chats/messages`) only
//! read requests into a [`MediaRequest`] and answer a [`Refusal`].

use serde_json::Value;

use super::{
    Content,
    media::{self, Fetcher, MediaError, MediaStore, Staged},
};
use crate::{config::MediaConfig, validation};

/// WhatsApp's own limit on captions (texts: [`super::MAX_TEXT_CHARS`]).
pub const MAX_CAPTION_CHARS: usize = 1_024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Image,
    Document,
}

impl Kind {
    /// The request field that carries it.
    pub fn field(self) -> &'static str {
        match self {
            Kind::Image => "image",
            Kind::Document => "document",
        }
    }
}

/// Where an image or document comes from.
pub enum Source {
    Url(String),
    /// A file part, already on disk (and hashed) when the request is read.
    Upload {
        file: Staged,
        filename: Option<String>,
        content_type: Option<String>,
    },
}

/// An image or document to send, from JSON or a form.
pub struct MediaRequest {
    pub caption: Option<String>,
    pub filename: Option<String>,
    pub mimetype: Option<String>,
    pub source: Source,
}

/// Why media is refused; `field` names the request's field.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    #[error("{message}")]
    Invalid { field: &'static str, message: String },
    #[error("{field}: the file is larger than {max} bytes")]
    TooLarge { field: &'static str, max: u64 },
    #[error("URL refused: {why}")]
    UrlRefused { field: &'static str, why: String },
    #[error("cannot fetch the URL: {why}")]
    Unreachable { field: &'static str, why: String },
    /// The gateway's own disk failed it: not the caller's fault.
    #[error("cannot store the file: {0}")]
    Store(std::io::Error),
}

fn invalid(field: &'static str, message: impl Into<String>) -> Refusal {
    Refusal::Invalid { field, message: message.into() }
}

pub fn check_filename(name: &str) -> Result<(), Refusal> {
    let ok = !name.trim().is_empty()
        && name.chars().count() <= 255
        && !name.chars().any(|c| c.is_control() || c == '/' || c == '\\');
    if ok { Ok(()) } else { Err(invalid("filename", "must be 1-255 characters, without / \\ or control characters")) }
}

pub fn check_mimetype(value: &str) -> Result<(), Refusal> {
    let ok = value.len() <= 127
        && value.split_once('/').is_some_and(|(a, b)| {
            let token =
                |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_alphanumeric() || b"!#$&^_.+-".contains(&c));
            token(a) && token(b)
        });
    if ok { Ok(()) } else { Err(invalid("mimetype", "must be a MIME type like application/pdf")) }
}

/// An image or document whose fields passed their checks; its bytes are
/// fetched (or taken from the upload) only once the request is to be queued.
pub struct CheckedMedia {
    /// What identifies the request (for `Idempotency-Key`): fields and the URL or the upload's SHA-256.
    pub identity: Value,
    req: MediaRequest,
    kind: Kind,
    max: u64,
}

impl CheckedMedia {
    pub fn check(req: MediaRequest, kind: Kind, limits: &MediaConfig) -> Result<CheckedMedia, Refusal> {
        let field = kind.field();
        if let Some(caption) = &req.caption {
            validation::check_text(caption, MAX_CAPTION_CHARS).map_err(|e| invalid("caption", e))?;
        }
        if let Some(name) = &req.filename {
            check_filename(name)?;
        }
        if let Some(mimetype) = &req.mimetype {
            check_mimetype(mimetype)?;
        }
        let max = match kind {
            Kind::Image => limits.max_image_bytes,
            Kind::Document => limits.max_document_bytes,
        };
        let origin = match &req.source {
            Source::Url(url) => {
                // Refused before anything is fetched or queued.
                let parsed = url::Url::parse(url).map_err(|_| invalid(field, "must be an http(s) URL"))?;
                if !matches!(parsed.scheme(), "http" | "https") {
                    return Err(invalid(field, format!("must be an http(s) URL, not {}:", parsed.scheme())));
                }
                serde_json::json!({"url": url})
            }
            Source::Upload { file, .. } => {
                if file.size > max {
                    return Err(Refusal::TooLarge { field, max });
                }
                serde_json::json!({"sha256": file.sha256})
            }
        };
        let identity = serde_json::json!({
            "caption": req.caption, "filename": req.filename, "mimetype": req.mimetype, "media": origin,
        });
        Ok(CheckedMedia { identity, req, kind, max })
    }

    /// Whether [`CheckedMedia::content`] fetches a URL (rather than take an upload).
    pub fn fetches(&self) -> bool {
        matches!(self.req.source, Source::Url(_))
    }

    /// The message content: the URL fetched (through `fetcher`'s address
    /// guard, staged in `store`) or the upload, checked.
    pub async fn content(self, fetcher: &Fetcher, store: &MediaStore) -> Result<Content, Refusal> {
        let CheckedMedia { req, kind, max, .. } = self;
        let field = kind.field();
        let (file, found_name, found_type) = match req.source {
            Source::Url(url) => {
                let fetched = fetcher.fetch(&url, max, store).await.map_err(|e| match e {
                    MediaError::NotAllowed(why) => Refusal::UrlRefused { field, why },
                    MediaError::TooLarge(_) => Refusal::TooLarge { field, max },
                    MediaError::Fetch(why) => Refusal::Unreachable { field, why },
                    MediaError::Store(e) => Refusal::Store(e),
                })?;
                (fetched.file, fetched.filename, fetched.content_type)
            }
            Source::Upload { file, filename, content_type } => (file, filename, content_type),
        };
        if file.size == 0 {
            return Err(invalid(field, "the file is empty"));
        }
        match kind {
            Kind::Image => {
                let mimetype =
                    media::image_type(&file.head).ok_or_else(|| invalid(field, "is not a JPEG or PNG image"))?;
                Ok(Content::Image { file, mimetype: mimetype.to_owned(), caption: req.caption })
            }
            Kind::Document => {
                let filename = req
                    .filename
                    .or(found_name.filter(|n| check_filename(n).is_ok()))
                    .ok_or_else(|| invalid("filename", "is required (the URL names no file)"))?;
                let generic = |t: &String| t == "application/octet-stream" || t.starts_with("text/html");
                let mimetype = req
                    .mimetype
                    .or(found_type.filter(|t| !generic(t) && check_mimetype(t).is_ok()))
                    .unwrap_or_else(|| media::document_type(&filename).to_owned());
                Ok(Content::Document { file, mimetype, filename, caption: req.caption })
            }
        }
    }
}
