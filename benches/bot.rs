//! How soon the menu bot answers, and how many answers it gives a second.
//!
//!     cargo bench --bench bot -- [sessions=100] [per-session=20] [rate=100]
//!
//! Runs the release-built `wagate` binary in its own process (SQLite, a temp
//! data dir, send limits off) with `sessions` linked sessions on a wa-sim in
//! this process (which encrypts every message on the same two cores). Each
//! message comes from a contact writing for the first time, so every one makes
//! a chat and gets the main menu.
//! 1. Latency at `rate` messages a second for three seconds, spread over the
//!    sessions, with the bot off and then on:
//!    - in the gateway: from a received message reaching the inbox to the
//!      commit that stores it and (bot on) queues its reply, from the
//!      gateway's `wagate_inbound_commit_seconds` histogram (p50 and p99 as
//!      the bucket they fall in);
//!    - end to end: from wa-sim's send to the SSE event that the message is
//!      stored (`message.received`, bot off) or its reply queued
//!      (`message.status` `queued` to that contact, bot on): p50, p99, max.
//!      This includes wa-sim encrypting on the same cores and, bot on, the
//!      replies of earlier messages being sent meanwhile.
//! 2. Throughput: `per-session` messages to every session at once; replies
//!    queued per second (first send to the last reply's event), and replies
//!    that reached the contacts per second (sent through the queue, limits off).
//! 3. Messages sent twice: copies of an id that wa-sim's contacts already had
//!    (WhatsApp answers such a resend with a 409 ack), with how long after the
//!    first copy they came.

mod common;

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use common::{Gateway, bench_args, cpu_seconds};
use serde_json::{Value, json};

/// When each event of interest reached this subscriber: by WhatsApp id for
/// `message.received`, by recipient for a queued reply.
#[derive(Default)]
struct Seen {
    received: HashMap<String, Instant>,
    replies: HashMap<String, Instant>,
}

type Shared = Arc<Mutex<Seen>>;

