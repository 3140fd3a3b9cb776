//! Outgoing webhooks against real HTTP receivers in this process: signed
//! events (checked by the independent `standardwebhooks` verifier) reach the
//! endpoints that want them and no others, retries keep the same id, replays
//! and single retries send again, 410 disables, the schedule ends in failure,
//! a rotated secret signs beside the new one, and unsafe URLs are refused.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicU16, Ordering},
    },
    time::Duration,
};

use axum::{body::Bytes, http::HeaderMap};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use wa_sim::{Fault, messages::Write};

use crate::{
    db_tests,
    helpers::{TestApp, TestDb, error_code, no_limits},
};

const NUMBER: &str = "628111000071";
const CONTACT: &str = "628222000071";

/// A webhook receiver: every request it got, and what it answers (settable).
#[derive(Clone)]
pub(crate) struct Receiver {
    pub(crate) url: String,
    got: Arc<Mutex<Vec<(HeaderMap, Bytes, u16)>>>,
    answer: Arc<AtomicU16>,
}

impl Receiver {
    async fn start(answer: u16) -> Receiver {
        Self::start_at("127.0.0.1:0", answer).await
    }

    /// A receiver listening on `address` (a port chosen before it listens).
    pub(crate) async fn start_at(address: &str, answer: u16) -> Receiver {
        let got: Arc<Mutex<Vec<(HeaderMap, Bytes, u16)>>> = Arc::default();
        let answer = Arc::new(AtomicU16::new(answer));
        let (log, code) = (got.clone(), answer.clone());
        let router = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: Bytes| {
                let (log, code) = (log.clone(), code.clone());
                async move {
                    let status = code.load(Ordering::SeqCst);
                    let mut headers = headers;
                    // When it came, for tests of the pace of retries.
                    let at = std::time::UNIX_EPOCH.elapsed().unwrap().as_millis().to_string();
                    headers.insert("x-received-at", at.parse().unwrap());
                    log.lock().unwrap().push((headers, body, status));
                    let mut response = axum::response::Response::new(axum::body::Body::from("ok"));
                    *response.status_mut() = axum::http::StatusCode::from_u16(status).unwrap();
                    if status == 302 {
                        response.headers_mut().insert("location", "http://169.254.169.254/latest".parse().unwrap());
                    }
                    if status == 503 {
                        response.headers_mut().insert("retry-after", "1".parse().unwrap());
                    }
                    response
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind(address).await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await });
        Receiver { url, got, answer }
    }

    fn answer(&self, status: u16) {
        self.answer.store(status, Ordering::SeqCst);
    }

    /// The events accepted (answered 2xx), each checked against `secret` by
    /// the independent verifier; `(webhook-id, body)`.
    pub(crate) fn accepted(&self, secret: &str) -> Vec<(String, Value)> {
        self.accepted_from(0, secret)
    }

    /// Like [`Receiver::accepted`], from the `from`th request on.
    fn accepted_from(&self, from: usize, secret: &str) -> Vec<(String, Value)> {
        let verifier = standardwebhooks::Webhook::new(secret).expect("a Standard Webhooks secret");
        let got = self.got.lock().unwrap().clone();
        got.iter()
            .skip(from)
            .filter(|(_, _, status)| (200..300).contains(status))
            .map(|(headers, body, _)| {
                verifier.verify(body, headers).expect("a signature the verifier accepts");
                let id = headers["webhook-id"].to_str().unwrap().to_owned();
                let event: Value = serde_json::from_slice(body).unwrap();
                assert_eq!(event["id"], id.as_str(), "the body's id is the webhook-id");
                (id, event)
            })
            .collect()
    }

    fn requests(&self) -> usize {
        self.got.lock().unwrap().len()
    }

    /// Waits until an accepted event satisfies `pick`.
    pub(crate) async fn until(&self, secret: &str, secs: u64, pick: impl Fn(&Value) -> bool) -> Value {
        self.until_from(0, secret, secs, pick).await
    }

