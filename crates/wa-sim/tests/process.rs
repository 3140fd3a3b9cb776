//! The `wa-sim` binary in its own process, the real client over a loopback
//! WebSocket, and everything driven through the admin API.

mod common;

use std::{net::SocketAddr, process::Stdio, time::Duration};

use common::Device;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncBufReadExt, BufReader};
use whatsapp_rust::prelude::Event;

struct SimProcess {
    addr: SocketAddr,
    _child: tokio::process::Child,
    http: reqwest::Client,
}

impl SimProcess {
    async fn start(state_dir: &std::path::Path) -> SimProcess {
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_wa-sim"))
            .args(["--listen", "127.0.0.1:0", "--state-dir"])
            .arg(state_dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line()).await.unwrap().unwrap().unwrap();
        let addr = line.rsplit(' ').next().unwrap().parse().unwrap();
        SimProcess { addr, _child: child, http: reqwest::Client::new() }
    }

    async fn admin(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let url = format!("http://{}{path}", self.addr);
        let mut req = self.http.request(method.parse().unwrap(), url);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    async fn messages_to(&self, to: &str, n: usize) -> Vec<Value> {
        for _ in 0..300 {
            let (_, list) = self.admin("GET", &format!("/admin/messages?to={to}"), None).await;
            if list.as_array().is_some_and(|l| l.len() >= n) {
                return list.as_array().unwrap().clone();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{to} did not receive {n} messages");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_over_a_real_websocket() {
    use whatsapp_rust::download::MediaType;
    use whatsapp_rust::media::{ImageOptions, image_message};
    use whatsapp_rust::upload::UploadOptions;

    let dir = tempfile::tempdir().unwrap();
    let sim = SimProcess::start(&dir.path().join("sim")).await;
    let mut device = Device::start_remote(sim.addr, dir.path().join("a.db")).await;

    let qr = device.qr().await;
    let (status, body) = sim.admin("POST", "/admin/scan", Some(json!({"qr": qr, "phone": "+62 811-1000-001"}))).await;
    assert_eq!((status, body["phone"].as_str()), (200, Some("628111000001")));
    device.connected().await;
    let (_, devices) = sim.admin("GET", "/admin/devices", None).await;
    assert_eq!(devices, json!([{"phone": "628111000001", "device": 1, "connected": true}]));

    let (status, _) = sim.admin("POST", "/admin/contacts", Some(json!({"phones": ["628222000002"]}))).await;
    assert_eq!(status, 200);
    let to = whatsapp_rust::Jid::pn("628222000002");
    let sent = device.client.send_text(to.clone(), "lewat websocket").await.unwrap();
    let image = vec![7u8; 30_000];
    let up = device.client.upload(image.clone(), MediaType::Image, UploadOptions::default()).await.unwrap();
    device.client.send_message(to, image_message(up, ImageOptions::default())).await.unwrap();
    let got = sim.messages_to("628222000002", 2).await;
    assert_eq!((got[0]["type"].as_str(), got[0]["text"].as_str()), (Some("text"), Some("lewat websocket")));
    assert_eq!(got[1]["sha256"].as_str(), Some(hex::encode(Sha256::digest(&image)).as_str()));

    let (status, _) =
        sim.admin("POST", "/admin/receipts", Some(json!({"message_id": sent.message_id, "type": "read"}))).await;
    assert_eq!(status, 200);
    device.wait(10, "the read receipt", |e| matches!(e, Event::Receipt(_)).then_some(())).await;

    let (status, _) = sim
        .admin(
            "POST",
            "/admin/inbound",
            Some(json!({"from": "628222000002", "to": "628111000001", "text": "halo", "pushName": "Sari"})),
        )
        .await;
    assert_eq!(status, 200);
    let name = device
        .wait(10, "the inbound message", |e| match e {
            Event::Messages(b) => b.messages.first().map(|m| m.info.push_name.clone()),
            _ => None,
        })
        .await;
    assert_eq!(name, "Sari");

    let (status, _) = sim.admin("POST", "/admin/fault", Some(json!({"phone": "628111000001", "kind": "drop"}))).await;
    assert_eq!(status, 200);
    device.wait(10, "Disconnected", |e| matches!(e, Event::Disconnected(_)).then_some(())).await;
    device.connected().await;
    let (_, logins) = sim.admin("GET", "/admin/logins", None).await;
    assert_eq!(logins.as_array().unwrap().last().unwrap()["ik"], true, "{logins}");
    device.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pairing_code_and_ban_over_a_real_websocket() {
    use whatsapp_rust::pair_code::PairCodeOptions;

    let dir = tempfile::tempdir().unwrap();
    let sim = SimProcess::start(&dir.path().join("sim")).await;
    let mut device = Device::start_remote(sim.addr, dir.path().join("a.db")).await;
    device.qr().await;
    let options = PairCodeOptions { phone_number: "628333000003".into(), ..Default::default() };
    let code = device.client.pair_with_code(options).await.unwrap();
    let (status, body) =
        sim.admin("POST", "/admin/pair-code", Some(json!({"phone": "628333000003", "code": code}))).await;
    assert_eq!(status, 200, "{body}");
    device.connected().await;

    let (status, _) =
        sim.admin("POST", "/admin/fault", Some(json!({"phone": "628333000003", "kind": "ban", "seconds": 600}))).await;
    assert_eq!(status, 200);
    let expire = device
        .wait(15, "TemporaryBan", |e| match e {
            Event::TemporaryBan(b) => Some(b.expire.num_seconds()),
            _ => None,
        })
        .await;
    assert!(expire > 500 && expire <= 600, "{expire}");
    device.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_api_refuses_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let sim = SimProcess::start(&dir.path().join("sim")).await;
    for (method, path, body) in [
        ("POST", "/admin/scan", json!({"qr": "not,a,qr", "phone": "628111"})),
        ("POST", "/admin/contacts", json!({"phones": ["12"]})),
        ("POST", "/admin/fault", json!({"phone": "628111000001", "kind": "explode"})),
        ("POST", "/admin/fault", json!({"phone": "628111000001", "kind": "ban"})),
        ("POST", "/admin/receipts", json!({"message_id": "nope", "type": "read"})),
        ("POST", "/admin/receipts", json!({"message_id": "nope", "type": "seen"})),
        ("POST", "/admin/inbound", json!({"from": "628222000002", "to": "628111000001", "text": "x"})),
        ("POST", "/admin/pair-code", json!({"phone": "628111000001", "code": "ABCDEFGH"})),
        ("POST", "/admin/pair-code", json!({"phone": "628111000001", "code": "short"})),
    ] {
        let (status, resp) = sim.admin(method, path, Some(body.clone())).await;
        assert!((400..500).contains(&status), "{path} {body}: {status}");
        assert!(resp["error"]["message"].is_string(), "{resp}");
    }
}
