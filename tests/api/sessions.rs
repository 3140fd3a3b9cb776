//! Sessions through HTTP with wa-sim playing WhatsApp: QR and pairing-code
//! linking, logout, restart, delete, the phone checks, cleanup, duplicate
//! numbers, faults, live events and who may see what.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use wa_sim::Fault;

use crate::{
    db_tests,
    helpers::{EventStream, TestApp, TestDb, error_code},
};

/// Decodes a PNG holding one QR code back to its text.
pub(crate) fn decode_qr(png: &[u8]) -> String {
    let image = image::load_from_memory(png).expect("a PNG").to_luma8();
    let mut prepared = rqrr::PreparedImage::prepare(image);
    let grids = prepared.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code in the image");
    grids[0].decode().expect("the QR code decodes").1
}

/// Whether the session's device is in the shared device store.
async fn has_store(app: &TestApp, id: &str) -> bool {
    let stores = wagate::engine::store::Stores::open(&app.db, &app.config.storage.sessions_dir).await.unwrap();
    stores.holds(id).await.unwrap()
}

fn connected_devices(app: &TestApp, phone: &str) -> usize {
    app.sim.devices().iter().filter(|(p, _, connected)| p == phone && *connected).count()
}

fn linked_devices(app: &TestApp, phone: &str) -> usize {
    app.sim.devices().iter().filter(|(p, _, _)| p == phone).count()
}

