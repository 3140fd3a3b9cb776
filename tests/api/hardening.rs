//! Issue 14's hardening, item by item: limited keys, revocation, login timing
//! and throttling, one gateway per database.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::{
    db_tests,
    helpers::{EventStream, TestApp, TestDb, error_code},
};

async fn create_key(app: &TestApp, token: &str, sessions: Option<&[&str]>) -> String {
    let body = match sessions {
        Some(sessions) => json!({"name": "limited", "sessions": sessions}),
        None => json!({"name": "whole account"}),
    };
    let (status, created) = app.post("/auth/api-keys", Some(token), body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    created["data"]["key"].as_str().unwrap().to_owned()
}

/// Item 1, with real objects: a key limited to `s1` sees and cancels only
/// broadcasts that send from `s1` alone, and nothing account-wide.
async fn limited_keys_stay_inside_their_sessions(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let (me, token) = app.user_with_role("admin").await;
    app.linked_session(&token, "s1", "628111000001").await;
    app.linked_session(&token, "s2", "628111000002").await;
    let broadcast = |session: &'static str| {
        let token = token.clone();
        let app = &app;
        async move {
            let body = json!({"phone": "628999000001", "message": "gangguan", "session": session});
            let (status, report) = app.post("/api/send/phone", Some(&token), body).await;
            assert_eq!(status, StatusCode::ACCEPTED, "{report}");
            report["broadcast_id"].as_i64().unwrap()
        }
    };
    let on_s1 = broadcast("s1").await;
    let on_s2 = broadcast("s2").await;
    let body = json!({"phone": "628999000002", "message": "both", "sessions": ["s1", "s2"]});
    let (status, both) = app.post("/api/send/phone", Some(&token), body).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{both}");
    let both = both["broadcast_id"].as_i64().unwrap();

    let key = create_key(&app, &token, Some(&["s1"])).await;
    let (status, list) = app.get("/api/broadcasts", Some(&key)).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let ids: Vec<i64> = list["data"].as_array().unwrap().iter().map(|b| b["broadcast_id"].as_i64().unwrap()).collect();
    assert_eq!((ids, list["total"].as_u64()), (vec![on_s1], Some(1)), "only the broadcast from s1 alone: {list}");
    for id in [on_s2, both] {
        let (status, resp) = app.get(&format!("/api/broadcasts/{id}"), Some(&key)).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{resp}");
        let (status, resp) = app.post(&format!("/api/broadcasts/{id}/cancel"), Some(&key), json!({})).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{resp}");
    }
    let (status, report) = app.get(&format!("/api/broadcasts/{on_s2}"), Some(&token)).await;
    assert_eq!(status, StatusCode::OK);
    assert_ne!(report["status"], "cancelled", "{report}");
    let (status, resp) = app.post(&format!("/api/broadcasts/{on_s1}/cancel"), Some(&key), json!({})).await;
    assert_eq!((status, resp["status"].as_str()), (StatusCode::OK, Some("cancelled")), "{resp}");
    let body = json!({"phone": "628999000003", "message": "x", "session": "s2"});
    let (status, resp) = app.post("/api/send/phone", Some(&key), body).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "a broadcast from s2 is refused: {resp}");

    // Nothing account-wide: the user's password, new users, keys, customers, system.
    let refused: [(Method, String, Option<Value>); 7] = [
        (Method::PUT, format!("/user/{me}"), Some(json!({"password": "taken-over-1"}))),
        (
            Method::POST,
            "/user/create".into(),
            Some(json!({"email": "x@example.com", "password": "pw-123456", "name": "x", "role": "admin"})),
        ),
        (Method::POST, "/auth/api-keys".into(), Some(json!({"name": "wider"}))),
        (Method::GET, "/auth/api-keys".into(), None),
        (Method::GET, "/api/customers".into(), None),
        (Method::POST, "/api/notices".into(), Some(json!({"title": "t", "message": "m"}))),
        (Method::GET, "/metrics".into(), None),
    ];
    for (method, path, body) in refused {
        let (status, resp) = app.call(method.clone(), &path, Some(&key), body).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}: {resp}");
        assert_eq!(error_code(&resp), "forbidden");
    }
    assert_eq!(app.get("/api/notices", Some(&key)).await.0, StatusCode::OK, "notices may be read");
    assert_eq!(app.get("/api/odps", Some(&key)).await.0, StatusCode::OK, "ODPs may be read");
    assert_eq!(app.get("/auth/me", Some(&token)).await.0, StatusCode::OK, "the password did not change");
}

