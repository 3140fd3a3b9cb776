//! How much memory wa-sim spends per linked, connected client.
//!
//!     cargo bench -p wa-sim --bench connections -- [N=1000]
//!
//! Starts the `wa-sim` binary (built with the bench) in its own process, links N real
//! whatsapp-rust clients to it over loopback WebSockets from this process, and
//! prints the simulator's resident memory before and after, per connection.

use std::{
    process::Stdio,
    sync::Arc,
    time::{Duration, Instant},
};

use tokio::{
    io::AsyncBufReadExt,
    sync::{Semaphore, mpsc},
};
use whatsapp_rust::{
    bot::Bot,
    prelude::{Event, SqliteStore, TokioRuntime},
    transport::TokioWebSocketTransportFactory,
};

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // `cargo bench` passes --bench; `cargo test` runs this as a 10-client smoke test.
    let args: Vec<String> = std::env::args().skip(1).collect();
    let default = if args.iter().any(|a| a == "--bench") { 1000 } else { 10 };
    let n: usize = args.iter().find_map(|a| a.parse().ok()).unwrap_or(default);
    let dir = tempfile::tempdir().unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_wa-sim"))
        .args(["--listen", "127.0.0.1:0"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start wa-sim");
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let addr = lines.next_line().await.unwrap().unwrap().rsplit(' ').next().unwrap().to_owned();
    let pid = child.id().unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let baseline = rss_kib(pid);
    let clients_baseline = rss_kib(std::process::id());
    let http = reqwest::Client::new();

    let started = Instant::now();
    let gate = Arc::new(Semaphore::new(16));
    let mut tasks = Vec::new();
    let (keep_tx, mut keep_rx) = mpsc::unbounded_channel();
    for i in 0..n {
        let (gate, addr, http, dir, keep_tx) =
            (gate.clone(), addr.clone(), http.clone(), dir.path().to_owned(), keep_tx.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = gate.acquire().await.unwrap();
            let store = SqliteStore::new(dir.join(format!("{i}.db")).to_str().unwrap()).await.unwrap();
            let (tx, mut events) = mpsc::unbounded_channel();
            let bot = Bot::builder()
                .with_backend(store)
                .with_transport_factory(TokioWebSocketTransportFactory::new().with_url(format!("ws://{addr}/ws/chat")))
                .with_http_client(wa_sim::RemoteHttpClient::new(format!("http://{addr}")))
                .with_runtime(TokioRuntime)
                .with_version((2, 3000, 1_000_000_000))
                .skip_history_sync()
                .on_event(move |e: Arc<Event>, _| {
                    let tx = tx.clone();
                    async move {
                        let _ = tx.send(e);
                    }
                })
                .build()
                .await
                .unwrap();
            let handle = bot.spawn();
            let phone = format!("62800{:07}", i);
            while let Some(e) = events.recv().await {
                match &*e {
                    Event::PairingQrCode(q) => {
                        let r = http
                            .post(format!("http://{addr}/admin/scan"))
                            .json(&serde_json::json!({"qr": q.code, "phone": phone}))
                            .send()
                            .await
                            .unwrap();
                        assert!(r.status().is_success());
                    }
                    Event::Connected(_) => break,
                    _ => {}
                }
            }
            // Keep the client (and its connection) alive until the end.
            let _ = keep_tx.send((handle, events));
        }));
    }
    drop(keep_tx);
    for t in tasks {
        t.await.unwrap();
    }
    let link_time = started.elapsed();
    let mut kept = Vec::new();
    while let Ok(k) = keep_rx.try_recv() {
        kept.push(k);
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let devices: serde_json::Value =
        http.get(format!("http://{addr}/admin/devices")).send().await.unwrap().json().await.unwrap();
    let connected = devices.as_array().unwrap().iter().filter(|d| d["connected"] == true).count();
    let after = rss_kib(pid);
    let clients_after = rss_kib(std::process::id());
    println!("wa-sim connections bench");
    println!("  clients linked and connected: {connected} of {n} (linking took {:.1} s)", link_time.as_secs_f64());
    println!(
        "  wa-sim RSS: {:.1} MiB idle, {:.1} MiB with {connected} clients",
        baseline as f64 / 1024.0,
        after as f64 / 1024.0
    );
    println!(
        "  wa-sim memory per connected client: {:.1} KiB",
        (after.saturating_sub(baseline)) as f64 / connected.max(1) as f64
    );
    // Not the simulator: a first look at what one whatsapp-rust client (with its
    // SQLite store) costs a gateway.
    println!(
        "  this process (the {n} whatsapp-rust clients): {:.1} KiB per client",
        (clients_after.saturating_sub(clients_baseline)) as f64 / n.max(1) as f64
    );
    assert_eq!(connected, n, "not every client stayed connected");
    drop(kept);
}
