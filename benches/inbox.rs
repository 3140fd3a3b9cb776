//! How fast the gateway takes in what customers write, and reads the inbox.
//!
//!     cargo bench --bench inbox -- [sessions=100] [per-session=20] [chats=100000] [messages=1000000] [rate=1000]
//!
//! 1. Receiving, on SQLite: N linked sessions of the release-built gateway
//!    process; wa-sim (in this process, encrypting every message on the same
//!    two cores) has a contact write to each.
//!    a. Throughput: `per-session` messages to every session, all at once.
//!    Prints messages stored per second (from the first write to the last
//!    `message.received` event seen on `GET /events`).
//!    b. Latency: `rate` messages a second, spread over the sessions, for three
//!    seconds. Prints the time from wa-sim's send to the SSE event (p50, p99,
//!    max) and the rate achieved.
//! 2. Reading, on SQLite: a database with `chats` chats and `messages`
//!    received messages in their timelines (written straight into the tables),
//!    then `GET /chats/` (first page, 50) and `GET /chats/{id}` of random chats
//!    (their latest 50 messages), 300 requests each: latency p50, p99, max.

mod common;

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use common::{Gateway, bench_args, cpu_seconds};
use rand::Rng;
use sea_orm::{ConnectionTrait, Database, Statement};
use serde_json::Value;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let (bench, args) = bench_args();
    let numbers: Vec<usize> = args.iter().filter_map(|a| a.parse().ok()).collect();
    let sessions = numbers.first().copied().unwrap_or(if bench { 100 } else { 3 });
    let per_session = numbers.get(1).copied().unwrap_or(if bench { 20 } else { 5 });
    let chats = numbers.get(2).copied().unwrap_or(if bench { 100_000 } else { 200 });
    let messages = numbers.get(3).copied().unwrap_or(if bench { 1_000_000 } else { 2_000 });
    let rate = numbers.get(4).copied().unwrap_or(if bench { 1_000 } else { 50 });

    let sim = wa_sim::Sim::new();
    let sim_addr = wa_sim::admin::spawn(sim.clone(), "127.0.0.1:0".parse().unwrap()).await.expect("wa-sim");
    println!("wagate inbox bench (release gateway process, SQLite, wa-sim over loopback WebSockets, 2 cores)");
    receiving(&sim, sim_addr, sessions, per_session, rate).await;
    reading(sim_addr, chats, messages).await;
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

fn summary(mut ms: Vec<f64>) -> String {
    ms.sort_by(f64::total_cmp);
    format!(
        "p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        percentile(&ms, 0.50),
        percentile(&ms, 0.99),
        ms.last().copied().unwrap_or(0.0)
    )
}

/// When each `message.received` event reached this subscriber, by WhatsApp id.
type Seen = Arc<Mutex<HashMap<String, Instant>>>;

