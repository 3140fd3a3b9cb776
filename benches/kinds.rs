//! What each kind of message costs to send, and a mixed load of all of them.
//!
//!     cargo bench --bench kinds -- [sessions=100] [per-session=4]
//!
//! Runs the release-built gateway process on SQLite with `sessions` linked
//! sessions (wa-sim served from this process, decrypting and checking every
//! message on the same two cores), send limits off. For each kind, every
//! session's queue is held (an hour's pause), filled with `per-session`
//! messages of that kind to contacts it has written before (no key exchange
//! in the measure), then released at once: the time until all are sent and
//! acked gives messages/s, and the gateway's CPU time over that span gives
//! the CPU per message. Media are 64 KiB files posted as multipart (the
//! upload is outside the measure; encrypting and uploading to wa-sim's media
//! host is inside). Reactions, edits and deletions act on the texts sent
//! before. A last round mixes every kind in each session's queue.

mod common;

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use common::{Gateway, bench_args, cpu_seconds};
use serde_json::{Value, json};

const FILE_BYTES: usize = 64 * 1024;

/// The kinds measured one by one, then mixed.
const KINDS: [&str; 13] = [
    "text", "location", "contact", "poll", "image", "video", "audio", "voice", "sticker", "document", "reaction",
    "edit", "delete",
];

fn filler(magic: &[u8], len: usize) -> Vec<u8> {
    let mut bytes = magic.to_vec();
    bytes.extend((0..len).map(|i| (i * 13 % 251) as u8));
    bytes
}

