//! Every kind of message beyond text, images and documents, through HTTP and
//! wa-sim: video, audio, voice notes, stickers, locations, contact cards and
//! polls each reach the contact once, as that kind, and bad ones are refused
//! naming the field before anything is queued.

use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::Digest;

use crate::{
    db_tests,
    helpers::{TestApp, TestDb, error_code, no_limits, serve_files},
};

const SENDER: &str = "628111000001";
const CONTACT: &str = "628222000002";

fn sha(bytes: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(bytes))
}

fn filler(magic: &[u8], len: usize) -> Vec<u8> {
    let mut bytes = magic.to_vec();
    bytes.extend((0..len).map(|i| (i * 13 % 251) as u8));
    bytes
}

fn mp4(len: usize) -> Vec<u8> {
    filler(b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom", len)
}

fn webp(len: usize) -> Vec<u8> {
    filler(b"RIFF\x00\x10\x00\x00WEBPVP8 ", len)
}

fn mp3(len: usize) -> Vec<u8> {
    filler(b"ID3\x04\x00\x00\x00\x00\x00\x00", len)
}

/// A voice note of three seconds: quiet, loud, quiet.
fn opus() -> Vec<u8> {
    let mut packets = vec![4usize; 50];
    packets.extend(vec![160usize; 50]);
    packets.extend(vec![40usize; 50]);
    wagate::queue::voice::sample(&packets)
}

async fn upload(app: &TestApp, token: &str, path: &str, form: reqwest::multipart::Form) -> (StatusCode, Value) {
    let resp =
        app.client.post(format!("{}{path}", app.address)).bearer_auth(token).multipart(form).send().await.unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap())
}

fn accepted(status: StatusCode, body: &Value) -> String {
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    body["data"]["id"].as_str().unwrap().to_owned()
}

