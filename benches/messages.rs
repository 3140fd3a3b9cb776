//! How fast the send queue accepts and sends.
//!
//!     cargo bench --bench messages -- [requests=20000] [sessions=100] [per-session=10]
//!
//! 1. Accepting: `POST /message/send-text` from 64 concurrent clients against
//!    the release-built gateway process, on SQLite (`synchronous = FULL`, the
//!    default, and `NORMAL` for comparison) and on MariaDB
//!    (`WAGATE_BENCH_MYSQL_URL`, default `mysql://root@127.0.0.1:3306`; a
//!    database of its own is created and dropped for each gateway run). Default
//!    limits, so the dispatcher idles as it would while a big queue builds up.
//!    Prints requests/s and latency percentiles, measured by the client.
//! 2. Dispatching, on SQLite and on MariaDB: N linked sessions with limits off,
//!    `per-session` messages each, sent through the real engine to wa-sim (which
//!    decrypts every message in this process, on the same two cores). Prints
//!    messages/s and the gateway's CPU time per message.

mod common;

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use common::{Gateway, bench_args, cpu_seconds};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use serde_json::{Value, json};

const CLIENTS: usize = 64;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let (bench, args) = bench_args();
    let numbers: Vec<usize> = args.iter().filter_map(|a| a.parse().ok()).collect();
    let requests = numbers.first().copied().unwrap_or(if bench { 20_000 } else { 300 });
    let sessions = numbers.get(1).copied().unwrap_or(if bench { 100 } else { 3 });
    let per_session = numbers.get(2).copied().unwrap_or(10).max(2);

    let sim = wa_sim::Sim::new();
    let sim_addr = wa_sim::admin::spawn(sim.clone(), "127.0.0.1:0".parse().unwrap()).await.expect("wa-sim");
    let mut mariadb = MariaDb::connect().await;

    println!("wagate messages bench (release gateway process, wa-sim over loopback WebSockets, 2 cores)");
    accepting(&sim, sim_addr, "SQLite", None, requests, 9_000_000).await;
    // What syncing every commit costs: the same run with synchronous = NORMAL.
    accepting(&sim, sim_addr, "SQLite-normal", None, requests, 9_050_000).await;
    if let Some(url) = mariadb.database().await {
        accepting(&sim, sim_addr, "MariaDB", Some(url), requests, 9_100_000).await;
    }
    for recipients in [Recipients::Distinct, Recipients::Repeated] {
        dispatching(&sim, sim_addr, "SQLite", None, sessions, per_session, recipients).await;
    }
    for recipients in [Recipients::Distinct, Recipients::Repeated] {
        if let Some(url) = mariadb.database().await {
            dispatching(&sim, sim_addr, "MariaDB", Some(url), sessions, per_session, recipients).await;
        }
    }
    mariadb.drop_all().await;
}

/// The MariaDB server of `WAGATE_BENCH_MYSQL_URL`, if it answers, and the
/// databases made on it.
struct MariaDb {
    server: String,
    admin: Option<DatabaseConnection>,
    made: Vec<String>,
}

impl MariaDb {
    async fn connect() -> MariaDb {
        let server = std::env::var("WAGATE_BENCH_MYSQL_URL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".into());
        let admin = match Database::connect(server.as_str()).await {
            Ok(admin) => Some(admin),
            Err(e) => {
                println!("  MariaDB: skipped, cannot connect to {server}: {e}");
                None
            }
        };
        MariaDb { server, admin, made: Vec::new() }
    }

    /// A new empty database's URL.
    async fn database(&mut self) -> Option<String> {
        let admin = self.admin.as_ref()?;
        let name = format!("wagate_bench_{}_{}", std::process::id(), self.made.len());
        admin.execute_unprepared(&format!("CREATE DATABASE `{name}`")).await.expect("create bench database");
        self.made.push(name.clone());
        Some(format!("{}/{name}", self.server.trim_end_matches('/')))
    }

    async fn drop_all(&mut self) {
        let Some(admin) = &self.admin else { return };
        for name in self.made.drain(..) {
            admin.execute_unprepared(&format!("DROP DATABASE `{name}`")).await.ok();
        }
    }
}

/// Whom each session's messages go to.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Recipients {
    /// Ten contacts, a new one for every message (a broadcast: each is a
    /// first contact, with its key exchange).
    Distinct,
    /// One contact per session, all ten messages (one key exchange).
    Repeated,
}

async fn accepting(
    sim: &wa_sim::Sim,
    sim_addr: std::net::SocketAddr,
    db: &str,
    url: Option<String>,
    requests: usize,
    number: usize,
) {
    let mut env = Vec::new();
    if let Some(url) = url {
        env.push(("DATABASE_URL".to_owned(), url));
    }
    if db == "SQLite-normal" {
        env.push(("WAGATE__DATABASE__SQLITE_SYNCHRONOUS".to_owned(), "normal".to_owned()));
    }
    let mut gateway = Gateway::new(sim_addr, env);
    let child = gateway.start().await;
    gateway.login().await;
    let gateway = Arc::new(gateway);
    let prefix = format!("accept-{}", db.to_lowercase());
    gateway.link(sim, &prefix, 1, number).await;
    sim.add_contacts(&["628222000001".to_owned()]);
    let session = format!("{prefix}-0");

    // Warm-up (connections, caches), then the measured run.
    run_clients(&gateway, &session, requests / 10).await;
    let pid = child.id().unwrap();
    let cpu_before = cpu_seconds(pid);
    let started = Instant::now();
    let mut latencies = run_clients(&gateway, &session, requests).await;
    let elapsed = started.elapsed();
    let cpu = cpu_seconds(pid) - cpu_before;
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    println!(
        "  accept send-text, {db}: {requests} requests, {CLIENTS} clients: {:.0} requests/s; latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; gateway CPU {:.2} ms per request",
        requests as f64 / elapsed.as_secs_f64(),
        ms(pct(0.50)),
        ms(pct(0.99)),
        ms(*latencies.last().unwrap()),
        cpu * 1000.0 / requests as f64,
    );
}

