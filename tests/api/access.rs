//! The allowed/denied table of every route against every role, and against no
//! credentials at all. The table must name exactly the routes of `/openapi.json`,
//! so a new route cannot slip in without a row.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::{
    db_tests,
    helpers::{TestApp, TestDb, error_code},
};

/// `limited`: an admin's API key limited to one session. It may use what
/// concerns its sessions (sessions, messages, broadcasts, the inbox) and read its
/// profile, notices and ODPs; nothing else.
const ALL: &[&str] = &["admin", "user", "agent", "readonly", "limited"];
/// Everyone but a limited key.
const EVERY_ROLE: &[&str] = &["admin", "user", "agent", "readonly"];
/// Sessions: users manage their own, readonly looks, agents work only the inbox.
const WRITERS: &[&str] = &["admin", "user", "limited"];
const READERS: &[&str] = &["admin", "user", "readonly", "limited"];
/// Account-wide data: closed to a limited key.
const ACCOUNT_WRITERS: &[&str] = &["admin", "user"];
const ACCOUNT_READERS: &[&str] = &["admin", "user", "readonly"];
/// The inbox: agents work their chats, readonly looks.
const INBOX: &[&str] = &["admin", "user", "agent", "limited"];

/// `(method, path, roles allowed)`; `None`: a public route that needs no credentials.
fn table() -> Vec<(&'static str, &'static str, Option<&'static [&'static str]>)> {
    vec![
        ("GET", "/", None),
        ("GET", "/health", None),
        ("POST", "/auth/register", None),
        ("POST", "/auth/login", None),
        ("POST", "/auth/session", None),
        ("DELETE", "/auth/session", None),
        ("GET", "/db-connect", None),
        ("GET", "/metrics", Some(EVERY_ROLE)),
        ("GET", "/openapi.json", None),
        ("GET", "/docs", None),
        ("GET", "/auth/me", Some(ALL)),
        ("PUT", "/auth/me/availability", Some(&["admin", "user", "agent"])),
        ("PUT", "/auth/me/language", Some(&["admin", "user", "agent"])),
        ("GET", "/auth/api-keys", Some(ACCOUNT_READERS)),
        ("POST", "/auth/api-keys", Some(ACCOUNT_WRITERS)),
        ("DELETE", "/auth/api-keys/{id}", Some(ACCOUNT_WRITERS)),
        ("GET", "/user/list", Some(&["admin"])),
        ("POST", "/user/create", Some(&["admin"])),
        ("PUT", "/user/{id}", Some(&["admin"])),
        ("DELETE", "/user/{id}", Some(&["admin"])),
        ("GET", "/events", Some(ALL)),
        ("POST", "/session/create", Some(WRITERS)),
        ("GET", "/session/list", Some(READERS)),
        ("GET", "/session/status", Some(READERS)),
        ("GET", "/session/qr/{sessionId}", Some(READERS)),
        ("GET", "/session/qr-image/{sessionId}", Some(READERS)),
        ("POST", "/session/pairing-code", Some(WRITERS)),
        ("POST", "/session/logout", Some(WRITERS)),
        ("POST", "/session/restart", Some(WRITERS)),
        ("DELETE", "/session/{sessionId}", Some(WRITERS)),
        ("POST", "/session/check-phone", Some(WRITERS)),
        ("POST", "/session/cleanup", Some(WRITERS)),
        ("GET", "/api/whatsapp/status", Some(READERS)),
        ("GET", "/api/whatsapp/qr", Some(READERS)),
        ("POST", "/api/whatsapp/connect", Some(WRITERS)),
        ("POST", "/api/whatsapp/restart", Some(WRITERS)),
        ("POST", "/api/whatsapp/logout", Some(WRITERS)),
        ("GET", "/session/{sessionId}/limits", Some(READERS)),
        ("PUT", "/session/{sessionId}/limits", Some(WRITERS)),
        ("GET", "/session/{sessionId}/calls", Some(READERS)),
        ("PUT", "/session/{sessionId}/calls", Some(WRITERS)),
        ("POST", "/message/send-text", Some(WRITERS)),
        ("POST", "/message/send-image", Some(WRITERS)),
        ("POST", "/message/send-document", Some(WRITERS)),
        ("POST", "/message/send-video", Some(WRITERS)),
        ("POST", "/message/send-audio", Some(WRITERS)),
        ("POST", "/message/send-voice", Some(WRITERS)),
        ("POST", "/message/send-sticker", Some(WRITERS)),
        ("POST", "/message/send-location", Some(WRITERS)),
        ("POST", "/message/send-contact", Some(WRITERS)),
        ("POST", "/message/send-poll", Some(WRITERS)),
        ("GET", "/message/{id}", Some(READERS)),
        ("DELETE", "/message/{id}", Some(WRITERS)),
        ("POST", "/message/{id}/edit", Some(WRITERS)),
        ("POST", "/message/react", Some(WRITERS)),
        ("GET", "/contacts/{phone}", Some(READERS)),
        ("GET", "/contacts/{phone}/picture", Some(READERS)),
        ("POST", "/contacts/check", Some(WRITERS)),
        ("GET", "/groups", Some(READERS)),
        ("POST", "/groups", Some(WRITERS)),
        ("GET", "/groups/{jid}", Some(READERS)),
        ("PATCH", "/groups/{jid}", Some(WRITERS)),
        ("POST", "/groups/{jid}/participants", Some(WRITERS)),
        ("GET", "/groups/{jid}/invite", Some(READERS)),
        ("POST", "/groups/{jid}/invite/revoke", Some(WRITERS)),
        ("POST", "/groups/join", Some(WRITERS)),
        ("POST", "/groups/{jid}/leave", Some(WRITERS)),
        ("GET", "/message/list", Some(READERS)),
        ("GET", "/message/queue-status", Some(READERS)),
        ("POST", "/message/clear-queue", Some(WRITERS)),
        ("GET", "/api/notices", Some(READERS)),
        ("POST", "/api/notices", Some(ACCOUNT_WRITERS)),
        ("GET", "/api/notices/{id}", Some(READERS)),
        ("PUT", "/api/notices/{id}", Some(ACCOUNT_WRITERS)),
        ("DELETE", "/api/notices/{id}", Some(ACCOUNT_WRITERS)),
        ("GET", "/api/customers", Some(ACCOUNT_READERS)),
        ("POST", "/api/customers/bulk", Some(ACCOUNT_WRITERS)),
        ("POST", "/api/customers/import", Some(ACCOUNT_WRITERS)),
        ("GET", "/api/odps", Some(READERS)),
        ("PUT", "/api/odps/{odp}", Some(ACCOUNT_WRITERS)),
        ("POST", "/api/send/notification", Some(WRITERS)),
        ("POST", "/api/send/custom", Some(WRITERS)),
        ("POST", "/api/send/phone", Some(WRITERS)),
        ("POST", "/api/send/by-odp/{odp}", Some(WRITERS)),
        ("GET", "/api/broadcasts", Some(READERS)),
        ("GET", "/api/broadcasts/{id}", Some(READERS)),
        ("POST", "/api/broadcasts/{id}/cancel", Some(WRITERS)),
        ("GET", "/message/received", Some(READERS)),
        ("GET", "/chats/", Some(ALL)),
        ("POST", "/chats/", Some(INBOX)),
        ("GET", "/chats/counts", Some(ALL)),
        ("GET", "/chats/search", Some(ALL)),
        ("GET", "/chats/export", Some(ALL)),
        ("GET", "/analytics/inbox", Some(ALL)),
        ("GET", "/chats/{id}", Some(ALL)),
        ("PATCH", "/chats/{id}", Some(INBOX)),
        ("GET", "/chats/{id}/messages", Some(ALL)),
        ("POST", "/chats/messages", Some(INBOX)),
        ("POST", "/chats/{id}/read", Some(INBOX)),
        ("POST", "/chats/{id}/notes", Some(INBOX)),
        ("GET", "/canned-replies", Some(ALL)),
        ("POST", "/canned-replies", Some(INBOX)),
        ("PATCH", "/canned-replies/{id}", Some(INBOX)),
        ("DELETE", "/canned-replies/{id}", Some(INBOX)),
        ("GET", "/labels", Some(ALL)),
        ("POST", "/labels", Some(INBOX)),
        ("PATCH", "/labels/{id}", Some(INBOX)),
        ("DELETE", "/labels/{id}", Some(INBOX)),
        ("PUT", "/chats/{id}/labels", Some(INBOX)),
        ("POST", "/chats/{id}/typing", Some(INBOX)),
        ("POST", "/chats/{id}/messages/{message_id}/react", Some(INBOX)),
        ("POST", "/chats/{id}/messages/{message_id}/edit", Some(INBOX)),
        ("DELETE", "/chats/{id}/messages/{message_id}", Some(INBOX)),
        ("GET", "/chats/{id}/messages/{message_id}/media", Some(ALL)),
        ("GET", "/webhooks", Some(READERS)),
        ("POST", "/webhooks", Some(WRITERS)),
        ("GET", "/webhooks/{id}", Some(READERS)),
        ("PATCH", "/webhooks/{id}", Some(WRITERS)),
        ("DELETE", "/webhooks/{id}", Some(WRITERS)),
        ("POST", "/webhooks/{id}/rotate-secret", Some(WRITERS)),
        ("GET", "/webhooks/{id}/deliveries", Some(READERS)),
        ("POST", "/webhooks/{id}/deliveries/{delivery_id}/retry", Some(WRITERS)),
        ("POST", "/webhooks/{id}/replay", Some(WRITERS)),
        ("POST", "/webhooks/{id}/test", Some(WRITERS)),
        ("GET", "/bot/config", Some(ACCOUNT_READERS)),
        ("PUT", "/bot/config", Some(ACCOUNT_WRITERS)),
        ("GET", "/inbox/settings", Some(ACCOUNT_READERS)),
        ("PUT", "/inbox/settings", Some(ACCOUNT_WRITERS)),
    ]
}