async fn every_kind_arrives_as_that_kind(db: TestDb) {
    let app = TestApp::spawn_with(db, |c| {
        no_limits(c);
        c.media.allow_private_addresses = true; // the test's file server is on loopback
        c.media.max_sticker_bytes = 64 * 1024;
    })
    .await;
    let token = app.admin_token.clone();
    app.linked_session(&token, "s1", SENDER).await;
    app.sim.add_contacts(&[CONTACT.to_owned()]);
    let (video, clip, audio, voice, sticker) = (mp4(300_000), mp4(20_000), mp3(80_000), opus(), webp(30_000));
    let files = serve_files(vec![
        ("/v/promo.mp4", "video/mp4", video.clone()),
        ("/a/lagu.mp3", "audio/mpeg", audio.clone()),
        ("/a/note.ogg", "audio/ogg", voice.clone()),
        ("/a/note.mp3", "audio/mpeg", mp3(2_000)),
        ("/s/big.webp", "image/webp", webp(100_000)),
    ])
    .await;
    let url = |path: &str| format!("http://{files}{path}");
    let mut sent = Vec::new();

    let (status, body) = app
        .post(
            "/message/send-video",
            Some(&token),
            json!({"session": "s1", "to": CONTACT, "video": url("/v/promo.mp4"), "caption": "Cara reset modem"}),
        )
        .await;
    sent.push((accepted(status, &body), "video"));
    assert_eq!(body["data"]["mimetype"], "video/mp4");
    // A GIF-style clip, uploaded.
    let form = reqwest::multipart::Form::new()
        .text("session", "s1")
        .text("to", CONTACT)
        .text("gif", "true")
        .part("video", reqwest::multipart::Part::bytes(clip.clone()).file_name("clip.mp4"));
    let (status, body) = upload(&app, &token, "/message/send-video", form).await;
    sent.push((accepted(status, &body), "gif"));
    assert_eq!(body["data"]["extra"], json!({"gif": true}));
    let (status, body) = app
        .post("/message/send-audio", Some(&token), json!({"session": "s1", "to": CONTACT, "audio": url("/a/lagu.mp3")}))
        .await;
    sent.push((accepted(status, &body), "audio"));
    assert_eq!(body["data"]["mimetype"], "audio/mpeg");
    let (status, body) = app
        .post("/message/send-voice", Some(&token), json!({"session": "s1", "to": CONTACT, "voice": url("/a/note.ogg")}))
        .await;
    sent.push((accepted(status, &body), "voice"));
    assert_eq!(body["data"]["mimetype"], "audio/ogg; codecs=opus");
    assert_eq!(body["data"]["extra"]["seconds"], 3, "{body}");
    let form = reqwest::multipart::Form::new()
        .text("session", "s1")
        .text("to", CONTACT)
        .part("sticker", reqwest::multipart::Part::bytes(sticker.clone()).file_name("kucing.webp"));
    let (status, body) = upload(&app, &token, "/message/send-sticker", form).await;
    sent.push((accepted(status, &body), "sticker"));
    let (status, body) = app
        .post(
            "/message/send-location",
            Some(&token),
            json!({"session": "s1", "to": CONTACT, "latitude": -6.2088, "longitude": 106.8456,
                   "name": "Kantor Pusat", "address": "Jl. Sudirman 1, Jakarta"}),
        )
        .await;
    sent.push((accepted(status, &body), "location"));
    assert_eq!(body["data"]["text"], "Kantor Pusat");
    let (status, body) = app
        .post(
            "/message/send-contact",
            Some(&token),
            json!({"session": "s1", "to": CONTACT, "contacts": [
                {"name": "Teknisi Budi\nTEL:+1999;x", "phones": ["0812-3456-7890", "+62 21 555 0100"]},
                {"vcard": "BEGIN:VCARD\nVERSION:3.0\nFN:CS Siti\nTEL;type=CELL;waid=6281100000001:+62 811 0000 0001\nEND:VCARD"},
            ]}),
        )
        .await;
    sent.push((accepted(status, &body), "contact"));
    assert_eq!(body["data"]["extra"]["contacts"][0]["phones"], json!(["6281234567890", "62215550100"]));
    let (status, body) = app
        .post(
            "/message/send-poll",
            Some(&token),
            json!({"session": "s1", "to": CONTACT, "question": "Kapan teknisi boleh datang?",
                   "options": ["Pagi", "Siang", "Sore"]}),
        )
        .await;
    sent.push((accepted(status, &body), "poll"));
    assert_eq!(
        body["data"]["extra"],
        json!({"question": "Kapan teknisi boleh datang?",
        "options": ["Pagi", "Siang", "Sore"], "selectable": 1})
    );
    assert!(body["data"].get("secret").is_none(), "the poll's secret is never shown: {body}");

    for (id, _) in &sent {
        app.wait_message(&token, id, "sent", 30).await;
    }
    let got = app.sim.received(Some(CONTACT));
    assert_eq!(got.len(), sent.len(), "each arrives exactly once: {got:?}");
    let find = |id: &str| got.iter().find(|r| r.id == id).unwrap_or_else(|| panic!("{id} arrived"));
    let by = |kind: &str| find(&sent.iter().find(|(_, k)| *k == kind).unwrap().0);

    let v = by("video");
    assert_eq!((v.kind.as_str(), v.sha256.as_deref()), ("video", Some(sha(&video).as_str())));
    assert_eq!((v.caption.as_deref(), &v.details["gif"]), (Some("Cara reset modem"), &json!(false)));
    let g = by("gif");
    assert_eq!(
        (g.kind.as_str(), g.sha256.as_deref(), &g.details["gif"]),
        ("video", Some(sha(&clip).as_str()), &json!(true))
    );
    let a = by("audio");
    assert_eq!((a.kind.as_str(), a.sha256.as_deref()), ("audio", Some(sha(&audio).as_str())));
    let n = by("voice");
    assert_eq!((n.kind.as_str(), n.sha256.as_deref()), ("voice", Some(sha(&voice).as_str())));
    assert_eq!(n.details["seconds"], 3);
    let bars: Vec<u64> = n.details["waveform"].as_array().unwrap().iter().map(|b| b.as_u64().unwrap()).collect();
    assert_eq!(bars.len(), 64);
    assert!(bars[0] < 10 && bars[32] == 100 && bars[63] == 25, "quiet, loud, quiet: {bars:?}");
    let s = by("sticker");
    assert_eq!(
        (s.kind.as_str(), s.sha256.as_deref(), s.mimetype.as_deref()),
        ("sticker", Some(sha(&sticker).as_str()), Some("image/webp"))
    );
    let l = by("location");
    assert_eq!(l.kind, "location");
    assert_eq!(
        (&l.details["latitude"], &l.details["longitude"], &l.details["name"], &l.details["address"]),
        (&json!(-6.2088), &json!(106.8456), &json!("Kantor Pusat"), &json!("Jl. Sudirman 1, Jakarta"))
    );
    let c = by("contact");
    assert_eq!(c.kind, "contact");
    let cards = c.details["contacts"].as_array().unwrap();
    assert_eq!(cards.len(), 2);
    assert_eq!(cards[0]["name"], "Teknisi Budi\nTEL:+1999;x");
    assert_eq!(cards[0]["phones"], json!(["6281234567890", "62215550100"]), "the name added no number");
    assert_eq!(cards[0]["fnLines"], 1, "{}", cards[0]["vcard"]);
    assert_eq!((&cards[1]["name"], &cards[1]["phones"]), (&json!("CS Siti"), &json!(["6281100000001"])));
    let p = by("poll");
    assert_eq!(p.kind, "poll");
    assert_eq!(p.details["options"], json!(["Pagi", "Siang", "Sore"]));
    assert_eq!((&p.details["selectable"], &p.details["secret"]), (&json!(1), &json!(true)));

    // Refused, naming the field, before anything is queued.
    let cases: Vec<(&str, Value, &str, &str)> = vec![
        ("/message/send-voice", json!({"voice": url("/a/note.mp3")}), "voice", "this file is MP3 audio"),
        ("/message/send-voice", json!({"voice": url("/v/promo.mp4")}), "voice", "Ogg/Opus"),
        ("/message/send-video", json!({"video": url("/a/lagu.mp3")}), "video", "MP4"),
        ("/message/send-sticker", json!({"sticker": url("/s/big.webp")}), "sticker", "65536"),
        ("/message/send-audio", json!({"audio": url("/v/promo.mp4"), "caption": "x"}), "caption", "caption"),
        ("/message/send-location", json!({"latitude": 91, "longitude": 0}), "latitude", "-90 to 90"),
        ("/message/send-location", json!({"latitude": 0, "longitude": 180.5}), "longitude", "-180 to 180"),
        ("/message/send-poll", json!({"question": "?", "options": ["a"]}), "options", "2 to 12"),
        (
            "/message/send-poll",
            json!({"question": "?", "options": (0..13).map(|i| i.to_string()).collect::<Vec<_>>()}),
            "options",
            "not 13",
        ),
        ("/message/send-poll", json!({"question": "?", "options": ["Ya", "ya"]}), "options", "twice"),
        (
            "/message/send-poll",
            json!({"question": "?", "options": ["a", "b"], "selectable": 3}),
            "selectable",
            "1 to 2",
        ),
        ("/message/send-contact", json!({"contacts": []}), "contacts", "1 to 20"),
        (
            "/message/send-contact",
            json!({"contacts": [{"name": "A", "phones": ["12ab"]}]}),
            "contacts[0].phones[0]",
            "",
        ),
        ("/message/send-contact", json!({"contacts": [{"name": "A"}]}), "contacts[0].phones", "required"),
        ("/message/send-contact", json!({"contacts": [{"vcard": "FN:A"}]}), "contacts[0].vcard", "BEGIN:VCARD"),
    ];
    // A caption where WhatsApp shows none, in a form.
    let form = reqwest::multipart::Form::new()
        .text("session", "s1")
        .text("to", CONTACT)
        .text("caption", "x")
        .part("voice", reqwest::multipart::Part::bytes(voice.clone()).file_name("note.ogg"));
    let (status, answer) = upload(&app, &token, "/message/send-voice", form).await;
    assert_eq!((status, &answer["error"]["field"]), (StatusCode::UNPROCESSABLE_ENTITY, &json!("caption")), "{answer}");
    for (path, mut body, field, says) in cases {
        body["session"] = "s1".into();
        body["to"] = CONTACT.into();
        let (status, answer) = app.post(path, Some(&token), body.clone()).await;
        assert!(status.is_client_error(), "{path} {body}: {status} {answer}");
        assert_eq!(answer["error"]["field"], field, "{path} {body}: {answer}");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.contains(says), "{path} {body}: {message}");
        assert!(matches!(error_code(&answer), "validation_failed" | "media_too_large"), "{answer}");
    }
    let (_, list) = app.get("/message/list?session=s1", Some(&token)).await;
    assert_eq!(list["total"], sent.len(), "nothing refused was queued: {list}");
}

