//! The shared device store keeps what whatsapp-rust asks it to keep, each
//! device's rows apart from the others', with the merges the library relies
//! on (the SQLite file store's behaviour), on SQLite and on MariaDB.

use std::sync::Arc;

use sea_orm::Database;
use wagate::engine::store::Stores;
use whatsapp_rust::{
    bytes::Bytes,
    wacore::{
        appstate::{hash::HashState, processor::AppStateMutationMAC},
        store::{
            Device,
            traits::{
                AppStateSyncKey, AppSyncStore, DeviceListRecord, DeviceStore, LidPnMappingEntry, MsgSecretEntry,
                MsgSecretStore, PendingInboundKey, PendingInboundRow, ProtocolStore, SignalStore, TcTokenEntry,
            },
        },
    },
};

use crate::{
    db_tests,
    helpers::{Provisioned, TestDb},
};

async fn device_store_keeps_each_devices_rows(db: TestDb) {
    let database = Provisioned::new(db).await;
    let dir = tempfile::tempdir().unwrap();
    let gateway = match &database.url {
        Some(url) => Database::connect(url.as_str()).await.unwrap(),
        None => Database::connect("sqlite::memory:").await.unwrap(),
    };
    let stores = Stores::open(&gateway, dir.path()).await.unwrap();
    let a = stores.device("a").await.unwrap();
    let b = stores.device("b").await.unwrap();

    // The device itself: none until created, then what was saved.
    assert!(!a.exists().await.unwrap());
    assert!(a.load().await.unwrap().is_none());
    a.create().await.unwrap();
    assert!(a.exists().await.unwrap() && !b.exists().await.unwrap());
    let mut device: Device = a.load().await.unwrap().unwrap();
    device.push_name = "Toko Maju".into();
    device.next_pre_key_id = 812;
    a.save(&device).await.unwrap();
    let loaded = stores.device("a").await.unwrap().load().await.unwrap().unwrap();
    assert_eq!(loaded.push_name, "Toko Maju");
    assert_eq!(loaded.next_pre_key_id, 812);
    assert_eq!(loaded.identity_key.public_key.public_key_bytes(), device.identity_key.public_key.public_key_bytes());
    assert_eq!(loaded.registration_id, device.registration_id);

    // Identities and Signal sessions, per device.
    a.put_identities_batch(&[(Arc::from("628111:2@s.whatsapp.net"), [7; 32])]).await.unwrap();
    assert_eq!(a.load_identity("628111:2@s.whatsapp.net").await.unwrap(), Some([7; 32]));
    assert_eq!(b.load_identity("628111:2@s.whatsapp.net").await.unwrap(), None);
    a.put_session("628222@s.whatsapp.net", b"ratchet").await.unwrap();
    a.put_session("628222@s.whatsapp.net", b"ratchet 2").await.unwrap();
    assert_eq!(a.get_session("628222@s.whatsapp.net").await.unwrap(), Some(Bytes::from_static(b"ratchet 2")));
    assert!(a.has_session("628222@s.whatsapp.net").await.unwrap());
    assert!(!b.has_session("628222@s.whatsapp.net").await.unwrap());
    assert!(a.has_signal_state_for_user("628111").await.unwrap(), "an identity of device 2");
    assert!(a.has_signal_state_for_user("628222").await.unwrap(), "a session of device 0");
    assert!(!a.has_signal_state_for_user("62822").await.unwrap(), "a prefix is another user");
    a.delete_session("628222@s.whatsapp.net").await.unwrap();
    assert!(!a.has_session("628222@s.whatsapp.net").await.unwrap());

    // Pre-keys: marking uploaded never brings back one that was used.
    let keys: Vec<(u32, Bytes)> = (1..=3).map(|id| (id, Bytes::from(vec![id as u8; 4]))).collect();
    a.store_prekeys_batch(&keys, false).await.unwrap();
    a.remove_prekey(2).await.unwrap();
    a.mark_prekeys_uploaded(&[1, 2, 3]).await.unwrap();
    assert_eq!(a.load_prekey(2).await.unwrap(), None);
    assert_eq!(a.load_prekey(3).await.unwrap(), Some(Bytes::from(vec![3; 4])));
    let mut batch = a.load_prekeys_batch(&[1, 2, 3]).await.unwrap();
    batch.sort();
    assert_eq!(batch, vec![(1, Bytes::from(vec![1; 4])), (3, Bytes::from(vec![3; 4]))]);
    let many: Vec<(u32, Bytes)> = (10..130).map(|id| (id, Bytes::from(vec![id as u8; 2]))).collect();
    a.store_prekeys_batch(&many, true).await.unwrap();
    let wanted: Vec<u32> = (0..200).collect();
    assert_eq!(a.load_prekeys_batch(&wanted).await.unwrap().len(), 2 + 120, "over several queries");
    assert_eq!(a.get_max_prekey_id().await.unwrap(), 129);
    assert_eq!(b.get_max_prekey_id().await.unwrap(), 0);
    let macs: Vec<AppStateMutationMAC> =
        (0..60u8).map(|i| AppStateMutationMAC { index_mac: vec![i; 32], value_mac: vec![i; 2] }).collect();
    a.put_mutation_macs("regular", 3, &macs).await.unwrap();
    let asked: Vec<[u8; 32]> = (0..70u8).map(|i| [i; 32]).collect();
    let found = a.get_mutation_macs("regular", &asked).await.unwrap();
    assert_eq!((found.len(), found.get(&[59; 32])), (60, Some(&vec![59; 2])));
    assert!(b.get_mutation_macs("regular", &asked).await.unwrap().is_empty());
    a.store_signed_prekey(1, b"signed").await.unwrap();
    assert_eq!(a.load_all_signed_prekeys().await.unwrap(), vec![(1, b"signed".to_vec())]);

    // Trusted-contact tokens: a newer real token wins, the sender's bucket only grows.
    let jid = "628333@s.whatsapp.net";
    a.store_received_tc_token(jid, b"first", 100).await.unwrap();
    a.store_received_tc_token(jid, b"older", 50).await.unwrap();
    let token = |entry: Option<TcTokenEntry>| entry.map(|e| (e.token, e.token_timestamp, e.sender_timestamp));
    assert_eq!(token(a.get_tc_token(jid).await.unwrap()), Some((b"first".to_vec(), 100, None)));
    a.touch_tc_token_sender_timestamp(jid, 70).await.unwrap();
    a.touch_tc_token_sender_timestamp(jid, 60).await.unwrap();
    assert_eq!(token(a.get_tc_token(jid).await.unwrap()), Some((b"first".to_vec(), 100, Some(70))));
    a.store_received_tc_token(jid, b"newer", 200).await.unwrap();
    assert_eq!(token(a.get_tc_token(jid).await.unwrap()), Some((b"newer".to_vec(), 200, Some(70))));
    a.touch_tc_token_sender_timestamp("628444@s.whatsapp.net", 90).await.unwrap();
    assert_eq!(token(a.get_tc_token("628444@s.whatsapp.net").await.unwrap()), Some((vec![], 90, Some(90))));
    // A placeholder does not block the first real token, even an older one.
    a.store_received_tc_token("628444@s.whatsapp.net", b"real", 10).await.unwrap();
    assert_eq!(token(a.get_tc_token("628444@s.whatsapp.net").await.unwrap()), Some((b"real".to_vec(), 10, Some(90))));
    assert_eq!(a.delete_expired_tc_tokens(300, 80).await.unwrap(), 1, "only the one whose bucket is stale too");
    assert_eq!(a.get_all_tc_token_jids().await.unwrap(), vec!["628444@s.whatsapp.net".to_owned()]);

    // Message secrets: the later deadline, 0 (never) winning; the known time kept.
    let secret = |expires_at, message_ts| MsgSecretEntry {
        chat: Arc::from("628555@s.whatsapp.net"),
        sender: Arc::from("628555@s.whatsapp.net"),
        msg_id: Arc::from("3EB0A1"),
        secret: [9; 32],
        expires_at,
        message_ts,
    };
    a.put_msg_secrets(vec![secret(100, 5)]).await.unwrap();
    a.put_msg_secrets(vec![secret(50, 0)]).await.unwrap();
    let with_ts = a.get_msg_secret_with_ts("628555@s.whatsapp.net", "628555@s.whatsapp.net", "3EB0A1").await.unwrap();
    assert_eq!(with_ts, Some((vec![9; 32], 5)));
    assert_eq!(a.delete_expired_msg_secrets(100).await.unwrap(), 1, "its deadline, 100, has passed");
    a.put_msg_secrets(vec![secret(100, 5)]).await.unwrap();
    a.put_msg_secrets(vec![secret(0, 5)]).await.unwrap();
    assert_eq!(a.delete_expired_msg_secrets(1_000).await.unwrap(), 0, "it never expires now");
    assert!(b.get_msg_secret("628555@s.whatsapp.net", "628555@s.whatsapp.net", "3EB0A1").await.unwrap().is_none());

    // LID mappings keep when they were first learned.
    let mapping = |phone: &str, created_at, updated_at| LidPnMappingEntry {
        lid: "1000001".into(),
        phone_number: phone.into(),
        created_at,
        updated_at,
        learning_source: "usync".into(),
    };
    a.put_lid_mapping(&mapping("628666", 1, 1)).await.unwrap();
    a.put_lid_mappings(&[mapping("628777", 9, 5)]).await.unwrap();
    let entry = a.get_lid_mapping("1000001").await.unwrap().unwrap();
    assert_eq!((entry.phone_number.as_str(), entry.created_at, entry.updated_at), ("628777", 1, 5));
    assert_eq!(a.get_pn_mapping("628777").await.unwrap().unwrap().lid, "1000001");
    assert!(a.get_pn_mapping("628666").await.unwrap().is_none());
    assert_eq!(a.get_all_lid_mappings().await.unwrap().len(), 1);

    // A sent message for retries is taken once.
    a.store_sent_message("628888@s.whatsapp.net", "3EB0B2", b"payload").await.unwrap();
    assert_eq!(a.take_sent_message("628888@s.whatsapp.net", "3EB0B2").await.unwrap(), Some(b"payload".to_vec()));
    assert_eq!(a.take_sent_message("628888@s.whatsapp.net", "3EB0B2").await.unwrap(), None);

    // The durability hook's pending buffer.
    let rows = [
        PendingInboundRow { chat: "c", sender: "s", id: "1", message: b"one" },
        PendingInboundRow { chat: "c", sender: "s", id: "2", message: b"two" },
    ];
    a.store_pending_inbound_batch(&rows).await.unwrap();
    assert_eq!(a.get_pending_inbound("c", "s", "2").await.unwrap(), Some(b"two".to_vec()));
    assert_eq!(b.get_pending_inbound("c", "s", "2").await.unwrap(), None);
    a.delete_pending_inbound_batch(&[PendingInboundKey { chat: "c", sender: "s", id: "1" }]).await.unwrap();
    assert_eq!(a.get_pending_inbound("c", "s", "1").await.unwrap(), None);
    assert_eq!(a.delete_expired_pending_inbound(i64::MAX).await.unwrap(), 1);

    // App-state sync keys and versions.
    assert!(a.get_latest_sync_key_id().await.unwrap().is_none());
    for id in [[0, 0, 1], [0, 0, 2]] {
        let key = AppStateSyncKey { key_data: vec![id[2]; 32], fingerprint: vec![], timestamp: 1 };
        a.set_sync_key(&id, key).await.unwrap();
    }
    assert_eq!(a.get_latest_sync_key_id().await.unwrap(), Some(vec![0, 0, 2]));
    assert_eq!(a.get_sync_key(&[0, 0, 1]).await.unwrap().unwrap().key_data, vec![1; 32]);
    assert_eq!(a.get_version("regular").await.unwrap().version, 0);
    let state = HashState { version: 7, ..Default::default() };
    a.set_version("regular", state).await.unwrap();
    assert_eq!(a.get_version("regular").await.unwrap().version, 7);

    // Group sender-key bookkeeping.
    a.set_sender_key_status("120363@g.us", &[("628111:2@s.whatsapp.net", true), ("628222@s.whatsapp.net", false)])
        .await
        .unwrap();
    a.set_sender_key_status("120363@g.us", &[("628222@s.whatsapp.net", true)]).await.unwrap();
    let mut devices = a.get_sender_key_devices("120363@g.us").await.unwrap();
    devices.sort();
    assert_eq!(devices, vec![("628111:2@s.whatsapp.net".into(), true), ("628222@s.whatsapp.net".into(), true)]);
    a.delete_sender_key_device_rows(&["628111:2@s.whatsapp.net"]).await.unwrap();
    assert_eq!(a.get_sender_key_devices("120363@g.us").await.unwrap().len(), 1);

    // Wiped, a device's rows are gone and the other's stay.
    b.put_identity("628111@s.whatsapp.net", [1; 32]).await.unwrap();
    stores.wipe("a").await.unwrap();
    assert!(!stores.holds("a").await.unwrap() && stores.holds("b").await.unwrap());
    let again = stores.device("a").await.unwrap();
    assert!(!again.exists().await.unwrap());
    assert_eq!(again.load_identity("628111:2@s.whatsapp.net").await.unwrap(), None);
    assert_eq!(again.get_max_prekey_id().await.unwrap(), 0);
    assert_eq!(b.load_identity("628111@s.whatsapp.net").await.unwrap(), Some([1; 32]));
    drop(database);
}

