//! The black-box test harness: a [`TestApp`] is the real gateway on port 0 with a
//! fresh database of its own (a SQLite file in a temp dir, or a new MariaDB
//! database), reached over HTTP.
//!
//! Every database test is written once as `async fn name(db: TestDb)` and listed
//! in [`db_tests!`], which runs it on SQLite and on MariaDB.

use std::{
    path::PathBuf,
    sync::atomic::{AtomicUsize, Ordering},
};

use reqwest::{Method, StatusCode};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::{sync::oneshot, task::JoinHandle};
use wagate::{App, Config, config::Secret};

pub const ADMIN_EMAIL: &str = "root@example.com";
pub const ADMIN_PASSWORD: &str = "admin-password-1";

/// Runs each named `async fn(TestDb)` once per database backend.
#[macro_export]
macro_rules! db_tests {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::helpers::TestDb::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn mariadb() {
                super::$name($crate::helpers::TestDb::MariaDb).await
            }
        }
    )+};
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestDb {
    Sqlite,
    MariaDb,
}

/// The MariaDB server tests create their databases on.
pub fn mysql_server_url() -> String {
    std::env::var("WAGATE_TEST_MYSQL_URL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".into())
}

/// Databases of one test run share this prefix so the test command can drop
/// whatever a crashed test left behind.
fn run_prefix() -> String {
    std::env::var("WAGATE_TEST_DB_PREFIX").unwrap_or_else(|_| format!("wagate_test_{}", std::process::id()))
}

static NEXT_DB: AtomicUsize = AtomicUsize::new(0);

/// A database of one test's own, dropped with it.
pub struct Provisioned {
    /// `None` for SQLite (the app puts its file in the data dir).
    pub url: Option<String>,
    mysql_name: Option<String>,
}

impl Provisioned {
    pub async fn new(db: TestDb) -> Provisioned {
        match db {
            TestDb::Sqlite => Provisioned { url: None, mysql_name: None },
            TestDb::MariaDb => {
                let name = format!("{}_{}", run_prefix(), NEXT_DB.fetch_add(1, Ordering::Relaxed));
                let server = mysql_server_url();
                let conn = Database::connect(server.as_str()).await.unwrap_or_else(|e| {
                    panic!("MariaDB at {server} is needed for this test (the test command starts it): {e}")
                });
                conn.execute_unprepared(&format!(
                    "CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
                ))
                .await
                .expect("create test database");
                conn.close().await.ok();
                Provisioned { url: Some(format!("{}/{name}", server.trim_end_matches('/'))), mysql_name: Some(name) }
            }
        }
    }
}

impl Drop for Provisioned {
    fn drop(&mut self) {
        let Some(name) = self.mysql_name.take() else { return };
        // Drop runs inside the test's runtime; do the async work on a thread of its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            rt.block_on(async {
                if let Ok(conn) = Database::connect(mysql_server_url().as_str()).await {
                    let _ = conn.execute_unprepared(&format!("DROP DATABASE IF EXISTS `{name}`")).await;
                    let _ = conn.close().await;
                }
            });
        })
        .join();
    }
}

/// The WhatsApp Web version test devices announce (wa-sim accepts any).
pub const WA_VERSION: &str = "2.3000.1000000000";

/// A configuration for tests: port 0, the given data dir and database, cheap
/// bcrypt, a known first admin, WhatsApp played by the wa-sim at `sim`.
pub fn test_config(data_dir: PathBuf, database_url: Option<&str>, sim: std::net::SocketAddr) -> Config {
    let mut config = Config::default();
    config.server.listen = "127.0.0.1:0".parse().unwrap();
    config.storage.sessions_dir = data_dir.join("sessions");
    config.storage.data_dir = data_dir;
    config.database.url = Secret::new(database_url.unwrap_or_default());
    config.database.max_connections = 8;
    config.auth.bcrypt_cost = 4;
    config.auth.admin_email = ADMIN_EMAIL.into();
    config.auth.admin_password = Secret::new(ADMIN_PASSWORD);
    config.whatsapp.server_url = format!("ws://{sim}/ws/chat");
    config.whatsapp.version = WA_VERSION.into();
    config
}

/// A wa-sim of the test's own, serving WebSockets, media and its admin API on a
/// loopback port.
pub async fn start_sim() -> (wa_sim::Sim, std::net::SocketAddr) {
    let sim = wa_sim::Sim::new();
    let addr = wa_sim::admin::spawn(sim.clone(), "127.0.0.1:0".parse().unwrap()).await.expect("wa-sim listens");
    (sim, addr)
}

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub config: Config,
    /// A connection of the test's own to the app's database, for inspection.
    pub db: DatabaseConnection,
    pub admin_token: String,
    /// WhatsApp, as far as this app knows.
    pub sim: wa_sim::Sim,
    server: Option<Server>,
    // Dropped last: the database and files outlive the app.
    _database: Provisioned,
    _data_dir: TempDir,
}

