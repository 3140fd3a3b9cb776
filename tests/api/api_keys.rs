use reqwest::{Method, StatusCode};
use sea_orm::EntityTrait;
use serde_json::{Value, json};
use wagate::db::entities::api_keys;

use crate::{
    db_tests,
    helpers::{TestApp, TestDb, error_code},
};

async fn with_key(app: &TestApp, path: &str, key: &str) -> (StatusCode, Value) {
    TestApp::read(app.client.get(format!("{}{path}", app.address)).header("x-api-key", key)).await
}

async fn create_key(app: &TestApp, token: &str, body: Value) -> Value {
    let (status, body) = app.post("/auth/api-keys", Some(token), body).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["data"].clone()
}

async fn keys_are_random_prefixed_and_stored_hashed(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let first = create_key(&app, &app.admin_token, json!({"name": "billing"})).await;
    let second = create_key(&app, &app.admin_token, json!({"name": "billing"})).await;
    let (k1, k2) = (first["key"].as_str().unwrap(), second["key"].as_str().unwrap());
    assert!(k1.starts_with("wag_") && k2.starts_with("wag_"));
    assert_ne!(k1, k2);
    assert!(k1.len() >= 50, "{k1}");
    assert!(k1.starts_with(first["prefix"].as_str().unwrap()));

    // Every column of every row: the key is nowhere, nor its secret part.
    let models = api_keys::Entity::find().all(&app.db).await.unwrap();
    assert_eq!(models.len(), 2);
    let dump = format!("{models:?}");
    for key in [k1, k2] {
        let secret = &key[key.rfind('_').unwrap() + 1..];
        assert!(!dump.contains(key) && !dump.contains(secret), "plaintext key stored: {dump}");
    }
    for m in &models {
        assert_eq!(m.key_hash.len(), 64, "SHA-256 hex");
    }

    // Listing never shows the key.
    let (status, list) = app.get("/auth/api-keys", Some(&app.admin_token)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["data"].as_array().unwrap().len(), 2);
    assert!(!list.to_string().contains(k1));
    assert!(list["data"][0].get("key").is_none());
}

async fn keys_authenticate_until_deleted(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let (user_id, token) = app.user_with_role("user").await;
    let created = create_key(&app, &token, json!({"name": "integration"})).await;
    let key = created["key"].as_str().unwrap();

    let (status, me) = with_key(&app, "/auth/me", key).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["data"]["id"], user_id);
    // Also accepted as a Bearer token.
    assert_eq!(app.get("/auth/me", Some(key)).await.0, StatusCode::OK);
    // Use is recorded.
    let (_, list) = app.get("/auth/api-keys", Some(&token)).await;
    assert!(list["data"][0]["last_used_at"].is_string(), "{list}");

    // A near-miss of a real key is refused.
    let mut tampered = key.to_owned();
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'a' { 'b' } else { 'a' });
    for bad in [tampered.as_str(), "wag_nope", "", "not-a-key"] {
        let (status, body) = with_key(&app, "/auth/me", bad).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{bad:?}");
        assert_eq!(error_code(&body), "unauthorized");
    }

    // Someone else cannot delete it; its owner can, and then it stops working.
    let (_, other) = app.user_with_role("user").await;
    let path = format!("/auth/api-keys/{}", created["id"]);
    assert_eq!(app.call(Method::DELETE, &path, Some(&other), None).await.0, StatusCode::NOT_FOUND);
    assert_eq!(with_key(&app, "/auth/me", key).await.0, StatusCode::OK);
    let (status, body) = app.call(Method::DELETE, &path, Some(&token), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(with_key(&app, "/auth/me", key).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(app.call(Method::DELETE, &path, Some(&token), None).await.0, StatusCode::NOT_FOUND);
}

async fn keys_die_with_their_user(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let (user_id, token) = app.user_with_role("user").await;
    let key = create_key(&app, &token, json!({"name": "k"})).await["key"].as_str().unwrap().to_owned();
    let (status, _) = app.call(Method::DELETE, &format!("/user/{user_id}"), Some(&app.admin_token), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(with_key(&app, "/auth/me", &key).await.0, StatusCode::UNAUTHORIZED);
    assert!(api_keys::Entity::find().all(&app.db).await.unwrap().is_empty(), "cascade removed the key row");
}

async fn session_limits_are_recorded_and_cannot_be_widened(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let scoped = create_key(&app, &app.admin_token, json!({"name": "ops", "sessions": ["isp-1", "isp_2"]})).await;
    assert_eq!(scoped["sessions"], json!(["isp-1", "isp_2"]));
    let row = api_keys::Entity::find_by_id(scoped["id"].as_i64().unwrap()).one(&app.db).await.unwrap().unwrap();
    assert_eq!(row.sessions.as_deref(), Some(r#"["isp-1","isp_2"]"#));

    // A limited key may neither mint a broader key nor list the account's keys.
    let key = scoped["key"].as_str().unwrap();
    assert_eq!(with_key(&app, "/auth/api-keys", key).await.0, StatusCode::FORBIDDEN);
    let (status, body) = TestApp::read(
        app.client
            .post(format!("{}/auth/api-keys", app.address))
            .header("x-api-key", key)
            .json(&json!({"name": "wider"})),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");

    let (status, body) =
        app.post("/auth/api-keys", Some(&app.admin_token), json!({"name": "x", "sessions": ["../etc"]})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["field"], "sessions", "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("item 0"), "{body}");
}

db_tests!(
    keys_are_random_prefixed_and_stored_hashed,
    keys_authenticate_until_deleted,
    keys_die_with_their_user,
    session_limits_are_recorded_and_cannot_be_widened,
);
