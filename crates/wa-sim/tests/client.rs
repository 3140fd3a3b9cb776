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
    // After the 515 the client may see the old stream end once more and log in
    // again: the device is online again shortly, never a second device.
    let want = vec![("628111000001".to_owned(), 1, true)];
    let deadline = Instant::now() + Duration::from_secs(10);
    while sim.devices() != want && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(sim.devices(), want);
    // The key share waited in the offline queue until the device acknowledged it.
    let deadline = Instant::now() + Duration::from_secs(10);
    while sim.pending_for("628111000001", 1) > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(sim.pending_for("628111000001", 1), 0, "the device never acknowledged the key share");
    device.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_reaches_the_contact() {
    let sim = Sim::new();
    let dir = tempfile::tempdir().unwrap();
    sim.add_contacts(&["628222000002".to_owned()]);
    let mut device = linked(&sim, dir.path(), "628111000001").await;
    let to = whatsapp_rust::Jid::pn("628222000002");
    let sent = device.client.send_text(to, "Halo dari wagate").await.unwrap();
    let id = sent.message_id.clone();
    let class = device
        .wait(10, "the server ack", |e| match e {
            Event::ServerAck(a) if a.id == id => Some(a.class.clone()),
            _ => None,
        })
        .await;
    assert_eq!(class.as_deref(), Some("message"));
    let received = wait_received(&sim, "628222000002", 1).await;
    assert_eq!(received[0].id, sent.message_id);
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_client_logs_in_again_with_ik() {
    let sim = Sim::new();
    let dir = tempfile::tempdir().unwrap();
    let mut device = linked(&sim, dir.path(), "628111000001").await;
    device.stop().await;
    // After the 515 that ends linking the client sometimes sees the old stream
    // end twice and logs in once more (over IK) before it is stopped: count
    // the logins from the restart on.
    let before = sim.logins();
    assert!(!before[0].ik, "the first login follows linking over XX");
    let mut again = Device::start(&sim, device.store.clone()).await;
    again.connected().await;
    let after = sim.logins()[before.len()..].to_vec();
    assert_eq!(after.len(), 1, "{after:?}");
    assert!(after[0].ik, "the restarted client resumes with IK");
    assert_eq!((after[0].phone.as_str(), after[0].device), ("628111000001", 1));
    again.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn image_and_document_arrive_byte_for_byte() {
    use sha2::{Digest, Sha256};
    use whatsapp_rust::download::MediaType;
    use whatsapp_rust::media::{DocumentOptions, ImageOptions, document_message, image_message};
    use whatsapp_rust::upload::UploadOptions;

    let sim = Sim::new();
    let dir = tempfile::tempdir().unwrap();
    sim.add_contacts(&["628222000002".to_owned()]);
    let mut device = linked(&sim, dir.path(), "628111000001").await;
    let to = whatsapp_rust::Jid::pn("628222000002");

    let image: Vec<u8> = (0..70_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let up = device.client.upload(image.clone(), MediaType::Image, UploadOptions::default()).await.unwrap();
    let options = ImageOptions {
        caption: Some("Gangguan ODP-12".into()),
        mimetype: Some("image/png".into()),
        ..Default::default()
    };
    device.client.send_message(to.clone(), image_message(up, options)).await.unwrap();

    let pdf = b"%PDF-1.4 tagihan bulan ini".repeat(500);
    let up = device.client.upload(pdf.clone(), MediaType::Document, UploadOptions::default()).await.unwrap();
    let options = DocumentOptions {
        file_name: Some("tagihan.pdf".into()),
        mimetype: Some("application/pdf".into()),
        ..Default::default()
    };
    device.client.send_message(to, document_message(up, options)).await.unwrap();

    let got = wait_received(&sim, "628222000002", 2).await;
    assert_eq!(got[0].kind, "image");
    assert_eq!(got[0].caption.as_deref(), Some("Gangguan ODP-12"));
    assert_eq!(got[0].mimetype.as_deref(), Some("image/png"));
    assert_eq!(got[0].sha256.as_deref(), Some(hex::encode(Sha256::digest(&image)).as_str()));
    assert_eq!(got[1].kind, "document");
    assert_eq!(got[1].filename.as_deref(), Some("tagihan.pdf"));
    assert_eq!(got[1].mimetype.as_deref(), Some("application/pdf"));
    assert_eq!(got[1].sha256.as_deref(), Some(hex::encode(Sha256::digest(&pdf)).as_str()));
    device.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inbound_text_and_receipts() {
    use whatsapp_rust::types::presence::ReceiptType;

    let sim = Sim::new();
    let dir = tempfile::tempdir().unwrap();
    sim.add_contacts(&["628222000002".to_owned()]);
    let mut device = linked(&sim, dir.path(), "628111000001").await;

    sim.inbound("628222000002", "628111000001", "Internet saya mati", "Budi").await.unwrap();
    let (text, push_name, sender) = device
        .wait(10, "the inbound message", |e| match e {
            Event::Messages(batch) => batch.messages.first().map(|m| {
                (m.message.conversation.clone(), m.info.push_name.clone(), m.info.source.sender.user.to_string())
            }),
            _ => None,
        })
        .await;
    assert_eq!(text.as_deref(), Some("Internet saya mati"));
    assert_eq!(push_name, "Budi");
    assert_eq!(sender, "628222000002");

    let sent = device.client.send_text(whatsapp_rust::Jid::pn("628222000002"), "Kami cek").await.unwrap();
    wait_received(&sim, "628222000002", 1).await;
    for (kind, expected) in [("delivered", ReceiptType::Delivered), ("read", ReceiptType::Read)] {
        sim.receipt(&sent.message_id, kind).unwrap();
        let (ids, got) = device
            .wait(10, kind, |e| match e {
                Event::Receipt(r) => Some((r.message_ids.clone(), r.r#type.clone())),
                _ => None,
            })
            .await;
        assert_eq!(ids.iter().map(|i| i.to_string()).collect::<Vec<_>>(), vec![sent.message_id.clone()]);
        assert_eq!(got, expected);
    }
    device.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_whatsapp_checks() {
    let sim = Sim::new();
    let dir = tempfile::tempdir().unwrap();
    sim.add_contacts(&["628222000002".to_owned()]);
    let mut device = linked(&sim, dir.path(), "628111000001").await;
    let results = device
        .client
        .contacts()
        .is_on_whatsapp(&[whatsapp_rust::Jid::pn("628222000002"), whatsapp_rust::Jid::pn("628999000009")])
        .await
        .unwrap();
    let registered: Vec<(String, bool)> = results.iter().map(|r| (r.jid.user.to_string(), r.is_registered)).collect();
    assert!(registered.contains(&("628222000002".into(), true)), "{registered:?}");
    assert!(registered.contains(&("628999000009".into(), false)), "{registered:?}");
    device.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pairing_code_linking() {
    use whatsapp_rust::pair_code::PairCodeOptions;

    let sim = Sim::new();
    let dir = tempfile::tempdir().unwrap();
    let options = |phone: &str| PairCodeOptions { phone_number: phone.into(), ..Default::default() };

    // A wrong code does not link (and the client gives up on that code).
    let mut first = Device::start(&sim, dir.path().join("a.db")).await;
    first.qr().await; // connected and waiting to be linked
    let code = first.client.pair_with_code(options("628111000009")).await.unwrap();
    let wrong = if code.starts_with('A') { "BBBBBBBB" } else { "AAAAAAAA" };
    assert!(sim.enter_pair_code("628111000009", wrong).await.is_err(), "a wrong code must not link");
    assert!(sim.devices().is_empty());
    first.stop().await;

    let mut device = Device::start(&sim, dir.path().join("b.db")).await;
    device.qr().await;
    let code = device.client.pair_with_code(options("628111000001")).await.unwrap();
    assert_eq!(code.len(), 8);
    sim.enter_pair_code("628111000001", &code).await.unwrap();
    let paired = device
        .wait(30, "PairSuccess", |e| match e {
            Event::PairSuccess(p) => Some(p.id.user.to_string()),
            _ => None,
        })
        .await;
    assert_eq!(paired, "628111000001");
    device.connected().await;
    assert_eq!(sim.devices(), vec![("628111000001".to_owned(), 1, true)]);
    device.stop().await;
}

/// A linked device creates a group of two contacts (a number not on WhatsApp
/// is left out), reads it back and finds it among the groups it is in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_is_created_and_read() {
    use whatsapp_rust::{Jid, wacore::iq::groups::GroupCreateOptions, wacore::iq::groups::GroupParticipantOptions};
    let sim = Sim::new();
    let dir = tempfile::tempdir().unwrap();
    sim.add_contacts(&["628222000011".to_owned(), "628222000012".to_owned()]);
    let mut device = linked(&sim, dir.path(), "628111000011").await;
    let members =
        ["628222000011", "628222000012", "628999000019"].map(|p| GroupParticipantOptions::new(Jid::pn(p))).to_vec();
    let options = GroupCreateOptions::builder().subject("Teknisi ODP-12").participants(members).build();
    let created = device.client.groups().create_group(options).await.expect("created").metadata;
    assert_eq!(created.subject, "Teknisi ODP-12");
    let mut numbers: Vec<String> = created.participants.iter().map(|p| p.jid.user.to_string()).collect();
    numbers.sort();
    assert_eq!(numbers, ["628111000011", "628222000011", "628222000012"]);
    let read = device.client.groups().get_metadata(&created.id).await.expect("metadata");
    assert_eq!((read.id.clone(), read.subject.clone()), (created.id.clone(), created.subject.clone()));
    assert!(read.participants.iter().any(|p| p.jid.user == "628111000011" && p.is_admin()), "{:?}", read.participants);
    let mine = device.client.groups().get_participating().await.expect("participating");
    assert!(mine.contains_key(&created.id), "{:?}", mine.keys());
    assert_eq!(sim.groups().len(), 1);
    device.stop().await;
}
