//! `/groups/*` through wa-sim: a session makes and runs a group, and every
//! step shows in wa-sim's state and as `group.*` events; bad input is refused
//! naming its field; another account's sessions and groups are out of reach.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::{
    db_tests,
    helpers::{EventStream, TestApp, TestDb, error_code, no_limits},
};

const OWN: &str = "628111000051";
const A: &str = "628222000051";
const B: &str = "628222000052";
const C: &str = "628222000053";
const D: &str = "628222000054";
const NOT_ON_WHATSAPP: &str = "628999000059";

/// Reads events until a `group.*` one comes: `(kind, action, participants)`.
async fn next_group_event(events: &mut EventStream, jid: &str) -> (String, String, Vec<String>) {
    let seen = events.until(20, |kind, data| kind.starts_with("group.") && data["chat"] == jid).await;
    let (kind, data) = seen.last().unwrap();
    let extra = &data["extra"];
    let phones = extra["participants"]
        .as_array()
        .map(|p| p.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
        .unwrap_or_default();
    (kind.clone(), extra["action"].as_str().unwrap_or_default().to_owned(), phones)
}

fn phones(list: &[&str]) -> Vec<String> {
    list.iter().map(|p| p.to_string()).collect()
}

async fn a_group_is_run_over_http(db: TestDb) {
    let app = TestApp::spawn_with(db, no_limits).await;
    let token = app.admin_token.clone();
    app.linked_session(&token, "s1", OWN).await;
    app.sim.add_contacts(&phones(&[A, B, C, D]));
    let mut events = EventStream::open(&app, &token).await;

    let body = json!({"session": "s1", "subject": " Teknisi ODP-5 ", "participants": [A, format!("+{B}"), C, NOT_ON_WHATSAPP, A]});
    let (status, created) = app.post("/groups", Some(&token), body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let group = &created["data"];
    let jid = group["jid"].as_str().unwrap().to_owned();
    let id = jid.trim_end_matches("@g.us").to_owned();
    assert_eq!(
        (&group["subject"], &group["role"], &group["canSend"]),
        (&json!("Teknisi ODP-5"), &json!("superadmin"), &json!(true))
    );
    let results: Vec<(String, bool, Value)> = group["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["phone"].as_str().unwrap().to_owned(), r["ok"].as_bool().unwrap(), r["reason"].clone()))
        .collect();
    assert_eq!(
        results,
        [
            (A.to_owned(), true, Value::Null),
            (B.to_owned(), true, Value::Null),
            (C.to_owned(), true, Value::Null),
            (NOT_ON_WHATSAPP.to_owned(), false, json!("not_on_whatsapp"))
        ]
    );
    let sim_group = app.sim.group(&id).expect("wa-sim has the group");
    assert_eq!(sim_group.participants.keys().cloned().collect::<Vec<_>>(), phones(&[OWN, A, B, C]));
    assert_eq!(next_group_event(&mut events, &jid).await.1, "create");

    let (status, list) = app.get("/groups?session=s1", Some(&token)).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let listed = list["data"].as_array().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!((&listed[0]["jid"], &listed[0]["participantCount"]), (&json!(jid), &json!(4)));
    assert!(listed[0].get("participants").is_none(), "a list leaves participants out");
    let (status, read) = app.get(&format!("/groups/{id}?session=s1"), Some(&token)).await;
    assert_eq!(status, StatusCode::OK, "{read}");
    let roles: Vec<(String, String)> = read["data"]["participants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["phone"].as_str().unwrap().to_owned(), p["role"].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(
        roles,
        [
            (OWN.to_owned(), "superadmin".to_owned()),
            (A.to_owned(), "member".to_owned()),
            (B.to_owned(), "member".to_owned()),
            (C.to_owned(), "member".to_owned())
        ]
    );

    // Subject, description and settings in one request: four changes, four events.
    let body = json!({"session": "s1", "subject": "Teknisi ODP-12", "description": "Koordinasi gangguan", "announce": true, "locked": true});
    let (status, patched) = app.call(Method::PATCH, &format!("/groups/{jid}"), Some(&token), Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    let view = &patched["data"];
    assert_eq!(
        (&view["subject"], &view["description"], &view["announce"], &view["locked"]),
        (&json!("Teknisi ODP-12"), &json!("Koordinasi gangguan"), &json!(true), &json!(true))
    );
    let sim_group = app.sim.group(&id).unwrap();
    assert_eq!(
        (sim_group.subject.as_str(), sim_group.description.as_deref(), sim_group.announce, sim_group.locked),
        ("Teknisi ODP-12", Some("Koordinasi gangguan"), true, true)
    );
    for action in ["subject", "description", "announce", "locked"] {
        assert_eq!(next_group_event(&mut events, &jid).await, ("group.updated".into(), action.into(), vec![]));
    }

    let participants = |change: &str, list: &[&str]| json!({"session": "s1", change: list});
    let path = format!("/groups/{jid}/participants");
    let (status, answer) = app.post(&path, Some(&token), participants("promote", &[A])).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["data"]["results"], json!([{"phone": A, "ok": true}]));
    assert_eq!(app.sim.group(&id).unwrap().participants[A], "admin");
    assert_eq!(
        next_group_event(&mut events, &jid).await,
        ("group.participants".into(), "promote".into(), phones(&[A]))
    );
    app.post(&path, Some(&token), participants("demote", &[A])).await;
    assert_eq!(app.sim.group(&id).unwrap().participants[A], "member");
    assert_eq!(next_group_event(&mut events, &jid).await, ("group.participants".into(), "demote".into(), phones(&[A])));
    let (_, answer) = app.post(&path, Some(&token), participants("remove", &[C, D])).await;
    assert_eq!(
        answer["data"]["results"],
        json!([{"phone": C, "ok": true}, {"phone": D, "ok": false, "reason": "not_in_group"}])
    );
    assert!(!app.sim.group(&id).unwrap().participants.contains_key(C));
    assert_eq!(next_group_event(&mut events, &jid).await, ("group.participants".into(), "remove".into(), phones(&[C])));
    let (_, answer) = app.post(&path, Some(&token), participants("add", &[C, B, NOT_ON_WHATSAPP])).await;
    assert_eq!(
        answer["data"]["results"],
        json!([
            {"phone": C, "ok": true},
            {"phone": B, "ok": false, "reason": "already_in_group"},
            {"phone": NOT_ON_WHATSAPP, "ok": false, "reason": "not_on_whatsapp"}
        ])
    );
    assert_eq!(next_group_event(&mut events, &jid).await, ("group.participants".into(), "add".into(), phones(&[C])));

    // The invite link lets a fourth contact in; revoked, it lets no one.
    let (status, invite) = app.get(&format!("/groups/{jid}/invite?session=s1"), Some(&token)).await;
    assert_eq!(status, StatusCode::OK, "{invite}");
    let link = invite["data"]["link"].as_str().unwrap().to_owned();
    assert!(link.starts_with("https://chat.whatsapp.com/"), "{link}");
    assert_eq!(app.sim.join_group(D, &link).unwrap(), id);
    assert_eq!(next_group_event(&mut events, &jid).await, ("group.participants".into(), "add".into(), phones(&[D])));
    let (status, revoked) =
        app.post(&format!("/groups/{jid}/invite/revoke"), Some(&token), json!({"session": "s1"})).await;
    assert_eq!(status, StatusCode::OK, "{revoked}");
    assert_ne!(revoked["data"]["link"], json!(link));
    assert_eq!(next_group_event(&mut events, &jid).await.1, "invite_reset");
    app.post(&path, Some(&token), participants("remove", &[D])).await;
    assert_eq!(next_group_event(&mut events, &jid).await, ("group.participants".into(), "remove".into(), phones(&[D])));
    assert!(app.sim.join_group(D, &link).is_err(), "the revoked link still lets someone in");

    // Bad input names its field and reaches no one.
    let before = app.sim.group(&id).unwrap();
    let many: Vec<String> = (0..1025).map(|i| format!("62855{i:07}")).collect();
    let bad: Vec<(Method, String, Value, &str)> = vec![
        (Method::POST, "/groups".into(), json!({"session": "s1", "subject": "  ", "participants": [A]}), "subject"),
        (
            Method::POST,
            "/groups".into(),
            json!({"session": "s1", "subject": "x".repeat(101), "participants": [A]}),
            "subject",
        ),
        (
            Method::POST,
            "/groups".into(),
            json!({"session": "s1", "subject": "Besar", "participants": many}),
            "participants",
        ),
        (
            Method::POST,
            "/groups".into(),
            json!({"session": "s1", "subject": "Kosong", "participants": []}),
            "participants",
        ),
        (
            Method::POST,
            "/groups".into(),
            json!({"session": "s1", "subject": "x", "participants": ["12ab"]}),
            "participants[0]",
        ),
        (Method::PATCH, format!("/groups/{jid}"), json!({"session": "s1"}), "subject"),
        (Method::PATCH, "/groups/6281234567@s.whatsapp.net".into(), json!({"session": "s1", "subject": "x"}), "jid"),
        (Method::POST, path.clone(), json!({"session": "s1", "add": [A], "remove": [B]}), "add"),
        (Method::POST, path.clone(), json!({"session": "s1"}), "add"),
        (Method::POST, "/groups/join".into(), json!({"session": "s1", "invite": "https://evil.example/x"}), "invite"),
    ];
    for (method, path, body, field) in bad {
        let (status, resp) = app.call(method.clone(), &path, Some(&token), Some(body)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{method} {path}: {resp}");
        assert_eq!(resp["error"]["field"], field, "{method} {path}: {resp}");
    }
    let after = app.sim.group(&id).unwrap();
    assert_eq!((after.subject, after.participants), (before.subject, before.participants));
    assert_eq!(app.sim.groups().len(), 1, "bad input made a group");

    // Another account: its own linked session is not in the group, and it cannot use this one.
    let (_, stranger) = app.user_with_role("user").await;
    app.linked_session(&stranger, "x1", "628111000059").await;
    for (method, path, body) in [
        (Method::GET, format!("/groups/{jid}?session=x1"), None),
        (Method::GET, format!("/groups/{jid}/invite?session=x1"), None),
        (Method::PATCH, format!("/groups/{jid}"), Some(json!({"session": "x1", "subject": "diambil"}))),
        (Method::POST, path.clone(), Some(json!({"session": "x1", "add": ["628111000059"]}))),
        (Method::POST, format!("/groups/{jid}/leave"), Some(json!({"session": "x1"}))),
        (Method::GET, format!("/groups/{jid}?session=s1"), None),
        (Method::POST, path.clone(), Some(json!({"session": "s1", "remove": [A]}))),
    ] {
        let (status, resp) = app.call(method.clone(), &path, Some(&stranger), body).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}: {resp}");
        error_code(&resp);
    }
    let (_, theirs) = app.get("/groups?session=x1", Some(&stranger)).await;
    assert_eq!(theirs["data"], json!([]));
    assert_eq!(app.sim.group(&id).unwrap().subject, "Teknisi ODP-12");

    // Leaving: the group is gone for the session.
    let (status, left) = app.post(&format!("/groups/{jid}/leave"), Some(&token), json!({"session": "s1"})).await;
    assert_eq!(status, StatusCode::OK, "{left}");
    assert!(!app.sim.group(&id).unwrap().participants.contains_key(OWN));
    assert_eq!(
        next_group_event(&mut events, &jid).await,
        ("group.participants".into(), "remove".into(), phones(&[OWN]))
    );
    let (status, gone) = app.get(&format!("/groups/{jid}?session=s1"), Some(&token)).await;
    assert_eq!((status, error_code(&gone)), (StatusCode::NOT_FOUND, "not_found"));
    let (_, list) = app.get("/groups?session=s1", Some(&token)).await;
    assert_eq!(list["data"], json!([]));
}

/// A session joins a contact's group by its link; the join shows in wa-sim and
/// as an event; a revoked link is not found.
async fn a_session_joins_by_link(db: TestDb) {
    let app = TestApp::spawn_with(db, no_limits).await;
    let token = app.admin_token.clone();
    app.linked_session(&token, "s1", OWN).await;
    app.sim.add_contacts(&phones(&[A, B]));
    let group = app.sim.create_group(A, "Warga RT 5", &[B.to_owned()]).unwrap();
    let mut events = EventStream::open(&app, &token).await;
    let link = format!("https://chat.whatsapp.com/{}", group.invite);
    let (status, joined) = app.post("/groups/join", Some(&token), json!({"session": "s1", "invite": link})).await;
    assert_eq!(status, StatusCode::OK, "{joined}");
    assert_eq!(
        (&joined["data"]["jid"], &joined["data"]["role"]),
        (&json!(format!("{}@g.us", group.id)), &json!("member"))
    );
    assert!(app.sim.group(&group.id).unwrap().participants.contains_key(OWN));
    let jid = format!("{}@g.us", group.id);
    assert_eq!(next_group_event(&mut events, &jid).await, ("group.participants".into(), "add".into(), phones(&[OWN])));
    // A member that is no admin may not read the link or change settings.
    let (status, resp) = app.get(&format!("/groups/{jid}/invite?session=s1"), Some(&token)).await;
    assert_eq!((status, error_code(&resp)), (StatusCode::FORBIDDEN, "not_group_admin"));
    let body = json!({"session": "s1", "announce": true});
    let (status, resp) = app.call(Method::PATCH, &format!("/groups/{jid}"), Some(&token), Some(body)).await;
    assert_eq!((status, error_code(&resp)), (StatusCode::FORBIDDEN, "not_group_admin"));
    app.sim.change_group(&group.id, A, wa_sim::groups::Change::ResetInvite).unwrap();
    let (status, resp) =
        app.post("/groups/join", Some(&token), json!({"session": "s1", "invite": group.invite.clone()})).await;
    assert_eq!((status, error_code(&resp)), (StatusCode::NOT_FOUND, "not_found"), "{resp}");
}

/// Waits until `contact`'s phone shows `n` messages; returns them.
async fn shown(app: &TestApp, contact: &str, n: usize) -> Vec<wa_sim::Received> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let shown = app.sim.shown(Some(contact));
        if shown.len() >= n {
            return shown;
        }
        assert!(std::time::Instant::now() < deadline, "{contact} shows {} of {n}: {shown:?}", shown.len());
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// A text, an image and a poll to a group reach every participant's phone
/// once, by sender key; mentions show as mentions; after a participant is
/// removed the next message reaches the others and the removed one's old key
/// does not open it. A group the session left, or where only admins may write,
/// fails the message at once with the reason, and nothing is sent.
async fn messages_reach_every_participant_once(db: TestDb) {
    let app = TestApp::spawn_with(db, |c| {
        no_limits(c);
        c.limits.group_interval = std::time::Duration::ZERO;
        c.media.allow_private_addresses = true; // the test's file server is on loopback
    })
    .await;
    let token = app.admin_token.clone();
    app.linked_session(&token, "s1", OWN).await;
    app.sim.add_contacts(&phones(&[A, B, C]));
    let body = json!({"session": "s1", "subject": "Pelanggan ODP-3", "participants": [A, B, C]});
    let (_, created) = app.post("/groups", Some(&token), body).await;
    let jid = created["data"]["jid"].as_str().unwrap().to_owned();
    let id = jid.trim_end_matches("@g.us").to_owned();
    let mut image = b"\x89PNG\r\n\x1a\n".to_vec();
    image.extend((0..2_000).map(|i| (i % 251) as u8));
    let files = crate::helpers::serve_files(vec![("/i/peta.png", "image/png", image.clone())]).await;

    let sends = [
        ("/message/send-text", json!({"text": "Gangguan di ODP-3"})),
        ("/message/send-image", json!({"image": format!("http://{files}/i/peta.png"), "caption": "Peta"})),
        ("/message/send-poll", json!({"question": "Sudah normal?", "options": ["Ya", "Belum"]})),
        ("/message/send-text", json!({"text": format!("@{B} mohon cek"), "mentions": [format!("+{B}")]})),
        ("/message/send-text", json!({"text": "Semua harap cek", "mentionAll": true})),
    ];
    let mut ids = Vec::new();
    for (path, mut body) in sends {
        body["session"] = json!("s1");
        body["to"] = json!(jid);
        let (status, queued) = app.post(path, Some(&token), body).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{path}: {queued}");
        let message = queued["data"]["id"].as_str().unwrap().to_owned();
        app.wait_message(&token, &message, "sent", 30).await;
        ids.push(message);
    }
    for contact in [A, B, C] {
        let got = shown(&app, contact, 5).await;
        let kinds: Vec<(&str, &str, Option<&str>)> =
            got.iter().map(|r| (r.id.as_str(), r.kind.as_str(), r.group.as_deref())).collect();
        let want: Vec<(&str, &str, Option<&str>)> = ids
            .iter()
            .zip(["text", "image", "poll", "text", "text"])
            .map(|(m, k)| (m.as_str(), k, Some(id.as_str())))
            .collect();
        assert_eq!(kinds, want, "{contact}");
        assert_eq!(got[3].details["mentions"], json!([B]), "{contact}");
        let mut everyone: Vec<String> =
            got[4].details["mentions"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()).collect();
        everyone.sort();
        assert_eq!(everyone, phones(&[A, B, C]), "mentionAll mentions everyone but the session");
    }
    assert!(app.sim.duplicates().is_empty(), "a participant got a copy twice");
    use sha2::Digest as _;
    let digest: String = sha2::Sha256::digest(&image).iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(app.sim.shown(Some(A))[1].sha256.as_deref(), Some(digest.as_str()));

    // C is removed: the next message reaches A and B, and C's old key does not open it.
    let path = format!("/groups/{jid}/participants");
    app.post(&path, Some(&token), json!({"session": "s1", "remove": [C]})).await;
    let text = json!({"session": "s1", "to": jid, "text": "Sudah normal"});
    let (_, queued) = app.post("/message/send-text", Some(&token), text).await;
    let after = queued["data"]["id"].as_str().unwrap().to_owned();
    app.wait_message(&token, &after, "sent", 30).await;
    for contact in [A, B] {
        assert_eq!(shown(&app, contact, 6).await[5].id, after);
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while app.sim.overheard().is_empty() && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let overheard = app.sim.overheard();
    assert_eq!(overheard.len(), 1, "{overheard:?}");
    assert_eq!(
        (overheard[0].id.as_str(), overheard[0].phone.as_str(), overheard[0].opened),
        (after.as_str(), C, false)
    );
    assert_eq!(app.sim.received(Some(C)).len(), 5, "the removed participant got the message");

    // Left: the next send fails at once, with the reason, and reaches no one.
    app.post(&format!("/groups/{jid}/leave"), Some(&token), json!({"session": "s1"})).await;
    let text = json!({"session": "s1", "to": jid, "text": "Masih di sini?"});
    let (_, queued) = app.post("/message/send-text", Some(&token), text).await;
    let failed = app.wait_message(&token, queued["data"]["id"].as_str().unwrap(), "failed", 10).await;
    assert_eq!(failed["reason"], "the session is not in this group", "{failed}");
    assert_eq!(failed["attempts"], 0, "a refused group send was tried: {failed}");

    // Only admins may write: a contact's group that turned announcement-only.
    let theirs = app.sim.create_group(A, "Pengumuman", &[OWN.to_owned()]).unwrap();
    app.sim.change_group(&theirs.id, A, wa_sim::groups::Change::Announce(true)).unwrap();
    let text = json!({"session": "s1", "to": format!("{}@g.us", theirs.id), "text": "boleh tanya?"});
    let (_, queued) = app.post("/message/send-text", Some(&token), text).await;
    let failed = app.wait_message(&token, queued["data"]["id"].as_str().unwrap(), "failed", 10).await;
    assert_eq!(failed["reason"], "only the group's admins may send in it now", "{failed}");
    assert_eq!(app.sim.received(Some(A)).len(), 6, "a refused group send reached the group");

    // Mentions are for groups, and a group's JID must be one.
    for (body, field) in [
        (json!({"session": "s1", "to": A, "text": "x", "mentions": [B]}), "mentions"),
        (json!({"session": "s1", "to": A, "text": "x", "mentionAll": true}), "mentionAll"),
        (json!({"session": "s1", "to": "12@g.us", "text": "x"}), "to"),
        (json!({"session": "s1", "to": jid, "text": "x", "mentions": ["12ab"]}), "mentions[0]"),
    ] {
        let (status, resp) = app.post("/message/send-text", Some(&token), body).await;
        assert_eq!((status, &resp["error"]["field"]), (StatusCode::UNPROCESSABLE_ENTITY, &json!(field)), "{resp}");
    }
}

/// The inbox's chat of `jid` on session `s1`, once it has `n` entries:
/// the chat (from the list) and its detail.
async fn group_chat(app: &TestApp, token: &str, jid: &str, n: usize) -> (Value, Value) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let (status, list) = app.get("/chats/?limit=100", Some(token)).await;
        assert_eq!(status, StatusCode::OK, "{list}");
        if let Some(chat) = list.as_array().unwrap().iter().find(|c| c["phone"] == jid) {
            let (status, detail) = app.get(&format!("/chats/{}?limit=100", chat["id"]), Some(token)).await;
            assert_eq!(status, StatusCode::OK, "{detail}");
            if detail["messages"].as_array().unwrap().len() >= n {
                return (chat.clone(), detail);
            }
        }
        assert!(std::time::Instant::now() < deadline, "the chat of {jid} never had {n} entries: {list}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// With `inbox.groups` on, a group is one chat of kind `group` named after
/// its subject: three participants writing show as three named senders, its
/// changes are entries too, an agent's reply (with a mention) reaches every
/// participant once, and the bot stays out.
async fn group_conversations_are_chats_when_asked(db: TestDb) {
    let app = TestApp::spawn_with(db, |c| {
        no_limits(c);
        c.limits.group_interval = std::time::Duration::ZERO;
        c.inbox.groups = true;
    })
    .await;
    let token = app.admin_token.clone();
    app.linked_session(&token, "s1", OWN).await;
    app.sim.add_contacts(&phones(&[A, B, C]));
    // The bot answers everyone's first message in 1:1 chats; not in groups.
    let bot = json!({"enabled": true, "greeting": "Selamat datang", "fallback": "Maaf?", "max_replies_per_minute": 60});
    let (status, body) = app.call(Method::PUT, "/bot/config", Some(&token), Some(bot)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let group = app.sim.create_group(A, "Teknisi Melati", &[B.to_owned(), C.to_owned(), OWN.to_owned()]).unwrap();
    let jid = format!("{}@g.us", group.id);
    let names = [(A, "Andi"), (B, "Budi"), (C, "Citra")];
    for (phone, name) in names {
        let write = wa_sim::messages::Write {
            from: phone.into(),
            group: Some(group.id.clone()),
            text: Some(format!("{name} di sini")),
            push_name: Some(name.into()),
            ..Default::default()
        };
        app.sim.deliver(&write).await.unwrap();
    }
    let (chat, detail) = group_chat(&app, &token, &jid, 4).await;
    assert_eq!(
        (&chat["kind"], &chat["name"], &chat["mode"]),
        (&json!("group"), &json!("Teknisi Melati"), &json!("agent"))
    );
    assert_eq!(detail["profile"]["phone"], json!(jid));
    let entries = detail["messages"].as_array().unwrap();
    let written: Vec<(&str, &str, &str)> = entries
        .iter()
        .filter(|e| e["type"] == "text")
        .map(|e| (e["participant"].as_str().unwrap(), e["push_name"].as_str().unwrap(), e["text"].as_str().unwrap()))
        .collect();
    assert_eq!(written, [(A, "Andi", "Andi di sini"), (B, "Budi", "Budi di sini"), (C, "Citra", "Citra di sini")]);
    let change = entries.iter().find(|e| e["type"] == "group_update").expect("the session's joining is an entry");
    assert_eq!((&change["extra"]["action"], &change["participant"]), (&json!("create"), &json!(A)), "{change}");

    // An agent's reply, mentioning B, reaches A, B and C once each; the bot said nothing.
    let reply = json!({"chat_id": chat["id"], "text": format!("@{B} tolong cek"), "mentions": [B]});
    let (status, sent) = app.post("/chats/messages", Some(&token), reply).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{sent}");
    let id = sent["message_id"].as_str().unwrap().to_owned();
    app.wait_message(&token, &id, "sent", 30).await;
    for contact in [A, B, C] {
        let got = shown(&app, contact, 1).await;
        assert_eq!(got.len(), 1, "{contact}: {got:?}");
        assert_eq!((got[0].id.as_str(), got[0].group.as_deref()), (id.as_str(), Some(group.id.as_str())));
        assert_eq!(got[0].details["mentions"], json!([B]));
    }
    assert!(app.sim.duplicates().is_empty());
    let (_, detail) = group_chat(&app, &token, &jid, 5).await;
    let last = detail["messages"].as_array().unwrap().last().unwrap().clone();
    assert_eq!((&last["sender"], &last["message_id"]), (&json!("agent"), &json!(id)));
    // A rename is an entry, and renames the chat.
    app.sim.change_group(&group.id, A, wa_sim::groups::Change::Subject("Teknisi Mawar".into())).unwrap();
    let (_, detail) = group_chat(&app, &token, &jid, 6).await;
    assert_eq!(detail["name"], "Teknisi Mawar", "the chat is read after its newest entry");
    let (_, listed) = app.get("/message/list?session=s1&limit=100", Some(&token)).await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 1, "only the agent's reply was queued: {listed}");
    // Typing is shown in the group.
    let typing = json!({"state": "composing"});
    let (status, resp) = app.post(&format!("/chats/{}/typing", chat["id"]), Some(&token), typing).await;
    assert_eq!(status, StatusCode::OK, "{resp}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while app.sim.chatstates(&group.id).is_empty() {
        assert!(std::time::Instant::now() < deadline, "the group was never shown the typing");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(app.sim.chatstates(&group.id)[0].state, "composing");
    // Mentions are for texts in group chats.
    let direct = json!({"chat_id": chat["id"], "location": {"latitude": 1.0, "longitude": 2.0}, "mentions": [B]});
    let (status, resp) = app.post("/chats/messages", Some(&token), direct).await;
    assert_eq!((status, &resp["error"]["field"]), (StatusCode::UNPROCESSABLE_ENTITY, &json!("mentions")), "{resp}");

    // Joined by a link, nothing the session is told names the group: its chat
    // is named after the subject WhatsApp gives when asked.
    let other = app.sim.create_group(B, "Warga RT 7", &[C.to_owned()]).unwrap();
    let (status, joined) =
        app.post("/groups/join", Some(&token), json!({"session": "s1", "invite": other.invite})).await;
    assert_eq!(status, StatusCode::OK, "{joined}");
    let other_jid = format!("{}@g.us", other.id);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let (_, detail) = group_chat(&app, &token, &other_jid, 1).await;
        if detail["name"] == "Warga RT 7" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the joined group's chat is still {}", detail["name"]);
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// A sender key that never arrives costs no message. A participant's first
/// message comes without the distribution of its key (lost on the way): the
/// session's device cannot read it and sends a retry receipt, the author's
/// phone sends it again for that device with the key, and the next message
/// (the group message alone) is read with that key. Each is in the chat once.
async fn a_lost_sender_key_is_asked_for_again(db: TestDb) {
    let app = TestApp::spawn_with(db, |c| {
        no_limits(c);
        c.inbox.groups = true;
    })
    .await;
    let token = app.admin_token.clone();
    app.linked_session(&token, "s1", OWN).await;
    app.sim.add_contacts(&phones(&[A, B]));
    let group = app.sim.create_group(A, "Warga RW 3", &[B.to_owned(), OWN.to_owned()]).unwrap();
    let jid = format!("{}@g.us", group.id);
    let write = |text: &str, lost: bool| wa_sim::messages::Write {
        from: A.into(),
        group: Some(group.id.clone()),
        text: Some(text.into()),
        push_name: Some("Andi".into()),
        sender_key_lost: lost,
        ..Default::default()
    };
    let first = app.sim.deliver(&write("Listrik padam", true)).await.unwrap();
    let (_, detail) = group_chat(&app, &token, &jid, 2).await;
    let asked: Vec<_> = app.sim.retries().into_iter().filter(|r| r.id == first).collect();
    assert!(!asked.is_empty() && asked.iter().all(|r| r.phone == OWN && r.resent), "{asked:?}");
    let second = app.sim.deliver(&write("Sudah menyala", false)).await.unwrap();
    let (_, detail_after) = group_chat(&app, &token, &jid, 3).await;
    let texts = |detail: &Value| -> Vec<(String, String)> {
        detail["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["type"] == "text")
            .map(|e| (e["message_id"].as_str().unwrap().to_owned(), e["text"].as_str().unwrap().to_owned()))
            .collect()
    };
    assert_eq!(texts(&detail), [(first.clone(), "Listrik padam".to_owned())]);
    assert_eq!(
        texts(&detail_after),
        [(first.clone(), "Listrik padam".to_owned()), (second.clone(), "Sudah menyala".to_owned())]
    );
    assert!(
        app.sim.retries().iter().all(|r| r.id == first),
        "the second message was read with the key the resend carried: {:?}",
        app.sim.retries()
    );
}

/// An ODP names its group: a notice sent by ODP reaches each customer once
/// and the group once, as its own line of the report; a group where the
/// session may not write is that line's failure, with the reason. Naming a
/// group is checked: the JID, the session (the caller's), and whether the
/// session is in the group.
async fn odp_notices_are_posted_into_the_odps_group(db: TestDb) {
    let app = TestApp::spawn_with(db, |c| {
        no_limits(c);
        c.limits.group_interval = std::time::Duration::ZERO;
    })
    .await;
    let token = app.admin_token.clone();
    app.linked_session(&token, "s1", OWN).await;
    app.sim.add_contacts(&phones(&[A, B, C, D]));
    let body = json!({"session": "s1", "subject": "Pelanggan ODP-9", "participants": [A, C]});
    let (_, created) = app.post("/groups", Some(&token), body).await;
    let jid = created["data"]["jid"].as_str().unwrap().to_owned();
    let group_id = jid.trim_end_matches("@g.us").to_owned();

    // Naming the group: checked field by field.
    let put = |odp: &str, body: Value| {
        let (app, token, path) = (&app, token.clone(), format!("/api/odps/{odp}"));
        async move { app.call(Method::PUT, &path, Some(&token), Some(body)).await }
    };
    let elsewhere = app.sim.create_group(A, "Bukan grup kita", &[B.to_owned()]).unwrap();
    for (odp, body, field) in [
        ("ODP-9", json!({"group_jid": jid}), "session"),
        ("ODP-9", json!({"session": "s1"}), "session"),
        ("ODP-9", json!({"group_jid": "12@g.us", "session": "s1"}), "group_jid"),
        ("ODP-9", json!({"group_jid": format!("{}@g.us", elsewhere.id), "session": "s1"}), "group_jid"),
        ("%20ODP", json!({"group_jid": jid, "session": "s1"}), "odp"),
    ] {
        let (status, resp) = put(odp, body).await;
        assert_eq!((status, &resp["error"]["field"]), (StatusCode::UNPROCESSABLE_ENTITY, &json!(field)), "{resp}");
    }
    let (status, resp) = put("ODP-9", json!({"group_jid": jid, "session": "nope"})).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{resp}");
    let (status, named) = put("ODP-9", json!({"group_jid": group_id, "session": "s1"})).await;
    assert_eq!(status, StatusCode::OK, "{named}");
    assert_eq!((&named["data"]["group_jid"], &named["data"]["group_session"]), (&json!(jid), &json!("s1")));

    let customers = json!({"customers": [
        {"external_id": "A", "name": "Andi", "phone": A, "odp": "ODP-9"},
        {"external_id": "B", "name": "Budi", "phone": B, "odp": "ODP-9"},
        {"external_id": "D", "name": "Dewi", "phone": D, "odp": "ODP-10"},
    ]});
    let (status, body) = app.post("/api/customers/bulk", Some(&token), customers).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, odps) = app.get("/api/odps", Some(&token)).await;
    let odp9 = odps["data"].as_array().unwrap().iter().find(|o| o["code"] == "ODP-9").unwrap().clone();
    assert_eq!((&odp9["group_jid"], &odp9["customers"]), (&json!(jid), &json!(2)), "{odps}");

    let notice = json!({"message": "Yth. {nama}, gangguan di {odp}."});
    let mut dry = notice.clone();
    dry["dry_run"] = json!(true);
    let (status, preview) = app.post("/api/send/by-odp/ODP-9", Some(&token), dry).await;
    assert_eq!(status, StatusCode::OK, "{preview}");
    assert_eq!((&preview["group"], &preview["queued_count"]), (&json!(jid), &json!(3)), "{preview}");
    assert_eq!(preview["preview_recipient"], format!("Andi ({A})"));
    let (status, accepted) = app.post("/api/send/by-odp/ODP-9", Some(&token), notice.clone()).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    let done = crate::notify::until_done(&app, &token, accepted["broadcast_id"].as_i64().unwrap(), 30).await;
    let lines: Vec<(&str, bool, &str)> = done["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["phone"].as_str().unwrap(), r["group"].as_bool().unwrap(), r["status"].as_str().unwrap()))
        .collect();
    assert_eq!(lines, [(jid.as_str(), true, "sent"), (A, false, "sent"), (B, false, "sent")], "{done}");
    // Each customer once, in their name; the group once, to the ODP's customers.
    for (contact, direct, in_group) in [(A, 1, 1), (B, 1, 0), (C, 0, 1)] {
        let got = app.sim.shown(Some(contact));
        let (grouped, own): (Vec<_>, Vec<_>) = got.iter().partition(|r| r.group.is_some());
        assert_eq!((own.len(), grouped.len()), (direct, in_group), "{contact}: {got:?}");
        for r in grouped {
            assert_eq!(r.text.as_deref(), Some("Yth. Pelanggan ODP-9, gangguan di ODP-9."));
        }
    }
    assert!(app.sim.duplicates().is_empty());

    // Only admins may write in ODP-10's group: its line fails, with the reason; the customer gets theirs.
    let theirs = app.sim.create_group(A, "Pengumuman ODP-10", &[OWN.to_owned()]).unwrap();
    let (status, named) = put("ODP-10", json!({"group_jid": format!("{}@g.us", theirs.id), "session": "s1"})).await;
    assert_eq!(status, StatusCode::OK, "{named}");
    app.sim.change_group(&theirs.id, A, wa_sim::groups::Change::Announce(true)).unwrap();
    let (_, accepted) = app.post("/api/send/by-odp/ODP-10", Some(&token), notice).await;
    let done = crate::notify::until_done(&app, &token, accepted["broadcast_id"].as_i64().unwrap(), 30).await;
    let results = done["results"].as_array().unwrap();
    assert_eq!((&results[0]["group"], &results[0]["status"]), (&json!(true), &json!("failed")), "{done}");
    assert_eq!(results[0]["error"], "only the group's admins may send in it now");
    assert_eq!((&results[1]["phone"], &results[1]["status"]), (&json!(D), &json!("sent")));
    assert!(app.sim.shown(Some(A)).iter().all(|r| r.group.as_deref() != Some(theirs.id.as_str())));

    // Another account cannot name a group from this account's session.
    let (_, other) = app.user_with_role("user").await;
    let (status, resp) =
        app.call(Method::PUT, "/api/odps/ODP-9", Some(&other), Some(json!({"group_jid": jid, "session": "s1"}))).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{resp}");
    // Clearing it: the next notice goes to customers only.
    let (status, cleared) = put("ODP-9", json!({"group_jid": null})).await;
    assert_eq!((status, &cleared["data"]["group_jid"]), (StatusCode::OK, &Value::Null), "{cleared}");
}

db_tests!(
    a_group_is_run_over_http,
    a_session_joins_by_link,
    messages_reach_every_participant_once,
    group_conversations_are_chats_when_asked,
    a_lost_sender_key_is_asked_for_again,
    odp_notices_are_posted_into_the_odps_group
);
