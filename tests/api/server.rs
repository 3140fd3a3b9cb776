//! Issue 27, item 4: what slow and idle clients can hold. Header, idle and
//! body timeouts close connections that hold the server up; connections are
//! capped per client address; uploads take their media slots when their body
//! starts arriving, at most `media.max_concurrent_per_account` per account.
//! Timeouts are the gateway's, so one database is enough (SQLite).

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpSocket, TcpStream},
};

use crate::helpers::{TestApp, TestDb};

/// Reads until the server closes the connection (or `limit` passes); what
/// came, and when the close came.
async fn read_to_close(stream: &mut TcpStream, limit: Duration) -> (String, Option<Duration>) {
    let started = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at((started + limit).into(), stream.read(&mut buf)).await {
            Err(_) => return (String::from_utf8_lossy(&got).into_owned(), None),
            Ok(Ok(0)) | Ok(Err(_)) => return (String::from_utf8_lossy(&got).into_owned(), Some(started.elapsed())),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
}

/// A connection to the app from `local` (any loopback address).
async fn connect_from(app: &TestApp, local: &str) -> TcpStream {
    let target: std::net::SocketAddr = app.address.trim_start_matches("http://").parse().unwrap();
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(format!("{local}:0").parse().unwrap()).unwrap();
    socket.connect(target).await.unwrap()
}

async fn slow_and_idle_clients_are_cut_off(db: TestDb) {
    let app = TestApp::spawn_with(db, |config| {
        config.server.header_timeout = Duration::from_secs(1);
        config.server.idle_timeout = Duration::from_secs(2);
        config.server.body_timeout = Duration::from_secs(1);
        config.server.max_connections_per_address = 4;
    })
    .await;

    // Half a header line: closed after the header timeout, not before.
    let mut half = connect_from(&app, "127.0.0.1").await;
    half.write_all(b"GET /health HTT").await.unwrap();
    let (got, closed) = read_to_close(&mut half, Duration::from_secs(10)).await;
    let closed = closed.expect("a half-sent head is cut off");
    assert!(closed >= Duration::from_millis(900), "closed after {closed:?}: {got}");
    assert!(got.is_empty(), "{got}");

    // A kept-alive connection: answered, then closed once idle for 2 s.
    let mut idle = connect_from(&app, "127.0.0.1").await;
    idle.write_all(b"GET /health HTTP/1.1\r\nhost: wagate\r\n\r\n").await.unwrap();
    let mut first = [0u8; 12];
    idle.read_exact(&mut first).await.unwrap();
    assert_eq!(&first, b"HTTP/1.1 200");
    let (_, closed) = read_to_close(&mut idle, Duration::from_secs(10)).await;
    let closed = closed.expect("an idle connection is closed");
    assert!(closed >= Duration::from_millis(1500), "closed after {closed:?}");

    // A body at a byte every 300 ms (the floor is 8 KiB/s): 408 after the body
    // timeout, and the connection closed.
    let mut slow = connect_from(&app, "127.0.0.1").await;
    slow.write_all(
        b"POST /auth/login HTTP/1.1\r\nhost: wagate\r\ncontent-type: application/json\r\ncontent-length: 200\r\n\r\n{",
    )
    .await
    .unwrap();
    let started = Instant::now();
    let dripping = tokio::spawn(async move {
        for _ in 0..100 {
            tokio::time::sleep(Duration::from_millis(300)).await;
            if slow.write_all(b" ").await.is_err() {
                break;
            }
        }
        read_to_close(&mut slow, Duration::from_secs(5)).await
    });
    let (answer, closed) = tokio::time::timeout(Duration::from_secs(40), dripping).await.unwrap().unwrap();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("request_timeout"), "{answer}");
    assert!(closed.is_some(), "the connection is closed after the 408");
    assert!(started.elapsed() >= Duration::from_millis(900), "{:?}", started.elapsed());

    // Four connections from one address; a fifth is refused with a 503, while
    // another address is served.
    let mut held = Vec::new();
    for _ in 0..4 {
        let mut stream = connect_from(&app, "127.0.0.2").await;
        stream.write_all(b"GET /health HTTP/1.1\r\nhost: wagate\r\n\r\n").await.unwrap();
        let mut status = [0u8; 12];
        stream.read_exact(&mut status).await.unwrap();
        assert_eq!(&status, b"HTTP/1.1 200");
        held.push(stream);
    }
    let mut fifth = connect_from(&app, "127.0.0.2").await;
    let (refused, closed) = read_to_close(&mut fifth, Duration::from_secs(5)).await;
    assert!(refused.starts_with("HTTP/1.1 503") && refused.contains("too_many_connections"), "{refused}");
    assert!(closed.is_some());
    assert_eq!(app.get("/health", None).await.0, StatusCode::OK, "127.0.0.1 is another address");
    held.pop();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut again = connect_from(&app, "127.0.0.2").await;
    again.write_all(b"GET /health HTTP/1.1\r\nhost: wagate\r\nconnection: close\r\n\r\n").await.unwrap();
    let (answer, _) = read_to_close(&mut again, Duration::from_secs(5)).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "a freed place is taken again: {answer}");
}

/// One account's uploads, stalled before their bodies or after their first
/// bytes, never make another account's upload wait.
async fn stalled_uploads_hold_no_one_else_up(db: TestDb) {
    let app = TestApp::spawn_with(db, |config| {
        config.media.max_concurrent = 4;
        config.media.max_concurrent_per_account = 2;
    })
    .await;
    let (_, tenant) = app.user_with_role("user").await;
    let (_, other) = app.user_with_role("user").await;
    app.linked_session(&other, "kantor", "628111000091").await;

    let head = |token: &str| {
        format!(
            "POST /message/send-document HTTP/1.1\r\nhost: wagate\r\nauthorization: Bearer {token}\r\n\
             content-type: multipart/form-data; boundary=XYZ\r\ncontent-length: 1000000\r\n\r\n"
        )
    };
    let mut stalled = Vec::new();
    // Four with headers only, four more with their first bytes: then nothing.
    for with_body in [false, false, false, false, true, true, true, true] {
        let mut stream = connect_from(&app, "127.0.0.1").await;
        stream.write_all(head(&tenant).as_bytes()).await.unwrap();
        if with_body {
            stream
                .write_all(b"--XYZ\r\ncontent-disposition: form-data; name=\"session\"\r\n\r\nkantor\r\n--XYZ\r\n")
                .await
                .unwrap();
        }
        stalled.push(stream);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;

    let form = reqwest::multipart::Form::new().text("session", "kantor").text("to", "628222000091").part(
        "document",
        reqwest::multipart::Part::bytes(b"%PDF-1.4 tagihan".to_vec())
            .file_name("tagihan.pdf")
            .mime_str("application/pdf")
            .unwrap(),
    );
    let upload = app.client.post(format!("{}/message/send-document", app.address)).bearer_auth(&other).multipart(form);
    let answered = tokio::time::timeout(Duration::from_secs(15), upload.send())
        .await
        .expect("another account's upload is not held up by stalled ones")
        .unwrap();
    assert_eq!(answered.status(), StatusCode::ACCEPTED);
    drop(stalled);
}

mod slow_and_idle_clients_are_cut_off {
    #[tokio::test]
    async fn sqlite() {
        super::slow_and_idle_clients_are_cut_off(crate::helpers::TestDb::Sqlite).await
    }
}

mod stalled_uploads_hold_no_one_else_up {
    #[tokio::test]
    async fn sqlite() {
        super::stalled_uploads_hold_no_one_else_up(crate::helpers::TestDb::Sqlite).await
    }
}