    /// Like [`Receiver::until`], from the `from`th request on.
    async fn until_from(&self, from: usize, secret: &str, secs: u64, pick: impl Fn(&Value) -> bool) -> Value {
        let deadline = std::time::Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some((_, event)) = self.accepted_from(from, secret).into_iter().find(|(_, e)| pick(e)) {
                return event;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the awaited event never came; got {:?}",
                self.accepted_from(from, secret).iter().map(|(_, e)| e["type"].clone()).collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn fast_webhooks(config: &mut wagate::Config) {
    no_limits(config);
    config.webhook.allow_ranges = vec!["127.0.0.0/8".into()];
    config.webhook.schedule = [0, 200, 200, 200, 200].into_iter().map(Duration::from_millis).collect();
}

async fn endpoint(app: &TestApp, token: &str, body: Value) -> (i64, String) {
    let (status, created) = app.post("/webhooks", Some(token), body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    (created["data"]["id"].as_i64().unwrap(), created["data"]["secret"].as_str().unwrap().to_owned())
}

/// An agent's reply in the account's first chat, once there is one: `(chat, message id)`.
async fn reply_in_first_chat(app: &TestApp, owner: &str, text: &str) -> (i64, String) {
    let chat = loop {
        let (_, chats) = app.get("/chats/", Some(owner)).await;
        if let Some(id) = chats.as_array().and_then(|c| c.first()).and_then(|c| c["id"].as_i64()) {
            break id;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let (status, reply) = app.post("/chats/messages", Some(owner), json!({"chat_id": chat, "text": text})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{reply}");
    (chat, reply["message_id"].as_str().unwrap().to_owned())
}

async fn log(app: &TestApp, token: &str, hook: i64) -> Value {
    app.get(&format!("/webhooks/{hook}/deliveries?limit=200"), Some(token)).await.1
}

/// Acceptance 1: a contact's message, a send's status changes and a session
/// going offline reach the endpoints that want them, signed; an endpoint
/// filtered to other events or sessions gets none, another account's none,
/// and the config's endpoint all.
async fn signed_events_reach_the_endpoints_that_want_them(db: TestDb) {
    let everything = Receiver::start(200).await;
    let config_hook = Receiver::start(200).await;
    let config_secret = wagate::sign::Key::generate();
    let (url, secret) = (config_hook.url.clone(), config_secret.clone());
    let app = TestApp::spawn_with(db, move |config| {
        fast_webhooks(config);
        config.webhook.url = url;
        config.webhook.secret = wagate::config::Secret::new(secret);
    })
    .await;
    app.sim.add_contacts(&[CONTACT.to_owned()]);
    let (_, owner) = app.user_with_role("user").await;
    let (_, stranger) = app.user_with_role("user").await;
    let (all, all_secret) = endpoint(&app, &owner, json!({"url": everything.url})).await;
    let broadcasts = Receiver::start(200).await;
    let (only_broadcasts, _) =
        endpoint(&app, &owner, json!({"url": broadcasts.url, "events": ["broadcast.completed"]})).await;
    let elsewhere = Receiver::start(200).await;
    let (other_session, _) = endpoint(&app, &owner, json!({"url": elsewhere.url, "sessions": ["lain"]})).await;
    let strangers = Receiver::start(200).await;
    let (stranger_hook, _) = endpoint(&app, &stranger, json!({"url": strangers.url})).await;

    app.linked_session(&owner, "kantor", NUMBER).await;
    let write = Write { from: CONTACT.into(), to: NUMBER.into(), text: Some("halo".into()), ..Default::default() };
    let received = app.sim.deliver(&write).await.unwrap();
    let sent = app.send_text(&owner, "kantor", CONTACT, "dijawab").await;
    app.wait_message(&owner, &sent, "sent", 30).await;
    // An agent's reply from the inbox: its status changes are events too.
    let (chat, reply) = reply_in_first_chat(&app, &owner, "Kami cek ya").await;
    app.wait_message(&owner, &reply, "sent", 30).await;
    let (status, paused) =
        app.call(Method::PATCH, &format!("/chats/{chat}"), Some(&owner), Some(json!({"mode": "paused"}))).await;
    assert_eq!(status, StatusCode::OK, "{paused}");
    let (status, read) = app.post(&format!("/chats/{chat}/read"), Some(&owner), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{read}");
    let opened = json!({"customer_name": "Bu Sari", "customer_phone": "0822-3000-071", "session": "kantor"});
    let (status, opened) = app.post("/chats/", Some(&owner), opened).await;
    assert_eq!(status, StatusCode::CREATED, "{opened}");
    app.sim.fault(NUMBER, Fault::Drop);

    for (receiver, secret) in [(&everything, &all_secret), (&config_hook, &config_secret)] {
        let event = receiver
            .until(secret, 30, |e| e["type"] == "message.received" && e["data"]["message_id"] == received.as_str())
            .await;
        assert_eq!((event["session"].as_str(), event["data"]["text"].as_str()), (Some("kantor"), Some("halo")));
        receiver.until(secret, 30, |e| e["type"] == "chat.message" && e["data"]["message"]["text"] == "halo").await;
        receiver
            .until(secret, 30, |e| {
                e["type"] == "message.status" && e["data"]["id"] == sent.as_str() && e["data"]["status"] == "sent"
            })
            .await;
        receiver
            .until(secret, 30, |e| {
                e["type"] == "message.status" && e["data"]["id"] == reply.as_str() && e["data"]["status"] == "sent"
            })
            .await;
        receiver.until(secret, 30, |e| e["type"] == "session.status" && e["data"]["status"] == "disconnected").await;
        receiver.until(secret, 30, |e| e["type"] == "chat.updated" && e["data"]["mode"] == "paused").await;
        // The reply's timeline entry, as it moves.
        receiver
            .until(secret, 30, |e| {
                e["type"] == "chat.message"
                    && e["data"]["message"]["message_id"] == reply.as_str()
                    && e["data"]["message"]["status"] == "sent"
            })
            .await;
        receiver
            .until(secret, 30, |e| e["type"] == "chat.updated" && e["data"]["id"] == chat && e["data"]["unread"] == 0)
            .await;
        receiver.until(secret, 30, |e| e["type"] == "chat.updated" && e["data"]["name"] == "Bu Sari").await;
        // One session's events carry increasing sequence numbers, in the order they happened.
        let statuses: Vec<(i64, String)> = receiver
            .accepted(secret)
            .into_iter()
            .filter(|(_, e)| e["type"] == "message.status" && e["data"]["id"] == sent.as_str())
            .map(|(_, e)| (e["sequence"].as_i64().unwrap(), e["data"]["status"].as_str().unwrap().to_owned()))
            .collect();
        let mut ordered = statuses.clone();
        ordered.sort();
        let order: Vec<&str> = ordered.iter().map(|(_, s)| s.as_str()).collect();
        assert_eq!(order, ["queued", "sending", "sent"], "{statuses:?}");
    }
    // None of it was even written for the others.
    for (token, hook) in [(&owner, only_broadcasts), (&owner, other_session), (&stranger, stranger_hook)] {
        let log = log(&app, token, hook).await;
        assert_eq!(log["total"], 0, "{log}");
    }
    assert_eq!(broadcasts.requests() + elsewhere.requests() + strangers.requests(), 0);
    // The delivery log tells what happened.
    let log = log(&app, &owner, all).await;
    let first = log["data"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (first["status"].as_str(), first["attempts"].as_i64(), first["last_status"].as_i64()),
        (Some("succeeded"), Some(1), Some(200)),
        "{first}"
    );
    assert!(first["message_id"].as_str().unwrap().starts_with("msg_"));
}

/// Acceptance 2 and 4: a receiver failing for a while gets every event once
/// it recovers, each `webhook-id` accepted once, with the attempts in the log;
/// replay and a single retry send again under the same id; 404 forever ends
/// `failed` after the schedule; 410 disables the endpoint; a rotated secret
/// signs beside the new one; a test ping arrives.
async fn retries_replays_and_the_end_of_the_schedule(db: TestDb) {
    let app = TestApp::spawn_with(db, fast_webhooks).await;
    app.sim.add_contacts(&[CONTACT.to_owned()]);
    let (_, owner) = app.user_with_role("user").await;
    let flaky = Receiver::start(500).await;
    let (hook, secret) = endpoint(&app, &owner, json!({"url": flaky.url, "events": ["message.status"]})).await;
    let missing = Receiver::start(404).await;
    let (gone_hook, _) = endpoint(&app, &owner, json!({"url": missing.url, "events": ["message.status"]})).await;
    app.linked_session(&owner, "kantor", NUMBER).await;
    let since = chrono::Utc::now();
    let mut ids = Vec::new();
    for text in ["satu", "dua", "tiga"] {
        ids.push(app.send_text(&owner, "kantor", CONTACT, text).await);
    }
    for id in &ids {
        app.wait_message(&owner, id, "sent", 30).await;
    }
    // Failing: attempts pile up in the log, then the receiver recovers.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while flaky.requests() < 9 {
        assert!(std::time::Instant::now() < deadline, "the 500s were not retried");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    flaky.answer(200);
    for id in &ids {
        flaky.until(&secret, 30, |e| e["data"]["id"] == id.as_str() && e["data"]["status"] == "sent").await;
    }
    let pending = |log: &Value| log["data"].as_array().unwrap().iter().any(|d| d["status"] == "pending");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let mut delivered = log(&app, &owner, hook).await;
    while pending(&delivered) {
        assert!(std::time::Instant::now() < deadline, "deliveries stayed pending: {delivered}");
        tokio::time::sleep(Duration::from_millis(50)).await;
        delivered = log(&app, &owner, hook).await;
    }
    let accepted = flaky.accepted(&secret);
    let mut unique: Vec<&String> = accepted.iter().map(|(id, _)| id).collect();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), accepted.len(), "each webhook-id accepted once");
    assert_eq!(accepted.len(), 9, "queued, sending and sent of three messages");
    let entries = delivered["data"].as_array().unwrap();
    assert!(entries.iter().all(|d| d["status"] == "succeeded" && d["last_status"] == 200), "{delivered}");
    assert!(entries.iter().any(|d| d["attempts"].as_i64().unwrap() >= 2), "{delivered}");
    // The failed attempts carried the ids that were later accepted.
    let got = flaky.got.lock().unwrap().clone();
    for (headers, _, _) in got.iter().filter(|(_, _, s)| *s == 500) {
        let id = headers["webhook-id"].to_str().unwrap();
        assert!(unique.iter().any(|u| u.as_str() == id), "a retry under a new id: {id}");
    }

    // Replay: everything since the start again, same ids.
    let (status, body) =
        app.post(&format!("/webhooks/{hook}/replay"), Some(&owner), json!({"since": since.to_rfc3339()})).await;
    assert_eq!((status, body["data"]["count"].as_u64()), (StatusCode::ACCEPTED, Some(9)), "{body}");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while flaky.accepted(&secret).len() < 18 {
        assert!(std::time::Instant::now() < deadline, "the replay did not arrive");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut again: Vec<String> = flaky.accepted(&secret).into_iter().map(|(id, _)| id).collect();
    again.sort();
    again.dedup();
    assert_eq!(again.len(), 9, "replayed under the same ids");
    // A single retry.
    let one = entries[0]["id"].as_i64().unwrap();
    let (status, retried) =
        app.post(&format!("/webhooks/{hook}/deliveries/{one}/retry"), Some(&owner), json!({})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{retried}");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while flaky.accepted(&secret).len() < 19 {
        assert!(std::time::Instant::now() < deadline, "the retry did not arrive");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let last = flaky.accepted(&secret).pop().unwrap();
    assert_eq!(last.0, entries[0]["message_id"].as_str().unwrap());

    // 404 forever: failed after the five attempts of the schedule.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let log = log(&app, &owner, gone_hook).await;
        let rows = log["data"].as_array().unwrap();
        if rows.len() == 9 && rows.iter().all(|d| d["status"] == "failed") {
            assert!(rows.iter().all(|d| d["attempts"] == 5 && d["last_status"] == 404), "{log}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the 404s did not end failed: {log}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // A rotated secret: both sign for a while, each verifiable on its own.
    let (status, rotated) = app.post(&format!("/webhooks/{hook}/rotate-secret"), Some(&owner), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    let new_secret = rotated["data"]["secret"].as_str().unwrap().to_owned();
    let mark = flaky.requests();
    let (status, ping) = app.post(&format!("/webhooks/{hook}/test"), Some(&owner), json!({})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{ping}");
    let event = flaky.until_from(mark, &new_secret, 20, |e| e["type"] == "webhook.test").await;
    assert_eq!(event["data"]["webhook_id"], hook);
    flaky.until_from(mark, &secret, 5, |e| e["type"] == "webhook.test").await;
    let signatures = flaky.got.lock().unwrap().last().unwrap().0["webhook-signature"].to_str().unwrap().to_owned();
    assert_eq!(signatures.split(' ').count(), 2, "{signatures}");

    // 410: the endpoint is disabled, saying why (the requests already under
    // way at once get their 410 too), and gets nothing more.
    flaky.answer(410);
    app.send_text(&owner, "kantor", CONTACT, "empat").await;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (_, view) = app.get(&format!("/webhooks/{hook}"), Some(&owner)).await;
        if view["data"]["enabled"] == false {
            assert!(view["data"]["disabled_reason"].as_str().unwrap().contains("410"), "{view}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "410 did not disable the endpoint: {view}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (before, logged) = (flaky.requests(), log(&app, &owner, hook).await["total"].clone());
    let after = app.send_text(&owner, "kantor", CONTACT, "lima").await;
    app.wait_message(&owner, &after, "sent", 30).await;
    assert_eq!(log(&app, &owner, hook).await["total"], logged, "nothing is even written for a disabled endpoint");
    assert_eq!(flaky.requests(), before);
}

/// Acceptance 5: URLs that reach loopback, private, link-local or metadata
/// addresses are refused when the endpoint is made; a redirect is never followed.
async fn unsafe_urls_are_refused(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let (_, owner) = app.user_with_role("user").await;
    for url in [
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://10.1.2.3/hook",
        "http://192.168.1.10/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hook",
        "http://[fd00::1]/hook",
        "http://100.64.0.1/hook",
        "ftp://example.com/hook",
        "not a url",
        "http://user:pass@93.184.216.34/hook",
    ] {
        let (status, body) = app.post("/webhooks", Some(&owner), json!({"url": url})).await;
        assert_eq!(
            (status, body["error"]["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("url")),
            "{url}: {body}"
        );
        assert!(!body.to_string().contains("127.0.0.1") || url.contains("127.0.0.1"), "{body}");
    }
    for (body, field) in [
        (json!({"url": "http://93.184.216.34/hook", "events": ["message.nope"]}), "events"),
        (json!({"url": "http://93.184.216.34/hook", "events": []}), "events"),
        (json!({"url": "http://93.184.216.34/hook", "sessions": ["a/b"]}), "sessions"),
        (json!({"url": "http://93.184.216.34/hook", "description": "x".repeat(256)}), "description"),
        (json!({"url": "http://93.184.216.34/hook", "secret": "whsec_mine"}), "secret"),
        (json!({}), "url"),
    ] {
        let (status, resp) = app.post("/webhooks", Some(&owner), body.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {resp}");
        assert_eq!(resp["error"]["field"], field, "{body}: {resp}");
    }
    let (status, body) = app.get("/webhooks/1/deliveries?limit=0", Some(&owner)).await;
    assert!(status == StatusCode::UNPROCESSABLE_ENTITY || status == StatusCode::NOT_FOUND, "{body}");
    let (status, body) = app.call(Method::PATCH, "/webhooks/abc", Some(&owner), Some(json!({}))).await;
    assert_eq!((status, error_code(&body)), (StatusCode::NOT_FOUND, "not_found"));
}

/// A receiver in an allowed range answering with a redirect to the metadata
/// address: the redirect is not followed (followed, the attempt would end in a
/// refusal with no status), the answer is logged as it came.
async fn redirects_are_not_followed(db: TestDb) {
    let app = TestApp::spawn_with(db, fast_webhooks).await;
    let (_, owner) = app.user_with_role("user").await;
    let redirecting = Receiver::start(302).await;
    let (hook, _) = endpoint(&app, &owner, json!({"url": redirecting.url})).await;
    let (status, _) = app.post(&format!("/webhooks/{hook}/test"), Some(&owner), json!({})).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let log = log(&app, &owner, hook).await;
        let row = &log["data"][0];
        if row["attempts"].as_i64().unwrap_or(0) >= 1 {
            assert_eq!(row["last_status"], 302, "{log}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no attempt: {log}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Issue 27, acceptance 6: the `secret` column keeps no readable secret; a
/// secret an earlier version stored in plain text is sealed at the next start
/// and still signs; with another `secrets_key` the endpoint is disabled,
/// saying why, until its secret is rotated.
async fn secrets_are_sealed_in_the_database(db: TestDb) {
    use sea_orm::{ActiveModelTrait, ActiveValue::Set, EntityTrait};
    use wagate::db::entities::webhooks;

    let mut app = TestApp::spawn_with(db, fast_webhooks).await;
    let (_, owner) = app.user_with_role("user").await;
    let receiver = Receiver::start(200).await;
    let (hook, secret) = endpoint(&app, &owner, json!({"url": receiver.url})).await;
    let readable = |stored: &str| {
        let key = secret.strip_prefix("whsec_").unwrap();
        stored.contains(key) || stored.contains(&key[..12]) || stored.contains("whsec_")
    };
    let row = webhooks::Entity::find_by_id(hook).one(&app.db).await.unwrap().unwrap();
    assert!(row.secret.starts_with("s1.") && !readable(&row.secret), "{}", row.secret);
    let (status, ping) = app.post(&format!("/webhooks/{hook}/test"), Some(&owner), json!({})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{ping}");
    receiver.until(&secret, 20, |e| e["type"] == "webhook.test").await;

    // As an earlier version left it: in plain text. Sealed at the next start.
    app.stop().await;
    let mut plain: webhooks::ActiveModel = row.into();
    plain.secret = Set(secret.clone());
    plain.update(&app.db).await.unwrap();
    app.start().await;
    let row = webhooks::Entity::find_by_id(hook).one(&app.db).await.unwrap().unwrap();
    assert!(row.secret.starts_with("s1.") && !readable(&row.secret), "{}", row.secret);
    let mark = receiver.requests();
    app.post(&format!("/webhooks/{hook}/test"), Some(&owner), json!({})).await;
    receiver.until_from(mark, &secret, 20, |e| e["type"] == "webhook.test").await;
    let rotated = app.post(&format!("/webhooks/{hook}/rotate-secret"), Some(&owner), json!({})).await.1;
    let row = webhooks::Entity::find_by_id(hook).one(&app.db).await.unwrap().unwrap();
    let new_secret = rotated["data"]["secret"].as_str().unwrap().to_owned();
    assert!(row.secret.starts_with("s1.") && !row.secret.contains(&new_secret[6..18]), "{}", row.secret);
    assert!(row.previous_secret.as_deref().is_some_and(|p| p.starts_with("s1.") && !readable(p)), "{row:?}");

    // The database without its key: disabled, saying why, not signing garbage.
    app.stop().await;
    app.config.storage.secrets_key = wagate::config::Secret::new("ZGlmZmVyZW50LWtleS1vZi0zMi1ieXRlcy1sb25nISE=");
    app.start().await;
    let (_, view) = app.get(&format!("/webhooks/{hook}"), Some(&owner)).await;
    assert_eq!(view["data"]["enabled"], false, "{view}");
    assert!(view["data"]["disabled_reason"].as_str().unwrap().contains("secrets_key"), "{view}");
    let rotated = app.post(&format!("/webhooks/{hook}/rotate-secret"), Some(&owner), json!({})).await.1;
    let newest = rotated["data"]["secret"].as_str().unwrap().to_owned();
    let (status, enabled) =
        app.call(Method::PATCH, &format!("/webhooks/{hook}"), Some(&owner), Some(json!({"enabled": true}))).await;
    assert_eq!(status, StatusCode::OK, "{enabled}");
    let mark = receiver.requests();
    app.post(&format!("/webhooks/{hook}/test"), Some(&owner), json!({})).await;
    receiver.until_from(mark, &newest, 20, |e| e["type"] == "webhook.test").await;
    let signatures = receiver.got.lock().unwrap().last().unwrap().0["webhook-signature"].to_str().unwrap().to_owned();
    assert_eq!(signatures.split(' ').count(), 1, "the unreadable old secret signs nothing: {signatures}");
}

/// `session.qr` goes only to endpoints that ask for it; a broadcast's progress
/// goes out as it moves, and `broadcast.completed` once, even as receipts
/// keep moving it.
async fn codes_and_broadcasts_reach_endpoints_that_ask(db: TestDb) {
    let app = TestApp::spawn_with(db, fast_webhooks).await;
    app.sim.add_contacts(&[CONTACT.to_owned()]);
    let (_, owner) = app.user_with_role("user").await;
    let asking = Receiver::start(200).await;
    let kinds = ["session.qr", "broadcast.progress", "broadcast.completed"];
    let (_, secret) = endpoint(&app, &owner, json!({"url": asking.url, "events": kinds})).await;
    let default = Receiver::start(200).await;
    let (default_hook, default_secret) = endpoint(&app, &owner, json!({"url": default.url})).await;

    let (status, _) = app.post("/session/create", Some(&owner), json!({"sessionId": "baru"})).await;
    assert_eq!(status, StatusCode::CREATED);
    let code = asking.until(&secret, 30, |e| e["type"] == "session.qr" && e["data"]["sessionId"] == "baru").await;
    assert!(code["data"]["qr"].as_str().is_some_and(|qr| !qr.is_empty()), "{code}");

    app.linked_session(&owner, "kantor", NUMBER).await;
    let body = json!({"phone": CONTACT, "message": "Gangguan di ODP-1", "session": "kantor"});
    let (status, broadcast) = app.post("/api/send/phone", Some(&owner), body).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{broadcast}");
    let id = broadcast["broadcast_id"].as_i64().unwrap();
    let done =
        asking.until(&secret, 30, |e| e["type"] == "broadcast.completed" && e["data"]["broadcast_id"] == id).await;
    assert_eq!((done["session"].as_str(), done["data"]["sent_count"].as_i64()), (Some("kantor"), Some(1)), "{done}");
    let (_, report) = app.get(&format!("/api/broadcasts/{id}"), Some(&owner)).await;
    let message = report["results"][0]["message_id"].as_str().expect("the report names the message").to_owned();
    app.sim.receipt(&message, "delivered").unwrap();
    asking
        .until(&secret, 30, |e| {
            e["type"] == "broadcast.progress" && e["data"]["broadcast_id"] == id && e["data"]["delivered_count"] == 1
        })
        .await;
    let completed = asking
        .accepted(&secret)
        .into_iter()
        .filter(|(_, e)| e["type"] == "broadcast.completed" && e["data"]["broadcast_id"] == id)
        .count();
    assert_eq!(completed, 1);
    // An endpoint that did not ask for `session.qr` never got one.
    default.until(&default_secret, 30, |e| e["type"] == "broadcast.completed").await;
    assert!(default.accepted(&default_secret).iter().all(|(_, e)| e["type"] != "session.qr"));
    let log = log(&app, &owner, default_hook).await;
    assert!(log["data"].as_array().unwrap().iter().all(|d| d["event_type"] != "session.qr"), "{log}");

    // A broadcast cancelled before anything of it went out is complete too:
    // its cancel is a change, and the endpoint and the live stream hear of it.
    let mut live = crate::helpers::EventStream::open(&app, &owner).await;
    app.sim.fault(NUMBER, Fault::Refuse(Duration::from_secs(600)));
    live.until(30, |kind, data| kind == "session.status" && data["status"] == "disconnected").await;
    let body = json!({"phone": CONTACT, "message": "Gangguan di ODP-2", "session": "kantor"});
    let (status, broadcast) = app.post("/api/send/phone", Some(&owner), body).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{broadcast}");
    let id = broadcast["broadcast_id"].as_i64().unwrap();
    let (status, cancelled) = app.post(&format!("/api/broadcasts/{id}/cancel"), Some(&owner), json!({})).await;
    assert_eq!((status, cancelled["failed_count"].as_i64()), (StatusCode::OK, Some(1)), "{cancelled}");
    let done =
        asking.until(&secret, 30, |e| e["type"] == "broadcast.completed" && e["data"]["broadcast_id"] == id).await;
    assert_eq!((done["data"]["status"].as_str(), done["data"]["sent_count"].as_i64()), (Some("cancelled"), Some(0)));
    let heard = live.until(30, |kind, data| kind == "broadcast.completed" && data["broadcast_id"] == id).await;
    let (_, last) = heard.last().unwrap();
    assert_eq!(last, &done["data"]);
}

/// `Retry-After` on a 503 holds the next attempt back past the schedule; an
/// endpoint whose every delivery fails for `webhook.disable_after` is
/// disabled, saying why; `/metrics` counts the attempts and the backlog.
async fn a_receiver_paces_retries_or_is_given_up(db: TestDb) {
    let app = TestApp::spawn_with(db, |config| {
        fast_webhooks(config);
        // Attempts for 4 s: longer than the endpoint may fail.
        config.webhook.schedule = [0].into_iter().chain([200; 20]).map(Duration::from_millis).collect();
        config.webhook.disable_after = Duration::from_secs(2);
    })
    .await;
    let (_, owner) = app.user_with_role("user").await;
    let busy = Receiver::start(503).await;
    let (busy_hook, _) = endpoint(&app, &owner, json!({"url": busy.url})).await;
    let down = Receiver::start(500).await;
    let (down_hook, _) = endpoint(&app, &owner, json!({"url": down.url})).await;
    for hook in [busy_hook, down_hook] {
        let (status, _) = app.post(&format!("/webhooks/{hook}/test"), Some(&owner), json!({})).await;
        assert_eq!(status, StatusCode::ACCEPTED);
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while busy.requests() < 2 {
        assert!(std::time::Instant::now() < deadline, "the 503 was not retried");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let times: Vec<u128> = busy
        .got
        .lock()
        .unwrap()
        .iter()
        .map(|(h, _, _)| h["x-received-at"].to_str().unwrap().parse().unwrap())
        .collect();
    assert!(times[1] - times[0] >= 900, "Retry-After: 1 was not honoured (the schedule says 200 ms): {times:?}");

    // Failing for 2 s: disabled, saying why.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (_, view) = app.get(&format!("/webhooks/{down_hook}"), Some(&owner)).await;
        if view["data"]["enabled"] == false {
            let reason = view["data"]["disabled_reason"].as_str().unwrap();
            assert!(reason.starts_with("every delivery failed for"), "{view}");
            assert!(view["data"]["failing_since"].is_string(), "{view}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "a failing endpoint stayed enabled: {view}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let resp = app.client.get(format!("{}/metrics", app.address)).bearer_auth(&app.admin_token).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let metrics = resp.text().await.unwrap();
    let retrying = metrics
        .lines()
        .find(|l| l.starts_with("wagate_webhook_attempts_total{outcome=\"retrying\"}"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|n| n.parse::<f64>().ok())
        .unwrap_or(0.0);
    assert!(retrying >= 2.0, "{metrics}");
    assert!(metrics.contains("wagate_webhook_pending "), "{metrics}");
    assert!(metrics.contains("wagate_webhook_oldest_pending_seconds "), "{metrics}");
}

/// One change makes one event: the live stream and a webhook endpoint hear
/// the same `message.status` and `chat.message` events of an agent's reply
/// (queued, sending, sent, delivered), in the same order, each once.
async fn live_and_webhooks_hear_the_same_events(db: TestDb) {
    let hook = Receiver::start(200).await;
    let app = TestApp::spawn_with(db, fast_webhooks).await;
    app.sim.add_contacts(&[CONTACT.to_owned()]);
    let (_, owner) = app.user_with_role("user").await;
    let (_, secret) =
        endpoint(&app, &owner, json!({"url": hook.url, "events": ["message.status", "chat.message"]})).await;
    let mut live = crate::helpers::EventStream::open(&app, &owner).await;
    app.linked_session(&owner, "kantor", NUMBER).await;
    let write = Write { from: CONTACT.into(), to: NUMBER.into(), text: Some("halo".into()), ..Default::default() };
    app.sim.deliver(&write).await.unwrap();
    let (_, reply) = reply_in_first_chat(&app, &owner, "Kami cek ya").await;
    app.wait_message(&owner, &reply, "sent", 30).await;
    app.sim.receipt(&reply, "delivered").unwrap();
    let about_reply = |kind: &str, data: &Value| match kind {
        "message.status" => data["id"] == reply.as_str(),
        "chat.message" => data["message"]["message_id"] == reply.as_str(),
        _ => false,
    };
    let last = |kind: &str, data: &Value| {
        kind == "chat.message" && about_reply(kind, data) && data["message"]["status"] == "delivered"
    };
    let heard: Vec<(String, Value)> =
        live.until(30, |kind, data| last(kind, data)).await.into_iter().filter(|(k, d)| about_reply(k, d)).collect();
    hook.until(&secret, 30, |e| last(e["type"].as_str().unwrap_or_default(), &e["data"])).await;
    let mut told: Vec<(i64, String, Value)> = hook
        .accepted(&secret)
        .into_iter()
        .map(|(_, e)| (e["sequence"].as_i64().unwrap(), e["type"].as_str().unwrap().to_owned(), e["data"].clone()))
        .filter(|(_, kind, data)| about_reply(kind, data))
        .collect();
    told.sort_by_key(|(sequence, _, _)| *sequence);
    let told: Vec<(String, Value)> = told.into_iter().map(|(_, kind, data)| (kind, data)).collect();
    let statuses: Vec<&str> =
        heard.iter().filter(|(k, _)| k == "message.status").map(|(_, d)| d["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["queued", "sending", "sent", "delivered"], "{heard:?}");
    assert_eq!(heard, told);
}

db_tests!(
    live_and_webhooks_hear_the_same_events,
    a_receiver_paces_retries_or_is_given_up,
    codes_and_broadcasts_reach_endpoints_that_ask,
    signed_events_reach_the_endpoints_that_want_them,
    retries_replays_and_the_end_of_the_schedule,
    unsafe_urls_are_refused,
    redirects_are_not_followed,
    secrets_are_sealed_in_the_database,
);
