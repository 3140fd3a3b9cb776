//! The send queue through HTTP and wa-sim: content arrives exactly, statuses
//! follow acks and receipts, limits hold, keys deduplicate, failures are
//! classified, and nothing bad gets queued.

use std::{collections::HashSet, time::Duration};

use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::Digest;

use crate::{
    db_tests,
    helpers::{EventStream, TestApp, TestDb, error_code, no_limits, serve_files},
};

const SENDER: &str = "628111000001";
const CONTACT: &str = "628222000002";

fn sha(bytes: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(bytes))
}

fn statuses(view: &Value) -> Vec<String> {
    view["history"].as_array().unwrap().iter().map(|h| h["status"].as_str().unwrap().to_owned()).collect()
}

/// Bytes that pass for a PNG (WhatsApp does not decode them; the checksum is what counts).
fn png(len: usize) -> Vec<u8> {
    let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
    bytes.extend((0..len).map(|i| (i * 7 % 251) as u8));
    bytes
}

async fn text_image_and_document_arrive_exactly(db: TestDb) {
    let app = TestApp::spawn_with(db, |c| {
        no_limits(c);
        c.media.allow_private_addresses = true; // the test's file server is on loopback
        c.media.max_image_bytes = 256 * 1024;
    })
    .await;
    let token = app.admin_token.clone();
    app.linked_session(&token, "s1", SENDER).await;
    app.sim.add_contacts(&[CONTACT.to_owned()]);
    let mut events = EventStream::open(&app, &token).await;

    // Text: queued -> sending -> sent (server ack) -> delivered -> read (receipts).
    let (status, body) = app
        .post(
            "/message/send-text",
            Some(&token),
            json!({"session": "s1", "to": "0822-2000-002", "text": "Halo, apa kabar?"}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["data"]["status"], "queued");
    assert_eq!(body["data"]["to"], CONTACT);
    let id = body["data"]["id"].as_str().unwrap().to_owned();
    app.wait_message(&token, &id, "sent", 30).await;
    let got = app.sim.received(Some(CONTACT));
    assert_eq!(got.len(), 1);
    assert_eq!(
        (got[0].id.as_str(), got[0].kind.as_str(), got[0].text.as_deref()),
        (id.as_str(), "text", Some("Halo, apa kabar?"))
    );
    assert_eq!(got[0].from, SENDER);
    app.sim.receipt(&id, "delivered").unwrap();
    app.wait_message(&token, &id, "delivered", 10).await;
    app.sim.receipt(&id, "read").unwrap();
    let view = app.wait_message(&token, &id, "read", 10).await;
    assert_eq!(statuses(&view), ["queued", "sending", "sent", "delivered", "read"]);
    assert_eq!(view["attempts"], 1);
    let seen =
        events.until(10, |kind, data| kind == "message.status" && data["id"] == id && data["status"] == "read").await;
    let order: Vec<&str> = seen
        .iter()
        .filter(|(kind, data)| kind == "message.status" && data["id"] == id)
        .map(|(_, data)| data["status"].as_str().unwrap())
        .collect();
    assert_eq!(order, ["queued", "sending", "sent", "delivered", "read"]);

    // An image by URL, with a caption.
    let image = png(50_000);
    // Over 5 MiB: sent as a resumable upload, streamed from its encrypted file.
    let document: Vec<u8> = (0..6_000_000u32).map(|i| (i % 253) as u8).collect();
    let files = serve_files(vec![
        ("/pics/promo.png", "image/png", image.clone()),
        ("/pics/huge.png", "image/png", png(300 * 1024)),
        ("/pics/not-an-image.png", "image/png", b"<html>nope</html>".to_vec()),
    ])
    .await;
    let (status, body) = app
        .post(
            "/message/send-image",
            Some(&token),
            json!({"session": "s1", "to": CONTACT, "image": format!("http://{files}/pics/promo.png"), "caption": "Promo bulan ini"}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let image_id = body["data"]["id"].as_str().unwrap().to_owned();
    assert_eq!(body["data"]["mimetype"], "image/png");
    assert_eq!(body["data"]["size"], image.len());

    // A document uploaded as multipart.
    let form = reqwest::multipart::Form::new()
        .text("session", "s1")
        .text("to", CONTACT)
        .text("caption", "Tagihan November")
        .part(
            "document",
            reqwest::multipart::Part::bytes(document.clone())
                .file_name("tagihan.pdf")
                .mime_str("application/pdf")
                .unwrap(),
        );
    let resp = app
        .client
        .post(format!("{}/message/send-document", app.address))
        .bearer_auth(&token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    let body: Value = resp.json().await.unwrap();
    let doc_id = body["data"]["id"].as_str().unwrap().to_owned();

    app.wait_message(&token, &image_id, "sent", 30).await;
    app.wait_message(&token, &doc_id, "sent", 30).await;
    let got = app.sim.received(Some(CONTACT));
    let image_got = got.iter().find(|r| r.id == image_id).expect("the image arrived");
    assert_eq!(image_got.kind, "image");
    assert_eq!(image_got.sha256.as_deref(), Some(sha(&image).as_str()));
    assert_eq!(image_got.caption.as_deref(), Some("Promo bulan ini"));
    assert_eq!(image_got.mimetype.as_deref(), Some("image/png"));
    let doc_got = got.iter().find(|r| r.id == doc_id).expect("the document arrived");
    assert_eq!(doc_got.kind, "document");
    assert_eq!(doc_got.sha256.as_deref(), Some(sha(&document).as_str()));
    assert_eq!(doc_got.filename.as_deref(), Some("tagihan.pdf"));
    assert_eq!(doc_got.mimetype.as_deref(), Some("application/pdf"));
    assert_eq!(doc_got.caption.as_deref(), Some("Tagihan November"));

    // Media that is too large or not an image is refused before anything is queued.
    for (path, code) in [
        ("/pics/huge.png", "media_too_large"),
        ("/pics/not-an-image.png", "validation_failed"),
        ("/pics/missing.png", "media_unreachable"),
    ] {
        let (status, body) = app
            .post(
                "/message/send-image",
                Some(&token),
                json!({"session": "s1", "to": CONTACT, "image": format!("http://{files}{path}")}),
            )
            .await;
        assert!(status.is_client_error(), "{path}: {status} {body}");
        assert_eq!(error_code(&body), code, "{path}: {body}");
        assert_eq!(body["error"]["field"], "image");
    }
    let (_, list) = app.get("/message/list?session=s1", Some(&token)).await;
    assert_eq!(list["total"], 3, "{list}");
    let (_, queue) = app.get("/message/queue-status?session=s1", Some(&token)).await;
    assert_eq!(
        queue,
        json!({"session": "s1", "pending": 0, "processing": 0, "completed": 3, "failed": 0, "isProcessing": false})
    );
}

/// Sends (gateway clock, from the status history) and arrivals (wa-sim clock)
/// within any window of `window` ms: the most found.
fn busiest(times: &[i64], window: i64) -> usize {
    times.iter().map(|&start| times.iter().filter(|&&t| t >= start && t < start + window).count()).max().unwrap_or(0)
}

async fn limits_hold_exactly(db: TestDb) {
    let app = TestApp::spawn_with(db, |c| {
        c.limits.minute_window = Duration::from_millis(1500);
        c.limits.hour_window = Duration::from_millis(4000);
    })
    .await;
    let token = app.admin_token.clone();
    app.linked_session(&token, "s1", SENDER).await;
    let (a, b, c) = ("628222000011", "628222000012", "628222000013");
    app.sim.add_contacts(&[a.into(), b.into(), c.into()]);
    let (status, body) = app
        .call(
            reqwest::Method::PUT,
            "/session/s1/limits",
            Some(&token),
            Some(json!({"delayMinMs": 100, "delayMaxMs": 250, "perMinute": 3, "perHour": 6, "perRecipientPerHour": 2})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["limits"]["perMinute"], 3);
    assert_eq!(body["data"]["limits"]["maxAttempts"], 3, "left out: from the config");

    let mut ids = Vec::new();
    for (i, to) in [a, a, a, b, b, c, c, a, b].iter().enumerate() {
        ids.push(app.send_text(&token, "s1", to, &format!("pesan {i}")).await);
    }
    for id in &ids {
        app.wait_message(&token, id, "sent", 60).await;
    }

    // The gateway's own record: when each send was written.
    let mut sends: Vec<(i64, String)> = Vec::new();
    for id in &ids {
        let (_, view) = app.get(&format!("/message/{id}"), Some(&token)).await;
        let data = &view["data"];
        for h in data["history"].as_array().unwrap() {
            if h["status"] == "sending" {
                let at = chrono::DateTime::parse_from_rfc3339(h["at"].as_str().unwrap()).unwrap().timestamp_millis();
                sends.push((at, data["to"].as_str().unwrap().to_owned()));
            }
        }
    }
    sends.sort();
    assert_eq!(sends.len(), ids.len(), "one send each: {sends:?}");
    let times: Vec<i64> = sends.iter().map(|s| s.0).collect();
    assert!(busiest(&times, 1500) <= 3, "per minute: {times:?}");
    assert!(busiest(&times, 4000) <= 6, "per hour: {times:?}");
    for to in [a, b, c] {
        let theirs: Vec<i64> = sends.iter().filter(|s| s.1 == to).map(|s| s.0).collect();
        assert!(busiest(&theirs, 4000) <= 2, "per recipient {to}: {theirs:?}");
    }
    for pair in times.windows(2) {
        assert!(pair[1] - pair[0] >= 100, "a pause of at least delayMinMs: {times:?}");
    }
    // Limits are used, not just respected: the first three go within the pauses.
    assert!(times[2] - times[0] <= 2 * 250 + 200, "{times:?}");

    // What WhatsApp saw agrees, allowing 100 ms of transport jitter per window.
    let arrived: Vec<i64> = app.sim.received(None).iter().filter(|r| r.from == SENDER).map(|r| r.at_ms).collect();
    assert_eq!(arrived.len(), ids.len());
    assert!(busiest(&arrived, 1500 - 100) <= 3, "{arrived:?}");
    assert!(busiest(&arrived, 4000 - 100) <= 6, "{arrived:?}");
}

async fn idempotency_keys_give_one_message(db: TestDb) {
    let app = TestApp::spawn_with(db, no_limits).await;
    let token = app.admin_token.clone();
    app.linked_session(&token, "s1", SENDER).await;
    app.sim.add_contacts(&[CONTACT.to_owned()]);
    let send = |key: &'static str, text: &'static str| {
        app.client
            .post(format!("{}/message/send-text", app.address))
            .bearer_auth(&token)
            .header("Idempotency-Key", key)
            .json(&json!({"session": "s1", "to": CONTACT, "text": text}))
            .send()
    };
    let first = send("order-42", "Pesanan 42 dikirim").await.unwrap();
    assert_eq!(first.status(), StatusCode::ACCEPTED);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first: Value = first.json().await.unwrap();
    let again = send("order-42", "Pesanan 42 dikirim").await.unwrap();
    assert_eq!(again.status(), StatusCode::ACCEPTED);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let again: Value = again.json().await.unwrap();
    assert_eq!(first["data"]["id"], again["data"]["id"]);
    // The key names that request; another one under it is refused.
    let other = send("order-42", "something else").await.unwrap();
    assert_eq!(other.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_code(&other.json().await.unwrap()), "idempotency_key_reused");
    // Concurrent retries of one request still make one message.
    let burst = futures_util::future::join_all((0..8).map(|_| send("order-43", "Pesanan 43"))).await;
    let ids: HashSet<String> = futures_util::future::join_all(burst.into_iter().map(|r| async {
        let r = r.unwrap();
        assert_eq!(r.status(), StatusCode::ACCEPTED);
        r.json::<Value>().await.unwrap()["data"]["id"].as_str().unwrap().to_owned()
    }))
    .await
    .into_iter()
    .collect();
    assert_eq!(ids.len(), 1);

    let id = first["data"]["id"].as_str().unwrap();
    app.wait_message(&token, id, "sent", 30).await;
    app.wait_message(&token, ids.iter().next().unwrap(), "sent", 30).await;
    let got = app.sim.received(Some(CONTACT));
    assert_eq!(got.len(), 2, "one delivery per key: {got:?}");
    assert!(app.sim.duplicates().is_empty());
}

async fn failures_are_classified_and_retried(db: TestDb) {
    let app = TestApp::spawn_with(db, |c| {
        no_limits(c);
        c.limits.ack_timeout = Duration::from_millis(1000);
        c.limits.retry_backoff = Duration::from_millis(100);
    })
    .await;
    let token = app.admin_token.clone();
    app.linked_session(&token, "s1", SENDER).await;
    app.sim.add_contacts(&[CONTACT.to_owned()]);

    // Not on WhatsApp: fails at once, never retried, nothing sent.
    let id = app.send_text(&token, "s1", "628999000009", "halo").await;
    let view = app.wait_message(&token, &id, "failed", 30).await;
    assert_eq!(view["reason"], "not registered on WhatsApp");
    assert_eq!(view["attempts"], 0);
    assert_eq!(statuses(&view), ["queued", "failed"]);

    // A transient fault: acks withheld for a while; the send is retried (same id) and goes through.
    app.sim.fault(SENDER, wa_sim::Fault::WithholdAcks(Duration::from_millis(1500)));
    let id = app.send_text(&token, "s1", CONTACT, "sekali saja").await;
    let view = app.wait_message(&token, &id, "sent", 30).await;
    assert!(view["attempts"].as_i64().unwrap() >= 2, "{view}");
    let copies: Vec<u32> = app.sim.received(Some(CONTACT)).into_iter().filter(|r| r.id == id).map(|r| r.copy).collect();
    assert_eq!(copies.len() as i64, view["attempts"].as_i64().unwrap(), "one copy per attempt: {copies:?}");
    assert_eq!(app.sim.shown(Some(CONTACT)).iter().filter(|r| r.id == id).count(), 1, "the contact has it once");
    assert!(statuses(&view).iter().all(|s| s != "failed"), "{view}");

    // Attempts run out: failed, with the reason.
    app.sim.fault(SENDER, wa_sim::Fault::WithholdAcks(Duration::from_secs(600)));
    let id = app.send_text(&token, "s1", CONTACT, "tidak pernah dikonfirmasi").await;
    let view = app.wait_message(&token, &id, "failed", 30).await;
    assert_eq!(view["reason"], "no acknowledgement from WhatsApp after 3 attempts");
    assert_eq!(view["attempts"], 3);
    app.sim.fault(SENDER, wa_sim::Fault::Clear);

    // Disconnected: the queue waits and goes once the session is back.
    app.sim.fault(SENDER, wa_sim::Fault::Refuse(Duration::from_secs(2)));
    app.wait_status(&token, "s1", "disconnected", 10).await;
    let id = app.send_text(&token, "s1", CONTACT, "setelah tersambung lagi").await;
    let view = app.wait_message(&token, &id, "sent", 30).await;
    assert_eq!(view["attempts"], 1, "{view}");

    // Logged out: what waits fails, with the reason. (A new pause applies at once.)
    let hold = json!({"delayMinMs": 60000, "delayMaxMs": 60000});
    app.call(reqwest::Method::PUT, "/session/s1/limits", Some(&token), Some(hold)).await;
    let waiting =
        [app.send_text(&token, "s1", CONTACT, "satu").await, app.send_text(&token, "s1", CONTACT, "dua").await];
    let (_, queue) = app.get("/message/queue-status?session=s1", Some(&token)).await;
    assert_eq!(queue["pending"], 2, "{queue}");
    let (status, _) = app.post("/session/logout", Some(&token), json!({"sessionId": "s1"})).await;
    assert_eq!(status, StatusCode::OK);
    for id in &waiting {
        let view = app.wait_message(&token, id, "failed", 10).await;
        assert_eq!(view["reason"], "the session was logged out before the message was sent");
    }
}

async fn queue_status_and_clear(db: TestDb) {
    let app = TestApp::spawn_with(db, |c| {
        c.limits.delay_min_ms = 60_000;
        c.limits.delay_max_ms = 60_000;
    })
    .await;
    let token = app.admin_token.clone();
    app.linked_session(&token, "s1", SENDER).await;
    app.sim.add_contacts(&[CONTACT.to_owned()]);
    let first = app.send_text(&token, "s1", CONTACT, "satu").await;
    app.wait_message(&token, &first, "sent", 30).await;
    let rest = [app.send_text(&token, "s1", CONTACT, "dua").await, app.send_text(&token, "s1", CONTACT, "tiga").await];
    let (status, queue) = app.get("/message/queue-status?session=s1", Some(&token)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        queue,
        json!({"session": "s1", "pending": 2, "processing": 0, "completed": 1, "failed": 0, "isProcessing": true})
    );
    let (status, body) = app.post("/message/clear-queue", Some(&token), json!({"session": "s1"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["cleared"], 2);
    for id in &rest {
        let view = app.wait_message(&token, id, "failed", 5).await;
        assert_eq!(view["reason"], "removed from the queue by clear-queue");
    }
    let (_, queue) = app.get("/message/queue-status?session=s1", Some(&token)).await;
    assert_eq!(queue["failed"], 2);
    assert_eq!(queue["isProcessing"], false);
    let (_, list) = app.get("/message/list?session=s1&status=failed", Some(&token)).await;
    assert_eq!(list["total"], 2);
    let (_, list) = app.get("/message/list?status=sent&limit=1", Some(&token)).await;
    assert_eq!((list["total"].as_u64(), list["data"].as_array().unwrap().len()), (Some(1), 1));
}

async fn bad_input_queues_nothing(db: TestDb) {
    let app = TestApp::spawn_with(db, |c| c.media.max_image_bytes = 1000).await;
    let token = app.admin_token.clone();
    app.linked_session(&token, "s1", SENDER).await;
    let (_, user) = app.user_with_role("user").await;
    let (status, _) = app.post("/session/create", Some(&user), json!({"sessionId": "unlinked"})).await;
    assert_eq!(status, StatusCode::CREATED);

    let text = |to: &str, text: Value| json!({"session": "s1", "to": to, "text": text});
    let image = |url: &str| json!({"session": "s1", "to": CONTACT, "image": url});
    let cases: Vec<(&str, Option<&str>, Value, u16, &str)> = vec![
        ("/message/send-text", None, text("0", json!("hi")), 422, "to"),
        ("/message/send-text", None, text("", json!("hi")), 422, "to"),
        ("/message/send-text", None, text("08abc", json!("hi")), 422, "to"),
        ("/message/send-text", None, text("+62 812 3456 7890 1234 5", json!("hi")), 422, "to"),
        ("/message/send-text", None, text("123@g.us", json!("hi")), 422, "to"),
        ("/message/send-text", None, text(CONTACT, json!("")), 422, "text"),
        ("/message/send-text", None, text(CONTACT, json!("   \n")), 422, "text"),
        ("/message/send-text", None, text(CONTACT, json!("x".repeat(65_537))), 422, "text"),
        ("/message/send-text", None, text(CONTACT, json!(5)), 422, "text"),
        ("/message/send-text", None, json!({"session": "s1", "to": CONTACT}), 422, "text"),
        ("/message/send-text", None, json!({"session": "nope", "to": CONTACT, "text": "hi"}), 404, ""),
        ("/message/send-text", None, json!({"session": "bad id!", "to": CONTACT, "text": "hi"}), 422, "session"),
        ("/message/send-text", Some(user.as_str()), text(CONTACT, json!("hi")), 404, ""),
        (
            "/message/send-text",
            Some(user.as_str()),
            json!({"session": "unlinked", "to": CONTACT, "text": "hi"}),
            409,
            "session",
        ),
        ("/message/send-image", None, image("http://127.0.0.1:9/a.png"), 422, "image"),
        ("/message/send-image", None, image("http://169.254.169.254/latest/meta-data/"), 422, "image"),
        ("/message/send-image", None, image("http://10.0.0.1/a.png"), 422, "image"),
        ("/message/send-image", None, image("http://[::1]/a.png"), 422, "image"),
        ("/message/send-image", None, image("http://localhost:9/a.png"), 422, "image"),
        ("/message/send-image", None, image("file:///etc/passwd"), 422, "image"),
        ("/message/send-image", None, image("ftp://example.com/a.png"), 422, "image"),
        ("/message/send-image", None, image("not a url"), 422, "image"),
        (
            "/message/send-document",
            None,
            json!({"session": "s1", "to": CONTACT, "document": "http://192.168.1.1/x.pdf", "filename": "x.pdf"}),
            422,
            "document",
        ),
        (
            "/message/send-document",
            None,
            json!({"session": "s1", "to": CONTACT, "document": "https://example.com/x.pdf", "filename": "../x.pdf"}),
            422,
            "filename",
        ),
        (
            "/message/send-document",
            None,
            json!({"session": "s1", "to": CONTACT, "document": "https://example.com/x.pdf", "mimetype": "pdf"}),
            422,
            "mimetype",
        ),
    ];
    for (path, who, body, want, field) in &cases {
        let (status, answer) = app.post(path, Some(who.unwrap_or(&token)), body.clone()).await;
        let shown: String = body.to_string().chars().take(120).collect();
        assert_eq!(status.as_u16(), *want, "{path} {shown}: {answer}");
        error_code(&answer);
        if !field.is_empty() {
            assert_eq!(answer["error"]["field"], *field, "{path} {shown}: {answer}");
        }
    }

    // Oversized, empty and wrong-type uploads, and a bad key.
    let upload = |field: &'static str, bytes: Vec<u8>, name: &'static str| {
        let form = reqwest::multipart::Form::new()
            .text("session", "s1")
            .text("to", CONTACT)
            .part(field, reqwest::multipart::Part::bytes(bytes).file_name(name));
        app.client.post(format!("{}/message/send-image", app.address)).bearer_auth(&token).multipart(form).send()
    };
    for (field, bytes, want) in [
        ("image", png(2000), StatusCode::PAYLOAD_TOO_LARGE),
        ("image", Vec::new(), StatusCode::UNPROCESSABLE_ENTITY),
        ("image", b"%PDF-1.4 not an image".to_vec(), StatusCode::UNPROCESSABLE_ENTITY),
        ("photo", png(10), StatusCode::UNPROCESSABLE_ENTITY),
    ] {
        let resp = upload(field, bytes, "a.png").await.unwrap();
        assert_eq!(resp.status(), want, "{field}");
        let body: Value = resp.json().await.unwrap();
        error_code(&body);
    }
    let resp = app
        .client
        .post(format!("{}/message/send-text", app.address))
        .bearer_auth(&token)
        .header("Idempotency-Key", "x".repeat(300))
        .json(&json!({"session": "s1", "to": CONTACT, "text": "hi"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);

    // Nothing of it was queued, and nothing reached WhatsApp.
    let (_, list) = app.get("/message/list", Some(&token)).await;
    assert_eq!(list["total"], 0, "{list}");
    assert!(app.sim.received(None).is_empty());
    // Someone else's message is not found either.
    let (status, _) = app.get("/message/3EB0000000000000000000", Some(&token)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = app.get("/message/queue-status?session=s1", Some(&user)).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body) = app.get("/message/list?page=0", Some(&token)).await;
    assert_eq!((status.as_u16(), body["error"]["field"].as_str()), (422, Some("page")));
    let (status, body) = app
        .call(
            reqwest::Method::PUT,
            "/session/s1/limits",
            Some(&token),
            Some(json!({"delayMinMs": 5000, "delayMaxMs": 100})),
        )
        .await;
    assert_eq!((status.as_u16(), body["error"]["field"].as_str()), (422, Some("delayMaxMs")), "{body}");
}

/// A message's status events go to its session's owner, whoever sent it.
async fn status_events_go_to_the_session_owner(db: TestDb) {
    let app = TestApp::spawn_with(db, no_limits).await;
    let (_, owner) = app.user_with_role("user").await;
    let (_, other) = app.user_with_role("user").await;
    app.linked_session(&owner, "theirs", SENDER).await;
    app.sim.add_contacts(&[CONTACT.to_owned()]);
    let mut owner_events = EventStream::open(&app, &owner).await;
    let mut other_events = EventStream::open(&app, &other).await;
    let id = app.send_text(&app.admin_token, "theirs", CONTACT, "dari admin").await;
    owner_events.until(30, |kind, data| kind == "message.status" && data["id"] == id && data["status"] == "sent").await;
    app.wait_message(&owner, &id, "sent", 10).await;
    let (status, _) = app.get(&format!("/message/{id}"), Some(&other)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // The other user's stream carries nothing of it.
    while let Some((kind, data)) = other_events.next(1).await {
        assert!(kind != "message.status", "leaked to another user: {data}");
    }
}

/// At start-up, media files that no waiting message needs (a write cut short,
/// a message already gone) are removed; a waiting message keeps its file.
async fn unneeded_media_is_swept_at_start(db: TestDb) {
    let mut app = TestApp::spawn_with(db, no_limits).await;
    let token = app.admin_token.clone();
    app.linked_session(&token, "s1", SENDER).await;
    app.sim.add_contacts(&[CONTACT.to_owned()]);
    // The first send goes at once, the next waits an hour.
    let (status, _) = app
        .call(
            reqwest::Method::PUT,
            "/session/s1/limits",
            Some(&token),
            Some(json!({"delayMinMs": 3_600_000, "delayMaxMs": 3_600_000})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let first = app.send_text(&token, "s1", CONTACT, "pertama").await;
    app.wait_message(&token, &first, "sent", 30).await;
    let form = reqwest::multipart::Form::new()
        .text("session", "s1")
        .text("to", CONTACT)
        .part("image", reqwest::multipart::Part::bytes(png(1_000)).file_name("a.png"));
    let resp = app
        .client
        .post(format!("{}/message/send-image", app.address))
        .bearer_auth(&token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    let waiting = resp.json::<Value>().await.unwrap()["data"]["id"].as_str().unwrap().to_owned();

    let media = app.config.storage.data_dir.join("media");
    assert!(media.join(&waiting).exists());
    std::fs::write(media.join("3EB0000000000000000000"), b"no message").unwrap();
    std::fs::write(media.join(format!("{waiting}.part")), b"cut short").unwrap();
    app.restart().await;
    let mut left: Vec<String> =
        std::fs::read_dir(&media).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    left.sort();
    assert_eq!(left, std::slice::from_ref(&waiting));
    app.wait_message(&token, &waiting, "queued", 5).await;
}

/// `n` text messages of `session` written straight to the store, in `status`
/// after `attempts` attempts; returns their ids.
async fn insert_texts(
    store: &wagate::queue::store::Store,
    session: &str,
    owner: i64,
    n: usize,
    status: wagate::model::MessageStatus,
    attempts: i32,
) -> Vec<String> {
    let now = wagate::model::now_ms();
    let mut ids = Vec::new();
    for i in 0..n {
        let id = wagate::queue::new_message_id();
        let row = wagate::db::entities::messages::Model {
            id: id.clone(),
            session_id: wagate::model::SessionKey::named(session),
            user_id: owner,
            recipient: format!("62822{i:07}"),
            kind: "text".into(),
            body: Some(format!("pesan {i}")),
            filename: None,
            mimetype: None,
            media_size: None,
            media_sha256: None,
            status,
            reason: None,
            attempts,
            idempotency_key: None,
            request_hash: None,
            created_at: now,
            updated_at: now,
            broadcast_id: None,
            origin: wagate::model::Origin::Api,
            agent_id: None,
            extra: None,
            quoted_id: None,
            quote: None,
            secret: None,
        };
        store.insert(row).await.unwrap();
        ids.push(id);
    }
    ids
}

/// Status changes that arrive together are written together (one transaction):
/// each applies in the order it came, none moves a message backwards, one that
/// does not apply leaves the others alone, and the due row follows the last.
async fn status_changes_written_together_apply_in_order(db: TestDb) {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
    use wagate::{
        db::entities::{due_messages as due, message_events, messages, sessions},
        model::{
            MessageStatus::{self, *},
            now_ms,
        },
        queue::store::{Change, Due, Store},
    };

    let app = TestApp::spawn(db).await;
    let (status, _) = app.post("/session/create", Some(&app.admin_token), json!({"sessionId": "batch"})).await;
    assert_eq!(status, StatusCode::CREATED);
    let owner = sessions::Entity::find_by_id(wagate::model::SessionKey::named("batch"))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap()
        .user_id;
    let writer = wagate::db::write::Writer::new(
        app.db.clone(),
        wagate::db::record::Recorder::detached(),
        wagate::events::Events::default(),
    );
    let store = Store::new(
        writer,
        std::sync::Arc::new(wagate::inbox::QueuedInChats::new(&app.config.storage.data_dir)),
        chrono_tz::UTC,
    );
    let now = now_ms();
    let ids = insert_texts(&store, "batch", owner, 60, Queued, 0).await;
    let change = |id: &str, status: MessageStatus, attempts: i32, due: Due| Change {
        id: id.to_owned(),
        status,
        reason: (status == Failed || status == Queued).then(|| format!("{} reason", status.as_str())),
        attempts,
        at: now,
        due,
        only_from: None,
    };
    // Messages 0..40: on the wire, acked, read, then a late delivery receipt and a repeated ack.
    // Messages 40..60: on the wire twice (no ack), then back in line with a retry due later.
    let lease = now + 30_000;
    let due = now + 60_000;
    let mut all = Vec::new();
    let mut expected = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        if i < 40 {
            all.extend([
                change(id, Sending, 1, Due::Lease(lease)),
                change(id, Sent, 0, Due::Remove),
                change(id, Read, 0, Due::Remove),
                change(id, Delivered, 0, Due::Remove),
                change(id, Sent, 0, Due::Remove),
            ]);
            expected.extend([true, true, true, false, false]);
        } else {
            all.extend([
                change(id, Sending, 1, Due::Lease(lease)),
                change(id, Sending, 1, Due::Lease(lease + 1)),
                change(id, Queued, 0, Due::At(due)),
            ]);
            expected.extend([true, true, true]);
        }
    }
    all.push(change("3EB0NOSUCHMESSAGE00000", Sent, 0, Due::Remove));
    expected.push(false);
    // Handed over in this order, before any is written: they share transactions.
    let outcomes = futures_util::future::join_all(all.iter().cloned().map(|c| store.change(c))).await;
    let applied: Vec<bool> = outcomes.iter().map(|o| o.as_ref().unwrap().is_some()).collect();
    assert_eq!(applied, expected);
    // What a change answers is the row it left.
    let first = outcomes[2].as_ref().unwrap().as_ref().unwrap();
    assert_eq!((first.status.as_str(), first.attempts), ("read", 1));

    for (i, id) in ids.iter().enumerate() {
        let row = messages::Entity::find_by_id(id.clone()).one(&app.db).await.unwrap().unwrap();
        let history: Vec<(wagate::model::MessageStatus, i64)> = message_events::Entity::find()
            .filter(message_events::Column::MessageId.eq(id.as_str()))
            .order_by_asc(message_events::Column::Id)
            .all(&app.db)
            .await
            .unwrap()
            .into_iter()
            .map(|e| (e.status, e.at))
            .collect();
        let statuses: Vec<&str> = history.iter().map(|(s, _)| s.as_str()).collect();
        let queued = due::Entity::find().filter(due::Column::MessageId.eq(id.as_str())).one(&app.db).await.unwrap();
        if i < 40 {
            assert_eq!((row.status.as_str(), row.attempts, row.reason), ("read", 1, None));
            assert_eq!(statuses, ["sending", "sent", "read"]);
            assert!(queued.is_none(), "a finished message left the due list");
        } else {
            assert_eq!(row.status.as_str(), "queued");
            assert_eq!(row.attempts, 2);
            assert_eq!(row.reason.as_deref(), Some("queued reason"));
            assert_eq!(statuses, ["sending", "sending", "queued"]);
            let queued = queued.expect("a message back in line keeps its due row");
            assert_eq!((queued.lease_until, queued.due_at), (None, due));
        }
        assert!(history.iter().all(|(_, at)| *at == now), "history entries keep the time of their change");
    }

    // A change that finds its message moved on does not apply; the others of its transaction do.
    let (late, fresh) = (&ids[0], &ids[40]);
    let outcomes = futures_util::future::join_all([
        store.change(change(late, Sending, 1, Due::Lease(lease))),
        store.change(change(fresh, Sending, 1, Due::Lease(lease))),
    ])
    .await;
    assert!(outcomes[0].as_ref().unwrap().is_none());
    let fresh_row = outcomes[1].as_ref().unwrap().as_ref().unwrap();
    assert_eq!((fresh_row.status.as_str(), fresh_row.attempts), ("sending", 3));
    let leased = due::Entity::find().filter(due::Column::MessageId.eq(fresh.as_str())).one(&app.db).await.unwrap();
    assert_eq!(leased.unwrap().lease_until, Some(lease));
}

/// Acks that wait to be written when the gateway stops are written before
/// its database closes: a graceful stop leaves no message to be sent again.
async fn a_graceful_stop_writes_the_acks_that_wait(db: TestDb) {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    use wagate::{
        db::entities::{messages, sessions},
        model::MessageStatus,
        queue::store::Store,
    };

    let mut app = TestApp::spawn(db).await;
    let (status, _) = app.post("/session/create", Some(&app.admin_token), json!({"sessionId": "stopping"})).await;
    assert_eq!(status, StatusCode::CREATED);
    let owner = sessions::Entity::find_by_id(wagate::model::SessionKey::named("stopping"))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap()
        .user_id;
    app.stop().await;

    // Messages on the wire when the acks come, as many as a busy gateway has.
    let writer = wagate::db::write::Writer::new(
        app.db.clone(),
        wagate::db::record::Recorder::detached(),
        wagate::events::Events::default(),
    );
    let store = Store::new(
        writer,
        std::sync::Arc::new(wagate::inbox::QueuedInChats::new(&app.config.storage.data_dir)),
        chrono_tz::UTC,
    );
    let ids = insert_texts(&store, "stopping", owner, 300, MessageStatus::Sending, 1).await;

    // The server acks them all; the gateway is told to stop at once.
    let gateway = wagate::App::build(app.config.clone()).await.unwrap();
    let sink = gateway.state().queue.status_sink();
    for id in &ids {
        sink.acked(id.clone(), None);
    }
    gateway.run(async {}).await.unwrap();

    let sent = messages::Entity::find()
        .filter(messages::Column::Id.is_in(ids.clone()))
        .filter(messages::Column::Status.eq(MessageStatus::Sent))
        .all(&app.db)
        .await
        .unwrap();
    assert_eq!(sent.len(), ids.len(), "every ack heard before the stop is written");
}

db_tests!(
    status_changes_written_together_apply_in_order,
    a_graceful_stop_writes_the_acks_that_wait,
    unneeded_media_is_swept_at_start,
    text_image_and_document_arrive_exactly,
    status_events_go_to_the_session_owner,
    limits_hold_exactly,
    idempotency_keys_give_one_message,
    failures_are_classified_and_retried,
    queue_status_and_clear,
    bad_input_queues_nothing,
);
