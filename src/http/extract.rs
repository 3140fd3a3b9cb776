//! Request extractors whose every rejection is an [`ApiError`]: a JSON body that is
//! checked for content type, size, syntax, types and `serde_valid` rules (the error
//! names the field), and path parameters.

use axum::{
    body::Bytes,
    extract::{FromRequest, FromRequestParts, Path, Request},
    http::{StatusCode, header, request::Parts},
};
use http_body_util::BodyExt;
use serde::de::DeserializeOwned;
use serde_json::error::Category;
use serde_valid::Validate;

use crate::{error::ApiError, http::state::AppState, validation};

/// A validated JSON request body.
pub struct ApiJson<T>(pub T);

impl<T> FromRequest<AppState> for ApiJson<T>
where
    T: DeserializeOwned + Validate,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        json_body(req, state.config.server.max_body_bytes).await.map(ApiJson)
    }
}

/// A JSON body that may also be left out entirely (no body, any or no
/// content type): then `T::default()`. A body that is sent is held to
/// everything [`ApiJson`] demands.
pub struct OptionalApiJson<T>(pub T);

impl<T> FromRequest<AppState> for OptionalApiJson<T>
where
    T: DeserializeOwned + Validate + Default,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let json = is_json(req.headers().get(header::CONTENT_TYPE));
        let bytes = read_body(req, state.config.server.max_body_bytes).await?;
        if bytes.is_empty() {
            return Ok(OptionalApiJson(T::default()));
        }
        if !json {
            return Err(not_json());
        }
        parse_json(&bytes).map(OptionalApiJson)
    }
}

/// A validated JSON document that may also come as the `GET` of its route
/// answers it, under `config`: `{"data": {"config": …, …}}` or
/// `{"config": …, …}` (the other members, read-only, are left out), so what
/// was read can be written back unchanged. The document itself has no
/// `data` or `config` member.
pub struct ConfigJson<T>(pub T);

impl<T> FromRequest<AppState> for ConfigJson<T>
where
    T: DeserializeOwned + Validate,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        if !is_json(req.headers().get(header::CONTENT_TYPE)) {
            return Err(not_json());
        }
        let bytes = read_body(req, state.config.server.max_body_bytes).await?;
        let wrapped = serde_json::from_slice::<serde_json::Value>(&bytes).ok().and_then(|mut value| {
            if let Some(data) = value.get_mut("data") {
                value = data.take();
            }
            value.get_mut("config").map(serde_json::Value::take)
        });
        match wrapped {
            Some(document) => parse_json(&serde_json::to_vec(&document).unwrap_or_default()),
            None => parse_json(&bytes),
        }
        .map(ConfigJson)
    }
}

/// A validated JSON body of up to `notify.max_import_bytes`: customer imports.
pub struct ImportJson<T>(pub T);

impl<T> FromRequest<AppState> for ImportJson<T>
where
    T: DeserializeOwned + Validate,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        json_body(req, state.config.notify.max_import_bytes).await.map(ImportJson)
    }
}

/// A JSON body of at most `limit` bytes, parsed and validated.
async fn json_body<T: DeserializeOwned + Validate>(req: Request, limit: usize) -> Result<T, ApiError> {
    if !is_json(req.headers().get(header::CONTENT_TYPE)) {
        return Err(not_json());
    }
    let bytes = read_body(req, limit).await?;
    parse_json(&bytes)
}

/// Reads at most `limit` bytes. A body somewhat over the limit is read to its end
/// and thrown away, so the client, still sending, receives the 413 instead of a
/// reset connection; one far over it (or announced so) is cut off at once.
pub async fn read_body(req: Request, limit: usize) -> Result<Bytes, ApiError> {
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the request body exceeds {limit} bytes"),
        )
    };
    let drain_limit = limit.saturating_mul(8);
    let announced =
        req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|n| n > drain_limit as u64) {
        return Err(too_large());
    }
    let mut body = req.into_body();
    let mut kept = Vec::new();
    let mut total = 0usize;
    while let Some(frame) = body.frame().await {
        let frame =
            frame.map_err(|_| ApiError::bad_request("unreadable_body", "the request body could not be read"))?;
        let Ok(data) = frame.into_data() else { continue };
        total = total.saturating_add(data.len());
        if total > drain_limit {
            return Err(too_large());
        }
        if total <= limit {
            kept.extend_from_slice(&data);
        }
    }
    if total > limit {
        return Err(too_large());
    }
    Ok(Bytes::from(kept))
}

