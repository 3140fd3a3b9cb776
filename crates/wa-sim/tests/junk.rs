//! Junk on one connection closes that connection; the server carries on and
//! other clients are not disturbed.

mod common;

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::sync::mpsc;
use wa_sim::Sim;
use whatsapp_rust::{
    buffa::Message as _,
    wacore::{handshake::XxHandshakeState, libsignal::protocol::KeyPair, noise::NoiseCipher},
    wacore_binary::{builder::NodeBuilder, consts::WA_CONN_HEADER, marshal::marshal},
    waproto::whatsapp as wa,
};

/// Waits until the server closes the connection; fails if it stays open.
async fn closed(mut rx: mpsc::Receiver<Bytes>) {
    let ended = tokio::time::timeout(Duration::from_secs(10), async { while rx.recv().await.is_some() {} }).await;
    assert!(ended.is_ok(), "the server kept a junk connection open");
}

fn frame(payload: &[u8], header: bool) -> Bytes {
    let header = header.then_some(&WA_CONN_HEADER[..]);
    Bytes::from(whatsapp_rust::wacore::framing::encode_frame(payload, header).unwrap())
}

async fn read_frame(rx: &mut mpsc::Receiver<Bytes>, buf: &mut BytesMut) -> BytesMut {
    loop {
        if buf.len() >= 3 {
            let len = (usize::from(buf[0]) << 16) | (usize::from(buf[1]) << 8) | usize::from(buf[2]);
            if buf.len() >= 3 + len {
                let _ = buf.split_to(3);
                return buf.split_to(len);
            }
        }
        let chunk = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await.unwrap().expect("server closed");
        buf.extend_from_slice(&chunk);
    }
}

/// A registering client's completed handshake: `(to server, from server, write, read)`.
async fn handshake(sim: &Sim) -> (mpsc::Sender<Bytes>, mpsc::Receiver<Bytes>, NoiseCipher, NoiseCipher, BytesMut) {
    let (tx, mut rx) = sim.accept();
    let payload = wa::ClientPayload {
        device_pairing_data: whatsapp_rust::buffa::MessageField::some(Default::default()),
        ..Default::default()
    }
    .encode_to_vec();
    let mut state = XxHandshakeState::new(KeyPair::generate(&mut rand::rng()), payload, &WA_CONN_HEADER).unwrap();
    tx.send(frame(&state.build_client_hello().unwrap(), true)).await.unwrap();
    let mut buf = BytesMut::new();
    let hello = read_frame(&mut rx, &mut buf).await;
    let finish = state.read_server_hello_and_build_client_finish(&hello).unwrap();
    tx.send(frame(&finish, false)).await.unwrap();
    let done = state.finish().unwrap();
    (tx, rx, done.write_cipher, done.read_cipher, buf)
}

static PANICS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn junk_closes_only_its_own_connection() {
    // A panic in any server task would also close a connection; count them.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        PANICS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        default_hook(info);
    }));
    let sim = Sim::new();
    let dir = tempfile::tempdir().unwrap();
    sim.add_contacts(&["628222000002".to_owned()]);
    let mut device = common::linked(&sim, dir.path(), "628111000001").await;

    // Not WhatsApp at all.
    let (tx, rx) = sim.accept();
    tx.send(Bytes::from_static(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")).await.unwrap();
    closed(rx).await;

    // The right header, then a frame that is no handshake message.
    let (tx, rx) = sim.accept();
    tx.send(frame(&[0xff; 40], true)).await.unwrap();
    closed(rx).await;

    // A ClientHello whose ephemeral key has the wrong length.
    let (tx, rx) = sim.accept();
    let hello = wa::HandshakeMessage {
        client_hello: whatsapp_rust::buffa::MessageField::some(wa::handshake_message::ClientHello {
            ephemeral: Some(vec![1, 2, 3]),
            ..Default::default()
        }),
        ..Default::default()
    };
    tx.send(frame(&hello.encode_to_vec(), true)).await.unwrap();
    closed(rx).await;

    // A ClientFinish that does not decrypt.
    let (tx, mut rx) = sim.accept();
    let state = XxHandshakeState::new(KeyPair::generate(&mut rand::rng()), vec![], &WA_CONN_HEADER).unwrap();
    tx.send(frame(&state.build_client_hello().unwrap(), true)).await.unwrap();
    let mut buf = BytesMut::new();
    let _server_hello = read_frame(&mut rx, &mut buf).await;
    let bogus_finish = wa::HandshakeMessage {
        client_finish: whatsapp_rust::buffa::MessageField::some(wa::handshake_message::ClientFinish {
            r#static: Some(vec![9; 48]),
            payload: Some(vec![9; 64]),
            ..Default::default()
        }),
        ..Default::default()
    };
    tx.send(frame(&bogus_finish.encode_to_vec(), false)).await.unwrap();
    closed(rx).await;

    // After a good handshake: an unknown stanza is ignored (a ping still gets
    // its answer), then a frame that does not decrypt closes the connection.
    let (tx, mut rx, write, read, mut buf) = handshake(&sim).await;
    let pair_device = read_frame(&mut rx, &mut buf).await;
    let mut counter = 0u32;
    let mut read_counter = 0u32;
    let mut open = |mut f: BytesMut| {
        read.decrypt_in_place_with_counter(read_counter, &mut f).unwrap();
        read_counter += 1;
        f
    };
    let _ = open(pair_device);
    let mut seal = |node: whatsapp_rust::wacore_binary::Node| {
        let sealed = write.encrypt_with_counter(counter, &marshal(&node).unwrap()).unwrap();
        counter += 1;
        frame(&sealed, false)
    };
    tx.send(seal(NodeBuilder::new("no-such-stanza").attr("x", "y").build())).await.unwrap();
    tx.send(seal(NodeBuilder::new("iq").attr("id", "p1").attr("xmlns", "urn:xmpp:ping").attr("type", "get").build()))
        .await
        .unwrap();
    let pong = open(read_frame(&mut rx, &mut buf).await);
    let pong = whatsapp_rust::wacore_binary::util::unpack(&pong).unwrap().into_owned();
    let pong = whatsapp_rust::wacore_binary::marshal::unmarshal_ref(&pong).unwrap().to_owned();
    assert_eq!(pong.tag, "iq");
    tx.send(frame(&[0xab; 64], false)).await.unwrap();
    closed(rx).await;

    // The linked device never noticed.
    device.client.send_text(whatsapp_rust::Jid::pn("628222000002"), "masih jalan").await.unwrap();
    for _ in 0..200 {
        if !sim.received(Some("628222000002")).is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(sim.received(Some("628222000002"))[0].text.as_deref(), Some("masih jalan"));
    assert_eq!(sim.devices(), vec![("628111000001".to_owned(), 1, true)]);
    assert_eq!(PANICS.load(std::sync::atomic::Ordering::SeqCst), 0, "a server task panicked");
    device.stop().await;
}