/// Item 3: a revoked key's stream ends with `unauthorized` within 2 s.
async fn revoking_a_key_ends_its_event_stream(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let (_, token) = app.user_with_role("user").await;
    let key = create_key(&app, &token, None).await;
    let (status, keys) = app.get("/auth/api-keys", Some(&token)).await;
    assert_eq!(status, StatusCode::OK);
    let id = keys["data"][0]["id"].as_i64().unwrap();
    let mut stream = EventStream::open(&app, &key).await;
    let (status, _) = app.call(Method::DELETE, &format!("/auth/api-keys/{id}"), Some(&token), None).await;
    assert_eq!(status, StatusCode::OK);
    let revoked = std::time::Instant::now();
    let seen = stream.until(3, |kind, _| kind == "unauthorized").await;
    assert!(revoked.elapsed() < std::time::Duration::from_secs(2), "ended after {:?}", revoked.elapsed());
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert!(stream.next(3).await.is_none(), "the stream ends after unauthorized");
}

/// Item 3: a password change makes every earlier token answer 401 and ends its
/// streams; a deleted user's streams end too.
async fn password_change_and_deletion_revoke_tokens(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let (id, token) = app.user_with_role("user").await;
    let mut stream = EventStream::open(&app, &token).await;
    let (status, resp) = app
        .call(Method::PUT, &format!("/user/{id}"), Some(&app.admin_token), Some(json!({"password": "new-secret-1"})))
        .await;
    assert_eq!(status, StatusCode::OK, "{resp}");
    let (status, resp) = app.get("/auth/me", Some(&token)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "a token from before the change: {resp}");
    let (_, me) = app.get("/auth/me", Some(&app.admin_token)).await;
    assert_eq!(me["data"]["role"], "admin", "other users' tokens are untouched");
    stream.until(2, |kind, _| kind == "unauthorized").await;
    assert!(stream.next(3).await.is_none());

    let (_, users) = app.get("/user/list", Some(&app.admin_token)).await;
    let user = users["data"].as_array().unwrap().iter().find(|u| u["id"] == id).unwrap();
    let email = user["email"].as_str().unwrap().to_owned();
    let fresh = app.login(&email, "new-secret-1").await;
    assert_eq!(app.get("/auth/me", Some(&fresh)).await.0, StatusCode::OK, "a token issued after the change works");
    let mut stream = EventStream::open(&app, &fresh).await;
    let (status, _) = app.call(Method::DELETE, &format!("/user/{id}"), Some(&app.admin_token), None).await;
    assert_eq!(status, StatusCode::OK);
    stream.until(2, |kind, _| kind == "unauthorized").await;
    assert_eq!(app.get("/auth/me", Some(&fresh)).await.0, StatusCode::UNAUTHORIZED);
}

/// Item 3: a demoted admin's open stream stops showing other accounts' events.
async fn a_role_change_narrows_an_open_stream(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let (boss, boss_token) = app.user_with_role("admin").await;
    let (_, other) = app.user_with_role("user").await;
    let mut stream = EventStream::open(&app, &boss_token).await;
    let about =
        |id: &'static str| move |kind: &str, data: &Value| kind == "session.status" && data.to_string().contains(id);

    app.post("/session/create", Some(&other), json!({"sessionId": "theirs-1"})).await;
    stream.until(5, about("theirs-1")).await;

    let (status, _) =
        app.call(Method::PUT, &format!("/user/{boss}"), Some(&app.admin_token), Some(json!({"role": "user"}))).await;
    assert_eq!(status, StatusCode::OK);
    // The promise: within 2 s.
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    app.post("/session/create", Some(&other), json!({"sessionId": "theirs-2"})).await;
    app.post("/session/create", Some(&boss_token), json!({"sessionId": "mine-1"})).await;
    let seen = stream.until(5, about("mine-1")).await;
    assert!(!seen.iter().any(|(_, data)| data.to_string().contains("theirs-2")), "{seen:?}");
}

