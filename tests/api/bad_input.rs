//! A corpus of bad requests against every POST/PUT/PATCH route of `/openapi.json`: each
//! gets a 4xx JSON error, never a 500, and nothing in the database changes.

use reqwest::{Method, StatusCode};
use sea_orm::EntityTrait;
use serde_json::{Value, json};
use wagate::db::entities::{
    api_keys, bot_configs, broadcasts, canned_replies, chat_entries, chats, customers, inbound_messages, labels,
    messages, notices, sessions, users, web_logins,
};

use crate::{
    db_tests,
    helpers::{TestApp, TestDb, error_code},
};

/// Cases that are bad only where a route requires fields: for a route whose every
/// field is optional (`PUT /user/{id}`), `{}` and all-null are a valid empty change.
const NEED_REQUIRED: &[&str] = &["missing fields", "nulls"];

/// `(what, content type, body)`; every body is wrong for every route.
fn corpus() -> Vec<(&'static str, Option<&'static str>, Vec<u8>)> {
    let json = Some("application/json");
    let mut cases: Vec<(&'static str, Option<&'static str>, Vec<u8>)> = vec![
        ("truncated object", json, b"{".to_vec()),
        ("truncated member", json, br#"{"email":"#.to_vec()),
        ("bare word", json, b"nul".to_vec()),
        ("unclosed array", json, b"[".to_vec()),
        ("trailing brace", json, br#"{"a":1}}"#.to_vec()),
        ("trailing comma", json, br#"{"email":"a@b.co",}"#.to_vec()),
        ("single quotes", json, b"{'email':'a@b.co'}".to_vec()),
        ("empty body", json, Vec::new()),
        ("whitespace body", json, b"  \n ".to_vec()),
        ("null", json, b"null".to_vec()),
        ("array", json, b"[]".to_vec()),
        ("string", json, br#""hello""#.to_vec()),
        ("number", json, b"123".to_vec()),
        ("boolean", json, b"true".to_vec()),
        (
            "wrong types",
            json,
            br#"{"email":5,"password":true,"name":[],"username":{},"role":7,"sessions":"x","identifier":[1]}"#.to_vec(),
        ),
        ("nulls", json, br#"{"email":null,"password":null,"name":null,"identifier":null}"#.to_vec()),
        (
            "number out of range",
            json,
            br#"{"email":1e400,"password":1e400,"name":1e400,"identifier":1e400,"username":1e400}"#.to_vec(),
        ),
        (
            "duplicate keys",
            json,
            br#"{"email":"a@b.co","email":"c@d.co","password":"123456","password":"1234567","name":"x","name":"y",
                "identifier":"a","identifier":"b"}"#
                .to_vec(),
        ),
        (
            "lone surrogate",
            json,
            br#"{"email":"\ud800@x.co","password":"\udfff\udfff","name":"\ud83d","identifier":"\ud800"}"#.to_vec(),
        ),
        (
            "unicode junk",
            json,
            "{\"email\":\"\\u0000\u{202e}@\u{fffd}.co\",\"password\":\"\u{1f4a5}\",\"name\":\"\\u0000\\u0007\",\
             \"username\":\"\u{1f600}\u{1f600}\u{1f600}\",\"role\":\"\u{24d0}dmin\",\"sessions\":[\"\\u0000\"],\
             \"identifier\":\"\u{0}\"}"
                .as_bytes()
                .to_vec(),
        ),
        ("invalid UTF-8", json, b"{\"email\":\"\xff\xfe@x.co\",\"password\":\"\xc0\xaf\",\"name\":\"\x80\"}".to_vec()),
        ("byte order mark", json, "\u{feff}{\"email\":\"a@b.co\"}".as_bytes().to_vec()),
        ("deep nesting", json, [vec![b'['; 100_000], vec![b']'; 100_000]].concat()),
        ("text/plain", Some("text/plain"), br#"{"email":"a@b.co","password":"123456","name":"x"}"#.to_vec()),
        ("form", Some("application/x-www-form-urlencoded"), b"email=a%40b.co&password=123456".to_vec()),
        ("no content type", None, br#"{"email":"a@b.co","password":"123456","name":"x"}"#.to_vec()),
        ("huge body", json, format!(r#"{{"name":"{}"}}"#, "a".repeat(2 * 1024 * 1024)).into_bytes()),
        (
            "huge fields",
            json,
            json!({"email": format!("{}@example.com", "a".repeat(100_000)), "password": "p".repeat(100_000),
                   "name": "n".repeat(100_000), "username": "u".repeat(100_000), "identifier": "i".repeat(100_000),
                   "sessions": ["s".repeat(100_000)]})
            .to_string()
            .into_bytes(),
        ),
    ];
    // A field-by-field miss: every object that lacks what the route requires.
    cases.push(("missing fields", json, b"{}".to_vec()));
    cases
}

/// The fields a route's request schema requires.
fn required_fields(doc: &Value, method: &str, path: &str) -> Vec<String> {
    let schema = &doc["paths"][path][method.to_lowercase()]["requestBody"]["content"]["application/json"]["schema"];
    let schema = match schema["$ref"].as_str() {
        Some(r) => &doc["components"]["schemas"][r.trim_start_matches("#/components/schemas/")],
        None => schema,
    };
    schema["required"].as_array().into_iter().flatten().filter_map(|v| v.as_str().map(String::from)).collect()
}

async fn snapshot(app: &TestApp) -> String {
    let users = users::Entity::find().all(&app.db).await.unwrap();
    let keys = api_keys::Entity::find().all(&app.db).await.unwrap();
    let sessions = sessions::Entity::find().all(&app.db).await.unwrap();
    let messages = messages::Entity::find().all(&app.db).await.unwrap();
    let customers = customers::Entity::find().all(&app.db).await.unwrap();
    let notices = notices::Entity::find().all(&app.db).await.unwrap();
    let broadcasts = broadcasts::Entity::find().all(&app.db).await.unwrap();
    let chats = chats::Entity::find().all(&app.db).await.unwrap();
    let received = inbound_messages::Entity::find().all(&app.db).await.unwrap();
    let entries = chat_entries::Entity::find().all(&app.db).await.unwrap();
    let bots = bot_configs::Entity::find().all(&app.db).await.unwrap();
    let logins = web_logins::Entity::find().all(&app.db).await.unwrap();
    let canned = canned_replies::Entity::find().all(&app.db).await.unwrap();
    let labels = labels::Entity::find().all(&app.db).await.unwrap();
    format!(
        "{users:?}\n{keys:?}\n{sessions:?}\n{messages:?}\n{customers:?}\n{notices:?}\n{broadcasts:?}\n{chats:?}\n{received:?}\n{entries:?}\n{bots:?}\n{logins:?}\n{canned:?}\n{labels:?}"
    )
}

async fn bad_requests_get_4xx_and_write_nothing(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let (target, _) = app.user_with_role("user").await;
    app.post("/auth/api-keys", Some(&app.admin_token), json!({"name": "existing"})).await;
    let (_, doc) = app.get("/openapi.json", Some(&app.admin_token)).await;
    let before = snapshot(&app).await;

    let mut checked = 0;
    for (method, path) in app.routes().await {
        if method != "POST" && method != "PUT" && method != "PATCH" {
            continue;
        }
        if doc["paths"][path.as_str()][method.to_lowercase()]["requestBody"].is_null() {
            continue; // reads no body (`POST /chats/{id}/read`)
        }
        let required = required_fields(&doc, &method, &path);
        // Every path parameter filled (`{id}`, `{message_id}`, …): the body is what is under test.
        let mut filled = path.clone();
        while let (Some(open), Some(close)) = (filled.find('{'), filled.find('}')) {
            filled.replace_range(open..=close, &target.to_string());
        }
        let url = format!("{}{filled}", app.address);
        let method: Method = method.parse().unwrap();
        for (what, content_type, body) in corpus() {
            if NEED_REQUIRED.contains(&what) && required.is_empty() {
                continue;
            }
            let mut req = app.client.request(method.clone(), &url).bearer_auth(&app.admin_token).body(body);
            if let Some(ct) = content_type {
                req = req.header("content-type", ct);
            }
            let (status, resp) = TestApp::read(req).await;
            assert!(status.is_client_error(), "{method} {path} with {what}: {status} {resp}");
            error_code(&resp);
            checked += 1;
        }
    }
    assert!(checked > 100, "only {checked} requests sent");
    assert_eq!(snapshot(&app).await, before, "a bad request changed the database");
    assert_eq!(app.get("/", None).await.0, StatusCode::OK);
}

/// Each kind of failure has its own status and code, and names the field.
async fn errors_name_the_problem(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let admin = Some(app.admin_token.as_str());
    let url = format!("{}/user/create", app.address);
    let send = |body: &'static str, ct: &'static str| {
        TestApp::read(app.client.post(&url).bearer_auth(&app.admin_token).header("content-type", ct).body(body))
    };
    let (status, body) = send("{", "application/json").await;
    assert_eq!((status, error_code(&body)), (StatusCode::BAD_REQUEST, "malformed_json"));
    let (status, body) = send("{}", "text/plain").await;
    assert_eq!((status, error_code(&body)), (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"));
    let (status, body) = send(r#"{"password":"123456","name":"x"}"#, "application/json").await;
    assert_eq!((status, body["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("email")));
    let (status, body) = send(r#"{"email":"a@b.co","password":123456,"name":"x"}"#, "application/json").await;
    assert_eq!((status, body["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("password")));
    let (status, body) =
        send(r#"{"email":"a@b.co","password":"123456","name":"x","role":"karyawan"}"#, "application/json").await;
    assert_eq!((status, body["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("role")));
    let big = json!({"name": "a".repeat(2 * 1024 * 1024)});
    let (status, body) = app.post("/user/create", admin, big).await;
    assert_eq!((status, error_code(&body)), (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"));
}

/// Every paged list bounds `page` (and `limit`): 422 naming the field, never an overflow.
async fn pages_are_bounded(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let lists = ["/message/list", "/api/customers", "/api/notices", "/api/broadcasts", "/api/broadcasts/1"];
    for path in lists {
        for page in ["0", "1000001", "18446744073709551615", "99999999999999999999"] {
            let (status, body) = app.get(&format!("{path}?page={page}"), Some(&app.admin_token)).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{path}?page={page}: {body}");
            assert_eq!(body["error"]["field"], "page", "{path}?page={page}: {body}");
        }
        let (status, body) = app.get(&format!("{path}?limit=0"), Some(&app.admin_token)).await;
        assert_eq!(
            (status, body["error"]["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("limit")),
            "{path}"
        );
        let (status, _) = app.get(&format!("{path}?page=1000000"), Some(&app.admin_token)).await;
        assert!(status == StatusCode::OK || status == StatusCode::NOT_FOUND, "{path}: the last page is fine: {status}");
    }
}

db_tests!(bad_requests_get_4xx_and_write_nothing, errors_name_the_problem, pages_are_bounded);
