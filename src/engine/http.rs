//! The HTTP client whatsapp-rust uses for media and for WhatsApp Web's version.
//!
//! In a simulator build pointed at a local wa-sim (`whatsapp.server_url`), every
//! request goes to the simulator's address instead of the host in the URL: the
//! client hard-codes `https://{media host}/...`, and the simulator serves those
//! paths on the address of its WebSocket.

use std::time::Duration;

use whatsapp_rust::{
    anyhow::{self, Context},
    async_trait,
    http::{HttpClient, HttpRequest, HttpResponse},
    wacore::net::UploadBody,
};

#[derive(Clone)]
pub struct Http {
    client: reqwest::Client,
    /// `http://host:port` of a simulator, when requests go there.
    simulator: Option<String>,
    /// Where streamed uploads run their request (they are called on blocking threads).
    runtime: tokio::runtime::Handle,
}

/// How many chunks of a streamed upload may wait for the connection.
const UPLOAD_CHUNKS: usize = 4;
const UPLOAD_CHUNK_BYTES: usize = 64 * 1024;

impl Http {
    pub fn new(simulator: Option<String>) -> anyhow::Result<Http> {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(15))
            .timeout(Duration::from_secs(120))
            .build()
            .context("building the HTTP client")?;
        let runtime = tokio::runtime::Handle::try_current().context("the HTTP client needs a Tokio runtime")?;
        Ok(Http { client, simulator, runtime })
    }

    fn target(&self, url: &str) -> anyhow::Result<String> {
        let Some(base) = &self.simulator else { return Ok(url.to_owned()) };
        let parsed = url::Url::parse(url).with_context(|| format!("bad URL {url}"))?;
        let mut target = format!("{base}{}", parsed.path());
        if let Some(query) = parsed.query() {
            target.push('?');
            target.push_str(query);
        }
        Ok(target)
    }
}

#[async_trait]
impl HttpClient for Http {
    async fn execute(&self, request: HttpRequest) -> anyhow::Result<HttpResponse> {
        let method = reqwest::Method::from_bytes(request.method.as_bytes())?;
        let mut builder = self.client.request(method, self.target(&request.url)?);
        for (name, value) in &request.headers {
            builder = builder.header(name, value);
        }
        if let Some(body) = request.body {
            builder = builder.body(body);
        }
        let response = builder.send().await?;
        let status_code = response.status().as_u16();
        Ok(HttpResponse { status_code, body: response.bytes().await?.to_vec() })
    }

    /// Media uploads: `body` is read here, on the blocking thread, a chunk at a
    /// time, into a short channel that the request (on the runtime) sends from.
    fn execute_upload(&self, request: HttpRequest, mut body: UploadBody, length: u64) -> anyhow::Result<HttpResponse> {
        use http_body_util::StreamBody;
        use std::io::Read;
        let method = reqwest::Method::from_bytes(request.method.as_bytes())?;
        let mut builder = self.client.request(method, self.target(&request.url)?);
        for (name, value) in &request.headers {
            builder = builder.header(name, value);
        }
        let (chunks, mut rx) =
            tokio::sync::mpsc::channel::<Result<http_body::Frame<bytes::Bytes>, std::io::Error>>(UPLOAD_CHUNKS);
        let stream = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
        let builder =
            builder.header(reqwest::header::CONTENT_LENGTH, length).body(reqwest::Body::wrap(StreamBody::new(stream)));
        let sending = self.runtime.spawn(async move {
            let response = builder.send().await?;
            let status_code = response.status().as_u16();
            anyhow::Ok(HttpResponse { status_code, body: response.bytes().await?.to_vec() })
        });
        let mut buf = vec![0u8; UPLOAD_CHUNK_BYTES];
        let mut sent = 0u64;
        while sent < length {
            let n = match body.read(&mut buf) {
                Ok(0) => {
                    let short = std::io::Error::other(format!("the upload ended after {sent} of {length} bytes"));
                    let _ = chunks.blocking_send(Err(short));
                    break;
                }
                Ok(n) => n.min((length - sent) as usize),
                Err(e) => {
                    let _ = chunks.blocking_send(Err(e));
                    break;
                }
            };
            sent += n as u64;
            let chunk = http_body::Frame::data(bytes::Bytes::copy_from_slice(&buf[..n]));
            if chunks.blocking_send(Ok(chunk)).is_err() {
                break; // the request ended early: its result says why
            }
        }
        drop(chunks);
        self.runtime.block_on(sending)?
    }
}