/// A session's file from an earlier version (whatsapp-rust's SQLite store)
/// moves into the shared store whole, once; the file is set aside.
async fn an_earlier_versions_file_moves_in(db: TestDb) {
    let database = Provisioned::new(db).await;
    let dir = tempfile::tempdir().unwrap();
    let gateway = match &database.url {
        Some(url) => Database::connect(url.as_str()).await.unwrap(),
        None => Database::connect("sqlite::memory:").await.unwrap(),
    };
    let stores = Stores::open(&gateway, dir.path()).await.unwrap();

    let file = dir.path().join("toko.db");
    let legacy =
        whatsapp_rust::store::SqliteStore::with_config(file.to_str().unwrap(), Default::default()).await.unwrap();
    legacy.create().await.unwrap();
    let mut device = legacy.load().await.unwrap().unwrap();
    device.push_name = "Toko Lama".into();
    legacy.save(&device).await.unwrap();
    let contact = "628111@s.whatsapp.net";
    legacy.put_identity(contact, [3; 32]).await.unwrap();
    legacy.put_session(contact, b"ratchet").await.unwrap();
    legacy.store_prekeys_batch(&[(1, Bytes::from_static(b"k1")), (2, Bytes::from_static(b"k2"))], true).await.unwrap();
    legacy.store_signed_prekey(1, b"signed").await.unwrap();
    legacy.put_sender_key("120363@g.us::628111::0", b"sender key").await.unwrap();
    let key = AppStateSyncKey { key_data: vec![5; 32], fingerprint: vec![1, 2], timestamp: 9 };
    legacy.set_sync_key(&[0, 0, 5], key).await.unwrap();
    legacy.set_version("regular", HashState { version: 3, ..Default::default() }).await.unwrap();
    let record = DeviceListRecord {
        user: "628111".into(),
        devices: vec![],
        timestamp: 5,
        phash: Some("2:abc".into()),
        raw_id: Some(7),
    };
    legacy.update_device_list(record).await.unwrap();
    let mapping = LidPnMappingEntry {
        lid: "1000001".into(),
        phone_number: "628111".into(),
        created_at: 1,
        updated_at: 2,
        learning_source: "usync".into(),
    };
    legacy.put_lid_mapping(&mapping).await.unwrap();
    legacy.store_received_tc_token(contact, b"token", 100).await.unwrap();
    legacy.touch_tc_token_sender_timestamp(contact, 50).await.unwrap();
    legacy.store_pending_inbound("c", "s", "1", b"unacknowledged").await.unwrap();
    legacy.store_sent_message(contact, "3EB0C3", b"for a retry").await.unwrap();
    let secret = MsgSecretEntry {
        chat: Arc::from(contact),
        sender: Arc::from(contact),
        msg_id: Arc::from("3EB0C4"),
        secret: [4; 32],
        expires_at: 0,
        message_ts: 8,
    };
    legacy.put_msg_secrets(vec![secret]).await.unwrap();
    legacy.set_sender_key_status("120363@g.us", &[(contact, true)]).await.unwrap();
    legacy.save_base_key(contact, "3EB0C5", b"base").await.unwrap();
    drop(legacy);

    let moved = stores.import("toko", &file).await.unwrap();
    assert!(!file.exists() && dir.path().join("toko.db.imported").exists(), "the file is set aside");
    let loaded = moved.load().await.unwrap().unwrap();
    assert_eq!(loaded.push_name, "Toko Lama");
    assert_eq!(loaded.identity_key.public_key.public_key_bytes(), device.identity_key.public_key.public_key_bytes());
    assert_eq!(loaded.registration_id, device.registration_id);
    assert_eq!(moved.load_identity(contact).await.unwrap(), Some([3; 32]));
    assert_eq!(moved.get_session(contact).await.unwrap(), Some(Bytes::from_static(b"ratchet")));
    assert_eq!(moved.load_prekey(2).await.unwrap(), Some(Bytes::from_static(b"k2")));
    assert_eq!(moved.get_max_prekey_id().await.unwrap(), 2);
    assert_eq!(moved.load_signed_prekey(1).await.unwrap(), Some(b"signed".to_vec()));
    assert_eq!(moved.get_sender_key("120363@g.us::628111::0").await.unwrap(), Some(b"sender key".to_vec()));
    let key = moved.get_sync_key(&[0, 0, 5]).await.unwrap().unwrap();
    assert_eq!((key.key_data, key.fingerprint, key.timestamp), (vec![5; 32], vec![1, 2], 9));
    assert_eq!(moved.get_latest_sync_key_id().await.unwrap(), Some(vec![0, 0, 5]));
    assert_eq!(moved.get_version("regular").await.unwrap().version, 3);
    let record = moved.get_devices("628111").await.unwrap().unwrap();
    assert_eq!((record.timestamp, record.phash.as_deref(), record.raw_id), (5, Some("2:abc"), Some(7)));
    assert_eq!(moved.get_pn_mapping("628111").await.unwrap().unwrap().lid, "1000001");
    let token = moved.get_tc_token(contact).await.unwrap().unwrap();
    assert_eq!((token.token, token.token_timestamp, token.sender_timestamp), (b"token".to_vec(), 100, Some(50)));
    assert_eq!(moved.get_pending_inbound("c", "s", "1").await.unwrap(), Some(b"unacknowledged".to_vec()));
    assert_eq!(moved.take_sent_message(contact, "3EB0C3").await.unwrap(), Some(b"for a retry".to_vec()));
    assert_eq!(moved.get_msg_secret_with_ts(contact, contact, "3EB0C4").await.unwrap(), Some((vec![4; 32], 8)));
    assert_eq!(moved.get_sender_key_devices("120363@g.us").await.unwrap(), vec![(contact.to_owned(), true)]);
    assert!(moved.has_same_base_key(contact, "3EB0C5", b"base").await.unwrap());

    // Stopped after the copy and before setting the file aside: the copy is
    // not made again, the file is set aside.
    std::fs::rename(dir.path().join("toko.db.imported"), &file).unwrap();
    let again = stores.import("toko", &file).await.unwrap();
    assert_eq!(again.load().await.unwrap().unwrap().push_name, "Toko Lama");
    assert!(!file.exists());
    drop(database);
}

db_tests!(device_store_keeps_each_devices_rows, an_earlier_versions_file_moves_in);
