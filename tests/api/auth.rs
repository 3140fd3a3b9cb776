use std::time::Duration;

use reqwest::StatusCode;
use sea_orm::EntityTrait;
use serde_json::json;
use wagate::{
    auth::{JwtKeys, jwt},
    db::entities::users,
    model::Role,
};

use crate::{
    db_tests,
    helpers::{ADMIN_EMAIL, ADMIN_PASSWORD, TestApp, TestDb, error_code},
};

/// The claims of a token, checked against the secret the app keeps in its data dir.
fn claims_of(app: &TestApp, token: &str) -> jwt::Claims {
    let secret = jwt::load_or_create_secret("", &app.config.storage.data_dir).unwrap();
    JwtKeys::new(&secret, Duration::from_secs(60)).verify(token).expect("token signed with the kept secret")
}

async fn login_by_email_or_username(db: TestDb) {
    let app = TestApp::spawn(db).await;
    // seed 003 shape: {email, password}
    let (status, body) = app.post("/auth/login", None, json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["token"], body["access_token"]);
    assert_eq!(body["user"]["email"], ADMIN_EMAIL);
    assert_eq!(body["user"]["role"], "admin");
    assert!(body["user"].get("password_hash").is_none());

    // seed 000 shape: {identifier, password}, by username and by email (any case)
    let by_username = app.login("admin", ADMIN_PASSWORD).await;
    let by_email = app.login("ROOT@Example.com", ADMIN_PASSWORD).await;

    let admin = app.get("/auth/me", Some(&by_username)).await.1["data"].clone();
    let claims = claims_of(&app, &by_email);
    assert_eq!(claims.sub, admin["id"].as_i64().unwrap().to_string());
    assert_eq!(claims.role, Role::Admin);
    let now = chrono::Utc::now().timestamp();
    // default auth.jwt_expires_in = 7d
    assert!((claims.exp - now - 7 * 24 * 3600).abs() < 60, "exp {} now {now}", claims.exp);
}