fn not_json() -> ApiError {
    ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
        "send the body as JSON with Content-Type: application/json",
    )
}

fn is_json(content_type: Option<&header::HeaderValue>) -> bool {
    let Some(value) = content_type.and_then(|v| v.to_str().ok()) else { return false };
    let mime = value.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
}

/// Parses and validates a JSON document.
pub fn parse_json<T: DeserializeOwned + Validate>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request("malformed_json", "the request body is empty; expected a JSON object"));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let message = strip_position(&inner.to_string());
        match inner.classify() {
            Category::Data => {
                let field = if path == "." { missing_field(&message).unwrap_or_default() } else { path };
                if field.is_empty() {
                    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", format!("body: {message}"))
                } else {
                    ApiError::invalid_field(field, message)
                }
            }
            // Well-formed JSON that serde reads as a syntax error: an enum
            // given a number or a list (`expected value`) is a wrong type.
            Category::Syntax if path != "." && serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_ok() => {
                ApiError::invalid_field(path, "has a value of the wrong type")
            }
            Category::Syntax | Category::Eof | Category::Io => {
                ApiError::bad_request("malformed_json", format!("malformed JSON: {message}"))
            }
        }
    })?;
    de.end()
        .map_err(|_| ApiError::bad_request("malformed_json", "malformed JSON: trailing characters after the value"))?;
    // serde also fills a struct from an array, by position; requests are objects.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            "body: expected a JSON object",
        ));
    }
    validation::check(&value).map_err(|(field, message)| ApiError::invalid_field(field, message))?;
    Ok(value)
}

fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

/// `missing field `email`` -> `email`.
fn missing_field(message: &str) -> Option<String> {
    let rest = message.strip_prefix("missing field `")?;
    Some(rest.split('`').next()?.to_owned())
}

/// A body that is either JSON (`T`) or `multipart/form-data` ([`Form`]):
/// send endpoints take media as a URL in JSON or as an uploaded file.
pub enum JsonOrForm<T> {
    Json(T),
    Form(Form),
}

/// The parts of a multipart body: text fields, and at most one file.
#[derive(Default)]
pub struct Form {
    pub fields: std::collections::BTreeMap<String, String>,
    pub file: Option<FilePart>,
}

pub struct FilePart {
    /// The form field it came in.
    pub field: String,
    pub filename: Option<String>,
    pub content_type: Option<String>,
    /// The file, received straight into the media directory.
    pub file: crate::queue::media::Staged,
}

/// Text fields of a form are short; files are capped by `media.*` settings.
const MAX_FORM_FIELD: usize = 256 * 1024;

