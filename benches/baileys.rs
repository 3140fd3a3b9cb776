//! wagate and Baileys side by side: one machine, one wa-sim, the same load.
//!
//!     cargo bench --bench baileys -- [sessions=100 1000] [messages-per-session=5]
//!
//! For each session count N, each engine gets a fresh wa-sim served from this
//! process over loopback WebSockets, and:
//! - links N numbers by QR (16 at a time) and sits idle: resident memory per
//!   idle connected session (RSS over the process's RSS before any session);
//! - sends `messages-per-session` texts from every session to a contact it has
//!   written to before (known) and to contacts it never wrote to (new), all at
//!   once with no rate limits: CPU time per message and messages/s, counted
//!   until wa-sim's contacts have decrypted every one;
//! - restarts (the process is stopped and started again): time from the new
//!   process's start to all N connected;
//! - gets 50 messages from contacts, one at a time: the time from wa-sim's send
//!   to the application seeing it (wagate: its `message.received` event on
//!   `GET /events`; Baileys: its `messages.upsert` event, written to stdout).
//!
//! wagate is the release-built gateway process (SQLite, `synchronous = FULL`,
//! limits off); its sends go through the durable queue (each message claimed
//! and its status written), the work Baileys does not do. Baileys
//! (benches/baileys/package.json: 7.0.0-rc14) runs all sockets in one Node
//! process, as wa-multi-session does, with its defaults, a silent logger and
//! garbage collection forced before memory is read (its best figure). Needs
//! Node 20+ and npm; without them, or when run by `cargo test`, it skips Baileys.
//! `WAGATE_BENCH_BAILEYS_MAX=N` runs Baileys only up to N sessions; a count
//! whose memory (at the last measured cost per session) would not fit is skipped.
//! Baileys gets `WAGATE_BENCH_BAILEYS_LINK_MINUTES` (20) to link; if it has not
//! linked them all by then, the sockets still linking are ended and the figures
//! are for the sessions that linked (the table says how many).

mod common;