async fn receiving(
    sim: &wa_sim::Sim,
    sim_addr: std::net::SocketAddr,
    sessions: usize,
    per_session: usize,
    rate: usize,
) {
    let mut gateway = Gateway::new(sim_addr, Vec::new());
    let child = gateway.start().await;
    gateway.login().await;
    let gateway = Arc::new(gateway);
    gateway.link(sim, "in", sessions, 7_000_000).await;
    let pid = child.id().expect("gateway pid");
    let seen: Seen = Arc::default();
    let reader = subscribe(&gateway, seen.clone()).await;

    // a. Throughput: everything at once.
    let total = sessions * per_session;
    let logins_before = sim.logins().len();
    sim.reset_silence();
    let cpu_before = cpu_seconds(pid);
    let started = Instant::now();
    let mut writers = Vec::new();
    for s in 0..sessions {
        let sim = sim.clone();
        writers.push(tokio::spawn(async move {
            for n in 0..per_session {
                sim.deliver(&write(s, format!("pesan {n}"))).await.expect("deliver");
            }
        }));
    }
    for writer in writers {
        writer.await.unwrap();
    }
    wait_seen(&seen, total).await;
    let last = seen.lock().unwrap().values().max().copied().unwrap();
    let elapsed = last - started;
    let cpu = cpu_seconds(pid) - cpu_before;
    println!(
        "receiving, {sessions} sessions, SQLite, all at once: {total} messages stored in {:.2} s: {:.0} messages/s; gateway CPU {:.2} ms per message",
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64(),
        cpu * 1000.0 / total as f64,
    );
    // Stored once each: a row per message, none twice.
    let db_path = gateway.dir.path().join("data").join("wagate.db");
    let db = Database::connect(format!("sqlite://{}?mode=ro", db_path.display()).as_str()).await.expect("database");
    let counted = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT COUNT(*) AS n, COUNT(DISTINCT session_id || ' ' || wa_id) AS d FROM inbound_messages",
        ))
        .await
        .expect("count")
        .expect("a row");
    let (rows, distinct): (i64, i64) = (counted.try_get("", "n").unwrap(), counted.try_get("", "d").unwrap());
    db.close().await.ok();
    let reconnects = sim.logins().len() - logins_before;
    println!(
        "  stored: {rows} rows for {total} messages ({distinct} distinct); reconnects during the burst: {reconnects}; longest a client went silent: {:.1} s (keepalive deadline 20 s)",
        sim.longest_silence().as_secs_f64()
    );
    assert_eq!((rows, distinct), (total as i64, total as i64), "every message stored once");

    // b. Latency at a steady rate.
    seen.lock().unwrap().clear();
    let count = rate * 3;
    let sent: Seen = Arc::default();
    let mut ticks = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(count);
    for n in 0..count {
        ticks.tick().await;
        let (sim, sent) = (sim.clone(), sent.clone());
        tasks.push(tokio::spawn(async move {
            let at = Instant::now();
            let id = sim.deliver(&write(n % sessions, format!("pesan tetap {n}"))).await.expect("deliver");
            sent.lock().unwrap().insert(id, at);
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    wait_seen(&seen, count).await;
    let last = seen.lock().unwrap().values().max().copied().unwrap();
    let latencies: Vec<f64> = {
        let (sent, seen) = (sent.lock().unwrap(), seen.lock().unwrap());
        sent.iter().filter_map(|(id, at)| Some((*seen.get(id)? - *at).as_secs_f64() * 1000.0)).collect()
    };
    println!(
        "receiving, {sessions} sessions, SQLite, {rate} messages/s offered: {count} stored at {:.0} messages/s; wa-sim send -> SSE event {}",
        count as f64 / (last - started).as_secs_f64(),
        summary(latencies),
    );
    reader.abort();
    drop(child);
}

/// What the contact of session `s` writes to it.
fn write(s: usize, text: String) -> wa_sim::messages::Write {
    wa_sim::messages::Write {
        from: format!("62822{:07}", 7_000_000 + s),
        to: format!("62811{:07}", 7_000_000 + s),
        text: Some(text),
        ..Default::default()
    }
}

async fn wait_seen(seen: &Seen, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(300);
    while seen.lock().unwrap().len() < n {
        assert!(Instant::now() < deadline, "only {} of {n} messages stored", seen.lock().unwrap().len());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Reads `GET /events`, noting when each `message.received` arrives.
async fn subscribe(gateway: &Gateway, seen: Seen) -> tokio::task::JoinHandle<()> {
    let resp = gateway
        .http
        .get(format!("{}/events", gateway.base()))
        .bearer_auth(&gateway.token)
        .send()
        .await
        .expect("subscribe");
    let reader = tokio::spawn(async move {
        let mut resp = resp;
        let mut buffer = String::new();
        while let Ok(Some(chunk)) = resp.chunk().await {
            buffer.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = buffer.find("\n\n") {
                let block: String = buffer.drain(..end + 2).collect();
                if !block.contains("event: message.received") {
                    continue;
                }
                let data = block.lines().find_map(|l| l.strip_prefix("data:")).unwrap_or_default();
                if let Ok(event) = serde_json::from_str::<Value>(data.trim()) {
                    let id = event["message_id"].as_str().unwrap_or_default().to_owned();
                    seen.lock().unwrap().insert(id, Instant::now());
                }
            }
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    reader
}

async fn reading(sim_addr: std::net::SocketAddr, chats: usize, messages: usize) {
    // Reading needs no linked device: one session row is enough.
    let mut gateway = Gateway::new(sim_addr, Vec::new());
    let mut child = gateway.start().await;
    gateway.login().await;
    gateway.call(reqwest::Method::POST, "/session/create", Some(serde_json::json!({"sessionId": "big"}))).await;
    // Filled while the gateway is stopped (one writer), then started again on it.
    child.kill().await.expect("stop the gateway");
    let db_path = gateway.dir.path().join("data").join("wagate.db");
    let db = Database::connect(format!("sqlite://{}?mode=rw", db_path.display()).as_str()).await.expect("database");
    db.execute_unprepared("PRAGMA busy_timeout = 10000").await.unwrap();
    let owner: i64 = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT user_id FROM sessions WHERE id = 'big'",
        ))
        .await
        .unwrap()
        .expect("session row")
        .try_get_by_index(0)
        .unwrap();
    let filling = Instant::now();
    common::inbox_data::fill(&db, "big", owner, chats, messages).await;
    db.execute_unprepared("ANALYZE").await.unwrap();
    println!(
        "reading, SQLite: {chats} chats and {messages} messages written in {:.1} s",
        filling.elapsed().as_secs_f64()
    );
    db.close().await.expect("close the database");
    let child = gateway.start().await;
    let time = |path: String| {
        let gateway = &gateway;
        async move {
            let at = Instant::now();
            let body = gateway.call(reqwest::Method::GET, &path, None).await;
            (at.elapsed().as_secs_f64() * 1000.0, body)
        }
    };
    // Warm up, then measure.
    for _ in 0..20 {
        time("/chats/".into()).await;
    }
    let mut list = Vec::new();
    for _ in 0..300 {
        let (ms, body) = time("/chats/".into()).await;
        assert_eq!(body.as_array().map(Vec::len), Some(50.min(chats)));
        list.push(ms);
    }
    let mut detail = Vec::new();
    let mut older = Vec::new();
    for _ in 0..300 {
        let chat = rand::rng().random_range(1..=chats);
        let (ms, body) = time(format!("/chats/{chat}")).await;
        assert!(!body["messages"].as_array().unwrap().is_empty());
        detail.push(ms);
        if let Some(before) = body["before"].as_i64() {
            let (ms, _) = time(format!("/chats/{chat}/messages?before={before}")).await;
            older.push(ms);
        }
    }
    println!("reading, SQLite, {chats} chats / {messages} messages: GET /chats/ (first page): {}", summary(list));
    println!(
        "reading, SQLite, {chats} chats / {messages} messages: GET /chats/{{id}} (latest 50): {}",
        summary(detail)
    );
    if !older.is_empty() {
        println!(
            "reading, SQLite, {chats} chats / {messages} messages: GET /chats/{{id}}/messages?before= (older 50): {}",
            summary(older)
        );
    }
    drop(child);
}
