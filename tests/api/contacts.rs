//! `POST /contacts/check` through wa-sim: 500 numbers in one go, registered
//! and unregistered ones told apart, with their JIDs and LIDs.

use reqwest::StatusCode;
use serde_json::json;

use crate::{
    db_tests,
    helpers::{TestApp, TestDb, no_limits},
};

const SENDER: &str = "628111000031";

async fn numbers_are_checked_in_one_go(db: TestDb) {
    let app = TestApp::spawn_with(db, no_limits).await;
    let token = app.admin_token.clone();
    app.linked_session(&token, "s1", SENDER).await;
    let on: Vec<String> = (0..250).map(|i| format!("62822{i:07}")).collect();
    let off: Vec<String> = (0..250).map(|i| format!("62833{i:07}")).collect();
    app.sim.add_contacts(&on);
    // Spelled as people write them, and one twice.
    let mut asked: Vec<String> = on.iter().chain(&off).map(|p| format!("+{p}")).collect();
    asked[1] = format!("0{}", &on[1][2..]);
    let body = json!({"session": "s1", "phones": asked});
    let (status, answer) = app.post("/contacts/check", Some(&token), body.clone()).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let data = &answer["data"];
    assert_eq!((&data["registered"], &data["unregistered"]), (&json!(250), &json!(250)), "{data}");
    let results = data["results"].as_array().unwrap();
    assert_eq!(results.len(), 500);
    assert_eq!(results[0]["phone"], on[0].as_str());
    assert_eq!(results[0]["registered"], true);
    assert_eq!(results[0]["jid"], format!("{}@s.whatsapp.net", on[0]));
    assert!(results[0]["lid"].as_str().is_some_and(|l| l.ends_with("@lid")), "{}", results[0]);
    assert_eq!(results[1]["phone"], on[1].as_str(), "0… is the same number");
    assert_eq!(results[499]["phone"], off[249].as_str());
    assert_eq!((&results[499]["registered"], &results[499]["jid"]), (&json!(false), &json!(null)));
    let (_, again) = app.post("/contacts/check", Some(&token), body).await;
    assert_eq!(again["data"], answer["data"], "the same answer again");

    let too_many: Vec<String> = (0..501).map(|i| format!("62844{i:07}")).collect();
    for (phones, field) in
        [(json!(too_many), "phones"), (json!([]), "phones"), (json!(["12ab", "6282200000001"]), "phones[0]")]
    {
        let (status, body) =
            app.post("/contacts/check", Some(&token), json!({"session": "s1", "phones": phones})).await;
        assert_eq!((status, &body["error"]["field"]), (StatusCode::UNPROCESSABLE_ENTITY, &json!(field)), "{body}");
    }
    app.post("/session/create", Some(&token), json!({"sessionId": "s2"})).await;
    let (status, body) = app.post("/contacts/check", Some(&token), json!({"session": "s2", "phones": [on[0]]})).await;
    assert_eq!(status, StatusCode::CONFLICT, "an unlinked session cannot ask: {body}");
    let (status, _) = app.post("/contacts/check", Some(&token), json!({"session": "nope", "phones": [on[0]]})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// A contact's profile through the session's device: about, push name, LID
/// and profile picture, the picture fetched once and served from disk until
/// the contact changes it.
async fn a_profile_and_its_picture_are_fetched_once(db: TestDb) {
    let app = TestApp::spawn_with(db, no_limits).await;
    let token = app.admin_token.clone();
    app.linked_session(&token, "s1", SENDER).await;
    let (who, plain) = ("628222000032", "628222000033");
    app.sim.add_contacts(&[who.to_owned(), plain.to_owned()]);
    let first_picture: Vec<u8> = b"\xff\xd8\xff\xe0 first picture".to_vec();
    app.sim.set_profile(who, Some("Teknisi FTTH Cibubur".into()), Some(first_picture.clone()));
    let hello = app.sim.inbound(who, SENDER, "Halo", "Budi").await.unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let (_, got) = app.get("/message/received?session=s1", Some(&token)).await;
        if got["data"].as_array().unwrap().iter().any(|m| m["message_id"] == hello.as_str()) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{got}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    let path = format!("/contacts/+{who}?session=s1");
    let (status, body) = app.get(&path, Some(&token)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let view = &body["data"];
    assert_eq!((&view["phone"], &view["registered"]), (&json!(who), &json!(true)), "{view}");
    assert_eq!((&view["about"], &view["pushName"]), (&json!("Teknisi FTTH Cibubur"), &json!("Budi")));
    assert_eq!(view["jid"], format!("{who}@s.whatsapp.net"));
    assert!(view["lid"].as_str().is_some_and(|l| l.ends_with("@lid")), "{view}");
    let url = view["picture"]["url"].as_str().expect("a picture").to_owned();
    let id = view["picture"]["id"].clone();
    assert_eq!(app.sim.picture_asks(who), 1);
    let fetch = |url: String| {
        let request = app.client.get(format!("{}{url}", app.address)).bearer_auth(&token);
        async move { request.send().await.unwrap() }
    };
    let served = fetch(url.clone()).await;
    assert_eq!(served.status(), StatusCode::OK);
    assert_eq!(served.headers()["content-type"], "image/jpeg");
    assert_eq!(served.bytes().await.unwrap().to_vec(), first_picture);

    let (_, again) = app.get(&path, Some(&token)).await;
    assert_eq!(again["data"]["picture"]["id"], id, "{again}");
    assert_eq!(fetch(url.clone()).await.bytes().await.unwrap().to_vec(), first_picture);
    assert_eq!(app.sim.picture_asks(who), 1, "the second ask is served from disk");

    let second_picture: Vec<u8> = b"\xff\xd8\xff\xe0 second picture".to_vec();
    app.sim.set_profile(who, None, Some(second_picture.clone()));
    let (_, changed) = app.get(&path, Some(&token)).await;
    assert_ne!(changed["data"]["picture"]["id"], id, "a new picture, a new id: {changed}");
    assert_eq!(app.sim.picture_asks(who), 2, "a changed picture is fetched again");
    assert_eq!(fetch(url).await.bytes().await.unwrap().to_vec(), second_picture);

    let (_, none) = app.get(&format!("/contacts/{plain}?session=s1"), Some(&token)).await;
    assert_eq!((&none["data"]["registered"], &none["data"]["picture"]), (&json!(true), &json!(null)), "{none}");
    assert_eq!(fetch(format!("/contacts/{plain}/picture?session=s1")).await.status(), StatusCode::NOT_FOUND);
    let (_, off) = app.get("/contacts/628990000032?session=s1", Some(&token)).await;
    assert_eq!((&off["data"]["registered"], &off["data"]["jid"]), (&json!(false), &json!(null)), "{off}");

    let (status, body) = app.get("/contacts/12ab?session=s1", Some(&token)).await;
    assert_eq!((status, &body["error"]["field"]), (StatusCode::UNPROCESSABLE_ENTITY, &json!("phone")), "{body}");
    let (status, _) = app.get(&format!("/contacts/{who}?session=nope"), Some(&token)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app.get(&format!("/contacts/{who}"), Some(&token)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "the session is needed");
}

/// Opening a chat subscribes to the contact's presence: its typing is then
/// told live (`presence.update`), and not before.
async fn a_contacts_typing_is_told_in_an_open_chat(db: TestDb) {
    let app = TestApp::spawn_with(db, no_limits).await;
    let token = app.admin_token.clone();
    app.linked_session(&token, "s1", SENDER).await;
    let who = "628222000034";
    let hello = app.sim.inbound(who, SENDER, "Halo", "Budi").await.unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let chat = loop {
        let (_, got) = app.get("/message/received?session=s1", Some(&token)).await;
        if let Some(m) = got["data"].as_array().unwrap().iter().find(|m| m["message_id"] == hello.as_str()) {
            break m["chat_id"].as_i64().unwrap();
        }
        assert!(std::time::Instant::now() < deadline, "{got}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(app.sim.contact_types(who, SENDER, "composing").unwrap(), 0, "nobody asked for it yet");
    let mut live = crate::helpers::EventStream::open(&app, &token).await;
    let (status, _) = app.get(&format!("/chats/{chat}"), Some(&token)).await;
    assert_eq!(status, StatusCode::OK);
    while !app.sim.subscriptions(SENDER).contains(&who.to_owned()) {
        assert!(std::time::Instant::now() < deadline + std::time::Duration::from_secs(10), "never subscribed");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    for state in ["composing", "recording", "paused"] {
        assert_eq!(app.sim.contact_types(who, SENDER, state).unwrap(), 1);
        let heard = live.until(10, |kind, data| kind == "presence.update" && data["state"] == state).await;
        let (_, data) = heard.last().unwrap();
        assert_eq!((&data["chat_id"], &data["contact"]), (&json!(chat), &json!(who)), "{data}");
    }
}

/// A contact WhatsApp first addresses by LID alone, and later by number, is
/// one chat, named by its number in the received list, events and webhooks.
async fn a_contact_known_first_by_lid_is_one_chat(db: TestDb) {
    let app = TestApp::spawn_with(db, no_limits).await;
    let token = app.admin_token.clone();
    app.linked_session(&token, "s1", SENDER).await;
    let who = "628222000035";
    app.sim.add_contacts(&[who.to_owned()]);
    let mut live = crate::helpers::EventStream::open(&app, &token).await;
    let by_lid = wa_sim::messages::Write {
        from: who.into(),
        to: SENDER.into(),
        text: Some("lewat LID".into()),
        push_name: Some("Budi".into()),
        by_lid: true,
        ..Default::default()
    };
    let first = app.sim.deliver(&by_lid).await.unwrap();
    let heard = live.until(20, |kind, data| kind == "message.received" && data["message_id"] == first.as_str()).await;
    let second = app.sim.inbound(who, SENDER, "lewat nomor", "Budi").await.unwrap();
    let mut heard_more =
        live.until(20, |kind, data| kind == "message.received" && data["message_id"] == second.as_str()).await;
    let mut all = heard;
    all.append(&mut heard_more);
    let received: Vec<&serde_json::Value> =
        all.iter().filter(|(k, _)| k == "message.received").map(|(_, d)| d).collect();
    assert_eq!(received.len(), 2, "{received:?}");
    for data in &received {
        assert_eq!(
            (&data["chat"], &data["sender"]),
            (&json!(format!("{who}@s.whatsapp.net")), &json!(format!("{who}@s.whatsapp.net"))),
            "{data}"
        );
    }
    assert_eq!(received[0]["chat_id"], received[1]["chat_id"], "one chat");
    let (_, chats) = app.get("/chats/", Some(&token)).await;
    let chats = chats.as_array().unwrap();
    assert_eq!(chats.len(), 1, "{chats:?}");
    assert_eq!(chats[0]["phone"], who);
    let (_, detail) = app.get(&format!("/chats/{}", chats[0]["id"]), Some(&token)).await;
    let texts: Vec<&str> = detail["messages"].as_array().unwrap().iter().map(|m| m["text"].as_str().unwrap()).collect();
    assert_eq!(texts, ["lewat LID", "lewat nomor"]);
}

db_tests!(
    a_contact_known_first_by_lid_is_one_chat,
    numbers_are_checked_in_one_go,
    a_profile_and_its_picture_are_fetched_once,
    a_contacts_typing_is_told_in_an_open_chat
);