/// Item 4: every login costs exactly one bcrypt, known account or not, whatever
/// the password's length (counted by `/metrics`).
async fn every_login_costs_one_bcrypt(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let verifications = || async {
        let (_, text) = app.get("/metrics", Some(&app.admin_token)).await;
        let text = text.as_str().unwrap().to_owned();
        text.lines()
            .find_map(|l| l.strip_prefix("wagate_password_verifications_total "))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or_else(|| panic!("no wagate_password_verifications_total in {text}"))
    };
    let long = "x".repeat(500);
    for (identifier, password) in [
        ("admin", "wrong-password"),
        ("admin", long.as_str()),
        ("admin", ""),
        ("nobody", "wrong-password"),
        ("nobody@example.com", long.as_str()),
        ("", ""),
    ] {
        let before = verifications().await;
        let (status, resp) =
            app.post("/auth/login", None, json!({"identifier": identifier, "password": password})).await;
        assert!(status == StatusCode::UNAUTHORIZED || status == StatusCode::UNPROCESSABLE_ENTITY, "{status} {resp}");
        if status == StatusCode::UNAUTHORIZED {
            assert_eq!(verifications().await - before, 1, "{identifier:?} with {} bytes", password.len());
        }
    }
}

/// Item 4: per-account limits across addresses, IPv6 by /64, and
/// `X-Forwarded-For` believed only from a trusted proxy.
async fn login_throttling_sees_through_addresses(db: TestDb) {
    let attempt = |app: &TestApp, from: &str| {
        let req = app
            .client
            .post(format!("{}/auth/login", app.address))
            .header("x-forwarded-for", from)
            .json(&json!({"identifier": "admin", "password": "wrong-password"}));
        async move { TestApp::read(req).await.0 }
    };
    // Behind a trusted proxy: each forwarded address has its own allowance (2),
    // an IPv6 /64 is one address, and the account has 5 in all.
    let app = TestApp::spawn_with(db, |c| {
        c.server.trusted_proxies = vec!["127.0.0.1".into()];
        c.auth.login_attempts_per_minute = 2;
        c.auth.login_attempts_per_account_per_hour = 5;
    })
    .await;
    // The harness's own login used one of the account's 5.
    assert_eq!(attempt(&app, "2001:db8:1:2::1").await, StatusCode::UNAUTHORIZED);
    assert_eq!(attempt(&app, "2001:db8:1:2::2").await, StatusCode::UNAUTHORIZED);
    assert_eq!(attempt(&app, "2001:db8:1:2::3").await, StatusCode::TOO_MANY_REQUESTS, "same /64");
    assert_eq!(attempt(&app, "198.51.100.1").await, StatusCode::UNAUTHORIZED);
    assert_eq!(attempt(&app, "198.51.100.2").await, StatusCode::UNAUTHORIZED);
    let (status, resp) = TestApp::read(
        app.client
            .post(format!("{}/auth/login", app.address))
            .header("x-forwarded-for", "198.51.100.3")
            .json(&json!({"identifier": "admin", "password": "wrong-password"})),
    )
    .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "the account's allowance is spent: {resp}");
    assert_eq!(error_code(&resp), "too_many_attempts");
    drop(app);

    // No trusted proxy: the header is ignored, every attempt is from 127.0.0.1.
    let app = TestApp::spawn_with(db, |c| {
        c.auth.login_attempts_per_minute = 3;
        c.auth.login_attempts_per_account_per_hour = 0;
    })
    .await;
    assert_eq!(attempt(&app, "198.51.100.1").await, StatusCode::UNAUTHORIZED);
    assert_eq!(attempt(&app, "198.51.100.2").await, StatusCode::UNAUTHORIZED);
    assert_eq!(attempt(&app, "198.51.100.3").await, StatusCode::TOO_MANY_REQUESTS, "a forged header buys nothing");
}

