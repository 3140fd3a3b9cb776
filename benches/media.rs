//! What media costs the gateway's memory: many large uploads at once, then sending them.
//!
//!     cargo bench --bench media -- [uploads=20] [MiB=50] [document|video]
//!
//! Runs the release-built `wagate` binary in its own process (SQLite, a temp data
//! dir, one session linked to a wa-sim served from this process, send limits off)
//! and posts `uploads` multipart documents (or videos) of `MiB` each to
//! `/message/send-document` (`/message/send-video`), all at once. It samples the gateway's resident
//! memory every 20 ms from before the first upload until the last document is
//! sent (encrypted and uploaded to wa-sim's media host), and prints the peak
//! above the settled baseline, for receiving and for sending.

mod common;

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use common::{Gateway, PeakRss, bench_args, mib, rss_kib};
use serde_json::Value;

const CONTACT: &str = "628223000001";

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // `cargo bench` passes --bench; `cargo test` runs this as a small smoke test.
    let (bench, args) = bench_args();
    let numbers: Vec<u64> = args.iter().filter_map(|a| a.parse().ok()).collect();
    let uploads = numbers.first().copied().unwrap_or(if bench { 20 } else { 3 }) as usize;
    let size_mib = numbers.get(1).copied().unwrap_or(if bench { 50 } else { 2 });
    let size = size_mib * 1024 * 1024;
    let kind = if args.iter().any(|a| a == "video") { "video" } else { "document" };
    let (name, mime, magic): (&str, &str, &[u8]) = match kind {
        "video" => ("video-{i}.mp4", "video/mp4", b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"),
        _ => ("laporan-{i}.pdf", "application/pdf", b"%PDF-1.7\n"),
    };

    let sim = wa_sim::Sim::new();
    let sim_addr = wa_sim::admin::spawn(sim.clone(), "127.0.0.1:0".parse().unwrap()).await.expect("wa-sim");
    sim.add_contacts(&[CONTACT.to_owned()]);
    let env: Vec<(String, String)> = [
        ("LIMITS__DELAY_MIN_MS", "0".to_owned()),
        ("LIMITS__DELAY_MAX_MS", "0".to_owned()),
        ("LIMITS__PER_MINUTE", "0".to_owned()),
        ("LIMITS__PER_HOUR", "0".to_owned()),
        ("LIMITS__PER_RECIPIENT_PER_HOUR", "0".to_owned()),
        ("MEDIA__MAX_DOCUMENT_BYTES", (size + 1024 * 1024).to_string()),
        ("MEDIA__MAX_VIDEO_BYTES", (size + 1024 * 1024).to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (format!("WAGATE__{k}"), v))
    .collect();
    let mut gateway = Gateway::new(sim_addr, env);
    let child = gateway.start().await;
    gateway.login().await;
    let gateway = Arc::new(gateway);
    gateway.link(&sim, "media", 1, 5_000_000).await;
    let pid = child.id().unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let baseline = rss_kib(pid);

    // Sample RSS until told to stop; the peak so far is readable at any time.
    let rss = PeakRss::start(pid, Duration::from_millis(20));

    // One buffer in this process, streamed to every request without copies.
    let mut file = magic.to_vec();
    file.extend((file.len() as u64..size).map(|i| (i % 251) as u8));
    let document = bytes::Bytes::from(file);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..uploads {
        let (gateway, document) = (gateway.clone(), document.clone());
        tasks.push(tokio::spawn(async move {
            let part = reqwest::multipart::Part::stream_with_length(reqwest::Body::from(document), size)
                .file_name(name.replace("{i}", &i.to_string()))
                .mime_str(mime)
                .unwrap();
            let form = reqwest::multipart::Form::new().text("session", "media-0").text("to", CONTACT).part(kind, part);
            let resp = gateway
                .http
                .post(format!("{}/message/send-{kind}", gateway.base()))
                .bearer_auth(&gateway.token)
                .multipart(form)
                .send()
                .await
                .expect("upload");
            let status = resp.status();
            let body: Value = resp.json().await.unwrap_or(Value::Null);
            assert_eq!(status, reqwest::StatusCode::ACCEPTED, "{body}");
            body["data"]["id"].as_str().expect("message id").to_owned()
        }));
    }
    let mut ids = Vec::new();
    for task in tasks {
        ids.push(task.await.unwrap());
    }
    let receiving = started.elapsed();
    let receiving_peak = rss.peak();

    // Sending: each file encrypted to disk and uploaded to wa-sim, one after another.
    rss.restart();
    let sending_started = Instant::now();
    let deadline = Instant::now() + Duration::from_secs(1800);
    for id in &ids {
        loop {
            let view = gateway.call(reqwest::Method::GET, &format!("/message/{id}"), None).await;
            match view["data"]["status"].as_str() {
                Some("sent" | "delivered" | "read") => break,
                Some("failed") => panic!("{id} failed: {view}"),
                _ => {}
            }
            assert!(Instant::now() < deadline, "{id} was not sent in time");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let sending = sending_started.elapsed();
    let sending_peak = rss.stop().await;
    let delivered = sim.received(Some(CONTACT)).iter().filter(|r| r.kind == kind).count();
    assert_eq!(delivered, uploads, "every {kind} reached the contact");

    let total_mib = (uploads as u64 * size_mib) as f64;
    println!("wagate media bench (release gateway process, SQLite, wa-sim over loopback, 2 cores)");
    println!(
        "  {uploads} concurrent multipart uploads of {size_mib} MiB ({kind}s, {total_mib:.0} MiB), media.max_concurrent = 4"
    );
    println!("  gateway RSS before: {:.1} MiB", mib(baseline));
    println!(
        "  receiving: all {uploads} accepted (202) in {:.1} s; RSS peak {:.1} MiB, {:+.1} MiB over the baseline",
        receiving.as_secs_f64(),
        mib(receiving_peak),
        mib(receiving_peak) - mib(baseline)
    );
    println!(
        "  sending: all {uploads} encrypted, uploaded and sent in {:.1} s; RSS peak {:.1} MiB, {:+.1} MiB over the baseline",
        sending.as_secs_f64(),
        mib(sending_peak),
        mib(sending_peak) - mib(baseline)
    );
}
