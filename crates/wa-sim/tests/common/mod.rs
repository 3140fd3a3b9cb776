//! Drives the real whatsapp-rust client against a simulator.

#![allow(dead_code)]

use std::{path::PathBuf, sync::Arc, time::Duration};

use tokio::sync::mpsc;
use wa_sim::Sim;
use whatsapp_rust::{
    Client,
    bot::{Bot, BotHandle},
    prelude::{Event, SqliteStore, TokioRuntime},
};

pub const VERSION: (u32, u32, u32) = (2, 3000, 1_000_000_000);

pub fn init_logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()))
        .with_test_writer()
        .try_init();
}

/// One linked-device client with its own store file.
pub struct Device {
    pub client: Arc<Client>,
    pub handle: Option<BotHandle>,
    pub events: mpsc::UnboundedReceiver<Arc<Event>>,
    pub store: PathBuf,
}

impl Device {
    pub async fn start(sim: &Sim, store: PathBuf) -> Device {
        Self::start_with(sim.transport_factory(), sim.http_client(), store).await
    }

    /// A client of a stand-alone simulator at `addr`, over a real WebSocket.
    pub async fn start_remote(addr: std::net::SocketAddr, store: PathBuf) -> Device {
        let factory =
            whatsapp_rust::transport::TokioWebSocketTransportFactory::new().with_url(format!("ws://{addr}/ws/chat"));
        Self::start_with(factory, wa_sim::RemoteHttpClient::new(format!("http://{addr}")), store).await
    }

    pub async fn start_with(
        factory: impl whatsapp_rust::transport::TransportFactory + 'static,
        http: impl whatsapp_rust::http::HttpClient + 'static,
        store: PathBuf,
    ) -> Device {
        init_logs();
        let backend = SqliteStore::new(store.to_str().unwrap()).await.expect("store");
        let (tx, events) = mpsc::unbounded_channel();
        let bot = Bot::builder()
            .with_backend(backend)
            .with_transport_factory(factory)
            .with_http_client(http)
            .with_runtime(TokioRuntime)
            .with_version(VERSION)
            .skip_history_sync()
            .on_event(move |event, _client| {
                let tx = tx.clone();
                async move {
                    let _ = tx.send(event);
                }
            })
            .build()
            .await
            .expect("bot builds");
        let client = bot.client();
        let handle = bot.spawn();
        Device { client, handle: Some(handle), events, store }
    }

    /// The first event `pick` accepts, within `secs` seconds.
    pub async fn wait<T>(&mut self, secs: u64, what: &str, pick: impl FnMut(&Event) -> Option<T>) -> T {
        self.try_wait(secs, pick).await.unwrap_or_else(|| panic!("timed out waiting for {what}"))
    }

    /// Like [`wait`](Self::wait), `None` when nothing fitting came in time.
    pub async fn try_wait<T>(&mut self, secs: u64, mut pick: impl FnMut(&Event) -> Option<T>) -> Option<T> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        loop {
            let event = tokio::time::timeout_at(deadline, self.events.recv()).await.ok()?.expect("event stream ended");
            if let Some(found) = pick(&event) {
                return Some(found);
            }
        }
    }

    pub async fn qr(&mut self) -> String {
        self.wait(30, "a QR code", |e| match e {
            Event::PairingQrCode(q) => Some(q.code.clone()),
            _ => None,
        })
        .await
    }

    pub async fn connected(&mut self) {
        self.wait(30, "Connected", |e| matches!(e, Event::Connected(_)).then_some(())).await
    }

    pub async fn stop(&mut self) {
        if let Some(handle) = self.handle.take() {
            handle.shutdown().await;
        }
    }
}

/// A device linked by QR to `phone` and connected.
pub async fn linked(sim: &Sim, dir: &std::path::Path, phone: &str) -> Device {
    let mut device = Device::start(sim, dir.join(format!("{phone}.db"))).await;
    let qr = device.qr().await;
    sim.scan(&qr, phone).await.expect("scan");
    device.connected().await;
    device
}