/// Item 9: a second gateway on the same database refuses to start; once the
/// first has stopped, a new one starts.
async fn one_gateway_per_database(db: TestDb) {
    let mut app = TestApp::spawn(db).await;
    let err = wagate::App::build(app.config.clone()).await.err().expect("a second gateway is refused");
    let message = format!("{err:#}");
    assert!(message.contains("another wagate serve is running on this database"), "{message}");
    app.restart().await;
    assert_eq!(app.get("/auth/me", Some(&app.admin_token)).await.0, StatusCode::OK);
}

/// Item 10: deleting a session (or cleaning it up) keeps the messages it
/// accepted: the unsent ones fail with the reason, and all stay readable, in
/// `/message/list` and in broadcast reports.
async fn accepted_messages_outlive_their_session(db: TestDb) {
    // One message a minute: the rest wait in the queue.
    let app = TestApp::spawn_with(db, |c| c.limits.per_minute = 1).await;
    let (_, token) = app.user_with_role("user").await;
    app.linked_session(&token, "s1", "628111000011").await;
    app.sim.add_contacts(&["628999000011".to_owned()]);
    let ids: Vec<String> = {
        let mut ids = Vec::new();
        for n in 0..3 {
            ids.push(app.send_text(&token, "s1", "628999000011", &format!("pesan {n}")).await);
        }
        ids
    };
    let body = json!({"phone": "628999000011", "message": "gangguan", "session": "s1"});
    let (status, report) = app.post("/api/send/phone", Some(&token), body).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{report}");
    let broadcast = report["broadcast_id"].as_i64().unwrap();
    app.wait_message(&token, &ids[0], "sent", 30).await;

    let (status, _) = app.call(Method::DELETE, "/session/s1", Some(&token), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(app.get("/session/status?session=s1", Some(&token)).await.0, StatusCode::NOT_FOUND);
    let first = app.wait_message(&token, &ids[0], "sent", 5).await;
    assert_eq!(first["session"], "s1");
    for id in &ids[1..] {
        let view = app.wait_message(&token, id, "failed", 5).await;
        assert_eq!(view["reason"], "the session was deleted before the message was sent", "{view}");
    }
    let (status, list) = app.get("/message/list?session=s1", Some(&token)).await;
    assert_eq!((status, list["total"].as_u64()), (StatusCode::OK, Some(4)), "{list}");
    let (status, report) = app.get(&format!("/api/broadcasts/{broadcast}"), Some(&token)).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    let result = &report["results"][0];
    assert_eq!(result["status"], "failed", "{report}");
    assert_eq!(result["error"], "the session was deleted before the message was sent", "{report}");
    // Another account still cannot read them.
    let (_, stranger) = app.user_with_role("user").await;
    assert_eq!(app.get(&format!("/message/{}", ids[1]), Some(&stranger)).await.0, StatusCode::NOT_FOUND);
    assert_eq!(app.get("/message/list?session=s1", Some(&stranger)).await.1["total"], 0);

    // The same id again: a new session, the old messages still there.
    app.linked_session(&token, "s1", "628111000011").await;
    assert_eq!(app.get(&format!("/message/{}", ids[1]), Some(&token)).await.0, StatusCode::OK);

    // Cleanup of sessions not connected lately goes the same way.
    let (status, resp) = app.post("/session/logout", Some(&token), json!({"sessionId": "s1"})).await;
    assert_eq!(status, StatusCode::OK, "{resp}");
    {
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};
        use wagate::db::entities::sessions;
        let long_ago = chrono::Utc::now().naive_utc() - chrono::Duration::hours(2);
        sessions::Entity::update_many()
            .col_expr(sessions::Column::LastConnectedAt, Expr::value(long_ago))
            .filter(sessions::Column::Id.eq("s1"))
            .exec(&app.db)
            .await
            .unwrap();
    }
    let (status, resp) = app.post("/session/cleanup", Some(&token), json!({"hours": 1})).await;
    assert_eq!(status, StatusCode::OK, "{resp}");
    assert_eq!(app.get("/session/status?session=s1", Some(&token)).await.0, StatusCode::NOT_FOUND);
    for id in &ids {
        assert_eq!(app.get(&format!("/message/{id}"), Some(&token)).await.0, StatusCode::OK);
    }
}

