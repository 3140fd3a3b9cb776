//! In-process seams for tests: a `TransportFactory` whose connections are
//! served by this simulator without sockets, and an `HttpClient` that answers
//! media requests for the simulator's media host.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use tokio::sync::mpsc;
use wacore::net::{HttpClient, HttpRequest, HttpResponse, Transport, TransportEvent, TransportFactory};

use crate::{Sim, media::MEDIA_HOST};

/// The path (and query) of a URL on the simulator's media host; any other URL
/// is refused so that a test never reaches the internet.
fn media_path(url: &str) -> anyhow::Result<&str> {
    url.strip_prefix("https://")
        .and_then(|r| r.strip_prefix(MEDIA_HOST))
        .ok_or_else(|| anyhow::anyhow!("wa-sim only serves {MEDIA_HOST}, not {url}"))
}

/// Connects clients to a [`Sim`] in the same process.
#[derive(Clone)]
pub struct InProcessTransportFactory {
    sim: Sim,
}

impl InProcessTransportFactory {
    pub fn new(sim: Sim) -> Self {
        Self { sim }
    }
}

struct InProcessTransport {
    to_server: std::sync::Mutex<Option<mpsc::Sender<Bytes>>>,
}

#[async_trait]
impl Transport for InProcessTransport {
    async fn send(&self, data: Bytes) -> Result<(), anyhow::Error> {
        let tx = self.to_server.lock().expect("lock").clone();
        match tx {
            Some(tx) => tx.send(data).await.map_err(|_| anyhow::anyhow!("connection closed")),
            None => Err(anyhow::anyhow!("connection closed")),
        }
    }

    async fn disconnect(&self) {
        self.to_server.lock().expect("lock").take();
    }
}

#[async_trait]
impl TransportFactory for InProcessTransportFactory {
    async fn create_transport(
        &self,
    ) -> Result<(Arc<dyn Transport>, async_channel::Receiver<TransportEvent>), anyhow::Error> {
        let (to_client, mut from_server) = self.sim.accept();
        let (events_tx, events_rx) = async_channel::unbounded();
        let _ = events_tx.send(TransportEvent::Connected).await;
        tokio::spawn(async move {
            while let Some(bytes) = from_server.recv().await {
                if events_tx.send(TransportEvent::DataReceived(bytes)).await.is_err() {
                    return;
                }
            }
            let _ = events_tx.send(TransportEvent::Disconnected(wacore::net::DisconnectReason::StreamEnded)).await;
        });
        Ok((Arc::new(InProcessTransport { to_server: std::sync::Mutex::new(Some(to_client)) }), events_rx))
    }
}

/// Answers requests to the simulator's media host; anything else is refused,
/// so a test never reaches the internet.
#[derive(Clone)]
pub struct SimHttpClient {
    sim: Sim,
}

impl SimHttpClient {
    pub fn new(sim: Sim) -> Self {
        Self { sim }
    }
}

#[async_trait]
impl HttpClient for SimHttpClient {
    async fn execute(&self, request: HttpRequest) -> anyhow::Result<HttpResponse> {
        let rest = media_path(&request.url)?;
        let (status_code, body) = crate::media::http(&self.sim, &request.method, rest, request.body.as_deref());
        Ok(HttpResponse { status_code, body })
    }
}

/// Sends requests for the simulator's media host to a stand-alone `wa-sim`
/// process at `base` (e.g. `http://127.0.0.1:7080`); anything else is refused.
#[derive(Clone)]
pub struct RemoteHttpClient {
    base: String,
    http: reqwest::Client,
}

impl RemoteHttpClient {
    pub fn new(base: impl Into<String>) -> Self {
        Self { base: base.into().trim_end_matches('/').to_owned(), http: reqwest::Client::new() }
    }
}

#[async_trait]
impl HttpClient for RemoteHttpClient {
    async fn execute(&self, request: HttpRequest) -> anyhow::Result<HttpResponse> {
        let rest = media_path(&request.url)?;
        let method = reqwest::Method::from_bytes(request.method.as_bytes())?;
        let mut builder = self.http.request(method, format!("{}{rest}", self.base));
        for (k, v) in &request.headers {
            builder = builder.header(k, v);
        }
        if let Some(body) = request.body {
            builder = builder.body(body);
        }
        let response = builder.send().await?;
        let status_code = response.status().as_u16();
        Ok(HttpResponse { status_code, body: response.bytes().await?.to_vec() })
    }
}