async fn me_requires_a_valid_token(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let (status, body) = app.get("/auth/me", Some(&app.admin_token)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"]["email"], ADMIN_EMAIL);
    assert_eq!(body["data"]["username"], "admin");

    for bad in [None, Some("garbage"), Some("a.b.c")] {
        let (status, body) = app.get("/auth/me", bad).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{bad:?}");
        assert_eq!(error_code(&body), "unauthorized");
    }
    // A token signed with another secret is refused.
    let forged =
        JwtKeys::new(b"another-secret-another-secret-xx", Duration::from_secs(600)).issue(1, Role::Admin, 0).unwrap();
    assert_eq!(app.get("/auth/me", Some(&forged)).await.0, StatusCode::UNAUTHORIZED);
}

async fn wrong_password_is_401(db: TestDb) {
    let app = TestApp::spawn(db).await;
    for (identifier, password) in [
        ("admin", "wrong-password"),
        (ADMIN_EMAIL, "wrong-password"),
        ("nobody", ADMIN_PASSWORD),
        ("nobody@example.com", ADMIN_PASSWORD),
        // longer than bcrypt reads: never accepted, even when its first 72 bytes match
        ("admin", &format!("{ADMIN_PASSWORD}{}", "x".repeat(80))),
    ] {
        let (status, body) =
            app.post("/auth/login", None, json!({"identifier": identifier, "password": password})).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{identifier}");
        assert_eq!(error_code(&body), "unauthorized");
    }
    let (status, body) = app.post("/auth/login", None, json!({"password": ADMIN_PASSWORD})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_code(&body), "validation_failed");
}

async fn registration_validates_and_refuses_duplicates(db: TestDb) {
    let app = TestApp::spawn_with(db, |c| c.auth.open_registration = true).await;
    let ok = json!({"email": "ani@example.com", "password": "123456", "name": "Ani", "username": "ani"});
    let (status, body) = app.post("/auth/register", None, ok.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["message"], "Register success");
    assert_eq!(body["data"]["role"], "user");
    // the seed's `role` field does not let anyone pick a role
    let (status, body) = app
        .post(
            "/auth/register",
            None,
            json!({"email": "budi@example.com", "password": "123456", "name": "Budi", "role": "admin"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(body["data"]["role"], "user");

    for (field, patch) in [
        ("email", json!({"email": "not-an-email"})),
        ("email", json!({"email": "a@b"})),
        ("password", json!({"password": "12345"})),
        ("password", json!({"password": "x".repeat(73)})),
        ("password", json!({"password": "€".repeat(25)})),
        ("name", json!({"name": "   "})),
        ("username", json!({"username": "has space"})),
        ("email", json!({"email": 42})),
    ] {
        let mut body = json!({"email": "new@example.com", "password": "123456", "name": "New"});
        for (k, v) in patch.as_object().unwrap() {
            body[k] = v.clone();
        }
        let (status, resp) = app.post("/auth/register", None, body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{patch}: {resp}");
        assert_eq!(error_code(&resp), "validation_failed");
        assert_eq!(resp["error"]["field"], field, "{resp}");
        assert!(resp["error"]["message"].as_str().unwrap().contains(field));
    }
    // 72 bytes is the most bcrypt reads, and is accepted.
    let (status, _) = app
        .post("/auth/register", None, json!({"email": "long@example.com", "password": "x".repeat(72), "name": "Long"}))
        .await;
    assert_eq!(status, StatusCode::CREATED);

    let (status, body) = app
        .post("/auth/register", None, json!({"email": "ANI@example.com", "password": "123456", "name": "Ani 2"}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["error"]["field"], "email");
    // Look-alikes are the same address: compatibility forms (full-width letters) fold (NFKC).
    for look_alike in ["\u{ff41}ni@example.com", "\u{ff21}\u{ff2e}\u{ff29}@example.com", "a\u{ff4e}i@example.com"] {
        let register = json!({"email": look_alike, "password": "123456", "name": "Ani palsu"});
        let (status, body) = app.post("/auth/register", None, register).await;
        assert_eq!(
            (status, body["error"]["field"].as_str()),
            (StatusCode::CONFLICT, Some("email")),
            "{look_alike}: {body}"
        );
    }
    let (status, body) = app
        .post(
            "/auth/register",
            None,
            json!({"email": "other@example.com", "password": "123456", "name": "Ani 3", "username": "Ani"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["error"]["field"], "username");
}

async fn registration_is_closed_by_default(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let (status, body) =
        app.post("/auth/register", None, json!({"email": "x@example.com", "password": "123456", "name": "X"})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(error_code(&body), "registration_closed");
    assert_eq!(users::Entity::find().all(&app.db).await.unwrap().len(), 1);
}

/// bcrypt runs at the configured cost, and the secret behind tokens survives a
/// restart: a token issued before it still works after it.
async fn bcrypt_cost_and_tokens_survive_restart(db: TestDb) {
    let mut app = TestApp::spawn_with(db, |c| c.auth.bcrypt_cost = 5).await;
    let rows = users::Entity::find().all(&app.db).await.unwrap();
    assert!(rows[0].password_hash.starts_with("$2b$05$"), "{}", rows[0].password_hash);

    let token = app.admin_token.clone();
    let before = app.address.clone();
    app.restart().await;
    assert_ne!(before, app.address, "a new listener");
    let (status, body) = app.get("/auth/me", Some(&token)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["email"], ADMIN_EMAIL);
}

/// A token of a deleted user stops working; a changed role applies at once.
async fn tokens_follow_the_account(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let (id, token) = app.user_with_role("user").await;
    assert_eq!(app.get("/auth/api-keys", Some(&token)).await.0, StatusCode::OK);
    let (status, _) = app
        .call(reqwest::Method::PUT, &format!("/user/{id}"), Some(&app.admin_token), Some(json!({"role": "agent"})))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(app.get("/auth/api-keys", Some(&token)).await.0, StatusCode::FORBIDDEN);
    let (status, _) = app.call(reqwest::Method::DELETE, &format!("/user/{id}"), Some(&app.admin_token), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(app.get("/auth/me", Some(&token)).await.0, StatusCode::UNAUTHORIZED);
}

/// Past `auth.login_attempts_per_minute` from one address, an account's logins
/// get 429 with Retry-After (the right password too), whichever name is typed;
/// other accounts are not held up.
async fn login_attempts_are_limited_per_account(db: TestDb) {
    // Four a minute: the harness logged the admin in once (admin_token), three wrong ones follow.
    let app = TestApp::spawn_with(db, |c| c.auth.login_attempts_per_minute = 4).await;
    let (_, other_token) = app.user_with_role("user").await;
    let login = |identifier: &str, password: &str| {
        app.client
            .post(format!("{}/auth/login", app.address))
            .json(&json!({"identifier": identifier, "password": password}))
            .send()
    };
    for identifier in ["admin", ADMIN_EMAIL, "ADMIN"] {
        let response = login(identifier, "wrong-password").await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{identifier}");
    }
    let response = login("admin", ADMIN_PASSWORD).await.unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=20).contains(&wait), "Retry-After {wait}");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(error_code(&body), "too_many_attempts");
    let response = login(ADMIN_EMAIL, ADMIN_PASSWORD).await.unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS, "the email is the same account");
    // Unknown names count too, each on its own.
    for _ in 0..4 {
        assert_eq!(login("nobody", "whatever-password").await.unwrap().status(), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(login("nobody", "whatever-password").await.unwrap().status(), StatusCode::TOO_MANY_REQUESTS);
    // Another account logs in as ever.
    let (_, me) = app.get("/auth/me", Some(&other_token)).await;
    let response = login(me["data"]["email"].as_str().unwrap(), "secret-pw").await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

/// The dashboard's login: an HttpOnly, SameSite=Strict cookie whose token is
/// stored only hashed; the role table applies to it; writes need the page's
/// Origin; a password change and a logout end it; only the gateway's own pages
/// may log in with it.
async fn the_login_cookie(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let own = app.address.trim_end_matches('/').to_owned();
    let url = |path: &str| format!("{own}{path}");
    let credentials = json!({"identifier": ADMIN_EMAIL, "password": ADMIN_PASSWORD});

    // Only from the gateway's own pages.
    for origin in [None, Some("http://evil.example")] {
        let mut req = app.client.post(url("/auth/session")).json(&credentials);
        if let Some(origin) = origin {
            req = req.header("origin", origin);
        }
        let (status, body) = TestApp::read(req).await;
        assert_eq!((status, error_code(&body)), (StatusCode::FORBIDDEN, "cross_origin"), "{origin:?}: {body}");
    }
    let wrong = json!({"identifier": ADMIN_EMAIL, "password": "not-the-password"});
    let (status, _) = TestApp::read(app.client.post(url("/auth/session")).header("origin", &own).json(&wrong)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let login = |credentials: serde_json::Value| {
        let req = app.client.post(url("/auth/session")).header("origin", &own).json(&credentials);
        async move {
            let resp = req.send().await.unwrap();
            assert_eq!(resp.status(), StatusCode::OK);
            let set = resp.headers()["set-cookie"].to_str().unwrap().to_owned();
            let token = set.strip_prefix("wagate_session=").unwrap().split(';').next().unwrap().to_owned();
            (set, format!("wagate_session={token}"), token)
        }
    };
    let (set, cookie, token) = login(credentials.clone()).await;
    assert!(set.contains("; HttpOnly") && set.contains("; SameSite=Strict") && set.contains("; Path=/"), "{set}");
    assert!(!set.contains("Secure"), "plain HTTP: {set}");
    let stored = wagate::db::entities::web_logins::Entity::find().all(&app.db).await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_ne!(stored[0].token_hash, token, "the token is stored hashed");

    let get = |path: &str, cookie: &str| TestApp::read(app.client.get(url(path)).header("cookie", cookie));
    let (status, me) = get("/auth/me", &cookie).await;
    assert_eq!((status, me["data"]["email"].as_str()), (StatusCode::OK, Some(ADMIN_EMAIL)));
    assert_eq!(get("/user/list", &cookie).await.0, StatusCode::OK);
    let notice = json!({"title": "t", "message": "m"});
    let post = |origin: Option<&str>, cookie: &str| {
        let mut req = app.client.post(url("/api/notices")).header("cookie", cookie).json(&notice);
        if let Some(origin) = origin {
            req = req.header("origin", origin);
        }
        TestApp::read(req)
    };
    for origin in [None, Some("http://evil.example"), Some("null")] {
        let (status, body) = post(origin, &cookie).await;
        assert_eq!((status, error_code(&body)), (StatusCode::FORBIDDEN, "cross_origin"), "{origin:?}");
    }
    assert_eq!(post(Some(&own), &cookie).await.0, StatusCode::CREATED);
    assert_eq!(get("/auth/me", "wagate_session=forged").await.0, StatusCode::UNAUTHORIZED);

    // The role table holds for cookies as for tokens.
    let (agent_id, _) = app.user_with_role("agent").await;
    let (_, users) = app.get("/user/list", Some(&app.admin_token)).await;
    let agent_email = users["data"].as_array().unwrap().iter().find(|u| u["id"] == agent_id).unwrap()["email"].clone();
    let (_, agent, _) = login(json!({"identifier": agent_email, "password": "secret-pw"})).await;
    assert_eq!(get("/chats/", &agent).await.0, StatusCode::OK);
    assert_eq!(get("/session/list", &agent).await.0, StatusCode::FORBIDDEN);

    // A password change ends the agent's login; logging out ends the admin's.
    let change = json!({"password": "another-pw-2"});
    let (status, _) =
        app.call(reqwest::Method::PUT, &format!("/user/{agent_id}"), Some(&app.admin_token), Some(change)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(get("/auth/me", &agent).await.0, StatusCode::UNAUTHORIZED);
    let logout = app.client.delete(url("/auth/session")).header("cookie", &cookie).header("origin", &own);
    let resp = logout.send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.headers()["set-cookie"].to_str().unwrap().contains("Max-Age=0"));
    assert_eq!(get("/auth/me", &cookie).await.0, StatusCode::UNAUTHORIZED);
}

/// The dashboard's language: the browser's `Accept-Language` until the person
/// chooses one, then theirs; the gateway's time zone with it.
async fn a_language_of_ones_own(db: TestDb) {
    let app = TestApp::spawn_with(db, |c| c.server.timezone = "Asia/Makassar".into()).await;
    let (_, agent) = app.user_with_role("agent").await;
    let me = |accept: &'static str| {
        let (app, agent) = (&app, agent.clone());
        async move {
            let resp = app
                .client
                .get(format!("{}/auth/me", app.address))
                .bearer_auth(agent)
                .header("accept-language", accept)
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), StatusCode::OK);
            resp.json::<serde_json::Value>().await.unwrap()["data"].clone()
        }
    };
    let first = me("id-ID,id;q=0.9,en;q=0.8").await;
    assert_eq!(
        (&first["ui_language"], &first["language"], &first["timezone"]),
        (&json!("id"), &json!(null), &json!("Asia/Makassar")),
        "{first}"
    );
    assert_eq!(me("en-US,en;q=0.9").await["ui_language"], json!("en"));
    let set = |language: serde_json::Value| {
        let (app, agent) = (&app, agent.clone());
        async move {
            app.call(reqwest::Method::PUT, "/auth/me/language", Some(&agent), Some(json!({ "language": language })))
                .await
        }
    };
    let (status, body) = set(json!("en")).await;
    assert_eq!((status, &body["data"]["language"]), (StatusCode::OK, &json!("en")), "{body}");
    assert_eq!(me("id-ID,id;q=0.9").await["ui_language"], json!("en"), "chosen over the browser's");
    let (status, _) = set(json!(null)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me("id-ID,id;q=0.9").await["ui_language"], json!("id"), "the browser's again");
    for bad in [json!("fr"), json!(1), json!("ID")] {
        let (status, body) = set(bad.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {body}");
        assert!(body["error"]["message"].as_str().unwrap().contains("language"), "{body}");
    }
}

db_tests!(
    the_login_cookie,
    login_attempts_are_limited_per_account,
    login_by_email_or_username,
    me_requires_a_valid_token,
    wrong_password_is_401,
    registration_validates_and_refuses_duplicates,
    registration_is_closed_by_default,
    bcrypt_cost_and_tokens_survive_restart,
    tokens_follow_the_account,
    a_language_of_ones_own,
);

/// On a runtime with a single thread, requests keep being answered while a login
/// hashes: bcrypt runs on the blocking pool, not on the async worker.
async fn bcrypt_leaves_the_async_worker_free(db: TestDb) {
    let app = TestApp::spawn_with(db, |c| c.auth.bcrypt_cost = 12).await;
    let login = {
        let req = app
            .client
            .post(format!("{}/auth/login", app.address))
            .json(&json!({"identifier": "admin", "password": ADMIN_PASSWORD}));
        tokio::spawn(async move { req.send().await.map(|r| r.status()) })
    };
    let mut answered_meanwhile = 0;
    while !login.is_finished() {
        assert_eq!(app.get("/", None).await.0, StatusCode::OK);
        answered_meanwhile += 1;
    }
    assert_eq!(login.await.unwrap().unwrap(), StatusCode::OK);
    // One cost-12 hash takes hundreds of milliseconds; a blocked worker would
    // answer nothing until it is done.
    assert!(answered_meanwhile >= 20, "only {answered_meanwhile} requests answered during a login");
}

mod bcrypt_leaves_the_async_worker_free {
    #[tokio::test(flavor = "current_thread")]
    async fn sqlite() {
        super::bcrypt_leaves_the_async_worker_free(crate::helpers::TestDb::Sqlite).await
    }
    #[tokio::test(flavor = "current_thread")]
    async fn mariadb() {
        super::bcrypt_leaves_the_async_worker_free(crate::helpers::TestDb::MariaDb).await
    }
}
