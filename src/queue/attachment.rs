//! What a send attaches (an image, video, audio file, voice note, sticker or
//! document, by URL or upload): its fields checked before anything is fetched
//! or queued, then made into a message's content, the URL fetched through the
//! address guard and the file sniffed (a voice note read for its length and
//! waveform). The HTTP handlers (`/message/send-*`, `/chats/messages`) only
//! read requests into a [`MediaRequest`] and answer a [`Refusal`].

use serde_json::Value;

use super::{
    Content,
    content::{VideoDetails, VoiceDetails},
    media::{self, Fetcher, MediaError, MediaStore, Staged},
    voice,
};
use crate::{config::MediaConfig, validation};

/// WhatsApp's own limit on captions (texts: [`super::MAX_TEXT_CHARS`]).
pub const MAX_CAPTION_CHARS: usize = 1_024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Image,
    Video,
    /// An audio file, played as a file.
    Audio,
    /// A voice note: Ogg/Opus only.
    Voice,
    Sticker,
    Document,
}

impl Kind {
    /// The request field that carries it, and the message's type.
    pub fn field(self) -> &'static str {
        match self {
            Kind::Image => "image",
            Kind::Video => "video",
            Kind::Audio => "audio",
            Kind::Voice => "voice",
            Kind::Sticker => "sticker",
            Kind::Document => "document",
        }
    }

    /// Whether WhatsApp shows a caption with it.
    pub fn has_caption(self) -> bool {
        super::content::has_caption(self.field())
    }

    fn max(self, limits: &MediaConfig) -> u64 {
        match self {
            Kind::Image => limits.max_image_bytes,
            Kind::Video => limits.max_video_bytes,
            Kind::Audio | Kind::Voice => limits.max_audio_bytes,
            Kind::Sticker => limits.max_sticker_bytes,
            Kind::Document => limits.max_document_bytes,
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
    /// Videos: play as a looping GIF.
    pub gif: bool,
    pub source: Source,
}

impl MediaRequest {
    /// Media from `source` with nothing else said.
    pub fn of(source: Source) -> MediaRequest {
        MediaRequest { caption: None, filename: None, mimetype: None, gif: false, source }
    }
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
            if !kind.has_caption() {
                return Err(invalid("caption", format!("WhatsApp shows no caption with a {} message", kind.field())));
            }
            validation::check_text(caption, MAX_CAPTION_CHARS).map_err(|e| invalid("caption", e))?;
        }
        if req.gif && kind != Kind::Video {
            return Err(invalid("gif", "only a video plays as a GIF"));
        }
        if let Some(name) = &req.filename {
            check_filename(name)?;
        }
        if let Some(mimetype) = &req.mimetype {
            check_mimetype(mimetype)?;
        }
        let max = kind.max(limits);
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
        let mut identity = serde_json::json!({
            "caption": req.caption, "filename": req.filename, "mimetype": req.mimetype, "media": origin,
        });
        if req.gif {
            // Only when asked: the identity of every other request stays what it was.
            identity["gif"] = true.into();
        }
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
        let sniffed = |what: &str, found: Option<&'static str>| {
            found.map(str::to_owned).ok_or_else(|| invalid(field, format!("is not {what}")))
        };
        let (mimetype, filename, extra) = match kind {
            Kind::Image => (sniffed("a JPEG or PNG image", media::image_type(&file.head))?, None, None),
            Kind::Video => {
                let mimetype = sniffed("an MP4 video", media::video_type(&file.head))?;
                let extra = req.gif.then(|| serde_json::to_value(VideoDetails { gif: true }).expect("plain data"));
                (mimetype, None, extra)
            }
            Kind::Audio => {
                let what = "an audio file (MP3, AAC, M4A, Ogg, WAV, AMR or FLAC)";
                (sniffed(what, voice::audio_type(&file.head))?, None, None)
            }
            Kind::Voice => {
                match voice::audio_type(&file.head) {
                    Some("audio/ogg") => {}
                    Some(other) => {
                        let codec = voice::format_name(other);
                        return Err(invalid(field, format!("must be Ogg/Opus; this file is {codec} audio")));
                    }
                    None => return Err(invalid(field, "must be Ogg/Opus audio")),
                }
                let path = file.path().to_owned();
                let read = tokio::task::spawn_blocking(move || voice::read(&path))
                    .await
                    .map_err(|e| Refusal::Store(std::io::Error::other(e)))?;
                let note = read.map_err(|why| invalid(field, why))?;
                use base64::Engine as _;
                let details = VoiceDetails {
                    seconds: note.seconds,
                    waveform: base64::engine::general_purpose::STANDARD.encode(&note.waveform),
                };
                ("audio/ogg; codecs=opus".to_owned(), None, Some(serde_json::to_value(details).expect("plain data")))
            }
            Kind::Sticker => (sniffed("a WebP image", media::webp_type(&file.head))?, None, None),
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
                (mimetype, Some(filename), None)
            }
        };
        Ok(Content::Media { kind, file, mimetype, filename, caption: req.caption, extra })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_is_identified_as_before_gifs_existed() {
        // An Idempotency-Key retry made across an upgrade must still match.
        let url = || Source::Url("https://example.com/a.png".into());
        let plain = CheckedMedia::check(MediaRequest::of(url()), Kind::Image, &MediaConfig::default()).unwrap();
        let before = serde_json::json!({
            "caption": null, "filename": null, "mimetype": null, "media": {"url": "https://example.com/a.png"},
        });
        assert_eq!(plain.identity, before);
        let gif = MediaRequest { gif: true, ..MediaRequest::of(url()) };
        let gif = CheckedMedia::check(gif, Kind::Video, &MediaConfig::default()).unwrap();
        assert_eq!(gif.identity["gif"], true);
        let refused = CheckedMedia::check(
            MediaRequest { gif: true, ..MediaRequest::of(url()) },
            Kind::Image,
            &MediaConfig::default(),
        );
        assert!(matches!(refused, Err(Refusal::Invalid { field: "gif", .. })));
    }
}