static NEXT_CONTACT: AtomicUsize = AtomicUsize::new(0);

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let (bench, args) = bench_args();
    let numbers: Vec<usize> = args.iter().filter_map(|a| a.parse().ok()).collect();
    let sessions = numbers.first().copied().unwrap_or(if bench { 100 } else { 3 });
    let per_session = numbers.get(1).copied().unwrap_or(if bench { 20 } else { 3 });
    let rate = numbers.get(2).copied().unwrap_or(if bench { 100 } else { 20 });

    let sim = wa_sim::Sim::new();
    let sim_addr = wa_sim::admin::spawn(sim.clone(), "127.0.0.1:0".parse().unwrap()).await.expect("wa-sim");
    let env: Vec<(String, String)> = [
        ("LIMITS__DELAY_MIN_MS", "0"),
        ("LIMITS__DELAY_MAX_MS", "0"),
        ("LIMITS__PER_MINUTE", "0"),
        ("LIMITS__PER_HOUR", "0"),
        ("LIMITS__PER_RECIPIENT_PER_HOUR", "0"),
    ]
    .into_iter()
    .map(|(k, v)| (format!("WAGATE__{k}"), v.to_owned()))
    .collect();
    let mut gateway = Gateway::new(sim_addr, env);
    let child = gateway.start().await;
    gateway.login().await;
    let gateway = Arc::new(gateway);
    gateway.link(&sim, "bot", sessions, 8_000_000).await;
    let pid = child.id().expect("gateway pid");
    let seen: Shared = Arc::default();
    let reader = subscribe(&gateway, seen.clone()).await;
    println!("wagate bot bench (release gateway process, SQLite, {sessions} sessions, send limits off, 2 cores)");

    // 1. Latency, bot off then on.
    let before = commits(&gateway).await;
    let off = steady(&sim, &seen, sessions, rate, false).await;
    let inside = buckets_summary(&before, &commits(&gateway).await);
    println!("bot off, {rate} messages/s: in the gateway, received -> stored: {inside}");
    println!("         end to end, wa-sim send -> stored (SSE): {}", summary(off));
    gateway
        .call(reqwest::Method::PUT, "/bot/config", Some(json!({"enabled": true, "max_replies_per_minute": 60})))
        .await;
    let before = commits(&gateway).await;
    let on = steady(&sim, &seen, sessions, rate, true).await;
    let inside = buckets_summary(&before, &commits(&gateway).await);
    println!("bot on,  {rate} messages/s: in the gateway, received -> stored with the reply queued: {inside}");
    println!("         end to end, wa-sim send -> reply queued (SSE): {}", summary(on));

    // 2. Throughput: everything at once.
    let total = sessions * per_session;
    let delivered_before = sim.shown(None).len();
    let cpu_before = cpu_seconds(pid);
    let started = Instant::now();
    let mut contacts = Vec::with_capacity(total);
    let mut writers = Vec::new();
    for s in 0..sessions {
        let sim = sim.clone();
        let mine: Vec<String> = (0..per_session).map(|_| contact()).collect();
        contacts.extend(mine.clone());
        writers.push(tokio::spawn(async move {
            for from in mine {
                sim.deliver(&write(s, &from, "halo")).await.expect("deliver");
            }
        }));
    }
    for writer in writers {
        writer.await.unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(600);
    let queued_at = loop {
        let last = {
            let seen = seen.lock().unwrap();
            let times: Vec<Instant> = contacts.iter().filter_map(|c| seen.replies.get(c).copied()).collect();
            (times.len() == total).then(|| times.into_iter().max().unwrap())
        };
        if let Some(last) = last {
            break last;
        }
        assert!(Instant::now() < deadline, "not every reply was queued");
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    while sim.shown(None).len() < delivered_before + total {
        assert!(Instant::now() < deadline, "not every reply arrived");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let arrived = Instant::now();
    let cpu = cpu_seconds(pid) - cpu_before;
    let queued = (queued_at - started).as_secs_f64();
    let sent = (arrived - started).as_secs_f64();
    println!(
        "all at once, {total} messages over {sessions} sessions: replies queued at {:.0}/s ({queued:.2} s), \
         delivered to the contacts at {:.0}/s ({sent:.2} s); gateway CPU {:.2} ms per message and reply",
        total as f64 / queued,
        total as f64 / sent,
        cpu * 1000.0 / total as f64,
    );
    // A resend of an id a contact already has: WhatsApp answers it with a 409 ack.
    let duplicates = sim.duplicates();
    let gaps: Vec<f64> = duplicates
        .iter()
        .filter_map(|copy| {
            let first = sim.received(Some(&copy.to)).into_iter().find(|r| r.id == copy.id && r.copy == 1)?;
            Some((copy.at_ms - first.at_ms) as f64)
        })
        .collect();
    let gaps = if gaps.is_empty() { String::new() } else { format!("; after the first copy: {}", summary(gaps)) };
    println!("messages sent twice (wa-sim's contacts got a copy of an id they had): {}{gaps}", duplicates.len());
    reader.abort();
    drop(child);
}

/// A contact that has never written before.
fn contact() -> String {
    format!("62823{:07}", NEXT_CONTACT.fetch_add(1, Ordering::Relaxed))
}

/// What `from` writes to session `s`'s number.
fn write(s: usize, from: &str, text: &str) -> wa_sim::messages::Write {
    wa_sim::messages::Write {
        from: from.to_owned(),
        to: format!("62811{:07}", 8_000_000 + s),
        text: Some(text.to_owned()),
        ..Default::default()
    }
}

/// `rate` messages a second for three seconds from new contacts; the latency of
/// each, to its stored event (`replied` false) or its reply's (`true`), in ms.
async fn steady(sim: &wa_sim::Sim, seen: &Shared, sessions: usize, rate: usize, replied: bool) -> Vec<f64> {
    let count = rate * 3;
    let sent: Arc<Mutex<Vec<(String, String, Instant)>>> = Arc::default();
    let mut ticks = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
    let mut tasks = Vec::with_capacity(count);
    for n in 0..count {
        ticks.tick().await;
        let (sim, sent) = (sim.clone(), sent.clone());
        tasks.push(tokio::spawn(async move {
            let from = contact();
            let at = Instant::now();
            let id = sim.deliver(&write(n % sessions, &from, "halo")).await.expect("deliver");
            sent.lock().unwrap().push((id, from, at));
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let latencies: Vec<f64> = {
            let (sent, seen) = (sent.lock().unwrap(), seen.lock().unwrap());
            sent.iter()
                .filter_map(|(id, from, at)| {
                    let done = if replied { seen.replies.get(from) } else { seen.received.get(id) };
                    Some((*done? - *at).as_secs_f64() * 1000.0)
                })
                .collect()
        };
        if latencies.len() == count {
            return latencies;
        }
        assert!(Instant::now() < deadline, "only {} of {count} seen", latencies.len());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn summary(mut ms: Vec<f64>) -> String {
    ms.sort_by(f64::total_cmp);
    let at = |p: f64| ms[((ms.len() as f64 * p).ceil() as usize).clamp(1, ms.len()) - 1];
    format!("p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms", at(0.50), at(0.99), ms.last().copied().unwrap_or(0.0))
}

/// The gateway's `wagate_inbound_commit_seconds` histogram: `(upper bound in
/// seconds, cumulative count)` per bucket.
async fn commits(gateway: &Gateway) -> Vec<(f64, u64)> {
    let text = gateway
        .http
        .get(format!("{}/metrics", gateway.base()))
        .bearer_auth(&gateway.token)
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text");
    text.lines()
        .filter_map(|l| l.strip_prefix("wagate_inbound_commit_seconds_bucket{le=\""))
        .filter_map(|l| {
            let (bound, rest) = l.split_once('"')?;
            let bound = if bound == "+Inf" { f64::INFINITY } else { bound.parse().ok()? };
            Some((bound, rest.trim_start_matches('}').split_whitespace().next()?.parse().ok()?))
        })
        .collect()
}

/// p50 and p99 of what was observed between two readings, as the bucket each falls in.
fn buckets_summary(before: &[(f64, u64)], after: &[(f64, u64)]) -> String {
    let counts: Vec<(f64, u64)> = after.iter().zip(before).map(|((b, a), (_, was))| (*b, a - was)).collect();
    let total = counts.last().map_or(0, |(_, n)| *n);
    let at = |p: f64| {
        let want = (total as f64 * p).ceil() as u64;
        let i = counts.iter().position(|(_, n)| *n >= want).unwrap_or(0);
        let low = if i == 0 { 0.0 } else { counts[i - 1].0 * 1000.0 };
        format!("{low:.1}–{:.1} ms", counts[i].0 * 1000.0)
    };
    format!("{total} commits, p50 {}, p99 {}", at(0.50), at(0.99))
}

/// Reads `GET /events`, noting when messages are stored and replies queued.
async fn subscribe(gateway: &Gateway, seen: Shared) -> tokio::task::JoinHandle<()> {
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
                let received = block.contains("event: message.received");
                if !received && !block.contains("event: message.status") {
                    continue;
                }
                let data = block.lines().find_map(|l| l.strip_prefix("data:")).unwrap_or_default();
                let Ok(event) = serde_json::from_str::<Value>(data.trim()) else { continue };
                let now = Instant::now();
                let mut seen = seen.lock().unwrap();
                if received {
                    seen.received.insert(event["message_id"].as_str().unwrap_or_default().to_owned(), now);
                } else if event["status"] == "queued" {
                    seen.replies.entry(event["to"].as_str().unwrap_or_default().to_owned()).or_insert(now);
                }
            }
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    reader
}
