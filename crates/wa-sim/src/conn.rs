//! One client connection: the handshake, then registration (QR refs) or login
//! (`<success>` / `<failure>`), then every stanza the client sends, answered the
//! way WhatsApp answers it closely enough for the real client to carry on.

use anyhow::Context;
use tokio::sync::mpsc;
use tracing::{debug, info, warn};
use wacore_binary::{Jid, Node, builder::NodeBuilder, marshal::unmarshal_ref};

use crate::{
    Sim,
    state::{Cmd, Conn},
    wire::{self, Decryptor, Encryptor, FrameReader, Pipe},
};

/// Who is on the other end once the handshake is done.
#[derive(Clone, Debug)]
pub enum Peer {
    /// A new device waiting to be linked.
    Unlinked,
    /// A linked device, logged in.
    Device { phone: String, device: u16 },
}

pub async fn serve(sim: Sim, pipe: Pipe) {
    let conn_id = sim.next_conn_id();
    match run(&sim, conn_id, pipe).await {
        Ok(()) => debug!(conn = conn_id, "connection ended"),
        Err(e) => info!(conn = conn_id, "connection closed: {e:#}"),
    }
    sim.world().drop_conn(conn_id);
}

async fn run(sim: &Sim, conn_id: u64, pipe: Pipe) -> anyhow::Result<()> {
    let Pipe { rx, tx } = pipe;
    let mut reader = FrameReader::new(rx);
    let wire::Established { read, write, client_static, payload, resumed_with_ik } =
        wire::accept(sim.identity(), &mut reader, &tx).await?;
    let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
    let conn = Conn { id: conn_id, tx: cmd_tx };
    tokio::spawn(write_loop(Encryptor::new(write), cmd_rx, tx));
    let mut decryptor = Decryptor::new(read);

    let Some(peer) = crate::session::start(sim, &conn, &payload, &client_static, resumed_with_ik) else {
        return Ok(());
    };
    info!(conn = conn_id, ?peer, ik = resumed_with_ik, "client connected");
    let mut last = std::time::Instant::now();
    loop {
        let Some(frame) = reader.next().await? else { return Ok(()) };
        let now = std::time::Instant::now();
        sim.heard_after(now - last);
        last = now;
        let bytes = decryptor.open(frame)?;
        let node = unmarshal_ref(&bytes).context("decoding a stanza")?.to_owned();
        crate::session::handle(sim, &conn, &peer, node).await?;
    }
}

async fn write_loop(mut encryptor: Encryptor, mut cmds: mpsc::UnboundedReceiver<Cmd>, tx: mpsc::Sender<bytes::Bytes>) {
    while let Some(cmd) = cmds.recv().await {
        let (node, last) = match cmd {
            Cmd::Send(node) => (Some(node), false),
            Cmd::Close(node) => (node, true),
        };
        if let Some(node) = node {
            match encryptor.seal(&node) {
                Ok(bytes) => {
                    if tx.send(bytes).await.is_err() {
                        return;
                    }
                }
                Err(e) => {
                    warn!("cannot encode a stanza: {e:#}");
                    return;
                }
            }
        }
        if last {
            return;
        }
    }
}

/// `<iq type=.. id=.. from=..>` answering `request`.
fn iq_reply(request: &Node, kind: &'static str) -> NodeBuilder {
    let mut attrs = request.attrs();
    let id = attrs.optional_string("id").map(|s| s.into_owned()).unwrap_or_default();
    let from = attrs.optional_jid("to").unwrap_or_else(|| Jid::new("", wacore_binary::Server::Pn));
    NodeBuilder::new("iq").attr("type", kind).attr("id", id).attr("from", from)
}

/// `<iq type="result">` answering `request`.
pub fn iq_result(request: &Node) -> NodeBuilder {
    iq_reply(request, "result")
}

/// `<iq type="error">` with `<error code text/>`.
pub fn iq_error(request: &Node, code: u16, text: &str) -> Node {
    iq_reply(request, "error")
        .children([NodeBuilder::new("error").attr("code", code.to_string()).attr("text", text.to_owned()).build()])
        .build()
}
