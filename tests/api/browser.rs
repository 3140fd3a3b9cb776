//! Pages in a real browser: Debian's headless Chromium, driven through
//! Debian's `chromedriver` with the W3C WebDriver protocol (plain JSON over
//! HTTP, spoken here with reqwest: no browser download, no driver crate).
//! `scripts/test` installs both when missing. Screenshots go to
//! `target/screenshots/`.

use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestDb};

/// The element key of WebDriver's answers.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A chromedriver process and one headless Chromium session on it.
pub(crate) struct Browser {
    _driver: tokio::process::Child,
    base: String,
    http: reqwest::Client,
}

impl Browser {
    pub(crate) async fn start() -> Browser {
        let driver = std::env::var("WAGATE_CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".to_owned());
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = tokio::process::Command::new(&driver)
            .arg(format!("--port={port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {driver} ({e}); scripts/test installs chromium-driver"));
        let http = reqwest::Client::new();
        let root = format!("http://127.0.0.1:{port}");
        for _ in 0..100 {
            let ready = http.get(format!("{root}/status")).send().await;
            if let Ok(resp) = ready
                && resp.json::<Value>().await.is_ok_and(|s| s["value"]["ready"] == true)
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let binary = std::env::var("WAGATE_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned());
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": binary,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--window-size=1280,900"],
            },
        }}});
        let created: Value =
            http.post(format!("{root}/session")).json(&capabilities).send().await.unwrap().json().await.unwrap();
        let id = created["value"]["sessionId"].as_str().unwrap_or_else(|| panic!("no browser session: {created}"));
        Browser { base: format!("{root}/session/{id}"), _driver: child, http }
    }

    async fn command(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            req = req.json(&body);
        }
        let answer: Value = req.send().await.unwrap().json().await.unwrap();
        assert!(answer["value"]["error"].is_null(), "WebDriver {path}: {answer}");
        answer["value"].clone()
    }

    pub(crate) async fn open(&self, url: &str) {
        self.command(reqwest::Method::POST, "/url", Some(json!({"url": url}))).await;
    }

    pub(crate) async fn title(&self) -> String {
        self.command(reqwest::Method::GET, "/title", None).await.as_str().unwrap_or_default().to_owned()
    }

    /// The text of the first element matching `css`.
    pub(crate) async fn text(&self, css: &str) -> String {
        let found =
            self.command(reqwest::Method::POST, "/element", Some(json!({"using": "css selector", "value": css}))).await;
        let id = found[ELEMENT].as_str().unwrap_or_else(|| panic!("no element {css}: {found}")).to_owned();
        let text = self.command(reqwest::Method::GET, &format!("/element/{id}/text"), None).await;
        text.as_str().unwrap_or_default().to_owned()
    }

    /// Runs `script` in the page; its return value.
    pub(crate) async fn eval(&self, script: &str) -> Value {
        self.command(reqwest::Method::POST, "/execute/sync", Some(json!({"script": script, "args": []}))).await
    }

    /// Saves a screenshot as `target/screenshots/{name}.png`; its path.
    pub(crate) async fn screenshot(&self, name: &str) -> std::path::PathBuf {
        let png = self.command(reqwest::Method::GET, "/screenshot", None).await;
        let bytes = base64::engine::general_purpose::STANDARD.decode(png.as_str().unwrap()).unwrap();
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, bytes).unwrap();
        path
    }
}

impl Browser {
    /// Ends the browser session (Chromium exits), then chromedriver.
    pub(crate) async fn close(mut self) {
        let _ = self.http.delete(&self.base).send().await;
        self.base.clear();
    }
}

impl Drop for Browser {
    /// A test that failed: end the browser as well as we can without waiting
    /// (chromedriver itself is killed with its handle).
    fn drop(&mut self) {
        if self.base.is_empty() {
            return;
        }
        let (http, base) = (self.http.clone(), self.base.clone());
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move { http.delete(base).send().await });
        }
    }
}

/// `/docs` renders in Chromium with nothing from outside: its heading, an
/// operation and a schema are there, and no request left the gateway.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docs_render_in_chromium() {
    let app = TestApp::spawn(TestDb::Sqlite).await;
    let browser = Browser::start().await;
    browser.open(&format!("{}/docs", app.address)).await;
    let shot = browser.screenshot("docs").await;
    assert_eq!(browser.title().await, "wagate API", "see {}", shot.display());
    assert_eq!(browser.text("h1").await, "wagate API");
    assert!(browser.text("#schema-BotConfig").await.contains("BotConfig"));
    // Everything the page loaded came from the gateway itself.
    let origins =
        browser.eval("return performance.getEntriesByType('resource').map(e => new URL(e.name).origin)").await;
    let ours = app.address.trim_end_matches('/');
    assert!(origins.as_array().unwrap().iter().all(|o| o == ours), "{origins}");
    browser.close().await;
}