/// Like [`TestApp::call`], but an event stream is judged by its status alone
/// (its body never ends).
async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<serde_json::Value>,
) -> (StatusCode, serde_json::Value) {
    if path != "/events" {
        return app.call(method, path, token, body).await;
    }
    let mut req = app.client.request(method, format!("{}{path}", app.address));
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    if status.is_success() {
        return (status, serde_json::Value::Null);
    }
    (status, resp.json().await.unwrap())
}

async fn every_route_against_every_role(db: TestDb) {
    let app = TestApp::spawn(db).await;

    let mut documented = app.routes().await;
    let mut listed: Vec<_> = table().iter().map(|(m, p, _)| (m.to_string(), p.to_string())).collect();
    documented.sort();
    listed.sort();
    assert_eq!(listed, documented, "the access table and /openapi.json must list the same routes");

    let mut tokens = vec![("admin", app.admin_token.clone())];
    for role in ["user", "agent", "readonly"] {
        tokens.push((role, app.user_with_role(role).await.1));
    }
    let (status, key) =
        app.post("/auth/api-keys", Some(&app.admin_token), json!({"name": "one session", "sessions": ["s1"]})).await;
    assert_eq!(status, StatusCode::CREATED, "{key}");
    tokens.push(("limited", key["data"]["key"].as_str().unwrap().to_owned()));

    for (method, path, allowed) in table() {
        // Ids that exist nowhere, and empty bodies: an admitted request then fails
        // on validation or lookup (4xx other than 401/403) and changes nothing.
        let concrete = path
            .replace("{id}", "999999")
            .replace("{sessionId}", "no-such-session")
            .replace("{message_id}", "999999")
            .replace("{delivery_id}", "999999");
        let method: Method = method.parse().unwrap();
        let body = matches!(method, Method::POST | Method::PUT | Method::PATCH).then(|| json!({}));

        let (status, resp) = call(&app, method.clone(), &concrete, None, body.clone()).await;
        match allowed {
            None => assert!(
                status != StatusCode::UNAUTHORIZED && status != StatusCode::FORBIDDEN,
                "{method} {path} is public: {status}"
            ),
            Some(_) => {
                assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path} without credentials");
                assert_eq!(error_code(&resp), "unauthorized");
            }
        }
        let Some(allowed) = allowed else { continue };
        for (role, token) in &tokens {
            let (status, resp) = call(&app, method.clone(), &concrete, Some(token), body.clone()).await;
            if allowed.contains(role) {
                assert!(
                    status != StatusCode::UNAUTHORIZED && status != StatusCode::FORBIDDEN,
                    "{role} should reach {method} {path}, got {status} {resp}"
                );
                assert!(status.as_u16() < 500, "{role} {method} {path}: {status} {resp}");
            } else {
                assert_eq!(status, StatusCode::FORBIDDEN, "{role} must be refused {method} {path}: {resp}");
                assert_eq!(error_code(&resp), "forbidden");
            }
        }
    }
}

