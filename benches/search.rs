//! How fast search inside messages answers, and what an export of every
//! message costs, on the inbox bench's data.
//!
//!     cargo bench --bench search -- [chats=100000] [messages=1000000] [queries=300]
//!
//! On SQLite, then on MariaDB (`WAGATE_BENCH_MYSQL_URL`, default
//! `mysql://root@127.0.0.1:3306`; skipped when it cannot be reached): a stopped
//! release gateway's database filled with `chats` chats and `messages`
//! received messages (`common::inbox_data`: Indonesian support talk, Zipf
//! word frequencies, in the timelines and the search index as the gateway
//! writes them), the gateway started on it, then `GET /chats/search?q=`
//! over HTTP, `queries` requests of each kind, one at a time: a word among the
//! 5 most frequent (in about a quarter of the messages), one of middle
//! frequency, a rare one (an invoice number, a street), two words, and an
//! agent's search (100 chats assigned) for a frequent word. Prints p50, p99
//! and max per kind, and the hits found. Then `GET /chats/export` of every
//! message, as CSV and as JSON, read as it streams: its size, time, and the
//! gateway's resident memory before and at its peak (sampled every 20 ms).

mod common;

use std::time::Instant;

use common::{
    Gateway, PeakRss, bench_args,
    inbox_data::{Rng, WORDS, fill},
    rss_kib,
};
use sea_orm::{ConnectionTrait, Database, Statement};
use serde_json::{Value, json};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let (bench, args) = bench_args();
    let numbers: Vec<usize> = args.iter().filter_map(|a| a.parse().ok()).collect();
    let chats = numbers.first().copied().unwrap_or(if bench { 100_000 } else { 200 });
    let messages = numbers.get(1).copied().unwrap_or(if bench { 1_000_000 } else { 2_000 });
    let queries = numbers.get(2).copied().unwrap_or(if bench { 300 } else { 5 });
    let sim = wa_sim::Sim::new();
    let sim_addr = wa_sim::admin::spawn(sim.clone(), "127.0.0.1:0".parse().unwrap()).await.expect("wa-sim");
    println!("wagate search bench (release gateway process, {chats} chats / {messages} messages, 2 cores)");
    run("SQLite", None, sim_addr, chats, messages, queries).await;
    let server = std::env::var("WAGATE_BENCH_MYSQL_URL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".into());
    match Database::connect(server.as_str()).await {
        Ok(admin) => {
            let name = format!("wagate_bench_search_{}", std::process::id());
            admin.execute_unprepared(&format!("CREATE DATABASE `{name}`")).await.expect("create bench database");
            let url = format!("{}/{name}", server.trim_end_matches('/'));
            run("MariaDB", Some(url), sim_addr, chats, messages, queries).await;
            admin.execute_unprepared(&format!("DROP DATABASE `{name}`")).await.ok();
        }
        Err(e) => println!("MariaDB: skipped, cannot connect to {server}: {e}"),
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

async fn run(
    name: &str,
    url: Option<String>,
    sim_addr: std::net::SocketAddr,
    chats: usize,
    messages: usize,
    queries: usize,
) {
    let env = url.iter().map(|u| ("DATABASE_URL".to_owned(), u.clone())).collect();
    let mut gateway = Gateway::new(sim_addr, env);
    let mut child = gateway.start().await;
    gateway.login().await;
    gateway.call(reqwest::Method::POST, "/session/create", Some(json!({"sessionId": "big"}))).await;
    let agent = json!({"email": "agen@example.com", "password": "agen-password", "name": "Agen", "username": "agen", "role": "agent"});
    let made = gateway.call(reqwest::Method::POST, "/user/create", Some(agent)).await;
    let agent_id = made["data"]["id"].as_i64().expect("agent id");
    // Filled while the gateway is stopped (one writer), then started again on it.
    child.kill().await.expect("stop the gateway");
    let db_url = url
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}?mode=rw", gateway.dir.path().join("data").join("wagate.db").display()));
    let db = Database::connect(db_url.as_str()).await.expect("database");
    let backend = db.get_database_backend();
    if url.is_none() {
        db.execute_unprepared("PRAGMA busy_timeout = 10000").await.unwrap();
    }
    let owner: i64 = db
        .query_one_raw(Statement::from_string(backend, "SELECT user_id FROM sessions WHERE id = 'big'"))
        .await
        .unwrap()
        .expect("session row")
        .try_get_by_index(0)
        .unwrap();
    let filling = Instant::now();
    fill(&db, "big", owner, chats, messages).await;
    db.execute_unprepared(&format!("UPDATE chats SET assigned_agent_id = {agent_id} WHERE id <= 100")).await.unwrap();
    db.execute_unprepared(if url.is_none() { "ANALYZE" } else { "ANALYZE TABLE chats, chat_entries, chat_words" })
        .await
        .unwrap();
    println!(
        "{name}: {chats} chats and {messages} messages (indexed) written in {:.1} s",
        filling.elapsed().as_secs_f64()
    );
    db.close().await.expect("close the database");
    let child = gateway.start().await;
    let mut agent_gateway = Gateway::new(sim_addr, Vec::new());
    agent_gateway.port = gateway.port;
    agent_gateway.token = gateway.login_as("agen", "agen-password").await;

    let mut rng = Rng::new(7);
    let mut pick =
        |from: std::ops::Range<usize>| WORDS[from.start + rng.below((from.end - from.start) as u64) as usize];
    let kinds: Vec<(&str, Vec<String>, bool)> =
        vec![
            ("a frequent word", (0..queries).map(|_| pick(0..5).to_owned()).collect(), false),
            ("a middle word", (0..queries).map(|_| pick(20..60).to_owned()).collect(), false),
            (
                "a rare word",
                (0..queries)
                    .map(|i| {
                        if i % 2 == 0 {
                            format!("inv{:07}", i * 613 % 200_000)
                        } else {
                            format!("jl{}", i * 37 % 5_000)
                        }
                    })
                    .collect(),
                false,
            ),
            ("two words", (0..queries).map(|_| format!("{} {}", pick(0..5), pick(20..60))).collect(), false),
            ("an agent (100 chats), a frequent word", (0..queries).map(|_| pick(0..5).to_owned()).collect(), true),
        ];
    for q in kinds[0].1.iter().take(20) {
        search(&gateway, q).await;
    }
    for (kind, list, as_agent) in kinds {
        let who = if as_agent { &agent_gateway } else { &gateway };
        let mut ms = Vec::new();
        let mut hits = 0;
        for q in &list {
            let at = Instant::now();
            let page = search(who, q).await;
            ms.push(at.elapsed().as_secs_f64() * 1000.0);
            hits += page["data"].as_array().map_or(0, Vec::len);
        }
        ms.sort_by(f64::total_cmp);
        println!(
            "{name}, GET /chats/search, {kind}: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms ({:.1} hits per page of 20)",
            percentile(&ms, 0.50),
            percentile(&ms, 0.99),
            ms.last().copied().unwrap_or(0.0),
            hits as f64 / list.len() as f64
        );
    }
    for format in ["csv", "json"] {
        let pid = child.id().expect("gateway pid");
        let before = rss_kib(pid);
        let peak = PeakRss::start(pid, std::time::Duration::from_millis(20));
        let at = Instant::now();
        let mut resp = gateway
            .http
            .get(format!("{}/chats/export?format={format}", gateway.base()))
            .bearer_auth(&gateway.token)
            .send()
            .await
            .expect("export");
        assert!(resp.status().is_success(), "export: {}", resp.status());
        let (mut bytes, mut lines) = (0usize, 0usize);
        while let Some(chunk) = resp.chunk().await.expect("export body") {
            bytes += chunk.len();
            lines += chunk.iter().filter(|b| **b == b'\n').count();
        }
        let secs = at.elapsed().as_secs_f64();
        let peak = peak.stop().await;
        if format == "csv" {
            assert_eq!(lines, messages + 1, "one line per message and the header");
        }
        println!(
            "{name}, GET /chats/export?format={format}, {messages} messages: {:.1} MB in {secs:.1} s ({:.0} messages/s); gateway RSS {:.1} MiB before, peak {:.1} MiB (+{:.1} MiB)",
            bytes as f64 / 1e6,
            messages as f64 / secs,
            before as f64 / 1024.0,
            peak as f64 / 1024.0,
            peak.saturating_sub(before) as f64 / 1024.0
        );
    }
    drop(child);
}

async fn search(gateway: &Gateway, q: &str) -> Value {
    gateway.call(reqwest::Method::GET, &format!("/chats/search?q={}&limit=20", q.replace(' ', "+")), None).await
}
