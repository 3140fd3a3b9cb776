//! Receiving and the inbox through HTTP and wa-sim: messages are stored once
//! and make chats, media arrives exactly, agents' replies go through the queue
//! with their statuses in the timeline, read receipts reach the contact, and
//! every caller sees only its own chats and their events.

use std::time::Duration;

use base64::Engine as _;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::Digest;
use wa_sim::messages::Write;

use crate::{
    db_tests,
    helpers::{EventStream, TestApp, TestDb, error_code, no_limits},
};

const NUMBER: &str = "628111000001";
const CONTACT: &str = "628222000001";

fn write(from: &str, to: &str, text: &str) -> Write {
    Write {
        from: from.into(),
        to: to.into(),
        text: Some(text.into()),
        push_name: Some("Budi".into()),
        ..Default::default()
    }
}

/// Waits (up to `secs`) until `GET path` as `token` satisfies `ready`; returns the body.
async fn wait_for(app: &TestApp, token: &str, path: &str, secs: u64, ready: impl Fn(&Value) -> bool) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    loop {
        let (status, body) = app.get(path, Some(token)).await;
        assert_eq!(status, StatusCode::OK, "GET {path}: {body}");
        if ready(&body) {
            return body;
        }
        assert!(std::time::Instant::now() < deadline, "GET {path} never got there; last: {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The chat of `contact`, once it has `count` messages.
async fn chat_with(app: &TestApp, token: &str, contact: &str, count: usize) -> Value {
    let list =
        wait_for(app, token, "/chats/", 30, |b| b.as_array().unwrap().iter().any(|c| c["phone"] == contact)).await;
    let id = list.as_array().unwrap().iter().find(|c| c["phone"] == contact).unwrap()["id"].as_i64().unwrap();
    wait_for(app, token, &format!("/chats/{id}"), 30, |b| b["messages"].as_array().unwrap().len() >= count).await
}

fn texts(detail: &Value) -> Vec<String> {
    detail["messages"].as_array().unwrap().iter().map(|m| m["text"].as_str().unwrap_or_default().to_owned()).collect()
}

async fn a_message_makes_a_chat_once(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let token = app.admin_token.clone();
    app.linked_session(&token, "s1", NUMBER).await;
    let mut events = EventStream::open(&app, &token).await;

    let id = app.sim.deliver(&write(CONTACT, NUMBER, "halo")).await.unwrap();
    let seen = events.until(30, |kind, data| kind == "chat.message" && data["message"]["text"] == "halo").await;
    assert!(seen.iter().any(|(k, d)| k == "message.received" && d["message_id"] == id.as_str()), "{seen:?}");

    let (status, list) = app.get("/chats/", Some(&token)).await;
    assert_eq!(status, StatusCode::OK);
    let chats = list.as_array().unwrap();
    assert_eq!(chats.len(), 1, "{list}");
    let chat = &chats[0];
    assert_eq!(chat["name"], "Budi");
    assert_eq!(chat["unread"], 1);
    assert_eq!(chat["mode"], "bot");
    assert_eq!(chat["channel"], "WhatsApp");
    assert_eq!(chat["phone"], CONTACT);
    assert_eq!(chat["session"], "s1");
    assert_eq!(chat["last_message"]["text"], "halo");

    // The same WhatsApp id again (a redelivery), then another message: stored once.
    let again = Write { id: Some(id.clone()), ..write(CONTACT, NUMBER, "halo") };
    assert_eq!(app.sim.deliver(&again).await.unwrap(), id);
    app.sim.deliver(&write(CONTACT, NUMBER, "kedua")).await.unwrap();
    let detail = chat_with(&app, &token, CONTACT, 2).await;
    // The device acknowledges each copy only once it is committed: when none is
    // left unacknowledged, the redelivery has been handled, whatever it did.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while app.sim.pending_for(NUMBER, 0) > 0 {
        assert!(std::time::Instant::now() < deadline, "the device never acknowledged both");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let detail_after = wait_for(&app, &token, &format!("/chats/{}", detail["id"]), 5, |_| true).await;
    assert_eq!(texts(&detail_after), ["halo", "kedua"], "{detail_after}");
    assert_eq!(detail_after["unread"], 2);
    assert_eq!(detail_after["messages"][0]["sender"], "customer");
    assert_eq!(detail_after["messages"][0]["status"], "received");
    assert_eq!(detail_after["messages"][0]["message_id"], id.as_str());
    assert_eq!(detail_after["profile"]["phone"], format!("+{CONTACT}"));
    let (_, received) = app.get("/message/received?session=s1", Some(&token)).await;
    assert_eq!(received["data"].as_array().unwrap().len(), 2, "{received}");
    // The device acknowledged everything: nothing waits at WhatsApp.
    wait_until(|| app.sim.pending_for(NUMBER, 1) == 0, 10).await;

    // What someone types on the linked phone itself joins the timeline as `phone`.
    let chat = detail["id"].as_i64().unwrap();
    let from_phone = Write { from_phone: true, ..write(CONTACT, NUMBER, "dijawab dari HP") };
    app.sim.deliver(&from_phone).await.unwrap();
    let detail = chat_with(&app, &token, CONTACT, 3).await;
    let last = &detail["messages"][2];
    assert_eq!((last["sender"].as_str(), last["text"].as_str()), (Some("phone"), Some("dijawab dari HP")), "{detail}");
    assert_eq!(detail["unread"], 2, "the phone's own messages are not unread");

    // A closed chat reopens in `bot` with the contact's next message.
    let (status, body) =
        app.call(Method::PATCH, &format!("/chats/{chat}"), Some(&token), Some(json!({"mode": "closed"}))).await;
    assert_eq!((status, body["mode"].as_str()), (StatusCode::OK, Some("closed")));
    app.sim.deliver(&write(CONTACT, NUMBER, "masih mati")).await.unwrap();
    let detail = chat_with(&app, &token, CONTACT, 4).await;
    assert_eq!(detail["mode"], "bot");
}

/// A customer with the contact's number names the chat and fills its profile.
async fn customers_name_their_chats(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let token = app.admin_token.clone();
    app.linked_session(&token, "s1", NUMBER).await;
    let customers =
        json!({"customers": [{"external_id": "C-1", "name": "Pak Slamet", "phone": "0822-2000-001", "odp": "ODP-7"}]});
    let (status, body) = app.post("/api/customers/bulk", Some(&token), customers).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    app.sim.deliver(&write(CONTACT, NUMBER, "halo")).await.unwrap();
    let detail = chat_with(&app, &token, CONTACT, 1).await;
    assert_eq!(detail["name"], "Pak Slamet");
    assert!(detail["customer_id"].is_i64());
    assert_eq!(detail["profile"]["odp"], "ODP-7");
    assert_eq!(detail["messages"][0]["push_name"], "Budi");
}

/// Filters, keyset pages and counts of the chat list.
async fn chats_filter_page_and_count(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let token = app.admin_token.clone();
    app.linked_session(&token, "s1", NUMBER).await;
    let (agent, agent_token) = app.user_with_role("agent").await;
    let contacts: Vec<String> = (0..5).map(|i| format!("62822300000{i}")).collect();
    for (i, contact) in contacts.iter().enumerate() {
        let name = if i == 4 { "Siti Aminah" } else { "Budi" };
        app.sim.deliver(&Write { push_name: Some(name.into()), ..write(contact, NUMBER, "halo") }).await.unwrap();
        chat_with(&app, &token, contact, 1).await;
    }
    let (_, list) = app.get("/chats/", Some(&token)).await;
    let all: Vec<i64> = list.as_array().unwrap().iter().map(|c| c["id"].as_i64().unwrap()).collect();
    assert_eq!(all.len(), 5);
    assert!(all.windows(2).all(|w| w[0] > w[1]), "most recent first: {all:?}");
    // Keyset pages of two.
    let mut paged = Vec::new();
    let mut query = "/chats/?limit=2".to_owned();
    loop {
        let (_, page) = app.get(&query, Some(&token)).await;
        let page = page.as_array().unwrap().clone();
        let Some(last) = page.last() else { break };
        query = format!("/chats/?limit=2&before={}", last["cursor"].as_str().unwrap());
        paged.extend(page.iter().map(|c| c["id"].as_i64().unwrap()));
    }
    assert_eq!(paged, all);
    // Assign two to the agent, pause one, read one.
    for chat in &all[..2] {
        app.call(Method::PATCH, &format!("/chats/{chat}"), Some(&token), Some(json!({"assigned_agent_id": agent})))
            .await;
    }
    app.call(Method::PATCH, &format!("/chats/{}", all[2]), Some(&token), Some(json!({"mode": "paused"}))).await;
    app.post(&format!("/chats/{}/read", all[3]), Some(&token), json!({})).await;
    let ids = |path: String| {
        let app = &app;
        let token = token.clone();
        async move {
            let (status, body) = app.get(&path, Some(&token)).await;
            assert_eq!(status, StatusCode::OK, "{path}: {body}");
            body.as_array().unwrap().iter().map(|c| c["id"].as_i64().unwrap()).collect::<Vec<_>>()
        }
    };
    assert_eq!(ids(format!("/chats/?assignee={agent}")).await, all[..2]);
    assert_eq!(ids("/chats/?assignee=unassigned".into()).await, all[2..]);
    assert_eq!(ids("/chats/?assignee=me".into()).await, Vec::<i64>::new());
    assert_eq!(ids("/chats/?mode=paused".into()).await, [all[2]]);
    assert_eq!(ids("/chats/?unread=true".into()).await.len(), 4);
    assert_eq!(ids("/chats/?q=aminah".into()).await, [all[0]]);
    assert_eq!(ids("/chats/?q=6282230000".into()).await.len(), 5);
    assert_eq!(ids("/chats/?q=%25".into()).await.len(), 0, "% is a character, not a wildcard");
    assert_eq!(ids("/chats/?q=_".into()).await.len(), 0, "_ is a character, not a wildcard");
    assert_eq!(ids("/chats/?session=s1".into()).await.len(), 5);
    let (_, counts) = app.get("/chats/counts", Some(&token)).await;
    assert_eq!(
        counts,
        json!({"mine": 0, "unassigned": 3, "all": 5, "unread": 4, "bot": 4, "agent": 0, "paused": 1, "closed": 0, "rated": 0, "csat_average": null})
    );
    let (_, counts) = app.get("/chats/counts", Some(&agent_token)).await;
    assert_eq!((counts["all"].as_u64(), counts["mine"].as_u64()), (Some(2), Some(2)));
    // Older messages of a chat, a page at a time.
    for text in ["dua", "tiga", "empat"] {
        app.sim.deliver(&write(&contacts[0], NUMBER, text)).await.unwrap();
    }
    let detail = chat_with(&app, &token, &contacts[0], 4).await;
    let chat = detail["id"].as_i64().unwrap();
    let (_, latest) = app.get(&format!("/chats/{chat}?limit=2"), Some(&token)).await;
    assert_eq!(texts(&latest), ["tiga", "empat"]);
    let (_, older) =
        app.get(&format!("/chats/{chat}/messages?limit=2&before={}", latest["before"]), Some(&token)).await;
    let older_texts: Vec<&str> =
        older["data"].as_array().unwrap().iter().map(|m| m["text"].as_str().unwrap()).collect();
    assert_eq!(older_texts, ["halo", "dua"]);
    assert!(older["before"].is_null(), "{older}");
}

async fn wait_until(done: impl Fn() -> bool, secs: u64) {
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    while !done() {
        assert!(std::time::Instant::now() < deadline, "condition not met in {secs} s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn sha(bytes: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(bytes))
}

async fn every_kind_is_kept_and_media_arrives_exactly(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let token = app.admin_token.clone();
    app.linked_session(&token, "s1", NUMBER).await;
    let image: Vec<u8> = (0..70_000u32).map(|i| (i * 13 % 251) as u8).collect();
    let pdf: Vec<u8> = b"%PDF-1.4 ".iter().copied().chain((0..5_000u32).map(|i| (i % 97) as u8)).collect();
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let writes = [
        Write {
            kind: Some("image".into()),
            data: Some(b64(&image)),
            caption: Some("foto ODP".into()),
            mimetype: Some("image/jpeg".into()),
            ..write(CONTACT, NUMBER, "")
        },
        Write {
            kind: Some("document".into()),
            data: Some(b64(&pdf)),
            filename: Some("tagihan.pdf".into()),
            mimetype: Some("application/pdf".into()),
            ..write(CONTACT, NUMBER, "")
        },
        Write { kind: Some("voice".into()), data: Some(b64(b"OggS voice")), ..write(CONTACT, NUMBER, "") },
        Write {
            kind: Some("location".into()),
            latitude: Some(-6.2),
            longitude: Some(106.8),
            ..write(CONTACT, NUMBER, "Rumah")
        },
        Write { kind: Some("contact".into()), ..write(CONTACT, NUMBER, "Teknisi") },
        Write { kind: Some("poll".into()), ..write(CONTACT, NUMBER, "Kapan?") },
    ];
    for w in &writes {
        app.sim.deliver(w).await.unwrap();
    }
    let detail = chat_with(&app, &token, CONTACT, writes.len()).await;
    let first = detail["messages"][0]["message_id"].as_str().unwrap().to_owned();
    app.sim
        .deliver(&Write {
            kind: Some("reaction".into()), quoted: Some(first.clone()), ..write(CONTACT, NUMBER, "👍")
        })
        .await
        .unwrap();
    let chat = detail["id"].as_i64().unwrap();
    // The reaction goes on the message it names: no entry of its own.
    let detail = wait_for(&app, &token, &format!("/chats/{chat}"), 30, |b| {
        let m = b["messages"].as_array().unwrap();
        m.len() == 6
            && m[0]["extra"]["reactions"][CONTACT] == "👍"
            && m.iter().filter(|m| !m["media"].is_null()).all(|m| m["media"]["state"] == "done")
    })
    .await;
    let m = detail["messages"].as_array().unwrap();
    let kinds: Vec<&str> = m.iter().map(|m| m["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["image", "document", "voice", "location", "contact", "poll"]);
    assert_eq!(m[0]["caption"], "foto ODP");
    assert_eq!(m[1]["media"]["filename"], "tagihan.pdf");
    assert_eq!(m[3]["extra"]["latitude"], -6.2);
    assert_eq!(m[5]["extra"]["question"], "Kapan?");

    for (entry, bytes, mimetype, name) in
        [(&m[0], &image, "image/jpeg", None), (&m[1], &pdf, "application/pdf", Some("tagihan.pdf"))]
    {
        let url = format!("{}/chats/{chat}/messages/{}/media", app.address, entry["id"]);
        let resp = app.client.get(url).bearer_auth(&token).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.headers()["content-type"], mimetype);
        // What a contact sent is never sniffed or run by a browser that opens it.
        assert_eq!(resp.headers()["x-content-type-options"], "nosniff");
        assert_eq!(resp.headers()["content-security-policy"], "sandbox; default-src 'none'");
        assert!(resp.headers()["content-disposition"].to_str().unwrap().starts_with("attachment"));
        if let Some(name) = name {
            assert!(resp.headers()["content-disposition"].to_str().unwrap().contains(name));
        }
        assert_eq!(sha(&resp.bytes().await.unwrap()), sha(bytes));
    }
    // A text has no media; another chat's entry is not this chat's.
    let (status, body) = app.get(&format!("/chats/{chat}/messages/{}/media", m[3]["id"]), Some(&token)).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (status, _) = app.get(&format!("/chats/{}/messages/{}/media", chat + 1, m[0]["id"]), Some(&token)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// The chat, once the timeline entry of sent message `id` has `status`.
async fn entry_status(app: &TestApp, token: &str, chat: i64, id: &str, status: &str) -> Value {
    wait_for(app, token, &format!("/chats/{chat}"), 30, |b| {
        b["messages"].as_array().unwrap().iter().any(|m| m["message_id"] == id && m["status"] == status)
    })
    .await
}

/// A download that fails shows why on the message and is tried again.
async fn failed_downloads_are_retried_and_visible(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let token = app.admin_token.clone();
    app.linked_session(&token, "s1", NUMBER).await;
    app.sim.fault(NUMBER, wa_sim::Fault::MediaDown(Duration::from_secs(2)));
    let image: Vec<u8> = (0..5_000u32).map(|i| (i % 199) as u8).collect();
    let data = base64::engine::general_purpose::STANDARD.encode(&image);
    app.sim
        .deliver(&Write { kind: Some("image".into()), data: Some(data), ..write(CONTACT, NUMBER, "") })
        .await
        .unwrap();
    let chat = chat_with(&app, &token, CONTACT, 1).await["id"].as_i64().unwrap();
    let failing =
        wait_for(&app, &token, &format!("/chats/{chat}"), 30, |b| b["messages"][0]["media"]["error"].is_string()).await;
    assert_eq!(failing["messages"][0]["media"]["state"], "pending", "{failing}");
    let done =
        wait_for(&app, &token, &format!("/chats/{chat}"), 30, |b| b["messages"][0]["media"]["state"] == "done").await;
    assert!(done["messages"][0]["media"]["error"].is_null());
    let url = format!("{}/chats/{chat}/messages/{}/media", app.address, done["messages"][0]["id"]);
    let bytes = app.client.get(url).bearer_auth(&token).send().await.unwrap().bytes().await.unwrap();
    assert_eq!(sha(&bytes), sha(&image));
}

/// A contact names a media path that would move the download (and the
/// session's media credential) to a host of its choosing: the message is kept,
/// its download fails for good with the reason, and that host hears nothing.
async fn a_contact_cannot_steer_media_downloads(db: TestDb) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let app = TestApp::spawn(db).await;
    let token = app.admin_token.clone();
    app.linked_session(&token, "s1", NUMBER).await;
    let hits = std::sync::Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let attacker = listener.local_addr().unwrap();
    let router = axum::Router::new().fallback(move || {
        counted.fetch_add(1, Ordering::SeqCst);
        async { "x" }
    });
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let data = base64::engine::general_purpose::STANDARD.encode([1u8; 64]);
    for path in [format!("@{attacker}/steal"), format!("//{attacker}/steal"), "/v/%2F%2Fx".to_owned()] {
        let image = Write {
            kind: Some("image".into()),
            data: Some(data.clone()),
            direct_path: Some(path),
            ..write(CONTACT, NUMBER, "")
        };
        app.sim.deliver(&image).await.unwrap();
    }
    let chat = chat_with(&app, &token, CONTACT, 3).await["id"].as_i64().unwrap();
    let failed = wait_for(&app, &token, &format!("/chats/{chat}"), 30, |b| {
        b["messages"].as_array().is_some_and(|m| m.len() == 3 && m.iter().all(|m| m["media"]["state"] == "failed"))
    })
    .await;
    for message in failed["messages"].as_array().unwrap() {
        assert!(message["media"]["error"].as_str().unwrap().contains("media path"), "{message}");
    }
    assert_eq!(hits.load(Ordering::SeqCst), 0, "the contact's host was reached");
}

async fn agent_replies_go_through_the_queue(db: TestDb) {
    let app = TestApp::spawn_with(db, no_limits).await;
    let token = app.admin_token.clone();
    app.linked_session(&token, "s1", NUMBER).await;
    let (agent, agent_token) = app.user_with_role("agent").await;
    app.sim.deliver(&write(CONTACT, NUMBER, "internet mati")).await.unwrap();
    let detail = chat_with(&app, &token, CONTACT, 1).await;
    let chat = detail["id"].as_i64().unwrap();
    let (status, body) = app
        .call(Method::PATCH, &format!("/chats/{chat}"), Some(&token), Some(json!({"assigned_agent_id": agent})))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let (status, reply) = app
        .post("/chats/messages", Some(&agent_token), json!({"chat_id": chat, "text": "Kami cek ya", "sender": "agent"}))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{reply}");
    assert_eq!(reply["sender"], "agent");
    assert_eq!(reply["agent_id"], agent);
    assert_eq!(reply["status"], "queued");
    let id = reply["message_id"].as_str().unwrap().to_owned();
    let detail = entry_status(&app, &agent_token, chat, &id, "sent").await;
    assert_eq!(detail["mode"], "agent", "a human reply takes the chat from the bot");
    let got = app.sim.received(Some(CONTACT));
    assert_eq!(got.len(), 1);
    assert_eq!((got[0].from.as_str(), got[0].text.as_deref()), (NUMBER, Some("Kami cek ya")));
    app.sim.receipt(&id, "delivered").unwrap();
    entry_status(&app, &agent_token, chat, &id, "delivered").await;
    app.sim.receipt(&id, "read").unwrap();
    let detail = entry_status(&app, &agent_token, chat, &id, "read").await;
    let entry = detail["messages"].as_array().unwrap().iter().find(|m| m["message_id"] == id.as_str()).unwrap().clone();
    assert!(entry["agent_name"].as_str().unwrap().starts_with("agent"), "{entry}");

    // A document as an upload, like /message/send-document.
    let pdf: Vec<u8> = b"%PDF-1.4 struk".to_vec();
    let form = reqwest::multipart::Form::new().text("chat_id", chat.to_string()).text("caption", "struk").part(
        "document",
        reqwest::multipart::Part::bytes(pdf.clone()).file_name("struk.pdf").mime_str("application/pdf").unwrap(),
    );
    let req = app.client.post(format!("{}/chats/messages", app.address)).bearer_auth(&agent_token).multipart(form);
    let (status, doc) = TestApp::read(req).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{doc}");
    assert_eq!((doc["type"].as_str(), doc["caption"].as_str()), (Some("document"), Some("struk")));
    wait_until(|| app.sim.received(Some(CONTACT)).len() == 2, 30).await;
    let got = app.sim.received(Some(CONTACT));
    assert_eq!(got[1].sha256.as_deref(), Some(sha(&pdf).as_str()));
    assert_eq!(got[1].filename.as_deref(), Some("struk.pdf"));
    // Sent, the file stays for the chat (issue 32, item 11): the team opens what it sent.
    let sent_id = doc["message_id"].as_str().unwrap().to_owned();
    let detail = wait_for(&app, &agent_token, &format!("/chats/{chat}"), 30, |b| {
        b["messages"].as_array().unwrap().iter().any(|m| {
            m["message_id"] == sent_id.as_str()
                && ["sent", "delivered", "read"].contains(&m["status"].as_str().unwrap_or(""))
        })
    })
    .await;
    let entry =
        detail["messages"].as_array().unwrap().iter().find(|m| m["message_id"] == sent_id.as_str()).unwrap().clone();
    assert_eq!(entry["media"]["state"], "done", "{entry}");
    let url = format!("{}/chats/{chat}/messages/{}/media", app.address, entry["id"]);
    let resp = app.client.get(&url).bearer_auth(&agent_token).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "application/pdf");
    assert_eq!(resp.bytes().await.unwrap().as_ref(), pdf.as_slice());
    let (_, stranger) = app.user_with_role("user").await;
    let resp = app.client.get(&url).bearer_auth(&stranger).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND, "another account's chat");

    // An outage notice to that phone from that session lands in the same chat.
    let (status, body) = app
        .post(
            "/api/send/phone",
            Some(&token),
            json!({"phone": CONTACT, "message": "Gangguan di ODP-7", "session": "s1"}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    wait_for(&app, &agent_token, &format!("/chats/{chat}"), 30, |b| {
        b["messages"].as_array().unwrap().iter().any(|m| m["sender"] == "broadcast" && m["status"] == "sent")
    })
    .await;
    assert_eq!(app.sim.received(Some(CONTACT)).len(), 3);
}

async fn reading_a_chat_sends_read_receipts(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let token = app.admin_token.clone();
    app.linked_session(&token, "s1", NUMBER).await;
    let mut ids = Vec::new();
    for text in ["satu", "dua", "tiga"] {
        ids.push(app.sim.deliver(&write(CONTACT, NUMBER, text)).await.unwrap());
    }
    let detail = chat_with(&app, &token, CONTACT, 3).await;
    let chat = detail["id"].as_i64().unwrap();
    let (status, body) = app.post(&format!("/chats/{chat}/read"), Some(&token), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!((body["read"].as_u64(), body["unread"].as_u64()), (Some(3), Some(0)));
    wait_until(|| app.sim.read_receipts().iter().flat_map(|r| r.ids.clone()).count() >= 3, 10).await;
    let mut read: Vec<String> = app.sim.read_receipts().iter().flat_map(|r| r.ids.clone()).collect();
    read.sort();
    ids.sort();
    assert_eq!(read, ids);
    assert!(app.sim.read_receipts().iter().all(|r| r.reader == NUMBER && r.chat == CONTACT));
    let (_, detail) = app.get(&format!("/chats/{chat}"), Some(&token)).await;
    assert_eq!(detail["unread"], 0);
    assert!(detail["messages"].as_array().unwrap().iter().all(|m| m["status"] == "read"));
    // Nothing more to read: no more receipts.
    let (_, body) = app.post(&format!("/chats/{chat}/read"), Some(&token), json!({})).await;
    assert_eq!(body["read"], 0);
}

async fn each_sees_only_its_own_chats(db: TestDb) {
    let app = TestApp::spawn_with(db, no_limits).await;
    let admin = app.admin_token.clone();
    app.linked_session(&admin, "s1", NUMBER).await;
    let (agent1, token1) = app.user_with_role("agent").await;
    let (agent2, token2) = app.user_with_role("agent").await;
    let (_, readonly) = app.user_with_role("readonly").await;
    let (_, user_b) = app.user_with_role("user").await;
    let (_, key_b) = app.post("/auth/api-keys", Some(&user_b), json!({"name": "b"})).await;
    let key_b = key_b["data"]["key"].as_str().unwrap().to_owned();
    app.linked_session(&user_b, "b1", "628111000009").await;

    let (a, b) = ("628222000011", "628222000012");
    app.sim.deliver(&write(a, NUMBER, "dari A")).await.unwrap();
    app.sim.deliver(&write(b, NUMBER, "dari B")).await.unwrap();
    let chat_a = chat_with(&app, &admin, a, 1).await["id"].as_i64().unwrap();
    let chat_b = chat_with(&app, &admin, b, 1).await["id"].as_i64().unwrap();
    for (chat, agent) in [(chat_a, agent1), (chat_b, agent2)] {
        let (status, _) = app
            .call(Method::PATCH, &format!("/chats/{chat}"), Some(&admin), Some(json!({"assigned_agent_id": agent})))
            .await;
        assert_eq!(status, StatusCode::OK);
    }
    let ids = |body: &Value| body.as_array().unwrap().iter().map(|c| c["id"].as_i64().unwrap()).collect::<Vec<_>>();
    assert_eq!(ids(&app.get("/chats/", Some(&token1)).await.1), [chat_a]);
    assert_eq!(ids(&app.get("/chats/", Some(&token2)).await.1), [chat_b]);
    assert_eq!(app.get(&format!("/chats/{chat_b}"), Some(&token1)).await.0, StatusCode::NOT_FOUND);
    assert_eq!(app.get(&format!("/chats/{chat_b}/messages"), Some(&token1)).await.0, StatusCode::NOT_FOUND);
    let (status, _) = app.post("/chats/messages", Some(&token1), json!({"chat_id": chat_b, "text": "x"})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(app.post(&format!("/chats/{chat_b}/read"), Some(&token1), json!({})).await.0, StatusCode::NOT_FOUND);
    let (status, _) =
        app.call(Method::PATCH, &format!("/chats/{chat_b}"), Some(&token1), Some(json!({"mode": "closed"}))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, counts) = app.get("/chats/counts", Some(&token1)).await;
    assert_eq!((counts["all"].as_u64(), counts["mine"].as_u64()), (Some(1), Some(1)), "{counts}");

    // Events: agent 1 hears of chat A only.
    let mut events1 = EventStream::open(&app, &token1).await;
    app.sim.deliver(&write(b, NUMBER, "B lagi")).await.unwrap();
    app.sim.deliver(&write(a, NUMBER, "A lagi")).await.unwrap();
    let seen = events1.until(30, |kind, data| kind == "chat.message" && data["chat_id"] == chat_a).await;
    assert!(seen.iter().all(|(_, d)| d["chat_id"] != chat_b && d["id"] != chat_b), "{seen:?}");

    // Reassigning moves the chat and its events.
    let (status, _) = app
        .call(Method::PATCH, &format!("/chats/{chat_a}"), Some(&admin), Some(json!({"assigned_agent_id": agent2})))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(app.get(&format!("/chats/{chat_a}"), Some(&token1)).await.0, StatusCode::NOT_FOUND);
    assert_eq!(app.get(&format!("/chats/{chat_a}"), Some(&token2)).await.0, StatusCode::OK);
    let mut events2 = EventStream::open(&app, &token2).await;
    app.sim.deliver(&write(a, NUMBER, "A ketiga")).await.unwrap();
    events2.until(30, |kind, data| kind == "chat.message" && data["chat_id"] == chat_a).await;
    // Agents cannot reassign.
    let (status, _) = app
        .call(Method::PATCH, &format!("/chats/{chat_a}"), Some(&token2), Some(json!({"assigned_agent_id": agent2})))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // User B sees none of the admin's chats, by JWT or by key; readonly cannot write.
    for (header, value) in [("authorization", format!("Bearer {user_b}")), ("x-api-key", key_b.clone())] {
        let get = |path: String| TestApp::read(app.client.get(format!("{}{path}", app.address)).header(header, &value));
        let (status, list) = get("/chats/".into()).await;
        assert_eq!((status, ids(&list)), (StatusCode::OK, vec![]));
        assert_eq!(get(format!("/chats/{chat_a}")).await.0, StatusCode::NOT_FOUND);
        let (_, received) = get("/message/received".into()).await;
        assert_eq!(received["data"], json!([]));
    }
    let (status, body) = app.post("/chats/messages", Some(&readonly), json!({"chat_id": chat_a, "text": "x"})).await;
    assert_eq!((status, error_code(&body)), (StatusCode::FORBIDDEN, "forbidden"));
}

async fn bad_input_reaches_nobody(db: TestDb) {
    let app = TestApp::spawn_with(db, |c| c.notify.default_session = "s1".into()).await;
    let token = app.admin_token.clone();
    app.linked_session(&token, "s1", NUMBER).await;
    app.sim.deliver(&write(CONTACT, NUMBER, "halo")).await.unwrap();
    let chat = chat_with(&app, &token, CONTACT, 1).await["id"].as_i64().unwrap();
    assert_eq!(app.get("/chats/999999", Some(&token)).await.0, StatusCode::NOT_FOUND);
    let (status, body) = app.post("/chats/messages", Some(&token), json!({"chat_id": 999999, "text": "x"})).await;
    assert_eq!((status, error_code(&body)), (StatusCode::NOT_FOUND, "not_found"));
    for text in [json!(""), json!("   "), json!("x".repeat(65_537))] {
        let (status, body) = app.post("/chats/messages", Some(&token), json!({"chat_id": chat, "text": text})).await;
        assert_eq!(
            (status, body["error"]["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("text")),
            "{body}"
        );
    }
    let (status, body) =
        app.post("/chats/messages", Some(&token), json!({"chat_id": chat, "text": "x", "sender": "bot"})).await;
    assert_eq!((status, body["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("sender")));
    for (query, field) in
        [("mode=open", "mode"), ("limit=0", "limit"), ("before=x", "before"), ("assignee=bob", "assignee")]
    {
        let (status, body) = app.get(&format!("/chats/?{query}"), Some(&token)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{query}: {body}");
        assert_eq!(body["error"]["field"].as_str(), Some(field), "{query}: {body}");
    }
    let (status, body) = app
        .call(Method::PATCH, &format!("/chats/{chat}"), Some(&token), Some(json!({"assigned_agent_id": 999999})))
        .await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("assigned_agent_id"))
    );
    let (status, body) =
        app.post("/chats/", Some(&token), json!({"customer_name": "X", "customer_phone": "abc"})).await;
    assert_eq!((status, body["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("customer_phone")));

    // A chat whose session is not linked: 409, nothing queued.
    let (status, _) = app.post("/session/logout", Some(&token), json!({"sessionId": "s1"})).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = app.post("/chats/messages", Some(&token), json!({"chat_id": chat, "text": "halo"})).await;
    assert_eq!((status, error_code(&body)), (StatusCode::CONFLICT, "session_not_linked"), "{body}");
    let (_, list) = app.get("/message/list", Some(&token)).await;
    assert_eq!(list["total"], 0, "{list}");

    // An agent opens a chat to write first; the same again gives the same chat.
    let (status, opened) = app
        .post(
            "/chats/",
            Some(&token),
            json!({"customer_name": "Siti", "customer_phone": "0822-2000-0099", "session": "s1"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{opened}");
    assert_eq!(opened["phone"], "6282220000099");
    let (status, again) = app
        .post(
            "/chats/",
            Some(&token),
            json!({"customer_name": "Siti", "customer_phone": "+6282220000099", "session": "s1"}),
        )
        .await;
    assert_eq!((status, again["id"].clone()), (StatusCode::OK, opened["id"].clone()));
    // An agent writes first from the default session; the chat is theirs.
    let (agent, agent_token) = app.user_with_role("agent").await;
    let (status, mine) = app
        .post("/chats/", Some(&agent_token), json!({"customer_name": "Rudi", "customer_phone": "082220000077"}))
        .await;
    assert_eq!((status, mine["assigned_agent_id"].as_i64()), (StatusCode::CREATED, Some(agent)), "{mine}");
    let (status, body) = app
        .post(
            "/chats/",
            Some(&agent_token),
            json!({"customer_name": "Rudi", "customer_phone": "082220000078", "session": "b1"}),
        )
        .await;
    assert_eq!((status, body["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("session")));
}

/// A private note: the team sees it in the chat's timeline with its author,
/// WhatsApp never does, and the chat's order and unread count stay; an agent
/// writes and reads notes only on the chats assigned to them.
async fn notes_stay_with_the_team(db: TestDb) {
    let app = TestApp::spawn_with(db, no_limits).await;
    let token = app.admin_token.clone();
    app.linked_session(&token, "s1", NUMBER).await;
    app.sim.add_contacts(&[CONTACT.to_owned()]);
    app.sim.deliver(&write(CONTACT, NUMBER, "internet mati sejak pagi")).await.unwrap();
    let chat = loop {
        let (_, chats) = app.get("/chats/", Some(&token)).await;
        if let Some(chat) = chats.as_array().and_then(|c| c.first()) {
            break chat.clone();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let id = chat["id"].as_i64().unwrap();
    let mut events = EventStream::open(&app, &token).await;
    let note = json!({"text": "Pelanggan lama, cek ODP-3 dulu"});
    let (status, kept) = app.post(&format!("/chats/{id}/notes"), Some(&token), note).await;
    assert_eq!(status, StatusCode::CREATED, "{kept}");
    assert_eq!(
        (&kept["chat_id"], &kept["sender"], &kept["type"], &kept["text"]),
        (&json!(id), &json!("note"), &json!("note"), &json!("Pelanggan lama, cek ODP-3 dulu"))
    );
    assert!(kept["agent_name"].as_str().is_some_and(|n| !n.is_empty()), "{kept}");
    let seen = events.until(10, |kind, data| kind == "chat.message" && data["message"]["id"] == kept["id"]).await;
    assert_eq!(seen.last().unwrap().1["message"]["type"], "note");
    let (_, detail) = app.get(&format!("/chats/{id}"), Some(&token)).await;
    let last = detail["messages"].as_array().unwrap().last().unwrap().clone();
    assert_eq!((&last["id"], &last["sender"]), (&kept["id"], &json!("note")));
    assert_eq!((&detail["unread"], &detail["last_message_at"]), (&chat["unread"], &chat["last_message_at"]));
    // WhatsApp never hears of it, nor does the queue.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(app.sim.received(Some(CONTACT)).is_empty(), "a note reached the contact");
    let (_, queued) = app.get("/message/list?session=s1", Some(&token)).await;
    assert_eq!(queued["total"], 0, "{queued}");

    // An agent: not on a chat that is not theirs; on theirs, they write and read notes.
    let (agent_id, agent) = app.user_with_role("agent").await;
    let path = format!("/chats/{id}/notes");
    let (status, _) = app.post(&path, Some(&agent), json!({"text": "boleh saya ambil?"})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let assign = json!({"assigned_agent_id": agent_id});
    let (status, body) = app.call(Method::PATCH, &format!("/chats/{id}"), Some(&token), Some(assign)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, theirs) = app.post(&path, Some(&agent), json!({"text": "Sudah saya telepon"})).await;
    assert_eq!(status, StatusCode::CREATED, "{theirs}");
    assert_eq!(theirs["agent_id"], json!(agent_id));
    let (_, detail) = app.get(&format!("/chats/{id}"), Some(&agent)).await;
    let notes: Vec<&str> = detail["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["sender"] == "note")
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(notes, ["Pelanggan lama, cek ODP-3 dulu", "Sudah saya telepon"]);
    // Bad notes name their field.
    for text in [json!(""), json!("   "), json!("x".repeat(4097)), json!(5)] {
        let (status, resp) = app.post(&path, Some(&token), json!({ "text": text })).await;
        assert_eq!((status, &resp["error"]["field"]), (StatusCode::UNPROCESSABLE_ENTITY, &json!("text")), "{resp}");
    }
}

/// Canned replies: the account's, made by its owner, and each person's own;
/// in a chat they come filled for it (`{nama}` the customer, `{agen}` who
/// answers); a shortcut one person could use twice, an unknown placeholder,
/// and another person's or account's replies are refused.
async fn canned_replies_are_filled_and_kept_apart(db: TestDb) {
    let app = TestApp::spawn_with(db, no_limits).await;
    let token = app.admin_token.clone();
    app.linked_session(&token, "s1", NUMBER).await;
    let customers =
        json!({"customers": [{"external_id": "C1", "name": "Budi Santoso", "phone": CONTACT, "odp": "ODP-3"}]});
    let (status, body) = app.post("/api/customers/bulk", Some(&token), customers).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    app.sim.add_contacts(&[CONTACT.to_owned()]);
    app.sim.deliver(&write(CONTACT, NUMBER, "internet mati")).await.unwrap();
    let chat = loop {
        let (_, chats) = app.get("/chats/", Some(&token)).await;
        if let Some(chat) = chats.as_array().and_then(|c| c.first()) {
            break chat["id"].as_i64().unwrap();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let salam = json!({"shortcut": "/Salam", "text": "Halo {nama} di {odp}, saya {agen}."});
    let (status, made) = app.post("/canned-replies", Some(&token), salam).await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    assert_eq!((&made["data"]["shortcut"], &made["data"]["personal"]), (&json!("salam"), &json!(false)));
    let salam_id = made["data"]["id"].as_i64().unwrap();

    let (agent_id, agent) = app.user_with_role("agent").await;
    let (_, other_agent) = app.user_with_role("agent").await;
    let mine = json!({"shortcut": "cek", "text": "Saya cek dulu ya, {nama}."});
    let (status, own) = app.post("/canned-replies", Some(&agent), mine.clone()).await;
    assert_eq!((status, &own["data"]["personal"]), (StatusCode::CREATED, &json!(true)), "{own}");
    // Agents make no account replies; the same shortcut twice for one person is refused.
    let account = json!({"shortcut": "lain", "text": "x", "personal": false});
    let (status, _) = app.post("/canned-replies", Some(&agent), account).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, resp) = app.post("/canned-replies", Some(&agent), mine).await;
    assert_eq!((status, &resp["error"]["field"]), (StatusCode::UNPROCESSABLE_ENTITY, &json!("shortcut")), "{resp}");
    let clash = json!({"shortcut": "salam", "text": "lagi", "personal": true});
    let (status, resp) = app.post("/canned-replies", Some(&token), clash).await;
    assert_eq!((status, &resp["error"]["field"]), (StatusCode::UNPROCESSABLE_ENTITY, &json!("shortcut")), "{resp}");
    for (body, field) in [
        (json!({"shortcut": "x", "text": "Halo {judul}"}), "text"),
        (json!({"shortcut": "x", "text": " "}), "text"),
        (json!({"shortcut": "dua kata", "text": "x"}), "shortcut"),
        (json!({"shortcut": "x".repeat(33), "text": "x"}), "shortcut"),
    ] {
        let (status, resp) = app.post("/canned-replies", Some(&token), body).await;
        assert_eq!((status, &resp["error"]["field"]), (StatusCode::UNPROCESSABLE_ENTITY, &json!(field)), "{resp}");
    }

    // In the chat assigned to the agent: the account's and their own, filled.
    let assign = json!({"assigned_agent_id": agent_id});
    app.call(Method::PATCH, &format!("/chats/{chat}"), Some(&token), Some(assign)).await;
    let (status, list) = app.get(&format!("/canned-replies?chat_id={chat}"), Some(&agent)).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let filled: Vec<(&str, &str)> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["shortcut"].as_str().unwrap(), r["filled"].as_str().unwrap()))
        .collect();
    let (_, users) = app.get("/user/list", Some(&token)).await;
    let name = users["data"].as_array().unwrap().iter().find(|u| u["id"] == agent_id).unwrap()["name"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        filled,
        [
            ("cek", "Saya cek dulu ya, Budi Santoso."),
            ("salam", format!("Halo Budi Santoso di ODP-3, saya {name}.").as_str())
        ]
    );
    // Another agent sees neither the first one's own reply nor that chat.
    let (_, theirs) = app.get("/canned-replies", Some(&other_agent)).await;
    assert_eq!(theirs["data"], json!([]));
    let (status, _) = app.get(&format!("/canned-replies?chat_id={chat}"), Some(&other_agent)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let own_id = own["data"]["id"].as_i64().unwrap();
    for (method, path) in
        [(Method::PATCH, format!("/canned-replies/{own_id}")), (Method::DELETE, format!("/canned-replies/{salam_id}"))]
    {
        let (status, _) = app.call(method, &path, Some(&other_agent), Some(json!({"text": "diambil"}))).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
    // Another account has its own, none of these.
    let (_, user) = app.user_with_role("user").await;
    let (_, theirs) = app.get("/canned-replies", Some(&user)).await;
    assert_eq!(theirs["data"], json!([]));
    let (status, _) = app.call(Method::DELETE, &format!("/canned-replies/{salam_id}"), Some(&user), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // The owner changes and removes them.
    let change = json!({"text": "Selamat pagi {nama}."});
    let (status, changed) =
        app.call(Method::PATCH, &format!("/canned-replies/{salam_id}"), Some(&token), Some(change)).await;
    assert_eq!((status, &changed["data"]["text"]), (StatusCode::OK, &json!("Selamat pagi {nama}.")), "{changed}");
    let (status, _) = app.call(Method::DELETE, &format!("/canned-replies/{own_id}"), Some(&agent), None).await;
    assert_eq!(status, StatusCode::OK);
    let (_, left) = app.get("/canned-replies", Some(&agent)).await;
    assert_eq!(left["data"], json!([]));
}

/// Labels: the account's owner makes them; whoever may see a chat puts them
/// on it; the list filtered by a label and the counts for it agree; another
/// account's labels answer 404.
async fn labels_filter_and_count(db: TestDb) {
    let app = TestApp::spawn_with(db, no_limits).await;
    let token = app.admin_token.clone();
    app.linked_session(&token, "s1", NUMBER).await;
    let contacts = ["628222000081", "628222000082", "628222000083"];
    app.sim.add_contacts(&contacts.map(str::to_owned));
    for contact in contacts {
        app.sim.deliver(&write(contact, NUMBER, "halo")).await.unwrap();
    }
    let chats: Vec<(String, i64)> = loop {
        let (_, list) = app.get("/chats/", Some(&token)).await;
        let list = list.as_array().unwrap();
        if list.len() == 3 {
            break list.iter().map(|c| (c["phone"].as_str().unwrap().to_owned(), c["id"].as_i64().unwrap())).collect();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let chat = |phone: &str| chats.iter().find(|(p, _)| p == phone).unwrap().1;
    let label = |name: &str, colour: &str| {
        let (app, token, body) = (&app, token.clone(), json!({"name": name, "colour": colour}));
        async move {
            let (status, made) = app.post("/labels", Some(&token), body).await;
            assert_eq!(status, StatusCode::CREATED, "{made}");
            made["data"]["id"].as_i64().unwrap()
        }
    };
    let vip = label("VIP", "#D4A017").await;
    let fiber = label("Kabel putus", "#c0392b").await;
    for (body, field) in [
        (json!({"name": "vip ", "colour": "#000000"}), "name"),
        (json!({"name": " ", "colour": "#000000"}), "name"),
        (json!({"name": "x", "colour": "merah"}), "colour"),
        (json!({"name": "x".repeat(33), "colour": "#000000"}), "name"),
    ] {
        let (status, resp) = app.post("/labels", Some(&token), body).await;
        assert_eq!((status, &resp["error"]["field"]), (StatusCode::UNPROCESSABLE_ENTITY, &json!(field)), "{resp}");
    }
    let put = |chat: i64, labels: Vec<i64>, who: String| {
        let app = &app;
        async move {
            app.call(Method::PUT, &format!("/chats/{chat}/labels"), Some(&who), Some(json!({ "labels": labels }))).await
        }
    };
    let (status, view) = put(chat(contacts[0]), vec![vip, fiber], token.clone()).await;
    assert_eq!(status, StatusCode::OK, "{view}");
    let names: Vec<&str> = view["labels"].as_array().unwrap().iter().map(|l| l["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Kabel putus", "VIP"]);
    assert_eq!(view["labels"][1]["colour"], "#d4a017");
    // An agent puts labels on a chat assigned to them, and on no other.
    let (agent_id, agent) = app.user_with_role("agent").await;
    let assign = json!({"assigned_agent_id": agent_id});
    app.call(Method::PATCH, &format!("/chats/{}", chat(contacts[1])), Some(&token), Some(assign)).await;
    assert_eq!(put(chat(contacts[1]), vec![vip], agent.clone()).await.0, StatusCode::OK);
    assert_eq!(put(chat(contacts[2]), vec![vip], agent.clone()).await.0, StatusCode::NOT_FOUND);
    let (status, _) = app.post("/labels", Some(&agent), json!({"name": "agen", "colour": "#000000"})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, theirs) = app.get(&format!("/labels?chat_id={}", chat(contacts[1])), Some(&agent)).await;
    assert_eq!(theirs["data"].as_array().unwrap().len(), 2, "{theirs}");

    // The list by label and the counts for it agree.
    for (label, want) in [(vip, 2), (fiber, 1)] {
        let (_, list) = app.get(&format!("/chats/?label={label}"), Some(&token)).await;
        let (_, counts) = app.get(&format!("/chats/counts?label={label}"), Some(&token)).await;
        assert_eq!((list.as_array().unwrap().len(), counts["all"].as_u64().unwrap()), (want, want as u64), "{counts}");
    }
    let (_, counts) = app.get(&format!("/chats/counts?label={vip}"), Some(&token)).await;
    assert_eq!((&counts["unread"], &counts["unassigned"]), (&json!(2), &json!(1)), "{counts}");
    let (_, detail) = app.get(&format!("/chats/{}", chat(contacts[0])), Some(&token)).await;
    assert_eq!(detail["labels"].as_array().unwrap().len(), 2);

    // Another account: its own labels only; this account's ids are 404 to it.
    let (_, user) = app.user_with_role("user").await;
    let (_, none) = app.get("/labels", Some(&user)).await;
    assert_eq!(none["data"], json!([]));
    for (method, path, body) in [
        (Method::PATCH, format!("/labels/{vip}"), Some(json!({"name": "diambil"}))),
        (Method::DELETE, format!("/labels/{vip}"), None),
    ] {
        assert_eq!(app.call(method, &path, Some(&user), body).await.0, StatusCode::NOT_FOUND);
    }
    let (_, own) = app.post("/labels", Some(&user), json!({"name": "VIP", "colour": "#111111"})).await;
    let foreign = own["data"]["id"].as_i64().unwrap();
    let (status, resp) = put(chat(contacts[0]), vec![foreign], token.clone()).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "another account's label on this chat: {resp}");
    // Renamed, then removed: gone from its chats too.
    let (status, _) =
        app.call(Method::PATCH, &format!("/labels/{vip}"), Some(&token), Some(json!({"name": "Pelanggan VIP"}))).await;
    assert_eq!(status, StatusCode::OK);
    let (_, detail) = app.get(&format!("/chats/{}", chat(contacts[1])), Some(&token)).await;
    assert_eq!(detail["labels"][0]["name"], "Pelanggan VIP");
    assert_eq!(app.call(Method::DELETE, &format!("/labels/{vip}"), Some(&token), None).await.0, StatusCode::OK);
    let (_, list) = app.get(&format!("/chats/?label={vip}"), Some(&token)).await;
    assert_eq!(list, json!([]));
    let (_, detail) = app.get(&format!("/chats/{}", chat(contacts[0])), Some(&token)).await;
    assert_eq!(detail["labels"].as_array().unwrap().len(), 1);
}

/// Search inside messages: received and sent texts and notes, by the start
/// of each word (any case), all words in one message; an edit is found by its
/// new text, a deleted message no more; an agent finds only their chats'
/// messages, another account none; a hit opens its chat at that message; no
/// character of `q` is an operator (200 or 422, never 500).
async fn messages_are_found_by_their_words(db: TestDb) {
    let app = TestApp::spawn_with(db, no_limits).await;
    let token = app.admin_token.clone();
    app.linked_session(&token, "s1", NUMBER).await;
    let (budi, sari) = ("628222000091", "628222000092");
    app.sim.add_contacts(&[budi.to_owned(), sari.to_owned()]);
    let first = app.sim.inbound(budi, NUMBER, "Internetnya MATI sejak pagi", "Budi").await.unwrap();
    let typo = app.sim.inbound(budi, NUMBER, "modem saya rusak", "Budi").await.unwrap();
    app.sim.inbound(sari, NUMBER, "Tagihan bulan ini sudah dibayar? 100% lunas_ya", "Sari").await.unwrap();
    let chats = wait_for(&app, &token, "/chats/", 30, |l| l.as_array().is_some_and(|l| l.len() == 2)).await;
    let chat =
        |phone: &str| chats.as_array().unwrap().iter().find(|c| c["phone"] == phone).unwrap()["id"].as_i64().unwrap();
    let (budi_chat, sari_chat) = (chat(budi), chat(sari));
    wait_for(&app, &token, &format!("/chats/{budi_chat}"), 30, |d| d["messages"].as_array().unwrap().len() == 2).await;
    let (status, reply) = app
        .post(
            "/chats/messages",
            Some(&token),
            json!({"chat_id": budi_chat, "text": "Baik, teknisi kami kirim ke rumah Bapak"}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{reply}");
    let (status, note) = app
        .post(&format!("/chats/{sari_chat}/notes"), Some(&token), json!({"text": "Cek pembayaran di billing"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{note}");

    let search = |q: &str, who: &str| {
        let (app, path, who) = (&app, format!("/chats/search?q={}", urlencode(q)), who.to_owned());
        async move {
            let (status, page) = app.get(&path, Some(&who)).await;
            assert_eq!(status, StatusCode::OK, "{path}: {page}");
            page
        }
    };
    let texts = |page: &Value| -> Vec<String> {
        page["data"].as_array().unwrap().iter().map(|h| h["message"]["text"].as_str().unwrap().to_owned()).collect()
    };
    assert_eq!(texts(&search("internet", &token).await), ["Internetnya MATI sejak pagi"]);
    assert_eq!(texts(&search("mati PAGI", &token).await), ["Internetnya MATI sejak pagi"]);
    assert_eq!(texts(&search("mati rusak", &token).await), Vec::<String>::new());
    assert_eq!(texts(&search("teknisi", &token).await), ["Baik, teknisi kami kirim ke rumah Bapak"]);
    assert_eq!(texts(&search("billing", &token).await), ["Cek pembayaran di billing"]);
    // Words are compared by their stems: Indonesian affixes come off, and the
    // words that matched are told as written, to mark.
    let paid = search("bayar", &token).await;
    assert_eq!(texts(&paid), ["Cek pembayaran di billing", "Tagihan bulan ini sudah dibayar? 100% lunas_ya"]);
    assert_eq!(paid["words"], json!(["pembayaran", "dibayar"]));
    assert_eq!(search("internet", &token).await["words"], json!(["internetnya"]));
    let hit = search("tagihan", &token).await;
    assert_eq!(
        (&hit["data"][0]["chat_id"], &hit["data"][0]["chat_name"]),
        (&json!(sari_chat), &json!("Sari")),
        "{hit}"
    );
    assert_eq!(hit["words"], json!(["tagihan"]));
    // Newest first, paged by `before`, narrowed by `chat_id`.
    let page = search("a".repeat(3).as_str(), &token).await; // "aaa": nothing, not an error
    assert_eq!(page["data"], json!([]));
    app.sim.inbound(budi, NUMBER, "internet masih mati", "Budi").await.unwrap();
    let both = wait_for(&app, &token, "/chats/search?q=internet&limit=1", 30, |p| {
        p["data"][0]["message"]["text"] == "internet masih mati"
    })
    .await;
    let before = both["before"].as_i64().expect("a second page");
    let (_, older) = app.get(&format!("/chats/search?q=internet&limit=1&before={before}"), Some(&token)).await;
    assert_eq!(texts(&older), ["Internetnya MATI sejak pagi"]);
    assert_eq!(older["before"], Value::Null);
    let (_, in_sari) = app.get(&format!("/chats/search?q=internet&chat_id={sari_chat}"), Some(&token)).await;
    assert_eq!(in_sari["data"], json!([]));
    // The hit opens its chat at that message: it and what came before, then what came after.
    let at = older["data"][0]["message"]["id"].as_i64().unwrap();
    let (_, up_to) = app.get(&format!("/chats/{budi_chat}/messages?before={}&limit=50", at + 1), Some(&token)).await;
    assert_eq!(up_to["data"].as_array().unwrap().last().unwrap()["id"], json!(at));
    let (_, after) = app.get(&format!("/chats/{budi_chat}/messages?after={at}&limit=2"), Some(&token)).await;
    assert_eq!(after["data"][0]["text"], "modem saya rusak", "{after}");
    let next = after["after"].as_i64().expect("more after");
    let (_, rest) = app.get(&format!("/chats/{budi_chat}/messages?after={next}&limit=2"), Some(&token)).await;
    assert_eq!(rest["data"].as_array().unwrap().len(), 1, "{rest}");
    assert_eq!(rest["after"], Value::Null);
    let (status, resp) = app.get(&format!("/chats/{budi_chat}/messages?after=1&before=9"), Some(&token)).await;
    assert_eq!((status, &resp["error"]["field"]), (StatusCode::UNPROCESSABLE_ENTITY, &json!("after")), "{resp}");

    // The contact edits one message and deletes another.
    let change = |kind: &str, quoted: &str, text: Option<&str>| Write {
        from: budi.into(),
        to: NUMBER.into(),
        kind: Some(kind.into()),
        quoted: Some(quoted.into()),
        text: text.map(str::to_owned),
        ..Default::default()
    };
    app.sim.deliver(&change("edit", &first, Some("Internetnya putus sejak pagi"))).await.unwrap();
    app.sim.deliver(&change("revoke", &typo, None)).await.unwrap();
    wait_for(&app, &token, "/chats/search?q=putus", 30, |p| p["data"].as_array().unwrap().len() == 1).await;
    wait_for(&app, &token, "/chats/search?q=modem", 30, |p| p["data"] == json!([])).await;
    assert_eq!(texts(&search("mati pagi", &token).await), Vec::<String>::new(), "the old text is not found");

    // An agent: only the chats assigned to them.
    let (agent_id, agent) = app.user_with_role("agent").await;
    assert_eq!(search("internet", &agent).await["data"], json!([]));
    let assign = json!({"assigned_agent_id": agent_id});
    app.call(Method::PATCH, &format!("/chats/{sari_chat}"), Some(&token), Some(assign)).await;
    assert_eq!(texts(&search("tagihan", &agent).await), ["Tagihan bulan ini sudah dibayar? 100% lunas_ya"]);
    assert_eq!(search("internet", &agent).await["data"], json!([]));
    let (status, _) = app.get(&format!("/chats/search?q=internet&chat_id={budi_chat}"), Some(&agent)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Another account finds nothing of this one's.
    let (_, user) = app.user_with_role("user").await;
    assert_eq!(search("tagihan", &user).await["data"], json!([]));

    // Operators and wildcards are separators, never a 500.
    for q in [
        "100%",
        "lunas_ya",
        "\"tagihan",
        "tagihan*",
        "tagihan OR modem",
        "NEAR(tagihan bulan)",
        "-tagihan +bulan",
        "tagihan'",
        "bulan^2 ~ini",
        "(ini) {bulan}",
    ] {
        let path = format!("/chats/search?q={}", urlencode(q));
        let (status, page) = app.get(&path, Some(&token)).await;
        assert!(status == StatusCode::OK || status == StatusCode::UNPROCESSABLE_ENTITY, "{q}: {status} {page}");
    }
    assert_eq!(texts(&search("\"tagihan", &token).await).len(), 1);
    assert_eq!(texts(&search("lunas_ya", &token).await).len(), 1);
    for q in ["", "di ke", "%_%", &"x".repeat(201), "satu dua tiga empat lima enam tujuh delapan sembilan"] {
        let (status, resp) = app.get(&format!("/chats/search?q={}", urlencode(q)), Some(&token)).await;
        assert_eq!((status, &resp["error"]["field"]), (StatusCode::UNPROCESSABLE_ENTITY, &json!("q")), "{q}: {resp}");
    }
}

/// Texts kept before the word index (migration 18) are found after it:
/// stepping back to migration 17's index and forward again indexes every
/// timeline text once, and the gateway searches them as it searches new ones.
async fn texts_kept_before_the_word_index_are_found(db: TestDb) {
    use migration::{Migrator, MigratorTrait};
    use sea_orm::{ConnectionTrait, Statement};
    let mut app = TestApp::spawn_with(db, no_limits).await;
    let token = app.admin_token.clone();
    app.linked_session(&token, "s1", NUMBER).await;
    let budi = "628222000093";
    app.sim.add_contacts(&[budi.to_owned()]);
    app.sim.inbound(budi, NUMBER, "Internetnya mati lagi", "Budi").await.unwrap();
    app.sim.inbound(budi, NUMBER, "Sudah dibayar kemarin", "Budi").await.unwrap();
    let chats = wait_for(&app, &token, "/chats/", 30, |l| l.as_array().is_some_and(|l| l.len() == 1)).await;
    let chat = chats[0]["id"].as_i64().unwrap();
    wait_for(&app, &token, &format!("/chats/{chat}"), 30, |d| d["messages"].as_array().unwrap().len() == 2).await;
    let (status, _) =
        app.post(&format!("/chats/{chat}/notes"), Some(&token), json!({"text": "Pembayaran dicek"})).await;
    assert_eq!(status, StatusCode::CREATED);
    async fn words(db: &sea_orm::DatabaseConnection) -> i64 {
        let row =
            db.query_one_raw(Statement::from_string(db.get_database_backend(), "SELECT COUNT(*) FROM chat_words"));
        row.await.unwrap().unwrap().try_get_by_index::<i64>(0).unwrap()
    }
    let indexed = words(&app.db).await;
    assert_eq!(indexed, 3 + 3 + 2, "internet mati lagi, sudah bayar kemarin, bayar cek");

    app.stop().await;
    let after_17 = Migrator::migrations().len() as u32 - 17;
    Migrator::down(&app.db, Some(after_17)).await.expect("back to migration 17");
    assert!(
        app.db
            .query_one_raw(Statement::from_string(app.db.get_database_backend(), "SELECT COUNT(*) FROM chat_search"))
            .await
            .is_ok()
    );
    Migrator::up(&app.db, None).await.expect("migration 18 and those after it again");
    assert_eq!(words(&app.db).await, indexed);
    app.start().await;
    let (_, paid) = app.get("/chats/search?q=bayar", Some(&token)).await;
    let texts: Vec<&str> =
        paid["data"].as_array().unwrap().iter().map(|h| h["message"]["text"].as_str().unwrap()).collect();
    assert_eq!(texts, ["Pembayaran dicek", "Sudah dibayar kemarin"], "{paid}");
    let (_, dead) = app.get("/chats/search?q=internet%20mati", Some(&token)).await;
    assert_eq!(dead["data"].as_array().unwrap().len(), 1, "{dead}");
}

/// Auto-assignment: with the account's `auto_assign` on, chats that move to
/// `agent` (the bot hands them over, an admin sets the mode) go round-robin to
/// the available agents: 9 chats over 3 available agents 3/3/3, none to an
/// away one; off, nobody is given one. A transfer carries a note. Agents have
/// no say over the settings.
async fn chats_are_spread_over_available_agents(db: TestDb) {
    let app = TestApp::spawn_with(db, no_limits).await;
    let token = app.admin_token.clone();
    app.linked_session(&token, "s1", NUMBER).await;
    let (status, settings) = app.get("/inbox/settings", Some(&token)).await;
    assert_eq!((status, &settings["data"]), (StatusCode::OK, &json!({"auto_assign": false, "csat": false})));
    let mut agents = Vec::new();
    for _ in 0..4 {
        agents.push(app.user_with_role("agent").await);
    }
    let available = |agent: &str, on: bool| {
        let (app, agent, body) = (&app, agent.to_owned(), json!({ "available": on }));
        async move { app.call(Method::PUT, "/auth/me/availability", Some(&agent), Some(body)).await }
    };
    for (_, agent) in &agents {
        let (status, me) = available(agent, true).await;
        assert_eq!((status, &me["data"]["available"]), (StatusCode::OK, &json!(true)), "{me}");
    }
    let (away, away_token) = agents[3].clone();
    let (_, me) = available(&away_token, false).await;
    assert_eq!(me["data"]["available"], json!(false));
    let (_, listed) = app.get("/user/list", Some(&token)).await;
    let shown = listed["data"].as_array().unwrap().iter().find(|u| u["id"] == away).unwrap().clone();
    assert_eq!(shown["available"], json!(false), "{shown}");
    assert_eq!(app.get("/inbox/settings", Some(&away_token)).await.0, StatusCode::FORBIDDEN);
    let on = json!({"auto_assign": true, "csat": false});
    let (status, _) = app.call(Method::PUT, "/inbox/settings", Some(&away_token), Some(on.clone())).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    for bad in [
        json!({"auto_assign": "yes", "csat": false}),
        json!({}),
        json!({"auto_assign": true}),
        json!({"auto_assign": true, "csat": false, "round": 1}),
    ] {
        let (status, body) = app.call(Method::PUT, "/inbox/settings", Some(&token), Some(bad.clone())).await;
        assert!(status.is_client_error() && body["error"]["code"].is_string(), "{bad}: {status} {body}");
    }

    let (_, bot) = app.get("/bot/config", Some(&token)).await;
    let mut document = bot["data"]["config"].clone();
    document["enabled"] = json!(true);
    document["max_replies_per_minute"] = json!(60);
    let (status, body) = app.call(Method::PUT, "/bot/config", Some(&token), Some(document)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let contacts: Vec<String> = (0..10).map(|i| format!("62822200010{i}")).collect();
    app.sim.add_contacts(&contacts);
    let chat_of = |contact: String| {
        let (app, token) = (&app, token.clone());
        async move {
            let list = wait_for(app, &token, "/chats/?limit=100", 30, |l| {
                l.as_array().unwrap().iter().any(|c| c["phone"] == contact && c["mode"] != "bot")
            })
            .await;
            list.as_array().unwrap().iter().find(|c| c["phone"] == contact).unwrap().clone()
        }
    };
    // Off: a hand-over gives the chat to nobody.
    app.sim.inbound(&contacts[0], NUMBER, "agent", "Pelanggan 0").await.unwrap();
    let before = chat_of(contacts[0].clone()).await;
    assert_eq!((&before["mode"], &before["assigned_agent_id"]), (&json!("agent"), &Value::Null));

    let (status, saved) = app.call(Method::PUT, "/inbox/settings", Some(&token), Some(on)).await;
    assert_eq!((status, &saved["data"]), (StatusCode::OK, &json!({"auto_assign": true, "csat": false})));
    // Another account's settings are its own.
    let (_, user) = app.user_with_role("user").await;
    assert_eq!(app.get("/inbox/settings", Some(&user)).await.1["data"], json!({"auto_assign": false, "csat": false}));
    // Six hand over by the bot; three the admin moves to `agent`.
    for (i, contact) in contacts[1..7].iter().enumerate() {
        app.sim.inbound(contact, NUMBER, "agent", &format!("Pelanggan {}", i + 1)).await.unwrap();
    }
    for contact in &contacts[7..10] {
        app.sim.inbound(contact, NUMBER, "halo", "Pelanggan").await.unwrap();
        let list = wait_for(&app, &token, "/chats/?limit=100", 30, |l| {
            l.as_array().unwrap().iter().any(|c| &c["phone"] == contact)
        })
        .await;
        let id = list.as_array().unwrap().iter().find(|c| &c["phone"] == contact).unwrap()["id"].clone();
        let (status, moved) =
            app.call(Method::PATCH, &format!("/chats/{id}"), Some(&token), Some(json!({"mode": "agent"}))).await;
        assert_eq!((status, &moved["mode"]), (StatusCode::OK, &json!("agent")), "{moved}");
        assert!(moved["assigned_agent_id"].is_i64(), "{moved}");
    }
    let mut per_agent = std::collections::BTreeMap::new();
    for contact in &contacts[1..10] {
        let chat = chat_of(contact.clone()).await;
        let agent = chat["assigned_agent_id"].as_i64().unwrap_or_else(|| panic!("not assigned: {chat}"));
        *per_agent.entry(agent).or_insert(0) += 1;
    }
    let expected: std::collections::BTreeMap<i64, i32> = agents[..3].iter().map(|(id, _)| (*id, 3)).collect();
    assert_eq!(per_agent, expected, "3/3/3, none to the away agent ({away})");
    // What moved before the setting stays unassigned until someone takes it.
    assert_eq!(chat_of(contacts[0].clone()).await["assigned_agent_id"], Value::Null);

    // A transfer, with a note for the team.
    let chat = chat_of(contacts[1].clone()).await;
    let id = chat["id"].as_i64().unwrap();
    let to = agents.iter().map(|(id, _)| *id).find(|a| Some(*a) != chat["assigned_agent_id"].as_i64()).unwrap();
    let transfer = json!({"assigned_agent_id": to, "note": "Pelanggan minta teknisi besok pagi"});
    let (status, moved) = app.call(Method::PATCH, &format!("/chats/{id}"), Some(&token), Some(transfer)).await;
    assert_eq!((status, &moved["assigned_agent_id"]), (StatusCode::OK, &json!(to)), "{moved}");
    let (_, detail) = app.get(&format!("/chats/{id}"), Some(&token)).await;
    let last = detail["messages"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (&last["type"], &last["text"]),
        (&json!("note"), &json!("Pelanggan minta teknisi besok pagi")),
        "{last}"
    );
    for bad in [json!({"note": "tanpa tujuan"}), json!({"assigned_agent_id": to, "note": "  "})] {
        let (status, body) = app.call(Method::PATCH, &format!("/chats/{id}"), Some(&token), Some(bad)).await;
        assert_eq!((status, &body["error"]["field"]), (StatusCode::UNPROCESSABLE_ENTITY, &json!("note")), "{body}");
    }
}

/// Satisfaction (CSAT): with the account's `csat` on, closing a 1:1 chat
/// sends the customer the question (even with the bot off); "5" is kept on
/// the chat and thanked, the chat staying closed; anything else gets the
/// fallback once, and the next such message is no answer: the question ends
/// and the chat reopens to the bot as any message to a closed chat does.
async fn a_closed_chat_asks_for_a_rating(db: TestDb) {
    let app = TestApp::spawn_with(db, no_limits).await;
    let token = app.admin_token.clone();
    app.linked_session(&token, "s1", NUMBER).await;
    let (ani, bayu) = ("628222000201", "628222000202");
    app.sim.add_contacts(&[ani.to_owned(), bayu.to_owned()]);
    let settings = json!({"auto_assign": false, "csat": true});
    let (status, body) = app.call(Method::PUT, "/inbox/settings", Some(&token), Some(settings)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, bot) = app.get("/bot/config", Some(&token)).await;
    let replies = bot["data"]["config"]["replies"].clone();
    let said = |contact: &'static str, n: usize| {
        let app = &app;
        async move {
            let deadline = std::time::Instant::now() + Duration::from_secs(20);
            loop {
                let texts: Vec<String> = app.sim.shown(Some(contact)).iter().filter_map(|m| m.text.clone()).collect();
                if texts.len() >= n {
                    return texts;
                }
                assert!(std::time::Instant::now() < deadline, "{contact} got only {texts:?}");
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
        }
    };
    let close = |contact: &'static str| {
        let (app, token) = (&app, token.clone());
        async move {
            let list =
                wait_for(app, &token, "/chats/", 30, |l| l.as_array().unwrap().iter().any(|c| c["phone"] == contact))
                    .await;
            let id = list.as_array().unwrap().iter().find(|c| c["phone"] == contact).unwrap()["id"].as_i64().unwrap();
            let (status, closed) =
                app.call(Method::PATCH, &format!("/chats/{id}"), Some(&token), Some(json!({"mode": "closed"}))).await;
            assert_eq!((status, &closed["csat_pending"]), (StatusCode::OK, &json!(true)), "{closed}");
            id
        }
    };

    app.sim.inbound(ani, NUMBER, "internet sudah normal, terima kasih", "Ani").await.unwrap();
    let ani_chat = close(ani).await;
    assert_eq!(said(ani, 1).await, [replies["csat_question"].as_str().unwrap()]);
    app.sim.inbound(ani, NUMBER, "5", "Ani").await.unwrap();
    assert_eq!(said(ani, 2).await[1], replies["csat_thanks"].as_str().unwrap());
    let chat = wait_for(&app, &token, &format!("/chats/{ani_chat}"), 30, |c| c["csat_rating"] == 5).await;
    assert_eq!((&chat["mode"], &chat["csat_pending"]), (&json!("closed"), &json!(false)), "{chat}");
    let (_, counts) = app.get("/chats/counts", Some(&token)).await;
    assert_eq!((&counts["rated"], &counts["csat_average"]), (&json!(1), &json!(5.0)), "{counts}");

    app.sim.inbound(bayu, NUMBER, "sudah beres", "Bayu").await.unwrap();
    let bayu_chat = close(bayu).await;
    said(bayu, 1).await;
    app.sim.inbound(bayu, NUMBER, "bagus sekali", "Bayu").await.unwrap();
    assert_eq!(said(bayu, 2).await[1], replies["csat_fallback"].as_str().unwrap());
    app.sim.inbound(bayu, NUMBER, "oke", "Bayu").await.unwrap();
    let chat = wait_for(&app, &token, &format!("/chats/{bayu_chat}"), 30, |c| c["mode"] == "bot").await;
    assert_eq!((&chat["csat_rating"], &chat["csat_pending"]), (&Value::Null, &json!(false)), "{chat}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(app.sim.shown(Some(bayu)).len(), 2, "the fallback is said once");
    // Closed again and reopened by the team before an answer: the question
    // lapses, and a digit is then just a message.
    let patch = |id: i64, mode: &str| {
        let (app, token, body) = (&app, token.clone(), json!({ "mode": mode }));
        async move { app.call(Method::PATCH, &format!("/chats/{id}"), Some(&token), Some(body)).await }
    };
    assert_eq!(patch(ani_chat, "closed").await.1["csat_pending"], json!(false), "already closed: nothing changes");
    assert_eq!(patch(ani_chat, "agent").await.1["mode"], json!("agent"));
    assert_eq!(patch(ani_chat, "closed").await.1["csat_pending"], json!(true));
    said(ani, 3).await;
    assert_eq!(patch(ani_chat, "agent").await.1["csat_pending"], json!(false));
    app.sim.inbound(ani, NUMBER, "4", "Ani").await.unwrap();
    wait_for(&app, &token, &format!("/chats/{ani_chat}"), 30, |c| c["last_message"]["text"] == "4").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(app.sim.shown(Some(ani)).len(), 3, "no thanks: it was no answer");
    assert_eq!(app.get(&format!("/chats/{ani_chat}"), Some(&token)).await.1["csat_rating"], json!(5));
    // Off: closing asks nothing.
    let off = json!({"auto_assign": false, "csat": false});
    app.call(Method::PUT, "/inbox/settings", Some(&token), Some(off)).await;
    let (status, closed) =
        app.call(Method::PATCH, &format!("/chats/{bayu_chat}"), Some(&token), Some(json!({"mode": "closed"}))).await;
    assert_eq!((status, &closed["csat_pending"]), (StatusCode::OK, &json!(false)));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(app.sim.shown(Some(bayu)).len(), 2);
}

/// Export: CSV with its columns (a spreadsheet reads commas, quotes, line
/// breaks and formulas as text), JSON, one chat or the list's filters, a time
/// range; an agent exports only their chats, another account nothing.
async fn chats_are_exported(db: TestDb) {
    let app = TestApp::spawn_with(db, no_limits).await;
    let token = app.admin_token.clone();
    app.linked_session(&token, "s1", NUMBER).await;
    let (budi, sari) = ("628222000095", "628222000096");
    app.sim.add_contacts(&[budi.to_owned(), sari.to_owned()]);
    app.sim.inbound(budi, NUMBER, "Halo, internet \"mati\"\nsejak pagi", "Budi").await.unwrap();
    // Stored first (two chats' messages may be stored in either order).
    wait_for(&app, &token, "/chats/", 30, |l| l.as_array().is_some_and(|l| l.len() == 1)).await;
    app.sim.inbound(sari, NUMBER, "=HYPERLINK(\"http://x\")", "Sari").await.unwrap();
    let chats = wait_for(&app, &token, "/chats/", 30, |l| l.as_array().is_some_and(|l| l.len() == 2)).await;
    let chat =
        |phone: &str| chats.as_array().unwrap().iter().find(|c| c["phone"] == phone).unwrap()["id"].as_i64().unwrap();
    let (budi_chat, sari_chat) = (chat(budi), chat(sari));
    let (status, reply) =
        app.post("/chats/messages", Some(&token), json!({"chat_id": budi_chat, "text": "Kami cek, Pak"})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{reply}");
    app.post(&format!("/chats/{budi_chat}/notes"), Some(&token), json!({"text": "ODP-3"})).await;

    let get = |path: String, who: String| {
        let app = &app;
        async move {
            let resp = app.client.get(format!("{}{path}", app.address)).bearer_auth(who).send().await.unwrap();
            let (status, kind) =
                (resp.status(), resp.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned()));
            let disposition = resp.headers().get("content-disposition").map(|v| v.to_str().unwrap().to_owned());
            (status, kind.unwrap_or_default(), disposition.unwrap_or_default(), resp.text().await.unwrap())
        }
    };
    let (status, kind, disposition, body) = get("/chats/export".into(), token.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        kind.starts_with("text/csv") && disposition.starts_with("attachment; filename=\"wagate-chats-"),
        "{kind} {disposition}"
    );
    let rows = csv(body.strip_prefix('\u{feff}').expect("a byte order mark"));
    assert_eq!(
        rows[0],
        [
            "time",
            "chat_id",
            "chat_name",
            "phone",
            "session",
            "entry_id",
            "message_id",
            "sender",
            "agent",
            "type",
            "text",
            "filename",
            "status",
            "reason"
        ]
    );
    let column = |name: &str| rows[0].iter().position(|c| c == name).unwrap();
    let texts: Vec<(&str, &str, &str)> = rows[1..]
        .iter()
        .map(|r| (r[column("phone")].as_str(), r[column("sender")].as_str(), r[column("text")].as_str()))
        .collect();
    assert_eq!(
        texts,
        [
            (budi, "customer", "Halo, internet \"mati\"\nsejak pagi"),
            (sari, "customer", "'=HYPERLINK(\"http://x\")"),
            (budi, "agent", "Kami cek, Pak"),
            (budi, "note", "ODP-3"),
        ]
    );
    assert_eq!(rows[1][column("session")], "s1");
    assert!(rows[1][column("time")].ends_with("+07:00"), "times in the gateway's zone: {:?}", rows[1]);

    // One chat, as JSON.
    let (status, kind, _, body) = get(format!("/chats/export?chat_id={budi_chat}&format=json"), token.clone()).await;
    assert_eq!((status, kind.as_str()), (StatusCode::OK, "application/json"));
    let list: Value = serde_json::from_str(&body).unwrap();
    let texts: Vec<&str> = list.as_array().unwrap().iter().map(|m| m["message"]["text"].as_str().unwrap()).collect();
    assert_eq!(texts, ["Halo, internet \"mati\"\nsejak pagi", "Kami cek, Pak", "ODP-3"]);
    assert_eq!(list[0]["chat_id"], json!(budi_chat));
    // A time range, and the list's filters.
    let tomorrow = (chrono::Utc::now() + chrono::Duration::days(2)).format("%Y-%m-%d");
    let (_, _, _, body) = get(format!("/chats/export?from={tomorrow}&format=json"), token.clone()).await;
    assert_eq!(body, "[]");
    let today = chrono::Utc::now().format("%Y-%m-%dT00:00:00Z");
    let (_, _, _, body) = get(format!("/chats/export?from={today}&to={tomorrow}&format=json"), token.clone()).await;
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap().as_array().unwrap().len(), 4);
    let (_, _, _, body) = get("/chats/export?q=Sari&format=json".into(), token.clone()).await;
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap().as_array().unwrap().len(), 1);

    // An agent: their chats only.
    let (agent_id, agent) = app.user_with_role("agent").await;
    let (_, _, _, body) = get("/chats/export?format=json".into(), agent.clone()).await;
    assert_eq!(body, "[]");
    app.call(Method::PATCH, &format!("/chats/{sari_chat}"), Some(&token), Some(json!({"assigned_agent_id": agent_id})))
        .await;
    let (_, _, _, body) = get("/chats/export".into(), agent.clone()).await;
    let rows = csv(body.trim_start_matches('\u{feff}'));
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(rows[1][column("phone")], sari);
    let (status, _, _, _) = get(format!("/chats/export?chat_id={budi_chat}"), agent.clone()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Another account: nothing of this one's.
    let (_, user) = app.user_with_role("user").await;
    let (_, _, _, body) = get("/chats/export?format=json".into(), user.clone()).await;
    assert_eq!(body, "[]");
    // Bad input names its field.
    for (query, field) in [
        ("format=xml", "format"),
        ("from=kemarin", "from"),
        ("to=2026-13-01", "to"),
        ("from=2026-12-02&to=2026-12-01", "to"),
        ("assignee=x", "assignee"),
    ] {
        let (status, resp) = app.get(&format!("/chats/export?{query}"), Some(&token)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{query}: {resp}");
        assert_eq!(resp["error"]["field"], json!(field), "{query}: {resp}");
    }
}

/// RFC 4180 rows.
fn csv(text: &str) -> Vec<Vec<String>> {
    let (mut rows, mut row, mut field) = (Vec::new(), Vec::new(), String::new());
    let (mut chars, mut quoted) = (text.chars().peekable(), false);
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            ('"', _) => quoted = !quoted,
            (',', false) => row.push(std::mem::take(&mut field)),
            ('\r', false) => {}
            ('\n', false) => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (c, _) => field.push(c),
        }
    }
    rows
}

fn urlencode(q: &str) -> String {
    q.bytes().map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") }).collect()
}

/// Analytics: a scripted day — three customers, a bot's answer, replies by
/// two agents, closes, ratings and a chat reopened by its customer — gives
/// the figures computed here by hand from the times the API shows, per day,
/// per agent and per session; an agent sees their own conversations only,
/// another account none.
async fn analytics_count_a_scripted_day(db: TestDb) {
    let app = TestApp::spawn_with(db, no_limits).await;
    let token = app.admin_token.clone();
    app.linked_session(&token, "s1", NUMBER).await;
    let (ani, bayu, citra) = ("628222000301", "628222000302", "628222000303");
    app.sim.add_contacts(&[ani.to_owned(), bayu.to_owned(), citra.to_owned()]);
    let (_, bot) = app.get("/bot/config", Some(&token)).await;
    let mut document = bot["data"]["config"].clone();
    document["enabled"] = json!(true);
    document["max_replies_per_minute"] = json!(60);
    assert_eq!(app.call(Method::PUT, "/bot/config", Some(&token), Some(document)).await.0, StatusCode::OK);
    let settings = json!({"auto_assign": false, "csat": true});
    assert_eq!(app.call(Method::PUT, "/inbox/settings", Some(&token), Some(settings)).await.0, StatusCode::OK);
    let (agent1, agent1_token) = app.user_with_role("agent").await;
    let (agent2, agent2_token) = app.user_with_role("agent").await;
    let ms = |t: &Value| chrono::DateTime::parse_from_rfc3339(t.as_str().unwrap()).unwrap().timestamp_millis();
    let timeline = |id: i64| {
        let (app, token) = (&app, token.clone());
        async move { app.get(&format!("/chats/{id}"), Some(&token)).await.1["messages"].as_array().unwrap().clone() }
    };
    // A contact writes; the chat's id once the message and the bot's answer to it are stored.
    let write = |contact: &'static str, text: &'static str| {
        let (app, token) = (&app, token.clone());
        async move {
            app.sim.inbound(contact, NUMBER, text, "Pelanggan").await.unwrap();
            let list =
                wait_for(app, &token, "/chats/", 30, |l| l.as_array().unwrap().iter().any(|c| c["phone"] == contact))
                    .await;
            let id = list.as_array().unwrap().iter().find(|c| c["phone"] == contact).unwrap()["id"].as_i64().unwrap();
            wait_for(app, &token, &format!("/chats/{id}"), 30, |c| {
                let entries = c["messages"].as_array().unwrap();
                let sent = entries.iter().rposition(|e| e["sender"] == "customer" && e["text"] == text);
                sent.is_some_and(|i| entries[i + 1..].iter().any(|e| e["sender"] == "bot"))
            })
            .await;
            id
        }
    };
    let patch = |id: i64, body: Value| {
        let (app, token) = (&app, token.clone());
        async move {
            let (status, chat) = app.call(Method::PATCH, &format!("/chats/{id}"), Some(&token), Some(body)).await;
            assert_eq!(status, StatusCode::OK, "{chat}");
            chat
        }
    };
    let reply = |id: i64, who: String, text: &'static str| {
        let app = &app;
        async move {
            let (status, body) = app.post("/chats/messages", Some(&who), json!({"chat_id": id, "text": text})).await;
            assert_eq!(status, StatusCode::ACCEPTED, "{body}");
            ms(&body["at"])
        }
    };

    // Ani: the bot answers, agent 1 answers, the admin closes, Ani rates 5.
    let ani_chat = write(ani, "halo").await;
    patch(ani_chat, json!({"assigned_agent_id": agent1})).await;
    let ani_reply = reply(ani_chat, agent1_token.clone(), "Kami cek, Bu").await;
    // A reaction changes a message: it is none of its own.
    let first = timeline(ani_chat).await.iter().find(|e| e["sender"] == "customer").unwrap()["id"].as_i64().unwrap();
    let path = format!("/chats/{ani_chat}/messages/{first}/react");
    let (status, body) = app.post(&path, Some(&agent1_token), json!({"emoji": "👍"})).await;
    assert!(status.is_success(), "{status} {body}");
    let ani_closed = ms(&patch(ani_chat, json!({"mode": "closed"})).await["mode_since"]);
    let ani_entries = timeline(ani_chat).await;
    write(ani, "5").await; // the bot thanks
    wait_for(&app, &token, &format!("/chats/{ani_chat}"), 30, |c| c["csat_rating"] == 5).await;
    // Bayu: the bot alone.
    let bayu_chat = write(bayu, "halo").await;
    // Citra: agent 2 answers, the admin closes, Citra rates 3, then writes again (a second conversation).
    let citra_chat = write(citra, "halo").await;
    patch(citra_chat, json!({"assigned_agent_id": agent2})).await;
    let citra_reply = reply(citra_chat, agent2_token.clone(), "Baik, Bu").await;
    // Answered: counted for the agent who answered, before any close.
    let (_, answered) = app.get("/analytics/inbox?group_by=agent", Some(&token)).await;
    let rows = answered["data"]["rows"].as_array().unwrap();
    assert!(
        rows.iter().any(|r| r["key"] == json!(agent2.to_string()) && r["first_response"]["count"] == 1),
        "{answered}"
    );
    let citra_closed = ms(&patch(citra_chat, json!({"mode": "closed"})).await["mode_since"]);
    write(citra, "3").await;
    wait_for(&app, &token, &format!("/chats/{citra_chat}"), 30, |c| c["csat_rating"] == 3).await;
    write(citra, "gangguan lagi").await;

    // By hand, from the timelines: each conversation opens at its customer's first message.
    let customer_at =
        |entries: &[Value], n: usize| ms(&entries.iter().filter(|e| e["sender"] == "customer").nth(n).unwrap()["at"]);
    let bots_before = |entries: &[Value], until: i64| {
        entries.iter().filter(|e| e["sender"] == "bot" && ms(&e["at"]) <= until).count() as i64
    };
    let ani_opened = customer_at(&ani_entries, 0);
    let (ani_first, ani_resolution) = (ani_reply - ani_opened, ani_closed - ani_opened);
    let ani_out = bots_before(&ani_entries, ani_reply) + 1;
    let bayu_entries = timeline(bayu_chat).await;
    let bayu_out = bayu_entries.iter().filter(|e| e["sender"] == "bot").count() as i64;
    let citra_entries = timeline(citra_chat).await;
    let citra_opened = customer_at(&citra_entries, 0);
    let (citra_first, citra_resolution) = (citra_reply - citra_opened, citra_closed - citra_opened);
    let citra_out = bots_before(&citra_entries, citra_reply) + 1;
    // Her second conversation: "gangguan lagi" and the bot's answers to it (the rating "3" is in none).
    let again = customer_at(&citra_entries, 2);
    let citra2_out = citra_entries.iter().filter(|e| e["sender"] == "bot" && ms(&e["at"]) >= again).count() as i64;
    assert!(ani_out >= 2 && bayu_out >= 1 && citra2_out >= 1, "{ani_out} {bayu_out} {citra2_out}");
    let (fast, slow) = (ani_first.min(citra_first), ani_first.max(citra_first));
    let (quick, long) = (ani_resolution.min(citra_resolution), ani_resolution.max(citra_resolution));

    let today = chrono::Utc::now().with_timezone(&chrono::FixedOffset::east_opt(7 * 3600).unwrap()).date_naive();
    let yesterday = today.pred_opt().unwrap();
    let (status, body) =
        app.get(&format!("/analytics/inbox?from={yesterday}&to={today}&group_by=day"), Some(&token)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let figures = &body["data"];
    let expected_day = json!({
        "chats_opened": 4,
        "first_response": {"count": 2, "p50_ms": fast, "p90_ms": slow},
        "resolution": {"count": 2, "p50_ms": quick, "p90_ms": long},
        "messages_in": 4,
        "messages_out": ani_out + bayu_out + citra_out + citra2_out,
        "bot_only": 2,
        "csat_count": 2,
        "csat_average": 4.0,
    });
    assert_eq!(figures["total"], expected_day, "{figures}");
    let rows = figures["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{figures}");
    assert_eq!((&rows[0]["key"], &rows[0]["chats_opened"]), (&json!(yesterday.to_string()), &json!(0)));
    assert_eq!(rows[0]["first_response"], json!({"count": 0, "p50_ms": null, "p90_ms": null}));
    assert_eq!(rows[1]["key"], json!(today.to_string()));
    let mut day = rows[1].clone();
    for key in ["key", "name"] {
        day.as_object_mut().unwrap().remove(key);
    }
    assert_eq!(day, expected_day);

    let (_, by_agent) = app.get("/analytics/inbox?group_by=agent", Some(&token)).await;
    let row = |figures: &Value, key: &str| {
        figures["data"]["rows"].as_array().unwrap().iter().find(|r| r["key"] == key).cloned().unwrap_or(Value::Null)
    };
    let one = row(&by_agent, &agent1.to_string());
    assert_eq!(
        (&one["chats_opened"], &one["first_response"]["p50_ms"], &one["resolution"]["p90_ms"], &one["csat_average"]),
        (&json!(1), &json!(ani_first), &json!(ani_resolution), &json!(5.0)),
        "{by_agent}"
    );
    assert_eq!((&one["messages_in"], &one["messages_out"]), (&json!(1), &json!(ani_out)));
    let two = row(&by_agent, &agent2.to_string());
    assert_eq!((&two["chats_opened"], &two["first_response"]["p50_ms"]), (&json!(1), &json!(citra_first)));
    let nobody = row(&by_agent, "none");
    assert_eq!(
        (&nobody["chats_opened"], &nobody["bot_only"], &nobody["first_response"]["count"]),
        (&json!(2), &json!(2), &json!(0)),
        "{by_agent}"
    );
    assert_eq!(by_agent["data"]["rows"][0]["key"], json!("none"), "most conversations first");
    let (_, by_session) = app.get("/analytics/inbox?group_by=session", Some(&token)).await;
    assert_eq!(row(&by_session, "s1")["chats_opened"], json!(4), "{by_session}");

    // An agent: their own conversation only; another account: none.
    let (status, mine) = app.get("/analytics/inbox", Some(&agent1_token)).await;
    assert_eq!(status, StatusCode::OK, "{mine}");
    assert_eq!(
        (&mine["data"]["total"]["chats_opened"], &mine["data"]["rows"].as_array().unwrap().len()),
        (&json!(1), &7)
    );
    let (_, other) = app.user_with_role("user").await;
    let (_, theirs) = app.get("/analytics/inbox?group_by=session", Some(&other)).await;
    assert_eq!((&theirs["data"]["total"]["chats_opened"], &theirs["data"]["rows"]), (&json!(0), &json!([])));
    for (query, field) in [
        ("from=2026-13-01", "from"),
        ("to=yesterday", "to"),
        ("from=2026-12-07&to=2026-12-01", "to"),
        ("from=2024-01-01&to=2026-12-01", "to"),
        ("group_by=week", "group_by"),
        ("days=7", "days"),
    ] {
        let (status, body) = app.get(&format!("/analytics/inbox?{query}"), Some(&token)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{query}: {body}");
        assert!(body["error"]["message"].as_str().unwrap().contains(field), "{query}: {body}");
    }
}

db_tests!(
    a_message_makes_a_chat_once,
    customers_name_their_chats,
    chats_filter_page_and_count,
    every_kind_is_kept_and_media_arrives_exactly,
    failed_downloads_are_retried_and_visible,
    a_contact_cannot_steer_media_downloads,
    agent_replies_go_through_the_queue,
    reading_a_chat_sends_read_receipts,
    each_sees_only_its_own_chats,
    bad_input_reaches_nobody,
    notes_stay_with_the_team,
    canned_replies_are_filled_and_kept_apart,
    labels_filter_and_count,
    messages_are_found_by_their_words,
    texts_kept_before_the_word_index_are_found,
    chats_are_spread_over_available_agents,
    a_closed_chat_asks_for_a_rating,
    chats_are_exported,
    analytics_count_a_scripted_day,
);
