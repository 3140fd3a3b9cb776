//! What a hostile bot document costs the gateway (issue 27, item 2).
//!
//!     cargo bench --bench bot_document -- [concurrent=20]
//!
//! Runs the release-built `wagate` binary (SQLite, a temp data dir) against a
//! wa-sim in this process, with three linked sessions, and:
//! 1. `PUT /bot/config` with 70,000 session overrides (what fits in the 1 MiB
//!    body): its answer, wall time and the gateway's CPU for it;
//! 2. `concurrent` PUTs at once of the largest document that is checked in
//!    full: 100 menus of 4,000 characters each, and an override of each of
//!    the account's sessions with a footer of its own (so every menu is
//!    measured again for it), round after round for 5 s (1 s under `cargo
//!    test`), while `/health` is
//!    asked every 10 ms: `/health`'s p50, p99 and max over that time.

mod common;

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use common::{Gateway, bench_args, cpu_seconds};
use serde_json::{Value, json};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let (bench, args) = bench_args();
    let concurrent: usize = args.iter().find_map(|a| a.parse().ok()).unwrap_or(if bench { 20 } else { 2 });
    let sim = wa_sim::Sim::new();
    let sim_addr = wa_sim::admin::spawn(sim.clone(), "127.0.0.1:0".parse().unwrap()).await.expect("wa-sim");
    let mut gateway = Gateway::new(sim_addr, Vec::new());
    let child = gateway.start().await;
    gateway.login().await;
    let gateway = Arc::new(gateway);
    gateway.link(&sim, "doc", 3, 8_500_000).await;
    let pid = child.id().expect("gateway pid");
    println!("wagate bot document bench (release gateway process, SQLite, 3 sessions, 2 cores)");

    // 1. Too many overrides.
    let current = gateway.call(reqwest::Method::GET, "/bot/config", None).await;
    let mut many = current["data"]["config"].clone();
    many["sessions"] = Value::Object((0..70_000).map(|n| (format!("s{n}"), json!({}))).collect());
    let body = serde_json::to_vec(&many).unwrap();
    let cpu = cpu_seconds(pid);
    let started = Instant::now();
    let (status, answer) = put(&gateway, body.clone()).await;
    let wall = started.elapsed();
    let cpu = cpu_seconds(pid) - cpu;
    println!(
        "70,000 session overrides ({} KiB): {status} {} in {:.1} ms, gateway CPU {:.0} ms (1/100 s resolution)",
        body.len() / 1024,
        answer["error"]["field"],
        wall.as_secs_f64() * 1000.0,
        cpu * 1000.0,
    );

    // 2. The largest document checked in full, many times at once.
    let mut large = current["data"]["config"].clone();
    let menus: serde_json::Map<String, Value> = (0..100)
        .map(|n| {
            let next = if n < 99 {
                json!({"key": "1", "label": "Lanjut", "menu": format!("m{}", n + 1)})
            } else {
                json!({"key": "1", "label": "Selesai", "reply": "ok"})
            };
            (format!("m{n}"), json!({"text": "x".repeat(4000), "options": [next]}))
        })
        .collect();
    large["menus"] = Value::Object(menus);
    large["main_menu"] = json!("m0");
    large["greeting"] = json!("");
    large["footer"] = json!("");
    large["sessions"] =
        Value::Object((0..3).map(|i| (format!("doc-{i}"), json!({"footer": "Terima kasih"}))).collect());
    let body = serde_json::to_vec(&large).unwrap();
    let (status, answer) = put(&gateway, body.clone()).await;
    assert_eq!(status, 200, "the large document is valid: {answer}");
    let cpu = cpu_seconds(pid);
    let started = Instant::now();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let prober = {
        let (gateway, stop) = (gateway.clone(), stop.clone());
        tokio::spawn(async move {
            let mut times = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let at = Instant::now();
                let resp = gateway.http.get(format!("{}/health", gateway.base())).send().await.expect("health");
                assert!(resp.status().is_success() || resp.status().as_u16() == 503);
                times.push(at.elapsed().as_secs_f64() * 1000.0);
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            times
        })
    };
    let mut rounds = 0;
    let seconds = if bench { 5 } else { 1 };
    while started.elapsed() < Duration::from_secs(seconds) {
        let puts: Vec<_> = (0..concurrent)
            .map(|_| {
                let (gateway, body) = (gateway.clone(), body.clone());
                tokio::spawn(async move { put(&gateway, body).await.0 })
            })
            .collect();
        for p in puts {
            assert_eq!(p.await.unwrap(), 200);
        }
        rounds += 1;
    }
    let wall = started.elapsed() / rounds;
    let cpu = cpu_seconds(pid) - cpu;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut times = prober.await.unwrap();
    times.sort_by(f64::total_cmp);
    let at = |p: f64| times[((times.len() as f64 * p).ceil() as usize).clamp(1, times.len()) - 1];
    println!(
        "{concurrent} PUTs at once of a {} KiB document (100 menus of 4,000 characters, 3 session overrides), \
         {rounds} rounds over {seconds} s: a round answered in {:.0} ms, gateway CPU {:.1} ms per PUT; \
         /health meanwhile ({} asks): p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        body.len() / 1024,
        wall.as_secs_f64() * 1000.0,
        cpu * 1000.0 / (rounds as usize * concurrent) as f64,
        times.len(),
        at(0.5),
        at(0.99),
        times.last().copied().unwrap_or(0.0),
    );
    drop(child);
}

async fn put(gateway: &Gateway, body: Vec<u8>) -> (u16, Value) {
    let resp = gateway
        .http
        .put(format!("{}/bot/config", gateway.base()))
        .bearer_auth(&gateway.token)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("put");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}