/// Item 11: receipts that arrive while the database cannot take writes are
/// recorded once it can. SQLite: another writer holds the lock past the busy
/// timeout (10 s), so the writes fail and are retried; MariaDB: the rows are
/// locked for a while, so the writes wait.
async fn a_blocked_database_loses_no_receipt(db: TestDb) {
    use sea_orm::{ConnectionTrait, TransactionTrait};
    let app = TestApp::spawn_with(db, crate::helpers::no_limits).await;
    let (_, token) = app.user_with_role("user").await;
    app.linked_session(&token, "s1", "628111000031").await;
    app.sim.add_contacts(&["628999000031".to_owned()]);
    let mut ids = Vec::new();
    for n in 0..5 {
        ids.push(app.send_text(&token, "s1", "628999000031", &format!("pesan {n}")).await);
    }
    for id in &ids {
        app.wait_message(&token, id, "sent", 30).await;
    }

    let blocker = app.db.begin().await.unwrap();
    let hold = match db {
        TestDb::Sqlite => {
            blocker.execute_unprepared("UPDATE users SET name = name WHERE id = -1").await.unwrap();
            std::time::Duration::from_secs(12)
        }
        TestDb::MariaDb => {
            let list = ids.iter().map(|id| format!("'{id}'")).collect::<Vec<_>>().join(",");
            blocker
                .execute_unprepared(&format!("SELECT id FROM messages WHERE id IN ({list}) FOR UPDATE"))
                .await
                .unwrap();
            std::time::Duration::from_secs(5)
        }
    };
    for id in &ids {
        app.sim.receipt(id, "delivered").unwrap();
        app.sim.receipt(id, "read").unwrap();
    }
    tokio::time::sleep(hold).await;
    // Still blocked: nothing was recorded (the test can tell a retry from a first try).
    let (_, view) = app.get(&format!("/message/{}", ids[0]), Some(&token)).await;
    assert_eq!(view["data"]["status"], "sent", "{view}");
    blocker.rollback().await.unwrap();
    for id in &ids {
        let view = app.wait_message(&token, id, "read", 30).await;
        let history: Vec<_> = view["history"].as_array().unwrap().iter().map(|h| h["status"].clone()).collect();
        assert_eq!(history.last(), Some(&json!("read")), "{view}");
    }
}

