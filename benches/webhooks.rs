//! How fast webhooks go out, and how soon after the change they tell of.
//!
//!     cargo bench --bench webhooks -- [events=10000] [rate=200] [seconds=10]
//!
//! Runs the release-built `wagate` binary in its own process (SQLite, a temp
//! data dir, one session linked to a wa-sim in this process) with one webhook
//! endpoint (`message.status` events) posting to a receiver in this process
//! that answers 200 at once and verifies nothing (the tests verify signatures).
//! 1. Latency: `POST /message/send-text` at a steady `rate` per second for
//!    `seconds`; each `queued` event's arrival at the receiver minus the
//!    event's own timestamp (written in the transaction that queued the
//!    message): p50, p99, max.
//! 2. Throughput: `events` messages are queued (their events delivered as
//!    they come), then `POST /webhooks/{id}/replay` puts every delivery back in
//!    line at once; deliveries per second until the last has arrived again.

mod common;

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::body::Bytes;
use common::{Gateway, bench_args, cpu_seconds};
use serde_json::{Value, json};

const CONTACT: &str = "628224000001";

/// What the receiver saw: `(arrival, body)`.
type Seen = Arc<Mutex<Vec<(chrono::DateTime<chrono::Utc>, Bytes)>>>;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let (bench, args) = bench_args();
    let numbers: Vec<u64> = args.iter().filter_map(|a| a.parse().ok()).collect();
    let events = numbers.first().copied().unwrap_or(if bench { 10_000 } else { 200 }) as usize;
    let rate = numbers.get(1).copied().unwrap_or(if bench { 200 } else { 50 });
    let seconds = numbers.get(2).copied().unwrap_or(if bench { 10 } else { 2 });

    let seen: Seen = Arc::default();
    let log = seen.clone();
    let router = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |body: Bytes| {
            let log = log.clone();
            async move {
                log.lock().unwrap().push((chrono::Utc::now(), body));
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let receiver = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });

    let sim = wa_sim::Sim::new();
    let sim_addr = wa_sim::admin::spawn(sim.clone(), "127.0.0.1:0".parse().unwrap()).await.expect("wa-sim");
    sim.add_contacts(&[CONTACT.to_owned()]);
    // Other WAGATE__WEBHOOK__* settings pass through from this process's environment.
    let env = vec![("WAGATE__WEBHOOK__ALLOW_RANGES".to_owned(), "[\"127.0.0.0/8\"]".to_owned())];
    let mut gateway = Gateway::new(sim_addr, env);
    let child = gateway.start().await;
    gateway.login().await;
    let gateway = Arc::new(gateway);
    gateway.link(&sim, "hooks", 1, 6_000_000).await;
    let created = gateway
        .call(reqwest::Method::POST, "/webhooks", Some(json!({"url": receiver, "events": ["message.status"]})))
        .await;
    let hook = created["data"]["id"].as_i64().expect("webhook id");
    let pid = child.id().unwrap();

    // 1. Latency at a steady rate.
    let gap = Duration::from_secs(1) / rate as u32;
    let total = (rate * seconds) as usize;
    let started = Instant::now();
    let mut sends = Vec::new();
    for i in 0..total {
        let due = started + gap * i as u32;
        tokio::time::sleep_until(due.into()).await;
        let gateway = gateway.clone();
        sends.push(tokio::spawn(async move { send(&gateway, i).await }));
    }
    for send in sends {
        send.await.unwrap();
    }
    let queued = |seen: &Seen| -> Vec<(chrono::DateTime<chrono::Utc>, Value)> {
        seen.lock()
            .unwrap()
            .iter()
            .map(|(at, body)| (*at, serde_json::from_slice::<Value>(body).unwrap()))
            .filter(|(_, e)| e["data"]["status"] == "queued")
            .collect()
    };
    wait_for(&seen, total, &queued).await;
    let mut latencies: Vec<f64> = queued(&seen)
        .iter()
        .map(|(at, e)| {
            let written: chrono::DateTime<chrono::Utc> = e["timestamp"].as_str().unwrap().parse().unwrap();
            (*at - written).num_microseconds().unwrap_or(0) as f64 / 1000.0
        })
        .collect();
    latencies.sort_by(f64::total_cmp);
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];

    // 2. Throughput: queue `events` more, then replay everything at once.
    let before_burst = seen.lock().unwrap().len();
    let since = chrono::Utc::now();
    let gate = Arc::new(tokio::sync::Semaphore::new(64));
    let mut sends = Vec::new();
    for i in 0..events {
        let (gateway, gate) = (gateway.clone(), gate.clone());
        sends.push(tokio::spawn(async move {
            let _permit = gate.acquire().await.unwrap();
            send(&gateway, total + i).await
        }));
    }
    for send in sends {
        send.await.unwrap();
    }
    let burst = |seen: &Seen| seen.lock().unwrap()[before_burst..].to_vec();
    let settle = Instant::now() + Duration::from_secs(600);
    loop {
        // Everything queued so far has come (the sends' own later statuses may still trickle in).
        let ids: std::collections::HashSet<String> = burst(&seen)
            .iter()
            .filter_map(|(_, b)| serde_json::from_slice::<Value>(b).ok())
            .filter(|e| e["data"]["status"] == "queued")
            .map(|e| e["id"].as_str().unwrap().to_owned())
            .collect();
        if ids.len() >= events {
            break;
        }
        assert!(Instant::now() < settle, "the burst did not arrive");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before_replay = seen.lock().unwrap().len();
    let cpu_before = cpu_seconds(pid);
    let replay_started = Instant::now();
    let replayed =
        gateway.call(reqwest::Method::POST, &format!("/webhooks/{hook}/replay"), Some(json!({"since": since}))).await;
    let count = replayed["data"]["count"].as_u64().unwrap() as usize;
    let deadline = Instant::now() + Duration::from_secs(600);
    while seen.lock().unwrap().len() < before_replay + count {
        assert!(Instant::now() < deadline, "the replay did not arrive");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let took = replay_started.elapsed();
    let cpu = cpu_seconds(pid) - cpu_before;

    println!("wagate webhooks bench (release gateway process, SQLite, receiver and wa-sim in this process, 2 cores)");
    println!(
        "  latency at {rate} events/s for {seconds} s ({} events): state change to arrival p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        latencies.len(),
        pct(0.50),
        pct(0.99),
        latencies.last().copied().unwrap_or(0.0)
    );
    println!(
        "  throughput: {count} deliveries replayed in {:.2} s: {:.0} deliveries/s; gateway CPU {:.2} ms per delivery",
        took.as_secs_f64(),
        count as f64 / took.as_secs_f64(),
        cpu * 1000.0 / count as f64
    );
}

async fn send(gateway: &Gateway, i: usize) {
    gateway
        .call(
            reqwest::Method::POST,
            "/message/send-text",
            Some(json!({"session": "hooks-0", "to": CONTACT, "text": format!("pesan {i}")})),
        )
        .await;
}

async fn wait_for(seen: &Seen, n: usize, queued: &impl Fn(&Seen) -> Vec<(chrono::DateTime<chrono::Utc>, Value)>) {
    let deadline = Instant::now() + Duration::from_secs(300);
    while queued(seen).len() < n {
        assert!(Instant::now() < deadline, "not every event arrived: {} of {n}", queued(seen).len());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