/// A reply (`quoted`) to a received and to a sent message shows its quote
/// on the contact's phone; a message of no chat or of another chat is refused.
async fn replies_show_what_they_quote(db: TestDb) {
    let app = TestApp::spawn_with(db, no_limits).await;
    let token = app.admin_token.clone();
    app.linked_session(&token, "s1", SENDER).await;
    let other = "628333000003";
    app.sim.add_contacts(&[CONTACT.to_owned(), other.to_owned()]);
    let asked = app.sim.inbound(CONTACT, SENDER, "Internet mati sejak pagi", "Budi").await.unwrap();
    let elsewhere = app.sim.inbound(other, SENDER, "Halo", "Sari").await.unwrap();
    for id in [&asked, &elsewhere] {
        wait_received(&app, &token, id).await;
    }
    let (status, body) = app
        .post(
            "/message/send-text",
            Some(&token),
            json!({"session": "s1", "to": CONTACT, "text": "Teknisi menuju lokasi", "quoted": asked}),
        )
        .await;
    let answer = accepted(status, &body);
    assert_eq!(body["data"]["quotedId"], asked.as_str());
    let (status, body) = app
        .post(
            "/message/send-location",
            Some(&token),
            json!({"session": "s1", "to": CONTACT, "latitude": -6.2, "longitude": 106.8, "name": "Posisi teknisi",
                   "quoted": answer}),
        )
        .await;
    let place = accepted(status, &body);
    app.wait_message(&token, &answer, "sent", 30).await;
    app.wait_message(&token, &place, "sent", 30).await;
    let got = app.sim.received(Some(CONTACT));
    let reply = got.iter().find(|r| r.id == answer).unwrap();
    assert_eq!(reply.text.as_deref(), Some("Teknisi menuju lokasi"));
    assert_eq!(reply.details["quoted"]["id"], asked.as_str());
    assert_eq!(reply.details["quoted"]["text"], "Internet mati sejak pagi");
    assert!(reply.details["quoted"]["participant"].as_str().unwrap().starts_with(CONTACT), "{:?}", reply.details);
    let located = got.iter().find(|r| r.id == place).unwrap();
    assert_eq!(located.details["quoted"]["id"], answer.as_str());
    assert_eq!(located.details["quoted"]["text"], "Teknisi menuju lokasi");
    assert_eq!(located.details["quoted"]["participant"], format!("{SENDER}@s.whatsapp.net"));

    // No such message; a message of another chat.
    for quoted in ["3EB0000000000000000000", elsewhere.as_str()] {
        let (status, body) = app
            .post(
                "/message/send-text",
                Some(&token),
                json!({"session": "s1", "to": CONTACT, "text": "x", "quoted": quoted}),
            )
            .await;
        assert_eq!((status, &body["error"]["field"]), (StatusCode::UNPROCESSABLE_ENTITY, &json!("quoted")), "{body}");
    }
}