impl<T> FromRequest<AppState> for JsonOrForm<T>
where
    T: DeserializeOwned + Validate,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let multipart = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("multipart/form-data"));
        if !multipart {
            return ApiJson::<T>::from_request(req, state).await.map(|ApiJson(v)| JsonOrForm::Json(v));
        }
        let max_file = state.config.media.largest();
        let mut multipart = axum::extract::Multipart::from_request(req, state).await.map_err(|e| {
            ApiError::bad_request("malformed_multipart", format!("malformed multipart body: {}", e.body_text()))
        })?;
        let malformed = |e: axum::extract::multipart::MultipartError| {
            ApiError::bad_request("malformed_multipart", format!("malformed multipart body: {}", e.body_text()))
        };
        let mut form = Form::default();
        while let Some(mut field) = multipart.next_field().await.map_err(malformed)? {
            let name = field.name().unwrap_or_default().to_owned();
            if name.is_empty() {
                return Err(ApiError::bad_request("malformed_multipart", "a form part has no name"));
            }
            let filename = field.file_name().map(str::to_owned);
            let content_type = field.content_type().map(str::to_owned);
            let is_file = filename.is_some();
            let too_large = |cap: u64| {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "payload_too_large",
                    format!("{name}: larger than {cap} bytes"),
                )
                .with_field(&name)
            };
            if is_file {
                if form.file.is_some() {
                    return Err(ApiError::invalid_field(name, "only one file may be sent"));
                }
                // Straight to disk, hashed on the way: a file never sits in memory.
                let mut staging = state.queue.media().stage().map_err(ApiError::internal)?;
                while let Some(chunk) = field.chunk().await.map_err(malformed)? {
                    if staging.size() + chunk.len() as u64 > max_file {
                        return Err(too_large(max_file));
                    }
                    staging.write(chunk).await.map_err(ApiError::internal)?;
                }
                let file = staging.finish().await.map_err(ApiError::internal)?;
                form.file = Some(FilePart { field: name, filename, content_type, file });
            } else {
                let mut bytes = Vec::new();
                while let Some(chunk) = field.chunk().await.map_err(malformed)? {
                    if bytes.len() + chunk.len() > MAX_FORM_FIELD {
                        return Err(too_large(MAX_FORM_FIELD as u64));
                    }
                    bytes.extend_from_slice(&chunk);
                }
                let text =
                    String::from_utf8(bytes).map_err(|_| ApiError::invalid_field(&name, "must be UTF-8 text"))?;
                if form.fields.insert(name.clone(), text).is_some() {
                    return Err(ApiError::invalid_field(name, "is given more than once"));
                }
            }
        }
        Ok(JsonOrForm::Form(form))
    }
}

/// A path parameter; an unparsable one is a 404, since no such resource can exist.
pub struct ApiPath<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiPath<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Send,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(v)| ApiPath(v))
            .map_err(|_| ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such resource"))
    }
}

/// Query parameters, validated like bodies; a bad one is a 422 naming it.
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Validate + Send,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or_default();
        let value: T = parse_query(query)?;
        validation::check(&value).map_err(|(field, message)| ApiError::invalid_field(field, message))?;
        Ok(ApiQuery(value))
    }
}

fn parse_query<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    axum::extract::Query::<T>::try_from_uri(&format!("/?{query}").parse().map_err(|_| bad_query("unreadable query"))?)
        .map(|axum::extract::Query(v)| v)
        .map_err(|e| {
            let text = e.body_text();
            if let Some(field) = text.split_once("missing field `").and_then(|(_, rest)| rest.split('`').next()) {
                return ApiError::invalid_field(field, "is required");
            }
            // `Failed to deserialize query string: <field>: <why>`: name the field.
            let detail = text.split_once("query string: ").map_or(text.as_str(), |(_, rest)| rest);
            match detail.split_once(": ") {
                Some((field, why))
                    if !field.is_empty() && field.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') =>
                {
                    ApiError::invalid_field(field, why)
                }
                _ => bad_query(&text),
            }
        })
}

fn bad_query(detail: &str) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", format!("invalid query string: {detail}"))
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize, Validate)]
    struct Probe {
        #[validate(max_length = 3)]
        name: String,
        #[allow(dead_code)]
        count: u32,
    }

    fn status(body: &str) -> u16 {
        parse_json::<Probe>(body.as_bytes()).unwrap_err().status().as_u16()
    }

    #[test]
    fn classifies_errors() {
        assert_eq!(status(""), 400);
        assert_eq!(status("{"), 400);
        assert_eq!(status(r#"{"name":"a","count":1} x"#), 400);
        assert_eq!(status(r#"{"name":"a"}"#), 422);
        assert_eq!(status(r#"{"name":5,"count":1}"#), 422);
        assert_eq!(status(r#"{"name":"abcd","count":1}"#), 422);
        assert_eq!(status(r#"[1,2]"#), 422);
        assert_eq!(status(r#"["abc", 1]"#), 422);
    }

    #[test]
    fn names_the_field() {
        let e = parse_json::<Probe>(br#"{"name":"a"}"#).unwrap_err();
        assert!(format!("{e:?}").contains("count"));
        let e = parse_json::<Probe>(br#"{"name":7,"count":1}"#).unwrap_err();
        assert!(format!("{e:?}").contains("field: Some(\"name\")"));
        let e = parse_json::<Probe>(br#"{"name":"abcd","count":1}"#).unwrap_err();
        assert!(format!("{e:?}").contains("field: Some(\"name\")"));
    }
}