/// Item 16: a role or status the code does not know, written into the
/// database by hand, is an error where it is read, never a silent default.
async fn unknown_stored_values_fail_loudly(db: TestDb) {
    use sea_orm::ConnectionTrait;
    let app = TestApp::spawn(db).await;
    let (id, token) = app.user_with_role("user").await;
    app.linked_session(&token, "s1", "628111000041").await;
    app.sim.add_contacts(&["628999000041".to_owned()]);
    let message = app.send_text(&token, "s1", "628999000041", "halo").await;
    app.wait_message(&token, &message, "sent", 30).await;
    let (_, before) = app.get("/session/list", Some(&token)).await;
    assert_eq!(before["data"][0]["status"], "connected");

    app.db.execute_unprepared(&format!("UPDATE messages SET status = 'lost' WHERE id = '{message}'")).await.unwrap();
    let (status, resp) = app.get(&format!("/message/{message}"), Some(&token)).await;
    assert_eq!((status, error_code(&resp)), (StatusCode::INTERNAL_SERVER_ERROR, "internal"), "{resp}");
    let (status, _) = app.get("/message/queue-status?session=s1", Some(&token)).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "counting by status fails too");

    app.db.execute_unprepared("UPDATE sessions SET status = 'zombie' WHERE id = 's1'").await.unwrap();
    let (status, resp) = app.get("/session/list", Some(&token)).await;
    assert_eq!((status, error_code(&resp)), (StatusCode::INTERNAL_SERVER_ERROR, "internal"), "{resp}");

    app.db.execute_unprepared(&format!("UPDATE users SET role = 'superuser' WHERE id = {id}")).await.unwrap();
    // Past the credentials cache (2 s), the token's user cannot be read: no role is guessed.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let (status, resp) = app.get("/auth/me", Some(&token)).await;
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            assert_eq!(error_code(&resp), "internal");
            break;
        }
        assert_eq!(status, StatusCode::OK, "{resp}");
        assert!(std::time::Instant::now() < deadline, "the unknown role was never noticed");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let (status, _) = app.get("/user/list", Some(&app.admin_token)).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
}

/// Item 2, numbers: a number is linked once per account. Another account may
/// link the same number (a companion device of its own), and nothing it sees
/// tells it the first account has it.
async fn numbers_are_not_shared_between_accounts(db: TestDb) {
    const PHONE: &str = "628111000051";
    let app = TestApp::spawn(db).await;
    let (_, first) = app.user_with_role("user").await;
    let (_, second) = app.user_with_role("user").await;
    app.linked_session(&first, "first-1", PHONE).await;

    let (status, body) =
        app.post("/session/create", Some(&second), json!({"sessionId": "second-1", "phoneNumber": PHONE})).await;
    assert_eq!(status, StatusCode::CREATED, "another account may link the same number: {body}");
    app.call(Method::DELETE, "/session/second-1", Some(&second), None).await;
    let view = app.linked_session(&second, "second-2", PHONE).await;
    assert_eq!(view["phoneNumber"], PHONE, "{view}");
    let (_, check) = app.post("/session/check-phone", Some(&second), json!({"phoneNumber": PHONE})).await;
    assert_eq!(check, json!({"hasActiveSession": true, "sessionId": "second-2"}));
    let (_, list) = app.get("/session/list", Some(&second)).await;
    assert!(!list.to_string().contains("first-1"), "{list}");
    app.wait_status(&first, "first-1", "connected", 5).await;

    // Within one account a number is still linked once.
    let (status, body) =
        app.post("/session/create", Some(&first), json!({"sessionId": "first-2", "phoneNumber": PHONE})).await;
    assert_eq!((status, error_code(&body)), (StatusCode::CONFLICT, "phone_in_use"), "{body}");
}

