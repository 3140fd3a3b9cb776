//! Issue 27, item 11: the gateway cut off its database for 15 s while messages
//! are queued and a contact writes. On MariaDB a TCP proxy stands between the
//! gateway and the server, and the test cuts it (every connection dropped, new
//! ones refused). On SQLite another process (Python's sqlite3) holds the
//! file's write lock: reads still work, writes cannot. Meanwhile sends answer
//! 503 within 2 s and `/health` says why; afterwards every accepted message
//! goes out once and the contact's message is stored.

use std::{
    path::Path,
    process::Stdio,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use reqwest::StatusCode;
use serde_json::json;
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    net::TcpListener,
    process::{Child, Command},
    sync::Notify,
};
use wa_sim::messages::Write;

use crate::helpers::{TestApp, TestDb, error_code, mysql_server_url};

/// Forwards connections to `target` until cut; while cut, drops every
/// connection it carries and every new one.
struct Proxy {
    address: std::net::SocketAddr,
    cut: Arc<AtomicBool>,
    cutting: Arc<Notify>,
}

impl Proxy {
    async fn start(target: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (cut, cutting) = (Arc::new(AtomicBool::new(false)), Arc::new(Notify::new()));
        let (flag, notify) = (cut.clone(), cutting.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else { continue };
                if flag.load(Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                let (target, notify) = (target.clone(), notify.clone());
                tokio::spawn(async move {
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await else { return };
                    let cut = notify.notified();
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        () = cut => {}
                    }
                });
            }
        });
        Proxy { address, cut, cutting }
    }

    fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        self.cutting.notify_waiters();
    }

    fn restore(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }
}

/// Another process holding a SQLite file's write lock until released.
struct LockHolder(Child);

impl LockHolder {
    const SCRIPT: &str = "import sqlite3, sys
c = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
c.execute('BEGIN EXCLUSIVE')
print('locked', flush=True)
sys.stdin.read()
c.execute('ROLLBACK')
";

    /// Returns once the lock is held.
    async fn start(file: &Path) -> LockHolder {
        let mut child = Command::new("python3")
            .args(["-c", Self::SCRIPT])
            .arg(file)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("python3 (scripts/test needs it anyway)");
        let mut said = BufReader::new(child.stdout.take().unwrap()).lines();
        let line = tokio::time::timeout(Duration::from_secs(30), said.next_line()).await;
        assert_eq!(line.expect("the lock within 30 s").unwrap().as_deref(), Some("locked"));
        LockHolder(child)
    }

    fn pid(&self) -> u32 {
        self.0.id().unwrap()
    }

    async fn release(mut self) {
        drop(self.0.stdin.take());
        assert!(self.0.wait().await.unwrap().success());
    }
}