async fn qr_linking_logout_restart_delete(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let token = app.admin_token.clone();
    let phone = "628111000001";

    let (status, body) = app.post("/session/create", Some(&token), json!({"sessionId": "shop"})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["data"]["sessionId"], "shop");

    // The QR as text, as a data URL that decodes back to it, and as a PNG.
    let (status, body) = app.get("/session/qr/shop", Some(&token)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let qr = body["data"]["qr"].as_str().unwrap().to_owned();
    assert!(qr.split(',').count() >= 4, "ref,noise,identity,adv,...: {qr}");
    assert!(body["data"]["expiresAt"].is_string());
    let image = body["data"]["image"].as_str().unwrap();
    let encoded = image.strip_prefix("data:image/png;base64,").expect("a PNG data URL");
    use base64::Engine as _;
    let png = base64::engine::general_purpose::STANDARD.decode(encoded).unwrap();
    assert_eq!(decode_qr(&png), qr);
    let response =
        app.client.get(format!("{}/session/qr-image/shop", app.address)).bearer_auth(&token).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "image/png");
    assert_eq!(decode_qr(&response.bytes().await.unwrap()), qr);
    app.wait_status(&token, "shop", "qr", 5).await;

    // The phone scans: connected, number detected.
    app.sim.scan(&qr, phone).await.unwrap();
    let view = app.wait_status(&token, "shop", "connected", 30).await;
    assert_eq!(view["phoneNumber"], phone);
    assert!(view["lastConnectedAt"].is_string());
    let (_, list) = app.get("/session/list", Some(&token)).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    assert_eq!(list["data"][0]["status"], "connected");
    let (status, body) = app.get("/session/qr/shop", Some(&token)).await;
    assert_eq!((status, error_code(&body)), (StatusCode::CONFLICT, "already_linked"));
    assert!(has_store(&app, "shop").await);

    // Seed 002's shortcuts find the only session.
    let (status, body) = app.get("/api/whatsapp/status", Some(&token)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!((body["session"].as_str(), body["connected"].as_bool()), (Some("shop"), Some(true)));

    // check-phone in any spelling.
    let (status, body) =
        app.post("/session/check-phone", Some(&token), json!({"phoneNumber": "+62 811-1000-001"})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"hasActiveSession": true, "sessionId": "shop"}));
    let (_, body) = app.post("/session/check-phone", Some(&token), json!({"phoneNumber": "0811-9999-999"})).await;
    assert_eq!(body, json!({"hasActiveSession": false}));

    // Restart: back without a scan.
    let logins = app.sim.logins().len();
    let (status, body) = app.post("/session/restart", Some(&token), json!({"sessionId": "shop"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    app.wait_status(&token, "shop", "connected", 30).await;
    assert!(app.sim.logins().len() > logins, "logged in again");
    assert_eq!(linked_devices(&app, phone), 1);

    // Logout: unlinked at WhatsApp, store wiped; the session can link again.
    let (status, body) = app.post("/session/logout", Some(&token), json!({"sessionId": "shop"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["status"], "logged_out");
    assert_eq!(body["data"]["phoneNumber"], Value::Null);
    assert!(!has_store(&app, "shop").await, "the store is wiped");
    assert_eq!(linked_devices(&app, phone), 0, "the phone no longer lists the device");
    let (_, body) = app.post("/session/check-phone", Some(&token), json!({"phoneNumber": phone})).await;
    assert_eq!(body["hasActiveSession"], false);

    app.post("/session/restart", Some(&token), json!({"sessionId": "shop"})).await;
    let qr = app.qr(&token, "shop").await;
    app.sim.scan(&qr, phone).await.unwrap();
    let view = app.wait_status(&token, "shop", "connected", 30).await;
    assert_eq!(view["phoneNumber"], phone);
    assert_eq!(connected_devices(&app, phone), 1);

    // Delete: unlinked, wiped, gone.
    let (status, _) = app.call(Method::DELETE, "/session/shop", Some(&token), None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app.get("/session/status?session=shop", Some(&token)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(!has_store(&app, "shop").await);
    assert_eq!(linked_devices(&app, phone), 0);
}

async fn pairing_code_linking(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let token = app.admin_token.clone();

    // With a number at creation, a pairing code is offered besides the QR.
    let (status, body) =
        app.post("/session/create", Some(&token), json!({"sessionId": "paired", "phoneNumber": "0811-1000-002"})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let view = app.wait_status(&token, "paired", "pairing", 30).await;
    assert_eq!(view["status"], "pairing");
    let (_, body) = app.get("/session/qr/paired", Some(&token)).await;
    let code = body["data"]["pairingCode"].as_str().expect("a pairing code").to_owned();
    assert_eq!(code.len(), 8);
    app.sim.enter_pair_code("628111000002", &code).await.unwrap();
    let view = app.wait_status(&token, "paired", "connected", 30).await;
    assert_eq!(view["phoneNumber"], "628111000002");

    // Or asked for later.
    app.post("/session/create", Some(&token), json!({"sessionId": "later"})).await;
    app.qr(&token, "later").await;
    let (status, body) = app
        .post("/session/pairing-code", Some(&token), json!({"sessionId": "later", "phoneNumber": "+628111000003"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["data"]["expiresAt"].is_string());
    let code = body["data"]["value"].as_str().unwrap().to_owned();
    let (_, again) = app
        .post("/session/pairing-code", Some(&token), json!({"sessionId": "later", "phoneNumber": "08111000003"}))
        .await;
    assert_eq!(again["data"]["value"], code.as_str(), "the same number gets the outstanding code");
    let (status, body) = app
        .post("/session/pairing-code", Some(&token), json!({"sessionId": "later", "phoneNumber": "628111000099"}))
        .await;
    assert_eq!((status, error_code(&body)), (StatusCode::CONFLICT, "pairing_outstanding"));
    app.sim.enter_pair_code("628111000003", &code).await.unwrap();
    app.wait_status(&token, "later", "connected", 30).await;

    // A linked session offers no codes; a bad number is named.
    let (status, body) = app
        .post("/session/pairing-code", Some(&token), json!({"sessionId": "later", "phoneNumber": "628111000004"}))
        .await;
    assert_eq!((status, error_code(&body)), (StatusCode::CONFLICT, "already_linked"));
    let (status, body) =
        app.post("/session/pairing-code", Some(&token), json!({"sessionId": "later", "phoneNumber": "08x"})).await;
    assert_eq!((status, body["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("phoneNumber")));
}

async fn duplicate_number_is_refused(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let token = app.admin_token.clone();
    let phone = "628111000010";
    app.linked_session(&token, "first", phone).await;

    // Named at creation: refused at once.
    let (status, body) =
        app.post("/session/create", Some(&token), json!({"sessionId": "second", "phoneNumber": "0811 1000 010"})).await;
    assert_eq!((status, error_code(&body)), (StatusCode::CONFLICT, "phone_in_use"), "{body}");

    // Found out when the phone scans: the new link is undone, the old one untouched.
    let (status, _) = app.post("/session/create", Some(&token), json!({"sessionId": "second"})).await;
    assert_eq!(status, StatusCode::CREATED);
    let qr = app.qr(&token, "second").await;
    app.sim.scan(&qr, phone).await.unwrap();
    let view = app.wait_status(&token, "second", "duplicate_phone", 30).await;
    assert!(view["reason"].as_str().unwrap().contains("first"), "{view}");
    assert!(!has_store(&app, "second").await);
    let first = app.wait_status(&token, "first", "connected", 5).await;
    assert_eq!(first["phoneNumber"], phone);
    assert_eq!(linked_devices(&app, phone), 1, "only the first device stays linked: {:?}", app.sim.devices());
    assert_eq!(connected_devices(&app, phone), 1);
}

async fn faults_give_statuses_events_and_recovery(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let token = app.admin_token.clone();
    let (one, two) = ("628111000021", "628111000022");
    app.linked_session(&token, "one", one).await;
    app.linked_session(&token, "two", two).await;
    let mut events = EventStream::open(&app, &token).await;
    let status_of = |id: &'static str, status: &'static str| {
        move |kind: &str, data: &Value| kind == "session.status" && data["sessionId"] == id && data["status"] == status
    };

    // Dropped: disconnected, then reconnected by itself.
    app.sim.fault(one, Fault::Drop);
    events.until(20, status_of("one", "disconnected")).await;
    events.until(20, status_of("one", "connected")).await;

    // Banned: banned with an end, then back.
    app.sim.fault(one, Fault::Ban(std::time::Duration::from_secs(3)));
    let seen = events.until(20, status_of("one", "banned")).await;
    assert!(seen.last().unwrap().1["bannedUntil"].is_string(), "{seen:?}");
    events.until(30, status_of("one", "connected")).await;

    // Replaced by another client: stopped with a reason, not fought over.
    app.sim.fault(one, Fault::Replace);
    let seen = events.until(20, status_of("one", "stopped")).await;
    assert!(seen.last().unwrap().1["reason"].as_str().unwrap().contains("another client"));
    assert_eq!(connected_devices(&app, one), 0);

    // The other session went through all of that untouched.
    let (_, body) = app.get("/session/status?session=two", Some(&token)).await;
    assert_eq!(body["data"]["status"], "connected");
    assert_eq!(connected_devices(&app, two), 1);

    // Unlinked from the phone: logged out, store wiped.
    app.sim.fault(two, Fault::Logout);
    events.until(20, status_of("two", "logged_out")).await;
    assert!(!has_store(&app, "two").await);

    // Refused for a while: retried until it gets in.
    let (status, _) = app.post("/session/restart", Some(&token), json!({"sessionId": "one"})).await;
    assert_eq!(status, StatusCode::OK);
    app.wait_status(&token, "one", "connected", 30).await;
    app.sim.fault(one, Fault::Refuse(std::time::Duration::from_secs(2)));
    events.until(20, status_of("one", "disconnected")).await;
    events.until(30, status_of("one", "connected")).await;

    let (status, body) = app.get("/health", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["sessions"]["by_status"]["connected"], 1, "{body}");
    assert_eq!(body["sessions"]["by_status"]["logged_out"], 1, "{body}");
    let (status, metrics) = app.get("/metrics", Some(&token)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(metrics.as_str().unwrap().contains(r#"wagate_sessions{status="connected"} 1"#), "{metrics}");
}

async fn events_in_order_and_only_ones_own(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let (_, alice) = app.user_with_role("user").await;
    let (_, bob) = app.user_with_role("user").await;
    let mut alice_events = EventStream::open(&app, &alice).await;
    let mut bob_events = EventStream::open(&app, &bob).await;

    app.post("/session/create", Some(&alice), json!({"sessionId": "alice-1"})).await;
    let seen = alice_events.until(20, |kind, data| kind == "session.status" && data["status"] == "qr").await;
    assert!(seen.iter().all(|(_, d)| d["sessionId"] == "alice-1"));
    let qr = app.qr(&alice, "alice-1").await;
    app.sim.scan(&qr, "628111000031").await.unwrap();
    let seen = alice_events.until(30, |kind, data| kind == "session.status" && data["status"] == "connected").await;
    assert!(
        seen.iter().any(|(kind, d)| kind == "session.status" && d["status"] == "connecting"),
        "qr, then connecting, then connected: {seen:?}"
    );
    assert!(
        !seen.iter().any(|(kind, d)| kind == "session.status" && d["status"] == "qr"),
        "no qr after the scan: {seen:?}"
    );

    // Bob sees his own session's events, and none of Alice's.
    app.post("/session/create", Some(&bob), json!({"sessionId": "bob-1"})).await;
    let seen = bob_events.until(20, |kind, data| kind == "session.status" && data["status"] == "qr").await;
    assert!(seen.iter().all(|(_, d)| d["sessionId"] == "bob-1"), "bob saw: {seen:?}");
    // The admin sees everyone's.
    let mut admin_events = EventStream::open(&app, &app.admin_token).await;
    app.post("/session/restart", Some(&alice), json!({"sessionId": "alice-1"})).await;
    admin_events.until(20, |_, data| data["sessionId"] == "alice-1").await;
    while let Some((_, data)) = bob_events.next(1).await {
        assert_eq!(data["sessionId"], "bob-1", "bob saw alice's event: {data}");
    }
}

async fn scoping_cleanup_and_bad_input(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let (_, alice) = app.user_with_role("user").await;
    let (_, bob) = app.user_with_role("user").await;
    app.post("/session/create", Some(&alice), json!({"sessionId": "a-old"})).await;
    app.post("/session/create", Some(&alice), json!({"sessionId": "a-new"})).await;
    app.linked_session(&alice, "a-live", "628111000041").await;

    // Bob cannot see or touch Alice's sessions; the admin can.
    for (method, path, body) in [
        (Method::GET, "/session/status?session=a-old", None),
        (Method::GET, "/session/qr/a-old", None),
        (Method::POST, "/session/logout", Some(json!({"sessionId": "a-old"}))),
        (Method::POST, "/session/restart", Some(json!({"sessionId": "a-old"}))),
        (Method::DELETE, "/session/a-old", None),
    ] {
        let (status, resp) = app.call(method.clone(), path, Some(&bob), body).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}: {resp}");
    }
    let (_, list) = app.get("/session/list", Some(&bob)).await;
    assert_eq!(list["data"], json!([]));
    let (_, body) = app.post("/session/check-phone", Some(&bob), json!({"phoneNumber": "628111000041"})).await;
    assert_eq!(body["hasActiveSession"], false, "bob learns nothing of alice's number");
    let (_, list) = app.get("/session/list", Some(&app.admin_token)).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 3);
    // Ids are names within an account: bob has an "a-old" of his own, and alice's stays hers.
    let (status, body) = app.post("/session/create", Some(&bob), json!({"sessionId": "a-old"})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (_, list) = app.get("/session/list", Some(&bob)).await;
    let owners: Vec<_> = list["data"].as_array().unwrap().iter().map(|s| s["userId"].clone()).collect();
    assert_eq!(owners, vec![body["data"]["userId"].clone()], "{list}");
    let (_, status_view) = app.get("/session/status?session=a-old", Some(&alice)).await;
    assert_ne!(status_view["data"]["userId"], body["data"]["userId"], "{status_view}");

    // An API key limited to one session sees and creates only that one.
    let (status, key) =
        app.post("/auth/api-keys", Some(&alice), json!({"name": "k", "sessions": ["a-new", "a-next"]})).await;
    assert_eq!(status, StatusCode::CREATED, "{key}");
    let key = key["data"]["key"].as_str().unwrap().to_owned();
    let with_key = |method: Method, path: &str| {
        app.client.request(method, format!("{}{path}", app.address)).header("x-api-key", key.clone())
    };
    let (_, list) = TestApp::read(with_key(Method::GET, "/session/list")).await;
    let ids: Vec<_> = list["data"].as_array().unwrap().iter().map(|s| s["sessionId"].clone()).collect();
    assert_eq!(ids, vec![json!("a-new")]);
    let (status, _) = TestApp::read(with_key(Method::GET, "/session/status?session=a-live")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) =
        TestApp::read(with_key(Method::POST, "/session/create").json(&json!({"sessionId": "a-other"}))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) =
        TestApp::read(with_key(Method::POST, "/session/create").json(&json!({"sessionId": "a-next"}))).await;
    assert_eq!(status, StatusCode::CREATED);

    // Cleanup removes what has not been connected for that long, and only the caller's.
    use sea_orm::{ActiveModelTrait, ActiveValue::Set};
    let two_days_ago = wagate::db::now() - chrono::Duration::hours(48);
    for id in ["a-old", "a-live"] {
        let row = wagate::db::entities::sessions::ActiveModel {
            id: Set(wagate::model::SessionKey::named(id)),
            created_at: Set(two_days_ago),
            last_connected_at: Set(if id == "a-live" { Some(two_days_ago) } else { None }),
            ..Default::default()
        };
        row.update(&app.db).await.unwrap();
    }
    let (status, body) = app.post("/session/cleanup", Some(&bob), json!({"hours": 24})).await;
    assert_eq!((status, &body["data"]["count"]), (StatusCode::OK, &json!(0)), "bob's cleanup spares alice's");
    let (status, body) = app.post("/session/cleanup", Some(&alice), json!({"hours": 24})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["removed"], json!(["a-old"]), "connected now, so a-live stays");
    let (status, _) = app.get("/session/status?session=a-old", Some(&alice)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Bad input names the field and creates nothing.
    for (body, field) in [
        (json!({"sessionId": "../etc"}), "sessionId"),
        (json!({"sessionId": ""}), "sessionId"),
        (json!({"sessionId": "x".repeat(65)}), "sessionId"),
        // `~` joins a name and its suffix in internal keys: never part of a name.
        (json!({"sessionId": "kantor~1a2b"}), "sessionId"),
        (json!({"sessionId": "ok", "phoneNumber": "0"}), "phoneNumber"),
        (json!({"sessionId": "ok", "phoneNumber": "+62 abc"}), "phoneNumber"),
        (json!({"sessionId": 5}), "sessionId"),
        (json!({}), "sessionId"),
    ] {
        let (status, resp) = app.post("/session/create", Some(&alice), body.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {resp}");
        assert_eq!(resp["error"]["field"], field, "{body}: {resp}");
    }
    for hours in [json!(0), json!(-1), json!("24"), json!(1e12)] {
        let (status, _) = app.post("/session/cleanup", Some(&alice), json!({ "hours": hours })).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "hours {hours}");
    }
    let (status, resp) = app.get("/session/status", Some(&alice)).await;
    assert_eq!((status, resp["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("session")));
    let (status, _) = app.get("/session/status?session=a%2F..", Some(&alice)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (_, list) = app.get("/session/list", Some(&app.admin_token)).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 4, "a-new, a-live, a-next and bob's a-old: {list}");
}

/// Linking stops after `whatsapp.link_timeout`; a restart offers new codes. And
/// deleting a user unlinks and wipes its sessions rather than leaving them running.
async fn linking_times_out_and_owners_take_sessions_along(db: TestDb) {
    let app = TestApp::spawn_with(db, |c| c.whatsapp.link_timeout = std::time::Duration::from_secs(5)).await;
    let token = app.admin_token.clone();
    app.post("/session/create", Some(&token), json!({"sessionId": "slow"})).await;
    app.wait_status(&token, "slow", "qr", 10).await;
    let view = app.wait_status(&token, "slow", "stopped", 20).await;
    assert!(view["reason"].as_str().unwrap().contains("not linked in time"), "{view}");
    let (status, body) = app.get("/session/qr/slow", Some(&token)).await;
    assert_eq!((status, error_code(&body)), (StatusCode::CONFLICT, "session_not_running"));
    app.post("/session/restart", Some(&token), json!({"sessionId": "slow"})).await;
    let qr = app.qr(&token, "slow").await;
    app.sim.scan(&qr, "628111000061").await.unwrap();
    app.wait_status(&token, "slow", "connected", 30).await;

    let (alice_id, alice) = app.user_with_role("user").await;
    app.linked_session(&alice, "alices", "628111000062").await;
    let (status, body) = app.call(Method::DELETE, &format!("/user/{alice_id}"), Some(&token), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(linked_devices(&app, "628111000062"), 0, "unlinked with its owner");
    assert!(!has_store(&app, "alices").await);
    assert_eq!(connected_devices(&app, "628111000061"), 1, "the admin's session is untouched");
}

db_tests!(
    linking_times_out_and_owners_take_sessions_along,
    qr_linking_logout_restart_delete,
    pairing_code_linking,
    duplicate_number_is_refused,
    faults_give_statuses_events_and_recovery,
    events_in_order_and_only_ones_own,
    scoping_cleanup_and_bad_input,
);

/// A session that cannot reach WhatsApp says why in `reason` (the transport's
/// error), not only `connecting`; once WhatsApp answers it links as usual.
#[tokio::test]
async fn a_session_that_cannot_connect_says_why() {
    // Nothing listens on this port.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let app = TestApp::spawn_with(TestDb::Sqlite, |config| {
        config.whatsapp.server_url = format!("ws://{closed}/ws/chat");
    })
    .await;
    let token = app.admin_token.clone();
    let (status, body) = app.post("/session/create", Some(&token), serde_json::json!({"sessionId": "far"})).await;
    assert_eq!(status, 201, "{body}");
    let view = app.wait_status(&token, "far", "disconnected", 30).await;
    let reason = view["reason"].as_str().unwrap_or_default();
    assert!(reason.starts_with("cannot reach WhatsApp: ") && reason.ends_with("; retrying"), "{view}");
    assert!(reason.to_lowercase().contains("refused"), "the transport's error is named: {reason}");
}