impl TestApp {
    pub async fn spawn(db: TestDb) -> TestApp {
        Self::spawn_with(db, |_| {}).await
    }

    /// Like [`spawn`](Self::spawn), with a chance to change the configuration.
    pub async fn spawn_with(db: TestDb, tweak: impl FnOnce(&mut Config)) -> TestApp {
        let data_dir = tempfile::tempdir().expect("temp dir");
        let database = Provisioned::new(db).await;
        let (sim, sim_addr) = start_sim().await;
        let mut config = test_config(data_dir.path().to_owned(), database.url.as_deref(), sim_addr);
        tweak(&mut config);
        let (address, server) = start(&config).await;
        let db = Database::connect(wagate::db::url(&config).as_str()).await.expect("inspection connection");
        let mut app = TestApp {
            address,
            client: reqwest::Client::new(),
            db,
            admin_token: String::new(),
            sim,
            config,
            server: Some(server),
            _database: database,
            _data_dir: data_dir,
        };
        app.admin_token = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
        app
    }

    /// Stops the app gracefully and starts a new one on the same data dir and
    /// database, as a restart of the process would.
    pub async fn restart(&mut self) {
        self.stop().await;
        self.start().await;
    }

    /// Stops the app gracefully: its devices go offline, and what contacts
    /// write meanwhile waits in WhatsApp's offline queue.
    pub async fn stop(&mut self) {
        if let Some((stop, handle)) = self.server.take() {
            let _ = stop.send(());
            handle.await.expect("server task").expect("server stops cleanly");
        }
    }

    /// Starts the app again (after [`stop`](Self::stop)) on the same data dir and database.
    pub async fn start(&mut self) {
        assert!(self.server.is_none(), "the app is running");
        let (address, server) = start(&self.config).await;
        self.address = address;
        self.server = Some(server);
    }

    /// Logs in and returns the token; panics unless the login succeeds.
    pub async fn login(&self, identifier: &str, password: &str) -> String {
        let (status, body) = self
            .call(Method::POST, "/auth/login", None, Some(json!({"identifier": identifier, "password": password})))
            .await;
        assert_eq!(status, StatusCode::OK, "login as {identifier}: {body}");
        body["token"].as_str().expect("token").to_owned()
    }

