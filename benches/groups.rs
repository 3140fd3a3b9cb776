//! What a group costs: sending into a big group, and taking in what its
//! participants write.
//!
//!     cargo bench --bench groups -- [participants=256] [messages=100] [received=2000]
//!
//! Runs the release-built gateway process on SQLite with one linked session
//! and `inbox.groups` on; wa-sim (in this process, decrypting and checking
//! every copy on the same two cores) plays the other `participants - 1`
//! members, one device each. Send limits are off, the per-group interval too.
//! 1. The session makes the group (outside the measure), then sends ten texts
//!    into it one after another: the time from the request to `sent` of the
//!    first (a Signal session with each participant's device and the sender
//!    key distributed to all of them) and of the tenth (the sender key reused).
//! 2. `messages` texts queued at once (the queue held, then released): group
//!    messages/s, and the gateway's CPU time per group message.
//! 3. `received` texts written into the group by its participants, all at
//!    once: the time until the group's chat counts them all unread gives
//!    received group messages/s (stored, in the chat's timeline, with events),
//!    and the gateway's CPU per received message.

mod common;

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use common::{Gateway, bench_args, cpu_seconds};
use serde_json::{Value, json};

const SESSION: &str = "groups-0";

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let (bench, args) = bench_args();
    let numbers: Vec<usize> = args.iter().filter_map(|a| a.parse().ok()).collect();
    let participants = numbers.first().copied().unwrap_or(if bench { 256 } else { 8 }).clamp(2, 1025);
    let messages = numbers.get(1).copied().unwrap_or(if bench { 100 } else { 5 }).max(1);
    let received = numbers.get(2).copied().unwrap_or(if bench { 2_000 } else { 20 }).max(1);

    let sim = wa_sim::Sim::new();
    let sim_addr = wa_sim::admin::spawn(sim.clone(), "127.0.0.1:0".parse().unwrap()).await.expect("wa-sim");
    let env: Vec<(String, String)> = [
        ("LIMITS__DELAY_MIN_MS", "0"),
        ("LIMITS__DELAY_MAX_MS", "0"),
        ("LIMITS__PER_MINUTE", "0"),
        ("LIMITS__PER_HOUR", "0"),
        ("LIMITS__PER_RECIPIENT_PER_HOUR", "0"),
        ("LIMITS__GROUP_INTERVAL", "0s"),
        ("INBOX__GROUPS", "true"),
    ]
    .into_iter()
    .map(|(k, v)| (format!("WAGATE__{k}"), v.to_owned()))
    .collect();
    let mut gateway = Gateway::new(sim_addr, env);
    let child = gateway.start().await;
    let pid = child.id().unwrap();
    gateway.login().await;
    let gateway = Arc::new(gateway);
    gateway.link(&sim, "groups", 1, 7_200_000).await;
    let members: Vec<String> = (1..participants).map(|i| format!("6282280{i:05}")).collect();
    sim.add_contacts(&members);
    let made = gateway
        .call(
            reqwest::Method::POST,
            "/groups",
            Some(json!({"session": SESSION, "subject": "Pelanggan ODP-12", "participants": members})),
        )
        .await;
    let jid = made["data"]["jid"].as_str().expect("a group").to_owned();
    let group_id = jid.trim_end_matches("@g.us").to_owned();
    assert_eq!(sim.group(&group_id).expect("wa-sim has it").participants.len(), participants);

    println!("wagate groups bench (release gateway process, SQLite, wa-sim over loopback, 2 cores)");
    println!("  one session, a group of {participants} participants (one device each), limits off");

    // 1. One after another: the first distributes the sender key, the rest reuse it.
    let mut times = Vec::new();
    for n in 0..10 {
        let started = Instant::now();
        let id = send(&gateway, &jid, &format!("Pengumuman {n}")).await;
        until_message_sent(&gateway, &id).await;
        times.push(started.elapsed());
    }
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "  1st message to the group: {:.1} ms to sent (sessions with {} devices, sender key to each)",
        ms(times[0]),
        participants - 1
    );
    println!(
        "  10th message to the group: {:.1} ms to sent (the sender key reused); 2nd-10th median {:.1} ms",
        ms(times[9]),
        ms(median(&times[1..]))
    );

    // 2. Many at once.
    let hold = json!({"delayMinMs": 3_600_000, "delayMaxMs": 3_600_000});
    gateway.call(reqwest::Method::PUT, &format!("/session/{SESSION}/limits"), Some(hold)).await;
    for n in 0..messages {
        send(&gateway, &jid, &format!("Gangguan di ODP-12, kabar ke-{n}")).await;
    }
    let cpu_before = cpu_seconds(pid);
    let started = Instant::now();
    gateway.call(reqwest::Method::PUT, &format!("/session/{SESSION}/limits"), Some(json!({}))).await;
    until_sent(&gateway, 10 + messages).await;
    let (elapsed, cpu) = (started.elapsed(), cpu_seconds(pid) - cpu_before);
    println!(
        "  {messages} group messages queued at once: sent in {:.2} s: {:.1} group messages/s ({:.0} copies/s); gateway CPU {:.2} ms per group message",
        elapsed.as_secs_f64(),
        messages as f64 / elapsed.as_secs_f64(),
        (messages * (participants - 1)) as f64 / elapsed.as_secs_f64(),
        cpu * 1000.0 / messages as f64,
    );
    let copies = (10 + messages) * (participants - 1);
    assert_eq!(sim.shown(None).len(), copies, "every participant shows every message once");
    assert!(sim.duplicates().is_empty());

    // 3. The participants write.
    let chat = group_chat(&gateway, &jid).await;
    let cpu_before = cpu_seconds(pid);
    let started = Instant::now();
    let gate = Arc::new(tokio::sync::Semaphore::new(64));
    let mut tasks = Vec::new();
    for n in 0..received {
        let (sim, gate, group) = (sim.clone(), gate.clone(), group_id.clone());
        let from = members[n % members.len()].clone();
        tasks.push(tokio::spawn(async move {
            let _permit = gate.acquire().await.unwrap();
            let write = wa_sim::messages::Write {
                from,
                group: Some(group),
                text: Some(format!("Di rumah saya juga mati ({n})")),
                push_name: Some("Warga".into()),
                ..Default::default()
            };
            sim.deliver(&write).await.expect("deliver");
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(900);
    loop {
        let detail = gateway.call(reqwest::Method::GET, &format!("/chats/{chat}?limit=1"), None).await;
        if detail["unread"].as_u64().unwrap_or(0) as usize >= received {
            break;
        }
        assert!(Instant::now() < deadline, "only {} of {received} stored", detail["unread"]);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (elapsed, cpu) = (started.elapsed(), cpu_seconds(pid) - cpu_before);
    println!(
        "  {received} messages written into the group by its participants: in the group's chat in {:.2} s: {:.0} received group messages/s; gateway CPU {:.2} ms per message",
        elapsed.as_secs_f64(),
        received as f64 / elapsed.as_secs_f64(),
        cpu * 1000.0 / received as f64,
    );
}

fn median(times: &[Duration]) -> Duration {
    let mut sorted = times.to_vec();
    sorted.sort();
    sorted[sorted.len() / 2]
}

/// Queues a text to the group; its id.
async fn send(gateway: &Gateway, jid: &str, text: &str) -> String {
    let body = json!({"session": SESSION, "to": jid, "text": text});
    let queued = gateway.call(reqwest::Method::POST, "/message/send-text", Some(body)).await;
    queued["data"]["id"].as_str().expect("message id").to_owned()
}

/// Waits until message `id` is sent, asking every 2 ms.
async fn until_message_sent(gateway: &Gateway, id: &str) {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let view = gateway.call(reqwest::Method::GET, &format!("/message/{id}"), None).await;
        match view["data"]["status"].as_str() {
            Some("sent" | "delivered" | "read") => return,
            Some("failed") => panic!("the group message failed: {view}"),
            _ => {}
        }
        assert!(Instant::now() < deadline, "message {id} not sent: {view}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Waits until `n` messages are sent, asking every 50 ms.
async fn until_sent(gateway: &Gateway, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(900);
    loop {
        let page: Value = gateway.call(reqwest::Method::GET, "/message/list?status=sent&limit=1", None).await;
        if page["total"].as_u64().unwrap_or(0) as usize >= n {
            return;
        }
        assert!(Instant::now() < deadline, "only {} of {n} sent", page["total"]);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The id of the group's chat (made by the session's own creation of it).
async fn group_chat(gateway: &Gateway, jid: &str) -> i64 {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let list = gateway.call(reqwest::Method::GET, "/chats/?limit=100", None).await;
        if let Some(chat) = list.as_array().and_then(|l| l.iter().find(|c| c["phone"] == jid)) {
            return chat["id"].as_i64().expect("chat id");
        }
        assert!(Instant::now() < deadline, "the group has no chat: {list}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