/// `readonly` gets 403 on every non-GET route, by JWT and by API key alike (the
/// key was made while the account was a `user`; the demotion applies to it at once).
async fn readonly_never_writes(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let (id, token) = app.user_with_role("user").await;
    let (status, created) = app.post("/auth/api-keys", Some(&token), json!({"name": "before demotion"})).await;
    assert_eq!(status, StatusCode::CREATED);
    let key = created["data"]["key"].as_str().unwrap().to_owned();
    let (status, _) =
        app.call(Method::PUT, &format!("/user/{id}"), Some(&app.admin_token), Some(json!({"role": "readonly"}))).await;
    assert_eq!(status, StatusCode::OK);

    for (method, path) in app.routes().await {
        // The public ways in and out (a login cookie's writes are checked in `auth`).
        if method == "GET" || path == "/auth/login" || path == "/auth/register" || path == "/auth/session" {
            continue;
        }
        let method: Method = method.parse().unwrap();
        let url = format!("{}{}", app.address, path.replace("{id}", "1").replace("{sessionId}", "s1"));
        for credential in [format!("Bearer {token}"), key.clone()] {
            let header = if credential.starts_with("Bearer ") { "authorization" } else { "x-api-key" };
            let req = app.client.request(method.clone(), &url).header(header, &credential).json(&json!({}));
            let (status, resp) = TestApp::read(req).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "readonly {method} {path} via {header}: {resp}");
        }
    }
}