async fn wait_received(app: &TestApp, token: &str, id: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let (_, got) = app.get("/message/received?session=s1", Some(token)).await;
        if got["data"].as_array().unwrap().iter().any(|m| m["message_id"] == id) {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "{id} was not received: {got}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Reactions, edits and deletions by the gateway are applied on the
/// contact's phone; deleting a message still queued means it never goes;
/// what WhatsApp does not allow is refused.
async fn reactions_edits_and_deletions_reach_the_phone(db: TestDb) {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};
    use wagate::db::entities::message_events;

    let app = TestApp::spawn_with(db, no_limits).await;
    let token = app.admin_token.clone();
    app.linked_session(&token, "s1", SENDER).await;
    app.sim.add_contacts(&[CONTACT.to_owned()]);
    let theirs = app.sim.inbound(CONTACT, SENDER, "Sudah bayar, terima kasih", "Budi").await.unwrap();
    wait_received(&app, &token, &theirs).await;

    // A reaction, then another replacing it, then taking it off.
    let react = |emoji: &str| json!({"session": "s1", "to": CONTACT, "messageId": theirs, "emoji": emoji});
    let (status, body) = app.post("/message/react", Some(&token), react("👍")).await;
    let first = accepted(status, &body);
    assert_eq!((&body["data"]["type"], &body["data"]["extra"]["fromMe"]), (&json!("reaction"), &json!(false)));
    app.wait_message(&token, &first, "sent", 30).await;
    assert_eq!(app.sim.reactions(CONTACT), [(theirs.clone(), SENDER.to_owned(), "👍".to_owned())]);
    let (status, body) = app.post("/message/react", Some(&token), react("🙏🏽")).await;
    app.wait_message(&token, &accepted(status, &body), "sent", 30).await;
    assert_eq!(app.sim.reactions(CONTACT), [(theirs.clone(), SENDER.to_owned(), "🙏🏽".to_owned())]);
    let (status, body) = app.post("/message/react", Some(&token), react("")).await;
    app.wait_message(&token, &accepted(status, &body), "sent", 30).await;
    assert!(app.sim.reactions(CONTACT).is_empty(), "{:?}", app.sim.reactions(CONTACT));
    for (emoji, field_status) in [("👍👍", StatusCode::UNPROCESSABLE_ENTITY), ("ok", StatusCode::UNPROCESSABLE_ENTITY)]
    {
        let (status, body) = app.post("/message/react", Some(&token), react(emoji)).await;
        assert_eq!((status, &body["error"]["field"]), (field_status, &json!("emoji")), "{emoji}: {body}");
    }
    let mut unknown = react("👍");
    unknown["messageId"] = "3EB0000000000000000000".into();
    let (status, body) = app.post("/message/react", Some(&token), unknown).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");

    // An edit: the phone shows the new text, the gateway the new text and the old.
    let ours = app.send_text(&token, "s1", CONTACT, "Teknisi datang jam 10.00").await;
    app.wait_message(&token, &ours, "sent", 30).await;
    let (status, body) =
        app.post(&format!("/message/{ours}/edit"), Some(&token), json!({"text": "Teknisi datang jam 13.00"})).await;
    let edit = accepted(status, &body);
    assert_eq!(body["data"]["type"], "edit");
    app.wait_message(&token, &edit, "sent", 30).await;
    let shown = app.sim.shown(Some(CONTACT));
    let on_phone = shown.iter().find(|r| r.id == ours).unwrap();
    assert_eq!(on_phone.text.as_deref(), Some("Teknisi datang jam 13.00"));
    assert_eq!(on_phone.edits, ["Teknisi datang jam 10.00"]);
    let (_, view) = app.get(&format!("/message/{ours}"), Some(&token)).await;
    assert_eq!(view["data"]["text"], "Teknisi datang jam 13.00");
    assert_eq!(view["data"]["extra"]["edits"][0]["text"], "Teknisi datang jam 10.00");
    // What cannot be edited.
    let (status, body) = app.post(&format!("/message/{theirs}/edit"), Some(&token), json!({"text": "x"})).await;
    assert_eq!((status, &body["error"]["field"]), (StatusCode::UNPROCESSABLE_ENTITY, &json!("id")), "{body}");
    let (status, body) = app.post(&format!("/message/{ours}/edit"), Some(&token), json!({"text": " "})).await;
    assert_eq!((status, &body["error"]["field"]), (StatusCode::UNPROCESSABLE_ENTITY, &json!("text")), "{body}");
    let sixteen_minutes_ago = wagate::model::now_ms() - 16 * 60 * 1000;
    message_events::Entity::update_many()
        .col_expr(message_events::Column::At, Expr::value(sixteen_minutes_ago))
        .filter(message_events::Column::MessageId.eq(ours.clone()))
        .exec(&app.db)
        .await
        .unwrap();
    let (status, body) = app.post(&format!("/message/{ours}/edit"), Some(&token), json!({"text": "jam 14.00"})).await;
    assert_eq!((status, error_code(&body)), (StatusCode::CONFLICT, "window_passed"), "{body}");

    // A deletion for everyone: the phone shows it deleted.
    let (status, body) = app.call(reqwest::Method::DELETE, &format!("/message/{ours}"), Some(&token), None).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["data"]["action"], "revoking");
    let revoke = body["data"]["revoke"]["id"].as_str().unwrap().to_owned();
    app.wait_message(&token, &revoke, "sent", 30).await;
    let on_phone = app.sim.shown(Some(CONTACT)).into_iter().find(|r| r.id == ours).unwrap();
    assert!(on_phone.deleted && on_phone.text.is_none(), "{on_phone:?}");
    let (status, body) = app.call(reqwest::Method::DELETE, &format!("/message/{ours}"), Some(&token), None).await;
    assert_eq!((status, error_code(&body)), (StatusCode::CONFLICT, "deleted"), "{body}");
    let (status, body) = app.call(reqwest::Method::DELETE, &format!("/message/{theirs}"), Some(&token), None).await;
    assert_eq!((status, &body["error"]["field"]), (StatusCode::UNPROCESSABLE_ENTITY, &json!("id")), "{body}");
    let (status, _) = app.call(reqwest::Method::DELETE, "/message/3EB0000000000000000000", Some(&token), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // A message still waiting (the limit holds it) is taken out of the queue and never sent.
    let (status, body) =
        app.call(reqwest::Method::PUT, "/session/s1/limits", Some(&token), Some(json!({"perMinute": 1}))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // One send in the minute (the pacer remembers sends only as far back as
    // its limits need: none before this one), then the next one must wait.
    let filler = app.send_text(&token, "s1", CONTACT, "Pesan pertama menit ini").await;
    app.wait_message(&token, &filler, "sent", 30).await;
    let waiting = app.send_text(&token, "s1", CONTACT, "Pesan yang dibatalkan").await;
    let (status, body) = app.call(reqwest::Method::DELETE, &format!("/message/{waiting}"), Some(&token), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!((&body["data"]["action"], &body["data"]["message"]["status"]), (&json!("cancelled"), &json!("failed")));
    app.call(reqwest::Method::PUT, "/session/s1/limits", Some(&token), Some(json!({}))).await;
    let after = app.send_text(&token, "s1", CONTACT, "Pesan berikutnya").await;
    app.wait_message(&token, &after, "sent", 30).await;
    assert!(app.sim.received(Some(CONTACT)).iter().all(|r| r.id != waiting), "a deleted message reached WhatsApp");
    let (_, view) = app.get(&format!("/message/{waiting}"), Some(&token)).await;
    assert_eq!(
        (&view["data"]["status"], &view["data"]["reason"]),
        (&json!("failed"), &json!("deleted before it was sent"))
    );
}

fn contact_writes(kind: &str, quoted: &str, text: Option<&str>, options: Option<&[&str]>) -> wa_sim::messages::Write {
    wa_sim::messages::Write {
        from: CONTACT.into(),
        to: SENDER.into(),
        kind: Some(kind.into()),
        quoted: Some(quoted.into()),
        text: text.map(str::to_owned),
        options: options.map(|o| o.iter().map(|s| s.to_string()).collect()),
        ..Default::default()
    }
}

/// A contact reacts, edits, deletes and votes: each is applied to the
/// message it names (never an entry of its own), the tally counts the voter
/// once (a changed vote moves), and each is told live and to a webhook
/// receiver that verifies every event's signature.
async fn a_contacts_changes_are_applied_and_told(db: TestDb) {
    let app = TestApp::spawn_with(db, |c| {
        no_limits(c);
        c.webhook.allow_ranges = vec!["127.0.0.0/8".into()];
    })
    .await;
    let token = app.admin_token.clone();
    app.linked_session(&token, "s1", SENDER).await;
    app.sim.add_contacts(&[CONTACT.to_owned()]);
    let receiver = crate::webhooks::Receiver::start_at("127.0.0.1:0", 200).await;
    let (status, hook) = app.post("/webhooks", Some(&token), json!({"url": receiver.url})).await;
    assert_eq!(status, StatusCode::CREATED, "{hook}");
    let secret = hook["data"]["secret"].as_str().unwrap().to_owned();
    let mut live = crate::helpers::EventStream::open(&app, &token).await;

    let first = app.sim.inbound(CONTACT, SENDER, "Internet mati", "Budi").await.unwrap();
    let second = app.sim.inbound(CONTACT, SENDER, "salah kirim", "Budi").await.unwrap();
    wait_received(&app, &token, &second).await;
    let (status, body) = app
        .post(
            "/message/send-poll",
            Some(&token),
            json!({"session": "s1", "to": CONTACT, "question": "Jam kunjungan?", "options": ["Pagi", "Siang", "Sore"]}),
        )
        .await;
    let poll = accepted(status, &body);
    app.wait_message(&token, &poll, "sent", 30).await;

    let writes = [
        contact_writes("reaction", &poll, Some("👍"), None),
        contact_writes("edit", &first, Some("Internet mati total"), None),
        contact_writes("revoke", &second, None, None),
        contact_writes("vote", &poll, None, Some(&["Siang"])),
        contact_writes("vote", &poll, None, Some(&["Siang"])),
        contact_writes("vote", &poll, None, Some(&["Sore"])),
    ];
    for write in &writes {
        app.sim.deliver(write).await.unwrap();
    }
    let heard = live.until(30, |kind, data| kind == "poll.vote" && data["options"] == json!(["Sore"])).await;
    let of = |kind: &str| heard.iter().filter(|(k, _)| k == kind).map(|(_, d)| d.clone()).collect::<Vec<_>>();
    assert_eq!(of("message.reaction")[0]["emoji"], "👍");
    assert_eq!(of("message.reaction")[0]["message_id"], poll.as_str());
    assert_eq!(of("message.edited")[0]["text"], "Internet mati total");
    assert_eq!(of("message.edited")[0]["previous"], "Internet mati");
    assert_eq!(of("message.revoked")[0]["message_id"], second.as_str());
    let votes = of("poll.vote");
    assert_eq!(votes.len(), 3, "{votes:?}");
    assert_eq!(votes[2]["tally"], json!({"Pagi": 0, "Siang": 0, "Sore": 1}), "the changed vote moved");
    assert_eq!(votes[1]["tally"], json!({"Pagi": 0, "Siang": 1, "Sore": 0}), "a repeated vote counts once");
    for kind in ["message.reaction", "message.edited", "message.revoked", "poll.vote"] {
        let event = receiver.until(&secret, 30, |e| e["type"] == kind).await;
        assert_eq!(event["data"]["contact"], CONTACT, "{event}");
    }
    assert!(receiver.accepted(&secret).len() >= 6, "every event verified");

    let (_, view) = app.get(&format!("/message/{poll}"), Some(&token)).await;
    assert_eq!(view["data"]["extra"]["votes"], json!({CONTACT: ["Sore"]}));
    assert_eq!(view["data"]["extra"]["reactions"], json!({CONTACT: "👍"}));
    let (_, chats) = app.get("/chats/", Some(&token)).await;
    let chat = chats[0]["id"].as_i64().unwrap();
    let (_, detail) = app.get(&format!("/chats/{chat}"), Some(&token)).await;
    let entries = detail["messages"].as_array().unwrap();
    let kinds: Vec<&str> = entries.iter().map(|m| m["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["text", "text", "poll"], "changes make no entries of their own");
    assert_eq!(entries[2]["extra"]["tally"]["Sore"], 1);
    assert_eq!(
        (&entries[0]["text"], &entries[0]["extra"]["edits"][0]["text"]),
        (&json!("Internet mati total"), &json!("Internet mati"))
    );
    assert!(entries[1]["text"].is_null() && entries[1]["extra"]["deleted"].is_object(), "{}", entries[1]);
}

/// An agent's typing reaches the contact's phone: composing, recording, paused.
async fn typing_is_shown_to_the_contact(db: TestDb) {
    let app = TestApp::spawn_with(db, no_limits).await;
    let token = app.admin_token.clone();
    app.linked_session(&token, "s1", SENDER).await;
    let first = app.sim.inbound(CONTACT, SENDER, "Halo?", "Budi").await.unwrap();
    wait_received(&app, &token, &first).await;
    let (_, chats) = app.get("/chats/", Some(&token)).await;
    let chat = chats[0]["id"].as_i64().unwrap();
    for state in ["composing", "recording", "paused"] {
        let (status, body) = app.post(&format!("/chats/{chat}/typing"), Some(&token), json!({"state": state})).await;
        assert_eq!((status, &body["state"]), (StatusCode::OK, &json!(state)), "{body}");
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while app.sim.chatstates(CONTACT).len() < 3 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let shown: Vec<(String, String)> = app.sim.chatstates(CONTACT).into_iter().map(|c| (c.from, c.state)).collect();
    let want = ["composing", "recording", "paused"].map(|s| (SENDER.to_owned(), s.to_owned()));
    assert_eq!(shown, want);
    let (status, body) = app.post(&format!("/chats/{chat}/typing"), Some(&token), json!({"state": "dancing"})).await;
    assert_eq!((status, &body["error"]["field"]), (StatusCode::UNPROCESSABLE_ENTITY, &json!("state")), "{body}");
    let (status, _) = app.post("/chats/999999/typing", Some(&token), json!({"state": "paused"})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// With `typing` on, the contact sees "typing…" then its end before each
/// text, inside the pause between sends: the pause is no longer than before.
async fn typing_comes_before_each_text_inside_the_pause(db: TestDb) {
    let app = TestApp::spawn_with(db, |c| {
        no_limits(c);
        c.limits.delay_min_ms = 1_500;
        c.limits.delay_max_ms = 1_500;
    })
    .await;
    let token = app.admin_token.clone();
    app.linked_session(&token, "s1", SENDER).await;
    app.sim.add_contacts(&[CONTACT.to_owned()]);
    let (status, body) =
        app.call(reqwest::Method::PUT, "/session/s1/limits", Some(&token), Some(json!({"typing": true}))).await;
    assert_eq!((status, &body["data"]["limits"]["typing"]), (StatusCode::OK, &json!(true)), "{body}");
    let mut ids = Vec::new();
    for text in ["Gangguan di ODP-12 sedang ditangani", "Estimasi selesai jam 15.00", "Terima kasih"] {
        ids.push(app.send_text(&token, "s1", CONTACT, text).await);
    }
    for id in &ids {
        app.wait_message(&token, id, "sent", 30).await;
    }
    let received = app.sim.received(Some(CONTACT));
    let states = app.sim.chatstates(CONTACT);
    let kinds: Vec<&str> = states.iter().map(|c| c.state.as_str()).collect();
    assert_eq!(kinds, ["composing", "paused", "composing", "paused", "composing", "paused"]);
    for (i, id) in ids.iter().enumerate() {
        let arrived = received.iter().find(|r| r.id == *id).unwrap().at_ms;
        let (composing, paused) = (states[2 * i].at_ms, states[2 * i + 1].at_ms);
        assert!(composing <= paused && paused <= arrived, "typing, its end, then text {i}");
        if i > 0 {
            let before = received.iter().find(|r| r.id == ids[i - 1]).unwrap().at_ms;
            assert!(arrived - before >= 1_400, "the pause holds: {} ms", arrived - before);
            assert!(arrived - before < 3_000, "typing is not added to the pause: {} ms", arrived - before);
            assert!(arrived - composing >= 800, "typing shows for a while: {} ms", arrived - composing);
        }
    }
}

/// An agent does it all from the inbox: replies quoting a message, sends a
/// voice note and a location, reacts to the contact's message, edits and
/// deletes its own, each applied on the contact's phone.
async fn an_agent_uses_every_kind_from_the_inbox(db: TestDb) {
    let app = TestApp::spawn_with(db, no_limits).await;
    let token = app.admin_token.clone();
    app.linked_session(&token, "s1", SENDER).await;
    let asked = app.sim.inbound(CONTACT, SENDER, "Internet mati sejak pagi", "Budi").await.unwrap();
    wait_received(&app, &token, &asked).await;
    let (_, chats) = app.get("/chats/", Some(&token)).await;
    let chat = chats[0]["id"].as_i64().unwrap();
    let (_, detail) = app.get(&format!("/chats/{chat}"), Some(&token)).await;
    let theirs = detail["messages"][0]["id"].as_i64().unwrap();

    let reply = |body: Value| app.post("/chats/messages", Some(&token), body);
    let (status, text) = reply(json!({"chat_id": chat, "text": "Baik, kami cek", "quoted": asked})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{text}");
    assert_eq!((&text["quoted_id"], &text["sender"]), (&json!(asked), &json!("agent")), "{text}");
    let (status, place) =
        reply(json!({"chat_id": chat, "location": {"latitude": -6.2, "longitude": 106.8, "name": "Posisi teknisi"}}))
            .await;
    assert_eq!((status, &place["type"]), (StatusCode::ACCEPTED, &json!("location")), "{place}");
    let voice = opus();
    let part = reqwest::multipart::Part::bytes(voice.clone()).file_name("pesan.ogg").mime_str("audio/ogg").unwrap();
    let form = reqwest::multipart::Form::new()
        .text("chat_id", chat.to_string())
        .text("quoted", asked.clone())
        .part("voice", part);
    let (status, note) = upload(&app, &token, "/chats/messages", form).await;
    assert_eq!((status, &note["type"]), (StatusCode::ACCEPTED, &json!("voice")), "{note}");
    for id in [&text["message_id"], &place["message_id"], &note["message_id"]] {
        app.wait_message(&token, id.as_str().unwrap(), "sent", 30).await;
    }
    let got = app.sim.shown(Some(CONTACT));
    let shown = |id: &Value| got.iter().find(|r| r.id == id.as_str().unwrap()).cloned().unwrap();
    assert_eq!(shown(&text["message_id"]).details["quoted"]["id"], asked.as_str());
    assert_eq!(shown(&place["message_id"]).details["name"], "Posisi teknisi");
    let heard = shown(&note["message_id"]);
    assert_eq!((heard.kind.as_str(), heard.sha256.clone()), ("voice", Some(sha(&voice))));
    assert_eq!(heard.details["quoted"]["id"], asked.as_str());

    // React to the contact's message, edit and delete our own.
    let (status, body) =
        app.post(&format!("/chats/{chat}/messages/{theirs}/react"), Some(&token), json!({"emoji": "🙏"})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let (id, place_entry) = (text["id"].as_i64().unwrap(), place["id"].as_i64().unwrap());
    let (status, body) = app
        .post(
            &format!("/chats/{chat}/messages/{id}/edit"),
            Some(&token),
            json!({"text": "Baik, teknisi menuju lokasi"}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let (status, body) =
        app.call(reqwest::Method::DELETE, &format!("/chats/{chat}/messages/{place_entry}"), Some(&token), None).await;
    assert_eq!((status, &body["data"]["action"]), (StatusCode::ACCEPTED, &json!("revoking")), "{body}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let got = app.sim.shown(Some(CONTACT));
        let edited = got.iter().any(|r| {
            r.id == text["message_id"].as_str().unwrap() && r.text.as_deref() == Some("Baik, teknisi menuju lokasi")
        });
        let deleted = got.iter().any(|r| r.id == place["message_id"].as_str().unwrap() && r.deleted);
        let reacted = app.sim.reactions(CONTACT).contains(&(asked.clone(), SENDER.to_owned(), "🙏".to_owned()));
        if edited && deleted && reacted {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "edited {edited}, deleted {deleted}, reacted {reacted}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    // The session's own reactions are on the messages they react to, under its number.
    let (_, detail) = app.get(&format!("/chats/{chat}"), Some(&token)).await;
    let entry = detail["messages"].as_array().unwrap().iter().find(|m| m["id"] == theirs).unwrap().clone();
    assert_eq!(entry["extra"]["reactions"], json!({SENDER: "🙏"}), "{entry}");
    let note_entry = note["id"].as_i64().unwrap();
    let (status, body) =
        app.post(&format!("/chats/{chat}/messages/{note_entry}/react"), Some(&token), json!({"emoji": "👍"})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let (_, view) = app.get(&format!("/message/{}", note["message_id"].as_str().unwrap()), Some(&token)).await;
    assert_eq!(view["data"]["extra"]["reactions"], json!({SENDER: "👍"}), "{view}");

    // What is refused, naming the field.
    let (status, body) =
        app.post(&format!("/chats/{chat}/messages/{theirs}/edit"), Some(&token), json!({"text": "x"})).await;
    assert_eq!((status, &body["error"]["field"]), (StatusCode::UNPROCESSABLE_ENTITY, &json!("message_id")), "{body}");
    let (status, body) =
        app.post(&format!("/chats/{chat}/messages/{theirs}/react"), Some(&token), json!({"emoji": "👍👍"})).await;
    assert_eq!((status, &body["error"]["field"]), (StatusCode::UNPROCESSABLE_ENTITY, &json!("emoji")), "{body}");
    let (status, _) =
        app.post(&format!("/chats/{chat}/messages/999999/react"), Some(&token), json!({"emoji": "👍"})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    for (body, field) in [
        (json!({"chat_id": chat, "text": "x", "location": {"latitude": 1, "longitude": 2}}), "location"),
        (json!({"chat_id": chat, "location": {"latitude": 91, "longitude": 2}}), "location.latitude"),
        (json!({"chat_id": chat, "text": "x", "quoted": "3EB0000000000000000000"}), "quoted"),
        (json!({"chat_id": chat, "contacts": []}), "contacts"),
        (json!({"chat_id": chat, "location": {"latitude": 1, "longitude": 2}, "caption": "x"}), "caption"),
    ] {
        let (status, answer) = reply(body.clone()).await;
        assert_eq!(
            (status, &answer["error"]["field"]),
            (StatusCode::UNPROCESSABLE_ENTITY, &json!(field)),
            "{body} {answer}"
        );
    }
}

db_tests!(
    an_agent_uses_every_kind_from_the_inbox,
    typing_comes_before_each_text_inside_the_pause,
    typing_is_shown_to_the_contact,
    every_kind_arrives_as_that_kind,
    replies_show_what_they_quote,
    reactions_edits_and_deletions_reach_the_phone,
    a_contacts_changes_are_applied_and_told,
);