/// The multipart field, file name, type and bytes of a media kind.
fn file_of(kind: &str) -> (&'static str, &'static str, &'static str, Vec<u8>) {
    match kind {
        "image" => ("image", "foto.png", "image/png", filler(b"\x89PNG\r\n\x1a\n", FILE_BYTES)),
        "video" => {
            ("video", "video.mp4", "video/mp4", filler(b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom", FILE_BYTES))
        }
        "audio" => ("audio", "lagu.mp3", "audio/mpeg", filler(b"ID3\x04\x00\x00\x00\x00\x00\x00", FILE_BYTES)),
        "voice" => ("voice", "pesan.ogg", "audio/ogg", wagate::queue::voice::sample(&[160; 150])),
        "sticker" => ("sticker", "stiker.webp", "image/webp", filler(b"RIFF\x00\x10\x00\x00WEBPVP8 ", FILE_BYTES)),
        _ => ("document", "laporan.pdf", "application/pdf", filler(b"%PDF-1.7\n", FILE_BYTES)),
    }
}

struct Run {
    gateway: Arc<Gateway>,
    sessions: usize,
    /// Per session: its contact, and the ids of texts it sent (for reactions, edits, deletions).
    contacts: Vec<String>,
    texts: Vec<Vec<String>>,
    /// Messages sent so far (what `/message/list?status=sent` should reach).
    sent: usize,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let (bench, args) = bench_args();
    let numbers: Vec<usize> = args.iter().filter_map(|a| a.parse().ok()).collect();
    let sessions = numbers.first().copied().unwrap_or(if bench { 100 } else { 2 });
    let per_session = numbers.get(1).copied().unwrap_or(if bench { 4 } else { 1 }).max(1);

    let sim = wa_sim::Sim::new();
    let sim_addr = wa_sim::admin::spawn(sim.clone(), "127.0.0.1:0".parse().unwrap()).await.expect("wa-sim");
    let env: Vec<(String, String)> = [
        ("LIMITS__DELAY_MIN_MS", "0"),
        ("LIMITS__DELAY_MAX_MS", "0"),
        ("LIMITS__PER_MINUTE", "0"),
        ("LIMITS__PER_HOUR", "0"),
        ("LIMITS__PER_RECIPIENT_PER_HOUR", "0"),
        ("MEDIA__MAX_CONCURRENT", "64"),
        ("MEDIA__MAX_CONCURRENT_PER_ACCOUNT", "64"),
    ]
    .into_iter()
    .map(|(k, v)| (format!("WAGATE__{k}"), v.to_owned()))
    .collect();
    let mut gateway = Gateway::new(sim_addr, env);
    let child = gateway.start().await;
    gateway.login().await;
    let gateway = Arc::new(gateway);
    gateway.link(&sim, "kinds", sessions, 7_000_000).await;
    let contacts: Vec<String> = (0..sessions).map(|i| format!("62822700{i:04}")).collect();
    sim.add_contacts(&contacts);
    let mut run = Run { gateway, sessions, contacts, texts: vec![Vec::new(); sessions], sent: 0 };
    // Each session writes to its contact once first: the key exchange is not in the measure.
    run.round(&["text"], 1, child.id().unwrap()).await;

    println!("wagate kinds bench (release gateway process, SQLite, wa-sim over loopback, 2 cores)");
    println!("  {sessions} sessions, limits off, {per_session} messages per session and kind, to a known contact");
    let pid = child.id().unwrap();
    for kind in KINDS {
        let (count, elapsed, cpu) = run.round(&[kind], per_session, pid).await;
        println!(
            "  {kind:>9}: {count} sent and acked in {:.2} s: {:.0} messages/s; gateway CPU {:.2} ms per message",
            elapsed.as_secs_f64(),
            count as f64 / elapsed.as_secs_f64(),
            cpu * 1000.0 / count as f64,
        );
    }
    let mixed: Vec<&str> = KINDS.iter().copied().filter(|k| !matches!(*k, "edit" | "delete")).collect();
    let (count, elapsed, cpu) = run.round(&mixed, 1, pid).await;
    println!(
        "  {:>9}: {count} sent and acked in {:.2} s: {:.0} messages/s; gateway CPU {:.2} ms per message",
        "mixed",
        elapsed.as_secs_f64(),
        count as f64 / elapsed.as_secs_f64(),
        cpu * 1000.0 / count as f64,
    );
    // Every message, reactions, edits and deletions included, reached its contact once.
    let shown = sim.shown(None).len();
    assert_eq!(shown, run.sent, "each message reached its contact once");
}

impl Run {
    /// Holds every queue, queues `per_session` messages of each of `kinds` in
    /// every session, releases them at once and waits until all are sent:
    /// `(messages, time, gateway CPU seconds)`.
    async fn round(&mut self, kinds: &[&str], per_session: usize, pid: u32) -> (usize, Duration, f64) {
        let hold = json!({"delayMinMs": 3_600_000, "delayMaxMs": 3_600_000});
        for i in 0..self.sessions {
            self.gateway.call(reqwest::Method::PUT, &format!("/session/kinds-{i}/limits"), Some(hold.clone())).await;
        }
        let mut queued = 0;
        let mut tasks = Vec::new();
        // Requests in flight at once: uploads beyond `media.max_concurrent` would be turned away.
        let gate = Arc::new(tokio::sync::Semaphore::new(32));
        for i in 0..self.sessions {
            for kind in kinds {
                for m in 0..per_session {
                    let texts = &mut self.texts[i];
                    // A reaction, an edit or a deletion acts on a text sent before.
                    let target = match *kind {
                        "reaction" | "edit" => texts.get(m % texts.len().max(1)).cloned(),
                        "delete" => texts.pop(),
                        _ => None,
                    };
                    if matches!(*kind, "reaction" | "edit" | "delete") && target.is_none() {
                        continue;
                    }
                    let (gateway, to, kind) = (self.gateway.clone(), self.contacts[i].clone(), kind.to_string());
                    let gate = gate.clone();
                    queued += 1;
                    tasks.push(tokio::spawn(async move {
                        let _permit = gate.acquire().await.unwrap();
                        (i, kind.clone(), queue(&gateway, i, &to, &kind, target).await)
                    }));
                }
            }
        }
        for task in tasks {
            let (i, kind, id) = task.await.unwrap();
            if kind == "text" {
                self.texts[i].push(id);
            }
        }
        // The first round sends at once (nothing was sent before the hold).
        let expected = self.sent + queued;
        let cpu_before = cpu_seconds(pid);
        let started = Instant::now();
        for i in 0..self.sessions {
            self.gateway.call(reqwest::Method::PUT, &format!("/session/kinds-{i}/limits"), Some(json!({}))).await;
        }
        until_sent(&self.gateway, expected).await;
        self.sent = expected;
        (queued, started.elapsed(), cpu_seconds(pid) - cpu_before)
    }
}

/// Queues one message of `kind` from session `i` to `to`; its id.
async fn queue(gateway: &Gateway, i: usize, to: &str, kind: &str, target: Option<String>) -> String {
    let session = format!("kinds-{i}");
    let json_send = |path: &str, body: Value| (path.to_owned(), body);
    let (path, body) = match kind {
        "text" => json_send(
            "/message/send-text",
            json!({"session": session, "to": to, "text": "Gangguan di ODP-12, estimasi pulih 14:00"}),
        ),
        "location" => json_send(
            "/message/send-location",
            json!({"session": session, "to": to, "latitude": -6.2088, "longitude": 106.8456, "name": "ODP-12"}),
        ),
        "contact" => json_send(
            "/message/send-contact",
            json!({"session": session, "to": to, "contacts": [{"name": "Teknisi Budi", "phones": ["6281234567890"]}]}),
        ),
        "poll" => json_send(
            "/message/send-poll",
            json!({"session": session, "to": to, "question": "Jam kunjungan?", "options": ["Pagi", "Siang", "Sore"]}),
        ),
        "reaction" => json_send(
            "/message/react",
            json!({"session": session, "to": to, "messageId": target.expect("a text"), "emoji": "👍"}),
        ),
        "edit" => json_send(
            &format!("/message/{}/edit", target.expect("a text")),
            json!({"text": "Gangguan di ODP-12, pulih 15:00"}),
        ),
        "delete" => {
            let view =
                gateway.call(reqwest::Method::DELETE, &format!("/message/{}", target.expect("a text")), None).await;
            return view["data"]["revoke"]["id"].as_str().expect("a deletion queued").to_owned();
        }
        media => {
            let (field, name, mime, bytes) = file_of(media);
            let part = reqwest::multipart::Part::bytes(bytes).file_name(name).mime_str(mime).unwrap();
            let form =
                reqwest::multipart::Form::new().text("session", session).text("to", to.to_owned()).part(field, part);
            let resp = gateway
                .http
                .post(format!("{}/message/send-{media}", gateway.base()))
                .bearer_auth(&gateway.token)
                .multipart(form)
                .send()
                .await
                .expect("upload");
            let status = resp.status();
            let body: Value = resp.json().await.unwrap_or(Value::Null);
            assert_eq!(status, reqwest::StatusCode::ACCEPTED, "{media}: {body}");
            return body["data"]["id"].as_str().expect("message id").to_owned();
        }
    };
    let resp = gateway
        .http
        .post(format!("{}{path}", gateway.base()))
        .bearer_auth(&gateway.token)
        .json(&body)
        .send()
        .await
        .expect("request");
    let status = resp.status();
    let answer: Value = resp.json().await.unwrap_or(Value::Null);
    assert_eq!(status, reqwest::StatusCode::ACCEPTED, "{kind}: {answer}");
    answer["data"]["id"].as_str().expect("message id").to_owned()
}

/// Waits until `n` messages are sent, asking every 50 ms (the asking is
/// inside the measure: kept light, one count a time).
async fn until_sent(gateway: &Gateway, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(900);
    loop {
        let page: Value = gateway.call(reqwest::Method::GET, "/message/list?status=sent&limit=1", None).await;
        if page["total"].as_u64().unwrap_or(0) as usize >= n {
            return;
        }
        if Instant::now() > deadline {
            let failed: Value = gateway.call(reqwest::Method::GET, "/message/list?status=failed&limit=5", None).await;
            panic!("only {} of {n} sent; failed: {failed}", page["total"]);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