/// Every route that names an object, called by another account (and by a key
/// of that account limited to its own session) with the real objects of the
/// first: nothing is found, nothing changes.
async fn another_accounts_real_objects_stay_out_of_reach(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let (owner_id, owner) = app.user_with_role("user").await;
    app.linked_session(&owner, "a1", "628111000021").await;
    app.sim.add_contacts(&["628999000021".to_owned()]);
    let message = app.send_text(&owner, "a1", "628999000021", "milik a1").await;
    app.wait_message(&owner, &message, "sent", 30).await;
    let body = json!({"session": "a1", "subject": "Grup a1", "participants": ["628999000021"]});
    let (status, made) = app.post("/groups", Some(&owner), body).await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    let group = made["data"]["jid"].as_str().unwrap().to_owned();
    app.sim.inbound("628999000021", "628111000021", "halo a1", "Budi").await.unwrap();
    let chats = loop {
        let (_, chats) = app.get("/chats/", Some(&owner)).await;
        if chats.as_array().is_some_and(|c| !c.is_empty()) {
            break chats;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    let chat = chats[0]["id"].as_i64().unwrap();
    let (_, detail) = app.get(&format!("/chats/{chat}"), Some(&owner)).await;
    let entry = detail["messages"][0]["id"].as_i64().unwrap();
    let (status, notice) = app
        .post("/api/notices", Some(&owner), json!({"title": "Gangguan", "message": "ODP-1 mati", "odps": ["ODP-1"]}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{notice}");
    let notice = notice["data"]["id"].as_i64().unwrap();
    let body = json!({"phone": "628999000021", "message": "gangguan", "session": "a1"});
    let (status, broadcast) = app.post("/api/send/phone", Some(&owner), body).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{broadcast}");
    let broadcast = broadcast["broadcast_id"].as_i64().unwrap();
    // A webhook endpoint (off: nothing is posted) with a delivery in its log.
    let (status, canned) =
        app.post("/canned-replies", Some(&owner), json!({"shortcut": "salam", "text": "Halo {nama}"})).await;
    assert_eq!(status, StatusCode::CREATED, "{canned}");
    let canned = canned["data"]["id"].as_i64().unwrap();
    let (status, label) = app.post("/labels", Some(&owner), json!({"name": "VIP", "colour": "#d4a017"})).await;
    assert_eq!(status, StatusCode::CREATED, "{label}");
    let label = label["data"]["id"].as_i64().unwrap();
    let hook = json!({"url": "http://93.184.216.34/hook", "enabled": false, "sessions": ["a1"]});
    let (status, hook) = app.post("/webhooks", Some(&owner), hook).await;
    assert_eq!(status, StatusCode::CREATED, "{hook}");
    let hook = hook["data"]["id"].as_i64().unwrap();
    let (status, ping) = app.post(&format!("/webhooks/{hook}/test"), Some(&owner), json!({})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{ping}");
    let delivery = ping["data"]["id"].as_i64().unwrap();
    let (_, key) = app.post("/auth/api-keys", Some(&owner), json!({"name": "a1 key"})).await;
    let (owner_key, key_id) = (key["data"]["key"].as_str().unwrap().to_owned(), key["data"]["id"].as_i64().unwrap());

    let (_, stranger) = app.user_with_role("user").await;
    app.post("/session/create", Some(&stranger), json!({"sessionId": "b1"})).await;
    let stranger_key = {
        let (_, key) =
            app.post("/auth/api-keys", Some(&stranger), json!({"name": "b1 only", "sessions": ["b1"]})).await;
        key["data"]["key"].as_str().unwrap().to_owned()
    };
    let attempts: Vec<(Method, String, Option<serde_json::Value>)> = vec![
        (Method::GET, "/session/status?session=a1".into(), None),
        (Method::GET, "/session/qr/a1".into(), None),
        (Method::GET, "/session/qr-image/a1".into(), None),
        (Method::POST, "/session/pairing-code".into(), Some(json!({"sessionId": "a1", "phoneNumber": "628111000021"}))),
        (Method::POST, "/session/logout".into(), Some(json!({"sessionId": "a1"}))),
        (Method::POST, "/session/restart".into(), Some(json!({"sessionId": "a1"}))),
        (Method::DELETE, "/session/a1".into(), None),
        (Method::GET, "/session/a1/limits".into(), None),
        (Method::PUT, "/session/a1/limits".into(), Some(json!({"perMinute": 1000}))),
        (Method::GET, "/session/a1/calls".into(), None),
        (Method::PUT, "/session/a1/calls".into(), Some(json!({"reject": true, "reply": "stranger"}))),
        (Method::POST, "/message/send-text".into(), Some(json!({"session": "a1", "to": "628999000021", "text": "x"}))),
        (
            Method::POST,
            "/message/send-location".into(),
            Some(json!({"session": "a1", "to": "628999000021", "latitude": 1, "longitude": 2})),
        ),
        (
            Method::POST,
            "/message/send-contact".into(),
            Some(
                json!({"session": "a1", "to": "628999000021", "contacts": [{"name": "A", "phones": ["628999000022"]}]}),
            ),
        ),
        (
            Method::POST,
            "/message/send-poll".into(),
            Some(json!({"session": "a1", "to": "628999000021", "question": "?", "options": ["a", "b"]})),
        ),
        (
            Method::POST,
            "/message/send-voice".into(),
            Some(json!({"session": "a1", "to": "628999000021", "voice": "http://93.184.216.35/n.ogg"})),
        ),
        (Method::GET, format!("/message/{message}"), None),
        (Method::POST, format!("/message/{message}/edit"), Some(json!({"text": "diubah"}))),
        (Method::DELETE, format!("/message/{message}"), None),
        (Method::POST, "/contacts/check".into(), Some(json!({"session": "a1", "phones": ["628999000021"]}))),
        (Method::GET, "/contacts/628999000021?session=a1".into(), None),
        (Method::GET, "/contacts/628999000021/picture?session=a1".into(), None),
        (Method::GET, "/groups?session=a1".into(), None),
        (
            Method::POST,
            "/groups".into(),
            Some(json!({"session": "a1", "subject": "x", "participants": ["628999000021"]})),
        ),
        (Method::GET, format!("/groups/{group}?session=a1"), None),
        (Method::PATCH, format!("/groups/{group}"), Some(json!({"session": "a1", "subject": "diambil"}))),
        (
            Method::POST,
            format!("/groups/{group}/participants"),
            Some(json!({"session": "a1", "add": ["628999000022"]})),
        ),
        (Method::GET, format!("/groups/{group}/invite?session=a1"), None),
        (Method::PUT, "/api/odps/ODP-1".into(), Some(json!({"group_jid": group, "session": "a1"}))),
        (Method::POST, format!("/groups/{group}/invite/revoke"), Some(json!({"session": "a1"}))),
        (Method::POST, "/groups/join".into(), Some(json!({"session": "a1", "invite": "AbCdEf0123456789"}))),
        (Method::POST, format!("/groups/{group}/leave"), Some(json!({"session": "a1"}))),
        (
            Method::POST,
            "/message/react".into(),
            Some(json!({"session": "a1", "to": "628999000021", "messageId": message, "emoji": "👍"})),
        ),
        (Method::GET, "/message/queue-status?session=a1".into(), None),
        (Method::POST, "/message/clear-queue".into(), Some(json!({"session": "a1"}))),
        (Method::GET, format!("/api/notices/{notice}"), None),
        (Method::PUT, format!("/api/notices/{notice}"), Some(json!({"title": "diambil alih"}))),
        (Method::DELETE, format!("/api/notices/{notice}"), None),
        (
            Method::POST,
            "/api/send/phone".into(),
            Some(json!({"phone": "628999000021", "message": "x", "session": "a1"})),
        ),
        (Method::GET, format!("/api/broadcasts/{broadcast}"), None),
        (Method::POST, format!("/api/broadcasts/{broadcast}/cancel"), Some(json!({}))),
        (Method::GET, format!("/chats/{chat}"), None),
        (Method::PATCH, format!("/chats/{chat}"), Some(json!({"mode": "closed"}))),
        (Method::GET, format!("/chats/{chat}/messages"), None),
        (Method::GET, format!("/chats/search?q=halo&chat_id={chat}"), None),
        (Method::GET, format!("/chats/export?chat_id={chat}"), None),
        (Method::POST, format!("/chats/{chat}/read"), Some(json!({}))),
        (Method::POST, format!("/chats/{chat}/notes"), Some(json!({"text": "catatan orang lain"}))),
        (Method::POST, format!("/chats/{chat}/typing"), Some(json!({"state": "composing"}))),
        (Method::GET, format!("/chats/{chat}/messages/{entry}/media"), None),
        (Method::POST, format!("/chats/{chat}/messages/{entry}/react"), Some(json!({"emoji": "👎"}))),
        (Method::POST, format!("/chats/{chat}/messages/{entry}/edit"), Some(json!({"text": "diubah"}))),
        (Method::DELETE, format!("/chats/{chat}/messages/{entry}"), None),
        (Method::POST, "/chats/messages".into(), Some(json!({"chat_id": chat, "text": "diambil alih"}))),
        (Method::GET, format!("/canned-replies?chat_id={chat}"), None),
        (Method::PATCH, format!("/canned-replies/{canned}"), Some(json!({"text": "diambil"}))),
        (Method::DELETE, format!("/canned-replies/{canned}"), None),
        (Method::GET, format!("/labels?chat_id={chat}"), None),
        (Method::PATCH, format!("/labels/{label}"), Some(json!({"name": "diambil"}))),
        (Method::DELETE, format!("/labels/{label}"), None),
        (Method::PUT, format!("/chats/{chat}/labels"), Some(json!({"labels": [label]}))),
        (Method::DELETE, format!("/auth/api-keys/{key_id}"), None),
        (Method::GET, format!("/webhooks/{hook}"), None),
        (Method::PATCH, format!("/webhooks/{hook}"), Some(json!({"url": "http://93.184.216.35/stolen"}))),
        (Method::POST, format!("/webhooks/{hook}/rotate-secret"), Some(json!({}))),
        (Method::GET, format!("/webhooks/{hook}/deliveries"), None),
        (Method::POST, format!("/webhooks/{hook}/deliveries/{delivery}/retry"), Some(json!({}))),
        (Method::POST, format!("/webhooks/{hook}/replay"), Some(json!({"since": "2020-01-01T00:00:00Z"}))),
        (Method::POST, format!("/webhooks/{hook}/test"), Some(json!({}))),
        (Method::DELETE, format!("/webhooks/{hook}"), None),
    ];
    for credential in [&stranger, &stranger_key] {
        for (method, path, body) in &attempts {
            let (status, resp) = app.call(method.clone(), path, Some(credential), body.clone()).await;
            let refused = status == StatusCode::NOT_FOUND || status == StatusCode::FORBIDDEN;
            assert!(refused, "{method} {path} with another account's object: {status} {resp}");
            error_code(&resp);
        }
        let (_, hooks) = app.get("/webhooks", Some(credential)).await;
        assert_eq!(hooks["data"], json!([]), "another account's endpoints are not listed");
        for path in
            ["/message/list?session=a1", "/message/received?session=a1", "/chats/?session=a1", "/chats/search?q=halo"]
        {
            let (status, resp) = app.get(path, Some(credential)).await;
            let empty = resp["total"] == 0 || resp["data"] == json!([]) || resp == json!([]);
            assert!(status == StatusCode::NOT_FOUND || (status == StatusCode::OK && empty), "{path}: {status} {resp}");
        }
        for (method, path) in
            [(Method::PUT, format!("/user/{owner_id}")), (Method::DELETE, format!("/user/{owner_id}"))]
        {
            let (status, _) = app.call(method.clone(), &path, Some(credential), Some(json!({}))).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}");
        }
    }

    // The owner's objects are as they were.
    assert_eq!(app.wait_status(&owner, "a1", "connected", 5).await["status"], "connected");
    assert_eq!(app.get(&format!("/api/notices/{notice}"), Some(&owner)).await.1["data"]["title"], "Gangguan");
    let (_, report) = app.get(&format!("/api/broadcasts/{broadcast}"), Some(&owner)).await;
    assert_eq!(report["status"].as_str().map(|s| s != "cancelled"), Some(true), "{report}");
    assert_eq!(app.get("/auth/me", Some(&owner_key)).await.0, StatusCode::OK, "the key was not revoked");
    let (_, limits) = app.get("/session/a1/limits", Some(&owner)).await;
    let per_minute = limits["data"]["limits"]["perMinute"].as_u64().expect("limits readable");
    assert_ne!(per_minute, 1000, "{limits}");
    let (_, calls) = app.get("/session/a1/calls", Some(&owner)).await;
    assert_eq!(calls["data"]["overrides"], json!({}), "{calls}");
    let (_, chat) = app.get(&format!("/chats/{chat}"), Some(&owner)).await;
    assert_eq!(chat["mode"].as_str().map(|m| m != "closed"), Some(true), "{chat}");
    let (_, hook_now) = app.get(&format!("/webhooks/{hook}"), Some(&owner)).await;
    assert_eq!(hook_now["data"]["url"], "http://93.184.216.34/hook", "{hook_now}");
    let (_, log) = app.get(&format!("/webhooks/{hook}/deliveries"), Some(&owner)).await;
    assert_eq!(log["total"], 1, "{log}");
    let kept = app.sim.group(group.trim_end_matches("@g.us")).expect("the group");
    assert_eq!(kept.subject, "Grup a1");
    assert_eq!(kept.participants.len(), 2, "{kept:?}");
    assert_eq!(app.sim.groups().len(), 1, "a group was made for another account");
}

db_tests!(every_route_against_every_role, readonly_never_writes, another_accounts_real_objects_stay_out_of_reach);