use std::{
    collections::HashMap,
    process::Stdio,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use common::{Gateway, bench_args, cpu_seconds, rss_kib};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// The figures of one engine at one session count.
#[derive(Default, Clone)]
struct Figures {
    /// The sessions measured: all asked for, unless linking ran out of time.
    sessions: usize,
    /// Seconds to link every session by QR code (16 at a time).
    link_s: f64,
    /// KiB of RSS per idle connected session.
    memory_kib: f64,
    /// Milliseconds of CPU time per message.
    cpu_known_ms: f64,
    cpu_new_ms: f64,
    /// Messages per second to known contacts.
    rate: f64,
    restore_s: f64,
    inbound_p50_ms: f64,
    inbound_p99_ms: f64,
}

const INBOUND: usize = 50;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let (bench, args) = bench_args();
    if !bench {
        println!("baileys bench: run it with `cargo bench --bench baileys` (it needs Node and npm)");
        return;
    }
    let numbers: Vec<usize> = args.iter().filter_map(|a| a.parse().ok()).collect();
    let per_session = if numbers.len() > 1 { *numbers.last().unwrap() } else { 5 };
    let counts: Vec<usize> = if numbers.len() > 1 {
        numbers[..numbers.len() - 1].to_vec()
    } else if numbers.len() == 1 {
        numbers.clone()
    } else {
        vec![100, 1000]
    };
    let node = baileys_ready();
    if let Err(why) = &node {
        println!("Baileys skipped: {why}");
    }
    let mut rows = Vec::new();
    let mut skipped = Vec::new();
    // KiB per Baileys session at the last count run: a count that would not fit
    // in this machine's available memory is not attempted (it would be killed).
    let mut baileys_kib: Option<f64> = None;
    for &n in &counts {
        let ours = wagate(n, per_session).await;
        report("wagate", n, &ours);
        let fits = baileys_kib.is_none_or(|kib| kib * n as f64 * 1.2 < available_kib() as f64);
        let allowed = std::env::var("WAGATE_BENCH_BAILEYS_MAX")
            .ok()
            .and_then(|m| m.parse().ok())
            .is_none_or(|max: usize| n <= max);
        let theirs = match &node {
            Ok(()) if !allowed => {
                skipped.push(format!("Baileys at {n} sessions was not run: over WAGATE_BENCH_BAILEYS_MAX"));
                None
            }
            Ok(()) if fits => {
                let figures = baileys(n, per_session).await;
                report("Baileys", n, &figures);
                baileys_kib = Some(figures.memory_kib);
                Some(figures)
            }
            Ok(()) => {
                let need = baileys_kib.unwrap_or_default() * n as f64 / 1024.0 / 1024.0;
                let have = available_kib() as f64 / 1024.0 / 1024.0;
                skipped.push(format!(
                    "Baileys at {n} sessions was not run: at its measured memory per session it needs about \
                     {need:.1} GB, and this machine has {have:.1} GB available"
                ));
                None
            }
            Err(_) => None,
        };
        rows.push((n, ours, theirs));
    }
    println!();
    println!(
        "wagate {} (release, SQLite, limits off) vs Baileys 7.0.0-rc14 (Node {}, one process for all sockets)",
        env!("CARGO_PKG_VERSION"),
        node_version()
    );
    println!(
        "one wa-sim per run over loopback WebSockets, both on this machine's 2 cores; {per_session} messages per session"
    );
    println!("{:<58} {:>12} {:>12} {:>10}", "", "wagate", "Baileys", "ratio");
    for (n, ours, theirs) in rows {
        let ran = theirs.is_some();
        let t = theirs.unwrap_or_default();
        let row = |name: &str, a: f64, b: f64, unit: &str, higher_is_better: bool| {
            let label = format!("{name} ({n} sessions)");
            if !ran {
                println!("{label:<58} {a:>9.2} {unit:<2} {:>12} {:>10}", "not run", "");
                return;
            }
            // Figures of the few sessions Baileys linked are not set against wagate's N.
            if t.sessions < n {
                println!("{label:<58} {a:>9.2} {unit:<2} {b:>9.2} {unit:<2} {:>9}", "-");
                return;
            }
            let ratio = if higher_is_better { a / b } else { b / a };
            println!("{label:<58} {a:>9.2} {unit:<2} {b:>9.2} {unit:<2} {ratio:>9.1}×");
        };
        if ran && t.sessions < n {
            println!(
                "Baileys at {n} sessions: {} linked in {:.0} minutes, when linking was stopped; its figures below are \
                 for those {}, in a process that had set up {n} (no ratio)",
                t.sessions,
                t.link_s / 60.0,
                t.sessions
            );
            let label = format!("link all by QR, 16 at a time ({n} sessions)");
            let limit = format!("> {:.0}", t.link_s);
            println!("{label:<58} {:>9.2} s  {limit:>9} s  {:>9}", ours.link_s, "-");
        } else {
            row("link all by QR, 16 at a time", ours.link_s, t.link_s, "s", false);
        }
        row("memory per idle connected session", ours.memory_kib / 1024.0, t.memory_kib / 1024.0, "MB", false);
        row("CPU per message, known contact", ours.cpu_known_ms, t.cpu_known_ms, "ms", false);
        row("CPU per message, new contact", ours.cpu_new_ms, t.cpu_new_ms, "ms", false);
        row("messages/s, known contacts, limits off", ours.rate, t.rate, "/s", true);
        row("restart to all connected", ours.restore_s, t.restore_s, "s", false);
        row("inbound, wa-sim to application, p50", ours.inbound_p50_ms, t.inbound_p50_ms, "ms", false);
        row("inbound, wa-sim to application, p99", ours.inbound_p99_ms, t.inbound_p99_ms, "ms", false);
    }
    println!(
        "ratio: how many times better wagate is (Baileys' figure over wagate's; for messages/s, wagate's over Baileys')"
    );
    for line in skipped {
        println!("{line}");
    }
}

/// One engine's figures as soon as they are measured (the table comes at the end).
fn report(engine: &str, n: usize, f: &Figures) {
    eprintln!(
        "  {engine}, {n} sessions: {} linked in {:.1} s, {:.2} MB per idle session, CPU {:.2} / {:.2} ms per message \
         (known / new contact), {:.0} messages/s, restart {:.1} s, inbound p50 {:.2} ms p99 {:.2} ms",
        f.sessions,
        f.link_s,
        f.memory_kib / 1024.0,
        f.cpu_known_ms,
        f.cpu_new_ms,
        f.rate,
        f.restore_s,
        f.inbound_p50_ms,
        f.inbound_p99_ms
    );
}

/// How long Baileys may take to link the sessions (`WAGATE_BENCH_BAILEYS_LINK_MINUTES`,
/// 20 by default); then the sockets not yet open are ended and the rest measured.
fn link_limit() -> Duration {
    let minutes =
        std::env::var("WAGATE_BENCH_BAILEYS_LINK_MINUTES").ok().and_then(|m| m.parse().ok()).unwrap_or(20.0_f64);
    Duration::from_secs_f64(minutes * 60.0)
}

