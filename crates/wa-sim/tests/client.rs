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
    // The phone's app-state key share may come first (under load, after `linked`).
    let (text, push_name, sender) = device
        .wait(10, "the inbound message", |e| match e {
            Event::Messages(batch) => batch.messages.iter().find(|m| m.message.conversation.is_some()).map(|m| {
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

/// The next group change the device is told of: the action's tag and its participants' numbers.
async fn next_group_change(device: &mut Device) -> (String, Vec<String>) {
    use whatsapp_rust::wacore::stanza::groups::GroupNotificationAction as A;
    device
        .wait(10, "a group notification", |e| match e {
            Event::GroupUpdate(u) => {
                let numbers = match &u.action {
                    A::Add { participants, .. }
                    | A::Remove { participants, .. }
                    | A::Promote { participants }
                    | A::Demote { participants } => participants.iter().map(|p| p.jid.user.to_string()).collect(),
                    _ => Vec::new(),
                };
                Some((u.action.tag_name().to_owned(), numbers))
            }
            _ => None,
        })
        .await
}

/// A linked device runs a group: participants added (one not on WhatsApp, one
/// already in), promoted, demoted and removed; subject, description and
/// settings changed; the invite link read, used by a contact and replaced, after
/// which the old one fails. Each step is in wa-sim's state and told to the
/// device as a `w:gp2` notification; a member that is no admin is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_is_run_by_its_admin() {
    use whatsapp_rust::{
        Jid,
        features::{GroupDescription, GroupSubject, PreviousDescription},
        wacore::iq::groups::{GroupCreateOptions, GroupParticipantOptions},
    };
    let sim = Sim::new();
    let dir = tempfile::tempdir().unwrap();
    let (a, b, c, d) = ("628222000021", "628222000022", "628222000023", "628222000024");
    sim.add_contacts(&[a, b, c, d].map(str::to_owned));
    let mut device = linked(&sim, dir.path(), "628111000021").await;
    let client = device.client.clone();
    let groups = client.groups();
    let members = [a, b].map(|p| GroupParticipantOptions::new(Jid::pn(p))).to_vec();
    let options = GroupCreateOptions::builder().subject("Teknisi").participants(members).build();
    let jid = groups.create_group(options).await.expect("created").metadata.id;
    let id = jid.user.to_string();
    assert_eq!(next_group_change(&mut device).await.0, "create");

    let added = groups.add_participants(&jid, &[Jid::pn(c), Jid::pn("628999000029"), Jid::pn(a)]).await.unwrap();
    let errors: Vec<(String, Option<String>)> =
        added.iter().map(|r| (r.jid.user.to_string(), r.error.clone())).collect();
    assert_eq!(
        errors,
        [
            (c.to_owned(), None),
            ("628999000029".to_owned(), Some("404".to_owned())),
            (a.to_owned(), Some("409".to_owned()))
        ]
    );
    assert_eq!(next_group_change(&mut device).await, ("add".to_owned(), vec![c.to_owned()]));
    groups.promote_participants(&jid, &[Jid::pn(a)]).await.unwrap();
    assert_eq!(next_group_change(&mut device).await, ("promote".to_owned(), vec![a.to_owned()]));
    assert_eq!(sim.group(&id).unwrap().participants[a], "admin");
    groups.demote_participants(&jid, &[Jid::pn(a)]).await.unwrap();
    assert_eq!(next_group_change(&mut device).await, ("demote".to_owned(), vec![a.to_owned()]));
    groups.remove_participants(&jid, &[Jid::pn(b)]).await.unwrap();
    assert_eq!(next_group_change(&mut device).await, ("remove".to_owned(), vec![b.to_owned()]));
    let group = sim.group(&id).unwrap();
    assert!(!group.participants.contains_key(b) && group.former.contains(b), "{group:?}");

    groups.set_subject(jid.clone(), GroupSubject::new("Teknisi ODP-12").unwrap()).await.unwrap();
    assert_eq!(next_group_change(&mut device).await.0, "subject");
    let description = GroupDescription::new("Koordinasi gangguan").unwrap();
    groups.set_description(jid.clone(), Some(description), PreviousDescription::Resolve).await.unwrap();
    assert_eq!(next_group_change(&mut device).await.0, "description");
    groups.set_announce(jid.clone(), true).await.unwrap();
    assert_eq!(next_group_change(&mut device).await.0, "announcement");
    groups.set_locked(jid.clone(), true).await.unwrap();
    assert_eq!(next_group_change(&mut device).await.0, "locked");
    let group = sim.group(&id).unwrap();
    assert_eq!(
        (group.subject.as_str(), group.description.as_deref(), group.announce, group.locked),
        ("Teknisi ODP-12", Some("Koordinasi gangguan"), true, true)
    );
    let read = groups.get_metadata(&jid).await.unwrap();
    assert_eq!(read.subject, "Teknisi ODP-12");

    // A member that is no admin may not lock or add.
    let refused = sim.change_group(&id, c, wa_sim::groups::Change::Locked(false));
    assert!(refused.unwrap_err().to_string().contains("401"));

    let link = groups.get_invite_link(jid.clone(), false).await.unwrap();
    assert!(link.starts_with("https://chat.whatsapp.com/"), "{link}");
    assert_eq!(sim.join_group(d, &link).unwrap(), id);
    assert_eq!(next_group_change(&mut device).await, ("add".to_owned(), vec![d.to_owned()]));
    let new_link = groups.get_invite_link(jid.clone(), true).await.unwrap();
    assert_ne!(new_link, link);
    assert_eq!(next_group_change(&mut device).await.0, "revoke");
    assert!(sim.join_group(b, &link).is_err(), "the old link still works");
    assert!(!sim.group(&id).unwrap().participants.contains_key(b));

    groups.leave(jid.clone()).await.unwrap();
    assert_eq!(next_group_change(&mut device).await, ("remove".to_owned(), vec!["628111000021".to_owned()]));
    assert!(device.client.groups().get_metadata(&jid).await.is_err(), "a group it left is still readable");
    // Every notification was acknowledged.
    let deadline = Instant::now() + Duration::from_secs(10);
    while sim.pending_for("628111000021", 1) > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(sim.pending_for("628111000021", 1), 0);
    device.stop().await;
}

/// What a linked device sends to a group is opened by every participant's phone
/// with the sender key it got, once; a mention shows as one. After a
/// participant is removed the device replaces its key: the next message opens
/// for the others, and the removed one's old key does not open it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_messages_open_with_sender_keys() {
    use whatsapp_rust::{
        Jid,
        wacore::iq::groups::{GroupCreateOptions, GroupParticipantOptions},
        waproto::whatsapp as wa,
    };
    let sim = Sim::new();
    let dir = tempfile::tempdir().unwrap();
    let (a, b, c) = ("628222000031", "628222000032", "628222000033");
    sim.add_contacts(&[a, b, c].map(str::to_owned));
    let mut device = linked(&sim, dir.path(), "628111000031").await;
    let members = [a, b, c].map(|p| GroupParticipantOptions::new(Jid::pn(p))).to_vec();
    let options = GroupCreateOptions::builder().subject("Pelanggan ODP-3").participants(members).build();
    let jid = device.client.groups().create_group(options).await.expect("created").metadata.id;
    let id = jid.user.to_string();

    let first = device.client.send_text(jid.clone(), "Gangguan di ODP-3").await.unwrap().message_id;
    let mention = wa::Message {
        extended_text_message: buffa::MessageField::some(wa::message::ExtendedTextMessage {
            text: Some(format!("@{b} mohon cek")),
            context_info: buffa::MessageField::some(wa::ContextInfo {
                mentioned_jid: vec![Jid::pn(b).to_string()],
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    let second = device.client.send_message(jid.clone(), mention).await.unwrap().message_id;
    for contact in [a, b, c] {
        wait_received(&sim, contact, 2).await;
        let shown = sim.shown(Some(contact));
        let texts: Vec<(&str, Option<&str>, Option<&str>)> =
            shown.iter().map(|r| (r.id.as_str(), r.text.as_deref(), r.group.as_deref())).collect();
        assert_eq!(
            texts,
            [
                (first.as_str(), Some("Gangguan di ODP-3"), Some(id.as_str())),
                (second.as_str(), Some(format!("@{b} mohon cek").as_str()), Some(id.as_str()))
            ],
            "{contact}"
        );
        assert_eq!(shown[1].details["mentions"], serde_json::json!([b]));
    }
    assert!(sim.duplicates().is_empty());

    device.client.groups().remove_participants(&jid, &[Jid::pn(b)]).await.unwrap();
    let third = device.client.send_text(jid.clone(), "Sudah normal").await.unwrap().message_id;
    for contact in [a, c] {
        wait_received(&sim, contact, 3).await;
        assert_eq!(sim.shown(Some(contact))[2].text.as_deref(), Some("Sudah normal"));
    }
    assert_eq!(sim.received(Some(b)).len(), 2, "the removed participant got the message");
    // Former participants try it after the others opened it.
    let deadline = Instant::now() + Duration::from_secs(10);
    while sim.overheard().is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let overheard = sim.overheard();
    assert_eq!(overheard.len(), 1, "{overheard:?}");
    assert_eq!((overheard[0].id.as_str(), overheard[0].phone.as_str()), (third.as_str(), b));
    assert!(!overheard[0].opened, "the old sender key opens a message sent after the removal");
    device.stop().await;
}

/// Contacts write in a group with their own sender keys: the device opens each
/// message and names its author; a contact's second message needs no new key,
/// and after someone leaves each contact's next message comes with a new one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contacts_write_in_groups() {
    use wa_sim::messages::Write;
    let sim = Sim::new();
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = ("628222000041", "628222000042");
    sim.add_contacts(&[a, b].map(str::to_owned));
    let mut device = linked(&sim, dir.path(), "628111000041").await;
    let group = sim.create_group(a, "Warga RT 5", &[b.to_owned(), "628111000041".to_owned()]).unwrap();
    let write = |from: &str, text: &str| Write {
        from: from.to_owned(),
        to: "628111000041".to_owned(),
        text: Some(text.to_owned()),
        group: Some(group.id.clone()),
        ..Default::default()
    };
    let mut expect = Vec::new();
    for (from, text) in [(a, "Listrik padam"), (b, "Di sini juga"), (a, "Sudah nyala")] {
        sim.deliver(&write(from, text)).await.unwrap();
        expect.push((group.id.clone(), from.to_owned(), text.to_owned()));
    }
    sim.change_group(&group.id, b, wa_sim::groups::Change::Leave).unwrap();
    sim.deliver(&write(a, "Terima kasih")).await.unwrap();
    expect.push((group.id.clone(), a.to_owned(), "Terima kasih".to_owned()));
    let mut got = Vec::new();
    while got.len() < expect.len() {
        let batch = device
            .wait(10, "group messages", |e| match e {
                Event::Messages(batch) => Some(
                    batch
                        .messages
                        .iter()
                        .map(|m| {
                            let text =
                                m.message.conversation.clone().or_else(|| {
                                    m.message.extended_text_message.as_option().and_then(|t| t.text.clone())
                                });
                            (m.info.source.chat.user.to_string(), m.info.source.sender.user.to_string(), text)
                        })
                        .collect::<Vec<_>>(),
                ),
                _ => None,
            })
            .await;
        got.extend(batch.into_iter().filter_map(|(chat, from, text)| Some((chat, from, text?))));
    }
    // Messages of different senders (and a sender's under a new key) may be
    // handed on in another order than they were written.
    got.sort();
    expect.sort();
    assert_eq!(got, expect);
    device.stop().await;
}