async fn a_database_outage_is_survived(db: TestDb) {
    // MariaDB goes through a proxy the test can cut.
    let proxy = match db {
        TestDb::MariaDb => {
            let server = reqwest::Url::parse(&mysql_server_url()).unwrap();
            Some(Proxy::start(format!("{}:{}", server.host_str().unwrap(), server.port().unwrap_or(3306))).await)
        }
        TestDb::Sqlite => None,
    };
    let through = proxy.as_ref().map(|p| p.address);
    let app = TestApp::spawn_with(db, move |config| {
        if let Some(through) = through {
            let mut url = reqwest::Url::parse(config.database.url.expose()).unwrap();
            url.set_host(Some(&through.ip().to_string())).unwrap();
            url.set_port(Some(through.port())).unwrap();
            config.database.url = wagate::config::Secret::new(url.as_str());
        }
        config.limits.delay_min_ms = 300;
        config.limits.delay_max_ms = 400;
        config.limits.per_minute = 0;
        config.limits.per_hour = 0;
        config.limits.per_recipient_per_hour = 0;
    })
    .await;
    let (number, contact) = ("628111000101", "628222000101");
    app.sim.add_contacts(&[contact.to_owned()]);
    let token = app.admin_token.clone();
    app.linked_session(&token, "kantor", number).await;
    let mut accepted = Vec::new();
    for i in 0..30 {
        accepted.push(app.send_text(&token, "kantor", contact, &format!("gangguan {i}")).await);
    }

    let holder = match &proxy {
        Some(proxy) => {
            proxy.cut();
            None
        }
        None => Some(LockHolder::start(&app.config.storage.data_dir.join("wagate.db")).await),
    };
    let cut_at = Instant::now();
    // The contact writes while the database is away.
    let write =
        Write { from: contact.into(), to: number.into(), text: Some("internet mati".into()), ..Default::default() };
    app.sim.deliver(&write).await.unwrap();
    // Sends answer 503 at once, saying when to come back; /health at once too.
    let mut slowest = Duration::ZERO;
    while cut_at.elapsed() < Duration::from_secs(15) {
        let started = Instant::now();
        let body = json!({"session": "kantor", "to": contact, "text": "saat terputus"});
        let (status, answer) = app.post("/message/send-text", Some(&token), body).await;
        slowest = slowest.max(started.elapsed());
        assert_eq!(
            (status, error_code(&answer)),
            (StatusCode::SERVICE_UNAVAILABLE, "database_unavailable"),
            "{answer}"
        );
        let started = Instant::now();
        let (status, health) = app.get("/health", None).await;
        slowest = slowest.max(started.elapsed());
        if let Some(holder) = &holder {
            // The watcher sees the lock within its second and a quarter.
            if cut_at.elapsed() > Duration::from_secs(2) || status != StatusCode::OK {
                assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{health}");
                assert_eq!(health["database"]["status"], "locked", "{health}");
                assert_eq!(health["database"]["locked_by_pid"], holder.pid(), "{health}");
            }
            // Reads still work.
            let started = Instant::now();
            let (status, sessions) = app.get("/session/status?session=kantor", Some(&token)).await;
            slowest = slowest.max(started.elapsed());
            assert_eq!(status, StatusCode::OK, "{sessions}");
        } else {
            assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{health}");
            assert_eq!(health["database"]["status"], "unreachable", "{health}");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    println!("slowest answer while the database was away: {slowest:?}");
    assert!(slowest < Duration::from_secs(2), "answers while the database is away take {slowest:?}");
    let resp = app.client.post(format!("{}/message/send-text", app.address)).bearer_auth(&token).send().await.unwrap();
    assert_eq!(resp.headers().get("retry-after").and_then(|v| v.to_str().ok()), Some("2"));

    match (&proxy, holder) {
        (Some(proxy), _) => proxy.restore(),
        (None, Some(holder)) => holder.release().await,
        (None, None) => unreachable!("one cut or the other"),
    }
    let back = Instant::now();
    // The contact's message is stored (its commit was tried again).
    let stored = loop {
        let (status, chats) = app.get("/chats/", Some(&token)).await;
        if status == StatusCode::OK
            && let Some(chat) = chats.as_array().and_then(|c| c.first())
        {
            let (_, detail) = app.get(&format!("/chats/{}", chat["id"]), Some(&token)).await;
            if detail["messages"].as_array().is_some_and(|m| m.iter().any(|m| m["text"] == "internet mati")) {
                break back.elapsed();
            }
        }
        assert!(back.elapsed() < Duration::from_secs(30), "the contact's message was not stored");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    println!("the contact's message stored {stored:?} after the database came back");
    assert!(stored < Duration::from_secs(10), "stored {stored:?} after the database's return");
    // Every accepted message goes out, once.
    for id in &accepted {
        app.wait_message(&token, id, "sent", 60).await;
    }
    let shown = app.sim.shown(Some(contact));
    let mut ids: Vec<String> = shown.iter().map(|r| r.id.clone()).collect();
    ids.sort();
    let mut expected = accepted.clone();
    expected.sort();
    assert_eq!(ids, expected, "each accepted message reached the contact once, and nothing else");
}

crate::db_tests!(a_database_outage_is_survived);