/// Item 2, session ids: a session id is a name within its account. Another
/// account's names can be neither taken nor probed: creating, listing,
/// sending, events and errors all behave as if the other account did not
/// exist, and nothing shown carries the internal key.
async fn session_ids_are_names_within_an_account(db: TestDb) {
    const FIRST: &str = "628111000061";
    const SECOND: &str = "628111000062";
    const CONTACT: &str = "628222000061";
    let app = TestApp::spawn_with(db, crate::helpers::no_limits).await;
    app.sim.add_contacts(&[CONTACT.to_owned()]);
    let (first_id, first) = app.user_with_role("user").await;
    let (second_id, second) = app.user_with_role("user").await;
    app.linked_session(&first, "kantor", FIRST).await;
    // A deleted session of the first account keeps its row (and key) for its messages.
    let (status, _) = app.post("/session/create", Some(&first), json!({"sessionId": "lama"})).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = app.call(Method::DELETE, "/session/lama", Some(&first), None).await;
    assert_eq!(status, StatusCode::OK);

    // The second account takes the same names, live and deleted, without a word about the first.
    let mut events = EventStream::open(&app, &second).await;
    let view = app.linked_session(&second, "kantor", SECOND).await;
    assert_eq!((view["sessionId"].as_str(), view["userId"].as_i64()), (Some("kantor"), Some(second_id)), "{view}");
    let (status, body) = app.post("/session/create", Some(&second), json!({"sessionId": "lama"})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["data"]["sessionId"], "lama");
    // Its own names are still its own once.
    let (status, body) = app.post("/session/create", Some(&second), json!({"sessionId": "kantor"})).await;
    assert_eq!((status, error_code(&body)), (StatusCode::CONFLICT, "session_exists"), "{body}");

    // Each account's "kantor" sends from its own number.
    let mine = app.send_text(&second, "kantor", CONTACT, "dari akun kedua").await;
    let theirs = app.send_text(&first, "kantor", CONTACT, "dari akun pertama").await;
    let view = app.wait_message(&second, &mine, "sent", 30).await;
    app.wait_message(&first, &theirs, "sent", 30).await;
    assert_eq!(view["session"], "kantor", "{view}");
    let got = app.sim.received(Some(CONTACT));
    let from = |id: &str| got.iter().find(|r| r.id == id).map(|r| r.from.clone());
    assert_eq!(from(&mine).as_deref(), Some(SECOND));
    assert_eq!(from(&theirs).as_deref(), Some(FIRST));
    let seen = events
        .until(10, |kind, data| kind == "message.status" && data["id"] == mine.as_str() && data["status"] == "sent")
        .await;

    // Neither account reaches the other's session or messages through the shared name.
    let (status, _) = app.get(&format!("/message/{theirs}"), Some(&second)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, list) = app.get("/message/list?session=kantor", Some(&second)).await;
    let ids: Vec<&str> = list["data"].as_array().unwrap().iter().filter_map(|m| m["id"].as_str()).collect();
    assert_eq!(ids, [mine.as_str()], "{list}");
    let (_, sessions) = app.get("/session/list", Some(&second)).await;
    let owners: Vec<i64> = sessions["data"].as_array().unwrap().iter().filter_map(|s| s["userId"].as_i64()).collect();
    assert_eq!(owners, [second_id, second_id], "{sessions}");
    let (_, status_view) = app.get("/message/queue-status?session=kantor", Some(&second)).await;
    assert_eq!(status_view["session"], "kantor", "{status_view}");

    // What the second account saw names its sessions by name only, never by an internal key.
    for shown in [list.to_string(), sessions.to_string(), status_view.to_string(), format!("{seen:?}")] {
        assert!(!shown.contains('~'), "an internal key was shown: {shown}");
    }
    assert!(seen.iter().all(|(_, data)| !data.to_string().contains(FIRST)), "{seen:?}");

    // An admin sees both, and must say which account's it means.
    let (status, body) = app.get("/session/status?session=kantor", Some(&app.admin_token)).await;
    assert_eq!((status, error_code(&body)), (StatusCode::CONFLICT, "session_ambiguous"), "{body}");

    // The first account deletes its "kantor": the second's goes on; an admin
    // naming "kantor" gets the only one left.
    let (status, _) = app.call(Method::DELETE, "/session/kantor", Some(&first), None).await;
    assert_eq!(status, StatusCode::OK);
    app.wait_status(&second, "kantor", "connected", 5).await;
    let (status, admin_view) = app.get("/session/status?session=kantor", Some(&app.admin_token)).await;
    assert_eq!((status, admin_view["data"]["userId"].as_i64()), (StatusCode::OK, Some(second_id)), "{admin_view}");
    // The first account's deleted message is still its own.
    let (status, view) = app.get(&format!("/message/{theirs}"), Some(&first)).await;
    assert_eq!((status, view["data"]["session"].as_str()), (StatusCode::OK, Some("kantor")), "{view}");
    let _ = first_id;
}

