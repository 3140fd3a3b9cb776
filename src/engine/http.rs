//! The HTTP client whatsapp-rust uses for media and for WhatsApp Web's version.
//!
//! It follows no redirect (WhatsApp's media hosts answer with the file, and a
//! redirect would carry the session's media credential in its query to another
//! host), and reaches hosts only through the resolver it is given (the
//! gateway's address guard: public addresses only).
//!
//! In a simulator build pointed at a local wa-sim (`whatsapp.server_url`), every
//! request goes to the simulator's address instead of the host in the URL: the
//! client hard-codes `https://{media host}/...`, and the simulator serves those
//! paths on the address of its WebSocket.

use std::{sync::Arc, time::Duration};

use reqwest::dns::Resolve;

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
    /// `resolver` resolves every host name the client connects to, except the
    /// simulator's (its address is the configured one).
    pub fn new(simulator: Option<String>, resolver: Arc<dyn Resolve>) -> anyhow::Result<Http> {
        let mut client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(15))
            .timeout(Duration::from_secs(120));
        if simulator.is_none() {
            client = client.no_proxy().dns_resolver(Arc::new(Given(resolver)));
        }
        let client = client.build().context("building the HTTP client")?;
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

/// The resolver [`Http::new`] was given, as reqwest takes one.
struct Given(Arc<dyn Resolve>);

impl Resolve for Given {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        self.0.resolve(name)
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

#[cfg(test)]
mod tests {
    use std::sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    };

    use axum::{Router, http::StatusCode, response::IntoResponse, routing::get};
    use whatsapp_rust::http::{HttpClient, HttpRequest};

    use super::Http;

    /// A resolver that resolves nothing: the simulator's literal address needs none.
    struct Nowhere;

    impl reqwest::dns::Resolve for Nowhere {
        fn resolve(&self, _: reqwest::dns::Name) -> reqwest::dns::Resolving {
            Box::pin(async { Err("no names here".into()) })
        }
    }

    async fn serve(router: Router) -> std::net::SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        addr
    }

    /// A media host that redirects: the redirect is not followed, so the
    /// credential in the query reaches no other host.
    #[tokio::test]
    async fn redirects_are_not_followed() {
        let elsewhere_hits = Arc::new(AtomicUsize::new(0));
        let hits = elsewhere_hits.clone();
        let elsewhere = serve(Router::new().fallback(move || {
            hits.fetch_add(1, Ordering::SeqCst);
            async { "stolen" }
        }))
        .await;
        let media = serve(Router::new().route(
            "/v/t62/file.enc",
            get(move || async move {
                (StatusCode::FOUND, [("location", format!("http://{elsewhere}/collect"))]).into_response()
            }),
        ))
        .await;
        let http = Http::new(Some(format!("http://{media}")), Arc::new(Nowhere)).unwrap();
        let request = HttpRequest::get("https://mmg.whatsapp.net/v/t62/file.enc?auth=secret-media-credential");
        let response = http.execute(request).await.unwrap();
        assert_eq!(response.status_code, 302, "the redirect itself is the answer");
        assert_eq!(elsewhere_hits.load(Ordering::SeqCst), 0, "nothing reached the other host");
    }

    /// Outside a simulator build, every host name goes through the guard's resolver.
    #[tokio::test]
    async fn names_are_resolved_by_the_guard() {
        let http = Http::new(None, Arc::new(Nowhere)).unwrap();
        let request = HttpRequest::get("https://mmg.whatsapp.net/v/t62/file.enc?auth=x");
        let error = http.execute(request).await.unwrap_err();
        assert!(format!("{error:#}").contains("no names here"), "{error:#}");
    }
}
