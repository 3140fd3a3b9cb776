use reqwest::StatusCode;

use crate::{
    db_tests,
    helpers::{TestApp, TestDb, error_code},
};

async fn root_health_and_db_connect(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let (status, body) = app.get("/", None).await;
    assert_eq!((status, body), (StatusCode::OK, serde_json::json!({"status": "ok"})));

    let (status, body) = app.get("/health", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "ok");
    assert_eq!(body["database"]["status"], "connected");

    // Seed 000's check, like /health, needs no credentials.
    let (status, body) = app.get("/db-connect", None).await;
    assert_eq!(status, StatusCode::OK);
    let backend = if db == TestDb::Sqlite { "sqlite" } else { "mysql" };
    assert_eq!(body, serde_json::json!({"database": backend, "status": "connected"}));
}

async fn metrics_are_prometheus_text(db: TestDb) {
    let app = TestApp::spawn(db).await;
    app.get("/", None).await;
    app.get("/nowhere", None).await;
    // Callers cannot grow the series: invented methods and unknown paths fold into one label each.
    for n in 0..5 {
        let method = reqwest::Method::from_bytes(format!("BOGUS{n}").as_bytes()).unwrap();
        app.call(method, &format!("/nowhere/{n}"), None, None).await;
    }
    let resp = app.client.get(format!("{}/metrics", app.address)).bearer_auth(&app.admin_token).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let content_type = resp.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(content_type.starts_with("application/openmetrics-text"), "{content_type}");
    let text = resp.text().await.unwrap();
    assert!(text.contains("# TYPE wagate_http_requests counter"), "{text}");
    assert!(text.contains(r#"wagate_http_requests_total{method="GET",route="/",status="200"} 1"#), "{text}");
    assert!(text.contains(r#"route="unmatched",status="404""#), "{text}");
    assert!(!text.contains("BOGUS") && !text.contains("/nowhere"), "{text}");
    assert!(text.contains(r#"method="other",route="#), "{text}");
    assert!(text.contains("# TYPE wagate_http_request_duration_seconds histogram"), "{text}");
    assert!(text.contains(r#"wagate_http_request_duration_seconds_count{method="GET",route="/"} 1"#), "{text}");
    assert!(text.trim_end().ends_with("# EOF"));
}

/// Every route in the document has responses, and every JSON body it takes or
/// returns is described by a schema.
async fn openapi_describes_every_route(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let (status, doc) = app.get("/openapi.json", Some(&app.admin_token)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let routes = app.routes().await;
    for expected in [
        ("GET", "/"),
        ("GET", "/health"),
        ("GET", "/db-connect"),
        ("GET", "/metrics"),
        ("GET", "/openapi.json"),
        ("POST", "/auth/register"),
        ("POST", "/auth/login"),
        ("GET", "/auth/me"),
        ("GET", "/auth/api-keys"),
        ("POST", "/auth/api-keys"),
        ("DELETE", "/auth/api-keys/{id}"),
        ("GET", "/user/list"),
        ("POST", "/user/create"),
        ("PUT", "/user/{id}"),
        ("DELETE", "/user/{id}"),
    ] {
        assert!(routes.contains(&(expected.0.into(), expected.1.into())), "{expected:?} missing from {routes:?}");
    }
    let schemas = doc["components"]["schemas"].as_object().expect("component schemas");
    let resolves = |schema: &serde_json::Value| match schema["$ref"].as_str() {
        Some(r) => schemas.contains_key(r.trim_start_matches("#/components/schemas/")),
        None => schema.is_object(),
    };
    for (method, path) in &routes {
        let op = &doc["paths"][path][method.to_lowercase()];
        let responses = op["responses"].as_object().expect("responses");
        assert!(!responses.is_empty(), "{method} {path} documents no response");
        for (code, response) in responses {
            for (_, media) in response["content"].as_object().into_iter().flatten() {
                assert!(resolves(&media["schema"]), "{method} {path} {code}: unresolved schema");
            }
        }
        // Actions on a resource named in the path (`POST /chats/{id}/read`) take no body.
        let bodiless = ["/read", "/retry", "/rotate-secret", "/test"].iter().any(|action| path.ends_with(action));
        if matches!(method.as_str(), "POST" | "PUT") && !bodiless {
            // JSON, or what the route takes instead (a CSV file).
            let content = op["requestBody"]["content"].as_object();
            let schema = content.and_then(|c| c.get("application/json").or_else(|| c.values().next()));
            assert!(schema.is_some_and(|m| resolves(&m["schema"])), "{method} {path} has no request schema");
        }
    }
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    assert!(doc["components"]["securitySchemes"]["api_key"].is_object());
}

/// The document is valid OpenAPI 3.1 for an independent validator (PyPI's
/// `openapi-spec-validator`, which `scripts/test` installs into `target/`):
/// client generators refuse anything less. The document does not depend on
/// the database, so SQLite alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_is_valid_for_an_independent_validator() {
    let app = TestApp::spawn(TestDb::Sqlite).await;
    // Client generators fetch it without credentials.
    let (status, doc) = app.get("/openapi.json", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(doc["openapi"], "3.1.0");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("openapi.json");
    std::fs::write(&file, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
    let validator = std::env::var("WAGATE_OPENAPI_VALIDATOR").unwrap_or_else(|_| "openapi-spec-validator".to_owned());
    let output = std::process::Command::new(&validator)
        .args(["--schema", "3.1", "--validation-errors", "all"])
        .arg(&file)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {validator} ({e}); scripts/test installs it"));
    let said = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success() && said.contains(": OK"), "{said}");

    // The same as a page, also without credentials, with every route on it.
    let resp = app.client.get(format!("{}/docs", app.address)).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    let page = resp.text().await.unwrap();
    for (method, path) in app.routes().await {
        let heading = format!(
            "<span class=\"method\">{}</span><span class=\"path\">{}</span>",
            method.to_lowercase(),
            path.replace('&', "&amp;")
        );
        assert!(page.contains(&heading), "{method} {path} is not on /docs");
    }
    assert!(page.contains("id=\"schema-BotConfig\"") && !page.contains("<script"));
}

/// `server.cors_origins`: those origins' pages may call the API from a
/// browser (preflight answered before authentication); no one else's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_admits_only_configured_origins() {
    const PANEL: &str = "https://panel.example.net";
    let app = TestApp::spawn_with(TestDb::Sqlite, |c| c.server.cors_origins = vec![PANEL.into()]).await;
    let url = format!("{}/message/send-text", app.address);
    let preflight = app
        .client
        .request(reqwest::Method::OPTIONS, &url)
        .header("origin", PANEL)
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "authorization, content-type, idempotency-key")
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success(), "{}", preflight.status());
    let headers = preflight.headers();
    assert_eq!(headers["access-control-allow-origin"], PANEL);
    let allowed = headers["access-control-allow-headers"].to_str().unwrap().to_lowercase();
    assert!(allowed.contains("authorization") && allowed.contains("idempotency-key"), "{allowed}");
    assert!(headers.get("access-control-allow-credentials").is_none(), "no cookies across origins");

    let me = |origin: &'static str| {
        app.client.get(format!("{}/auth/me", app.address)).bearer_auth(&app.admin_token).header("origin", origin).send()
    };
    let ours = me(PANEL).await.unwrap();
    assert_eq!(ours.status(), StatusCode::OK);
    assert_eq!(ours.headers()["access-control-allow-origin"], PANEL);
    let theirs = me("https://evil.example").await.unwrap();
    assert!(theirs.headers().get("access-control-allow-origin").is_none(), "{:?}", theirs.headers());

    // Off by default.
    let plain = TestApp::spawn(TestDb::Sqlite).await;
    let resp = plain.client.get(format!("{}/health", plain.address)).header("origin", PANEL).send().await.unwrap();
    assert!(resp.headers().get("access-control-allow-origin").is_none());
}

async fn unknown_routes_and_methods_answer_json(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let (status, body) = app.get("/no/such/route", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error_code(&body), "not_found");
    let (status, body) = app.call(reqwest::Method::PATCH, "/user/list", None, None).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(error_code(&body), "method_not_allowed");
}

db_tests!(
    root_health_and_db_connect,
    metrics_are_prometheus_text,
    openapi_describes_every_route,
    unknown_routes_and_methods_answer_json,
);
