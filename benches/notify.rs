//! How fast outage notices are accepted.
//!
//!     cargo bench --bench notify -- [customers=10000] [rounds=3]
//!
//! Against the release-built gateway process, on SQLite and on MariaDB
//! (`WAGATE_BENCH_MYSQL_URL`, default `mysql://root@127.0.0.1:3306`; a database
//! of its own is created and dropped), with one linked session and default
//! limits (so the dispatcher sends one message every few seconds, as it would
//! early in a big broadcast):
//! 1. `POST /api/customers/bulk` of N customers over 100 ODPs: first as new
//!    customers, then again as updates of the same external ids.
//! 2. `POST /api/send/by-odp` is one ODP; the big one is
//!    `POST /api/send/notification` to all N active customers: the time until
//!    its 202, i.e. until every message and recipient row is committed.
//!
//! Times are measured by the client, per request, each request alone.

mod common;

use std::time::{Duration, Instant};

use common::{Gateway, bench_args};
use sea_orm::{ConnectionTrait, Database};
use serde_json::{Value, json};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let (bench, args) = bench_args();
    let numbers: Vec<usize> = args.iter().filter_map(|a| a.parse().ok()).collect();
    let customers = numbers.first().copied().unwrap_or(if bench { 10_000 } else { 300 });
    let rounds = numbers.get(1).copied().unwrap_or(if bench { 3 } else { 1 });

    let sim = wa_sim::Sim::new();
    let sim_addr = wa_sim::admin::spawn(sim.clone(), "127.0.0.1:0".parse().unwrap()).await.expect("wa-sim");
    println!("wagate notify bench (release gateway process, {customers} customers, {rounds} rounds, 2 cores)");
    run(&sim, sim_addr, "SQLite", None, customers, rounds, 9_200_000).await;
    let server = std::env::var("WAGATE_BENCH_MYSQL_URL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".into());
    match Database::connect(server.as_str()).await {
        Ok(admin) => {
            let name = format!("wagate_bench_notify_{}", std::process::id());
            admin.execute_unprepared(&format!("CREATE DATABASE `{name}`")).await.expect("create bench database");
            let url = format!("{}/{name}", server.trim_end_matches('/'));
            run(&sim, sim_addr, "MariaDB", Some(url), customers, rounds, 9_300_000).await;
            admin.execute_unprepared(&format!("DROP DATABASE `{name}`")).await.ok();
        }
        Err(e) => println!("  MariaDB: skipped, cannot connect to {server}: {e}"),
    }
}

async fn timed(gateway: &Gateway, path: &str, body: Value) -> (Duration, Value) {
    let started = Instant::now();
    let resp = gateway
        .http
        .post(format!("{}{path}", gateway.base()))
        .bearer_auth(&gateway.token)
        .json(&body)
        .send()
        .await
        .expect("request");
    let status = resp.status();
    let body: Value = resp.json().await.expect("JSON answer");
    let elapsed = started.elapsed();
    assert!(status.is_success(), "{path}: {status} {body}");
    (elapsed, body)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn summary(times: &mut [Duration]) -> String {
    times.sort();
    let all: Vec<String> = times.iter().map(|t| format!("{:.0}", ms(*t))).collect();
    format!(
        "median {:.0} ms, max {:.0} ms (each: {} ms)",
        ms(times[times.len() / 2]),
        ms(times[times.len() - 1]),
        all.join(", ")
    )
}

async fn run(
    sim: &wa_sim::Sim,
    sim_addr: std::net::SocketAddr,
    db: &str,
    url: Option<String>,
    customers: usize,
    rounds: usize,
    number: usize,
) {
    let mut env = Vec::new();
    if let Some(url) = url {
        env.push(("DATABASE_URL".to_owned(), url));
    }
    let mut gateway = Gateway::new(sim_addr, env);
    let _child = gateway.start().await;
    gateway.login().await;
    let gateway = std::sync::Arc::new(gateway);
    let prefix = format!("notify-{}", db.to_lowercase());
    gateway.link(sim, &prefix, 1, number).await;
    let session = format!("{prefix}-0");
    // On WhatsApp, so the dispatcher paces them (default limits) rather than failing them at once.
    sim.add_contacts(&(0..customers).map(|i| format!("62857{i:08}")).collect::<Vec<_>>());

    let rows: Vec<Value> = (0..customers)
        .map(|i| {
            json!({"external_id": format!("CUST-{i:06}"), "name": format!("Pelanggan Nomor {i}"),
                   "phone": format!("0857{:08}", i), "odp": format!("ODP-{:03}", i % 100)})
        })
        .collect();
    let (inserted, report) = timed(&gateway, "/api/customers/bulk", json!({ "customers": rows })).await;
    assert_eq!(report["data"]["inserted"], customers, "{report}");
    let (updated, report) = timed(&gateway, "/api/customers/bulk", json!({ "customers": rows })).await;
    assert_eq!(report["data"]["updated"], customers, "{report}");
    println!(
        "  {db}: upsert {customers} customers: {:.0} ms as new ({:.1} µs each), {:.0} ms as updates ({:.1} µs each)",
        ms(inserted),
        ms(inserted) * 1000.0 / customers as f64,
        ms(updated),
        ms(updated) * 1000.0 / customers as f64,
    );

    let (_, notice) = timed(
        &gateway,
        "/api/notices",
        json!({"title": "Gangguan jaringan", "message": "Perbaikan kabel FO.", "odps": ["ODP-001"],
               "starts_at": "2026-11-23 14:00", "estimated_end": "2026-11-23 18:00"}),
    )
    .await;
    let notice_id = notice["data"]["id"].as_i64().unwrap();
    let mut by_odp = Vec::new();
    let mut all = Vec::new();
    for _ in 0..rounds {
        let (took, report) =
            timed(&gateway, "/api/send/by-odp/ODP-001", json!({"notice_id": notice_id, "session": session})).await;
        assert_eq!(report["queued_count"], customers.div_ceil(100).min(customers), "{report}");
        by_odp.push(took);
        let (took, report) =
            timed(&gateway, "/api/send/notification", json!({"notice_id": notice_id, "session": session})).await;
        assert_eq!(report["queued_count"], customers, "{report}");
        all.push(took);
    }
    println!(
        "  {db}: broadcast to one ODP ({} customers) accepted in: {}",
        customers.div_ceil(100),
        summary(&mut by_odp)
    );
    println!("  {db}: broadcast to all {customers} customers accepted in: {}", summary(&mut all));
}
