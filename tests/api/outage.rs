//! Issue 27, item 11: the gateway cut off its database. A TCP proxy stands
//! between the gateway and MariaDB; the test cuts it (every connection dropped,
//! new ones refused) for 15 s while messages are queued and a contact writes.
//! Meanwhile what needs the database answers 503 at once and `/health` says
//! so; afterwards every accepted message goes out once and the contact's
//! message is stored. (SQLite is a file in the data dir: it cannot be cut off
//! this way, so this runs on MariaDB.)

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use reqwest::StatusCode;
use serde_json::json;
use tokio::{net::TcpListener, sync::Notify};
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

async fn a_database_outage_is_survived(db: TestDb) {
    assert_eq!(db, TestDb::MariaDb);
    let server = reqwest::Url::parse(&mysql_server_url()).unwrap();
    let target = format!("{}:{}", server.host_str().unwrap(), server.port().unwrap_or(3306));
    let proxy = Proxy::start(target).await;
    let through = proxy.address;
    let app = TestApp::spawn_with(db, move |config| {
        let mut url = reqwest::Url::parse(config.database.url.expose()).unwrap();
        url.set_host(Some(&through.ip().to_string())).unwrap();
        url.set_port(Some(through.port())).unwrap();
        config.database.url = wagate::config::Secret::new(url.as_str());
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

    proxy.cut();
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
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{health}");
        assert_eq!(health["database"]["status"], "unreachable", "{health}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    println!("slowest answer while the database was away: {slowest:?}");
    assert!(slowest < Duration::from_secs(2), "answers while the database is away take {slowest:?}");
    let resp = app.client.post(format!("{}/message/send-text", app.address)).bearer_auth(&token).send().await.unwrap();
    assert_eq!(resp.headers().get("retry-after").and_then(|v| v.to_str().ok()), Some("2"));

    proxy.restore();
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

mod a_database_outage_is_survived {
    #[tokio::test]
    async fn mariadb() {
        super::a_database_outage_is_survived(crate::helpers::TestDb::MariaDb).await
    }
}