/// `MemAvailable` of /proc/meminfo, in KiB.
fn available_kib() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines().find_map(|l| l.strip_prefix("MemAvailable:")?.trim().strip_suffix("kB")?.trim().parse().ok())
        })
        .unwrap_or(0)
}

/// Contacts of session `i`: one it writes to first (then known), and new ones.
fn contacts(i: usize, per_session: usize) -> (String, Vec<String>) {
    let known = format!("62844{i:07}");
    let new = (0..per_session).map(|m| format!("6285{:08}", i * per_session + m)).collect();
    (known, new)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Waits until wa-sim's contacts have decrypted `total` messages.
async fn until_received(sim: &wa_sim::Sim, total: usize, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(600);
    while sim.received(None).len() < total {
        assert!(Instant::now() < deadline, "{what}: only {} of {total} arrived", sim.received(None).len());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn wagate(n: usize, per_session: usize) -> Figures {
    eprintln!("wagate, {n} sessions ...");
    let sim = wa_sim::Sim::new();
    let sim_addr = wa_sim::admin::spawn(sim.clone(), "127.0.0.1:0".parse().unwrap()).await.expect("wa-sim");
    let env: Vec<(String, String)> =
        ["DELAY_MIN_MS", "DELAY_MAX_MS", "PER_MINUTE", "PER_HOUR", "PER_RECIPIENT_PER_HOUR"]
            .iter()
            .map(|k| (format!("WAGATE__LIMITS__{k}"), "0".to_owned()))
            .collect();
    let mut gateway = Gateway::new(sim_addr, env);
    let mut child = gateway.start().await;
    gateway.login().await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let pid = child.id().unwrap();
    let baseline = rss_kib(pid);
    let gateway = Arc::new(gateway);
    let linking = Instant::now();
    gateway.link(&sim, "s", n, 0).await;
    let link_s = linking.elapsed().as_secs_f64();
    eprintln!("  wagate: {n} linked in {link_s:.1} s");
    tokio::time::sleep(Duration::from_secs(10)).await;
    let memory_kib = rss_kib(pid).saturating_sub(baseline) as f64 / n as f64;

    let all: Vec<(String, Vec<String>)> = (0..n).map(|i| contacts(i, per_session)).collect();
    sim.add_contacts(
        &all.iter().flat_map(|(k, new)| std::iter::once(k.clone()).chain(new.clone())).collect::<Vec<_>>(),
    );
    let send = |i: usize, to: String, text: String| {
        let gateway = gateway.clone();
        async move {
            let body = json!({"session": format!("s-{i}"), "to": to, "text": text});
            gateway.call(reqwest::Method::POST, "/message/send-text", Some(body)).await;
        }
    };
    // Warm-up: one message to each known contact, 32 requests at a time (the
    // gateway answers 503 to more than `max_connections_per_address`).
    futures_util::stream::StreamExt::collect::<Vec<()>>(futures_util::stream::StreamExt::buffer_unordered(
        futures_util::stream::iter((0..n).map(|i| send(i, all[i].0.clone(), "halo".into()))),
        32,
    ))
    .await;
    until_received(&sim, n, "warm-up").await;
    // Hold every queue, fill it, then let go at once: only sending is measured.
    let hold = json!({"delayMinMs": 3_600_000, "delayMaxMs": 3_600_000});
    let limits = |body: Value| {
        let gateway = gateway.clone();
        async move {
            for i in 0..n {
                gateway.call(reqwest::Method::PUT, &format!("/session/s-{i}/limits"), Some(body.clone())).await;
            }
        }
    };
    let measure = async |to_new: bool, before: usize| -> (f64, f64) {
        limits(hold.clone()).await;
        let mut sends = Vec::new();
        for (i, (known, new)) in all.iter().enumerate() {
            for (m, fresh) in new.iter().enumerate() {
                let to = if to_new { fresh.clone() } else { known.clone() };
                sends.push(send(i, to, format!("pesan {m}")));
            }
        }
        futures_util::stream::StreamExt::collect::<Vec<()>>(futures_util::stream::StreamExt::buffer_unordered(
            futures_util::stream::iter(sends),
            32,
        ))
        .await;
        // Whatever went out before the hold took effect is not counted.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let held = sim.received(None).len();
        let cpu = cpu_seconds(pid);
        let started = Instant::now();
        limits(json!({})).await;
        let total = before + n * per_session;
        until_received(&sim, total, "sending").await;
        let elapsed = started.elapsed().as_secs_f64();
        let count = (total - held) as f64;
        ((cpu_seconds(pid) - cpu) * 1000.0 / count, count / elapsed)
    };
    let (cpu_known_ms, rate) = measure(false, n).await;
    let (cpu_new_ms, _) = measure(true, n + n * per_session).await;

    // Inbound: one at a time, seen on /events.
    let seen: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let reader = subscribe(&gateway, seen.clone()).await;
    let mut latencies = Vec::new();
    for k in 0..INBOUND {
        let i = k % n;
        let write = wa_sim::messages::Write {
            from: all[i].0.clone(),
            to: format!("62811{i:07}"),
            text: Some(format!("masuk {k}")),
            ..Default::default()
        };
        let sent = Instant::now();
        let id = sim.deliver(&write).await.expect("deliver");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(at) = seen.lock().unwrap().get(&id) {
                latencies.push(at.duration_since(sent).as_secs_f64() * 1000.0);
                break;
            }
            assert!(Instant::now() < deadline, "inbound {k} not seen");
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
    }
    reader.abort();
    latencies.sort_by(f64::total_cmp);

    // Restart.
    let status = std::process::Command::new("kill").args(["-TERM", &pid.to_string()]).status().unwrap();
    assert!(status.success());
    child.wait().await.unwrap();
    let restarting = Instant::now();
    let _child = gateway.start().await;
    gateway.until_connected(n, "after the restart").await;
    let restore_s = restarting.elapsed().as_secs_f64();

    Figures {
        sessions: n,
        link_s,
        memory_kib,
        cpu_known_ms,
        cpu_new_ms,
        rate,
        restore_s,
        inbound_p50_ms: percentile(&latencies, 0.5),
        inbound_p99_ms: percentile(&latencies, 0.99),
    }
}

/// Reads `GET /events`, noting when each `message.received` arrives (by WhatsApp id).
async fn subscribe(gateway: &Gateway, seen: Arc<Mutex<HashMap<String, Instant>>>) -> tokio::task::JoinHandle<()> {
    let mut resp = gateway
        .http
        .get(format!("{}/events", gateway.base()))
        .bearer_auth(&gateway.token)
        .send()
        .await
        .expect("events");
    let reader = tokio::spawn(async move {
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

fn baileys_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/baileys")
}

fn node_version() -> String {
    std::process::Command::new("node")
        .arg("--version")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|| "absent".into())
}

/// Node is there and Baileys is installed from the lock file.
fn baileys_ready() -> Result<(), String> {
    let version = node_version();
    let major: u32 = version.trim_start_matches('v').split('.').next().and_then(|m| m.parse().ok()).unwrap_or(0);
    if major < 20 {
        return Err(format!("Node 20 or newer is needed (found: {version})"));
    }
    let installed = std::process::Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(baileys_dir())
        .status()
        .map_err(|e| format!("npm: {e}"))?;
    if !installed.success() {
        return Err("npm ci failed in benches/baileys".into());
    }
    Ok(())
}

/// The Node process running every Baileys socket.
struct Baileys {
    child: tokio::process::Child,
    stdin: tokio::process::ChildStdin,
    answers: tokio::sync::mpsc::UnboundedReceiver<Value>,
    inbound: Arc<Mutex<HashMap<String, Instant>>>,
}

impl Baileys {
    fn start(sim: std::net::SocketAddr, dir: &std::path::Path) -> Baileys {
        let mut child = tokio::process::Command::new("node")
            .args(["--expose-gc", "--max-old-space-size=16384", "bench.mjs", &format!("http://{sim}")])
            .arg(dir)
            .current_dir(baileys_dir())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("node");
        let stdin = child.stdin.take().unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let (tx, answers) = tokio::sync::mpsc::unbounded_channel();
        let inbound: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
        let seen = inbound.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                let Ok(value) = serde_json::from_str::<Value>(&line) else { continue };
                match value["in"].as_str() {
                    Some(text) => {
                        seen.lock().unwrap().insert(text.to_owned(), Instant::now());
                    }
                    None => {
                        let _ = tx.send(value);
                    }
                }
            }
        });
        Baileys { child, stdin, answers, inbound }
    }

    async fn ask(&mut self, command: Value) -> Value {
        self.stdin.write_all(format!("{command}\n").as_bytes()).await.expect("to node");
        // Linking stops itself at its limit; it may take a while to end its sockets.
        tokio::time::timeout(link_limit() + Duration::from_secs(600), self.answers.recv())
            .await
            .expect("Baileys answered in time")
            .expect("Baileys is running")
    }

    fn pid(&self) -> u32 {
        self.child.id().expect("running")
    }
}

async fn baileys(n: usize, per_session: usize) -> Figures {
    eprintln!("Baileys, {n} sessions ...");
    let sim = wa_sim::Sim::new();
    let sim_addr = wa_sim::admin::spawn(sim.clone(), "127.0.0.1:0".parse().unwrap()).await.expect("wa-sim");
    let dir = tempfile::tempdir().unwrap();
    let mut node = Baileys::start(sim_addr, dir.path());
    tokio::time::sleep(Duration::from_secs(2)).await;
    let baseline = node.ask(json!({"cmd": "stats"})).await["rss"].as_f64().unwrap();
    let linking = Instant::now();
    let limit = link_limit();
    let answer = node.ask(json!({"cmd": "link", "n": n, "first": 0, "deadline_ms": limit.as_millis() as u64})).await;
    let link_s = linking.elapsed().as_secs_f64();
    // The sockets that linked; when linking ran out of time, the figures are theirs.
    let linked: Vec<usize> =
        answer["linked"].as_array().expect("linked").iter().map(|i| i.as_u64().unwrap() as usize).collect();
    let sessions = linked.len();
    assert!(sessions > 0, "Baileys linked no session in {link_s:.0} s");
    eprintln!("  Baileys: {sessions} of {n} linked in {link_s:.1} s");
    tokio::time::sleep(Duration::from_secs(10)).await;
    let rss = node.ask(json!({"cmd": "stats"})).await["rss"].as_f64().unwrap();
    let memory_kib = (rss - baseline) / 1024.0 / sessions as f64;
    let n = sessions;

    let all: Vec<(String, Vec<String>)> = linked.iter().map(|&i| contacts(i, per_session)).collect();
    sim.add_contacts(
        &all.iter().flat_map(|(k, new)| std::iter::once(k.clone()).chain(new.clone())).collect::<Vec<_>>(),
    );
    let warm: Vec<Value> = linked.iter().zip(&all).map(|(i, (known, _))| json!([i, known])).collect();
    node.ask(json!({"cmd": "send", "to": warm, "text": "halo"})).await;
    until_received(&sim, n, "warm-up").await;
    let mut measure = async |to_new: bool, before: usize| -> (f64, f64) {
        let mut to = Vec::new();
        for m in 0..per_session {
            for (i, (known, new)) in linked.iter().zip(&all) {
                to.push(json!([i, if to_new { &new[m] } else { known }]));
            }
        }
        let cpu = node.ask(json!({"cmd": "stats"})).await["cpu_us"].as_f64().unwrap();
        let started = Instant::now();
        node.ask(json!({"cmd": "send", "to": to, "text": "pesan"})).await;
        let total = before + n * per_session;
        until_received(&sim, total, "sending").await;
        let elapsed = started.elapsed().as_secs_f64();
        let spent = node.ask(json!({"cmd": "stats"})).await["cpu_us"].as_f64().unwrap() - cpu;
        let count = (n * per_session) as f64;
        (spent / 1000.0 / count, count / elapsed)
    };
    let (cpu_known_ms, rate) = measure(false, n).await;
    let (cpu_new_ms, _) = measure(true, n + n * per_session).await;

    let mut latencies = Vec::new();
    for k in 0..INBOUND {
        let text = format!("masuk {k}");
        let write = wa_sim::messages::Write {
            from: all[k % n].0.clone(),
            to: format!("62833{:07}", linked[k % n]),
            text: Some(text.clone()),
            ..Default::default()
        };
        let sent = Instant::now();
        sim.deliver(&write).await.expect("deliver");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(at) = node.inbound.lock().unwrap().get(&text) {
                latencies.push(at.duration_since(sent).as_secs_f64() * 1000.0);
                break;
            }
            assert!(Instant::now() < deadline, "inbound {k} not seen by Baileys");
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
    }
    latencies.sort_by(f64::total_cmp);

    // Restart: let the auth state settle on disk, stop the process, start a new one.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let pid = node.pid();
    let status = std::process::Command::new("kill").args(["-TERM", &pid.to_string()]).status().unwrap();
    assert!(status.success());
    node.child.wait().await.unwrap();
    let restarting = Instant::now();
    let mut node = Baileys::start(sim_addr, dir.path());
    node.ask(json!({"cmd": "restore", "which": linked})).await;
    let restore_s = restarting.elapsed().as_secs_f64();
    drop(node); // killed with its handle

    Figures {
        sessions,
        link_s,
        memory_kib,
        cpu_known_ms,
        cpu_new_ms,
        rate,
        restore_s,
        inbound_p50_ms: percentile(&latencies, 0.5),
        inbound_p99_ms: percentile(&latencies, 0.99),
    }
}