/// Issue 27: `POST /chats/` gives an agent only a chat it creates. Another
/// agent's chat answers 404 as if it did not exist, and an existing chat nobody
/// has is not taken over by the call; either way nothing about it changes.
async fn agents_cannot_take_chats_by_opening_them(db: TestDb) {
    let app = TestApp::spawn_with(db, |c| c.notify.default_session = "s1".into()).await;
    let token = app.admin_token.clone();
    app.linked_session(&token, "s1", "628111000271").await;
    let (rina, rina_token) = app.user_with_role("agent").await;
    let (_, budi_token) = app.user_with_role("agent").await;
    let open = |phone: &str| json!({"customer_name": "Pelanggan", "customer_phone": phone});

    let (status, rinas) = app.post("/chats/", Some(&rina_token), open("082220000271")).await;
    assert_eq!((status, rinas["assigned_agent_id"].as_i64()), (StatusCode::CREATED, Some(rina)), "{rinas}");
    let (status, body) = app.post("/chats/", Some(&budi_token), open("+62 822-2000-0271")).await;
    assert_eq!((status, error_code(&body)), (StatusCode::NOT_FOUND, "not_found"), "{body}");
    let (status, again) = app.post("/chats/", Some(&rina_token), open("6282220000271")).await;
    assert_eq!((status, again["id"].clone()), (StatusCode::OK, rinas["id"].clone()), "{again}");

    // A chat nobody has (the admin opened it): not taken over either.
    let (status, nobodys) = app.post("/chats/", Some(&token), open("082220000272")).await;
    assert_eq!((status, nobodys["assigned_agent_id"].clone()), (StatusCode::CREATED, Value::Null), "{nobodys}");
    let (status, body) = app.post("/chats/", Some(&budi_token), open("082220000272")).await;
    assert_eq!((status, error_code(&body)), (StatusCode::NOT_FOUND, "not_found"), "{body}");

    for (chat, agent) in [(&rinas, Value::from(rina)), (&nobodys, Value::Null)] {
        let (status, now) = app.get(&format!("/chats/{}", chat["id"]), Some(&token)).await;
        assert_eq!(status, StatusCode::OK, "{now}");
        assert_eq!(now["assigned_agent_id"], agent, "{now}");
        assert_eq!(now["mode"], chat["mode"], "{now}");
    }
}

/// Issue 27: a bot document costs work in proportion to its size. Too many
/// session overrides are refused before anything else is checked, and
/// overrides of sessions the account does not have before the menus are.
async fn bot_documents_are_checked_by_their_size(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let token = app.admin_token.clone();
    let (status, current) = app.get("/bot/config", Some(&token)).await;
    assert_eq!(status, StatusCode::OK, "{current}");
    let mut document = current["data"]["config"].clone();
    let overrides: serde_json::Map<String, Value> = (0..70_000).map(|n| (format!("s{n}"), json!({}))).collect();
    document["sessions"] = Value::Object(overrides);
    let (status, body) = app.call(Method::PUT, "/bot/config", Some(&token), Some(document.clone())).await;
    assert_eq!((status, error_code(&body)), (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"), "{body}");
    assert_eq!(body["error"]["field"], "sessions", "{body}");
    // A few, but not the account's: named before any menu is checked.
    let few: serde_json::Map<String, Value> = (0..20).map(|n| (format!("s{n}"), json!({"footer": "x"}))).collect();
    document["sessions"] = Value::Object(few);
    let (status, body) = app.call(Method::PUT, "/bot/config", Some(&token), Some(document)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["field"], "sessions.s0", "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("no session of that name"), "{body}");
}

db_tests!(
    bot_documents_are_checked_by_their_size,
    agents_cannot_take_chats_by_opening_them,
    session_ids_are_names_within_an_account,
    numbers_are_not_shared_between_accounts,
    a_blocked_database_loses_no_receipt,
    unknown_stored_values_fail_loudly,
    accepted_messages_outlive_their_session,
    limited_keys_stay_inside_their_sessions,
    revoking_a_key_ends_its_event_stream,
    password_change_and_deletion_revoke_tokens,
    a_role_change_narrows_an_open_stream,
    every_login_costs_one_bcrypt,
    login_throttling_sees_through_addresses,
    one_gateway_per_database,
);
