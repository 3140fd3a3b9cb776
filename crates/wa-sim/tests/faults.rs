//! Each injected fault produces the client event a gateway has to handle.

mod common;

use std::time::{Duration, Instant};

use common::linked;
use wa_sim::{Fault, Sim};
use whatsapp_rust::prelude::Event;

const PHONE: &str = "628111000001";

async fn setup() -> (Sim, tempfile::TempDir, common::Device) {
    let sim = Sim::new();
    let dir = tempfile::tempdir().unwrap();
    sim.add_contacts(&["628222000002".to_owned()]);
    let device = linked(&sim, dir.path(), PHONE).await;
    (sim, dir, device)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_disconnects_and_the_client_comes_back() {
    let (sim, _dir, mut device) = setup().await;
    sim.fault(PHONE, Fault::Drop);
    device.wait(10, "Disconnected", |e| matches!(e, Event::Disconnected(_)).then_some(())).await;
    device.connected().await;
    device.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_connections_delay_the_reconnect() {
    let (sim, _dir, mut device) = setup().await;
    let started = Instant::now();
    sim.fault(PHONE, Fault::Refuse(Duration::from_secs(2)));
    device.wait(10, "Disconnected", |e| matches!(e, Event::Disconnected(_)).then_some(())).await;
    device.connected().await;
    assert!(started.elapsed() >= Duration::from_secs(2), "connected while refused");
    device.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ban_is_reported_with_its_expiry() {
    let (sim, _dir, mut device) = setup().await;
    sim.fault(PHONE, Fault::Ban(Duration::from_secs(3600)));
    let expire = device
        .wait(15, "TemporaryBan", |e| match e {
            Event::TemporaryBan(b) => Some(b.expire),
            _ => None,
        })
        .await;
    assert!(expire.num_seconds() > 3500 && expire.num_seconds() <= 3600, "{expire:?}");
    device.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_unlinks_the_device() {
    let (sim, _dir, mut device) = setup().await;
    sim.fault(PHONE, Fault::Logout);
    device.wait(10, "LoggedOut", |e| matches!(e, Event::LoggedOut(_)).then_some(())).await;
    assert!(sim.devices().is_empty());
    device.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replace_reports_stream_replaced() {
    let (sim, _dir, mut device) = setup().await;
    sim.fault(PHONE, Fault::Replace);
    device.wait(10, "StreamReplaced", |e| matches!(e, Event::StreamReplaced(_)).then_some(())).await;
    device.stop().await;
}

async fn send_and_time_ack(device: &mut common::Device, within: u64) -> Option<Duration> {
    let started = Instant::now();
    let sent = device.client.send_text(whatsapp_rust::Jid::pn("628222000002"), "x").await.unwrap();
    let id = sent.message_id.clone();
    device
        .try_wait(within, move |e| match e {
            Event::ServerAck(a) if a.id == id => Some(()),
            _ => None,
        })
        .await
        .map(|()| started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acks_can_be_delayed_or_withheld() {
    let (sim, _dir, mut device) = setup().await;
    sim.fault(PHONE, Fault::DelayAcks(Duration::from_millis(1500)));
    let took = send_and_time_ack(&mut device, 10).await.expect("a delayed ack still comes");
    assert!(took >= Duration::from_millis(1500), "ack after {took:?}");

    sim.fault(PHONE, Fault::Clear);
    sim.fault(PHONE, Fault::WithholdAcks(Duration::from_secs(60)));
    assert_eq!(send_and_time_ack(&mut device, 2).await, None, "no ack while withheld");
    assert_eq!(sim.received(Some("628222000002")).len(), 2, "the contact got both messages all the same");
    device.stop().await;
}

#[test]
fn fault_names_parse() {
    assert_eq!(Fault::parse("ban", Some(5)).unwrap(), Fault::Ban(Duration::from_secs(5)));
    assert!(Fault::parse("ban", None).is_err());
    assert!(Fault::parse("explode", None).is_err());
}
