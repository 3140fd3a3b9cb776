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

db_tests!(a_group_is_run_over_http, a_session_joins_by_link);