    /// Sends a JSON request with an optional bearer token; returns status and JSON body.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.client.request(method, format!("{}{path}", self.address));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        Self::read(req).await
    }

    /// Sends a prepared request; returns status and the body as JSON (`Value::Null` when empty,
    /// a string when it is not JSON).
    pub async fn read(req: reqwest::RequestBuilder) -> (StatusCode, Value) {
        let resp = req.send().await.expect("request reaches the app");
        let status = resp.status();
        let text = resp.text().await.expect("body");
        let body =
            if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
        (status, body)
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> (StatusCode, Value) {
        self.call(Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, token, Some(body)).await
    }

    /// Creates a user through the admin API and returns `(id, token)`.
    pub async fn user_with_role(&self, role: &str) -> (i64, String) {
        let n = NEXT_DB.fetch_add(1, Ordering::Relaxed);
        let email = format!("{role}{n}@example.com");
        let (status, body) = self
            .post(
                "/user/create",
                Some(&self.admin_token),
                json!({"email": email, "password": "secret-pw", "name": format!("{role} {n}"), "role": role}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let id = body["data"]["id"].as_i64().unwrap();
        (id, self.login(&email, "secret-pw").await)
    }

    /// Waits (up to `secs`) until the session's status is `status`; returns its view.
    pub async fn wait_status(&self, token: &str, id: &str, status: &str, secs: u64) -> Value {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        loop {
            let (code, body) = self.get(&format!("/session/status?session={id}"), Some(token)).await;
            assert_eq!(code, StatusCode::OK, "status of {id}: {body}");
            if body["data"]["status"] == status {
                return body["data"].clone();
            }
            assert!(std::time::Instant::now() < deadline, "{id} never became {status}; last: {body}");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// Waits (up to `secs`) until message `id` is `status`; returns its view.
    pub async fn wait_message(&self, token: &str, id: &str, status: &str, secs: u64) -> Value {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        loop {
            let (code, body) = self.get(&format!("/message/{id}"), Some(token)).await;
            assert_eq!(code, StatusCode::OK, "message {id}: {body}");
            if body["data"]["status"] == status {
                return body["data"].clone();
            }
            assert!(std::time::Instant::now() < deadline, "{id} never became {status}; last: {body}");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// Queues a text message as the holder of `token`; returns its id.
    pub async fn send_text(&self, token: &str, session: &str, to: &str, text: &str) -> String {
        let (status, body) =
            self.post("/message/send-text", Some(token), json!({"session": session, "to": to, "text": text})).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        body["data"]["id"].as_str().expect("id").to_owned()
    }

    /// The session's current QR code (raw text), as `GET /session/qr` gives it.
    pub async fn qr(&self, token: &str, id: &str) -> String {
        let (status, body) = self.get(&format!("/session/qr/{id}"), Some(token)).await;
        assert_eq!(status, StatusCode::OK, "QR of {id}: {body}");
        body["data"]["qr"].as_str().expect("qr").to_owned()
    }

    /// Creates session `id` as the holder of `token`, links it to `phone` by QR
    /// and waits until it is connected.
    pub async fn linked_session(&self, token: &str, id: &str, phone: &str) -> Value {
        let (status, body) = self.post("/session/create", Some(token), json!({"sessionId": id})).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let qr = self.qr(token, id).await;
        self.sim.scan(&qr, phone).await.expect("the phone scans");
        self.wait_status(token, id, "connected", 30).await
    }

    /// Every route of the OpenAPI document as `(METHOD, path template)`.
    pub async fn routes(&self) -> Vec<(String, String)> {
        let (status, doc) = self.get("/openapi.json", Some(&self.admin_token)).await;
        assert_eq!(status, StatusCode::OK);
        let mut routes = Vec::new();
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for method in item.as_object().unwrap().keys() {
                if ["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                    routes.push((method.to_uppercase(), path.clone()));
                }
            }
        }
        routes.sort();
        routes
    }
}

type Server = (oneshot::Sender<()>, JoinHandle<anyhow::Result<()>>);

/// Send limits that get out of the way: no pause, no counts.
pub fn no_limits(config: &mut Config) {
    config.limits.delay_min_ms = 0;
    config.limits.delay_max_ms = 0;
    config.limits.per_minute = 0;
    config.limits.per_hour = 0;
    config.limits.per_recipient_per_hour = 0;
}

/// A web server on loopback serving `files` as `(path, content type, bytes)`.
pub async fn serve_files(files: Vec<(&'static str, &'static str, Vec<u8>)>) -> std::net::SocketAddr {
    use axum::{http::header, routing::get};
    let mut router = axum::Router::new();
    for (path, content_type, bytes) in files {
        router = router.route(path, get(move || async move { ([(header::CONTENT_TYPE, content_type)], bytes) }));
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    addr
}

async fn start(config: &Config) -> (String, Server) {
    let app = App::build(config.clone()).await.expect("app builds");
    let address = format!("http://{}", app.local_addr());
    let (stop, stopped) = oneshot::channel::<()>();
    let handle = tokio::spawn(app.run(async {
        let _ = stopped.await;
    }));
    (address, (stop, handle))
}

/// Asserts the shape `{"error":{"code","message"}}` and returns the code.
pub fn error_code(body: &Value) -> &str {
    let error = &body["error"];
    assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()), "error body without message: {body}");
    error["code"].as_str().unwrap_or_else(|| panic!("error body without code: {body}"))
}

/// A subscriber of `GET /events`.
pub struct EventStream {
    response: reqwest::Response,
    buffer: String,
}

impl EventStream {
    pub async fn open(app: &TestApp, token: &str) -> EventStream {
        let response =
            app.client.get(format!("{}/events", app.address)).bearer_auth(token).send().await.expect("subscribe");
        assert_eq!(response.status(), StatusCode::OK);
        assert!(
            response.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"),
            "{:?}",
            response.headers()
        );
        EventStream { response, buffer: String::new() }
    }

    /// The next event as `(kind, data)`, skipping keep-alive comments; `None`
    /// when none comes within `secs`.
    pub async fn next(&mut self, secs: u64) -> Option<(String, Value)> {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(secs);
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let (mut kind, mut data) = (None, String::new());
                for line in block.lines() {
                    if let Some(k) = line.strip_prefix("event:") {
                        kind = Some(k.trim().to_owned());
                    } else if let Some(d) = line.strip_prefix("data:") {
                        data.push_str(d.trim_start());
                    }
                }
                if let Some(kind) = kind {
                    return Some((kind, serde_json::from_str(&data).unwrap_or(Value::String(data))));
                }
            }
            let chunk = tokio::time::timeout_at(deadline, self.response.chunk()).await.ok()?;
            let chunk = chunk.expect("event stream readable")?;
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    /// Reads events until `pick` accepts one (within `secs`); returns everything read.
    pub async fn until(&mut self, secs: u64, mut pick: impl FnMut(&str, &Value) -> bool) -> Vec<(String, Value)> {
        let mut seen = Vec::new();
        loop {
            let Some((kind, data)) = self.next(secs).await else {
                panic!("the awaited event did not come; saw {seen:?}");
            };
            let done = pick(&kind, &data);
            seen.push((kind, data));
            if done {
                return seen;
            }
        }
    }
}
