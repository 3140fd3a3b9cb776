//! What a slow client downloading received media costs the gateway's memory.
//!
//!     cargo bench --bench media_download -- [MiB=64] [KiB/s=64]
//!
//! Runs the release-built `wagate` binary in its own process (SQLite, a temp
//! data dir, one session linked to a wa-sim served from this process). A
//! contact sends a document of `MiB`; once the gateway has stored it, a client
//! downloads it from `/chats/{id}/messages/{id}/media` reading `KiB/s` (8 KiB
//! at a time, with a small socket buffer, so the gateway cannot hand the whole
//! file to the kernel). The gateway's resident memory is sampled every 100 ms;
//! the bench prints its peak growth over the baseline taken just before the
//! download, and checks every byte arrived. At the defaults the download takes
//! 1,024 s.

mod common;

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use base64::Engine as _;
use common::{Gateway, PeakRss, bench_args, mib, rss_kib};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const CONTACT: &str = "628224000001";

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // `cargo bench` passes --bench; `cargo test` runs this as a small smoke test.
    let (bench, args) = bench_args();
    let numbers: Vec<u64> = args.iter().filter_map(|a| a.parse().ok()).collect();
    let size_mib = numbers.first().copied().unwrap_or(if bench { 64 } else { 1 });
    let rate_kib = numbers.get(1).copied().unwrap_or(if bench { 64 } else { 1024 }).max(8);
    let size = (size_mib * 1024 * 1024) as usize;

    let sim = wa_sim::Sim::new();
    let sim_addr = wa_sim::admin::spawn(sim.clone(), "127.0.0.1:0".parse().unwrap()).await.expect("wa-sim");
    sim.add_contacts(&[CONTACT.to_owned()]);
    let env: Vec<(String, String)> = [("INBOX__MAX_MEDIA_BYTES", (size + 1024 * 1024).to_string())]
        .into_iter()
        .map(|(k, v)| (format!("WAGATE__{k}"), v))
        .collect();
    let mut gateway = Gateway::new(sim_addr, env);
    let child = gateway.start().await;
    gateway.login().await;
    let gateway = Arc::new(gateway);
    gateway.link(&sim, "dl", 1, 6_000_000).await;
    let pid = child.id().unwrap();

    let document: Vec<u8> = (0..size).map(|i| (i % 253) as u8).collect();
    let write = wa_sim::messages::Write {
        from: CONTACT.into(),
        to: "628116000000".into(),
        kind: Some("document".into()),
        data: Some(base64::engine::general_purpose::STANDARD.encode(&document)),
        filename: Some("laporan.pdf".into()),
        mimetype: Some("application/pdf".into()),
        ..Default::default()
    };
    sim.deliver(&write).await.expect("the contact writes");
    let deadline = Instant::now() + Duration::from_secs(600);
    let (chat, message) = loop {
        let chats = gateway.call(reqwest::Method::GET, "/chats/", None).await;
        if let Some(chat) = chats.as_array().and_then(|c| c.first()).and_then(|c| c["id"].as_i64()) {
            let detail = gateway.call(reqwest::Method::GET, &format!("/chats/{chat}"), None).await;
            let first = &detail["messages"][0];
            match first["media"]["state"].as_str() {
                Some("done") => break (chat, first["id"].as_i64().expect("message id")),
                Some("failed") => panic!("the download failed: {first}"),
                _ => {}
            }
        }
        assert!(Instant::now() < deadline, "the document was not stored in time");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    drop(document);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let baseline = rss_kib(pid);

    let rss = PeakRss::start(pid, Duration::from_millis(100));

    // A client with a small receive buffer reading at `rate_kib`.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(16 * 1024).unwrap();
    let mut stream = socket.connect(format!("127.0.0.1:{}", gateway.port).parse().unwrap()).await.unwrap();
    let request = format!(
        "GET /chats/{chat}/messages/{message}/media HTTP/1.1\r\nhost: wagate\r\nauthorization: Bearer {}\r\nconnection: close\r\n\r\n",
        gateway.token
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let started = Instant::now();
    let chunk = 8 * 1024;
    let pause = Duration::from_secs_f64(chunk as f64 / (rate_kib * 1024) as f64);
    let mut received = Vec::with_capacity(size + 4096);
    let mut buf = vec![0u8; chunk];
    let mut next = Instant::now();
    loop {
        let n = stream.read(&mut buf).await.unwrap();
        if n == 0 {
            break;
        }
        received.extend_from_slice(&buf[..n]);
        next += pause.mul_f64(n as f64 / chunk as f64);
        tokio::time::sleep_until(next.into()).await;
    }
    let took = started.elapsed();
    let peak = rss.stop().await;
    let body_at = received.windows(4).position(|w| w == b"\r\n\r\n").expect("a response head") + 4;
    let head = String::from_utf8_lossy(&received[..body_at]).into_owned();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let body = &received[body_at..];
    assert_eq!(body.len(), size, "every byte arrived");
    assert!(body.iter().enumerate().all(|(i, b)| *b == (i % 253) as u8), "the bytes are the document's");

    println!("wagate media download bench (release gateway process, SQLite, loopback, 2 cores)");
    println!(
        "  one {size_mib} MiB document downloaded at {rate_kib} KiB/s: {:.0} s ({:.1} KiB/s)",
        took.as_secs_f64(),
        size as f64 / 1024.0 / took.as_secs_f64()
    );
    println!("  gateway RSS before: {:.1} MiB", mib(baseline));
    println!(
        "  gateway RSS peak during the download: {:.1} MiB, {:+.1} MiB over the baseline",
        mib(peak),
        mib(peak) - mib(baseline)
    );
}
