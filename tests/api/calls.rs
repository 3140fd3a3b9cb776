//! Calls through wa-sim: declined (or left to ring), kept in the caller's
//! chat, told as `call.received` (live and to signed webhooks), and answered
//! with one reply per caller per interval however often they call; a call
//! that rang while the gateway was away is told when it comes back.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::{
    db_tests,
    helpers::{EventStream, TestApp, TestDb, no_limits},
};

const SENDER: &str = "628111000041";
const CALLER: &str = "628222000041";
const REPLY: &str = "Maaf, nomor ini tidak menerima telepon. Silakan kirim pesan WhatsApp.";

async fn wait_call_state(app: &TestApp, id: &str, state: &str) -> wa_sim::calls::Call {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let calls = app.sim.calls(Some(SENDER));
        let call = calls.iter().find(|c| c.id == id).expect("wa-sim knows the call");
        if call.state == state {
            return call.clone();
        }
        assert!(Instant::now() < deadline, "call {id} is {}, not {state}", call.state);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The `call.received` events heard until one for each of `ids` came.
async fn calls_heard(live: &mut EventStream, ids: &[String]) -> Vec<Value> {
    let mut left: Vec<String> = ids.to_vec();
    let heard = live
        .until(30, |kind, data| {
            if kind == "call.received" {
                left.retain(|id| data["message_id"] != id.as_str());
            }
            left.is_empty()
        })
        .await;
    let calls: Vec<Value> = heard.into_iter().filter(|(k, _)| k == "call.received").map(|(_, d)| d).collect();
    assert_eq!(calls.len(), ids.len(), "one event per call: {calls:?}");
    calls
}

async fn calls_are_declined_kept_and_answered_once(db: TestDb) {
    let mut app = TestApp::spawn_with(db, |c| {
        no_limits(c);
        c.webhook.allow_ranges = vec!["127.0.0.0/8".into()];
    })
    .await;
    let token = app.admin_token.clone();
    app.linked_session(&token, "s1", SENDER).await;
    app.sim.add_contacts(&[CALLER.to_owned()]);
    let receiver = crate::webhooks::Receiver::start_at("127.0.0.1:0", 200).await;
    let (status, hook) = app.post("/webhooks", Some(&token), json!({"url": receiver.url})).await;
    assert_eq!(status, StatusCode::CREATED, "{hook}");
    let secret = hook["data"]["secret"].as_str().unwrap().to_owned();

    let (status, view) = app.get("/session/s1/calls", Some(&token)).await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(view["data"]["calls"], json!({"reject": false, "reply": "", "replyIntervalSecs": 21600}));
    for (body, field) in [
        (json!({"replyIntervalSecs": 5}), "replyIntervalSecs"),
        (json!({"reply": "x".repeat(4097)}), "reply"),
        (json!({"reject": "yes"}), "reject"),
    ] {
        let (status, answer) = app.call(Method::PUT, "/session/s1/calls", Some(&token), Some(body)).await;
        assert_eq!((status, &answer["error"]["field"]), (StatusCode::UNPROCESSABLE_ENTITY, &json!(field)), "{answer}");
    }
    let settings = json!({"reject": true, "reply": REPLY, "replyIntervalSecs": 3600});
    let (status, view) = app.call(Method::PUT, "/session/s1/calls", Some(&token), Some(settings.clone())).await;
    assert_eq!((status, &view["data"]["calls"]), (StatusCode::OK, &settings), "{view}");
    assert_eq!(view["data"]["overrides"], settings);

    // Three calls within the interval: each declined and kept, one reply.
    let mut live = EventStream::open(&app, &token).await;
    let mut ids = Vec::new();
    for video in [false, true, false] {
        let id = app.sim.call(CALLER, SENDER, video, Some("Budi")).unwrap();
        let call = wait_call_state(&app, &id, "rejected").await;
        assert_eq!(call.rejects, 1, "declined once: {call:?}");
        app.sim.hang_up(&id).unwrap();
        ids.push(id);
    }
    let heard = calls_heard(&mut live, &ids).await;
    for (event, (id, video)) in heard.iter().zip(ids.iter().zip([false, true, false])) {
        assert_eq!((&event["message_id"], &event["type"]), (&json!(id), &json!("call")), "{event}");
        assert_eq!(event["chat"], format!("{CALLER}@s.whatsapp.net"));
        assert_eq!(event["push_name"], "Budi");
        assert_eq!(event["extra"]["video"], video);
        assert_eq!(event["extra"]["action"], "rejected");
        assert_eq!(event["extra"]["offline"], false);
    }
    let replied: Vec<bool> = heard.iter().map(|e| e["extra"]["replied"].as_bool().unwrap()).collect();
    assert_eq!(replied, [true, false, false], "one reply per caller per interval");
    for id in &ids {
        let event = receiver
            .until(&secret, 30, |e| e["type"] == "call.received" && e["data"]["message_id"] == id.as_str())
            .await;
        assert_eq!(event["data"]["extra"]["action"], "rejected", "{event}");
    }

    let deadline = Instant::now() + Duration::from_secs(20);
    while app.sim.shown(Some(CALLER)).is_empty() {
        assert!(Instant::now() < deadline, "the reply never reached the caller");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let shown = app.sim.shown(Some(CALLER));
    assert_eq!(shown.len(), 1, "one reply, however often they called: {shown:?}");
    assert_eq!((shown[0].kind.as_str(), shown[0].text.as_deref()), ("text", Some(REPLY)));

    let (_, chats) = app.get("/chats/", Some(&token)).await;
    assert_eq!(chats.as_array().unwrap().len(), 1, "{chats}");
    let chat = chats[0]["id"].as_i64().unwrap();
    let (_, detail) = app.get(&format!("/chats/{chat}"), Some(&token)).await;
    let entries = detail["messages"].as_array().unwrap();
    let calls: Vec<&Value> = entries.iter().filter(|e| e["type"] == "call").collect();
    assert_eq!(calls.len(), 3, "{entries:?}");
    assert!(calls.iter().all(|e| e["sender"] == "customer" && e["extra"]["action"] == "rejected"));
    let replies: Vec<&Value> = entries.iter().filter(|e| e["sender"] == "call").collect();
    assert_eq!((replies.len(), &replies[0]["text"]), (1, &json!(REPLY)), "{entries:?}");

    // Back to the config: calls ring until the caller gives up, and are missed.
    let (status, view) = app.call(Method::PUT, "/session/s1/calls", Some(&token), Some(json!({}))).await;
    assert_eq!((status, &view["data"]["calls"]["reject"]), (StatusCode::OK, &json!(false)), "{view}");
    let rung = app.sim.call(CALLER, SENDER, false, None).unwrap();
    let heard = calls_heard(&mut live, std::slice::from_ref(&rung)).await;
    assert_eq!((&heard[0]["extra"]["action"], &heard[0]["extra"]["replied"]), (&json!("missed"), &json!(false)));
    assert_eq!(wait_call_state(&app, &rung, "ringing").await.rejects, 0);
    app.sim.hang_up(&rung).unwrap();
    assert_eq!(wait_call_state(&app, &rung, "ended").await.rejects, 0);

    // A call while the gateway is down is told, once, when it is back.
    app.stop().await;
    let away = app.sim.call(CALLER, SENDER, false, None).unwrap();
    app.start().await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let kept = loop {
        let (_, got) = app.get("/message/received?session=s1", Some(&token)).await;
        if let Some(found) = got["data"].as_array().unwrap().iter().find(|m| m["message_id"] == away.as_str()) {
            break found.clone();
        }
        assert!(Instant::now() < deadline, "the call made while away was not told: {got}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!((&kept["type"], &kept["extra"]["offline"]), (&json!("call"), &json!(true)), "{kept}");
    assert_eq!(kept["extra"]["action"], "missed", "a call long over is not declined");
    app.restart().await;
    app.wait_status(&token, "s1", "connected", 30).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (_, got) = app.get("/message/received?session=s1", Some(&token)).await;
    let kept = got["data"].as_array().unwrap().iter().filter(|m| m["message_id"] == away.as_str()).count();
    assert_eq!(kept, 1, "told again after a restart, kept once: {got}");
}

db_tests!(calls_are_declined_kept_and_answered_once);
