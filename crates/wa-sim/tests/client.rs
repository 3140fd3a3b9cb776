//! The real whatsapp-rust client against wa-sim, in process.

mod common;

use std::time::{Duration, Instant};

use common::{Device, linked};
use wa_sim::Sim;
use whatsapp_rust::prelude::Event;

/// The client's wait for an app-state key before it gives up and connects anyway.
const KEY_SHARE_GRACE: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qr_linking_connects_on_the_key_share() {
    let sim = Sim::new();
    let dir = tempfile::tempdir().unwrap();
    let mut device = Device::start(&sim, dir.path().join("a.db")).await;
    let qr = device.qr().await;
    sim.scan(&qr, "628111000001").await.unwrap();
    let paired = device
        .wait(30, "PairSuccess", |e| match e {
            Event::PairSuccess(p) => Some(p.id.clone()),
            _ => None,
        })
        .await;
    assert_eq!(paired.user, "628111000001");
    let started = Instant::now();
    device.connected().await;
    assert!(
        started.elapsed() < KEY_SHARE_GRACE,
        "Connected came after {:?}: the key share was not used",
        started.elapsed()
    );
    assert_eq!(sim.devices(), vec![("628111000001".to_owned(), 1, true)]);
    device.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_reaches_the_contact() {
    let sim = Sim::new();
    let dir = tempfile::tempdir().unwrap();
    sim.add_contacts(&["628222000002".to_owned()]);
    let mut device = linked(&sim, dir.path(), "628111000001").await;
    let to = whatsapp_rust::Jid::pn("628222000002");
    let id = device.client.send_text(&to, "Halo dari wagate").await.unwrap();
    let _ = id;
    let received = wait_received(&sim, "628222000002", 1).await;
    assert_eq!(received[0].kind, "text");
    assert_eq!(received[0].text.as_deref(), Some("Halo dari wagate"));
    assert_eq!(received[0].from, "628111000001");
    device.stop().await;
}

async fn wait_received(sim: &Sim, to: &str, n: usize) -> Vec<wa_sim::Received> {
    for _ in 0..300 {
        let got = sim.received(Some(to));
        if got.len() >= n {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{to} did not receive {n} messages: {:?}", sim.received(None));
}