/// `total` send-text requests from [`CLIENTS`] concurrent clients; their latencies.
async fn run_clients(gateway: &Arc<Gateway>, session: &str, total: usize) -> Vec<Duration> {
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..CLIENTS {
        let (gateway, next, session) = (gateway.clone(), next.clone(), session.to_owned());
        tasks.push(tokio::spawn(async move {
            let url = format!("{}/message/send-text", gateway.base());
            let mut latencies = Vec::new();
            while next.fetch_add(1, Ordering::Relaxed) < total {
                let body = json!({"session": session, "to": "628222000001", "text": "Gangguan jaringan di ODP-12, estimasi pulih 14:00"});
                let started = Instant::now();
                let resp = gateway.http.post(&url).bearer_auth(&gateway.token).json(&body).send().await.expect("request");
                let status = resp.status();
                let _ = resp.bytes().await;
                latencies.push(started.elapsed());
                assert_eq!(status, reqwest::StatusCode::ACCEPTED);
            }
            latencies
        }));
    }
    let mut all = Vec::with_capacity(total);
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    all
}

async fn dispatching(
    sim: &wa_sim::Sim,
    sim_addr: std::net::SocketAddr,
    db: &str,
    url: Option<String>,
    n: usize,
    per_session: usize,
    recipients: Recipients,
) {
    let mut env: Vec<(String, String)> = [
        ("DELAY_MIN_MS", "0"),
        ("DELAY_MAX_MS", "0"),
        ("PER_MINUTE", "0"),
        ("PER_HOUR", "0"),
        ("PER_RECIPIENT_PER_HOUR", "0"),
    ]
    .iter()
    .map(|(k, v)| (format!("WAGATE__LIMITS__{k}"), (*v).to_owned()))
    .collect();
    if let Some(url) = url {
        env.push(("DATABASE_URL".to_owned(), url));
    }
    let mut gateway = Gateway::new(sim_addr, env);
    let child = gateway.start().await;
    gateway.login().await;
    let gateway = Arc::new(gateway);
    let prefix = format!("dispatch-{}-{recipients:?}", db.to_lowercase()).to_lowercase();
    // Numbers of their own: devices an earlier run linked would each get a copy of every message.
    let first = match (db, recipients) {
        ("SQLite", Recipients::Distinct) => 0,
        ("SQLite", Recipients::Repeated) => 1_000_000,
        (_, Recipients::Distinct) => 2_000_000,
        (_, Recipients::Repeated) => 3_000_000,
    };
    gateway.link(sim, &prefix, n, first).await;
    let contacts: Vec<String> = (0..per_session).map(|i| format!("62822300{i:04}")).collect();
    sim.add_contacts(&contacts);

    // Hold every queue (an hour's pause after the first send), fill them, then let go at once.
    let hold = json!({"delayMinMs": 3_600_000, "delayMaxMs": 3_600_000});
    for i in 0..n {
        gateway.call(reqwest::Method::PUT, &format!("/session/{prefix}-{i}/limits"), Some(hold.clone())).await;
    }
    for i in 0..n {
        for m in 0..per_session {
            let to = match recipients {
                Recipients::Distinct => &contacts[(i + m) % contacts.len()],
                Recipients::Repeated => &contacts[i % contacts.len()],
            };
            let body = json!({"session": format!("{prefix}-{i}"), "to": to, "text": format!("pesan {m}")});
            gateway.call(reqwest::Method::POST, "/message/send-text", Some(body)).await;
        }
    }
    until_sent(&gateway, n).await; // the first of each session went before the hold
    let pid = child.id().unwrap();
    let cpu_before = cpu_seconds(pid);
    let started = Instant::now();
    for i in 0..n {
        gateway.call(reqwest::Method::PUT, &format!("/session/{prefix}-{i}/limits"), Some(json!({}))).await;
    }
    let total = n * per_session;
    until_sent(&gateway, total).await;
    let elapsed = started.elapsed();
    let cpu = cpu_seconds(pid) - cpu_before;
    let sent = total - n;
    println!(
        "  dispatch, {n} sessions, limits off, {db}, {}: {sent} messages sent and acked in {:.2} s: {:.0} messages/s; gateway CPU {:.2} ms per message",
        match recipients {
            Recipients::Distinct => "each to a new contact",
            Recipients::Repeated => "to one contact each",
        },
        elapsed.as_secs_f64(),
        sent as f64 / elapsed.as_secs_f64(),
        cpu * 1000.0 / sent as f64,
    );
}

async fn until_sent(gateway: &Gateway, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let page: Value = gateway.call(reqwest::Method::GET, "/message/list?status=sent&limit=1", None).await;
        if page["total"].as_u64().unwrap_or(0) as usize >= n {
            return;
        }
        assert!(Instant::now() < deadline, "only {} of {n} sent", page["total"]);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
