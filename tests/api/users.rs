use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::{
    db_tests,
    helpers::{TestApp, TestDb, error_code},
};

async fn admin_manages_users(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let admin = Some(app.admin_token.as_str());
    let (status, created) = app
        .post("/user/create", admin, json!({"email": "Agent@Example.com", "password": "agent-pw", "name": "Agent Smith", "username": "smith", "role": "agent"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["data"]["id"].as_i64().unwrap();
    assert_eq!(created["data"]["email"], "agent@example.com");
    assert_eq!(created["data"]["role"], "agent");

    let (status, list) = app.get("/user/list", admin).await;
    assert_eq!(status, StatusCode::OK);
    let emails: Vec<_> =
        list["data"].as_array().unwrap().iter().map(|u| u["email"].as_str().unwrap().to_owned()).collect();
    assert_eq!(emails, ["root@example.com", "agent@example.com"]);

    let (status, updated) = app
        .call(
            Method::PUT,
            &format!("/user/{id}"),
            admin,
            Some(json!({"name": "A. Smith", "role": "readonly", "password": "new-password"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["data"]["name"], "A. Smith");
    assert_eq!(updated["data"]["role"], "readonly");
    assert_eq!(updated["data"]["username"], "smith");
    app.login("smith", "new-password").await;

    // Email and username stay unique on update.
    let (status, body) =
        app.call(Method::PUT, &format!("/user/{id}"), admin, Some(json!({"email": "ROOT@example.com"}))).await;
    assert_eq!((status, body["error"]["field"].as_str()), (StatusCode::CONFLICT, Some("email")));
    let (status, body) = app.call(Method::PUT, &format!("/user/{id}"), admin, Some(json!({"username": "admin"}))).await;
    assert_eq!((status, body["error"]["field"].as_str()), (StatusCode::CONFLICT, Some("username")));
    let (status, body) = app
        .post("/user/create", admin, json!({"email": "agent@example.com", "password": "123456", "name": "Dup"}))
        .await;
    assert_eq!((status, body["error"]["field"].as_str()), (StatusCode::CONFLICT, Some("email")));

    let (status, _) = app.call(Method::DELETE, &format!("/user/{id}"), admin, None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = app.call(Method::DELETE, &format!("/user/{id}"), admin, None).await;
    assert_eq!((status, error_code(&body)), (StatusCode::NOT_FOUND, "not_found"));
    let (status, _) = app.call(Method::PUT, &format!("/user/{id}"), admin, Some(json!({"name": "ghost"}))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app.call(Method::PUT, "/user/not-a-number", admin, Some(json!({"name": "x"}))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn the_last_admin_stays(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let admin = Some(app.admin_token.as_str());
    let me = app.get("/auth/me", admin).await.1["data"]["id"].as_i64().unwrap();
    let (status, body) = app.call(Method::PUT, &format!("/user/{me}"), admin, Some(json!({"role": "user"}))).await;
    assert_eq!((status, error_code(&body)), (StatusCode::CONFLICT, "last_admin"));
    let (status, body) = app.call(Method::DELETE, &format!("/user/{me}"), admin, None).await;
    assert_eq!((status, error_code(&body)), (StatusCode::CONFLICT, "cannot_delete_self"));

    // With a second admin, the first may step down, and the second may delete it.
    let (second_id, second) = app.user_with_role("admin").await;
    let (status, _) = app.call(Method::PUT, &format!("/user/{me}"), admin, Some(json!({"role": "user"}))).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) =
        app.call(Method::PUT, &format!("/user/{second_id}"), Some(&second), Some(json!({"role": "user"}))).await;
    assert_eq!((status, error_code(&body)), (StatusCode::CONFLICT, "last_admin"));
    let (status, _) = app.call(Method::DELETE, &format!("/user/{me}"), Some(&second), None).await;
    assert_eq!(status, StatusCode::OK);
}

db_tests!(admin_manages_users, the_last_admin_stays);
